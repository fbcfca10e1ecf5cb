//! Bitwarden Secrets Manager (`bws`), authenticated by its access token in the environment.
//! Secrets are UUIDs (`bws secret get` each), `all` (`bws secret list`) or `<project>/all`
//! (`bws secret list <project>`); keys are the secrets' `key` fields.

use serde_json::Value;

use super::{backtick, parse_json, prefixed_secrets, require_cli, Adapter, FetchedSecrets};
use crate::environment::Environment;
use crate::secrets::error::SecretsError;
use crate::secrets::shellwords;

pub struct BitwardenSecretsManager;

impl Adapter for BitwardenSecretsManager {
    fn requires_account(&self) -> bool {
        false
    }

    fn check_dependencies(&self, environment: &mut dyn Environment) -> Result<(), SecretsError> {
        require_cli(
            environment,
            "bws --version 2> /dev/null",
            "Bitwarden Secrets Manager",
        )
    }

    fn login(
        &self,
        _: Option<&str>,
        environment: &mut dyn Environment,
    ) -> Result<Option<String>, SecretsError> {
        if backtick(environment, "bws project list")?.status != 0 {
            return Err(SecretsError::failed(
                "Could not authenticate to Bitwarden Secrets Manager. Did you set a valid access token?",
            ));
        }
        Ok(None)
    }

    fn fetch_secrets(
        &self,
        secrets: &[String],
        from: Option<&str>,
        _: Option<&str>,
        _: Option<&str>,
        environment: &mut dyn Environment,
    ) -> Result<FetchedSecrets, SecretsError> {
        if secrets.is_empty() {
            return Err(SecretsError::failed(
                "You must specify what to retrieve from Bitwarden Secrets Manager",
            ));
        }
        let secrets = prefixed_secrets(secrets, from);
        let list_command = match secrets.as_slice() {
            [only] if only == "all" => Some("bws secret list".to_string()),
            [only] if only.ends_with("/all") => {
                let project = only.split("/all").next().unwrap_or_default();
                Some(format!("bws secret list {}", shellwords::escape(project)))
            }
            _ => None,
        };
        let mut fetched = FetchedSecrets::default();
        let mut add = |item: &Value| {
            fetched.insert_json(
                super::text_of(item.get("key")),
                item.get("value").unwrap_or(&Value::Null),
            )
        };
        match list_command {
            Some(command) => {
                let output = backtick(environment, &command)?;
                if output.status != 0 {
                    return Err(SecretsError::failed(
                        "Could not read secrets from Bitwarden Secrets Manager",
                    ));
                }
                for item in parse_json(&output.stdout)?.as_array().into_iter().flatten() {
                    add(item);
                }
            }
            None => {
                for uuid in &secrets {
                    let output = backtick(
                        environment,
                        &format!("bws secret get {}", shellwords::escape(uuid)),
                    )?;
                    if output.status != 0 {
                        return Err(SecretsError::failed(format!(
                            "Could not read {uuid} from Bitwarden Secrets Manager"
                        )));
                    }
                    add(&parse_json(&output.stdout)?);
                }
            }
        }
        Ok(fetched)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secrets::adapters::fetch;
    use crate::secrets::adapters::testing::vendor_cli;

    /// `bws` is a stand-in answering the exact commands Kamal 2.11 sends.
    #[test]
    fn gets_each_uuid_or_lists_a_project() {
        let mut environment = vendor_cli(&[
            ("bws --version 2> /dev/null", "bws 1.0.0\n", 0),
            ("bws project list", "[]", 0),
            (
                "bws secret get 82aeb5bd-6958-4a89-8197-eacab758acce",
                r#"{"key":"KAMAL_REGISTRY_PASSWORD","value":"secret123"}"#,
                0,
            ),
            (
                "bws secret get 6f8cdf27-de2b-4c77-a35d-07df8050e332",
                r#"{"key":"MY_OTHER_SECRET","value":"other"}"#,
                0,
            ),
            (
                "bws secret list 82aeb5bd-6958-4a89-8197-eacab758acce",
                r#"[{"key":"A","value":"1"},{"key":"B","value":"2"}]"#,
                0,
            ),
            ("bws secret list", r#"[{"key":"C","value":"3"}]"#, 0),
        ]);
        let uuids = [
            "82aeb5bd-6958-4a89-8197-eacab758acce".to_string(),
            "6f8cdf27-de2b-4c77-a35d-07df8050e332".to_string(),
        ];
        let fetched = fetch(&BitwardenSecretsManager, &uuids, None, None, &mut environment).expect("fetches");
        assert_eq!(
            fetched.to_json().expose(),
            r#"{"KAMAL_REGISTRY_PASSWORD":"secret123","MY_OTHER_SECRET":"other"}"#
        );

        let all = ["all".to_string()];
        let fetched = fetch(
            &BitwardenSecretsManager,
            &all,
            None,
            Some("82aeb5bd-6958-4a89-8197-eacab758acce"),
            &mut environment,
        )
        .expect("fetches");
        assert_eq!(fetched.to_json().expose(), r#"{"A":"1","B":"2"}"#);
        let fetched = fetch(&BitwardenSecretsManager, &all, None, None, &mut environment).expect("fetches");
        assert_eq!(fetched.to_json().expose(), r#"{"C":"3"}"#);
    }

    #[test]
    fn needs_something_to_fetch_and_a_token() {
        let mut environment =
            vendor_cli(&[("bws --version 2> /dev/null", "", 0), ("bws project list", "", 1)]);
        let error = fetch(
            &BitwardenSecretsManager,
            &["x".to_string()],
            None,
            None,
            &mut environment,
        )
        .expect_err("no token");
        assert_eq!(
            error.to_string(),
            "Could not authenticate to Bitwarden Secrets Manager. Did you set a valid access token?"
        );
        let mut environment = environment.with_command("bws project list", "[]", 0);
        let error =
            fetch(&BitwardenSecretsManager, &[], None, None, &mut environment).expect_err("nothing asked");
        assert_eq!(
            error.to_string(),
            "You must specify what to retrieve from Bitwarden Secrets Manager"
        );
    }
}
