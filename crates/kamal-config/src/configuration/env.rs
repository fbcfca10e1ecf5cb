//! `env:` (root, per role, per accessory, per tag): clear values and secret names.
//! Mirrors `Kamal::Configuration::Env` and its validator.

use super::error::Result;
use super::raw;
use super::validator::{key_text, Outcome, Type, Validator};
use crate::yaml::{Node, Value};

const SPECIAL_KEYS: &[&str] = &["clear", "secret", "tags"];

/// A container environment: clear values (passed as `--env`) and secret names (written to
/// the env file). A secret written `NAME:SECRET` reads secret `SECRET` into variable `NAME`.
#[derive(Debug, Clone, Default)]
pub struct Env {
    pub clear: Vec<(String, String)>,
    pub secret_keys: Vec<String>,
    /// Root env only: tag name → env.
    pub tags: Vec<(String, Env)>,
}

impl Env {
    pub fn new(node: Node, context: &str) -> Result<Env> {
        validate(&node.value, context)?;
        Ok(Env::from_value(&node.value))
    }

    fn from_value(value: &Value) -> Env {
        let Some(mapping) = value.as_mapping() else {
            return Env::default();
        };
        let complex = mapping
            .keys()
            .any(|key| SPECIAL_KEYS.contains(&key_text(&key.value).as_str()));
        if !complex {
            return Env {
                clear: pairs(value),
                ..Env::default()
            };
        }
        let clear = mapping
            .get("clear")
            .map(|node| pairs(&node.value))
            .unwrap_or_default();
        let secret_keys = raw::strings(mapping.get("secret"));
        let tags = raw::get_mapping(Some(mapping), "tags")
            .map(|tags| {
                tags.entries
                    .iter()
                    .map(|(tag, env)| (raw::to_s(&tag.value), Env::from_value(&env.value)))
                    .collect()
            })
            .unwrap_or_default();
        Env {
            clear,
            secret_keys,
            tags,
        }
    }

    /// Later layers win for clear values; secret names are unioned (`Env#merge`).
    pub fn merge(&self, other: &Env) -> Env {
        let mut clear = self.clear.clone();
        for (key, value) in &other.clear {
            match clear.iter_mut().find(|(existing, _)| existing == key) {
                Some(entry) => entry.1 = value.clone(),
                None => clear.push((key.clone(), value.clone())),
            }
        }
        let mut secret_keys = self.secret_keys.clone();
        for key in &other.secret_keys {
            if !secret_keys.contains(key) {
                secret_keys.push(key.clone());
            }
        }
        Env {
            clear,
            secret_keys,
            tags: self.tags.clone(),
        }
    }
}

fn pairs(value: &Value) -> Vec<(String, String)> {
    value
        .as_mapping()
        .map(|mapping| {
            mapping
                .entries
                .iter()
                .map(|(key, value)| (raw::to_s(&key.value), raw::to_s(&value.value)))
                .collect()
        })
        .unwrap_or_default()
}

/// `Validator::Env`: simple (a Hash of strings) or complex (`clear`/`secret`/`tags`).
pub fn validate(value: &Value, context: &str) -> Result<()> {
    let mut validator = Validator::new(&[context]);
    validate_with(&mut validator, value, context == "env")
}

fn validate_with(validator: &mut Validator, value: &Value, is_root: bool) -> Result<()> {
    let Some(mapping) = value.as_mapping() else {
        return Err(validator.type_error(&[Type::Hash]));
    };
    let keys: Vec<String> = mapping.keys().map(|key| key_text(&key.value)).collect();
    if !keys.iter().any(|key| SPECIAL_KEYS.contains(&key.as_str())) {
        return validator.validate_hash_of(value, Type::String);
    }
    let unknown: Vec<String> = keys
        .iter()
        .filter(|key| !SPECIAL_KEYS.contains(&key.as_str()))
        .cloned()
        .collect();
    if !unknown.is_empty() {
        return Err(validator.unknown_keys_error(&unknown));
    }
    if let Some(clear) = mapping.get("clear") {
        validator.with_context("clear", |validator| {
            validator.validate_hash_of(&clear.value, Type::String)
        })?;
    }
    if let Some(secret) = mapping.get("secret") {
        validator.with_context("secret", |validator| {
            validator.validate_array_of(&secret.value, Type::String)
        })?;
    }
    if let Some(tags) = mapping.get("tags") {
        if !is_root {
            return Err(validator.error("tags are only allowed in the root env"));
        }
        validator.with_context("tags", |validator| -> Outcome {
            validator.validate_type(&tags.value, &[Type::Hash])?;
            for (tag, env) in tags
                .value
                .as_mapping()
                .map(|mapping| mapping.entries.as_slice())
                .unwrap_or_default()
            {
                validator.with_context(&key_text(&tag.value), |validator| -> Outcome {
                    validator.validate_type(&env.value, &[Type::Hash])?;
                    validate_with(validator, &env.value, false)
                })?;
            }
            Ok(())
        })?;
    }
    Ok(())
}
