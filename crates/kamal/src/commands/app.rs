//! `kamal app …`: the app's containers on the hosts. `boot` is the core of every deploy
//! (orchestration/boot.rs); the other subcommands are thin.

use kamal_commands::app::{self, App};
use kamal_commands::Cmd;
use kamal_ssh::RunOptions;

use crate::cli::args::Parsed;
use crate::orchestration::Commander;
use crate::Failure;

/// The `app` subcommands we know.
pub const SUBCOMMANDS: &[&str] = &[
    "boot",
    "maintenance",
    "live",
    "stale_containers",
    "containers",
    "images",
    "details",
    "version",
];

pub fn dispatch(commander: &Commander, subcommand: &str, parsed: &Parsed) -> Result<(), Failure> {
    match subcommand {
        "boot" => commander.with_lock(|| {
            // Without --version, `app boot` boots the image tagged latest (Kamal does the same).
            let version = if parsed.text("version").is_some() {
                commander.version.clone()
            } else {
                commander.say("Get most recent version available as an image...");
                commander.config.latest_tag()
            };
            commander.boot_app(&version)
        }),
        "maintenance" | "live" => super::app_proxy::dispatch(commander, subcommand, parsed),
        "stale_containers" => {
            if parsed.flag("stop") {
                commander.with_lock(|| super::deploy::stale_containers(commander, true))
            } else {
                super::deploy::stale_containers(commander, false)
            }
        }
        "containers" => by_host(commander, &commander.app_hosts(), |_| {
            vec![app::list_containers(&commander.config)]
        }),
        "images" => by_host(commander, &commander.app_hosts(), |_| {
            vec![app::list_images(&commander.config)]
        }),
        "details" => by_host(commander, &commander.app_hosts(), |host| {
            commander
                .roles_on(host)
                .map(|role| App::new(&commander.config, role, host, &commander.version).info())
                .collect()
        }),
        "version" => by_host(commander, &commander.app_hosts(), |host| {
            commander
                .roles_on(host)
                .take(1)
                .map(|role| {
                    App::new(&commander.config, role, host, &commander.version).current_running_version()
                })
                .collect()
        }),
        other => Err(Failure::Usage(format!(
            "Could not find command \"{other}\" in \"app\" namespace."
        ))),
    }
}

/// Runs read-only commands on each host and prints their output under `App Host: <host>`.
fn by_host(
    commander: &Commander,
    hosts: &[String],
    commands: impl Fn(&str) -> Vec<Cmd> + Sync,
) -> Result<(), Failure> {
    let outputs = commander.on(hosts, |host| {
        let mut output = Vec::new();
        for command in commands(host.name()) {
            output.push(host.capture_with(&command, RunOptions::execute())?);
        }
        Ok((host.name().to_string(), output.join("\n")))
    })?;
    for (host, output) in outputs {
        crate::commands::puts_by_host("App", &host, &output, commander.settings.quiet);
    }
    Ok(())
}
