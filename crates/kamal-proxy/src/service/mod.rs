//! A deployed service: its current configuration and balancer (swapped atomically by a deploy) and its
//! maintenance state (which survives deploys).
//!
//! Requests read the configuration and claim a target under the same read lock a deploy takes for writing,
//! so every request lands either on the old balancer before the swap (and is then drained) or on the new one.

pub mod balancer;
pub mod options;
pub mod pause;
pub mod target;

use std::sync::{Arc, Mutex, RwLock};

use balancer::{LoadBalancer, PickError};
use options::{ServiceOptions, TargetOptions};
use pause::{PauseController, PauseState, SavedPauseState};
use target::InFlightGuard;

use crate::pages::ErrorPages;
use crate::state::{SavedRolloutController, SavedService};

/// Everything one deploy sets, replaced whole by the next.
#[derive(Debug)]
pub struct ServiceConfig {
    pub options: ServiceOptions,
    pub target_options: TargetOptions,
    pub error_pages: Option<Arc<ErrorPages>>,
    /// The static certificate (`--tls-certificate-path`), loaded once at deploy or restore.
    pub certificate: Option<Arc<rustls::sign::CertifiedKey>>,
    pub balancer: Arc<LoadBalancer>,
}

/// The canary slot (§4.7): a second balancer, and the split that sends some cookie-keyed requests to it.
#[derive(Debug, Clone, Default)]
pub struct RolloutState {
    pub balancer: Option<Arc<LoadBalancer>>,
    pub controller: Option<SavedRolloutController>,
}

/// 32-bit FNV-1a, as Go's `hash/fnv` `New32a`.
pub fn fnv1a_32(value: &str) -> u32 {
    let mut hash: u32 = 0x811c_9dc5;
    for byte in value.bytes() {
        hash ^= u32::from(byte);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    hash
}

impl SavedRolloutController {
    /// `split = float64(0xFFFFFFFF) * P / 100`, stored rather than recomputed.
    pub fn new(percentage: i64, allowlist: Vec<String>) -> Self {
        Self {
            percentage,
            percentage_split_point: f64::from(u32::MAX) * percentage as f64 / 100.0,
            allowlist: Some(allowlist),
        }
    }

    /// A request keyed `value` goes to the rollout when allow-listed or when its hash falls under the split.
    pub fn matches(&self, value: &str) -> bool {
        self.allowlist.iter().flatten().any(|allowed| allowed == value)
            || f64::from(fnv1a_32(value)) <= self.percentage_split_point
    }
}

/// A claimed target and whether its balancer has readers (writer affinity applies only then).
#[derive(Debug)]
pub struct Claimed {
    pub guard: InFlightGuard,
    pub has_readers: bool,
}

#[derive(Debug)]
pub struct Service {
    pub name: String,
    config: RwLock<Arc<ServiceConfig>>,
    pub pause: PauseController,
    pub rollout: Mutex<RolloutState>,
}

impl Service {
    pub fn new(name: String, config: ServiceConfig, pause: PauseState, rollout: RolloutState) -> Self {
        Self {
            name,
            config: RwLock::new(Arc::new(config)),
            pause: PauseController::new(pause),
            rollout: Mutex::new(rollout),
        }
    }

    pub fn config(&self) -> Arc<ServiceConfig> {
        self.config
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// Installs a new configuration and returns the one it replaced.
    pub fn swap(&self, config: ServiceConfig) -> Arc<ServiceConfig> {
        let mut current = self
            .config
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        std::mem::replace(&mut *current, Arc::new(config))
    }

    /// Replaces only the options (TLS inheritance, §3.6), keeping balancer and pages.
    pub fn update_options(&self, options: ServiceOptions) {
        let mut current = self
            .config
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if current.options != options {
            *current = Arc::new(ServiceConfig {
                options,
                target_options: current.target_options.clone(),
                error_pages: current.error_pages.clone(),
                certificate: current.certificate.clone(),
                balancer: current.balancer.clone(),
            });
        }
    }

    /// Picks a target and registers the request on it, atomically with deploys: on the rollout balancer when
    /// the request's `kamal-rollout` value falls in the split, else on the active one.
    pub fn claim(
        &self,
        treat_as_read: bool,
        rollout_key: Option<&str>,
    ) -> (Arc<ServiceConfig>, Result<Claimed, PickError>) {
        let current = self
            .config
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let rollout_balancer = rollout_key.and_then(|key| {
            let rollout = self
                .rollout
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            let controller = rollout.controller.as_ref()?;
            controller
                .matches(key)
                .then(|| rollout.balancer.clone())
                .flatten()
        });
        let balancer = rollout_balancer.as_ref().unwrap_or(&current.balancer);
        let claimed = balancer.claim(treat_as_read).map(|guard| Claimed {
            guard,
            has_readers: balancer.has_readers(),
        });
        (current.clone(), claimed)
    }

    /// The rollout balancer, if one was deployed.
    pub fn rollout_balancer(&self) -> Option<Arc<LoadBalancer>> {
        self.rollout
            .lock()
            .ok()
            .and_then(|rollout| rollout.balancer.clone())
    }

    pub fn saved(&self) -> SavedService {
        let config = self.config();
        let rollout = self.rollout.lock().map(|r| r.clone()).unwrap_or_default();
        SavedService {
            name: self.name.clone(),
            options: config.options.clone(),
            target_options: config.target_options.clone(),
            active_targets: config.balancer.writer_names(),
            active_readers: config.balancer.reader_names(),
            rollout_targets: rollout.balancer.as_ref().map(|balancer| balancer.writer_names()),
            rollout_readers: rollout.balancer.as_ref().map(|balancer| balancer.reader_names()),
            pause_controller: SavedPauseState::from_state(&self.pause.state()),
            rollout_controller: rollout.controller,
            ..SavedService::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv_matches_go() {
        assert_eq!(fnv1a_32(""), 0x811c_9dc5);
        assert_eq!(fnv1a_32("a"), 0xe40c_292c);
        assert_eq!(fnv1a_32("foobar"), 0xbf9c_f968);
    }

    #[test]
    fn the_split_lands_near_its_percentage() {
        let keys: Vec<String> = (0..1000).map(|n| format!("{n:05}")).collect();
        let sixty = SavedRolloutController::new(60, vec![]);
        let count = keys.iter().filter(|key| sixty.matches(key)).count();
        assert!((580..=620).contains(&count), "60% of 1000 keys: {count}");
        let ten = SavedRolloutController::new(10, vec!["first".into(), "second".into()]);
        assert!(ten.matches("first") && ten.matches("second"));
        let count = keys.iter().filter(|key| ten.matches(key)).count();
        assert!((80..=120).contains(&count), "10% of 1000 keys: {count}");
        assert!(!SavedRolloutController::new(0, vec!["x".into()]).matches("00001"));
    }
}
