//! The deploy lock (`Cli::Base#with_lock`): a directory made with `mkdir` on the primary
//! host. Commands that change hosts run inside it; nested runs (and `kamal` inside a hook,
//! through `KAMAL_LOCK=true`) reuse it; it is released whatever happens.

use kamal_commands::{lock, server};
use kamal_ssh::{Level, RunOptions};

use super::Commander;
use crate::Failure;

impl Commander {
    /// `mkdir -p .kamal` on every selected host.
    pub fn ensure_run_directory(&self) -> Result<(), Failure> {
        let command = server::ensure_run_directory(&self.config);
        self.on(&self.specifics.hosts, |host| host.execute(&command).map(|_| ()))?;
        Ok(())
    }

    /// Acquires the lock with `message`; a held lock prints its details and fails.
    pub fn acquire_lock(&self, message: &str, announce: bool) -> Result<(), Failure> {
        self.ensure_run_directory()?;
        if announce {
            self.say("Acquiring the deploy lock...");
        }
        let primary = self.primary_host()?;
        let command = lock::acquire(
            &self.config,
            message,
            &self.version,
            &super::locked_by(),
            &self.stamp().recorded_at,
        );
        let outcome = self.on(std::slice::from_ref(&primary), |host| {
            host.execute_with(&command, RunOptions::execute().verbosity(Level::Debug))
                .map(|_| ())
        });
        match outcome {
            Ok(_) => Ok(()),
            Err(Failure::Remote { message: text, .. }) if text.contains("cannot create directory") => {
                self.say("Deploy lock already in place!");
                let status = lock::status(&self.config);
                if let Ok(details) = self.on(std::slice::from_ref(&primary), |host| {
                    host.capture_with(&status, RunOptions::capture())
                }) {
                    for text in details {
                        self.puts(&text);
                    }
                }
                Err(Failure::Lock(
                    "Deploy lock found. Run 'kamal lock help' for more information".into(),
                ))
            }
            Err(other) => Err(other),
        }
    }

    pub fn release_lock(&self, announce: bool) -> Result<(), Failure> {
        if announce {
            self.say("Releasing the deploy lock...");
        }
        let primary = self.primary_host()?;
        let command = lock::release(&self.config);
        self.on(std::slice::from_ref(&primary), |host| {
            host.execute_with(&command, RunOptions::execute().verbosity(Level::Debug))
                .map(|_| ())
        })?;
        Ok(())
    }

    /// Takes the automatic lock; with `--lock-wait`, waits for another deploy's automatic
    /// lock (never for a manual one) until the timeout, looking every interval.
    fn acquire_automatic_lock(&self) -> Result<(), Failure> {
        const MESSAGE: &str = "Automatic deploy lock";
        let Some(wait) = self.settings.lock_wait else {
            return self.acquire_lock(MESSAGE, true);
        };
        self.say(&format!(
            "Acquiring the deploy lock (waiting up to {}s)...",
            wait.timeout_seconds
        ));
        let started = std::time::Instant::now();
        let mut reported = false;
        loop {
            match self.try_acquire(MESSAGE) {
                Ok(()) => return Ok(()),
                Err(LockAttempt::Failed(error)) => return Err(error),
                Err(LockAttempt::Held(details)) => {
                    if !reported {
                        self.say("Deploy lock is held by:");
                        self.say(&details);
                        reported = true;
                    }
                    if !details.contains(MESSAGE) {
                        return Err(Failure::Lock(
                            "Deploy lock held manually, not waiting. Run 'kamal lock help' for more information".into(),
                        ));
                    }
                    let elapsed = started.elapsed().as_secs_f64();
                    if elapsed >= wait.timeout_seconds {
                        self.say(&format!(
                            "Timed out after {}s waiting for the deploy lock",
                            wait.timeout_seconds
                        ));
                        return Err(Failure::Lock("Timed out waiting for deploy lock".into()));
                    }
                    let remaining = wait.timeout_seconds - elapsed;
                    let pause = wait.interval_seconds.min(remaining).max(0.0);
                    self.say(&format!("Retrying in {pause:.0}s ({remaining:.0}s remaining)..."));
                    // Polling a lock held on another machine: the interval is the user's choice.
                    std::thread::sleep(std::time::Duration::from_secs_f64(pause));
                }
            }
        }
    }

    /// One attempt: `mkdir` on the primary host; a held lock returns its details.
    fn try_acquire(&self, message: &str) -> Result<(), LockAttempt> {
        self.ensure_run_directory().map_err(LockAttempt::Failed)?;
        let primary = self.primary_host().map_err(LockAttempt::Failed)?;
        let command = lock::acquire(
            &self.config,
            message,
            &self.version,
            &super::locked_by(),
            &self.stamp().recorded_at,
        );
        match self.on(std::slice::from_ref(&primary), |host| {
            host.execute_with(&command, RunOptions::execute().verbosity(Level::Debug))
                .map(|_| ())
        }) {
            Ok(_) => Ok(()),
            Err(Failure::Remote { message: text, .. }) if text.contains("cannot create directory") => {
                let status = lock::status(&self.config);
                let details = self
                    .on(std::slice::from_ref(&primary), |host| {
                        host.capture_with(&status, RunOptions::capture())
                    })
                    .map(|outputs| outputs.join("\n"))
                    .unwrap_or_default();
                Err(LockAttempt::Held(details))
            }
            Err(other) => Err(LockAttempt::Failed(other)),
        }
    }

    /// Runs `body` holding the lock (taking it unless already held), releasing it after,
    /// on success and on failure alike.
    pub fn with_lock<T>(&self, body: impl FnOnce() -> Result<T, Failure>) -> Result<T, Failure> {
        if self.holding_lock() {
            return body();
        }
        self.acquire_automatic_lock()?;
        self.set_holding_lock(true);
        let result = body();
        let released = self.release_lock(true);
        self.set_holding_lock(false);
        match (result, released) {
            (Ok(value), Ok(())) => Ok(value),
            (Ok(_), Err(error)) => Err(error),
            (Err(error), Ok(())) => Err(error),
            (Err(error), Err(release_error)) => {
                self.say(&format!("Error releasing the deploy lock: {release_error}"));
                Err(error)
            }
        }
    }
}

enum LockAttempt {
    Held(String),
    Failed(Failure),
}
