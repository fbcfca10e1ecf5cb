//! `kamal app …`: the app's containers on the hosts. `boot` is the core of every deploy
//! (orchestration/boot.rs); the other subcommands are thin.

use crate::cli::args::Parsed;
use crate::orchestration::Commander;
use crate::Failure;

/// The `app` subcommands we know.
pub const SUBCOMMANDS: &[&str] = &["boot", "maintenance", "live"];

pub fn dispatch(commander: &Commander, subcommand: &str, parsed: &Parsed) -> Result<(), Failure> {
    match subcommand {
        "boot" => commander.with_lock(|| {
            // Without --version, `app boot` boots the image tagged latest (Kamal does the same).
            let version = if parsed.text("version").is_some() {
                commander.version.clone()
            } else {
                commander.say("Get most recent version available as an image...");
                commander.config.latest_tag()
            };
            commander.boot_app(&version)
        }),
        "maintenance" | "live" => super::app_proxy::dispatch(commander, subcommand, parsed),
        other => Err(Failure::Usage(format!(
            "Could not find command \"{other}\" in \"app\" namespace."
        ))),
    }
}
