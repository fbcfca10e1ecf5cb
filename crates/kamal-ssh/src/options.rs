//! SSH settings as plain values ([`SshOptions`], mirroring Kamal's `ssh` and `sshkit`
//! sections) and their mapping onto OpenSSH command lines: the options every connection
//! shares, the master/client split of connection sharing, and Kamal's `ssh -t` line for
//! interactive commands (§5.12). The CLI maps the validated configuration onto these
//! values, so this crate does not depend on how the configuration is modelled.

use std::path::PathBuf;
use std::time::Duration;

use kamal_config::secrets::Secret;

/// `ssh.config`: which OpenSSH client configuration to read.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum SshConfig {
    /// `true` (and absent): OpenSSH's default, `~/.ssh/config` then `/etc/ssh/ssh_config`.
    #[default]
    Default,
    /// `false`: no configuration file at all (`-F /dev/null`).
    Disabled,
    /// One or more files. OpenSSH takes a single `-F`, so several are combined through a
    /// generated file of `Include` lines.
    Files(Vec<PathBuf>),
}

/// `ssh.log_level`, Net::SSH's levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SshLogLevel {
    Debug,
    Info,
    Warn,
    Error,
    #[default]
    Fatal,
}

impl SshLogLevel {
    /// Parses Kamal's spelling (`debug`, `info`, `warn`, `error`, `fatal`, with or without `:`).
    pub fn parse(text: &str) -> Option<SshLogLevel> {
        match text.trim_start_matches(':').to_ascii_lowercase().as_str() {
            "debug" => Some(SshLogLevel::Debug),
            "info" => Some(SshLogLevel::Info),
            "warn" => Some(SshLogLevel::Warn),
            "error" => Some(SshLogLevel::Error),
            "fatal" => Some(SshLogLevel::Fatal),
            _ => None,
        }
    }

    /// OpenSSH's `LogLevel`. ERROR is the floor even for `fatal`: connection failures are
    /// explained from the client's error lines, which QUIET would suppress.
    fn openssh(self) -> &'static str {
        match self {
            SshLogLevel::Debug => "DEBUG",
            SshLogLevel::Info => "INFO",
            SshLogLevel::Warn | SshLogLevel::Error | SshLogLevel::Fatal => "ERROR",
        }
    }
}

/// Everything that decides how hosts are reached. Build with [`SshOptions::new`] (Kamal's
/// defaults) and set the public fields.
#[derive(Debug, Clone)]
pub struct SshOptions {
    /// `ssh.user` (`root`).
    pub user: String,
    /// `ssh.port` (22).
    pub port: u16,
    /// `ssh.proxy`: a jump host, `[user@]host[:port]`; `root@` is prepended without a user.
    pub proxy: Option<String>,
    /// `ssh.proxy_command`, e.g. `ssh -W %h:%p user@proxy`.
    pub proxy_command: Option<String>,
    /// `ssh.keys`: identity files.
    pub keys: Vec<PathBuf>,
    /// `ssh.keys_only`: only the given identities (`IdentitiesOnly=yes`).
    pub keys_only: bool,
    /// `ssh.key_data`: private keys (PEM) from secrets; loaded into a per-process agent,
    /// never written to disk.
    pub key_data: Vec<Secret>,
    /// `ssh.config`.
    pub config: SshConfig,
    /// `ssh.log_level`.
    pub log_level: SshLogLevel,
    /// `ssh.forward_agent`.
    pub forward_agent: bool,
    /// `sshkit.max_concurrent_starts` (30): connection handshakes in flight at once.
    pub max_concurrent_starts: usize,
    /// `sshkit.pool_idle_timeout` (900 s): an idle shared connection closes after this long.
    pub pool_idle_timeout: Duration,
    /// `sshkit.dns_retries` (3): further attempts after a host name fails to resolve.
    pub dns_retries: u32,
    /// TCP connect deadline (OpenSSH `ConnectTimeout`).
    pub connect_timeout: Duration,
    /// Deadline for one command; `None` lets commands run as long as they need (a
    /// `docker pull` of a large image), as Kamal does.
    pub command_timeout: Option<Duration>,
}

impl Default for SshOptions {
    fn default() -> SshOptions {
        SshOptions::new()
    }
}

impl SshOptions {
    /// Kamal's defaults: `root`, port 22, `fatal` logging, 30 concurrent starts, 900 s idle
    /// timeout, 3 DNS retries.
    pub fn new() -> SshOptions {
        SshOptions {
            user: "root".to_string(),
            port: 22,
            proxy: None,
            proxy_command: None,
            keys: Vec::new(),
            keys_only: false,
            key_data: Vec::new(),
            config: SshConfig::Default,
            log_level: SshLogLevel::Fatal,
            forward_agent: false,
            max_concurrent_starts: 30,
            pool_idle_timeout: Duration::from_secs(900),
            dns_retries: 3,
            connect_timeout: Duration::from_secs(30),
            command_timeout: None,
        }
    }

    /// The jump host with Kamal's default user (`Net::SSH::Proxy::Jump("root@host")`).
    pub fn jump_host(&self) -> Option<String> {
        self.proxy.as_ref().map(|proxy| {
            if proxy.contains('@') {
                proxy.clone()
            } else {
                format!("root@{proxy}")
            }
        })
    }
}

/// Resolved per-process facts the argv builders need besides the options.
#[derive(Debug, Clone, Default)]
pub(crate) struct Context {
    /// The `-F` file: `/dev/null`, the single configured file, or our generated include file.
    pub config_file: Option<PathBuf>,
    /// The private agent holding `key_data`.
    pub agent_socket: Option<PathBuf>,
    /// Public halves of the agent's keys, offered as identities.
    pub agent_identities: Vec<PathBuf>,
}

/// How the config maps to `-F`, given where the generated include file would live.
pub(crate) fn config_file(config: &SshConfig, include_file: impl FnOnce() -> PathBuf) -> Option<PathBuf> {
    match config {
        SshConfig::Default => None,
        SshConfig::Disabled => Some(PathBuf::from("/dev/null")),
        SshConfig::Files(files) if files.len() == 1 => Some(files[0].clone()),
        SshConfig::Files(files) if files.is_empty() => None,
        SshConfig::Files(_) => Some(include_file()),
    }
}

/// The generated configuration for several `ssh.config` files: one `Include` each, in order
/// (the first value OpenSSH reads for an option wins, as with the files given one by one).
/// Paths are made absolute because OpenSSH resolves relative includes against `~/.ssh`.
pub(crate) fn include_file_text(files: &[PathBuf], current_dir: &std::path::Path) -> String {
    let mut text = String::from("# Written by kamal-ssh: the configured ssh.config files, in order.\n");
    for file in files {
        let absolute = if file.is_absolute() {
            file.clone()
        } else {
            current_dir.join(file)
        };
        // OpenSSH splits Include arguments on whitespace unless quoted.
        text.push_str(&format!("Include \"{}\"\n", absolute.display()));
    }
    text
}

/// Options shared by every OpenSSH invocation for one host: master, clients, `-O` requests.
pub(crate) fn common_arguments(options: &SshOptions, context: &Context) -> Vec<String> {
    let mut arguments = Vec::new();
    if let Some(file) = &context.config_file {
        arguments.push("-F".to_string());
        arguments.push(file.display().to_string());
    }
    let mut option = |value: String| {
        arguments.push("-o".to_string());
        arguments.push(value);
    };
    option("BatchMode=yes".to_string());
    // Net::SSH's default: accept unknown keys, fail on changed ones.
    option("StrictHostKeyChecking=accept-new".to_string());
    // Kamal's keepalive: true, keepalive_interval: 30.
    option("ServerAliveInterval=30".to_string());
    option(format!(
        "ConnectTimeout={}",
        options.connect_timeout.as_secs().max(1)
    ));
    option(format!("LogLevel={}", options.log_level.openssh()));
    if options.keys_only {
        option("IdentitiesOnly=yes".to_string());
    }
    if let Some(socket) = &context.agent_socket {
        option(format!("IdentityAgent={}", socket.display()));
    }
    if options.forward_agent {
        option("ForwardAgent=yes".to_string());
    }
    // `proxy` wins over `proxy_command`, as in Kamal's `Configuration::Ssh#proxy`.
    let jump = options.jump_host();
    if let (None, Some(command)) = (&jump, &options.proxy_command) {
        option(format!("ProxyCommand={command}"));
    }
    for key in options.keys.iter().chain(&context.agent_identities) {
        arguments.push("-i".to_string());
        arguments.push(key.display().to_string());
    }
    if let Some(jump) = jump {
        arguments.push("-J".to_string());
        arguments.push(jump);
    }
    arguments.push("-l".to_string());
    arguments.push(options.user.clone());
    arguments.push("-p".to_string());
    arguments.push(options.port.to_string());
    arguments
}

/// The common options, the control socket, then what is particular to one invocation.
fn over_control_path<const N: usize>(
    options: &SshOptions,
    context: &Context,
    control_path: &std::path::Path,
    particular: [&str; N],
    host: &str,
) -> Vec<String> {
    let mut arguments = common_arguments(options, context);
    arguments.push("-o".to_string());
    arguments.push(format!("ControlPath={}", control_path.display()));
    arguments.extend(particular.iter().map(|argument| argument.to_string()));
    arguments.push("--".to_string());
    arguments.push(host.to_string());
    arguments
}

/// Starts the shared connection and backgrounds it once authenticated (`-f`), so the
/// caller learns success or the reason for failure from this process alone.
pub(crate) fn master_arguments(
    options: &SshOptions,
    context: &Context,
    control_path: &std::path::Path,
    host: &str,
) -> Vec<String> {
    let persist = format!("ControlPersist={}", options.pool_idle_timeout.as_secs().max(1));
    over_control_path(
        options,
        context,
        control_path,
        ["-o", "ControlMaster=yes", "-o", &persist, "-N", "-f"],
        host,
    )
}

/// Runs one command over the shared connection. `ControlMaster=no` never makes this
/// process a master; `-T` because commands get no terminal.
pub(crate) fn client_arguments(
    options: &SshOptions,
    context: &Context,
    control_path: &std::path::Path,
    host: &str,
    shell: &str,
) -> Vec<String> {
    let mut arguments = over_control_path(
        options,
        context,
        control_path,
        ["-o", "ControlMaster=no", "-T"],
        host,
    );
    arguments.push(shell.to_string());
    arguments
}

/// `ssh -O check|exit` for the master behind `control_path`.
pub(crate) fn control_arguments(
    options: &SshOptions,
    context: &Context,
    control_path: &std::path::Path,
    host: &str,
    request: &str,
) -> Vec<String> {
    over_control_path(options, context, control_path, ["-O", request], host)
}

/// `ssh -O forward|cancel -R 127.0.0.1:PORT:localhost:PORT` over the shared connection:
/// the host's loopback port reaches this machine's (Kamal's local-registry tunnel).
pub(crate) fn remote_forward_arguments(
    options: &SshOptions,
    context: &Context,
    control_path: &std::path::Path,
    host: &str,
    request: &str,
    port: u16,
) -> Vec<String> {
    let specification = format!("127.0.0.1:{port}:localhost:{port}");
    over_control_path(
        options,
        context,
        control_path,
        ["-O", request, "-R", &specification],
        host,
    )
}

/// An interactive command line (`exec -i`, `logs -f`), as Kamal's `run_over_ssh` builds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interactive {
    /// What to execute (`argv[0]` is `ssh`); secrets included.
    pub argv: Vec<String>,
    /// Kamal's one-line form with secrets redacted, for printing.
    pub display: String,
}

/// `ssh[ -F cfg][ -J jump | -o ProxyCommand='cmd'][ -i key]…[ -o IdentitiesOnly=yes] -t
/// user@host -p port '<command>'`. `key_data` and `forward_agent` are not passed, as in Kamal.
pub(crate) fn interactive(
    options: &SshOptions,
    config_file: Option<&std::path::Path>,
    host: &str,
    command: &kamal_commands::Cmd,
) -> Interactive {
    let mut argv = vec!["ssh".to_string()];
    let mut display = String::from("ssh");
    // Kamal prints one -F per configured file; OpenSSH honours only one, which is why the
    // argv uses the combined include file when there are several.
    match &options.config {
        SshConfig::Default => {}
        SshConfig::Disabled => display.push_str(" -F /dev/null"),
        SshConfig::Files(files) => {
            for file in files {
                display.push_str(&format!(" -F {}", file.display()));
            }
        }
    }
    if let Some(file) = config_file {
        argv.extend(["-F".to_string(), file.display().to_string()]);
    }
    if let Some(jump) = options.jump_host() {
        argv.extend(["-J".to_string(), jump.clone()]);
        display.push_str(&format!(" -J {jump}"));
    } else if let Some(proxy_command) = &options.proxy_command {
        argv.extend(["-o".to_string(), format!("ProxyCommand={proxy_command}")]);
        display.push_str(&format!(" -o ProxyCommand='{proxy_command}'"));
    }
    for key in &options.keys {
        argv.extend(["-i".to_string(), key.display().to_string()]);
        display.push_str(&format!(" -i {}", key.display()));
    }
    if options.keys_only {
        argv.extend(["-o".to_string(), "IdentitiesOnly=yes".to_string()]);
        display.push_str(" -o IdentitiesOnly=yes");
    }
    let destination = format!("{}@{host}", options.user);
    argv.extend([
        "-t".to_string(),
        destination.clone(),
        "-p".to_string(),
        options.port.to_string(),
    ]);
    display.push_str(&format!(" -t {destination} -p {}", options.port));
    // Kamal joins the raw words (no `/usr/bin/env` prefix) and single-quotes the result.
    argv.push(joined_words(command, true));
    display.push_str(&format!(
        " '{}'",
        joined_words(command, false).replace('\'', "'\\''")
    ));
    Interactive { argv, display }
}

fn joined_words(command: &kamal_commands::Cmd, reveal: bool) -> String {
    command
        .parts
        .iter()
        .map(|part| match part {
            kamal_commands::Part::Plain(text) => text.as_str(),
            kamal_commands::Part::Sensitive { value, redaction } => {
                if reveal {
                    value.expose()
                } else {
                    redaction.as_str()
                }
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use kamal_commands::Cmd;
    use std::path::Path;

    fn context() -> Context {
        Context::default()
    }

    #[test]
    fn defaults_are_kamals() {
        let options = SshOptions::new();
        assert_eq!(options.user, "root");
        assert_eq!(options.port, 22);
        assert_eq!(options.max_concurrent_starts, 30);
        assert_eq!(options.pool_idle_timeout, Duration::from_secs(900));
        assert_eq!(options.dns_retries, 3);
        assert_eq!(options.log_level, SshLogLevel::Fatal);
    }

    #[test]
    fn default_options_map_to_these_arguments() {
        let arguments = common_arguments(&SshOptions::new(), &context());
        assert_eq!(
            arguments.join(" "),
            "-o BatchMode=yes -o StrictHostKeyChecking=accept-new -o ServerAliveInterval=30 \
             -o ConnectTimeout=30 -o LogLevel=ERROR -l root -p 22"
        );
    }

    #[test]
    fn every_option_maps_to_its_openssh_flag() {
        let mut options = SshOptions::new();
        options.user = "app".to_string();
        options.port = 2222;
        options.proxy = Some("jump.example".to_string());
        options.keys = vec![PathBuf::from("/keys/a"), PathBuf::from("/keys/b")];
        options.keys_only = true;
        options.forward_agent = true;
        options.log_level = SshLogLevel::Debug;
        options.connect_timeout = Duration::from_secs(5);
        let context = Context {
            config_file: Some(PathBuf::from("/dev/null")),
            agent_socket: Some(PathBuf::from("/tmp/k/agent")),
            agent_identities: vec![PathBuf::from("/tmp/k/key-data-0.pub")],
        };
        assert_eq!(
            common_arguments(&options, &context).join(" "),
            "-F /dev/null -o BatchMode=yes -o StrictHostKeyChecking=accept-new -o ServerAliveInterval=30 \
             -o ConnectTimeout=5 -o LogLevel=DEBUG -o IdentitiesOnly=yes -o IdentityAgent=/tmp/k/agent \
             -o ForwardAgent=yes -i /keys/a -i /keys/b -i /tmp/k/key-data-0.pub -J root@jump.example -l app -p 2222"
        );
    }

    #[test]
    fn jump_keeps_an_explicit_user_and_port() {
        let mut options = SshOptions::new();
        options.proxy = Some("deploy@jump:2200".to_string());
        assert_eq!(options.jump_host().as_deref(), Some("deploy@jump:2200"));
    }

    #[test]
    fn proxy_command_is_one_argument() {
        let mut options = SshOptions::new();
        options.proxy_command = Some("ssh -W %h:%p user@proxy-server".to_string());
        let arguments = common_arguments(&options, &context());
        assert!(arguments.contains(&"ProxyCommand=ssh -W %h:%p user@proxy-server".to_string()));
        assert!(!arguments.contains(&"-J".to_string()));
    }

    #[test]
    fn config_maps_to_dash_f() {
        let include = || PathBuf::from("/tmp/k/config");
        assert_eq!(config_file(&SshConfig::Default, include), None);
        assert_eq!(
            config_file(&SshConfig::Disabled, include),
            Some(PathBuf::from("/dev/null"))
        );
        let one = SshConfig::Files(vec![PathBuf::from("a")]);
        assert_eq!(config_file(&one, include), Some(PathBuf::from("a")));
        let two = SshConfig::Files(vec![PathBuf::from("a"), PathBuf::from("/b")]);
        assert_eq!(config_file(&two, include), Some(PathBuf::from("/tmp/k/config")));
        assert_eq!(
            include_file_text(&[PathBuf::from("a"), PathBuf::from("/b c")], Path::new("/app")),
            "# Written by kamal-ssh: the configured ssh.config files, in order.\n\
             Include \"/app/a\"\nInclude \"/b c\"\n"
        );
    }

    #[test]
    fn master_and_client_share_the_control_path() {
        let options = SshOptions::new();
        let path = Path::new("/tmp/k/0123456789abcdef");
        let master = master_arguments(&options, &context(), path, "1.1.1.1").join(" ");
        assert!(master.ends_with(
            "-o ControlPath=/tmp/k/0123456789abcdef -o ControlMaster=yes -o ControlPersist=900 -N -f -- 1.1.1.1"
        ));
        let client = client_arguments(&options, &context(), path, "1.1.1.1", "docker ps").join(" ");
        assert!(client
            .ends_with("-o ControlPath=/tmp/k/0123456789abcdef -o ControlMaster=no -T -- 1.1.1.1 docker ps"));
        let exit = control_arguments(&options, &context(), path, "1.1.1.1", "exit").join(" ");
        assert!(exit.ends_with("-O exit -- 1.1.1.1"));
    }

    #[test]
    fn interactive_matches_kamals_lines() {
        let command = Cmd::new(["ls"]);
        let mut options = SshOptions::new();
        options.user = "app".to_string();
        options.proxy = Some("2.2.2.2".to_string());
        let line = interactive(&options, None, "1.1.1.1", &command);
        assert_eq!(line.display, "ssh -J root@2.2.2.2 -t app@1.1.1.1 -p 22 'ls'");
        assert_eq!(
            line.argv,
            ["ssh", "-J", "root@2.2.2.2", "-t", "app@1.1.1.1", "-p", "22", "ls"]
        );

        let mut options = SshOptions::new();
        options.keys = vec![PathBuf::from("path_to_key.pem")];
        options.keys_only = true;
        let line = interactive(&options, None, "1.1.1.1", &command);
        assert_eq!(
            line.display,
            "ssh -i path_to_key.pem -o IdentitiesOnly=yes -t root@1.1.1.1 -p 22 'ls'"
        );

        let mut options = SshOptions::new();
        options.proxy_command = Some("ssh -W %h:%p user@proxy-server".to_string());
        let line = interactive(&options, None, "1.1.1.1", &command);
        assert_eq!(
            line.display,
            "ssh -o ProxyCommand='ssh -W %h:%p user@proxy-server' -t root@1.1.1.1 -p 22 'ls'"
        );
        assert_eq!(
            line.argv[1..3],
            ["-o", "ProxyCommand=ssh -W %h:%p user@proxy-server"]
        );
    }

    #[test]
    fn interactive_quotes_and_redacts() {
        let mut command = Cmd::new(["docker", "exec", "-it", "app", "sh -c 'echo hi'", "-e"]);
        command.push_sensitive(Secret::new("TOKEN=s3cret"), "TOKEN=[REDACTED]");
        let mut options = SshOptions::new();
        options.config = SshConfig::Disabled;
        let line = interactive(&options, Some(Path::new("/dev/null")), "h", &command);
        assert_eq!(
            line.display,
            "ssh -F /dev/null -t root@h -p 22 'docker exec -it app sh -c '\\''echo hi'\\'' -e TOKEN=[REDACTED]'"
        );
        assert_eq!(
            line.argv.last().map(String::as_str),
            Some("docker exec -it app sh -c 'echo hi' -e TOKEN=s3cret")
        );
        assert_eq!(line.argv[1..3], ["-F", "/dev/null"]);
    }

    #[test]
    fn log_levels_parse_kamals_spelling() {
        assert_eq!(SshLogLevel::parse(":debug"), Some(SshLogLevel::Debug));
        assert_eq!(SshLogLevel::parse("FATAL"), Some(SshLogLevel::Fatal));
        assert_eq!(SshLogLevel::parse("loud"), None);
    }
}
