//! Hooks: executables under `hooks_path` run on the deployer's machine with the `KAMAL_*`
//! details (and, for pre-connect/pre-deploy/post-deploy, the secrets) in their
//! environment. A failing hook stops the command with Kamal's `HookError`.

use std::process::{Command, Stdio};
use std::time::Instant;

use kamal_commands::hook::{self, HookDetails, HOOKS_WITH_SECRETS};
use kamal_config::configuration::HooksOutput;
use kamal_ssh::Level;

use super::Commander;
use crate::Failure;

/// What a particular hook call adds (`KAMAL_HOSTS` for a boot group, `KAMAL_RUNTIME`).
#[derive(Debug, Clone, Default)]
pub struct Extra {
    pub hosts: Option<Vec<String>>,
    pub runtime: Option<u64>,
}

impl Commander {
    pub fn hook_exists(&self, name: &str) -> bool {
        let path = hook::hook_file(&self.config, name);
        kamal_config::Environment::file_exists(&self.environment, std::path::Path::new(&path))
    }

    /// `Cli::Base#run_hook`: runs `name` if it exists and hooks are not skipped.
    pub fn run_hook(&self, name: &str, extra: &Extra) -> Result<(), Failure> {
        if self.settings.skip_hooks || !self.hook_exists(name) {
            return Ok(());
        }
        // A hook may stop or start containers: what was read before it is stale.
        self.forget_running_versions();
        let hosts = extra
            .hosts
            .clone()
            .unwrap_or_else(|| self.specifics.hosts.clone());
        let details = HookDetails {
            hosts: hosts.join(","),
            roles: self.settings.roles_filter.clone(),
            lock: self.holding_lock(),
            command: self.command.clone(),
            subcommand: self.subcommand.clone(),
            runtime: extra.runtime,
        };
        let secrets = if HOOKS_WITH_SECRETS.contains(&name) {
            Some(self.secrets()?)
        } else {
            None
        };
        let environment = hook::env(&self.config, &self.stamp(), &details, secrets);
        let command = hook::run(&self.config, name);

        // `hooks_output` decides how loud the hook is, unless `-v` or `-q` did.
        let level = match self.config.hooks_output_for(name) {
            Some(_) if self.printer.threshold() != Level::Info => None,
            Some(HooksOutput::Verbose) => Some(Level::Debug),
            Some(HooksOutput::Quiet) => Some(Level::Error),
            None => None,
        };
        let run = || -> Result<(), Failure> {
            // Kamal 2.11 announces a hook only through SSHKit's `Running … on localhost` line
            // (its older `Running the <hook> hook...` line is gone; checked against the binary).
            let id = kamal_ssh::printer::command_id();
            self.printer
                .running(&id, Level::Info, &command.to_display(), "localhost");
            if self.settings.dry_run {
                return Ok(());
            }
            let started = Instant::now();
            let mut process = Command::new("/usr/bin/env");
            process.arg(hook::hook_file(&self.config, name));
            process
                .env_clear()
                .envs(kamal_config::Environment::vars(&self.environment));
            for (key, value) in &environment.tags {
                process.env(key, value);
            }
            for (key, value) in &environment.secrets {
                process.env(key, value.expose());
            }
            process.stdin(Stdio::null());
            let output = process.output().map_err(|error| Failure::Hook {
                message: format!(
                    "Hook `{name}` failed:\ncould not start {}: {error}",
                    command.to_display()
                ),
            })?;
            let stdout = String::from_utf8_lossy(&output.stdout);
            let stderr = String::from_utf8_lossy(&output.stderr);
            // SSHKit's local backend logs a hook's output line by line (each with its own
            // prefix); a stream that said nothing logs nothing.
            for (stream, text) in [
                (kamal_ssh::Stream::Stdout, &stdout),
                (kamal_ssh::Stream::Stderr, &stderr),
            ] {
                for line in text.split_inclusive('\n') {
                    self.printer.output(&id, stream, line);
                }
            }
            let status = output.status.code().unwrap_or(-1);
            if status != 0 {
                let failure = kamal_ssh::CommandFailed {
                    command: hook::hook_file(&self.config, name),
                    exit_status: status,
                    stdout: stdout.into_owned(),
                    stderr: stderr.into_owned(),
                };
                return Err(Failure::Hook {
                    message: format!("Hook `{name}` failed:\n{failure}"),
                });
            }
            self.printer.finished(&id, Level::Info, started.elapsed(), status);
            Ok(())
        };
        match level {
            Some(level) => self.printer.with_threshold(level, run),
            None => run(),
        }
    }
}
