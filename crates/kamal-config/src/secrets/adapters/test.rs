//! The `test` adapter: no CLI, each secret's value is its prefixed name reversed, with
//! `LPAREN`/`RPAREN` turned into parentheses first. Kamal's own tests (and ours) use it.

use super::{prefixed_secrets, Adapter, FetchedSecrets};
use crate::environment::Environment;
use crate::secrets::error::SecretsError;

pub struct Test;

impl Adapter for Test {
    fn check_dependencies(&self, _: &mut dyn Environment) -> Result<(), SecretsError> {
        Ok(())
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
        _: &mut dyn Environment,
    ) -> Result<FetchedSecrets, SecretsError> {
        let mut fetched = FetchedSecrets::default();
        for secret in prefixed_secrets(secrets, from) {
            let value: String = secret
                .replace("LPAREN", "(")
                .replace("RPAREN", ")")
                .chars()
                .rev()
                .collect();
            fetched.insert_text(secret, &value);
        }
        Ok(fetched)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::environment::MapEnvironment;
    use crate::secrets::adapters::fetch;

    /// Pinned from `kamal secrets fetch -a test --account x --from y A B` (Kamal 2.11).
    #[test]
    fn reverses_prefixed_names() {
        let secrets = ["A".to_string(), "B".to_string(), "LPARENqRPAREN".to_string()];
        let fetched =
            fetch(&Test, &secrets, Some("x"), Some("y"), &mut MapEnvironment::new()).expect("fetches");
        assert_eq!(
            fetched.to_json().expose(),
            r#"{"y/A":"A/y","y/B":"B/y","y/LPARENqRPAREN":")q(/y"}"#
        );
    }
}
