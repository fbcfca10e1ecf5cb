//! `Kamal::Commands::Proxy` (§5.5): the `kamal-proxy` container on one host. Boot is
//! `docker container start kamal-proxy || <run>`; the run line comes from the host's
//! `proxy.run` settings when a role or accessory there has them, else from the legacy
//! `.kamal/proxy/{options,image,image_version,run_command}` files, read on the host by an
//! `echo $(cat … || echo <default>) … | xargs docker run …` pipeline. Plus logs, version,
//! removal by image label, the Traefik clean-up of 1.x upgrades, and the contents
//! `kamal proxy boot_config set` uploads.

use kamal_config::configuration::proxy_runtime::{
    run_command, InvalidPublishIp, PROXY_DEFAULT_HTTPS_PORT, PROXY_DEFAULT_HTTP_PORT, PROXY_MINIMUM_VERSION,
};
use kamal_config::configuration::{Configuration, ProxyBoot, ProxyRun};

use crate::app::{follow_named_container_logs, named_container_logs, LogOptions};
use crate::base::{
    any, chain, combine, docker, make_directory, pipe, remove_directory, remove_file, substitute, xargs,
};
use crate::cmd::Cmd;

/// The label Kamal finds proxy containers and images by (not the name, which may differ
/// on hosts set up by older versions).
const PROXY_IMAGE_LABEL: &str = "label=org.opencontainers.image.title=kamal-proxy";

/// The proxy commands for one host.
#[derive(Debug, Clone)]
pub struct Proxy<'a> {
    config: &'a Configuration,
    run_config: Option<ProxyRun<'a>>,
}

impl<'a> Proxy<'a> {
    pub fn new(config: &'a Configuration, host: &str) -> Proxy<'a> {
        Proxy {
            config,
            run_config: config.proxy_run(host),
        }
    }

    fn boot(&self) -> ProxyBoot<'a> {
        self.config.proxy_boot()
    }

    fn container_name(&self) -> &'static str {
        self.boot().container_name()
    }

    /// `docker run --name kamal-proxy … <image> kamal-proxy run …` from `proxy.run`, or
    /// the boot-config pipeline.
    pub fn run(&self) -> Cmd {
        match &self.run_config {
            Some(run_config) => {
                let mut command = self.docker_run_base();
                command.extend(run_config.docker_options_args());
                command.extend([run_config.image(), run_config.run_command()]);
                command
            }
            None => {
                let mut legacy = self.docker_run_base();
                legacy.extend(self.boot().apps_volume().docker_args());
                pipe([self.boot_config(), xargs(&legacy)])
            }
        }
    }

    /// `docker container start kamal-proxy`.
    pub fn start(&self) -> Cmd {
        docker(["container", "start", self.container_name()])
    }

    /// `docker container stop <name>` (Kamal's upgrade also stops `traefik` this way).
    pub fn stop(&self, name: Option<&str>) -> Cmd {
        docker(["container", "stop", name.unwrap_or(self.container_name())])
    }

    /// `docker container start kamal-proxy || <run>`.
    pub fn start_or_run(&self) -> Cmd {
        any([self.start(), self.run()])
    }

    /// `docker ps --filter 'name=^kamal-proxy$'`.
    pub fn info(&self) -> Cmd {
        docker([
            "ps".to_string(),
            "--filter".to_string(),
            format!("'name=^{}$'", self.container_name()),
        ])
    }

    /// `docker inspect kamal-proxy --format '{{.Config.Image}}' | awk -F: '{print $NF}'`:
    /// the running proxy's image tag, checked against the minimum version.
    pub fn version(&self) -> Cmd {
        pipe([
            docker(["inspect", self.container_name(), "--format '{{.Config.Image}}'"]),
            Cmd::new(["awk", "-F:", "'{print $NF}'"]),
        ])
    }

    /// `docker logs kamal-proxy[ --since S][ --tail N][ --timestamps] 2>&1[ | grep '<g>'…]`.
    pub fn logs(&self, options: &LogOptions) -> Cmd {
        named_container_logs(self.container_name(), options, "")
    }

    /// The remote half of `proxy logs -f`: `docker logs kamal-proxy[ --timestamps] --tail 10
    /// --follow 2>&1[ | grep "<g>"…]` (Kamal ignores `--lines` and `--since` here).
    pub fn follow_logs(&self, options: &LogOptions) -> Cmd {
        follow_named_container_logs(self.container_name(), options)
    }

    /// `docker container prune --force --filter label=org.opencontainers.image.title=kamal-proxy`.
    pub fn remove_container(&self) -> Cmd {
        docker(["container", "prune", "--force", "--filter", PROXY_IMAGE_LABEL])
    }

    /// `docker image prune --all --force --filter label=org.opencontainers.image.title=kamal-proxy`.
    pub fn remove_image(&self) -> Cmd {
        docker([
            "image",
            "prune",
            "--all",
            "--force",
            "--filter",
            PROXY_IMAGE_LABEL,
        ])
    }

    /// Kamal 1.x's Traefik: `docker container stop traefik ; docker container prune …
    /// && docker image prune …` by Traefik's image label.
    pub fn cleanup_traefik(&self) -> Cmd {
        let label = "label=org.opencontainers.image.title=Traefik";
        chain([
            docker(["container", "stop", "traefik"]),
            combine(
                [
                    docker(["container", "prune", "--force", "--filter", label]),
                    docker(["image", "prune", "--all", "--force", "--filter", label]),
                ],
                "&&",
            ),
        ])
    }

    /// `mkdir -p .kamal/proxy`.
    pub fn ensure_proxy_directory(&self) -> Cmd {
        make_directory(&self.boot().host_directory())
    }

    /// `rm -r .kamal/proxy`.
    pub fn remove_proxy_directory(&self) -> Cmd {
        remove_directory(&self.boot().host_directory())
    }

    /// `mkdir -p .kamal/proxy/apps-config`, before every boot and reboot.
    pub fn ensure_apps_config_directory(&self) -> Cmd {
        make_directory(&self.boot().apps_directory())
    }

    /// `echo $(<options>) $(<image>):$(<image version>) $(<run command>)`, each read from
    /// its file with the default as fallback (`kamal proxy boot_config get`).
    pub fn boot_config(&self) -> Cmd {
        Cmd::new([
            "echo".to_string(),
            format!(
                "{} {}:{} {}",
                substitute(&[&self.read_boot_options().join_shell()]),
                substitute(&[&self.read_image().join_shell()]),
                substitute(&[&self.read_image_version().join_shell()]),
                substitute(&[&self.read_run_command().join_shell()]),
            ),
        ])
    }

    /// `cat .kamal/proxy/options 2> /dev/null || echo "--publish 80:80 …"`.
    pub fn read_boot_options(&self) -> Cmd {
        read_file(
            &self.boot().options_file(),
            &self.boot().default_boot_options().join(" "),
        )
    }

    pub fn read_image(&self) -> Cmd {
        read_file(&self.boot().image_file(), &self.boot().image_default())
    }

    pub fn read_image_version(&self) -> Cmd {
        read_file(&self.boot().image_version_file(), PROXY_MINIMUM_VERSION)
    }

    pub fn read_run_command(&self) -> Cmd {
        read_file(&self.boot().run_command_file(), "")
    }

    /// `rm .kamal/proxy/options`.
    pub fn reset_boot_options(&self) -> Cmd {
        remove_file(&self.boot().options_file())
    }

    pub fn reset_image(&self) -> Cmd {
        remove_file(&self.boot().image_file())
    }

    pub fn reset_image_version(&self) -> Cmd {
        remove_file(&self.boot().image_version_file())
    }

    pub fn reset_run_command(&self) -> Cmd {
        remove_file(&self.boot().run_command_file())
    }

    /// `docker run --name kamal-proxy --network kamal --detach --restart unless-stopped
    /// --volume kamal-proxy-config:/home/kamal-proxy/.config/kamal-proxy`.
    fn docker_run_base(&self) -> Cmd {
        docker([
            "run",
            "--name",
            self.container_name(),
            "--network",
            "kamal",
            "--detach",
            "--restart",
            "unless-stopped",
            "--volume",
            "kamal-proxy-config:/home/kamal-proxy/.config/kamal-proxy",
        ])
    }
}

/// `cat <file> 2> /dev/null || echo "<default>"`.
fn read_file(file: &str, default: &str) -> Cmd {
    any([
        Cmd::new(["cat", file, "2>", "/dev/null"]),
        Cmd::new(["echo".to_string(), format!("\"{default}\"")]),
    ])
}

/// `kamal proxy boot_config set`'s options, as given on the command line (Thor's defaults
/// in [`BootConfigOptions::default`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootConfigOptions {
    pub publish: bool,
    pub publish_host_ip: Option<Vec<String>>,
    pub http_port: String,
    pub https_port: String,
    pub log_max_size: String,
    pub registry: Option<String>,
    pub repository: Option<String>,
    pub image_version: Option<String>,
    pub metrics_port: Option<String>,
    pub debug: bool,
    /// `--docker-options a=b c`: each becomes `--a=b`, `--c`.
    pub docker_options: Vec<String>,
}

impl Default for BootConfigOptions {
    fn default() -> BootConfigOptions {
        BootConfigOptions {
            publish: true,
            publish_host_ip: None,
            http_port: PROXY_DEFAULT_HTTP_PORT.to_string(),
            https_port: PROXY_DEFAULT_HTTPS_PORT.to_string(),
            log_max_size: kamal_config::configuration::proxy_runtime::PROXY_DEFAULT_LOG_MAX_SIZE.to_string(),
            registry: None,
            repository: None,
            image_version: None,
            metrics_port: None,
            debug: false,
            docker_options: Vec::new(),
        }
    }
}

/// What `boot_config set` writes to each `.kamal/proxy/*` file; `None` means the file is
/// removed instead (its value is the default).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootConfigFiles {
    pub options: Option<String>,
    pub image: Option<String>,
    pub image_version: Option<String>,
    pub run_command: Option<String>,
}

/// The file contents for `kamal proxy boot_config set`, compared with the defaults as
/// Kamal does. A `--publish-host-ip` that is not an IP address is Kamal's `ArgumentError`.
pub fn boot_config_files(
    config: &Configuration,
    options: &BootConfigOptions,
) -> Result<BootConfigFiles, InvalidPublishIp> {
    let boot = config.proxy_boot();
    let mut boot_options = Vec::new();
    if options.publish {
        boot_options.extend(boot.publish_args(
            &options.http_port,
            &options.https_port,
            options.publish_host_ip.as_deref(),
        )?);
    }
    boot_options.extend(boot.logging_args(&options.log_max_size));
    if let Some(port) = &options.metrics_port {
        boot_options.push(format!("--expose={port}"));
    }
    boot_options.extend(options.docker_options.iter().map(|option| format!("--{option}")));

    let image = [
        options
            .registry
            .clone()
            .filter(|registry| !registry.trim().is_empty()),
        Some(
            options
                .repository
                .clone()
                .filter(|repository| !repository.trim().is_empty())
                .unwrap_or_else(|| boot.repository_name().to_string()),
        ),
        Some(boot.image_name().to_string()),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join("/");

    let run_command = (options.debug || options.metrics_port.is_some())
        .then(|| run_command(options.debug, options.metrics_port.as_deref()));

    Ok(BootConfigFiles {
        options: (boot_options != boot.default_boot_options()).then(|| boot_options.join(" ")),
        image: (image != boot.image_default()).then_some(image),
        image_version: options.image_version.clone(),
        run_command,
    })
}

#[cfg(test)]
mod tests;
