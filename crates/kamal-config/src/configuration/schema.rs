//! The shape of every configuration section, as Kamal's validator sees it. Kamal derives
//! these from the example YAML files in `lib/kamal/configuration/docs/`; the types below
//! are the types of those examples (checked against Kamal 2.11 itself).

use super::validator::Type;

#[derive(Debug)]
pub enum Shape {
    String,
    Integer,
    Boolean,
    /// An Array whose elements have one type.
    ArrayOf(Type),
    /// `builder.arch`: a String or an Array of Strings.
    ArrayOrString,
    /// `options`, `args`: any Hash.
    AnyHash,
    /// `labels`: a Hash whose values have one type.
    HashOf(Type),
    /// A list of hosts (`servers`, role `hosts`).
    Hosts,
    /// `proxy.ssl`: a boolean or a Hash (its keys are not checked).
    SslSetting,
    /// A section with its own validator (`"..."` in Kamal's examples): only its type is
    /// checked here. A role's `proxy` may also be a boolean.
    Section(&'static [Type]),
    /// Accessory `files` / `directories`.
    Files,
    /// Not checked at all.
    Anything,
    /// `ssh.config`: a boolean, a String, or an Array of Strings.
    SshConfig,
    /// `hooks_output`: a level (String or Symbol), or a Hash of hook → level.
    HooksOutput,
    /// A Hash with known keys.
    Hash(&'static [(&'static str, Shape)]),
}

const HASH: &[Type] = &[Type::Hash];

pub const ROOT: &[(&str, Shape)] = &[
    ("service", Shape::String),
    ("image", Shape::String),
    ("labels", Shape::HashOf(Type::String)),
    ("volumes", Shape::ArrayOf(Type::String)),
    ("registry", Shape::Section(HASH)),
    ("servers", Shape::Section(&[Type::Array, Type::Hash])),
    ("env", Shape::Section(HASH)),
    ("asset_path", Shape::String),
    ("hooks_path", Shape::String),
    ("hooks_output", Shape::HooksOutput),
    ("secrets_path", Shape::String),
    ("error_pages_path", Shape::String),
    ("require_destination", Shape::Boolean),
    ("primary_role", Shape::String),
    ("allow_empty_roles", Shape::Boolean),
    ("retain_containers", Shape::Integer),
    ("minimum_version", Shape::String),
    ("readiness_delay", Shape::Integer),
    ("deploy_timeout", Shape::Integer),
    ("drain_timeout", Shape::Integer),
    ("run_directory", Shape::String),
    ("ssh", Shape::Section(HASH)),
    ("builder", Shape::Section(HASH)),
    ("accessories", Shape::Section(HASH)),
    ("proxy", Shape::Section(HASH)),
    ("sshkit", Shape::Section(HASH)),
    ("boot", Shape::Section(HASH)),
    ("logging", Shape::Section(HASH)),
    ("aliases", Shape::Section(HASH)),
];

pub const LOGGING: &[(&str, Shape)] = &[("driver", Shape::String), ("options", Shape::AnyHash)];

pub const ROLE: &[(&str, Shape)] = &[
    ("hosts", Shape::Hosts),
    ("cmd", Shape::String),
    ("options", Shape::AnyHash),
    ("logging", Shape::Hash(LOGGING)),
    ("proxy", Shape::Section(HASH)),
    ("labels", Shape::HashOf(Type::String)),
    ("env", Shape::Section(HASH)),
    ("asset_path", Shape::String),
];

pub const REGISTRY_SERVER: &[(&str, Shape)] = &[("server", Shape::String)];

pub const BUILDER: &[(&str, Shape)] = &[
    ("arch", Shape::ArrayOrString),
    ("remote", Shape::String),
    ("local", Shape::Boolean),
    (
        "pack",
        Shape::Hash(&[
            ("builder", Shape::String),
            ("buildpacks", Shape::ArrayOf(Type::String)),
        ]),
    ),
    (
        "cache",
        Shape::Hash(&[
            ("type", Shape::String),
            ("options", Shape::String),
            ("image", Shape::String),
        ]),
    ),
    ("context", Shape::String),
    ("dockerfile", Shape::String),
    ("target", Shape::String),
    ("args", Shape::AnyHash),
    ("secrets", Shape::ArrayOf(Type::String)),
    ("ssh", Shape::String),
    ("driver", Shape::String),
    ("provenance", Shape::String),
    ("sbom", Shape::Boolean),
];

pub const SSH: &[(&str, Shape)] = &[
    ("user", Shape::String),
    ("port", Shape::String),
    ("proxy", Shape::String),
    ("proxy_command", Shape::String),
    ("log_level", Shape::String),
    ("keys_only", Shape::Boolean),
    ("keys", Shape::ArrayOf(Type::String)),
    ("key_data", Shape::ArrayOf(Type::String)),
    ("config", Shape::SshConfig),
];

pub const SSHKIT: &[(&str, Shape)] = &[
    ("max_concurrent_starts", Shape::Integer),
    ("pool_idle_timeout", Shape::Integer),
    ("dns_retries", Shape::Integer),
];

pub const BOOT: &[(&str, Shape)] = &[
    ("limit", Shape::String),
    ("wait", Shape::Integer),
    ("parallel_roles", Shape::Boolean),
];

pub const PROXY_RUN: &[(&str, Shape)] = &[
    ("http_port", Shape::Integer),
    ("https_port", Shape::Integer),
    ("bind_ips", Shape::ArrayOf(Type::String)),
    ("publish", Shape::Boolean),
    ("log_max_size", Shape::String),
    ("metrics_port", Shape::Integer),
    ("debug", Shape::Boolean),
    ("registry", Shape::String),
    ("repository", Shape::String),
    ("version", Shape::String),
    ("options", Shape::AnyHash),
];

pub const PROXY: &[(&str, Shape)] = &[
    ("host", Shape::String),
    ("hosts", Shape::ArrayOf(Type::String)),
    ("app_port", Shape::Integer),
    ("ssl", Shape::SslSetting),
    ("ssl_redirect", Shape::Boolean),
    ("forward_headers", Shape::Boolean),
    ("response_timeout", Shape::Integer),
    ("path_prefix", Shape::String),
    ("path_prefixes", Shape::ArrayOf(Type::String)),
    ("strip_path_prefix", Shape::Boolean),
    (
        "healthcheck",
        Shape::Hash(&[
            ("interval", Shape::Integer),
            ("path", Shape::String),
            ("timeout", Shape::Integer),
        ]),
    ),
    (
        "buffering",
        Shape::Hash(&[
            ("requests", Shape::Boolean),
            ("responses", Shape::Boolean),
            ("memory", Shape::Integer),
            ("max_request_body", Shape::Integer),
            ("max_response_body", Shape::Integer),
        ]),
    ),
    (
        "logging",
        Shape::Hash(&[
            ("request_headers", Shape::ArrayOf(Type::String)),
            ("response_headers", Shape::ArrayOf(Type::String)),
        ]),
    ),
    ("run", Shape::Hash(PROXY_RUN)),
];

pub const ACCESSORY: &[(&str, Shape)] = &[
    ("service", Shape::String),
    ("image", Shape::String),
    ("registry", Shape::Section(HASH)),
    ("host", Shape::String),
    ("hosts", Shape::ArrayOf(Type::String)),
    ("role", Shape::String),
    ("roles", Shape::ArrayOf(Type::String)),
    ("tag", Shape::String),
    ("tags", Shape::ArrayOf(Type::String)),
    ("cmd", Shape::String),
    ("port", Shape::String),
    ("labels", Shape::HashOf(Type::String)),
    ("options", Shape::AnyHash),
    ("env", Shape::Section(HASH)),
    ("files", Shape::Files),
    ("directories", Shape::Files),
    ("volumes", Shape::ArrayOf(Type::String)),
    ("network", Shape::String),
    ("proxy", Shape::Section(HASH)),
];
