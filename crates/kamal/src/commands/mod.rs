//! One module per command, each a function from resolved settings to an outcome.

pub mod accessory;
pub mod app;
pub mod app_proxy;
pub mod build;
pub mod config;
pub mod context;
pub mod deploy;
pub mod docs;
pub mod init;
pub mod lifecycle;
pub mod lock;
pub mod proxy;
pub mod registry;
pub mod secrets;
pub mod server;
pub mod version;

use kamal_commands::Cmd;

use crate::orchestration::Commander;
use crate::Failure;

/// Kamal's `puts_by_host`: `<Type> Host: <host>` then the output and a blank line; `-q`
/// prints the output alone.
pub fn puts_by_host(kind: &str, host: &str, output: &str, quiet: bool) {
    if quiet {
        println!("{output}\n");
    } else {
        println!("{kind} Host: {host}\n{output}\n");
    }
}

/// Thor's `confirming`: `-y` proceeds; otherwise asks `<question> [y, N] (N) ` until the
/// answer is `y` (proceed) or empty or `N` (prints `Aborted`). Where Thor would ask forever
/// on a closed standard input, this aborts.
pub fn confirming(commander: &Commander, question: &str, confirmed: bool) -> bool {
    use std::io::{BufRead, Write};
    if confirmed {
        return true;
    }
    let stdin = std::io::stdin();
    loop {
        print!("{question} [y, N] (N) ");
        let _ = std::io::stdout().flush();
        let mut answer = String::new();
        let read = stdin.lock().read_line(&mut answer).unwrap_or(0);
        if read == 0 {
            println!();
            break;
        }
        match answer.trim() {
            "y" => return true,
            "" | "N" => break,
            _ => commander.say("Your response must be one of: [y, N]. Please try again."),
        }
    }
    commander.say("Aborted");
    false
}

/// Hands the terminal to `ssh -t <host> '<command>'` (replacing this process), as Kamal
/// does for interactive sessions; `echo` prints the ssh line first. A dry run only prints.
pub fn replace_with_ssh(commander: &Commander, host: &str, command: &Cmd, echo: bool) -> Result<(), Failure> {
    let line = commander.executor.interactive(host, command)?;
    if echo {
        commander.printer.info(&line.display);
    }
    if commander.settings.dry_run {
        if !echo {
            commander.printer.info(&format!("Would run {}", line.display));
        }
        return Ok(());
    }
    replace_process(&line.argv)
}

/// Replaces this process with `argv` (`exec`), as Kamal does for interactive sessions.
pub fn replace_process(argv: &[String]) -> Result<(), Failure> {
    use std::os::unix::process::CommandExt;
    let Some((program, arguments)) = argv.split_first() else {
        return Ok(());
    };
    let error = std::process::Command::new(program).args(arguments).exec();
    Err(Failure::Remote {
        class: "Errno::ENOENT",
        message: format!("{program}: {error}"),
    })
}
