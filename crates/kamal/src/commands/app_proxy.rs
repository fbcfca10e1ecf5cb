//! `kamal app maintenance` and `kamal app live` (`Kamal::Cli::App`, §11): under the lock,
//! kamal-proxy stops (503 with the message) or resumes every proxied role on the selected
//! proxy hosts.

use kamal_commands::app::App;
use kamal_commands::Cmd;

use crate::cli::args::Parsed;
use crate::orchestration::Commander;
use crate::Failure;

/// `maintenance` or `live` (listed with the other app subcommands in `commands::app`).
pub fn dispatch(commander: &Commander, subcommand: &str, parsed: &Parsed) -> Result<(), Failure> {
    match subcommand {
        "maintenance" => {
            let drain_timeout = match parsed.text("drain-timeout") {
                Some(text) => text.parse::<i64>().map_err(|_| {
                    Failure::Usage(format!(
                        "Expected whole seconds for '--drain-timeout'; got {text:?}"
                    ))
                })?,
                None => commander.config.drain_timeout(),
            };
            let message = parsed.text("message");
            on_proxied_roles(commander, |app| app.maintenance(Some(drain_timeout), message))
        }
        _ => on_proxied_roles(commander, |app| app.live()),
    }
}

/// Under the lock, `command` for every selected role that runs behind the proxy, on each
/// of its hosts that is a selected proxy host.
fn on_proxied_roles(commander: &Commander, command: impl Fn(&App<'_>) -> Cmd + Sync) -> Result<(), Failure> {
    commander.with_lock(|| {
        let hosts = super::proxy::proxy_hosts(commander);
        commander.on(&hosts, |host| {
            for name in &commander.specifics.roles {
                let Some(role) = commander.config.role(name) else {
                    continue;
                };
                if role.running_proxy && role.hosts().iter().any(|role_host| role_host == host.name()) {
                    let app = App::new(&commander.config, role, host.name(), &commander.version);
                    host.execute(&command(&app))?;
                }
            }
            Ok(())
        })?;
        Ok(())
    })
}
