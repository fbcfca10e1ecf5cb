//! The real [`Environment`]: the process environment (copied once at start, so ERB's
//! `Dotenv.load` changes only our view, as Ruby's `ENV` would for Kamal), the file system,
//! and commands run the way Ruby runs backticks.

use std::collections::BTreeMap;
use std::io::ErrorKind;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use kamal_config::environment::{CommandError, CommandOutput, Environment, SpawnPlan};

#[derive(Clone)]
pub struct SystemEnvironment {
    variables: BTreeMap<String, String>,
    directory: PathBuf,
}

impl SystemEnvironment {
    pub fn from_process() -> std::io::Result<SystemEnvironment> {
        Ok(SystemEnvironment {
            variables: std::env::vars().collect(),
            directory: std::env::current_dir()?,
        })
    }
}

impl Environment for SystemEnvironment {
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
        let mut command = match plan {
            SpawnPlan::Shell(line) => {
                // Ruby runs `/bin/sh` as `sh`, which is how the shell names itself in errors.
                let mut command = Command::new("/bin/sh");
                command.arg0("sh").arg("-c").arg(line);
                command
            }
            SpawnPlan::Direct(words) => {
                let Some((program, arguments)) = words.split_first() else {
                    return Err(CommandError::NotFound {
                        program: String::new(),
                    });
                };
                let mut command = Command::new(program);
                command.args(arguments);
                command
            }
        };
        command
            .env_clear()
            .envs(&self.variables)
            .current_dir(&self.directory);
        // stderr is the user's, as with Ruby backticks; stdin too.
        command
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .stdin(Stdio::inherit());
        match command.output() {
            Ok(output) => Ok(CommandOutput {
                stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
                status: output.status.code().unwrap_or(-1),
            }),
            Err(error) if error.kind() == ErrorKind::NotFound => {
                let program = match plan {
                    SpawnPlan::Direct(words) => words.first().cloned().unwrap_or_default(),
                    SpawnPlan::Shell(_) => "/bin/sh".to_string(),
                };
                Err(CommandError::NotFound { program })
            }
            Err(error) => Err(CommandError::Other {
                message: error.to_string(),
            }),
        }
    }

    fn read_file(&self, path: &Path) -> std::io::Result<String> {
        std::fs::read_to_string(self.absolute(path))
    }

    fn file_exists(&self, path: &Path) -> bool {
        self.absolute(path).exists()
    }

    fn current_dir(&self) -> &Path {
        &self.directory
    }
}
