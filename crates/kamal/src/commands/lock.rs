//! `kamal lock status | acquire -m MSG | release`: the deploy lock by hand.

use kamal_commands::lock;
use kamal_ssh::{Level, RunOptions};

use crate::orchestration::Commander;
use crate::Failure;

pub fn status(commander: &Commander) -> Result<(), Failure> {
    let primary = commander.primary_host()?;
    let command = lock::status(&commander.config);
    handle_missing_lock(commander, || {
        let details = commander.on(std::slice::from_ref(&primary), |host| {
            host.capture_with(&command, RunOptions::capture())
        })?;
        for text in details {
            commander.puts(&text);
        }
        Ok(())
    })
}

pub fn acquire(commander: &Commander, message: &str) -> Result<(), Failure> {
    commander.acquire_lock(message, false)?;
    commander.say("Acquired the deploy lock");
    Ok(())
}

pub fn release(commander: &Commander) -> Result<(), Failure> {
    let primary = commander.primary_host()?;
    let command = lock::release(&commander.config);
    handle_missing_lock(commander, || {
        commander.on(std::slice::from_ref(&primary), |host| {
            host.execute_with(&command, RunOptions::execute().verbosity(Level::Debug))
                .map(|_| ())
        })?;
        commander.say("Released the deploy lock");
        Ok(())
    })
}

/// No lock directory is "There is no deploy lock", not an error.
fn handle_missing_lock(
    commander: &Commander,
    body: impl FnOnce() -> Result<(), Failure>,
) -> Result<(), Failure> {
    match body() {
        Err(Failure::Remote { message, .. }) if message.contains("No such file or directory") => {
            commander.say("There is no deploy lock");
            Ok(())
        }
        other => other,
    }
}
