//! `kamal app …`: the app's containers on the hosts. `boot` is the core of every deploy
//! (orchestration/boot.rs); the other subcommands are thin.

use kamal_commands::app::{self, App, ContainerId, Interactive, LogOptions};
use kamal_commands::{auditor, registry, server, Cmd};
use kamal_ssh::{Level, RunOptions};

use crate::cli::args::{self, OptionSpec, Parsed};
use crate::orchestration::Commander;
use crate::Failure;

/// The `app` subcommands we know.
pub const SUBCOMMANDS: &[&str] = &[
    "boot",
    "start",
    "stop",
    "exec",
    "logs",
    "remove",
    "remove_container",
    "remove_containers",
    "remove_images",
    "remove_app_directories",
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
        "start" => start(commander),
        "stop" => stop(commander),
        "exec" => exec(commander, parsed),
        "logs" => logs(commander, parsed),
        "remove" => remove(commander),
        "remove_container" => match parsed.arguments.get(1) {
            Some(version) => remove_container(commander, version),
            None => Err(Failure::Usage(
                "ERROR: \"kamal app remove_container\" was called with no arguments\n\
                 Usage: \"kamal app remove_container VERSION\""
                    .into(),
            )),
        },
        "remove_containers" => remove_containers(commander),
        "remove_images" => remove_images(commander),
        "remove_app_directories" => remove_app_directories(commander),
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

/// `kamal app logs`'s options (`-s` is `--since` here, `--stop` for stale_containers).
pub const LOGS_OPTIONS: &[OptionSpec] = &[
    args::value("since", Some('s'))
        .desc("Show lines since timestamp (e.g. 2013-01-02T13:23:37Z) or relative (e.g. 42m for 42 minutes)"),
    args::numeric("lines", Some('n')).desc("Number of lines to show from each server"),
    args::value("grep", Some('g'))
        .desc("Show lines with grep match only (use this to fetch specific requests by id)"),
    args::value("grep-options", None).desc("Additional options supplied to grep"),
    // A string in Kamal (`-f` alone is the name); we read it as a flag.
    args::flag("follow", Some('f'))
        .shown_as("[--follow=FOLLOW]")
        .desc("Follow log on primary server (or specific host set by --hosts)"),
    args::flag("skip-timestamps", Some('T')).desc("Skip appending timestamps to logging output"),
    args::value("container-id", None).desc("Docker container ID to fetch logs"),
];

/// `kamal app exec`'s options.
pub const EXEC_OPTIONS: &[OptionSpec] = &[
    args::flag("interactive", Some('i'))
        .desc("Execute command over ssh for an interactive shell (use for console/bash)")
        .default("false"),
    args::flag("reuse", None)
        .desc("Reuse currently running container instead of starting a new one")
        .default("false"),
    args::hash("env", Some('e')).desc("Set environment variables for the command"),
    args::flag("detach", None)
        .desc("Execute command in a detached container")
        .default("false"),
];

/// The options of `kamal app <subcommand>` (Thor's are per subcommand: `-s` is `--stop`
/// for stale_containers and `--since` for logs).
pub fn options(subcommand: Option<&str>) -> Option<&'static [OptionSpec]> {
    match subcommand {
        Some("logs") => Some(LOGS_OPTIONS),
        Some("exec") => Some(EXEC_OPTIONS),
        _ => None,
    }
}

/// An audit line for one role on `host`.
fn audit_role(
    commander: &Commander,
    host: &kamal_ssh::Host<'_>,
    stamp: &kamal_commands::Stamp,
    role: &kamal_config::configuration::Role,
    line: &str,
) -> Result<(), kamal_ssh::Error> {
    let details = [("role", Some(role.name.clone()))];
    audit(host, &auditor::record(&commander.config, stamp, &details, line))
}

fn audit(host: &kamal_ssh::Host<'_>, command: &Cmd) -> Result<(), kamal_ssh::Error> {
    host.execute_with(command, RunOptions::execute().verbosity(Level::Debug))
        .map(|_| ())
}

fn lenient() -> RunOptions {
    RunOptions::execute().raise_on_non_zero_exit(false)
}

/// `docker start` the current version's container; proxied roles are registered again
/// with kamal-proxy at the running container.
pub fn start(commander: &Commander) -> Result<(), Failure> {
    commander.with_lock(|| {
        let stamp = commander.stamp();
        let failures = commander.on(&commander.app_hosts(), |host| {
            for role in commander.roles_on(host.name()) {
                let app = App::new(&commander.config, role, host.name(), &commander.version);
                audit(
                    host,
                    &auditor::record(
                        &commander.config,
                        &stamp,
                        &[],
                        &format!("Started app version {}", commander.version),
                    ),
                )?;
                host.execute_with(&app.start(), lenient())?;
                if role.running_proxy {
                    let version = host.capture_with(&app.current_running_version(), lenient())?;
                    let endpoint = host.capture(&app.container_id_for_version(version.trim(), false))?;
                    let endpoint = endpoint.trim();
                    if endpoint.is_empty() {
                        return Ok(Some(format!(
                            "Exception while executing on host {}: Failed to get endpoint for {} on {}, did the container boot?",
                            host.name(),
                            role.name,
                            host.name()
                        )));
                    }
                    if let Some(deploy) = app.deploy(endpoint) {
                        host.execute(&deploy)?;
                    }
                }
            }
            Ok(None)
        })?;
        match failures.into_iter().flatten().next() {
            Some(message) => Err(Failure::Remote {
                class: "Kamal::Cli::BootError",
                message,
            }),
            None => Ok(()),
        }
    })
}

/// Proxied roles with a running container leave kamal-proxy, then the current container
/// is stopped (errors ignored).
pub fn stop(commander: &Commander) -> Result<(), Failure> {
    commander.with_lock(|| {
        let stamp = commander.stamp();
        commander.on(&commander.app_hosts(), |host| {
            for role in commander.roles_on(host.name()) {
                let app = App::new(&commander.config, role, host.name(), &commander.version);
                audit_role(commander, host, &stamp, role, "Stopped app")?;
                if role.running_proxy {
                    let version = host.capture_with(&app.current_running_version(), lenient())?;
                    let endpoint = host.capture(&app.container_id_for_version(version.trim(), false))?;
                    if !endpoint.trim().is_empty() {
                        host.execute_with(&app.remove(), lenient())?;
                    }
                }
                host.execute_with(&app.stop(None), lenient())?;
            }
            Ok(())
        })?;
        Ok(())
    })
}

/// `app exec`: a command in a new container from the image (default), in the running
/// container (`--reuse`), or over `ssh -t` on the primary host (`-i`).
fn exec(commander: &Commander, parsed: &Parsed) -> Result<(), Failure> {
    commander.pre_connect_if_required()?;
    let detach = parsed.flag("detach");
    let interactive = parsed.flag("interactive");
    let reuse = parsed.flag("reuse");
    if detach && (interactive || reuse) {
        let incompatible: Vec<&str> = [("interactive", interactive), ("reuse", reuse)]
            .iter()
            .filter(|(_, set)| *set)
            .map(|(name, _)| *name)
            .collect();
        return Err(Failure::Remote {
            class: "ArgumentError",
            message: format!("Detach is not compatible with {}", incompatible.join(" or ")),
        });
    }
    let words = &parsed.arguments[1..];
    if words.is_empty() {
        return Err(Failure::Remote {
            class: "ArgumentError",
            message: "No command provided. You must specify a command to execute.".into(),
        });
    }
    let command = server::join_commands(words);
    let env = parsed.pairs("env");
    let declared = parsed.text("version").map(String::from);

    if reuse {
        if declared.is_none() {
            commander.say("Get current version of running container...");
        }
        let version = match declared {
            Some(version) => version,
            None => current_running_version(commander)?.unwrap_or_else(|| commander.version.clone()),
        };
        if interactive {
            let primary = commander.primary_host()?;
            commander.say(&format!(
                "Launching interactive command with version {version} via SSH from existing container on {primary}..."
            ));
            let role = primary_role(commander)?;
            let app = App::new(&commander.config, role, &primary, &version);
            let cmd = app.execute_in_existing_container(&command, Some(interactive_mode()), &env);
            return super::replace_with_ssh(commander, &primary, &cmd, false);
        }
        commander.say(&format!(
            "Launching command with version {version} from existing container..."
        ));
        let stamp = commander.stamp();
        return by_host_roles(commander, |host, role| {
            let app = App::new(&commander.config, role, host.name(), &version);
            audit_role(
                commander,
                host,
                &stamp,
                role,
                &format!("Executed cmd '{command}' on app version {version}"),
            )?;
            host.capture_with(
                &app.execute_in_existing_container(&command, None, &env),
                RunOptions::execute(),
            )
        });
    }

    if declared.is_none() {
        commander.say("Get most recent version available as an image...");
    }
    let version = declared.unwrap_or_else(|| commander.config.latest_tag());
    let login = registry_login(commander)?;
    if interactive {
        let primary = commander.primary_host()?;
        commander.say(&format!(
            "Launching interactive command with version {version} via SSH from new container on {primary}..."
        ));
        if let Some(login) = &login {
            commander.on(std::slice::from_ref(&primary), |host| {
                host.execute(login).map(|_| ())
            })?;
        }
        let role = primary_role(commander)?;
        let app = App::new(&commander.config, role, &primary, &version);
        let hex = crate::orchestration::boot::random_hex(3);
        let cmd = app.execute_in_new_container(&command, Some(interactive_mode()), false, &env, &hex);
        return super::replace_with_ssh(commander, &primary, &cmd, false);
    }
    commander.say(&format!(
        "Launching command with version {version} from new container..."
    ));
    let stamp = commander.stamp();
    let outputs = commander.on(&commander.app_hosts(), |host| {
        if let Some(login) = &login {
            host.execute(login)?;
        }
        let mut outputs = Vec::new();
        for role in commander.roles_on(host.name()) {
            let app = App::new(&commander.config, role, host.name(), &version);
            audit(
                host,
                &auditor::record(
                    &commander.config,
                    &stamp,
                    &[],
                    &format!("Executed cmd '{command}' on app version {version}"),
                ),
            )?;
            let hex = crate::orchestration::boot::random_hex(3);
            let run = app.execute_in_new_container(&command, None, detach, &env, &hex);
            outputs.push(host.capture_with(&run, RunOptions::execute())?);
        }
        Ok((host.name().to_string(), outputs))
    })?;
    print_outputs(commander, outputs);
    Ok(())
}

pub(crate) fn interactive_mode() -> Interactive {
    use std::io::IsTerminal;
    if std::io::stdin().is_terminal() {
        Interactive::Tty
    } else {
        Interactive::Pipe
    }
}

fn primary_role(commander: &Commander) -> Result<&kamal_config::configuration::Role, Failure> {
    let name = commander
        .specifics
        .primary_role
        .clone()
        .unwrap_or_else(|| commander.config.primary_role_name());
    commander.config.role(&name).ok_or_else(|| Failure::Remote {
        class: "ArgumentError",
        message: format!("No role {name}"),
    })
}

fn registry_login(commander: &Commander) -> Result<Option<Cmd>, Failure> {
    let registry_config = commander.config.registry_config();
    if registry_config.is_local() {
        return Ok(None);
    }
    Ok(registry::login(&registry_config, commander.secrets()?)?)
}

/// The version running on the primary host (its first role), if any.
fn current_running_version(commander: &Commander) -> Result<Option<String>, Failure> {
    let primary = commander.primary_host()?;
    let versions = commander.on(std::slice::from_ref(&primary), |host| {
        match commander.roles_on(host.name()).next() {
            Some(role) => {
                let app = App::new(&commander.config, role, host.name(), &commander.version);
                Ok(host.capture(&app.current_running_version())?.trim().to_string())
            }
            None => Ok(String::new()),
        }
    })?;
    Ok(versions.into_iter().find(|version| !version.is_empty()))
}

/// Per app host and role, one captured output, printed under `App Host: <host>`.
fn by_host_roles(
    commander: &Commander,
    each: impl Fn(&kamal_ssh::Host<'_>, &kamal_config::configuration::Role) -> Result<String, kamal_ssh::Error>
        + Sync,
) -> Result<(), Failure> {
    let outputs = commander.on(&commander.app_hosts(), |host| {
        let mut outputs = Vec::new();
        for role in commander.roles_on(host.name()) {
            outputs.push(each(host, role)?);
        }
        Ok((host.name().to_string(), outputs))
    })?;
    print_outputs(commander, outputs);
    Ok(())
}

fn print_outputs(commander: &Commander, outputs: Vec<(String, Vec<String>)>) {
    for (host, outputs) in outputs {
        for output in outputs {
            crate::commands::puts_by_host("App", &host, &output, commander.settings.quiet);
        }
    }
}

/// `app logs`: the current container's lines per host and role (100 unless `--since` or
/// `--grep`; `Nothing found` when the pipeline fails), or with `-f` an `ssh -t` following
/// them on the primary host.
fn logs(commander: &Commander, parsed: &Parsed) -> Result<(), Failure> {
    let grep = parsed.text("grep").map(String::from);
    let since = parsed.text("since").map(String::from);
    let container = match parsed.text("container-id") {
        Some(id) => ContainerId::Id(id.to_string()),
        None => ContainerId::Current,
    };
    let default_lines = if since.is_some() || grep.is_some() {
        None
    } else if parsed.flag("follow") {
        Some("10".to_string())
    } else {
        Some("100".to_string())
    };
    let options = LogOptions {
        timestamps: !parsed.flag("skip-timestamps"),
        since: since.clone(),
        lines: parsed.text("lines").map(String::from).or(default_lines),
        grep: grep.clone(),
        grep_options: parsed.text("grep-options").map(String::from),
    };
    if parsed.flag("follow") {
        let primary = commander.primary_host()?;
        commander.printer.info(&format!("Following logs on {primary}..."));
        // Kamal restricts the roles to the primary role unless --roles was given.
        let role = if commander.settings.roles_filter.is_some() {
            commander.roles_on(&primary).next()
        } else {
            primary_role(commander).ok()
        };
        let Some(role) = role else {
            return Ok(());
        };
        let app = App::new(&commander.config, role, &primary, &commander.version);
        return super::replace_with_ssh(commander, &primary, &app.follow_logs(&container, &options), true);
    }
    by_host_roles(commander, |host, role| {
        let app = App::new(&commander.config, role, host.name(), &commander.version);
        match host.capture_with(&app.logs(&container, &options), RunOptions::execute()) {
            Ok(output) => Ok(output),
            Err(kamal_ssh::Error::CommandFailed { .. }) => Ok("Nothing found".to_string()),
            Err(other) => Err(other),
        }
    })
}

/// `app remove`: stop, then remove the containers, the images and the app directories.
pub fn remove(commander: &Commander) -> Result<(), Failure> {
    commander.with_lock(|| {
        stop(commander)?;
        remove_containers(commander)?;
        remove_images(commander)?;
        remove_app_directories(commander)
    })
}

/// Hidden `app remove_container VERSION`: that version's container of every role.
fn remove_container(commander: &Commander, version: &str) -> Result<(), Failure> {
    commander.with_lock(|| {
        let stamp = commander.stamp();
        commander.on(&commander.app_hosts(), |host| {
            for role in commander.roles_on(host.name()) {
                let app = App::new(&commander.config, role, host.name(), &commander.version);
                audit_role(
                    commander,
                    host,
                    &stamp,
                    role,
                    &format!("Removed app container with version {version}"),
                )?;
                host.execute(&app.remove_container(version))?;
            }
            Ok(())
        })?;
        Ok(())
    })
}

fn remove_containers(commander: &Commander) -> Result<(), Failure> {
    commander.with_lock(|| {
        let stamp = commander.stamp();
        commander.on(&commander.app_hosts(), |host| {
            for role in commander.roles_on(host.name()) {
                let app = App::new(&commander.config, role, host.name(), &commander.version);
                audit_role(commander, host, &stamp, role, "Removed all app containers")?;
                host.execute(&app.remove_containers())?;
            }
            Ok(())
        })?;
        Ok(())
    })
}

/// Hosts where every role the configuration puts there is selected: only there do the
/// service-wide images and directories go.
fn hosts_with_all_roles(commander: &Commander) -> Vec<String> {
    commander
        .app_hosts()
        .into_iter()
        .filter(|host| {
            let configured = commander
                .config
                .roles
                .iter()
                .filter(|role| role.hosts().iter().any(|candidate| candidate == host))
                .count();
            commander.roles_on(host).count() == configured
        })
        .collect()
}

fn remove_images(commander: &Commander) -> Result<(), Failure> {
    commander.with_lock(|| {
        let stamp = commander.stamp();
        commander.on(&hosts_with_all_roles(commander), |host| {
            audit(
                host,
                &auditor::record(&commander.config, &stamp, &[], "Removed all app images"),
            )?;
            host.execute(&app::remove_images(&commander.config)).map(|_| ())
        })?;
        Ok(())
    })
}

fn remove_app_directories(commander: &Commander) -> Result<(), Failure> {
    commander.with_lock(|| {
        let stamp = commander.stamp();
        let directory = commander.config.app_directory();
        commander.on(&hosts_with_all_roles(commander), |host| {
            for role in commander.roles_on(host.name()) {
                audit_role(commander, host, &stamp, role, &format!("Removed {directory}"))?;
                host.execute_with(&server::remove_app_directory(&commander.config), lenient())?;
            }
            audit(
                host,
                &auditor::record(&commander.config, &stamp, &[], &format!("Removed {directory}")),
            )?;
            host.execute_with(&app::remove_proxy_app_directory(&commander.config), lenient())
                .map(|_| ())
        })?;
        Ok(())
    })
}
