//! `Kamal::Commands::Accessory` (§5.10): one accessory's container — run, start/stop,
//! details, logs, exec (in the running container or a new one), image pull and removal —
//! the files and directories it mounts, and kamal-proxy registration for proxied
//! accessories (`Accessory::Proxy`). The container is named after the accessory's service
//! name and found by its `service` label.

use kamal_config::configuration::{Accessory as AccessoryConfig, AccessoryRuntime, Configuration};

use crate::app::{follow_named_container_logs, named_container_logs, Interactive, LogOptions};
use crate::base::{docker, make_directory};
use crate::cmd::Cmd;

/// The commands for one accessory.
#[derive(Debug, Clone, Copy)]
pub struct Accessory<'a> {
    config: &'a Configuration,
    accessory: AccessoryRuntime<'a>,
}

impl<'a> Accessory<'a> {
    pub fn new(config: &'a Configuration, accessory: &'a AccessoryConfig) -> Accessory<'a> {
        Accessory {
            config,
            accessory: config.accessory_runtime(accessory),
        }
    }

    pub fn runtime(&self) -> AccessoryRuntime<'a> {
        self.accessory
    }

    fn service_name(&self) -> String {
        self.accessory.service_name()
    }

    /// `docker run --name <svc> --detach --restart unless-stopped --network <net> <root
    /// logging> [--publish p] [--env KAMAL_HOST="<host>"] <env> <volumes> <labels>
    /// <options> <image> [cmd]`.
    pub fn run(&self, host: Option<&str>) -> Cmd {
        let mut command = docker([
            "run".to_string(),
            "--name".to_string(),
            self.service_name(),
            "--detach".to_string(),
            "--restart".to_string(),
            "unless-stopped".to_string(),
        ]);
        command.extend(self.accessory.network_args());
        command.extend(self.config.logging_args());
        command.extend(self.accessory.publish_args());
        if let Some(host) = host {
            command.extend(["--env".to_string(), format!("KAMAL_HOST=\"{host}\"")]);
        }
        command.extend(self.accessory.env_args());
        command.extend(self.accessory.volume_args());
        command.extend(self.accessory.label_args());
        command.extend(self.accessory.option_args());
        command.push(self.accessory.image());
        if let Some(cmd) = self.accessory.cmd() {
            command.push(cmd);
        }
        command
    }

    /// `docker container start <svc>`.
    pub fn start(&self) -> Cmd {
        docker(["container".to_string(), "start".to_string(), self.service_name()])
    }

    /// `docker container stop <svc>`.
    pub fn stop(&self) -> Cmd {
        docker(["container".to_string(), "stop".to_string(), self.service_name()])
    }

    /// `docker ps [-a] [-q] --filter label=service=<svc>`: `all` and `quiet` together ask
    /// whether the container exists (boot skips hosts where it does).
    pub fn info(&self, all: bool, quiet: bool) -> Cmd {
        let mut command = docker(["ps"]);
        if all {
            command.push("-a");
        }
        if quiet {
            command.push("-q");
        }
        command.extend(self.service_filter());
        command
    }

    /// `docker logs <svc>  --since S  --tail N --timestamps 2>&1[ | grep '<g>'…]`: Kamal puts
    /// a space inside the since/tail words, so the line has two spaces before each.
    pub fn logs(&self, options: &LogOptions) -> Cmd {
        named_container_logs(&self.service_name(), options, " ")
    }

    /// The remote half of `accessory logs -f`, run over SSH on the accessory's first host:
    /// `docker logs <svc>[ --timestamps] --tail 10 --follow 2>&1[ | grep "<g>"…]`.
    pub fn follow_logs(&self, options: &LogOptions) -> Cmd {
        follow_named_container_logs(&self.service_name(), options)
    }

    /// `docker exec [-it] <svc> <command>`.
    pub fn execute_in_existing_container(&self, command: &str, interactive: Option<Interactive>) -> Cmd {
        let mut exec = docker(["exec"]);
        if let Some(interactive) = interactive {
            exec.push(interactive.flag());
        }
        exec.extend([self.service_name(), command.to_string()]);
        exec
    }

    /// `docker run [-it] --rm --network <net> <env> <volumes> <options> <image> <command>`
    /// (no name, labels or logging options).
    pub fn execute_in_new_container(&self, command: &str, interactive: Option<Interactive>) -> Cmd {
        let mut run = docker(["run"]);
        if let Some(interactive) = interactive {
            run.push(interactive.flag());
        }
        run.push("--rm");
        run.extend(self.accessory.network_args());
        run.extend(self.accessory.env_args());
        run.extend(self.accessory.volume_args());
        run.extend(self.accessory.option_args());
        run.extend([self.accessory.image(), command.to_string()]);
        run
    }

    /// The host interactive exec runs on: the accessory's first.
    pub fn primary_host(&self) -> Option<String> {
        self.accessory.hosts().into_iter().next()
    }

    /// `docker image pull <image>`.
    pub fn pull_image(&self) -> Cmd {
        docker(["image".to_string(), "pull".to_string(), self.accessory.image()])
    }

    /// `rm -rf <svc>`: uploaded files and data directories.
    pub fn remove_service_directory(&self) -> Cmd {
        Cmd::new(["rm".to_string(), "-rf".to_string(), self.service_name()])
    }

    /// `docker container prune --force --filter label=service=<svc>`.
    pub fn remove_container(&self) -> Cmd {
        docker(["container", "prune", "--force"]).with_words(self.service_filter())
    }

    /// `docker image rm --force <image>`.
    pub fn remove_image(&self) -> Cmd {
        docker([
            "image".to_string(),
            "rm".to_string(),
            "--force".to_string(),
            self.accessory.image(),
        ])
    }

    /// `mkdir -p .kamal/apps/<svc>/env/accessories`, before the env file upload.
    pub fn ensure_env_directory(&self) -> Cmd {
        make_directory(&self.accessory.env_directory())
    }

    /// `docker container ls --filter 'name=^<svc>$' --quiet`: the running container kamal-proxy
    /// targets.
    pub fn running_container_id(&self) -> Cmd {
        crate::base::container_id_for(&self.service_name(), true)
    }

    /// `docker exec kamal-proxy kamal-proxy deploy <svc> --target="<id>:<port>" …`; `None`
    /// when the accessory has no proxy settings.
    pub fn deploy(&self, target: &str, version: &str) -> Option<Cmd> {
        let proxy = self.accessory.proxy()?;
        let mut words = vec!["deploy".to_string(), self.service_name()];
        words.extend(proxy.deploy_command_args(target, version));
        Some(crate::app::proxy_exec(self.config, words))
    }

    /// `docker exec kamal-proxy kamal-proxy remove <svc>`.
    pub fn remove(&self) -> Cmd {
        crate::app::proxy_exec(self.config, ["remove".to_string(), self.service_name()])
    }

    fn service_filter(&self) -> [String; 2] {
        [
            "--filter".to_string(),
            format!("label=service={}", self.service_name()),
        ]
    }
}

/// `chmod <mode> <path>`, after a file upload or directory creation.
pub fn chmod(mode: &str, path: &str) -> Cmd {
    Cmd::new(["chmod", mode, path])
}

/// `chown <owner> <path>`.
pub fn chown(owner: &str, path: &str) -> Cmd {
    Cmd::new(["chown", owner, path])
}

#[cfg(test)]
mod tests;
