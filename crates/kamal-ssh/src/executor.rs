//! The seam between orchestration and hosts: the [`Executor`] trait (real OpenSSH, dry run,
//! or a test double), and [`Host`], the handle orchestration code holds for one host (or
//! `localhost`) with SSHKit's verbs — `execute`, `capture`, `upload`, and the `ssh -t`
//! line for interactive commands.

use std::path::Path;

use kamal_commands::Cmd;

use crate::error::Error;
use crate::options::Interactive;
use crate::printer::{Level, Printer};

/// Where a command runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A host as configured (name or address), reached over SSH.
    Remote(String),
    /// The deployer's machine (hooks, `docker build`), printed as `localhost`.
    Local,
}

impl Target {
    pub fn name(&self) -> &str {
        match self {
            Target::Remote(host) => host,
            Target::Local => "localhost",
        }
    }
}

/// How one command runs and is logged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunOptions {
    /// Level of the `Running`/`Finished` lines (`execute` INFO, `capture` DEBUG).
    pub verbosity: Level,
    /// SSHKit's `raise_on_non_zero_exit`: a non-zero exit is an error (true) or a result.
    pub raise_on_non_zero_exit: bool,
    /// The command only reads state, so a dry run may run it when probes are allowed.
    pub read_only: bool,
}

impl RunOptions {
    /// SSHKit's `execute`: logged at INFO, raising on failure.
    pub fn execute() -> RunOptions {
        RunOptions {
            verbosity: Level::Info,
            raise_on_non_zero_exit: true,
            read_only: false,
        }
    }

    /// SSHKit's `capture`: logged at DEBUG, raising on failure.
    pub fn capture() -> RunOptions {
        RunOptions {
            verbosity: Level::Debug,
            ..RunOptions::execute()
        }
    }

    pub fn verbosity(mut self, level: Level) -> RunOptions {
        self.verbosity = level;
        self
    }

    pub fn raise_on_non_zero_exit(mut self, raise: bool) -> RunOptions {
        self.raise_on_non_zero_exit = raise;
        self
    }

    pub fn read_only(mut self) -> RunOptions {
        self.read_only = true;
        self
    }
}

impl Default for RunOptions {
    fn default() -> RunOptions {
        RunOptions::execute()
    }
}

/// What a finished command left behind.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Output {
    pub exit_status: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    pub fn success(&self) -> bool {
        self.exit_status == 0
    }
}

/// What to upload.
#[derive(Debug, Clone, Copy)]
pub enum Upload<'a> {
    /// Contents in memory (env files, rendered templates).
    Bytes(&'a [u8]),
    /// A local file, streamed.
    File(&'a Path),
}

impl Upload<'_> {
    /// The name SSHKit's progress lines give an upload (net-scp's `name`): a local file's
    /// absolute path, or for contents in memory the remote path.
    pub fn shown_as(&self, remote_path: &str) -> String {
        match self {
            Upload::Bytes(_) => remote_path.to_string(),
            Upload::File(path) => std::path::absolute(path)
                .unwrap_or_else(|_| path.to_path_buf())
                .display()
                .to_string(),
        }
    }
}

/// Runs commands on targets. Implementations print through their [`Printer`] and only
/// ever print a command's display form.
pub trait Executor: Send + Sync {
    /// Runs one command. With `raise_on_non_zero_exit`, a non-zero exit is
    /// [`Error::CommandFailed`]; otherwise it is returned in [`Output::exit_status`].
    fn run(&self, target: &Target, command: &Cmd, options: RunOptions) -> Result<Output, Error>;

    /// Writes `source` to `remote_path` (relative to the login directory) with `mode`. The
    /// file is created under umask 077 and moved into place, so its contents are never
    /// readable by others, even briefly.
    fn upload(&self, target: &Target, source: Upload<'_>, remote_path: &str, mode: u32) -> Result<(), Error>;

    /// The `ssh -t` command line for an interactive command on `host` (run by the caller,
    /// typically by replacing the process).
    fn interactive(&self, host: &str, command: &Cmd) -> Result<Interactive, Error>;

    fn printer(&self) -> &Printer;

    /// Makes `127.0.0.1:port` on `host` reach `localhost:port` here, until
    /// [`Executor::cancel_remote_port`] (Kamal's SSH tunnel to a local registry).
    fn forward_remote_port(&self, host: &str, port: u16) -> Result<(), Error> {
        Err(Error::Setup {
            host: host.to_string(),
            message: format!("cannot forward port {port}: not supported here"),
        })
    }

    /// Ends a forward made by [`Executor::forward_remote_port`].
    fn cancel_remote_port(&self, host: &str, port: u16) -> Result<(), Error> {
        let _ = port;
        let _ = host;
        Ok(())
    }
}

/// One host (or `localhost`) as orchestration code sees it.
#[derive(Clone, Copy)]
pub struct Host<'a> {
    executor: &'a dyn Executor,
    target: &'a Target,
}

impl std::fmt::Debug for Host<'_> {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_tuple("Host").field(self.target).finish()
    }
}

impl<'a> Host<'a> {
    pub fn new(executor: &'a dyn Executor, target: &'a Target) -> Host<'a> {
        Host { executor, target }
    }

    /// The host as configured, or `localhost`.
    pub fn name(&self) -> &str {
        self.target.name()
    }

    pub fn target(&self) -> &Target {
        self.target
    }

    pub fn printer(&self) -> &Printer {
        self.executor.printer()
    }

    /// `execute`: INFO-logged, raising on a non-zero exit.
    pub fn execute(&self, command: &Cmd) -> Result<Output, Error> {
        self.executor.run(self.target, command, RunOptions::execute())
    }

    pub fn execute_with(&self, command: &Cmd, options: RunOptions) -> Result<Output, Error> {
        self.executor.run(self.target, command, options)
    }

    /// `capture`: DEBUG-logged, raising, stdout stripped as Ruby's `strip` does.
    pub fn capture(&self, command: &Cmd) -> Result<String, Error> {
        self.capture_with(command, RunOptions::capture())
    }

    pub fn capture_with(&self, command: &Cmd, options: RunOptions) -> Result<String, Error> {
        let output = self.executor.run(self.target, command, options)?;
        Ok(crate::error::ruby_strip(&output.stdout).to_string())
    }

    pub fn upload(&self, source: Upload<'_>, remote_path: &str, mode: u32) -> Result<(), Error> {
        self.executor.upload(self.target, source, remote_path, mode)
    }

    pub fn interactive(&self, command: &Cmd) -> Result<Interactive, Error> {
        self.executor.interactive(self.target.name(), command)
    }
}

/// SSHKit's `Command#command`: the first word as given (`docker`, `mkdir`), which names
/// the command in failure messages.
pub(crate) fn first_word(command: &Cmd) -> String {
    match command.parts.first() {
        Some(kamal_commands::Part::Plain(text)) => text.clone(),
        Some(kamal_commands::Part::Sensitive { redaction, .. }) => redaction.clone(),
        None => String::new(),
    }
}

/// Single-quotes `text` for a POSIX shell.
pub(crate) fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "'\\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uploads_are_named_like_net_scp_names_them() {
        assert_eq!(
            Upload::Bytes(b"x").shown_as(".kamal/apps/app/env/roles/web.env"),
            ".kamal/apps/app/env/roles/web.env"
        );
        let absolute = std::env::current_dir().expect("cwd").join("config/my.cnf");
        assert_eq!(
            Upload::File(Path::new("config/my.cnf")).shown_as("app-db/etc/my.cnf"),
            absolute.display().to_string()
        );
        assert_eq!(Upload::File(Path::new("/etc/hosts")).shown_as("x"), "/etc/hosts");
    }

    #[test]
    fn run_options_follow_sshkit() {
        assert_eq!(RunOptions::execute().verbosity, Level::Info);
        assert_eq!(RunOptions::capture().verbosity, Level::Debug);
        assert!(RunOptions::capture().raise_on_non_zero_exit);
        assert!(
            !RunOptions::execute()
                .raise_on_non_zero_exit(false)
                .raise_on_non_zero_exit
        );
    }

    #[test]
    fn first_word_is_the_command_name() {
        assert_eq!(first_word(&Cmd::new(["mkdir", "-p", ".kamal"])), "mkdir");
        assert_eq!(first_word(&Cmd::new(["docker", "ps"])), "docker");
    }

    #[test]
    fn quoting_survives_single_quotes() {
        assert_eq!(shell_quote("it's"), "'it'\\''s'");
    }
}
