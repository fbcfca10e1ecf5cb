//! One upstream target: its address, connection pool, health, and the requests it has in flight.
//!
//! In-flight tracking is what makes switching zero-downtime: a request registers when it claims the target and
//! unregisters when its response body is finished (the guard travels with the body). `drain` waits for exactly
//! those requests, cuts upgraded connections at once, and cancels whatever is still running at the deadline
//! (the client then gets 504), as §4.4 describes.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::forward::pool::Pool;
use crate::health::{HttpClient, TargetHealth};
use crate::logging;

#[derive(Debug)]
struct InFlight {
    cancel: CancellationToken,
    finished: CancellationToken,
    upgraded: Arc<AtomicBool>,
}

#[derive(Debug)]
pub struct Target {
    pub address: String,
    /// For health checks.
    pub client: HttpClient,
    /// For the requests proxied to this target.
    pub pool: Pool,
    health: Mutex<TargetHealth>,
    in_flight: Mutex<HashMap<u64, InFlight>>,
    next_request: AtomicU64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("target is draining")]
pub struct TargetDraining;

/// Held by a request from claim until its response is finished; dropping it tells a drain it is done.
#[derive(Debug)]
pub struct InFlightGuard {
    target: Arc<Target>,
    id: u64,
    pub cancel: CancellationToken,
    upgraded: Arc<AtomicBool>,
}

impl InFlightGuard {
    pub fn target(&self) -> &Arc<Target> {
        &self.target
    }

    /// Upgraded connections (WebSockets) are cut at once by a drain instead of being waited for.
    pub fn mark_upgraded(&self) {
        self.upgraded.store(true, Ordering::SeqCst);
    }
}

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        if let Some(entry) = lock(&self.target.in_flight).remove(&self.id) {
            entry.finished.cancel();
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
            in_flight: Mutex::new(HashMap::new()),
            next_request: AtomicU64::new(0),
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
        // Checked under the in-flight lock's sibling: a drain sets Draining before it snapshots, so a claim
        // either lands in its snapshot or is refused.
        let health = lock(&self.health);
        if *health == TargetHealth::Draining {
            return Err(TargetDraining);
        }
        let id = self.next_request.fetch_add(1, Ordering::Relaxed);
        let cancel = CancellationToken::new();
        let upgraded = Arc::new(AtomicBool::new(false));
        lock(&self.in_flight).insert(
            id,
            InFlight {
                cancel: cancel.clone(),
                finished: CancellationToken::new(),
                upgraded: upgraded.clone(),
            },
        );
        drop(health);
        Ok(InFlightGuard {
            target: self.clone(),
            id,
            cancel,
            upgraded,
        })
    }

    pub fn in_flight_count(&self) -> usize {
        lock(&self.in_flight).len()
    }

    /// Waits up to `timeout` for the requests in flight now, then cancels the rest (→ 504).
    pub async fn drain(&self, timeout: Duration) {
        let previous = {
            let mut health = lock(&self.health);
            if *health == TargetHealth::Draining {
                return;
            }
            std::mem::replace(&mut *health, TargetHealth::Draining)
        };
        let snapshot: Vec<(CancellationToken, CancellationToken)> = lock(&self.in_flight)
            .values()
            .map(|entry| {
                if entry.upgraded.load(Ordering::SeqCst) {
                    entry.cancel.cancel();
                }
                (entry.cancel.clone(), entry.finished.clone())
            })
            .collect();
        let deadline = tokio::time::Instant::now() + timeout;
        for (_, finished) in &snapshot {
            let _ = tokio::time::timeout_at(deadline, finished.cancelled()).await;
        }
        for (cancel, finished) in &snapshot {
            if !finished.is_cancelled() && !cancel.is_cancelled() {
                logging::info(
                    "Request cancelled due to draining",
                    &[("target", json!(self.address))],
                );
                cancel.cancel();
            }
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
        let slow_cancel = slow.cancel.clone();
        let upgraded_cancel = upgraded.cancel.clone();
        let releaser = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            drop(quick);
        });
        target.drain(Duration::from_millis(200)).await;
        assert!(releaser.await.is_ok());
        assert!(upgraded_cancel.is_cancelled(), "upgrades are cut");
        assert!(
            slow_cancel.is_cancelled(),
            "stragglers are cancelled at the deadline"
        );
        assert_eq!(
            target.health(),
            TargetHealth::Healthy,
            "the earlier state comes back"
        );
        drop((slow, upgraded));
        assert_eq!(target.in_flight_count(), 0);
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
