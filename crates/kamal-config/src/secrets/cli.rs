//! The `kamal secrets` subcommands (`Kamal::Cli::Secrets`) as pure functions: [`fetch`],
//! [`extract`] and [`print`], plus the Thor-like argument reading they share. The CLI calls
//! them and prints the result with a trailing newline (`puts`); secrets files call them in
//! process through [`run_inline`] for `$(kamal secrets ...)`, which appends `--inline`.

use super::adapters;
use super::error::SecretsError;
use super::files::Secrets;
use super::sensitive::Secret;
use super::shellwords;
use crate::environment::Environment;

/// A parsed `kamal secrets ...` command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretsCommand {
    Fetch {
        adapter: String,
        account: Option<String>,
        from: Option<String>,
        secrets: Vec<String>,
        inline: bool,
    },
    Extract {
        name: String,
        secrets: Secret,
        inline: bool,
    },
    Print,
}

/// Options Thor knows for `kamal secrets` commands: the subcommand's own and Kamal's class
/// options (`-v`, `-d`, ...), which are accepted and ignored here. `true` = takes a value.
const CLASS_OPTIONS: &[(&str, Option<char>, bool)] = &[
    ("verbose", Some('v'), false),
    ("quiet", Some('q'), false),
    ("version", None, true),
    ("primary", Some('p'), false),
    ("hosts", Some('h'), true),
    ("roles", Some('r'), true),
    ("config-file", Some('c'), true),
    ("destination", Some('d'), true),
    ("skip-hooks", Some('H'), false),
];

#[derive(Default)]
struct ParsedArguments {
    positional: Vec<String>,
    adapter: Option<String>,
    account: Option<String>,
    from: Option<String>,
    inline: bool,
}

/// Reads options the way Thor does for these commands: `--name value`, `--name=value`,
/// `-x value`, `--[no-|skip-]flag`; unknown options stay positional; `--` ends options.
fn read_arguments(
    arguments: &[String],
    command_options: &[(&str, Option<char>, bool)],
) -> Result<ParsedArguments, SecretsError> {
    let mut parsed = ParsedArguments::default();
    let mut index = 0;
    while index < arguments.len() {
        let argument = &arguments[index];
        index += 1;
        if argument == "--" {
            parsed.positional.extend(arguments[index..].iter().cloned());
            break;
        }
        let (name, attached_value) = if let Some(long) = argument.strip_prefix("--") {
            match long.split_once('=') {
                Some((name, value)) => (name.to_string(), Some(value.to_string())),
                None => (long.to_string(), None),
            }
        } else if argument.len() == 2 && argument.starts_with('-') {
            let short = argument.chars().nth(1);
            match command_options
                .iter()
                .chain(CLASS_OPTIONS)
                .find(|(_, alias, _)| *alias == short)
            {
                Some((name, _, _)) => (name.to_string(), None),
                None => {
                    parsed.positional.push(argument.clone());
                    continue;
                }
            }
        } else {
            parsed.positional.push(argument.clone());
            continue;
        };
        let negated = name.strip_prefix("no-").or_else(|| name.strip_prefix("skip-"));
        let known = command_options
            .iter()
            .chain(CLASS_OPTIONS)
            .find(|(option, _, _)| *option == name);
        match known {
            Some((option, _, true)) => {
                let value = match attached_value {
                    Some(value) => value,
                    None => match arguments.get(index) {
                        Some(value) if !value.starts_with('-') => {
                            index += 1;
                            value.clone()
                        }
                        _ => {
                            return Err(SecretsError::Usage(format!(
                                "No value provided for option '--{option}'"
                            )))
                        }
                    },
                };
                match *option {
                    "adapter" => parsed.adapter = Some(value),
                    "account" => parsed.account = Some(value),
                    "from" => parsed.from = Some(value),
                    _ => {}
                }
            }
            Some((option, _, false)) => {
                if *option == "inline" {
                    parsed.inline = true;
                }
            }
            None => match negated.and_then(|base| {
                command_options
                    .iter()
                    .chain(CLASS_OPTIONS)
                    .find(|(option, _, value)| *option == base && !value)
            }) {
                Some((option, _, _)) => {
                    if *option == "inline" {
                        parsed.inline = false;
                    }
                }
                None => parsed.positional.push(argument.clone()),
            },
        }
    }
    Ok(parsed)
}

fn wrong_arguments(command: &str, count: usize) -> SecretsError {
    // Thor lists the arguments; they may hold secrets, so only their number is given.
    SecretsError::Usage(format!(
        "\"kamal secrets {command}\" was called with {count} arguments\nUsage: \"kamal secrets {command}\""
    ))
}

/// Parses the arguments after `kamal secrets`.
pub fn parse_arguments(arguments: &[String]) -> Result<SecretsCommand, SecretsError> {
    let Some((subcommand, rest)) = arguments.split_first() else {
        return Err(SecretsError::Usage("Commands: fetch, extract, print".to_string()));
    };
    match subcommand.as_str() {
        "fetch" => {
            let options = [
                ("adapter", Some('a'), true),
                ("account", None, true),
                ("from", None, true),
                ("inline", None, false),
            ];
            let parsed = read_arguments(rest, &options)?;
            let adapter = parsed.adapter.ok_or_else(|| {
                SecretsError::Usage("No value provided for required options '--adapter'".to_string())
            })?;
            Ok(SecretsCommand::Fetch {
                adapter,
                account: parsed.account,
                from: parsed.from,
                secrets: parsed.positional,
                inline: parsed.inline,
            })
        }
        "extract" => {
            let parsed = read_arguments(rest, &[("inline", None, false)])?;
            match <[String; 2]>::try_from(parsed.positional) {
                Ok([name, secrets]) => Ok(SecretsCommand::Extract {
                    name,
                    secrets: Secret::new(secrets),
                    inline: parsed.inline,
                }),
                Err(positional) => Err(wrong_arguments("extract", positional.len())),
            }
        }
        "print" => {
            let parsed = read_arguments(rest, &[])?;
            if parsed.positional.is_empty() {
                Ok(SecretsCommand::Print)
            } else {
                Err(wrong_arguments("print", parsed.positional.len()))
            }
        }
        other => Err(SecretsError::Usage(format!(
            "Could not find command {other:?} in \"secrets\" namespace."
        ))),
    }
}

/// `kamal secrets fetch`: the fetched secrets as JSON, shell-escaped when `inline` so that
/// `$SECRETS` later splits back into one argument. Without an account for an adapter that
/// needs one this is [`SecretsError::MissingAccount`], which Kamal prints on stdout and
/// exits 0.
pub fn fetch(
    adapter: &str,
    secrets: &[String],
    account: Option<&str>,
    from: Option<&str>,
    inline: bool,
    environment: &mut dyn Environment,
) -> Result<Secret, SecretsError> {
    let adapter = adapters::lookup(adapter)?;
    if adapter.requires_account() && account.is_none_or(adapters::is_blank) {
        return Err(SecretsError::MissingAccount);
    }
    let json = adapters::fetch(adapter.as_ref(), secrets, account, from, environment)?.to_json();
    Ok(if inline {
        Secret::new(shellwords::escape(json.expose()))
    } else {
        json
    })
}

/// `kamal secrets extract NAME JSON`: the value under `NAME`, else under the first key
/// ending in `/NAME`.
pub fn extract(name: &str, secrets: &Secret) -> Result<Secret, SecretsError> {
    let not_found = || SecretsError::failed(format!("Could not find secret {name}"));
    let object = adapters::parse_json_object(secrets.expose())
        .map_err(|error| SecretsError::failed(format!("Could not parse the secrets JSON: {error}")))?
        .ok_or_else(not_found)?;
    let truthy = |value: &&serde_json::Value| {
        !matches!(value, serde_json::Value::Null | serde_json::Value::Bool(false))
    };
    let suffix = format!("/{name}");
    let value = object
        .get(name)
        .filter(truthy)
        .or_else(|| {
            object
                .iter()
                .find(|(key, _)| key.ends_with(&suffix))
                .map(|(_, value)| value)
        })
        .filter(|value| !value.is_null())
        .ok_or_else(not_found)?;
    Ok(Secret::new(match value {
        serde_json::Value::String(text) => text.clone(),
        other => other.to_string(),
    }))
}

/// `kamal secrets print`: `KEY=value` lines for every merged secret.
pub fn print(secrets: &Secrets) -> Secret {
    let mut printed = String::new();
    for (key, value) in secrets.to_map() {
        printed.push_str(key);
        printed.push('=');
        printed.push_str(value.expose());
        if !printed.ends_with('\n') {
            printed.push('\n');
        }
    }
    Secret::new(printed)
}

/// `Kamal::Cli::Main.start(words + ["--inline"])` for `$(kamal secrets ...)`; `words` are
/// the command's words after `kamal`.
pub fn run_inline(words: &[String], environment: &mut dyn Environment) -> Result<Secret, SecretsError> {
    let rest = match words.split_first() {
        Some((command, rest)) if command == "secrets" => rest,
        _ => {
            let command = words.first().map_or("", String::as_str);
            return Err(SecretsError::Usage(format!(
                "Could not find command {command:?}."
            )));
        }
    };
    let mut arguments = rest.to_vec();
    arguments.push("--inline".to_string());
    match parse_arguments(&arguments)? {
        SecretsCommand::Fetch {
            adapter,
            account,
            from,
            secrets,
            inline,
        } => fetch(
            &adapter,
            &secrets,
            account.as_deref(),
            from.as_deref(),
            inline,
            environment,
        ),
        SecretsCommand::Extract { name, secrets, .. } => extract(&name, &secrets),
        SecretsCommand::Print => Err(wrong_arguments("print", 1)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::environment::MapEnvironment;

    fn arguments(line: &str) -> Vec<String> {
        shellwords::split(line).expect("splits")
    }

    fn run(line: &str) -> Result<String, String> {
        match parse_arguments(&arguments(line)).map_err(|error| error.to_string())? {
            SecretsCommand::Fetch {
                adapter,
                account,
                from,
                secrets,
                inline,
            } => fetch(
                &adapter,
                &secrets,
                account.as_deref(),
                from.as_deref(),
                inline,
                &mut MapEnvironment::new(),
            ),
            SecretsCommand::Extract { name, secrets, .. } => extract(&name, &secrets),
            SecretsCommand::Print => Ok(Secret::new("print")),
        }
        .map(Secret::into_exposed)
        .map_err(|error| error.to_string())
    }

    /// Outputs pinned from the Kamal 2.11 binary (without `puts`' newline).
    #[test]
    fn fetch_matches_kamal() {
        assert_eq!(
            run("fetch -a test --account x --from y A B"),
            Ok(r#"{"y/A":"A/y","y/B":"B/y"}"#.into())
        );
        assert_eq!(
            run("fetch -a test --account x --from y A B --inline"),
            Ok(r#"\{\"y/A\":\"A/y\",\"y/B\":\"B/y\"\}"#.into())
        );
        assert_eq!(
            run("fetch -a test --from y A B"),
            Err("No value provided for required options '--account'".into())
        );
        assert_eq!(
            run("fetch A"),
            Err("No value provided for required options '--adapter'".into())
        );
        assert_eq!(
            run("fetch -a nope A"),
            Err("Unknown secrets adapter: nope".into())
        );
        assert_eq!(
            run("fetch -a 1password --account x A"),
            Err("1Password CLI is not installed".into())
        );
        assert_eq!(
            run("fetch -a test --account x A --foo"),
            Ok(r#"{"A":"A","--foo":"oof--"}"#.into())
        );
        assert_eq!(
            run("fetch -a test --account x A -- --foo"),
            Ok(r#"{"A":"A","--foo":"oof--"}"#.into())
        );
        assert_eq!(
            run("fetch -a test --account x A -d foo -x"),
            Ok(r#"{"A":"A","-x":"x-"}"#.into())
        );
        assert_eq!(
            run("fetch --adapter=test --account=x --from=z Q --no-inline"),
            Ok(r#"{"z/Q":"Q/z"}"#.into())
        );
        assert_eq!(
            run("fetch --account x A -a"),
            Err("No value provided for option '--adapter'".into())
        );
        assert_eq!(
            run("fetch -a test --account x 'LPARENq wRPAREN' --from 'a b' --inline"),
            Ok(r#"\{\"a\ b/LPARENq\ wRPAREN\":\"\)w\ q\(/b\ a\"\}"#.into())
        );
    }

    /// Outputs pinned from the Kamal 2.11 binary.
    #[test]
    fn extract_matches_kamal() {
        let json = r#"'{"y/A":"A/y","y/B":"B/y"}'"#;
        assert_eq!(run(&format!("extract B {json}")), Ok("B/y".into()));
        assert_eq!(run(&format!("extract y/A {json} --inline")), Ok("A/y".into()));
        assert_eq!(
            run(&format!("extract C {json}")),
            Err("Could not find secret C".into())
        );
        assert_eq!(run(r#"extract A '{"A":5}'"#), Ok("5".into()));
        assert_eq!(run(r#"extract A '{"A":null, "x/A": "q"}'"#), Ok("q".into()));
        assert!(run(&format!("extract A {json} --foo"))
            .is_err_and(|error| error.starts_with("\"kamal secrets extract\" was called with 3")));
        assert!(run("extract A").is_err());
    }

    #[test]
    fn inline_commands_append_inline_and_refuse_print() {
        let mut environment = MapEnvironment::new();
        let fetched = run_inline(
            &arguments("secrets fetch -a test --account x --from y A"),
            &mut environment,
        )
        .expect("fetches");
        assert_eq!(fetched.expose(), r#"\{\"y/A\":\"A/y\"\}"#);
        let error =
            run_inline(&arguments("secrets print"), &mut environment).expect_err("print takes no arguments");
        assert!(error
            .to_string()
            .starts_with("\"kamal secrets print\" was called with 1 arguments"));
    }
}
