//! [`SecretsError`]: everything that can go wrong reading secrets or running a
//! `kamal secrets` subcommand. Messages follow Kamal's wording; none carries a secret value.

use crate::environment::CommandError;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretsError {
    /// `Kamal::Secrets#[]` for a key no file defines.
    #[error("Secret '{key}' not found in {}", files.join(", "))]
    NotFound { key: String, files: Vec<String> },
    /// `Kamal::Secrets#[]` when none of the candidate files exists.
    #[error("Secret '{key}' not found, no secret files ({}) provided", filenames.join(", "))]
    NoSecretFiles { key: String, filenames: Vec<String> },
    /// A secrets file exists but could not be read.
    #[error("Could not read {file}: {message}")]
    Read { file: String, message: String },
    /// Something failed while parsing a line of a secrets file.
    #[error("{file}:{line}: {source}")]
    InFile {
        file: String,
        line: usize,
        source: Box<SecretsError>,
    },
    /// dotenv's `Dotenv::FormatError` for `export KEY` when KEY has no value yet.
    #[error("Line {} has an unset variable", super::ruby::inspect(line))]
    UnsetVariable { line: String },
    /// A `$(...)` command could not be started (Ruby raises `Errno::ENOENT`).
    #[error("{0}")]
    Command(CommandError),
    /// `Shellwords.split` on an inline `kamal secrets` command (the command itself is not
    /// shown: after substitution it may hold secrets).
    #[error("Unmatched quote in an inline `kamal secrets` command")]
    UnmatchedQuote,
    /// A `kamal secrets` subcommand or adapter failed (Kamal's `RuntimeError` messages,
    /// e.g. `Could not find secret X`, `1Password CLI is not installed`).
    #[error("{0}")]
    Failed(String),
    /// Thor's argument errors (`No value provided for required options '--adapter'`).
    #[error("{0}")]
    Usage(String),
    /// `fetch` without `--account` for an adapter that needs one. Kamal prints this on
    /// stdout and exits 0.
    #[error("No value provided for required options '--account'")]
    MissingAccount,
}

impl SecretsError {
    pub(crate) fn failed(message: impl Into<String>) -> SecretsError {
        SecretsError::Failed(message.into())
    }
}

impl From<CommandError> for SecretsError {
    fn from(error: CommandError) -> SecretsError {
        SecretsError::Command(error)
    }
}
