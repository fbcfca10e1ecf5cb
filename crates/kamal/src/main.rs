//! `kamal`: parse the command line, run the command, turn the outcome into an exit code.

mod assets;
mod cli;
mod commands;
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
        printer.data(&cli::help_text());
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
    let parsed = match args::parse(&rest, spec.options) {
        Ok(parsed) => parsed,
        Err(error) => {
            Printer::new(false, false).diagnostic(&error.to_string());
            return ExitCode::FAILURE;
        }
    };
    let settings = GlobalSettings::from_parsed(&parsed);
    let printer = Printer::new(settings.verbose, settings.quiet);
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
        "help" => {
            match parsed.arguments.first().map(|word| cli::resolve(word)) {
                Some(Resolution::Command(command)) => printer.data(&cli::command_help(command)),
                _ => printer.data(&cli::help_text()),
            }
            Ok(())
        }
        "init" => {
            let directory = kamal_config::Environment::current_dir(&environment).to_path_buf();
            commands::init::run(&printer, &directory, parsed.flag("bundle"))
                .map_err(|error| Failure::from(ConfigError::io(directory, &error)))
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
        Failure::Secrets(SecretsError::Usage(message)) => printer.diagnostic(message),
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
