//! `Kamal::Tags`: the details stamped on audit lines and exported to hooks — when, by whom,
//! for which destination, version and service, plus per-call extras (role, hosts, …).
//! Order is Kamal's (defaults first, extras after, a repeated key keeps its first place)
//! and `nil` values are left out.

use kamal_config::configuration::names::service_version;
use kamal_config::configuration::Configuration;

/// The facts Kamal reads from the clock, git and the shell when it stamps something; the
/// caller gathers them, so builders stay pure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stamp {
    /// `Time.now.utc.iso8601` (see [`crate::base::utc_iso8601`]).
    pub recorded_at: String,
    /// `git config user.email`, else `whoami`.
    pub performer: String,
    /// The version acted on; `None` where Kamal drops it anyway (audit lines).
    pub version: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Tags {
    entries: Vec<(String, String)>,
}

impl Tags {
    /// `Tags.from_config(config, **extra)`: recorded_at, performer, destination, version,
    /// service_version, service, then the extras.
    pub fn from_config(config: &Configuration, stamp: &Stamp, extra: &[(&str, Option<String>)]) -> Tags {
        let service = config.service();
        let service_version = match &stamp.version {
            Some(version) => service_version(&service, version),
            None => service.clone(),
        };
        let mut tags = Tags::default();
        tags.insert("recorded_at", Some(stamp.recorded_at.clone()));
        tags.insert("performer", Some(stamp.performer.clone()));
        tags.insert("destination", config.destination.clone());
        tags.insert("version", stamp.version.clone());
        tags.insert("service_version", Some(service_version));
        tags.insert("service", Some(service));
        for (key, value) in extra {
            tags.insert(key, value.clone());
        }
        tags
    }

    /// A Ruby Hash merge: a known key keeps its place and takes the new value; `nil` is dropped.
    fn insert(&mut self, key: &str, value: Option<String>) {
        let position = self.entries.iter().position(|(existing, _)| existing == key);
        match (position, value) {
            (Some(index), Some(value)) => self.entries[index].1 = value,
            (Some(index), None) => {
                self.entries.remove(index);
            }
            (None, Some(value)) => self.entries.push((key.to_string(), value)),
            (None, None) => {}
        }
    }

    pub fn except(&self, keys: &[&str]) -> Tags {
        Tags {
            entries: self
                .entries
                .iter()
                .filter(|(key, _)| !keys.contains(&key.as_str()))
                .cloned()
                .collect(),
        }
    }

    /// `KAMAL_<KEY>` variables, in order.
    pub fn env(&self) -> Vec<(String, String)> {
        self.entries
            .iter()
            .map(|(key, value)| (format!("KAMAL_{}", key.to_uppercase()), value.clone()))
            .collect()
    }

    /// `[value] [value] …`.
    pub fn to_line(&self) -> String {
        self.entries
            .iter()
            .map(|(_, value)| format!("[{value}]"))
            .collect::<Vec<_>>()
            .join(" ")
    }
}
