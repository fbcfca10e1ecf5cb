//! Test harness: real upstream HTTP servers, an in-process proxy, and a real client, all on 127.0.0.1.

#![allow(dead_code)]

pub mod tls;

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use kamal_proxy::body::{self, ProxyBody};
use kamal_proxy::control::client;
use kamal_proxy::control::protocol::{DeployArgs, Request as ControlRequest, Response as ControlResponse};
use kamal_proxy::server::{RunSettings, Server};
use kamal_proxy::service::options::{DeploymentOptions, HealthCheckConfig, ServiceOptions, TargetOptions};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

pub type Handler =
    Arc<dyn Fn(Request<Incoming>) -> Pin<Box<dyn Future<Output = Response<ProxyBody>> + Send>> + Send + Sync>;

/// A real HTTP/1.1 server on 127.0.0.1:0; stops when dropped.
pub struct Upstream {
    pub address: SocketAddr,
    _stop: tokio_util::sync::DropGuard,
}

impl Upstream {
    pub async fn start(handler: Handler) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind upstream");
        let address = listener.local_addr().expect("address");
        // Dropping the upstream closes its listener and every open connection, like a container that exits.
        let stop = tokio_util::sync::CancellationToken::new();
        let stopped = stop.clone();
        tokio::spawn(async move {
            loop {
                let (stream, _) = tokio::select! {
                    _ = stopped.cancelled() => return,
                    accepted = listener.accept() => match accepted { Ok(a) => a, Err(_) => continue },
                };
                let handler = handler.clone();
                let stopped = stopped.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |request| {
                        let handler = handler.clone();
                        async move { Ok::<_, Infallible>(handler(request).await) }
                    });
                    let connection = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .with_upgrades();
                    tokio::select! {
                        _ = stopped.cancelled() => {}
                        _ = connection => {}
                    }
                });
            }
        });
        Self {
            address,
            _stop: stop.drop_guard(),
        }
    }

    /// Answers `/up` with 200 and everything else with `name`.
    pub async fn named(name: &'static str) -> Self {
        Self::start(Arc::new(move |_request| {
            Box::pin(async move { text(StatusCode::OK, name) })
        }))
        .await
    }

    pub fn target(&self) -> String {
        self.address.to_string()
    }
}

pub fn text(status: StatusCode, body_text: impl Into<String>) -> Response<ProxyBody> {
    let mut response = Response::new(body::full(body_text.into()));
    *response.status_mut() = status;
    response
}

/// An in-process proxy with its own socket and state file in a temp dir.
pub struct Proxy {
    pub http: SocketAddr,
    pub https: SocketAddr,
    pub metrics: Option<SocketAddr>,
    pub socket: PathBuf,
    pub state: PathBuf,
    pub directory: tempfile::TempDir,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Proxy {
    pub async fn start() -> Self {
        Self::start_in(tempfile::tempdir().expect("temp dir")).await
    }

    pub async fn start_in(directory: tempfile::TempDir) -> Self {
        Self::start_configured(directory, |_| {}).await
    }

    /// Starts with metrics on (on `proxy.metrics`); tries other ports if another test took one in between.
    pub async fn start_with_metrics() -> Self {
        Self::start_configured(tempfile::tempdir().expect("temp dir"), |settings| {
            settings.metrics_port = free_port();
        })
        .await
    }

    /// Starts with settings changed by `configure` (metrics port, header timeout, …).
    pub async fn start_configured(
        directory: tempfile::TempDir,
        configure: impl FnOnce(&mut RunSettings),
    ) -> Self {
        if std::env::var_os("KAMAL_PROXY_TEST_LOGS").is_none() {
            kamal_proxy::logging::set_silent(true);
        }
        let socket = directory.path().join("kamal-proxy.sock");
        let state = directory.path().join("kamal-proxy.state");
        let settings = RunSettings {
            debug: false,
            http_port: 0,
            https_port: 0,
            metrics_port: 0,
            http3: false,
            socket_path: socket.clone(),
            state_path: state.clone(),
            header_read_timeout: kamal_proxy::server::DEFAULT_HEADER_READ_TIMEOUT,
            acme_roots: Vec::new(),
            // `KAMAL_PROXY_FAST_PATH=0` runs the suite through the general pipeline alone.
            fast_path: kamal_proxy::server::fast_path_from_environment(),
        };
        let mut settings = settings;
        configure(&mut settings);
        let mut server = Server::bind(settings.clone()).await;
        for _ in 0..5 {
            if server.is_ok() || settings.metrics_port == 0 {
                break;
            }
            settings.metrics_port = free_port();
            server = Server::bind(settings.clone()).await;
        }
        let server = server.expect("proxy binds");
        let port = server.http_address().expect("address").port();
        let https_port = server.https_address().expect("address").port();
        let metrics = server
            .metrics_address()
            .map(|address| SocketAddr::from(([127, 0, 0, 1], address.port())));
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(server.serve(async move {
            let _ = stopped.await;
        }));
        Self {
            http: SocketAddr::from(([127, 0, 0, 1], port)),
            https: SocketAddr::from(([127, 0, 0, 1], https_port)),
            metrics,
            socket,
            state,
            directory,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// Graceful stop; returns the temp dir so a new proxy can start on the same state.
    pub async fn shutdown(mut self) -> tempfile::TempDir {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(15), task).await;
        }
        std::mem::replace(&mut self.directory, tempfile::tempdir().expect("temp dir"))
    }

    pub async fn call(&self, request: ControlRequest) -> Result<ControlResponse, String> {
        client::call(&self.socket, &request).await
    }

    pub async fn deploy(&self, args: DeployArgs) -> Result<(), String> {
        self.call(ControlRequest::Deploy(Box::new(args)))
            .await
            .map(|_| ())
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.http, path)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Deploy arguments with short test timings: health checks every 20 ms, 5 s deploy and drain timeouts.
pub fn deploy_args(service: &str, targets: &[String], hosts: &[&str], prefixes: &[&str]) -> DeployArgs {
    DeployArgs {
        service: service.to_string(),
        target_urls: targets.to_vec(),
        reader_urls: Vec::new(),
        deployment_options: DeploymentOptions {
            deploy_timeout: Duration::from_secs(5),
            drain_timeout: Duration::from_secs(5),
            force: false,
        },
        service_options: ServiceOptions {
            hosts: hosts.iter().map(|h| h.to_string()).collect(),
            path_prefixes: prefixes.iter().map(|p| p.to_string()).collect(),
            strip_prefix: true,
            tls_redirect: true,
            writer_affinity_timeout: Duration::from_secs(1),
            ..ServiceOptions::default()
        },
        target_options: TargetOptions {
            health_check_config: HealthCheckConfig {
                interval: Duration::from_millis(20),
                timeout: Duration::from_millis(500),
                ..HealthCheckConfig::default()
            },
            response_timeout: Duration::from_secs(5),
            forward_headers: true,
            ..TargetOptions::default()
        },
    }
}

pub type HttpClient = Client<HttpConnector, Full<Bytes>>;

pub fn http_client() -> HttpClient {
    Client::builder(TokioExecutor::new()).build(HttpConnector::new())
}

pub struct Answer {
    pub status: StatusCode,
    pub headers: http::HeaderMap,
    pub body: String,
}

pub async fn send(client: &HttpClient, request: Request<Full<Bytes>>) -> Result<Answer, String> {
    let response = client.request(request).await.map_err(|e| format!("{e:?}"))?;
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    Ok(Answer {
        status,
        headers,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    })
}

pub async fn get(client: &HttpClient, proxy: &Proxy, host: &str, path: &str) -> Answer {
    get_with(client, proxy, host, path, &[]).await
}

pub async fn get_with(
    client: &HttpClient,
    proxy: &Proxy,
    host: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> Answer {
    let mut request = Request::get(proxy.url(path)).header("host", host);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    send(client, request.body(Full::new(Bytes::new())).expect("request"))
        .await
        .expect("response")
}

/// Polls `condition` until true or the deadline passes.
pub async fn eventually<F, Fut>(deadline: Duration, mut condition: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let end = tokio::time::Instant::now() + deadline;
    while tokio::time::Instant::now() < end {
        if condition().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await; // poll interval, until the deadline
    }
    false
}

/// Reads a header as a string.
pub fn header(answer: &Answer, name: &str) -> String {
    answer
        .headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

/// An upstream that echoes chosen request headers back as `name: value` lines.
pub async fn echo_upstream() -> Upstream {
    Upstream::start(Arc::new(|request: Request<Incoming>| {
        Box::pin(async move {
            let mut lines: Vec<String> = request
                .headers()
                .iter()
                .map(|(name, value)| format!("{}: {}", name, value.to_str().unwrap_or_default()))
                .collect();
            lines.sort();
            lines.insert(0, format!("uri: {}", request.uri()));
            text(StatusCode::OK, lines.join("\n"))
        })
    }))
    .await
}

pub fn echoed(answer: &Answer) -> HashMap<String, String> {
    answer
        .body
        .lines()
        .filter_map(|line| line.split_once(": "))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// A port that was free a moment ago (for settings where 0 means "off", like `--metrics-port`). Checked on
/// the dual-stack wildcard, as the proxy binds it.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("[::]:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("free port")
}
