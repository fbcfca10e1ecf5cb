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
    /// Hosts in Kamal's order. `None` is Ruby's `nil`, which Kamal keeps: a `tag`/`tags`
    /// lookup yields it when `servers` is a list (and `kamal config` prints it).
    pub hosts: Vec<Option<String>>,
}

impl Accessory {
    /// `servers` is the raw `servers:` value: tags are looked up there, not in the roles.
    pub fn new(name: &str, node: &Node, roles: &[Role], servers: Option<&Value>) -> Result<Accessory> {
        let context = format!("accessories/{name}");
        let mut validator = Validator::new(&[&context]);
        validator.validate_against(&node.value, &Shape::Hash(ACCESSORY))?;
        let config = node.value.as_mapping().cloned().unwrap_or_default();
        let placements = ["host", "hosts", "role", "roles", "tag", "tags"];
        if placements.iter().filter(|key| config.get(key).is_some()).count() != 1 {
            return Err(validator.error("specify one of `host`, `hosts`, `role`, `roles`, `tag` or `tags`"));
        }
        validator.validate_labels(raw::get_value(Some(&config), "labels"))?;
        validate_docker_options(&validator, raw::get_mapping(Some(&config), "options"))?;
        ensure_valid_roles(name, &config, roles)?;

        let env = Env::new(
            config
                .get("env")
                .cloned()
                .unwrap_or_else(|| Node::synthetic(Value::Mapping(Mapping::new()))),
            &format!("{context}/env"),
        )?;
        // `running_proxy?` is `proxy.present?`: `false` or `{}` means no proxy, unchecked.
        if let Some(proxy) = config
            .get("proxy")
            .filter(|proxy| raw::present(Some(&proxy.value)))
        {
            super::proxy::validate(Some(&proxy.value), &format!("{context}/proxy"))?;
        }
        if raw::present(raw::get_value(Some(&config), "registry")) {
            super::sections::validate_registry(
                raw::get_mapping(Some(&config), "registry"),
                &format!("{context}/registry"),
            )?;
        }
        let hosts = hosts(&config, roles, servers);
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

fn hosts(config: &Mapping, roles: &[Role], servers: Option<&Value>) -> Vec<Option<String>> {
    let role_hosts = |role: &str| -> Vec<Option<String>> {
        match roles.iter().find(|candidate| candidate.name == role) {
            Some(role) => role.hosts().into_iter().map(Some).collect(),
            None => vec![None],
        }
    };
    if let Some(host) = config.get("host") {
        vec![raw::scalar_text(Some(&host.value))]
    } else if config.get("hosts").is_some() {
        raw::strings(config.get("hosts")).into_iter().map(Some).collect()
    } else if let Some(role) = config.get("role") {
        role_hosts(&raw::to_s(&role.value))
    } else if config.get("roles").is_some() {
        raw::strings(config.get("roles"))
            .iter()
            .flat_map(|role| role_hosts(role))
            .collect()
    } else if let Some(tag) = config.get("tag") {
        hosts_with_tag(servers, &raw::to_s(&tag.value))
    } else {
        raw::strings(config.get("tags"))
            .iter()
            .flat_map(|tag| hosts_with_tag(servers, tag))
            .collect()
    }
}

/// `extract_hosts_from_config_with_tag`, quirks included: only a Hash of roles is searched
/// (a list gives `nil`); only roles written as a plain list of hosts are seen (a role Hash
/// with `hosts:` is iterated as key/value pairs, which never match); and a single tag
/// written as a String matches by substring (`String#include?`).
fn hosts_with_tag(servers: Option<&Value>, tag: &str) -> Vec<Option<String>> {
    let Some(Value::Mapping(roles)) = servers else {
        return vec![None];
    };
    let mut hosts = Vec::new();
    for (_, role) in &roles.entries {
        let Value::Sequence(entries) = &role.value else {
            continue;
        };
        for entry in entries {
            let Value::Mapping(host) = &entry.value else {
                continue;
            };
            let Some((name, tags)) = host.entries.first() else {
                continue;
            };
            let tagged = match &tags.value {
                Value::String(text) => text.contains(tag),
                Value::Sequence(items) => items
                    .iter()
                    .any(|item| matches!(&item.value, Value::String(text) if text == tag)),
                _ => false,
            };
            if tagged {
                hosts.push(Some(raw::to_s(&name.value)));
            }
        }
    }
    hosts
}

#[cfg(test)]
mod tests {
    use super::hosts_with_tag;
    use crate::yaml::{load, Value};
    use std::path::Path;

    fn servers(yaml: &str) -> Value {
        load(yaml, Path::new("servers.yml"))
            .expect("valid YAML")
            .expect("a document")
            .value
    }

    #[test]
    fn tags_are_found_only_in_roles_written_as_lists() {
        let servers =
            servers("web:\n  - 1.1.1.1: [gpu]\n  - 1.1.1.2\njobs:\n  hosts:\n    - 1.1.1.3: [gpu]\n");
        assert_eq!(
            hosts_with_tag(Some(&servers), "gpu"),
            vec![Some("1.1.1.1".to_string())]
        );
    }

    #[test]
    fn a_string_tag_matches_by_substring() {
        let servers = servers("web:\n  - 1.1.1.1: edge\n");
        assert_eq!(
            hosts_with_tag(Some(&servers), "edg"),
            vec![Some("1.1.1.1".to_string())]
        );
        assert!(hosts_with_tag(Some(&servers), "edges").is_empty());
    }

    #[test]
    fn a_list_of_servers_gives_nil() {
        let servers = servers("- 1.1.1.1: gpu\n");
        assert_eq!(hosts_with_tag(Some(&servers), "gpu"), vec![None]);
    }
}
