//! The production executor: the system OpenSSH client with connection sharing. Each
//! (user, host, port, jump) gets one ControlMaster, opened on first use behind the
//! `max_concurrent_starts` semaphore (with Kamal's DNS retries), kept by `ControlPersist`
//! for `pool_idle_timeout`, and closed with `ssh -O exit` when the executor is dropped or
//! the process is interrupted. Every command is a new session on that connection, as
//! SSHKit opens a new channel per command. Local commands run through `/bin/sh -c` with
//! the same logging and errors.

use std::collections::HashMap;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use kamal_commands::Cmd;

use crate::agent::Agent;
use crate::cleanup;
use crate::control::{socket_name, PrivateDir};
use crate::error::{classify_connection_failure, CommandFailed, ConnectionError, ConnectionErrorKind, Error};
use crate::executor::{first_word, shell_quote, Executor, Output, RunOptions, Target, Upload};
use crate::options::{self, Context, Interactive, SshConfig, SshLogLevel, SshOptions};
use crate::printer::{command_id, Printer};
use crate::process::{self, Finished, Input, Outcome};

/// Deadline for `ssh -O check` and `ssh -O exit`.
const CONTROL_DEADLINE: Duration = Duration::from_secs(5);
/// A shared connection this close to its idle timeout is checked before use.
const IDLE_MARGIN: Duration = Duration::from_secs(5);

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic in another host's thread must not take every other host down with it.
    match mutex.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}

/// Runs commands over OpenSSH with one shared connection per host.
pub struct OpenSsh {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for OpenSsh {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("OpenSsh")
            .field("options", &self.shared.options)
            .finish_non_exhaustive()
    }
}

struct Shared {
    options: SshOptions,
    /// `ssh`; a stand-in in tests that need OpenSSH to fail in ways the bed cannot.
    program: PathBuf,
    printer: Arc<Printer>,
    prepared: Mutex<Prepared>,
    masters: Mutex<HashMap<String, Arc<Master>>>,
    starts: Semaphore,
    connections_opened: AtomicUsize,
    closed: AtomicBool,
}

/// Per-process resources made on first use: the private directory, the combined config
/// file, the agent.
enum Prepared {
    NotYet,
    Ready(Arc<Resources>),
    Failed(String),
    Closed,
}

struct Resources {
    context: Context,
    // Field order matters: the agent stops before its socket's directory is removed.
    agent: Mutex<Option<Agent>>,
    directory: PrivateDir,
}

struct Master {
    host: String,
    control_path: PathBuf,
    state: Mutex<MasterState>,
}

struct MasterState {
    open: bool,
    last_used: Instant,
}

impl OpenSsh {
    /// An executor for these options, printing through `printer`. Nothing is started until
    /// the first command.
    pub fn new(options: SshOptions, printer: Arc<Printer>) -> OpenSsh {
        OpenSsh::with_program(options, printer, PathBuf::from("ssh"))
    }

    fn with_program(options: SshOptions, printer: Arc<Printer>, program: PathBuf) -> OpenSsh {
        let starts = Semaphore::new(options.max_concurrent_starts.max(1));
        let shared = Arc::new(Shared {
            options,
            program,
            printer,
            prepared: Mutex::new(Prepared::NotYet),
            masters: Mutex::new(HashMap::new()),
            starts,
            connections_opened: AtomicUsize::new(0),
            closed: AtomicBool::new(false),
        });
        let closable: Arc<dyn cleanup::Close> = shared.clone();
        cleanup::register(&closable);
        OpenSsh { shared }
    }

    pub fn options(&self) -> &SshOptions {
        &self.shared.options
    }

    /// How many SSH connections (masters) this executor has opened so far.
    pub fn connections_opened(&self) -> usize {
        self.shared.connections_opened.load(Ordering::Relaxed)
    }

    /// The control socket of `host`'s shared connection, when one is open.
    pub fn control_path(&self, host: &str) -> Option<PathBuf> {
        let key = self.shared.master_key(host);
        let master = lock(&self.shared.masters).get(&key).cloned()?;
        let open = lock(&master.state).open;
        open.then(|| master.control_path.clone())
    }

    /// Closes every shared connection, stops the agent and removes the private directory.
    /// Also done on drop; later commands fail.
    pub fn close(&self) {
        cleanup::Close::close(&*self.shared);
    }
}

impl Drop for OpenSsh {
    fn drop(&mut self) {
        self.close();
    }
}

impl cleanup::Close for Shared {
    fn close(&self) {
        if self.closed.swap(true, Ordering::SeqCst) {
            return;
        }
        let masters: Vec<Arc<Master>> = lock(&self.masters).drain().map(|(_, master)| master).collect();
        let resources = match &*lock(&self.prepared) {
            Prepared::Ready(resources) => Some(resources.clone()),
            _ => None,
        };
        if let Some(resources) = &resources {
            // In parallel: closing is one round trip per host, each with its own deadline.
            std::thread::scope(|scope| {
                for master in &masters {
                    // A master still connecting holds its lock for up to the handshake
                    // deadline; ask it to exit anyway rather than wait (its `ssh -f` is our
                    // child and gets the same signal).
                    let open = match master.state.try_lock() {
                        Ok(state) => state.open,
                        Err(std::sync::TryLockError::Poisoned(poisoned)) => poisoned.into_inner().open,
                        Err(std::sync::TryLockError::WouldBlock) => true,
                    };
                    if open {
                        scope.spawn(|| {
                            let _ = self.control(&resources.context, master, "exit");
                        });
                    }
                }
            });
        }
        *lock(&self.prepared) = Prepared::Closed;
        // Commands still running hold the resources; on a signal the process ends before
        // they let go, so the agent and the directory go now rather than on the last drop.
        if let Some(resources) = resources {
            if let Some(mut agent) = lock(&resources.agent).take() {
                agent.stop();
            }
            let _ = std::fs::remove_dir_all(resources.directory.path());
        }
    }
}

impl Shared {
    fn jump(&self) -> Option<String> {
        self.options.jump_host()
    }

    fn master_key(&self, host: &str) -> String {
        socket_name(
            &self.options.user,
            host,
            self.options.port,
            self.jump().as_deref(),
        )
    }

    fn resources(&self, host: &str) -> Result<Arc<Resources>, Error> {
        let mut prepared = lock(&self.prepared);
        if let Prepared::NotYet = *prepared {
            *prepared = match self.prepare() {
                Ok(resources) => Prepared::Ready(Arc::new(resources)),
                Err(message) => Prepared::Failed(message),
            };
        }
        match &*prepared {
            Prepared::Ready(resources) => Ok(resources.clone()),
            Prepared::Failed(message) => Err(Error::Setup {
                host: host.to_string(),
                message: message.clone(),
            }),
            Prepared::Closed | Prepared::NotYet => Err(Error::Setup {
                host: host.to_string(),
                message: "the ssh executor is closed".to_string(),
            }),
        }
    }

    fn prepare(&self) -> Result<Resources, String> {
        let directory = PrivateDir::create(&std::env::temp_dir())
            .map_err(|error| format!("could not create a private directory for control sockets: {error}"))?;
        let include_path = directory.path().join("config");
        let config_file = options::config_file(&self.options.config, || include_path.clone());
        if let SshConfig::Files(files) = &self.options.config {
            if config_file.as_deref() == Some(include_path.as_path()) {
                let current_dir = std::env::current_dir()
                    .map_err(|error| format!("could not read the current directory: {error}"))?;
                let text = options::include_file_text(files, &current_dir);
                std::fs::write(&include_path, text)
                    .map_err(|error| format!("could not write {}: {error}", include_path.display()))?;
            }
        }
        let agent = if self.options.key_data.is_empty() {
            None
        } else {
            Some(Agent::start(directory.path(), &self.options.key_data)?)
        };
        let context = Context {
            config_file,
            agent_socket: agent.as_ref().map(|agent| agent.socket().to_path_buf()),
            agent_identities: agent
                .as_ref()
                .map(|agent| agent.public_keys().to_vec())
                .unwrap_or_default(),
        };
        Ok(Resources {
            context,
            agent: Mutex::new(agent),
            directory,
        })
    }

    /// The shared connection to `host`, opened (or reopened after its idle timeout) if needed.
    fn connect(&self, host: &str) -> Result<(Arc<Resources>, Arc<Master>), Error> {
        let resources = self.resources(host)?;
        let master = {
            let key = self.master_key(host);
            let mut masters = lock(&self.masters);
            if self.closed.load(Ordering::SeqCst) {
                return Err(Error::Setup {
                    host: host.to_string(),
                    message: "the ssh executor is closed".to_string(),
                });
            }
            masters
                .entry(key.clone())
                .or_insert_with(|| {
                    Arc::new(Master {
                        host: host.to_string(),
                        control_path: resources.directory.path().join(&key),
                        state: Mutex::new(MasterState {
                            open: false,
                            last_used: Instant::now(),
                        }),
                    })
                })
                .clone()
        };
        // Held while connecting, so threads sharing a host wait for one connection.
        let mut state = lock(&master.state);
        if state.open && state.last_used.elapsed() + IDLE_MARGIN >= self.options.pool_idle_timeout {
            state.open = self.control(&resources.context, &master, "check").is_ok();
        }
        if !state.open {
            self.open_master(&resources.context, &master)?;
            state.open = true;
        }
        state.last_used = Instant::now();
        Ok((resources, master.clone()))
    }

    fn connection_error(&self, host: &str, kind: ConnectionErrorKind, detail: String) -> Error {
        Error::Connection(ConnectionError {
            kind,
            user: self.options.user.clone(),
            host: host.to_string(),
            port: self.options.port,
            detail,
        })
    }

    /// Kamal's `with_dns_retry`: up to `dns_retries` more attempts after a resolution
    /// failure, each announced as `attempt n/retries`.
    fn open_master(&self, context: &Context, master: &Master) -> Result<(), Error> {
        let retries = self.options.dns_retries;
        let mut attempt = 1;
        loop {
            match self.start_master(context, master) {
                Err(Error::Connection(error))
                    if error.kind == ConnectionErrorKind::NameResolution && attempt <= retries =>
                {
                    let delay = dns_retry_delay(attempt, crate::random::fraction());
                    self.printer.warn(&format!(
                        "Retrying DNS for {} (attempt {attempt}/{retries}) in {:.2}s: {}",
                        master.host,
                        delay.as_secs_f64(),
                        error.detail
                    ));
                    std::thread::sleep(delay);
                    attempt += 1;
                }
                result => return result,
            }
        }
    }

    fn start_master(&self, context: &Context, master: &Master) -> Result<(), Error> {
        let host = &master.host;
        // A socket left by a master that died would make OpenSSH skip multiplexing.
        let _ = std::fs::remove_file(&master.control_path);
        let handshake = self.options.connect_timeout * 2 + Duration::from_secs(5);
        // Every handshake ahead of us ends within its own deadline, so waiting for as many
        // rounds as there are hosts per permit is enough.
        let rounds = lock(&self.masters)
            .len()
            .div_ceil(self.options.max_concurrent_starts.max(1)) as u32;
        let _permit = self.starts.acquire(handshake * (rounds + 1)).ok_or_else(|| {
            self.connection_error(
                host,
                ConnectionErrorKind::TimedOut,
                "waited too long for a free connection slot (sshkit/max_concurrent_starts)".to_string(),
            )
        })?;
        let mut command = Command::new(&self.program);
        command.args(options::master_arguments(
            &self.options,
            context,
            &master.control_path,
            host,
        ));
        let log_ssh = matches!(self.options.log_level, SshLogLevel::Debug | SshLogLevel::Info);
        let printer = &self.printer;
        let outcome = process::run(command, Input::None, Some(handshake), &mut |_, line| {
            if log_ssh {
                printer.debug(String::from_utf8_lossy(line).trim_end());
            }
        })
        .map_err(|source| Error::Spawn {
            host: host.clone(),
            program: "ssh".to_string(),
            source,
        })?;
        match outcome {
            Outcome::Finished(finished) if finished.exit_status == 0 => {
                self.connections_opened.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            Outcome::Finished(finished) => {
                let (kind, detail) = classify_connection_failure(&String::from_utf8_lossy(&finished.stderr));
                Err(self.connection_error(host, kind, detail))
            }
            Outcome::TimedOut(_) => Err(self.connection_error(
                host,
                ConnectionErrorKind::TimedOut,
                format!("no connection within {} seconds", handshake.as_secs()),
            )),
        }
    }

    /// `ssh -O <request>` against `master`.
    fn control(&self, context: &Context, master: &Master, request: &str) -> Result<(), String> {
        let mut command = Command::new(&self.program);
        command.args(options::control_arguments(
            &self.options,
            context,
            &master.control_path,
            &master.host,
            request,
        ));
        match process::run(command, Input::None, Some(CONTROL_DEADLINE), &mut |_, _| {}) {
            Ok(Outcome::Finished(finished)) if finished.exit_status == 0 => Ok(()),
            Ok(Outcome::Finished(finished)) => {
                Err(String::from_utf8_lossy(&finished.stderr).trim().to_string())
            }
            Ok(Outcome::TimedOut(_)) => Err(format!("ssh -O {request} did not answer in time")),
            Err(error) => Err(error.to_string()),
        }
    }

    /// `ssh -O forward|cancel -R …` against `host`'s shared connection (opened if needed).
    fn remote_forward(&self, host: &str, request: &str, port: u16) -> Result<(), Error> {
        let (resources, master) = self.connect(host)?;
        let mut command = Command::new(&self.program);
        command.args(options::remote_forward_arguments(
            &self.options,
            &resources.context,
            &master.control_path,
            &master.host,
            request,
            port,
        ));
        let failure = |message: String| Error::Setup {
            host: host.to_string(),
            message: format!("ssh -O {request} of port {port} failed: {message}"),
        };
        match process::run(command, Input::None, Some(CONTROL_DEADLINE), &mut |_, _| {}) {
            Ok(Outcome::Finished(finished)) if finished.exit_status == 0 => Ok(()),
            Ok(Outcome::Finished(finished)) => Err(failure(
                String::from_utf8_lossy(&finished.stderr).trim().to_string(),
            )),
            Ok(Outcome::TimedOut(_)) => Err(failure("no answer in time".to_string())),
            Err(error) => Err(failure(error.to_string())),
        }
    }

    /// An `ssh` process that runs `shell` over `master`'s connection.
    fn client(&self, resources: &Resources, master: &Master, shell: &str) -> Command {
        let mut ssh = Command::new(&self.program);
        ssh.args(options::client_arguments(
            &self.options,
            &resources.context,
            &master.control_path,
            &master.host,
            shell,
        ));
        ssh
    }

    fn run_remote(&self, host: &str, command: &Cmd, options: RunOptions) -> Result<Output, Error> {
        let id = command_id();
        let display = command.to_display();
        self.printer.running(&id, options.verbosity, &display, host);
        let (resources, master) = self.connect(host)?;
        let ssh = self.client(&resources, &master, &command.to_shell());
        let finished = self.run_process(host, &id, ssh, command)?;
        // 255 is ssh's own failure code (or the command's); only a dead master tells them apart.
        if finished.exit_status == 255 && self.control(&resources.context, &master, "check").is_err() {
            lock(&master.state).open = false;
            let detail = match String::from_utf8_lossy(&finished.stderr).lines().last() {
                Some(line) => line.trim().to_string(),
                None => "the shared connection closed".to_string(),
            };
            return Err(self.connection_error(host, ConnectionErrorKind::Lost, detail));
        }
        lock(&master.state).last_used = Instant::now();
        self.finish(host, &id, command, options, finished)
    }

    fn run_local(&self, command: &Cmd, options: RunOptions) -> Result<Output, Error> {
        let id = command_id();
        self.printer
            .running(&id, options.verbosity, &command.to_display(), "localhost");
        let mut shell = Command::new("/bin/sh");
        shell.arg("-c").arg(command.to_shell());
        let finished = self.run_process("localhost", &id, shell, command)?;
        self.finish("localhost", &id, command, options, finished)
    }

    fn run_process(&self, host: &str, id: &str, process: Command, command: &Cmd) -> Result<Finished, Error> {
        let program = process.get_program().to_string_lossy().to_string();
        let input = match &command.stdin {
            Some(stdin) => Input::Bytes(stdin.expose().as_bytes().to_vec()),
            None => Input::None,
        };
        let printer = &self.printer;
        let outcome = process::run(
            process,
            input,
            self.options.command_timeout,
            &mut |stream, line| {
                printer.output(id, stream, &String::from_utf8_lossy(line));
            },
        )
        .map_err(|source| Error::Spawn {
            host: host.to_string(),
            program,
            source,
        })?;
        match outcome {
            Outcome::Finished(finished) => Ok(finished),
            Outcome::TimedOut(finished) => Err(Error::Timeout {
                host: host.to_string(),
                command: first_word(command),
                after: finished.runtime,
            }),
        }
    }

    fn finish(
        &self,
        host: &str,
        id: &str,
        command: &Cmd,
        options: RunOptions,
        finished: Finished,
    ) -> Result<Output, Error> {
        let output = Output {
            exit_status: finished.exit_status,
            stdout: String::from_utf8_lossy(&finished.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&finished.stderr).into_owned(),
        };
        if output.exit_status != 0 && options.raise_on_non_zero_exit {
            // SSHKit raises before logging `Finished`; the top-level error reports it.
            return Err(Error::CommandFailed {
                host: host.to_string(),
                failure: CommandFailed {
                    command: first_word(command),
                    exit_status: output.exit_status,
                    stdout: output.stdout,
                    stderr: output.stderr,
                },
            });
        }
        self.printer
            .finished(id, options.verbosity, finished.runtime, output.exit_status);
        Ok(output)
    }

    fn upload_remote(
        &self,
        host: &str,
        source: Upload<'_>,
        remote_path: &str,
        mode: u32,
    ) -> Result<(), Error> {
        let input = upload_input(host, source)?;
        let shown = source.shown_as(remote_path);
        self.printer.uploading(&shown, false);
        let (resources, master) = self.connect(host)?;
        let script = upload_script(remote_path, mode);
        let ssh = self.client(&resources, &master, &format!("sh -c {}", shell_quote(&script)));
        let outcome =
            process::run(ssh, input, self.options.command_timeout, &mut |_, _| {}).map_err(|source| {
                Error::Spawn {
                    host: host.to_string(),
                    program: "ssh".to_string(),
                    source,
                }
            })?;
        match outcome {
            Outcome::Finished(finished) if finished.exit_status == 0 => {
                lock(&master.state).last_used = Instant::now();
                self.printer.uploading(&shown, true);
                Ok(())
            }
            Outcome::Finished(finished) => Err(Error::UploadFailed {
                host: host.to_string(),
                path: remote_path.to_string(),
                exit_status: finished.exit_status,
                stderr: crate::error::ruby_strip(&String::from_utf8_lossy(&finished.stderr)).to_string(),
            }),
            Outcome::TimedOut(finished) => Err(Error::Timeout {
                host: host.to_string(),
                command: "upload".to_string(),
                after: finished.runtime,
            }),
        }
    }
}

/// The remote side of an upload: write under umask 077 to a temporary name beside the
/// target, set the mode, then rename over the target. The contents are never readable by
/// others, and a reader never sees a half-written file.
pub(crate) fn upload_script(remote_path: &str, mode: u32) -> String {
    let temporary = format!(
        "{remote_path}.kamal-upload-{:08x}",
        crate::random::next_u64() as u32
    );
    let (temporary, path) = (shell_quote(&temporary), shell_quote(remote_path));
    format!(
        "umask 077 && cat > {temporary} && chmod {mode:04o} {temporary} && mv -f {temporary} {path} \
         || {{ status=$?; rm -f {temporary}; exit $status; }}"
    )
}

fn upload_input(host: &str, source: Upload<'_>) -> Result<Input, Error> {
    match source {
        Upload::Bytes(bytes) => Ok(Input::Bytes(bytes.to_vec())),
        Upload::File(path) => {
            std::fs::File::open(path)
                .map(Input::File)
                .map_err(|source| Error::ReadUpload {
                    host: host.to_string(),
                    path: path.display().to_string(),
                    source,
                })
        }
    }
}

/// Kamal's DNS backoff: `min(0.1 * 2^(n-1), 2.0) + rand * 0.1` seconds after attempt `n`.
pub(crate) fn dns_retry_delay(attempt: u32, random: f64) -> Duration {
    let exponent = attempt.saturating_sub(1).min(16) as i32;
    Duration::from_secs_f64((0.1 * 2f64.powi(exponent)).min(2.0) + random * 0.1)
}

/// Writes a local file the way a remote upload does: a private temporary file, the mode,
/// then a rename over the target.
fn upload_local(source: Upload<'_>, path: &str, mode: u32) -> Result<(), Error> {
    let write_error = |source| Error::WriteLocal {
        host: "localhost".to_string(),
        path: path.to_string(),
        source,
    };
    let temporary = format!("{path}.kamal-upload-{:08x}", crate::random::next_u64() as u32);
    let result = (|| {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&temporary)?;
        match source {
            Upload::Bytes(bytes) => file.write_all(bytes)?,
            Upload::File(from) => {
                std::io::copy(&mut std::fs::File::open(from)?, &mut file)?;
            }
        }
        file.set_permissions(std::fs::Permissions::from_mode(mode))?;
        std::fs::rename(&temporary, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    result.map_err(write_error)
}

impl Executor for OpenSsh {
    fn run(&self, target: &Target, command: &Cmd, options: RunOptions) -> Result<Output, Error> {
        match target {
            Target::Remote(host) => self.shared.run_remote(host, command, options),
            Target::Local => self.shared.run_local(command, options),
        }
    }

    fn upload(&self, target: &Target, source: Upload<'_>, remote_path: &str, mode: u32) -> Result<(), Error> {
        match target {
            Target::Remote(host) => self.shared.upload_remote(host, source, remote_path, mode),
            Target::Local => {
                let shown = source.shown_as(remote_path);
                self.shared.printer.uploading(&shown, false);
                upload_local(source, remote_path, mode)?;
                self.shared.printer.uploading(&shown, true);
                Ok(())
            }
        }
    }

    fn interactive(&self, host: &str, command: &Cmd) -> Result<Interactive, Error> {
        // Only the combined config file needs preparing; the private directory it lives in
        // is left behind when the caller replaces the process with ssh.
        let config_file = match &self.shared.options.config {
            SshConfig::Files(files) if files.len() > 1 => {
                self.shared.resources(host)?.context.config_file.clone()
            }
            config => options::config_file(config, PathBuf::new),
        };
        Ok(options::interactive(
            &self.shared.options,
            config_file.as_deref(),
            host,
            command,
        ))
    }

    fn forward_remote_port(&self, host: &str, port: u16) -> Result<(), Error> {
        self.shared.remote_forward(host, "forward", port)
    }

    fn cancel_remote_port(&self, host: &str, port: u16) -> Result<(), Error> {
        self.shared.remote_forward(host, "cancel", port)
    }

    fn printer(&self) -> &Printer {
        &self.shared.printer
    }
}

/// A counting semaphore with a deadline on acquisition.
struct Semaphore {
    available: Mutex<usize>,
    released: Condvar,
}

struct Permit<'a>(&'a Semaphore);

impl Semaphore {
    fn new(permits: usize) -> Semaphore {
        Semaphore {
            available: Mutex::new(permits),
            released: Condvar::new(),
        }
    }

    fn acquire(&self, timeout: Duration) -> Option<Permit<'_>> {
        let deadline = Instant::now() + timeout;
        let mut available = lock(&self.available);
        while *available == 0 {
            let remaining = deadline.checked_duration_since(Instant::now())?;
            available = match self.released.wait_timeout(available, remaining) {
                Ok((guard, _)) => guard,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
        *available -= 1;
        Some(Permit(self))
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        *lock(&self.0.available) += 1;
        self.0.released.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::printer::Level;

    #[test]
    fn dns_backoff_is_kamals() {
        assert_eq!(dns_retry_delay(1, 0.0), Duration::from_secs_f64(0.1));
        assert_eq!(dns_retry_delay(2, 0.0), Duration::from_secs_f64(0.2));
        assert_eq!(dns_retry_delay(3, 0.5), Duration::from_secs_f64(0.45));
        assert_eq!(dns_retry_delay(10, 0.0), Duration::from_secs_f64(2.0));
    }

    #[test]
    fn upload_script_writes_privately_then_renames() {
        let script = upload_script(".kamal/apps/app/env/roles/web.env", 0o600);
        let temporary = script
            .split_whitespace()
            .nth(5)
            .expect("temporary name")
            .to_string();
        assert!(temporary.starts_with("'.kamal/apps/app/env/roles/web.env.kamal-upload-"));
        assert_eq!(
            script.replace(&temporary, "TMP"),
            "umask 077 && cat > TMP && chmod 0600 TMP && mv -f TMP '.kamal/apps/app/env/roles/web.env' \
             || { status=$?; rm -f TMP; exit $status; }"
        );
    }

    #[test]
    fn semaphore_limits_and_times_out() {
        let semaphore = Semaphore::new(1);
        let first = semaphore.acquire(Duration::from_millis(10));
        assert!(first.is_some());
        assert!(semaphore.acquire(Duration::from_millis(20)).is_none());
        drop(first);
        assert!(semaphore.acquire(Duration::from_millis(10)).is_some());
    }

    fn local() -> (OpenSsh, crate::printer::tests::Captured) {
        let captured = crate::printer::tests::Captured::default();
        let printer = Arc::new(Printer::new(Box::new(captured.clone()), Level::Debug, false));
        (OpenSsh::new(SshOptions::new(), printer), captured)
    }

    #[test]
    fn local_commands_log_like_sshkit() {
        let (executor, out) = local();
        let output = executor
            .run(
                &Target::Local,
                &Cmd::new(["echo", "hello"]),
                RunOptions::execute(),
            )
            .expect("runs");
        assert_eq!(output.stdout, "hello\n");
        let text = out.text();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4, "{text}");
        assert!(
            lines[0].ends_with("] Running /usr/bin/env echo hello on localhost"),
            "{text}"
        );
        assert!(lines[1].ends_with("] Command: /usr/bin/env echo hello"));
        assert!(lines[2].ends_with("] \thello"));
        assert!(lines[3].contains("] Finished in "));
        assert!(lines[3].ends_with(" seconds with exit status 0 (successful)."));
        assert_eq!(executor.connections_opened(), 0);
    }

    #[test]
    fn local_failures_carry_sshkits_text_and_secrets_stay_hidden() {
        let (executor, out) = local();
        let mut command = Cmd::new(["sh -c 'echo out; echo bad >&2; exit 2'", "#"]);
        command.push_sensitive(kamal_config::secrets::Secret::new("hunter2"), "[REDACTED]");
        let error = executor
            .run(&Target::Local, &command, RunOptions::execute())
            .expect_err("fails");
        assert_eq!(error.to_string(), "sh -c 'echo out; echo bad >&2; exit 2' exit status: 2\nsh -c 'echo out; echo bad >&2; exit 2' stdout: out\nsh -c 'echo out; echo bad >&2; exit 2' stderr: bad\n");
        assert_eq!(error.host(), "localhost");
        assert_eq!(error.ruby_class(), "SSHKit::Command::Failed");
        let text = out.text();
        assert!(text.contains("[REDACTED]"));
        assert!(!text.contains("hunter2"));
        assert!(
            !text.contains("Finished"),
            "raising failures print no Finished line: {text}"
        );
    }

    #[test]
    fn non_raising_failures_print_failed() {
        let (executor, out) = local();
        let output = executor
            .run(
                &Target::Local,
                &Cmd::new(["false"]),
                RunOptions::execute().raise_on_non_zero_exit(false),
            )
            .expect("returns");
        assert_eq!(output.exit_status, 1);
        assert!(out.text().contains("with exit status 1 (failed)."));
    }

    #[test]
    fn stdin_reaches_local_commands() {
        let (executor, _) = local();
        let command = Cmd::new(["cat"]).with_stdin(kamal_config::secrets::Secret::new("password"));
        let output = executor
            .run(&Target::Local, &command, RunOptions::capture())
            .expect("runs");
        assert_eq!(output.stdout, "password");
    }

    #[test]
    fn local_upload_is_private_from_the_start() {
        let (executor, out) = local();
        let directory = PrivateDir::create(&std::env::temp_dir()).expect("dir");
        let path = directory.path().join("web.env");
        std::fs::write(&path, "old").expect("old file");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let path_text = path.display().to_string();
        executor
            .upload(&Target::Local, Upload::Bytes(b"SECRET=1\n"), &path_text, 0o600)
            .expect("uploads");
        assert_eq!(std::fs::read_to_string(&path).expect("read"), "SECRET=1\n");
        let mode = std::fs::metadata(&path).expect("stat").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert!(out
            .text()
            .contains(&format!("  INFO Uploading {path_text} 100.0%")));
        assert_eq!(
            std::fs::read_dir(directory.path()).expect("list").count(),
            1,
            "no temporary file left"
        );
    }

    #[test]
    fn unresolvable_names_are_retried_with_kamals_warnings() {
        let directory = PrivateDir::create(&std::env::temp_dir()).expect("dir");
        let fake = directory.path().join("ssh");
        let calls = directory.path().join("calls");
        // Stands in for OpenSSH: resolving names would send traffic beyond the test bed.
        std::fs::write(
            &fake,
            format!(
                "#!/bin/sh\necho call >> '{}'\necho 'ssh: Could not resolve hostname web-1: Name or service not known' >&2\nexit 255\n",
                calls.display()
            ),
        )
        .expect("fake ssh");
        std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let captured = crate::printer::tests::Captured::default();
        let printer = Arc::new(Printer::new(Box::new(captured.clone()), Level::Info, false));
        let mut options = SshOptions::new();
        options.dns_retries = 2;
        let executor = OpenSsh::with_program(options, printer, fake);
        let error = executor
            .run(
                &Target::Remote("web-1".to_string()),
                &Cmd::new(["true"]),
                RunOptions::execute(),
            )
            .expect_err("does not resolve");
        assert_eq!(
            error.to_string(),
            "could not resolve host name web-1: Name or service not known"
        );
        assert_eq!(error.ruby_class(), "SocketError");
        assert_eq!(std::fs::read_to_string(&calls).expect("calls").lines().count(), 3);
        let text = captured.text();
        let warnings: Vec<&str> = text.lines().filter(|line| line.starts_with("  WARN ")).collect();
        assert_eq!(warnings.len(), 2, "{text}");
        // The delay is 0.1·2^(n-1) plus up to 0.1 of jitter, printed with two decimals, so
        // the jitter can round the first one up to 0.20.
        let delay = |line: &str, prefix: &str| -> f64 {
            let rest = line.strip_prefix(prefix).unwrap_or_else(|| panic!("{text}"));
            let (seconds, message) = rest.split_once("s: ").unwrap_or_else(|| panic!("{text}"));
            assert_eq!(
                message,
                "ssh: Could not resolve hostname web-1: Name or service not known"
            );
            seconds.parse().unwrap_or_else(|_| panic!("{text}"))
        };
        let first = delay(warnings[0], "  WARN Retrying DNS for web-1 (attempt 1/2) in ");
        let second = delay(warnings[1], "  WARN Retrying DNS for web-1 (attempt 2/2) in ");
        assert!((0.1..=0.2).contains(&first), "{text}");
        assert!((0.2..=0.3).contains(&second), "{text}");
        assert_eq!(executor.connections_opened(), 0);
    }

    #[test]
    fn closed_executors_refuse_work() {
        let (executor, _) = local();
        executor.close();
        let error = executor
            .run(
                &Target::Remote("10.213.0.11".to_string()),
                &Cmd::new(["true"]),
                RunOptions::execute(),
            )
            .expect_err("closed");
        assert!(error.to_string().contains("closed"), "{error}");
    }

    #[test]
    fn interactive_lines_need_no_connection() {
        let (executor, _) = local();
        let line = executor.interactive("1.1.1.1", &Cmd::new(["ls"])).expect("line");
        assert_eq!(line.display, "ssh -t root@1.1.1.1 -p 22 'ls'");
        assert_eq!(executor.connections_opened(), 0);
    }
}
