//! `kamal deploy`, `redeploy`, `rollback VERSION` and `prune`: Kamal's sequences (spec §6)
//! around `app boot`. The image is built or pulled outside the lock; everything that
//! changes hosts runs under it; post-deploy runs after the lock is released, with the
//! deploy's runtime.

use std::time::Instant;

use kamal_commands::app::App;
use kamal_commands::{auditor, prune};
use kamal_ssh::{Level, RunOptions};

use crate::orchestration::hooks::Extra;
use crate::orchestration::overlap::{both, Pending};
use crate::orchestration::Commander;
use crate::Failure;

/// What distinguishes deploy from redeploy.
#[derive(Debug, Clone, Copy)]
pub struct Steps {
    pub skip_push: bool,
    pub no_cache: bool,
    /// deploy boots the proxy and prunes; redeploy does neither.
    pub full: bool,
    /// setup also boots every accessory (after the proxy).
    pub boot_accessories: bool,
}

/// Kamal's order, with independent steps overlapped (see `orchestration::overlap`): the
/// pull runs while the lock is taken, the proxy booted and stale containers stopped, and
/// only the app boot waits for it. A pre-deploy hook may use the new image (migrations
/// through `kamal app exec`), so when there is one the pull finishes before it, as in Kamal.
pub fn deploy(commander: &Commander, steps: Steps) -> Result<(), Failure> {
    let started = Instant::now();
    if steps.skip_push {
        commander.say("Pull app image...");
    } else {
        commander.say("Build and push app image...");
        crate::commands::build::push(commander, steps.no_cache)?;
    }
    let pull_first = !commander.settings.skip_hooks && commander.hook_exists("pre-deploy");
    if pull_first {
        crate::commands::build::pull(commander)?;
    }
    std::thread::scope(|scope| {
        let pulling = if pull_first {
            Pending::done()
        } else {
            Pending::running(scope.spawn(|| crate::commands::build::pull(commander)))
        };
        let deployed = commander.with_lock(|| {
            commander.run_hook("pre-deploy", &Extra::default())?;
            let (proxy, stale) = both(
                || -> Result<(), Failure> {
                    if steps.full {
                        commander.say("Ensure kamal-proxy is running...");
                        crate::commands::proxy::boot(commander)?;
                    }
                    if steps.boot_accessories {
                        crate::commands::accessory::boot_all(commander)?;
                    }
                    Ok(())
                },
                || {
                    commander.say("Detect stale containers...");
                    stale_containers(commander, true)
                },
            );
            proxy?;
            stale?;
            // Each host's boot waits for the image only when it is about to run it.
            commander.boot_app_after(&commander.version, &pulling)?;
            if steps.full {
                commander.say("Prune old containers and images...");
                prune_all(commander)?;
            }
            Ok(())
        });
        // A failed pull is the error Kamal (which pulls first) would have reported.
        pulling.finish()?;
        deployed
    })?;
    finish(commander, started)
}

/// `Finished all in N seconds`, then post-deploy with `KAMAL_RUNTIME`.
fn finish(commander: &Commander, started: Instant) -> Result<(), Failure> {
    let runtime = started.elapsed();
    commander.say(&format!("  Finished all in {:.1} seconds", runtime.as_secs_f64()));
    commander.run_hook(
        "post-deploy",
        &Extra {
            runtime: Some(runtime.as_secs()),
            ..Extra::default()
        },
    )
}

/// Boots a version whose containers are still on every app host (stopped is fine).
pub fn rollback(commander: &Commander, version: &str) -> Result<(), Failure> {
    let started = Instant::now();
    let rolled_back = commander.with_lock(|| {
        let hosts = commander.app_hosts();
        let missing = commander.on(&hosts, |host| {
            for role in commander.roles_on(host.name()) {
                let app = App::new(&commander.config, role, host.name(), version);
                let exists = RunOptions::capture().read_only();
                if host.capture_with(&app.container_id_for_version(version, false), exists)?.is_empty() {
                    return Ok(Some(host.name().to_string()));
                }
            }
            Ok(None)
        })?;
        if let Some(host) = missing.into_iter().flatten().next() {
            commander.say(&format!(
                "Error looking for container version {version}: Exception while executing on host {host}: Container not found"
            ));
            commander.say(&format!(
                "The app version '{version}' is not available as a container (use 'kamal app containers' for available versions)"
            ));
            return Ok(false);
        }
        commander.run_hook("pre-deploy", &Extra::default())?;
        commander.boot_app(version)?;
        Ok(true)
    })?;
    if rolled_back {
        finish(commander, started)?;
    }
    Ok(())
}

/// Running containers of a role whose version is not the current one: listed, or stopped.
pub fn stale_containers(commander: &Commander, stop: bool) -> Result<(), Failure> {
    let hosts = commander.app_hosts();
    let lines = commander.on(&hosts, |host| {
        let mut lines = Vec::new();
        let apps: Vec<App<'_>> = commander
            .roles_on(host.name())
            .map(|role| App::new(&commander.config, role, host.name(), &commander.version))
            .collect();
        let lenient = RunOptions::execute().raise_on_non_zero_exit(false);
        // Every role's two reads at once: they only list containers.
        let reads: Vec<_> = std::thread::scope(|scope| {
            let handles: Vec<_> = apps
                .iter()
                .map(|app| {
                    scope.spawn(move || {
                        both(
                            || host.capture_with(&app.current_running_version(), lenient.read_only()),
                            || host.capture_with(&app.list_versions(&[], &[]), lenient.read_only()),
                        )
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|handle| handle.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)))
                .collect()
        });
        for (app, (current, versions)) in apps.iter().zip(reads) {
            let (current, versions) = (current?, versions?);
            let role = app.role().name();
            commander.remember_running_version(host.name(), role, &current);
            for version in versions.lines().map(str::trim).filter(|version| !version.is_empty() && *version != current.trim()) {
                if stop {
                    lines.push(format!("Stopping stale container for role {role} with version {version}"));
                    host.execute_with(&app.stop(Some(version)), lenient)?;
                } else {
                    lines.push(format!(
                        "Detected stale container for role {role} with version {version} (use `kamal app stale_containers --stop` to stop)"
                    ));
                }
            }
        }
        Ok((host.name().to_string(), lines))
    })?;
    for (host, lines) in lines {
        for line in lines {
            crate::commands::puts_by_host("App", &host, &line, commander.settings.quiet);
        }
    }
    Ok(())
}

/// `prune all`: stopped containers beyond `retain_containers`, then unused images — Kamal's
/// `prune containers` and `prune images`, one host's steps after each other without
/// waiting for the other hosts in between, each audit line written alongside its step.
pub fn prune_all(commander: &Commander) -> Result<(), Failure> {
    let retain = commander.config.retain_containers();
    if retain < 1 {
        return Err(Failure::Remote {
            class: "RuntimeError",
            message: "retain must be at least 1".into(),
        });
    }
    let stamp = commander.stamp();
    let containers = prune::app_containers(&commander.config, retain as u32);
    let audit = |line: &str| auditor::record(&commander.config, &stamp, &[], line);
    let debug = RunOptions::execute().verbosity(Level::Debug);
    commander.with_lock(|| {
        commander.on(&commander.specifics.hosts, |host| {
            let pruned_containers = audit("Pruned containers");
            let (audited, pruned) = both(
                || host.execute_with(&pruned_containers, debug),
                || host.execute(&containers),
            );
            audited?;
            pruned?;
            let pruned_images = audit("Pruned images");
            let (audited, pruned) = both(
                || host.execute_with(&pruned_images, debug),
                || host.execute(&prune::dangling_images(&commander.config)),
            );
            audited?;
            pruned?;
            host.execute(&prune::tagged_images(&commander.config)).map(|_| ())
        })?;
        Ok(())
    })
}

pub fn prune_containers(commander: &Commander, retain: Option<i64>) -> Result<(), Failure> {
    let retain = retain.unwrap_or_else(|| commander.config.retain_containers());
    if retain < 1 {
        return Err(Failure::Remote {
            class: "RuntimeError",
            message: "retain must be at least 1".into(),
        });
    }
    let stamp = commander.stamp();
    let command = prune::app_containers(&commander.config, retain as u32);
    commander.with_lock(|| {
        commander.on(&commander.specifics.hosts, |host| {
            let audit = auditor::record(&commander.config, &stamp, &[], "Pruned containers");
            host.execute_with(&audit, RunOptions::execute().verbosity(Level::Debug))?;
            host.execute(&command).map(|_| ())
        })?;
        Ok(())
    })
}

pub fn prune_images(commander: &Commander) -> Result<(), Failure> {
    let stamp = commander.stamp();
    commander.with_lock(|| {
        commander.on(&commander.specifics.hosts, |host| {
            let audit = auditor::record(&commander.config, &stamp, &[], "Pruned images");
            host.execute_with(&audit, RunOptions::execute().verbosity(Level::Debug))?;
            host.execute(&prune::dangling_images(&commander.config))?;
            host.execute(&prune::tagged_images(&commander.config)).map(|_| ())
        })?;
        Ok(())
    })
}
