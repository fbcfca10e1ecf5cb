//! `Kamal::Commands::App::Execution` (`kamal app exec`): a command in the running
//! container (`docker exec`) or in a new one from the image (`docker run --rm`, or
//! `--detach`). For `-i`, wrap the command with [`crate::base::run_over_ssh`] on the
//! primary host, as Kamal's `*_over_ssh` do.

use kamal_config::configuration::ruby::argumentize;
use kamal_config::yaml::{Mapping, Node, Value};

use super::App;
use crate::base::docker;
use crate::cmd::Cmd;

/// Kamal asks `STDIN.isatty` for interactive commands; the caller does here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interactive {
    /// `-it`: stdin is a terminal.
    Tty,
    /// `-i`: stdin is piped.
    Pipe,
}

impl Interactive {
    pub fn flag(self) -> &'static str {
        match self {
            Interactive::Tty => "-it",
            Interactive::Pipe => "-i",
        }
    }
}

impl App<'_> {
    /// `docker exec [-it] [--env K="v"]… <container> <command>`.
    pub fn execute_in_existing_container(
        &self,
        command: &str,
        interactive: Option<Interactive>,
        env: &[(String, String)],
    ) -> Cmd {
        let mut exec = docker(["exec"]);
        if let Some(interactive) = interactive {
            exec.push(interactive.flag());
        }
        exec.extend(env_args(env));
        exec.extend([self.container_name(), command.to_string()]);
        exec
    }

    /// `docker run [-it] --rm|--detach --name <prefix>-exec-<version>-<hex> --network
    /// kamal <role env> [--env K="v"]… <logging> <volumes> <options> <image> <command>`.
    /// `hex` is the caller's 6 random hex digits.
    pub fn execute_in_new_container(
        &self,
        command: &str,
        interactive: Option<Interactive>,
        detach: bool,
        env: &[(String, String)],
        hex: &str,
    ) -> Cmd {
        let mut run = docker(["run"]);
        if let Some(interactive) = interactive {
            run.push(interactive.flag());
        }
        run.push(if detach { "--detach" } else { "--rm" });
        run.extend([
            "--name".to_string(),
            format!("{}-exec-{}-{hex}", self.role.container_prefix(), self.version),
            "--network".to_string(),
            "kamal".to_string(),
        ]);
        run.extend(self.role.env_args(self.host));
        run.extend(env_args(env));
        run.extend(self.role.logging_args());
        run.extend(self.config.volume_args());
        run.extend(self.role.option_args());
        run.extend([self.config.absolute_image(self.version), command.to_string()]);
        run
    }
}

/// `--env K="v"` for `-e K=v` options (escaped as Kamal's `argumentize` does; a blank
/// value gives the bare key).
pub(crate) fn env_args(env: &[(String, String)]) -> Vec<String> {
    let mut mapping = Mapping::new();
    for (key, value) in env {
        mapping.insert(
            Node::synthetic(Value::String(key.clone())),
            Node::synthetic(Value::String(value.clone())),
        );
    }
    argumentize("--env", &Value::Mapping(mapping))
}
