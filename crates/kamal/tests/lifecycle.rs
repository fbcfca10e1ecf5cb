//! The rest of the app lifecycle end to end on the test bed, with the real `kamal` binary:
//! `setup` (Docker check, docker-setup hook, deploy and post-deploy under one lock), `app
//! exec` in a new and in the running container, `app logs`, `app stop`/`app start` (the
//! proxy forgets and relearns the app), `audit`, and `remove -y`. Another app's directory
//! is planted on each host first, so `remove` leaves the shared kamal-proxy alone, as Kamal
//! does when other apps are installed.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Mutex;
use std::time::Duration;

use support::{bed, finish, Bed, Finished};

/// One lifecycle at a time on the bed's hosts.
static TURN: Mutex<()> = Mutex::new(());

struct Deployment<'a> {
    bed: &'a Bed,
    dir: PathBuf,
    destination: String,
    host_name: String,
}

impl<'a> Deployment<'a> {
    fn new(bed: &'a Bed, name: &str, servers: &str, extra: &str) -> Deployment<'a> {
        let destination = format!("{name}{}", std::process::id());
        let dir = std::env::temp_dir().join(format!("kamal-lifecycle-test-{destination}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("config")).expect("config dir");
        std::fs::create_dir_all(dir.join(".kamal/hooks")).expect("hooks dir");
        std::fs::copy(&bed.known_hosts, dir.join("known_hosts")).expect("known_hosts");
        std::fs::write(
            dir.join("ssh_config"),
            format!(
                "Host *\n    UserKnownHostsFile {}\n",
                dir.join("known_hosts").display()
            ),
        )
        .expect("ssh_config");
        let host_name = format!("{destination}.test");
        let deployment = Deployment {
            bed,
            dir,
            destination,
            host_name,
        };
        deployment.configure(servers, extra);
        std::fs::write(
            deployment
                .dir
                .join(format!("config/deploy.{}.yml", deployment.destination)),
            "readiness_delay: 0\n",
        )
        .expect("destination file");
        std::fs::write(
            deployment
                .dir
                .join(format!(".kamal/secrets.{}", deployment.destination)),
            format!("KAMAL_REGISTRY_PASSWORD={}\n", bed.registry_password),
        )
        .expect("secrets");
        deployment
    }

    /// Writes `config/deploy.yml`: `servers` as given, the proxy on this test's host name.
    fn configure(&self, servers: &str, extra: &str) {
        let bed = self.bed;
        let config = format!(
            "service: app\nimage: kamal-testbed/app\nservers:\n{servers}\n\
             proxy:\n  host: {host}\n  app_port: 80\n  healthcheck:\n    path: /up\n    interval: 1\n\
             \x20 run:\n    registry: {registry}\n    repository: basecamp/kamal-proxy\n    version: v0.9.2\n\
             registry:\n  server: {registry}\n  username: {user}\n  password: [KAMAL_REGISTRY_PASSWORD]\n\
             ssh:\n  keys_only: true\n  keys: [\"{key}\"]\n  config: [\"{ssh_config}\"]\n\
             builder:\n  arch: amd64\n{extra}",
            host = self.host_name,
            registry = bed.registry,
            user = bed.registry_user,
            key = bed.key.display(),
            ssh_config = self.dir.join("ssh_config").display(),
        );
        std::fs::write(self.dir.join("config/deploy.yml"), config).expect("deploy.yml");
    }

    fn write_hook(&self, name: &str, script: &str) {
        use std::os::unix::fs::PermissionsExt;
        let path = self.dir.join(format!(".kamal/hooks/{name}"));
        std::fs::write(&path, format!("#!/bin/sh\n{script}\n")).expect("hook");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }

    fn kamal(&self, version: &str, args: &[&str]) -> Finished {
        let mut command = Command::new(env!("CARGO_BIN_EXE_kamal"));
        command
            .args(args)
            .args(["-d", &self.destination])
            .current_dir(&self.dir)
            .env("VERSION", version);
        for (name, _) in std::env::vars() {
            if name.starts_with("KAMAL_") {
                command.env_remove(name);
            }
        }
        finish(command, &format!("kamal {}", args.join(" ")))
    }

    /// What `GET /version` answers on `host` through its kamal-proxy.
    fn version_served(&self, host: &str) -> (u16, String) {
        get(host, &self.host_name, "/version")
    }
}

impl Drop for Deployment<'_> {
    fn drop(&mut self) {
        let cleanup = format!(
            "docker exec kamal-proxy kamal-proxy remove app-web-{destination} >/dev/null 2>&1; \
             docker rm -f $(docker ps -aq --filter label=service=app --filter label=destination={destination}) >/dev/null 2>&1; \
             rm -rf .kamal/apps/app-{destination} .kamal/proxy/apps-config/app-{destination} .kamal/lock-app-{destination} .kamal/app-{destination}-audit.log .kamal/apps/guard-{destination}; true",
            destination = self.destination
        );
        for host in &self.bed.hosts {
            let _ = self.bed.remote(host, &cleanup);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// One HTTP/1.0 request to `host:80` with a Host header: status and body.
fn get(host: &str, host_header: &str, path: &str) -> (u16, String) {
    let attempt = || -> std::io::Result<(u16, String)> {
        let mut stream = TcpStream::connect((host, 80))?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        write!(stream, "GET {path} HTTP/1.0\r\nHost: {host_header}\r\n\r\n")?;
        let mut response = String::new();
        stream.read_to_string(&mut response)?;
        let status = response
            .split_whitespace()
            .nth(1)
            .and_then(|code| code.parse().ok())
            .unwrap_or(0);
        let body = response
            .split_once("\r\n\r\n")
            .map(|(_, body)| body.trim().to_string())
            .unwrap_or_default();
        Ok((status, body))
    };
    attempt().unwrap_or((0, String::new()))
}

fn web_behind_proxy(bed: &Bed) -> String {
    format!("  web:\n    hosts: [{}]", bed.hosts.join(", "))
}

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
