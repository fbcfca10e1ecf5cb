//! `Kamal::Commands::App::Images`: the service's images on a host.

use kamal_config::configuration::Configuration;

use crate::base::docker;
use crate::cmd::Cmd;

/// `docker image ls <repository>`.
pub fn list_images(config: &Configuration) -> Cmd {
    docker(["image".to_string(), "ls".to_string(), config.repository()])
}

/// `docker image prune --all --force --filter label=service=<svc>`.
pub fn remove_images(config: &Configuration) -> Cmd {
    docker([
        "image".to_string(),
        "prune".to_string(),
        "--all".to_string(),
        "--force".to_string(),
        "--filter".to_string(),
        format!("label=service={}", config.service()),
    ])
}

/// `docker tag <repository>:<version> <repository>:latest[-<dest>]`, once every boot group
/// has succeeded.
pub fn tag_latest_image(config: &Configuration, version: &str) -> Cmd {
    docker([
        "tag".to_string(),
        config.absolute_image(version),
        config.latest_image(),
    ])
}
