//! `Kamal::Commands::App::Logging`: `kamal app logs` on every host, and `logs -f` on the
//! primary one (the piped command Kamal hands to [`crate::base::run_over_ssh`]).

use super::App;
use crate::base::{docker, pipe};
use crate::cmd::Cmd;

/// Which container's logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContainerId {
    /// The current running container (LATEST_ID).
    Current,
    /// A command printing the id (boot failures use the new version's id lookup).
    Command(Cmd),
    /// `--container-id`: Kamal 2.11 pipes a bare `echo <id>`.
    Id(String),
}

/// `kamal … logs` options shared by the app, proxy and accessory commands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogOptions {
    pub timestamps: bool,
    pub since: Option<String>,
    pub lines: Option<String>,
    pub grep: Option<String>,
    pub grep_options: Option<String>,
}

impl Default for LogOptions {
    fn default() -> LogOptions {
        LogOptions {
            timestamps: true,
            since: None,
            lines: None,
            grep: None,
            grep_options: None,
        }
    }
}

impl LogOptions {
    /// `grep '<pattern>'[ <options>]` (single quotes; `logs -f` uses double quotes).
    pub(crate) fn grep_command(&self, quote: char) -> Option<Cmd> {
        self.grep.as_ref().map(|pattern| {
            let mut grep = format!("grep {quote}{pattern}{quote}");
            if let Some(options) = &self.grep_options {
                grep.push(' ');
                grep.push_str(options);
            }
            Cmd::new([grep])
        })
    }
}

impl App<'_> {
    /// `<container id> | xargs docker logs[ --timestamps][ --since S][ --tail N] 2>&1[ |
    /// grep '<g>'[ <options>]]`.
    pub fn logs(&self, container: &ContainerId, options: &LogOptions) -> Cmd {
        let mut logs = String::from("xargs docker logs");
        if options.timestamps {
            logs.push_str(" --timestamps");
        }
        if let Some(since) = &options.since {
            logs.push_str(&format!(" --since {since}"));
        }
        if let Some(lines) = &options.lines {
            logs.push_str(&format!(" --tail {lines}"));
        }
        logs.push_str(" 2>&1");
        let mut commands = vec![self.container_id_command(container), Cmd::new([logs])];
        commands.extend(options.grep_command('\''));
        pipe(commands)
    }

    /// The remote half of `logs -f`: `<container id> | xargs docker logs[ --timestamps][
    /// --tail N] --follow 2>&1[ | grep "<g>"[ <options>]]` (no `--since`, as in Kamal).
    pub fn follow_logs(&self, container: &ContainerId, options: &LogOptions) -> Cmd {
        let mut logs = String::from("xargs docker logs");
        if options.timestamps {
            logs.push_str(" --timestamps");
        }
        if let Some(lines) = &options.lines {
            logs.push_str(&format!(" --tail {lines}"));
        }
        logs.push_str(" --follow 2>&1");
        let mut commands = vec![self.container_id_command(container), Cmd::new([logs])];
        commands.extend(options.grep_command('"'));
        pipe(commands)
    }

    fn container_id_command(&self, container: &ContainerId) -> Cmd {
        match container {
            ContainerId::Current => self.current_running_container_id(),
            ContainerId::Command(command) => command.clone(),
            ContainerId::Id(id) => Cmd::new([format!("echo {id}")]),
        }
    }
}

/// `docker logs <container>[ --since S][ --tail N][ --timestamps] 2>&1[ | grep '<g>'…]` for
/// a container known by name (the proxy, an accessory). `word_start` opens the since and
/// tail words: Kamal's accessory command starts them with a space, so its line shows two.
pub(crate) fn named_container_logs(container: &str, options: &LogOptions, word_start: &str) -> Cmd {
    let mut logs = docker(["logs", container]);
    if let Some(since) = &options.since {
        logs.push(format!("{word_start}--since {since}"));
    }
    if let Some(lines) = &options.lines {
        logs.push(format!("{word_start}--tail {lines}"));
    }
    if options.timestamps {
        logs.push("--timestamps");
    }
    logs.push("2>&1");
    let mut commands = vec![logs];
    commands.extend(options.grep_command('\''));
    pipe(commands)
}

/// The remote half of `logs -f` for a container known by name: `docker logs <container>[
/// --timestamps] --tail 10 --follow 2>&1[ | grep "<g>"…]` (Kamal ignores `--lines` and
/// `--since` here).
pub(crate) fn follow_named_container_logs(container: &str, options: &LogOptions) -> Cmd {
    let mut logs = docker(["logs", container]);
    if options.timestamps {
        logs.push("--timestamps");
    }
    logs.extend(["--tail", "10", "--follow", "2>&1"]);
    let mut commands = vec![logs];
    commands.extend(options.grep_command('"'));
    pipe(commands)
}
