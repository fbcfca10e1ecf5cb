//! The real `kamal` binary against real hosts: the test bed's vms (sshd + dockerd in
//! containers) and its registry, see `testbed/README.md`. Each test works in its own
//! temporary project with a config generated from the bed's env file and a service name of
//! its own, so tests run in parallel without sharing a lock or an audit log, and each
//! removes what it left on the vms. Without a bed the tests fail with a hint, or are
//! skipped when `KAMAL_SKIP_TESTBED=1`. Only the bed's own addresses are contacted: its
//! vms, its registry, and one unused address of its subnet for the "host down" cases.

mod support;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use support::{bed, finish, wait, Bed, Finished};

/// A project directory: `config/deploy.yml` for the bed, `.kamal/secrets`, an ssh config
/// that pins a copy of the bed's known_hosts (so nothing is written to `~/.ssh`).
struct Project<'a> {
    bed: &'a Bed,
    dir: PathBuf,
    service: String,
    version: String,
    /// Hosts the test's service may have left files (or images) on.
    hosts: Vec<String>,
    /// The test pushes its image to the bed's registry (deleted again at the end).
    pushes: bool,
}

const SECRET_FOR_HOOKS: &str = "hook-secret-0f5e1c";

impl<'a> Project<'a> {
    fn new(bed: &'a Bed, name: &str) -> Project<'a> {
        Project::with_hosts(bed, name, &bed.hosts)
    }

    fn with_hosts(bed: &'a Bed, name: &str, hosts: &[String]) -> Project<'a> {
        let service = format!("krs-{name}-{}", std::process::id());
        let dir = std::env::temp_dir().join(format!("kamal-hosts-test-{service}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("config")).expect("config dir");
        std::fs::create_dir_all(dir.join(".kamal/hooks")).expect(".kamal dir");
        std::fs::copy(&bed.known_hosts, dir.join("known_hosts")).expect("known_hosts");
        std::fs::write(
            dir.join("ssh_config"),
            format!(
                "Host *\n    UserKnownHostsFile {}\n",
                dir.join("known_hosts").display()
            ),
        )
        .expect("ssh_config");
        let project = Project {
            bed,
            dir,
            service,
            version: format!("v{}", std::process::id()),
            hosts: bed.hosts.clone(),
            pushes: false,
        };
        project.write_config("config/deploy.yml", hosts, &bed.key);
        project.write_secrets(&bed.registry_password);
        project
    }

    fn path(&self, relative: &str) -> PathBuf {
        self.dir.join(relative)
    }

    fn write_config(&self, file: &str, hosts: &[String], key: &Path) {
        let bed = self.bed;
        let hosts: Vec<String> = hosts.iter().map(|host| format!("\"{host}\"")).collect();
        let config = format!(
            "service: {service}\n\
             image: kamal-rs-test/{service}\n\
             servers:\n  web:\n    hosts: [{hosts}]\n    proxy: false\n\
             registry:\n  server: {registry}\n  username: {user}\n  password: [KAMAL_REGISTRY_PASSWORD]\n\
             ssh:\n  user: root\n  keys_only: true\n  keys: [\"{key}\"]\n  config: [\"{ssh_config}\"]\n\
             builder:\n  arch: amd64\n",
            service = self.service,
            hosts = hosts.join(", "),
            registry = bed.registry,
            user = bed.registry_user,
            key = key.display(),
            ssh_config = self.path("ssh_config").display(),
        );
        std::fs::write(self.path(file), config).expect("deploy.yml");
    }

    fn write_secrets(&self, registry_password: &str) {
        std::fs::write(
            self.path(".kamal/secrets"),
            format!("KAMAL_REGISTRY_PASSWORD={registry_password}\nHOOK_SECRET={SECRET_FOR_HOOKS}\n"),
        )
        .expect("secrets");
    }

    fn write_hook(&self, name: &str, script: &str) {
        use std::os::unix::fs::PermissionsExt;
        let path = self.path(&format!(".kamal/hooks/{name}"));
        std::fs::write(&path, format!("#!/bin/sh\n{script}\n")).expect("hook");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_kamal"));
        command
            .args(args)
            .current_dir(&self.dir)
            .env("VERSION", &self.version);
        // Nothing of an outer kamal run (a hook's KAMAL_LOCK=true) leaks into the test.
        for (name, _) in std::env::vars() {
            if name.starts_with("KAMAL_") {
                command.env_remove(name);
            }
        }
        command
    }

    fn kamal(&self, args: &[&str]) -> Finished {
        finish(self.command(args), &format!("kamal {}", args.join(" ")))
    }

    fn audit_log(&self, host: &str) -> String {
        let path = format!(".kamal/{}-audit.log", self.service);
        self.bed
            .remote(host, &format!("cat {path} 2>/dev/null || true"))
            .assert_success()
            .stdout
            .clone()
    }

    fn lock_directory_exists(&self, host: &str) -> bool {
        let path = format!(".kamal/lock-{}", self.service);
        self.bed
            .remote(host, &format!("test -d {path} && echo yes || echo no"))
            .assert_success()
            .stdout
            .trim()
            == "yes"
    }

    /// `kamal lock status` says there is no lock.
    fn assert_unlocked(&self) {
        self.kamal(&["lock", "status"])
            .assert_success()
            .assert_says("There is no deploy lock");
    }

    fn image(&self) -> String {
        format!(
            "{}/kamal-rs-test/{}:{}",
            self.bed.registry, self.service, self.version
        )
    }
}

impl Drop for Project<'_> {
    fn drop(&mut self) {
        // What the service left on the vms: its audit log, its lock, its image.
        let cleanup = format!(
            "rm -rf .kamal/{service}-audit.log .kamal/lock-{service}; \
             docker image rm --force {image} >/dev/null 2>&1; true",
            service = self.service,
            image = self.image(),
        );
        for host in &self.hosts {
            let _ = self.bed.remote(host, &cleanup);
        }
        // `build push` tags the local image `latest` too.
        let latest = format!("{}/kamal-rs-test/{}:latest", self.bed.registry, self.service);
        let _ = Command::new("docker")
            .args(["image", "rm", "--force", &self.image(), &latest])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        if self.pushes {
            delete_from_registry(
                self.bed,
                &format!("kamal-rs-test/{}", self.service),
                &self.version,
            );
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Deletes `repository:tag`'s manifest from the bed's registry (it has deletes enabled), so
/// test runs do not pile up images there. The login goes to curl on stdin, not argv.
fn delete_from_registry(bed: &Bed, repository: &str, tag: &str) {
    let curl = |arguments: &[&str]| -> Option<String> {
        let mut child = Command::new("curl")
            .args(["--silent", "--fail", "--config", "-"])
            .args(arguments)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        let login = format!("user = \"{}:{}\"\n", bed.registry_user, bed.registry_password);
        std::io::Write::write_all(&mut child.stdin.take()?, login.as_bytes()).ok()?;
        let output = child.wait_with_output().ok()?;
        output
            .status
            .success()
            .then(|| String::from_utf8_lossy(&output.stdout).into_owned())
    };
    let base = format!("http://{}/v2/{repository}/manifests", bed.registry);
    let Some(headers) = curl(&[
        "--head",
        "--header",
        "Accept: application/vnd.docker.distribution.manifest.v2+json",
        "--header",
        "Accept: application/vnd.oci.image.manifest.v1+json",
        &format!("{base}/{tag}"),
    ]) else {
        return;
    };
    let digest = headers.lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.eq_ignore_ascii_case("docker-content-digest")
            .then(|| value.trim().to_string())
    });
    if let Some(digest) = digest {
        let _ = curl(&["--request", "DELETE", &format!("{base}/{digest}")]);
    }
}

/// `KEY=VALUE` lines (as `env` prints them) as a map.
fn parse_env(text: &str) -> HashMap<String, String> {
    text.lines()
        .filter_map(|line| line.split_once('='))
        .map(|(key, value)| (key.to_string(), value.to_string()))
        .collect()
}

/// `2026-11-26T10:04:23Z`.
fn is_utc_iso8601(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.len() == 20
        && bytes.iter().enumerate().all(|(index, &byte)| match index {
            4 | 7 => byte == b'-',
            10 => byte == b'T',
            13 | 16 => byte == b':',
            19 => byte == b'Z',
            _ => byte.is_ascii_digit(),
        })
}

#[test]
fn lock_acquire_blocks_a_second_until_released() {
    let Some(bed) = bed() else { return };
    let project = Project::new(&bed, "lock");
    let primary = &bed.hosts[0];

    project
        .kamal(&["lock", "acquire", "-m", "first holder"])
        .assert_success();
    assert!(project.lock_directory_exists(primary));
    // The lock lives on the primary host only.
    for other in &bed.hosts[1..] {
        assert!(!project.lock_directory_exists(other), "lock on {other}");
    }

    let second = project.kamal(&["lock", "acquire", "-m", "second holder"]);
    let message = second.assert_error("Kamal::Cli::LockError");
    assert!(
        message.starts_with("Deploy lock found. Run 'kamal lock help' for more information"),
        "{message}"
    );
    for expected in [
        "Deploy lock already in place!",
        "Locked by: ",
        &format!("Version: {}", project.version),
        "Message: first holder",
    ] {
        second.assert_says(expected);
    }
    second.assert_not_says("Acquired the deploy lock");

    let status = project.kamal(&["lock", "status"]);
    status.assert_success();
    status.assert_says("Message: first holder");

    // Regression: -q silences Thor's `say` lines but keeps what Kamal `puts` (the details).
    let quiet = project.kamal(&["lock", "acquire", "-q", "-m", "quiet holder"]);
    quiet.assert_error("Kamal::Cli::LockError");
    quiet.assert_says("Message: first holder");
    quiet.assert_not_says("Deploy lock already in place!");

    let release = project.kamal(&["lock", "release"]);
    release.assert_success();
    release.assert_says("Released the deploy lock");
    assert!(!project.lock_directory_exists(primary));

    let again = project.kamal(&["lock", "release"]);
    again.assert_success();
    again.assert_says("There is no deploy lock");
    let quiet = project.kamal(&["lock", "release", "-q"]);
    quiet.assert_success();
    assert_eq!(quiet.stdout, "", "-q: no `say` line");
    project.assert_unlocked();
}

#[test]
fn two_concurrent_lock_acquires_one_wins() {
    let Some(bed) = bed() else { return };
    let project = Project::new(&bed, "lockrace");
    let spawn = |message: &str| {
        project
            .command(&["lock", "acquire", "-m", message])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn kamal")
    };
    let (first, second) = (spawn("racer one"), spawn("racer two"));
    let results = [wait(first, "racer one"), wait(second, "racer two")];
    let winners = results.iter().filter(|result| result.code == Some(0)).count();
    assert_eq!(
        winners,
        1,
        "exactly one acquires:\n{}\n---\n{}",
        results[0].all(),
        results[1].all()
    );
    let loser = results
        .iter()
        .find(|result| result.code != Some(0))
        .expect("a loser");
    loser.assert_error("Kamal::Cli::LockError");
    project.kamal(&["lock", "release"]).assert_success();
}

#[test]
fn hooks_receive_kamal_environment_and_secrets() {
    let Some(bed) = bed() else { return };
    let project = Project::new(&bed, "hooks");
    project.write_hook("pre-connect", "env > hook-env.txt");

    let run = project.kamal(&["server", "exec", "true", "-r", "web"]);
    run.assert_success();
    assert!(
        run.stdout
            .contains("Running /usr/bin/env .kamal/hooks/pre-connect on localhost"),
        "{}",
        run.all()
    );
    let text = std::fs::read_to_string(project.path("hook-env.txt")).expect("the hook ran");
    let environment = parse_env(&text);
    let get = |key: &str| {
        environment
            .get(key)
            .map(String::as_str)
            .unwrap_or_else(|| panic!("{key} missing from the hook's environment:\n{text}"))
    };
    assert_eq!(get("KAMAL_COMMAND"), "server");
    assert_eq!(get("KAMAL_SUBCOMMAND"), "exec");
    assert_eq!(get("KAMAL_HOSTS"), bed.hosts.join(","));
    assert_eq!(get("KAMAL_ROLES"), "web");
    assert_eq!(get("KAMAL_LOCK"), "false");
    assert_eq!(get("KAMAL_VERSION"), project.version);
    assert_eq!(get("KAMAL_SERVICE"), project.service);
    assert_eq!(
        get("KAMAL_SERVICE_VERSION"),
        format!("{}@{}", project.service, project.version)
    );
    assert!(!get("KAMAL_PERFORMER").is_empty());
    assert!(
        is_utc_iso8601(get("KAMAL_RECORDED_AT")),
        "{}",
        get("KAMAL_RECORDED_AT")
    );
    assert!(!environment.contains_key("KAMAL_DESTINATION"), "{text}");
    // pre-connect is one of the hooks that get the secrets.
    assert_eq!(get("KAMAL_REGISTRY_PASSWORD"), bed.registry_password);
    assert_eq!(get("HOOK_SECRET"), SECRET_FOR_HOOKS);
    // The local environment is inherited too.
    assert!(environment.contains_key("PATH"), "{text}");

    // -H: no hook.
    std::fs::remove_file(project.path("hook-env.txt")).expect("remove");
    project.kamal(&["server", "exec", "true", "-H"]).assert_success();
    assert!(!project.path("hook-env.txt").exists(), "-H ran the hook");

    // A failing hook stops the command before anything runs on the hosts.
    project.write_hook("pre-connect", "echo hook-says-no >&2; exit 3");
    let failed = project.kamal(&["server", "exec", "echo after-failing-hook"]);
    let message = failed.assert_error("Kamal::Cli::HookError");
    assert!(message.starts_with("Hook `pre-connect` failed:\n"), "{message}");
    assert!(message.contains("hook-says-no"), "{message}");
    failed.assert_not_says("Running 'echo");
    for host in &bed.hosts {
        let audit = project.audit_log(host);
        assert!(!audit.contains("after-failing-hook"), "{host}: {audit}");
    }
}

#[test]
fn hooks_output_sets_how_loud_a_hook_is_unless_the_command_line_did() {
    let Some(bed) = bed() else { return };
    let project = Project::new(&bed, "hooksout");
    project.write_hook("pre-connect", "echo hook-says-hello; echo hook-line-two");
    let running = "Running /usr/bin/env .kamal/hooks/pre-connect on localhost";
    let config = std::fs::read_to_string(project.path("config/deploy.yml")).expect("deploy.yml");
    let with = |hooks_output: &str| {
        std::fs::write(
            project.path("config/deploy.yml"),
            format!("{config}{hooks_output}"),
        )
        .expect("deploy.yml");
    };

    // Default: the Running/Finished lines, not the hook's output (DEBUG).
    let plain = project.kamal(&["server", "exec", "true"]);
    plain
        .assert_success()
        .assert_says(running)
        .assert_not_says("hook-says-hello");

    with("hooks_output:\n  pre-connect: verbose\n");
    let verbose = project.kamal(&["server", "exec", "true"]);
    verbose
        .assert_success()
        .assert_says(running)
        .assert_says("hook-says-hello");
    // Line by line, each with its own prefix, as SSHKit's local backend logs them; no empty
    // line for the silent stderr.
    for text in ["hook-says-hello", "hook-line-two"] {
        let line = verbose
            .stdout
            .lines()
            .find(|line| line.contains(text))
            .unwrap_or_else(|| panic!("{text} missing:\n{}", verbose.all()));
        assert!(
            line.starts_with(" DEBUG [") && line.ends_with(&format!("] \t{text}")),
            "{line:?}"
        );
    }
    assert!(
        !verbose.stdout.lines().any(|line| line.ends_with("] \t")),
        "an empty output line:\n{}",
        verbose.all()
    );
    // Only the hook is louder: the remote command's own Command: line stays at DEBUG.
    verbose.assert_not_says("Command: true");

    with("hooks_output: quiet\n");
    let quiet = project.kamal(&["server", "exec", "true"]);
    quiet.assert_success().assert_not_says(running);
    // The remote command's lines are still there.
    quiet
        .assert_says("Finished in")
        .assert_says(&format!(" on {}", bed.hosts[0]));
    // -v wins over the configuration.
    let forced = project.kamal(&["server", "exec", "true", "-v"]);
    forced
        .assert_success()
        .assert_says(running)
        .assert_says("hook-says-hello");
}

#[test]
fn server_exec_prints_each_hosts_output_and_audits() {
    let Some(bed) = bed() else { return };
    let project = Project::new(&bed, "exec");

    let run = project.kamal(&["server", "exec", "hostname -i"]);
    run.assert_success();
    assert!(
        run.stdout
            .contains(&format!("Running 'hostname -i' on {}...", bed.hosts.join(", "))),
        "{}",
        run.all()
    );
    for host in &bed.hosts {
        // `hostname -i` on a vm is its own address: each host's output under its header.
        assert!(
            run.stdout.contains(&format!("App Host: {host}\n{host}\n")),
            "{host}; output:\n{}",
            run.all()
        );
        let audit = project.audit_log(host);
        assert!(
            audit.contains(&format!("Executed cmd 'hostname -i' on {host}")),
            "{host}: {audit}"
        );
    }

    // -q keeps the output, without headers or log lines.
    let quiet = project.kamal(&["server", "exec", "-q", "echo quiet-output"]);
    quiet.assert_success();
    quiet.assert_not_says("App Host:");
    quiet.assert_not_says("INFO");
    assert_eq!(
        quiet
            .stdout
            .lines()
            .filter(|line| *line == "quiet-output")
            .count(),
        bed.hosts.len(),
        "each host's output; output:\n{}",
        quiet.all()
    );
}

#[test]
fn build_push_then_pull_on_every_host() {
    let Some(bed) = bed() else { return };
    let mut project = Project::new(&bed, "build");
    project.pushes = true;
    std::fs::write(project.path("hello.txt"), "hello from kamal-rs\n").expect("file");
    std::fs::write(
        project.path("Dockerfile"),
        "FROM scratch\nCOPY hello.txt /hello.txt\n",
    )
    .expect("Dockerfile");

    let push = project.kamal(&["build", "push"]);
    push.assert_success();
    let pull = project.kamal(&["build", "pull"]);
    pull.assert_success();
    for host in &bed.hosts {
        assert!(
            pull.stdout
                .contains(&format!("Running docker pull {} on {host}", project.image())),
            "{host}; output:\n{}",
            pull.all()
        );
        let label = bed.remote(
            host,
            &format!(
                "docker image inspect -f '{{{{ index .Config.Labels \"service\" }}}}' {}",
                project.image()
            ),
        );
        label.assert_success();
        assert_eq!(label.stdout.trim(), project.service, "{host}");
        let audit = project.audit_log(host);
        assert!(
            audit.contains(&format!("Pulled image with version {}", project.version)),
            "{host}: {audit}"
        );
    }
}

#[test]
fn a_down_host_fails_alone_and_the_other_completes() {
    let Some(bed) = bed() else { return };
    let down = bed.down_host();
    let up = bed.hosts[0].clone();
    let project = Project::with_hosts(&bed, "down", &[up.clone(), down.clone()]);

    let run = project.kamal(&["server", "exec", "echo still-ran"]);
    let message = run.assert_error("Errno::EHOSTUNREACH");
    assert_eq!(
        message.matches("Exception while executing on host").count(),
        1,
        "{message}"
    );
    assert!(
        message.contains(&format!("on host {down}: ")) && message.contains("No route to host"),
        "{message}"
    );
    assert!(!message.contains(&up), "{message}");
    // Regression: the host that worked printed its output (it used to be dropped when
    // another host failed).
    run.assert_says(&format!("App Host: {up}\nstill-ran\n"));
    let audit = project.audit_log(&up);
    assert!(
        audit.contains(&format!("Executed cmd 'echo still-ran' on {up}")),
        "{audit}"
    );
}

#[test]
fn dry_run_prints_and_changes_nothing() {
    let Some(bed) = bed() else { return };
    let project = Project::new(&bed, "dryrun");
    let primary = &bed.hosts[0];

    let exec = project.kamal(&["server", "exec", "--dry-run", "touch dry-run-was-here"]);
    exec.assert_success();
    for host in &bed.hosts {
        assert!(
            exec.stdout
                .contains(&format!("Would run touch dry-run-was-here on {host}")),
            "{host}; output:\n{}",
            exec.all()
        );
        assert_eq!(project.audit_log(host), "", "{host}");
        let touched = bed.remote(host, "test -e dry-run-was-here && echo yes || echo no");
        assert_eq!(touched.assert_success().stdout.trim(), "no", "{host}");
    }

    let lock = project.kamal(&["lock", "acquire", "--dry-run", "-m", "dry"]);
    lock.assert_success();
    lock.assert_says(&format!(
        "Would run /usr/bin/env mkdir .kamal/lock-{}",
        project.service
    ));
    assert!(!project.lock_directory_exists(primary));
    project.assert_unlocked();

    let login = project.kamal(&["registry", "login", "--dry-run"]);
    login.assert_success();
    login.assert_says("-u [REDACTED]");
    for host in &bed.hosts {
        assert!(
            login.stdout.contains(&format!(
                "Would run docker login {} -u [REDACTED] --password-stdin on {host}",
                bed.registry
            )),
            "{host}; output:\n{}",
            login.all()
        );
    }
    for run in [&exec, &lock, &login] {
        assert!(!run.all().contains(&bed.registry_password), "{}", run.all());
        assert!(!run.all().contains(SECRET_FOR_HOOKS), "{}", run.all());
    }
}

#[test]
fn bad_input_unreachable_host() {
    let Some(bed) = bed() else { return };
    let down = bed.down_host();
    let project = Project::with_hosts(&bed, "unreachable", &[bed.hosts[0].clone(), down.clone()]);

    let run = project.kamal(&["server", "bootstrap"]);
    let message = run.assert_error("Errno::EHOSTUNREACH");
    assert!(
        message.contains(&format!("on host {down}: ")) && message.contains("No route to host"),
        "{message}"
    );
    project.assert_unlocked();
}

#[test]
fn bad_input_wrong_key() {
    let Some(bed) = bed() else { return };
    let project = Project::new(&bed, "wrongkey");
    let key = project.path("not-authorized");
    let keygen = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "kamal-hosts-test", "-f"])
        .arg(&key)
        .status()
        .expect("ssh-keygen");
    assert!(keygen.success());
    project.write_config("config/wrong-key.yml", &bed.hosts, &key);

    let run = project.kamal(&["server", "bootstrap", "-c", "config/wrong-key.yml"]);
    let message = run.assert_error("Net::SSH::AuthenticationFailed");
    for host in &bed.hosts {
        assert!(
            message.contains(&format!("Authentication failed for user root@{host}")),
            "{host}: {message}"
        );
    }
    assert!(message.contains("Permission denied (publickey)"), "{message}");
    project.assert_unlocked();
}

#[test]
fn bad_input_registry_password() {
    let Some(bed) = bed() else { return };
    let project = Project::new(&bed, "password");
    let wrong = "wrong-password-3c9a71";
    project.write_secrets(wrong);

    let login = project.kamal(&["registry", "login", "-L"]);
    let message = login.assert_error("SSHKit::Command::Failed");
    for host in &bed.hosts {
        assert!(
            message.contains(&format!(
                "Exception while executing on host {host}: docker exit status: 1"
            )),
            "{host}: {message}"
        );
    }
    assert!(message.contains("401 Unauthorized"), "{message}");
    assert!(!login.all().contains(wrong), "{}", login.all());

    // A failure under the lock (a `kamal` inside the docker-setup hook of `server bootstrap`,
    // which inherits the lock) releases it.
    project.write_hook(
        "docker-setup",
        &format!(
            "test \"$KAMAL_LOCK\" = true || exit 9\nexec {} registry login -L",
            env!("CARGO_BIN_EXE_kamal")
        ),
    );
    let bootstrap = project.kamal(&["server", "bootstrap"]);
    let message = bootstrap.assert_error("Kamal::Cli::HookError");
    assert!(message.starts_with("Hook `docker-setup` failed:\n"), "{message}");
    assert!(message.contains("401 Unauthorized"), "{message}");
    bootstrap
        .assert_says("Acquiring the deploy lock...")
        .assert_says("Releasing the deploy lock...");
    assert!(!bootstrap.all().contains(wrong), "{}", bootstrap.all());
    // Regression: `.kamal` is made once, by the lock (Kamal's bootstrap has no second pass).
    assert_eq!(
        bootstrap
            .stdout
            .matches("Running /usr/bin/env mkdir -p .kamal on")
            .count(),
        bed.hosts.len(),
        "{}",
        bootstrap.all()
    );
    project.assert_unlocked();
    assert!(!project.lock_directory_exists(&bed.hosts[0]));
}
