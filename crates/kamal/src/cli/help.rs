//! Thor's help texts, as Kamal 2.11 prints them: the command list (`kamal`, `kamal help`),
//! a group's list (`kamal help app`, `kamal app`, `kamal app help`), one command's usage
//! and options (`kamal help deploy`, `kamal app help boot`) and `kamal tree`. Pure
//! functions over the tables below; `main.rs` prints what they return.
//!
//! The one deliberate difference from Kamal: our own `[--dry-run]` ends the class options.

use super::args::{self, Kind, OptionSpec, GLOBAL_OPTIONS};
use super::{did_you_mean, CommandSpec, Resolution, COMMANDS};
use crate::commands;

/// A subcommand of a group (`kamal app boot`), as Thor describes it.
#[derive(Debug, Clone, Copy)]
pub struct Subcommand {
    pub name: &'static str,
    /// Thor's usage after `kamal <group> ` (`boot`, `exec [CMD...]`).
    pub usage: &'static str,
    pub description: &'static str,
    pub options: &'static [OptionSpec],
    /// Thor's `hide: true`: not listed, but `help` still describes it.
    pub hidden: bool,
}

/// A top-level command that is a Thor subcommand class (`kamal app …`).
#[derive(Debug, Clone, Copy)]
pub struct Group {
    pub name: &'static str,
    pub subcommands: &'static [Subcommand],
}

const fn visible(
    name: &'static str,
    usage: &'static str,
    description: &'static str,
    options: &'static [OptionSpec],
) -> Subcommand {
    Subcommand {
        name,
        usage,
        description,
        options,
        hidden: false,
    }
}

const fn hidden(
    name: &'static str,
    usage: &'static str,
    description: &'static str,
    options: &'static [OptionSpec],
) -> Subcommand {
    Subcommand {
        name,
        usage,
        description,
        options,
        hidden: true,
    }
}

/// Every group has Thor's own two commands too.
const HELP: Subcommand = visible(
    "help",
    "help [COMMAND]",
    "Describe subcommands or one specific subcommand",
    &[],
);
const TREE: Subcommand = visible("tree", "tree", "Print a tree of all available commands", &[]);

// Options only the help needs: the parser reads these subcommands' options from the
// union in `COMMANDS` (one list per group), Thor lists each subcommand's own.

const APP_MAINTENANCE: &[OptionSpec] = &[
    args::numeric("drain-timeout", None)
        .desc("How long to allow in-flight requests to complete (defaults to drain_timeout from config)"),
    args::value("message", None).desc("Message to display to clients while stopped"),
];

const APP_STALE_CONTAINERS: &[OptionSpec] = &[args::flag("stop", Some('s'))
    .desc("Stop the stale containers found")
    .default("false")];

const NO_CACHE: OptionSpec = args::flag("no-cache", None)
    .desc("Build without using Docker's build cache")
    .default("false");

const BUILD_PUSH: &[OptionSpec] = &[
    args::value("output", None)
        .banner("export_type")
        .desc("Exported type for the build result, and may be any exported type supported by 'buildx --output'.")
        .default("registry"),
    NO_CACHE,
];

const BUILD_DEV: &[OptionSpec] = &[
    args::value("output", None)
        .banner("export_type")
        .desc("Exported type for the build result, and may be any exported type supported by 'buildx --output'.")
        .default("docker"),
    NO_CACHE,
];

const PROXY_BOOT_CONFIG: &[OptionSpec] = &[
    args::flag("publish", None)
        .desc("Publish the proxy ports on the host")
        .default("true"),
    args::repeatable("publish-host-ip", None)
        .desc("Host IP address to bind HTTP/HTTPS traffic to. Defaults to all interfaces"),
    args::numeric("http-port", None)
        .desc("HTTP port to publish on the host")
        .default("80"),
    args::numeric("https-port", None)
        .desc("HTTPS port to publish on the host")
        .default("443"),
    args::value("log-max-size", None)
        .desc("Max size of proxy logs")
        .default("10m"),
    args::value("registry", None).desc("Registry to use for the proxy image"),
    args::value("repository", None).desc("Repository for the proxy image"),
    args::value("image-version", None).desc("Version of the proxy to run"),
    args::numeric("metrics-port", None).desc("Port to report prometheus metrics on"),
    args::flag("debug", None)
        .desc("Whether to run the proxy in debug mode")
        .default("false"),
    args::array("docker-options", None)
        .banner("option=value option2=value2")
        .desc("Docker options to pass to the proxy container"),
];

const PROXY_LOGS: &[OptionSpec] = &[
    args::value("since", Some('s'))
        .desc("Show logs since timestamp (e.g. 2013-01-02T13:23:37Z) or relative (e.g. 42m for 42 minutes)"),
    args::numeric("lines", Some('n')).desc("Number of log lines to pull from each server"),
    args::value("grep", Some('g'))
        .desc("Show lines with grep match only (use this to fetch specific requests by id)"),
    args::flag("follow", Some('f'))
        .shown_as("[--follow=FOLLOW]")
        .desc("Follow logs on primary server (or specific host set by --hosts)"),
    args::flag("skip-timestamps", Some('T')).desc("Skip appending timestamps to logging output"),
];

const PROXY_REBOOT: &[OptionSpec] = &[
    args::flag("rolling", None)
        .desc("Reboot proxy on hosts in sequence, rather than in parallel")
        .default("false"),
    super::CONFIRMED,
];

const PROXY_REMOVE: &[OptionSpec] = &[args::flag("force", None)
    .desc("Force removing proxy when apps are still installed")
    .default("false")];

const SECRETS_EXTRACT: &[OptionSpec] = &[args::flag("inline", None)];

/// The groups, in the order `kamal tree` shows them (Kamal registers them so).
pub const GROUPS: &[Group] = &[
    Group {
        name: "accessory",
        subcommands: &[
            visible(
                "boot",
                "boot [NAME]",
                "Boot new accessory service on host (use NAME=all to boot all accessories)",
                &[],
            ),
            hidden("upload", "upload [NAME]", "Upload accessory files to host", &[]),
            hidden("directories", "directories [NAME]", "Create accessory directories on host", &[]),
            visible(
                "reboot",
                "reboot [NAME]",
                "Reboot existing accessory on host (stop container, remove container, start new container; use NAME=all to boot all accessories)",
                &[],
            ),
            visible("start", "start [NAME]", "Start existing accessory container on host", &[]),
            visible("stop", "stop [NAME]", "Stop existing accessory container on host", &[]),
            visible("restart", "restart [NAME]", "Restart existing accessory container on host", &[]),
            visible(
                "details",
                "details [NAME]",
                "Show details about accessory on host (use NAME=all to show all accessories)",
                &[],
            ),
            visible(
                "exec",
                "exec [NAME] [CMD...]",
                "Execute a custom command on servers within the accessory container (use --help to show options)",
                commands::accessory::EXEC_OPTIONS,
            ),
            visible(
                "logs",
                "logs [NAME]",
                "Show log lines from accessory on host (use --help to show options)",
                commands::accessory::LOGS_OPTIONS,
            ),
            hidden("pull_image", "pull_image [NAME]", "Pull accessory image on host", &[]),
            visible(
                "remove",
                "remove [NAME]",
                "Remove accessory container, image and data directory from host (use NAME=all to remove all accessories)",
                commands::accessory::REMOVE_OPTIONS,
            ),
            hidden(
                "remove_container",
                "remove_container [NAME]",
                "Remove accessory container from host",
                &[],
            ),
            hidden("remove_image", "remove_image [NAME]", "Remove accessory image from host", &[]),
            hidden(
                "remove_service_directory",
                "remove_service_directory [NAME]",
                "Remove accessory directory used for uploaded files and data directories from host",
                &[],
            ),
            visible(
                "upgrade",
                "upgrade",
                "Upgrade accessories from Kamal 1.x to 2.0 (restart them in 'kamal' network)",
                commands::accessory::UPGRADE_OPTIONS,
            ),
        ],
    },
    Group {
        name: "app",
        subcommands: &[
            visible("boot", "boot", "Boot app on servers (or reboot app if already running)", &[]),
            visible("start", "start", "Start existing app container on servers", &[]),
            visible("stop", "stop", "Stop app container on servers", &[]),
            visible("details", "details", "Show details about app containers", &[]),
            visible(
                "exec",
                "exec [CMD...]",
                "Execute a custom command on servers within the app container (use --help to show options)",
                commands::app::EXEC_OPTIONS,
            ),
            visible("containers", "containers", "Show app containers on servers", &[]),
            visible(
                "stale_containers",
                "stale_containers",
                "Detect app stale containers",
                APP_STALE_CONTAINERS,
            ),
            visible("images", "images", "Show app images on servers", &[]),
            visible(
                "logs",
                "logs",
                "Show log lines from app on servers (use --help to show options)",
                commands::app::LOGS_OPTIONS,
            ),
            visible("remove", "remove", "Remove app containers and images from servers", &[]),
            visible("live", "live", "Set the app to live mode", &[]),
            visible("maintenance", "maintenance", "Set the app to maintenance mode", APP_MAINTENANCE),
            hidden(
                "remove_container",
                "remove_container [VERSION]",
                "Remove app container with given version from servers",
                &[],
            ),
            hidden("remove_containers", "remove_containers", "Remove all app containers from servers", &[]),
            hidden("remove_images", "remove_images", "Remove all app images from servers", &[]),
            hidden(
                "remove_app_directories",
                "remove_app_directories",
                "Remove the app directories from servers",
                &[],
            ),
            visible("version", "version", "Show app version currently running on servers", &[]),
        ],
    },
    Group {
        name: "build",
        subcommands: &[
            visible(
                "deliver",
                "deliver",
                "Build app and push app image to registry then pull image on servers",
                &[],
            ),
            visible("push", "push", "Build and push app image to registry", BUILD_PUSH),
            visible("pull", "pull", "Pull app image from registry onto servers", &[]),
            visible("create", "create", "Create a build setup", &[]),
            visible("remove", "remove", "Remove build setup", &[]),
            visible("details", "details", "Show build setup", &[]),
            visible(
                "dev",
                "dev",
                "Build using the working directory, tag it as dirty, and push to local image store.",
                BUILD_DEV,
            ),
        ],
    },
    Group {
        name: "lock",
        subcommands: &[
            visible("status", "status", "Report lock status", &[]),
            visible(
                "acquire",
                "acquire -m, --message=MESSAGE",
                "Acquire the deploy lock",
                super::LOCK_OPTIONS,
            ),
            visible("release", "release", "Release the deploy lock", &[]),
        ],
    },
    Group {
        name: "proxy",
        subcommands: &[
            visible("boot", "boot", "Boot proxy on servers", &[]),
            visible(
                "boot_config",
                "boot_config <set|get|reset>",
                "Manage kamal-proxy boot configuration",
                PROXY_BOOT_CONFIG,
            ),
            visible(
                "reboot",
                "reboot",
                "Reboot proxy on servers (stop container, remove container, start new container)",
                PROXY_REBOOT,
            ),
            hidden(
                "upgrade",
                "upgrade",
                "Upgrade to kamal-proxy on servers (stop container, remove container, start new container, reboot app)",
                PROXY_REBOOT,
            ),
            visible("start", "start", "Start existing proxy container on servers", &[]),
            visible("stop", "stop", "Stop existing proxy container on servers", &[]),
            visible("restart", "restart", "Restart existing proxy container on servers", &[]),
            visible("details", "details", "Show details about proxy container from servers", &[]),
            visible("logs", "logs", "Show log lines from proxy on servers", PROXY_LOGS),
            visible("remove", "remove", "Remove proxy container and image from servers", PROXY_REMOVE),
            hidden("remove_container", "remove_container", "Remove proxy container from servers", &[]),
            hidden("remove_image", "remove_image", "Remove proxy image from servers", &[]),
            hidden(
                "remove_proxy_directory",
                "remove_proxy_directory",
                "Remove the proxy directory from servers",
                &[],
            ),
        ],
    },
    Group {
        name: "prune",
        subcommands: &[
            visible("all", "all", "Prune unused images and stopped containers", &[]),
            visible("images", "images", "Prune unused images", &[]),
            visible(
                "containers",
                "containers",
                "Prune all stopped containers, except the last n (default 5)",
                super::PRUNE_OPTIONS,
            ),
        ],
    },
    Group {
        name: "registry",
        subcommands: &[
            visible(
                "setup",
                "setup",
                "Setup local registry or log in to remote registry locally and remotely",
                super::REGISTRY_OPTIONS,
            ),
            visible(
                "remove",
                "remove",
                "Remove local registry or log out of remote registry locally and remotely",
                super::REGISTRY_OPTIONS,
            ),
            visible(
                "login",
                "login",
                "Log in to remote registry locally and remotely",
                super::REGISTRY_OPTIONS,
            ),
            visible(
                "logout",
                "logout",
                "Log out of remote registry locally and remotely",
                super::REGISTRY_OPTIONS,
            ),
        ],
    },
    Group {
        name: "secrets",
        subcommands: &[
            visible(
                "fetch",
                "fetch [SECRETS...] -a, --adapter=ADAPTER",
                "Fetch secrets from a vault",
                super::SECRETS_OPTIONS,
            ),
            visible(
                "extract",
                "extract",
                "Extract a single secret from the results of a fetch call",
                SECRETS_EXTRACT,
            ),
            visible("print", "print", "Print the secrets (for debugging)", &[]),
        ],
    },
    Group {
        name: "server",
        subcommands: &[
            visible(
                "exec",
                "exec",
                "Run a custom command on the server (use --help to show options)",
                super::SERVER_OPTIONS,
            ),
            visible("bootstrap", "bootstrap", "Set up Docker to run Kamal apps", &[]),
        ],
    },
];

pub fn group(name: &str) -> Option<&'static Group> {
    GROUPS.iter().find(|group| group.name == name)
}

impl Group {
    /// Its subcommands with Thor's `help` and `tree`.
    fn all(&self) -> Vec<&'static Subcommand> {
        self.subcommands.iter().chain([&HELP, &TREE]).collect()
    }

    /// Thor's lookup for `kamal <group> help WORD`: an exact name (hidden ones too), else a
    /// prefix of exactly one listed name.
    fn resolve(&self, word: &str) -> Result<&'static Subcommand, String> {
        let all = self.all();
        if let Some(found) = all.iter().find(|subcommand| subcommand.name == word) {
            return Ok(found);
        }
        let mut matches: Vec<&'static Subcommand> = all
            .iter()
            .copied()
            .filter(|subcommand| !subcommand.hidden && subcommand.name.starts_with(word))
            .collect();
        matches.sort_by_key(|subcommand| subcommand.name);
        match matches.as_slice() {
            [single] => Ok(single),
            [] => {
                let names: Vec<&str> = all.iter().map(|subcommand| subcommand.name).collect();
                Err(not_found(word, &names))
            }
            _ => {
                let names: Vec<&str> = matches.iter().map(|subcommand| subcommand.name).collect();
                Err(ambiguous(word, &names))
            }
        }
    }
}

fn not_found(word: &str, names: &[&str]) -> String {
    format!(
        "Could not find command \"{word}\".{}",
        did_you_mean::message(word, names)
    )
}

fn ambiguous(word: &str, names: &[&str]) -> String {
    format!("Ambiguous command {word} matches [{}]", names.join(", "))
}

/// `kamal help [COMMAND [SUBCOMMAND]]`: the list, a group's list (its exact name only;
/// a prefix of it describes the group's own command), or one command. Errors are Thor's.
/// Lists are cut at `columns` (`terminal_columns()`).
pub fn help(arguments: &[String], columns: usize) -> Result<String, String> {
    let Some(word) = arguments.first() else {
        return Ok(help_text(columns));
    };
    if let Some(group) = group(word) {
        return Ok(group_listing(group, columns));
    }
    match super::resolve(word) {
        Resolution::Command(name) => Ok(command_help(name)),
        Resolution::Ambiguous(word, matches) => Err(ambiguous(&word, &matches)),
        Resolution::Unknown(word) => {
            let names: Vec<&str> = COMMANDS.iter().map(|command| command.name).collect();
            Err(not_found(&word, &names))
        }
    }
}

/// `kamal <group> help [SUBCOMMAND]` (also `kamal <group>` and `kamal <group> [SUB] --help`).
pub fn group_help(group: &Group, arguments: &[String], columns: usize) -> Result<String, String> {
    if arguments.len() > 2 {
        let quoted: Vec<String> = arguments.iter().map(|argument| format!("{argument:?}")).collect();
        return Err(format!(
            "ERROR: \"kamal {0} help\" was called with arguments [{1}]\nUsage: \"kamal {0} help [COMMAND]\"",
            group.name,
            quoted.join(", ")
        ));
    }
    let Some(word) = arguments.first() else {
        return Ok(group_listing(group, columns));
    };
    let subcommand = group.resolve(word)?;
    // Thor's inherited `tree` is described without the group.
    let usage = if subcommand.name == TREE.name {
        format!("kamal {}", subcommand.usage)
    } else {
        format!("kamal {} {}", group.name, subcommand.usage)
    };
    Ok(usage_help(&usage, subcommand.options, subcommand.description))
}

/// Thor's listing for `kamal` / `kamal help`, cut at `columns`.
pub fn help_text(columns: usize) -> String {
    let rows: Vec<(String, &str)> = COMMANDS
        .iter()
        .map(|command| (command.usage.to_string(), command.summary))
        .collect();
    listing(rows, columns)
}

/// Thor's listing of a group: its listed subcommands, `help` and `tree`, cut at `columns`.
pub fn group_listing(group: &Group, columns: usize) -> String {
    let rows: Vec<(String, &str)> = group
        .all()
        .into_iter()
        .filter(|subcommand| !subcommand.hidden)
        .map(|subcommand| {
            (
                format!("kamal {} {}", group.name, subcommand.usage),
                subcommand.description,
            )
        })
        .collect();
    listing(rows, columns)
}

/// `Commands:`, the rows sorted and cut to the terminal's width (Thor's `print_table` with
/// `truncate: true`), a blank line, the class options.
fn listing(mut rows: Vec<(String, &str)>, columns: usize) -> String {
    rows.sort();
    let width = rows
        .iter()
        .map(|(usage, _)| usage.chars().count())
        .max()
        .unwrap_or(0);
    let mut text = String::from("Commands:\n");
    for (usage, description) in rows {
        let line = format!("{usage:width$}  # {description}");
        text.push_str("  ");
        text.push_str(&truncated(&line, columns, 2));
        text.push('\n');
    }
    text.push('\n');
    text.push_str(&options_table(&[]));
    text
}

/// Thor's `kamal help COMMAND`: usage, the command's options then the class options in
/// one table, the description. A group's own command (`kamal help ap`) has no options.
pub fn command_help(name: &str) -> String {
    let Some(command) = super::spec(name) else {
        return help_text(terminal_columns());
    };
    let options: &[OptionSpec] = if group(name).is_some() {
        &[]
    } else {
        command.options
    };
    usage_help(command.usage, options, command.summary)
}

fn usage_help(usage: &str, options: &[OptionSpec], description: &str) -> String {
    format!("Usage:\n  {usage}\n\n{}{description}\n", options_table(options))
}

/// `Options:`, then `own` and the class options, each with its description and default
/// (`print_options`), and a blank line.
fn options_table(own: &[OptionSpec]) -> String {
    let shown: Vec<&OptionSpec> = own
        .iter()
        .chain(GLOBAL_OPTIONS.iter())
        .filter(|option| !option.doc.hidden)
        .collect();
    let padding = shown
        .iter()
        .map(|option| aliases(option).len())
        .max()
        .unwrap_or(0);
    let mut rows: Vec<(String, String)> = Vec::new();
    for option in shown {
        let description = option
            .doc
            .description
            .map(|text| format!("# {text}"))
            .unwrap_or_default();
        rows.push((
            format!("{:padding$}{}", aliases(option), usage(option)),
            description,
        ));
        if let Some(default) = option.doc.default {
            rows.push((String::new(), format!("# Default: {default}")));
        }
    }
    let width = rows
        .iter()
        .map(|(usage, _)| usage.chars().count())
        .max()
        .unwrap_or(0);
    let mut text = String::from("Options:\n");
    for (usage, description) in rows {
        // The last column is not padded: no description leaves the separator's spaces.
        text.push_str(&format!("  {usage:width$}  {description}\n"));
    }
    text.push('\n');
    text
}

/// Thor's `aliases_for_usage`: `-v, ` or nothing.
fn aliases(option: &OptionSpec) -> String {
    option
        .short
        .map(|short| format!("-{short}, "))
        .unwrap_or_default()
}

/// Thor's `Option#usage` without the aliases: `[--name=BANNER]`, `--name=BANNER` when
/// required, booleans with their `--no-`/`--skip-` forms unless named so already.
fn usage(option: &OptionSpec) -> String {
    if let Some(shown) = option.doc.shown_as {
        return shown.to_string();
    }
    let banner = option.doc.banner.map(String::from).or_else(|| match option.kind {
        Kind::Flag => None,
        Kind::Value | Kind::Repeatable => Some(option.long.replace('-', "_").to_uppercase()),
        Kind::Numeric => Some("N".to_string()),
        Kind::Hash => Some("key:value".to_string()),
        Kind::Array => Some("one two three".to_string()),
    });
    let switch = match banner {
        Some(banner) => format!("--{}={banner}", option.long),
        None => format!("--{}", option.long),
    };
    let mut sample = if option.doc.required {
        switch
    } else {
        format!("[{switch}]")
    };
    let negatable = option.kind == Kind::Flag
        && option.long != "force"
        && !option.long.starts_with("no-")
        && !option.long.starts_with("skip-");
    if negatable {
        sample.push_str(&format!(", [--no-{0}], [--skip-{0}]", option.long));
    }
    sample
}

/// `kamal tree` (or `kamal <group> tree`): each class's namespace, then its listed
/// commands by name with their descriptions, Thor's `help` and `tree` left out; the
/// groups follow the main list, indented. `color` as Thor's shell: names green,
/// namespaces blue.
pub fn tree(group: Option<&Group>, color: bool) -> String {
    let paint = |text: &str, code: &str| {
        if color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    };
    let section = |namespace: &str, indent: &str, rows: Vec<(&str, &str)>| {
        // Thor colours the indent with the namespace.
        let mut text = format!("{}\n", paint(&format!("{indent}{namespace}"), "34"));
        let mut rows = rows;
        rows.sort();
        let count = rows.len();
        for (index, (name, description)) in rows.into_iter().enumerate() {
            let icon = if index + 1 == count { "└─" } else { "├─" };
            text.push_str(&format!(
                "{indent}  {icon} {} ({description})\n",
                paint(name, "32")
            ));
        }
        text
    };
    let group_rows = |group: &Group| -> Vec<(&str, &str)> {
        group
            .subcommands
            .iter()
            .filter(|subcommand| !subcommand.hidden)
            .map(|subcommand| (subcommand.name, subcommand.description))
            .collect()
    };
    if let Some(group) = group {
        return section(&format!("kamal:cli:{}", group.name), "", group_rows(group));
    }
    let main: Vec<(&str, &str)> = COMMANDS
        .iter()
        .filter(|command| !matches!(command.name, "help" | "tree"))
        .map(|command: &CommandSpec| (command.name, command.summary))
        .collect();
    let mut text = section("kamal:cli:main", "", main);
    for group in GROUPS {
        text.push_str(&section(
            &format!("kamal:cli:{}", group.name),
            "  ",
            group_rows(group),
        ));
    }
    text
}

/// Thor's `terminal_width` for tables: THOR_COLUMNS (Ruby's `to_i`), else what `stty size`
/// says of stdin, else `tput cols` (which honours COLUMNS); under 10 (or nothing) means 80.
pub fn terminal_columns() -> usize {
    let columns = match std::env::var("THOR_COLUMNS") {
        Ok(value) => leading_number(&value),
        Err(_) => {
            let stty = run("stty", &["size"])
                .split_whitespace()
                .nth(1)
                .map_or(0, leading_number);
            if stty != 0 {
                stty
            } else {
                leading_number(&run("tput", &["cols"]))
            }
        }
    };
    if columns < 10 {
        80
    } else {
        columns
    }
}

/// Ruby's `to_i`: the leading digits, 0 without any.
fn leading_number(text: &str) -> usize {
    let digits: String = text
        .trim_start()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().unwrap_or(0)
}

/// Ruby's `%x(program arguments 2>/dev/null)`: stdout, empty when it cannot run.
fn run(program: &str, arguments: &[&str]) -> String {
    std::process::Command::new(program)
        .args(arguments)
        .stdin(std::process::Stdio::inherit())
        .stderr(std::process::Stdio::null())
        .output()
        .map(|output| String::from_utf8_lossy(&output.stdout).into_owned())
        .unwrap_or_default()
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
        let text = help_text(80);
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
    fn options_align_to_the_widest_of_the_command_and_class_options() {
        let text = command_help("deploy");
        assert!(text.starts_with(
            "Usage:\n  kamal deploy\n\nOptions:\n  -P, [--skip-push]                                  # Skip image build and push\n                                                     # Default: false\n      [--no-cache]  "
        ));
        let exec = group_help(group("server").expect("server"), &["exec".into()], 80).expect("exec");
        assert!(exec.contains(
            "\n  -i, [--interactive], [--no-interactive], [--skip-interactive]  # Run the command interactively (use for console/bash)\n"
        ));
        assert!(exec.contains("\n      [--dry-run]                                                # Print"));
        assert!(exec.ends_with("\n\nRun a custom command on the server (use --help to show options)\n"));
    }

    #[test]
    fn thor_usage_forms() {
        let required = args::value("message", Some('m')).required();
        assert_eq!(usage(&required), "--message=MESSAGE");
        assert_eq!(usage(&args::flag("force", None)), "[--force]");
        assert_eq!(usage(&args::flag("skip-local", Some('L'))), "[--skip-local]");
        assert_eq!(
            usage(&args::flag("rolling", None)),
            "[--rolling], [--no-rolling], [--skip-rolling]"
        );
        assert_eq!(usage(&args::numeric("lines", Some('n'))), "[--lines=N]");
        assert_eq!(usage(&args::hash("env", Some('e'))), "[--env=key:value]");
        assert_eq!(
            usage(&args::value("config-file", None)),
            "[--config-file=CONFIG_FILE]"
        );
    }

    #[test]
    fn groups_list_their_visible_subcommands_with_help_and_tree() {
        let text = group_listing(group("proxy").expect("proxy"), 80);
        assert!(text
            .starts_with("Commands:\n  kamal proxy boot                         # Boot proxy on servers\n"));
        assert!(text
            .contains("  kamal proxy tree                         # Print a tree of all available co...\n"));
        assert!(!text.contains("upgrade"), "{text}");
    }

    #[test]
    fn group_help_finds_subcommands_as_thor_does() {
        let app = group("app").expect("app");
        let help = |words: &[&str]| {
            let words: Vec<String> = words.iter().map(|word| word.to_string()).collect();
            group_help(app, &words, 80)
        };
        assert!(help(&["bo"])
            .expect("prefix")
            .starts_with("Usage:\n  kamal app boot\n"));
        assert!(help(&["remove_images"])
            .expect("hidden")
            .starts_with("Usage:\n  kamal app remove_images\n"));
        assert!(help(&["t"]).expect("tree").starts_with("Usage:\n  kamal tree\n"));
        assert_eq!(
            help(&["st"]).expect_err("ambiguous"),
            "Ambiguous command st matches [stale_containers, start, stop]"
        );
        assert_eq!(
            help(&["remove_i"]).expect_err("unknown"),
            "Could not find command \"remove_i\".\nDid you mean?  \"remove\""
        );
        assert_eq!(
            help(&["boot", "x", "y"]).expect_err("arity"),
            "ERROR: \"kamal app help\" was called with arguments [\"boot\", \"x\", \"y\"]\nUsage: \"kamal app help [COMMAND]\""
        );
    }

    #[test]
    fn the_tree_lists_each_class() {
        let text = tree(None, false);
        assert!(text.starts_with("kamal:cli:main\n  ├─ accessory (Manage accessories (db/redis/search))\n"));
        assert!(text.contains("  └─ version (Show Kamal version)\n  kamal:cli:accessory\n    ├─ boot ("));
        assert!(
            text.ends_with("    └─ exec (Run a custom command on the server (use --help to show options))\n")
        );
        let app = tree(group("app"), true);
        assert!(app.starts_with("\x1b[34mkamal:cli:app\x1b[0m\n  ├─ \x1b[32mboot\x1b[0m (Boot app"));
    }
}
