//! Listeners, accept loops and graceful shutdown for `kamal-proxy run` (§1.2, §2.6, §6.1).
//!
//! Start order follows the Go proxy: restore saved state, open the HTTP and HTTPS listeners, then the control
//! socket, then log `Server started`. Shutdown stops accepting, gives connections 10 s to finish, then closes
//! whatever is left. The accept loop, connection builder and shutdown are kept in view as in hyper's examples.

use std::future::Future;
use std::net::{Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::json;
use tokio::net::{TcpListener, UnixListener};
use tokio_util::sync::CancellationToken;

use crate::control;
use crate::control::client::describe_io;
use crate::logging;
use crate::proxy::{self, Proxy};
use crate::router::Router;

/// Go's `http.Server` default header limit (1 MiB) plus its 4 KiB slack.
const MAX_HEADER_BYTES: usize = (1 << 20) + 4096;
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);

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
}

/// A server with its listeners open, ready to serve.
pub struct Server {
    settings: RunSettings,
    router: Arc<Router>,
    http: TcpListener,
    https: TcpListener,
    control: UnixListener,
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
        let router = Arc::new(Router::new(Some(settings.state_path.clone())));
        router.restore();
        if settings.metrics_port != 0 {
            logging::warn(
                "Metrics are not active in this version of kamal-proxy; --metrics-port is ignored",
                &[("port", json!(settings.metrics_port))],
            );
        }
        if settings.http3 {
            logging::warn(
                "HTTP/3 is not active in this version of kamal-proxy; --http3 is ignored",
                &[],
            );
        }
        let http = listen_tcp(settings.http_port).await?;
        let https = listen_tcp(settings.https_port).await?;
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
            control,
        })
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
            control,
        } = self;
        let http_port = http.local_addr().map(|a| a.port()).unwrap_or(settings.http_port);
        let https_port = https
            .local_addr()
            .map(|a| a.port())
            .unwrap_or(settings.https_port);
        let stop = CancellationToken::new();
        let proxy = Arc::new(Proxy {
            router: router.clone(),
            http_port: settings.http_port,
        });

        let control_task = tokio::spawn(control::server::serve(control, router.clone(), stop.clone()));
        let https_task = tokio::spawn(refuse_tls(https, stop.clone()));
        let http_task = tokio::spawn(serve_http(http, proxy, stop.clone()));
        logging::info(
            "Server started",
            &[("http", json!(http_port)), ("https", json!(https_port))],
        );

        shutdown.await;
        stop.cancel();
        let _ = control_task.await;
        let _ = https_task.await;
        let _ = http_task.await;
        router.dispose_all();
        // Go's unix listener unlinks its socket on close.
        let _ = std::fs::remove_file(&settings.socket_path);
        logging::info("Server stopped", &[]);
    }
}

async fn serve_http(listener: TcpListener, proxy: Arc<Proxy>, stop: CancellationToken) {
    // Each connection task holds a sender; when all are dropped, every connection has finished. (hyper-util's
    // GracefulShutdown does not cover connections with upgrades, which we need for WebSockets.)
    let (connections_open, mut all_closed) = tokio::sync::mpsc::channel::<()>(1);
    let mut builder = hyper::server::conn::http1::Builder::new();
    // Go writes header names in canonical form (`Content-Type`, `Etag`); so does hyper with title case.
    builder
        .max_buf_size(MAX_HEADER_BYTES)
        .keep_alive(true)
        .title_case_headers(true);
    loop {
        let (stream, peer) = tokio::select! {
            _ = stop.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    logging::error("Accept failed", &[("error", json!(error.to_string()))]);
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let peer = canonical_peer(peer);
        let proxy = proxy.clone();
        let service = service_fn(move |request| proxy::handle(proxy.clone(), peer, request));
        let connection = builder
            .serve_connection(TokioIo::new(stream), service)
            .with_upgrades();
        let stop = stop.clone();
        let open = connections_open.clone();
        tokio::spawn(async move {
            let mut connection = std::pin::pin!(connection);
            let result = tokio::select! {
                result = connection.as_mut() => result,
                _ = stop.cancelled() => {
                    // Finish the request in progress, then close instead of keeping the connection alive.
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
            };
            if let Err(error) = result {
                logging::debug(
                    "Connection ended with an error",
                    &[("error", json!(error.to_string()))],
                );
            }
            drop(open);
        });
    }
    drop(listener);
    drop(connections_open);
    if tokio::time::timeout(SHUTDOWN_TIMEOUT, all_closed.recv())
        .await
        .is_err()
    {
        // The connection tasks end with the runtime when `run` returns.
        logging::warn("Closing active connections", &[]);
    }
}

/// IPv4 clients on a dual-stack socket appear as `::ffff:a.b.c.d`; report them as plain IPv4 like Go.
fn canonical_peer(peer: SocketAddr) -> SocketAddr {
    match peer {
        SocketAddr::V6(v6) => match v6.ip().to_ipv4_mapped() {
            Some(v4) => SocketAddr::from((v4, v6.port())),
            None => peer,
        },
        v4 => v4,
    }
}

/// TLS termination arrives in part 2. Until then the HTTPS port is bound (so ports and Docker publishing match
/// the Go proxy) and every connection is closed, which is what a Go proxy with no TLS service does too: the
/// handshake fails.
async fn refuse_tls(listener: TcpListener, stop: CancellationToken) {
    logging::warn(
        "TLS is not active in this version of kamal-proxy; HTTPS connections are closed",
        &[],
    );
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            accepted = listener.accept() => {
                if let Ok((stream, peer)) = accepted {
                    logging::debug("Closing HTTPS connection: TLS is not active", &[("client_addr", json!(peer.to_string()))]);
                    drop(stream);
                } else {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
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
