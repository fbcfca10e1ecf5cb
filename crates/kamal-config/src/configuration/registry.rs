//! `registry:` as Kamal reads it at run time (`Kamal::Configuration::Registry`): the server,
//! the credentials (plain strings, or `[SECRET_NAME]` looked up in the secrets), and whether
//! the registry is a local one reached through an SSH tunnel.

use super::{raw, sections, Accessory, Configuration};
use crate::secrets::{Secret, Secrets, SecretsError};
use crate::yaml::{Mapping, Value};

/// A `registry:` section: the root one, or an accessory's own.
#[derive(Debug, Clone, Copy)]
pub struct Registry<'a> {
    settings: Option<&'a Mapping>,
}

impl<'a> Registry<'a> {
    pub fn new(settings: Option<&'a Mapping>) -> Registry<'a> {
        Registry { settings }
    }

    /// Absent means Docker Hub: `docker login` gets no server argument.
    pub fn server(&self) -> Option<String> {
        raw::get_string(self.settings, "server")
    }

    pub fn username(&self, secrets: &Secrets) -> Result<Option<Secret>, SecretsError> {
        self.lookup("username", secrets)
    }

    pub fn password(&self, secrets: &Secrets) -> Result<Option<Secret>, SecretsError> {
        self.lookup("password", secrets)
    }

    /// `server.match?("^localhost[:$]")`.
    pub fn is_local(&self) -> bool {
        sections::is_local_registry(self.settings)
    }

    /// `server.split(":").last.to_i` for a local registry (Ruby's `to_i`: leading digits, else 0).
    pub fn local_port(&self) -> Option<u64> {
        if !self.is_local() {
            return None;
        }
        let server = self.server().unwrap_or_default();
        let last = server.rsplit(':').next().unwrap_or_default();
        let digits: String = last
            .trim_start()
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        Some(digits.parse().unwrap_or(0))
    }

    /// A one-element Array names a secret (missing secrets raise Kamal's error); anything
    /// else is the value itself. Both are sensitive.
    fn lookup(&self, key: &str, secrets: &Secrets) -> Result<Option<Secret>, SecretsError> {
        match raw::get_value(self.settings, key) {
            Some(Value::Sequence(items)) => match items.first() {
                Some(name) => secrets.get(&raw::to_s(&name.value)).map(Some),
                None => Ok(None),
            },
            value => Ok(raw::scalar_text(value).map(Secret::new)),
        }
    }
}

impl Configuration {
    /// The root `registry:` section (empty when absent: Docker Hub, no credentials).
    pub fn registry_config(&self) -> Registry<'_> {
        Registry::new(self.registry())
    }
}

impl Accessory {
    /// The accessory's own `registry:`, when present; otherwise Kamal uses the root one.
    pub fn registry_config(&self) -> Option<Registry<'_>> {
        raw::present(raw::get_value(Some(&self.config), "registry"))
            .then(|| Registry::new(raw::get_mapping(Some(&self.config), "registry")))
    }
}
