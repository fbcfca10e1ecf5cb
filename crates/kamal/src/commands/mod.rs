//! One module per command, each a function from resolved settings to an outcome.

pub mod build;
pub mod config;
pub mod context;
pub mod docs;
pub mod init;
pub mod lock;
pub mod registry;
pub mod secrets;
pub mod server;
pub mod version;

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
