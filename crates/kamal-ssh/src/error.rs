//! What can go wrong running a command on a host, with the host in every error. A failed
//! command reads exactly like SSHKit's `Command::Failed` (users and scripts grep it); a
//! connection failure is classified from OpenSSH's own error lines into one clear cause
//! (unreachable, refused, timed out, authentication, changed host key, name resolution).
//! `ruby_class` gives the class Kamal would name in its `ERROR (<Class>): …` line.

use std::time::Duration;

/// SSHKit's `Command::Failed` message. `command` is the command's first word, as SSHKit
/// keeps it (`docker`, `mkdir`), and the text keeps SSHKit's trailing newline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandFailed {
    pub command: String,
    pub exit_status: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Ruby's `String#strip`: ASCII whitespace and NUL at both ends.
pub(crate) fn ruby_strip(text: &str) -> &str {
    text.trim_matches(|c: char| c.is_ascii_whitespace() || c == '\0' || c == '\x0b')
}

impl std::fmt::Display for CommandFailed {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let written = |text: &str| {
            let text = ruby_strip(text);
            if text.is_empty() {
                "Nothing written".to_string()
            } else {
                text.to_string()
            }
        };
        let command = &self.command;
        write!(
            formatter,
            "{command} exit status: {}\n{command} stdout: {}\n{command} stderr: {}\n",
            self.exit_status,
            written(&self.stdout),
            written(&self.stderr)
        )
    }
}

/// Why a connection could not be made (or was lost).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionErrorKind {
    /// No route, network unreachable, host down.
    Unreachable,
    /// Nothing listens on the port.
    Refused,
    /// The TCP connect or the handshake took longer than the connect timeout.
    TimedOut,
    /// The server accepted none of the offered keys.
    AuthenticationFailed,
    /// The host's key differs from the one in `known_hosts`.
    HostKeyChanged,
    /// The host name does not resolve (retried `dns_retries` times first).
    NameResolution,
    /// The shared connection went away while a command ran.
    Lost,
    /// Anything else OpenSSH reported.
    Other,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionError {
    pub kind: ConnectionErrorKind,
    pub user: String,
    pub host: String,
    pub port: u16,
    /// OpenSSH's own line(s) about it.
    pub detail: String,
}

impl std::fmt::Display for ConnectionError {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ConnectionError {
            kind,
            user,
            host,
            port,
            detail,
        } = self;
        match kind {
            ConnectionErrorKind::Unreachable | ConnectionErrorKind::Refused => {
                write!(
                    formatter,
                    "could not connect to {host} port {port}: {}",
                    cause_after_colon(detail)
                )
            }
            ConnectionErrorKind::TimedOut => {
                write!(
                    formatter,
                    "connection to {host} port {port} timed out ({})",
                    cause_after_colon(detail)
                )
            }
            ConnectionErrorKind::AuthenticationFailed => write!(
                formatter,
                "Authentication failed for user {user}@{host}: the server accepted none of the offered keys \
                 ({}); check ssh/keys, ssh/key_data and ssh/user",
                cause_after_colon(detail)
            ),
            ConnectionErrorKind::HostKeyChanged => write!(
                formatter,
                "host key verification failed for {host}: its key differs from the one in known_hosts \
                 (REMOTE HOST IDENTIFICATION HAS CHANGED); if the change is expected, remove the old key \
                 with `ssh-keygen -R {host}`"
            ),
            ConnectionErrorKind::NameResolution => {
                write!(
                    formatter,
                    "could not resolve host name {host}: {}",
                    cause_after_colon(detail)
                )
            }
            ConnectionErrorKind::Lost => {
                write!(formatter, "connection to {host} port {port} was lost: {detail}")
            }
            ConnectionErrorKind::Other => {
                write!(formatter, "ssh to {user}@{host} port {port} failed: {detail}")
            }
        }
    }
}

/// `ssh: connect to host h port 22: No route to host` → `No route to host`.
fn cause_after_colon(detail: &str) -> &str {
    detail
        .rsplit(": ")
        .next()
        .map(str::trim)
        .unwrap_or(detail)
        .trim_end_matches('.')
}

/// Reads OpenSSH's stderr from a failed connection: the kind, and the line that says it.
pub(crate) fn classify_connection_failure(stderr: &str) -> (ConnectionErrorKind, String) {
    let lines: Vec<&str> = stderr
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect();
    let find = |needles: &[&str]| {
        lines.iter().find(|line| {
            let lower = line.to_ascii_lowercase();
            needles.iter().any(|needle| lower.contains(needle))
        })
    };
    let checks: &[(ConnectionErrorKind, &[&str])] = &[
        (
            ConnectionErrorKind::HostKeyChanged,
            &[
                "remote host identification has changed",
                "host key verification failed",
            ],
        ),
        (
            ConnectionErrorKind::NameResolution,
            &[
                "could not resolve hostname",
                "name or service not known",
                "temporary failure in name resolution",
                "nodename nor servname provided",
                "no address associated",
            ],
        ),
        (
            ConnectionErrorKind::AuthenticationFailed,
            &["permission denied", "too many authentication failures"],
        ),
        (ConnectionErrorKind::Refused, &["connection refused"]),
        (ConnectionErrorKind::TimedOut, &["timed out", "timeout"]),
        (
            ConnectionErrorKind::Unreachable,
            &["no route to host", "network is unreachable", "host is down"],
        ),
    ];
    for (kind, needles) in checks {
        if let Some(line) = find(needles) {
            return (*kind, line.to_string());
        }
    }
    let detail = match lines.last() {
        Some(line) => line.to_string(),
        None => "ssh exited without saying why".to_string(),
    };
    (ConnectionErrorKind::Other, detail)
}

/// A failure on one host (or locally). Display is the message Kamal shows after
/// `Exception while executing on host <host>: ` (which the fan-out adds, as SSHKit does).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{failure}")]
    CommandFailed { host: String, failure: CommandFailed },
    #[error("{0}")]
    Connection(ConnectionError),
    #[error("{command} on {host} did not finish within {:.1} seconds and was stopped", after.as_secs_f64())]
    Timeout {
        host: String,
        command: String,
        after: Duration,
    },
    #[error("could not start `{program}` for {host}: {source}")]
    Spawn {
        host: String,
        program: String,
        #[source]
        source: std::io::Error,
    },
    #[error("upload of {path} to {host} failed with exit status {exit_status}: {stderr}")]
    UploadFailed {
        host: String,
        path: String,
        exit_status: i32,
        stderr: String,
    },
    #[error("could not read {path} to upload it to {host}: {source}")]
    ReadUpload {
        host: String,
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("could not write {path} on {host}: {source}")]
    WriteLocal {
        host: String,
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("could not prepare ssh for {host}: {message}")]
    Setup { host: String, message: String },
}

impl Error {
    /// The host the error happened on (`localhost` for local commands).
    pub fn host(&self) -> &str {
        match self {
            Error::CommandFailed { host, .. }
            | Error::Timeout { host, .. }
            | Error::UploadFailed { host, .. }
            | Error::Spawn { host, .. }
            | Error::ReadUpload { host, .. }
            | Error::WriteLocal { host, .. }
            | Error::Setup { host, .. } => host,
            Error::Connection(connection) => &connection.host,
        }
    }

    /// The exception class Kamal 2.11 names for this failure (`ERROR (<class>): …`).
    pub fn ruby_class(&self) -> &'static str {
        match self {
            Error::CommandFailed { .. } => "SSHKit::Command::Failed",
            Error::Connection(connection) => match connection.kind {
                ConnectionErrorKind::Unreachable => "Errno::EHOSTUNREACH",
                ConnectionErrorKind::Refused => "Errno::ECONNREFUSED",
                ConnectionErrorKind::TimedOut => "Net::SSH::ConnectionTimeout",
                ConnectionErrorKind::AuthenticationFailed => "Net::SSH::AuthenticationFailed",
                ConnectionErrorKind::HostKeyChanged => "Net::SSH::HostKeyMismatch",
                ConnectionErrorKind::NameResolution => "SocketError",
                ConnectionErrorKind::Lost => "Net::SSH::Disconnect",
                ConnectionErrorKind::Other => "Net::SSH::Exception",
            },
            Error::Timeout { .. } => "Timeout::Error",
            Error::UploadFailed { .. } => "Net::SCP::Error",
            Error::Spawn { .. }
            | Error::ReadUpload { .. }
            | Error::WriteLocal { .. }
            | Error::Setup { .. } => "SystemCallError",
        }
    }

    /// The command's failure, when it ran and exited non-zero.
    pub fn command_failed(&self) -> Option<&CommandFailed> {
        match self {
            Error::CommandFailed { failure, .. } => Some(failure),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_failure_reads_like_sshkit() {
        let failure = CommandFailed {
            command: "docker".to_string(),
            exit_status: 1,
            stdout: "  \n".to_string(),
            stderr: "Error: target failed to become healthy within configured timeout (30s)\n".to_string(),
        };
        assert_eq!(
            failure.to_string(),
            "docker exit status: 1\ndocker stdout: Nothing written\n\
             docker stderr: Error: target failed to become healthy within configured timeout (30s)\n"
        );
    }

    #[test]
    fn classifies_openssh_failures() {
        let cases = [
            (
                "ssh: connect to host 10.213.0.13 port 22: No route to host\r\n",
                ConnectionErrorKind::Unreachable,
            ),
            (
                "ssh: connect to host 10.0.0.1 port 22: Network is unreachable",
                ConnectionErrorKind::Unreachable,
            ),
            (
                "ssh: connect to host 127.0.0.1 port 2: Connection refused",
                ConnectionErrorKind::Refused,
            ),
            (
                "ssh: connect to host 10.0.0.1 port 22: Connection timed out",
                ConnectionErrorKind::TimedOut,
            ),
            (
                "Connection timed out during banner exchange",
                ConnectionErrorKind::TimedOut,
            ),
            (
                "root@10.213.0.11: Permission denied (publickey).",
                ConnectionErrorKind::AuthenticationFailed,
            ),
            (
                "@@@@@@@\n@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\n\
                 Host key for 10.213.0.11 has changed and you have requested strict checking.\n\
                 Host key verification failed.",
                ConnectionErrorKind::HostKeyChanged,
            ),
            (
                "ssh: Could not resolve hostname web-1: Name or service not known",
                ConnectionErrorKind::NameResolution,
            ),
            (
                "ssh: Could not resolve hostname web-1: Temporary failure in name resolution",
                ConnectionErrorKind::NameResolution,
            ),
            (
                "kex_exchange_identification: Connection closed by remote host",
                ConnectionErrorKind::Other,
            ),
            ("", ConnectionErrorKind::Other),
        ];
        for (stderr, kind) in cases {
            assert_eq!(classify_connection_failure(stderr).0, kind, "{stderr}");
        }
    }

    #[test]
    fn connection_errors_name_host_and_cause() {
        let error = |kind, detail: &str| {
            Error::Connection(ConnectionError {
                kind,
                user: "root".to_string(),
                host: "10.213.0.13".to_string(),
                port: 22,
                detail: detail.to_string(),
            })
        };
        let unreachable = error(
            ConnectionErrorKind::Unreachable,
            "ssh: connect to host 10.213.0.13 port 22: No route to host",
        );
        assert_eq!(
            unreachable.to_string(),
            "could not connect to 10.213.0.13 port 22: No route to host"
        );
        assert_eq!(unreachable.ruby_class(), "Errno::EHOSTUNREACH");
        assert_eq!(unreachable.host(), "10.213.0.13");
        let auth = error(
            ConnectionErrorKind::AuthenticationFailed,
            "root@10.213.0.13: Permission denied (publickey).",
        );
        assert_eq!(
            auth.to_string(),
            "Authentication failed for user root@10.213.0.13: the server accepted none of the offered keys \
             (Permission denied (publickey)); check ssh/keys, ssh/key_data and ssh/user"
        );
        let dns = error(
            ConnectionErrorKind::NameResolution,
            "ssh: Could not resolve hostname web-1: Name or service not known",
        );
        assert_eq!(
            dns.to_string(),
            "could not resolve host name 10.213.0.13: Name or service not known"
        );
    }
}
