//! Validators of the smaller sections: registry, aliases, boot, builder, ssh, sshkit,
//! hooks_output. Each follows its `Kamal::Configuration::Validator::*` counterpart.

use super::error::{ConfigError, Result};
use super::raw;
use super::schema::{self, Shape};
use super::validator::{key_text, Outcome, Type, Validator};
use crate::environment::{Environment, SpawnPlan};
use crate::yaml::{Mapping, Value};

/// Kamal's own commands: an alias may not shadow one.
const BUILT_IN_COMMANDS: &[&str] = &[
    "accessory",
    "app",
    "audit",
    "build",
    "config",
    "deploy",
    "details",
    "docs",
    "help",
    "init",
    "lock",
    "proxy",
    "prune",
    "redeploy",
    "registry",
    "remove",
    "rollback",
    "secrets",
    "server",
    "setup",
    "upgrade",
    "version",
];

/// `registry:` — `server` typed as usual; `username`/`password` required (unless the
/// registry is local) and each a String or a one-String Array (a secret name).
pub fn validate_registry(registry: Option<&Mapping>, context: &str) -> Result<()> {
    let empty = Mapping::new();
    let registry = registry.unwrap_or(&empty);
    let mut validator = Validator::new(&[context]);
    let mut others = Mapping::new();
    for (key, value) in &registry.entries {
        if !matches!(key_text(&key.value).as_str(), "username" | "password") {
            others.insert(key.clone(), value.clone());
        }
    }
    let shape: &[(&str, Shape)] = &[
        ("server", Shape::String),
        ("username", Shape::Anything),
        ("password", Shape::Anything),
    ];
    validator.validate_against(&Value::Mapping(others), &Shape::Hash(shape))?;
    if is_local_registry(Some(registry)) {
        return Ok(());
    }
    for key in ["username", "password"] {
        validator.with_context(key, |validator| -> Outcome {
            let value = raw::get_value(Some(registry), key);
            if !raw::present(value) {
                return Err(validator.error("is required"));
            }
            let valid = match value {
                Some(Value::String(_)) => true,
                Some(Value::Sequence(items)) => {
                    items.len() == 1 && matches!(items[0].value, Value::String(_))
                }
                _ => false,
            };
            if valid {
                Ok(())
            } else {
                Err(validator.error("should be a string or an array with one string (for secret lookup)"))
            }
        })?;
    }
    Ok(())
}

/// A registry on the deployer machine reached through an SSH tunnel (`localhost:PORT`).
/// Kamal tests `match?("^localhost[:$]")`: a line starting `localhost:` (or, the `$` being
/// literal inside the class, `localhost$`); a bare `localhost` is not local.
pub fn is_local_registry(registry: Option<&Mapping>) -> bool {
    raw::get_string(registry, "server").is_some_and(|server| {
        server
            .split('\n')
            .any(|line| line.starts_with("localhost:") || line.starts_with("localhost$"))
    })
}

/// `Kamal::Utils.docker_arch`: the local Docker engine's architecture in Docker's words
/// (empty when Docker cannot be asked).
pub fn docker_arch(environment: &mut dyn Environment) -> String {
    let output = environment
        .run_command(&SpawnPlan::for_command(
            "docker info --format '{{.Architecture}}'",
        ))
        .map(|output| output.stdout)
        .unwrap_or_default();
    let architecture = output.trim();
    if architecture.contains("aarch64") {
        "arm64".to_string()
    } else if architecture.contains("x86_64") {
        "amd64".to_string()
    } else {
        architecture.to_string()
    }
}

/// `Builder#remote?`: some arch is built on the remote builder — every arch when local
/// builds are disabled, otherwise those other than the local Docker's.
pub fn builds_remotely(builder: Option<&Mapping>, environment: &mut dyn Environment) -> bool {
    if !raw::present(raw::get_value(builder, "remote")) {
        return false;
    }
    let arches = raw::strings(raw::get(builder, "arch"));
    if raw::get_bool(builder, "local") == Some(false) {
        return !arches.is_empty();
    }
    let local = docker_arch(environment);
    arches.iter().any(|arch| *arch != local)
}

pub fn validate_aliases(aliases: Option<&Mapping>) -> Result<()> {
    for (name, command) in aliases
        .map(|mapping| mapping.entries.as_slice())
        .unwrap_or_default()
    {
        let name = key_text(&name.value);
        let validator = Validator::new(&["aliases", &name]);
        let valid_name = !name.is_empty()
            && name.chars().all(|character| {
                character.is_ascii_lowercase()
                    || character.is_ascii_digit()
                    || character == '-'
                    || character == '_'
            });
        if !valid_name {
            return Err(validator.error(format!(
                "Invalid alias name: '{name}'. Must only contain lowercase letters, alphanumeric, hyphens and underscores."
            )));
        }
        if BUILT_IN_COMMANDS.contains(&name.as_str()) {
            return Err(validator.error(format!("Alias '{name}' conflicts with a built-in command.")));
        }
        validator.validate_type(&command.value, &[Type::String])?;
    }
    Ok(())
}

pub fn validate_section(
    value: Option<&Value>,
    context: &str,
    fields: &'static [(&'static str, Shape)],
) -> Result<()> {
    let Some(value) = value else { return Ok(()) };
    let mut validator = Validator::new(&[context]);
    validator.validate_against(value, &Shape::Hash(fields))
}

/// `Validator::Builder`: the example, then cache type, arch, buildpacks and local/remote rules.
pub fn validate_builder(builder: Option<&Value>) -> Result<()> {
    let empty = Value::Mapping(Mapping::new());
    let value = builder.unwrap_or(&empty);
    let mut validator = Validator::new(&["builder"]);
    validator.validate_against(value, &Shape::Hash(schema::BUILDER))?;
    let config = value.as_mapping();
    if let Some(cache_type) = raw::get_string(raw::get_mapping(config, "cache"), "type") {
        if !matches!(cache_type.as_str(), "gha" | "registry") {
            return Err(validator.error(format!("Invalid cache type: {cache_type}")));
        }
    }
    if !raw::present(raw::get_value(config, "arch")) {
        return Err(validator.error("Builder arch not set"));
    }
    if raw::present(raw::get_value(config, "pack"))
        && matches!(raw::get_value(config, "arch"), Some(Value::Sequence(items)) if items.len() > 1)
    {
        return Err(validator.error("buildpacks only support building for one arch"));
    }
    if raw::get_bool(config, "local") == Some(false) && !raw::present(raw::get_value(config, "remote")) {
        return Err(validator.error("Cannot disable local builds, no remote is set"));
    }
    Ok(())
}

/// `hooks_output`: `quiet`/`verbose`, globally or per hook.
pub fn validate_hooks_output(value: Option<&Value>) -> Result<()> {
    const LEVELS: &[&str] = &["quiet", "verbose"];
    match value {
        None | Some(Value::Null) => Ok(()),
        Some(Value::Mapping(per_hook)) => {
            for (hook, level) in &per_hook.entries {
                let level_text = match &level.value {
                    Value::String(text) | Value::Symbol(text) => text.clone(),
                    Value::Null => String::new(),
                    other => {
                        return Err(ConfigError::Ruby {
                            class: "NoMethodError",
                            message: format!(
                                "undefined method `to_sym' for an instance of {}",
                                ruby_class_name(other)
                            ),
                        })
                    }
                };
                if !LEVELS.contains(&level_text.as_str()) {
                    return Err(ConfigError::invalid(format!(
                        "Invalid hooks_output '{level_text}' for hook '{}', must be one of: quiet, verbose",
                        key_text(&hook.value)
                    )));
                }
            }
            Ok(())
        }
        Some(Value::String(level)) | Some(Value::Symbol(level)) if !LEVELS.contains(&level.as_str()) => {
            Err(ConfigError::invalid(format!(
                "Invalid hooks_output '{level}', must be one of: quiet, verbose"
            )))
        }
        Some(_) => Ok(()),
    }
}

/// The Ruby class name of a loaded value, as Ruby error messages show it.
pub fn ruby_class_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "nil",
        Value::Bool(true) => "true",
        Value::Bool(false) => "false",
        Value::Integer(_) => "Integer",
        Value::Float(_) => "Float",
        Value::String(_) => "String",
        Value::Symbol(_) => "Symbol",
        Value::Timestamp(_) => "Date",
        Value::Sequence(_) => "Array",
        Value::Mapping(_) => "Hash",
        Value::Object { .. } => "Object",
    }
}

#[cfg(test)]
mod tests {
    use super::is_local_registry;
    use crate::yaml::{Mapping, Node, Value};

    fn registry(server: &str) -> Mapping {
        let mut mapping = Mapping::new();
        mapping.insert(
            Node::synthetic(Value::String("server".into())),
            Node::synthetic(Value::String(server.into())),
        );
        mapping
    }

    #[test]
    fn only_localhost_with_a_port_is_a_local_registry() {
        assert!(is_local_registry(Some(&registry("localhost:5555"))));
        assert!(!is_local_registry(Some(&registry("localhost"))));
        assert!(!is_local_registry(Some(&registry("localhost.example.com"))));
        assert!(!is_local_registry(Some(&registry("registry.example.com"))));
    }
}
