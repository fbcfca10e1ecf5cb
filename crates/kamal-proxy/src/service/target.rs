//! One upstream target: its address, connection pool, health, and the requests it has in flight.
//!
//! In-flight tracking is what makes switching zero-downtime: a request registers when it claims the target and
//! unregisters when its response body is finished (the guard travels with the body). `drain` waits for exactly
//! those requests, cuts upgraded connections at once, and cancels whatever is still running at the deadline
//! (the client then gets 504), as §4.4 describes.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::json;
use tokio::sync::Notify;

use crate::forward::pool::Pool;
use crate::health::{HttpClient, TargetHealth};
use crate::logging;

/// What a drain needs to know about the requests in flight, kept in a few shared atomics: claiming and
/// finishing a request touch no lock and allocate nothing, and a request checks for cancellation with two
/// loads (it registers to be woken only while it waits for the upstream).
///
/// Each drain opens a new epoch; a request carries the epoch it was claimed in. Claims are refused while
/// a drain runs, so the requests a drain waits for are exactly those in flight, all of an earlier epoch, and
/// cutting them is moving a mark past their epoch.
#[derive(Debug, Default)]
struct InFlight {
    count: AtomicUsize,
    epoch: AtomicU64,
    /// Requests of an epoch below this are cancelled (a drain's deadline passed).
    cut_all: AtomicU64,
    /// Upgraded requests of an epoch below this are cancelled (a drain started).
    cut_upgraded: AtomicU64,
    /// Woken when a mark moves.
    cut: Arc<Notify>,
    /// Set while a drain waits, so that only then the last request out wakes it.
    drain_waiting: AtomicBool,
    finished: Notify,
}

#[derive(Debug)]
pub struct Target {
    pub address: String,
    /// For health checks.
    pub client: HttpClient,
    /// For the requests proxied to this target.
    pub pool: Pool,
    health: Mutex<TargetHealth>,
    in_flight: InFlight,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("target is draining")]
pub struct TargetDraining;

/// Held by a request from claim until its response is finished; dropping it tells a drain it is done.
#[derive(Debug)]
pub struct InFlightGuard {
    target: Arc<Target>,
    epoch: u64,
    upgraded: AtomicBool,
}

impl InFlightGuard {
    pub fn target(&self) -> &Arc<Target> {
        &self.target
    }

    /// Upgraded connections (WebSockets) are cut at once by a drain instead of being waited for.
    pub fn mark_upgraded(&self) {
        self.upgraded.store(true, Ordering::SeqCst);
    }

    /// A drain cut this request: its client gets 504, or its body an error.
    pub fn is_cancelled(&self) -> bool {
        let in_flight = &self.target.in_flight;
        self.epoch < in_flight.cut_all.load(Ordering::SeqCst)
            || (self.upgraded.load(Ordering::SeqCst)
                && self.epoch < in_flight.cut_upgraded.load(Ordering::SeqCst))
    }

    /// Resolves when a drain cuts this request.
    pub async fn cancelled(&self) {
        loop {
            let notified = self.target.in_flight.cut.notified();
            let mut notified = std::pin::pin!(notified);
            // Registered before the check, so a cut between the two still wakes us.
            notified.as_mut().enable();
            if self.is_cancelled() {
                return;
            }
            notified.await;
        }
    }

    /// A wake-up for the next cut, to poll from a body; see [`InFlightGuard::cancelled`] for the order.
    pub fn next_cut(&self) -> tokio::sync::futures::OwnedNotified {
        self.target.in_flight.cut.clone().notified_owned()
    }
}

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        let in_flight = &self.target.in_flight;
        if in_flight.count.fetch_sub(1, Ordering::SeqCst) == 1
            && in_flight.drain_waiting.load(Ordering::SeqCst)
        {
            in_flight.finished.notify_waiters();
        }
    }
}

/// A poisoned lock only means another request panicked mid-update; the data is still the best we have.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Target {
    pub fn new(address: String) -> Arc<Self> {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        // Go's transport sends canonical header names (`User-Agent`, `X-Forwarded-For`); title case matches.
        let client = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(100)
            .http1_title_case_headers(true)
            .build(connector);
        Arc::new(Self {
            pool: Pool::new(&address),
            address,
            client,
            health: Mutex::new(TargetHealth::Adding),
            in_flight: InFlight::default(),
        })
    }

    pub fn health(&self) -> TargetHealth {
        *lock(&self.health)
    }

    /// Applies a check result; returns `(was, now)` when the state changed.
    pub fn record_check(&self, healthy: bool) -> Option<(TargetHealth, TargetHealth)> {
        let mut health = lock(&self.health);
        let was = *health;
        let now = was.after_check(healthy)?;
        *health = now;
        Some((was, now))
    }

    pub fn mark_healthy(&self) {
        *lock(&self.health) = TargetHealth::Healthy;
    }

    pub fn claim(self: &Arc<Self>) -> Result<InFlightGuard, TargetDraining> {
        // Under the health lock: a drain sets Draining and opens its epoch under it too, so a claim either
        // counts before the drain looks or is refused.
        let health = lock(&self.health);
        if *health == TargetHealth::Draining {
            return Err(TargetDraining);
        }
        self.in_flight.count.fetch_add(1, Ordering::SeqCst);
        let epoch = self.in_flight.epoch.load(Ordering::SeqCst);
        drop(health);
        Ok(InFlightGuard {
            target: self.clone(),
            epoch,
            upgraded: AtomicBool::new(false),
        })
    }

    pub fn in_flight_count(&self) -> usize {
        self.in_flight.count.load(Ordering::SeqCst)
    }

    /// Waits up to `timeout` for the requests in flight now, then cancels the rest (→ 504).
    pub async fn drain(&self, timeout: Duration) {
        let in_flight = &self.in_flight;
        let (previous, epoch) = {
            let mut health = lock(&self.health);
            if *health == TargetHealth::Draining {
                return;
            }
            let previous = std::mem::replace(&mut *health, TargetHealth::Draining);
            (previous, in_flight.epoch.fetch_add(1, Ordering::SeqCst) + 1)
        };
        in_flight.cut_upgraded.fetch_max(epoch, Ordering::SeqCst);
        in_flight.cut.notify_waiters();
        in_flight.drain_waiting.store(true, Ordering::SeqCst);
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let finished = in_flight.finished.notified();
            let mut finished = std::pin::pin!(finished);
            finished.as_mut().enable();
            if in_flight.count.load(Ordering::SeqCst) == 0
                || tokio::time::timeout_at(deadline, finished).await.is_err()
            {
                break;
            }
        }
        in_flight.drain_waiting.store(false, Ordering::SeqCst);
        let left = in_flight.count.load(Ordering::SeqCst);
        if left > 0 {
            logging::info(
                "Request cancelled due to draining",
                &[("target", json!(self.address)), ("requests", json!(left))],
            );
            in_flight.cut_all.fetch_max(epoch, Ordering::SeqCst);
            in_flight.cut.notify_waiters();
        }
        *lock(&self.health) = previous;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn drain_waits_for_requests_then_cancels_the_rest() {
        let target = Target::new("example:80".into());
        target.mark_healthy();
        let quick = target.claim().expect("claims");
        let slow = target.claim().expect("claims");
        let upgraded = target.claim().expect("claims");
        upgraded.mark_upgraded();
        let releaser = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            drop(quick);
        });
        target.drain(Duration::from_millis(200)).await;
        assert!(releaser.await.is_ok());
        assert!(upgraded.is_cancelled(), "upgrades are cut");
        assert!(slow.is_cancelled(), "stragglers are cancelled at the deadline");
        assert_eq!(
            target.health(),
            TargetHealth::Healthy,
            "the earlier state comes back"
        );
        drop((slow, upgraded));
        assert_eq!(target.in_flight_count(), 0);
        let later = target.claim().expect("claims");
        assert!(
            !later.is_cancelled(),
            "a later request is not cut by an earlier drain"
        );
    }

    #[tokio::test]
    async fn draining_targets_refuse_claims() {
        let target = Target::new("example:80".into());
        let guard = target.claim().expect("claims");
        let drain = tokio::spawn({
            let target = target.clone();
            async move { target.drain(Duration::from_secs(5)).await }
        });
        while target.health() != TargetHealth::Draining {
            tokio::task::yield_now().await;
        }
        assert!(target.claim().is_err());
        drop(guard);
        assert!(drain.await.is_ok());
    }
}
