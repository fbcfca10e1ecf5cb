//! What Kamal's `Configuration::Role` derives for running a role's containers: names
//! (`<svc>-<role>[-<dest>]-<version>`), labels (with the bare `--label destination` when
//! there is no destination), the effective env per host (root, role, then the host's tag
//! envs) and its `--env`/`--env-file` arguments, the secrets env file, logging (the role's
//! settings deep-merged over the root's), docker options, `cmd`, the `docker stop -t` rule,
//! asset bridging paths, and the merged proxy settings. Versions and secrets are passed in.

use super::app_runtime::Volume;
use super::env::Env;
use super::proxy_runtime::ProxySettings;
use super::ruby::{argumentize, optionize};
use super::{logging, raw, Configuration, Role};
use crate::secrets::{env_file, Secret, Secrets, SecretsError};
use crate::yaml::{Mapping, Node, Value};

/// A role seen with its configuration, as Kamal's `Role` object (which holds `config`).
#[derive(Debug, Clone, Copy)]
pub struct RoleRuntime<'a> {
    configuration: &'a Configuration,
    role: &'a Role,
}

impl Configuration {
    pub fn role_runtime<'a>(&'a self, role: &'a Role) -> RoleRuntime<'a> {
        RoleRuntime {
            configuration: self,
            role,
        }
    }
}

impl<'a> RoleRuntime<'a> {
    pub fn configuration(&self) -> &'a Configuration {
        self.configuration
    }

    pub fn role(&self) -> &'a Role {
        self.role
    }

    pub fn name(&self) -> &'a str {
        &self.role.name
    }

    pub fn is_primary(&self) -> bool {
        self.role.name == self.configuration.primary_role_name()
    }

    /// `<service>-<role>[-<destination>]`: the container name without its version, the
    /// kamal-proxy service name, and what `list_versions` strips from container names.
    pub fn container_prefix(&self) -> String {
        let mut prefix = format!("{}-{}", self.configuration.service(), self.role.name);
        if let Some(destination) = &self.configuration.destination {
            prefix.push('-');
            prefix.push_str(destination);
        }
        prefix
    }

    /// `<prefix>-<version>`.
    pub fn container_name(&self, version: &str) -> String {
        format!("{}-{version}", self.container_prefix())
    }

    /// `service`, `role`, `destination` (nil without one), then the root and the role's
    /// custom labels (later wins).
    pub fn labels(&self) -> Mapping {
        let mut labels = Mapping::new();
        let destination = match &self.configuration.destination {
            Some(destination) => Value::String(destination.clone()),
            None => Value::Null,
        };
        for (key, value) in [
            ("service", Value::String(self.configuration.service())),
            ("role", Value::String(self.role.name.clone())),
            ("destination", destination),
        ] {
            labels.insert(string_node(key), Node::synthetic(value));
        }
        let custom = [
            self.configuration.labels(),
            raw::get_mapping(Some(&self.role.specializations), "labels"),
        ];
        for layer in custom.into_iter().flatten().filter(|layer| !layer.is_empty()) {
            for (key, value) in &layer.entries {
                labels.insert(key.clone(), value.clone());
            }
        }
        labels
    }

    /// `--label service="app" --label role="web" --label destination …`: a nil value gives
    /// the bare key, so without a destination the flag is `--label destination`.
    pub fn label_args(&self) -> Vec<String> {
        argumentize("--label", &Value::Mapping(self.labels()))
    }

    /// The effective env on `host`: root env, the role's env, then the env of each tag the
    /// host carries (in the order listed; unknown tags are skipped).
    pub fn env(&self, host: &str) -> Env {
        let mut env = self.configuration.env.merge(&self.role.env);
        for tag in self.host_tags(host) {
            if let Some(tag_env) = self.configuration.env_tag(&tag) {
                env = env.merge(tag_env);
            }
        }
        env
    }

    /// `--env K="v"` for the clear values, then `--env-file <secrets_path>`.
    ///
    /// The clear values are read again from the YAML rather than from [`Env`] so a `false`
    /// renders as Kamal's bare `K=false` (an [`Env`] keeps only text).
    pub fn env_args(&self, host: &str) -> Vec<String> {
        let root_env = raw::get_value(self.configuration.root(), "env");
        let tags = raw::get_mapping(root_env.and_then(Value::as_mapping), "tags");
        let mut layers = vec![
            clear_values(root_env),
            clear_values(raw::get_value(Some(&self.role.specializations), "env")),
        ];
        for tag in self.host_tags(host) {
            // The first tag of that name, as `env_tag`'s `detect`; unknown tags are skipped.
            let tag_env = tags.and_then(|tags| {
                tags.entries
                    .iter()
                    .find(|(name, _)| raw::to_s(&name.value) == tag)
                    .map(|(_, env)| &env.value)
            });
            if tag_env.is_some() {
                layers.push(clear_values(tag_env));
            }
        }
        let mut clear = Mapping::new();
        for (key, value) in layers.into_iter().flat_map(|layer| layer.entries) {
            clear.insert(key, value);
        }
        let mut arguments = argumentize("--env", &Value::Mapping(clear));
        arguments.extend(["--env-file".to_string(), self.secrets_path()]);
        arguments
    }

    /// `.kamal/apps/<svc>[-<dest>]/env/roles`.
    pub fn env_directory(&self) -> String {
        format!("{}/roles", self.configuration.env_directory())
    }

    /// `.kamal/apps/<svc>[-<dest>]/env/roles/<role>.env`, uploaded with mode 0600.
    pub fn secrets_path(&self) -> String {
        format!("{}/{}.env", self.env_directory(), self.role.name)
    }

    /// The env file for `host` (§7.4): the role's secrets only, looked up in `secrets`
    /// (`NAME:SECRET` reads `SECRET` into `NAME`); a missing secret is Kamal's error.
    pub fn secrets_env_file(&self, host: &str, secrets: &Secrets) -> Result<Secret, SecretsError> {
        secrets_env_file(&self.env(host), secrets)
    }

    /// `--log-driver "d" --log-opt k="v"…` (or `--log-opt max-size="10m"`), from the role's
    /// `logging` deep-merged over the root's.
    pub fn logging_args(&self) -> Vec<String> {
        let root = raw::get(self.configuration.root(), "logging");
        let own = self.role.specializations.get("logging");
        let empty = Node::synthetic(Value::Mapping(Mapping::new()));
        let merged = raw::deep_merge(
            root.filter(|node| !node.value.is_null()).unwrap_or(&empty),
            own.filter(|node| !node.value.is_null()).unwrap_or(&empty),
        );
        logging::args(merged.value.as_mapping())
    }

    /// The role's docker `options`, `optionize`d: `--k "v"`, bare `--k` for `true`.
    pub fn option_args(&self) -> Vec<String> {
        raw::get_mapping(Some(&self.role.specializations), "options")
            .map(optionize)
            .unwrap_or_default()
    }

    /// `cmd`, appended after the image as one word (the remote shell splits it).
    pub fn cmd(&self) -> Option<String> {
        raw::get_string(Some(&self.role.specializations), "cmd")
    }

    pub fn running_proxy(&self) -> bool {
        self.role.running_proxy
    }

    /// The role's proxy settings (its own `proxy` Hash deep-merged over the root `proxy`),
    /// when the role runs behind kamal-proxy.
    pub fn proxy(&self) -> Option<ProxySettings<'a>> {
        self.role.running_proxy.then(|| {
            ProxySettings::new(
                self.configuration,
                self.configuration
                    .role_proxy_config(self.role)
                    .unwrap_or_default(),
                Some(self.role.name.clone()),
            )
        })
    }

    /// `docker stop -t` arguments: `stop_timeout` (role, then root; Kamal 2.12 keys the 2.11
    /// schema still rejects), else none for proxied roles (kamal-proxy already drained
    /// them), else `drain_timeout`.
    pub fn stop_args(&self) -> Vec<String> {
        let stop_timeout = raw::get_integer(Some(&self.role.specializations), "stop_timeout")
            .or_else(|| raw::get_integer(self.configuration.root(), "stop_timeout"));
        let timeout = match stop_timeout {
            Some(timeout) => Some(timeout),
            None if self.role.running_proxy => None,
            None => Some(self.configuration.drain_timeout()),
        };
        match timeout {
            Some(timeout) => vec!["-t".to_string(), timeout.to_string()],
            None => Vec::new(),
        }
    }

    /// `asset_path` (the role's, else the root's) without its `:options` part.
    pub fn asset_path(&self) -> Option<String> {
        self.asset_path_config().map(|(path, _)| path)
    }

    /// The mount options after the first `:` of `asset_path`.
    pub fn asset_path_options(&self) -> Option<String> {
        self.asset_path_config().and_then(|(_, options)| options)
    }

    /// Assets are bridged only for proxied roles with an asset path.
    pub fn assets(&self) -> bool {
        self.asset_path().is_some_and(|path| !path.trim().is_empty()) && self.role.running_proxy
    }

    /// `.kamal/apps/<svc>/assets/extracted/<role>-<version>`.
    pub fn asset_extracted_directory(&self, version: &str) -> String {
        format!(
            "{}/extracted/{}-{version}",
            self.configuration.assets_directory(),
            self.role.name
        )
    }

    /// `.kamal/apps/<svc>/assets/volumes/<role>-<version>`.
    pub fn asset_volume_directory(&self, version: &str) -> String {
        format!(
            "{}/volumes/{}-{version}",
            self.configuration.assets_directory(),
            self.role.name
        )
    }

    /// The assets volume mounted at `asset_path`, when the role bridges assets.
    pub fn asset_volume(&self, version: &str) -> Option<Volume> {
        if !self.assets() {
            return None;
        }
        Some(Volume {
            host_path: self.asset_volume_directory(version),
            container_path: self.asset_path().unwrap_or_default(),
            options: self.asset_path_options(),
        })
    }

    /// `--volume $PWD/.kamal/apps/<svc>/assets/volumes/<role>-<version>:<asset_path>[:opts]`.
    pub fn asset_volume_args(&self, version: &str) -> Vec<String> {
        self.asset_volume(version)
            .map(|volume| volume.docker_args())
            .unwrap_or_default()
    }

    /// The host's tags in this role (none for a host the role does not list).
    fn host_tags(&self, host: &str) -> Vec<String> {
        self.role
            .tagged_hosts
            .iter()
            .find(|tagged| tagged.host == host)
            .map(|tagged| tagged.tags.clone())
            .unwrap_or_default()
    }

    fn asset_path_config(&self) -> Option<(String, Option<String>)> {
        let raw_path = raw::get_string(Some(&self.role.specializations), "asset_path")
            .or_else(|| self.configuration.asset_path())?;
        if raw_path.trim().is_empty() {
            return None;
        }
        Some(match raw_path.split_once(':') {
            Some((path, options)) => (path.to_string(), Some(options.to_string())),
            None => (raw_path, None),
        })
    }
}

/// The secrets of an env, aliases resolved and looked up, as the env file holds them.
/// A name given twice keeps its first place and its last value, as a Ruby Hash does.
pub fn secrets_env_file(env: &Env, secrets: &Secrets) -> Result<Secret, SecretsError> {
    let mut pairs: Vec<(String, Secret)> = Vec::new();
    for key in &env.secret_keys {
        let (name, secret_name) = key.split_once(':').unwrap_or((key, key));
        let value = secrets.get(secret_name)?;
        match pairs.iter_mut().find(|(existing, _)| existing == name) {
            Some(entry) => entry.1 = value,
            None => pairs.push((name.to_string(), value)),
        }
    }
    Ok(env_file(&pairs))
}

/// The clear part of an env Hash, values as written: the Hash itself in the simple form,
/// its `clear` Hash in the complex one (`clear`, `secret` or `tags` present).
pub(crate) fn clear_values(env: Option<&Value>) -> Mapping {
    let Some(mapping) = env.and_then(Value::as_mapping) else {
        return Mapping::new();
    };
    let complex = ["clear", "secret", "tags"]
        .iter()
        .any(|key| mapping.get(key).is_some());
    if complex {
        raw::get_mapping(Some(mapping), "clear")
            .cloned()
            .unwrap_or_default()
    } else {
        mapping.clone()
    }
}

fn string_node(text: &str) -> Node {
    Node::synthetic(Value::String(text.to_string()))
}
