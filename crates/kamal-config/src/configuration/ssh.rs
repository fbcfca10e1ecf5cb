//! `ssh:` as Kamal reads it at run time (`Kamal::Configuration::Ssh`): user, port, jump
//! host or proxy command, keys, key data and which OpenSSH config files apply.

use super::{raw, Configuration};
use crate::secrets::{Secret, Secrets};
use crate::yaml::{Mapping, Value};

/// How connections reach a host that is not directly reachable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SshProxy {
    /// `proxy:`, with `root@` prepended when it names no user.
    Jump(String),
    /// `proxy_command:`, a template (`%h`, `%p`).
    Command(String),
}

/// Which OpenSSH config files apply (`ssh.config`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SshConfigFiles {
    /// Unset or `true`: the user's and system defaults.
    Default,
    /// `false`: none at all.
    Ignored,
    /// A file or a list of files.
    Files(Vec<String>),
}

/// One `key_data` entry: a secret's value, or (deprecated) the key written inline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyData {
    FromSecret(Secret),
    /// Kamal warns: `Inline key_data usage is deprecated and will be removed in Kamal 3.
    /// Please store your key_data in a secret.`
    Inline(Secret),
}

#[derive(Debug, Clone, Copy)]
pub struct Ssh<'a> {
    settings: Option<&'a Mapping>,
}

impl Configuration {
    pub fn ssh(&self) -> Ssh<'_> {
        Ssh {
            settings: raw::get_mapping(self.root(), "ssh"),
        }
    }
}

impl<'a> Ssh<'a> {
    pub fn user(&self) -> String {
        raw::get_string(self.settings, "user").unwrap_or_else(|| "root".to_string())
    }

    /// A String or an Integer in the file; Kamal interpolates either as written.
    pub fn port(&self) -> String {
        raw::get_string(self.settings, "port").unwrap_or_else(|| "22".to_string())
    }

    pub fn proxy(&self) -> Option<SshProxy> {
        if let Some(jump) = raw::get_string(self.settings, "proxy") {
            let jump = if jump.contains('@') {
                jump
            } else {
                format!("root@{jump}")
            };
            Some(SshProxy::Jump(jump))
        } else {
            raw::get_string(self.settings, "proxy_command").map(SshProxy::Command)
        }
    }

    /// Only the keys given (`IdentitiesOnly=yes`): Ruby truthiness of `keys_only`.
    pub fn keys_only(&self) -> bool {
        !matches!(
            raw::get_value(self.settings, "keys_only"),
            None | Some(Value::Null) | Some(Value::Bool(false))
        )
    }

    pub fn keys(&self) -> Vec<String> {
        raw::strings(raw::get(self.settings, "keys"))
    }

    /// Each entry names a secret when the secrets define it (and it is not blank);
    /// otherwise it is the key itself, which Kamal still accepts with a warning.
    pub fn key_data(&self, secrets: &Secrets) -> Vec<KeyData> {
        raw::strings(raw::get(self.settings, "key_data"))
            .into_iter()
            .map(|entry| match secrets.get(&entry) {
                Ok(value) if secrets.contains(&entry) => KeyData::FromSecret(value),
                _ => KeyData::Inline(Secret::new(entry)),
            })
            .collect()
    }

    pub fn config(&self) -> SshConfigFiles {
        match raw::get_value(self.settings, "config") {
            None | Some(Value::Null) | Some(Value::Bool(true)) => SshConfigFiles::Default,
            Some(Value::Bool(false)) => SshConfigFiles::Ignored,
            Some(_) => SshConfigFiles::Files(raw::strings(raw::get(self.settings, "config"))),
        }
    }

    /// Net::SSH's logger level, `fatal` by default.
    pub fn log_level(&self) -> String {
        raw::get_string(self.settings, "log_level").unwrap_or_else(|| "fatal".to_string())
    }
}
