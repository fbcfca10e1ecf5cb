//! 1Password (`op`). Secrets are `[op://]vault/item[/section/field]` (default field
//! `password`); one `op item get` per item asks for all its fields at once. With no secrets
//! listed, every field of the `--from` item is returned. Keys are the fields' references
//! without `op://` and without a trailing `/password`.

use indexmap::IndexMap;
use serde_json::Value;

use super::{
    backtick, escape_shell_value, parse_json, prefixed_secrets, require_cli, Adapter, FetchedSecrets,
};
use crate::environment::Environment;
use crate::secrets::error::SecretsError;
use crate::secrets::ruby;
use crate::secrets::shellwords;

pub struct OnePassword;

/// `optionize(options.compact).join(" ")`: `--key "value"`, or `--key` for `true`.
fn to_options(options: &[(&str, Option<&str>)]) -> String {
    options
        .iter()
        .map(|(name, value)| match value {
            Some(value) => format!("--{name} {}", escape_shell_value(value)),
            None => format!("--{name}"),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// `{ vault => { item => [field, ...] } }`, fields joined with `.` (`section/field` →
/// `section.field`).
type VaultItems = IndexMap<String, IndexMap<Option<String>, Vec<String>>>;

fn vaults_items_fields(secrets: &[String]) -> VaultItems {
    let mut vaults: VaultItems = IndexMap::new();
    for secret in secrets {
        let secret = secret.strip_prefix("op://").unwrap_or(secret);
        let parts = ruby::split(secret, "/");
        let vault = parts.first().map_or_else(String::new, |vault| vault.to_string());
        let item = parts.get(1).map(|item| item.to_string());
        let fields = if parts.len() > 2 {
            parts[2..].join(".")
        } else {
            "password".to_string()
        };
        vaults
            .entry(vault)
            .or_default()
            .entry(item)
            .or_default()
            .push(fields);
    }
    vaults
}

/// `fields_map`: reference (minus `op://` and a trailing `/password`) → value.
fn add_fields(fetched: &mut FetchedSecrets, fields: &[Value]) {
    for field in fields {
        let reference = super::text_of(field.get("reference"));
        let reference = reference.strip_prefix("op://").unwrap_or(&reference);
        let reference = reference.strip_suffix("/password").unwrap_or(reference);
        fetched.insert_json(reference, field.get("value").unwrap_or(&Value::Null));
    }
}

fn item_get(
    environment: &mut dyn Environment,
    vault: &str,
    item: Option<&str>,
    fields: &[String],
    account: &str,
    session: Option<&str>,
) -> Result<Value, SecretsError> {
    let labels = fields
        .iter()
        .map(|field| format!("label={field}"))
        .collect::<Vec<_>>()
        .join(",");
    let mut options = vec![
        ("vault", Some(vault)),
        ("format", Some("json")),
        ("account", Some(account)),
    ];
    if let Some(session) = session.filter(|session| !super::is_blank(session)) {
        options.push(("session", Some(session)));
    }
    if !fields.is_empty() {
        options.push(("fields", Some(labels.as_str())));
    }
    let item_name =
        item.ok_or_else(|| SecretsError::failed(format!("No item given for the {vault} 1Password vault")))?;
    let command = format!(
        "op item get {} {}",
        shellwords::escape(item_name),
        to_options(&options)
    );
    let output = backtick(environment, &command)?;
    if output.status != 0 {
        let fields = if fields.is_empty() {
            String::new()
        } else {
            format!("{} ", fields.join(", "))
        };
        return Err(SecretsError::failed(format!(
            "Could not read {fields}from {item_name} in the {vault} 1Password vault"
        )));
    }
    parse_json(&output.stdout)
}

impl Adapter for OnePassword {
    fn check_dependencies(&self, environment: &mut dyn Environment) -> Result<(), SecretsError> {
        require_cli(environment, "op --version 2> /dev/null", "1Password")
    }

    fn login(
        &self,
        account: Option<&str>,
        environment: &mut dyn Environment,
    ) -> Result<Option<String>, SecretsError> {
        let account = account.unwrap_or_default();
        let signed_in = format!(
            "op account get --account {} 2> /dev/null",
            shellwords::escape(account)
        );
        if backtick(environment, &signed_in)?.status == 0 {
            return Ok(None);
        }
        let signin = format!(
            "op signin {}",
            to_options(&[("account", Some(account)), ("force", None), ("raw", None)])
        );
        let output = backtick(environment, &signin)?;
        if output.status != 0 {
            return Err(SecretsError::failed("Failed to login to 1Password"));
        }
        // Kamal passes the session on exactly as printed, trailing newline included.
        Ok(Some(output.stdout))
    }

    fn fetch_secrets(
        &self,
        secrets: &[String],
        from: Option<&str>,
        account: Option<&str>,
        session: Option<&str>,
        environment: &mut dyn Environment,
    ) -> Result<FetchedSecrets, SecretsError> {
        let account = account.unwrap_or_default();
        let mut fetched = FetchedSecrets::default();
        if secrets.is_empty() {
            let from = from.unwrap_or_default();
            let from = from.strip_prefix("op://").unwrap_or(from);
            let parts = ruby::split(from, "/");
            let vault = parts.first().copied().unwrap_or_default();
            let item = parts.get(1).copied();
            let json = item_get(environment, vault, item, &[], account, session)?;
            let fields = json
                .get("fields")
                .and_then(Value::as_array)
                .ok_or_else(|| SecretsError::failed("key not found: \"fields\""))?;
            add_fields(&mut fetched, fields);
            return Ok(fetched);
        }
        for (vault, items) in vaults_items_fields(&prefixed_secrets(secrets, from)) {
            for (item, fields) in items {
                let json = item_get(environment, &vault, item.as_deref(), &fields, account, session)?;
                let fields_json = if fields.len() == 1 {
                    vec![json]
                } else {
                    json.as_array().cloned().unwrap_or_default()
                };
                add_fields(&mut fetched, &fields_json);
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

    fn names(names: &[&str]) -> Vec<String> {
        names.iter().map(|name| name.to_string()).collect()
    }

    /// `op` is a stand-in answering the exact commands Kamal 2.11 sends.
    #[test]
    fn fetches_fields_per_item_with_an_existing_login() {
        let mut environment = vendor_cli(&[
            ("op --version 2> /dev/null", "2.30.0\n", 0),
            ("op account get --account myaccount 2> /dev/null", "{}", 0),
            (
                r#"op item get myitem --vault "myvault" --format "json" --account "myaccount" --fields "label=section.SECRET1,label=section.SECRET2""#,
                r#"[{"id":"a","label":"SECRET1","value":"VALUE1","reference":"op://myvault/myitem/section/SECRET1"},
                   {"id":"b","label":"SECRET2","value":"VALUE2","reference":"op://myvault/myitem/section/SECRET2"}]"#,
                0,
            ),
            (
                r#"op item get myitem2 --vault "myvault" --format "json" --account "myaccount" --fields "label=password""#,
                r#"{"id":"c","label":"password","value":"VALUE3","reference":"op://myvault/myitem2/password"}"#,
                0,
            ),
        ]);
        let fetched = fetch(
            &OnePassword,
            &names(&["myitem/section/SECRET1", "myitem/section/SECRET2", "myitem2"]),
            Some("myaccount"),
            Some("op://myvault"),
            &mut environment,
        )
        .expect("fetches");
        assert_eq!(
            fetched.to_json().expose(),
            r#"{"myvault/myitem/section/SECRET1":"VALUE1","myvault/myitem/section/SECRET2":"VALUE2","myvault/myitem2":"VALUE3"}"#
        );
    }

    /// `op` is a stand-in; the session printed by `op signin --raw` is passed on verbatim.
    #[test]
    fn signs_in_and_fetches_a_whole_item() {
        let mut environment = vendor_cli(&[
            ("op --version 2> /dev/null", "2.30.0\n", 0),
            ("op account get --account myaccount 2> /dev/null", "", 1),
            (r#"op signin --account "myaccount" --force --raw"#, "sess\n", 0),
            (
                r#"op item get myitem --vault "myvault" --format "json" --account "myaccount" --session "sess\n""#,
                r#"{"fields":[{"reference":"op://myvault/myitem/username","value":"u"},{"reference":"op://myvault/myitem/password","value":"p"}]}"#,
                0,
            ),
        ]);
        let fetched = fetch(
            &OnePassword,
            &[],
            Some("myaccount"),
            Some("myvault/myitem"),
            &mut environment,
        )
        .expect("fetches");
        assert_eq!(
            fetched.to_json().expose(),
            r#"{"myvault/myitem/username":"u","myvault/myitem":"p"}"#
        );
    }

    #[test]
    fn reports_missing_cli_and_failed_reads() {
        let mut environment = vendor_cli(&[]);
        let error = fetch(
            &OnePassword,
            &names(&["a/b"]),
            Some("acct"),
            None,
            &mut environment,
        )
        .expect_err("no cli");
        assert_eq!(error.to_string(), "1Password CLI is not installed");

        let mut environment = vendor_cli(&[
            ("op --version 2> /dev/null", "", 0),
            ("op account get --account acct 2> /dev/null", "", 0),
            (
                r#"op item get item --vault "vault" --format "json" --account "acct" --fields "label=password""#,
                "",
                1,
            ),
        ]);
        let error = fetch(
            &OnePassword,
            &names(&["vault/item"]),
            Some("acct"),
            None,
            &mut environment,
        )
        .expect_err("fails");
        assert_eq!(
            error.to_string(),
            "Could not read password from item in the vault 1Password vault"
        );
    }
}
