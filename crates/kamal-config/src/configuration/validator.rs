//! Kamal's configuration validator: each section is checked against an example of its
//! shape (Kamal keeps these as documented YAML files; we keep them as [`Shape`] tables in
//! `schema.rs`). The rules and the wording of every message follow
//! `Kamal::Configuration::Validator` exactly — users and scripts match on them.

use super::error::ConfigError;
use super::schema::Shape;
use crate::yaml::{Mapping, Node, Value};

/// The Ruby classes a value may be required to have, named as Kamal names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Type {
    String,
    Integer,
    Boolean,
    Array,
    Hash,
    Symbol,
}

impl Type {
    fn description(self) -> &'static str {
        match self {
            Type::String => "a string",
            Type::Integer => "an integer",
            Type::Boolean => "a boolean",
            Type::Array => "an array",
            Type::Hash => "a hash",
            Type::Symbol => "a symbol",
        }
    }

    /// `valid_type?`: Strings also accept Symbols, numbers and booleans ("stringish").
    fn accepts(self, value: &Value) -> bool {
        match self {
            Type::String => matches!(
                value,
                Value::String(_) | Value::Symbol(_) | Value::Integer(_) | Value::Float(_) | Value::Bool(_)
            ),
            Type::Integer => matches!(value, Value::Integer(_)),
            Type::Boolean => matches!(value, Value::Bool(_)),
            Type::Array => matches!(value, Value::Sequence(_)),
            Type::Hash => matches!(value, Value::Mapping(_)),
            Type::Symbol => matches!(value, Value::Symbol(_)),
        }
    }
}

/// Ruby's `to_s` of a key, as it appears in a context path or a message.
pub fn key_text(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::Bool(flag) => flag.to_string(),
        Value::Integer(number) => number.to_string(),
        Value::Float(number) => super::ruby::float_to_s(*number),
        Value::String(text) | Value::Symbol(text) | Value::Timestamp(text) => text.clone(),
        Value::Sequence(_) | Value::Mapping(_) | Value::Object { .. } => "…".to_string(),
    }
}

/// Walks a value with a context path, raising Kamal's messages.
pub struct Validator {
    context: Vec<String>,
}

pub type Outcome = Result<(), ConfigError>;

impl Validator {
    pub fn new(context: &[&str]) -> Validator {
        Validator {
            context: context
                .iter()
                .filter(|part| !part.is_empty())
                .map(|part| part.to_string())
                .collect(),
        }
    }

    pub fn error(&self, message: impl AsRef<str>) -> ConfigError {
        let prefix = if self.context.is_empty() {
            String::new()
        } else {
            format!("{}: ", self.context.join("/"))
        };
        ConfigError::Invalid {
            message: format!("{prefix}{}", message.as_ref()),
            context: self.context.clone(),
            location: None,
        }
    }

    pub fn type_error(&self, types: &[Type]) -> ConfigError {
        let words: Vec<&str> = types.iter().map(|kind| kind.description()).collect();
        self.error(format!("should be {}", words.join(" or ")))
    }

    /// Runs `body` with `part` appended to the context path.
    pub fn with_context<T>(&mut self, part: &str, body: impl FnOnce(&mut Validator) -> T) -> T {
        let pushed = !part.is_empty();
        if pushed {
            self.context.push(part.to_string());
        }
        let result = body(self);
        if pushed {
            self.context.pop();
        }
        result
    }

    pub fn validate_type(&self, value: &Value, types: &[Type]) -> Outcome {
        if types.iter().any(|kind| kind.accepts(value)) {
            Ok(())
        } else {
            Err(self.type_error(types))
        }
    }

    pub fn validate_array_of(&mut self, value: &Value, kind: Type) -> Outcome {
        self.validate_type(value, &[Type::Array])?;
        for (index, item) in value.as_sequence().unwrap_or_default().iter().enumerate() {
            self.with_context(&index.to_string(), |validator| {
                validator.validate_type(&item.value, &[kind])
            })?;
        }
        Ok(())
    }

    pub fn validate_hash_of(&mut self, value: &Value, kind: Type) -> Outcome {
        self.validate_type(value, &[Type::Hash])?;
        if let Some(mapping) = value.as_mapping() {
            for (key, item) in &mapping.entries {
                self.with_context(&key_text(&key.value), |validator| {
                    validator.validate_type(&item.value, &[kind])
                })?;
            }
        }
        Ok(())
    }

    pub fn unknown_keys_error(&self, unknown: &[String]) -> ConfigError {
        let noun = if unknown.len() == 1 { "key" } else { "keys" };
        self.error(format!("unknown {noun}: {}", unknown.join(", ")))
    }

    /// `check_unknown_keys!`: keys not in the example, in the order written.
    pub fn check_unknown_keys(&self, mapping: &Mapping, known: &[&str], allow_extensions: bool) -> Outcome {
        let unknown: Vec<String> = mapping
            .keys()
            .map(|key| key_text(&key.value))
            .filter(|key| !known.contains(&key.as_str()))
            .filter(|key| !(allow_extensions && key.starts_with("x-")))
            .collect();
        if unknown.is_empty() {
            Ok(())
        } else {
            Err(self.unknown_keys_error(&unknown))
        }
    }

    /// `validate_servers!`: a list of hosts, each a String or a one-key Hash of host → tags.
    pub fn validate_servers(&mut self, value: &Value) -> Outcome {
        self.validate_type(value, &[Type::Array])?;
        for (index, server) in value.as_sequence().unwrap_or_default().iter().enumerate() {
            self.with_context(&index.to_string(), |validator| -> Outcome {
                validator.validate_type(&server.value, &[Type::String, Type::Hash])?;
                if let Value::Mapping(mapping) = &server.value {
                    if mapping.len() != 1 {
                        return Err(validator.error("multiple hosts found"));
                    }
                    if let Some((host, tags)) = mapping.entries.first() {
                        validator.with_context(&key_text(&host.value), |validator| -> Outcome {
                            validator.validate_type(&tags.value, &[Type::String, Type::Array])?;
                            if matches!(tags.value, Value::Sequence(_)) {
                                validator.validate_array_of(&tags.value, Type::String)?;
                            }
                            Ok(())
                        })?;
                    }
                }
                Ok(())
            })?;
        }
        Ok(())
    }

    /// Checks one field of a Hash example (the key decides the `proxy` boolean exception).
    pub fn validate_field(&mut self, value: &Value, shape: &Shape, key: &str) -> Outcome {
        self.validate_shape(value, shape, key)
    }

    /// `validate_against_example!` for a Hash example.
    pub fn validate_against(&mut self, value: &Value, shape: &Shape) -> Outcome {
        self.validate_shape(value, shape, "")
    }

    fn validate_shape(&mut self, value: &Value, shape: &Shape, key: &str) -> Outcome {
        match shape {
            Shape::String => self.validate_type(value, &[Type::String]),
            Shape::Integer => self.validate_type(value, &[Type::Integer]),
            Shape::Boolean => self.validate_type(value, &[Type::Boolean]),
            Shape::ArrayOf(kind) => self.validate_array_of(value, *kind),
            Shape::ArrayOrString => {
                let outcome = match value {
                    Value::Sequence(_) => self.validate_array_of(value, Type::String),
                    _ => self.validate_type(value, &[Type::String]),
                };
                outcome.map_err(|_| self.type_error(&[Type::Array, Type::String]))
            }
            Shape::AnyHash => self.validate_type(value, &[Type::Hash]),
            Shape::HashOf(kind) => self.validate_hash_of(value, *kind),
            Shape::Hosts => self.validate_servers(value),
            Shape::SslSetting => self.validate_type(value, &[Type::Boolean, Type::Hash]),
            Shape::Section(kinds) => {
                if key == "proxy" && matches!(value, Value::Bool(_)) {
                    return Ok(());
                }
                self.validate_type(value, kinds)
            }
            Shape::Anything => Ok(()),
            Shape::SshConfig => match value {
                Value::Sequence(_) => self.validate_array_of(value, Type::String),
                // A real String here, not the "stringish" values String usually accepts.
                Value::Bool(_) | Value::String(_) => Ok(()),
                _ => Err(self.type_error(&[Type::Boolean, Type::String, Type::Array])),
            },
            Shape::HooksOutput => match value {
                Value::Mapping(per_hook) => {
                    for (hook, level) in &per_hook.entries {
                        self.with_context(&key_text(&hook.value), |validator| {
                            validator.validate_type(&level.value, &[Type::String, Type::Symbol])
                        })?;
                    }
                    Ok(())
                }
                _ => self.validate_type(value, &[Type::String, Type::Symbol]),
            },
            Shape::Files => self.validate_files(value),
            Shape::Hash(fields) => {
                self.validate_type(value, &[Type::Hash])?;
                let Some(mapping) = value.as_mapping() else {
                    return Ok(());
                };
                let known: Vec<&str> = fields.iter().map(|(name, _)| *name).collect();
                self.check_unknown_keys(mapping, &known, false)?;
                for (entry_key, entry_value) in &mapping.entries {
                    let name = key_text(&entry_key.value);
                    if let Some((_, field_shape)) = fields.iter().find(|(field, _)| *field == name) {
                        self.with_context(&name, |validator| -> Outcome {
                            validator.validate_shape(&entry_value.value, field_shape, &name)
                        })?;
                    }
                }
                Ok(())
            }
        }
    }

    /// `validate_labels!`: Kamal sets `service`, `role` and `destination` itself.
    pub fn validate_labels(&mut self, labels: Option<&Value>) -> Outcome {
        let Some(Value::Mapping(labels)) = labels else {
            return Ok(());
        };
        self.with_context("labels", |validator| -> Outcome {
            for key in labels.keys() {
                let name = key_text(&key.value);
                if matches!(key.value, Value::String(_))
                    && ["destination", "role", "service"].contains(&name.as_str())
                {
                    return validator.with_context(&name, |validator| {
                        Err(validator
                            .error("invalid label. destination, role, and service are reserved labels"))
                    });
                }
            }
            Ok(())
        })
    }

    /// Accessory `files`/`directories`: Strings, or Hashes of `local`/`remote`/`mode`/`owner`/`options`.
    fn validate_files(&mut self, value: &Value) -> Outcome {
        self.validate_type(value, &[Type::Array])?;
        for (index, item) in value.as_sequence().unwrap_or_default().iter().enumerate() {
            self.with_context(&index.to_string(), |validator| -> Outcome {
                validator.validate_type(&item.value, &[Type::String, Type::Hash])?;
                // Only the known keys are typed; Kamal does not look for unknown ones here.
                if let Value::Mapping(mapping) = &item.value {
                    for key in ["local", "remote", "mode", "owner", "options"] {
                        if let Some(entry) = mapping.get(key) {
                            validator.with_context(key, |validator| {
                                validator.validate_type(&entry.value, &[Type::String])
                            })?;
                        }
                    }
                }
                Ok(())
            })?;
        }
        Ok(())
    }
}

/// A node's mapping, or an empty one (for optional sections).
pub fn mapping_of(node: Option<&Node>) -> Option<&Mapping> {
    node.and_then(|node| node.value.as_mapping())
}

#[cfg(test)]
mod tests {
    use super::Validator;
    use crate::configuration::schema::Shape;
    use crate::yaml::{load, Value};
    use std::path::Path;

    fn check(shape: &Shape, yaml: &str) -> Result<(), String> {
        let value = load(yaml, Path::new("test.yml"))
            .expect("valid YAML")
            .map_or(Value::Null, |node| node.value);
        Validator::new(&["section"])
            .validate_against(&value, shape)
            .map_err(|error| error.to_string())
    }

    #[test]
    fn ssh_config_takes_a_boolean_a_real_string_or_strings() {
        assert!(check(&Shape::SshConfig, "true").is_ok());
        assert!(check(&Shape::SshConfig, "~/.ssh/config").is_ok());
        assert!(check(&Shape::SshConfig, "[a, b]").is_ok());
        let hash = check(&Shape::SshConfig, "{a: b}").expect_err("a Hash is refused");
        assert!(
            hash.ends_with("section: should be a boolean or a string or an array"),
            "{hash}"
        );
        // Elsewhere a number passes as "stringish"; here it does not.
        assert!(check(&Shape::SshConfig, "22").is_err());
    }

    #[test]
    fn file_hashes_type_their_known_keys_only() {
        assert!(check(&Shape::Files, "[{local: a, remote: b, extra: [1]}]").is_ok());
        let error = check(&Shape::Files, "[{local: a, remote: [b]}]").expect_err("remote is typed");
        assert!(error.ends_with("section/0/remote: should be a string"), "{error}");
    }

    #[test]
    fn hooks_output_levels_are_strings_or_symbols() {
        assert!(check(&Shape::HooksOutput, ":quiet").is_ok());
        let error = check(&Shape::HooksOutput, "[a]").expect_err("an Array is refused");
        assert!(
            error.ends_with("section: should be a string or a symbol"),
            "{error}"
        );
    }
}
