//! `accessories.<name>`: long-lived services (databases, caches) next to the app.
//! Mirrors `Kamal::Configuration::Accessory`.

use super::env::Env;
use super::error::{ConfigError, Result};
use super::raw;
use super::role::{validate_docker_options, Role};
use super::schema::{Shape, ACCESSORY};
use super::validator::Validator;
use crate::yaml::{Mapping, Node, Value};

#[derive(Debug, Clone)]
pub struct Accessory {
    pub name: String,
    pub config: Mapping,
    pub env: Env,
    /// Hosts in Kamal's order, `nil` entries (unknown roles under `roles:`) dropped.
    pub hosts: Vec<String>,
}

impl Accessory {
    pub fn new(name: &str, node: &Node, roles: &[Role]) -> Result<Accessory> {
        let context = format!("accessories/{name}");
        let mut validator = Validator::new(&[&context]);
        validator.validate_against(&node.value, &Shape::Hash(ACCESSORY))?;
        let config = node.value.as_mapping().cloned().unwrap_or_default();
        let placements = ["host", "hosts", "role", "roles", "tag", "tags"];
        if placements.iter().filter(|key| config.get(key).is_some()).count() != 1 {
            return Err(validator.error("specify one of `host`, `hosts`, `role`, `roles`, `tag` or `tags`"));
        }
        validate_docker_options(&validator, raw::get_mapping(Some(&config), "options"))?;
        ensure_valid_roles(name, &config, roles)?;

        let env = Env::new(
            config
                .get("env")
                .cloned()
                .unwrap_or_else(|| Node::synthetic(Value::Mapping(Mapping::new()))),
            &format!("{context}/env"),
        )?;
        if let Some(proxy) = config.get("proxy") {
            super::proxy::validate(Some(&proxy.value), &format!("{context}/proxy"))?;
        }
        let hosts = hosts(&config, roles);
        Ok(Accessory {
            name: name.to_string(),
            config,
            env,
            hosts,
        })
    }
}

fn ensure_valid_roles(name: &str, config: &Mapping, roles: &[Role]) -> Result<()> {
    let known = |role: &str| roles.iter().any(|candidate| candidate.name == role);
    if let Some(list) = config.get("roles") {
        let missing: Vec<String> = raw::strings(Some(list))
            .into_iter()
            .filter(|role| !known(role))
            .collect();
        if !missing.is_empty() {
            return Err(ConfigError::invalid(format!(
                "accessories/{name}: unknown roles {}",
                missing.join(", ")
            )));
        }
    } else if let Some(role) = raw::get_string(Some(config), "role") {
        if !known(&role) {
            return Err(ConfigError::invalid(format!(
                "accessories/{name}: unknown role {role}"
            )));
        }
    }
    Ok(())
}

fn hosts(config: &Mapping, roles: &[Role]) -> Vec<String> {
    let role_hosts = |role: &str| -> Vec<String> {
        roles
            .iter()
            .find(|candidate| candidate.name == role)
            .map(Role::hosts)
            .unwrap_or_default()
    };
    let tag_hosts = |tag: &str| -> Vec<String> {
        roles
            .iter()
            .flat_map(|role| role.tagged_hosts.iter())
            .filter(|tagged| tagged.tags.iter().any(|candidate| candidate == tag))
            .map(|tagged| tagged.host.clone())
            .collect()
    };
    if let Some(host) = config.get("host") {
        raw::scalar_text(Some(&host.value)).into_iter().collect()
    } else if config.get("hosts").is_some() {
        raw::strings(config.get("hosts"))
    } else if let Some(role) = raw::get_string(Some(config), "role") {
        role_hosts(&role)
    } else if config.get("roles").is_some() {
        raw::strings(config.get("roles"))
            .iter()
            .flat_map(|role| role_hosts(role))
            .collect()
    } else if let Some(tag) = raw::get_string(Some(config), "tag") {
        tag_hosts(&tag)
    } else {
        raw::strings(config.get("tags"))
            .iter()
            .flat_map(|tag| tag_hosts(tag))
            .collect()
    }
}
