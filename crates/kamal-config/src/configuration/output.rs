//! `kamal config`: the Hash Kamal prints (`Configuration#to_h`), built as a YAML value so
//! the Psych-compatible emitter writes it byte for byte as Kamal does.

use super::error::{ConfigError, Result};
use super::raw;
use super::Configuration;
use crate::environment::{Environment, SpawnPlan};
use crate::yaml::{Mapping, Node, Value};

fn symbol(name: &str) -> Node {
    Node::synthetic(Value::Symbol(name.to_string()))
}

fn string(text: impl Into<String>) -> Node {
    Node::synthetic(Value::String(text.into()))
}

fn strings(items: Vec<String>) -> Node {
    Node::synthetic(Value::Sequence(items.into_iter().map(string).collect()))
}

impl Configuration {
    /// `--version`, else `$VERSION`, else the git revision (with an `_uncommitted_…` suffix
    /// when the tree is dirty and the build uses `builder.context`).
    pub fn version(&self, environment: &mut dyn Environment) -> Result<String> {
        if let Some(version) = self
            .declared_version
            .as_ref()
            .filter(|version| !version.trim().is_empty())
        {
            return Ok(version.clone());
        }
        if let Some(version) = environment
            .var("VERSION")
            .filter(|version| !version.trim().is_empty())
        {
            return Ok(version);
        }
        let git = |environment: &mut dyn Environment, command: &str| {
            environment
                .run_command(&SpawnPlan::for_command(command))
                .ok()
                .filter(|output| output.status == 0)
        };
        if git(environment, "git rev-parse").is_none() {
            return Err(ConfigError::Runtime(format!(
                "Can't use commit hash as version, no git repository found in {}",
                environment.current_dir().display()
            )));
        }
        let revision = git(environment, "git rev-parse HEAD")
            .map(|output| output.stdout.trim().to_string())
            .unwrap_or_default();
        let builds_from_context = raw::has_key(raw::get_mapping(Some(&self.raw), "builder"), "context");
        let dirty = builds_from_context
            && git(environment, "git status --porcelain")
                .is_some_and(|output| !output.stdout.trim().is_empty());
        if dirty {
            let suffix: String = random_hex(8);
            return Ok(format!("{revision}_uncommitted_{suffix}"));
        }
        Ok(revision)
    }

    /// The Hash printed by `kamal config`, nil entries dropped (`compact`).
    pub fn to_output(&self, environment: &mut dyn Environment) -> Result<Value> {
        let version = self.version(environment)?;
        let repository = self.repository();
        let mut output = Mapping::new();
        let mut put = |key: &str, value: Node| output.insert(symbol(key), value);
        put(
            "roles",
            strings(self.roles.iter().map(|role| role.name.clone()).collect()),
        );
        let hosts = self
            .all_host_entries()
            .into_iter()
            .map(|host| host.map_or_else(|| Node::synthetic(Value::Null), string))
            .collect();
        put("hosts", Node::synthetic(Value::Sequence(hosts)));
        if let Some(primary_host) = self.primary_host() {
            put("primary_host", string(primary_host));
        }
        put("version", string(version.clone()));
        put("repository", string(repository.clone()));
        put("absolute_image", string(format!("{repository}:{version}")));
        put(
            "service_with_version",
            string(format!("{}-{version}", self.service())),
        );
        put("volume_args", strings(self.volume_args()));
        put("ssh_options", Node::synthetic(self.ssh_output()));
        put(
            "sshkit",
            raw::get_value(Some(&self.raw), "sshkit")
                .filter(|value| !value.is_null())
                .map(|value| Node::synthetic(value.clone()))
                .unwrap_or_else(|| Node::synthetic(Value::Mapping(Mapping::new()))),
        );
        if let Some(builder) = self.raw.get("builder") {
            put("builder", builder.clone());
        }
        if let Some(accessories) = self.raw.get("accessories").filter(|node| !node.value.is_null()) {
            put("accessories", accessories.clone());
        }
        put("logging", strings(self.logging_args()));
        Ok(Value::Mapping(output))
    }

    /// `Ssh#to_h`: Net::SSH options without the logger, plus `log_level`.
    fn ssh_output(&self) -> Value {
        let ssh = raw::get_mapping(Some(&self.raw), "ssh");
        let mut options = Mapping::new();
        let mut put = |key: &str, value: Value| options.insert(symbol(key), Node::synthetic(value));
        let present = |key: &str| raw::get_value(ssh, key).filter(|value| !value.is_null()).cloned();
        put(
            "user",
            present("user").unwrap_or_else(|| Value::String("root".into())),
        );
        put("port", present("port").unwrap_or(Value::Integer(22)));
        if let Some(jump) = raw::get_string(ssh, "proxy") {
            let jump = if jump.contains('@') {
                jump
            } else {
                format!("root@{jump}")
            };
            put(
                "proxy",
                Value::Object {
                    class: "Net::SSH::Proxy::Jump".into(),
                    fields: vec![("jump_proxies".into(), string(jump))],
                },
            );
        } else if let Some(command) = raw::get_string(ssh, "proxy_command") {
            put(
                "proxy",
                Value::Object {
                    class: "Net::SSH::Proxy::Command".into(),
                    fields: vec![
                        ("command_line_template".into(), string(command)),
                        ("command_line".into(), Node::synthetic(Value::Null)),
                        ("timeout".into(), Node::synthetic(Value::Integer(60))),
                    ],
                },
            );
        }
        put("keepalive", Value::Bool(true));
        put("keepalive_interval", Value::Integer(30));
        for key in ["keys_only", "keys", "key_data", "config"] {
            if let Some(value) = present(key) {
                let value = if key == "key_data" {
                    redact_all(&value)
                } else {
                    value
                };
                put(key, value);
            }
        }
        put(
            "log_level",
            present("log_level").unwrap_or_else(|| Value::Symbol("fatal".into())),
        );
        Value::Mapping(options)
    }
}

/// Key data is secret material: `kamal config` shows it redacted.
fn redact_all(value: &Value) -> Value {
    match value {
        Value::Sequence(items) => Value::Sequence(items.iter().map(|_| string("[REDACTED]")).collect()),
        _ => Value::String("[REDACTED]".into()),
    }
}

/// Random lowercase hex (`SecureRandom.hex(bytes)`), from the OS-seeded std hasher.
fn random_hex(bytes: usize) -> String {
    use std::collections::hash_map::RandomState;
    use std::hash::{BuildHasher, Hasher};
    let mut out = String::new();
    while out.len() < bytes * 2 {
        let mut hasher = RandomState::new().build_hasher();
        hasher.write_usize(out.len());
        out.push_str(&format!("{:016x}", hasher.finish()));
    }
    out.truncate(bytes * 2);
    out
}
