//! Keep-alive connections to one target, kept apart per worker thread.
//!
//! Each worker thread (see [`crate::server`]) runs its own runtime, so a connection is driven by the thread
//! that opened it and is only ever reused by that thread: the slot a worker uses is its own, and its lock is
//! never contended. A connection goes back to its slot when the response body is finished (the forwarding
//! body hands it back), and is dropped, closing it, when the body was not read to the end or the connection
//! was upgraded. Requests that a pooled connection never sent (it closed meanwhile) are retried on a fresh one,
//! as Go's transport does. The HTTP/1.1 exchange itself is [`super::upstream`]'s, run in the request's task.

use std::cell::Cell;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use http::{HeaderMap, Method, Uri};

use super::upstream::{self, Answer, Connection, Outgoing};

/// Go's `http.Transport` closes connections idle this long.
const IDLE_TIMEOUT: Duration = Duration::from_secs(90);
/// An idle connection keeps a read buffer up to this size.
const IDLE_BUFFER: usize = 64 * 1024;
/// As the Go proxy's transport: at most this many idle connections per target (here per worker).
const MAX_IDLE: usize = 100;

thread_local! {
    static WORKER: Cell<Option<usize>> = const { Cell::new(None) };
}

/// Marks this thread as worker `index`: its requests use that worker's slot in every pool.
pub fn set_worker(index: usize) {
    WORKER.with(|worker| worker.set(Some(index)));
}

struct Idle {
    connection: Connection,
    since: Instant,
}

pub struct Pool {
    /// `(host, port)` with port 80 when absent, as the Go proxy's `http://<target>`.
    authority: Result<(String, u16), String>,
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

/// Requests that may be sent again when the first attempt got no answer: idempotent methods (and requests with
/// an idempotency key, as Go).
pub fn idempotent(method: &Method, headers: &HeaderMap) -> bool {
    idempotent_method(method)
        || headers.contains_key("idempotency-key")
        || headers.contains_key("x-idempotency-key")
}

/// Methods safe to send twice.
pub fn idempotent_method(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
    )
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
        let workers = std::thread::available_parallelism().map_or(1, |count| count.get());
        Self {
            authority: Uri::try_from(format!("http://{address}"))
                .map_err(|error| format!("invalid upstream URI: {error}"))
                .map(|uri| {
                    let host = uri.host().unwrap_or_default();
                    let host = host.trim_start_matches('[').trim_end_matches(']');
                    (host.to_string(), uri.port_u16().unwrap_or(80))
                }),
            slots: (0..=workers).map(|_| Mutex::new(Vec::new())).collect(),
        }
    }

    fn slot(&self) -> &Mutex<Vec<Idle>> {
        let index = WORKER
            .with(Cell::get)
            .map_or(0, |worker| 1 + worker % (self.slots.len() - 1));
        &self.slots[index]
    }

    /// Sends `outgoing` on an idle connection of this thread, else a new one, and reads the response head.
    /// Give the connection of a finished response body back with [`Pool::reuse`].
    ///
    /// An idle connection the upstream has just closed (its keep-alive timeout) may take the request before
    /// the close is seen. As Go's transport does, a request that got no answer there is sent again on another
    /// connection when it is replayable: nothing of it was written, or it is idempotent without a body.
    pub async fn send(
        &self,
        method: &Method,
        headers: &HeaderMap,
        outgoing: Outgoing,
        upgrade: bool,
    ) -> Result<Answer, String> {
        self.exchange(method, outgoing, upgrade, idempotent(method, headers))
            .await?
            .into_answer(upgrade)
    }

    /// [`Pool::send`] for a caller that knows whether the request may be sent twice, answering with the
    /// response head as the upstream sent it.
    pub async fn exchange(
        &self,
        method: &Method,
        mut outgoing: Outgoing,
        upgrade: bool,
        replayable: bool,
    ) -> Result<upstream::Exchanged, String> {
        while let Some(connection) = self.take_idle() {
            let replay = if replayable { outgoing.replay() } else { None };
            match upstream::exchange_raw(connection, outgoing, method, upgrade).await {
                Ok(exchanged) => return Ok(exchanged),
                Err(failure) => match (failure.outgoing, replay) {
                    (Some(unsent), _) => outgoing = unsent,
                    (None, Some(replay)) if failure.unanswered => outgoing = replay,
                    _ => return Err(failure.message),
                },
            }
        }
        let connection = self.connect().await?;
        upstream::exchange_raw(connection, outgoing, method, upgrade)
            .await
            .map_err(|failure| failure.message)
    }

    fn take_idle(&self) -> Option<Connection> {
        let mut idle = lock(self.slot());
        while let Some(candidate) = idle.pop() {
            if candidate.since.elapsed() > IDLE_TIMEOUT {
                // The rest are older still.
                idle.clear();
                return None;
            }
            if candidate.connection.is_usable() {
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
        Ok(Connection::new(stream))
    }

    /// Puts back a connection whose response body was read to the end.
    pub fn reuse(&self, mut connection: Connection) {
        if connection.read.capacity() > IDLE_BUFFER {
            // A large body's read buffer is not kept for as long as the connection idles.
            connection.read = bytes::BytesMut::new();
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
