//! Names Kamal derives from the service, destination and version (`Configuration#latest_tag`,
//! `#app_directory`, …), for the command builders. Versions are passed in: resolving one
//! asks git (see [`Configuration::version`]), and builders stay pure.

use super::{raw, Configuration};

impl Configuration {
    /// Always `.kamal`: Kamal accepts a `run_directory` key and ignores it.
    pub fn run_directory(&self) -> &'static str {
        ".kamal"
    }

    /// `.kamal/apps`: one directory per installed app (counted before removing the proxy).
    pub fn apps_directory(&self) -> String {
        format!("{}/apps", self.run_directory())
    }

    /// `.kamal/apps/<service>[-<destination>]`.
    pub fn app_directory(&self) -> String {
        format!("{}/{}", self.apps_directory(), self.service_and_destination())
    }

    /// `service[-destination]`.
    pub fn service_and_destination(&self) -> String {
        match &self.destination {
            Some(destination) => format!("{}-{destination}", self.service()),
            None => self.service(),
        }
    }

    /// `latest`, or `latest-<destination>`.
    pub fn latest_tag(&self) -> String {
        match &self.destination {
            Some(destination) => format!("latest-{destination}"),
            None => "latest".to_string(),
        }
    }

    /// `repository:latest[-destination]`.
    pub fn latest_image(&self) -> String {
        format!("{}:{}", self.repository(), self.latest_tag())
    }

    /// `repository:version`.
    pub fn absolute_image(&self, version: &str) -> String {
        format!("{}:{version}", self.repository())
    }

    /// `secrets_path`, default `.kamal/secrets`.
    pub fn secrets_path(&self) -> String {
        raw::get_string(self.root(), "secrets_path").unwrap_or_else(|| ".kamal/secrets".to_string())
    }
}

/// `Configuration#abbreviated_version`: the first 7 characters, unless the version holds an
/// `_` (`<sha>_uncommitted_<hex>` stays whole).
pub fn abbreviated_version(version: &str) -> String {
    if version.contains('_') {
        version.to_string()
    } else {
        version.chars().take(7).collect()
    }
}

/// `KAMAL_SERVICE_VERSION`: `service@abbreviated_version`.
pub fn service_version(service: &str, version: &str) -> String {
    format!("{service}@{}", abbreviated_version(version))
}
