//! AWS Secrets Manager (`aws secretsmanager batch-get-secret-value`). `--account` is an
//! optional `--profile`. A secret whose `SecretString` is a JSON object gives one key per
//! field (`<Name>/<field>`); any other `SecretString` is the value of `<Name>` (Kamal 2.11
//! only handled non-JSON strings; HEAD also takes plain JSON strings and numbers whole).

use serde_json::Value;

use super::{
    backtick, parse_json, parse_json_object, prefixed_secrets, require_cli, Adapter, FetchedSecrets,
};
use crate::environment::Environment;
use crate::secrets::error::SecretsError;
use crate::secrets::shellwords;

pub struct AwsSecretsManager;

impl Adapter for AwsSecretsManager {
    fn requires_account(&self) -> bool {
        false
    }

    fn check_dependencies(&self, environment: &mut dyn Environment) -> Result<(), SecretsError> {
        require_cli(environment, "aws --version 2> /dev/null", "AWS")
    }

    fn login(&self, _: Option<&str>, _: &mut dyn Environment) -> Result<Option<String>, SecretsError> {
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
        let secrets = prefixed_secrets(secrets, from);
        let mut arguments: Vec<String> = [
            "aws",
            "secretsmanager",
            "batch-get-secret-value",
            "--secret-id-list",
        ]
        .map(String::from)
        .to_vec();
        arguments.extend(secrets.iter().map(|secret| shellwords::escape(secret)));
        if let Some(account) = account {
            arguments.extend(["--profile".to_string(), shellwords::escape(account)]);
        }
        arguments.extend(["--output".to_string(), "json".to_string()]);
        let output = backtick(environment, &arguments.join(" "))?;
        if output.status != 0 {
            // Kamal interpolates the (failed) command's stdout here; the ids say more and
            // cannot leak a value.
            return Err(SecretsError::failed(format!(
                "Could not read {} from AWS Secrets Manager",
                secrets.join(" ")
            )));
        }
        let response = parse_json(&output.stdout)?;
        if let Some(errors) = response
            .get("Errors")
            .and_then(Value::as_array)
            .filter(|errors| !errors.is_empty())
        {
            let messages: Vec<String> = errors
                .iter()
                .map(|error| {
                    format!(
                        "{}: {}",
                        super::text_of(error.get("SecretId")),
                        super::text_of(error.get("Message"))
                    )
                })
                .collect();
            return Err(SecretsError::failed(messages.join(" ")));
        }
        let mut fetched = FetchedSecrets::default();
        for secret in response
            .get("SecretValues")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let name = super::text_of(secret.get("Name"));
            let Some(secret_string) = secret.get("SecretString").and_then(Value::as_str) else {
                return Err(SecretsError::failed(format!(
                    "Could not read {name} from AWS Secrets Manager: no SecretString"
                )));
            };
            match parse_json_object(secret_string) {
                Ok(Some(object)) => {
                    for (key, value) in object {
                        fetched.insert_json(format!("{name}/{key}"), &value);
                    }
                }
                _ => fetched.insert_text(name, secret_string),
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

    /// `aws` is a stand-in answering the exact command Kamal 2.11 sends.
    #[test]
    fn fetches_json_and_plain_secrets() {
        let mut environment = vendor_cli(&[
            ("aws --version 2> /dev/null", "aws-cli/2.15.0\n", 0),
            (
                "aws secretsmanager batch-get-secret-value --secret-id-list secret/KEY1 secret/KEY2 --profile default --output json",
                r#"{"SecretValues":[
                    {"ARN":"arn","Name":"secret/KEY1","SecretString":"{\"b\":\"2\",\"a\":\"1\"}"},
                    {"ARN":"arn","Name":"secret/KEY2","SecretString":"plain"}],"Errors":[]}"#,
                0,
            ),
        ]);
        let secrets = ["KEY1".to_string(), "KEY2".to_string()];
        let fetched = fetch(
            &AwsSecretsManager,
            &secrets,
            Some("default"),
            Some("secret"),
            &mut environment,
        )
        .expect("fetches");
        assert_eq!(
            fetched.to_json().expose(),
            r#"{"secret/KEY1/b":"2","secret/KEY1/a":"1","secret/KEY2":"plain"}"#
        );
    }

    /// `aws` is a stand-in; the `Errors` of the response are raised together.
    #[test]
    fn raises_reported_errors() {
        let mut environment = vendor_cli(&[
            ("aws --version 2> /dev/null", "", 0),
            (
                "aws secretsmanager batch-get-secret-value --secret-id-list a b --output json",
                r#"{"SecretValues":[],"Errors":[{"SecretId":"a","ErrorCode":"x","Message":"nope"},{"SecretId":"b","Message":"gone"}]}"#,
                0,
            ),
        ]);
        let error = fetch(
            &AwsSecretsManager,
            &["a".to_string(), "b".to_string()],
            None,
            None,
            &mut environment,
        )
        .expect_err("errors");
        assert_eq!(error.to_string(), "a: nope b: gone");
    }
}
