//! `kamal registry setup | login | logout | remove` (`-L` skips the local side, `-R` the
//! hosts). Logging in sends the password on standard input, never on a command line.

use kamal_commands::registry;
use kamal_ssh::RunOptions;

use crate::orchestration::Commander;
use crate::Failure;

pub struct Sides {
    pub skip_local: bool,
    pub skip_remote: bool,
}

/// Logs in locally and on every host; a local registry is started instead.
pub fn setup(commander: &Commander, sides: &Sides, login_only: bool) -> Result<(), Failure> {
    let registry_config = commander.config.registry_config();
    if registry_config.is_local() {
        if login_only {
            return Err(Failure::Remote {
                class: "RuntimeError",
                message:
                    "Cannot use login command with a local registry. Use `kamal registry setup` instead."
                        .into(),
            });
        }
        if !sides.skip_local {
            commander.run_locally(&registry::setup(&registry_config), RunOptions::execute())?;
        }
        return Ok(());
    }
    let Some(login) = registry::login(&registry_config, commander.secrets()?)? else {
        return Ok(());
    };
    if !sides.skip_local {
        commander.run_locally(&login, RunOptions::execute())?;
    }
    if !sides.skip_remote {
        commander.on(&commander.specifics.hosts, |host| {
            host.execute(&login).map(|_| ())
        })?;
    }
    Ok(())
}

/// Logs out locally and on every host; a local registry is stopped and removed instead.
pub fn remove(commander: &Commander, sides: &Sides, logout_only: bool) -> Result<(), Failure> {
    let registry_config = commander.config.registry_config();
    if registry_config.is_local() {
        if logout_only {
            return Err(Failure::Remote {
                class: "RuntimeError",
                message:
                    "Cannot use logout command with a local registry. Use `kamal registry remove` instead."
                        .into(),
            });
        }
        if !sides.skip_local {
            commander.run_locally(&registry::remove(), RunOptions::execute())?;
        }
        return Ok(());
    }
    let logout = registry::logout(&registry_config);
    if !sides.skip_local {
        commander.run_locally(&logout, RunOptions::execute())?;
    }
    if !sides.skip_remote {
        commander.on(&commander.specifics.hosts, |host| {
            host.execute(&logout).map(|_| ())
        })?;
    }
    Ok(())
}
