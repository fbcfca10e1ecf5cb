//! Bitwarden (`bw`). `--account` is the login email. Login walks `bw status`: log in when
//! unauthenticated, `bw unlock --raw` when locked (the output is the session, passed as
//! `BW_SESSION=...`), then `bw sync`. Secrets are `item` (the login password, or every
//! custom field when the item has no password) or `item/field` (a custom field).

use indexmap::IndexMap;
use serde_json::Value;

use super::{backtick, parse_json, prefixed_secrets, require_cli, Adapter, FetchedSecrets};
use crate::environment::Environment;
use crate::secrets::error::SecretsError;
use crate::secrets::ruby;
use crate::secrets::shellwords;

pub struct Bitwarden;

/// `run_command`: `[BW_SESSION=<session>] bw <command>`, output stripped; the exit status
/// comes back too (Kamal reads `$?`).
fn bw(
    environment: &mut dyn Environment,
    command: &str,
    session: Option<&str>,
) -> Result<(String, i32), SecretsError> {
    let full_command = match session {
        Some(session) => format!("BW_SESSION={} bw {command}", shellwords::escape(session)),
        None => format!("bw {command}"),
    };
    let output = backtick(environment, &full_command)?;
    Ok((ruby::strip(&output.stdout).to_string(), output.status))
}

fn status(environment: &mut dyn Environment, session: Option<&str>) -> Result<String, SecretsError> {
    let (output, _) = bw(environment, "status", session)?;
    Ok(super::text_of(parse_json(&output)?.get("status")))
}

fn from_fields(
    fetched: &mut FetchedSecrets,
    fields: &[Option<String>],
    item: &str,
    item_json: &Value,
) -> Result<(), SecretsError> {
    let item_fields = item_json.get("fields").and_then(Value::as_array);
    for field in fields {
        let found = item_fields.and_then(|item_fields| {
            item_fields
                .iter()
                .find(|candidate| candidate.get("name").and_then(Value::as_str) == field.as_deref())
        });
        let field = field.as_deref().unwrap_or_default();
        let Some(found) = found else {
            return Err(SecretsError::failed(format!(
                "Could not find field {field} in item {item} in Bitwarden"
            )));
        };
        fetched.insert_json(
            format!("{item}/{field}"),
            found.get("value").unwrap_or(&Value::Null),
        );
    }
    Ok(())
}

impl Adapter for Bitwarden {
    fn check_dependencies(&self, environment: &mut dyn Environment) -> Result<(), SecretsError> {
        require_cli(environment, "bw --version 2> /dev/null", "Bitwarden")
    }

    fn login(
        &self,
        account: Option<&str>,
        environment: &mut dyn Environment,
    ) -> Result<Option<String>, SecretsError> {
        let mut current = status(environment, None)?;
        if current == "unauthenticated" {
            bw(
                environment,
                &format!("login {}", shellwords::escape(account.unwrap_or_default())),
                None,
            )?;
            current = status(environment, None)?;
        }
        let mut session = None;
        if current == "locked" {
            let (unlocked, _) = bw(environment, "unlock --raw", None)?;
            session = Some(unlocked).filter(|session| !super::is_blank(session));
            current = status(environment, session.as_deref())?;
        }
        if current != "unlocked" {
            return Err(SecretsError::failed("Failed to login to and unlock Bitwarden"));
        }
        let (_, sync_status) = bw(environment, "sync", session.as_deref())?;
        if sync_status != 0 {
            return Err(SecretsError::failed("Failed to sync Bitwarden"));
        }
        Ok(session)
    }

    fn fetch_secrets(
        &self,
        secrets: &[String],
        from: Option<&str>,
        _: Option<&str>,
        session: Option<&str>,
        environment: &mut dyn Environment,
    ) -> Result<FetchedSecrets, SecretsError> {
        // `item, field = secret.split("/")`: a secret without a field adds `nil`.
        let mut items: IndexMap<String, Vec<Option<String>>> = IndexMap::new();
        for secret in prefixed_secrets(secrets, from) {
            let parts = ruby::split(&secret, "/");
            let item = parts.first().map_or_else(String::new, |item| item.to_string());
            items
                .entry(item)
                .or_default()
                .push(parts.get(1).map(|field| field.to_string()));
        }
        let mut fetched = FetchedSecrets::default();
        for (item, fields) in items {
            let (output, exit_status) = bw(
                environment,
                &format!("get item {}", shellwords::escape(&item)),
                session,
            )?;
            if exit_status != 0 {
                return Err(SecretsError::failed(format!(
                    "Could not read {item} from Bitwarden"
                )));
            }
            let item_json = parse_json(&output)?;
            let password = item_json
                .get("login")
                .and_then(|login| login.get("password"))
                .filter(|password| !password.is_null());
            let custom_fields = item_json
                .get("fields")
                .and_then(Value::as_array)
                .filter(|fields| !fields.is_empty());
            if fields.iter().any(Option::is_some) {
                from_fields(&mut fetched, &fields, &item, &item_json)?;
            } else if let Some(password) = password {
                fetched.insert_json(item.clone(), password);
            } else if let Some(custom_fields) = custom_fields {
                let names: Vec<Option<String>> = custom_fields
                    .iter()
                    .map(|field| field.get("name").and_then(Value::as_str).map(String::from))
                    .collect();
                from_fields(&mut fetched, &names, &item, &item_json)?;
            } else {
                return Err(SecretsError::failed(format!(
                    "Item {item} is not a login type item and no fields were specified"
                )));
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

    /// `bw` is a stand-in answering the exact commands Kamal 2.11 sends.
    #[test]
    fn unlocks_syncs_and_fetches() {
        let mut environment = vendor_cli(&[
            ("bw --version 2> /dev/null", "2024.1.0\n", 0),
            ("bw status", r#"{"status":"unauthenticated"}"#, 0),
            ("bw login email@example.com", "", 0),
            ("bw unlock --raw", "SESSION=\n", 0),
            ("BW_SESSION=SESSION\\= bw status", r#"{"status":"unlocked"}"#, 0),
            ("BW_SESSION=SESSION\\= bw sync", "Syncing complete.", 0),
            (
                "BW_SESSION=SESSION\\= bw get item mynote",
                r#"{"type":2,"name":"mynote","fields":[{"name":"one","value":"1"},{"name":"two","value":"2"}]}"#,
                0,
            ),
            (
                "BW_SESSION=SESSION\\= bw get item mylogin",
                r#"{"type":1,"login":{"username":"u","password":"secret"},"fields":[{"name":"extra","value":"x"}]}"#,
                0,
            ),
        ]);
        // `bw status` answers "unauthenticated" every time here, so login must fail.
        let secrets = ["mynote".to_string(), "mylogin/extra".to_string()];
        let error = fetch(
            &Bitwarden,
            &secrets,
            Some("email@example.com"),
            None,
            &mut environment,
        )
        .expect_err("still locked");
        assert_eq!(error.to_string(), "Failed to login to and unlock Bitwarden");

        environment = environment.with_command("bw status", r#"{"status":"locked"}"#, 0);
        let fetched = fetch(
            &Bitwarden,
            &secrets,
            Some("email@example.com"),
            None,
            &mut environment,
        )
        .expect("fetches");
        assert_eq!(
            fetched.to_json().expose(),
            r#"{"mynote/one":"1","mynote/two":"2","mylogin/extra":"x"}"#
        );

        // Kamal looks up a `nil` field when an item is asked for both whole and by field.
        let mixed = ["mylogin".to_string(), "mylogin/extra".to_string()];
        let error = fetch(
            &Bitwarden,
            &mixed,
            Some("email@example.com"),
            None,
            &mut environment,
        )
        .expect_err("nil field");
        assert_eq!(
            error.to_string(),
            "Could not find field  in item mylogin in Bitwarden"
        );
    }

    /// `bw` is a stand-in; an unlocked vault needs no session.
    #[test]
    fn an_unlocked_vault_fetches_the_login_password() {
        let mut environment = vendor_cli(&[
            ("bw --version 2> /dev/null", "", 0),
            ("bw status", r#"{"status":"unlocked"}"#, 0),
            ("bw sync", "", 0),
            ("bw get item my\\ login", r#"{"login":{"password":"pw"}}"#, 0),
        ]);
        let fetched = fetch(
            &Bitwarden,
            &["my login".to_string()],
            Some("me"),
            None,
            &mut environment,
        )
        .expect("fetches");
        assert_eq!(fetched.to_json().expose(), r#"{"my login":"pw"}"#);
    }
}
