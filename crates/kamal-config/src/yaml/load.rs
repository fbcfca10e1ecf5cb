//! The loader: YAML text to a [`Node`] tree as Psych's `YAML.unsafe_load` builds it.
//!
//! `saphyr-parser` does the syntax (events with positions); this module does what Psych's
//! `ToRuby` visitor does on top of libyaml: plain scalars typed by [`tokenize`], quoted and
//! block scalars kept as strings, the few tags Psych acts on, anchors and aliases, `<<` merge
//! keys in `revive_hash` order, Ruby Hash duplicate-key behaviour, and the first document only.

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::Path;

use saphyr_parser::{Event, Parser, ScalarStyle, ScanError, Span, Tag};

use super::error::YamlError;
use super::resolve::tokenize;
use super::value::{Mapping, Mark, Node, Value};

/// Loads the first document of `source` like `YAML.unsafe_load(source)`.
///
/// Returns `Ok(None)` when the text holds no document (empty, or only comments).
/// `origin` names the file in error messages.
pub fn load(source: &str, origin: &Path) -> Result<Option<Node>, YamlError> {
    let mut loader = Loader {
        parser: Parser::new_from_str(source),
        source,
        origin: origin.display().to_string(),
        anchors: HashMap::new(),
        open_collections: Vec::new(),
    };
    loader.first_document()
}

/// What kind of YAML node produced a value; merge keys treat them differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Syntax {
    Alias,
    Scalar,
    Sequence,
    Mapping,
}

/// A loaded node plus the syntax facts Psych's `revive_hash` looks at.
struct Loaded {
    node: Node,
    syntax: Syntax,
    tag: Option<String>,
}

struct Loader<'input> {
    parser: Parser<'input, saphyr_parser::StrInput<'input>>,
    source: &'input str,
    origin: String,
    anchors: HashMap<usize, Node>,
    /// Start marks of the collections being read, innermost last: libyaml reports
    /// "while parsing a block mapping" errors at the start of that mapping.
    open_collections: Vec<OpenCollection>,
}

#[derive(Debug, Clone, Copy)]
struct OpenCollection {
    start: saphyr_parser::Marker,
    mapping: bool,
}

impl<'input> Loader<'input> {
    fn first_document(&mut self) -> Result<Option<Node>, YamlError> {
        loop {
            let (event, span) = self.next_event()?;
            match event {
                Event::StreamStart | Event::Nothing => {}
                Event::StreamEnd => return Ok(None),
                Event::DocumentStart(_) => {
                    let (event, span) = self.next_event()?;
                    let root = self.node(event, span)?;
                    // libyaml reads up to the document end before Psych sees the document.
                    self.next_event()?;
                    return Ok(Some(root.node));
                }
                _ => return Err(self.syntax_error("did not find expected <document start>", span.start)),
            }
        }
    }

    fn next_event(&mut self) -> Result<(Event<'input>, Span), YamlError> {
        match self.parser.next_event() {
            Some(Ok(event)) => Ok(event),
            Some(Err(error)) => Err(self.scan_error(&error)),
            None => Ok((Event::StreamEnd, Span::empty(saphyr_parser::Marker::new(0, 1, 0)))),
        }
    }

    fn node(&mut self, event: Event<'input>, span: Span) -> Result<Loaded, YamlError> {
        let mark = to_mark(span.start);
        match event {
            Event::Alias(id) => match self.anchors.get(&id) {
                Some(node) => Ok(Loaded {
                    node: Node::new(node.value.clone(), mark),
                    syntax: Syntax::Alias,
                    tag: None,
                }),
                None => Err(self.unknown_anchor(span.start)),
            },
            Event::Scalar(text, style, anchor, tag) => {
                let tag = tag.map(tag_text);
                let node = Node::new(scalar_value(&text, style, tag.as_deref()), mark);
                self.remember(anchor, &node);
                Ok(Loaded {
                    node,
                    syntax: Syntax::Scalar,
                    tag,
                })
            }
            Event::SequenceStart(anchor, tag) => {
                self.open_collections.push(OpenCollection {
                    start: span.start,
                    mapping: false,
                });
                let mut items = Vec::new();
                loop {
                    let (event, span) = self.next_event()?;
                    if matches!(event, Event::SequenceEnd) {
                        break;
                    }
                    items.push(self.node(event, span)?.node);
                }
                self.open_collections.pop();
                let node = Node::new(Value::Sequence(items), mark);
                self.remember(anchor, &node);
                Ok(Loaded {
                    node,
                    syntax: Syntax::Sequence,
                    tag: tag.map(tag_text),
                })
            }
            Event::MappingStart(anchor, tag) => {
                self.open_collections.push(OpenCollection {
                    start: span.start,
                    mapping: true,
                });
                let mut mapping = Mapping::new();
                loop {
                    let (event, span) = self.next_event()?;
                    if matches!(event, Event::MappingEnd) {
                        break;
                    }
                    let key = self.node(event, span)?;
                    let (event, span) = self.next_event()?;
                    let value = self.node(event, span)?;
                    insert_pair(&mut mapping, key, value);
                }
                self.open_collections.pop();
                let tag = tag.map(tag_text);
                let value = match tag.as_deref().and_then(|tag| tag.strip_prefix("!ruby/object:")) {
                    Some(class) => object(class, mapping),
                    None => Value::Mapping(mapping),
                };
                let node = Node::new(value, mark);
                self.remember(anchor, &node);
                Ok(Loaded {
                    node,
                    syntax: Syntax::Mapping,
                    tag,
                })
            }
            _ => Err(self.syntax_error("did not find expected node content", span.start)),
        }
    }

    fn remember(&mut self, anchor: usize, node: &Node) {
        if anchor != 0 {
            self.anchors.insert(anchor, node.clone());
        }
    }

    fn syntax_error(&self, problem: &str, marker: saphyr_parser::Marker) -> YamlError {
        let mark = to_mark(marker);
        YamlError::Syntax {
            origin: self.origin.clone(),
            problem: problem.to_string(),
            line: mark.line,
            column: mark.column,
        }
    }

    /// Rewords the parser's error the way libyaml (and so Psych) words it:
    /// `<problem> <context>`, positioned at the context's start where we know it.
    fn scan_error(&self, error: &ScanError) -> YamlError {
        let info = error.info();
        if info == "while parsing node, found unknown anchor" {
            return self.unknown_anchor(*error.marker());
        }
        let innermost = self.open_collections.last().copied();
        let inside_block = |problem: &'static str| match innermost {
            Some(OpenCollection { mapping: false, .. }) => (
                "did not find expected '-' indicator".to_string(),
                Some("while parsing a block collection"),
            ),
            _ => (problem.to_string(), Some("while parsing a block mapping")),
        };
        let (problem, context) = match info {
            "simple key expect ':'" | "simple key expected" => (
                "could not find expected ':'".to_string(),
                Some("while scanning a simple key"),
            ),
            "while parsing a flow sequence, expected ',' or ']'" => (
                "did not find expected ',' or ']'".to_string(),
                Some("while parsing a flow sequence"),
            ),
            "misplaced bracket" | "invalid trailing content after double-quoted scalar" => {
                inside_block("did not find expected key")
            }
            _ if info.starts_with("unexpected character: ") => (
                "found character that cannot start any token".to_string(),
                Some("while scanning for the next token"),
            ),
            _ => match info.split_once(", ") {
                Some((context, problem)) if context.starts_with("while ") => {
                    (problem.to_string(), Some(context))
                }
                _ => (info.to_string(), None),
            },
        };
        let marker = match context {
            Some(context)
                if context.starts_with("while parsing a block")
                    || context.starts_with("while parsing a flow") =>
            {
                innermost.map_or(*error.marker(), |open| open.start)
            }
            Some("while scanning a simple key") => self.start_of_last_content_line(*error.marker()),
            _ => *error.marker(),
        };
        let problem = match context {
            Some(context) => format!("{problem} {context}"),
            None => problem,
        };
        self.syntax_error(&problem, marker)
    }

    /// Where a dangling simple key starts: the first character of the last line with content
    /// at or before `marker` (the parser reports the error only once the line has ended).
    fn start_of_last_content_line(&self, marker: saphyr_parser::Marker) -> saphyr_parser::Marker {
        let lines: Vec<&str> = self.source.lines().collect();
        let last = marker.line().min(lines.len());
        for line_number in (1..=last).rev() {
            let line = lines[line_number - 1];
            let content = line.trim_start_matches([' ', '\t']);
            if content.is_empty() || content.starts_with('#') {
                continue;
            }
            let column = line.chars().count() - content.chars().count();
            return saphyr_parser::Marker::new(marker.index(), line_number, column);
        }
        marker
    }

    fn unknown_anchor(&self, marker: saphyr_parser::Marker) -> YamlError {
        let anchor: String = self
            .source
            .chars()
            .skip(marker.index())
            .skip_while(|character| *character == '*')
            .take_while(|character| {
                !character.is_whitespace() && !matches!(character, ',' | '[' | ']' | '{' | '}')
            })
            .collect();
        let mark = to_mark(marker);
        YamlError::AnchorNotDefined {
            origin: self.origin.clone(),
            anchor,
            line: mark.line,
            column: mark.column,
        }
    }
}

fn to_mark(marker: saphyr_parser::Marker) -> Mark {
    Mark {
        line: marker.line(),
        column: marker.col() + 1,
    }
}

fn tag_text(tag: Cow<'_, Tag>) -> String {
    format!("{}{}", tag.handle, tag.suffix)
}

/// Psych's `ToRuby#deserialize` for a scalar.
fn scalar_value(text: &str, style: ScalarStyle, tag: Option<&str>) -> Value {
    let Some(tag) = tag else {
        return match style {
            ScalarStyle::Plain => tokenize(text),
            _ => Value::String(text.to_string()),
        };
    };
    match tag {
        "tag:yaml.org,2002:str" | "!str" => Value::String(text.to_string()),
        _ if tag.starts_with("!str:") || tag == "!ruby/string" || tag.starts_with("!ruby/string:") => {
            Value::String(text.to_string())
        }
        "tag:yaml.org,2002:binary" | "!binary" => Value::String(decode_base64(text)),
        "tag:yaml.org,2002:float" | "!float" => match tokenize(text) {
            Value::Integer(integer) => Value::Float(integer as f64),
            Value::Float(float) => Value::Float(float),
            _ => Value::String(text.to_string()),
        },
        _ if is_symbol_tag(tag) => Value::Symbol(text.to_string()),
        _ => tokenize(text),
    }
}

/// Psych's `/^!ruby\/sym(bol)?:?(.*)?$/`.
fn is_symbol_tag(tag: &str) -> bool {
    tag.strip_prefix("!ruby/sym")
        .is_some_and(|rest| !rest.contains('\n'))
}

/// `String#unpack('m')`: lenient base64 (characters outside the alphabet are skipped).
fn decode_base64(text: &str) -> String {
    let mut bytes = Vec::new();
    let mut buffer: u32 = 0;
    let mut bits = 0;
    for character in text.bytes() {
        let sextet = match character {
            b'A'..=b'Z' => character - b'A',
            b'a'..=b'z' => character - b'a' + 26,
            b'0'..=b'9' => character - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' => break,
            _ => continue,
        };
        buffer = (buffer << 6) | u32::from(sextet);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            bytes.push((buffer >> bits) as u8);
            buffer &= (1 << bits) - 1;
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

/// `!ruby/object:Class` mappings become objects whose fields are the mapping's entries (Psych's
/// `revive` sets them as instance variables), so `kamal config` output loads and dumps again.
fn object(class: &str, mapping: Mapping) -> Value {
    let fields = mapping
        .entries
        .into_iter()
        .map(|(key, value)| {
            let name = match key.value {
                Value::String(name) | Value::Symbol(name) | Value::Timestamp(name) => name,
                other => format!("{other:?}"),
            };
            (name, value)
        })
        .collect();
    Value::Object {
        class: class.to_string(),
        fields,
    }
}

/// Psych's `revive_hash` for one key/value pair, including `<<` merge keys.
fn insert_pair(mapping: &mut Mapping, key: Loaded, value: Loaded) {
    let is_merge_key = matches!(&key.node.value, Value::String(text) if text == "<<")
        && key.tag.as_deref() != Some("tag:yaml.org,2002:str");
    if !is_merge_key {
        mapping.insert(key.node, value.node);
        return;
    }
    match value.syntax {
        // `hash.merge!(val)`, or `hash['<<'] = val` when val is not a Hash (TypeError).
        Syntax::Alias | Syntax::Mapping => match value.node.value {
            Value::Mapping(merged) => merge_into(mapping, merged),
            _ => mapping.insert(key.node, value.node),
        },
        // The mappings merged in reverse, so the first one listed wins; any non-Hash element
        // makes the whole sequence an ordinary value.
        Syntax::Sequence => {
            let Value::Sequence(items) = &value.node.value else {
                mapping.insert(key.node, value.node);
                return;
            };
            if !items.iter().all(|item| matches!(item.value, Value::Mapping(_))) {
                mapping.insert(key.node, value.node);
                return;
            }
            let mut combined = Mapping::new();
            for item in items.iter().rev() {
                if let Value::Mapping(merged) = &item.value {
                    merge_into(&mut combined, merged.clone());
                }
            }
            merge_into(mapping, combined);
        }
        Syntax::Scalar => mapping.insert(key.node, value.node),
    }
}

/// Ruby `Hash#merge!`: each entry overwrites in place or appends.
fn merge_into(mapping: &mut Mapping, other: Mapping) {
    for (key, value) in other.entries {
        mapping.insert(key, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_text(source: &str) -> Node {
        match load(source, Path::new("deploy.yml")) {
            Ok(Some(node)) => node,
            other => panic!("expected a document from {source:?}, got {other:?}"),
        }
    }

    fn error(source: &str) -> YamlError {
        match load(source, Path::new("f.yml")) {
            Err(error) => error,
            other => panic!("expected an error from {source:?}, got {other:?}"),
        }
    }

    /// A compact rendering of a value, close to Ruby's `inspect`.
    fn inspect(value: &Value) -> String {
        match value {
            Value::Null => "nil".to_string(),
            Value::Bool(boolean) => boolean.to_string(),
            Value::Integer(integer) => integer.to_string(),
            Value::Float(float) => format!("{float:?}"),
            Value::String(string) => format!("{string:?}"),
            Value::Symbol(symbol) => format!(":{symbol}"),
            Value::Timestamp(text) => format!("@{text}"),
            Value::Sequence(items) => {
                format!(
                    "[{}]",
                    items
                        .iter()
                        .map(|item| inspect(&item.value))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            }
            Value::Mapping(mapping) => format!(
                "{{{}}}",
                mapping
                    .entries
                    .iter()
                    .map(|(key, value)| format!("{}=>{}", inspect(&key.value), inspect(&value.value)))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Value::Object { class, .. } => format!("#<{class}>"),
        }
    }

    fn loaded(source: &str) -> String {
        inspect(&load_text(source).value)
    }

    #[test]
    fn empty_documents_are_none() {
        assert!(matches!(load("", Path::new("x")), Ok(None)));
        assert!(matches!(load("# only a comment\n", Path::new("x")), Ok(None)));
        assert_eq!(loaded("---\n"), "nil");
    }

    #[test]
    fn quoted_and_block_scalars_stay_strings() {
        assert_eq!(
            loaded("- '3'\n- \"yes\"\n- |\n  0755\n- >\n  true\n- ''\n"),
            r#"["3", "yes", "0755\n", "true\n", ""]"#
        );
        assert_eq!(loaded("a:\nb: ~\nc: null\n"), r#"{"a"=>nil, "b"=>nil, "c"=>nil}"#);
    }

    #[test]
    fn tags_psych_acts_on() {
        // From Ruby: YAML.unsafe_load("- !!str 123") etc.
        assert_eq!(
            loaded("- !!str 123\n- !!int 3\n- !!int \"3\"\n- !!float 3\n- !ruby/symbol foo\n- !ruby/sym foo\n- !!bool yes\n- ! 3\n- !!str\n"),
            r#"["123", 3, 3, 3.0, :foo, :foo, true, 3, ""]"#
        );
        assert_eq!(loaded("- !binary aGVsbG8=\n"), r#"["hello"]"#);
    }

    #[test]
    fn symbols_keys_and_values() {
        assert_eq!(
            loaded(":service: app\nlog: :fatal\n:\"a b\": 1\n"),
            r#"{:service=>"app", "log"=>:fatal, :a b=>1}"#
        );
    }

    #[test]
    fn anchors_and_aliases() {
        assert_eq!(
            loaded("a: &x [1, 2]\nb: *x\nc: &s hello\nd: *s\n"),
            r#"{"a"=>[1, 2], "b"=>[1, 2], "c"=>"hello", "d"=>"hello"}"#
        );
        // A redefined anchor: later aliases see the latest definition.
        assert_eq!(
            loaded("a: &x 1\nb: *x\nc: &x 2\nd: *x\n"),
            r#"{"a"=>1, "b"=>1, "c"=>2, "d"=>2}"#
        );
    }

    /// Expectations from Ruby's `YAML.unsafe_load` (Psych `revive_hash`).
    #[test]
    fn merge_keys_follow_revive_hash_order() {
        let base = "base: &b\n  x: 1\n  y: 2\n";
        // Explicit key before `<<` is overwritten by the merge; after it, the explicit key wins.
        assert_eq!(
            loaded(&format!("{base}m:\n  x: 9\n  <<: *b\n")),
            r#"{"base"=>{"x"=>1, "y"=>2}, "m"=>{"x"=>1, "y"=>2}}"#
        );
        assert_eq!(
            loaded(&format!("{base}m:\n  <<: *b\n  x: 9\n")),
            r#"{"base"=>{"x"=>1, "y"=>2}, "m"=>{"x"=>9, "y"=>2}}"#
        );
        // A sequence of mappings: merged in reverse, so the first listed wins.
        assert_eq!(
            loaded("a: &a {k: a, only_a: 1}\nb: &b {k: b, only_b: 2}\nm:\n  <<: [*a, *b]\n"),
            r#"{"a"=>{"k"=>"a", "only_a"=>1}, "b"=>{"k"=>"b", "only_b"=>2}, "m"=>{"k"=>"a", "only_b"=>2, "only_a"=>1}}"#
        );
        // Inline mapping value merges too.
        assert_eq!(
            loaded("m:\n  a: 1\n  <<: {a: 2, b: 3}\n"),
            r#"{"m"=>{"a"=>2, "b"=>3}}"#
        );
        // Scalars, aliases to non-mappings and `!!str <<` stay ordinary keys.
        assert_eq!(loaded("m:\n  <<: 5\n"), r#"{"m"=>{"<<"=>5}}"#);
        assert_eq!(
            loaded("s: &s [1]\nm:\n  <<: *s\n"),
            r#"{"s"=>[1], "m"=>{"<<"=>[1]}}"#
        );
        assert_eq!(
            loaded("m:\n  <<: [{a: 1}, 2]\n"),
            r#"{"m"=>{"<<"=>[{"a"=>1}, 2]}}"#
        );
        assert_eq!(loaded("m:\n  !!str <<: {a: 1}\n"), r#"{"m"=>{"<<"=>{"a"=>1}}}"#);
        // A quoted `<<` still merges in Psych (only the tag is checked).
        assert_eq!(loaded("m:\n  '<<': {a: 1}\n"), r#"{"m"=>{"a"=>1}}"#);
    }

    #[test]
    fn the_extensions_fixture_merges() {
        let source = "x-web: &web\n  proxy: {}\nservers:\n  web_chicago: { <<: *web, hosts: [1.1.1.1] }\n";
        assert_eq!(
            loaded(source),
            r#"{"x-web"=>{"proxy"=>{}}, "servers"=>{"web_chicago"=>{"proxy"=>{}, "hosts"=>["1.1.1.1"]}}}"#
        );
    }

    #[test]
    fn duplicate_keys_keep_the_first_position_and_the_last_value() {
        assert_eq!(loaded("a: 1\nb: 2\na: 3\n"), r#"{"a"=>3, "b"=>2}"#);
        // Ruby compares keys by value and type: "1" and 1 differ.
        assert_eq!(loaded("1: a\n'1': b\n"), r#"{1=>"a", "1"=>"b"}"#);
    }

    #[test]
    fn only_the_first_document_is_loaded() {
        assert_eq!(loaded("--- a\n--- b\n"), r#""a""#);
    }

    #[test]
    fn nodes_carry_their_position() {
        let root = load_text("service: app\nservers:\n  web:\n    - 1.1.1.1\n    - \"2.2.2.2\"\n");
        let Value::Mapping(mapping) = &root.value else {
            panic!("not a mapping")
        };
        assert_eq!(root.mark, Mark { line: 1, column: 1 });
        let (key, servers) = &mapping.entries[1];
        assert_eq!(key.mark, Mark { line: 2, column: 1 });
        let Some(web) = servers.value.as_mapping().and_then(|servers| servers.get("web")) else {
            panic!("no web")
        };
        let Some(hosts) = web.value.as_sequence() else {
            panic!("no hosts")
        };
        assert_eq!(hosts[0].mark, Mark { line: 4, column: 7 });
        assert_eq!(hosts[1].mark, Mark { line: 5, column: 7 });
    }

    /// Messages and positions from Ruby: `YAML.unsafe_load(text, filename: "f.yml")`.
    #[test]
    fn syntax_errors_read_like_psych() {
        let cases = [
            ("a: 1\n b: 2\nc: 3", "(f.yml): mapping values are not allowed in this context at line 2 column 3"),
            ("a: b: c", "(f.yml): mapping values are not allowed in this context at line 1 column 5"),
            ("a:\n  - 1\n  b: 2", "(f.yml): did not find expected '-' indicator while parsing a block collection at line 2 column 3"),
            ("a: [1, 2", "(f.yml): did not find expected ',' or ']' while parsing a flow sequence at line 1 column 4"),
            ("a: {b: 1", "(f.yml): did not find expected ',' or '}' while parsing a flow mapping at line 1 column 4"),
            ("a: 1\n- b", "(f.yml): did not find expected key while parsing a block mapping at line 1 column 1"),
            ("key: value\n  other: x\nz: 1", "(f.yml): mapping values are not allowed in this context at line 2 column 8"),
            ("a: \"x", "(f.yml): found unexpected end of stream while scanning a quoted scalar at line 1 column 4"),
            ("a: @x", "(f.yml): found character that cannot start any token while scanning for the next token at line 1 column 4"),
            ("[a, b", "(f.yml): did not find expected ',' or ']' while parsing a flow sequence at line 1 column 1"),
            ("a: 1\n}", "(f.yml): did not find expected key while parsing a block mapping at line 1 column 1"),
            ("key: \"value\" extra", "(f.yml): did not find expected key while parsing a block mapping at line 1 column 1"),
            ("a: x\n# c\n  b: 2", "(f.yml): did not find expected key while parsing a block mapping at line 1 column 1"),
            ("a: b\nc", "(f.yml): could not find expected ':' while scanning a simple key at line 2 column 1"),
            ("\"a\": 1: 2", "(f.yml): mapping values are not allowed in this context at line 1 column 7"),
        ];
        for (source, expected) in cases {
            let error = error(source);
            assert_eq!(error.to_string(), expected, "{source:?}");
            assert_eq!(error.ruby_class(), "Psych::SyntaxError");
        }
    }

    #[test]
    fn unknown_aliases_name_the_anchor() {
        let error = error("a: 1\nb: *foo\n");
        assert_eq!(error.to_string(), "An alias referenced an unknown anchor: foo");
        assert_eq!(error.ruby_class(), "Psych::AnchorNotDefined");
        assert_eq!(error.line(), 2);
    }
}
