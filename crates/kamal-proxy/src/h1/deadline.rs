//! A connection's timer, moved only when its deadline has moved by more than [`SLACK`].
//!
//! Under keep-alive load each request sets a new header-read deadline and a new response deadline. A fresh
//! `tokio::time::Sleep` each time costs a timer-wheel insertion and removal per request; this one keeps its
//! entry and moves it at most about once per [`SLACK`] per connection. Armed up to [`SLACK`] before the
//! deadline, it may wake early: it then re-arms for the deadline itself, so it never resolves before it.

use std::pin::Pin;
use std::time::Duration;

use tokio::time::{Instant, Sleep};

/// How far before the wanted deadline the timer may stay armed.
const SLACK: Duration = Duration::from_secs(1);

#[derive(Default)]
pub struct Deadline {
    sleep: Option<Pin<Box<Sleep>>>,
}

impl Deadline {
    /// Resolves once `deadline` has passed.
    pub async fn reached(&mut self, deadline: Instant) {
        let sleep = match &mut self.sleep {
            Some(sleep) => {
                let armed = sleep.deadline();
                if armed > deadline || deadline - armed > SLACK {
                    sleep.as_mut().reset(deadline);
                }
                sleep
            }
            None => self.sleep.insert(Box::pin(tokio::time::sleep_until(deadline))),
        };
        loop {
            sleep.as_mut().await;
            if Instant::now() >= deadline {
                return;
            }
            sleep.as_mut().reset(deadline);
        }
    }

    /// When the timer is armed for (for tests).
    #[cfg(test)]
    fn armed(&self) -> Option<Instant> {
        self.sleep.as_ref().map(|sleep| sleep.deadline())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether `reached(deadline)` has resolved after time moves on by `advance`.
    async fn resolved_after(timer: &mut Deadline, deadline: Instant, advance: Duration) -> bool {
        let waiting = timer.reached(deadline);
        tokio::pin!(waiting);
        tokio::select! {
            biased;
            () = &mut waiting => true,
            () = tokio::time::sleep(advance) => false,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn resolves_at_the_deadline_not_before() {
        let mut timer = Deadline::default();
        let start = Instant::now();
        let deadline = start + Duration::from_secs(60);
        assert!(!resolved_after(&mut timer, deadline, Duration::from_millis(59_999)).await);
        assert!(resolved_after(&mut timer, deadline, Duration::from_millis(2)).await);
        assert!(Instant::now() >= deadline);
    }

    #[tokio::test(start_paused = true)]
    async fn stays_armed_within_the_slack_and_still_waits_for_the_real_deadline() {
        let mut timer = Deadline::default();
        let first = Instant::now() + Duration::from_secs(60);
        assert!(!resolved_after(&mut timer, first, Duration::from_millis(500)).await);
        // A new request half a second later: its deadline is within the slack, the timer is not moved…
        let second = Instant::now() + Duration::from_secs(60);
        assert!(!resolved_after(&mut timer, second, Duration::from_millis(1)).await);
        assert_eq!(timer.armed(), Some(first));
        // …so it wakes at `first`, but `reached(second)` resolves only at `second`.
        tokio::time::advance(first - Instant::now() - Duration::from_millis(1)).await;
        assert!(!resolved_after(&mut timer, second, Duration::from_millis(2)).await);
        assert!(
            !resolved_after(
                &mut timer,
                second,
                second - Instant::now() - Duration::from_millis(1)
            )
            .await
        );
        assert!(resolved_after(&mut timer, second, Duration::from_millis(2)).await);
    }

    #[tokio::test(start_paused = true)]
    async fn moves_for_a_later_deadline_past_the_slack_and_for_an_earlier_one() {
        let mut timer = Deadline::default();
        let first = Instant::now() + Duration::from_secs(60);
        assert!(!resolved_after(&mut timer, first, Duration::from_secs(2)).await);
        let later = Instant::now() + Duration::from_secs(60);
        assert!(!resolved_after(&mut timer, later, Duration::from_millis(1)).await);
        assert_eq!(timer.armed(), Some(later));
        let earlier = Instant::now() + Duration::from_secs(5);
        assert!(!resolved_after(&mut timer, earlier, Duration::from_millis(4_998)).await);
        assert_eq!(timer.armed(), Some(earlier));
        assert!(resolved_after(&mut timer, earlier, Duration::from_millis(2)).await);
    }
}
