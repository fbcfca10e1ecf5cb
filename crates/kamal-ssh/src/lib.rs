//! Running Kamal's commands on hosts, with SSHKit's semantics. Orchestration code holds an
//! [`Executor`] — [`OpenSsh`] (the system OpenSSH client with one shared connection per
//! host) or [`DryRun`] — and works through [`Host`] handles (`execute`, `capture`, `upload`,
//! `interactive`), fanning out with [`on`] so that all hosts finish before errors are
//! raised. Every line goes through one [`Printer`] in SSHKit's format, and only the
//! redacted display form of a command is ever printed.

mod agent;
mod cleanup;
mod control;
pub mod dry_run;
pub mod error;
pub mod executor;
pub mod fan_out;
pub mod openssh;
pub mod options;
pub mod printer;
mod process;
mod random;

pub use dry_run::{DryRun, Planned};
pub use error::{CommandFailed, ConnectionError, ConnectionErrorKind, Error};
pub use executor::{Executor, Host, Output, RunOptions, Target, Upload};
pub use fan_out::{in_parallel, on, Exceptions, ExecuteError};
pub use openssh::OpenSsh;
pub use options::{Interactive, SshConfig, SshLogLevel, SshOptions};
pub use printer::{Level, Printer, Stream};
