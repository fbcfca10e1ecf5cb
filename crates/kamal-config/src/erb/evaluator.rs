//! Walks the syntax tree: runs statements, appends ERB output, manages local variables,
//! blocks, `next`/`break` and `begin`/`rescue`, and turns failures into [`ErbError`]s that
//! point at the statement that failed.
//!
//! Method calls are dispatched in [`super::methods`] (methods of values) and
//! [`super::builtins`] (`ENV`, `File`, `URI`, `Dotenv`, `require`, ...).

use std::collections::{HashMap, HashSet};
use std::path::Path;

use super::ast::{Block, Call, Interpolated, Node, NodeKind, Span};
use super::error::{ErbError, ErbErrorKind, RubyException};
use super::template::LineIndex;
use super::value::Value;
use crate::environment::Environment;

/// Why evaluation stopped early: a failure, or `next`/`break` unwinding to their block.
pub enum Interrupt {
    Error(Box<ErbError>),
    Next(Value),
    Break(Value),
}

pub type Evaluated<T> = Result<T, Interrupt>;

pub struct Evaluator<'a> {
    source: &'a str,
    origin: &'a Path,
    lines: LineIndex,
    /// Code ranges of the template's tags, to cut an error's expression at its tag's end.
    tags: Vec<(usize, usize)>,
    pub(super) environment: &'a mut dyn Environment,
    locals: HashMap<String, Value>,
    output: String,
    /// The statement being run, named by errors.
    current: Span,
}

impl<'a> Evaluator<'a> {
    pub fn new(
        source: &'a str,
        origin: &'a Path,
        tags: Vec<(usize, usize)>,
        environment: &'a mut dyn Environment,
    ) -> Self {
        Evaluator {
            source,
            origin,
            lines: LineIndex::new(source),
            tags,
            environment,
            locals: HashMap::new(),
            output: String::new(),
            current: Span { start: 0, end: 0 },
        }
    }

    /// Runs the template's statements and returns what they wrote.
    pub fn run(mut self, statements: &[Node]) -> Result<String, ErbError> {
        match self.body(statements) {
            Ok(_) => Ok(self.output),
            Err(Interrupt::Error(error)) => Err(*error),
            Err(Interrupt::Next(_) | Interrupt::Break(_)) => Err(*self.error_at(
                self.current,
                ErbErrorKind::Syntax {
                    message: "`next` or `break` outside a block".into(),
                },
            )),
        }
    }

    /// An error about `span`: its line, and its source text cut at the end of its tag.
    pub fn error_at(&self, span: Span, kind: ErbErrorKind) -> Box<ErbError> {
        let tag_end = self
            .tags
            .iter()
            .find(|(start, end)| *start <= span.start && span.start <= *end)
            .map_or(span.end, |(_, end)| *end);
        let end = span.end.min(tag_end).max(span.start).min(self.source.len());
        let expression = self
            .source
            .get(span.start..end)
            .unwrap_or_default()
            .trim()
            .to_string();
        Box::new(ErbError {
            file: self.origin.to_path_buf(),
            line: self.lines.line_of(span.start),
            expression,
            kind,
        })
    }

    /// Raises a Ruby exception from the current statement.
    pub fn raise(&self, class: &'static str, message: impl Into<String>) -> Interrupt {
        Interrupt::Error(self.error_at(
            self.current,
            ErbErrorKind::Raised(RubyException::new(class, message)),
        ))
    }

    /// Reports Ruby outside the subset we evaluate.
    pub fn unsupported(&self, detail: impl Into<String>) -> Interrupt {
        Interrupt::Error(self.error_at(
            self.current,
            ErbErrorKind::Unsupported {
                detail: detail.into(),
            },
        ))
    }

    pub fn body(&mut self, statements: &[Node]) -> Evaluated<Value> {
        let mut last = Value::Nil;
        for statement in statements {
            let compound = matches!(
                statement.kind,
                NodeKind::If { .. }
                    | NodeKind::Case { .. }
                    | NodeKind::Begin { .. }
                    | NodeKind::Sequence(_)
                    | NodeKind::Text(_)
            );
            let saved = self.current;
            if !compound {
                self.current = statement.span;
            }
            let result = self.evaluate(statement);
            self.current = saved;
            last = result?;
        }
        Ok(last)
    }

    pub fn evaluate(&mut self, node: &Node) -> Evaluated<Value> {
        Ok(match &node.kind {
            NodeKind::Nil => Value::Nil,
            NodeKind::True => Value::Bool(true),
            NodeKind::False => Value::Bool(false),
            NodeKind::SelfObject => return Err(self.unsupported("`self`")),
            NodeKind::Integer(value) => Value::Integer(*value),
            NodeKind::Float(value) => Value::Float(*value),
            NodeKind::String(parts) => Value::String(self.interpolate(parts)?),
            NodeKind::Command(parts) => {
                let command = self.interpolate(parts)?;
                self.run_command(&command)?
            }
            NodeKind::Symbol(name) => Value::Symbol(name.clone()),
            NodeKind::Array(items) => Value::Array(self.values(items)?),
            NodeKind::Hash(pairs) => {
                let mut hash: Vec<(Value, Value)> = Vec::new();
                for (key, value) in pairs {
                    let key = self.evaluate(key)?;
                    let value = self.evaluate(value)?;
                    hash_insert(&mut hash, key, value);
                }
                Value::Hash(hash)
            }
            NodeKind::Range {
                start,
                end,
                exclusive,
            } => {
                let start = match start {
                    Some(start) => self.evaluate(start)?,
                    None => Value::Nil,
                };
                let end = match end {
                    Some(end) => self.evaluate(end)?,
                    None => Value::Nil,
                };
                Value::Range {
                    start: Box::new(start),
                    end: Box::new(end),
                    exclusive: *exclusive,
                }
            }
            NodeKind::LocalVariable(name) => self.locals.get(name).cloned().unwrap_or(Value::Nil),
            NodeKind::Constant { scope, name } => {
                let scope = match scope {
                    Some(scope) => match self.evaluate(scope)? {
                        Value::Module(scope) => Some(scope),
                        other => {
                            return Err(
                                self.raise("TypeError", format!("{} is not a class/module", other.inspect()))
                            )
                        }
                    },
                    None => None,
                };
                self.constant(scope, name)?
            }
            NodeKind::Call(call) => self.call(call)?,
            NodeKind::Assign { target, value } => {
                let value = self.evaluate(value)?;
                self.assign(target, value.clone())?;
                value
            }
            NodeKind::OperatorAssign {
                target,
                operator,
                value,
            } => {
                let current = self.evaluate(target)?;
                let updated = match *operator {
                    "||" if current.is_truthy() => return Ok(current),
                    "&&" if !current.is_truthy() => return Ok(current),
                    "||" | "&&" => self.evaluate(value)?,
                    operator => {
                        let argument = self.evaluate(value)?;
                        self.call_method(current, operator, vec![argument], None)?
                    }
                };
                self.assign(target, updated.clone())?;
                updated
            }
            NodeKind::And(left, right) => {
                let left = self.evaluate(left)?;
                if left.is_truthy() {
                    self.evaluate(right)?
                } else {
                    left
                }
            }
            NodeKind::Or(left, right) => {
                let left = self.evaluate(left)?;
                if left.is_truthy() {
                    left
                } else {
                    self.evaluate(right)?
                }
            }
            NodeKind::Not(operand) => Value::Bool(!self.evaluate(operand)?.is_truthy()),
            NodeKind::If {
                condition,
                then_body,
                else_body,
            } => {
                if self.condition(condition)?.is_truthy() {
                    self.body(then_body)?
                } else {
                    self.body(else_body)?
                }
            }
            NodeKind::Case {
                subject,
                branches,
                else_body,
            } => {
                let subject = match subject {
                    Some(subject) => Some(self.condition(subject)?),
                    None => None,
                };
                for (patterns, body) in branches {
                    for pattern in patterns {
                        let pattern = self.condition(pattern)?;
                        let matched = match &subject {
                            Some(subject) => self.case_equal(&pattern, subject),
                            None => pattern.is_truthy(),
                        };
                        if matched {
                            return self.body(body);
                        }
                    }
                }
                self.body(else_body)?
            }
            NodeKind::Begin {
                body,
                rescues,
                else_body,
                ensure_body,
            } => {
                let mut result = self.body(body);
                if let Err(Interrupt::Error(error)) = &result {
                    if let ErbErrorKind::Raised(exception) = &error.kind {
                        let exception = exception.clone();
                        for rescue in rescues {
                            let mut classes = Vec::new();
                            for class in &rescue.classes {
                                match self.evaluate(class)? {
                                    Value::Module(name) => classes.push(name),
                                    other => {
                                        return Err(self.raise(
                                            "TypeError",
                                            format!(
                                                "class or module required for rescue clause (got {})",
                                                other.class_name()
                                            ),
                                        ))
                                    }
                                }
                            }
                            let rescued = if classes.is_empty() {
                                exception.is_rescued_by(None)
                            } else {
                                classes.iter().any(|class| exception.is_rescued_by(Some(class)))
                            };
                            if rescued {
                                if let Some(variable) = &rescue.variable {
                                    self.locals.insert(
                                        variable.clone(),
                                        Value::Exception(Box::new(exception.clone())),
                                    );
                                }
                                result = self.body(&rescue.body);
                                break;
                            }
                        }
                    }
                } else if result.is_ok() && !else_body.is_empty() {
                    result = self.body(else_body);
                }
                if !ensure_body.is_empty() {
                    self.body(ensure_body)?;
                }
                result?
            }
            NodeKind::RescueModifier { body, fallback } => match self.evaluate(body) {
                Err(Interrupt::Error(error)) if matches!(&error.kind, ErbErrorKind::Raised(exception) if exception.is_rescued_by(None)) => {
                    self.evaluate(fallback)?
                }
                other => other?,
            },
            NodeKind::Next(value) => {
                let value = match value {
                    Some(value) => self.evaluate(value)?,
                    None => Value::Nil,
                };
                return Err(Interrupt::Next(value));
            }
            NodeKind::Break(value) => {
                let value = match value {
                    Some(value) => self.evaluate(value)?,
                    None => Value::Nil,
                };
                return Err(Interrupt::Break(value));
            }
            NodeKind::Sequence(statements) => self.body(statements)?,
            NodeKind::Text(text) => {
                self.output.push_str(text);
                Value::Nil
            }
            NodeKind::Output(statements) => {
                let value = self.body(statements)?;
                let text = value.to_ruby_string();
                self.output.push_str(&text);
                Value::Nil
            }
        })
    }

    /// Evaluates a condition (of `if`, `case`, `when`) as the statement errors name.
    fn condition(&mut self, node: &Node) -> Evaluated<Value> {
        let saved = self.current;
        self.current = node.span;
        let result = self.evaluate(node);
        self.current = saved;
        result
    }

    fn values(&mut self, nodes: &[Node]) -> Evaluated<Vec<Value>> {
        nodes.iter().map(|node| self.evaluate(node)).collect()
    }

    fn interpolate(&mut self, parts: &[Interpolated]) -> Evaluated<String> {
        let mut text = String::new();
        for part in parts {
            match part {
                Interpolated::Literal(literal) => text.push_str(literal),
                Interpolated::Code(code) => {
                    let value = self.body(code)?;
                    text.push_str(&value.to_ruby_string());
                }
            }
        }
        Ok(text)
    }

    fn assign(&mut self, target: &Node, value: Value) -> Evaluated<()> {
        match &target.kind {
            NodeKind::LocalVariable(name) => {
                self.locals.insert(name.clone(), value);
                Ok(())
            }
            NodeKind::Call(call) if call.method == "[]" => {
                let receiver = match &call.receiver {
                    Some(receiver) => self.evaluate(receiver)?,
                    None => return Err(self.unsupported("indexing `self`")),
                };
                let mut arguments = self.values(&call.arguments)?;
                arguments.push(value);
                self.call_method(receiver, "[]=", arguments, None)?;
                Ok(())
            }
            _ => Err(self.unsupported("assignment to this target")),
        }
    }

    fn call(&mut self, call: &Call) -> Evaluated<Value> {
        let receiver = match &call.receiver {
            Some(receiver) => Some(self.evaluate(receiver)?),
            None => None,
        };
        if call.safe_navigation && matches!(receiver, Some(Value::Nil)) {
            return Ok(Value::Nil);
        }
        let arguments = self.values(&call.arguments)?;
        let block = call.block.as_ref();
        let result = match receiver {
            Some(receiver) => self.call_method(receiver, &call.method, arguments, block),
            None => self.call_function(&call.method, arguments, block),
        };
        match result {
            // `break` inside the block ends the method that yielded.
            Err(Interrupt::Break(value)) if block.is_some() => Ok(value),
            other => other,
        }
    }

    /// Runs a block with `arguments`, Ruby-style: one Array argument spreads over several
    /// parameters; names first assigned inside the block stay inside it.
    pub fn yield_block(&mut self, block: &Block, arguments: Vec<Value>) -> Evaluated<Value> {
        let arguments = match (block.parameters.len(), arguments.as_slice()) {
            (count, [Value::Array(items)]) if count > 1 => items.clone(),
            _ => arguments,
        };
        let outer_names: HashSet<String> = self.locals.keys().cloned().collect();
        let mut shadowed = Vec::new();
        for (index, parameter) in block.parameters.iter().enumerate() {
            let value = arguments.get(index).cloned().unwrap_or(Value::Nil);
            shadowed.push((parameter.clone(), self.locals.insert(parameter.clone(), value)));
        }
        let result = self.body(&block.body);
        self.locals.retain(|name, _| outer_names.contains(name));
        for (parameter, previous) in shadowed {
            match previous {
                Some(previous) => {
                    self.locals.insert(parameter, previous);
                }
                None => {
                    self.locals.remove(&parameter);
                }
            }
        }
        match result {
            Err(Interrupt::Next(value)) => Ok(value),
            other => other,
        }
    }

    /// `pattern === value` as `case`/`when` uses it.
    fn case_equal(&self, pattern: &Value, value: &Value) -> bool {
        match pattern {
            Value::Module(class) => super::methods::is_a(value, class),
            Value::Range {
                start,
                end,
                exclusive,
            } => super::methods::range_includes(start, end, *exclusive, value),
            _ => pattern.ruby_eq(value),
        }
    }
}

/// Inserts into an insertion-ordered Hash; an existing key keeps its place.
pub fn hash_insert(hash: &mut Vec<(Value, Value)>, key: Value, value: Value) {
    match hash.iter_mut().find(|(existing, _)| existing.is_same_key(&key)) {
        Some((_, slot)) => *slot = value,
        None => hash.push((key, value)),
    }
}
