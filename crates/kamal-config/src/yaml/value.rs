//! The value tree produced by the YAML loader and consumed by the emitter: Ruby's view of
//! YAML (Psych, YAML 1.1), with the source position of every node for error messages.

/// A position in the rendered YAML text, 1-based as editors show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Mark {
    pub line: usize,
    pub column: usize,
}

/// One YAML node: its Ruby value and where it was written.
#[derive(Debug, Clone)]
pub struct Node {
    pub value: Value,
    pub mark: Mark,
}

/// A Ruby object as Psych's `unsafe_load` would build it (and as `to_yaml` writes it).
#[derive(Debug, Clone)]
pub enum Value {
    /// `nil` (`~`, `null`, empty).
    Null,
    /// `true`/`false`, including YAML 1.1's `yes`/`no`/`on`/`off`.
    Bool(bool),
    /// Integer, including YAML 1.1 octal (`0755`), hex, binary, base-60 (`1:30`) and `_` separators.
    Integer(i64),
    /// Float (`1.5`, `1e3`, `.inf`, `.nan`, base-60 floats).
    Float(f64),
    /// String.
    String(String),
    /// Ruby Symbol, from a `:name` scalar (written back as `:name`).
    Symbol(String),
    /// A Date or Time scalar; kept as written so it can be emitted again.
    Timestamp(String),
    /// Array.
    Sequence(Vec<Node>),
    /// Hash (insertion ordered, later duplicate keys overwrite in place, as Ruby's Hash does).
    Mapping(Mapping),
    /// A Ruby object with instance variables, for emission only
    /// (`!ruby/object:Net::SSH::Proxy::Command` in `kamal config`).
    Object {
        class: String,
        fields: Vec<(String, Node)>,
    },
}

/// An insertion-ordered Hash with Ruby's key equality (`"a"` and `:a` differ).
#[derive(Debug, Clone, Default)]
pub struct Mapping {
    pub entries: Vec<(Node, Node)>,
}

impl Node {
    pub fn new(value: Value, mark: Mark) -> Node {
        Node { value, mark }
    }

    /// A node with no known position (built in code, not read from a file).
    pub fn synthetic(value: Value) -> Node {
        Node {
            value,
            mark: Mark::default(),
        }
    }
}

impl Value {
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(string) => Some(string),
            _ => None,
        }
    }

    pub fn as_mapping(&self) -> Option<&Mapping> {
        match self {
            Value::Mapping(mapping) => Some(mapping),
            _ => None,
        }
    }

    pub fn as_sequence(&self) -> Option<&[Node]> {
        match self {
            Value::Sequence(items) => Some(items),
            _ => None,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// Ruby `==` between two loaded values (used for Hash keys and merges).
    pub fn ruby_eq(&self, other: &Value) -> bool {
        match (self, other) {
            (Value::Null, Value::Null) => true,
            (Value::Bool(a), Value::Bool(b)) => a == b,
            (Value::Integer(a), Value::Integer(b)) => a == b,
            (Value::Float(a), Value::Float(b)) => a == b,
            (Value::Integer(a), Value::Float(b)) | (Value::Float(b), Value::Integer(a)) => (*a as f64) == *b,
            (Value::String(a), Value::String(b)) => a == b,
            (Value::Symbol(a), Value::Symbol(b)) => a == b,
            (Value::Timestamp(a), Value::Timestamp(b)) => a == b,
            (Value::Sequence(a), Value::Sequence(b)) => {
                a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.value.ruby_eq(&y.value))
            }
            (Value::Mapping(a), Value::Mapping(b)) => {
                a.entries.len() == b.entries.len()
                    && a.entries.iter().all(|(key, value)| {
                        b.get_value(&key.value)
                            .is_some_and(|other| other.value.ruby_eq(&value.value))
                    })
            }
            _ => false,
        }
    }
}

impl Mapping {
    pub fn new() -> Mapping {
        Mapping::default()
    }

    /// Ruby `hash[key] = value`: overwrite in place when the key exists, else append.
    pub fn insert(&mut self, key: Node, value: Node) {
        if let Some(entry) = self
            .entries
            .iter_mut()
            .find(|(existing, _)| existing.value.ruby_eq(&key.value))
        {
            entry.1 = value;
        } else {
            self.entries.push((key, value));
        }
    }

    pub fn get_value(&self, key: &Value) -> Option<&Node> {
        self.entries
            .iter()
            .find(|(existing, _)| existing.value.ruby_eq(key))
            .map(|(_, value)| value)
    }

    /// Lookup by String key (the common case: nested keys stay strings in Kamal).
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.entries
            .iter()
            .find(|(existing, _)| matches!(&existing.value, Value::String(s) if s == key))
            .map(|(_, value)| value)
    }

    /// Lookup of an entry (key node and value node) by String key.
    pub fn entry(&self, key: &str) -> Option<&(Node, Node)> {
        self.entries
            .iter()
            .find(|(existing, _)| matches!(&existing.value, Value::String(s) if s == key))
    }

    pub fn keys(&self) -> impl Iterator<Item = &Node> {
        self.entries.iter().map(|(key, _)| key)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}
