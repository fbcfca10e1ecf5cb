//! [`Secret`]: a string that never shows itself by accident. `Debug` and `Display` print
//! `[REDACTED]` (Kamal's redaction word), so a secret can travel through errors, logs and
//! `{:?}` dumps safely; the value is only reachable through [`Secret::expose`].

use std::fmt;

/// A sensitive string. Read it with [`Secret::expose`], on purpose, where it is needed.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The value itself. Every call site is a place a secret leaves its wrapper.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The value, unwrapped.
    pub fn into_exposed(self) -> String {
        self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Rails' `present?`: not empty and not only whitespace (Kamal's `Secrets#key?`).
    pub fn is_present(&self) -> bool {
        !self.0.trim().is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("[REDACTED]")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("[REDACTED]")
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Secret {
        Secret(value)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Secret {
        Secret(value.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printing_a_secret_redacts_it() {
        let secret = Secret::new("hunter2");
        assert_eq!(format!("{secret}"), "[REDACTED]");
        assert_eq!(format!("{secret:?}"), "[REDACTED]");
        assert_eq!(format!("{:?}", vec![secret.clone()]), "[[REDACTED]]");
        assert_eq!(secret.expose(), "hunter2");
    }

    #[test]
    fn presence_ignores_whitespace() {
        assert!(!Secret::new(" \n").is_present());
        assert!(Secret::new(" x ").is_present());
    }
}
