//! What can go wrong while rendering: a Ruby exception Kamal would raise too (shown the way
//! Kamal shows it), Ruby this crate does not evaluate, or a template/Ruby syntax error.

use std::fmt;
use std::path::PathBuf;

/// Names the set of Ruby we evaluate, so an `Unsupported` message tells the user why.
const SUPPORTED_SUBSET: &str =
    "kamal-rs evaluates a subset of Ruby: ENV, ENV.fetch, strings, backticks, File.read, if/else, ||, .split/.strip/…";

/// A failure while rendering one ERB template.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}", self.describe())]
pub struct ErbError {
    /// The template's path, as given to [`render`](super::render).
    pub file: PathBuf,
    /// 1-based line in the template of the Ruby statement that failed.
    pub line: usize,
    /// The Ruby statement that failed, as written in the template.
    pub expression: String,
    pub kind: ErbErrorKind,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ErbErrorKind {
    /// An exception real Ruby raises in the same situation.
    Raised(RubyException),
    /// Valid (or possibly valid) Ruby outside the subset this crate evaluates.
    Unsupported { detail: String },
    /// The template cannot be compiled (unterminated tag, string, block...).
    Syntax { message: String },
}

/// A Ruby exception: its class name (`KeyError`, `Errno::ENOENT`) and message.
#[derive(Debug, Clone, PartialEq)]
pub struct RubyException {
    pub class: &'static str,
    pub message: String,
}

impl RubyException {
    pub fn new(class: &'static str, message: impl Into<String>) -> Self {
        RubyException {
            class,
            message: message.into(),
        }
    }

    /// Whether a `rescue` naming `class` (or a bare `rescue`, `class == None`) catches this one.
    pub fn is_rescued_by(&self, class: Option<&str>) -> bool {
        let ancestors = exception_ancestors(self.class);
        match class {
            None => ancestors.contains(&"StandardError"),
            Some(wanted) => wanted == self.class || ancestors.contains(&wanted),
        }
    }
}

/// The superclasses of the exceptions the evaluator raises (nearest first).
fn exception_ancestors(class: &str) -> &'static [&'static str] {
    match class {
        "KeyError" => &["IndexError", "StandardError", "Exception"],
        "NoMethodError" => &["NameError", "StandardError", "Exception"],
        "LoadError" => &["ScriptError", "Exception"],
        "URI::InvalidURIError" => &["URI::Error", "StandardError", "Exception"],
        class if class.starts_with("Errno::") => &["SystemCallError", "StandardError", "Exception"],
        _ => &["StandardError", "Exception"],
    }
}

impl ErbError {
    /// The Ruby exception class Kamal prints as `ERROR (<Class>): <message>` for this failure.
    ///
    /// `None` for our own kinds, and for exceptions that are not `StandardError`s (`LoadError`):
    /// Kamal's `rescue => e` does not catch those, so Ruby crashes with a backtrace instead.
    pub fn ruby_class(&self) -> Option<&'static str> {
        match &self.kind {
            ErbErrorKind::Raised(exception) if exception.is_rescued_by(None) => Some(exception.class),
            _ => None,
        }
    }

    fn describe(&self) -> String {
        let location = format!("{}:{}", self.file.display(), self.line);
        match &self.kind {
            ErbErrorKind::Raised(exception) if exception.is_rescued_by(None) => exception.message.clone(),
            ErbErrorKind::Raised(exception) => {
                format!("{location}: {} ({})", exception.message, exception.class)
            }
            ErbErrorKind::Unsupported { detail } => format!(
                "{location}: unsupported Ruby in ERB: `{}` ({detail}; {SUPPORTED_SUBSET})",
                self.expression
            ),
            ErbErrorKind::Syntax { message } => format!("{location}: invalid ERB: {message}"),
        }
    }
}

impl fmt::Display for ErbErrorKind {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ErbErrorKind::Raised(exception) => {
                write!(formatter, "{} ({})", exception.message, exception.class)
            }
            ErbErrorKind::Unsupported { detail } => write!(formatter, "unsupported: {detail}"),
            ErbErrorKind::Syntax { message } => write!(formatter, "syntax error: {message}"),
        }
    }
}
