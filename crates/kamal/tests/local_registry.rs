//! Local-registry mode (`registry.server: localhost:PORT`): the registry runs on the
//! deployer's machine and every host reaches it through an SSH tunnel on its own loopback
//! port, so `kamal build pull` works with no registry the hosts could reach otherwise.
//! Runs against the test bed (testbed/up.sh); the "local registry" is the distribution
//! registry from the bed's host image, started here on 127.0.0.1.

use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

fn bed_env() -> Option<Vec<(String, String)>> {
    let state = std::env::var("KAMAL_TESTBED_STATE").unwrap_or_else(|_| "/var/lib/kamal-testbed".into());
    let Ok(text) = std::fs::read_to_string(PathBuf::from(&state).join("env")) else {
        if std::env::var("KAMAL_SKIP_TESTBED").as_deref() == Ok("1") {
            eprintln!("test bed not up; skipped because KAMAL_SKIP_TESTBED=1");
            return None;
        }
        panic!("the test bed is not up: run testbed/up.sh (or set KAMAL_SKIP_TESTBED=1)");
    };
    Some(
        text.lines()
            .filter_map(|line| line.trim().strip_prefix("export ").or(Some(line.trim())))
            .filter_map(|line| line.split_once('='))
            .map(|(key, value)| {
                (
                    key.to_string(),
                    value.trim_matches(|c| c == '"' || c == '\'').to_string(),
                )
            })
            .collect(),
    )
}

fn docker(arguments: &[&str]) -> Output {
    Command::new("docker")
        .args(arguments)
        .output()
        .expect("run docker")
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Removes the registry container when the test ends, however it ends.
struct Registry(String);

impl Drop for Registry {
    fn drop(&mut self) {
        docker(&["rm", "-f", &self.0]);
    }
}

#[test]
fn build_pull_reaches_a_local_registry_through_ssh_tunnels() {
    let Some(environment) = bed_env() else { return };
    let get = |key: &str| {
        environment
            .iter()
            .find(|(name, _)| name == key)
            .map(|(_, value)| value.clone())
    };
    let hosts: Vec<String> = get("KAMAL_TESTBED_HOSTS")
        .expect("hosts")
        .split(',')
        .map(String::from)
        .collect();
    let key = get("KAMAL_TESTBED_SSH_KEY").expect("ssh key");
    let port = 5555 + (std::process::id() % 400) as u16;

    // The bed's host image carries Debian's docker-registry; run it without auth.
    let images = text(&docker(&["images", "--format", "{{.Repository}}:{{.Tag}}"]));
    let host_image = images
        .lines()
        .find(|line| line.starts_with("kamal-testbed-vm:"))
        .expect("bed host image")
        .to_string();
    let app_image = images
        .lines()
        .find(|line| line.ends_with("kamal-testbed/app:v1"))
        .expect("bed app image")
        .to_string();
    let directory = std::env::temp_dir().join(format!("kamal-local-registry-{}", std::process::id()));
    std::fs::create_dir_all(directory.join("config")).expect("project dir");
    std::fs::write(
        directory.join("registry.yml"),
        "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: /tmp/registry-data\nhttp:\n  addr: :5000\n",
    )
    .expect("registry config");
    let name = format!("kamal-test-local-registry-{port}");
    let started = docker(&[
        "run",
        "-d",
        "--name",
        &name,
        "-p",
        &format!("127.0.0.1:{port}:5000"),
        "-v",
        &format!("{}:/cfg:ro", directory.display()),
        "--entrypoint",
        "/usr/bin/docker-registry",
        &host_image,
        "serve",
        "/cfg/registry.yml",
    ]);
    assert!(started.status.success(), "{}", text(&started));
    let _registry = Registry(name);
    let deadline = Instant::now() + Duration::from_secs(30);
    let repository = format!("localhost:{port}/localapp");
    loop {
        docker(&["tag", &app_image, &format!("{repository}:v1")]);
        let pushed = docker(&["push", &format!("{repository}:v1")]);
        if pushed.status.success() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "push to the local registry: {}",
            text(&pushed)
        );
        std::thread::sleep(Duration::from_millis(200)); // poll: the registry is starting
    }

    std::fs::write(
        directory.join("config/deploy.yml"),
        format!(
            "service: app\nimage: localapp\nservers: [{}]\nregistry:\n  server: localhost:{port}\nssh:\n  keys_only: true\n  keys: [{key}]\nbuilder:\n  arch: amd64\n",
            hosts.join(", ")
        ),
    )
    .expect("deploy.yml");
    let output = Command::new(env!("CARGO_BIN_EXE_kamal"))
        .args(["build", "pull"])
        .current_dir(&directory)
        .env("VERSION", "v1")
        .env("NO_COLOR", "1")
        .output()
        .expect("run kamal");
    assert!(output.status.success(), "{}", text(&output));

    for host in &hosts {
        let inspect = Command::new("ssh")
            .args([
                "-i",
                &key,
                "-o",
                "BatchMode=yes",
                "-o",
                "StrictHostKeyChecking=accept-new",
            ])
            .args([
                "-o",
                &format!("UserKnownHostsFile={}", directory.join("known_hosts").display()),
            ])
            .arg(format!("root@{host}"))
            .arg(format!(
                "docker image inspect -f '{{{{.Config.Labels.service}}}}' {repository}:v1"
            ))
            .output()
            .expect("ssh");
        assert_eq!(
            String::from_utf8_lossy(&inspect.stdout).trim(),
            "app",
            "{host}: {}",
            text(&inspect)
        );
        // The tunnel is gone once the pull is done.
        let closed = Command::new("ssh")
            .args([
                "-i",
                &key,
                "-o",
                "BatchMode=yes",
                "-o",
                "StrictHostKeyChecking=accept-new",
            ])
            .args([
                "-o",
                &format!("UserKnownHostsFile={}", directory.join("known_hosts").display()),
            ])
            .arg(format!("root@{host}"))
            .arg(format!("docker pull {repository}:v1"))
            .output()
            .expect("ssh");
        assert!(
            !closed.status.success(),
            "{host}: the tunnel should be closed after the pull"
        );
    }
    let _ = std::fs::remove_dir_all(&directory);
}
