//! A load balancer over one deploy's targets (§4.3, §4.6): health-check loops, round-robin over healthy
//! writers and readers, and the "all healthy" signal a deploy waits on.
//!
//! A deploy builds a new balancer and swaps it in whole, so a balancer's target list never changes. Health
//! checks run in tasks owned by the balancer and stop when it is disposed of or dropped.

use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use serde_json::json;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::options::{validate_target, HealthCheckConfig};
use super::target::{InFlightGuard, Target};
use crate::health::{self, TargetHealth};
use crate::logging;

#[derive(Debug, Default)]
struct Selection {
    healthy_writers: Vec<usize>,
    healthy_readers: Vec<usize>,
    next_writer: usize,
    next_reader: usize,
}

#[derive(Debug)]
pub struct LoadBalancer {
    writers: Vec<Arc<Target>>,
    readers: Vec<Arc<Target>>,
    selection: Mutex<Selection>,
    all_healthy: watch::Sender<bool>,
    last_failure: Mutex<Option<(String, String)>>,
    health_checks: CancellationToken,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PickError {
    #[error("no healthy targets")]
    NoHealthyTargets,
    #[error("target is draining")]
    Draining,
}

impl Drop for LoadBalancer {
    fn drop(&mut self) {
        self.health_checks.cancel();
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl LoadBalancer {
    /// Checks every name (§4.2) and builds the targets; health checks are not started yet.
    pub fn new(writers: &[String], readers: &[String]) -> Result<Arc<Self>, String> {
        for name in writers.iter().chain(readers) {
            validate_target(name)?;
        }
        Ok(Arc::new(Self {
            writers: writers.iter().map(|name| Target::new(name.clone())).collect(),
            readers: readers.iter().map(|name| Target::new(name.clone())).collect(),
            selection: Mutex::new(Selection::default()),
            all_healthy: watch::Sender::new(false),
            last_failure: Mutex::new(None),
            health_checks: CancellationToken::new(),
        }))
    }

    pub fn writer_names(&self) -> Vec<String> {
        self.writers.iter().map(|target| target.address.clone()).collect()
    }

    pub fn reader_names(&self) -> Vec<String> {
        self.readers.iter().map(|target| target.address.clone()).collect()
    }

    pub fn has_readers(&self) -> bool {
        !self.readers.is_empty()
    }

    fn all_targets(&self) -> impl Iterator<Item = &Arc<Target>> {
        self.writers.iter().chain(&self.readers)
    }

    fn target_count(&self) -> usize {
        self.writers.len() + self.readers.len()
    }

    /// Starts one health-check loop per target; the first check runs at once.
    pub fn start_health_checks(self: &Arc<Self>, config: &HealthCheckConfig) {
        for target in self.all_targets() {
            let url = health::check_url(&target.address, config);
            tokio::spawn(health_loop(
                Arc::downgrade(self),
                target.clone(),
                url,
                config.clone(),
                self.health_checks.child_token(),
            ));
        }
    }

    /// Restored services trust their saved targets (§2.4): healthy at once, no gate.
    pub fn mark_all_healthy(&self) {
        for target in self.all_targets() {
            target.mark_healthy();
        }
        self.rebuild();
    }

    /// Stops the health checks (before draining, or when a deploy is abandoned or a service removed).
    pub fn dispose(&self) {
        self.health_checks.cancel();
    }

    /// Waits until every target (readers included) has passed a check. On timeout returns the last failure
    /// seen, `(url, error)`, so the user learns what the check saw.
    pub async fn wait_until_healthy(&self, timeout: Duration) -> Result<(), Option<(String, String)>> {
        let mut receiver = self.all_healthy.subscribe();
        let healthy = matches!(
            tokio::time::timeout(timeout, receiver.wait_for(|healthy| *healthy)).await,
            Ok(Ok(_))
        );
        if healthy {
            Ok(())
        } else {
            Err(lock(&self.last_failure).clone())
        }
    }

    fn record_failure(&self, url: &str, error: &str) {
        *lock(&self.last_failure) = Some((url.to_string(), error.to_string()));
    }

    /// `healthy` when every target is, else each one that is not with its state, for `list`.
    pub fn health_summary(&self) -> String {
        let unwell: Vec<String> = self
            .all_targets()
            .filter(|target| target.health() != TargetHealth::Healthy)
            .map(|target| format!("{} {}", target.address, target.health().name()))
            .collect();
        if unwell.is_empty() {
            "healthy".to_string()
        } else {
            unwell.join(",")
        }
    }

    fn rebuild(&self) {
        let in_state = |targets: &[Arc<Target>], state: TargetHealth| -> Vec<usize> {
            targets
                .iter()
                .enumerate()
                .filter(|(_, target)| target.health() == state)
                .map(|(index, _)| index)
                .collect()
        };
        let mut selection = lock(&self.selection);
        selection.healthy_writers = in_state(&self.writers, TargetHealth::Healthy);
        selection.healthy_readers = in_state(&self.readers, TargetHealth::Healthy);
        let all_healthy =
            selection.healthy_writers.len() + selection.healthy_readers.len() == self.target_count();
        if selection.healthy_writers.is_empty() {
            // A failing writer leaves the rotation only while another one is healthy: with none healthy, the
            // ones that failed after serving are still the best chance (Go's single target never leaves).
            selection.healthy_writers = in_state(&self.writers, TargetHealth::Unhealthy);
        }
        if all_healthy {
            // One-shot, like the Go context cancel: later failures do not take it back.
            self.all_healthy.send_replace(true);
        }
    }

    /// Round-robin (advance, then pick) over healthy readers for reads when any is healthy, else writers.
    pub fn claim(&self, treat_as_read: bool) -> Result<InFlightGuard, PickError> {
        let target = {
            let mut selection = lock(&self.selection);
            let use_readers = treat_as_read && !selection.healthy_readers.is_empty();
            let (pool, next, targets) = if use_readers {
                let Selection {
                    healthy_readers,
                    next_reader,
                    ..
                } = &mut *selection;
                (healthy_readers, next_reader, &self.readers)
            } else {
                let Selection {
                    healthy_writers,
                    next_writer,
                    ..
                } = &mut *selection;
                (healthy_writers, next_writer, &self.writers)
            };
            if pool.is_empty() {
                return Err(PickError::NoHealthyTargets);
            }
            *next = (*next + 1) % pool.len();
            targets[pool[*next]].clone()
        };
        target.claim().map_err(|_| PickError::Draining)
    }

    /// Drains every target concurrently (§4.4).
    pub async fn drain(&self, timeout: Duration) {
        let drains: Vec<_> = self
            .all_targets()
            .map(|target| {
                let target = target.clone();
                tokio::spawn(async move { target.drain(timeout).await })
            })
            .collect();
        for drain in drains {
            let _ = drain.await;
        }
    }
}

async fn health_loop(
    balancer: Weak<LoadBalancer>,
    target: Arc<Target>,
    url: String,
    config: HealthCheckConfig,
    cancel: CancellationToken,
) {
    let mut ticker = tokio::time::interval(config.interval.max(Duration::from_millis(1)));
    // A slow check skips ticks instead of bunching them up, like Go's ticker.
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let host_header = config.host.clone();
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = ticker.tick() => {}
        }
        // Unlike Go, a lone target keeps being checked after the deploy, so `list` shows when it fails.
        let result = tokio::select! {
            _ = cancel.cancelled() => return,
            result = health::check(&target.client, &url, &host_header, config.timeout) => result,
        };
        let Some(balancer) = balancer.upgrade() else {
            return;
        };
        if let Err(error) = &result {
            logging::info(
                "Healthcheck failed",
                &[("url", json!(url)), ("error", json!(error))],
            );
            balancer.record_failure(&url, error);
        }
        if let Some((was, now)) = target.record_check(result.is_ok()) {
            logging::info(
                "Target health updated",
                &[
                    ("target", json!(target.address)),
                    ("state", json!(now.name())),
                    ("was", json!(was.name())),
                ],
            );
            balancer.rebuild();
        }
    }
}
