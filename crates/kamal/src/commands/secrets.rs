//! `kamal secrets fetch | extract | print`: helpers for secrets files, the same functions
//! that `$(kamal secrets …)` inside `.kamal/secrets` runs in process.

use kamal_config::configuration::{self, raw, LoadOptions};
use kamal_config::secrets::cli::{self, SecretsCommand};
use kamal_config::secrets::{Secrets, SecretsError};
use kamal_config::Environment;

use crate::output::Printer;
use crate::Failure;

pub fn run(
    printer: &Printer,
    words: &[String],
    options: &LoadOptions,
    environment: &mut dyn Environment,
) -> Result<(), Failure> {
    let printed = match cli::parse_arguments(words)? {
        SecretsCommand::Fetch {
            adapter,
            account,
            from,
            secrets,
            inline,
        } => {
            match cli::fetch(
                &adapter,
                &secrets,
                account.as_deref(),
                from.as_deref(),
                inline,
                environment,
            ) {
                Err(SecretsError::MissingAccount) => {
                    // Thor's message for a missing required option, on stdout, exit 0.
                    printer.line(&SecretsError::MissingAccount.to_string());
                    return Ok(());
                }
                result => result?,
            }
        }
        SecretsCommand::Extract { name, secrets, .. } => cli::extract(&name, &secrets)?,
        SecretsCommand::Print => {
            let configuration = configuration::load(options, environment)?;
            let secrets_path = raw::get_string(Some(&configuration.raw), "secrets_path")
                .unwrap_or_else(|| ".kamal/secrets".to_string());
            let secrets = load(&secrets_path, configuration.destination.as_deref(), environment)?;
            let printed = cli::print(&secrets);
            // `print` is the one place that shows values, on purpose (debugging).
            printer.data(printed.expose());
            return Ok(());
        }
    };
    printer.line(printed.expose());
    Ok(())
}

/// Loads the secrets files, refusing a `$(...)` that failed. Kamal silently uses whatever a
/// failing command printed (often nothing: an empty password); we stop and say which key
/// and file. `$(command || true)` keeps Kamal's behaviour where a failure is expected.
pub fn load(
    secrets_path: &str,
    destination: Option<&str>,
    environment: &mut dyn Environment,
) -> Result<Secrets, SecretsError> {
    let secrets = Secrets::load(secrets_path, destination, environment)?;
    if let Some(failure) = secrets.command_failures().first() {
        return Err(SecretsError::Failed(format!(
            "{failure} (write `$(command || true)` to accept a failing command)"
        )));
    }
    Ok(secrets)
}
