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
        return crate::commands::replace_with_ssh(commander, &primary, &command, false);
    }
    let hosts = commander.specifics.hosts.clone();
    commander.say(&format!("Running '{command_line}' on {}...", hosts.join(", ")));
    let stamp = commander.stamp();
    commander.on(&hosts, |host| {
        let audit = auditor::record(
            &commander.config,
            &stamp,
            &[],
            &format!("Executed cmd '{command_line}' on {}", host.name()),
        );
        host.execute_with(&audit, RunOptions::execute().verbosity(Level::Debug))?;
        let output = host.execute_with(&command, RunOptions::execute())?;
        // As each host finishes (as Kamal does): a host that fails does not hold back, or
        // swallow, the output of the hosts that succeeded.
        crate::commands::puts_by_host("App", host.name(), output.stdout.trim(), quiet);
        Ok(())
    })?;
    Ok(())
}

/// Installs Docker where it is missing (when the user may), then runs `docker-setup`.
/// The lock has already made `.kamal` on every host.
pub fn bootstrap(commander: &Commander) -> Result<(), Failure> {
    commander.with_lock(|| {
        let hosts = commander.specifics.hosts.clone();
        let probe = RunOptions::execute().raise_on_non_zero_exit(false);
        let missing = commander.on(&hosts, |host| {
            if host.execute_with(&docker::installed(), probe)?.success() {
                return Ok(None);
            }
            if !host.execute_with(&docker::superuser(), probe)?.success() {
                return Ok(Some(host.name().to_string()));
            }
            host.printer()
                .info(&format!("Missing Docker on {}. Installing…", host.name()));
            host.execute(&docker::install())?;
            let in_group = host.execute_with(&docker::root(), probe)?.success()
                || host.execute_with(&docker::in_docker_group(), probe)?.success();
            if !in_group {
                host.execute(&docker::add_to_docker_group())?;
                // Ending the session is the point (the next one has the group); Kamal
                // rescues the IOError that follows.
                if host.execute(&docker::refresh_session()).is_err() {
                    host.printer().info("Session refreshed due to group change.");
                }
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
        commander.run_hook("docker-setup", &Extra::default())
    })
}
