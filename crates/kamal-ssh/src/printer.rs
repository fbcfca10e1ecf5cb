//! The one printer for command output, in SSHKit's `Formatter::Pretty` format (§9.2):
//! `<LEVEL right-justified to 6> [<8-hex id>] <message>`. Host threads hand it events;
//! it filters by level, colours only when told to (a TTY without `NO_COLOR`), and writes
//! each line whole under one lock so lines from parallel hosts never interleave mid-line.
//! It only ever sees display forms of commands, so secrets cannot reach it from here.

use std::io::Write;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// SSHKit's log levels, lowest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub enum Level {
    Debug,
    Info,
    Warn,
    Error,
    Fatal,
}

impl Level {
    const ALL: [Level; 5] = [Level::Debug, Level::Info, Level::Warn, Level::Error, Level::Fatal];

    fn name(self) -> &'static str {
        match self {
            Level::Debug => "DEBUG",
            Level::Info => "INFO",
            Level::Warn => "WARN",
            Level::Error => "ERROR",
            Level::Fatal => "FATAL",
        }
    }

    /// SSHKit's `LEVEL_COLORS`: black, blue, yellow, red, red.
    fn colour(self) -> Colour {
        match self {
            Level::Debug => Colour::Black,
            Level::Info => Colour::Blue,
            Level::Warn => Colour::Yellow,
            Level::Error | Level::Fatal => Colour::Red,
        }
    }

    /// The threshold Kamal sets from its flags: `-v` shows DEBUG, `-q` only ERROR and above.
    pub fn from_flags(verbose: bool, quiet: bool) -> Level {
        if verbose {
            Level::Debug
        } else if quiet {
            Level::Error
        } else {
            Level::Info
        }
    }
}

/// Which stream of a command a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

#[derive(Clone, Copy)]
enum Colour {
    Black = 30,
    Red = 31,
    Green = 32,
    Yellow = 33,
    Blue = 34,
}

/// Whether to colour: only on a terminal, never when `NO_COLOR` is set to something non-empty.
/// Both facts are passed in so callers (and tests) decide where they come from.
pub fn colour_wanted(is_terminal: bool, no_color: Option<&std::ffi::OsStr>) -> bool {
    is_terminal && no_color.is_none_or(|value| value.is_empty())
}

/// Writes SSHKit-formatted lines into any writer.
pub struct Printer {
    /// A [`Level`]; [`Printer::with_threshold`] changes it for a while, as Kamal's
    /// `with_verbosity` changes SSHKit's global output verbosity.
    threshold: AtomicU8,
    colour: bool,
    out: Mutex<Box<dyn Write + Send>>,
}

impl std::fmt::Debug for Printer {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Printer")
            .field("threshold", &self.threshold())
            .field("colour", &self.colour)
            .finish_non_exhaustive()
    }
}

impl Printer {
    pub fn new(out: Box<dyn Write + Send>, threshold: Level, colour: bool) -> Printer {
        Printer {
            threshold: AtomicU8::new(threshold as u8),
            colour,
            out: Mutex::new(out),
        }
    }

    /// Standard output (where SSHKit writes its log), coloured when it is a terminal and
    /// `NO_COLOR` is unset.
    pub fn stdout(threshold: Level) -> Printer {
        use std::io::IsTerminal;
        let colour = colour_wanted(
            std::io::stdout().is_terminal(),
            std::env::var_os("NO_COLOR").as_deref(),
        );
        Printer::new(Box::new(std::io::stdout()), threshold, colour)
    }

    pub fn threshold(&self) -> Level {
        Level::ALL[usize::from(self.threshold.load(Ordering::Relaxed))]
    }

    pub fn enabled(&self, level: Level) -> bool {
        level >= self.threshold()
    }

    /// Runs `body` with every line filtered by `threshold` instead (Kamal's hooks run under
    /// `KAMAL.with_verbosity(hooks_output)`), then puts the old threshold back.
    pub fn with_threshold<T>(&self, threshold: Level, body: impl FnOnce() -> T) -> T {
        let previous = self.threshold.swap(threshold as u8, Ordering::Relaxed);
        let result = body();
        self.threshold.store(previous, Ordering::Relaxed);
        result
    }

    fn paint(&self, colour: Colour, bold: bool, text: &str) -> String {
        if self.colour {
            let mode = if bold { 1 } else { 0 };
            format!("\x1b[{mode};{};49m{text}\x1b[0m", colour as u8)
        } else {
            text.to_string()
        }
    }

    fn bold(&self, text: &str) -> String {
        if self.colour {
            format!("\x1b[1;39;49m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }

    /// One line: level, optional command id, message. Output errors are ignored on purpose:
    /// a closed stdout must not turn a successful deploy into a failure.
    fn line(&self, level: Level, id: Option<&str>, message: &str) {
        if !self.enabled(level) {
            return;
        }
        let mut line = self.paint(level.colour(), false, &format!("{:>6}", level.name()));
        if let Some(id) = id {
            line.push_str(" [");
            line.push_str(&self.paint(Colour::Green, false, id));
            line.push(']');
        }
        line.push(' ');
        line.push_str(message);
        line.push('\n');
        let mut out = match self.out.lock() {
            Ok(out) => out,
            Err(poisoned) => poisoned.into_inner(),
        };
        let _ = out.write_all(line.as_bytes());
        let _ = out.flush();
    }

    pub fn log(&self, level: Level, message: &str) {
        self.line(level, None, message);
    }

    pub fn debug(&self, message: &str) {
        self.log(Level::Debug, message);
    }

    pub fn info(&self, message: &str) {
        self.log(Level::Info, message);
    }

    pub fn warn(&self, message: &str) {
        self.log(Level::Warn, message);
    }

    pub fn error(&self, message: &str) {
        self.log(Level::Error, message);
    }

    /// `Running <cmd> on <host>` followed by the DEBUG `Command: <cmd>` line.
    pub fn running(&self, id: &str, level: Level, display: &str, host: &str) {
        let message = format!(
            "Running {} on {}",
            self.paint(Colour::Yellow, true, display),
            self.paint(Colour::Blue, false, host)
        );
        self.line(level, Some(id), &message);
        self.line(
            Level::Debug,
            Some(id),
            &format!("Command: {}", self.paint(Colour::Blue, false, display)),
        );
    }

    /// One line a command wrote, tab-prefixed, at DEBUG.
    pub fn output(&self, id: &str, stream: Stream, text: &str) {
        if !self.enabled(Level::Debug) {
            return;
        }
        let colour = match stream {
            Stream::Stdout => Colour::Green,
            Stream::Stderr => Colour::Red,
        };
        let text = text.strip_suffix('\n').unwrap_or(text);
        let text = text.strip_suffix('\r').unwrap_or(text);
        self.line(
            Level::Debug,
            Some(id),
            &self.paint(colour, false, &format!("\t{text}")),
        );
    }

    /// `Finished in 0.104 seconds with exit status 0 (successful).`
    pub fn finished(&self, id: &str, level: Level, runtime: Duration, exit_status: i32) {
        let outcome = if exit_status == 0 {
            self.paint(Colour::Green, false, "successful")
        } else {
            self.paint(Colour::Red, false, "failed")
        };
        let message = format!(
            "Finished in {:5.3} seconds with exit status {exit_status} ({}).",
            runtime.as_secs_f64(),
            self.bold(&outcome)
        );
        self.line(level, Some(id), &message);
    }

    /// SSHKit's upload progress: 0.0% at DEBUG, 100.0% at INFO.
    pub fn uploading(&self, path: &str, finished: bool) {
        if finished {
            self.info(&format!("Uploading {path} 100.0%"));
        } else {
            self.debug(&format!("Uploading {path} 0.0%"));
        }
    }
}

/// A fresh 8-hex id for the lines of one command (SSHKit's `SecureRandom.hex(4)`).
pub fn command_id() -> String {
    format!("{:08x}", crate::random::next_u64() as u32)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::sync::Arc;

    /// A writer the test keeps a handle on.
    #[derive(Clone, Default)]
    pub(crate) struct Captured(pub(crate) Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, buffer: &[u8]) -> std::io::Result<usize> {
            self.0.lock().expect("lock").extend_from_slice(buffer);
            Ok(buffer.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Captured {
        pub(crate) fn text(&self) -> String {
            String::from_utf8(self.0.lock().expect("lock").clone()).expect("utf-8")
        }
    }

    fn printer(level: Level, colour: bool) -> (Printer, Captured) {
        let captured = Captured::default();
        (Printer::new(Box::new(captured.clone()), level, colour), captured)
    }

    #[test]
    fn a_threshold_for_a_while_then_the_old_one_again() {
        let (printer, out) = printer(Level::Info, false);
        printer.with_threshold(Level::Debug, || printer.debug("shown"));
        printer.with_threshold(Level::Error, || printer.info("hidden"));
        printer.debug("hidden again");
        printer.info("shown again");
        assert_eq!(printer.threshold(), Level::Info);
        assert_eq!(out.text(), " DEBUG shown\n  INFO shown again\n");
    }

    #[test]
    fn info_shows_running_and_finished_only() {
        let (printer, out) = printer(Level::Info, false);
        printer.running("4ad00230", Level::Info, "docker ps -q", "127.0.0.1");
        printer.output("4ad00230", Stream::Stdout, "67bdeb03cd38\n");
        printer.finished("4ad00230", Level::Info, Duration::from_millis(104), 0);
        assert_eq!(
            out.text(),
            "  INFO [4ad00230] Running docker ps -q on 127.0.0.1\n\
             \x20 INFO [4ad00230] Finished in 0.104 seconds with exit status 0 (successful).\n"
        );
    }

    #[test]
    fn debug_shows_command_and_tab_prefixed_output() {
        let (printer, out) = printer(Level::Debug, false);
        printer.running("4ad00230", Level::Info, "docker ps -q", "127.0.0.1");
        printer.output("4ad00230", Stream::Stdout, "67bdeb03cd38\n");
        printer.output("4ad00230", Stream::Stderr, "warning\r\n");
        printer.finished("4ad00230", Level::Debug, Duration::from_secs_f64(12.3456), 1);
        assert_eq!(
            out.text(),
            "  INFO [4ad00230] Running docker ps -q on 127.0.0.1\n\
             \x20DEBUG [4ad00230] Command: docker ps -q\n\
             \x20DEBUG [4ad00230] \t67bdeb03cd38\n\
             \x20DEBUG [4ad00230] \twarning\n\
             \x20DEBUG [4ad00230] Finished in 12.346 seconds with exit status 1 (failed).\n"
        );
    }

    #[test]
    fn quiet_shows_only_errors() {
        let (printer, out) = printer(Level::from_flags(false, true), false);
        printer.running("4ad00230", Level::Info, "docker ps", "h");
        printer.warn("Retrying DNS");
        printer.error("Failed to boot web on 127.0.0.1");
        assert_eq!(out.text(), " ERROR Failed to boot web on 127.0.0.1\n");
    }

    #[test]
    fn uploads_log_without_an_id() {
        let (printer, out) = printer(Level::Debug, false);
        printer.uploading(".kamal/apps/app/env/roles/web.env", false);
        printer.uploading(".kamal/apps/app/env/roles/web.env", true);
        assert_eq!(
            out.text(),
            " DEBUG Uploading .kamal/apps/app/env/roles/web.env 0.0%\n\
             \x20 INFO Uploading .kamal/apps/app/env/roles/web.env 100.0%\n"
        );
    }

    #[test]
    fn colours_only_when_asked() {
        let (printer, out) = printer(Level::Info, true);
        printer.running("4ad00230", Level::Info, "docker ps", "h");
        let text = out.text();
        assert!(text.starts_with("\x1b[0;34;49m  INFO\x1b[0m [\x1b[0;32;49m4ad00230\x1b[0m] Running "));
        assert!(text.contains("\x1b[1;33;49mdocker ps\x1b[0m on \x1b[0;34;49mh\x1b[0m"));
    }

    #[test]
    fn colour_needs_a_terminal_and_no_no_color() {
        use std::ffi::OsStr;
        assert!(colour_wanted(true, None));
        assert!(colour_wanted(true, Some(OsStr::new(""))));
        assert!(!colour_wanted(true, Some(OsStr::new("1"))));
        assert!(!colour_wanted(false, None));
    }

    #[test]
    fn command_ids_are_eight_hex_digits() {
        let id = command_id();
        assert_eq!(id.len(), 8);
        assert!(id.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(command_id(), command_id());
    }

    #[test]
    fn lines_from_threads_stay_whole() {
        let (printer, out) = printer(Level::Debug, false);
        std::thread::scope(|scope| {
            for thread in 0..4 {
                let printer = &printer;
                scope.spawn(move || {
                    for line in 0..50 {
                        printer.output(
                            "abcdef01",
                            Stream::Stdout,
                            &format!("thread {thread} line {line}"),
                        );
                    }
                });
            }
        });
        let text = out.text();
        assert_eq!(text.lines().count(), 200);
        assert!(text
            .lines()
            .all(|line| line.starts_with(" DEBUG [abcdef01] \tthread ")));
    }
}
