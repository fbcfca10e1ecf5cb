//! Enpass (`enpass-cli`), offline: `--from` is the vault's path and no account is needed.
//! Secrets are item titles (every password of the item) or `title/label` (one of them);
//! keys are `title` or `title/label`. Secrets are not prefixed with `--from`.

use indexmap::IndexSet;
use serde_json::Value;

use super::{backtick, parse_json, require_cli, Adapter, FetchedSecrets};
use crate::environment::Environment;
use crate::secrets::error::SecretsError;
use crate::secrets::ruby;
use crate::secrets::shellwords;

pub struct Enpass;

impl Adapter for Enpass {
    fn requires_account(&self) -> bool {
        false
    }

    fn check_dependencies(&self, environment: &mut dyn Environment) -> Result<(), SecretsError> {
        require_cli(environment, "enpass-cli version 2> /dev/null", "Enpass")
    }

    fn login(&self, _: Option<&str>, _: &mut dyn Environment) -> Result<Option<String>, SecretsError> {
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
        let vault = from.ok_or_else(|| SecretsError::failed("Enpass needs the vault path in --from"))?;
        // `rpartition("/")`: `FooBar/DB_PASSWORD` asks for item `FooBar`.
        let titles: IndexSet<&str> = secrets
            .iter()
            .map(|secret| {
                secret
                    .rsplit_once('/')
                    .map_or(secret.as_str(), |(title, _)| title)
            })
            .collect();
        let titles: Vec<String> = titles.into_iter().map(shellwords::escape).collect();
        let command = format!(
            "enpass-cli -json -vault {} show {}",
            shellwords::escape(vault),
            titles.join(" ")
        );
        let output = backtick(environment, &command)?;
        let items = parse_json(ruby::strip(&output.stdout))?;
        let mut fetched = FetchedSecrets::default();
        let mut seen = IndexSet::new();
        for item in items.as_array().into_iter().flatten() {
            let (Some(title), Some(password)) =
                (item.get("title").and_then(Value::as_str), item.get("password"))
            else {
                continue;
            };
            let password = super::text_of(Some(password));
            if super::is_blank(&password) {
                continue;
            }
            let label = item
                .get("label")
                .and_then(Value::as_str)
                .filter(|label| !label.is_empty());
            let key = label.map_or_else(|| title.to_string(), |label| format!("{title}/{label}"));
            if secrets.iter().any(|secret| secret == title || *secret == key) {
                if !seen.insert(key.clone()) {
                    return Err(SecretsError::failed(format!("{key} is present more than once")));
                }
                fetched.insert_text(key, &password);
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

    /// `enpass-cli` is a stand-in answering the exact commands Kamal 2.11 sends.
    #[test]
    fn fetches_items_and_labels() {
        let mut environment = vendor_cli(&[
            ("enpass-cli version 2> /dev/null", "v1.6.0\n", 0),
            (
                "enpass-cli -json -vault vault-path show FooBar",
                r#"[{"category":"computer","label":"SECRET_1","login":"","password":"my-password-1","title":"FooBar","type":"password"},
                    {"category":"computer","label":"SECRET_2","login":"","password":"my-password-2","title":"FooBar","type":"password"},
                    {"category":"computer","label":"","login":"","password":"my-password-3","title":"FooBar","type":"password"},
                    {"category":"computer","label":"EMPTY","login":"","password":"","title":"FooBar","type":"password"}]"#,
                0,
            ),
        ]);
        let secrets = ["FooBar/SECRET_1".to_string(), "FooBar".to_string()];
        let fetched = fetch(&Enpass, &secrets, None, Some("vault-path"), &mut environment).expect("fetches");
        assert_eq!(
            fetched.to_json().expose(),
            r#"{"FooBar/SECRET_1":"my-password-1","FooBar/SECRET_2":"my-password-2","FooBar":"my-password-3"}"#
        );
    }
}
