//! `Kamal::Commands::App::Containers`: listing, renaming and removing a role's containers,
//! and the health log Kamal prints when the first primary container fails.

use kamal_config::configuration::Configuration;

use super::{container_filter_args, App};
use crate::base::{container_id_for, docker, pipe, xargs};
use crate::cmd::Cmd;

/// `docker inspect --format` for the health check history.
pub const DOCKER_HEALTH_LOG_FORMAT: &str = "'{{json .State.Health}}'";

/// `docker container ls --all --filter label=service=<svc> --filter label=destination=[<dest>]`:
/// every container of the service in this destination (`kamal app containers`).
pub fn list_containers(config: &Configuration) -> Cmd {
    docker(["container", "ls", "--all"]).with_words(container_filter_args(config, None, &[]))
}

/// [`list_containers`] printing names only.
pub fn list_container_names(config: &Configuration) -> Cmd {
    list_containers(config).with_words(["--format", "'{{ .Names }}'"])
}

impl App<'_> {
    /// `… --filter 'name=^<name>$' --quiet | xargs docker container rm`.
    pub fn remove_container(&self, version: &str) -> Cmd {
        pipe([
            container_id_for(&self.role.container_name(version), false),
            xargs(&docker(["container", "rm"])),
        ])
    }

    /// `docker rename <prefix>-<version> <prefix>-<new_version>` (a clash at boot renames
    /// the old container to `<version>_replaced_<16 hex>`).
    pub fn rename_container(&self, version: &str, new_version: &str) -> Cmd {
        docker([
            "rename".to_string(),
            self.role.container_name(version),
            self.role.container_name(new_version),
        ])
    }

    /// `docker container prune --force` over the role's containers.
    pub fn remove_containers(&self) -> Cmd {
        docker(["container", "prune", "--force"]).with_words(self.container_filter_args(&[]))
    }

    /// `… --quiet | xargs docker inspect --format '{{json .State.Health}}'`.
    pub fn container_health_log(&self, version: &str) -> Cmd {
        pipe([
            container_id_for(&self.role.container_name(version), false),
            xargs(&docker(["inspect", "--format", DOCKER_HEALTH_LOG_FORMAT])),
        ])
    }
}
