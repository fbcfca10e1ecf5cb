//! What the end-to-end tests share: the test bed's facts (read from its env file; a clear
//! failure, or a skip with `KAMAL_SKIP_TESTBED=1`, when it is not up) and processes run to
//! the end within a deadline, their output with colours stripped.
#![allow(dead_code, reason = "each test binary uses a different part of this module")]

pub mod deployment;

use std::collections::HashMap;
use std::io::Read;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// Every `kamal`, `ssh` or `curl` run finishes well within this, or the test fails.
pub const DEADLINE: Duration = Duration::from_secs(180);

pub struct Bed {
    pub hosts: Vec<String>,
    pub key: PathBuf,
    pub ssh_config: PathBuf,
    pub known_hosts: PathBuf,
    pub registry: String,
    pub registry_user: String,
    pub registry_password: String,
    /// The example app's repository in the bed's registry (`kamal-testbed/app`).
    pub app_image: String,
}

/// The bed, or `None` when the caller asked to skip it.
pub fn bed() -> Option<Bed> {
    let state = std::env::var_os("KAMAL_TESTBED_STATE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/lib/kamal-testbed"));
    let env_file = state.join("env");
    let Ok(text) = std::fs::read_to_string(&env_file) else {
        if std::env::var("KAMAL_SKIP_TESTBED").as_deref() == Ok("1") {
            eprintln!("KAMAL_SKIP_TESTBED=1: skipping the test-bed test");
            return None;
        }
        panic!(
            "the test bed is not up ({} is missing): run `testbed/up.sh` first, \
             or set KAMAL_SKIP_TESTBED=1 to skip the tests that need it",
            env_file.display()
        );
    };
    let values: HashMap<&str, &str> = text
        .lines()
        .filter_map(|line| line.strip_prefix("export "))
        .filter_map(|line| line.split_once('='))
        .collect();
    let value = |key: &str| {
        values
            .get(key)
            .map(|value| value.to_string())
            .unwrap_or_else(|| panic!("{key} is missing from {}", env_file.display()))
    };
    Some(Bed {
        hosts: value("KAMAL_TESTBED_HOSTS")
            .split(',')
            .map(str::to_string)
            .collect(),
        key: PathBuf::from(value("KAMAL_TESTBED_SSH_KEY")),
        ssh_config: PathBuf::from(value("KAMAL_TESTBED_SSH_CONFIG")),
        known_hosts: PathBuf::from(value("KAMAL_TESTBED_KNOWN_HOSTS")),
        registry: value("KAMAL_TESTBED_REGISTRY"),
        registry_user: value("KAMAL_TESTBED_REGISTRY_USER"),
        registry_password: value("KAMAL_TESTBED_REGISTRY_PASSWORD"),
        app_image: value("KAMAL_TESTBED_APP_IMAGE"),
    })
}

impl Bed {
    /// `10.213.0.19`: an address of the bed's subnet with no vm behind it.
    pub fn down_host(&self) -> String {
        let prefix = self.hosts[0].rsplit_once('.').expect("IPv4 hosts").0;
        let down = format!("{prefix}.19");
        assert!(!self.hosts.contains(&down), "{down} is a vm of the bed");
        down
    }

    /// Runs `command` on `host` over the bed's own ssh config (not through kamal).
    pub fn remote(&self, host: &str, command: &str) -> Finished {
        let mut ssh = Command::new("ssh");
        ssh.arg("-F").arg(&self.ssh_config).args([host, command]);
        finish(ssh, &format!("ssh {host} {command}"))
    }

    /// `remote` that must succeed; its trimmed stdout.
    pub fn output(&self, host: &str, command: &str) -> String {
        self.remote(host, command)
            .assert_success()
            .stdout
            .trim()
            .to_string()
    }
}

/// What a finished process left: exit code, and its output with colours stripped.
pub struct Finished {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Finished {
    pub fn all(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }

    pub fn assert_says(&self, text: &str) -> &Finished {
        assert!(
            self.stdout.contains(text),
            "{text:?} not on stdout; output:\n{}",
            self.all()
        );
        self
    }

    pub fn assert_not_says(&self, text: &str) -> &Finished {
        assert!(
            !self.stdout.contains(text),
            "{text:?} on stdout; output:\n{}",
            self.all()
        );
        self
    }

    pub fn assert_success(&self) -> &Finished {
        assert_eq!(self.code, Some(0), "exit code; output:\n{}", self.all());
        self
    }

    /// Exit 1, the first `ERROR (...)` line on stdout of `class`; returns its message with
    /// the lines after it (a multi-line message, which may quote a nested run's output).
    pub fn assert_error(&self, class: &str) -> String {
        assert_eq!(self.code, Some(1), "exit code; output:\n{}", self.all());
        let start = self
            .stdout
            .find("  ERROR (")
            .unwrap_or_else(|| panic!("no ERROR line; output:\n{}", self.all()));
        let marker = format!("  ERROR ({class}): ");
        let message = self.stdout[start..]
            .strip_prefix(&marker)
            .unwrap_or_else(|| panic!("the ERROR line is not {class}; output:\n{}", self.all()));
        assert!(
            !self.all().contains("panicked") && !self.all().contains("RUST_BACKTRACE"),
            "{}",
            self.all()
        );
        message.to_string()
    }
}

impl Finished {
    /// Exit 1 with an `ERROR (<class>): …` line anywhere on stdout (other ERROR lines, such
    /// as a failed host's, may come first); returns what follows its marker.
    pub fn assert_error_line(&self, class: &str) -> String {
        assert_eq!(self.code, Some(1), "exit code; output:\n{}", self.all());
        let marker = format!("  ERROR ({class}): ");
        let start = self
            .stdout
            .find(&marker)
            .unwrap_or_else(|| panic!("no ERROR ({class}) line; output:\n{}", self.all()));
        assert!(!self.all().contains("panicked"), "{}", self.all());
        self.stdout[start + marker.len()..].to_string()
    }
}

/// Runs `command` to the end within [`DEADLINE`], killing it (and failing) past that.
pub fn finish(mut command: Command, what: &str) -> Finished {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = command.spawn().unwrap_or_else(|error| panic!("{what}: {error}"));
    wait(child, what)
}

pub fn wait(mut child: Child, what: &str) -> Finished {
    let pid = child.id();
    let (sender, receiver) = mpsc::channel();
    let mut stdout = child.stdout.take().expect("piped stdout");
    let mut stderr = child.stderr.take().expect("piped stderr");
    std::thread::spawn(move || {
        let reader = std::thread::spawn(move || {
            let mut text = Vec::new();
            let _ = stderr.read_to_end(&mut text);
            text
        });
        let mut out = Vec::new();
        let _ = stdout.read_to_end(&mut out);
        let err = reader.join().unwrap_or_default();
        let status = child.wait();
        let _ = sender.send((status, out, err));
    });
    let Ok((status, out, err)) = receiver.recv_timeout(DEADLINE) else {
        let _ = Command::new("kill").arg(pid.to_string()).status();
        panic!("{what}: still running after {DEADLINE:?}, killed");
    };
    Finished {
        code: status.expect("wait").code(),
        stdout: strip_colours(&String::from_utf8_lossy(&out)),
        stderr: strip_colours(&String::from_utf8_lossy(&err)),
    }
}

/// Kamal colours its final ERROR line even off a terminal; tests read the plain text.
pub fn strip_colours(text: &str) -> String {
    let mut plain = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("\x1b[") {
        plain.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find(|character: char| character.is_ascii_alphabetic())
            .map_or(after.len(), |end| end + 1);
        rest = &after[end..];
    }
    plain.push_str(rest);
    plain
}
