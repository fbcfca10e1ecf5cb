//! The command line: which command the words name (Thor's rules: exact name, or an
//! unambiguous prefix; anything else may be an alias from the config), its options, and
//! the settings resolved from them before any work starts.

pub mod args;
mod did_you_mean;
pub mod help;

use args::{OptionSpec, Parsed};
pub use help::command_help;

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

/// `--skip-push` and `--no-cache` of setup, deploy and redeploy.
const DEPLOY_OPTIONS: &[OptionSpec] = &[
    args::flag("skip-push", Some('P'))
        .desc("Skip image build and push")
        .default("false"),
    args::flag("no-cache", None)
        .desc("Build without using Docker's build cache")
        .default("false"),
];

const CONFIRMED: OptionSpec = args::flag("confirmed", Some('y'))
    .desc("Proceed without confirmation question")
    .default("false");

// The groups below whose subcommands share one option list; `help` shows it per subcommand.

/// `kamal lock acquire`.
const LOCK_OPTIONS: &[OptionSpec] = &[args::value("message", Some('m'))
    .required()
    .desc("A lock message")];

/// Every `kamal registry` subcommand.
const REGISTRY_OPTIONS: &[OptionSpec] = &[
    args::flag("skip-local", Some('L'))
        .desc("Skip local login")
        .default("false"),
    args::flag("skip-remote", Some('R'))
        .desc("Skip remote login")
        .default("false"),
];

/// `kamal server exec`.
const SERVER_OPTIONS: &[OptionSpec] = &[args::flag("interactive", Some('i'))
    .desc("Run the command interactively (use for console/bash)")
    .default("false")];

/// `kamal prune containers` (a number in Thor; we read it as text).
const PRUNE_OPTIONS: &[OptionSpec] = &[args::value("retain", None)
    .banner("N")
    .desc("Number of containers to retain")];

/// `kamal secrets fetch`; `extract` takes only `--inline`.
const SECRETS_OPTIONS: &[OptionSpec] = &[
    args::value("adapter", Some('a'))
        .required()
        .desc("Which vault adapter to use"),
    args::value("account", None).desc("The account identifier or username"),
    args::value("from", None).desc("A vault or folder to fetch the secrets from"),
    args::flag("inline", None),
];

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
        options: LOCK_OPTIONS,
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
        options: REGISTRY_OPTIONS,
        max_arguments: Some(1),
    },
    CommandSpec {
        name: "server",
        usage: "kamal server",
        summary: "Bootstrap servers with curl and Docker",
        options: SERVER_OPTIONS,
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
        options: &[CONFIRMED],
        max_arguments: Some(0),
    },
    CommandSpec {
        name: "setup",
        usage: "kamal setup",
        summary: "Setup all accessories, push the env, and deploy app to servers",
        options: DEPLOY_OPTIONS,
        max_arguments: Some(0),
    },
    CommandSpec {
        name: "deploy",
        usage: "kamal deploy",
        summary: "Deploy app to servers",
        options: DEPLOY_OPTIONS,
        max_arguments: Some(0),
    },
    CommandSpec {
        name: "prune",
        usage: "kamal prune",
        summary: "Prune old application images and containers",
        options: PRUNE_OPTIONS,
        max_arguments: Some(1),
    },
    CommandSpec {
        name: "redeploy",
        usage: "kamal redeploy",
        summary: "Deploy app to servers without bootstrapping servers, starting kamal-proxy and pruning",
        options: DEPLOY_OPTIONS,
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
        // `kamal help app boot` describes `app` (Thor's `help(command, subcommand)`).
        max_arguments: Some(2),
    },
    CommandSpec {
        name: "init",
        usage: "kamal init",
        summary: "Create config stub in config/deploy.yml and secrets stub in .kamal",
        options: &[args::flag("bundle", None)
            .desc("Add Kamal to the Gemfile and create a bin/kamal binstub")
            .default("false")],
        max_arguments: Some(0),
    },
    CommandSpec {
        name: "secrets",
        usage: "kamal secrets",
        summary: "Helpers for extracting secrets",
        options: SECRETS_OPTIONS,
        max_arguments: None,
    },
    CommandSpec {
        name: "tree",
        usage: "kamal tree",
        summary: "Print a tree of all available commands",
        options: &[],
        max_arguments: Some(0),
    },
    CommandSpec {
        name: "upgrade",
        usage: "kamal upgrade",
        summary: "Upgrade from Kamal 1.x to 2.0",
        options: &[
            CONFIRMED,
            args::flag("rolling", None)
                .desc("Upgrade one host at a time")
                .default("false"),
        ],
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
    let mut matches: Vec<&'static str> = names
        .iter()
        .filter(|name| name.starts_with(word))
        .copied()
        .collect();
    // Thor names them sorted.
    matches.sort_unstable();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_exact_names_and_unique_prefixes() {
        assert_eq!(resolve("config"), Resolution::Command("config"));
        assert_eq!(resolve("vers"), Resolution::Command("version"));
        assert_eq!(resolve("console"), Resolution::Unknown("console".into()));
    }

    #[test]
    fn a_shared_prefix_is_ambiguous() {
        let names = ["details", "deploy", "docs"];
        assert_eq!(
            resolve_in("d", &names),
            Resolution::Ambiguous("d".into(), vec!["deploy", "details", "docs"])
        );
        assert_eq!(resolve_in("dep", &names), Resolution::Command("deploy"));
    }
}
