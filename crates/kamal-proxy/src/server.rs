//! Listeners, accept loops and graceful shutdown for `kamal-proxy run` (§1.2, §2.6, §6.1).
//!
//! Start order follows the Go proxy: restore saved state, open the HTTP and HTTPS listeners, then the control
//! socket, then log `Server started`. Shutdown stops accepting, gives connections 10 s to finish, then closes
//! whatever is left. The accept loop, connection builder and shutdown are kept in view as in hyper's examples.
//!
//! Thread per core: the accept loops hand each connection, round-robin, to one of the worker threads (one per
//! core, `KAMAL_PROXY_WORKERS` to override), each running its own single-threaded runtime with its own
//! upstream connections; the control socket, health checks and metrics stay on the main runtime.

use std::future::Future;
use std::net::{Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use serde_json::json;
use tokio::net::{TcpListener, UnixListener};
use tokio_util::sync::CancellationToken;

use crate::control;
use crate::control::client::describe_io;
use crate::http3;
use crate::logging;
use crate::metrics::{self, Metrics};
use crate::proxy::{self, Proxy};
use crate::router::Router;
use crate::tls;

/// Go's `http.Server` default header limit (1 MiB) plus its 4 KiB slack.
pub(crate) const MAX_HEADER_BYTES: usize = (1 << 20) + 4096;
pub(crate) const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a client has to finish its TLS handshake and each request's headers (slowloris). Go sets no limit;
/// nginx's `client_header_timeout` is 60 s, and we follow nginx.
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(60);

/// Everything `run` needs, resolved from flags and environment before anything starts.
#[derive(Debug, Clone)]
pub struct RunSettings {
    pub debug: bool,
    pub http_port: u16,
    pub https_port: u16,
    pub metrics_port: u16,
    pub http3: bool,
    pub socket_path: PathBuf,
    pub state_path: PathBuf,
    /// Limit for a TLS handshake and for each request's headers; see [`DEFAULT_HEADER_READ_TIMEOUT`].
    pub header_read_timeout: Duration,
    /// Extra roots trusted for the ACME server's HTTPS (a test CA); empty in production.
    pub acme_roots: Vec<rustls::pki_types::CertificateDer<'static>>,
    /// Plain HTTP/1.1 requests take [`crate::h1`]'s fast path; off, hyper serves every connection.
    pub fast_path: bool,
}

/// `KAMAL_PROXY_FAST_PATH=0` turns the fast path off (a diagnostic switch; see [`crate::h1`]).
pub fn fast_path_from_environment() -> bool {
    std::env::var("KAMAL_PROXY_FAST_PATH").map_or(true, |value| value != "0")
}

/// A server with its listeners open, ready to serve.
pub struct Server {
    settings: RunSettings,
    router: Arc<Router>,
    http: TcpListener,
    https: TcpListener,
    metrics: Option<TcpListener>,
    control: UnixListener,
    tls_config: Arc<rustls::ServerConfig>,
    /// `--http3`: the QUIC endpoint on the HTTPS port's UDP twin.
    http3: Option<quinn::Endpoint>,
}

/// Binds `:port` on every interface (IPv6 dual-stack when available, else IPv4), as Go's `:80` does.
async fn listen_tcp(port: u16) -> Result<TcpListener, String> {
    match TcpListener::bind(SocketAddr::from((Ipv6Addr::UNSPECIFIED, port))).await {
        Ok(listener) => Ok(listener),
        Err(_) => TcpListener::bind(SocketAddr::from(([0, 0, 0, 0], port)))
            .await
            .map_err(|error| format!("listen tcp :{port}: bind: {}", describe_io(&error))),
    }
}

impl Server {
    pub async fn bind(settings: RunSettings) -> Result<Self, String> {
        logging::set_debug(settings.debug);
        let router = Arc::new(
            Router::new(Some(settings.state_path.clone())).with_acme_roots(settings.acme_roots.clone()),
        );
        router.restore();
        let metrics = if settings.metrics_port != 0 {
            let listener = listen_tcp(settings.metrics_port).await?;
            logging::info(
                "Metrics enabled",
                &[("address", json!(format!(":{}", settings.metrics_port)))],
            );
            Some(listener)
        } else {
            None
        };
        let http = listen_tcp(settings.http_port).await?;
        let https = listen_tcp(settings.https_port).await?;
        let tls_config = tls::server_config(router.clone())?;
        let http3 = if settings.http3 {
            // The same port as HTTPS, also when the system chose it.
            let port = https
                .local_addr()
                .map_or(settings.https_port, |address| address.port());
            Some(http3::bind(
                port,
                http3::server_config(tls::resolver(router.clone()))?,
            )?)
        } else {
            None
        };
        // A stale socket from a killed server would make bind fail.
        let _ = std::fs::remove_file(&settings.socket_path);
        let control = UnixListener::bind(&settings.socket_path).map_err(|error| {
            format!(
                "listen unix {}: bind: {}",
                settings.socket_path.display(),
                describe_io(&error)
            )
        })?;
        Ok(Self {
            settings,
            router,
            http,
            https,
            metrics,
            control,
            tls_config,
            http3,
        })
    }

    /// The UDP address HTTP/3 listens on, with `--http3`.
    pub fn http3_address(&self) -> Option<SocketAddr> {
        self.http3
            .as_ref()
            .and_then(|endpoint| endpoint.local_addr().ok())
    }

    pub fn metrics_address(&self) -> Option<SocketAddr> {
        self.metrics
            .as_ref()
            .and_then(|listener| listener.local_addr().ok())
    }

    pub fn http_address(&self) -> Option<SocketAddr> {
        self.http.local_addr().ok()
    }

    pub fn https_address(&self) -> Option<SocketAddr> {
        self.https.local_addr().ok()
    }

    /// Serves until `shutdown` resolves, then shuts down gracefully.
    pub async fn serve(self, shutdown: impl Future<Output = ()>) {
        let Server {
            settings,
            router,
            http,
            https,
            metrics,
            control,
            tls_config,
            http3,
        } = self;
        let http_port = http.local_addr().map(|a| a.port()).unwrap_or(settings.http_port);
        let https_port = https
            .local_addr()
            .map(|a| a.port())
            .unwrap_or(settings.https_port);
        let stop = CancellationToken::new();
        let tracker = metrics.as_ref().map(|_| Arc::new(Metrics::default()));
        let proxy = Arc::new(Proxy {
            router: router.clone(),
            http_port: settings.http_port,
            https_port: settings.https_port,
            metrics: tracker.clone(),
            alt_svc: http3.as_ref().map(|_| http3::alt_svc(https_port)),
        });

        let control_task = tokio::spawn(control::server::serve(control, router.clone(), stop.clone()));
        let workers = Workers::start(
            worker_count(),
            proxy.clone(),
            tls_config,
            settings.header_read_timeout,
            settings.fast_path,
            stop.clone(),
        );
        let https_task = tokio::spawn(accept_connections(https, true, workers.clone(), stop.clone()));
        let http_task = tokio::spawn(accept_connections(http, false, workers.clone(), stop.clone()));
        let http3_task = http3.map(|endpoint| {
            let proxy = proxy.clone();
            let handler = move |peer, request| {
                let proxy = proxy.clone();
                async move {
                    match proxy::handle(proxy, peer, true, request).await {
                        Ok(response) => response,
                        Err(never) => match never {},
                    }
                }
            };
            tokio::spawn(http3::serve(endpoint, handler, stop.clone()))
        });
        let metrics_task = match (metrics, tracker) {
            (Some(listener), Some(tracker)) => {
                Some(tokio::spawn(metrics::serve(listener, tracker, stop.clone())))
            }
            _ => None,
        };
        logging::info(
            "Server started",
            &[("http", json!(http_port)), ("https", json!(https_port))],
        );

        shutdown.await;
        stop.cancel();
        let _ = control_task.await;
        let _ = https_task.await;
        let _ = http_task.await;
        if let Some(task) = http3_task {
            let _ = task.await;
        }
        workers.finish().await;
        if let Some(task) = metrics_task {
            let _ = task.await;
        }
        router.dispose_all();
        // Go's unix listener unlinks its socket on close.
        let _ = std::fs::remove_file(&settings.socket_path);
        logging::info("Server stopped", &[]);
    }
}

/// One worker per core unless `KAMAL_PROXY_WORKERS` says otherwise.
fn worker_count() -> usize {
    std::env::var("KAMAL_PROXY_WORKERS")
        .ok()
        .and_then(|value| value.parse().ok())
        .filter(|count| *count > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |count| count.get()))
}

/// An accepted connection on its way to a worker.
struct Accepted {
    stream: std::net::TcpStream,
    peer: SocketAddr,
    tls: bool,
}

/// Thread per core: each worker thread runs its own single-threaded runtime and serves the connections handed
/// to it for their whole life, so a request and its upstream connection never cross threads (no work
/// stealing, no shared pool; see [`crate::forward::pool`]). Routing state stays shared through the router.
#[derive(Clone)]
struct Workers {
    senders: Arc<[tokio::sync::mpsc::UnboundedSender<Accepted>]>,
    next: Arc<std::sync::atomic::AtomicUsize>,
    finished: Arc<std::sync::Mutex<Vec<tokio::sync::oneshot::Receiver<bool>>>>,
}

impl Workers {
    fn start(
        count: usize,
        proxy: Arc<Proxy>,
        tls: Arc<rustls::ServerConfig>,
        header_read_timeout: Duration,
        fast_path: bool,
        stop: CancellationToken,
    ) -> Self {
        let mut senders = Vec::with_capacity(count);
        let mut finished = Vec::with_capacity(count);
        for index in 0..count {
            let (sender, receiver) = tokio::sync::mpsc::unbounded_channel();
            let (done, done_receiver) = tokio::sync::oneshot::channel();
            let worker = Worker {
                index,
                proxy: proxy.clone(),
                tls: tls.clone(),
                header_read_timeout,
                fast_path,
                stop: stop.clone(),
            };
            let spawned = std::thread::Builder::new()
                .name(format!("kamal-proxy-{index}"))
                .spawn(move || {
                    let _ = done.send(worker.run(receiver));
                });
            match spawned {
                Ok(_) => {
                    senders.push(sender);
                    finished.push(done_receiver);
                }
                Err(error) => logging::error(
                    "Unable to start a worker thread",
                    &[("error", json!(error.to_string()))],
                ),
            }
        }
        Self {
            senders: senders.into(),
            next: Arc::default(),
            finished: Arc::new(std::sync::Mutex::new(finished)),
        }
    }

    /// Round-robin, so the connections spread evenly over the cores.
    fn dispatch(&self, accepted: Accepted) {
        if self.senders.is_empty() {
            return;
        }
        let index = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % self.senders.len();
        let _ = self.senders[index].send(accepted);
    }

    /// Waits for every worker to finish its connections (each gives them [`SHUTDOWN_TIMEOUT`]).
    async fn finish(self) {
        let receivers = std::mem::take(&mut *self.finished.lock().unwrap_or_else(|p| p.into_inner()));
        let mut timed_out = false;
        for receiver in receivers {
            timed_out |= receiver.await.unwrap_or(false);
        }
        if timed_out {
            logging::warn("Closing active connections", &[]);
        }
    }
}

struct Worker {
    index: usize,
    proxy: Arc<Proxy>,
    tls: Arc<rustls::ServerConfig>,
    header_read_timeout: Duration,
    fast_path: bool,
    stop: CancellationToken,
}

impl Worker {
    /// Serves connections until `stop`, then waits up to 10 s for them to finish; returns whether some were
    /// still open then (they are closed with the runtime).
    fn run(self, receiver: tokio::sync::mpsc::UnboundedReceiver<Accepted>) -> bool {
        let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
            Ok(runtime) => runtime,
            Err(error) => {
                logging::error("Unable to start a worker", &[("error", json!(error.to_string()))]);
                return false;
            }
        };
        crate::forward::pool::set_worker(self.index);
        let timed_out = runtime.block_on(self.serve(receiver));
        // Name resolution may still be running on the blocking pool; it must not hold up the shutdown.
        runtime.shutdown_timeout(Duration::from_secs(1));
        timed_out
    }

    async fn serve(self, mut receiver: tokio::sync::mpsc::UnboundedReceiver<Accepted>) -> bool {
        // Each connection task holds a sender; when all are dropped, every connection has finished. (hyper-util's
        // GracefulShutdown does not cover connections with upgrades, which we need for WebSockets.)
        let (connections_open, mut all_closed) = tokio::sync::mpsc::channel::<()>(1);
        let mut http1 = hyper::server::conn::http1::Builder::new();
        // Go writes header names in canonical form (`Content-Type`, `Etag`); so does hyper with title case.
        http1
            .max_buf_size(MAX_HEADER_BYTES)
            .keep_alive(true)
            .title_case_headers(true)
            .timer(TokioTimer::new())
            .header_read_timeout(self.header_read_timeout);
        let mut http2 = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
        http2
            .timer(TokioTimer::new())
            .max_header_list_size(MAX_HEADER_BYTES as u32);
        loop {
            let accepted = tokio::select! {
                _ = self.stop.cancelled() => break,
                accepted = receiver.recv() => match accepted {
                    Some(accepted) => accepted,
                    None => break,
                },
            };
            let Ok(stream) = tokio::net::TcpStream::from_std(accepted.stream) else {
                continue;
            };
            let tls = accepted.tls.then(|| self.tls.clone());
            tokio::spawn(serve_connection(
                stream,
                accepted.peer,
                tls,
                self.proxy.clone(),
                http1.clone(),
                http2.clone(),
                self.header_read_timeout,
                self.fast_path,
                self.stop.clone(),
                connections_open.clone(),
            ));
        }
        drop(receiver);
        drop(connections_open);
        tokio::time::timeout(SHUTDOWN_TIMEOUT, all_closed.recv())
            .await
            .is_err()
    }
}

/// Accepts connections until `stop` and hands each to a worker. With `tls`, each connection completes a
/// handshake first and speaks HTTP/2 or HTTP/1.1 as ALPN chose; plain HTTP is HTTP/1.1 only (no h2c), as in
/// Go.
async fn accept_connections(listener: TcpListener, tls: bool, workers: Workers, stop: CancellationToken) {
    while let Some((stream, peer)) = accept(&listener, &stop).await {
        let _ = stream.set_nodelay(true);
        match stream.into_std() {
            Ok(stream) => workers.dispatch(Accepted {
                stream,
                peer: canonical_peer(peer),
                tls,
            }),
            Err(error) => logging::debug(
                "Unable to hand over a connection",
                &[("error", json!(error.to_string()))],
            ),
        }
    }
}

#[expect(
    clippy::too_many_arguments,
    reason = "one connection's whole context, passed once"
)]
async fn serve_connection(
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    tls: Option<Arc<rustls::ServerConfig>>,
    proxy: Arc<Proxy>,
    http1: hyper::server::conn::http1::Builder,
    http2: hyper::server::conn::http2::Builder<TokioExecutor>,
    header_read_timeout: Duration,
    fast_path: bool,
    stop: CancellationToken,
    open: tokio::sync::mpsc::Sender<()>,
) {
    let result = match tls {
        None if fast_path => {
            crate::h1::serve_connection(stream, peer, proxy, http1, header_read_timeout, stop).await;
            Ok(())
        }
        None => {
            let service = service_fn(move |request| proxy::handle(proxy.clone(), peer, false, request));
            let connection = http1
                .serve_connection(TokioIo::new(stream), service)
                .with_upgrades();
            run_until_stopped(connection, &stop, |c| c.graceful_shutdown()).await
        }
        Some(config) => {
            let handshake = accept_tls(stream, config, &proxy.router, header_read_timeout);
            let stream = tokio::select! {
                _ = stop.cancelled() => return,
                handshake = handshake => match handshake {
                    Ok(stream) => stream,
                    Err(error) => {
                        logging::debug("TLS handshake failed", &[("client_addr", json!(peer.to_string())), ("error", json!(error.to_string()))]);
                        return;
                    }
                },
            };
            if tls::is_acme_challenge(stream.get_ref().1.alpn_protocol()) {
                // A TLS-ALPN-01 validation: the handshake was the answer, no HTTP follows (RFC 8737 §3).
                drop(open);
                return;
            }
            let h2 = stream.get_ref().1.alpn_protocol() == Some(tls::ALPN_H2);
            let service = service_fn(move |request| proxy::handle(proxy.clone(), peer, true, request));
            if h2 {
                let connection = http2.serve_connection(TokioIo::new(stream), service);
                run_until_stopped(connection, &stop, |c| c.graceful_shutdown()).await
            } else {
                let connection = http1
                    .serve_connection(TokioIo::new(stream), service)
                    .with_upgrades();
                run_until_stopped(connection, &stop, |c| c.graceful_shutdown()).await
            }
        }
    };
    if let Err(error) = result {
        logging::debug(
            "Connection ended with an error",
            &[("error", json!(error.to_string()))],
        );
    }
    drop(open);
}

/// The next connection, or `None` once `stop` is cancelled. Accept errors (usually EMFILE) back off briefly
/// rather than spin.
pub(crate) async fn accept(
    listener: &TcpListener,
    stop: &CancellationToken,
) -> Option<(tokio::net::TcpStream, SocketAddr)> {
    loop {
        tokio::select! {
            _ = stop.cancelled() => return None,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => return Some(accepted),
                Err(error) => {
                    logging::error("Accept failed", &[("error", json!(error.to_string()))]);
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
        }
    }
}

/// Reads the ClientHello first so that a host needing an ACME certificate gets one before the handshake
/// goes on (the resolver then finds it in the cache).
/// A slow client gets `timeout` for its ClientHello and again for the rest of the handshake; the wait for a
/// certificate has its own limit ([`crate::acme::ISSUANCE_TIMEOUT`]).
async fn accept_tls(
    stream: tokio::net::TcpStream,
    config: Arc<rustls::ServerConfig>,
    router: &Router,
    timeout: Duration,
) -> std::io::Result<tokio_rustls::server::TlsStream<tokio::net::TcpStream>> {
    let timed_out = || std::io::Error::new(std::io::ErrorKind::TimedOut, "TLS handshake timed out");
    let acceptor = tokio_rustls::LazyConfigAcceptor::new(rustls::server::Acceptor::default(), stream);
    let start = tokio::time::timeout(timeout, acceptor)
        .await
        .map_err(|_| timed_out())??;
    let server_name = start.client_hello().server_name().map(str::to_owned);
    if let Some(server_name) = server_name {
        router.prepare_certificate(&server_name).await;
    }
    tokio::time::timeout(timeout, start.into_stream(config))
        .await
        .map_err(|_| timed_out())?
}

/// Drives a connection; on `stop`, finishes the request in progress and closes instead of keeping it alive.
async fn run_until_stopped<C, E>(
    connection: C,
    stop: &CancellationToken,
    graceful_shutdown: impl FnOnce(std::pin::Pin<&mut C>),
) -> Result<(), E>
where
    C: Future<Output = Result<(), E>>,
{
    let mut connection = std::pin::pin!(connection);
    tokio::select! {
        result = connection.as_mut() => result,
        _ = stop.cancelled() => {
            graceful_shutdown(connection.as_mut());
            connection.await
        }
    }
}

/// IPv4 clients on a dual-stack socket appear as `::ffff:a.b.c.d`; report them as plain IPv4 like Go.
pub(crate) fn canonical_peer(peer: SocketAddr) -> SocketAddr {
    match peer {
        SocketAddr::V6(v6) => match v6.ip().to_ipv4_mapped() {
            Some(v4) => SocketAddr::from((v4, v6.port())),
            None => peer,
        },
        v4 => v4,
    }
}

/// Resolves on SIGTERM or SIGINT.
pub async fn termination_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let terminate = signal(SignalKind::terminate());
    let interrupt = signal(SignalKind::interrupt());
    match (terminate, interrupt) {
        (Ok(mut terminate), Ok(mut interrupt)) => {
            tokio::select! {
                _ = terminate.recv() => {}
                _ = interrupt.recv() => {}
            }
        }
        _ => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
