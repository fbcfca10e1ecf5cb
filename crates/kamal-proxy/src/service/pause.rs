//! Maintenance state of a service (§5.1): running, paused (requests wait) or stopped (requests get 503).
//!
//! The transitions are a pure function over [`PauseState`]; [`PauseController`] wraps the current state in a
//! `watch` channel so that waiting requests wake up on every change and each keeps its own pause deadline,
//! started when it arrived, as in the Go proxy.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tokio::time::Instant;

use super::options::nanoseconds;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PauseState {
    Running,
    Paused { fail_after: Duration },
    Stopped { message: String },
}

impl PauseState {
    pub fn name(&self) -> &'static str {
        match self {
            PauseState::Running => "running",
            PauseState::Paused { .. } => "paused",
            PauseState::Stopped { .. } => "stopped",
        }
    }
}

/// The persisted shape: `{"state":0|1|2,"stop_message":"…","fail_after":<ns>}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SavedPauseState {
    pub state: u8,
    pub stop_message: String,
    #[serde(with = "nanoseconds")]
    pub fail_after: Duration,
}

impl SavedPauseState {
    pub fn from_state(state: &PauseState) -> Self {
        match state {
            PauseState::Running => Self::default(),
            PauseState::Paused { fail_after } => Self {
                state: 1,
                stop_message: String::new(),
                fail_after: *fail_after,
            },
            PauseState::Stopped { message } => Self {
                state: 2,
                stop_message: message.clone(),
                fail_after: Duration::ZERO,
            },
        }
    }

    pub fn to_state(&self) -> PauseState {
        match self.state {
            1 => PauseState::Paused {
                fail_after: self.fail_after,
            },
            2 => PauseState::Stopped {
                message: self.stop_message.clone(),
            },
            _ => PauseState::Running,
        }
    }
}

/// What a request is told by [`PauseController::wait`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WaitOutcome {
    Proceed,
    Stopped { message: String },
    PauseExpired,
}

#[derive(Debug)]
pub struct PauseController {
    state: watch::Sender<PauseState>,
}

impl PauseController {
    pub fn new(initial: PauseState) -> Self {
        Self {
            state: watch::Sender::new(initial),
        }
    }

    pub fn state(&self) -> PauseState {
        self.state.borrow().clone()
    }

    pub fn pause(&self, fail_after: Duration) {
        self.state.send_replace(PauseState::Paused { fail_after });
    }

    pub fn stop(&self, message: String) {
        self.state.send_replace(PauseState::Stopped { message });
    }

    pub fn resume(&self) {
        self.state.send_replace(PauseState::Running);
    }

    /// Blocks while paused; the deadline is this request's own, fixed on arrival.
    pub async fn wait(&self) -> WaitOutcome {
        let mut receiver = self.state.subscribe();
        let mut deadline: Option<Instant> = None;
        loop {
            let state = receiver.borrow_and_update().clone();
            match state {
                PauseState::Running => return WaitOutcome::Proceed,
                PauseState::Stopped { message } => return WaitOutcome::Stopped { message },
                PauseState::Paused { fail_after } => {
                    let deadline = *deadline.get_or_insert_with(|| Instant::now() + fail_after);
                    match tokio::time::timeout_at(deadline, receiver.changed()).await {
                        Err(_) => return WaitOutcome::PauseExpired,
                        // The sender lives as long as the service; if it is gone the service was removed.
                        Ok(Err(_)) => return WaitOutcome::Proceed,
                        Ok(Ok(())) => continue,
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saved_state_round_trips() {
        for state in [
            PauseState::Running,
            PauseState::Paused {
                fail_after: Duration::from_secs(30),
            },
            PauseState::Stopped {
                message: "Back soon".into(),
            },
        ] {
            assert_eq!(SavedPauseState::from_state(&state).to_state(), state);
        }
        let json = serde_json::to_string(&SavedPauseState::from_state(&PauseState::Paused {
            fail_after: Duration::from_secs(1),
        }));
        assert_eq!(
            json.ok().as_deref(),
            Some(r#"{"state":1,"stop_message":"","fail_after":1000000000}"#)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn running_proceeds() {
        let controller = PauseController::new(PauseState::Running);
        assert_eq!(controller.wait().await, WaitOutcome::Proceed);
    }

    #[tokio::test(start_paused = true)]
    async fn paused_wait_times_out() {
        let controller = PauseController::new(PauseState::Running);
        controller.pause(Duration::from_millis(50));
        assert_eq!(controller.wait().await, WaitOutcome::PauseExpired);
    }

    #[tokio::test(start_paused = true)]
    async fn resume_releases_waiters_and_stop_gives_message() {
        let controller = std::sync::Arc::new(PauseController::new(PauseState::Running));
        controller.pause(Duration::from_secs(30));
        let waiter = tokio::spawn({
            let controller = controller.clone();
            async move { controller.wait().await }
        });
        tokio::task::yield_now().await;
        controller.resume();
        assert_eq!(waiter.await.ok(), Some(WaitOutcome::Proceed));

        controller.pause(Duration::from_secs(30));
        let waiter = tokio::spawn({
            let controller = controller.clone();
            async move { controller.wait().await }
        });
        tokio::task::yield_now().await;
        controller.stop("maintenance".into());
        assert_eq!(
            waiter.await.ok(),
            Some(WaitOutcome::Stopped {
                message: "maintenance".into()
            })
        );
    }
}
