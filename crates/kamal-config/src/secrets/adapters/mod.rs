//! `kamal secrets fetch` adapters (`Kamal::Secrets::Adapters`): each drives a password
//! manager's CLI through [`Environment::run_command`] with the exact command strings Kamal
//! sends (those strings are the compatibility contract, pinned in each adapter's tests),
//! and turns the CLI's output into `{"<key>": <value>}`.
//!
//! [`fetch`] is `Adapters::Base#fetch`: account check, CLI check, login, then the adapter's
//! own fetch. [`lookup`] maps `--adapter` names to adapters.

mod aws_secrets_manager;
mod bitwarden;
mod bitwarden_secrets_manager;
mod doppler;
mod enpass;
mod gcp_secret_manager;
mod last_pass;
mod one_password;
mod passbolt;
mod test;

use indexmap::IndexMap;
use serde_json::Value;

use super::error::SecretsError;
use super::ruby;
use super::sensitive::Secret;
use crate::environment::{CommandOutput, Environment, SpawnPlan};

/// What an adapter fetched: keys in order, each value kept as the JSON text Ruby's
/// `JSON.dump` would write for it (usually a string, but a vault may hold numbers).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FetchedSecrets {
    values: IndexMap<String, Secret>,
}

impl FetchedSecrets {
    /// `results[key] = value` for a string value.
    pub fn insert_text(&mut self, key: impl Into<String>, value: &str) {
        self.values
            .insert(key.into(), Secret::new(ruby::json_string(value)));
    }

    /// `results[key] = value` for a value parsed from a CLI's JSON output.
    pub fn insert_json(&mut self, key: impl Into<String>, value: &Value) {
        let encoded = match value {
            Value::String(text) => ruby::json_string(text),
            other => other.to_string(),
        };
        self.values.insert(key.into(), Secret::new(encoded));
    }

    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.values.keys().map(String::as_str)
    }

    pub fn len(&self) -> usize {
        self.values.len()
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// `JSON.dump(results)`.
    pub fn to_json(&self) -> Secret {
        let mut json = String::from("{");
        for (index, (key, value)) in self.values.iter().enumerate() {
            if index > 0 {
                json.push(',');
            }
            json.push_str(&ruby::json_string(key));
            json.push(':');
            json.push_str(value.expose());
        }
        json.push('}');
        Secret::new(json)
    }
}

/// One password manager.
pub trait Adapter {
    /// Whether `--account` is required (`requires_account?`).
    fn requires_account(&self) -> bool {
        true
    }

    /// `check_dependencies!`: fails with `<Vendor> CLI is not installed`.
    fn check_dependencies(&self, environment: &mut dyn Environment) -> Result<(), SecretsError>;

    /// `login`: returns a session token when the CLI hands one out.
    fn login(
        &self,
        account: Option<&str>,
        environment: &mut dyn Environment,
    ) -> Result<Option<String>, SecretsError>;

    /// `fetch_secrets`.
    fn fetch_secrets(
        &self,
        secrets: &[String],
        from: Option<&str>,
        account: Option<&str>,
        session: Option<&str>,
        environment: &mut dyn Environment,
    ) -> Result<FetchedSecrets, SecretsError>;
}

/// `Kamal::Secrets::Adapters.lookup`.
pub fn lookup(name: &str) -> Result<Box<dyn Adapter>, SecretsError> {
    let canonical = match name.to_lowercase().as_str() {
        "1password" => "one_password".to_string(),
        "lastpass" => "last_pass".to_string(),
        "gcp" => "gcp_secret_manager".to_string(),
        "bitwarden-sm" => "bitwarden_secrets_manager".to_string(),
        _ => name.to_string(),
    };
    let adapter: Box<dyn Adapter> = match camelize(&canonical).as_str() {
        "OnePassword" => Box::new(one_password::OnePassword),
        "Bitwarden" => Box::new(bitwarden::Bitwarden),
        "BitwardenSecretsManager" => Box::new(bitwarden_secrets_manager::BitwardenSecretsManager),
        "AwsSecretsManager" => Box::new(aws_secrets_manager::AwsSecretsManager),
        "Doppler" => Box::new(doppler::Doppler),
        "Enpass" => Box::new(enpass::Enpass),
        "GcpSecretManager" => Box::new(gcp_secret_manager::GcpSecretManager),
        "LastPass" => Box::new(last_pass::LastPass),
        "Passbolt" => Box::new(passbolt::Passbolt),
        "Test" => Box::new(test::Test),
        _ => {
            return Err(SecretsError::failed(format!(
                "Unknown secrets adapter: {canonical}"
            )))
        }
    };
    Ok(adapter)
}

/// ActiveSupport's `camelize` for adapter names: each `_`-separated part gets its leading
/// letters and digits capitalized (`one_password` → `OnePassword`, `test` → `Test`); the
/// first part only when it starts in lower case.
fn camelize(name: &str) -> String {
    let mut camelized = String::with_capacity(name.len());
    for (index, part) in name.split('_').enumerate() {
        let prefix_length = part
            .bytes()
            .take_while(|byte| {
                if index == 0 {
                    byte.is_ascii_lowercase() || byte.is_ascii_digit()
                } else {
                    byte.is_ascii_alphanumeric()
                }
            })
            .count();
        let (prefix, rest) = part.split_at(prefix_length);
        let mut characters = prefix.chars();
        if let Some(first) = characters.next() {
            camelized.push(first.to_ascii_uppercase());
            camelized.push_str(&characters.as_str().to_ascii_lowercase());
        }
        camelized.push_str(rest);
    }
    camelized
}

/// `Adapters::Base#fetch`.
pub fn fetch(
    adapter: &dyn Adapter,
    secrets: &[String],
    account: Option<&str>,
    from: Option<&str>,
    environment: &mut dyn Environment,
) -> Result<FetchedSecrets, SecretsError> {
    if adapter.requires_account() && account.is_none_or(is_blank) {
        return Err(SecretsError::failed("Missing required option '--account'"));
    }
    adapter.check_dependencies(environment)?;
    let session = adapter.login(account, environment)?;
    adapter.fetch_secrets(secrets, from, account, session.as_deref(), environment)
}

/// Rails' `blank?` for strings.
pub(crate) fn is_blank(text: &str) -> bool {
    text.trim().is_empty()
}

/// Ruby backticks: the command's stdout and exit status.
pub(crate) fn backtick(
    environment: &mut dyn Environment,
    command: &str,
) -> Result<CommandOutput, SecretsError> {
    Ok(environment.run_command(&SpawnPlan::for_command(command))?)
}

/// `` `<cli> --version 2> /dev/null`; $?.success? `` or it is not installed.
pub(crate) fn require_cli(
    environment: &mut dyn Environment,
    check: &str,
    vendor: &str,
) -> Result<(), SecretsError> {
    if backtick(environment, check)?.status == 0 {
        Ok(())
    } else {
        Err(SecretsError::failed(format!("{vendor} CLI is not installed")))
    }
}

/// `[from, secret].compact.join("/")` for each secret.
pub(crate) fn prefixed_secrets(secrets: &[String], from: Option<&str>) -> Vec<String> {
    secrets
        .iter()
        .map(|secret| from.map_or_else(|| secret.clone(), |from| format!("{from}/{secret}")))
        .collect()
}

/// `JSON.parse` of a CLI's output; the error never repeats the output.
pub(crate) fn parse_json(text: &str) -> Result<Value, SecretsError> {
    serde_json::from_str(text).map_err(|error| SecretsError::failed(format!("Could not parse JSON: {error}")))
}

/// A JSON object with its keys in document order (later duplicates replace the value).
pub(crate) fn parse_json_object(text: &str) -> Result<Option<IndexMap<String, Value>>, serde_json::Error> {
    struct Ordered(Option<IndexMap<String, Value>>);

    impl<'de> serde::Deserialize<'de> for Ordered {
        fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Ordered, D::Error> {
            struct Visitor;
            impl<'de> serde::de::Visitor<'de> for Visitor {
                type Value = Ordered;

                fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
                    formatter.write_str("JSON")
                }

                fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Ordered, A::Error> {
                    let mut object = IndexMap::new();
                    while let Some((key, value)) = map.next_entry::<String, Value>()? {
                        object.insert(key, value);
                    }
                    Ok(Ordered(Some(object)))
                }

                fn visit_seq<A: serde::de::SeqAccess<'de>>(
                    self,
                    mut sequence: A,
                ) -> Result<Ordered, A::Error> {
                    while sequence.next_element::<serde::de::IgnoredAny>()?.is_some() {}
                    Ok(Ordered(None))
                }

                fn visit_str<E>(self, _: &str) -> Result<Ordered, E> {
                    Ok(Ordered(None))
                }
                fn visit_bool<E>(self, _: bool) -> Result<Ordered, E> {
                    Ok(Ordered(None))
                }
                fn visit_i64<E>(self, _: i64) -> Result<Ordered, E> {
                    Ok(Ordered(None))
                }
                fn visit_u64<E>(self, _: u64) -> Result<Ordered, E> {
                    Ok(Ordered(None))
                }
                fn visit_f64<E>(self, _: f64) -> Result<Ordered, E> {
                    Ok(Ordered(None))
                }
                fn visit_unit<E>(self) -> Result<Ordered, E> {
                    Ok(Ordered(None))
                }
            }
            deserializer.deserialize_any(Visitor)
        }
    }

    serde_json::from_str::<Ordered>(text).map(|ordered| ordered.0)
}

/// `Kamal::Utils.escape_shell_value`: ASCII runs `dump`ed into double quotes with backticks
/// and `$` (except `${...}`) escaped; non-ASCII runs kept raw.
pub(crate) fn escape_shell_value(value: &str) -> String {
    let mut escaped = String::new();
    for (ascii, run) in ruby::ascii_runs(value) {
        if !ascii {
            escaped.push_str(run);
            continue;
        }
        let dumped = ruby::dump_ascii(run).replace('`', "\\`");
        let characters: Vec<char> = dumped.chars().collect();
        for (index, &character) in characters.iter().enumerate() {
            // `/\$(?!{[^\}]*\})/`: a `${...}` is left for the shell to expand.
            let expansion = characters.get(index + 1) == Some(&'{') && characters[index + 2..].contains(&'}');
            if character == '$' && !expansion {
                escaped.push('\\');
            }
            escaped.push(character);
        }
    }
    escaped
}

/// The text of a JSON value as Ruby would interpolate it into a message.
pub(crate) fn text_of(value: Option<&Value>) -> String {
    match value {
        Some(Value::String(text)) => text.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

#[cfg(test)]
pub(crate) mod testing {
    use crate::environment::MapEnvironment;

    /// A stand-in for a vendor CLI: the given command strings answer with the given stdout
    /// and exit status; anything else is "not found" (status 127 through the shell).
    pub fn vendor_cli(answers: &[(&str, &str, i32)]) -> MapEnvironment {
        answers
            .iter()
            .fold(MapEnvironment::new(), |environment, (command, stdout, status)| {
                environment.with_command(command, stdout, *status)
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::environment::MapEnvironment;

    #[test]
    fn lookup_maps_kamal_names() {
        for name in [
            "1password",
            "one_password",
            "OnePassword",
            "lastpass",
            "gcp",
            "bitwarden-sm",
            "test",
            "aws_secrets_manager",
        ] {
            assert!(lookup(name).is_ok(), "{name}");
        }
        assert!(lookup("onepassword").is_err());
        assert_eq!(
            lookup("nope").err().map(|error| error.to_string()),
            Some("Unknown secrets adapter: nope".to_string())
        );
    }

    #[test]
    fn escape_shell_value_matches_kamal_utils() {
        assert_eq!(escape_shell_value("My Vault"), "\"My Vault\"");
        assert_eq!(escape_shell_value("a$b`c${D}"), "\"a\\$b\\`c${D}\"");
        assert_eq!(escape_shell_value("héllo"), "\"h\"é\"llo\"");
        assert_eq!(escape_shell_value("tok\n"), "\"tok\\n\"");
    }

    #[test]
    fn fetched_secrets_dump_like_ruby_json() {
        let mut fetched = FetchedSecrets::default();
        fetched.insert_text("a/b", "x\"y");
        fetched.insert_json("n", &serde_json::json!(5));
        fetched.insert_text("a/b", "z");
        assert_eq!(fetched.to_json().expose(), r#"{"a/b":"z","n":5}"#);
    }

    #[test]
    fn ordered_objects_keep_document_order() {
        let object = parse_json_object(r#"{"b":1,"a":2,"b":3}"#)
            .expect("parses")
            .expect("object");
        assert_eq!(object.keys().collect::<Vec<_>>(), ["b", "a"]);
        assert_eq!(object["b"], serde_json::json!(3));
        assert_eq!(parse_json_object("[1]").expect("parses"), None);
    }

    #[test]
    fn a_missing_account_is_refused_before_any_command() {
        let mut environment = MapEnvironment::new();
        let error = fetch(&one_password::OnePassword, &[], Some(" "), None, &mut environment)
            .expect_err("needs account");
        assert_eq!(error.to_string(), "Missing required option '--account'");
        assert!(environment.commands_run.is_empty());
    }
}
