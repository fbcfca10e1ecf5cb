//! kamal-proxy as Kamal's configuration sees it at run time:
//! - [`ProxySettings`] (`Kamal::Configuration::Proxy`): one app role's or accessory's
//!   routing — hosts, TLS paths, and the `kamal-proxy deploy`/`stop` option arguments in
//!   Kamal's fixed hash order;
//! - [`ProxyRun`] (`Proxy::Run`): the `proxy.run` boot settings a host's roles or
//!   accessories carry (publish/log/expose/options, image, `kamal-proxy run` line);
//! - [`ProxyBoot`] (`Proxy::Boot`): the on-host paths (`.kamal/proxy/…`, `apps-config`),
//!   the legacy boot-config defaults, and `boot_config set`'s publish arguments.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::app_runtime::{split_on_commas, Volume};
use super::ruby::{argumentize, optionize, optionize_with};
use super::{raw, Configuration};
use crate::secrets::{Secret, Secrets, SecretsError};
use crate::yaml::{Mapping, Node, Value};

/// The oldest kamal-proxy Kamal 2.11 runs (`Proxy::Run::MINIMUM_VERSION`).
pub const PROXY_MINIMUM_VERSION: &str = "v0.9.2";
pub const PROXY_DEFAULT_HTTP_PORT: i64 = 80;
pub const PROXY_DEFAULT_HTTPS_PORT: i64 = 443;
pub const PROXY_DEFAULT_LOG_MAX_SIZE: &str = "10m";
/// Headers kamal-proxy logs when `proxy.logging.request_headers` is not set.
pub const DEFAULT_LOG_REQUEST_HEADERS: [&str; 3] = ["Cache-Control", "Last-Modified", "User-Agent"];

/// One role's (merged over the root `proxy`) or one accessory's proxy settings.
#[derive(Debug, Clone)]
pub struct ProxySettings<'a> {
    configuration: &'a Configuration,
    settings: Mapping,
    /// Set for app roles: custom certificates live under `tls/<role>/`.
    role_name: Option<String>,
}

impl<'a> ProxySettings<'a> {
    pub fn new(
        configuration: &'a Configuration,
        settings: Mapping,
        role_name: Option<String>,
    ) -> ProxySettings<'a> {
        ProxySettings {
            configuration,
            settings,
            role_name,
        }
    }

    /// `app_port` (default 80), as written.
    pub fn app_port(&self) -> String {
        raw::get_string(Some(&self.settings), "app_port").unwrap_or_else(|| "80".to_string())
    }

    pub fn ssl(&self) -> bool {
        super::proxy::ssl(Some(&self.settings))
    }

    pub fn hosts(&self) -> Vec<String> {
        super::proxy::hosts(Some(&self.settings))
    }

    /// Both `ssl.certificate_pem` and `ssl.private_key_pem` are named.
    pub fn custom_ssl_certificate(&self) -> bool {
        let ssl = raw::get_mapping(Some(&self.settings), "ssl");
        raw::present(raw::get_value(ssl, "certificate_pem"))
            && raw::present(raw::get_value(ssl, "private_key_pem"))
    }

    /// The certificate PEM from the secret `ssl.certificate_pem` names.
    pub fn certificate_pem_content(&self, secrets: &Secrets) -> Result<Option<Secret>, SecretsError> {
        self.ssl_secret("certificate_pem", secrets)
    }

    /// The private key PEM from the secret `ssl.private_key_pem` names.
    pub fn private_key_pem_content(&self, secrets: &Secrets) -> Result<Option<Secret>, SecretsError> {
        self.ssl_secret("private_key_pem", secrets)
    }

    /// `.kamal/proxy/apps-config/<svc>/tls[/<role>]/cert.pem` (custom certificates only).
    pub fn host_tls_cert(&self) -> Option<String> {
        self.tls_path(&self.configuration.proxy_boot().tls_directory(), "cert.pem")
    }

    pub fn host_tls_key(&self) -> Option<String> {
        self.tls_path(&self.configuration.proxy_boot().tls_directory(), "key.pem")
    }

    /// The same file as kamal-proxy sees it under `/home/kamal-proxy/.apps-config`.
    pub fn container_tls_cert(&self) -> Option<String> {
        self.tls_path(
            &self.configuration.proxy_boot().tls_container_directory(),
            "cert.pem",
        )
    }

    pub fn container_tls_key(&self) -> Option<String> {
        self.tls_path(
            &self.configuration.proxy_boot().tls_container_directory(),
            "key.pem",
        )
    }

    /// `path_prefixes`, else `path_prefix` split on commas.
    pub fn path_prefixes(&self) -> Vec<String> {
        if let Some(prefixes) =
            raw::get(Some(&self.settings), "path_prefixes").filter(|node| !node.value.is_null())
        {
            return raw::strings(Some(prefixes));
        }
        raw::get_string(Some(&self.settings), "path_prefix")
            .map(|prefix| split_on_commas(&prefix))
            .unwrap_or_default()
    }

    /// `Proxy#deploy_options`: Kamal's hash, in its order, nil entries left out. `version`
    /// names the error pages directory (when `error_pages_path` is set).
    pub fn deploy_options(&self, version: &str) -> Mapping {
        let settings = Some(&self.settings);
        let healthcheck = raw::get_mapping(settings, "healthcheck");
        let buffering = raw::get_mapping(settings, "buffering");
        let logging = raw::get_mapping(settings, "logging");
        let mut options = Mapping::new();
        let mut set = |key: &str, value: Option<Value>| {
            if let Some(value) = value.filter(|value| !value.is_null()) {
                options.insert(string_node(key), Node::synthetic(value));
            }
        };
        set("host", Some(strings(self.hosts())));
        set("tls", self.ssl().then_some(Value::Bool(true)));
        set(
            "tls-certificate-path",
            self.container_tls_cert().map(Value::String),
        );
        set(
            "tls-private-key-path",
            self.container_tls_key().map(Value::String),
        );
        set(
            "deploy-timeout",
            Some(seconds(&Value::Integer(self.configuration.deploy_timeout()))),
        );
        set(
            "drain-timeout",
            Some(seconds(&Value::Integer(self.configuration.drain_timeout()))),
        );
        set(
            "health-check-interval",
            duration(raw::get_value(healthcheck, "interval")),
        );
        set(
            "health-check-timeout",
            duration(raw::get_value(healthcheck, "timeout")),
        );
        set("health-check-path", raw::get_value(healthcheck, "path").cloned());
        set(
            "target-timeout",
            duration(raw::get_value(settings, "response_timeout")),
        );
        // `fetch("requests", true)`: absent means on; an explicit `false` renders `="false"`.
        let buffer = |key: &str| match raw::get(buffering, key) {
            Some(node) => node.value.clone(),
            None => Value::Bool(true),
        };
        set("buffer-requests", Some(buffer("requests")));
        set("buffer-responses", Some(buffer("responses")));
        set("buffer-memory", raw::get_value(buffering, "memory").cloned());
        set(
            "max-request-body",
            raw::get_value(buffering, "max_request_body").cloned(),
        );
        set(
            "max-response-body",
            raw::get_value(buffering, "max_response_body").cloned(),
        );
        set("path-prefix", Some(strings(self.path_prefixes())));
        set(
            "strip-path-prefix",
            raw::get_value(settings, "strip_path_prefix").cloned(),
        );
        set(
            "forward-headers",
            raw::get_value(settings, "forward_headers").cloned(),
        );
        set("tls-redirect", raw::get_value(settings, "ssl_redirect").cloned());
        let request_headers =
            match raw::get_value(logging, "request_headers").filter(|value| !value.is_null()) {
                Some(headers) => headers.clone(),
                None => strings(
                    DEFAULT_LOG_REQUEST_HEADERS
                        .iter()
                        .map(|header| header.to_string())
                        .collect(),
                ),
            };
        set("log-request-header", Some(request_headers));
        set(
            "log-response-header",
            raw::get_value(logging, "response_headers").cloned(),
        );
        set(
            "error-pages",
            self.configuration.error_pages_path().map(|_| {
                Value::String(format!(
                    "{}/{version}",
                    self.configuration.proxy_boot().error_pages_container_directory()
                ))
            }),
        );
        options
    }

    /// `--target="<id>:<app_port>"` then [`ProxySettings::deploy_options`], each
    /// `--key="value"` (bare `--key` for `true`, repeated for lists).
    pub fn deploy_command_args(&self, target: &str, version: &str) -> Vec<String> {
        let mut options = Mapping::new();
        options.insert(
            string_node("target"),
            Node::synthetic(Value::String(format!("{target}:{}", self.app_port()))),
        );
        for (key, value) in self.deploy_options(version).entries {
            options.insert(key, value);
        }
        optionize_with(&options, Some("="))
    }

    /// The `proxy.run` settings, when present.
    pub fn run(&self) -> Option<ProxyRun<'a>> {
        raw::get_mapping(Some(&self.settings), "run")
            .filter(|run| !run.is_empty())
            .map(|run| ProxyRun::new(self.configuration, run.clone()))
    }

    fn ssl_secret(&self, key: &str, secrets: &Secrets) -> Result<Option<Secret>, SecretsError> {
        let ssl = raw::get_mapping(Some(&self.settings), "ssl");
        match raw::get_string(ssl, key) {
            Some(name) => secrets.get(&name).map(Some),
            None => Ok(None),
        }
    }

    fn tls_path(&self, directory: &str, file: &str) -> Option<String> {
        if !self.custom_ssl_certificate() {
            return None;
        }
        Some(match &self.role_name {
            Some(role) => format!("{directory}/{role}/{file}"),
            None => format!("{directory}/{file}"),
        })
    }
}

/// `Proxy#stop_command_args`: `--drain-timeout="Ns"`, `--message="…"`, each only when
/// given (it reads no settings).
pub fn stop_command_args(drain_timeout: Option<i64>, message: Option<&str>) -> Vec<String> {
    let mut options = Mapping::new();
    if let Some(timeout) = drain_timeout {
        options.insert(
            string_node("drain-timeout"),
            Node::synthetic(Value::String(format!("{timeout}s"))),
        );
    }
    if let Some(message) = message {
        options.insert(
            string_node("message"),
            Node::synthetic(Value::String(message.to_string())),
        );
    }
    optionize_with(&options, Some("="))
}

impl Configuration {
    /// The paths and defaults of the proxy on a host.
    pub fn proxy_boot(&self) -> ProxyBoot<'_> {
        ProxyBoot { configuration: self }
    }

    /// `proxy_run(host)`: the `proxy.run` of the first proxied role (merged settings, so a
    /// root `proxy.run` counts) or proxied accessory on `host`; `None` means the legacy
    /// boot-config files decide how the proxy runs there.
    pub fn proxy_run(&self, host: &str) -> Option<ProxyRun<'_>> {
        let from_roles = self
            .host_roles(host)
            .into_iter()
            .filter_map(|role| self.role_runtime(role).proxy())
            .filter_map(|proxy| proxy.run());
        let from_accessories = self
            .host_accessories(host)
            .into_iter()
            .filter_map(|accessory| self.accessory_runtime(accessory).proxy())
            .filter_map(|proxy| proxy.run());
        from_roles.chain(from_accessories).next()
    }
}

/// `proxy.run`: how Kamal boots the proxy container on hosts that set it.
#[derive(Debug, Clone)]
pub struct ProxyRun<'a> {
    configuration: &'a Configuration,
    settings: Mapping,
}

impl<'a> ProxyRun<'a> {
    pub fn new(configuration: &'a Configuration, settings: Mapping) -> ProxyRun<'a> {
        ProxyRun {
            configuration,
            settings,
        }
    }

    fn value(&self, key: &str) -> Option<&Value> {
        raw::get_value(Some(&self.settings), key)
    }

    /// `fetch(key, default)`: a key written with no value stays nil.
    fn fetch_text(&self, key: &str, default: &str) -> Option<String> {
        match self.value(key) {
            None => Some(default.to_string()),
            Some(value) => raw::scalar_text(Some(value)),
        }
    }

    pub fn publish(&self) -> bool {
        match self.value("publish") {
            None => true,
            Some(value) => truthy(value),
        }
    }

    pub fn debug(&self) -> bool {
        self.value("debug").is_some_and(truthy)
    }

    pub fn http_port(&self) -> Option<String> {
        self.fetch_text("http_port", "80")
    }

    pub fn https_port(&self) -> Option<String> {
        self.fetch_text("https_port", "443")
    }

    pub fn bind_ips(&self) -> Option<Vec<String>> {
        raw::get(Some(&self.settings), "bind_ips")
            .filter(|node| !node.value.is_null())
            .map(|node| raw::strings(Some(node)))
    }

    pub fn metrics_port(&self) -> Option<String> {
        raw::get_string(Some(&self.settings), "metrics_port")
    }

    pub fn log_max_size(&self) -> Option<String> {
        self.fetch_text("log_max_size", PROXY_DEFAULT_LOG_MAX_SIZE)
    }

    pub fn version(&self) -> String {
        self.fetch_text("version", PROXY_MINIMUM_VERSION)
            .unwrap_or_default()
    }

    /// `[registry/]repository:version`.
    pub fn image(&self) -> String {
        let repository = self
            .fetch_text("repository", "basecamp/kamal-proxy")
            .unwrap_or_default();
        let name = match raw::get_string(Some(&self.settings), "registry") {
            Some(registry) => format!("{registry}/{repository}"),
            None => repository,
        };
        format!("{name}:{}", self.version())
    }

    /// `--publish [ip:]<http>:80 --publish [ip:]<https>:443` per bind IP (IPv6 bracketed),
    /// nothing when `publish: false`.
    pub fn publish_args(&self) -> Vec<String> {
        if !self.publish() {
            return Vec::new();
        }
        publish_words(
            self.http_port().as_deref(),
            self.https_port().as_deref(),
            self.bind_ips().as_deref(),
        )
    }

    /// `--log-opt max-size=<v>` (unquoted), unless the size is blank.
    pub fn logging_args(&self) -> Vec<String> {
        log_max_size_args(self.log_max_size().as_deref())
    }

    /// `kamal-proxy run[ --debug][ --metrics-port "<p>"]`, one word as Kamal passes it.
    pub fn run_command(&self) -> String {
        run_command(self.debug(), self.metrics_port().as_deref())
    }

    /// The docker options after the config volume: the apps-config volume, publish, log
    /// options, `--expose=<metrics port>`, then `options` optionized.
    pub fn docker_options_args(&self) -> Vec<String> {
        let mut arguments = self.configuration.proxy_boot().apps_volume().docker_args();
        arguments.extend(self.publish_args());
        arguments.extend(self.logging_args());
        if let Some(port) = self.metrics_port().filter(|port| !port.trim().is_empty()) {
            arguments.push(format!("--expose={port}"));
        }
        if let Some(options) = raw::get_mapping(Some(&self.settings), "options") {
            arguments.extend(optionize(options));
        }
        arguments
    }
}

/// `kamal-proxy run[ --debug][ --metrics-port "<p>"]`.
pub fn run_command(debug: bool, metrics_port: Option<&str>) -> String {
    let mut options = Mapping::new();
    if debug {
        options.insert(string_node("debug"), Node::synthetic(Value::Bool(true)));
    }
    if let Some(port) = metrics_port {
        options.insert(
            string_node("metrics-port"),
            Node::synthetic(Value::String(port.to_string())),
        );
    }
    let mut words = vec!["kamal-proxy".to_string(), "run".to_string()];
    words.extend(optionize(&options));
    words.join(" ")
}

/// A `--publish-host-ip` that is neither an IPv4 nor an IPv6 address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Invalid publish IP address: {0}")]
pub struct InvalidPublishIp(pub String);

/// Where the proxy's files live on a host.
#[derive(Debug, Clone, Copy)]
pub struct ProxyBoot<'a> {
    configuration: &'a Configuration,
}

impl ProxyBoot<'_> {
    pub fn container_name(&self) -> &'static str {
        "kamal-proxy"
    }

    pub fn repository_name(&self) -> &'static str {
        "basecamp"
    }

    pub fn image_name(&self) -> &'static str {
        "kamal-proxy"
    }

    /// `basecamp/kamal-proxy`.
    pub fn image_default(&self) -> String {
        format!("{}/{}", self.repository_name(), self.image_name())
    }

    /// `.kamal/proxy`.
    pub fn host_directory(&self) -> String {
        format!("{}/proxy", self.configuration.run_directory())
    }

    pub fn options_file(&self) -> String {
        format!("{}/options", self.host_directory())
    }

    pub fn image_file(&self) -> String {
        format!("{}/image", self.host_directory())
    }

    pub fn image_version_file(&self) -> String {
        format!("{}/image_version", self.host_directory())
    }

    pub fn run_command_file(&self) -> String {
        format!("{}/run_command", self.host_directory())
    }

    /// `.kamal/proxy/apps-config`, bind-mounted into the proxy.
    pub fn apps_directory(&self) -> String {
        format!("{}/apps-config", self.host_directory())
    }

    pub fn apps_container_directory(&self) -> &'static str {
        "/home/kamal-proxy/.apps-config"
    }

    pub fn apps_volume(&self) -> Volume {
        Volume {
            host_path: self.apps_directory(),
            container_path: self.apps_container_directory().to_string(),
            options: None,
        }
    }

    /// `.kamal/proxy/apps-config/<svc>[-<dest>]`.
    pub fn app_directory(&self) -> String {
        format!(
            "{}/{}",
            self.apps_directory(),
            self.configuration.service_and_destination()
        )
    }

    pub fn app_container_directory(&self) -> String {
        format!(
            "{}/{}",
            self.apps_container_directory(),
            self.configuration.service_and_destination()
        )
    }

    pub fn error_pages_directory(&self) -> String {
        format!("{}/error_pages", self.app_directory())
    }

    pub fn error_pages_container_directory(&self) -> String {
        format!("{}/error_pages", self.app_container_directory())
    }

    pub fn tls_directory(&self) -> String {
        format!("{}/tls", self.app_directory())
    }

    pub fn tls_container_directory(&self) -> String {
        format!("{}/tls", self.app_container_directory())
    }

    /// `kamal proxy boot_config set`'s publish arguments: like `proxy.run`'s, but each
    /// bind IP must be an IPv4 or IPv6 address.
    pub fn publish_args(
        &self,
        http_port: &str,
        https_port: &str,
        bind_ips: Option<&[String]>,
    ) -> Result<Vec<String>, InvalidPublishIp> {
        for ip in bind_ips.unwrap_or_default() {
            if ip.parse::<Ipv4Addr>().is_err() && !is_ipv6(ip) {
                return Err(InvalidPublishIp(ip.clone()));
            }
        }
        Ok(publish_words(Some(http_port), Some(https_port), bind_ips))
    }

    /// `--log-opt max-size=<size>`, nothing for a blank size.
    pub fn logging_args(&self, max_size: &str) -> Vec<String> {
        log_max_size_args(Some(max_size))
    }

    /// `--publish 80:80 --publish 443:443 --log-opt max-size=10m`: what the legacy run
    /// uses when `.kamal/proxy/options` is missing.
    pub fn default_boot_options(&self) -> Vec<String> {
        let mut options = publish_words(Some("80"), Some("443"), None);
        options.extend(log_max_size_args(Some(PROXY_DEFAULT_LOG_MAX_SIZE)));
        options
    }
}

fn publish_words(
    http_port: Option<&str>,
    https_port: Option<&str>,
    bind_ips: Option<&[String]>,
) -> Vec<String> {
    let mut words = Vec::new();
    let bind_ips: Vec<Option<String>> = match bind_ips {
        Some(ips) => ips.iter().map(|ip| Some(format_bind_ip(ip))).collect(),
        None => vec![None],
    };
    for bind_ip in bind_ips {
        for (port, container_port) in [
            (http_port, PROXY_DEFAULT_HTTP_PORT),
            (https_port, PROXY_DEFAULT_HTTPS_PORT),
        ] {
            let container_port = container_port.to_string();
            let parts: Vec<&str> = [bind_ip.as_deref(), port, Some(container_port.as_str())]
                .into_iter()
                .flatten()
                .collect();
            words.extend(["--publish".to_string(), parts.join(":")]);
        }
    }
    words
}

fn log_max_size_args(max_size: Option<&str>) -> Vec<String> {
    match max_size.filter(|size| !size.trim().is_empty()) {
        Some(size) => argumentize("--log-opt", &Value::String(format!("max-size={size}"))),
        None => Vec::new(),
    }
}

/// IPv6 addresses are bracketed for `--publish` (`[::1]:80:80`).
fn format_bind_ip(ip: &str) -> String {
    if is_ipv6(ip) && !(ip.starts_with('[') && ip.ends_with(']')) {
        format!("[{ip}]")
    } else {
        ip.to_string()
    }
}

/// `Resolv::IPv6::Regex`, which also takes a `%zone` suffix.
fn is_ipv6(ip: &str) -> bool {
    let address = ip.split_once('%').map_or(ip, |(address, _)| address);
    address.parse::<Ipv6Addr>().is_ok()
}

/// `"<value>s"` for a present value (Ruby truthiness: `0` counts).
fn duration(value: Option<&Value>) -> Option<Value> {
    value.filter(|value| truthy(value)).map(seconds)
}

fn seconds(value: &Value) -> Value {
    Value::String(format!("{}s", raw::to_s(value)))
}

fn truthy(value: &Value) -> bool {
    !matches!(value, Value::Null | Value::Bool(false))
}

fn strings(items: Vec<String>) -> Value {
    Value::Sequence(
        items
            .into_iter()
            .map(|item| Node::synthetic(Value::String(item)))
            .collect(),
    )
}

fn string_node(text: &str) -> Node {
    Node::synthetic(Value::String(text.to_string()))
}
