//! Kamal's command helpers (`Kamal::Commands::Base`): joining commands with shell
//! operators, `sh -c` quoting, the `docker`/`git`/`grep`/`pack` prefixes, directory
//! commands, the local Docker check, the interactive `ssh` line, and the UTC timestamps
//! the audit log, hooks and lock use. Every module builds on these, so an operator or a
//! quote is written in one place.

use kamal_config::configuration::{Ssh, SshConfigFiles, SshProxy};
use kamal_config::secrets::Secret;

use crate::cmd::{Cmd, Part};

/// `combine`: the commands joined by `by` (`&&` in Kamal's default). Empty commands are
/// skipped, as Kamal's `compact` drops `nil` ones.
pub fn combine(commands: impl IntoIterator<Item = Cmd>, by: &str) -> Cmd {
    let commands: Vec<Cmd> = commands
        .into_iter()
        .filter(|command| !command.is_empty())
        .collect();
    Cmd::combine(&commands, by)
}

/// `a ; b`.
pub fn chain(commands: impl IntoIterator<Item = Cmd>) -> Cmd {
    combine(commands, ";")
}

/// `a | b`.
pub fn pipe(commands: impl IntoIterator<Item = Cmd>) -> Cmd {
    combine(commands, "|")
}

/// `a >> b`.
pub fn append(commands: impl IntoIterator<Item = Cmd>) -> Cmd {
    combine(commands, ">>")
}

/// `a > b`.
pub fn write(commands: impl IntoIterator<Item = Cmd>) -> Cmd {
    combine(commands, ">")
}

/// `a || b`.
pub fn any(commands: impl IntoIterator<Item = Cmd>) -> Cmd {
    combine(commands, "||")
}

/// `$(words…)`, for embedding a command's output.
pub fn substitute(words: &[&str]) -> String {
    format!("$({})", words.join(" "))
}

/// `xargs <command>`.
pub fn xargs(command: &Cmd) -> Cmd {
    let mut wrapped = Cmd::new(["xargs"]);
    wrapped.append(command);
    wrapped
}

/// `sh -c '<command>'`, each `'` inside written `'\''`. Sensitive words stay sensitive
/// (quoted the same way in both forms).
pub fn shell(command: &Cmd) -> Cmd {
    let mut wrapped = Cmd::new(["sh", "-c"]);
    if command.is_empty() {
        wrapped.push("''");
        return wrapped;
    }
    let last = command.parts.len() - 1;
    let quote = |index: usize, text: &str| {
        let mut quoted = String::new();
        if index == 0 {
            quoted.push('\'');
        }
        quoted.push_str(&escape_single_quotes(text));
        if index == last {
            quoted.push('\'');
        }
        quoted
    };
    for (index, part) in command.parts.iter().enumerate() {
        match part {
            Part::Plain(text) => {
                wrapped.push(quote(index, text));
            }
            Part::Sensitive { value, redaction } => {
                wrapped.push_sensitive(Secret::new(quote(index, value.expose())), quote(index, redaction));
            }
        }
    }
    wrapped
}

/// `'` → `'\''`: closes the single-quoted string, adds an escaped quote, reopens it.
pub fn escape_single_quotes(text: &str) -> String {
    text.replace('\'', "'\\''")
}

/// `docker <words…>`.
pub fn docker<I, S>(words: I) -> Cmd
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    let mut command = Cmd::new(["docker"]);
    command.extend(words);
    command
}

/// `pack <words…>`.
pub fn pack<I, S>(words: I) -> Cmd
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    let mut command = Cmd::new(["pack"]);
    command.extend(words);
    command
}

/// `git [-C <path>] <words…>`.
pub fn git<I, S>(words: I, path: Option<&str>) -> Cmd
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    let mut command = Cmd::new(["git"]);
    if let Some(path) = path {
        command.extend(["-C", path]);
    }
    command.extend(words);
    command
}

/// `grep <words…>`.
pub fn grep<I, S>(words: I) -> Cmd
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    let mut command = Cmd::new(["grep"]);
    command.extend(words);
    command
}

/// `mkdir -p <path>`.
pub fn make_directory(path: &str) -> Cmd {
    Cmd::new(["mkdir", "-p", path])
}

/// `mkdir -p <dirname of file>` (Ruby's `Pathname#dirname`: `.` for a bare name).
pub fn make_directory_for(remote_file: &str) -> Cmd {
    let trimmed = remote_file.trim_end_matches('/');
    let directory = match trimmed.rfind('/') {
        Some(0) => "/",
        Some(index) => trimmed[..index].trim_end_matches('/'),
        None => ".",
    };
    make_directory(if directory.is_empty() { "/" } else { directory })
}

/// `rm -r <path>`.
pub fn remove_directory(path: &str) -> Cmd {
    Cmd::new(["rm", "-r", path])
}

/// `rm <path>`.
pub fn remove_file(path: &str) -> Cmd {
    Cmd::new(["rm", path])
}

/// `docker container ls [--all] --filter 'name=^<name>$' --quiet`.
pub fn container_id_for(container_name: &str, only_running: bool) -> Cmd {
    let mut command = docker(["container", "ls"]);
    if !only_running {
        command.push("--all");
    }
    command.extend(["--filter", &format!("'name=^{container_name}$'"), "--quiet"]);
    command
}

/// The local check before building: `docker --version && docker buildx version`. Its
/// output tells "Docker is not installed locally" (`command not found`) from "Docker buildx
/// plugin is not installed locally" (anything else).
pub fn ensure_docker_installed() -> Cmd {
    combine(
        [ensure_local_docker_installed(), ensure_local_buildx_installed()],
        "&&",
    )
}

/// `docker --version`: is the Docker CLI here at all (our buildx-less fallback asks this alone).
pub fn ensure_local_docker_installed() -> Cmd {
    docker(["--version"])
}

/// `docker buildx version`.
pub fn ensure_local_buildx_installed() -> Cmd {
    docker(["buildx", "version"])
}

/// Kamal's `run_over_ssh` line (§5.12), exactly as it logs it and hands it to `exec`
/// through `/bin/sh -c`: `ssh[ -F f]…[ -J jump | -o ProxyCommand='…'][ -i key]…
/// [ -o IdentitiesOnly=yes] -t <user>@<host> -p <port> '<command>'`. Secrets in the
/// command are redacted here; this is the printable form.
pub fn run_over_ssh_display(ssh: &Ssh, host: &str, command: &Cmd) -> String {
    let mut line = String::from("ssh");
    for word in ssh_options(ssh, true) {
        line.push(' ');
        line.push_str(&word);
    }
    line.push_str(&format!(
        " -t {}@{host} -p {} '{}'",
        ssh.user(),
        ssh.port(),
        escape_single_quotes(&command.join_display())
    ));
    line
}

/// The same interactive session as argv for `exec` without a local shell: the words of
/// [`run_over_ssh_display`] with the local shell's quoting already undone (the remote
/// command is one argument, sent as written). Like Kamal, `key_data` and agent forwarding
/// are not passed. One difference: Kamal's local shell would expand a `~` in a `-F` path;
/// here ssh sees it as written (ssh expands `~` in `-i` itself).
pub fn run_over_ssh(ssh: &Ssh, host: &str, command: &Cmd) -> Vec<String> {
    let mut argv = vec!["ssh".to_string()];
    argv.extend(ssh_options(ssh, false));
    argv.extend([
        "-t".to_string(),
        format!("{}@{host}", ssh.user()),
        "-p".to_string(),
        ssh.port(),
        command.join_shell(),
    ]);
    argv
}

/// `-F`, `-J`/`-o ProxyCommand=`, `-i` and `-o IdentitiesOnly=yes`, as shell words
/// (`quoted`: the ProxyCommand in single quotes, as Kamal writes it) or as argv.
fn ssh_options(ssh: &Ssh, quoted: bool) -> Vec<String> {
    let mut words = Vec::new();
    match ssh.config() {
        SshConfigFiles::Default => {}
        SshConfigFiles::Ignored => words.extend(["-F".to_string(), "/dev/null".to_string()]),
        SshConfigFiles::Files(files) => {
            for file in files {
                words.extend(["-F".to_string(), file]);
            }
        }
    }
    match ssh.proxy() {
        Some(SshProxy::Jump(jump)) => words.extend(["-J".to_string(), jump]),
        Some(SshProxy::Command(template)) => {
            let option = if quoted {
                format!("ProxyCommand='{template}'")
            } else {
                format!("ProxyCommand={template}")
            };
            words.extend(["-o".to_string(), option]);
        }
        None => {}
    }
    for key in ssh.keys() {
        words.extend(["-i".to_string(), key]);
    }
    if ssh.keys_only() {
        words.extend(["-o".to_string(), "IdentitiesOnly=yes".to_string()]);
    }
    words
}

/// `Time.now.utc.iso8601` for a moment given as seconds since the Unix epoch:
/// `2026-11-26T10:04:23Z`. The caller reads the clock; builders stay pure.
pub fn utc_iso8601(seconds_since_epoch: i64) -> String {
    let days = seconds_since_epoch.div_euclid(86_400);
    let seconds_of_day = seconds_since_epoch.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        seconds_of_day / 3600,
        seconds_of_day % 3600 / 60,
        seconds_of_day % 60
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let shifted = days + 719_468;
    let era = shifted.div_euclid(146_097);
    let day_of_era = shifted.rem_euclid(146_097);
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::configuration;

    #[test]
    fn operators_join_and_skip_empty_commands() {
        let a = Cmd::new(["a"]);
        let b = docker(["b"]);
        assert_eq!(
            combine([a.clone(), Cmd::default(), b.clone()], "&&").to_display(),
            "/usr/bin/env a && docker b"
        );
        assert_eq!(
            chain([a.clone(), b.clone()]).to_display(),
            "/usr/bin/env a ; docker b"
        );
        assert_eq!(
            pipe([a.clone(), b.clone()]).to_display(),
            "/usr/bin/env a | docker b"
        );
        assert_eq!(
            append([a.clone(), Cmd::new(["f"])]).to_display(),
            "/usr/bin/env a >> f"
        );
        assert_eq!(
            write([a.clone(), Cmd::new(["f"])]).to_display(),
            "/usr/bin/env a > f"
        );
        assert_eq!(any([a, b]).to_display(), "/usr/bin/env a || docker b");
        assert_eq!(substitute(&["docker", "ps"]), "$(docker ps)");
    }

    #[test]
    fn shell_quotes_like_kamal() {
        let inner = docker(["ps", "--format", "'{{.ID}}'"]);
        assert_eq!(
            shell(&inner).to_display(),
            "/usr/bin/env sh -c 'docker ps --format '\\''{{.ID}}'\\'''"
        );
        let mut secret = Cmd::new(["echo"]);
        secret.push_sensitive(Secret::new("it's"), "[REDACTED]");
        assert_eq!(
            shell(&secret).to_display(),
            "/usr/bin/env sh -c 'echo [REDACTED]'"
        );
        assert_eq!(shell(&secret).to_shell(), "/usr/bin/env sh -c 'echo it'\\''s'");
        assert_eq!(
            xargs(&docker(["stop"])).to_display(),
            "/usr/bin/env xargs docker stop"
        );
    }

    #[test]
    fn helpers_render_kamal_shapes() {
        assert_eq!(
            git(["status", "--porcelain"], Some("/tmp/x")).to_display(),
            "/usr/bin/env git -C /tmp/x status --porcelain"
        );
        assert_eq!(
            make_directory(".kamal").to_display(),
            "/usr/bin/env mkdir -p .kamal"
        );
        assert_eq!(
            make_directory_for("app-mysql/etc/mysql/my.cnf").to_display(),
            "/usr/bin/env mkdir -p app-mysql/etc/mysql"
        );
        assert_eq!(
            make_directory_for("my.cnf").to_display(),
            "/usr/bin/env mkdir -p ."
        );
        assert_eq!(
            remove_directory(".kamal/apps/app").to_display(),
            "/usr/bin/env rm -r .kamal/apps/app"
        );
        assert_eq!(remove_file("x").to_display(), "/usr/bin/env rm x");
        assert_eq!(
            container_id_for("kamal-proxy", false).to_display(),
            "docker container ls --all --filter 'name=^kamal-proxy$' --quiet"
        );
        assert_eq!(
            ensure_docker_installed().to_display(),
            "docker --version && docker buildx version"
        );
    }

    #[test]
    fn with_env_wraps_as_sshkit() {
        let build = docker(["buildx", "build", "."]);
        assert_eq!(
            build.with_env(&[("BUILDKIT_NO_CLIENT_TOKEN", "1")]).to_display(),
            "( export BUILDKIT_NO_CLIENT_TOKEN=\"1\" ; docker buildx build . )"
        );
        assert_eq!(
            Cmd::new(["true"]).with_env(&[("A", "x\"y")]).to_display(),
            "( export A=\"x\\\"y\" ; /usr/bin/env true )"
        );
    }

    fn ssh_line(ssh_yaml: &str, command: &str) -> (String, Vec<String>) {
        let config = configuration(&format!(
            "service: app\nimage: dhh/app\nservers:\n  - 1.1.1.1\nregistry:\n  username: dhh\n  password: secret\nbuilder:\n  arch: amd64\n{ssh_yaml}"
        ));
        let command = Cmd::new([command]);
        (
            run_over_ssh_display(&config.ssh(), "1.1.1.1", &command),
            run_over_ssh(&config.ssh(), "1.1.1.1", &command),
        )
    }

    #[test]
    fn run_over_ssh_matches_the_spec_examples() {
        assert_eq!(ssh_line("", "ls").0, "ssh -t root@1.1.1.1 -p 22 'ls'");
        assert_eq!(
            ssh_line("ssh:\n  user: app\n  proxy: 2.2.2.2\n", "ls").0,
            "ssh -J root@2.2.2.2 -t app@1.1.1.1 -p 22 'ls'"
        );
        assert_eq!(
            ssh_line("ssh:\n  keys: [path_to_key.pem]\n  keys_only: true\n", "ls").0,
            "ssh -i path_to_key.pem -o IdentitiesOnly=yes -t root@1.1.1.1 -p 22 'ls'"
        );
        let (line, argv) = ssh_line("ssh:\n  proxy_command: ssh -W %h:%p user@proxy-server\n", "ls");
        assert_eq!(
            line,
            "ssh -o ProxyCommand='ssh -W %h:%p user@proxy-server' -t root@1.1.1.1 -p 22 'ls'"
        );
        assert_eq!(
            argv,
            [
                "ssh",
                "-o",
                "ProxyCommand=ssh -W %h:%p user@proxy-server",
                "-t",
                "root@1.1.1.1",
                "-p",
                "22",
                "ls"
            ]
        );
        assert_eq!(
            ssh_line("ssh:\n  config: false\n  port: 2222\n", "echo 'hi'").0,
            "ssh -F /dev/null -t root@1.1.1.1 -p 2222 'echo '\\''hi'\\'''"
        );
        assert_eq!(
            ssh_line("ssh:\n  config: [a.conf, b.conf]\n", "ls").0,
            "ssh -F a.conf -F b.conf -t root@1.1.1.1 -p 22 'ls'"
        );
    }

    #[test]
    fn iso8601_in_utc() {
        assert_eq!(utc_iso8601(0), "1970-01-01T00:00:00Z");
        assert_eq!(utc_iso8601(1_795_687_463), "2026-11-26T10:04:23Z");
        assert_eq!(utc_iso8601(951_782_400), "2000-02-29T00:00:00Z");
    }
}
