//! LastPass (`lpass`). `--account` is the login email; `lpass status` must say
//! `Logged in as <account>.` or Kamal runs `lpass login`. Keys are the items' `fullname`.

use serde_json::Value;

use super::doppler::inspect_names;
use super::{backtick, parse_json, prefixed_secrets, require_cli, Adapter, FetchedSecrets};
use crate::environment::Environment;
use crate::secrets::error::SecretsError;
use crate::secrets::ruby;
use crate::secrets::shellwords;

pub struct LastPass;

impl Adapter for LastPass {
    fn check_dependencies(&self, environment: &mut dyn Environment) -> Result<(), SecretsError> {
        require_cli(environment, "lpass --version 2> /dev/null", "LastPass")
    }

    fn login(
        &self,
        account: Option<&str>,
        environment: &mut dyn Environment,
    ) -> Result<Option<String>, SecretsError> {
        let account = account.unwrap_or_default();
        let status = backtick(environment, "lpass status --color never")?;
        if ruby::strip(&status.stdout) != format!("Logged in as {account}.")
            && backtick(
                environment,
                &format!("lpass login {}", shellwords::escape(account)),
            )?
            .status
                != 0
        {
            return Err(SecretsError::failed("Failed to login to LastPass"));
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
        let secrets = prefixed_secrets(secrets, from);
        let escaped: Vec<String> = secrets.iter().map(|secret| shellwords::escape(secret)).collect();
        let output = backtick(environment, &format!("lpass show {} --json", escaped.join(" ")))?;
        if output.status != 0 {
            return Err(SecretsError::failed(format!(
                "Could not read {} from LastPass",
                inspect_names(&secrets)
            )));
        }
        let mut fetched = FetchedSecrets::default();
        for item in parse_json(&output.stdout)?.as_array().into_iter().flatten() {
            fetched.insert_json(
                super::text_of(item.get("fullname")),
                item.get("password").unwrap_or(&Value::Null),
            );
        }
        let found: Vec<&str> = fetched.keys().collect();
        let missing: Vec<&str> = secrets
            .iter()
            .map(String::as_str)
            .filter(|secret| !found.contains(secret))
            .collect();
        if !missing.is_empty() {
            return Err(SecretsError::failed(format!(
                "Could not find {} in LastPass",
                missing.join(", ")
            )));
        }
        Ok(fetched)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secrets::adapters::fetch;
    use crate::secrets::adapters::testing::vendor_cli;

    /// `lpass` is a stand-in answering the exact commands Kamal 2.11 sends.
    #[test]
    fn fetches_by_full_name() {
        let mut environment = vendor_cli(&[
            ("lpass --version 2> /dev/null", "LastPass CLI v1.3.7\n", 0),
            (
                "lpass status --color never",
                "Logged in as email@example.com.\n",
                0,
            ),
            (
                "lpass show Folder/SECRET1 Folder/SECRET2 --json",
                r#"[{"id":"1","name":"SECRET1","fullname":"Folder/SECRET1","password":"secret1"},
                    {"id":"2","name":"SECRET2","fullname":"Folder/SECRET2","password":"secret2"}]"#,
                0,
            ),
        ]);
        let secrets = ["SECRET1".to_string(), "SECRET2".to_string()];
        let fetched = fetch(
            &LastPass,
            &secrets,
            Some("email@example.com"),
            Some("Folder"),
            &mut environment,
        )
        .expect("fetches");
        assert_eq!(
            fetched.to_json().expose(),
            r#"{"Folder/SECRET1":"secret1","Folder/SECRET2":"secret2"}"#
        );
    }

    /// `lpass` is a stand-in; a different login triggers `lpass login`, and items the
    /// vault did not return are named.
    #[test]
    fn logs_in_and_reports_missing_items() {
        let mut environment = vendor_cli(&[
            ("lpass --version 2> /dev/null", "", 0),
            ("lpass status --color never", "Not logged in.\n", 1),
            ("lpass login email@example.com", "", 0),
            (
                "lpass show SECRET1 SECRET2 --json",
                r#"[{"fullname":"SECRET1","password":"secret1"}]"#,
                0,
            ),
        ]);
        let secrets = ["SECRET1".to_string(), "SECRET2".to_string()];
        let error = fetch(
            &LastPass,
            &secrets,
            Some("email@example.com"),
            None,
            &mut environment,
        )
        .expect_err("missing");
        assert_eq!(error.to_string(), "Could not find SECRET2 in LastPass");
        assert!(environment
            .commands_run
            .contains(&"lpass login email@example.com".to_string()));
    }
}
