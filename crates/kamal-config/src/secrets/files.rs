//! [`Secrets`]: Kamal's secrets files and lookups (`Kamal::Secrets`).
//!
//! The candidates are `<secrets_path>-common`, then `<secrets_path>` (or
//! `<secrets_path>.<destination>` with a destination; the plain file is then not read).
//! Only files that exist are read, each parsed on its own (a file's `$VAR` sees its own
//! earlier keys and the environment, not the other file's), later files overriding earlier
//! keys. Kamal parses lazily on the first lookup; here [`SecretFiles::locate`] is cheap and
//! [`SecretFiles::load`] (which may run `$(...)` commands) is called when secrets are needed.

use std::path::Path;

use indexmap::IndexMap;

use super::dotenv;
use super::error::SecretsError;
use super::sensitive::Secret;
use super::substitution::CommandFailure;
use crate::environment::Environment;

/// Which secrets files apply, before any is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretFiles {
    /// Both candidates, in reading order, whether they exist or not.
    pub filenames: Vec<String>,
    /// The candidates that exist.
    pub existing: Vec<String>,
}

impl SecretFiles {
    /// `secrets_filenames` and `secrets_files`.
    pub fn locate(
        secrets_path: &str,
        destination: Option<&str>,
        environment: &dyn Environment,
    ) -> SecretFiles {
        let main = match destination {
            Some(destination) => format!("{secrets_path}.{destination}"),
            None => secrets_path.to_string(),
        };
        let filenames = vec![format!("{secrets_path}-common"), main];
        let existing = filenames
            .iter()
            .filter(|file| environment.file_exists(Path::new(file)))
            .cloned()
            .collect();
        SecretFiles { filenames, existing }
    }

    /// Reads and parses the existing files, merging their values.
    pub fn load(self, environment: &mut dyn Environment) -> Result<Secrets, SecretsError> {
        let mut values = IndexMap::new();
        let mut command_failures = Vec::new();
        for file in &self.existing {
            let text = environment
                .read_file(Path::new(file))
                .map_err(|error| SecretsError::Read {
                    file: file.clone(),
                    message: error.to_string(),
                })?;
            let parsed = dotenv::parse(&text, file, environment)?;
            values.extend(parsed.values);
            command_failures.extend(parsed.command_failures);
        }
        Ok(Secrets {
            files: self,
            values,
            command_failures,
        })
    }
}

/// The merged secrets of a deployment.
#[derive(Debug, Clone)]
pub struct Secrets {
    files: SecretFiles,
    values: IndexMap<String, Secret>,
    command_failures: Vec<CommandFailure>,
}

impl Secrets {
    /// Locates and loads in one go (`secrets_path` is usually `.kamal/secrets`).
    pub fn load(
        secrets_path: &str,
        destination: Option<&str>,
        environment: &mut dyn Environment,
    ) -> Result<Secrets, SecretsError> {
        SecretFiles::locate(secrets_path, destination, environment).load(environment)
    }

    /// `secrets[key]`, with Kamal's error messages when it is missing.
    pub fn get(&self, key: &str) -> Result<Secret, SecretsError> {
        if let Some(value) = self.values.get(key) {
            return Ok(value.clone());
        }
        if self.files.existing.is_empty() {
            Err(SecretsError::NoSecretFiles {
                key: key.to_string(),
                filenames: self.files.filenames.clone(),
            })
        } else {
            Err(SecretsError::NotFound {
                key: key.to_string(),
                files: self.files.existing.clone(),
            })
        }
    }

    /// `key?`: defined and not blank.
    pub fn contains(&self, key: &str) -> bool {
        self.values.get(key).is_some_and(Secret::is_present)
    }

    /// `to_h`: every secret in file order (for hooks and `kamal secrets print`).
    pub fn to_map(&self) -> &IndexMap<String, Secret> {
        &self.values
    }

    /// The files that were read.
    pub fn files(&self) -> &[String] {
        &self.files.existing
    }

    /// `$(...)` commands that exited non-zero; Kamal used their output regardless.
    pub fn command_failures(&self) -> &[CommandFailure] {
        &self.command_failures
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::environment::MapEnvironment;

    fn value(secrets: &Secrets, key: &str) -> String {
        secrets.get(key).expect("defined").into_exposed()
    }

    #[test]
    fn common_then_main_file_later_wins() {
        let mut environment = MapEnvironment::new()
            .with_file(".kamal/secrets-common", "A=common\nB=common\n")
            .with_file(".kamal/secrets", "B=main\nC=$A\n");
        let secrets = Secrets::load(".kamal/secrets", None, &mut environment).expect("loads");
        assert_eq!(value(&secrets, "A"), "common");
        assert_eq!(value(&secrets, "B"), "main");
        // Files are parsed separately: the main file does not see `A` from the common file.
        assert_eq!(value(&secrets, "C"), "");
        assert_eq!(secrets.to_map().keys().collect::<Vec<_>>(), ["A", "B", "C"]);
    }

    #[test]
    fn a_destination_replaces_the_main_file() {
        let mut environment = MapEnvironment::new()
            .with_file(".kamal/secrets", "A=main\n")
            .with_file(".kamal/secrets.staging", "B=staging\n");
        let secrets = Secrets::load(".kamal/secrets", Some("staging"), &mut environment).expect("loads");
        assert_eq!(value(&secrets, "B"), "staging");
        assert_eq!(
            secrets.get("A").expect_err("not read").to_string(),
            "Secret 'A' not found in .kamal/secrets.staging"
        );
    }

    /// Messages pinned from Kamal 2.11.
    #[test]
    fn lookup_errors_name_the_files() {
        let mut environment = MapEnvironment::new().with_file(".kamal/secrets", "A=1\n");
        let secrets = Secrets::load(".kamal/secrets", None, &mut environment).expect("loads");
        assert_eq!(
            secrets.get("X").expect_err("missing").to_string(),
            "Secret 'X' not found in .kamal/secrets"
        );

        let mut environment = MapEnvironment::new();
        let secrets = Secrets::load(".kamal/secrets", None, &mut environment).expect("loads");
        assert_eq!(
            secrets.get("X").expect_err("missing").to_string(),
            "Secret 'X' not found, no secret files (.kamal/secrets-common, .kamal/secrets) provided"
        );
    }

    #[test]
    fn errors_and_debug_output_never_show_values() {
        let mut environment = MapEnvironment::new().with_file(".kamal/secrets", "PASSWORD=hunter2\n");
        let secrets = Secrets::load(".kamal/secrets", None, &mut environment).expect("loads");
        assert!(!format!("{secrets:?}").contains("hunter2"));
        assert!(secrets.contains("PASSWORD"));
    }
}
