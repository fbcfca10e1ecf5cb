//! `kamal`: parse the command line, run the command, turn the outcome into an exit code.

mod assets;
mod cli;
mod commands;
mod orchestration;
mod output;
mod system;

use std::path::PathBuf;
use std::process::ExitCode;

use cli::{args, GlobalSettings, Resolution};
use kamal_config::configuration::{ConfigError, LoadOptions};
use kamal_config::secrets::SecretsError;
use output::Printer;

fn main() -> ExitCode {
    let words: Vec<String> = std::env::args().skip(1).collect();
    run(&words)
}

fn run(words: &[String]) -> ExitCode {
    // Options may come before the command too (Kamal prints usage then; we just accept them).
    let command_index = first_command_word(words);
    let Some(index) = command_index else {
        let parsed = args::parse(words, &[]).unwrap_or_default();
        let printer = Printer::new(parsed.flag("verbose"), parsed.flag("quiet"));
        printer.data(&cli::help::help_text(cli::help::terminal_columns()));
        return ExitCode::SUCCESS;
    };
    let name = match cli::resolve(&words[index]) {
        Resolution::Command(name) => name,
        Resolution::Ambiguous(word, matches) => {
            Printer::new(false, false).diagnostic(&format!(
                "Ambiguous command {word} matches [{}]",
                matches.join(", ")
            ));
            return ExitCode::FAILURE;
        }
        Resolution::Unknown(word) => {
            Printer::new(false, false).diagnostic(&format!("Could not find command \"{word}\"."));
            return ExitCode::FAILURE;
        }
    };
    let Some(spec) = cli::spec(name) else {
        return ExitCode::FAILURE;
    };
    let rest: Vec<String> = words[..index]
        .iter()
        .chain(words[index + 1..].iter())
        .cloned()
        .collect();
    // `kamal app`'s options depend on its subcommand (Thor's are per subcommand).
    let options = if name == "app" {
        let subcommand = rest
            .iter()
            .find(|word| commands::app::SUBCOMMANDS.contains(&word.as_str()))
            .map(String::as_str);
        commands::app::options(subcommand).unwrap_or(spec.options)
    } else if name == "accessory" {
        let subcommand = rest
            .iter()
            .find(|word| commands::accessory::SUBCOMMANDS.contains(&word.as_str()))
            .map(String::as_str);
        commands::accessory::options(subcommand)
    } else {
        spec.options
    };
    let parsed = match args::parse(&rest, options) {
        Ok(parsed) => parsed,
        Err(error) => {
            Printer::new(false, false).diagnostic(&error.to_string());
            return ExitCode::FAILURE;
        }
    };
    let settings = GlobalSettings::from_parsed(&parsed);
    let printer = Printer::new(settings.verbose, settings.quiet);
    if let Some(group) = cli::help::group(name) {
        if let Some(code) = group_builtin(group, &parsed, &printer) {
            return code;
        }
    }
    if spec
        .max_arguments
        .is_some_and(|maximum| parsed.arguments.len() > maximum)
    {
        let quoted: Vec<String> = parsed
            .arguments
            .iter()
            .map(|argument| format!("{argument:?}"))
            .collect();
        printer.diagnostic(&format!(
            "ERROR: \"kamal {name}\" was called with arguments [{}]\nUsage: \"{}\"",
            quoted.join(", "),
            spec.usage
        ));
        return ExitCode::FAILURE;
    }
    if parsed.flag("help") {
        printer.data(&cli::command_help(name));
        return ExitCode::SUCCESS;
    }

    let mut environment = match system::SystemEnvironment::from_process() {
        Ok(environment) => environment,
        Err(error) => {
            printer.error(
                "Errno::ENOENT",
                &format!("cannot read the working directory: {error}"),
            );
            return ExitCode::FAILURE;
        }
    };
    let load_options = LoadOptions {
        config_file: settings.config_file.as_ref().map(PathBuf::from),
        destination: settings.destination.clone(),
        version: settings.version.clone(),
    };
    let outcome: Result<(), Failure> = match name {
        "config" => commands::config::run(&printer, &load_options, &mut environment).map_err(Failure::from),
        "secrets" => {
            // Thor hands `secrets` its own words; global options there are accepted and ignored.
            let secret_words: Vec<String> = words[index + 1..].to_vec();
            commands::secrets::run(&printer, &secret_words, &load_options, &mut environment)
        }
        "docs" => {
            commands::docs::run(&printer, parsed.arguments.first().map(String::as_str));
            Ok(())
        }
        "help" => cli::help::help(&parsed.arguments, cli::help::terminal_columns())
            .map(|text| printer.data(&text))
            .map_err(Failure::Usage),
        "tree" => {
            printer.data(&cli::help::tree(None, thor_colors()));
            Ok(())
        }
        "init" => {
            let directory = kamal_config::Environment::current_dir(&environment).to_path_buf();
            commands::init::run(&printer, &directory, parsed.flag("bundle"))
                .map_err(|error| Failure::from(ConfigError::io(directory, &error)))
        }
        "accessory" | "app" | "build" | "lock" | "proxy" | "registry" | "server" => {
            run_on_hosts(name, &parsed, &settings, &load_options, environment, &printer)
        }
        "setup" | "remove" | "details" | "audit" | "upgrade" => {
            let commander = commands::context::commander(&settings, &load_options, environment, name, None);
            commander.and_then(|commander| commands::lifecycle::run(&commander, name, &parsed))
        }
        "deploy" | "redeploy" | "rollback" | "prune" => {
            run_sequence(name, &parsed, &settings, &load_options, environment)
        }
        "version" => {
            commands::version::run(&printer);
            Ok(())
        }
        _ => Ok(()),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            report(&printer, &error);
            ExitCode::FAILURE
        }
    }
}

/// Thor's own commands of a group, answered before any configuration is read: `kamal app`
/// (the list), `kamal app help [SUBCOMMAND]`, `kamal app [SUBCOMMAND] --help` and
/// `kamal app tree`. None: a subcommand of ours to run.
fn group_builtin(group: &cli::help::Group, parsed: &args::Parsed, printer: &Printer) -> Option<ExitCode> {
    let arguments = &parsed.arguments;
    let text = match arguments.first().map(String::as_str) {
        // Thor's subcommand methods turn `--help` into `help` before the words.
        _ if parsed.flag("help") => cli::help::group_help(group, arguments, cli::help::terminal_columns()),
        None => Ok(cli::help::group_listing(group, cli::help::terminal_columns())),
        Some("help") => cli::help::group_help(group, &arguments[1..], cli::help::terminal_columns()),
        Some("tree") if arguments.len() > 1 => {
            let quoted: Vec<String> = arguments[1..]
                .iter()
                .map(|argument| format!("{argument:?}"))
                .collect();
            Err(format!(
                "ERROR: \"kamal tree\" was called with arguments [{}]\nUsage: \"kamal tree\"",
                quoted.join(", ")
            ))
        }
        Some("tree") => Ok(cli::help::tree(Some(group), thor_colors())),
        Some(_) => return None,
    };
    Some(match text {
        Ok(text) => {
            printer.data(&text);
            ExitCode::SUCCESS
        }
        Err(message) => {
            printer.diagnostic(&message);
            ExitCode::FAILURE
        }
    })
}

/// Thor's shell colours: stdout a terminal, TERM not `dumb`, NO_COLOR unset or empty.
fn thor_colors() -> bool {
    use std::io::IsTerminal;
    std::io::stdout().is_terminal()
        && std::env::var("TERM").map_or(true, |term| term != "dumb")
        && std::env::var_os("NO_COLOR").is_none_or(|value| value.is_empty())
}

/// The index of the first word that is not an option or an option's value.
fn first_command_word(words: &[String]) -> Option<usize> {
    let mut index = 0;
    while index < words.len() {
        let word = &words[index];
        if !word.starts_with('-') {
            return Some(index);
        }
        let takes_value = args::GLOBAL_OPTIONS.iter().any(|spec| {
            spec.kind == args::Kind::Value
                && !word.contains('=')
                && (word
                    .strip_prefix("--")
                    .is_some_and(|long| long.replace('_', "-") == spec.long)
                    || (word.len() == 2 && spec.short.is_some_and(|short| word.ends_with(short))))
        });
        index += if takes_value { 2 } else { 1 };
    }
    None
}

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Secrets(#[from] SecretsError),
    /// A failure on hosts or locally, with the Ruby class Kamal names for it.
    #[error("{message}")]
    Remote { class: &'static str, message: String },
    /// `Kamal::Cli::HookError`.
    #[error("{message}")]
    Hook { message: String },
    /// `Kamal::Cli::LockError`.
    #[error("{0}")]
    Lock(String),
    /// Thor's usage errors (stderr, no ERROR line).
    #[error("{0}")]
    Usage(String),
}

impl From<kamal_ssh::Error> for Failure {
    fn from(error: kamal_ssh::Error) -> Failure {
        Failure::Remote {
            class: error.ruby_class(),
            message: error.to_string(),
        }
    }
}

/// Kamal's main sequences: deploy, redeploy, rollback, prune.
fn run_sequence(
    name: &str,
    parsed: &args::Parsed,
    settings: &GlobalSettings,
    load_options: &LoadOptions,
    environment: system::SystemEnvironment,
) -> Result<(), Failure> {
    let subcommand = parsed.arguments.first().map(String::as_str);
    if name == "rollback" && subcommand.is_none() {
        return Err(Failure::Usage(
            "ERROR: \"kamal rollback\" was called with no arguments\nUsage: \"kamal rollback [VERSION]\""
                .into(),
        ));
    }
    if name == "prune" && !matches!(subcommand, Some("all" | "images" | "containers")) {
        return Err(Failure::Usage(format!(
            "Could not find command \"{}\" in \"prune\" namespace.",
            subcommand.unwrap_or_default()
        )));
    }
    let mut load_options = load_options.clone();
    if name == "rollback" {
        load_options.version = subcommand.map(String::from);
    }
    let commander = commands::context::commander(settings, &load_options, environment, name, None)?;
    let steps = commands::deploy::Steps {
        skip_push: parsed.flag("skip-push"),
        no_cache: parsed.flag("no-cache"),
        full: name == "deploy",
        boot_accessories: false,
    };
    match (name, subcommand) {
        ("deploy" | "redeploy", _) => commands::deploy::deploy(&commander, steps),
        ("rollback", Some(version)) => commands::deploy::rollback(&commander, version),
        ("prune", Some("images")) => commands::deploy::prune_images(&commander),
        ("prune", Some("containers")) => {
            let retain = parsed.text("retain").and_then(|text| text.parse().ok());
            commands::deploy::prune_containers(&commander, retain)
        }
        _ => commands::deploy::prune_all(&commander),
    }
}

/// Commands that work on hosts: resolve the subcommand, build the commander, run.
fn run_on_hosts(
    name: &str,
    parsed: &args::Parsed,
    settings: &GlobalSettings,
    load_options: &LoadOptions,
    environment: system::SystemEnvironment,
    printer: &Printer,
) -> Result<(), Failure> {
    let Some(subcommand) = parsed.arguments.first().map(String::as_str) else {
        // `group_builtin` answers this first.
        let columns = cli::help::terminal_columns();
        let listing = cli::help::group(name).map(|group| cli::help::group_listing(group, columns));
        printer.data(&listing.unwrap_or_default());
        return Ok(());
    };
    let known: &[&str] = match name {
        "accessory" => commands::accessory::SUBCOMMANDS,
        "app" => commands::app::SUBCOMMANDS,
        "build" => &["push", "pull", "deliver", "create", "remove", "details", "dev"],
        "lock" => &["status", "acquire", "release"],
        "proxy" => commands::proxy::SUBCOMMANDS,
        "registry" => &["setup", "login", "logout", "remove"],
        _ => &["exec", "bootstrap"],
    };
    if !known.contains(&subcommand) {
        return Err(Failure::Usage(format!(
            "Could not find command \"{subcommand}\" in \"{name}\" namespace."
        )));
    }
    if name == "lock" && subcommand == "acquire" && parsed.text("message").is_none() {
        return Err(Failure::Usage(
            "No value provided for required options '--message'".into(),
        ));
    }
    if name == "accessory" {
        commands::accessory::check_arguments(subcommand, &parsed.arguments[1..])?;
    }
    let commander =
        commands::context::commander(settings, load_options, environment, name, Some(subcommand))?;
    let rest = &parsed.arguments[1..];
    match (name, subcommand) {
        ("accessory", sub) => commands::accessory::dispatch(&commander, sub, parsed),
        ("app", sub) => commands::app::dispatch(&commander, sub, parsed),
        ("proxy", sub) => commands::proxy::dispatch(&commander, sub, parsed),
        ("lock", "status") => commands::lock::status(&commander),
        ("lock", "acquire") => {
            commands::lock::acquire(&commander, parsed.text("message").unwrap_or_default())
        }
        ("lock", "release") => commands::lock::release(&commander),
        ("server", "exec") => {
            if rest.is_empty() {
                return Err(Failure::Usage(
                    "No command provided. You must specify a command to execute.".into(),
                ));
            }
            commands::server::exec(&commander, rest, parsed.flag("interactive"), settings.quiet)
        }
        ("server", "bootstrap") => commands::server::bootstrap(&commander),
        ("registry", sub) => {
            let sides = commands::registry::Sides {
                skip_local: parsed.flag("skip-local"),
                skip_remote: parsed.flag("skip-remote"),
            };
            match sub {
                "setup" => commands::registry::setup(&commander, &sides, false),
                "login" => commands::registry::setup(&commander, &sides, true),
                "logout" => commands::registry::remove(&commander, &sides, true),
                _ => commands::registry::remove(&commander, &sides, false),
            }
        }
        ("build", "push") => commands::build::push(&commander, parsed.flag("no-cache")),
        ("build", "pull") => commands::build::pull(&commander),
        ("build", "deliver") => {
            commands::build::push(&commander, parsed.flag("no-cache"))?;
            commands::build::pull(&commander)
        }
        ("build", "dev") => commands::build::dev(&commander, parsed.text("output"), parsed.flag("no-cache")),
        ("build", "create") => commands::build::create(&commander),
        ("build", "remove") => commands::build::remove(&commander),
        (_, _) => commands::build::details(&commander),
    }
}

/// Prints an error as Kamal does, plus where it points for a person reading it.
fn report(printer: &Printer, failure: &Failure) {
    match failure {
        Failure::Config(error) => {
            printer.error(
                error.ruby_class().unwrap_or("Kamal::ConfigurationError"),
                &error.to_string(),
            );
            if let Some(location) = error.location() {
                printer.hint(&format!("--> {location}"));
            }
        }
        // Thor's own argument errors go to stderr without the ERROR line.
        Failure::Secrets(SecretsError::Usage(message)) | Failure::Usage(message) => {
            printer.diagnostic(message)
        }
        Failure::Remote { class, message } => printer.error(class, message),
        Failure::Hook { message } => printer.error("Kamal::Cli::HookError", message),
        Failure::Lock(message) => printer.error("Kamal::Cli::LockError", message),
        Failure::Secrets(error) => printer.error(secrets_error_class(error), &error.to_string()),
    }
}

/// The Ruby class Kamal shows for a secrets failure.
fn secrets_error_class(error: &SecretsError) -> &'static str {
    match error {
        SecretsError::NotFound { .. } | SecretsError::NoSecretFiles { .. } => "Kamal::ConfigurationError",
        SecretsError::Command(kamal_config::environment::CommandError::NotFound { .. }) => "Errno::ENOENT",
        SecretsError::UnsetVariable { .. } => "Dotenv::FormatError",
        SecretsError::InFile { source, .. } => secrets_error_class(source),
        _ => "RuntimeError",
    }
}
