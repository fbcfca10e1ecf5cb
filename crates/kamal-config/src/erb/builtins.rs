//! The parts of Ruby's and Kamal's world that configs reach for: constants, `require`,
//! `raise`, `ENV`, `File`, `Dir`, `URI`, `YAML.load_file`, `Dotenv.load`,
//! `Kamal::Utils.docker_arch` and shell commands. All I/O goes through the environment.

use std::path::{Component, Path, PathBuf};

use super::ast::Block;
use super::evaluator::{hash_insert, Evaluated, Evaluator};
use super::value::{parse_uri, Value};
use crate::environment::{CommandError, SpawnPlan};

/// The Ruby inside Kamal 2.11's standalone binary.
const RUBY_VERSION: &str = "3.3.7";

/// Libraries Kamal's Ruby has loaded anyway, so `require` of them just succeeds.
const LOADED_LIBRARIES: &[&str] = &[
    "dotenv",
    "uri",
    "json",
    "yaml",
    "erb",
    "socket",
    "net/http",
    "open3",
    "shellwords",
    "active_support",
    "date",
    "time",
];

/// Exception classes a template may name (`rescue LoadError`, `raise ArgumentError, "..."`).
const EXCEPTION_CLASSES: &[&str] = &[
    "Exception",
    "StandardError",
    "RuntimeError",
    "ArgumentError",
    "TypeError",
    "KeyError",
    "IndexError",
    "NameError",
    "NoMethodError",
    "ZeroDivisionError",
    "LoadError",
    "ScriptError",
    "SystemCallError",
    "IOError",
];

/// Classes a template may test with `is_a?`/`case`.
const CLASSES: &[&str] = &[
    "String",
    "Integer",
    "Float",
    "Numeric",
    "Array",
    "Hash",
    "Symbol",
    "NilClass",
    "TrueClass",
    "FalseClass",
    "Object",
    "Range",
    "Comparable",
];

/// Modules with functions we implement.
const MODULES: &[&str] = &["File", "Dir", "URI", "Dotenv", "YAML", "Psych", "Kamal"];

impl Evaluator<'_> {
    pub(super) fn constant(&self, scope: Option<&'static str>, name: &str) -> Evaluated<Value> {
        let found = match (scope, name) {
            (None, "ENV") => Some(Value::Env),
            (None, "RUBY_ENGINE") => Some(Value::string("ruby")),
            (None, "RUBY_ENGINE_VERSION" | "RUBY_VERSION") => Some(Value::string(RUBY_VERSION)),
            (None, name) => {
                let known = EXCEPTION_CLASSES
                    .iter()
                    .chain(CLASSES)
                    .chain(MODULES)
                    .find(|known| **known == name);
                known.map(|known| Value::Module(known))
            }
            (Some("Kamal"), "Utils") => Some(Value::Module("Kamal::Utils")),
            (Some("Errno"), "ENOENT") => Some(Value::Module("Errno::ENOENT")),
            (Some("Errno"), "EACCES") => Some(Value::Module("Errno::EACCES")),
            (Some("URI"), "InvalidURIError") => Some(Value::Module("URI::InvalidURIError")),
            (Some("URI"), "Error") => Some(Value::Module("URI::Error")),
            _ => None,
        };
        match (found, scope) {
            (Some(value), _) => Ok(value),
            (None, Some(scope)) => Err(self.unsupported(format!("unknown constant {scope}::{name}"))),
            (None, None) if name == "Errno" => Ok(Value::Module("Errno")),
            (None, None) => Err(self.unsupported(format!("unknown constant {name}"))),
        }
    }

    /// Methods called without a receiver (on `main`).
    pub(super) fn call_function(
        &mut self,
        name: &str,
        arguments: Vec<Value>,
        block: Option<&Block>,
    ) -> Evaluated<Value> {
        match name {
            "require" => {
                self.arity(&arguments, 1, 1)?;
                let library = self.string_argument(&arguments[0])?;
                self.require(&library)
            }
            "raise" | "fail" => Err(self.raise_from(arguments)),
            "Integer" | "Float" | "String" | "Array" | "URI" => {
                self.arity(&arguments, 1, 1)?;
                let argument = arguments.into_iter().next().unwrap_or(Value::Nil);
                self.conversion(name, argument)
            }
            "puts" | "print" | "p" | "pp" | "warn" | "printf" | "system" | "exec" | "spawn" | "exit"
            | "abort" | "sleep" => Err(self.unsupported(format!(
                "`{name}` (side effects beyond ENV, files and command output)"
            ))),
            _ if block.is_some() || !arguments.is_empty() => {
                Err(self.unsupported(format!("unknown method `{name}`")))
            }
            _ => Err(self.unsupported(format!("unknown local variable or method `{name}`"))),
        }
    }

    fn require(&mut self, library: &str) -> Evaluated<Value> {
        if LOADED_LIBRARIES.contains(&library) {
            return Ok(Value::Bool(true));
        }
        let is_path = library.starts_with('/') || library.starts_with("./") || library.starts_with("../");
        if is_path {
            let with_extension = if library.ends_with(".rb") {
                library.to_string()
            } else {
                format!("{library}.rb")
            };
            if !self.environment.file_exists(Path::new(&with_extension)) {
                return Err(self.raise("LoadError", format!("cannot load such file -- {library}")));
            }
            return Err(self.unsupported(format!("requiring Ruby code ({library})")));
        }
        Err(self.unsupported(format!("require \"{library}\"")))
    }

    /// `raise`, `raise "message"`, `raise Class`, `raise Class, "message"`.
    fn raise_from(&self, arguments: Vec<Value>) -> super::evaluator::Interrupt {
        match arguments.as_slice() {
            [] => self.raise("RuntimeError", "unhandled exception"),
            [Value::String(message)] => self.raise("RuntimeError", message.clone()),
            [Value::Module(class)] if self.is_exception_class(class) => self.raise(class, *class),
            [Value::Module(class), message] if self.is_exception_class(class) => {
                self.raise(class, message.to_ruby_string())
            }
            [Value::Exception(exception)] => self.raise(exception.class, exception.message.clone()),
            _ => self.raise("TypeError", "exception class/object expected"),
        }
    }

    fn is_exception_class(&self, class: &str) -> bool {
        EXCEPTION_CLASSES.contains(&class) || class.starts_with("Errno::") || class.starts_with("URI::")
    }

    /// `Integer("3")`, `String(x)`, `Array(x)`, `URI(s)`.
    fn conversion(&mut self, name: &str, argument: Value) -> Evaluated<Value> {
        match (name, argument) {
            ("String", value) => Ok(Value::String(value.to_ruby_string())),
            ("Array", Value::Nil) => Ok(Value::Array(vec![])),
            ("Array", Value::Array(items)) => Ok(Value::Array(items)),
            ("Array", Value::Hash(pairs)) => Ok(Value::Array(
                pairs
                    .into_iter()
                    .map(|(key, value)| Value::Array(vec![key, value]))
                    .collect(),
            )),
            ("Array", value) => Ok(Value::Array(vec![value])),
            ("Integer", Value::Integer(value)) => Ok(Value::Integer(value)),
            ("Integer", Value::Float(value)) => Ok(Value::Integer(value.trunc() as i64)),
            ("Integer", Value::String(text)) => {
                let digits: String = text.trim().chars().filter(|c| *c != '_').collect();
                digits.parse().map(Value::Integer).map_err(|_| {
                    self.raise(
                        "ArgumentError",
                        format!("invalid value for Integer(): {}", Value::String(text).inspect()),
                    )
                })
            }
            ("Float", Value::Integer(value)) => Ok(Value::Float(value as f64)),
            ("Float", Value::Float(value)) => Ok(Value::Float(value)),
            ("Float", Value::String(text)) => text.trim().parse().map(Value::Float).map_err(|_| {
                self.raise(
                    "ArgumentError",
                    format!("invalid value for Float(): {}", Value::String(text).inspect()),
                )
            }),
            ("URI", Value::String(text)) => self.uri_parse(&text),
            ("URI", value @ Value::Uri(_)) => Ok(value),
            (name, Value::Nil) if name == "Integer" || name == "Float" => {
                Err(self.raise("TypeError", format!("can't convert nil into {name}")))
            }
            (name, value) => Err(self.unsupported(format!("{name}() of {}", value.class_name()))),
        }
    }

    /// A `Module`'s singleton methods: `File.read`, `URI.parse`, `Dotenv.load`, ...
    pub(super) fn module_method(
        &mut self,
        module: &'static str,
        name: &str,
        arguments: Vec<Value>,
        _block: Option<&Block>,
    ) -> Evaluated<Value> {
        match (module, name) {
            ("File", "read") => {
                self.arity(&arguments, 1, 2)?;
                let path = self.path_argument(&arguments[0])?;
                self.read_file(&path)
            }
            ("File", "exist?" | "file?" | "exists?") => {
                self.arity(&arguments, 1, 1)?;
                let path = self.path_argument(&arguments[0])?;
                Ok(Value::Bool(self.environment.file_exists(Path::new(&path))))
            }
            ("File", "expand_path") => {
                self.arity(&arguments, 1, 2)?;
                let path = self.path_argument(&arguments[0])?;
                let base = match arguments.get(1) {
                    Some(Value::Nil) | None => None,
                    Some(base) => Some(self.path_argument(base)?),
                };
                Ok(Value::String(self.expand_path(&path, base.as_deref())?))
            }
            ("File", "join") => {
                let mut parts = Vec::new();
                for argument in flatten(arguments) {
                    parts.push(self.path_argument(&argument)?);
                }
                Ok(Value::String(join_paths(&parts)))
            }
            ("File", "basename") => {
                self.arity(&arguments, 1, 2)?;
                let path = self.path_argument(&arguments[0])?;
                let trimmed = path.trim_end_matches('/');
                let mut base = trimmed.rsplit('/').next().unwrap_or_default().to_string();
                if trimmed.is_empty() && path.starts_with('/') {
                    base = "/".into();
                }
                if let Some(Value::String(suffix)) = arguments.get(1) {
                    if suffix == ".*" {
                        if let Some(dot) = base.rfind('.').filter(|dot| *dot > 0) {
                            base.truncate(dot);
                        }
                    } else if base.ends_with(suffix.as_str()) && base != *suffix {
                        base.truncate(base.len() - suffix.len());
                    }
                }
                Ok(Value::String(base))
            }
            ("File", "dirname") => {
                self.arity(&arguments, 1, 1)?;
                let path = self.path_argument(&arguments[0])?;
                let trimmed = path.trim_end_matches('/');
                Ok(Value::String(match trimmed.rfind('/') {
                    Some(0) => "/".into(),
                    Some(index) => trimmed[..index].to_string(),
                    None if path.starts_with('/') => "/".into(),
                    None => ".".into(),
                }))
            }
            ("Dir", "pwd" | "getwd") => {
                self.arity(&arguments, 0, 0)?;
                Ok(Value::String(
                    self.environment.current_dir().to_string_lossy().into_owned(),
                ))
            }
            ("URI", "parse") => {
                self.arity(&arguments, 1, 1)?;
                let text = self.string_argument(&arguments[0])?;
                self.uri_parse(&text)
            }
            ("YAML" | "Psych", "load_file" | "unsafe_load_file" | "safe_load_file") => {
                self.arity(&arguments, 1, 2)?;
                let path = self.path_argument(&arguments[0])?;
                let text = match self.read_file(&path)? {
                    Value::String(text) => text,
                    _ => String::new(),
                };
                self.load_yaml(&text, &path)
            }
            ("YAML" | "Psych", "load" | "unsafe_load" | "safe_load") => {
                self.arity(&arguments, 1, 2)?;
                let text = self.string_argument(&arguments[0])?;
                self.load_yaml(&text, "<unknown>")
            }
            ("Dotenv", "load" | "load!" | "overload" | "overload!") => self.dotenv_load(name, arguments),
            ("Dotenv", "parse") => {
                let mut loaded = Vec::new();
                for file in self.dotenv_files(&arguments)? {
                    if let Some(values) = self.dotenv_file(&file, false)? {
                        for (key, value) in values {
                            hash_insert(&mut loaded, Value::String(key), Value::String(value));
                        }
                    }
                }
                Ok(Value::Hash(loaded))
            }
            ("Kamal::Utils", "docker_arch") => {
                self.arity(&arguments, 0, 0)?;
                let architecture = self
                    .run_command("docker info --format '{{.Architecture}}'")?
                    .to_ruby_string();
                let architecture = architecture.trim();
                Ok(Value::string(if architecture.contains("aarch64") {
                    "arm64"
                } else if architecture.contains("x86_64") {
                    "amd64"
                } else {
                    architecture
                }))
            }
            (class, "new") if self.is_exception_class(class) => {
                let message = arguments
                    .first()
                    .map_or_else(|| class.to_string(), Value::to_ruby_string);
                Ok(Value::Exception(Box::new(super::error::RubyException::new(
                    class, message,
                ))))
            }
            (module, "name" | "to_s" | "inspect") => Ok(Value::string(module)),
            (module, "==") => Ok(Value::Bool(
                matches!(arguments.first(), Some(Value::Module(other)) if *other == module),
            )),
            (module, name) => Err(self.unsupported(format!("unknown method {module}.{name}"))),
        }
    }

    /// `ENV`'s methods.
    pub(super) fn env_method(
        &mut self,
        name: &str,
        arguments: Vec<Value>,
        block: Option<&Block>,
    ) -> Evaluated<Value> {
        match name {
            "[]" => {
                self.arity(&arguments, 1, 1)?;
                let key = self.string_argument(&arguments[0])?;
                Ok(self.environment.var(&key).map_or(Value::Nil, Value::String))
            }
            "[]=" | "store" => {
                self.arity(&arguments, 2, 2)?;
                let key = self.string_argument(&arguments[0])?;
                match &arguments[1] {
                    Value::Nil => self.environment.remove_var(&key),
                    value => {
                        let value = self.string_argument(value)?;
                        self.environment.set_var(&key, &value);
                    }
                }
                Ok(arguments[1].clone())
            }
            "fetch" => {
                self.arity(&arguments, 1, 2)?;
                let key = self.string_argument(&arguments[0])?;
                if let Some(value) = self.environment.var(&key) {
                    return Ok(Value::String(value));
                }
                // Ruby prefers the block over a default when given both.
                match (block, arguments.get(1)) {
                    (Some(block), _) => self.yield_block(block, vec![Value::String(key)]),
                    (None, Some(default)) => Ok(default.clone()),
                    (None, None) => Err(self.raise(
                        "KeyError",
                        format!("key not found: {}", Value::String(key).inspect()),
                    )),
                }
            }
            "key?" | "has_key?" | "include?" | "member?" => {
                self.arity(&arguments, 1, 1)?;
                let key = self.string_argument(&arguments[0])?;
                Ok(Value::Bool(self.environment.var(&key).is_some()))
            }
            "delete" => {
                self.arity(&arguments, 1, 1)?;
                let key = self.string_argument(&arguments[0])?;
                let previous = self.environment.var(&key);
                self.environment.remove_var(&key);
                Ok(previous.map_or(Value::Nil, Value::String))
            }
            "to_h" | "to_hash" | "keys" | "values" | "each" | "each_pair" | "select" | "filter"
            | "reject" | "map" | "any?" | "empty?" | "size" | "length" | "slice" | "values_at"
            | "fetch_values" | "dig" | "find" => {
                let pairs: Vec<(Value, Value)> = self
                    .environment
                    .vars()
                    .into_iter()
                    .map(|(key, value)| (Value::String(key), Value::String(value)))
                    .collect();
                let as_hash = Value::Hash(pairs);
                match name {
                    "to_h" | "to_hash" if block.is_none() => Ok(as_hash),
                    // `each` returns ENV itself; the block's changes go to the environment.
                    "each" | "each_pair" => {
                        self.call_method(as_hash, name, arguments, block)?;
                        Ok(Value::Env)
                    }
                    _ => self.call_method(as_hash, name, arguments, block),
                }
            }
            "inspect" | "to_s" => Ok(Value::string("ENV")),
            "nil?" => Ok(Value::Bool(false)),
            _ => Err(self.unsupported(format!("unknown method ENV.{name}"))),
        }
    }

    /// A backtick or `%x()`: stdout as a String; exit status is not checked, like Ruby.
    pub(super) fn run_command(&mut self, command: &str) -> Evaluated<Value> {
        let plan = SpawnPlan::for_command(command);
        match self.environment.run_command(&plan) {
            Ok(output) => Ok(Value::String(output.stdout)),
            Err(CommandError::NotFound { program }) => {
                Err(self.raise("Errno::ENOENT", format!("No such file or directory - {program}")))
            }
            Err(CommandError::Other { message }) => {
                let class = if message.starts_with("Permission denied") {
                    "Errno::EACCES"
                } else {
                    "SystemCallError"
                };
                Err(self.raise(class, message))
            }
        }
    }

    fn read_file(&mut self, path: &str) -> Evaluated<Value> {
        match self.environment.read_file(Path::new(path)) {
            Ok(text) => Ok(Value::String(text)),
            Err(error) => Err(match error.kind() {
                std::io::ErrorKind::NotFound => self.raise(
                    "Errno::ENOENT",
                    format!("No such file or directory @ rb_sysopen - {path}"),
                ),
                std::io::ErrorKind::PermissionDenied => self.raise(
                    "Errno::EACCES",
                    format!("Permission denied @ rb_sysopen - {path}"),
                ),
                std::io::ErrorKind::IsADirectory => {
                    self.raise("Errno::EISDIR", format!("Is a directory @ io_fread - {path}"))
                }
                _ => self.raise("IOError", format!("{error} - {path}")),
            }),
        }
    }

    fn uri_parse(&self, text: &str) -> Evaluated<Value> {
        parse_uri(text)
            .map(|uri| Value::Uri(Box::new(uri)))
            .ok_or_else(|| {
                self.raise(
                    "URI::InvalidURIError",
                    format!("bad URI (is not URI?): {}", Value::string(text).inspect()),
                )
            })
    }

    fn load_yaml(&self, text: &str, origin: &str) -> Evaluated<Value> {
        match crate::yaml::load(text, Path::new(origin)) {
            Ok(Some(node)) => self.yaml_value(&node.value),
            Ok(None) => Ok(Value::Bool(false)),
            Err(error) => Err(self.raise("Psych::SyntaxError", error.to_string())),
        }
    }

    fn yaml_value(&self, value: &crate::yaml::Value) -> Evaluated<Value> {
        use crate::yaml::Value as Yaml;
        Ok(match value {
            Yaml::Null => Value::Nil,
            Yaml::Bool(value) => Value::Bool(*value),
            Yaml::Integer(value) => Value::Integer(*value),
            Yaml::Float(value) => Value::Float(*value),
            Yaml::String(text) | Yaml::Timestamp(text) => Value::String(text.clone()),
            Yaml::Symbol(name) => Value::Symbol(name.clone()),
            Yaml::Sequence(items) => Value::Array(
                items
                    .iter()
                    .map(|item| self.yaml_value(&item.value))
                    .collect::<Evaluated<_>>()?,
            ),
            Yaml::Mapping(mapping) => {
                let mut pairs = Vec::new();
                for (key, value) in &mapping.entries {
                    hash_insert(
                        &mut pairs,
                        self.yaml_value(&key.value)?,
                        self.yaml_value(&value.value)?,
                    );
                }
                Value::Hash(pairs)
            }
            Yaml::Object { class, .. } => {
                return Err(self.unsupported(format!("YAML object of class {class}")))
            }
        })
    }

    fn dotenv_files(&self, arguments: &[Value]) -> Evaluated<Vec<String>> {
        let mut files = Vec::new();
        for argument in arguments {
            match argument {
                // Keyword options (`overwrite: true`) arrive as a trailing Hash.
                Value::Hash(_) => {}
                argument => files.push(self.path_argument(argument)?),
            }
        }
        if files.is_empty() {
            files.push(".env".into());
        }
        Ok(files)
    }

    /// `Dotenv.load(*files, overwrite: false)`: sets variables not already set (all of them
    /// for `overload`); a missing file is skipped, except by the `!` forms.
    fn dotenv_load(&mut self, name: &str, arguments: Vec<Value>) -> Evaluated<Value> {
        let options_overwrite = arguments.iter().any(|argument| match argument {
            Value::Hash(pairs) => pairs.iter().any(|(key, value)| {
                matches!(key, Value::Symbol(key) if key == "overwrite" || key == "overload")
                    && value.is_truthy()
            }),
            _ => false,
        });
        let overwrite = name.starts_with("overload") || options_overwrite;
        let required = name.ends_with('!');
        let mut loaded = Vec::new();
        for file in self.dotenv_files(&arguments)? {
            let Some(values) = self.dotenv_file(&file, overwrite)? else {
                if required {
                    return Err(self.raise(
                        "Errno::ENOENT",
                        format!("No such file or directory @ rb_sysopen - {file}"),
                    ));
                }
                continue;
            };
            for (key, value) in values {
                if overwrite || self.environment.var(&key).is_none() {
                    self.environment.set_var(&key, &value);
                }
                hash_insert(&mut loaded, Value::String(key), Value::String(value));
            }
        }
        Ok(Value::Hash(loaded))
    }

    /// Parses one dotenv file with the secrets layer's dotenv reader, or `None` when it does
    /// not exist. Unless `overwrite`, variables already set keep their value, as with dotenv's
    /// `overwrite: false` (which also substitutes them as set; the shared reader substitutes
    /// the file's value, a difference only a file redefining and reusing such a key sees).
    fn dotenv_file(&mut self, file: &str, overwrite: bool) -> Evaluated<Option<Vec<(String, String)>>> {
        use crate::environment::CommandError;
        use crate::secrets::SecretsError;
        let Ok(text) = self.environment.read_file(Path::new(file)) else {
            return Ok(None);
        };
        let parsed = match crate::secrets::dotenv::parse(&text, file, &mut *self.environment) {
            Ok(parsed) => parsed,
            Err(error) => {
                let error = match error {
                    SecretsError::InFile { source, .. } => *source,
                    error => error,
                };
                return Err(match error {
                    SecretsError::Command(CommandError::NotFound { program }) => {
                        self.raise("Errno::ENOENT", format!("No such file or directory - {program}"))
                    }
                    error @ SecretsError::UnsetVariable { .. } => {
                        self.raise("Dotenv::FormatError", error.to_string())
                    }
                    error => self.raise("RuntimeError", error.to_string()),
                });
            }
        };
        let values = parsed
            .values
            .into_iter()
            .map(|(key, value)| {
                let value = match self.environment.var(&key) {
                    Some(existing) if !overwrite => existing,
                    _ => value.into_exposed(),
                };
                (key, value)
            })
            .collect();
        Ok(Some(values))
    }

    fn expand_path(&self, path: &str, base: Option<&str>) -> Evaluated<String> {
        let home = || {
            self.environment
                .var("HOME")
                .ok_or_else(|| self.raise("ArgumentError", "couldn't find login name -- expanding '~'"))
        };
        let absolute: PathBuf = if path == "~" || path.starts_with("~/") {
            PathBuf::from(home()?).join(path.trim_start_matches('~').trim_start_matches('/'))
        } else if path.starts_with('~') {
            return Err(self.unsupported("File.expand_path of another user's home"));
        } else {
            let base = match base {
                Some(base) => PathBuf::from(self.expand_path(base, None)?),
                None => self.environment.current_dir().to_path_buf(),
            };
            base.join(path)
        };
        let mut normalized: Vec<String> = Vec::new();
        for component in absolute.components() {
            match component {
                Component::Normal(part) => normalized.push(part.to_string_lossy().into_owned()),
                Component::ParentDir => {
                    normalized.pop();
                }
                Component::CurDir | Component::RootDir | Component::Prefix(_) => {}
            }
        }
        Ok(format!("/{}", normalized.join("/")))
    }

    /// Checks an argument count, raising Ruby's ArgumentError.
    pub(super) fn arity(&self, arguments: &[Value], minimum: usize, maximum: usize) -> Evaluated<()> {
        let given = arguments.len();
        if given >= minimum && given <= maximum {
            return Ok(());
        }
        let expected = if minimum == maximum {
            minimum.to_string()
        } else {
            format!("{minimum}..{maximum}")
        };
        Err(self.raise(
            "ArgumentError",
            format!("wrong number of arguments (given {given}, expected {expected})"),
        ))
    }

    /// A String argument, or Ruby's TypeError for anything else.
    pub(super) fn string_argument(&self, value: &Value) -> Evaluated<String> {
        match value {
            Value::String(text) => Ok(text.clone()),
            other => Err(self.raise(
                "TypeError",
                format!("no implicit conversion of {} into String", implicit_name(other)),
            )),
        }
    }

    fn path_argument(&self, value: &Value) -> Evaluated<String> {
        self.string_argument(value)
    }
}

/// How Ruby names a value in "no implicit conversion of X into String".
pub fn implicit_name(value: &Value) -> &'static str {
    match value {
        Value::Nil => "nil",
        Value::Bool(true) => "true",
        Value::Bool(false) => "false",
        other => other.class_name(),
    }
}

fn flatten(values: Vec<Value>) -> Vec<Value> {
    let mut flat = Vec::new();
    for value in values {
        match value {
            Value::Array(items) => flat.extend(flatten(items)),
            value => flat.push(value),
        }
    }
    flat
}

/// `File.join`: one `/` between parts, however many they bring.
fn join_paths(parts: &[String]) -> String {
    let mut joined = String::new();
    for (index, part) in parts.iter().enumerate() {
        if index == 0 {
            joined.push_str(part);
            continue;
        }
        match (joined.ends_with('/'), part.starts_with('/')) {
            (true, true) => joined.push_str(part.trim_start_matches('/')),
            (false, false) => {
                joined.push('/');
                joined.push_str(part);
            }
            _ => joined.push_str(part),
        }
    }
    joined
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_join_collapses_separators() {
        let parts = |items: &[&str]| items.iter().map(|item| item.to_string()).collect::<Vec<_>>();
        assert_eq!(join_paths(&parts(&["a/", "/b", "c"])), "a/b/c");
        assert_eq!(
            join_paths(&parts(&["/gem", ".kamal", "hooks"])),
            "/gem/.kamal/hooks"
        );
    }
}
