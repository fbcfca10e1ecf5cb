//! The `kamal-proxy` command line: `run` and the client commands, with cobra's behaviour (§1): help on no
//! arguments, `Error: <message>` on stderr and exit 1 on failure, nothing printed on success except `list`.
//!
//! Arguments are parsed and validated into typed requests here; nothing below the CLI reads raw flags.

pub mod commands;
pub mod flags;
pub mod list;

use std::io::Write;

use crate::paths::Environment;

/// Runs the CLI with `args` (without the program name) and returns the exit code.
pub fn main(args: Vec<String>, environment: &dyn Environment) -> i32 {
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => return fail(&format!("unable to start the runtime: {error}")),
    };
    let result = runtime.block_on(commands::execute(args, environment));
    crate::logging::flush();
    match result {
        Ok(()) => 0,
        Err(error) => fail(&error),
    }
}

fn fail(message: &str) -> i32 {
    let _ = writeln!(std::io::stderr(), "Error: {message}");
    1
}
