//! The rest of the app lifecycle end to end on the test bed, with the real `kamal` binary:
//! `setup` (Docker check, docker-setup hook, deploy and post-deploy under one lock), `app
//! exec` in a new and in the running container, `app logs`, `app stop`/`app start` (the
//! proxy forgets and relearns the app), `audit`, and `remove -y`. Another app's directory
//! is planted on each host first, so `remove` leaves the shared kamal-proxy alone, as Kamal
//! does when other apps are installed.

mod support;

use std::sync::Mutex;

use support::bed;
use support::deployment::{web_behind_proxy, Deployment};

/// One lifecycle at a time on the bed's hosts.
static TURN: Mutex<()> = Mutex::new(());

/// `docker ps` names of this deployment's containers on `host` (`-a`: stopped ones too).
fn containers(deployment: &Deployment<'_>, host: &str, all: bool) -> Vec<String> {
    let listing = deployment.bed.remote(
        host,
        &format!(
            "docker ps {} --filter label=service=app --filter label=destination={} --format '{{{{.Names}}}}'",
            if all { "-a" } else { "" },
            deployment.destination
        ),
    );
    listing.assert_success();
    listing
        .stdout
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .map(String::from)
        .collect()
}

#[test]
fn setup_exec_logs_stop_start_audit_then_remove() {
    let Some(bed) = bed() else { return };
    let _turn = TURN.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let deployment = Deployment::new(&bed, "lifecycle", &web_behind_proxy(&bed), "");
    let destination = deployment.destination.clone();
    let log = deployment.dir.join("hooks.log");
    for hook in ["docker-setup", "post-deploy"] {
        deployment.write_hook(hook, &format!("echo {hook} >> {}", log.display()));
    }

    // setup: Docker checked, then the deploy, post-deploy before the lock goes.
    let setup = deployment.kamal("v1", &["setup", "-P"]);
    setup
        .assert_success()
        .assert_says("Ensure Docker is installed...");
    assert_eq!(
        setup.stdout.matches("Finished all in").count(),
        2,
        "{}",
        setup.all()
    );
    let hooks = std::fs::read_to_string(&log).expect("hooks log");
    assert_eq!(hooks, "docker-setup\npost-deploy\n");
    let post_deploy_finished = setup.stdout.rfind("Finished all in").expect("finished");
    let released = setup
        .stdout
        .rfind("Releasing the deploy lock...")
        .expect("released");
    assert!(released < post_deploy_finished, "{}", setup.stdout);
    for host in &bed.hosts {
        assert_eq!(deployment.version_served(host), (200, "v1".to_string()), "{host}");
    }

    // exec in a new container from the image, on every host.
    let exec = deployment.kamal(
        "v1",
        &[
            "app",
            "exec",
            "--version",
            "v1",
            "-e",
            "GREETING:hi",
            "sh -c 'echo exec-$GREETING'",
        ],
    );
    exec.assert_success()
        .assert_says("Launching command with version v1 from new container...");
    assert_eq!(
        exec.stdout.matches("exec-hi").count(),
        bed.hosts.len(),
        "{}",
        exec.all()
    );

    // exec in the running container: a line on its PID 1's output, for the logs.
    let reuse = deployment.kamal(
        "v1",
        &[
            "app",
            "exec",
            "--reuse",
            "sh -c 'echo lifecycle-marker-$(hostname) > /proc/1/fd/1'",
        ],
    );
    reuse
        .assert_success()
        .assert_says("Launching command with version v1 from existing container...");
    let logs = deployment.kamal("v1", &["app", "logs", "-g", "lifecycle-marker", "-T"]);
    logs.assert_success();
    for host in &bed.hosts {
        assert!(
            logs.stdout.contains(&format!("App Host: {host}")),
            "{}",
            logs.all()
        );
    }
    assert_eq!(
        logs.stdout.matches("lifecycle-marker-").count(),
        bed.hosts.len(),
        "{}",
        logs.all()
    );
    let nothing = deployment.kamal("v1", &["app", "logs", "-g", "never-logged-anywhere"]);
    nothing.assert_success();
    assert_eq!(
        nothing.stdout.matches("Nothing found").count(),
        bed.hosts.len(),
        "{}",
        nothing.all()
    );

    // stop: the proxy forgets the app and the container stops; start brings both back.
    deployment.kamal("v1", &["app", "stop"]).assert_success();
    for host in &bed.hosts {
        assert!(
            containers(&deployment, host, false).is_empty(),
            "{host} still runs the app"
        );
        assert_ne!(deployment.version_served(host).0, 200, "{host} still serves");
    }
    deployment.kamal("v1", &["app", "start"]).assert_success();
    for host in &bed.hosts {
        assert_eq!(
            containers(&deployment, host, false),
            vec![format!("app-web-{destination}-v1")]
        );
        assert_eq!(deployment.version_served(host), (200, "v1".to_string()), "{host}");
    }

    // audit: each host's log shows what happened there.
    let audit = deployment.kamal("v1", &["audit"]);
    audit.assert_success();
    for line in [
        "Stopped app",
        "Started app version v1",
        "Executed cmd 'sh -c 'echo exec-",
    ] {
        assert_eq!(
            audit.stdout.matches(line).count(),
            bed.hosts.len(),
            "{line}: {}",
            audit.all()
        );
    }

    // remove: with another app installed on every host, the proxy stays.
    for host in &bed.hosts {
        bed.remote(host, &format!("mkdir -p .kamal/apps/guard-{destination}"))
            .assert_success();
    }
    let remove = deployment.kamal("v1", &["remove", "-y"]);
    remove
        .assert_success()
        .assert_says("Not removing the proxy, as other apps are installed");
    for host in &bed.hosts {
        assert!(
            containers(&deployment, host, true).is_empty(),
            "{host} keeps containers"
        );
        let left = bed.remote(
            host,
            &format!(
                "ls -d .kamal/apps/app-{destination} .kamal/proxy/apps-config/app-{destination} 2>/dev/null; \
                 docker ps --filter name=^kamal-proxy$ --format '{{{{.Names}}}}'"
            ),
        );
        assert_eq!(left.stdout.trim(), "kamal-proxy", "{host}: {}", left.all());
    }
    deployment
        .kamal("v1", &["lock", "status"])
        .assert_success()
        .assert_says("There is no deploy lock");
}
