//! The validated configuration model and the load pipeline that builds it:
//! files → ERB → YAML → destination merge → validation → typed sections.
//!
//! Construction follows `Kamal::Configuration#initialize` step by step, because the order
//! decides which error a user sees first when a file has several problems.

mod accessory;
pub mod accessory_runtime;
pub mod app_runtime;
mod boot;
pub mod builder;
mod env;
pub mod error;
mod load;
mod logging;
pub mod names;
mod output;
mod proxy;
pub mod proxy_runtime;
pub mod raw;
pub mod registry;
mod role;
pub mod role_runtime;
pub mod ruby;
pub mod schema;
mod sections;
pub mod ssh;
pub mod validator;

pub use accessory::Accessory;
pub use accessory_runtime::{AccessoryPath, AccessoryRuntime};
pub use app_runtime::Volume;
pub use builder::{Builder, BuilderKind};
pub use env::Env;
pub use error::{ConfigError, Location, Result};
pub use load::{load, LoadOptions};
pub use proxy_runtime::{ProxyBoot, ProxyRun, ProxySettings};
pub use registry::Registry;
pub use role::{Role, TaggedHost};
pub use role_runtime::RoleRuntime;
pub use ssh::{KeyData, Ssh, SshConfigFiles, SshProxy};

use crate::environment::Environment;
use crate::yaml::{Mapping, Node, Value};
use validator::Validator;

/// The Kamal release whose behaviour we reproduce (`kamal version`, `minimum_version`).
pub const KAMAL_VERSION: &str = "2.11.0";

/// `hooks_output`'s levels: `verbose` shows a hook's output (DEBUG), `quiet` hides even its
/// Running/Finished lines (ERROR and above only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HooksOutput {
    Quiet,
    Verbose,
}

#[derive(Debug, Clone)]
pub struct Configuration {
    /// The merged root Hash (base file deep-merged with the destination file).
    pub raw: Mapping,
    pub destination: Option<String>,
    /// `--version` from the command line, if given.
    pub declared_version: Option<String>,
    pub roles: Vec<Role>,
    pub accessories: Vec<Accessory>,
    pub env: Env,
}

impl Configuration {
    /// Validates a merged root Hash and builds the model, in Kamal's order.
    pub fn new(
        raw: Mapping,
        destination: Option<String>,
        declared_version: Option<String>,
        environment: &mut dyn Environment,
    ) -> Result<Configuration> {
        validate_root(&raw)?;

        let root = Some(&raw);
        let primary_role_name = raw::get_string(root, "primary_role").unwrap_or_else(|| "web".to_string());
        let servers = raw.get("servers");
        let mut roles = Vec::new();
        if let Some(servers) = servers {
            let mut servers_validator = Validator::new(&["servers"]);
            servers_validator
                .validate_type(&servers.value, &[validator::Type::Array, validator::Type::Hash])?;
            if matches!(servers.value, Value::Sequence(_)) {
                servers_validator.validate_servers(&servers.value)?;
            }
            if let Value::Mapping(mapping) = &servers.value {
                ensure_sortable_role_names(mapping)?;
            }
            let mut names: Vec<String> = match &servers.value {
                Value::Sequence(_) => vec!["web".to_string()],
                Value::Mapping(mapping) => mapping.keys().map(|key| raw::to_s(&key.value)).collect(),
                _ => Vec::new(),
            };
            names.sort();
            for name in &names {
                let role = Role::new(name, servers, &primary_role_name)?;
                // A role's own `proxy:` Hash is checked here, alone and in its own context;
                // merged over the root `proxy` it is checked again, later (see
                // `ensure_one_host_for_ssl_roles`).
                if role.running_proxy {
                    if let Some(own) = role.proxy_specializations() {
                        let context = format!("servers/{name}/proxy");
                        proxy::validate(Some(&Value::Mapping(own.clone())), &context)?;
                    }
                }
                roles.push(role);
            }
        }

        sections::validate_registry(raw::get_mapping(root, "registry"), "registry")?;

        let mut accessories = Vec::new();
        if let Some(accessory_map) = raw::get_mapping(root, "accessories") {
            for (name, node) in &accessory_map.entries {
                let servers = raw::get_value(root, "servers");
                accessories.push(Accessory::new(&raw::to_s(&name.value), node, &roles, servers)?);
            }
        }
        sections::validate_aliases(raw::get_mapping(root, "aliases"))?;
        sections::validate_section(raw::get_value(root, "boot"), "boot", schema::BOOT)?;
        sections::validate_builder(raw::get_value(root, "builder"))?;
        let env = Env::new(
            raw.get("env")
                .cloned()
                .unwrap_or_else(|| Node::synthetic(Value::Mapping(Mapping::new()))),
            "env",
        )?;
        if let Some(logging) = raw.get("logging") {
            logging::validate(logging, "logging")?;
        }
        proxy::validate(raw::get_value(root, "proxy"), "proxy")?;
        sections::validate_section(raw::get_value(root, "ssh"), "ssh", schema::SSH)?;
        sections::validate_section(raw::get_value(root, "sshkit"), "sshkit", schema::SSHKIT)?;

        let configuration = Configuration {
            raw,
            destination,
            declared_version,
            roles,
            accessories,
            env,
        };
        configuration.ensure_destination_if_required()?;
        configuration.ensure_required_keys_present()?;
        configuration.ensure_valid_kamal_version()?;
        configuration.ensure_retain_containers_valid()?;
        configuration.ensure_valid_service_name()?;
        configuration.ensure_no_traefik_reboot_hooks(environment)?;
        configuration.ensure_one_host_for_ssl_roles()?;
        configuration.ensure_unique_hosts_for_ssl_roles()?;
        configuration.ensure_local_registry_remote_builder_has_ssh_url(environment)?;
        configuration.ensure_no_conflicting_proxy_runs()?;
        sections::validate_hooks_output(raw::get_value(Some(&configuration.raw), "hooks_output"))?;
        Ok(configuration)
    }

    fn root(&self) -> Option<&Mapping> {
        Some(&self.raw)
    }

    pub fn service(&self) -> String {
        raw::get_string(self.root(), "service").unwrap_or_default()
    }

    pub fn primary_role_name(&self) -> String {
        raw::get_string(self.root(), "primary_role").unwrap_or_else(|| "web".to_string())
    }

    pub fn role(&self, name: &str) -> Option<&Role> {
        self.roles.iter().find(|role| role.name == name)
    }

    pub fn primary_role(&self) -> Option<&Role> {
        self.role(&self.primary_role_name())
    }

    pub fn primary_host(&self) -> Option<String> {
        self.primary_role().and_then(Role::primary_host)
    }

    /// Hosts of the roles, then of the accessories, each once, in declaration order.
    pub fn all_hosts(&self) -> Vec<String> {
        self.all_host_entries().into_iter().flatten().collect()
    }

    /// `all_hosts` as Kamal computes it, `nil` entries (see [`Accessory::hosts`]) kept.
    fn all_host_entries(&self) -> Vec<Option<String>> {
        let mut hosts: Vec<Option<String>> = Vec::new();
        let candidates = self
            .roles
            .iter()
            .flat_map(|role| role.hosts().into_iter().map(Some))
            .chain(
                self.accessories
                    .iter()
                    .flat_map(|accessory| accessory.hosts.clone()),
            );
        for host in candidates {
            if !hosts.contains(&host) {
                hosts.push(host);
            }
        }
        hosts
    }

    pub fn registry(&self) -> Option<&Mapping> {
        raw::get_mapping(self.root(), "registry")
    }

    pub fn local_registry(&self) -> bool {
        sections::is_local_registry(self.registry())
    }

    /// `image`, or the service name for a local registry without one.
    pub fn image(&self) -> Option<String> {
        raw::get_string(self.root(), "image").or_else(|| self.local_registry().then(|| self.service()))
    }

    /// `[registry.server, image].compact.join("/")`.
    pub fn repository(&self) -> String {
        let server = raw::get_string(self.registry(), "server");
        [server, self.image()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join("/")
    }

    pub fn logging_args(&self) -> Vec<String> {
        logging::args(raw::get_mapping(self.root(), "logging"))
    }

    pub fn volume_args(&self) -> Vec<String> {
        match raw::get_value(self.root(), "volumes") {
            Some(volumes) => ruby::argumentize("--volume", volumes),
            None => Vec::new(),
        }
    }

    fn ensure_destination_if_required(&self) -> Result<()> {
        if raw::get_bool(self.root(), "require_destination") == Some(true) && self.destination.is_none() {
            return Err(ConfigError::Argument("You must specify a destination".into()));
        }
        Ok(())
    }

    fn ensure_required_keys_present(&self) -> Result<()> {
        for key in ["service", "image"] {
            if key == "image" && self.local_registry() {
                continue;
            }
            if !raw::present(raw::get_value(self.root(), key)) {
                return Err(ConfigError::invalid(format!(
                    "Missing required configuration for {key}"
                )));
            }
        }
        let servers = raw::get_value(self.root(), "servers");
        let accessories = raw::get_value(self.root(), "accessories");
        if !raw::present(servers) && !raw::present(accessories) {
            return Err(ConfigError::invalid("No servers or accessories specified"));
        }
        if servers.is_none() {
            // Kamal looks up the primary role in `servers.keys` here and crashes on nil.
            return Err(ConfigError::Ruby {
                class: "NoMethodError",
                message: "undefined method `keys' for nil".into(),
            });
        }
        let primary = self.primary_role_name();
        let Some(primary_role) = self.primary_role() else {
            return Err(ConfigError::invalid(format!(
                "The primary_role {primary} isn't defined"
            )));
        };
        if primary_role.tagged_hosts.is_empty() {
            return Err(ConfigError::invalid(format!(
                "No servers specified for the {primary} primary_role"
            )));
        }
        if raw::get_bool(self.root(), "allow_empty_roles") != Some(true) {
            if let Some(role) = self.roles.iter().find(|role| role.tagged_hosts.is_empty()) {
                return Err(ConfigError::invalid(format!(
                    "No servers specified for the {} role. You can ignore this with allow_empty_roles: true",
                    role.name
                )));
            }
        }
        Ok(())
    }

    fn ensure_valid_kamal_version(&self) -> Result<()> {
        if let Some(minimum) = raw::get_string(self.root(), "minimum_version") {
            if gem_version_greater(&minimum, KAMAL_VERSION) {
                return Err(ConfigError::invalid(format!(
                    "Current version is {KAMAL_VERSION}, minimum required is {minimum}"
                )));
            }
        }
        Ok(())
    }

    fn ensure_retain_containers_valid(&self) -> Result<()> {
        if raw::get_integer(self.root(), "retain_containers").is_some_and(|count| count < 1) {
            return Err(ConfigError::invalid("Must retain at least 1 container"));
        }
        Ok(())
    }

    fn ensure_valid_service_name(&self) -> Result<()> {
        let service = self.service();
        let valid = !service.is_empty()
            && service
                .chars()
                .all(|character| character.is_ascii_alphanumeric() || character == '_' || character == '-');
        if !valid {
            return Err(ConfigError::invalid(
                "Service name can only include alphanumeric characters, hyphens, and underscores",
            ));
        }
        Ok(())
    }

    /// `hooks_output_for(hook)`: how loud `hook` runs when the command line set no
    /// verbosity — one level for every hook, or a Hash of hook name → level.
    pub fn hooks_output_for(&self, hook: &str) -> Option<HooksOutput> {
        let level = match raw::get_value(self.root(), "hooks_output")? {
            Value::String(level) | Value::Symbol(level) => level.as_str(),
            Value::Mapping(per_hook) => match per_hook
                .entries
                .iter()
                .find(|(key, _)| matches!(&key.value, Value::String(name) if name == hook))
            {
                Some((
                    _,
                    Node {
                        value: Value::String(level) | Value::Symbol(level),
                        ..
                    },
                )) => level.as_str(),
                _ => return None,
            },
            _ => return None,
        };
        match level {
            "quiet" => Some(HooksOutput::Quiet),
            "verbose" => Some(HooksOutput::Verbose),
            _ => None,
        }
    }

    pub fn hooks_path(&self) -> String {
        raw::get_string(self.root(), "hooks_path").unwrap_or_else(|| ".kamal/hooks".to_string())
    }

    fn ensure_no_traefik_reboot_hooks(&self, environment: &dyn Environment) -> Result<()> {
        let hooks_path = self.hooks_path();
        let found: Vec<&str> = ["pre-traefik-reboot", "post-traefik-reboot"]
            .into_iter()
            .filter(|hook| environment.file_exists(&std::path::Path::new(&hooks_path).join(hook)))
            .collect();
        if !found.is_empty() {
            return Err(ConfigError::invalid(format!(
                "Found {}, these should be renamed to (pre|post)-proxy-reboot",
                found.join(", ")
            )));
        }
        Ok(())
    }

    /// Kamal builds each role's merged proxy settings (`Role#proxy`) lazily, first here, and
    /// validates them on creation in the root `proxy` context: a conflict that only the
    /// merge creates (root `host`, role `hosts`) surfaces at this point and as `proxy: …`.
    fn ensure_one_host_for_ssl_roles(&self) -> Result<()> {
        for role in self.roles.iter().filter(|role| role.running_proxy) {
            let effective = self.role_proxy_config(role);
            proxy::validate(
                Some(&Value::Mapping(effective.clone().unwrap_or_default())),
                "proxy",
            )?;
            let hosts = role.hosts();
            if proxy::ssl(effective.as_ref())
                && hosts.len() > 1
                && !proxy::custom_ssl_certificate(effective.as_ref())
            {
                return Err(ConfigError::invalid(format!(
                    "SSL is only supported on a single server unless you provide custom certificates, found {} servers for role {}",
                    hosts.len(),
                    role.name
                )));
            }
        }
        Ok(())
    }

    fn ensure_unique_hosts_for_ssl_roles(&self) -> Result<()> {
        let mut counts: Vec<(String, usize)> = Vec::new();
        for role in self.roles.iter().filter(|role| role.running_proxy) {
            let effective = self.role_proxy_config(role);
            if !proxy::ssl(effective.as_ref()) {
                continue;
            }
            for host in proxy::hosts(effective.as_ref()) {
                match counts.iter_mut().find(|(seen, _)| *seen == host) {
                    Some((_, count)) => *count += 1,
                    None => counts.push((host, 1)),
                }
            }
        }
        let duplicates: Vec<String> = counts
            .into_iter()
            .filter(|(_, count)| *count > 1)
            .map(|(host, _)| host)
            .collect();
        if !duplicates.is_empty() {
            return Err(ConfigError::invalid(format!(
                "Different roles can't share the same host for SSL: {}",
                duplicates.join(", ")
            )));
        }
        Ok(())
    }

    /// Kamal compares the run settings with `uniq`, but `Proxy::Run` has no `==`, so objects
    /// are compared by identity: two proxied roles or accessories with a `run` section on one
    /// host always conflict, even with identical settings.
    fn ensure_no_conflicting_proxy_runs(&self) -> Result<()> {
        for host in self.all_hosts() {
            let role_runs = self
                .roles
                .iter()
                .filter(|role| role.running_proxy && role.hosts().contains(&host))
                .filter(|role| raw::present(raw::get_value(self.role_proxy_config(role).as_ref(), "run")))
                .count();
            let accessory_runs = self
                .accessories
                .iter()
                .filter(|accessory| accessory.hosts.contains(&Some(host.clone())))
                .filter(|accessory| {
                    let proxy = raw::get_mapping(Some(&accessory.config), "proxy");
                    raw::present(raw::get_value(proxy, "run"))
                })
                .count();
            if role_runs + accessory_runs > 1 {
                return Err(ConfigError::invalid(format!(
                    "Conflicting proxy run configurations for host {host}"
                )));
            }
        }
        Ok(())
    }

    /// The root `proxy` deep-merged with the role's own `proxy` Hash.
    pub fn role_proxy_config(&self, role: &Role) -> Option<Mapping> {
        let base = Node::synthetic(Value::Mapping(
            raw::get_mapping(self.root(), "proxy")
                .cloned()
                .unwrap_or_default(),
        ));
        let merged = match role.proxy_specializations() {
            Some(own) => raw::deep_merge(&base, &Node::synthetic(Value::Mapping(own.clone()))),
            None => base,
        };
        merged.value.as_mapping().cloned()
    }

    /// Asks Docker for the local arch only when it matters, as Kamal's `&&` does.
    fn ensure_local_registry_remote_builder_has_ssh_url(
        &self,
        environment: &mut dyn Environment,
    ) -> Result<()> {
        let builder = raw::get_mapping(self.root(), "builder");
        let remote = raw::get_string(builder, "remote").unwrap_or_default();
        if self.local_registry()
            && sections::builds_remotely(builder, environment)
            && !remote.starts_with("ssh://")
        {
            return Err(ConfigError::invalid(
                "Local registry with remote builder requires an SSH URL (e.g., ssh://user@host)",
            ));
        }
        Ok(())
    }
}

/// The root validator: unknown keys (`x-` allowed at the root only), then each key's type.
fn validate_root(root: &Mapping) -> Result<()> {
    let mut validator = Validator::new(&[]);
    let known: Vec<&str> = schema::ROOT.iter().map(|(name, _)| *name).collect();
    validator.check_unknown_keys(root, &known, true)?;
    let fields: Vec<(&str, &schema::Shape)> =
        schema::ROOT.iter().map(|(name, shape)| (*name, shape)).collect();
    for (key, value) in &root.entries {
        let name = raw::to_s(&key.value);
        if let Some((_, shape)) = fields.iter().find(|(field, _)| *field == name) {
            validator.with_context(&name, |validator| {
                validator.validate_field(&value.value, shape, &name)
            })?;
        }
    }
    Ok(())
}

/// `servers.keys.sort` raises when Ruby cannot order two keys of different classes (a role
/// named `1` beside `web`). The message names the first key's class and the first key of
/// another class, which is the pair Ruby's sort compares for short lists.
fn ensure_sortable_role_names(servers: &Mapping) -> Result<()> {
    let numeric = |value: &Value| matches!(value, Value::Integer(_) | Value::Float(_));
    let mut keys = servers.keys();
    let Some(first) = keys.next() else {
        return Ok(());
    };
    let comparable = |other: &Value| {
        sections::ruby_class_name(other) == sections::ruby_class_name(&first.value)
            || (numeric(other) && numeric(&first.value))
    };
    if let Some(other) = keys.find(|key| !comparable(&key.value)) {
        let shown = match &other.value {
            Value::String(text) => format!("{text:?}"),
            Value::Symbol(name) => format!(":{name}"),
            value => validator::key_text(value),
        };
        return Err(ConfigError::Argument(format!(
            "comparison of {} with {shown} failed",
            sections::ruby_class_name(&first.value)
        )));
    }
    Ok(())
}

/// `Gem::Version.new(a) > Gem::Version.new(b)` for dotted numeric versions (prerelease
/// segments sort before releases, as in RubyGems).
pub fn gem_version_greater(a: &str, b: &str) -> bool {
    fn segments(version: &str) -> Vec<std::result::Result<u64, String>> {
        version
            .trim()
            .split('.')
            .map(|part| part.parse::<u64>().map_err(|_| part.to_string()))
            .collect()
    }
    let (left, right) = (segments(a), segments(b));
    let length = left.len().max(right.len());
    for index in 0..length {
        let l = left.get(index).cloned().unwrap_or(Ok(0));
        let r = right.get(index).cloned().unwrap_or(Ok(0));
        let ordering = match (&l, &r) {
            (Ok(x), Ok(y)) => x.cmp(y),
            (Err(x), Err(y)) => x.cmp(y),
            (Ok(_), Err(_)) => std::cmp::Ordering::Greater,
            (Err(_), Ok(_)) => std::cmp::Ordering::Less,
        };
        if ordering != std::cmp::Ordering::Equal {
            return ordering == std::cmp::Ordering::Greater;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::{ensure_sortable_role_names, gem_version_greater};
    use crate::yaml::{load, Value};

    #[test]
    fn role_names_of_different_classes_cannot_be_sorted() {
        let servers = |yaml: &str| match load(yaml, std::path::Path::new("s.yml")) {
            Ok(Some(node)) => match node.value {
                Value::Mapping(mapping) => mapping,
                _ => panic!("not a mapping"),
            },
            _ => panic!("bad YAML"),
        };
        assert!(ensure_sortable_role_names(&servers("web: []\njobs: []\n")).is_ok());
        assert!(ensure_sortable_role_names(&servers("1: []\n2.5: []\n")).is_ok());
        let error = ensure_sortable_role_names(&servers("web: []\n1: []\n")).expect_err("mixed");
        assert_eq!(error.to_string(), "comparison of String with 1 failed");
    }

    #[test]
    fn compares_versions_like_rubygems() {
        assert!(gem_version_greater("9.0.0", "2.11.0"));
        assert!(!gem_version_greater("2.11", "2.11.0"));
        assert!(!gem_version_greater("2.5.0", "2.11.0"));
        assert!(!gem_version_greater("2.11.0.rc1", "2.11.0"));
    }
}
