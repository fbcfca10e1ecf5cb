//! Independent remote steps at the same time. Kamal runs every command on a host one after
//! the other; most of a deploy's wall time is those round trips and `docker` start-ups.
//! Where two steps cannot affect each other (an audit-log line and the command it
//! records, read-only checks, preparing the next role while the last one's old container
//! stops), kamal-rs runs them together over the host's one SSH connection. The commands
//! and their effects are Kamal's; only their timing differs.

/// Runs `first` on a scoped thread while `second` runs here; both results, in order.
pub fn both<A, B>(first: impl FnOnce() -> A + Send, second: impl FnOnce() -> B) -> (A, B)
where
    A: Send,
{
    std::thread::scope(|scope| {
        let first = scope.spawn(first);
        let second = second();
        match first.join() {
            Ok(first) => (first, second),
            Err(panic) => std::panic::resume_unwind(panic),
        }
    })
}

/// A step running on a scoped thread that others may have to wait for, any number of
/// times and from any thread (the deploy's image pull, awaited by each host's boot).
pub struct Pending<'scope> {
    state: std::sync::Mutex<State<'scope>>,
}

enum State<'scope> {
    Running(std::thread::ScopedJoinHandle<'scope, Result<(), crate::Failure>>),
    Succeeded,
    /// Its error, until [`Pending::finish`] takes it.
    Failed(Option<crate::Failure>),
}

impl<'scope> Pending<'scope> {
    /// Nothing to wait for.
    pub fn done() -> Pending<'scope> {
        Pending {
            state: std::sync::Mutex::new(State::Succeeded),
        }
    }

    pub fn running(
        handle: std::thread::ScopedJoinHandle<'scope, Result<(), crate::Failure>>,
    ) -> Pending<'scope> {
        Pending {
            state: std::sync::Mutex::new(State::Running(handle)),
        }
    }

    /// Blocks until the step has finished; whether it succeeded.
    pub fn wait(&self) -> bool {
        let mut state = self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let State::Running(_) = &*state {
            let State::Running(handle) = std::mem::replace(&mut *state, State::Succeeded) else {
                return true;
            };
            *state = match handle.join() {
                Ok(Ok(())) => State::Succeeded,
                Ok(Err(failure)) => State::Failed(Some(failure)),
                Err(panic) => std::panic::resume_unwind(panic),
            };
        }
        matches!(*state, State::Succeeded)
    }

    /// Waits, then the step's own error, if it failed (once).
    pub fn finish(&self) -> Result<(), crate::Failure> {
        self.wait();
        let mut state = self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        match &mut *state {
            State::Failed(failure) => failure.take().map_or(Ok(()), Err),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Barrier;

    #[test]
    fn both_runs_the_two_at_the_same_time_and_keeps_their_order() {
        // Each side waits for the other: this only finishes if they overlap.
        let meeting = Barrier::new(2);
        let (first, second) = both(
            || {
                meeting.wait();
                1
            },
            || {
                meeting.wait();
                "two"
            },
        );
        assert_eq!((first, second), (1, "two"));
    }

    #[test]
    fn a_pending_step_is_awaited_by_everyone_and_its_error_reported_once() {
        std::thread::scope(|scope| {
            let pending = Pending::running(scope.spawn(|| {
                Err(crate::Failure::Remote {
                    class: "SSHKit::Command::Failed",
                    message: "docker pull failed".into(),
                })
            }));
            let waits: Vec<bool> = std::thread::scope(|inner| {
                let handles: Vec<_> = (0..3).map(|_| inner.spawn(|| pending.wait())).collect();
                handles
                    .into_iter()
                    .map(|handle| handle.join().unwrap_or(true))
                    .collect()
            });
            assert_eq!(waits, [false, false, false]);
            let failure = pending.finish().expect_err("the pull's error");
            assert!(failure.to_string().contains("docker pull failed"), "{failure}");
            assert!(pending.finish().is_ok(), "reported once");
        });
        assert!(Pending::done().wait());
    }
}
