//! Running work on several hosts (or roles) at once with Kamal's patched SSHKit semantics:
//! one thread per item, **every** thread finishes before anything is raised, one failure
//! re-raises that failure, several become `Exceptions on N hosts:\n<msg1>\n<msg2>`. Threads
//! are scoped, so each is owned and joined before the call returns.

use std::fmt;

use crate::executor::{Executor, Host, Target};

/// SSHKit's `Runner::ExecuteError`: a failure inside the block run for `host`.
#[derive(Debug)]
pub struct ExecuteError<E> {
    pub host: String,
    pub error: E,
}

impl<E: fmt::Display> fmt::Display for ExecuteError<E> {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            formatter,
            "Exception while executing on host {}: {}",
            self.host, self.error
        )
    }
}

impl<E: std::error::Error + 'static> std::error::Error for ExecuteError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}

/// The failures of one fan-out, in the order of its items (never empty).
#[derive(Debug)]
pub struct Exceptions<E> {
    noun: &'static str,
    errors: Vec<E>,
}

impl<E> Exceptions<E> {
    /// The error Kamal re-raises (its class is the one shown).
    pub fn first(&self) -> &E {
        &self.errors[0]
    }

    pub fn errors(&self) -> &[E] {
        &self.errors
    }

    pub fn into_errors(self) -> Vec<E> {
        self.errors
    }
}

impl<E: fmt::Display> fmt::Display for Exceptions<E> {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.errors.as_slice() {
            [one] => write!(formatter, "{one}"),
            errors => {
                write!(formatter, "Exceptions on {} {}:", errors.len(), self.noun)?;
                for error in errors {
                    write!(formatter, "\n{error}")?;
                }
                Ok(())
            }
        }
    }
}

impl<E: std::error::Error + 'static> std::error::Error for Exceptions<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(self.first())
    }
}

/// Runs `task` for every item in parallel and waits for all of them. `noun` names the
/// items in the aggregate message (`hosts`, `roles`). A panicking task is re-raised once
/// all the others have finished.
pub fn in_parallel<I, T, E, F>(items: &[I], noun: &'static str, task: F) -> Result<Vec<T>, Exceptions<E>>
where
    I: Sync,
    T: Send,
    E: Send,
    F: Fn(&I) -> Result<T, E> + Sync,
{
    let results: Vec<std::thread::Result<Result<T, E>>> = if items.len() <= 1 {
        // No thread for one item: same semantics, one fewer context switch.
        items.iter().map(|item| Ok(task(item))).collect()
    } else {
        std::thread::scope(|scope| {
            let task = &task;
            let handles: Vec<_> = items.iter().map(|item| scope.spawn(move || task(item))).collect();
            handles.into_iter().map(|handle| handle.join()).collect()
        })
    };
    let mut values = Vec::with_capacity(results.len());
    let mut errors = Vec::new();
    let mut panic = None;
    for result in results {
        match result {
            Ok(Ok(value)) => values.push(value),
            Ok(Err(error)) => errors.push(error),
            Err(payload) => {
                panic.get_or_insert(payload);
            }
        }
    }
    if let Some(payload) = panic {
        std::panic::resume_unwind(payload);
    }
    if errors.is_empty() {
        Ok(values)
    } else {
        Err(Exceptions { noun, errors })
    }
}

/// SSHKit's `on(hosts)`: `task` runs once per host, in parallel; results come back in host
/// order. Failures are wrapped as [`ExecuteError`]s naming their host.
pub fn on<H, T, E, F>(
    executor: &dyn Executor,
    hosts: &[H],
    task: F,
) -> Result<Vec<T>, Exceptions<ExecuteError<E>>>
where
    H: AsRef<str>,
    T: Send,
    E: Send,
    F: Fn(&Host<'_>) -> Result<T, E> + Sync,
{
    let targets: Vec<Target> = hosts
        .iter()
        .map(|host| Target::Remote(host.as_ref().to_string()))
        .collect();
    in_parallel(&targets, "hosts", |target| {
        task(&Host::new(executor, target)).map_err(|error| ExecuteError {
            host: target.name().to_string(),
            error,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dry_run::DryRun;
    use crate::error::{CommandFailed, Error};
    use crate::options::SshOptions;
    use crate::printer::{Level, Printer};
    use kamal_commands::Cmd;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    fn failed(host: &str, stderr: &str) -> Error {
        Error::CommandFailed {
            host: host.to_string(),
            failure: CommandFailed {
                command: "docker".to_string(),
                exit_status: 1,
                stdout: String::new(),
                stderr: stderr.to_string(),
            },
        }
    }

    fn executor() -> DryRun {
        DryRun::new(
            Arc::new(Printer::new(Box::new(std::io::sink()), Level::Info, false)),
            SshOptions::new(),
        )
    }

    #[test]
    fn one_failure_is_reraised_with_its_host() {
        let executor = executor();
        let error = on(&executor, &["1.1.1.1", "1.1.1.2"], |host| {
            if host.name() == "1.1.1.2" {
                Err(failed(host.name(), "Error: target failed to become healthy"))
            } else {
                Ok(())
            }
        })
        .expect_err("fails");
        assert_eq!(
            error.to_string(),
            "Exception while executing on host 1.1.1.2: docker exit status: 1\n\
             docker stdout: Nothing written\n\
             docker stderr: Error: target failed to become healthy\n"
        );
        assert_eq!(error.first().error.ruby_class(), "SSHKit::Command::Failed");
    }

    #[test]
    fn several_failures_are_listed_in_host_order() {
        let executor = executor();
        let error = on(&executor, &["1.1.1.1", "1.1.1.2", "1.1.1.3"], |host| {
            if host.name() == "1.1.1.2" {
                Ok(())
            } else {
                // The first host fails last: order must still follow the hosts.
                if host.name() == "1.1.1.1" {
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(failed(host.name(), "boom"))
            }
        })
        .expect_err("fails");
        assert_eq!(
            error.to_string(),
            "Exceptions on 2 hosts:\n\
             Exception while executing on host 1.1.1.1: docker exit status: 1\ndocker stdout: Nothing written\ndocker stderr: boom\n\n\
             Exception while executing on host 1.1.1.3: docker exit status: 1\ndocker stdout: Nothing written\ndocker stderr: boom\n"
        );
        assert_eq!(error.errors().len(), 2);
    }

    #[test]
    fn every_host_finishes_before_the_error_is_raised() {
        let executor = executor();
        let finished = AtomicUsize::new(0);
        let result = on(&executor, &["a", "b", "c"], |host| {
            if host.name() == "a" {
                return Err("fast failure");
            }
            std::thread::sleep(Duration::from_millis(100));
            finished.fetch_add(1, Ordering::SeqCst);
            Ok(())
        });
        assert!(result.is_err());
        assert_eq!(finished.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn hosts_run_in_parallel_and_results_keep_order() {
        let executor = executor();
        let started = std::time::Instant::now();
        let names = on(&executor, &["a", "b", "c", "d"], |host| {
            std::thread::sleep(Duration::from_millis(200));
            Ok::<_, Error>(host.name().to_string())
        })
        .expect("runs");
        assert_eq!(names, ["a", "b", "c", "d"]);
        assert!(
            started.elapsed() < Duration::from_millis(700),
            "{:?}",
            started.elapsed()
        );
    }

    #[test]
    fn roles_aggregate_without_a_host_prefix() {
        let error = in_parallel(&["web", "workers"], "roles", |role| {
            Err::<(), _>(format!("{role} failed"))
        })
        .expect_err("fails");
        assert_eq!(
            error.to_string(),
            "Exceptions on 2 roles:\nweb failed\nworkers failed"
        );
    }

    #[test]
    fn commands_go_through_the_executor() {
        let executor = executor();
        on(&executor, &["1.1.1.1", "1.1.1.2"], |host| {
            host.execute(&Cmd::new(["docker", "ps"])).map(|_| ())
        })
        .expect("runs");
        assert_eq!(executor.planned().len(), 2);
    }
}
