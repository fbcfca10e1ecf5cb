//! What happens to an unquoted or double-quoted dotenv value after unescaping, in the order
//! dotenv applies its substitutions with Kamal's replacement installed:
//!
//! 1. [`commands`] (`Kamal::Secrets::Dotenv::InlineCommandSubstitution`): each `$(...)`,
//!    balanced and with backslash-escaped characters, is variable-substituted, then run —
//!    in process when it is `kamal secrets ...`, otherwise like Ruby backticks — and
//!    replaced by its output minus one trailing newline. `\$(...)` stays as `$(...)`.
//! 2. [`variables`] (`Dotenv::Substitutions::Variable`) over the whole value, command
//!    output included: `$NAME`, `${NAME}` from keys parsed so far in the same file, then
//!    the environment, else empty; `\$NAME` stays as `$NAME`.

use indexmap::IndexMap;

use super::cli;
use super::dotenv::ParsedFile;
use super::error::SecretsError;
use super::ruby;
use super::sensitive::Secret;
use super::shellwords;
use crate::environment::{Environment, SpawnPlan};

/// A `$(...)` command that exited non-zero. Kamal (through Ruby backticks) ignores the status
/// and uses whatever the command printed; this record lets the CLI warn. The command text is
/// not kept: after substitution it may contain secrets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandFailure {
    pub file: String,
    pub key: String,
    pub status: i32,
}

impl std::fmt::Display for CommandFailure {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            formatter,
            "the command for {} in {} exited with status {}",
            self.key, self.file, self.status
        )
    }
}

/// The end (exclusive) of a balanced `(...)` starting at `open`, following
/// `\((?:\\.|[^()\\]|\g<cmd>)+\)`: every group non-empty, `\` escapes any character but a
/// newline. That expression never needs to backtrack, so one pass decides it.
fn group_end(characters: &[char], open: usize) -> Option<usize> {
    // One flag per open group: has it matched anything yet?
    let mut groups = vec![false];
    let mut index = open + 1;
    loop {
        match characters.get(index)? {
            '\\' => match characters.get(index + 1) {
                Some(&next) if next != '\n' => index += 2,
                _ => return None,
            },
            '(' => {
                groups.push(false);
                index += 1;
                continue;
            }
            ')' => {
                if !groups.pop()? {
                    return None;
                }
                if groups.is_empty() {
                    return Some(index + 1);
                }
                index += 1;
            }
            _ => index += 1,
        }
        if let Some(current) = groups.last_mut() {
            *current = true;
        }
    }
}

/// Step 1: command substitution over `value`.
pub fn commands(
    value: &str,
    key: &str,
    parsed: &mut ParsedFile,
    environment: &mut dyn Environment,
) -> Result<String, SecretsError> {
    let characters: Vec<char> = value.chars().collect();
    let mut result = String::with_capacity(value.len());
    let mut index = 0;
    while index < characters.len() {
        let escaped = characters[index] == '\\';
        let dollar = if escaped { index + 1 } else { index };
        let group = (characters.get(dollar) == Some(&'$') && characters.get(dollar + 1) == Some(&'('))
            .then(|| group_end(&characters, dollar + 1))
            .flatten();
        match group {
            Some(end) if escaped => {
                result.extend(&characters[dollar..end]);
                index = end;
            }
            Some(end) => {
                let command: String = characters[dollar + 2..end - 1].iter().collect();
                let command = variables(&command, &parsed.values, &*environment);
                result.push_str(&run(&command, key, parsed, environment)?);
                index = end;
            }
            None => {
                result.push(characters[index]);
                index += 1;
            }
        }
    }
    Ok(result)
}

/// `/\A\s*kamal\s*secrets\s+/`.
fn is_inline_secrets_command(command: &str) -> bool {
    let is_space = |character: char| matches!(character, ' ' | '\t' | '\n' | '\u{b}' | '\u{c}' | '\r');
    let rest = command.trim_start_matches(is_space);
    let Some(rest) = rest.strip_prefix("kamal") else {
        return false;
    };
    let Some(rest) = rest.trim_start_matches(is_space).strip_prefix("secrets") else {
        return false;
    };
    rest.starts_with(is_space)
}

fn run(
    command: &str,
    key: &str,
    parsed: &mut ParsedFile,
    environment: &mut dyn Environment,
) -> Result<String, SecretsError> {
    if is_inline_secrets_command(command) {
        let words = shellwords::split(command).map_err(|_| SecretsError::UnmatchedQuote)?;
        let output = cli::run_inline(words.get(1..).unwrap_or_default(), environment)?;
        return Ok(ruby::chomp(output.into_exposed()));
    }
    let output = environment.run_command(&SpawnPlan::for_command(command))?;
    if output.status != 0 {
        parsed.command_failures.push(CommandFailure {
            file: String::new(),
            key: key.to_string(),
            status: output.status,
        });
    }
    Ok(ruby::chomp(output.stdout))
}

/// Step 2: `$NAME` / `${NAME}` substitution, following
/// `(\\)?(\$)(?!\()\{?([A-Z0-9_]+)?\}?` (case-insensitive): braces are optional on either
/// side, and a `$` with no name stays as written.
pub fn variables(value: &str, values: &IndexMap<String, Secret>, environment: &dyn Environment) -> String {
    let characters: Vec<char> = value.chars().collect();
    let is_name = |character: &char| character.is_ascii_alphanumeric() || *character == '_';
    let mut result = String::with_capacity(value.len());
    let mut index = 0;
    while index < characters.len() {
        let escaped = characters[index] == '\\';
        let dollar = if escaped { index + 1 } else { index };
        if characters.get(dollar) != Some(&'$') || characters.get(dollar + 1) == Some(&'(') {
            result.push(characters[index]);
            index += 1;
            continue;
        }
        let mut end = dollar + 1;
        if characters.get(end) == Some(&'{') {
            end += 1;
        }
        let name_start = end;
        while characters.get(end).is_some_and(is_name) {
            end += 1;
        }
        let name: String = characters[name_start..end].iter().collect();
        if characters.get(end) == Some(&'}') {
            end += 1;
        }
        if escaped || name.is_empty() {
            result.extend(&characters[dollar..end]);
        } else if let Some(value) = values.get(&name) {
            result.push_str(value.expose());
        } else if let Some(value) = environment.var(&name) {
            result.push_str(&value);
        }
        index = end;
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::environment::MapEnvironment;

    fn known(pairs: &[(&str, &str)]) -> IndexMap<String, Secret> {
        pairs
            .iter()
            .map(|(key, value)| (key.to_string(), Secret::new(*value)))
            .collect()
    }

    #[test]
    fn variables_prefer_the_file_then_the_environment() {
        let environment = MapEnvironment::new().with_var("A", "env").with_var("B", "env-b");
        let values = known(&[("A", "file")]);
        assert_eq!(
            variables(
                "$A ${B} $C. \\$A \\${A} $ ${} $(x) $A}x ${Ab",
                &values,
                &environment
            ),
            "file env-b . $A ${A} $ ${} $(x) filex "
        );
    }

    #[test]
    fn group_matching_balances_and_escapes() {
        let group = |text: &str| group_end(&text.chars().collect::<Vec<_>>(), 0);
        assert_eq!(group("(a(b)c)d"), Some(7));
        assert_eq!(group("(a\\)b)"), Some(6));
        assert_eq!(group("()"), None);
        assert_eq!(group("(a()b)"), None);
        assert_eq!(group("(a"), None);
        assert_eq!(group("(a\\\n)"), None);
    }

    #[test]
    fn inline_command_detection() {
        assert!(is_inline_secrets_command(" kamal secrets fetch"));
        assert!(is_inline_secrets_command("kamalsecrets x"));
        assert!(!is_inline_secrets_command("kamal secrets"));
        assert!(!is_inline_secrets_command("kamal secretsx y"));
        assert!(!is_inline_secrets_command("bin/kamal secrets x"));
    }
}
