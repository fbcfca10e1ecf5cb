//! `kamal proxy …` (`Kamal::Cli::Proxy`): the `kamal-proxy` container on the proxy hosts —
//! boot (network, login, minimum version, start or run), reboot host group by host group
//! between the proxy-reboot hooks, start/stop/restart, details, logs, removal, and the
//! deprecated `boot_config` files that decide how the proxy runs where `proxy.run` does
//! not. The proxy keeps its routes in the `kamal-proxy-config` volume, so a rebooted proxy
//! serves the apps it served before without them being deployed again.

use kamal_commands::app::LogOptions;
use kamal_commands::proxy::{boot_config_files, BootConfigOptions, Proxy};
use kamal_commands::{auditor, docker, registry, server, Cmd};
use kamal_config::configuration::proxy_runtime::PROXY_MINIMUM_VERSION;
use kamal_ssh::{Level, RunOptions, Upload};

use crate::cli::args::Parsed;
use crate::orchestration::hooks::Extra;
use crate::orchestration::overlap::both;
use crate::orchestration::Commander;
use crate::Failure;

/// The `proxy` subcommands we know (`upgrade` is hidden in Kamal's help, as here).
pub const SUBCOMMANDS: &[&str] = &[
    "boot",
    "boot_config",
    "reboot",
    "start",
    "stop",
    "restart",
    "details",
    "logs",
    "remove",
    "remove_container",
    "remove_image",
    "remove_proxy_directory",
    "upgrade",
];

/// The mode of the `.kamal/proxy/*` files `boot_config set` writes.
const BOOT_CONFIG_FILE_MODE: u32 = 0o640;

pub fn dispatch(commander: &Commander, subcommand: &str, parsed: &Parsed) -> Result<(), Failure> {
    match subcommand {
        "boot" => boot(commander),
        "boot_config" => boot_config(commander, parsed),
        "reboot" => reboot(commander, parsed.flag("rolling"), parsed.flag("confirmed")),
        "start" => start(commander),
        "stop" => stop(commander),
        "restart" => commander.with_lock(|| {
            stop(commander)?;
            start(commander)
        }),
        "details" => details(commander, parsed.flag("quiet")),
        "logs" => logs(commander, parsed),
        "remove" => remove(commander, parsed.flag("force")),
        "remove_container" => remove_container(commander),
        "remove_image" => remove_image(commander),
        "upgrade" => upgrade(
            commander,
            parsed.text("version").is_some(),
            parsed.flag("rolling"),
            parsed.flag("confirmed"),
        ),
        _ => remove_proxy_directory(commander),
    }
}

/// `KAMAL.proxy_hosts`: hosts of the roles and accessories that run behind the proxy, in
/// the configuration's order, narrowed to the selected hosts.
pub fn proxy_hosts(commander: &Commander) -> Vec<String> {
    let config = &commander.config;
    let from_roles = config
        .roles
        .iter()
        .filter(|role| role.running_proxy)
        .flat_map(|role| role.hosts());
    let from_accessories = config
        .accessories
        .iter()
        .filter(|accessory| config.accessory_runtime(accessory).running_proxy())
        .flat_map(|accessory| accessory.hosts.iter().flatten().cloned());
    let mut hosts: Vec<String> = Vec::new();
    for host in from_roles.chain(from_accessories) {
        if !hosts.contains(&host) && commander.specifics.hosts.contains(&host) {
            hosts.push(host);
        }
    }
    hosts
}

/// `docker network create kamal` everywhere and on each proxy host: log in, refuse a
/// proxy older than the minimum version, and start the container (or run a new one).
/// The network, the login, the version check and the apps-config directory do not depend
/// on each other, so they run at once; the start waits for all four.
pub fn boot(commander: &Commander) -> Result<(), Failure> {
    commander.with_lock(|| {
        let network = docker::create_network();
        let login = registry_login(commander)?;
        let proxy_hosts = proxy_hosts(commander);
        let too_old = commander.on(&commander.specifics.hosts, |host| {
            let create_network = || match host.execute(&network) {
                Err(error) if error.to_string().contains("already exists") => Ok(()),
                other => other.map(|_| ()),
            };
            if !proxy_hosts.iter().any(|proxy_host| proxy_host == host.name()) {
                return create_network().map(|()| None);
            }
            let proxy = Proxy::new(&commander.config, host.name());
            let ((networked, logged_in), (version, directory)) = both(
                || {
                    both(create_network, || match &login {
                        Some(login) => host.execute(login).map(|_| ()),
                        None => Ok(()),
                    })
                },
                || {
                    both(
                        || host.capture_with(&proxy.version(), RunOptions::execute().read_only()),
                        || host.execute(&proxy.ensure_apps_config_directory()),
                    )
                },
            );
            networked?;
            logged_in?;
            directory?;
            let version = version?;
            if !version.is_empty() && older_version(&version, PROXY_MINIMUM_VERSION) {
                return Ok(Some(format!(
                    "Exception while executing on host {}: kamal-proxy version {version} is too old, run `kamal proxy reboot` in order to update to at least {PROXY_MINIMUM_VERSION}",
                    host.name()
                )));
            }
            host.execute(&proxy.start_or_run())?;
            Ok(None)
        })?;
        match too_old.into_iter().flatten().collect::<Vec<_>>().as_slice() {
            [] => Ok(()),
            [one] => Err(runtime_error(one.clone())),
            many => Err(runtime_error(format!(
                "Exceptions on {} hosts:\n{}",
                many.len(),
                many.join("\n")
            ))),
        }
    })
}

/// Stops and removes the proxy, then runs it again with the current settings: all proxy
/// hosts at once, or one at a time with `--rolling`, each group between the
/// `pre-proxy-reboot` and `post-proxy-reboot` hooks.
pub fn reboot(commander: &Commander, rolling: bool, confirmed: bool) -> Result<(), Failure> {
    if !super::confirming(
        commander,
        "This will cause a brief outage on each host. Are you sure?",
        confirmed,
    ) {
        return Ok(());
    }
    commander.with_lock(|| {
        let groups = host_groups(proxy_hosts(commander), rolling);
        let login = registry_login(commander)?;
        let stamp = commander.stamp();
        for group in groups {
            let extra = Extra {
                hosts: Some(group.clone()),
                ..Extra::default()
            };
            commander.run_hook("pre-proxy-reboot", &extra)?;
            commander.on(&group, |host| {
                let proxy = Proxy::new(&commander.config, host.name());
                audit_reboot_and_log_in(commander, host, &stamp, login.as_ref())?;
                host.execute_with(
                    &proxy.stop(None),
                    RunOptions::execute().raise_on_non_zero_exit(false),
                )?;
                host.execute(&proxy.remove_container())?;
                host.execute(&proxy.ensure_apps_config_directory())?;
                host.execute(&proxy.run()).map(|_| ())
            })?;
            commander.run_hook("post-proxy-reboot", &extra)?;
        }
        Ok(())
    })
}

/// Kamal 1 → 2 on the selected hosts (all at once, or one at a time with `--rolling`), each
/// group between the proxy-reboot hooks: Traefik and any kamal-proxy stopped and removed
/// with their images, then `proxy boot`, `app boot` of the image tagged latest (or
/// `--version`) and `prune all` on that group alone. Like Kamal, it takes no lock of its own
/// around the removal; the boots and the prune take it.
pub fn upgrade(
    commander: &Commander,
    version_given: bool,
    rolling: bool,
    confirmed: bool,
) -> Result<(), Failure> {
    if !super::confirming(
        commander,
        "This will cause a brief outage on each host. Are you sure?",
        confirmed,
    ) {
        return Ok(());
    }
    let version = if version_given {
        commander.version.clone()
    } else {
        commander.config.latest_tag()
    };
    let groups = host_groups(commander.specifics.hosts.clone(), rolling);
    let login = registry_login(commander)?;
    for group in groups {
        let list = group.join(",");
        commander.say(&format!("Upgrading proxy on {list}..."));
        let extra = Extra {
            hosts: Some(group.clone()),
            ..Extra::default()
        };
        commander.run_hook("pre-proxy-reboot", &extra)?;
        let stamp = commander.stamp();
        commander.on(&group, |host| {
            let proxy = Proxy::new(&commander.config, host.name());
            audit_reboot_and_log_in(commander, host, &stamp, login.as_ref())?;
            host.execute(&proxy.cleanup_traefik())?;
            host.execute_with(
                &proxy.stop(None),
                RunOptions::execute().raise_on_non_zero_exit(false),
            )?;
            host.execute(&proxy.remove_container())?;
            host.execute(&proxy.remove_image()).map(|_| ())
        })?;
        let narrowed = commander.with_specific_hosts(&group)?;
        boot(&narrowed)?;
        narrowed.with_lock(|| narrowed.boot_app(&version))?;
        super::deploy::prune_all(&narrowed)?;
        commander.run_hook("post-proxy-reboot", &extra)?;
        commander.say(&format!("Upgraded proxy on {list}"));
    }
    Ok(())
}

/// All hosts as one group, or (`--rolling`) one group per host.
pub fn host_groups(hosts: Vec<String>, rolling: bool) -> Vec<Vec<String>> {
    if rolling {
        hosts.into_iter().map(|host| vec![host]).collect()
    } else {
        vec![hosts]
    }
}

/// What reboot and upgrade do first on each host: the `Rebooted proxy` audit line, then the
/// registry login.
fn audit_reboot_and_log_in(
    commander: &Commander,
    host: &kamal_ssh::Host<'_>,
    stamp: &kamal_commands::Stamp,
    login: Option<&Cmd>,
) -> Result<(), kamal_ssh::Error> {
    let audit = auditor::record(&commander.config, stamp, &[], "Rebooted proxy");
    host.execute_with(&audit, RunOptions::execute().verbosity(Level::Debug))?;
    if let Some(login) = login {
        host.execute(login)?;
    }
    Ok(())
}

pub fn start(commander: &Commander) -> Result<(), Failure> {
    on_proxy_hosts_audited(commander, "Started proxy", |proxy| (proxy.start(), true))
}

pub fn stop(commander: &Commander) -> Result<(), Failure> {
    on_proxy_hosts_audited(commander, "Stopped proxy", |proxy| (proxy.stop(None), false))
}

fn remove_container(commander: &Commander) -> Result<(), Failure> {
    on_proxy_hosts_audited(commander, "Removed proxy container", |proxy| {
        (proxy.remove_container(), true)
    })
}

fn remove_image(commander: &Commander) -> Result<(), Failure> {
    on_proxy_hosts_audited(commander, "Removed proxy image", |proxy| {
        (proxy.remove_image(), true)
    })
}

fn remove_proxy_directory(commander: &Commander) -> Result<(), Failure> {
    commander.with_lock(|| {
        commander.on(&proxy_hosts(commander), |host| {
            let proxy = Proxy::new(&commander.config, host.name());
            let ignore_failure = RunOptions::execute().raise_on_non_zero_exit(false);
            host.execute_with(&proxy.remove_proxy_directory(), ignore_failure)
                .map(|_| ())
        })?;
        Ok(())
    })
}

/// Under the lock, on every proxy host: the audit line, then one proxy command (`true`:
/// a failure is an error).
fn on_proxy_hosts_audited(
    commander: &Commander,
    audit_line: &str,
    command: impl Fn(&Proxy<'_>) -> (Cmd, bool) + Sync,
) -> Result<(), Failure> {
    commander.with_lock(|| {
        let stamp = commander.stamp();
        commander.on(&proxy_hosts(commander), |host| {
            let proxy = Proxy::new(&commander.config, host.name());
            let audit = auditor::record(&commander.config, &stamp, &[], audit_line);
            host.execute_with(&audit, RunOptions::execute().verbosity(Level::Debug))?;
            let (command, raise) = command(&proxy);
            host.execute_with(&command, RunOptions::execute().raise_on_non_zero_exit(raise))
                .map(|_| ())
        })?;
        Ok(())
    })
}

/// `Proxy Host: <host>` and its `docker ps` line for the proxy container.
pub fn details(commander: &Commander, quiet: bool) -> Result<(), Failure> {
    commander.on(&proxy_hosts(commander), |host| {
        let proxy = Proxy::new(&commander.config, host.name());
        let output = host.capture_with(&proxy.info(), RunOptions::execute())?;
        super::puts_by_host("Proxy", host.name(), &output, quiet);
        Ok(())
    })?;
    Ok(())
}

/// The proxy's log lines from every proxy host (100 unless `--since`/`--grep`), or with
/// `-f` an interactive `ssh -t` following them on the primary host.
fn logs(commander: &Commander, parsed: &Parsed) -> Result<(), Failure> {
    let grep = parsed.text("grep").map(String::from);
    let since = parsed.text("since").map(String::from);
    let mut options = LogOptions {
        timestamps: !parsed.flag("skip-timestamps"),
        since: since.clone(),
        lines: None,
        grep: grep.clone(),
        grep_options: parsed.text("grep-options").map(String::from),
    };
    if parsed.flag("follow") {
        let primary = commander.primary_host()?;
        let proxy = Proxy::new(&commander.config, &primary);
        commander.printer.info(&format!("Following logs on {primary}..."));
        return super::replace_with_ssh(commander, &primary, &proxy.follow_logs(&options), true);
    }
    options.lines = parsed
        .text("lines")
        .map(String::from)
        .or_else(|| (since.is_none() && grep.is_none()).then(|| "100".to_string()));
    commander.on(&proxy_hosts(commander), |host| {
        let proxy = Proxy::new(&commander.config, host.name());
        let output = host.capture(&proxy.logs(&options))?;
        super::puts_by_host("Proxy", host.name(), &output, parsed.flag("quiet"));
        Ok(())
    })?;
    Ok(())
}

/// Stops and removes the proxy container, its image and `.kamal/proxy`, unless other apps
/// are installed on a proxy host (then only with `--force`).
pub fn remove(commander: &Commander, force: bool) -> Result<(), Failure> {
    commander.with_lock(|| {
        if !removal_allowed(commander, force)? {
            return Ok(());
        }
        stop(commander)?;
        remove_container(commander)?;
        remove_image(commander)?;
        remove_proxy_directory(commander)
    })
}

fn removal_allowed(commander: &Commander, force: bool) -> Result<bool, Failure> {
    let count = server::app_directory_count(&commander.config);
    let counts = commander.on(&proxy_hosts(commander), |host| {
        host.capture_with(&count, RunOptions::execute())
    })?;
    let installed = counts
        .iter()
        .any(|count| count.trim().parse::<u64>().unwrap_or(0) > 0);
    if !installed {
        return Ok(true);
    }
    if force {
        commander.say("Forcing, so removing the proxy, even though other apps are installed");
    } else {
        commander.say(
            "Not removing the proxy, as other apps are installed, ignore this check with kamal proxy remove --force",
        );
    }
    Ok(force)
}

/// `boot_config set | get | reset` (`clear` is taken for `reset`): the legacy files in
/// `.kamal/proxy` on each proxy host. Where a host's roles set `proxy.run`, that wins and
/// the files are not used; `set` and `get` say so.
fn boot_config(commander: &Commander, parsed: &Parsed) -> Result<(), Failure> {
    let Some(subcommand) = parsed.arguments.get(1).map(String::as_str) else {
        return Err(Failure::Usage(
            "ERROR: \"kamal proxy boot_config\" was called with no arguments\nUsage: \"kamal proxy boot_config <set|get|reset>\"".into(),
        ));
    };
    commander.say(
        "The proxy boot_config command is deprecated - set the config in the deploy YAML at proxy/run instead",
    );
    match subcommand {
        "set" => {
            let options = boot_config_options(parsed)?;
            let files = boot_config_files(&commander.config, &options).map_err(|error| Failure::Remote {
                class: "ArgumentError",
                message: error.to_string(),
            })?;
            let boot = commander.config.proxy_boot();
            let ignore_failure = RunOptions::execute().raise_on_non_zero_exit(false);
            let hosts = proxy_hosts(commander);
            commander.on(&hosts, |host| {
                let proxy = Proxy::new(&commander.config, host.name());
                host.execute(&proxy.ensure_proxy_directory())?;
                let entries = [
                    (&files.options, boot.options_file(), proxy.reset_boot_options()),
                    (&files.image, boot.image_file(), proxy.reset_image()),
                    (
                        &files.image_version,
                        boot.image_version_file(),
                        proxy.reset_image_version(),
                    ),
                    (
                        &files.run_command,
                        boot.run_command_file(),
                        proxy.reset_run_command(),
                    ),
                ];
                for (contents, path, reset) in entries {
                    match contents {
                        Some(contents) => {
                            host.upload(Upload::Bytes(contents.as_bytes()), &path, BOOT_CONFIG_FILE_MODE)?
                        }
                        None => {
                            host.execute_with(&reset, ignore_failure)?;
                        }
                    }
                }
                Ok(())
            })?;
            say_where_proxy_run_wins(commander, &hosts);
            Ok(())
        }
        "get" => {
            let hosts = proxy_hosts(commander);
            commander.on(&hosts, |host| {
                let proxy = Proxy::new(&commander.config, host.name());
                let echoed = host.capture_with(&proxy.boot_config(), RunOptions::execute())?;
                // Ruby's `puts`: data, printed whatever `-q` says.
                println!("Host {}: {echoed}", host.name());
                Ok(())
            })?;
            say_where_proxy_run_wins(commander, &hosts);
            Ok(())
        }
        "reset" | "clear" => {
            let ignore_failure = RunOptions::execute().raise_on_non_zero_exit(false);
            commander.on(&proxy_hosts(commander), |host| {
                let proxy = Proxy::new(&commander.config, host.name());
                for reset in [
                    proxy.reset_boot_options(),
                    proxy.reset_image(),
                    proxy.reset_image_version(),
                    proxy.reset_run_command(),
                ] {
                    host.execute_with(&reset, ignore_failure)?;
                }
                Ok(())
            })?;
            Ok(())
        }
        other => Err(Failure::Remote {
            class: "ArgumentError",
            message: format!("Unknown boot_config subcommand {other}"),
        }),
    }
}

/// Which hosts ignore the boot-config files because `proxy.run` in the deploy config
/// decides how their proxy runs (a line only when there are such hosts).
fn say_where_proxy_run_wins(commander: &Commander, hosts: &[String]) {
    let overridden: Vec<&str> = hosts
        .iter()
        .filter(|host| commander.config.proxy_run(host).is_some())
        .map(String::as_str)
        .collect();
    if !overridden.is_empty() {
        commander.say(&format!(
            "proxy/run in the deploy config is in force on {}: the boot_config files are not used there",
            overridden.join(", ")
        ));
    }
}

/// The `boot_config set` options as given, Thor's defaults otherwise. Docker options must
/// survive the `xargs` that splits `.kamal/proxy/options` on the host: `name` or
/// `name=value`, without whitespace or quotes.
fn boot_config_options(parsed: &Parsed) -> Result<BootConfigOptions, Failure> {
    let defaults = BootConfigOptions::default();
    let docker_options: Vec<String> = parsed.list("docker-options").unwrap_or_default().to_vec();
    if let Some(bad) = docker_options.iter().find(|option| !valid_docker_option(option)) {
        return Err(Failure::Remote {
            class: "ArgumentError",
            message: format!(
                "Invalid docker option {bad:?}: give `name` or `name=value` (it becomes `--name=value`), without spaces or quotes"
            ),
        });
    }
    let text = |name: &str| parsed.text(name).map(String::from);
    Ok(BootConfigOptions {
        publish: parsed.flag_or("publish", true),
        publish_host_ip: parsed.list("publish-host-ip").map(<[String]>::to_vec),
        http_port: text("http-port").unwrap_or(defaults.http_port),
        https_port: text("https-port").unwrap_or(defaults.https_port),
        log_max_size: text("log-max-size").unwrap_or(defaults.log_max_size),
        registry: text("registry"),
        repository: text("repository"),
        image_version: text("image-version"),
        metrics_port: text("metrics-port"),
        debug: parsed.flag("debug"),
        docker_options,
    })
}

fn valid_docker_option(option: &str) -> bool {
    let name = option.split_once('=').map_or(option, |(name, _)| name);
    !name.is_empty()
        && !name.starts_with('-')
        && name
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_')
        && !option
            .chars()
            .any(|character| character.is_whitespace() || matches!(character, '"' | '\'' | '\\'))
}

/// `docker login` for the app's registry on hosts (none for a local registry, which the
/// hosts reach through a tunnel only while building).
fn registry_login(commander: &Commander) -> Result<Option<Cmd>, Failure> {
    let registry_config = commander.config.registry_config();
    if registry_config.is_local() {
        return Ok(None);
    }
    Ok(registry::login(&registry_config, commander.secrets()?)?)
}

fn runtime_error(message: String) -> Failure {
    Failure::Remote {
        class: "RuntimeError",
        message,
    }
}

/// `Kamal::Utils.older_version?`: `Gem::Version` order with the `v` prefix dropped.
fn older_version(version: &str, other: &str) -> bool {
    kamal_config::configuration::gem_version_greater(
        other.strip_prefix('v').unwrap_or(other),
        version.strip_prefix('v').unwrap_or(version),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_compare_as_rubygems_does() {
        assert!(older_version("v0.8.7", "v0.9.2"));
        assert!(older_version("v0.9.1", "v0.9.2"));
        assert!(!older_version("v0.9.2", "v0.9.2"));
        assert!(!older_version("v0.10.0", "v0.9.2"));
        assert!(!older_version("v1.0", "v0.9.2"));
    }

    #[test]
    fn docker_options_must_survive_xargs() {
        assert!(valid_docker_option("label=foo=bar"));
        assert!(valid_docker_option("cpus=1.5"));
        assert!(valid_docker_option("read-only"));
        assert!(!valid_docker_option("label=a b"));
        assert!(!valid_docker_option("--cpus=1"));
        assert!(!valid_docker_option("=x"));
        assert!(!valid_docker_option("label=\"x\""));
    }
}
