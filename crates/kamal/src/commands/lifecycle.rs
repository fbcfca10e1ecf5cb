//! `kamal setup`, `remove`, `details`, `audit` and `upgrade`: the main commands that combine
//! others (spec §1.2, §6.2, §6.7).

use std::time::Instant;

use kamal_commands::auditor;
use kamal_ssh::RunOptions;

use crate::cli::args::Parsed;
use crate::orchestration::Commander;
use crate::Failure;

pub fn run(commander: &Commander, name: &str, parsed: &Parsed) -> Result<(), Failure> {
    match name {
        "setup" => setup(commander, parsed),
        "remove" => remove(commander, parsed.flag("confirmed")),
        "details" => details(commander),
        "upgrade" => upgrade(
            commander,
            parsed.text("version").is_some(),
            parsed.flag("rolling"),
            parsed.flag("confirmed"),
        ),
        _ => audit(commander),
    }
}

/// Under one lock: Docker on every host (`server bootstrap`, ending with the docker-setup
/// hook), then the whole deploy, post-deploy included, before the lock is released.
fn setup(commander: &Commander, parsed: &Parsed) -> Result<(), Failure> {
    let started = Instant::now();
    commander.with_lock(|| {
        commander.say("Ensure Docker is installed...");
        super::server::bootstrap(commander)?;
        let steps = super::deploy::Steps {
            skip_push: parsed.flag("skip-push"),
            no_cache: parsed.flag("no-cache"),
            full: true,
            boot_accessories: true,
        };
        super::deploy::deploy(commander, steps)
    })?;
    commander.say(&format!(
        "  Finished all in {:.1} seconds",
        started.elapsed().as_secs_f64()
    ));
    Ok(())
}

/// Confirm, then under the lock: the app, the proxy (unless other apps remain), the
/// accessories, the registry session on the hosts.
fn remove(commander: &Commander, confirmed: bool) -> Result<(), Failure> {
    if !super::confirming(
        commander,
        "This will remove all containers and images. Are you sure?",
        confirmed,
    ) {
        return Ok(());
    }
    commander.with_lock(|| {
        super::app::remove(commander)?;
        super::proxy::remove(commander, false)?;
        super::accessory::remove_all(commander)?;
        let sides = super::registry::Sides {
            skip_local: true,
            skip_remote: false,
        };
        super::registry::remove(commander, &sides, false)
    })
}

/// Kamal 1 → 2 under one lock: `proxy upgrade` (Traefik out, kamal-proxy in, the app booted
/// behind it) and `accessory upgrade all` (accessories rebooted into the `kamal` network),
/// on all hosts at once or, with `--rolling`, host by host (app hosts, then accessory hosts).
fn upgrade(
    commander: &Commander,
    version_given: bool,
    rolling: bool,
    confirmed: bool,
) -> Result<(), Failure> {
    if !super::confirming(
        commander,
        "This will replace Traefik with kamal-proxy and restart all accessories",
        confirmed,
    ) {
        return Ok(());
    }
    commander.with_lock(|| {
        if !rolling {
            commander.say("Upgrading all hosts...");
            super::proxy::upgrade(commander, version_given, false, true)?;
            super::accessory::upgrade_all(commander, false)?;
            commander.say("Upgraded all hosts");
            return Ok(());
        }
        let accessory_hosts =
            |commander: &Commander| super::accessory::accessory_hosts(commander, &commander.specifics.hosts);
        let mut hosts = commander.specifics.hosts.clone();
        for host in accessory_hosts(commander) {
            if !hosts.contains(&host) {
                hosts.push(host);
            }
        }
        for host in hosts {
            let narrowed = commander.with_specific_hosts(std::slice::from_ref(&host))?;
            narrowed.say(&format!("Upgrading {host}..."));
            if narrowed.specifics.hosts.contains(&host) {
                super::proxy::upgrade(&narrowed, version_given, false, true)?;
            }
            if accessory_hosts(&narrowed).contains(&host) {
                super::accessory::upgrade_all(&narrowed, false)?;
            }
            narrowed.say(&format!("Upgraded {host}"));
        }
        Ok(())
    })
}

/// `proxy details`, `app details`, then `accessory details all`.
fn details(commander: &Commander) -> Result<(), Failure> {
    super::proxy::details(commander, commander.settings.quiet)?;
    super::app::dispatch(commander, "details", &Parsed::default())?;
    super::accessory::details_all(commander)
}

/// The last 50 lines of the audit log on every host.
fn audit(commander: &Commander) -> Result<(), Failure> {
    let reveal = auditor::reveal(&commander.config);
    let outputs = commander.on(&commander.specifics.hosts, |host| {
        Ok((
            host.name().to_string(),
            host.capture_with(&reveal, RunOptions::execute())?,
        ))
    })?;
    for (host, output) in outputs {
        super::puts_by_host("App", &host, &output, commander.settings.quiet);
    }
    Ok(())
}
