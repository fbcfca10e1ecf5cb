//! Keep-alive connections to one target, kept apart per worker thread.
//!
//! Each worker thread (see [`crate::server`]) runs its own runtime, so a connection is driven by the thread
//! that opened it and is only ever reused by that thread: the slot a worker uses is its own, and its lock is
//! never contended. A connection goes back to its slot when the response body is finished (the forwarding
//! body hands it back), and is dropped, closing it, when the body was not read to the end or the connection
//! was upgraded. Requests that a pooled connection never sent (it closed meanwhile) are retried on a fresh one,
//! as hyper-util's client does.

use std::cell::Cell;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use http::{Method, Request, Response, Uri};
use http_body::Body;
use hyper::body::Incoming;
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;

use crate::body::ProxyBody;

/// Go's `http.Transport` closes connections idle this long.
const IDLE_TIMEOUT: Duration = Duration::from_secs(90);
/// As the Go proxy's transport: at most this many idle connections per target (here per worker).
const MAX_IDLE: usize = 100;

thread_local! {
    static WORKER: Cell<Option<usize>> = const { Cell::new(None) };
}

/// Marks this thread as worker `index`: its requests use that worker's slot in every pool.
pub fn set_worker(index: usize) {
    WORKER.with(|worker| worker.set(Some(index)));
}

/// A connection ready to carry the next request to the target.
pub type Connection = SendRequest<ProxyBody>;

struct Idle {
    connection: Connection,
    since: Instant,
}

pub struct Pool {
    /// `(host, port)` with port 80 when absent, as the Go proxy's `http://<target>`.
    authority: Result<(String, u16), String>,
    builder: http1::Builder,
    /// Slot 0 for threads that are not workers, then one per worker.
    slots: Box<[Mutex<Vec<Idle>>]>,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Pool")
            .field("authority", &self.authority)
            .finish()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A copy of `request` to send again if the first attempt gets no answer: idempotent methods (and requests with
/// an idempotency key, as Go) without a body.
fn replayable(request: &Request<ProxyBody>) -> Option<Request<ProxyBody>> {
    let idempotent = matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
    ) || request.headers().contains_key("idempotency-key")
        || request.headers().contains_key("x-idempotency-key");
    if !idempotent || !request.body().is_end_stream() {
        return None;
    }
    let mut replay = Request::new(crate::body::empty());
    *replay.method_mut() = request.method().clone();
    *replay.uri_mut() = request.uri().clone();
    *replay.version_mut() = request.version();
    *replay.headers_mut() = request.headers().clone();
    Some(replay)
}

/// The innermost cause, which is what the user needs ("Connection refused (os error 111)").
pub fn describe(error: &(dyn std::error::Error + 'static)) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(inner) = source {
        message = inner.to_string();
        source = inner.source();
    }
    message
}

impl Pool {
    /// A pool for `address` (`host:port`); nothing connects until the first request.
    pub fn new(address: &str) -> Self {
        let mut builder = http1::Builder::new();
        // Go's transport sends canonical header names (`User-Agent`, `X-Forwarded-For`); title case matches.
        builder.title_case_headers(true);
        let workers = std::thread::available_parallelism().map_or(1, |count| count.get());
        Self {
            authority: Uri::try_from(format!("http://{address}"))
                .map_err(|error| format!("invalid upstream URI: {error}"))
                .map(|uri| {
                    let host = uri.host().unwrap_or_default();
                    let host = host.trim_start_matches('[').trim_end_matches(']');
                    (host.to_string(), uri.port_u16().unwrap_or(80))
                }),
            builder,
            slots: (0..=workers).map(|_| Mutex::new(Vec::new())).collect(),
        }
    }

    fn slot(&self) -> &Mutex<Vec<Idle>> {
        let index = WORKER
            .with(Cell::get)
            .map_or(0, |worker| 1 + worker % (self.slots.len() - 1));
        &self.slots[index]
    }

    /// Sends `request` (origin-form URI, `Host` set) on an idle connection of this thread, else a new one.
    /// The connection comes back with the response: give it to [`Pool::reuse`] once the body is finished.
    ///
    /// An idle connection the upstream has just closed (its keep-alive timeout) may take the request before
    /// the close is seen. As Go's transport does, a request that never got an answer there is sent again on
    /// a new connection when it is replayable: never written, or idempotent without a body.
    pub async fn send(
        &self,
        mut request: Request<ProxyBody>,
    ) -> Result<(Response<Incoming>, Connection), String> {
        while let Some(mut connection) = self.take_idle() {
            if !connection.is_ready() && connection.ready().await.is_err() {
                continue;
            }
            let replay = replayable(&request);
            match connection.try_send_request(request).await {
                Ok(response) => return Ok((response, connection)),
                Err(mut error) => match (error.take_message(), replay) {
                    // Never written: the connection closed while idle.
                    (Some(unsent), _) => request = unsent,
                    (None, Some(replay)) => {
                        request = replay;
                        break;
                    }
                    (None, None) => return Err(describe(error.error())),
                },
            }
        }
        let mut connection = self.connect().await?;
        match connection.send_request(request).await {
            Ok(response) => Ok((response, connection)),
            Err(error) => Err(describe(&error)),
        }
    }

    fn take_idle(&self) -> Option<Connection> {
        let mut idle = lock(self.slot());
        while let Some(candidate) = idle.pop() {
            if candidate.since.elapsed() > IDLE_TIMEOUT {
                // The rest are older still.
                idle.clear();
                return None;
            }
            if !candidate.connection.is_closed() {
                return Some(candidate.connection);
            }
        }
        None
    }

    async fn connect(&self) -> Result<Connection, String> {
        let (host, port) = self.authority.as_ref().map_err(Clone::clone)?;
        let stream = tokio::net::TcpStream::connect((host.as_str(), *port))
            .await
            .map_err(|error| describe(&error))?;
        let _ = stream.set_nodelay(true);
        let (connection, driver) = self
            .builder
            .handshake::<_, ProxyBody>(TokioIo::new(stream))
            .await
            .map_err(|error| describe(&error))?;
        tokio::spawn(async move {
            if let Err(error) = driver.with_upgrades().await {
                crate::logging::debug(
                    "Upstream connection ended with an error",
                    &[("error", serde_json::json!(error.to_string()))],
                );
            }
        });
        Ok(connection)
    }

    /// Puts back a connection whose response body was read to the end.
    pub fn reuse(&self, connection: Connection) {
        if connection.is_closed() {
            return;
        }
        let mut idle = lock(self.slot());
        if idle.len() >= MAX_IDLE {
            idle.remove(0);
        }
        idle.push(Idle {
            connection,
            since: Instant::now(),
        });
    }

    /// Idle connections across all threads.
    pub fn idle_count(&self) -> usize {
        self.slots.iter().map(|slot| lock(slot).len()).sum()
    }
}
