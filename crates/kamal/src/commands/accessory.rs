//! `kamal accessory …` (`Kamal::Cli::Accessory`): the long-lived services next to the app
//! (databases, caches) — boot (registry login and the `kamal` network, hosts that already
//! have the container skipped, directories, files (`*.erb` rendered at boot with the
//! accessory's env), the 0600 env file, `docker run`, kamal-proxy for proxied ones),
//! reboot, start/stop/restart, details, exec, logs, removal and the Kamal 1 upgrade.
//!
//! As in Kamal, every subcommand takes a NAME; `all` means every accessory for boot,
//! reboot, details, remove and upgrade. An unknown name is reported on stderr and is not
//! an error (exit 0), once per step that looks it up, as Kamal does. The hosts are the
//! accessory's own, narrowed by `-h`/`-r` (`KAMAL.accessory_hosts & accessory.hosts`).

use std::path::PathBuf;

use kamal_commands::accessory::{chmod, chown, Accessory};
use kamal_commands::app::LogOptions;
use kamal_commands::base::{make_directory, make_directory_for};
use kamal_commands::{auditor, docker, registry, server, Cmd, Stamp};
use kamal_config::configuration::AccessoryPath;
use kamal_config::secrets::Secret;
use kamal_ssh::{Level, RunOptions, Upload};

use crate::cli::args::{self, OptionSpec, Parsed};
use crate::orchestration::Commander;
use crate::Failure;

/// The `accessory` subcommands, hidden ones included.
pub const SUBCOMMANDS: &[&str] = &[
    "boot",
    "upload",
    "directories",
    "reboot",
    "start",
    "stop",
    "restart",
    "details",
    "exec",
    "logs",
    "pull_image",
    "remove",
    "remove_container",
    "remove_image",
    "remove_service_directory",
    "upgrade",
];

/// `kamal accessory logs`'s options.
pub const LOGS_OPTIONS: &[OptionSpec] = &[
    args::value("since", Some('s'))
        .desc("Show logs since timestamp (e.g. 2013-01-02T13:23:37Z) or relative (e.g. 42m for 42 minutes)"),
    args::numeric("lines", Some('n')).desc("Number of log lines to pull from each server"),
    args::value("grep", Some('g'))
        .desc("Show lines with grep match only (use this to fetch specific requests by id)"),
    args::value("grep-options", None).desc("Additional options supplied to grep"),
    // A string in Kamal (`-f` alone is the name); we read it as a flag.
    args::flag("follow", Some('f'))
        .shown_as("[--follow=FOLLOW]")
        .desc("Follow logs on primary server (or specific host set by --hosts)"),
    args::flag("skip-timestamps", Some('T')).desc("Skip appending timestamps to logging output"),
];

/// `kamal accessory exec`'s options.
pub const EXEC_OPTIONS: &[OptionSpec] = &[
    args::flag("interactive", Some('i'))
        .desc("Execute command over ssh for an interactive shell (use for console/bash)")
        .default("false"),
    args::flag("reuse", None)
        .desc("Reuse currently running container instead of starting a new one")
        .default("false"),
];

const CONFIRMED: OptionSpec = args::flag("confirmed", Some('y'))
    .desc("Proceed without confirmation question")
    .default("false");

/// `kamal accessory remove`'s options.
pub const REMOVE_OPTIONS: &[OptionSpec] = &[CONFIRMED];

/// `kamal accessory upgrade`'s options.
pub const UPGRADE_OPTIONS: &[OptionSpec] = &[
    args::flag("rolling", None)
        .desc("Upgrade one host at a time")
        .default("false"),
    CONFIRMED,
];

/// The options of `kamal accessory <subcommand>` (Thor's are per subcommand).
pub fn options(subcommand: Option<&str>) -> &'static [OptionSpec] {
    match subcommand {
        Some("logs") => LOGS_OPTIONS,
        Some("exec") => EXEC_OPTIONS,
        Some("remove") => REMOVE_OPTIONS,
        Some("upgrade") => UPGRADE_OPTIONS,
        _ => &[],
    }
}

/// Thor's arity check, before any configuration is read: every subcommand takes NAME;
/// only `exec` takes more (the command).
pub fn check_arguments(subcommand: &str, arguments: &[String]) -> Result<(), Failure> {
    let usage = match subcommand {
        "exec" => "kamal accessory exec [NAME] [CMD...]".to_string(),
        "upgrade" => "kamal accessory upgrade".to_string(),
        other => format!("kamal accessory {other} [NAME]"),
    };
    let called = if arguments.is_empty() {
        "no arguments".to_string()
    } else if subcommand != "exec" && arguments.len() > 1 {
        let quoted: Vec<String> = arguments.iter().map(|argument| format!("{argument:?}")).collect();
        format!("arguments [{}]", quoted.join(", "))
    } else {
        return Ok(());
    };
    Err(Failure::Usage(format!(
        "ERROR: \"kamal accessory {subcommand}\" was called with {called}\nUsage: \"{usage}\""
    )))
}

pub fn dispatch(commander: &Commander, subcommand: &str, parsed: &Parsed) -> Result<(), Failure> {
    let name = parsed.arguments.get(1).map(String::as_str).unwrap_or_default();
    let accessories = Accessories::new(commander);
    match subcommand {
        "boot" => accessories.boot(name, true),
        "upload" => accessories.upload(name),
        "directories" => accessories.directories(name),
        "reboot" => accessories.reboot(name),
        "start" => accessories.start(name),
        "stop" => accessories.stop(name),
        "restart" => commander.with_lock(|| {
            accessories.stop(name)?;
            accessories.start(name)
        }),
        "details" => accessories.details(name),
        "exec" => accessories.exec(name, &parsed.arguments[2..], parsed),
        "logs" => accessories.logs(name, parsed),
        "pull_image" => accessories.pull_image(name),
        "remove" => accessories.remove(name, parsed.flag("confirmed")),
        "remove_container" => accessories.remove_container(name),
        "remove_image" => accessories.remove_image(name),
        "remove_service_directory" => accessories.remove_service_directory(name),
        "upgrade" => accessories.upgrade(name, parsed.flag("rolling"), parsed.flag("confirmed")),
        other => Err(Failure::Usage(format!(
            "Could not find command \"{other}\" in \"accessory\" namespace."
        ))),
    }
}

/// `accessory boot all` (setup).
pub fn boot_all(commander: &Commander) -> Result<(), Failure> {
    Accessories::new(commander).boot("all", true)
}

/// `accessory remove all` (remove, already confirmed).
pub fn remove_all(commander: &Commander) -> Result<(), Failure> {
    Accessories::new(commander).remove("all", true)
}

/// `accessory upgrade all` (upgrade, already confirmed).
pub fn upgrade_all(commander: &Commander, rolling: bool) -> Result<(), Failure> {
    Accessories::new(commander).upgrade("all", rolling, true)
}

/// `KAMAL.accessory_hosts`: every accessory's hosts, in the configuration's order, among
/// `pool` (the selected hosts).
pub fn accessory_hosts(commander: &Commander, pool: &[String]) -> Vec<String> {
    let mut hosts: Vec<String> = Vec::new();
    for host in commander
        .config
        .accessories
        .iter()
        .flat_map(|accessory| accessory.hosts.iter().flatten())
    {
        if !hosts.contains(host) && pool.contains(host) {
            hosts.push(host.clone());
        }
    }
    hosts
}

/// `accessory details all` (details).
pub fn details_all(commander: &Commander) -> Result<(), Failure> {
    Accessories::new(commander).details("all")
}

/// The accessories as one run sees them.
struct Accessories<'a> {
    commander: &'a Commander,
    /// The selected hosts accessory hosts are narrowed to (`upgrade --rolling` narrows
    /// them to one host at a time, as `KAMAL.with_specific_hosts` does).
    pool: Vec<String>,
}

/// A local file to upload: rendered from a template, or read from disk.
enum Source {
    Rendered(Secret),
    File(PathBuf),
}

impl<'a> Accessories<'a> {
    fn new(commander: &'a Commander) -> Accessories<'a> {
        Accessories {
            commander,
            pool: commander.specifics.hosts.clone(),
        }
    }

    fn names(&self) -> Vec<String> {
        self.commander
            .config
            .accessories
            .iter()
            .map(|accessory| accessory.name.clone())
            .collect()
    }

    /// `with_accessory`: the accessory's commands and its selected hosts, or (printed on
    /// stderr) `No accessory by the name of 'x' (options: a, b, and c)`.
    fn find(&self, name: &str) -> Option<(Accessory<'a>, Vec<String>)> {
        let config = &self.commander.config;
        let Some(accessory) = config.accessory(name) else {
            let names = self.names();
            let options = if names.is_empty() {
                String::new()
            } else {
                format!(" (options: {})", to_sentence(&names))
            };
            eprintln!("No accessory by the name of '{name}'{options}");
            return None;
        };
        // `KAMAL.accessory_hosts & accessory.hosts`: every accessory's hosts, in order,
        // among the selected ones, then this accessory's.
        let mut hosts = accessory_hosts(self.commander, &self.pool);
        hosts.retain(|host| accessory.hosts.iter().flatten().any(|own| own == host));
        Some((Accessory::new(config, accessory), hosts))
    }

    fn each(&self, name: &str, step: impl Fn(&str) -> Result<(), Failure>) -> Result<(), Failure> {
        if name == "all" {
            for name in self.names() {
                step(&name)?;
            }
            Ok(())
        } else {
            step(name)
        }
    }

    /// The audit line `line`, appended on `host` (logged at DEBUG).
    fn audit(&self, host: &kamal_ssh::Host<'_>, stamp: &Stamp, line: &str) -> Result<(), kamal_ssh::Error> {
        let record = auditor::record(&self.commander.config, stamp, &[], line);
        host.execute_with(&record, RunOptions::execute().verbosity(Level::Debug))
            .map(|_| ())
    }

    /// `docker login` for the accessory's own registry (or the root one) and the `kamal`
    /// network on each host; a network that already exists is fine.
    fn prepare(&self, name: &str) -> Result<(), Failure> {
        let Some((accessory, hosts)) = self.find(name) else {
            return Ok(());
        };
        let registry_config = accessory
            .runtime()
            .accessory()
            .registry_config()
            .unwrap_or_else(|| self.commander.config.registry_config());
        let login = registry::login(&registry_config, self.commander.secrets()?)?;
        let network = docker::create_network();
        self.commander.on(&hosts, |host| {
            let outcome = match &login {
                Some(login) => host.execute(login).and_then(|_| host.execute(&network)),
                None => host.execute(&network),
            };
            match outcome {
                Err(error) if error.to_string().contains("already exists") => Ok(()),
                other => other.map(|_| ()),
            }
        })?;
        Ok(())
    }

    /// Boots the accessory where its container does not exist yet.
    fn boot(&self, name: &str, prepare: bool) -> Result<(), Failure> {
        self.commander.with_lock(|| {
            if name == "all" {
                return self.each(name, |name| self.boot(name, true));
            }
            if prepare {
                self.prepare(name)?;
            }
            let Some((accessory, mut hosts)) = self.find(name) else {
                return Ok(());
            };
            let exists = accessory.info(true, true);
            let mut booted: Vec<String> = self
                .commander
                .on(&hosts, |host| {
                    let containers = host.capture_with(&exists, probe())?;
                    Ok((!containers.is_empty()).then(|| host.name().to_string()))
                })?
                .into_iter()
                .flatten()
                .collect();
            if !booted.is_empty() {
                booted.sort();
                self.commander.say(&format!(
                    "Skipping booting `{name}` on {}, a container already exists",
                    booted.join(", ")
                ));
                hosts.retain(|host| !booted.contains(host));
            }
            self.directories(name)?;
            self.upload(name)?;
            if hosts.is_empty() {
                return Ok(());
            }
            let runtime = accessory.runtime();
            let env_file = runtime.secrets_env_file(self.commander.secrets()?)?;
            let secrets_path = runtime.secrets_path();
            let stamp = self.commander.stamp();
            self.commander.on(&hosts, |host| {
                self.audit(host, &stamp, &format!("Booted {name} accessory"))?;
                host.execute(&accessory.ensure_env_directory())?;
                host.upload(Upload::Bytes(env_file.expose().as_bytes()), &secrets_path, 0o600)?;
                host.execute(&accessory.run(Some(host.name())))?;
                self.register_with_proxy(host, &accessory)
            })?;
            Ok(())
        })
    }

    /// For a proxied accessory: `kamal-proxy deploy` at the running container.
    fn register_with_proxy(
        &self,
        host: &kamal_ssh::Host<'_>,
        accessory: &Accessory<'_>,
    ) -> Result<(), kamal_ssh::Error> {
        if !accessory.runtime().running_proxy() {
            return Ok(());
        }
        let target = host.capture_with(&accessory.running_container_id(), probe())?;
        if let Some(deploy) = accessory.deploy(&target, &self.commander.version) {
            host.execute(&deploy)?;
        }
        Ok(())
    }

    /// Per file: `mkdir -p` its directory, upload it (rendered when `*.erb`), `chmod`, and
    /// `chown` when an owner is set.
    fn upload(&self, name: &str) -> Result<(), Failure> {
        self.commander.with_lock(|| {
            let Some((accessory, hosts)) = self.find(name) else {
                return Ok(());
            };
            let Some(first) = hosts.first() else {
                return Ok(());
            };
            let files = self
                .local_files(&accessory)
                .map_err(|failure| on_host(first, failure))?;
            self.commander.on(&hosts, |host| {
                for (file, source) in &files {
                    host.execute(&make_directory_for(&file.host_path))?;
                    let upload = match source {
                        Source::Rendered(contents) => Upload::Bytes(contents.expose().as_bytes()),
                        Source::File(path) => Upload::File(path),
                    };
                    host.upload(upload, &file.host_path, 0o644)?;
                    if let Some(mode) = &file.mode {
                        host.execute(&chmod(mode, &file.host_path))?;
                    }
                    if let Some(owner) = &file.owner {
                        host.execute(&chown(owner, &file.host_path))?;
                    }
                }
                Ok(())
            })?;
            Ok(())
        })
    }

    /// The accessory's `files`, each rendered (`*.erb`, with the accessory's env in `ENV`)
    /// or found on disk (`Missing file: <path>` otherwise), relative to the working
    /// directory.
    fn local_files(&self, accessory: &Accessory<'_>) -> Result<Vec<(AccessoryPath, Source)>, Failure> {
        let runtime = accessory.runtime();
        let mut environment = self.commander.environment.clone();
        let directory = kamal_config::Environment::current_dir(&environment).to_path_buf();
        let mut files = Vec::new();
        for file in runtime.files() {
            let source = if file.is_template() {
                let env = runtime.env_values(self.commander.secrets()?)?;
                Source::Rendered(runtime.render_file(&file, &env, &mut environment)?)
            } else {
                let path = directory.join(&file.key);
                if !path.exists() {
                    return Err(Failure::Remote {
                        class: "RuntimeError",
                        message: format!("Missing file: {}", path.display()),
                    });
                }
                Source::File(path)
            };
            files.push((file, source));
        }
        Ok(files)
    }

    /// Per directory: `mkdir -p`, then `chmod`/`chown` when set.
    fn directories(&self, name: &str) -> Result<(), Failure> {
        self.commander.with_lock(|| {
            let Some((accessory, hosts)) = self.find(name) else {
                return Ok(());
            };
            let directories = accessory.runtime().directories();
            self.commander.on(&hosts, |host| {
                for directory in &directories {
                    host.execute(&make_directory(&directory.key))?;
                    if let Some(mode) = &directory.mode {
                        host.execute(&chmod(mode, &directory.key))?;
                    }
                    if let Some(owner) = &directory.owner {
                        host.execute(&chown(owner, &directory.key))?;
                    }
                }
                Ok(())
            })?;
            Ok(())
        })
    }

    /// Login and network, a fresh pull of the image, stop, remove the container, boot.
    fn reboot(&self, name: &str) -> Result<(), Failure> {
        self.commander.with_lock(|| {
            if name == "all" {
                return self.each(name, |name| self.reboot(name));
            }
            self.prepare(name)?;
            self.pull_image(name)?;
            self.stop(name)?;
            self.remove_container(name)?;
            self.boot(name, false)
        })
    }

    /// Runs `step` on each of the accessory's hosts under the lock, with an audit line.
    fn on_hosts(
        &self,
        name: &str,
        audit: Option<&str>,
        step: impl Fn(&kamal_ssh::Host<'_>, &Accessory<'_>) -> Result<(), kamal_ssh::Error> + Sync,
    ) -> Result<(), Failure> {
        self.commander.with_lock(|| {
            let Some((accessory, hosts)) = self.find(name) else {
                return Ok(());
            };
            let stamp = self.commander.stamp();
            self.commander.on(&hosts, |host| {
                if let Some(line) = audit {
                    self.audit(host, &stamp, line)?;
                }
                step(host, &accessory)
            })?;
            Ok(())
        })
    }

    fn start(&self, name: &str) -> Result<(), Failure> {
        self.on_hosts(
            name,
            Some(&format!("Started {name} accessory")),
            |host, accessory| {
                host.execute(&accessory.start())?;
                self.register_with_proxy(host, accessory)
            },
        )
    }

    /// `docker container stop` (errors ignored); a proxied accessory then leaves
    /// kamal-proxy. Kamal asks for the running container first but removes the service
    /// whatever the answer (an empty string is true in Ruby), so we do too.
    fn stop(&self, name: &str) -> Result<(), Failure> {
        self.on_hosts(
            name,
            Some(&format!("Stopped {name} accessory")),
            |host, accessory| {
                host.execute_with(
                    &accessory.stop(),
                    RunOptions::execute().raise_on_non_zero_exit(false),
                )?;
                if accessory.runtime().running_proxy() {
                    host.capture_with(&accessory.running_container_id(), probe())?;
                    host.execute(&accessory.remove())?;
                }
                Ok(())
            },
        )
    }

    fn pull_image(&self, name: &str) -> Result<(), Failure> {
        self.on_hosts(
            name,
            Some(&format!("Pull {name} accessory image")),
            |host, accessory| host.execute(&accessory.pull_image()).map(|_| ()),
        )
    }

    fn remove_container(&self, name: &str) -> Result<(), Failure> {
        self.on_hosts(
            name,
            Some(&format!("Remove {name} accessory container")),
            |host, accessory| host.execute(&accessory.remove_container()).map(|_| ()),
        )
    }

    fn remove_image(&self, name: &str) -> Result<(), Failure> {
        self.on_hosts(
            name,
            Some(&format!("Removed {name} accessory image")),
            |host, accessory| host.execute(&accessory.remove_image()).map(|_| ()),
        )
    }

    fn remove_service_directory(&self, name: &str) -> Result<(), Failure> {
        self.on_hosts(name, None, |host, accessory| {
            host.execute(&accessory.remove_service_directory()).map(|_| ())
        })
    }

    /// Confirm, then stop, remove the container, the image and the service directory.
    fn remove(&self, name: &str, confirmed: bool) -> Result<(), Failure> {
        let question =
            format!("This will remove all containers, images and data directories for {name}. Are you sure?");
        if !super::confirming(self.commander, &question, confirmed) {
            return Ok(());
        }
        self.commander.with_lock(|| {
            self.each(name, |name| {
                self.stop(name)?;
                self.remove_container(name)?;
                self.remove_image(name)?;
                self.remove_service_directory(name)
            })
        })
    }

    /// `docker ps` for the accessory on each host, under `Accessory NAME Host: <host>`.
    fn details(&self, name: &str) -> Result<(), Failure> {
        if name == "all" {
            return self.each(name, |name| self.details(name));
        }
        let Some((accessory, hosts)) = self.find(name) else {
            return Ok(());
        };
        let info = accessory.info(false, false);
        let outputs = self.commander.on(&hosts, |host| {
            Ok((
                host.name().to_string(),
                host.capture_with(&info, RunOptions::execute())?,
            ))
        })?;
        for (host, output) in outputs {
            super::puts_by_host(
                &format!("Accessory {name}"),
                &host,
                &output,
                self.commander.settings.quiet,
            );
        }
        Ok(())
    }

    /// A command in a new container (default, after `docker login`), in the running one
    /// (`--reuse`), or over `ssh -t` on the accessory's first host (`-i`).
    fn exec(&self, name: &str, words: &[String], parsed: &Parsed) -> Result<(), Failure> {
        let commander = self.commander;
        commander.pre_connect_if_required()?;
        let command = server::join_commands(words);
        let Some((accessory, hosts)) = self.find(name) else {
            return Ok(());
        };
        let interactive = parsed.flag("interactive");
        let reuse = parsed.flag("reuse");
        if interactive {
            let Some(host) = accessory.primary_host() else {
                return Ok(());
            };
            let mode = Some(super::app::interactive_mode());
            let cmd = if reuse {
                commander.say("Launching interactive command via SSH from existing container...");
                accessory.execute_in_existing_container(&command, mode)
            } else {
                commander.say("Launching interactive command via SSH from new container...");
                if let Some(login) = self.root_login()? {
                    commander.on(std::slice::from_ref(&host), |host| {
                        host.execute(&login).map(|_| ())
                    })?;
                }
                accessory.execute_in_new_container(&command, mode)
            };
            return super::replace_with_ssh(commander, &host, &cmd, false);
        }
        let (cmd, login) = if reuse {
            commander.say("Launching command from existing container...");
            (accessory.execute_in_existing_container(&command, None), None)
        } else {
            commander.say("Launching command from new container...");
            (
                accessory.execute_in_new_container(&command, None),
                self.root_login()?,
            )
        };
        let audit = format!("Executed cmd '{command}' on {name} accessory");
        let stamp = commander.stamp();
        let outputs = commander.on(&hosts, |host| {
            if let Some(login) = &login {
                host.execute(login)?;
            }
            self.audit(host, &stamp, &audit)?;
            Ok((
                host.name().to_string(),
                host.capture_with(&cmd, RunOptions::execute())?,
            ))
        })?;
        for (host, output) in outputs {
            super::puts_by_host("App", &host, &output, commander.settings.quiet);
        }
        Ok(())
    }

    /// `KAMAL.registry.login`: the root registry (exec logs in there, not to the
    /// accessory's own).
    fn root_login(&self) -> Result<Option<Cmd>, Failure> {
        let registry_config = self.commander.config.registry_config();
        Ok(registry::login(&registry_config, self.commander.secrets()?)?)
    }

    /// The container's log lines on each host, printed as they are (100 unless `--since`
    /// or `--grep`); with `-f`, `ssh -t` following them on the accessory's first host.
    fn logs(&self, name: &str, parsed: &Parsed) -> Result<(), Failure> {
        let Some((accessory, hosts)) = self.find(name) else {
            return Ok(());
        };
        let since = parsed.text("since").map(String::from);
        let grep = parsed.text("grep").map(String::from);
        let default_lines = (since.is_none() && grep.is_none()).then(|| "100".to_string());
        let options = LogOptions {
            timestamps: !parsed.flag("skip-timestamps"),
            lines: parsed.text("lines").map(String::from).or(default_lines),
            since,
            grep,
            grep_options: parsed.text("grep-options").map(String::from),
        };
        if parsed.flag("follow") {
            let Some(host) = accessory.primary_host() else {
                return Ok(());
            };
            self.commander
                .printer
                .info(&format!("Following logs on {}...", ruby_inspect(&hosts)));
            return super::replace_with_ssh(self.commander, &host, &accessory.follow_logs(&options), true);
        }
        let logs = accessory.logs(&options);
        let outputs = self
            .commander
            .on(&hosts, |host| host.capture_with(&logs, RunOptions::execute()))?;
        for output in outputs {
            self.commander.puts(&output);
        }
        Ok(())
    }

    /// Kamal 1 → 2: reboot the accessories into the `kamal` network, all hosts at once or
    /// (`--rolling`) one at a time.
    fn upgrade(&self, name: &str, rolling: bool, confirmed: bool) -> Result<(), Failure> {
        if !super::confirming(self.commander, "This will restart all accessories", confirmed) {
            return Ok(());
        }
        self.commander.with_lock(|| {
            let groups = super::proxy::host_groups(accessory_hosts(self.commander, &self.pool), rolling);
            for group in groups {
                let list = group.join(",");
                let narrowed = Accessories {
                    commander: self.commander,
                    pool: group,
                };
                self.commander
                    .say(&format!("Upgrading {name} accessories on {list}..."));
                narrowed.reboot(name)?;
                self.commander
                    .say(&format!("Upgraded {name} accessories on {list}..."));
            }
            Ok(())
        })
    }
}

/// Kamal's `capture_with_info` of host state a step decides on (a dry run may ask the
/// host for real).
fn probe() -> RunOptions {
    RunOptions::execute().read_only()
}

/// An error raised inside Kamal's `on(hosts)` block reads `Exception while executing on
/// host <host>: <message>`.
fn on_host(host: &str, failure: Failure) -> Failure {
    let class = match &failure {
        Failure::Config(error) => error.ruby_class().unwrap_or("RuntimeError"),
        Failure::Remote { class, .. } => class,
        _ => "RuntimeError",
    };
    Failure::Remote {
        class,
        message: format!("Exception while executing on host {host}: {failure}"),
    }
}

/// ActiveSupport's `Array#to_sentence`: `a`, `a and b`, `a, b, and c`.
fn to_sentence(words: &[String]) -> String {
    match words {
        [] => String::new(),
        [one] => one.clone(),
        [first, second] => format!("{first} and {second}"),
        [init @ .., last] => format!("{}, and {last}", init.join(", ")),
    }
}

/// Ruby's `Array#inspect` for strings: `["a", "b"]`.
fn ruby_inspect(words: &[String]) -> String {
    let quoted: Vec<String> = words.iter().map(|word| format!("{word:?}")).collect();
    format!("[{}]", quoted.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sentences_as_active_support_writes_them() {
        let words = |list: &[&str]| list.iter().map(|word| word.to_string()).collect::<Vec<_>>();
        assert_eq!(to_sentence(&words(&["db"])), "db");
        assert_eq!(to_sentence(&words(&["db", "cache"])), "db and cache");
        assert_eq!(to_sentence(&words(&["db", "cache", "web"])), "db, cache, and web");
        assert_eq!(
            ruby_inspect(&words(&["1.1.1.1", "1.1.1.2"])),
            "[\"1.1.1.1\", \"1.1.1.2\"]"
        );
    }

    #[test]
    fn every_subcommand_takes_a_name() {
        let words = |list: &[&str]| list.iter().map(|word| word.to_string()).collect::<Vec<_>>();
        assert!(check_arguments("boot", &words(&["db"])).is_ok());
        assert!(check_arguments("exec", &words(&["db", "ls", "-la"])).is_ok());
        let message =
            |subcommand: &str, arguments: &[&str]| match check_arguments(subcommand, &words(arguments)) {
                Err(Failure::Usage(message)) => message,
                other => panic!("{other:?}"),
            };
        assert_eq!(
            message("boot", &[]),
            "ERROR: \"kamal accessory boot\" was called with no arguments\nUsage: \"kamal accessory boot [NAME]\""
        );
        assert_eq!(
            message("boot", &["db", "x"]),
            "ERROR: \"kamal accessory boot\" was called with arguments [\"db\", \"x\"]\nUsage: \"kamal accessory boot [NAME]\""
        );
        assert_eq!(
            message("exec", &[]),
            "ERROR: \"kamal accessory exec\" was called with no arguments\nUsage: \"kamal accessory exec [NAME] [CMD...]\""
        );
        assert_eq!(
            message("upgrade", &[]),
            "ERROR: \"kamal accessory upgrade\" was called with no arguments\nUsage: \"kamal accessory upgrade\""
        );
    }
}
