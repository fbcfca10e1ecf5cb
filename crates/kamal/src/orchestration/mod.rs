//! Orchestration: where and in what order command values run. [`Commander`] holds what a
//! run needs — the validated configuration, the host/role selection, the executor (real
//! OpenSSH or a dry run), the printer, the lazily loaded secrets — and Kamal's run-wide
//! state: whether the pre-connect hook has run, whether the deploy lock is held.

pub mod boot;
pub mod hooks;
pub mod lock;
pub mod overlap;
pub mod specifics;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use kamal_commands::{Cmd, Stamp};
use kamal_config::configuration::Configuration;
use kamal_config::secrets::Secrets;
use kamal_ssh::{Exceptions, ExecuteError, Executor, Host, Printer};

use crate::system::SystemEnvironment;
use crate::Failure;
use specifics::Specifics;

/// Settings that shape a whole run (from the global options).
#[derive(Debug, Clone, Default)]
pub struct RunSettings {
    pub skip_hooks: bool,
    pub dry_run: bool,
    /// `-q`: Thor's `say` prints nothing (data printed with `puts` still shows).
    pub quiet: bool,
    /// `--roles` as given (for `KAMAL_ROLES`).
    pub roles_filter: Option<String>,
    pub lock_wait: Option<crate::cli::LockWait>,
}

pub struct Commander {
    pub config: Configuration,
    pub environment: SystemEnvironment,
    pub settings: RunSettings,
    pub specifics: Specifics,
    pub printer: Arc<Printer>,
    pub executor: Arc<dyn Executor>,
    /// The first invocation's command and subcommand (`KAMAL_COMMAND`/`KAMAL_SUBCOMMAND`).
    pub command: String,
    pub subcommand: Option<String>,
    pub version: String,
    secrets: OnceLock<Secrets>,
    /// Shared with the narrowed commanders of [`Commander::with_specific_hosts`]: the
    /// pre-connect hook runs once per run, and the lock is the run's.
    connected: Arc<AtomicBool>,
    holding_lock: Arc<AtomicBool>,
    /// `current_running_version` per (host, role), as read under the lock by the stale
    /// container check just before a deploy's boot, which would otherwise ask again.
    /// Forgotten whenever a hook runs (a hook may change containers).
    running_versions: std::sync::Mutex<std::collections::HashMap<(String, String), String>>,
}

impl Commander {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        config: Configuration,
        environment: SystemEnvironment,
        settings: RunSettings,
        specifics: Specifics,
        printer: Arc<Printer>,
        executor: Arc<dyn Executor>,
        command: &str,
        subcommand: Option<&str>,
        version: String,
    ) -> Commander {
        // A `kamal` run inside a hook of another run inherits its lock.
        let holding_lock =
            kamal_config::Environment::var(&environment, "KAMAL_LOCK").as_deref() == Some("true");
        Commander {
            config,
            environment,
            settings,
            specifics,
            printer,
            executor,
            command: command.to_string(),
            subcommand: subcommand.map(String::from),
            version,
            secrets: OnceLock::new(),
            connected: Arc::new(AtomicBool::new(false)),
            holding_lock: Arc::new(AtomicBool::new(holding_lock)),
            running_versions: std::sync::Mutex::new(std::collections::HashMap::new()),
        }
    }

    /// `KAMAL.with_specific_hosts(hosts)`: the same run narrowed to `hosts` (a `--roles`
    /// filter still applies), sharing the executor, the printer, the secrets, the lock and
    /// the pre-connect hook's state.
    pub fn with_specific_hosts(&self, hosts: &[String]) -> Result<Commander, Failure> {
        let roles: Option<Vec<String>> = self
            .settings
            .roles_filter
            .as_ref()
            .map(|names| names.split(',').map(String::from).collect());
        let specifics =
            Specifics::new(&self.config, Some(hosts), roles.as_deref(), false).map_err(|error| {
                Failure::Remote {
                    class: "ArgumentError",
                    message: error.to_string(),
                }
            })?;
        let secrets = OnceLock::new();
        if let Some(loaded) = self.secrets.get() {
            let _ = secrets.set(loaded.clone());
        }
        Ok(Commander {
            config: self.config.clone(),
            environment: self.environment.clone(),
            settings: self.settings.clone(),
            specifics,
            printer: self.printer.clone(),
            executor: self.executor.clone(),
            command: self.command.clone(),
            subcommand: self.subcommand.clone(),
            version: self.version.clone(),
            secrets,
            connected: self.connected.clone(),
            holding_lock: self.holding_lock.clone(),
            running_versions: std::sync::Mutex::new(std::collections::HashMap::new()),
        })
    }

    /// Thor's `say`: a progress line on stdout whatever the log level, except under `-q`
    /// (Thor's shell is quiet when the command's `quiet` option is set).
    pub fn say(&self, text: &str) {
        if !self.settings.quiet {
            self.puts(text);
        }
    }

    /// Ruby's `puts`: a line of data (lock details, a host's output) that `-q` keeps.
    pub fn puts(&self, text: &str) {
        use std::io::Write;
        let mut stdout = std::io::stdout().lock();
        let _ = writeln!(stdout, "{text}");
        let _ = stdout.flush();
    }

    /// The secrets, loaded on first use (Kamal parses them lazily too).
    pub fn secrets(&self) -> Result<&Secrets, Failure> {
        if let Some(secrets) = self.secrets.get() {
            return Ok(secrets);
        }
        let mut environment = self.environment.clone();
        let secrets = crate::commands::secrets::load(
            &self.config.secrets_path(),
            self.config.destination.as_deref(),
            &mut environment,
        )?;
        Ok(self.secrets.get_or_init(|| secrets))
    }

    /// When, by whom, which version: what audit lines and hooks are stamped with.
    pub fn stamp(&self) -> Stamp {
        Stamp {
            recorded_at: kamal_commands::base::utc_iso8601(now_seconds()),
            performer: performer(),
            version: Some(self.version.clone()),
        }
    }

    /// Remembers the version running for `role` on `host` (read under the lock).
    pub fn remember_running_version(&self, host: &str, role: &str, version: &str) {
        self.running_versions
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .insert((host.to_string(), role.to_string()), version.trim().to_string());
    }

    /// The remembered running version, once.
    pub fn take_running_version(&self, host: &str, role: &str) -> Option<String> {
        self.running_versions
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .remove(&(host.to_string(), role.to_string()))
    }

    pub fn forget_running_versions(&self) {
        self.running_versions
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clear();
    }

    pub fn holding_lock(&self) -> bool {
        self.holding_lock.load(Ordering::SeqCst)
    }

    pub fn set_holding_lock(&self, held: bool) {
        self.holding_lock.store(held, Ordering::SeqCst);
    }

    /// SSHKit's `on(hosts)` behind Kamal's pre-connect hook: every host in parallel, all
    /// finishing before errors are raised.
    pub fn on<T, F>(&self, hosts: &[String], task: F) -> Result<Vec<T>, Failure>
    where
        T: Send,
        F: Fn(&Host<'_>) -> Result<T, kamal_ssh::Error> + Sync,
    {
        self.pre_connect_if_required()?;
        kamal_ssh::on(self.executor.as_ref(), hosts, task).map_err(Failure::from)
    }

    /// Runs a command on the deployer's machine (`run_locally`).
    pub fn run_locally(
        &self,
        command: &Cmd,
        options: kamal_ssh::RunOptions,
    ) -> Result<kamal_ssh::Output, Failure> {
        let target = kamal_ssh::Target::Local;
        Host::new(self.executor.as_ref(), &target)
            .execute_with(command, options)
            .map_err(Failure::from)
    }

    pub fn pre_connect_if_required(&self) -> Result<(), Failure> {
        if !self.connected.swap(true, Ordering::SeqCst) {
            self.run_hook("pre-connect", &hooks::Extra::default())?;
        }
        Ok(())
    }

    pub fn primary_host(&self) -> Result<String, Failure> {
        self.specifics
            .primary_host
            .clone()
            .ok_or_else(|| Failure::Remote {
                class: "ArgumentError",
                message: "No primary host".into(),
            })
    }
}

impl From<Exceptions<ExecuteError<kamal_ssh::Error>>> for Failure {
    fn from(exceptions: Exceptions<ExecuteError<kamal_ssh::Error>>) -> Failure {
        // Kamal names the class of the (first) cause, as `bin/kamal` unwraps ExecuteError.
        Failure::Remote {
            class: exceptions.first().error.ruby_class(),
            message: exceptions.to_string(),
        }
    }
}

fn now_seconds() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs() as i64)
        .unwrap_or(0)
}

/// `git config user.email`, else `whoami` (Kamal's performer).
fn performer() -> String {
    local_output("git", &["config", "user.email"])
        .or_else(|| local_output("whoami", &[]))
        .unwrap_or_default()
}

/// `git config user.name`, else `Unknown` (who holds the lock).
pub fn locked_by() -> String {
    local_output("git", &["config", "user.name"]).unwrap_or_else(|| "Unknown".to_string())
}

fn local_output(program: &str, arguments: &[&str]) -> Option<String> {
    let output = std::process::Command::new(program)
        .args(arguments)
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&output.stdout).trim().to_string();
    (output.status.success() && !text.is_empty()).then_some(text)
}
