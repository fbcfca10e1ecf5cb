//! Google Secret Manager (`gcloud secrets versions access`). `--account` is `user` or
//! `user|sa1,sa2` (impersonation chain), `default` meaning gcloud's own. Secrets are
//! `[project/]name[/version]` (project `default`, version `latest`); keys are
//! `project/name`, values the base64-decoded `payload.data`.

use indexmap::IndexMap;
use serde_json::Value;

use super::{backtick, parse_json, prefixed_secrets, require_cli, Adapter, FetchedSecrets};
use crate::environment::Environment;
use crate::secrets::error::SecretsError;
use crate::secrets::ruby;
use crate::secrets::shellwords;

pub struct GcpSecretManager;

fn logged_in(environment: &mut dyn Environment) -> Result<bool, SecretsError> {
    let output = backtick(environment, "gcloud auth list --format=json")?;
    Ok(parse_json(&output.stdout)?
        .as_array()
        .is_some_and(|accounts| !accounts.is_empty()))
}

impl Adapter for GcpSecretManager {
    fn check_dependencies(&self, environment: &mut dyn Environment) -> Result<(), SecretsError> {
        require_cli(environment, "gcloud --version 2> /dev/null", "gcloud")
    }

    fn login(
        &self,
        _: Option<&str>,
        environment: &mut dyn Environment,
    ) -> Result<Option<String>, SecretsError> {
        if !logged_in(environment)? {
            backtick(environment, "gcloud auth login")?;
            if !logged_in(environment)? {
                return Err(SecretsError::failed("could not login to gcloud"));
            }
        }
        Ok(None)
    }

    fn fetch_secrets(
        &self,
        secrets: &[String],
        from: Option<&str>,
        account: Option<&str>,
        _: Option<&str>,
        environment: &mut dyn Environment,
    ) -> Result<FetchedSecrets, SecretsError> {
        let account = account.unwrap_or_default();
        let (user, service_account) = match account.split_once('|') {
            Some((user, service_account)) => (user, Some(service_account)),
            None => (account, None),
        };
        let mut items: IndexMap<String, (String, String, String)> = IndexMap::new();
        for secret in prefixed_secrets(secrets, from) {
            let mut parts: Vec<&str> = ruby::split(&secret, "/");
            if parts.len() == 1 {
                parts.insert(0, "default");
            }
            let mut parts = parts.into_iter();
            let project = parts.next().unwrap_or_default().to_string();
            let name = parts.next().unwrap_or_default().to_string();
            let version = parts.next().unwrap_or("latest").to_string();
            items.insert(secret, (project, name, version));
        }
        let mut fetched = FetchedSecrets::default();
        for (project, name, version) in items.into_values() {
            let mut command = vec![
                "gcloud".to_string(),
                format!(
                    "secrets versions access {} --secret={}",
                    shellwords::escape(&version),
                    shellwords::escape(&name)
                ),
            ];
            if project != "default" {
                command.push(format!("--project={}", shellwords::escape(&project)));
            }
            if user != "default" {
                command.push(format!("--account={}", shellwords::escape(user)));
            }
            if let Some(service_account) = service_account {
                command.push(format!(
                    "--impersonate-service-account={}",
                    shellwords::escape(service_account)
                ));
            }
            command.push("--format=json".to_string());
            let item_name = format!("{project}/{name}");
            let output = backtick(environment, &command.join(" "))?;
            if output.status != 0 {
                return Err(SecretsError::failed(format!(
                    "Could not read {item_name} from Google Secret Manager"
                )));
            }
            let response = parse_json(ruby::strip(&output.stdout))?;
            let data = response
                .get("payload")
                .and_then(|payload| payload.get("data"))
                .and_then(Value::as_str)
                .unwrap_or_default();
            let value = String::from_utf8(ruby::decode64(data)).map_err(|_| {
                SecretsError::failed(format!(
                    "{item_name} from Google Secret Manager is not UTF-8 text"
                ))
            })?;
            fetched.insert_text(item_name, &value);
        }
        Ok(fetched)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secrets::adapters::fetch;
    use crate::secrets::adapters::testing::vendor_cli;

    fn payload(value: &str) -> String {
        // base64 of the value, as gcloud prints it.
        let encoded = match value {
            "secret1" => "c2VjcmV0MQ==",
            "secret2" => "c2VjcmV0Mg==",
            _ => "",
        };
        format!(
            r#"{{"name":"projects/1/secrets/x/versions/1","payload":{{"data":"{encoded}","dataCrc32c":"1"}}}}"#
        )
    }

    /// `gcloud` is a stand-in answering the exact commands Kamal 2.11 sends.
    #[test]
    fn fetches_with_projects_versions_and_impersonation() {
        let mut environment = vendor_cli(&[
            ("gcloud --version 2> /dev/null", "Google Cloud SDK 470.0.0\n", 0),
            ("gcloud auth list --format=json", r#"[{"account":"email@example.com","status":"ACTIVE"}]"#, 0),
            (
                "gcloud secrets versions access latest --secret=secret1 --account=email@example.com --impersonate-service-account=sa@example.com --format=json",
                &payload("secret1"),
                0,
            ),
            (
                "gcloud secrets versions access 123 --secret=secret2 --project=some-project --account=email@example.com --impersonate-service-account=sa@example.com --format=json",
                &payload("secret2"),
                0,
            ),
        ]);
        let secrets = ["secret1".to_string(), "some-project/secret2/123".to_string()];
        let fetched = fetch(
            &GcpSecretManager,
            &secrets,
            Some("email@example.com|sa@example.com"),
            None,
            &mut environment,
        )
        .expect("fetches");
        assert_eq!(
            fetched.to_json().expose(),
            r#"{"default/secret1":"secret1","some-project/secret2":"secret2"}"#
        );
    }

    /// `gcloud` is a stand-in; with no credentialed accounts Kamal runs `gcloud auth login`.
    #[test]
    fn logs_in_when_no_account_is_credentialed() {
        let mut environment = vendor_cli(&[
            ("gcloud --version 2> /dev/null", "", 0),
            ("gcloud auth list --format=json", "[]", 0),
            ("gcloud auth login", "", 0),
        ]);
        let error = fetch(
            &GcpSecretManager,
            &["a".to_string()],
            Some("default"),
            None,
            &mut environment,
        )
        .expect_err("no login");
        assert_eq!(error.to_string(), "could not login to gcloud");
        assert!(environment
            .commands_run
            .contains(&"gcloud auth login".to_string()));
    }
}
