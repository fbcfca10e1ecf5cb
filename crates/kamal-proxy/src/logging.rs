//! JSON log lines on stdout in the shape of Go's `log/slog` JSON handler (§8.2).
//!
//! Operators grep for the Go proxy's messages and field names, so we keep them: one object per line with
//! `time`, `level`, `msg`, then the attributes in the order given.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::Value;

static DEBUG: AtomicBool = AtomicBool::new(false);
static SILENT: AtomicBool = AtomicBool::new(false);
static CAPTURING: AtomicBool = AtomicBool::new(false);
static CAPTURED: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Keeps a copy of every line from now on, so in-process tests can read the log (even when silent).
pub fn start_capture() {
    CAPTURING.store(true, Ordering::Relaxed);
}

/// The lines captured so far.
pub fn captured() -> Vec<String> {
    CAPTURED.lock().map(|lines| lines.clone()).unwrap_or_default()
}

/// Turns all logging off; for in-process tests, whose output would otherwise drown the test runner's.
pub fn set_silent(silent: bool) {
    SILENT.store(silent, Ordering::Relaxed);
}

pub fn set_debug(enabled: bool) {
    DEBUG.store(enabled, Ordering::Relaxed);
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Debug,
    Info,
    Warn,
    Error,
}

impl Level {
    fn name(self) -> &'static str {
        match self {
            Level::Debug => "DEBUG",
            Level::Info => "INFO",
            Level::Warn => "WARN",
            Level::Error => "ERROR",
        }
    }
}

pub fn debug(message: &str, fields: &[(&str, Value)]) {
    log(Level::Debug, message, fields);
}

pub fn info(message: &str, fields: &[(&str, Value)]) {
    log(Level::Info, message, fields);
}

pub fn warn(message: &str, fields: &[(&str, Value)]) {
    log(Level::Warn, message, fields);
}

pub fn error(message: &str, fields: &[(&str, Value)]) {
    log(Level::Error, message, fields);
}

pub fn log(level: Level, message: &str, fields: &[(&str, Value)]) {
    if level == Level::Debug && !DEBUG.load(Ordering::Relaxed) {
        return;
    }
    let capturing = CAPTURING.load(Ordering::Relaxed);
    let silent = SILENT.load(Ordering::Relaxed);
    if silent && !capturing {
        return;
    }
    let line = format_line(SystemTime::now(), level, message, fields);
    if capturing {
        if let Ok(mut lines) = CAPTURED.lock() {
            lines.push(line.clone());
        }
    }
    if silent {
        return;
    }
    emit(line.as_bytes());
}

/// Lines waiting for the writer thread, and whether that thread runs.
struct Pending {
    buffer: Vec<u8>,
    writer_started: bool,
}

static PENDING: Mutex<Pending> = Mutex::new(Pending {
    buffer: Vec::new(),
    writer_started: false,
});
static READY: Condvar = Condvar::new();
/// Held while bytes go to stdout, so batches leave in the order they were logged. It holds the batch being
/// written, swapped with the pending one: both keep their capacity, so a batch never grows from empty again.
static WRITING: Mutex<Vec<u8>> = Mutex::new(Vec::new());
/// Past this much unwritten output the logging thread writes itself: a stalled stdout slows the proxy
/// down (as it does Go's) instead of growing memory without bound.
const MAX_PENDING_BYTES: usize = 4 << 20;
/// How long a logged line may wait for its batch.
const BATCH_WINDOW: std::time::Duration = std::time::Duration::from_millis(5);

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Queues a line for the writer thread. Under load one `write` carries many request lines instead of one
/// system call per request; idle, a line leaves within [`BATCH_WINDOW`].
fn emit(line: &[u8]) {
    let mut pending = lock(&PENDING);
    let was_empty = pending.buffer.is_empty();
    pending.buffer.extend_from_slice(line);
    if !pending.writer_started {
        pending.writer_started = std::thread::Builder::new()
            .name("kamal-proxy-log".into())
            .spawn(write_pending_forever)
            .is_ok();
    }
    let overflowing = pending.buffer.len() > MAX_PENDING_BYTES || !pending.writer_started;
    drop(pending);
    if overflowing {
        flush();
    } else if was_empty {
        READY.notify_one();
    }
}

fn write_pending_forever() {
    loop {
        let mut pending = lock(&PENDING);
        while pending.buffer.is_empty() {
            pending = READY
                .wait(pending)
                .unwrap_or_else(|poisoned| poisoned.into_inner());
        }
        drop(pending);
        // Let a batch gather: under load one write then carries hundreds of lines, and the loggers wake
        // this thread once per batch rather than once per line.
        std::thread::sleep(BATCH_WINDOW);
        flush();
    }
}

/// Writes every queued line now; `run` and the client commands call this before the process exits.
pub fn flush() {
    let mut writing = lock(&WRITING);
    std::mem::swap(&mut lock(&PENDING).buffer, &mut *writing);
    if !writing.is_empty() {
        // A closed stdout must not take the proxy down with it.
        let _ = std::io::stdout().lock().write_all(&writing);
    }
    writing.clear();
}

/// A fixed field name of the request line, already in its JSON form `,"name":` (made by [`log_key!`]), so
/// the line copies it whole.
#[derive(Debug, Clone, Copy)]
pub struct Key(&'static str);

impl Key {
    /// `quoted` must be `,"name":` with a name that needs no escaping; [`log_key!`] writes it.
    pub const fn quoted(quoted: &'static str) -> Key {
        Key(quoted)
    }
}

/// The [`Key`] for a field name: `log_key!("host")`.
macro_rules! log_key {
    ($name:literal) => {
        $crate::logging::Key::quoted(concat!(",\"", $name, "\":"))
    };
}
pub(crate) use log_key;

/// A borrowed log value for the hot path (the request line), written without building `serde_json::Value`s.
#[derive(Debug, Clone, Copy)]
pub enum Field<'a> {
    Text(&'a str),
    /// Text that needs no JSON escaping (a method, an IP address, a fixed word), copied as it is.
    Plain(&'a str),
    Integer(i64),
    Unsigned(u64),
    /// A number written as a JSON string (`client_port`).
    UnsignedText(u64),
}

thread_local! {
    /// The request line is built here and copied into the pending batch: no allocation per line.
    static LINE: std::cell::RefCell<String> = std::cell::RefCell::new(String::with_capacity(1024));
}

/// Like [`log`] at INFO, for the request line: the same output, fewer allocations. `extra` follows `fields`.
pub fn info_fields<'a>(
    message: &str,
    fields: &[(Key, Field<'_>)],
    extra: impl IntoIterator<Item = &'a (String, String)>,
) {
    let capturing = CAPTURING.load(Ordering::Relaxed);
    let silent = SILENT.load(Ordering::Relaxed);
    if silent && !capturing {
        return;
    }
    LINE.with_borrow_mut(|line| {
        line.clear();
        line.push_str("{\"time\":\"");
        push_rfc3339(line, SystemTime::now());
        line.push_str("\",\"level\":\"INFO\",\"msg\":");
        push_json_string(line, message);
        for (Key(key), value) in fields {
            debug_assert!(key.starts_with(",\"") && key.ends_with("\":"), "{key}");
            line.push_str(key);
            match value {
                Field::Text(text) => push_json_string(line, text),
                Field::Plain(text) => {
                    debug_assert!(plain_run(text.as_bytes()) == text.len(), "{text}");
                    line.push('"');
                    line.push_str(text);
                    line.push('"');
                }
                Field::Integer(number) => {
                    if *number < 0 {
                        line.push('-');
                    }
                    push_decimal(line, number.unsigned_abs());
                }
                Field::Unsigned(number) => push_decimal(line, *number),
                Field::UnsignedText(number) => {
                    line.push('"');
                    push_decimal(line, *number);
                    line.push('"');
                }
            }
        }
        for (key, value) in extra {
            push_key(line, key);
            push_json_string(line, value);
        }
        line.push_str("}\n");
        if capturing {
            if let Ok(mut lines) = CAPTURED.lock() {
                lines.push(line.clone());
            }
        }
        if !silent {
            emit(line.as_bytes());
        }
    });
}

/// `,"key":` — field names are fixed and header names are tokens, so neither needs escaping.
fn push_key(out: &mut String, key: &str) {
    debug_assert!(plain_run(key.as_bytes()) == key.len(), "{key}");
    out.push_str(",\"");
    out.push_str(key);
    out.push_str("\":");
}

fn push_decimal(out: &mut String, number: u64) {
    out.push_str(itoa::Buffer::new().format(number));
}

/// `number` with at least `width` digits.
fn push_padded(out: &mut String, number: u64, width: usize) {
    let mut buffer = itoa::Buffer::new();
    let digits = buffer.format(number);
    for _ in digits.len()..width {
        out.push('0');
    }
    out.push_str(digits);
}

/// A JSON string literal, escaped as `serde_json` escapes the other log lines. Runs of plain characters are
/// found eight bytes at a time and copied whole: this runs for every field of every request.
fn push_json_string(out: &mut String, value: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push('"');
    let bytes = value.as_bytes();
    let mut start = 0;
    loop {
        let plain = plain_run(&bytes[start..]);
        // Every byte escaped is ASCII, so the run ends on a character boundary.
        out.push_str(&value[start..start + plain]);
        start += plain;
        let Some(&byte) = bytes.get(start) else {
            break;
        };
        match byte {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            _ => {
                out.push_str("\\u00");
                out.push(char::from(HEX[usize::from(byte >> 4)]));
                out.push(char::from(HEX[usize::from(byte & 0xf)]));
            }
        }
        start += 1;
    }
    out.push('"');
}

fn needs_escape(byte: u8) -> bool {
    byte < 0x20 || byte == b'"' || byte == b'\\'
}

/// How many leading bytes need no escaping. Words of eight bytes are tested at once with the "has less" and
/// "has zero" bit tricks. Those can flag a byte above a real match (a borrow carries upwards), never one below,
/// so the lowest flag is the first byte to escape. The last partial word is read as the string's last eight
/// bytes, with the flags of the bytes already checked shifted out; shorter strings go byte by byte.
fn plain_run(bytes: &[u8]) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let has_zero = |word: u64| word.wrapping_sub(ONES) & !word & HIGHS;
    let flags = |chunk: &[u8]| {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let word = u64::from_le_bytes(word);
        let control = word.wrapping_sub(ONES * 0x20) & !word & HIGHS;
        control | has_zero(word ^ (ONES * u64::from(b'"'))) | has_zero(word ^ (ONES * u64::from(b'\\')))
    };
    let first = |flags: u64| (flags.trailing_zeros() / 8) as usize;
    if bytes.len() < 8 {
        return bytes
            .iter()
            .position(|&byte| needs_escape(byte))
            .unwrap_or(bytes.len());
    }
    let mut checked = 0;
    for chunk in bytes.chunks_exact(8) {
        let found = flags(chunk);
        if found != 0 {
            return checked + first(found);
        }
        checked += 8;
    }
    let rest = bytes.len() - checked;
    if rest == 0 {
        return checked;
    }
    let found = flags(&bytes[bytes.len() - 8..]) >> ((8 - rest) * 8);
    if found != 0 {
        checked + first(found)
    } else {
        bytes.len()
    }
}

fn format_line(time: SystemTime, level: Level, message: &str, fields: &[(&str, Value)]) -> String {
    let mut line = String::with_capacity(128);
    line.push_str("{\"time\":\"");
    line.push_str(&rfc3339(time));
    line.push_str("\",\"level\":\"");
    line.push_str(level.name());
    line.push_str("\",\"msg\":");
    line.push_str(&Value::from(message).to_string());
    for (key, value) in fields {
        line.push(',');
        line.push_str(&Value::from(*key).to_string());
        line.push(':');
        line.push_str(&value.to_string());
    }
    line.push_str("}\n");
    line
}

/// RFC 3339 in UTC with nanoseconds, computed without a calendar library (days-from-civil, inverted).
fn rfc3339(time: SystemTime) -> String {
    let mut text = String::with_capacity(32);
    push_rfc3339(&mut text, time);
    text
}

fn push_rfc3339(out: &mut String, time: SystemTime) {
    thread_local! {
        /// `YYYY-MM-DDTHH:MM:SS.` of the second last formatted on this thread: every line in that second
        /// shares it, so only the nanoseconds are formatted per line.
        static SECOND: std::cell::RefCell<(i64, String)> = const { std::cell::RefCell::new((i64::MIN, String::new())) };
    }
    let since_epoch = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let seconds = since_epoch.as_secs() as i64;
    SECOND.with_borrow_mut(|(cached, text)| {
        if *cached != seconds {
            *cached = seconds;
            text.clear();
            push_second(text, seconds);
        }
        out.push_str(text);
    });
    push_padded(out, u64::from(since_epoch.subsec_nanos()), 9);
    out.push('Z');
}

fn push_second(out: &mut String, seconds: i64) {
    let days = seconds.div_euclid(86_400);
    let second_of_day = seconds.rem_euclid(86_400) as u64;
    let (year, month, day) = crate::calendar::civil_from_days(days);
    if year < 0 {
        out.push('-');
    }
    push_padded(out, year.unsigned_abs(), 4);
    out.push('-');
    push_padded(out, month as u64, 2);
    out.push('-');
    push_padded(out, day as u64, 2);
    out.push('T');
    push_padded(out, second_of_day / 3600, 2);
    out.push(':');
    push_padded(out, (second_of_day / 60) % 60, 2);
    out.push(':');
    push_padded(out, second_of_day % 60, 2);
    out.push('.');
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::json;

    use super::*;

    #[test]
    fn formats_like_slog_json() {
        let time = UNIX_EPOCH + Duration::new(1_700_000_000, 5);
        let line = format_line(
            time,
            Level::Info,
            "Deploying",
            &[("service", json!("web")), ("tls", json!(false))],
        );
        assert_eq!(
            line,
            "{\"time\":\"2023-11-14T22:13:20.000000005Z\",\"level\":\"INFO\",\"msg\":\"Deploying\",\"service\":\"web\",\"tls\":false}\n"
        );
    }

    #[test]
    fn every_escape_position_matches_serde_json() {
        let pieces = [
            "",
            "plain",
            "\"",
            "\\",
            "\n",
            "\r",
            "\t",
            "\u{1}",
            "\u{1f}",
            " ",
            "~",
            "é",
            "日本",
            "\u{7f}",
            // A match followed by a byte that the word test flags too (the borrow carries upwards).
            "\"#",
            "\\]",
            "\u{0}\u{1}x",
            "\u{1f}!",
        ];
        for length in 0..20 {
            for piece in pieces {
                for position in 0..=length {
                    let mut text: String = "abcdefghijklmnopqrstuvwxyz".chars().take(length).collect();
                    text.insert_str(position, piece);
                    let mut out = String::new();
                    push_json_string(&mut out, &text);
                    assert_eq!(
                        out,
                        serde_json::Value::from(text.as_str()).to_string(),
                        "{text:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn request_fields_are_escaped_like_json() {
        let mut out = String::new();
        push_json_string(&mut out, "a\"b\\c\n<&>\u{1}é");
        assert_eq!(out, serde_json::Value::from("a\"b\\c\n<&>\u{1}é").to_string());
        let parsed: String = serde_json::from_str(&out).expect("valid JSON");
        assert_eq!(parsed, "a\"b\\c\n<&>\u{1}é");
    }

    #[test]
    fn numbers_and_request_lines() {
        let mut out = String::new();
        push_decimal(&mut out, 0);
        out.push(' ');
        push_decimal(&mut out, u64::MAX);
        out.push(' ');
        push_padded(&mut out, 7, 9);
        assert_eq!(out, "0 18446744073709551615 000000007");
        start_capture();
        info_fields(
            "Request",
            &[
                (log_key!("n"), Field::Integer(-1)),
                (log_key!("s"), Field::Text("a\u{1f}")),
                (log_key!("p"), Field::Plain("GET")),
            ],
            &[("req_x".into(), "y".into())],
        );
        let line = captured()
            .into_iter()
            .find(|line| line.contains("\"req_x\""))
            .expect("captured");
        assert!(
            line.ends_with(
                ",\"msg\":\"Request\",\"n\":-1,\"s\":\"a\\u001f\",\"p\":\"GET\",\"req_x\":\"y\"}\n"
            ),
            "{line}"
        );
    }

    #[test]
    fn dates_across_leap_years() {
        assert!(rfc3339(UNIX_EPOCH + Duration::from_secs(951_782_400)).starts_with("2000-02-29T00:00:00"));
        assert!(rfc3339(UNIX_EPOCH).starts_with("1970-01-01T00:00:00"));
    }
}
