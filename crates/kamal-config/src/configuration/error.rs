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
    /// A file we could not read, with the operating system's reason.
    #[error("{}: {reason}", path.display())]
    Unreadable { path: PathBuf, reason: String },
}

impl ConfigError {
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
            ConfigError::Unreadable { .. } => Some("Errno::EACCES"),
        }
    }

    /// Where the offending value was written, when we know.
    pub fn location(&self) -> Option<Location> {
        match self {
            ConfigError::Invalid { location, .. } => location.clone(),
            _ => None,
        }
    }
}

pub type Result<T> = std::result::Result<T, ConfigError>;
