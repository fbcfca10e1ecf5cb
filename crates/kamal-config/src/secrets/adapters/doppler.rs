//! Doppler (`doppler secrets get`). `--from project/config` is required unless
//! `DOPPLER_TOKEN` is a service token (`dp.st...`), which already names both. Keys are the
//! secret names, values their `computed` field.

use serde_json::Value;

use super::{backtick, parse_json_object, prefixed_secrets, require_cli, Adapter, FetchedSecrets};
use crate::environment::Environment;
use crate::secrets::error::SecretsError;
use crate::secrets::ruby;
use crate::secrets::shellwords;

pub struct Doppler;

/// Ruby's `Array#to_s` of names, as Kamal interpolates lists into messages.
pub(crate) fn inspect_names(names: &[String]) -> String {
    format!(
        "[{}]",
        names
            .iter()
            .map(|name| ruby::inspect(name))
            .collect::<Vec<_>>()
            .join(", ")
    )
}

impl Adapter for Doppler {
    fn requires_account(&self) -> bool {
        false
    }

    fn check_dependencies(&self, environment: &mut dyn Environment) -> Result<(), SecretsError> {
        require_cli(environment, "doppler --version 2> /dev/null", "Doppler")
    }

    fn login(
        &self,
        _: Option<&str>,
        environment: &mut dyn Environment,
    ) -> Result<Option<String>, SecretsError> {
        if backtick(environment, "doppler me --json 2> /dev/null")?.status != 0
            && backtick(environment, "doppler login -y")?.status != 0
        {
            return Err(SecretsError::failed("Failed to login to Doppler"));
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
        let service_token = environment
            .var("DOPPLER_TOKEN")
            .is_some_and(|token| token.starts_with("dp.st"));
        let flags = if service_token {
            String::new()
        } else {
            let first = secrets.first().map(String::as_str).unwrap_or_default();
            match ruby::split(first, "/").as_slice() {
                [project, config, ..] => format!(
                    "-p {} -c {}",
                    shellwords::escape(project),
                    shellwords::escape(config)
                ),
                _ => {
                    return Err(SecretsError::failed(
                        "Missing project or config from '--from=project/config' option",
                    ))
                }
            }
        };
        let names: Vec<String> = secrets
            .iter()
            .map(|secret| shellwords::escape(ruby::split(secret, "/").last().copied().unwrap_or_default()))
            .collect();
        let output = backtick(
            environment,
            &format!("doppler secrets get {} --json {flags}", names.join(" ")),
        )?;
        if output.status != 0 {
            return Err(SecretsError::failed(format!(
                "Could not read {} from Doppler",
                inspect_names(&secrets)
            )));
        }
        let items = parse_json_object(&output.stdout)
            .map_err(|error| SecretsError::failed(format!("Could not parse JSON: {error}")))?
            .unwrap_or_default();
        let mut fetched = FetchedSecrets::default();
        for (name, item) in items {
            fetched.insert_json(name, item.get("computed").unwrap_or(&Value::Null));
        }
        Ok(fetched)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secrets::adapters::fetch;
    use crate::secrets::adapters::testing::vendor_cli;

    const SECRETS: &str = r#"{"SECRET1":{"computed":"secret1","note":"","raw":"secret1"},"FSECRET1":{"computed":"fsecret1","raw":"fsecret1"}}"#;

    /// `doppler` is a stand-in answering the exact commands Kamal 2.11 sends.
    #[test]
    fn fetches_with_project_and_config() {
        let mut environment = vendor_cli(&[
            ("doppler --version 2> /dev/null", "v3.68.0\n", 0),
            ("doppler me --json 2> /dev/null", "{}", 0),
            (
                "doppler secrets get SECRET1 FSECRET1 --json -p my-project -c prd",
                SECRETS,
                0,
            ),
        ]);
        let secrets = ["SECRET1".to_string(), "FSECRET1".to_string()];
        let fetched =
            fetch(&Doppler, &secrets, None, Some("my-project/prd"), &mut environment).expect("fetches");
        assert_eq!(
            fetched.to_json().expose(),
            r#"{"SECRET1":"secret1","FSECRET1":"fsecret1"}"#
        );

        let error = fetch(&Doppler, &secrets, None, None, &mut environment).expect_err("needs --from");
        assert_eq!(
            error.to_string(),
            "Missing project or config from '--from=project/config' option"
        );
    }

    /// `doppler` is a stand-in; with a service token Kamal's command ends in `--json ` (the
    /// empty flags leave their space), which Ruby runs without a shell, word-split; the
    /// stand-in records direct commands by their words joined with single spaces.
    #[test]
    fn service_tokens_need_no_project() {
        let mut environment = vendor_cli(&[
            ("doppler --version 2> /dev/null", "", 0),
            ("doppler me --json 2> /dev/null", "", 1),
            ("doppler login -y", "", 0),
            ("doppler secrets get SECRET1 --json", SECRETS, 0),
        ])
        .with_var("DOPPLER_TOKEN", "dp.st.xxxx");
        let fetched =
            fetch(&Doppler, &["SECRET1".to_string()], None, None, &mut environment).expect("fetches");
        assert_eq!(
            fetched.to_json().expose(),
            r#"{"SECRET1":"secret1","FSECRET1":"fsecret1"}"#
        );
    }
}
