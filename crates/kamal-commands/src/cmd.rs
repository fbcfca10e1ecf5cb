//! [`Cmd`]: one command as Kamal builds it — a list of words that SSHKit joins with spaces
//! into one shell string — plus optional standard input. Sensitive words (and stdin) are
//! kept apart so logs, `--dry-run` and errors show `[REDACTED]` while the host gets the
//! real value.

use kamal_config::secrets::Secret;

/// One word of a command line.
#[derive(Clone, PartialEq, Eq)]
pub enum Part {
    Plain(String),
    /// Shown as `redaction` (e.g. `[REDACTED]` or `KEY=[REDACTED]`), sent as `value`.
    Sensitive {
        value: Secret,
        redaction: String,
    },
}

impl std::fmt::Debug for Part {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Part::Plain(text) => write!(formatter, "{text:?}"),
            Part::Sensitive { redaction, .. } => write!(formatter, "{redaction:?}"),
        }
    }
}

/// Programs SSHKit runs as they are; every other single-word first element gets
/// `/usr/bin/env ` in front (Kamal maps only `docker`).
const COMMAND_MAP: &[&str] = &["docker"];

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Cmd {
    pub parts: Vec<Part>,
    /// Bytes written to the command's standard input (our `--password-stdin` logins).
    pub stdin: Option<Secret>,
}

impl Cmd {
    /// A command from plain words (each may itself hold spaces: SSHKit inserts it verbatim).
    pub fn new<I, S>(words: I) -> Cmd
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Cmd {
            parts: words.into_iter().map(|word| Part::Plain(word.into())).collect(),
            stdin: None,
        }
    }

    pub fn push(&mut self, word: impl Into<String>) -> &mut Cmd {
        self.parts.push(Part::Plain(word.into()));
        self
    }

    pub fn push_sensitive(&mut self, value: Secret, redaction: impl Into<String>) -> &mut Cmd {
        self.parts.push(Part::Sensitive {
            value,
            redaction: redaction.into(),
        });
        self
    }

    pub fn extend(&mut self, words: impl IntoIterator<Item = impl Into<String>>) -> &mut Cmd {
        for word in words {
            self.push(word);
        }
        self
    }

    /// [`Cmd::extend`] that hands the command back, for building in one expression.
    pub fn with_words(mut self, words: impl IntoIterator<Item = impl Into<String>>) -> Cmd {
        self.extend(words);
        self
    }

    pub fn with_stdin(mut self, input: Secret) -> Cmd {
        self.stdin = Some(input);
        self
    }

    /// `a && b`, `a || b`, `a | b`, `a; b` as Kamal's `combine`/`chain`/`pipe` build them.
    pub fn combine(commands: &[Cmd], by: &str) -> Cmd {
        let mut combined = Cmd::default();
        for (index, command) in commands.iter().enumerate() {
            if index > 0 {
                combined.push(by);
            }
            combined.parts.extend(command.parts.iter().cloned());
            if combined.stdin.is_none() {
                combined.stdin = command.stdin.clone();
            }
        }
        combined
    }

    /// Appends every part of `other` (its stdin, if any, when this one has none).
    pub fn append(&mut self, other: &Cmd) -> &mut Cmd {
        self.parts.extend(other.parts.iter().cloned());
        if self.stdin.is_none() {
            self.stdin = other.stdin.clone();
        }
        self
    }

    pub fn is_empty(&self) -> bool {
        self.parts.is_empty()
    }

    /// SSHKit's `execute(..., env:)`: `( export K="V" ; <command> )`, values with `"`
    /// escaped. The `/usr/bin/env ` rule applies to the inner command, as SSHKit maps the
    /// command before wrapping it; the wrapper's first word holds spaces, so it is not mapped
    /// again. SSHKit logs the two forms apart: `Running <command> on localhost` shows the
    /// command without the wrapper, the DEBUG `Command: ( export … )` line shows this one.
    pub fn with_env(&self, environment: &[(&str, &str)]) -> Cmd {
        if environment.is_empty() {
            return self.clone();
        }
        let assignments: Vec<String> = environment
            .iter()
            .map(|(key, value)| format!("{key}=\"{}\"", value.replace('"', "\\\"")))
            .collect();
        let mut opening = format!("( export {} ;", assignments.join(" "));
        if self.needs_env_prefix() {
            opening.push_str(" /usr/bin/env");
        }
        let mut wrapped = Cmd {
            parts: vec![Part::Plain(opening)],
            stdin: self.stdin.clone(),
        };
        wrapped.parts.extend(self.parts.iter().cloned());
        wrapped.push(")");
        wrapped
    }

    /// The words joined with spaces, secrets included, without the `/usr/bin/env ` prefix:
    /// the text Kamal embeds in another command (`sh -c '…'`, `ssh … '…'`).
    pub fn join_shell(&self) -> String {
        self.words(true).join(" ")
    }

    /// [`Cmd::join_shell`] with secrets redacted.
    pub fn join_display(&self) -> String {
        self.words(false).join(" ")
    }

    /// SSHKit's `should_map?`: a first word without whitespace that is not in the command map.
    fn needs_env_prefix(&self) -> bool {
        match self.parts.first() {
            Some(Part::Plain(first)) => {
                !first.contains(char::is_whitespace) && !COMMAND_MAP.contains(&first.as_str())
            }
            Some(Part::Sensitive { value, .. }) => !value.expose().contains(char::is_whitespace),
            None => false,
        }
    }

    fn words(&self, reveal: bool) -> Vec<String> {
        self.parts
            .iter()
            .map(|part| match part {
                Part::Plain(text) => text.clone(),
                Part::Sensitive { value, redaction } => {
                    if reveal {
                        value.expose().to_string()
                    } else {
                        redaction.clone()
                    }
                }
            })
            .collect()
    }

    fn render(&self, reveal: bool) -> String {
        let line = self.words(reveal).join(" ");
        if self.needs_env_prefix() {
            format!("/usr/bin/env {line}")
        } else {
            line
        }
    }

    /// The shell string sent to the host, secrets included. Never log this.
    pub fn to_shell(&self) -> String {
        self.render(true)
    }

    /// The shell string as printed (`Running … on host`, `--dry-run`): secrets redacted.
    pub fn to_display(&self) -> String {
        self.render(false)
    }
}

impl std::fmt::Display for Cmd {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(&self.to_display())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_runs_bare_and_other_programs_through_env() {
        assert_eq!(Cmd::new(["docker", "ps"]).to_display(), "docker ps");
        assert_eq!(
            Cmd::new(["mkdir", "-p", ".kamal"]).to_display(),
            "/usr/bin/env mkdir -p .kamal"
        );
        assert_eq!(Cmd::new(["sh -c 'x'"]).to_display(), "sh -c 'x'");
    }

    #[test]
    fn sensitive_parts_are_redacted_for_display_only() {
        let mut command = Cmd::new(["docker", "login", "-u"]);
        command.push_sensitive(Secret::new("user".to_string()), "[REDACTED]");
        assert_eq!(command.to_display(), "docker login -u [REDACTED]");
        assert_eq!(command.to_shell(), "docker login -u user");
        assert!(!format!("{command:?}").contains("user\""));
    }

    #[test]
    fn combine_joins_with_the_operator() {
        let combined = Cmd::combine(&[Cmd::new(["docker", "a"]), Cmd::new(["docker", "b"])], "||");
        assert_eq!(combined.to_display(), "docker a || docker b");
    }
}
