//! The one place that writes to the terminal: data to stdout, diagnostics to stderr,
//! colour only on a terminal and never with `NO_COLOR`.

use std::io::{IsTerminal, Write};

#[derive(Debug, Clone, Copy)]
pub struct Printer {
    pub verbose: bool,
    color: bool,
    stderr_is_terminal: bool,
}

impl Printer {
    pub fn new(verbose: bool, _quiet: bool) -> Printer {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|value| !value.is_empty());
        Printer {
            verbose,
            color: !no_color,
            stderr_is_terminal: std::io::stderr().is_terminal(),
        }
    }

    /// Data, exactly as given (stdout).
    pub fn data(&self, text: &str) {
        let mut stdout = std::io::stdout().lock();
        let _ = stdout.write_all(text.as_bytes());
        let _ = stdout.flush();
    }

    /// A line of data (stdout).
    pub fn line(&self, text: &str) {
        self.data(&format!("{text}\n"));
    }

    /// Kamal's final error line: `  ERROR (<class>): <message>` on stdout, in red (Kamal
    /// colours it always; we drop the colour under `NO_COLOR`).
    pub fn error(&self, class: &str, message: &str) {
        if self.color {
            self.line(&format!("  \x1b[31mERROR ({class}): {message}\x1b[0m"));
        } else {
            self.line(&format!("  ERROR ({class}): {message}"));
        }
    }

    /// Extra context for a person (where an error points, what to try): on stderr, shown
    /// when stderr is a terminal or with `-v`, so scripts see Kamal's output unchanged.
    pub fn hint(&self, text: &str) {
        if self.verbose || self.stderr_is_terminal {
            let _ = writeln!(std::io::stderr().lock(), "  {text}");
        }
    }

    /// A diagnostic that always goes to stderr (Thor's usage errors).
    pub fn diagnostic(&self, text: &str) {
        let _ = writeln!(std::io::stderr().lock(), "{text}");
    }
}
