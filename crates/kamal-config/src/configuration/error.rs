//! Errors raised while loading configuration, each tagged with the Ruby exception class
//! Kamal prints for it (`ERROR (Kamal::ConfigurationError): …`), so our first line matches
//! Kamal's byte for byte, plus where in which file the offending value was written.

use std::path::PathBuf;

/// A place in a configuration file (line numbers are of the ERB-rendered text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
}

impl std::fmt::Display for Location {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(formatter, "{}:{}:{}", self.file.display(), self.line, self.column)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// `Kamal::ConfigurationError`: validation failures, with the key path as context.
    #[error("{message}")]
    Invalid {
        message: String,
        /// The key path the message is about (`["servers", "web", "hosts", "0"]`).
        context: Vec<String>,
        location: Option<Location>,
    },
    /// `ArgumentError` (`You must specify a destination`).
    #[error("{0}")]
    Argument(String),
    /// `RuntimeError` (`Configuration file not found in …`).
    #[error("{0}")]
    Runtime(String),
    /// A Ruby error that Kamal would raise while evaluating something (`NoMethodError`, …).
    #[error("{message}")]
    Ruby { class: &'static str, message: String },
    #[error(transparent)]
    Erb(#[from] crate::erb::ErbError),
    #[error(transparent)]
    Yaml(#[from] crate::yaml::YamlError),
    /// A file we could not read or write, with the operating system's reason.
    #[error("{reason} - {}", path.display())]
    Unreadable {
        path: PathBuf,
        reason: String,
        class: &'static str,
    },
}

impl ConfigError {
    /// An I/O failure on `path`, classed as Ruby's `Errno::*` for the same failure.
    pub fn io(path: impl Into<PathBuf>, error: &std::io::Error) -> ConfigError {
        let class = match error.kind() {
            std::io::ErrorKind::NotFound => "Errno::ENOENT",
            std::io::ErrorKind::PermissionDenied => "Errno::EACCES",
            std::io::ErrorKind::IsADirectory => "Errno::EISDIR",
            _ => "IOError",
        };
        // Ruby's wording ("Is a directory") without Rust's " (os error 21)".
        let reason = error.to_string();
        let reason = reason.split(" (os error").next().unwrap_or(&reason).to_string();
        ConfigError::Unreadable {
            path: path.into(),
            reason,
            class,
        }
    }

    pub fn invalid(message: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            message: message.into(),
            context: Vec::new(),
            location: None,
        }
    }

    /// The Ruby exception class Kamal shows for this error, where Kamal shows one.
    pub fn ruby_class(&self) -> Option<&'static str> {
        match self {
            ConfigError::Invalid { .. } => Some("Kamal::ConfigurationError"),
            ConfigError::Argument(_) => Some("ArgumentError"),
            ConfigError::Runtime(_) => Some("RuntimeError"),
            ConfigError::Ruby { class, .. } => Some(class),
            ConfigError::Erb(error) => error.ruby_class(),
            ConfigError::Yaml(error) => Some(error.ruby_class()),
            ConfigError::Unreadable { class, .. } => Some(class),
        }
    }

    /// Where the offending value was written, when we know.
    pub fn location(&self) -> Option<Location> {
        match self {
            ConfigError::Invalid { location, .. } => location.clone(),
            // Ruby's own messages (KeyError, Errno::ENOENT) name no place; we know it.
            ConfigError::Erb(error) if error.ruby_class().is_some() => Some(Location {
                file: error.file.clone(),
                line: error.line,
                column: 1,
            }),
            _ => None,
        }
    }
}

pub type Result<T> = std::result::Result<T, ConfigError>;
