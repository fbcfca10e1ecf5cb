//! Run-time values Kamal keeps on `Kamal::Configuration` for the app lifecycle: boot and
//! drain timeouts, the env and assets directories under `.kamal/apps/<svc>[-<dest>]`, the
//! error pages path, root labels and env tags, which roles and accessories sit on a host,
//! and the `--volume` rule (`Kamal::Configuration::Volume`: relative host paths are
//! prefixed with `$PWD/`, which the remote shell expands). Everything is derived from the
//! validated YAML; nothing here reads the world.

use super::env::Env;
use super::{raw, Accessory, Configuration, Role};
use crate::yaml::Mapping;

impl Configuration {
    /// `deploy_timeout` (default 30 s): how long kamal-proxy or the health poll waits.
    pub fn deploy_timeout(&self) -> i64 {
        raw::get_integer(self.root(), "deploy_timeout").unwrap_or(30)
    }

    /// `drain_timeout` (default 30 s).
    pub fn drain_timeout(&self) -> i64 {
        raw::get_integer(self.root(), "drain_timeout").unwrap_or(30)
    }

    /// `readiness_delay` (default 7 s): the pause before re-checking a `running` container
    /// that has no Docker health check.
    pub fn readiness_delay(&self) -> i64 {
        raw::get_integer(self.root(), "readiness_delay").unwrap_or(7)
    }

    /// `retain_containers` (default 5).
    pub fn retain_containers(&self) -> i64 {
        raw::get_integer(self.root(), "retain_containers").unwrap_or(5)
    }

    /// `.kamal/apps/<svc>[-<dest>]/env`.
    pub fn env_directory(&self) -> String {
        format!("{}/env", self.app_directory())
    }

    /// `.kamal/apps/<svc>[-<dest>]/assets`.
    pub fn assets_directory(&self) -> String {
        format!("{}/assets", self.app_directory())
    }

    /// `error_pages_path`, as written. Any String counts as set, even an empty one, as in
    /// Ruby (where only `nil` is false).
    pub fn error_pages_path(&self) -> Option<String> {
        raw::get_string(self.root(), "error_pages_path")
    }

    /// The root `asset_path`.
    pub fn asset_path(&self) -> Option<String> {
        raw::get_string(self.root(), "asset_path")
    }

    /// The root `labels`, as written.
    pub fn labels(&self) -> Option<&Mapping> {
        raw::get_mapping(self.root(), "labels")
    }

    /// `env_tag(name)`: the first root env tag of that name.
    pub fn env_tag(&self, name: &str) -> Option<&Env> {
        self.env
            .tags
            .iter()
            .find(|(tag, _)| tag == name)
            .map(|(_, env)| env)
    }

    /// `host_roles(host)`: the roles (in name order) that list `host`.
    pub fn host_roles(&self, host: &str) -> Vec<&Role> {
        self.roles
            .iter()
            .filter(|role| role.tagged_hosts.iter().any(|tagged| tagged.host == host))
            .collect()
    }

    /// `host_accessories(host)`: the accessories (in declaration order) placed on `host`.
    pub fn host_accessories(&self, host: &str) -> Vec<&Accessory> {
        self.accessories
            .iter()
            .filter(|accessory| accessory.hosts.iter().any(|entry| entry.as_deref() == Some(host)))
            .collect()
    }

    /// `accessory(name)`.
    pub fn accessory(&self, name: &str) -> Option<&Accessory> {
        self.accessories.iter().find(|accessory| accessory.name == name)
    }
}

/// `Kamal::Configuration::Volume`: a bind mount as `--volume` arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Volume {
    pub host_path: String,
    pub container_path: String,
    pub options: Option<String>,
}

impl Volume {
    /// `<host>:<container>[:<options>]`, a relative host path written `$PWD/<path>` so
    /// Docker gets an absolute one from the remote shell.
    pub fn docker_args_string(&self) -> String {
        let host_path = if self.host_path.starts_with('/') {
            self.host_path.clone()
        } else {
            format!("$PWD/{}", self.host_path)
        };
        let mut volume = format!("{host_path}:{}", self.container_path);
        if let Some(options) = self
            .options
            .as_deref()
            .filter(|options| !options.trim().is_empty())
        {
            volume.push(':');
            volume.push_str(options);
        }
        volume
    }

    /// `["--volume", "<host>:<container>[:<options>]"]`, unescaped as Kamal's `argumentize`
    /// leaves Array elements.
    pub fn docker_args(&self) -> Vec<String> {
        vec!["--volume".to_string(), self.docker_args_string()]
    }
}

/// Ruby's `File.join` for two parts: one `/` between them however many each side has.
pub fn file_join(base: &str, path: &str) -> String {
    if base.is_empty() {
        return path.to_string();
    }
    format!("{}/{}", base.trim_end_matches('/'), path.trim_start_matches('/'))
}

/// Ruby's `String#split(",")`: trailing empty parts are dropped, nothing is trimmed.
pub fn split_on_commas(text: &str) -> Vec<String> {
    let mut parts: Vec<String> = text.split(',').map(str::to_string).collect();
    while parts.last().is_some_and(String::is_empty) {
        parts.pop();
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volumes_prefix_relative_host_paths() {
        let volume = Volume {
            host_path: ".kamal/apps/app/assets/volumes/web-999".into(),
            container_path: "/public/assets".into(),
            options: Some("ro".into()),
        };
        assert_eq!(
            volume.docker_args(),
            [
                "--volume",
                "$PWD/.kamal/apps/app/assets/volumes/web-999:/public/assets:ro"
            ]
        );
        let absolute = Volume {
            host_path: "/data".into(),
            container_path: "/data".into(),
            options: None,
        };
        assert_eq!(absolute.docker_args_string(), "/data:/data");
    }

    #[test]
    fn joins_and_splits_like_ruby() {
        assert_eq!(file_join("app-mysql", "data"), "app-mysql/data");
        assert_eq!(file_join("$PWD/app-mysql/", "/data"), "$PWD/app-mysql/data");
        assert_eq!(split_on_commas("a,b,,"), ["a", "b"]);
        assert_eq!(split_on_commas(",a"), ["", "a"]);
    }
}
