//! kamal-ssh against real hosts: the test bed's vms (sshd + dockerd in containers, see
//! `testbed/README.md`). Each test reads the bed's env file; without a bed the tests fail
//! with a hint, or pass trivially when `KAMAL_SKIP_TESTBED=1`. Only the bed's own addresses
//! are contacted: its vms, and one unused address of its subnet for the "host down" case.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kamal_commands::Cmd;
use kamal_config::secrets::Secret;
use kamal_ssh::{
    on, ConnectionErrorKind, Error, Executor, Host, Level, OpenSsh, Printer, RunOptions, SshConfig,
    SshOptions, Target, Upload,
};

struct Bed {
    hosts: Vec<String>,
    key: PathBuf,
    ssh_config: PathBuf,
    known_hosts: PathBuf,
}

/// The bed, or `None` when the caller asked to skip it.
fn bed() -> Option<Bed> {
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
    let value = |key: &str| values.get(key).map(|value| value.to_string()).expect(key);
    Some(Bed {
        hosts: value("KAMAL_TESTBED_HOSTS")
            .split(',')
            .map(str::to_string)
            .collect(),
        key: PathBuf::from(value("KAMAL_TESTBED_SSH_KEY")),
        ssh_config: PathBuf::from(value("KAMAL_TESTBED_SSH_CONFIG")),
        known_hosts: PathBuf::from(value("KAMAL_TESTBED_KNOWN_HOSTS")),
    })
}

impl Bed {
    /// Options as a deploy.yml for the bed would give them: its key only, and its ssh config
    /// (which pins the bed's known_hosts, so nothing is written to ~/.ssh).
    fn options(&self) -> SshOptions {
        let mut options = SshOptions::new();
        options.keys = vec![self.key.clone()];
        options.keys_only = true;
        options.config = SshConfig::Files(vec![self.ssh_config.clone()]);
        options.connect_timeout = Duration::from_secs(5);
        options.command_timeout = Some(Duration::from_secs(60));
        options
    }

    /// An address in the bed's subnet with no vm behind it.
    fn down_host(&self) -> String {
        let last = self
            .hosts
            .iter()
            .filter_map(|host| host.rsplit('.').next()?.parse::<u8>().ok())
            .max()
            .expect("bed hosts are IPv4 addresses");
        let prefix = self.hosts[0].rsplit_once('.').expect("IPv4").0;
        format!("{prefix}.{}", last + 1)
    }
}

/// A writer the test can read back.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buffer: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lock").extend_from_slice(buffer);
        Ok(buffer.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("lock")).into_owned()
    }
}

fn executor(options: SshOptions, level: Level) -> (OpenSsh, Captured) {
    let captured = Captured::default();
    let printer = Arc::new(Printer::new(Box::new(captured.clone()), level, false));
    (OpenSsh::new(options, printer), captured)
}

/// A scratch directory for keys and configs, removed at the end.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let path = std::env::temp_dir().join(format!("kamal-ssh-test-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("scratch dir");
        Scratch(path)
    }

    fn keygen(&self, name: &str) -> PathBuf {
        let path = self.0.join(name);
        let status = std::process::Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-C", "kamal-ssh-test", "-f"])
            .arg(&path)
            .status()
            .expect("ssh-keygen");
        assert!(status.success());
        path
    }

    /// An ssh config that only pins a known_hosts file (no identities).
    fn known_hosts_config(&self, known_hosts: &Path) -> PathBuf {
        let path = self.0.join(format!(
            "config-{}",
            known_hosts.file_name().and_then(|n| n.to_str()).unwrap_or("x")
        ));
        std::fs::write(
            &path,
            format!("Host *\n    UserKnownHostsFile {}\n", known_hosts.display()),
        )
        .expect("config");
        path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn executes_on_two_hosts_in_parallel() {
    let Some(bed) = bed() else { return };
    let (executor, out) = executor(bed.options(), Level::Debug);
    let started = Instant::now();
    let results = on(&executor, &bed.hosts, |host| {
        let started = Instant::now();
        let address = host.capture(&Cmd::new(["sh -c 'sleep 1; hostname -i'"]))?;
        Ok::<_, Error>((address, started.elapsed()))
    })
    .expect("runs on every host");
    let elapsed = started.elapsed();
    for (host, (address, _)) in bed.hosts.iter().zip(&results) {
        assert!(
            address.split_whitespace().any(|address| address == host),
            "{host}: {address}"
        );
    }
    // The hosts overlap: the whole takes far less than the hosts' times added up.
    let sequential: Duration = results.iter().map(|(_, took)| *took).sum();
    assert!(
        elapsed + Duration::from_millis(500) < sequential,
        "{elapsed:?} vs {sequential:?} one after another"
    );
    let text = out.text();
    for host in &bed.hosts {
        assert!(
            text.contains(&format!("Running sh -c 'sleep 1; hostname -i' on {host}")),
            "{text}"
        );
    }
    assert_eq!(executor.connections_opened(), bed.hosts.len());
}

#[test]
fn one_connection_per_host_for_many_commands() {
    let Some(bed) = bed() else { return };
    let (executor, _) = executor(bed.options(), Level::Info);
    let target = Target::Remote(bed.hosts[0].clone());
    let host = Host::new(&executor, &target);
    let probe = Cmd::new(["echo", "$SSH_CONNECTION"]);
    let connecting = Instant::now();
    let first = host.capture(&probe).expect("connects");
    eprintln!(
        "first command, connection included: {:.3} s",
        connecting.elapsed().as_secs_f64()
    );
    let client_port = first.split_whitespace().nth(1).expect("client port").to_string();

    let started = Instant::now();
    for _ in 0..20 {
        assert_eq!(
            host.capture(&probe).expect("runs"),
            first,
            "every command shares the first connection"
        );
    }
    let elapsed = started.elapsed();
    eprintln!(
        "20 sequential commands on {} over one shared connection: {:.3} s ({:.1} ms each); connections opened: {}",
        bed.hosts[0],
        elapsed.as_secs_f64(),
        elapsed.as_secs_f64() * 1000.0 / 20.0,
        executor.connections_opened()
    );
    assert_eq!(executor.connections_opened(), 1);
    // Closing the connection makes sshd flush what it logged about it.
    drop(executor);

    // The vm's sshd (LogLevel VERBOSE) agrees: one authentication, 21 sessions from our port.
    let container = format!("kamal-testbed-vm{}", 1);
    let deadline = Instant::now() + Duration::from_secs(45);
    loop {
        let logs = std::process::Command::new("docker")
            .args(["logs", "--since", "2m", &container])
            .output()
            .expect("docker logs");
        let logs =
            String::from_utf8_lossy(&logs.stderr).into_owned() + &String::from_utf8_lossy(&logs.stdout);
        let ours = |needle: &str| {
            logs.lines()
                // Sessions multiplexed on one master get channel ids 0, 1, … depending on
                // timing, so any id counts.
                .filter(|line| line.contains(needle) && line.contains(&format!(" port {client_port} id ")))
                .count()
        };
        let authentications = logs
            .lines()
            .filter(|line| {
                line.starts_with("Accepted publickey") && line.contains(&format!(" port {client_port} "))
            })
            .count();
        let sessions = ours("Starting session: command");
        if (authentications, sessions) == (1, 21) || Instant::now() >= deadline {
            assert_eq!(
                (authentications, sessions),
                (1, 21),
                "sshd log for port {client_port}"
            );
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn uploads_are_private_and_commands_get_stdin() {
    let Some(bed) = bed() else { return };
    let (executor, out) = executor(bed.options(), Level::Info);
    let target = Target::Remote(bed.hosts[1].clone());
    let host = Host::new(&executor, &target);
    let directory = format!(".kamal-ssh-test-{}", std::process::id());
    let path = format!("{directory}/web.env");
    host.execute(&Cmd::new(["mkdir", "-p", &directory]))
        .expect("mkdir");
    // An existing world-readable file must not keep its mode.
    host.execute(&Cmd::new([
        "sh -c",
        &format!("'echo old > {path}; chmod 644 {path}'"),
    ]))
    .expect("old file");

    host.upload(Upload::Bytes(b"SECRET=\"s3cret\"\n"), &path, 0o600)
        .expect("uploads");
    assert_eq!(
        host.capture(&Cmd::new(["stat", "-c", "%a", &path]))
            .expect("stat"),
        "600"
    );
    assert_eq!(
        host.capture(&Cmd::new(["cat", &path])).expect("cat"),
        "SECRET=\"s3cret\""
    );
    assert_eq!(
        host.capture(&Cmd::new(["ls", "-A", &directory])).expect("ls"),
        "web.env",
        "no temporary left"
    );
    assert!(out.text().contains(&format!("  INFO Uploading {path} 100.0%")));

    let local_file = std::env::temp_dir().join(format!("kamal-ssh-upload-{}", std::process::id()));
    std::fs::write(&local_file, "from a file\n").expect("local file");
    host.upload(
        Upload::File(&local_file),
        &format!("{directory}/page.html"),
        0o644,
    )
    .expect("uploads file");
    let _ = std::fs::remove_file(&local_file);
    // A file's progress names the local file, as net-scp does; contents in memory (above)
    // name the remote path.
    assert!(
        out.text()
            .contains(&format!("  INFO Uploading {} 100.0%", local_file.display())),
        "{}",
        out.text()
    );
    assert_eq!(
        host.capture(&Cmd::new(["stat", "-c", "%a", &format!("{directory}/page.html")]))
            .expect("stat"),
        "644"
    );

    let login = Cmd::new(["cat"]).with_stdin(Secret::new("password-from-stdin"));
    assert_eq!(host.capture(&login).expect("stdin"), "password-from-stdin");

    host.execute(&Cmd::new(["rm", "-r", &directory]))
        .expect("clean up");
    assert!(!out.text().contains("s3cret"));
}

#[test]
fn a_failing_command_reads_like_sshkit() {
    let Some(bed) = bed() else { return };
    let (executor, _) = executor(bed.options(), Level::Info);
    let error = on(&executor, &bed.hosts[..1], |host| {
        host.execute(&Cmd::new(["docker", "inspect", "kamal-ssh-no-such-container"]))
    })
    .expect_err("fails");
    let text = error.to_string();
    assert!(
        text.starts_with(&format!(
            "Exception while executing on host {}: docker exit status: 1\ndocker stdout: []\ndocker stderr: Error",
            bed.hosts[0]
        )),
        "{text}"
    );
    assert!(text.contains("kamal-ssh-no-such-container"));

    let target = Target::Remote(bed.hosts[0].clone());
    let output = executor
        .run(
            &target,
            &Cmd::new(["sh -c 'exit 7'"]),
            RunOptions::execute().raise_on_non_zero_exit(false),
        )
        .expect("not raised");
    assert_eq!(output.exit_status, 7);
}

#[test]
fn a_down_host_fails_clearly_while_the_other_finishes() {
    let Some(bed) = bed() else { return };
    let down = bed.down_host();
    let (executor, out) = executor(bed.options(), Level::Info);
    let hosts = [bed.hosts[0].clone(), down.clone()];
    let started = Instant::now();
    let error = on(&executor, &hosts, |host| {
        host.execute(&Cmd::new(["sh -c 'sleep 0.5; echo done'"]))?;
        host.execute(&Cmd::new(["true"]))
    })
    .expect_err("the down host fails");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(error.errors().len(), 1, "{error}");
    let failure = &error.first().error;
    assert_eq!(failure.host(), down);
    let Error::Connection(connection) = failure else {
        panic!("not a connection error: {failure:?}")
    };
    assert!(
        matches!(
            connection.kind,
            ConnectionErrorKind::Unreachable | ConnectionErrorKind::TimedOut
        ),
        "{connection:?}"
    );
    let message = error.to_string();
    assert!(
        message.starts_with(&format!("Exception while executing on host {down}: ")),
        "{message}"
    );
    assert!(message.contains(&down), "{message}");
    eprintln!("down host: {message}");
    // The reachable host did all its work.
    let text = out.text();
    assert!(
        text.contains(&format!("Running /usr/bin/env true on {}", bed.hosts[0])),
        "{text}"
    );
}

#[test]
fn a_wrong_key_is_an_authentication_error() {
    let Some(bed) = bed() else { return };
    let scratch = Scratch::new("wrong-key");
    let mut options = bed.options();
    options.keys = vec![scratch.keygen("wrong")];
    options.config = SshConfig::Files(vec![scratch.known_hosts_config(&bed.known_hosts)]);
    let (executor, _) = executor(options, Level::Info);
    let error = on(&executor, &bed.hosts[..1], |host| {
        host.execute(&Cmd::new(["true"]))
    })
    .expect_err("fails");
    let failure = &error.first().error;
    let Error::Connection(connection) = failure else {
        panic!("not a connection error: {failure:?}")
    };
    assert_eq!(connection.kind, ConnectionErrorKind::AuthenticationFailed);
    assert_eq!(failure.ruby_class(), "Net::SSH::AuthenticationFailed");
    let message = error.to_string();
    assert!(
        message.contains(&format!("Authentication failed for user root@{}", bed.hosts[0])),
        "{message}"
    );
    eprintln!("wrong key: {message}");
}

#[test]
fn a_changed_host_key_is_refused() {
    let Some(bed) = bed() else { return };
    let scratch = Scratch::new("host-key");
    let impostor = scratch.keygen("impostor");
    let public = std::fs::read_to_string(impostor.with_extension("pub")).expect("public key");
    let known_hosts = scratch.0.join("known_hosts");
    std::fs::write(&known_hosts, format!("{} {}", bed.hosts[0], public)).expect("known_hosts");
    let mut options = bed.options();
    options.config = SshConfig::Files(vec![scratch.known_hosts_config(&known_hosts)]);
    let (executor, _) = executor(options, Level::Info);
    let error = on(&executor, &bed.hosts[..1], |host| {
        host.execute(&Cmd::new(["true"]))
    })
    .expect_err("fails");
    let Error::Connection(connection) = &error.first().error else {
        panic!("{error}")
    };
    assert_eq!(
        connection.kind,
        ConnectionErrorKind::HostKeyChanged,
        "{connection:?}"
    );
    eprintln!("changed host key: {error}");
}

#[test]
fn key_data_goes_through_a_private_agent() {
    let Some(bed) = bed() else { return };
    let scratch = Scratch::new("key-data");
    let mut options = bed.options();
    // No identity file anywhere: the key only exists as key_data (and keys_only still holds).
    options.keys = Vec::new();
    options.key_data = vec![Secret::new(std::fs::read_to_string(&bed.key).expect("bed key"))];
    // Two files, so the combined include file is used too.
    let empty = scratch.0.join("empty");
    std::fs::write(&empty, "").expect("empty config");
    options.config = SshConfig::Files(vec![scratch.known_hosts_config(&bed.known_hosts), empty]);
    let (executor, _) = executor(options, Level::Info);
    let hosts = on(&executor, &bed.hosts, |host| {
        host.capture(&Cmd::new(["hostname", "-i"]))
    })
    .expect("connects");
    assert_eq!(hosts.len(), bed.hosts.len());
    let directory = executor
        .control_path(&bed.hosts[0])
        .expect("open")
        .parent()
        .expect("dir")
        .to_path_buf();
    assert!(
        directory.join("agent").exists(),
        "the agent listens in the private directory"
    );
    drop(executor);
    assert!(
        !directory.exists(),
        "agent socket and public keys removed with the directory"
    );
}

#[test]
fn masters_are_closed_when_the_executor_goes() {
    let Some(bed) = bed() else { return };
    let (executor, _) = executor(bed.options(), Level::Info);
    on(&executor, &bed.hosts, |host| host.execute(&Cmd::new(["true"]))).expect("runs");
    let sockets: Vec<PathBuf> = bed
        .hosts
        .iter()
        .map(|host| executor.control_path(host).expect("open"))
        .collect();
    let directory = sockets[0].parent().expect("private dir").to_path_buf();
    let check = |socket: &Path, host: &str| {
        std::process::Command::new("ssh")
            .args([
                "-o",
                &format!("ControlPath={}", socket.display()),
                "-O",
                "check",
                host,
            ])
            .output()
            .expect("ssh -O check")
    };
    for (socket, host) in sockets.iter().zip(&bed.hosts) {
        let output = check(socket, host);
        assert!(output.status.success(), "master for {host} is running");
    }
    let started = Instant::now();
    drop(executor);
    eprintln!("closing {} masters took {:?}", sockets.len(), started.elapsed());
    for (socket, host) in sockets.iter().zip(&bed.hosts) {
        assert!(!check(socket, host).status.success(), "master for {host} is gone");
        assert!(!socket.exists());
    }
    assert!(!directory.exists(), "private directory removed");
}

#[test]
fn interactive_lines_reach_the_host() {
    let Some(bed) = bed() else { return };
    let scratch = Scratch::new("interactive");
    let mut options = bed.options();
    let second = scratch.known_hosts_config(&bed.known_hosts);
    options.config = SshConfig::Files(vec![bed.ssh_config.clone(), second.clone()]);
    let (executor, _) = executor(options, Level::Info);
    let target = Target::Remote(bed.hosts[0].clone());
    let line = Host::new(&executor, &target)
        .interactive(&Cmd::new(["echo", "interactive"]))
        .expect("line");
    let expected = format!("ssh -F {} -F {} -i ", bed.ssh_config.display(), second.display());
    assert!(line.display.starts_with(&expected), "{}", line.display);
    // Without a terminal `-t` only warns; the command still runs through the combined config.
    let output = std::process::Command::new(&line.argv[0])
        .args(&line.argv[1..])
        .output()
        .expect("ssh");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "interactive");
}

/// The child half of `ctrl_c_closes_the_masters`: opens masters, reports them, waits.
#[test]
fn signal_child() {
    if std::env::var_os("KAMAL_SSH_SIGNAL_CHILD").is_none() {
        return;
    }
    let Some(bed) = bed() else { return };
    let (executor, _) = executor(bed.options(), Level::Info);
    on(&executor, &bed.hosts, |host| host.execute(&Cmd::new(["true"]))).expect("runs");
    for host in &bed.hosts {
        println!(
            "SOCKET {} {}",
            host,
            executor.control_path(host).expect("open").display()
        );
    }
    std::io::stdout().flush().expect("flush");
    std::thread::sleep(Duration::from_secs(30));
}

#[test]
fn ctrl_c_closes_the_masters() {
    use std::io::BufRead;
    use std::os::unix::process::ExitStatusExt;
    let Some(bed) = bed() else { return };
    /// Kills the child if an assertion fails first, so it does not linger for 30 s.
    struct Reap(std::process::Child);
    impl Drop for Reap {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mut child = std::process::Command::new(std::env::current_exe().expect("test binary"))
        .args(["--exact", "signal_child", "--nocapture", "--test-threads", "1"])
        .env("KAMAL_SSH_SIGNAL_CHILD", "1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map(Reap)
        .expect("child");
    let child = &mut child.0;
    let stdout = child.stdout.take().expect("stdout");
    let mut sockets = Vec::new();
    for line in std::io::BufReader::new(stdout).lines() {
        let line = line.expect("line");
        // libtest may print `test signal_child ... ` on the same line first.
        if let Some((_, rest)) = line.split_once("SOCKET ") {
            let (host, path) = rest.split_once(' ').expect("host and path");
            sockets.push((host.to_string(), PathBuf::from(path)));
            if sockets.len() == bed.hosts.len() {
                break;
            }
        }
    }
    assert_eq!(sockets.len(), bed.hosts.len(), "the child opened its masters");
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(45);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            panic!("the child did not exit after SIGINT");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(
        status.signal(),
        Some(2),
        "dies of SIGINT as without a handler: {status:?}"
    );
    for (host, socket) in &sockets {
        let check = std::process::Command::new("ssh")
            .args([
                "-o",
                &format!("ControlPath={}", socket.display()),
                "-O",
                "check",
                host,
            ])
            .output()
            .expect("ssh -O check");
        assert!(!check.status.success(), "master for {host} closed");
        assert!(
            !socket.parent().expect("dir").exists(),
            "private directory removed"
        );
    }
}
