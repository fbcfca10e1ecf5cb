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
                        self.say(&text);
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

    /// Runs `body` holding the lock (taking it unless already held), releasing it after,
    /// on success and on failure alike.
    pub fn with_lock<T>(&self, body: impl FnOnce() -> Result<T, Failure>) -> Result<T, Failure> {
        if self.holding_lock() {
            return body();
        }
        self.acquire_lock("Automatic deploy lock", true)?;
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
