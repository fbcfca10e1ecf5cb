//! `Kamal::Commands::App`: the commands for one role's app containers on one host — the
//! `docker run` of §5.2, start/stop, the "current running container" probes (§5.3), version
//! listing, and the env directory. The submodules mirror Kamal's `app/*.rb` mixins:
//! containers, execution (`app exec`), images, logging, proxy (kamal-proxy control),
//! assets (§5.7) and error pages (§5.6).
//!
//! [`App`] holds what Kamal's object holds — configuration, role, host — plus the version
//! Kamal reads from `config.version` (the git SHA, `--version`, or `latest`). Commands that
//! Kamal builds without a role (`KAMAL.app.list_images`) are free functions.

mod assets;
mod containers;
mod error_pages;
mod execution;
mod images;
mod logging;
mod proxy;

pub use containers::{list_container_names, list_containers};
pub use error_pages::{clean_up_error_pages, create_error_pages_directory};
pub use execution::Interactive;
pub use images::{list_images, remove_images, tag_latest_image};
pub(crate) use logging::{follow_named_container_logs, named_container_logs};
pub use logging::{ContainerId, LogOptions};
pub(crate) use proxy::proxy_exec;
pub use proxy::remove_proxy_app_directory;

use kamal_config::configuration::{Configuration, Role, RoleRuntime};

use crate::base::{chain, container_id_for, docker, make_directory, pipe, shell, xargs};
use crate::cmd::Cmd;

/// `docker inspect --format` for a container's health (or plain state without a
/// HEALTHCHECK): what the non-proxied boot polls (§6.6).
pub const DOCKER_HEALTH_STATUS_FORMAT: &str =
    "'{{if .State.Health}}{{.State.Health.Status}}{{else}}{{.State.Status}}{{end}}'";

/// Containers that count as "current": running or restarting.
const ACTIVE_DOCKER_STATUSES: [&str; 2] = ["running", "restarting"];

/// The app commands for one role on one host, at one version.
#[derive(Debug, Clone, Copy)]
pub struct App<'a> {
    config: &'a Configuration,
    role: RoleRuntime<'a>,
    host: &'a str,
    version: &'a str,
}

impl<'a> App<'a> {
    pub fn new(config: &'a Configuration, role: &'a Role, host: &'a str, version: &'a str) -> App<'a> {
        App {
            config,
            role: config.role_runtime(role),
            host,
            version,
        }
    }

    pub fn role(&self) -> RoleRuntime<'a> {
        self.role
    }

    pub fn host(&self) -> &'a str {
        self.host
    }

    pub fn version(&self) -> &'a str {
        self.version
    }

    /// `<svc>-<role>[-<dest>]-<version>` at this App's version.
    pub fn container_name(&self) -> String {
        self.role.container_name(self.version)
    }

    /// The app container's `docker run` (§5.2), in Kamal's order: name, network,
    /// hostname, the `KAMAL_*` env, the role's env for this host and its env file,
    /// logging, root volumes, the assets volume, labels, options, image, `cmd`.
    /// `hostname` is [`container_hostname`]'s value (Kamal adds one at boot).
    pub fn run(&self, hostname: Option<&str>) -> Cmd {
        let container_name = self.container_name();
        // Kamal 2.11 passes `--restart unless-stopped` as one word.
        let mut command = docker(["run", "--detach", "--restart unless-stopped"]);
        command.extend(["--name", &container_name, "--network", "kamal"]);
        if let Some(hostname) = hostname {
            command.extend(["--hostname", hostname]);
        }
        command.extend([
            "--env".to_string(),
            format!("KAMAL_CONTAINER_NAME=\"{container_name}\""),
            "--env".to_string(),
            format!("KAMAL_VERSION=\"{}\"", self.version),
            "--env".to_string(),
            format!("KAMAL_HOST=\"{}\"", self.host),
        ]);
        if let Some(destination) = &self.config.destination {
            command.extend([
                "--env".to_string(),
                format!("KAMAL_DESTINATION=\"{destination}\""),
            ]);
        }
        command.extend(self.role.env_args(self.host));
        command.extend(self.role.logging_args());
        command.extend(self.config.volume_args());
        command.extend(self.role.asset_volume_args(self.version));
        command.extend(self.role.label_args());
        command.extend(self.role.option_args());
        command.push(self.config.absolute_image(self.version));
        if let Some(cmd) = self.role.cmd() {
            command.push(cmd);
        }
        command
    }

    /// `docker start <name>`.
    pub fn start(&self) -> Cmd {
        docker(["start".to_string(), self.container_name()])
    }

    /// The container's health, or its state when it has no health check:
    /// `… --quiet | xargs docker inspect --format '{{if .State.Health}}…'`.
    pub fn status(&self, version: &str) -> Cmd {
        pipe([
            self.container_id_for_version(version, false),
            xargs(&docker(["inspect", "--format", DOCKER_HEALTH_STATUS_FORMAT])),
        ])
    }

    /// `docker stop` the container of `version`, or the current one, with the role's
    /// `-t` rule.
    pub fn stop(&self, version: Option<&str>) -> Cmd {
        let target = match version {
            Some(version) => self.container_id_for_version(version, false),
            None => self.current_running_container_id(),
        };
        pipe([target, xargs(&docker(["stop"]).with_words(self.role.stop_args()))])
    }

    /// `docker ps` for this role's containers (`kamal app details`).
    pub fn info(&self) -> Cmd {
        docker(["ps"]).with_words(self.container_filter_args(&[]))
    }

    /// The newest running container of the role, preferring one built from the image
    /// tagged `latest[-dest]` (§5.3's LATEST_ID).
    pub fn current_running_container_id(&self) -> Cmd {
        self.current_running_container("--quiet")
    }

    /// `docker container ls [--all] --filter 'name=^<prefix>-<version>$' --quiet`.
    pub fn container_id_for_version(&self, version: &str, only_running: bool) -> Cmd {
        container_id_for(&self.role.container_name(version), only_running)
    }

    /// The current container's version: LATEST_ID with names, the prefix stripped.
    pub fn current_running_version(&self) -> Cmd {
        pipe([
            self.current_running_container("--format '{{.Names}}'"),
            self.extract_version_from_name(),
        ])
    }

    /// The versions of the role's containers (`docker ps` extra arguments and status
    /// filters optional), one per line.
    pub fn list_versions(&self, docker_args: &[&str], statuses: &[&str]) -> Cmd {
        let list = docker(["ps"])
            .with_words(self.container_filter_args(statuses))
            .with_words(docker_args.iter().copied())
            .with_words(["--format", "\"{{.Names}}\""]);
        pipe([list, self.extract_version_from_name()])
    }

    /// `mkdir -p .kamal/apps/<svc>/env/roles`, before the env file upload.
    pub fn ensure_env_directory(&self) -> Cmd {
        make_directory(&self.role.env_directory())
    }

    fn current_running_container(&self, format: &str) -> Cmd {
        let latest_image_id = docker([
            "image".to_string(),
            "ls".to_string(),
            "--filter".to_string(),
            format!("reference={}", self.config.latest_image()),
            "--format".to_string(),
            "'{{.ID}}'".to_string(),
        ]);
        let from_latest_image = self.latest_container(
            format,
            Some(&format!("ancestor=$({})", latest_image_id.join_shell())),
        );
        pipe([
            shell(&chain([from_latest_image, self.latest_container(format, None)])),
            Cmd::new(["head", "-1"]),
        ])
    }

    fn latest_container(&self, format: &str, filter: Option<&str>) -> Cmd {
        let mut command = docker(["ps", "--latest", format]);
        command.extend(self.container_filter_args(&ACTIVE_DOCKER_STATUSES));
        if let Some(filter) = filter {
            command.extend(["--filter", filter]);
        }
        command
    }

    fn container_filter_args(&self, statuses: &[&str]) -> Vec<String> {
        container_filter_args(self.config, Some(self.role.name()), statuses)
    }

    /// `while read line; do echo ${line#<prefix>-}; done`.
    fn extract_version_from_name(&self) -> Cmd {
        Cmd::new([format!(
            "while read line; do echo ${{line#{}-}}; done",
            self.role.container_prefix()
        )])
    }
}

/// The container hostname Kamal sets at boot: the host cut to 51 characters without a
/// trailing `.`, then `-<12 hex>` (the caller's random suffix).
pub fn container_hostname(host: &str, hex: &str) -> String {
    let cut: String = host.chars().take(51).collect();
    let cut = cut.strip_suffix('.').unwrap_or(&cut);
    format!("{cut}-{hex}")
}

/// `--filter label=service=<svc> --filter label=destination=[<dest>] [--filter
/// label=role=<role>] [--filter status=<s>]…`.
fn container_filter_args(config: &Configuration, role: Option<&str>, statuses: &[&str]) -> Vec<String> {
    let mut filters = vec![
        format!("label=service={}", config.service()),
        format!(
            "label=destination={}",
            config.destination.as_deref().unwrap_or_default()
        ),
    ];
    if let Some(role) = role {
        filters.push(format!("label=role={role}"));
    }
    filters.extend(statuses.iter().map(|status| format!("status={status}")));
    filters
        .into_iter()
        .flat_map(|filter| ["--filter".to_string(), filter])
        .collect()
}

#[cfg(test)]
mod tests;
