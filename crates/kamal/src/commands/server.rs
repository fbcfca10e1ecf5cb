//! `kamal server exec CMD` and `kamal server bootstrap`.

use kamal_commands::{auditor, docker, server};
use kamal_ssh::{Level, RunOptions};

use crate::orchestration::hooks::Extra;
use crate::orchestration::Commander;
use crate::Failure;

/// Runs `words` (joined as Kamal joins them) on every selected host, printing each host's
/// output under `App Host: <host>`; `-i` replaces this process with `ssh -t` to the
/// primary host.
pub fn exec(commander: &Commander, words: &[String], interactive: bool, quiet: bool) -> Result<(), Failure> {
    commander.pre_connect_if_required()?;
    let command_line = server::join_commands(words);
    let command = server::exec(words);
    if interactive {
        let primary = commander.primary_host()?;
        commander.say(&format!("Running '{command_line}' on {primary} interactively..."));
        let line = commander
            .executor
            .interactive(&primary, &command)
            .map_err(|error| Failure::Remote {
                class: error.ruby_class(),
                message: error.to_string(),
            })?;
        return crate::commands::replace_process(&line.argv);
    }
    let hosts = commander.specifics.hosts.clone();
    commander.say(&format!("Running '{command_line}' on {}...", hosts.join(", ")));
    let stamp = commander.stamp();
    let outputs = commander.on(&hosts, |host| {
        let audit = auditor::record(
            &commander.config,
            &stamp,
            &[],
            &format!("Executed cmd '{command_line}' on {}", host.name()),
        );
        host.execute_with(&audit, RunOptions::execute().verbosity(Level::Debug))?;
        let output = host.execute_with(&command, RunOptions::execute())?;
        Ok((host.name().to_string(), output.stdout.trim().to_string()))
    })?;
    for (host, output) in outputs {
        crate::commands::puts_by_host("App", &host, &output, quiet);
    }
    Ok(())
}

/// Installs Docker where it is missing (when the user may), then runs `docker-setup`.
pub fn bootstrap(commander: &Commander) -> Result<(), Failure> {
    commander.with_lock(|| {
        let hosts = commander.specifics.hosts.clone();
        let missing = commander.on(&hosts, |host| {
            let present = host.execute_with(&docker::installed(), RunOptions::execute().raise_on_non_zero_exit(false))?;
            if present.success() {
                return Ok(None);
            }
            let superuser = host.execute_with(&docker::superuser(), RunOptions::execute().raise_on_non_zero_exit(false))?;
            if !superuser.success() {
                return Ok(Some(host.name().to_string()));
            }
            host.execute(&docker::install())?;
            let root = host.execute_with(&docker::root(), RunOptions::execute().raise_on_non_zero_exit(false))?;
            if !root.success() {
                host.execute(&docker::add_to_docker_group())?;
            }
            Ok(None)
        })?;
        let missing: Vec<String> = missing.into_iter().flatten().collect();
        if !missing.is_empty() {
            return Err(Failure::Remote {
                class: "RuntimeError",
                message: format!(
                    "Docker is not installed on {} and can't be automatically installed without having root access and either `wget` or `curl`. Install Docker manually: https://docs.docker.com/engine/install/",
                    missing.join(", ")
                ),
            });
        }
        let command = server::ensure_run_directory(&commander.config);
        commander.on(&hosts, |host| host.execute(&command).map(|_| ()))?;
        commander.run_hook("docker-setup", &Extra::default())
    })
}
