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
}
