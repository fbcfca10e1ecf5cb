//! The outside world as configuration loading sees it: environment variables, the
//! project's files, and shell commands run from ERB backticks or `$(...)` in secrets.
//!
//! Loading never touches the process directly; it goes through [`Environment`], so tests
//! drive it with [`MapEnvironment`] and the CLI with a real implementation. Ruby's ERB can
//! change `ENV` (`Dotenv.load`), and later stages (secrets) see that change, so the
//! environment is one mutable value threaded through the whole load.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What a finished command gave back. `stderr` is not captured: like Ruby backticks and
/// dotenv's `$(...)`, a command's stderr goes straight to ours.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandOutput {
    pub stdout: String,
    pub status: i32,
}

/// Why a command did not run at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    /// The program was not found (Ruby raises `Errno::ENOENT` with the program name).
    #[error("No such file or directory - {program}")]
    NotFound { program: String },
    /// Anything else the operating system refused.
    #[error("{message}")]
    Other { message: String },
}

/// How Ruby's `Kernel#spawn` family (backticks, `%x()`) runs a command string: through
/// `/bin/sh -c` when it contains shell syntax, otherwise directly, split on blanks. The
/// difference is visible to users: a missing program raises `Errno::ENOENT` when run
/// directly, but only prints `sh: 1: x: not found` and yields "" through the shell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpawnPlan {
    Shell(String),
    Direct(Vec<String>),
}

/// Reserved words and special built-ins that make Ruby use the shell (from `process.c`).
const POSIX_SHELL_COMMANDS: &[&str] = &[
    "!", ".", ":", "break", "case", "continue", "do", "done", "elif", "else", "esac", "eval", "exec", "exit",
    "export", "fi", "for", "if", "in", "readonly", "return", "set", "shift", "then", "times", "trap",
    "unset", "until", "while",
];

impl SpawnPlan {
    /// Mirrors `rb_exec_fillarg`: meta characters, an `=` in the first word, or a first word
    /// that is a shell reserved word or special built-in all mean "use the shell".
    pub fn for_command(command: &str) -> SpawnPlan {
        const META: &str = "*?{}[]<>()~&|\\$;'`\"\n#";
        let mut first_word_done = false;
        let mut first_word = String::new();
        for character in command.chars() {
            if META.contains(character) {
                return SpawnPlan::Shell(command.to_string());
            }
            if character == ' ' || character == '\t' {
                if !first_word.is_empty() {
                    first_word_done = true;
                }
                continue;
            }
            if !first_word_done {
                if character == '=' {
                    return SpawnPlan::Shell(command.to_string());
                }
                first_word.push(character);
            }
        }
        if !first_word.contains('/') && POSIX_SHELL_COMMANDS.contains(&first_word.as_str()) {
            return SpawnPlan::Shell(command.to_string());
        }
        SpawnPlan::Direct(
            command
                .split([' ', '\t'])
                .filter(|word| !word.is_empty())
                .map(String::from)
                .collect(),
        )
    }
}

/// Everything configuration loading may ask of the outside world.
pub trait Environment {
    /// `ENV[name]`.
    fn var(&self, name: &str) -> Option<String>;
    /// `ENV[name] = value` (Dotenv.load in ERB, `KAMAL_DESTINATION`); visible to later reads.
    fn set_var(&mut self, name: &str, value: &str);
    /// `ENV.delete(name)`.
    fn remove_var(&mut self, name: &str);
    /// All variables, sorted by name (for `ENV.to_h`-like uses and hooks).
    fn vars(&self) -> BTreeMap<String, String>;
    /// Run a command the way Ruby would (see [`SpawnPlan`]), stdout captured.
    fn run_command(&mut self, plan: &SpawnPlan) -> Result<CommandOutput, CommandError>;
    /// Read a project file; relative paths are taken from [`Environment::current_dir`].
    fn read_file(&self, path: &Path) -> std::io::Result<String>;
    /// Whether a path exists (relative to [`Environment::current_dir`]).
    fn file_exists(&self, path: &Path) -> bool;
    /// The working directory the command was started in.
    fn current_dir(&self) -> &Path;

    /// A path made absolute against the working directory.
    fn absolute(&self, path: &Path) -> PathBuf {
        if path.is_absolute() {
            path.to_path_buf()
        } else {
            self.current_dir().join(path)
        }
    }
}

/// An in-memory environment for tests: variables in a map, files in a map, and commands
/// answered from a map of `command string -> output` (unknown commands are "not found").
#[derive(Debug, Clone, Default)]
pub struct MapEnvironment {
    pub variables: BTreeMap<String, String>,
    pub files: BTreeMap<PathBuf, String>,
    pub commands: BTreeMap<String, CommandOutput>,
    pub directory: PathBuf,
    /// Every command run, in order, as its original string.
    pub commands_run: Vec<String>,
}

impl MapEnvironment {
    pub fn new() -> Self {
        MapEnvironment {
            directory: PathBuf::from("/project"),
            ..Default::default()
        }
    }

    pub fn with_var(mut self, name: &str, value: &str) -> Self {
        self.variables.insert(name.to_string(), value.to_string());
        self
    }

    pub fn with_file(mut self, path: &str, contents: &str) -> Self {
        let path = self.absolute(Path::new(path));
        self.files.insert(path, contents.to_string());
        self
    }

    pub fn with_command(mut self, command: &str, stdout: &str, status: i32) -> Self {
        self.commands.insert(
            command.to_string(),
            CommandOutput {
                stdout: stdout.to_string(),
                status,
            },
        );
        self
    }
}

impl Environment for MapEnvironment {
    fn var(&self, name: &str) -> Option<String> {
        self.variables.get(name).cloned()
    }

    fn set_var(&mut self, name: &str, value: &str) {
        self.variables.insert(name.to_string(), value.to_string());
    }

    fn remove_var(&mut self, name: &str) {
        self.variables.remove(name);
    }

    fn vars(&self) -> BTreeMap<String, String> {
        self.variables.clone()
    }

    fn run_command(&mut self, plan: &SpawnPlan) -> Result<CommandOutput, CommandError> {
        let command = match plan {
            SpawnPlan::Shell(command) => command.clone(),
            SpawnPlan::Direct(words) => words.join(" "),
        };
        self.commands_run.push(command.clone());
        match (self.commands.get(&command), plan) {
            (Some(output), _) => Ok(output.clone()),
            (None, SpawnPlan::Direct(words)) => Err(CommandError::NotFound {
                program: words.first().cloned().unwrap_or_default(),
            }),
            (None, SpawnPlan::Shell(_)) => Ok(CommandOutput {
                stdout: String::new(),
                status: 127,
            }),
        }
    }

    fn read_file(&self, path: &Path) -> std::io::Result<String> {
        self.files
            .get(&self.absolute(path))
            .cloned()
            .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, "No such file or directory"))
    }

    fn file_exists(&self, path: &Path) -> bool {
        self.files.contains_key(&self.absolute(path))
    }

    fn current_dir(&self) -> &Path {
        &self.directory
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_commands_run_directly() {
        assert_eq!(
            SpawnPlan::for_command("aws ecr get-login-password"),
            SpawnPlan::Direct(vec!["aws".into(), "ecr".into(), "get-login-password".into()])
        );
        assert_eq!(
            SpawnPlan::for_command("./registry_password.sh"),
            SpawnPlan::Direct(vec!["./registry_password.sh".into()])
        );
    }

    #[test]
    fn shell_syntax_goes_through_the_shell() {
        for command in [
            "git describe --tags --always 2>/dev/null || echo dev",
            "AWS_PROFILE=privr aws ecr get-login-password",
            "echo $HOME",
            "exit 3",
            "cat 'a b'",
        ] {
            assert_eq!(
                SpawnPlan::for_command(command),
                SpawnPlan::Shell(command.into()),
                "{command}"
            );
        }
    }

    #[test]
    fn an_equals_sign_after_the_first_word_does_not_need_a_shell() {
        assert_eq!(
            SpawnPlan::for_command("docker run a=b"),
            SpawnPlan::Direct(vec!["docker".into(), "run".into(), "a=b".into()])
        );
    }
}
