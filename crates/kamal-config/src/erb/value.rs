//! Ruby values as the evaluator sees them, with Ruby's `to_s`, `inspect`, truthiness and `==`.
//!
//! `inspect` matters beyond debugging: `<%= list %>` renders an Array by its `inspect`
//! (`["a", "b"]`), which YAML then reads as a flow sequence.

use super::error::RubyException;
use crate::configuration::ruby::float_to_s;

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Nil,
    Bool(bool),
    Integer(i64),
    Float(f64),
    String(String),
    Symbol(String),
    Array(Vec<Value>),
    /// Insertion-ordered pairs, like Ruby's Hash.
    Hash(Vec<(Value, Value)>),
    Range {
        start: Box<Value>,
        end: Box<Value>,
        exclusive: bool,
    },
    Uri(Box<Uri>),
    /// The `ENV` object itself (its contents live in the environment).
    Env,
    /// A class or module we know by name: `File`, `URI`, `String`, `KeyError`, ...
    Module(&'static str),
    /// A rescued exception (`rescue => error`).
    Exception(Box<RubyException>),
}

/// The parts of `URI.parse(text)` configs ask for.
#[derive(Debug, Clone, PartialEq)]
pub struct Uri {
    pub text: String,
    pub scheme: Option<String>,
    pub userinfo: Option<String>,
    pub host: Option<String>,
    pub port: Option<i64>,
    pub path: String,
    pub query: Option<String>,
    pub fragment: Option<String>,
}

impl Value {
    pub fn string(text: impl Into<String>) -> Value {
        Value::String(text.into())
    }

    /// Only `nil` and `false` are false in Ruby.
    pub fn is_truthy(&self) -> bool {
        !matches!(self, Value::Nil | Value::Bool(false))
    }

    /// ActiveSupport's `blank?`: nil, false, whitespace-only strings, empty collections.
    pub fn is_blank(&self) -> bool {
        match self {
            Value::Nil | Value::Bool(false) => true,
            Value::String(text) => text.chars().all(char::is_whitespace),
            Value::Array(items) => items.is_empty(),
            Value::Hash(pairs) => pairs.is_empty(),
            _ => false,
        }
    }

    /// The class name Ruby shows in messages such as `undefined method 'x' for an instance of String`.
    pub fn class_name(&self) -> &'static str {
        match self {
            Value::Nil => "NilClass",
            Value::Bool(true) => "TrueClass",
            Value::Bool(false) => "FalseClass",
            Value::Integer(_) => "Integer",
            Value::Float(_) => "Float",
            Value::String(_) => "String",
            Value::Symbol(_) => "Symbol",
            Value::Array(_) => "Array",
            Value::Hash(_) => "Hash",
            Value::Range { .. } => "Range",
            Value::Uri(uri) => match uri.scheme.as_deref() {
                Some("https") => "URI::HTTPS",
                Some("http") => "URI::HTTP",
                _ => "URI::Generic",
            },
            Value::Env => "Object",
            Value::Module(_) => "Module",
            Value::Exception(exception) => exception.class,
        }
    }

    /// Ruby's `to_s`, which is also what `<%= %>` and `"#{}"` insert.
    pub fn to_ruby_string(&self) -> String {
        match self {
            Value::Nil => String::new(),
            Value::Bool(value) => value.to_string(),
            Value::Integer(value) => value.to_string(),
            Value::Float(value) => float_to_s(*value),
            Value::String(text) | Value::Symbol(text) => text.clone(),
            Value::Uri(uri) => uri.text.clone(),
            Value::Env => "ENV".into(),
            Value::Module(name) => (*name).into(),
            Value::Exception(exception) => exception.message.clone(),
            Value::Array(_) | Value::Hash(_) | Value::Range { .. } => self.inspect(),
        }
    }

    /// Ruby 3.3's `inspect`.
    pub fn inspect(&self) -> String {
        match self {
            Value::Nil => "nil".into(),
            Value::String(text) => inspect_string(text),
            Value::Symbol(name) => inspect_symbol(name),
            Value::Array(items) => {
                let items: Vec<String> = items.iter().map(Value::inspect).collect();
                format!("[{}]", items.join(", "))
            }
            Value::Hash(pairs) => {
                let pairs: Vec<String> = pairs
                    .iter()
                    .map(|(key, value)| format!("{}=>{}", key.inspect(), value.inspect()))
                    .collect();
                format!("{{{}}}", pairs.join(", "))
            }
            Value::Range {
                start,
                end,
                exclusive,
            } => {
                let operator = if *exclusive { "..." } else { ".." };
                let bound = |value: &Value| {
                    if matches!(value, Value::Nil) {
                        String::new()
                    } else {
                        value.inspect()
                    }
                };
                format!("{}{operator}{}", bound(start), bound(end))
            }
            Value::Uri(uri) => format!("#<{} {}>", self.class_name(), uri.text),
            Value::Exception(exception) => format!("#<{}: {}>", exception.class, exception.message),
            _ => self.to_ruby_string(),
        }
    }

    /// Ruby's `eql?`, which Hash keys use: `1` and `1.0` are different keys.
    pub fn is_same_key(&self, other: &Value) -> bool {
        self.ruby_eq(other) && self.class_name() == other.class_name()
    }

    /// Ruby's `==`: numbers compare across Integer and Float; hashes ignore order.
    pub fn ruby_eq(&self, other: &Value) -> bool {
        match (self, other) {
            (Value::Integer(left), Value::Float(right)) | (Value::Float(right), Value::Integer(left)) => {
                (*left as f64) == *right
            }
            (Value::Array(left), Value::Array(right)) => {
                left.len() == right.len() && left.iter().zip(right).all(|(left, right)| left.ruby_eq(right))
            }
            (Value::Hash(left), Value::Hash(right)) => {
                left.len() == right.len()
                    && left.iter().all(|(key, value)| {
                        right.iter().any(|(other_key, other_value)| {
                            key.ruby_eq(other_key) && value.ruby_eq(other_value)
                        })
                    })
            }
            _ => self == other,
        }
    }
}

/// Ruby's `String#inspect` for UTF-8 strings.
pub fn inspect_string(text: &str) -> String {
    crate::ruby::inspect(text)
}

fn inspect_symbol(name: &str) -> String {
    let mut characters = name.chars();
    let simple = characters
        .next()
        .is_some_and(|first| first.is_alphabetic() || first == '_')
        && {
            let body = name.trim_end_matches(['?', '!', '=']);
            body.chars().all(|c| c.is_alphanumeric() || c == '_') && name.len() - body.len() <= 1
        };
    if simple {
        format!(":{name}")
    } else {
        format!(":{}", inspect_string(name))
    }
}

/// `URI.parse` for the generic `scheme://userinfo@host:port/path?query#fragment` shape.
/// Returns `None` where Ruby raises `URI::InvalidURIError`.
pub fn parse_uri(text: &str) -> Option<Uri> {
    if text
        .chars()
        .any(|c| c.is_whitespace() || c == '"' || c == '<' || c == '>')
    {
        return None;
    }
    let mut uri = Uri {
        text: text.to_string(),
        scheme: None,
        userinfo: None,
        host: None,
        port: None,
        path: String::new(),
        query: None,
        fragment: None,
    };
    let mut rest = text;
    if let Some((before, fragment)) = rest.split_once('#') {
        uri.fragment = Some(fragment.to_string());
        rest = before;
    }
    if let Some((before, query)) = rest.split_once('?') {
        uri.query = Some(query.to_string());
        rest = before;
    }
    if let Some(colon) = rest.find(':') {
        let scheme = &rest[..colon];
        let valid_scheme = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
        if valid_scheme {
            uri.scheme = Some(scheme.to_ascii_lowercase());
            rest = &rest[colon + 1..];
        }
    }
    if let Some(after_slashes) = rest.strip_prefix("//") {
        let authority_end = after_slashes.find('/').unwrap_or(after_slashes.len());
        let mut authority = &after_slashes[..authority_end];
        rest = &after_slashes[authority_end..];
        if let Some((userinfo, host)) = authority.rsplit_once('@') {
            uri.userinfo = Some(userinfo.to_string());
            authority = host;
        }
        let (host, port) = match authority.rsplit_once(':') {
            Some((host, port)) if !authority.ends_with(']') => (host, Some(port)),
            _ => (authority, None),
        };
        match port {
            Some("") | None => {}
            Some(port) => uri.port = Some(port.parse().ok()?),
        }
        uri.host = Some(host.to_string());
    }
    if uri.port.is_none() {
        uri.port = match uri.scheme.as_deref() {
            Some("http" | "ws") => Some(80),
            Some("https" | "wss") => Some(443),
            Some("ftp") => Some(21),
            _ => None,
        };
    }
    uri.path = rest.to_string();
    Some(uri)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inspect_matches_ruby() {
        let value = Value::Array(vec![
            Value::string("a\n\t\u{1b}\u{1}\u{7f}é#{1}"),
            Value::Symbol("a".into()),
            Value::Symbol("b c".into()),
            Value::Symbol("a?".into()),
            Value::Float(1.0),
            Value::Float(1e20),
            Value::Float(1.5e-7),
            Value::Float(100.0 / 3.0),
            Value::Hash(vec![
                (Value::Symbol("a".into()), Value::Integer(1)),
                (
                    Value::string("b"),
                    Value::Array(vec![Value::Nil, Value::Bool(true)]),
                ),
            ]),
        ]);
        assert_eq!(
            value.inspect(),
            r#"["a\n\t\e\u0001\u007Fé\#{1}", :a, :"b c", :a?, 1.0, 1.0e+20, 1.5e-07, 33.333333333333336, {:a=>1, "b"=>[nil, true]}]"#
        );
    }

    #[test]
    fn to_s_of_nil_is_empty_and_of_arrays_is_inspect() {
        assert_eq!(Value::Nil.to_ruby_string(), "");
        assert_eq!(
            Value::Array(vec![Value::string("a"), Value::string("b")]).to_ruby_string(),
            r#"["a", "b"]"#
        );
        assert_eq!(Value::Float(0.25).to_ruby_string(), "0.25");
    }

    #[test]
    fn uri_parts() {
        let uri = parse_uri("https://user@app.example.com/path?q=1").expect("parses");
        assert_eq!(uri.scheme.as_deref(), Some("https"));
        assert_eq!(uri.host.as_deref(), Some("app.example.com"));
        assert_eq!(uri.port, Some(443));
        assert_eq!(uri.path, "/path");
        let uri = parse_uri("http://h:8080").expect("parses");
        assert_eq!(
            (uri.host.as_deref(), uri.port, uri.path.as_str()),
            (Some("h"), Some(8080), "")
        );
        let uri = parse_uri("dummy-APP_BASE").expect("parses");
        assert_eq!(
            (uri.scheme, uri.host, uri.path.as_str()),
            (None, None, "dummy-APP_BASE")
        );
        assert_eq!(parse_uri("a b"), None);
    }
}
