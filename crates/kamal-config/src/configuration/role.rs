//! Roles (`servers:`): which hosts run the app, with which tags, command, options, env,
//! logging, labels and proxy settings. Mirrors `Kamal::Configuration::Role`.

use super::env::Env;
use super::error::Result;
use super::raw;
use super::schema;
use super::validator::{Type, Validator};
use crate::yaml::{Mapping, Node, Value};

/// One host of a role and the tags written next to it (`- 1.1.1.1: [tag]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaggedHost {
    pub host: String,
    pub tags: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct Role {
    pub name: String,
    pub tagged_hosts: Vec<TaggedHost>,
    /// The role's own settings (empty when `servers` is a list or the role is a list).
    pub specializations: Mapping,
    pub env: Env,
    /// Whether this role runs behind kamal-proxy (primary role unless `proxy: false`;
    /// others only with `proxy: true` or a Hash).
    pub running_proxy: bool,
}

impl Role {
    /// Builds and validates role `name` from `servers` (a list: the single role `web`).
    pub fn new(name: &str, servers: &Node, primary_role: &str) -> Result<Role> {
        let role_node = match &servers.value {
            Value::Sequence(_) => Some(servers),
            Value::Mapping(mapping) => mapping.get(name),
            _ => None,
        };
        let null = Node::synthetic(Value::Null);
        let role_node = role_node.unwrap_or(&null);
        validate(name, role_node)?;

        let specializations = match &role_node.value {
            Value::Mapping(mapping) => mapping.clone(),
            _ => Mapping::new(),
        };
        let host_nodes: Vec<&Node> = match &role_node.value {
            Value::Sequence(items) => items.iter().collect(),
            Value::Mapping(mapping) => raw::array_of(mapping.get("hosts")),
            _ => Vec::new(),
        };
        let tagged_hosts = tagged_hosts(&host_nodes);

        let env = Env::new(
            specializations
                .get("env")
                .cloned()
                .unwrap_or_else(|| Node::synthetic(Value::Mapping(Mapping::new()))),
            &format!("servers/{name}/env"),
        )?;
        if let Some(logging) = specializations.get("logging") {
            super::logging::validate(logging, &format!("servers/{name}/logging"))?;
        }
        let proxy_setting = specializations.get("proxy").map(|node| &node.value);
        let running_proxy = if name == primary_role {
            !matches!(proxy_setting, Some(Value::Bool(false)))
        } else {
            raw::present(proxy_setting)
        };

        Ok(Role {
            name: name.to_string(),
            tagged_hosts,
            specializations,
            env,
            running_proxy,
        })
    }

    pub fn hosts(&self) -> Vec<String> {
        self.tagged_hosts
            .iter()
            .map(|tagged| tagged.host.clone())
            .collect()
    }

    pub fn primary_host(&self) -> Option<String> {
        self.tagged_hosts.first().map(|tagged| tagged.host.clone())
    }

    /// The role's own `proxy:` Hash, when it has one.
    pub fn proxy_specializations(&self) -> Option<&Mapping> {
        self.specializations
            .get("proxy")
            .and_then(|node| node.value.as_mapping())
    }
}

/// `Validator::Role`: a list of hosts, or a Hash checked against the role example.
fn validate(name: &str, role: &Node) -> Result<()> {
    let mut validator = Validator::new(&["servers", name]);
    validator.validate_type(&role.value, &[Type::Array, Type::Hash])?;
    match &role.value {
        Value::Sequence(_) => validator.validate_servers(&role.value),
        _ => {
            validator.validate_against(&role.value, &super::schema::Shape::Hash(schema::ROLE))?;
            validator.validate_labels(raw::get_value(role.value.as_mapping(), "labels"))?;
            validate_docker_options(&validator, raw::get_mapping(role.value.as_mapping(), "options"))
        }
    }
}

/// Kamal 2.11 refuses a restart policy in docker options (it always runs `unless-stopped`).
pub fn validate_docker_options(validator: &Validator, options: Option<&Mapping>) -> Result<()> {
    if raw::present(raw::get_value(options, "restart")) {
        return Err(
            validator.error("Cannot set restart policy in docker options, unless-stopped is required")
        );
    }
    Ok(())
}

/// `tagged_hosts`: Strings are untagged hosts; one-key Hashes map a host to its tags.
fn tagged_hosts(nodes: &[&Node]) -> Vec<TaggedHost> {
    let mut hosts: Vec<TaggedHost> = Vec::new();
    for node in nodes {
        let entry = match &node.value {
            Value::String(host) => Some(TaggedHost {
                host: host.clone(),
                tags: Vec::new(),
            }),
            Value::Mapping(mapping) => mapping.entries.first().map(|(host, tags)| TaggedHost {
                host: raw::to_s(&host.value),
                tags: raw::strings(Some(tags)),
            }),
            _ => None,
        };
        if let Some(entry) = entry {
            // A Ruby Hash keyed by host: a repeated host keeps its first position, last tags.
            match hosts.iter_mut().find(|existing| existing.host == entry.host) {
                Some(existing) => existing.tags = entry.tags,
                None => hosts.push(entry),
            }
        }
    }
    hosts
}
