//! What Kamal's `Configuration::Accessory` derives for running an accessory: its service
//! (container) name, image (behind its own registry server), `--publish` port, network,
//! labels, env arguments and secrets env file, the uploaded `files` and created
//! `directories` with their mounts, docker options, `cmd` and proxy settings. `files`
//! come back as written; [`AccessoryRuntime::render_file`] renders a `*.erb` one at boot
//! time, through the [`Environment`] like every other file read.

use std::path::Path;

use super::app_runtime::{file_join, Volume};
use super::error::ConfigError;
use super::proxy_runtime::ProxySettings;
use super::role_runtime::{clear_values, secrets_env_file};
use super::ruby::{argumentize, optionize};
use super::{raw, Accessory, Configuration};
use crate::environment::Environment;
use crate::secrets::{Secret, Secrets, SecretsError};
use crate::yaml::{Mapping, Node, Value};

/// An accessory seen with its configuration.
#[derive(Debug, Clone, Copy)]
pub struct AccessoryRuntime<'a> {
    configuration: &'a Configuration,
    accessory: &'a Accessory,
}

/// One `files` or `directories` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessoryPath {
    /// For files: the local path as written (`*.erb` files are rendered by the caller;
    /// others are uploaded from their expanded path). For directories: the path created
    /// on the host (`$PWD/<service>/<local>` for a relative one, else as written).
    pub key: String,
    /// Files: `<service><remote>`; directories: `<service>/<local>` or the absolute path.
    pub host_path: String,
    pub container_path: String,
    pub options: Option<String>,
    /// `chmod` mode: files default to `755`, directories to none.
    pub mode: Option<String>,
    /// `chown` owner.
    pub owner: Option<String>,
}

impl AccessoryPath {
    pub fn volume(&self) -> Volume {
        Volume {
            host_path: self.host_path.clone(),
            container_path: self.container_path.clone(),
            options: self.options.clone(),
        }
    }

    /// Whether Kamal renders the local file with ERB (its name ends in `erb`).
    pub fn is_template(&self) -> bool {
        self.key.ends_with("erb")
    }
}

impl Configuration {
    pub fn accessory_runtime<'a>(&'a self, accessory: &'a Accessory) -> AccessoryRuntime<'a> {
        AccessoryRuntime {
            configuration: self,
            accessory,
        }
    }
}

impl<'a> AccessoryRuntime<'a> {
    pub fn accessory(&self) -> &'a Accessory {
        self.accessory
    }

    fn settings(&self) -> Option<&'a Mapping> {
        Some(&self.accessory.config)
    }

    pub fn name(&self) -> &'a str {
        &self.accessory.name
    }

    /// `service`, else `<service>-<name>`: the container name and its `service` label.
    pub fn service_name(&self) -> String {
        raw::get_string(self.settings(), "service")
            .unwrap_or_else(|| format!("{}-{}", self.configuration.service(), self.accessory.name))
    }

    /// `[<own registry server>/]image`.
    pub fn image(&self) -> String {
        let server = self
            .accessory
            .registry_config()
            .and_then(|registry| registry.server());
        let image = raw::get_string(self.settings(), "image");
        [server, image]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join("/")
    }

    /// `port` as `host:container`: a bare port is published on the same port.
    pub fn port(&self) -> Option<String> {
        let port = raw::get_string(self.settings(), "port")?;
        Some(if port.contains(':') {
            port
        } else {
            format!("{port}:{port}")
        })
    }

    pub fn network(&self) -> String {
        raw::get_string(self.settings(), "network").unwrap_or_else(|| "kamal".to_string())
    }

    pub fn network_args(&self) -> Vec<String> {
        vec!["--network".to_string(), self.network()]
    }

    pub fn publish_args(&self) -> Vec<String> {
        match self.port() {
            Some(port) => vec!["--publish".to_string(), port],
            None => Vec::new(),
        }
    }

    /// `service` then the custom labels.
    pub fn labels(&self) -> Mapping {
        let mut labels = Mapping::new();
        labels.insert(
            Node::synthetic(Value::String("service".to_string())),
            Node::synthetic(Value::String(self.service_name())),
        );
        if let Some(custom) = raw::get_mapping(self.settings(), "labels") {
            for (key, value) in &custom.entries {
                labels.insert(key.clone(), value.clone());
            }
        }
        labels
    }

    pub fn label_args(&self) -> Vec<String> {
        argumentize("--label", &Value::Mapping(self.labels()))
    }

    /// `--env K="v"` for the clear values, then `--env-file <secrets_path>`.
    pub fn env_args(&self) -> Vec<String> {
        let clear = clear_values(raw::get_value(self.settings(), "env"));
        let mut arguments = argumentize("--env", &Value::Mapping(clear));
        arguments.extend(["--env-file".to_string(), self.secrets_path()]);
        arguments
    }

    /// `.kamal/apps/<svc>[-<dest>]/env/accessories`.
    pub fn env_directory(&self) -> String {
        format!("{}/accessories", self.configuration.env_directory())
    }

    /// `.kamal/apps/<svc>[-<dest>]/env/accessories/<name>.env`, uploaded with mode 0600.
    pub fn secrets_path(&self) -> String {
        format!("{}/{}.env", self.env_directory(), self.accessory.name)
    }

    /// The env file (§7.4): the accessory's secrets only.
    pub fn secrets_env_file(&self, secrets: &Secrets) -> Result<Secret, SecretsError> {
        secrets_env_file(&self.accessory.env, secrets)
    }

    /// `Env#to_h`: the clear values, then the secrets (a `NAME:SECRET` entry reads secret
    /// `SECRET` into `NAME`); what a `*.erb` file sees in `ENV` while it renders.
    pub fn env_values(&self, secrets: &Secrets) -> Result<Vec<(String, Secret)>, SecretsError> {
        let mut values: Vec<(String, Secret)> = self
            .accessory
            .env
            .clear
            .iter()
            .map(|(name, value)| (name.clone(), Secret::new(value.clone())))
            .collect();
        for key in &self.accessory.env.secret_keys {
            let (name, secret_name) = key.split_once(':').unwrap_or((key, key));
            let value = secrets.get(secret_name)?;
            match values.iter_mut().find(|(existing, _)| existing == name) {
                Some(entry) => entry.1 = value,
                None => values.push((name.to_string(), value)),
            }
        }
        Ok(values)
    }

    /// Kamal's `read_dynamic_file`: the `*.erb` file at `path.key` (relative to the working
    /// directory) rendered with `env` (from [`AccessoryRuntime::env_values`]) in `ENV` for
    /// the duration. The result may hold secrets, so it comes back as one.
    pub fn render_file(
        &self,
        path: &AccessoryPath,
        env: &[(String, Secret)],
        environment: &mut dyn Environment,
    ) -> Result<Secret, ConfigError> {
        let file = environment.current_dir().join(Path::new(&path.key));
        let template = environment
            .read_file(&file)
            .map_err(|error| ConfigError::io(&path.key, &error))?;
        let previous: Vec<(&str, Option<String>)> = env
            .iter()
            .map(|(name, _)| (name.as_str(), environment.var(name)))
            .collect();
        for (name, value) in env {
            environment.set_var(name, value.expose());
        }
        let rendered = crate::erb::render(&template, Path::new(&path.key), environment);
        for (name, value) in previous {
            match value {
                Some(value) => environment.set_var(name, &value),
                None => environment.remove_var(name),
            }
        }
        Ok(Secret::new(rendered?))
    }

    /// `files`: uploaded to `<service><remote>` (mode 755 unless given), mounted at
    /// `remote`.
    pub fn files(&self) -> Vec<AccessoryPath> {
        let service_name = self.service_name();
        self.paths("files", Some("755"), |local, remote| {
            (local.to_string(), format!("{service_name}{remote}"))
        })
    }

    /// `directories`: created on the host (a relative one under `$PWD/<service>/`) and
    /// mounted at `remote`.
    pub fn directories(&self) -> Vec<AccessoryPath> {
        let service_name = self.service_name();
        self.paths("directories", None, |local, _| {
            if local.starts_with('/') {
                (local.to_string(), local.to_string())
            } else {
                (
                    file_join(&format!("$PWD/{service_name}"), local),
                    file_join(&service_name, local),
                )
            }
        })
    }

    /// `--volume` for `volumes` (verbatim), then files, then directories.
    pub fn volume_args(&self) -> Vec<String> {
        let mut arguments = match raw::get_value(self.settings(), "volumes") {
            Some(volumes) => argumentize("--volume", volumes),
            None => Vec::new(),
        };
        for path in self.files().iter().chain(self.directories().iter()) {
            arguments.extend(path.volume().docker_args());
        }
        arguments
    }

    pub fn option_args(&self) -> Vec<String> {
        raw::get_mapping(self.settings(), "options")
            .map(optionize)
            .unwrap_or_default()
    }

    pub fn cmd(&self) -> Option<String> {
        raw::get_string(self.settings(), "cmd")
    }

    /// `proxy.present?`.
    pub fn running_proxy(&self) -> bool {
        raw::present(raw::get_value(self.settings(), "proxy"))
    }

    /// The accessory's own `proxy` settings (not merged with the root's).
    pub fn proxy(&self) -> Option<ProxySettings<'a>> {
        if !self.running_proxy() {
            return None;
        }
        let settings = raw::get_mapping(self.settings(), "proxy")
            .cloned()
            .unwrap_or_default();
        Some(ProxySettings::new(self.configuration, settings, None))
    }

    /// The hosts the accessory runs on (Ruby's `nil` entries dropped).
    pub fn hosts(&self) -> Vec<String> {
        self.accessory.hosts.iter().flatten().cloned().collect()
    }

    /// `files`/`directories` entries in order; a key given twice keeps its first place and
    /// its last settings, as Kamal's `to_h` does. `expand` maps `(local, remote)` to the
    /// key and the host path.
    fn paths(
        &self,
        section: &str,
        default_mode: Option<&str>,
        expand: impl Fn(&str, &str) -> (String, String),
    ) -> Vec<AccessoryPath> {
        let mut paths: Vec<AccessoryPath> = Vec::new();
        for entry in raw::array_of(raw::get(self.settings(), section)) {
            let path = match &entry.value {
                Value::Mapping(mapping) => {
                    let local = raw::get_string(Some(mapping), "local").unwrap_or_default();
                    let remote = raw::get_string(Some(mapping), "remote").unwrap_or_default();
                    let (key, host_path) = expand(&local, &remote);
                    AccessoryPath {
                        key,
                        host_path,
                        container_path: remote,
                        options: raw::get_string(Some(mapping), "options"),
                        mode: raw::get_string(Some(mapping), "mode")
                            .or_else(|| default_mode.map(str::to_string)),
                        owner: raw::get_string(Some(mapping), "owner"),
                    }
                }
                other => {
                    let text = raw::to_s(other);
                    let mut parts = text.splitn(3, ':');
                    let local = parts.next().unwrap_or_default().to_string();
                    let remote = parts.next().unwrap_or_default().to_string();
                    let options = parts.next().map(str::to_string);
                    let (key, host_path) = expand(&local, &remote);
                    AccessoryPath {
                        key,
                        host_path,
                        container_path: remote,
                        options,
                        mode: default_mode.map(str::to_string),
                        owner: None,
                    }
                }
            };
            match paths.iter_mut().find(|existing| existing.key == path.key) {
                Some(existing) => {
                    let key = existing.key.clone();
                    *existing = AccessoryPath { key, ..path };
                }
                None => paths.push(path),
            }
        }
        paths
    }
}
