//! `--dry-run`: an executor that prints, per host, every command it would run (display
//! form, secrets redacted) and runs nothing. Commands marked read-only may be passed to a
//! real executor when probes are allowed, so decisions that depend on host state (is the
//! proxy running? which container is current?) can still be made. It also records what it
//! printed, which makes it the test double for orchestration code.

use std::sync::{Arc, Mutex};

use kamal_commands::Cmd;

use crate::error::Error;
use crate::executor::{Executor, Output, RunOptions, Target, Upload};
use crate::options::{self, Interactive, SshOptions};
use crate::printer::Printer;

/// One step a dry run would have taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Planned {
    Run { host: String, command: String },
    Upload { host: String, path: String, mode: u32 },
}

pub struct DryRun {
    printer: Arc<Printer>,
    options: SshOptions,
    probes: Option<Arc<dyn Executor>>,
    planned: Mutex<Vec<Planned>>,
}

impl std::fmt::Debug for DryRun {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("DryRun")
            .field("probes", &self.probes.is_some())
            .finish_non_exhaustive()
    }
}

impl DryRun {
    /// Runs nothing. `options` only shape the interactive `ssh -t` lines it prints.
    pub fn new(printer: Arc<Printer>, options: SshOptions) -> DryRun {
        DryRun {
            printer,
            options,
            probes: None,
            planned: Mutex::new(Vec::new()),
        }
    }

    /// Lets commands marked [`RunOptions::read_only`] run for real on `executor`.
    pub fn with_probes(mut self, executor: Arc<dyn Executor>) -> DryRun {
        self.probes = Some(executor);
        self
    }

    /// Everything it would have done, in order.
    pub fn planned(&self) -> Vec<Planned> {
        match self.planned.lock() {
            Ok(planned) => planned.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    fn plan(&self, step: Planned) {
        match self.planned.lock() {
            Ok(mut planned) => planned.push(step),
            Err(poisoned) => poisoned.into_inner().push(step),
        }
    }
}

impl Executor for DryRun {
    fn run(&self, target: &Target, command: &Cmd, options: RunOptions) -> Result<Output, Error> {
        let display = command.to_display();
        if let (true, Some(probes)) = (options.read_only, &self.probes) {
            match probes.run(target, command, options) {
                // A host that cannot be reached still gets its plan, built as if it were empty.
                Err(Error::Connection(error)) => self.printer.info(&format!(
                    "Could not read the state of {} ({error}); planning as if it were empty",
                    target.name()
                )),
                answered => return answered,
            }
        }
        // Shown whatever the command's own verbosity: the point of a dry run is the full list.
        self.printer
            .info(&format!("Would run {display} on {}", target.name()));
        self.plan(Planned::Run {
            host: target.name().to_string(),
            command: display,
        });
        Ok(Output::default())
    }

    fn upload(
        &self,
        target: &Target,
        _source: Upload<'_>,
        remote_path: &str,
        mode: u32,
    ) -> Result<(), Error> {
        self.printer.info(&format!(
            "Would upload {remote_path} (mode {mode:04o}) to {}",
            target.name()
        ));
        self.plan(Planned::Upload {
            host: target.name().to_string(),
            path: remote_path.to_string(),
            mode,
        });
        Ok(())
    }

    fn interactive(&self, host: &str, command: &Cmd) -> Result<Interactive, Error> {
        let config_file = options::config_file(&self.options.config, || {
            std::path::PathBuf::from("<combined ssh config>")
        });
        Ok(options::interactive(
            &self.options,
            config_file.as_deref(),
            host,
            command,
        ))
    }

    fn forward_remote_port(&self, host: &str, port: u16) -> Result<(), Error> {
        self.printer.info(&format!(
            "Would forward port {port} from {host} to localhost:{port}"
        ));
        Ok(())
    }

    fn printer(&self) -> &Printer {
        &self.printer
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::executor::Host;
    use crate::printer::tests::Captured;
    use crate::printer::Level;
    use kamal_config::secrets::Secret;

    fn dry_run(level: Level) -> (DryRun, Captured) {
        let captured = Captured::default();
        let printer = Arc::new(Printer::new(Box::new(captured.clone()), level, false));
        (DryRun::new(printer, SshOptions::new()), captured)
    }

    #[test]
    fn prints_every_command_per_host_and_runs_nothing() {
        let (executor, out) = dry_run(Level::Info);
        let marker = std::env::temp_dir().join(format!("kamal-ssh-dry-run-{}", std::process::id()));
        let touch = Cmd::new(["touch", &marker.display().to_string()]);
        let mut login = Cmd::new(["docker", "login", "-p"]);
        login.push_sensitive(Secret::new("hunter2"), "[REDACTED]");
        let (web, local) = (Target::Remote("1.1.1.1".to_string()), Target::Local);
        let host = Host::new(&executor, &web);
        host.execute(&touch).expect("planned");
        assert_eq!(host.capture(&login).expect("planned"), "");
        host.upload(
            Upload::Bytes(b"SECRET=1"),
            ".kamal/apps/app/env/roles/web.env",
            0o600,
        )
        .expect("planned");
        Host::new(&executor, &local)
            .execute(&Cmd::new(["docker", "build", "."]))
            .expect("planned");
        assert!(!marker.exists(), "nothing ran");

        let text = out.text();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4, "{text}");
        assert_eq!(
            lines[0],
            format!(
                "  INFO Would run /usr/bin/env touch {} on 1.1.1.1",
                marker.display()
            )
        );
        assert_eq!(lines[1], "  INFO Would run docker login -p [REDACTED] on 1.1.1.1");
        assert_eq!(
            lines[2],
            "  INFO Would upload .kamal/apps/app/env/roles/web.env (mode 0600) to 1.1.1.1"
        );
        assert_eq!(lines[3], "  INFO Would run docker build . on localhost");
        assert!(!text.contains("hunter2"));
        assert_eq!(executor.planned().len(), 4);
        assert_eq!(
            executor.planned()[2],
            Planned::Upload {
                host: "1.1.1.1".to_string(),
                path: ".kamal/apps/app/env/roles/web.env".to_string(),
                mode: 0o600
            }
        );
    }

    #[test]
    fn read_only_probes_run_only_when_allowed() {
        let (inner, _) = dry_run(Level::Info);
        let inner = Arc::new(inner);
        let (executor, out) = dry_run(Level::Info);
        let executor = executor.with_probes(inner.clone());
        let local = Target::Local;
        let host = Host::new(&executor, &local);
        host.capture_with(&Cmd::new(["docker", "ps"]), RunOptions::capture().read_only())
            .expect("probe");
        host.execute(&Cmd::new(["docker", "stop", "app"]))
            .expect("planned");
        assert_eq!(
            inner.planned(),
            [Planned::Run {
                host: "localhost".to_string(),
                command: "docker ps".to_string()
            }]
        );
        assert_eq!(
            executor.planned(),
            [Planned::Run {
                host: "localhost".to_string(),
                command: "docker stop app".to_string()
            }]
        );
        assert!(!out.text().contains("docker ps"));
    }

    /// A host that refuses every connection.
    struct Unreachable(Arc<Printer>);

    impl Executor for Unreachable {
        fn run(&self, target: &Target, _: &Cmd, _: RunOptions) -> Result<Output, Error> {
            Err(Error::Connection(crate::error::ConnectionError {
                kind: crate::error::ConnectionErrorKind::Refused,
                user: "root".into(),
                host: target.name().to_string(),
                port: 22,
                detail: "Connection refused".into(),
            }))
        }
        fn upload(&self, _: &Target, _: Upload<'_>, _: &str, _: u32) -> Result<(), Error> {
            unreachable!("probes never upload")
        }
        fn interactive(&self, host: &str, command: &Cmd) -> Result<Interactive, Error> {
            Ok(options::interactive(&SshOptions::new(), None, host, command))
        }
        fn printer(&self) -> &Printer {
            &self.0
        }
    }

    #[test]
    fn a_probe_that_cannot_connect_is_planned_as_if_the_host_were_empty() {
        let (executor, out) = dry_run(Level::Info);
        let executor = executor.with_probes(Arc::new(Unreachable(Arc::new(Printer::stdout(Level::Info)))));
        let local = Target::Local;
        let answer = Host::new(&executor, &local)
            .capture_with(&Cmd::new(["docker", "ps"]), RunOptions::capture().read_only())
            .expect("planned, not failed");
        assert_eq!(answer, "");
        assert!(
            out.text().contains("Could not read the state of localhost"),
            "{}",
            out.text()
        );
        assert!(
            out.text().contains("Would run docker ps on localhost"),
            "{}",
            out.text()
        );
    }

    #[test]
    fn even_quiet_dry_runs_list_nothing_below_their_threshold() {
        let (executor, out) = dry_run(Level::Error);
        let local = Target::Local;
        Host::new(&executor, &local)
            .execute(&Cmd::new(["docker", "ps"]))
            .expect("planned");
        assert_eq!(out.text(), "");
        assert_eq!(executor.planned().len(), 1);
    }
}
