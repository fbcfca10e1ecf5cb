//! Methods of values: String, Integer/Float, Array, Hash, Symbol, Range, nil, true/false,
//! URI and rescued exceptions, with ActiveSupport's `present?`/`blank?`/`presence` that Kamal
//! has loaded. Ruby's own errors are raised with Ruby 3.3's wording (`undefined method
//! `strip' for nil`, `no implicit conversion of Integer into String`); a method Ruby has but
//! we do not implement is reported as unsupported rather than guessed at.

use super::ast::Block;
use super::builtins::implicit_name;
use super::evaluator::{hash_insert, Evaluated, Evaluator};
use super::value::Value;

/// Characters Ruby's `strip` removes (ASCII whitespace and NUL).
const STRIPPED: &[char] = &['\0', '\t', '\n', '\u{b}', '\u{c}', '\r', ' '];

impl Evaluator<'_> {
    pub(super) fn call_method(
        &mut self,
        receiver: Value,
        name: &str,
        arguments: Vec<Value>,
        block: Option<&Block>,
    ) -> Evaluated<Value> {
        match receiver {
            Value::Env => return self.env_method(name, arguments, block),
            Value::Module(module) if !matches!(name, "is_a?" | "nil?" | "class" | "===") => {
                return self.module_method(module, name, arguments, block)
            }
            _ => {}
        }
        if let Some(result) = self.common_method(&receiver, name, &arguments, block)? {
            return Ok(result);
        }
        match receiver {
            Value::Nil => self.nil_method(name, arguments),
            Value::Bool(value) => self.bool_method(value, name, arguments),
            Value::String(text) => self.string_method(text, name, arguments, block),
            Value::Symbol(symbol) => match name {
                "to_sym" => Ok(Value::Symbol(symbol)),
                "length" | "size" => Ok(Value::Integer(symbol.chars().count() as i64)),
                "upcase" | "downcase" | "start_with?" | "end_with?" | "empty?" => {
                    let result = self.string_method(symbol, name, arguments, block)?;
                    Ok(match result {
                        Value::String(text) => Value::Symbol(text),
                        other => other,
                    })
                }
                _ => Err(self.unknown_method("Symbol", name)),
            },
            Value::Integer(_) | Value::Float(_) => self.number_method(receiver, name, arguments, block),
            Value::Array(items) => self.array_method(items, name, arguments, block),
            Value::Hash(pairs) => self.hash_method(pairs, name, arguments, block),
            Value::Range {
                start,
                end,
                exclusive,
            } => self.range_method(*start, *end, exclusive, name, arguments, block),
            Value::Uri(uri) => Ok(match name {
                "scheme" => uri.scheme.map_or(Value::Nil, Value::String),
                "host" | "hostname" => uri.host.map_or(Value::Nil, Value::String),
                "port" => uri.port.map_or(Value::Nil, Value::Integer),
                "path" => Value::String(uri.path),
                "query" => uri.query.map_or(Value::Nil, Value::String),
                "fragment" => uri.fragment.map_or(Value::Nil, Value::String),
                "userinfo" => uri.userinfo.map_or(Value::Nil, Value::String),
                "user" => uri.userinfo.map_or(Value::Nil, |info| {
                    Value::string(info.split(':').next().unwrap_or_default())
                }),
                "password" => uri
                    .userinfo
                    .and_then(|info| info.split_once(':').map(|(_, password)| password.to_string()))
                    .map_or(Value::Nil, Value::String),
                _ => return Err(self.unknown_method("URI", name)),
            }),
            Value::Exception(exception) => match name {
                "message" | "full_message" => Ok(Value::String(exception.message)),
                _ => Err(self.unknown_method(exception.class, name)),
            },
            Value::Env | Value::Module(_) => Err(self.unknown_method("Object", name)),
        }
    }

    fn unknown_method(&self, class: &str, name: &str) -> super::evaluator::Interrupt {
        self.unsupported(format!("unknown method {class}#{name}"))
    }

    /// Methods every object has (with ActiveSupport's additions).
    fn common_method(
        &mut self,
        receiver: &Value,
        name: &str,
        arguments: &[Value],
        block: Option<&Block>,
    ) -> Evaluated<Option<Value>> {
        let no_arguments = arguments.is_empty();
        Ok(Some(match name {
            "nil?" if no_arguments => Value::Bool(matches!(receiver, Value::Nil)),
            "is_a?" | "kind_of?" | "instance_of?" => {
                self.arity(arguments, 1, 1)?;
                match &arguments[0] {
                    Value::Module(class) if name == "instance_of?" => {
                        Value::Bool(receiver.class_name() == *class)
                    }
                    Value::Module(class) => Value::Bool(is_a(receiver, class)),
                    _ => return Err(self.raise("TypeError", "class or module required")),
                }
            }
            "==" | "eql?" | "equal?" => {
                self.arity(arguments, 1, 1)?;
                Value::Bool(receiver.ruby_eq(&arguments[0]))
            }
            "!=" => {
                self.arity(arguments, 1, 1)?;
                Value::Bool(!receiver.ruby_eq(&arguments[0]))
            }
            "===" => {
                self.arity(arguments, 1, 1)?;
                Value::Bool(match receiver {
                    Value::Module(class) => is_a(&arguments[0], class),
                    Value::Range {
                        start,
                        end,
                        exclusive,
                    } => range_includes(start, end, *exclusive, &arguments[0]),
                    _ => receiver.ruby_eq(&arguments[0]),
                })
            }
            "!" if no_arguments => Value::Bool(!receiver.is_truthy()),
            "to_s" if no_arguments => Value::String(receiver.to_ruby_string()),
            "inspect" if no_arguments => Value::String(receiver.inspect()),
            "present?" if no_arguments => Value::Bool(!receiver.is_blank()),
            "blank?" if no_arguments => Value::Bool(receiver.is_blank()),
            "presence" if no_arguments => {
                if receiver.is_blank() {
                    Value::Nil
                } else {
                    receiver.clone()
                }
            }
            "freeze" | "dup" | "clone" | "itself" | "to_param" if no_arguments => receiver.clone(),
            "class" if no_arguments => Value::Module(receiver.class_name()),
            "then" | "yield_self" if no_arguments => match block {
                Some(block) => self.yield_block(block, vec![receiver.clone()])?,
                None => return Err(self.unsupported(format!("`{name}` without a block"))),
            },
            "tap" if no_arguments => match block {
                Some(block) => {
                    self.yield_block(block, vec![receiver.clone()])?;
                    receiver.clone()
                }
                None => return Err(self.unsupported("`tap` without a block")),
            },
            "in?" => {
                self.arity(arguments, 1, 1)?;
                match &arguments[0] {
                    Value::Array(items) => Value::Bool(items.iter().any(|item| item.ruby_eq(receiver))),
                    Value::String(text) => match receiver {
                        Value::String(part) => Value::Bool(text.contains(part.as_str())),
                        _ => return Err(self.raise("TypeError", "no implicit conversion into String")),
                    },
                    _ => return Err(self.unsupported("`in?` with this argument")),
                }
            }
            _ => return Ok(None),
        }))
    }

    fn nil_method(&mut self, name: &str, arguments: Vec<Value>) -> Evaluated<Value> {
        Ok(match (name, arguments.as_slice()) {
            ("to_a", []) => Value::Array(vec![]),
            ("to_h", []) => Value::Hash(vec![]),
            ("to_i", []) => Value::Integer(0),
            ("to_f", []) => Value::Float(0.0),
            ("&", [_]) => Value::Bool(false),
            ("|" | "^", [other]) => Value::Bool(other.is_truthy()),
            _ => return Err(self.raise("NoMethodError", format!("undefined method `{name}' for nil"))),
        })
    }

    fn bool_method(&mut self, value: bool, name: &str, arguments: Vec<Value>) -> Evaluated<Value> {
        Ok(match (name, arguments.as_slice()) {
            ("&", [other]) => Value::Bool(value && other.is_truthy()),
            ("|", [other]) => Value::Bool(value || other.is_truthy()),
            ("^", [other]) => Value::Bool(value != other.is_truthy()),
            _ => return Err(self.raise("NoMethodError", format!("undefined method `{name}' for {value}"))),
        })
    }

    fn string_method(
        &mut self,
        text: String,
        name: &str,
        arguments: Vec<Value>,
        block: Option<&Block>,
    ) -> Evaluated<Value> {
        let argument_count = |minimum, maximum| self.arity(&arguments, minimum, maximum);
        let string_at = |evaluator: &Self, index: usize| evaluator.string_argument(&arguments[index]);
        Ok(match name {
            "strip" => {
                argument_count(0, 0)?;
                Value::string(text.trim_matches(STRIPPED))
            }
            "lstrip" => {
                argument_count(0, 0)?;
                Value::string(text.trim_start_matches(STRIPPED))
            }
            "rstrip" => {
                argument_count(0, 0)?;
                Value::string(text.trim_end_matches(STRIPPED))
            }
            "chomp" => {
                argument_count(0, 1)?;
                if arguments.is_empty() {
                    let trimmed = text
                        .strip_suffix("\r\n")
                        .or_else(|| text.strip_suffix('\n'))
                        .or_else(|| text.strip_suffix('\r'))
                        .unwrap_or(&text);
                    Value::string(trimmed)
                } else {
                    let suffix = string_at(self, 0)?;
                    Value::string(text.strip_suffix(suffix.as_str()).unwrap_or(&text))
                }
            }
            "chop" => {
                argument_count(0, 0)?;
                let mut characters = text.chars();
                if text.ends_with("\r\n") {
                    characters.next_back();
                }
                characters.next_back();
                Value::string(characters.as_str())
            }
            "split" => {
                argument_count(0, 2)?;
                let limit = match arguments.get(1) {
                    Some(Value::Integer(limit)) => *limit,
                    Some(other) => {
                        return Err(self.raise(
                            "TypeError",
                            format!("no implicit conversion of {} into Integer", implicit_name(other)),
                        ))
                    }
                    None => 0,
                };
                let separator = match arguments.first() {
                    None | Some(Value::Nil) => None,
                    Some(Value::String(separator)) => Some(separator.clone()),
                    Some(other) => {
                        return Err(self.unsupported(format!("String#split by {}", other.class_name())));
                    }
                };
                Value::Array(
                    split(&text, separator.as_deref(), limit)
                        .into_iter()
                        .map(Value::String)
                        .collect(),
                )
            }
            "lines" => {
                argument_count(0, 0)?;
                Value::Array(text.split_inclusive('\n').map(Value::string).collect())
            }
            "chars" => {
                argument_count(0, 0)?;
                Value::Array(text.chars().map(|c| Value::String(c.to_string())).collect())
            }
            "to_str" => Value::String(text),
            "to_sym" | "intern" => Value::Symbol(text),
            "to_i" => {
                argument_count(0, 0)?;
                match leading_integer(&text) {
                    Some(value) => Value::Integer(value),
                    None => return Err(self.unsupported("String#to_i beyond 64-bit integers")),
                }
            }
            "to_f" => {
                argument_count(0, 0)?;
                Value::Float(leading_float(&text))
            }
            "downcase" => Value::String(text.to_lowercase()),
            "upcase" => Value::String(text.to_uppercase()),
            "capitalize" => {
                let mut characters = text.chars();
                Value::String(match characters.next() {
                    Some(first) => first
                        .to_uppercase()
                        .chain(characters.as_str().to_lowercase().chars())
                        .collect(),
                    None => String::new(),
                })
            }
            "reverse" => Value::String(text.chars().rev().collect()),
            "empty?" => Value::Bool(text.is_empty()),
            "length" | "size" => Value::Integer(text.chars().count() as i64),
            "bytesize" => Value::Integer(text.len() as i64),
            "include?" => {
                argument_count(1, 1)?;
                Value::Bool(text.contains(string_at(self, 0)?.as_str()))
            }
            "start_with?" | "end_with?" => {
                let mut found = false;
                for argument in &arguments {
                    let affix = self.string_argument(argument)?;
                    found |= if name == "start_with?" {
                        text.starts_with(&affix)
                    } else {
                        text.ends_with(&affix)
                    };
                }
                Value::Bool(found)
            }
            "delete_prefix" => {
                argument_count(1, 1)?;
                let prefix = string_at(self, 0)?;
                Value::string(text.strip_prefix(prefix.as_str()).unwrap_or(&text))
            }
            "delete_suffix" => {
                argument_count(1, 1)?;
                let suffix = string_at(self, 0)?;
                Value::string(text.strip_suffix(suffix.as_str()).unwrap_or(&text))
            }
            "sub" | "gsub" => {
                let pattern = match arguments.first() {
                    Some(Value::String(pattern)) => pattern.clone(),
                    Some(other) => {
                        return Err(
                            self.unsupported(format!("String#{name} with a {} pattern", other.class_name()))
                        )
                    }
                    None => {
                        return Err(self.raise(
                            "ArgumentError",
                            "wrong number of arguments (given 0, expected 1..2)",
                        ))
                    }
                };
                let replacement = match (arguments.get(1), block) {
                    (Some(Value::String(replacement)), _) => Replacement::Template(replacement.clone()),
                    (Some(other), _) => {
                        return Err(self
                            .unsupported(format!("String#{name} with a {} replacement", other.class_name())))
                    }
                    (None, Some(block)) => Replacement::Block(block),
                    (None, None) => {
                        return Err(self.unsupported(format!("String#{name} without a replacement")))
                    }
                };
                Value::String(self.substitute(&text, &pattern, replacement, name == "gsub")?)
            }
            "+" => {
                argument_count(1, 1)?;
                Value::String(text + &string_at(self, 0)?)
            }
            "*" => match arguments.as_slice() {
                [Value::Integer(count)] if *count >= 0 => Value::String(text.repeat(*count as usize)),
                [Value::Integer(_)] => return Err(self.raise("ArgumentError", "negative argument")),
                [other] => {
                    return Err(self.raise(
                        "TypeError",
                        format!("no implicit conversion of {} into Integer", implicit_name(other)),
                    ))
                }
                _ => {
                    let given = arguments.len();
                    let message = format!("wrong number of arguments (given {given}, expected 1)");
                    return Err(self.raise("ArgumentError", message));
                }
            },
            "[]" | "slice" => self.string_index(&text, &arguments)?,
            "<" | ">" | "<=" | ">=" | "<=>" | "between?" => {
                self.compare(Value::String(text), name, &arguments)?
            }
            "%" | "=~" | "match" | "match?" | "scan" | "tr" | "format" => {
                return Err(self.unsupported(format!("String#{name} (patterns and formats)")))
            }
            _ => return Err(self.unknown_method("String", name)),
        })
    }

    fn string_index(&self, text: &str, arguments: &[Value]) -> Evaluated<Value> {
        let characters: Vec<char> = text.chars().collect();
        Ok(match (select(arguments, characters.len()), arguments) {
            (Some(Selection::Element(index)), _) => Value::String(characters[index].to_string()),
            (Some(Selection::Slice(start, end)), _) => Value::String(characters[start..end].iter().collect()),
            (Some(Selection::Outside), _) => Value::Nil,
            (None, [Value::String(part)]) if text.contains(part.as_str()) => Value::String(part.clone()),
            (None, [Value::String(_)]) => Value::Nil,
            (None, _) => return Err(self.unsupported("String#[] with these arguments")),
        })
    }

    fn substitute(
        &mut self,
        text: &str,
        pattern: &str,
        replacement: Replacement,
        global: bool,
    ) -> Evaluated<String> {
        let mut result = String::new();
        let mut rest = text;
        loop {
            let found = if pattern.is_empty() {
                Some(0)
            } else {
                rest.find(pattern)
            };
            let Some(index) = found else { break };
            result.push_str(&rest[..index]);
            match &replacement {
                Replacement::Template(template) => result.push_str(&expand_replacement(template, pattern)),
                Replacement::Block(block) => {
                    let value = self.yield_block(block, vec![Value::string(pattern)])?;
                    result.push_str(&value.to_ruby_string());
                }
            }
            rest = &rest[index + pattern.len()..];
            if pattern.is_empty() {
                // An empty pattern matches between every character.
                let mut characters = rest.chars();
                match characters.next() {
                    Some(character) => result.push(character),
                    None => break,
                }
                rest = characters.as_str();
                if !global {
                    break;
                }
                continue;
            }
            if !global {
                break;
            }
        }
        result.push_str(rest);
        Ok(result)
    }

    fn number_method(
        &mut self,
        receiver: Value,
        name: &str,
        arguments: Vec<Value>,
        block: Option<&Block>,
    ) -> Evaluated<Value> {
        let class = receiver.class_name();
        match (name, arguments.as_slice()) {
            ("+" | "-" | "*" | "/" | "%" | "**", [other]) => return self.arithmetic(&receiver, name, other),
            ("<" | ">" | "<=" | ">=" | "<=>" | "between?", _) => {
                return self.compare(receiver, name, &arguments)
            }
            _ => {}
        }
        Ok(match (receiver, name, arguments.as_slice()) {
            (Value::Integer(value), "-@", []) => {
                Value::Integer(value.checked_neg().ok_or_else(|| self.overflow())?)
            }
            (Value::Float(value), "-@", []) => Value::Float(-value),
            (Value::Integer(value), "to_i" | "to_int" | "floor" | "ceil" | "round" | "truncate", []) => {
                Value::Integer(value)
            }
            (Value::Float(value), "to_i" | "to_int" | "truncate", []) => Value::Integer(value.trunc() as i64),
            (Value::Float(value), "floor", []) => Value::Integer(value.floor() as i64),
            (Value::Float(value), "ceil", []) => Value::Integer(value.ceil() as i64),
            (Value::Float(value), "round", []) => Value::Integer(value.round() as i64),
            (Value::Integer(value), "to_f", []) => Value::Float(value as f64),
            (Value::Float(value), "to_f", []) => Value::Float(value),
            (Value::Integer(value), "abs", []) => {
                Value::Integer(value.checked_abs().ok_or_else(|| self.overflow())?)
            }
            (Value::Float(value), "abs", []) => Value::Float(value.abs()),
            (Value::Integer(value), "zero?", []) => Value::Bool(value == 0),
            (Value::Float(value), "zero?", []) => Value::Bool(value == 0.0),
            (Value::Integer(value), "positive?", []) => Value::Bool(value > 0),
            (Value::Float(value), "positive?", []) => Value::Bool(value > 0.0),
            (Value::Integer(value), "negative?", []) => Value::Bool(value < 0),
            (Value::Float(value), "negative?", []) => Value::Bool(value < 0.0),
            (Value::Integer(value), "even?", []) => Value::Bool(value % 2 == 0),
            (Value::Integer(value), "odd?", []) => Value::Bool(value % 2 != 0),
            (Value::Integer(value), "succ" | "next", []) => {
                Value::Integer(value.checked_add(1).ok_or_else(|| self.overflow())?)
            }
            (Value::Integer(value), "pred", []) => {
                Value::Integer(value.checked_sub(1).ok_or_else(|| self.overflow())?)
            }
            (Value::Integer(count), "times", []) => {
                let Some(block) = block else {
                    return Err(self.unsupported("Integer#times without a block"));
                };
                for index in 0..count.max(0) {
                    self.yield_block(block, vec![Value::Integer(index)])?;
                }
                Value::Integer(count)
            }
            (_, name, _) => return Err(self.unknown_method(class, name)),
        })
    }

    fn overflow(&self) -> super::evaluator::Interrupt {
        self.unsupported("integers beyond 64 bits")
    }

    fn arithmetic(&self, left: &Value, operator: &str, right: &Value) -> Evaluated<Value> {
        let integer = |value: Option<i64>| value.map(Value::Integer).ok_or_else(|| self.overflow());
        match (left, right) {
            (Value::Integer(left), Value::Integer(right)) => match operator {
                "+" => integer(left.checked_add(*right)),
                "-" => integer(left.checked_sub(*right)),
                "*" => integer(left.checked_mul(*right)),
                "/" | "%" if *right == 0 => Err(self.raise("ZeroDivisionError", "divided by 0")),
                "/" => integer(floor_division(*left, *right)),
                "%" => integer(left.checked_rem(*right).map(|rest| {
                    if rest != 0 && (rest < 0) != (*right < 0) {
                        rest + right
                    } else {
                        rest
                    }
                })),
                _ if *right < 0 => Ok(Value::Float((*left as f64).powf(*right as f64))),
                _ => integer(
                    u32::try_from(*right)
                        .ok()
                        .and_then(|exponent| left.checked_pow(exponent)),
                ),
            },
            (Value::Integer(_) | Value::Float(_), Value::Integer(_) | Value::Float(_)) => {
                let as_float = |value: &Value| match value {
                    Value::Integer(value) => *value as f64,
                    Value::Float(value) => *value,
                    _ => 0.0,
                };
                let (left, right) = (as_float(left), as_float(right));
                Ok(Value::Float(match operator {
                    "+" => left + right,
                    "-" => left - right,
                    "*" => left * right,
                    "/" => left / right,
                    "%" => left - right * (left / right).floor(),
                    _ => left.powf(right),
                }))
            }
            (left, right) => Err(self.raise(
                "TypeError",
                format!(
                    "{} can't be coerced into {}",
                    implicit_name(right),
                    left.class_name()
                ),
            )),
        }
    }

    /// `<`, `>`, `<=`, `>=`, `<=>`, `between?` for numbers and strings.
    fn compare(&self, receiver: Value, name: &str, arguments: &[Value]) -> Evaluated<Value> {
        let ordering = |other: &Value| -> Option<std::cmp::Ordering> {
            match (&receiver, other) {
                (Value::String(left), Value::String(right)) => Some(left.cmp(right)),
                (Value::Integer(left), Value::Integer(right)) => Some(left.cmp(right)),
                (Value::Integer(_) | Value::Float(_), Value::Integer(_) | Value::Float(_)) => {
                    let as_float = |value: &Value| match value {
                        Value::Integer(value) => *value as f64,
                        Value::Float(value) => *value,
                        _ => 0.0,
                    };
                    as_float(&receiver).partial_cmp(&as_float(other))
                }
                _ => None,
            }
        };
        let compared = |other: &Value| {
            ordering(other).ok_or_else(|| {
                self.raise(
                    "ArgumentError",
                    format!(
                        "comparison of {} with {} failed",
                        receiver.class_name(),
                        other.inspect()
                    ),
                )
            })
        };
        use std::cmp::Ordering::{Greater, Less};
        Ok(match (name, arguments) {
            ("<=>", [other]) => ordering(other).map_or(Value::Nil, |order| Value::Integer(order as i64)),
            ("<", [other]) => Value::Bool(compared(other)? == Less),
            (">", [other]) => Value::Bool(compared(other)? == Greater),
            ("<=", [other]) => Value::Bool(compared(other)? != Greater),
            (">=", [other]) => Value::Bool(compared(other)? != Less),
            ("between?", [low, high]) => Value::Bool(compared(low)? != Less && compared(high)? != Greater),
            _ => {
                let (minimum, maximum) = if name == "between?" { (2, 2) } else { (1, 1) };
                self.arity(arguments, minimum, maximum)?;
                Value::Nil
            }
        })
    }

    fn array_method(
        &mut self,
        items: Vec<Value>,
        name: &str,
        arguments: Vec<Value>,
        block: Option<&Block>,
    ) -> Evaluated<Value> {
        if let Some(result) = self.enumerable(&items, name, &arguments, block)? {
            return Ok(result);
        }
        let length = items.len() as i64;
        Ok(match (name, arguments.as_slice()) {
            ("first", []) => items.into_iter().next().unwrap_or(Value::Nil),
            ("last", []) => items.into_iter().next_back().unwrap_or(Value::Nil),
            ("first" | "take", [Value::Integer(count)]) => {
                Value::Array(items.into_iter().take((*count).max(0) as usize).collect())
            }
            ("last", [Value::Integer(count)]) => {
                let skip = (length - (*count).max(0)).max(0) as usize;
                Value::Array(items.into_iter().skip(skip).collect())
            }
            ("drop", [Value::Integer(count)]) => {
                Value::Array(items.into_iter().skip((*count).max(0) as usize).collect())
            }
            ("join", []) | ("join", [_]) => {
                let separator = match arguments.first() {
                    Some(Value::Nil) | None => String::new(),
                    Some(separator) => self.string_argument(separator)?,
                };
                Value::String(join(&items, &separator))
            }
            ("length" | "size", []) => Value::Integer(length),
            ("empty?", []) => Value::Bool(items.is_empty()),
            ("compact", []) => Value::Array(
                items
                    .into_iter()
                    .filter(|item| !matches!(item, Value::Nil))
                    .collect(),
            ),
            ("flatten", []) => Value::Array(flatten(items)),
            ("uniq", []) => {
                let mut unique: Vec<Value> = Vec::new();
                for item in items {
                    if !unique.iter().any(|existing| existing.ruby_eq(&item)) {
                        unique.push(item);
                    }
                }
                Value::Array(unique)
            }
            ("reverse", []) => Value::Array(items.into_iter().rev().collect()),
            ("to_a" | "entries", []) => Value::Array(items),
            ("to_h", []) => {
                let mut pairs = Vec::new();
                for item in items {
                    match item {
                        Value::Array(pair) if pair.len() == 2 => {
                            let mut pair = pair.into_iter();
                            let key = pair.next().unwrap_or(Value::Nil);
                            hash_insert(&mut pairs, key, pair.next().unwrap_or(Value::Nil));
                        }
                        other => {
                            return Err(self.raise(
                                "TypeError",
                                format!("wrong element type {} (expected array)", other.class_name()),
                            ))
                        }
                    }
                }
                Value::Hash(pairs)
            }
            ("+", [Value::Array(other)]) => {
                Value::Array(items.into_iter().chain(other.iter().cloned()).collect())
            }
            ("-", [Value::Array(other)]) => Value::Array(
                items
                    .into_iter()
                    .filter(|item| !other.iter().any(|removed| removed.ruby_eq(item)))
                    .collect(),
            ),
            ("+" | "-", [other]) => {
                return Err(self.raise(
                    "TypeError",
                    format!("no implicit conversion of {} into Array", implicit_name(other)),
                ))
            }
            ("index", [wanted]) => items
                .iter()
                .position(|item| item.ruby_eq(wanted))
                .map_or(Value::Nil, |index| Value::Integer(index as i64)),
            ("[]" | "slice" | "at", _) => self.array_index(items, &arguments)?,
            ("dig", [first, rest @ ..]) => {
                let value = self.array_index(items, std::slice::from_ref(first))?;
                if rest.is_empty() || matches!(value, Value::Nil) {
                    value
                } else {
                    self.call_method(value, "dig", rest.to_vec(), None)?
                }
            }
            ("sort", []) => {
                let mut sorted = items;
                let mut failure = None;
                sorted.sort_by(|left, right| {
                    match self.compare(left.clone(), "<=>", std::slice::from_ref(right)) {
                        Ok(Value::Integer(order)) => order.cmp(&0),
                        _ => {
                            failure.get_or_insert((left.clone(), right.clone()));
                            std::cmp::Ordering::Equal
                        }
                    }
                });
                if let Some((left, right)) = failure {
                    return Err(self.raise(
                        "ArgumentError",
                        format!(
                            "comparison of {} with {} failed",
                            left.class_name(),
                            right.inspect()
                        ),
                    ));
                }
                Value::Array(sorted)
            }
            ("push" | "<<" | "append" | "pop" | "shift" | "unshift" | "concat" | "delete" | "insert", _) => {
                return Err(self.unsupported(format!("Array#{name} (changing an array in place)")))
            }
            _ => return Err(self.unknown_method("Array", name)),
        })
    }

    fn array_index(&self, items: Vec<Value>, arguments: &[Value]) -> Evaluated<Value> {
        Ok(match (select(arguments, items.len()), arguments) {
            (Some(Selection::Element(index)), _) => items[index].clone(),
            (Some(Selection::Slice(start, end)), _) => Value::Array(items[start..end].to_vec()),
            (Some(Selection::Outside), _) => Value::Nil,
            (None, [other]) => {
                return Err(self.raise(
                    "TypeError",
                    format!("no implicit conversion of {} into Integer", implicit_name(other)),
                ))
            }
            (None, _) => return Err(self.unsupported("Array#[] with these arguments")),
        })
    }

    fn hash_method(
        &mut self,
        pairs: Vec<(Value, Value)>,
        name: &str,
        arguments: Vec<Value>,
        block: Option<&Block>,
    ) -> Evaluated<Value> {
        let lookup = |key: &Value| {
            pairs
                .iter()
                .find(|(existing, _)| existing.is_same_key(key))
                .map(|(_, value)| value.clone())
        };
        match (name, arguments.as_slice()) {
            ("[]", [key]) => return Ok(lookup(key).unwrap_or(Value::Nil)),
            ("fetch", [key, ..]) => {
                self.arity(&arguments, 1, 2)?;
                return match (lookup(key), block, arguments.get(1)) {
                    (Some(value), _, _) => Ok(value),
                    (None, Some(block), _) => self.yield_block(block, vec![key.clone()]),
                    (None, None, Some(default)) => Ok(default.clone()),
                    (None, None, None) => {
                        Err(self.raise("KeyError", format!("key not found: {}", key.inspect())))
                    }
                };
            }
            ("dig", [key, rest @ ..]) => {
                let value = lookup(key).unwrap_or(Value::Nil);
                return if rest.is_empty() || matches!(value, Value::Nil) {
                    Ok(value)
                } else {
                    self.call_method(value, "dig", rest.to_vec(), None)
                };
            }
            ("key?" | "has_key?" | "include?" | "member?", [key]) => {
                return Ok(Value::Bool(lookup(key).is_some()))
            }
            ("keys", []) => return Ok(Value::Array(pairs.into_iter().map(|(key, _)| key).collect())),
            ("values", []) => return Ok(Value::Array(pairs.into_iter().map(|(_, value)| value).collect())),
            ("values_at" | "fetch_values", keys) => {
                let mut values = Vec::new();
                for key in keys {
                    match lookup(key) {
                        Some(value) => values.push(value),
                        None if name == "fetch_values" => {
                            return Err(self.raise("KeyError", format!("key not found: {}", key.inspect())))
                        }
                        None => values.push(Value::Nil),
                    }
                }
                return Ok(Value::Array(values));
            }
            ("length" | "size", []) => return Ok(Value::Integer(pairs.len() as i64)),
            ("empty?", []) => return Ok(Value::Bool(pairs.is_empty())),
            ("to_h" | "to_hash", []) if block.is_none() => return Ok(Value::Hash(pairs)),
            ("merge", others) => {
                let mut merged = pairs;
                for other in others {
                    match other {
                        Value::Hash(other) => {
                            for (key, value) in other {
                                hash_insert(&mut merged, key.clone(), value.clone());
                            }
                        }
                        other => {
                            return Err(self.raise(
                                "TypeError",
                                format!("no implicit conversion of {} into Hash", implicit_name(other)),
                            ))
                        }
                    }
                }
                return Ok(Value::Hash(merged));
            }
            ("slice" | "except", keys) => {
                let keep = name == "slice";
                let selected = pairs
                    .into_iter()
                    .filter(|(key, _)| keys.iter().any(|wanted| wanted.ruby_eq(key)) == keep)
                    .collect();
                return Ok(Value::Hash(selected));
            }
            ("select" | "filter" | "reject", []) if block.is_some() => {
                let keep = name != "reject";
                let mut selected = Vec::new();
                for (key, value) in pairs {
                    if let Some(block) = block {
                        if self
                            .yield_block(block, vec![key.clone(), value.clone()])?
                            .is_truthy()
                            == keep
                        {
                            selected.push((key, value));
                        }
                    }
                }
                return Ok(Value::Hash(selected));
            }
            ("transform_values" | "transform_keys", []) if block.is_some() => {
                let mut transformed = Vec::new();
                for (key, value) in pairs {
                    if let Some(block) = block {
                        if name == "transform_values" {
                            let value = self.yield_block(block, vec![value])?;
                            transformed.push((key, value));
                        } else {
                            let key = self.yield_block(block, vec![key])?;
                            hash_insert(&mut transformed, key, value);
                        }
                    }
                }
                return Ok(Value::Hash(transformed));
            }
            ("each" | "each_pair", []) => {
                let Some(block) = block else {
                    return Err(self.unsupported("Hash#each without a block"));
                };
                for (key, value) in &pairs {
                    self.yield_block(block, vec![Value::Array(vec![key.clone(), value.clone()])])?;
                }
                return Ok(Value::Hash(pairs));
            }
            _ => {}
        }
        let entries: Vec<Value> = pairs
            .into_iter()
            .map(|(key, value)| Value::Array(vec![key, value]))
            .collect();
        match self.enumerable(&entries, name, &arguments, block)? {
            Some(result) => Ok(result),
            None if matches!(name, "to_a" | "entries") => Ok(Value::Array(entries)),
            None if matches!(name, "[]=" | "store" | "delete" | "merge!" | "update") => {
                Err(self.unsupported(format!("Hash#{name} (changing a hash in place)")))
            }
            None => Err(self.unknown_method("Hash", name)),
        }
    }

    fn range_method(
        &mut self,
        start: Value,
        end: Value,
        exclusive: bool,
        name: &str,
        arguments: Vec<Value>,
        block: Option<&Block>,
    ) -> Evaluated<Value> {
        match (name, arguments.as_slice()) {
            ("include?" | "member?" | "cover?", [value]) => {
                return Ok(Value::Bool(range_includes(&start, &end, exclusive, value)))
            }
            ("first" | "begin" | "min", []) => return Ok(start),
            ("end" | "last", []) if name == "end" || !exclusive => return Ok(end),
            ("exclude_end?", []) => return Ok(Value::Bool(exclusive)),
            _ => {}
        }
        let (Value::Integer(first), Value::Integer(last)) = (&start, &end) else {
            return Err(self.unsupported(format!("Range#{name} on a non-integer or endless range")));
        };
        let last = if exclusive { last - 1 } else { *last };
        if last - first > 100_000 {
            return Err(self.unsupported("ranges of more than 100000 integers"));
        }
        let items: Vec<Value> = (*first..=last).map(Value::Integer).collect();
        self.array_method(items, name, arguments, block)
    }

    /// Enumerable methods shared by Array, Hash (entries as `[key, value]`) and Range.
    fn enumerable(
        &mut self,
        items: &[Value],
        name: &str,
        arguments: &[Value],
        block: Option<&Block>,
    ) -> Evaluated<Option<Value>> {
        let Some(block) = block else {
            return Ok(match (name, arguments) {
                ("include?" | "member?", [wanted]) => {
                    Some(Value::Bool(items.iter().any(|item| item.ruby_eq(wanted))))
                }
                ("count", []) => Some(Value::Integer(items.len() as i64)),
                ("count", [wanted]) => Some(Value::Integer(
                    items.iter().filter(|item| item.ruby_eq(wanted)).count() as i64,
                )),
                ("any?", []) => Some(Value::Bool(items.iter().any(Value::is_truthy))),
                ("all?", []) => Some(Value::Bool(items.iter().all(Value::is_truthy))),
                ("none?", []) => Some(Value::Bool(!items.iter().any(Value::is_truthy))),
                ("sum", []) => {
                    let mut total = Value::Integer(0);
                    for item in items {
                        total = self.arithmetic(&total, "+", item)?;
                    }
                    Some(total)
                }
                ("min" | "max", []) => {
                    let mut best: Option<Value> = None;
                    for item in items {
                        let better = match &best {
                            None => true,
                            Some(current) => {
                                let operator = if name == "min" { "<" } else { ">" };
                                self.compare(item.clone(), operator, std::slice::from_ref(current))?
                                    .is_truthy()
                            }
                        };
                        if better {
                            best = Some(item.clone());
                        }
                    }
                    Some(best.unwrap_or(Value::Nil))
                }
                (
                    "each" | "map" | "collect" | "flat_map" | "each_with_index" | "select" | "filter"
                    | "reject" | "find" | "detect" | "filter_map" | "sort_by" | "min_by" | "max_by"
                    | "group_by" | "partition" | "each_with_object",
                    _,
                ) => return Err(self.unsupported(format!("`{name}` without a block (enumerators)"))),
                _ => None,
            });
        };
        let mut results = Vec::new();
        Ok(Some(match name {
            "each" => {
                for item in items {
                    self.yield_block(block, vec![item.clone()])?;
                }
                Value::Array(items.to_vec())
            }
            "each_with_index" => {
                for (index, item) in items.iter().enumerate() {
                    self.yield_block(block, vec![item.clone(), Value::Integer(index as i64)])?;
                }
                Value::Array(items.to_vec())
            }
            "map" | "collect" | "flat_map" | "filter_map" => {
                for item in items {
                    let value = self.yield_block(block, vec![item.clone()])?;
                    match (name, value) {
                        ("flat_map", Value::Array(values)) => results.extend(values),
                        ("filter_map", value) if !value.is_truthy() => {}
                        (_, value) => results.push(value),
                    }
                }
                Value::Array(results)
            }
            "select" | "filter" | "reject" => {
                let keep = name != "reject";
                for item in items {
                    if self.yield_block(block, vec![item.clone()])?.is_truthy() == keep {
                        results.push(item.clone());
                    }
                }
                Value::Array(results)
            }
            "find" | "detect" => {
                for item in items {
                    if self.yield_block(block, vec![item.clone()])?.is_truthy() {
                        return Ok(Some(item.clone()));
                    }
                }
                Value::Nil
            }
            "any?" | "all?" | "none?" | "count" => {
                let mut matches = 0;
                for item in items {
                    if self.yield_block(block, vec![item.clone()])?.is_truthy() {
                        matches += 1;
                    }
                }
                match name {
                    "any?" => Value::Bool(matches > 0),
                    "all?" => Value::Bool(matches == items.len()),
                    "none?" => Value::Bool(matches == 0),
                    _ => Value::Integer(matches as i64),
                }
            }
            "sort_by" | "min_by" | "max_by" => {
                let mut keyed = Vec::new();
                for item in items {
                    keyed.push((self.yield_block(block, vec![item.clone()])?, item.clone()));
                }
                let mut failure = false;
                keyed.sort_by(|(left, _), (right, _)| {
                    match self.compare(left.clone(), "<=>", std::slice::from_ref(right)) {
                        Ok(Value::Integer(order)) => order.cmp(&0),
                        _ => {
                            failure = true;
                            std::cmp::Ordering::Equal
                        }
                    }
                });
                if failure {
                    return Err(self.raise("ArgumentError", "comparison failed"));
                }
                let sorted = keyed.into_iter().map(|(_, item)| item);
                match name {
                    "min_by" => sorted.into_iter().next().unwrap_or(Value::Nil),
                    "max_by" => sorted.into_iter().next_back().unwrap_or(Value::Nil),
                    _ => Value::Array(sorted.collect()),
                }
            }
            "inject" | "reduce" => {
                let mut iterator = items.iter().cloned();
                let mut memo = match arguments.first() {
                    Some(initial) => initial.clone(),
                    None => iterator.next().unwrap_or(Value::Nil),
                };
                for item in iterator {
                    memo = self.yield_block(block, vec![memo, item])?;
                }
                memo
            }
            "sum" => {
                let mut total = Value::Integer(0);
                for item in items {
                    let value = self.yield_block(block, vec![item.clone()])?;
                    total = self.arithmetic(&total, "+", &value)?;
                }
                total
            }
            "group_by" | "partition" | "each_with_object" | "each_slice" | "zip" => {
                return Err(self.unsupported(format!("`{name}`")))
            }
            _ => return Ok(None),
        }))
    }
}

enum Replacement<'b> {
    Template(String),
    Block(&'b Block),
}

/// `\0`/`\&` is the match, `\\` a backslash; groups are empty for a String pattern.
fn expand_replacement(template: &str, matched: &str) -> String {
    let mut result = String::new();
    let mut characters = template.chars().peekable();
    while let Some(character) = characters.next() {
        if character != '\\' {
            result.push(character);
            continue;
        }
        match characters.peek() {
            Some('0' | '&') => {
                result.push_str(matched);
                characters.next();
            }
            Some('1'..='9' | '`' | '\'') => {
                characters.next();
            }
            Some('\\') => {
                result.push('\\');
                characters.next();
            }
            _ => result.push('\\'),
        }
    }
    result
}

/// Ruby's `String#split` with a String separator (or awk-style whitespace when `None`/`" "`).
fn split(text: &str, separator: Option<&str>, limit: i64) -> Vec<String> {
    let awk = matches!(separator, None | Some(" "));
    let mut fields: Vec<String> = Vec::new();
    if awk {
        let mut rest = text.trim_start_matches(STRIPPED);
        while !rest.is_empty() {
            if limit > 0 && fields.len() as i64 == limit - 1 {
                fields.push(rest.to_string());
                rest = "";
                break;
            }
            let end = rest.find(STRIPPED).unwrap_or(rest.len());
            fields.push(rest[..end].to_string());
            rest = rest[end..].trim_start_matches(STRIPPED);
        }
        let _ = rest;
    } else if let Some(separator) = separator.filter(|separator| !separator.is_empty()) {
        let mut rest = text;
        loop {
            if limit > 0 && fields.len() as i64 == limit - 1 {
                fields.push(rest.to_string());
                break;
            }
            match rest.find(separator) {
                Some(index) => {
                    fields.push(rest[..index].to_string());
                    rest = &rest[index + separator.len()..];
                }
                None => {
                    fields.push(rest.to_string());
                    break;
                }
            }
        }
    } else {
        fields = text.chars().map(String::from).collect();
        if limit > 0 && fields.len() as i64 > limit {
            let rest: String = fields.split_off(limit as usize - 1).concat();
            fields.push(rest);
        }
    }
    if limit == 0 {
        while fields.last().is_some_and(String::is_empty) {
            fields.pop();
        }
    }
    if text.is_empty() {
        fields.clear();
    }
    fields
}

fn join(items: &[Value], separator: &str) -> String {
    items
        .iter()
        .map(|item| match item {
            Value::Array(nested) => join(nested, separator),
            item => item.to_ruby_string(),
        })
        .collect::<Vec<_>>()
        .join(separator)
}

fn flatten(items: Vec<Value>) -> Vec<Value> {
    let mut flat = Vec::new();
    for item in items {
        match item {
            Value::Array(nested) => flat.extend(flatten(nested)),
            item => flat.push(item),
        }
    }
    flat
}

fn floor_division(left: i64, right: i64) -> Option<i64> {
    let quotient = left.checked_div(right)?;
    if left % right != 0 && ((left < 0) != (right < 0)) {
        quotient.checked_sub(1)
    } else {
        Some(quotient)
    }
}

/// `String#to_i`: optional blanks and sign, then digits (with single `_`), else 0.
fn leading_integer(text: &str) -> Option<i64> {
    let trimmed = text.trim_start_matches(STRIPPED);
    let (negative, digits) = match trimmed.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, trimmed.strip_prefix('+').unwrap_or(trimmed)),
    };
    let mut value: i64 = 0;
    let mut previous_underscore = false;
    for (index, character) in digits.char_indices() {
        match character {
            '0'..='9' => {
                let digit = i64::from(character as u8 - b'0');
                value = value.checked_mul(10)?.checked_add(digit)?;
                previous_underscore = false;
            }
            '_' if index > 0 && !previous_underscore => previous_underscore = true,
            _ => break,
        }
    }
    Some(if negative { -value } else { value })
}

/// `String#to_f`: the longest leading float, else 0.0.
fn leading_float(text: &str) -> f64 {
    let trimmed = text.trim_start_matches(STRIPPED);
    let mut end = 0;
    for (index, character) in trimmed.char_indices() {
        let candidate = &trimmed[..index + character.len_utf8()];
        if candidate.parse::<f64>().is_ok() && !candidate.ends_with(['.', 'e', 'E']) {
            end = index + character.len_utf8();
        } else if !matches!(character, '0'..='9' | '.' | 'e' | 'E' | '-' | '+' | '_') {
            break;
        }
    }
    trimmed[..end].parse().unwrap_or(0.0)
}

/// What `[]` picks from a String's characters or an Array's items.
enum Selection {
    Element(usize),
    /// `start..end`, already clamped.
    Slice(usize, usize),
    Outside,
}

/// `[index]`, `[start, count]` and `[range]` with Ruby's negative indexes; `None` for other
/// arguments.
fn select(arguments: &[Value], length: usize) -> Option<Selection> {
    let length = length as i64;
    let from_end = |index: i64| if index < 0 { index + length } else { index };
    let slice = |start: i64, count: i64| {
        let start = from_end(start);
        if start < 0 || start > length || count < 0 {
            return Selection::Outside;
        }
        Selection::Slice(start as usize, (start + count).min(length) as usize)
    };
    Some(match arguments {
        [Value::Integer(index)] => match from_end(*index) {
            index if (0..length).contains(&index) => Selection::Element(index as usize),
            _ => Selection::Outside,
        },
        [Value::Integer(start), Value::Integer(count)] => slice(*start, *count),
        [Value::Range {
            start,
            end,
            exclusive,
        }] => {
            let start = match **start {
                Value::Integer(start) => from_end(start),
                Value::Nil => 0,
                _ => return None,
            };
            let end = match **end {
                Value::Integer(end) if *exclusive => from_end(end),
                Value::Integer(end) => from_end(end) + 1,
                Value::Nil => length,
                _ => return None,
            };
            slice(start, (end - start).max(0))
        }
        _ => return None,
    })
}

pub fn range_includes(start: &Value, end: &Value, exclusive: bool, value: &Value) -> bool {
    let number = |value: &Value| match value {
        Value::Integer(number) => Some(*number as f64),
        Value::Float(number) => Some(*number),
        _ => None,
    };
    let (Some(value), low, high) = (number(value), number(start), number(end)) else {
        return false;
    };
    low.is_none_or(|low| value >= low)
        && high.is_none_or(|high| if exclusive { value < high } else { value <= high })
}

/// Ruby's `is_a?` for the classes we know.
pub fn is_a(value: &Value, class: &str) -> bool {
    let own = value.class_name();
    if own == class || matches!(class, "Object" | "BasicObject" | "Kernel") {
        return true;
    }
    match value {
        Value::Integer(_) | Value::Float(_) => matches!(class, "Numeric" | "Comparable"),
        Value::String(_) => class == "Comparable",
        Value::Array(_) | Value::Hash(_) | Value::Range { .. } => class == "Enumerable",
        Value::Exception(exception) => exception.is_rescued_by(Some(class)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|item| item.to_string()).collect()
    }

    #[test]
    fn split_like_ruby() {
        assert_eq!(split("a,b,,c,,", Some(","), 0), strings(&["a", "b", "", "c"]));
        assert_eq!(split("  a  b\tc\n", None, 0), strings(&["a", "b", "c"]));
        assert_eq!(split("a,b,c", Some(","), 2), strings(&["a", "b,c"]));
        assert_eq!(split("a,b,,", Some(","), -1), strings(&["a", "b", "", ""]));
        assert_eq!(split("", Some(","), 0), Vec::<String>::new());
        assert_eq!(split("abc", Some(""), 0), strings(&["a", "b", "c"]));
    }

    #[test]
    fn to_i_reads_a_leading_integer() {
        assert_eq!(leading_integer(" 42abc"), Some(42));
        assert_eq!(leading_integer("-1_000"), Some(-1000));
        assert_eq!(leading_integer("abc"), Some(0));
        assert_eq!(leading_float("1.5e3x"), 1500.0);
    }

    #[test]
    fn replacement_templates() {
        assert_eq!(expand_replacement("<\\0>\\\\\\1", "x"), "<x>\\");
    }

    #[test]
    fn integer_division_floors() {
        assert_eq!(floor_division(-7, 2), Some(-4));
        assert_eq!(floor_division(7, 2), Some(3));
    }
}
