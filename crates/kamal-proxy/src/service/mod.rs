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
    pub balancer: Arc<LoadBalancer>,
}

/// Rollout state kept verbatim from the state file until rollout routing lands (part 2).
#[derive(Debug, Clone, Default)]
pub struct RolloutState {
    pub targets: Option<Vec<String>>,
    pub readers: Option<Vec<String>>,
    pub controller: Option<SavedRolloutController>,
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
                balancer: current.balancer.clone(),
            });
        }
    }

    /// Picks a target on the current balancer and registers the request on it, atomically with deploys.
    pub fn claim(&self, treat_as_read: bool) -> (Arc<ServiceConfig>, Result<InFlightGuard, PickError>) {
        let current = self
            .config
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let claimed = current.balancer.claim(treat_as_read);
        (current.clone(), claimed)
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
            rollout_targets: rollout.targets,
            rollout_readers: rollout.readers,
            pause_controller: SavedPauseState::from_state(&self.pause.state()),
            rollout_controller: rollout.controller,
            ..SavedService::default()
        }
    }
}
