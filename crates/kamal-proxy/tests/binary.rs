//! The real `kamal-proxy` binary: CLI behaviour and exit codes, and a SIGKILL mid-traffic followed by a
//! restart that brings back the same services and routing from the state file.

mod support;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use support::*;

const BINARY: &str = env!("CARGO_BIN_EXE_kamal-proxy");

/// A `kamal-proxy run` child process, killed when dropped.
struct RunningProxy {
    child: tokio::process::Child,
}

impl Drop for RunningProxy {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

struct Sandbox {
    home: tempfile::TempDir,
    http_port: u16,
    https_port: u16,
}

impl Sandbox {
    fn new() -> Self {
        Self {
            home: tempfile::tempdir().expect("temp dir"),
            http_port: free_port(),
            https_port: free_port(),
        }
    }

    fn socket(&self) -> PathBuf {
        self.home.path().join("kamal-proxy.sock")
    }

    fn state(&self) -> PathBuf {
        self.home.path().join(".config/kamal-proxy/kamal-proxy.state")
    }

    fn command(&self, args: &[&str]) -> tokio::process::Command {
        let mut command = tokio::process::Command::new(BINARY);
        command
            .args(args)
            .env_clear()
            .env("HOME", self.home.path())
            .env("KAMAL_PROXY_SOCKET", self.socket())
            .stdin(Stdio::null())
            .kill_on_drop(true);
        command
    }

    async fn cli(&self, args: &[&str]) -> (i32, String, String) {
        let output = self.command(args).output().await.expect("runs");
        (
            output.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    }

    async fn start(&self) -> RunningProxy {
        let http = format!("--http-port={}", self.http_port);
        let mut command = self.command(&["run", &http]);
        command
            .env("KAMAL_PROXY_HTTPS_PORT", self.https_port.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let proxy = RunningProxy {
            child: command.spawn().expect("spawns"),
        };
        let socket = self.socket();
        let ready = eventually(Duration::from_secs(10), || {
            let socket = socket.clone();
            async move { list_ok(&socket).await }
        })
        .await;
        assert!(ready, "proxy answers on its control socket");
        proxy
    }
}

async fn list_ok(socket: &Path) -> bool {
    kamal_proxy::control::client::call(socket, &kamal_proxy::control::protocol::Request::List)
        .await
        .is_ok()
}

/// A port the kernel just handed out on loopback; released for the child to bind.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("address")
        .port()
}

async fn get_port(client: &HttpClient, port: u16, host: &str, path: &str) -> Result<Answer, String> {
    let request = http::Request::get(format!("http://127.0.0.1:{port}{path}"))
        .header("host", host)
        .body(http_body_util::Full::new(bytes::Bytes::new()))
        .expect("request");
    send(client, request).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_errors_and_exit_codes() {
    let sandbox = Sandbox::new();
    let (code, stdout, _) = sandbox.cli(&[]).await;
    assert_eq!(code, 0);
    assert!(stdout.contains("Available Commands:") && stdout.contains("deploy"));

    let cases: &[(&[&str], &str)] = &[
        (&["deploy", "web"], "Error: required flag(s) \"target\" not set\n"),
        (&["deploy"], "Error: accepts 1 arg(s), received 0\n"),
        (
            &["deploy", "web", "--target=a:80", "--deploy-timeout=30"],
            "Error: invalid argument \"30\" for \"--deploy-timeout\" flag: time: missing unit in duration \"30\"\n",
        ),
        (&["deploy", "web", "--target=a:80", "--bogus"], "Error: unknown flag: --bogus\n"),
        (
            &["deploy", "web", "--target=a:80", "--max-request-body=10"],
            "Error: max-request-body can only be set when request buffering is enabled\n",
        ),
        (&["frobnicate"], "Error: unknown command \"frobnicate\" for \"kamal-proxy\"\nRun 'kamal-proxy --help' for usage.\n"),
        (&["rollout", "set", "web"], "Error: at least one of the flags in the group [percent list] is required\n"),
    ];
    for (args, expected) in cases {
        let (code, stdout, stderr) = sandbox.cli(args).await;
        assert_eq!(
            (code, stdout.as_str(), stderr.as_str()),
            (1, "", *expected),
            "{args:?}"
        );
    }

    // No server running: the dial error, as Go prints it.
    let (code, _, stderr) = sandbox.cli(&["list"]).await;
    assert_eq!(code, 1);
    assert_eq!(
        stderr,
        format!(
            "Error: dial unix {}: connect: no such file or directory\n",
            sandbox.socket().display()
        )
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_traffic_then_restart_keeps_services_and_routing() {
    let sandbox = Sandbox::new();
    let app = Upstream::named("app").await;
    let api = Upstream::named("api").await;
    let mut proxy = sandbox.start().await;

    let app_target = format!("--target={}", app.target());
    let api_target = format!("--target={}", api.target());
    let deploys: [&[&str]; 2] = [
        &[
            "deploy",
            "app-web",
            &app_target,
            "--host=app.test",
            "--health-check-interval=20ms",
            "--deploy-timeout=5s",
        ],
        &[
            "deploy",
            "app-api",
            &api_target,
            "--host=app.test",
            "--path-prefix=/api",
            "--health-check-interval=20ms",
        ],
    ];
    for args in deploys {
        let (code, stdout, stderr) = sandbox.cli(args).await;
        assert_eq!((code, stdout.as_str(), stderr.as_str()), (0, "", ""), "{args:?}");
    }
    // Kamal's maintenance commands.
    assert_eq!(
        sandbox
            .cli(&["stop", "app-api", "--drain-timeout=1s", "--message=Upgrading"])
            .await
            .0,
        0
    );
    assert_eq!(sandbox.cli(&["resume", "app-api"]).await.0, 0);
    let (code, _, stderr) = sandbox.cli(&["remove", "missing"]).await;
    assert_eq!((code, stderr.as_str()), (1, "Error: service not found\n"));

    // A failed deploy exits 1 and says what the health check saw.
    let closed = format!("--target=127.0.0.1:{}", free_port());
    let (code, _, stderr) = sandbox
        .cli(&[
            "deploy",
            "app-web",
            &closed,
            "--host=app.test",
            "--deploy-timeout=300ms",
        ])
        .await;
    assert_eq!(code, 1);
    assert!(
        stderr.starts_with("Error: target failed to become healthy within configured timeout (300ms)"),
        "{stderr}"
    );

    let client = http_client();
    assert_eq!(
        get_port(&client, sandbox.http_port, "app.test", "/")
            .await
            .expect("served")
            .body,
        "app"
    );
    assert_eq!(
        get_port(&client, sandbox.http_port, "app.test", "/api/x")
            .await
            .expect("served")
            .body,
        "api"
    );

    // Traffic in the background while the proxy is killed.
    let served = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let traffic = tokio::spawn({
        let port = sandbox.http_port;
        let served = served.clone();
        async move {
            let client = http_client();
            let mut outcomes = (0usize, 0usize);
            for _ in 0..2_000 {
                match get_port(&client, port, "app.test", "/").await {
                    Ok(answer) if answer.body == "app" => {
                        outcomes.0 += 1;
                        served.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    }
                    _ => {
                        outcomes.1 += 1;
                        if outcomes.1 > 20 {
                            break;
                        }
                    }
                }
            }
            outcomes
        }
    });
    let flowing = eventually(Duration::from_secs(5), || async {
        served.load(std::sync::atomic::Ordering::SeqCst) >= 20
    })
    .await;
    assert!(flowing, "traffic is flowing before the kill");
    proxy.child.start_kill().expect("SIGKILL");
    let _ = proxy.child.wait().await;
    let (_, failed) = traffic.await.expect("traffic");
    assert!(failed > 0, "the kill interrupted traffic");

    let state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(sandbox.state()).expect("state file"))
            .expect("complete JSON");
    assert_eq!(state.as_array().map(Vec::len), Some(2));

    proxy = sandbox.start().await;
    let client = http_client();
    assert_eq!(
        get_port(&client, sandbox.http_port, "app.test", "/")
            .await
            .expect("served")
            .body,
        "app"
    );
    assert_eq!(
        get_port(&client, sandbox.http_port, "app.test", "/api/x")
            .await
            .expect("served")
            .body,
        "api"
    );
    assert_eq!(
        get_port(&client, sandbox.http_port, "other.test", "/")
            .await
            .expect("served")
            .status,
        404
    );
    let (code, stdout, _) = sandbox.cli(&["ls"]).await;
    assert_eq!(code, 0);
    assert!(
        stdout.contains("app-api") && stdout.contains("app-web") && stdout.contains("running"),
        "{stdout}"
    );
    drop(proxy);
}
