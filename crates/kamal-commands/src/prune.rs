//! `Kamal::Commands::Prune`: dangling images, tagged images no container uses (keeping
//! `latest` and `<none>`), and stopped containers beyond the newest `retain` — across the
//! whole service (every role and destination), as Kamal does.

use kamal_config::configuration::Configuration;

use crate::base::{docker, grep, pipe};
use crate::cmd::Cmd;

fn service_filter(config: &Configuration) -> [String; 2] {
    [
        "--filter".to_string(),
        format!("label=service={}", config.service()),
    ]
}

/// `docker image prune --force --filter label=service=app`.
pub fn dangling_images(config: &Configuration) -> Cmd {
    docker(["image", "prune", "--force"]).with_words(service_filter(config))
}

/// Every tagged image of the service that is neither used by a container nor the
/// `latest` tag, removed one by one.
pub fn tagged_images(config: &Configuration) -> Cmd {
    let list = docker(["image", "ls"])
        .with_words(service_filter(config))
        .with_words(["--format", "'{{.ID}} {{.Repository}}:{{.Tag}}'"]);
    pipe([
        list,
        grep([format!("-v -w \"{}\"", active_image_list(config))]),
        Cmd::new(["while read image tag; do docker rmi $tag; done"]),
    ])
}

/// Stopped (created, exited, dead) containers of the service after the newest `retain`.
pub fn app_containers(config: &Configuration, retain: u32) -> Cmd {
    let mut list = docker(["ps", "-q", "-a"]).with_words(service_filter(config));
    for status in ["created", "exited", "dead"] {
        list.extend(["--filter".to_string(), format!("status={status}")]);
    }
    pipe([
        list,
        Cmd::new([format!("tail -n +{}", u64::from(retain) + 1)]),
        Cmd::new(["while read container_id; do docker rm $container_id; done"]),
    ])
}

/// The images containers use, then `repo:latest` and `repo:<none>` (dangling images in use;
/// unused ones go with [`dangling_images`]), as one `grep` alternation.
fn active_image_list(config: &Configuration) -> String {
    format!(
        "$(docker container ls -a --format '{{{{.Image}}}}\\|' --filter label=service={} | tr -d '\\n'){}\\|{}:<none>",
        config.service(),
        config.latest_image(),
        config.repository()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{configuration, DEPLOY_YML};

    #[test]
    fn dangling() {
        let config = configuration(DEPLOY_YML);
        assert_eq!(
            dangling_images(&config).to_display(),
            "docker image prune --force --filter label=service=app"
        );
    }

    #[test]
    fn tagged() {
        let config = configuration(DEPLOY_YML);
        assert_eq!(
            tagged_images(&config).to_display(),
            "docker image ls --filter label=service=app --format '{{.ID}} {{.Repository}}:{{.Tag}}' | grep -v -w \"$(docker container ls -a --format '{{.Image}}\\|' --filter label=service=app | tr -d '\\n')dhh/app:latest\\|dhh/app:<none>\" | while read image tag; do docker rmi $tag; done"
        );
    }

    #[test]
    fn containers_beyond_retain() {
        let config = configuration(DEPLOY_YML);
        assert_eq!(
            app_containers(&config, 5).to_display(),
            "docker ps -q -a --filter label=service=app --filter status=created --filter status=exited --filter status=dead | tail -n +6 | while read container_id; do docker rm $container_id; done"
        );
        assert!(app_containers(&config, 1).to_display().contains("| tail -n +2 |"));
    }
}
