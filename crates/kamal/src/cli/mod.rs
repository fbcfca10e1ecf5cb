//! The command line: which command the words name (Thor's rules: exact name, or an
//! unambiguous prefix; anything else may be an alias from the config), its options, and
//! the settings resolved from them before any work starts.

pub mod args;

use args::{OptionSpec, Parsed};

/// A top-level command we know, with its own options and how many arguments it takes.
#[derive(Debug, Clone, Copy)]
pub struct CommandSpec {
    pub name: &'static str,
    pub usage: &'static str,
    pub summary: &'static str,
    pub options: &'static [OptionSpec],
    /// Maximum positional arguments (None: any number).
    pub max_arguments: Option<usize>,
}

pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "accessory",
        usage: "kamal accessory",
        summary: "Manage accessories (db/redis/search)",
        // Per subcommand: commands::accessory::options.
        options: &[],
        max_arguments: None,
    },
    CommandSpec {
        name: "app",
        usage: "kamal app",
        summary: "Manage application",
        options: &[
            args::numeric("drain-timeout", None),
            args::value("message", None),
            args::flag("stop", Some('s')),
        ],
        max_arguments: None,
    },
    CommandSpec {
        name: "build",
        usage: "kamal build",
        summary: "Build application image",
        options: &[args::flag("no-cache", None), args::value("output", None)],
        max_arguments: Some(1),
    },
    CommandSpec {
        name: "lock",
        usage: "kamal lock",
        summary: "Manage the deploy lock",
        options: &[args::value("message", Some('m'))],
        max_arguments: Some(1),
    },
    CommandSpec {
        name: "proxy",
        usage: "kamal proxy",
        summary: "Manage kamal-proxy",
        options: &[
            args::flag("rolling", None),
            args::flag("confirmed", Some('y')),
            args::flag("force", None),
            args::flag("publish", None),
            args::repeatable("publish-host-ip", None),
            args::numeric("http-port", None),
            args::numeric("https-port", None),
            args::value("log-max-size", None),
            args::value("registry", None),
            args::value("repository", None),
            args::value("image-version", None),
            args::numeric("metrics-port", None),
            args::flag("debug", None),
            args::array("docker-options", None),
            args::value("since", Some('s')),
            args::numeric("lines", Some('n')),
            args::value("grep", Some('g')),
            args::value("grep-options", None),
            args::flag("follow", Some('f')),
            args::flag("skip-timestamps", Some('T')),
        ],
        max_arguments: None,
    },
    CommandSpec {
        name: "registry",
        usage: "kamal registry",
        summary: "Login and -out of the image registry",
        options: &[
            args::flag("skip-local", Some('L')),
            args::flag("skip-remote", Some('R')),
        ],
        max_arguments: Some(1),
    },
    CommandSpec {
        name: "server",
        usage: "kamal server",
        summary: "Bootstrap servers with curl and Docker",
        options: &[args::flag("interactive", Some('i'))],
        max_arguments: None,
    },
    CommandSpec {
        name: "config",
        usage: "kamal config",
        summary: "Show combined config (including secrets!)",
        options: &[],
        max_arguments: Some(0),
    },
    CommandSpec {
        name: "audit",
        usage: "kamal audit",
        summary: "Show audit log from servers",
        options: &[],
        max_arguments: Some(0),
    },
    CommandSpec {
        name: "details",
        usage: "kamal details",
        summary: "Show details about all containers",
        options: &[],
        max_arguments: Some(0),
    },
    CommandSpec {
        name: "remove",
        usage: "kamal remove",
        summary: "Remove kamal-proxy, app, accessories, and registry session from servers",
        options: &[args::flag("confirmed", Some('y'))],
        max_arguments: Some(0),
    },
    CommandSpec {
        name: "setup",
        usage: "kamal setup",
        summary: "Setup all accessories, push the env, and deploy app to servers",
        options: &[args::flag("skip-push", Some('P')), args::flag("no-cache", None)],
        max_arguments: Some(0),
    },
    CommandSpec {
        name: "deploy",
        usage: "kamal deploy",
        summary: "Deploy app to servers",
        options: &[args::flag("skip-push", Some('P')), args::flag("no-cache", None)],
        max_arguments: Some(0),
    },
    CommandSpec {
        name: "prune",
        usage: "kamal prune",
        summary: "Prune old application images and containers",
        options: &[args::value("retain", None)],
        max_arguments: Some(1),
    },
    CommandSpec {
        name: "redeploy",
        usage: "kamal redeploy",
        summary: "Deploy app to servers without bootstrapping servers, starting kamal-proxy and pruning",
        options: &[args::flag("skip-push", Some('P')), args::flag("no-cache", None)],
        max_arguments: Some(0),
    },
    CommandSpec {
        name: "rollback",
        usage: "kamal rollback [VERSION]",
        summary: "Rollback app to VERSION",
        options: &[],
        max_arguments: Some(1),
    },
    CommandSpec {
        name: "docs",
        usage: "kamal docs [SECTION]",
        summary: "Show Kamal configuration documentation",
        options: &[],
        max_arguments: Some(1),
    },
    CommandSpec {
        name: "help",
        usage: "kamal help [COMMAND]",
        summary: "Describe available commands or one specific command",
        options: &[],
        max_arguments: Some(1),
    },
    CommandSpec {
        name: "init",
        usage: "kamal init",
        summary: "Create config stub in config/deploy.yml and secrets stub in .kamal",
        options: &[args::flag("bundle", None)],
        max_arguments: Some(0),
    },
    CommandSpec {
        name: "secrets",
        usage: "kamal secrets",
        summary: "Helpers for extracting secrets",
        options: &[
            args::value("adapter", Some('a')),
            args::value("account", None),
            args::value("from", None),
            args::flag("inline", None),
        ],
        max_arguments: None,
    },
    CommandSpec {
        name: "upgrade",
        usage: "kamal upgrade",
        summary: "Upgrade from Kamal 1.x to 2.0",
        options: &[args::flag("confirmed", Some('y')), args::flag("rolling", None)],
        max_arguments: Some(0),
    },
    CommandSpec {
        name: "version",
        usage: "kamal version",
        summary: "Show Kamal version",
        options: &[],
        max_arguments: Some(0),
    },
];

/// What the first word names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolution {
    Command(&'static str),
    Ambiguous(String, Vec<&'static str>),
    /// Not a command: maybe an alias.
    Unknown(String),
}

/// Thor's lookup: an exact name wins, else a prefix matching exactly one command.
pub fn resolve(word: &str) -> Resolution {
    let names: Vec<&'static str> = COMMANDS.iter().map(|command| command.name).collect();
    resolve_in(word, &names)
}

fn resolve_in(word: &str, names: &[&'static str]) -> Resolution {
    if let Some(name) = names.iter().find(|name| **name == word) {
        return Resolution::Command(name);
    }
    let matches: Vec<&'static str> = names
        .iter()
        .filter(|name| name.starts_with(word))
        .copied()
        .collect();
    match matches.as_slice() {
        [single] => Resolution::Command(single),
        [] => Resolution::Unknown(word.to_string()),
        _ => Resolution::Ambiguous(word.to_string(), matches),
    }
}

pub fn spec(name: &str) -> Option<&'static CommandSpec> {
    COMMANDS.iter().find(|command| command.name == name)
}

/// Global settings every command reads, resolved once from the parsed options.
#[derive(Debug, Clone, Default)]
pub struct GlobalSettings {
    pub verbose: bool,
    pub quiet: bool,
    pub version: Option<String>,
    pub config_file: Option<String>,
    pub destination: Option<String>,
    pub skip_hooks: bool,
    pub hosts: Option<String>,
    pub roles: Option<String>,
    pub primary: bool,
    /// Print per host what would run; change nothing.
    pub dry_run: bool,
    /// `--lock-wait[-timeout|-interval]` (Kamal 2.12): wait for an automatic lock.
    pub lock_wait: Option<LockWait>,
}

/// How long to wait for a deploy lock held by another deploy, and how often to look.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LockWait {
    pub timeout_seconds: f64,
    pub interval_seconds: f64,
}

impl GlobalSettings {
    pub fn from_parsed(parsed: &Parsed) -> GlobalSettings {
        GlobalSettings {
            verbose: parsed.flag("verbose"),
            quiet: parsed.flag("quiet"),
            version: parsed.text("version").map(String::from),
            config_file: parsed.text("config-file").map(String::from),
            destination: parsed.text("destination").map(String::from),
            skip_hooks: parsed.flag("skip-hooks"),
            hosts: parsed.text("hosts").map(String::from),
            roles: parsed.text("roles").map(String::from),
            primary: parsed.flag("primary"),
            dry_run: parsed.flag("dry-run"),
            lock_wait: parsed.flag("lock-wait").then(|| LockWait {
                timeout_seconds: parsed
                    .text("lock-wait-timeout")
                    .and_then(|text| text.parse().ok())
                    .unwrap_or(900.0),
                interval_seconds: parsed
                    .text("lock-wait-interval")
                    .and_then(|text| text.parse().ok())
                    .unwrap_or(15.0),
            }),
        }
    }
}

/// Thor's `kamal help COMMAND`: usage, the class options, then the summary.
pub fn command_help(name: &str) -> String {
    let Some(command) = spec(name) else {
        return help_text();
    };
    format!(
        "Usage:\n  {}\n\n{}\n{}\n",
        command.usage, OPTIONS_HELP, command.summary
    )
}

const OPTIONS_HELP: &str = "Options:\n  -v, [--verbose], [--no-verbose], [--skip-verbose]  # Detailed logging\n  -q, [--quiet], [--no-quiet], [--skip-quiet]        # Minimal logging\n      [--version=VERSION]                            # Run commands against a specific app version\n  -p, [--primary], [--no-primary], [--skip-primary]  # Run commands only on primary host instead of all\n  -h, [--hosts=HOSTS]                                # Run commands on these hosts instead of all (separate by comma, supports wildcards with *)\n  -r, [--roles=ROLES]                                # Run commands on these roles instead of all (separate by comma, supports wildcards with *)\n  -c, [--config-file=CONFIG_FILE]                    # Path to config file\n                                                     # Default: config/deploy.yml\n  -d, [--destination=DESTINATION]                    # Specify destination to be used for config file (staging -> deploy.staging.yml)\n  -H, [--skip-hooks]                                 # Don't run hooks\n                                                     # Default: false\n      [--dry-run]                                    # Print, per host, every command that would run; change nothing\n";

/// Thor's listing for `kamal` / `kamal help`.
pub fn help_text() -> String {
    let width = COMMANDS
        .iter()
        .map(|command| command.usage.len())
        .max()
        .unwrap_or(0);
    // Thor's `print_table`: sorted by name, each line cut to the terminal's width with `...`
    // (80 columns unless THOR_COLUMNS says otherwise).
    let columns = std::env::var("THOR_COLUMNS")
        .ok()
        .and_then(|value| value.parse::<usize>().ok())
        .filter(|columns| *columns >= 10)
        .unwrap_or(80);
    let mut commands: Vec<&CommandSpec> = COMMANDS.iter().collect();
    commands.sort_by_key(|command| command.usage);
    let mut text = String::from("Commands:\n");
    for command in commands {
        let line = format!("{:width$}  # {}", command.usage, command.summary);
        text.push_str("  ");
        text.push_str(&truncated(&line, columns, 2));
        text.push('\n');
    }
    text.push('\n');
    text.push_str(OPTIONS_HELP);
    // Thor ends the class options with a blank line.
    text.push('\n');
    text
}

/// Thor's `TablePrinter#truncate`: a row (before its indent) longer than `width` keeps
/// `width - 3 - indent` characters and ends in `...`, so the indented line fits.
fn truncated(line: &str, width: usize, indent: usize) -> String {
    if line.chars().count() <= width {
        return line.to_string();
    }
    let kept: String = line.chars().take(width.saturating_sub(3 + indent)).collect();
    format!("{kept}...")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_list_is_sorted_and_cut_like_thors_table() {
        let text = help_text();
        let rows: Vec<&str> = text.lines().skip(1).take_while(|line| !line.is_empty()).collect();
        let mut sorted = rows.clone();
        sorted.sort();
        assert_eq!(rows, sorted);
        // Kamal 2.11's own lines at 80 columns: one of 81 characters stays whole, longer ones
        // end in `...` at 80.
        assert!(rows
            .contains(&"  kamal help [COMMAND]      # Describe available commands or one specific command"));
        assert!(rows
            .contains(&"  kamal init                # Create config stub in config/deploy.yml and sec..."));
        assert!(rows.contains(&"  kamal upgrade             # Upgrade from Kamal 1.x to 2.0"));
        assert!(text.ends_with("change nothing\n\n"), "{text}");
        assert_eq!(truncated("abcdefghij", 10, 2), "abcdefghij");
        assert_eq!(truncated("abcdefghijk", 10, 2), "abcde...");
    }

    #[test]
    fn resolves_exact_names_and_unique_prefixes() {
        assert_eq!(resolve("config"), Resolution::Command("config"));
        assert_eq!(resolve("vers"), Resolution::Command("version"));
        assert_eq!(resolve("console"), Resolution::Unknown("console".into()));
    }

    #[test]
    fn a_shared_prefix_is_ambiguous() {
        let names = ["deploy", "details", "docs"];
        assert_eq!(
            resolve_in("d", &names),
            Resolution::Ambiguous("d".into(), vec!["deploy", "details", "docs"])
        );
        assert_eq!(resolve_in("dep", &names), Resolution::Command("deploy"));
    }
}
