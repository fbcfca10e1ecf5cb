//! Ruby tokens for the code inside one ERB tag. Offsets are byte offsets in the whole
//! template, so every token (and every error) can be traced back to its line.
//!
//! String interpolation (`"#{...}"`, backticks, `%x()`) is lexed here too: each `#{}` part
//! carries its own tokens, which the parser turns into an expression.

/// A lexed token and where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Token {
    pub kind: TokenKind,
    pub start: usize,
    pub end: usize,
    /// Whether blank space precedes the token: `foo -1` and `foo [1]` are calls, `foo-1` is not.
    pub space_before: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub enum TokenKind {
    Integer(i64),
    Float(f64),
    String(Vec<StringPart>),
    /// A backtick or `%x()` command string.
    Command(Vec<StringPart>),
    /// `%w[...]`.
    Words(Vec<String>),
    Symbol(String),
    /// A lower-case name, keywords included (`if`, `nil`, `strip`, `empty?`).
    Identifier(String),
    Constant(String),
    /// `name:` in a hash or keyword argument.
    Label(String),
    Punct(&'static str),
    Newline,
    /// Template text between tags (added when the parser assembles a template's tokens).
    Text(String),
    /// `<%=` and its `%>`.
    OutputOpen,
    OutputClose,
    EndOfInput,
}

#[derive(Debug, Clone, PartialEq)]
pub enum StringPart {
    Literal(String),
    Code(Vec<Token>),
}

/// A lexical error: where it starts and what Ruby would call it.
#[derive(Debug, Clone, PartialEq)]
pub struct LexError {
    pub offset: usize,
    pub message: String,
}

/// Longest first, so `...` wins over `..` and `||=` over `||`.
const PUNCTUATION: &[&str] = &[
    "**=", "...", "<=>", "===", "&&=", "||=", "..", "::", "&.", "+=", "-=", "*=", "/=", "**", "==", "!=",
    "=~", "!~", ">=", "<=", "<<", ">>", "&&", "||", "=>", "->", "(", ")", "[", "]", "{", "}", ",", ".", ";",
    "=", "!", "<", ">", "+", "-", "*", "/", "%", "?", ":", "|", "&", "^", "~",
];

/// Lexes the code of one tag, which starts at byte `base` of the template.
pub fn tokenize(code: &str, base: usize) -> Result<Vec<Token>, LexError> {
    let mut lexer = Lexer {
        source: code,
        position: 0,
        limit: code.len(),
    };
    let mut tokens = lexer.tokens(false).map_err(|error| LexError {
        offset: error.offset + base,
        ..error
    })?;
    shift(&mut tokens, base);
    Ok(tokens)
}

/// Moves token offsets from the tag's code to the template.
fn shift(tokens: &mut [Token], base: usize) {
    for token in tokens {
        token.start += base;
        token.end += base;
        if let TokenKind::String(parts) | TokenKind::Command(parts) = &mut token.kind {
            for part in parts {
                if let StringPart::Code(inner) = part {
                    shift(inner, base);
                }
            }
        }
    }
}

struct Lexer<'a> {
    source: &'a str,
    position: usize,
    limit: usize,
}

impl<'a> Lexer<'a> {
    fn rest(&self) -> &'a str {
        &self.source[self.position..self.limit]
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn peek_second(&self) -> Option<char> {
        self.rest().chars().nth(1)
    }

    fn advance(&mut self) -> Option<char> {
        let character = self.peek()?;
        self.position += character.len_utf8();
        Some(character)
    }

    /// Tokens up to the end of the tag, or (inside `#{}`) up to the unmatched `}`.
    fn tokens(&mut self, inside_interpolation: bool) -> Result<Vec<Token>, LexError> {
        let mut tokens: Vec<Token> = Vec::new();
        let mut brace_depth = 0usize;
        loop {
            let space_before = self.skip_blanks();
            let start = self.position;
            let Some(character) = self.peek() else {
                if inside_interpolation {
                    return Err(LexError {
                        offset: start,
                        message: "unterminated string meets end of file".into(),
                    });
                }
                return Ok(tokens);
            };
            let kind = match character {
                '\n' => {
                    self.advance();
                    if self.continues_with_method_call()
                        || tokens.last().map(|t| &t.kind) == Some(&TokenKind::Newline)
                    {
                        continue;
                    }
                    TokenKind::Newline
                }
                '#' => {
                    while self.peek().is_some_and(|c| c != '\n') {
                        self.advance();
                    }
                    continue;
                }
                '0'..='9' => self.number()?,
                '"' => {
                    self.advance();
                    TokenKind::String(self.interpolated('"', None)?)
                }
                '`' => {
                    self.advance();
                    TokenKind::Command(self.interpolated('`', None)?)
                }
                '\'' => {
                    self.advance();
                    TokenKind::String(vec![StringPart::Literal(self.single_quoted('\'', None)?)])
                }
                '%' if self.percent_literal_follows(tokens.last()) => self.percent_literal()?,
                ':' if self.peek_second() == Some('"') => {
                    self.advance();
                    self.advance();
                    TokenKind::Symbol(self.single_quoted('"', None)?)
                }
                ':' if self.peek_second().is_some_and(is_identifier_start) => {
                    self.advance();
                    let mut name = self.identifier_chars();
                    self.method_suffix(&mut name);
                    TokenKind::Symbol(name)
                }
                '}' if inside_interpolation && brace_depth == 0 => {
                    self.advance();
                    return Ok(tokens);
                }
                character if is_identifier_start(character) || character == '@' || character == '$' => {
                    let mut name = String::new();
                    while let Some(sigil) = self.peek().filter(|c| *c == '@' || *c == '$') {
                        name.push(sigil);
                        self.advance();
                    }
                    name.push_str(&self.identifier_chars());
                    let is_constant = name.starts_with(|c: char| c.is_ascii_uppercase());
                    if !is_constant {
                        self.method_suffix(&mut name);
                    }
                    if self.peek() == Some(':')
                        && self.peek_second() != Some(':')
                        && !name.starts_with(['@', '$'])
                    {
                        self.advance();
                        TokenKind::Label(name)
                    } else if is_constant {
                        TokenKind::Constant(name)
                    } else {
                        TokenKind::Identifier(name)
                    }
                }
                _ => {
                    let rest = self.rest();
                    let Some(punct) = PUNCTUATION.iter().find(|punct| rest.starts_with(**punct)) else {
                        return Err(LexError {
                            offset: start,
                            message: format!("unexpected character `{character}`"),
                        });
                    };
                    self.position += punct.len();
                    match *punct {
                        "{" => brace_depth += 1,
                        "}" => brace_depth = brace_depth.saturating_sub(1),
                        _ => {}
                    }
                    TokenKind::Punct(punct)
                }
            };
            tokens.push(Token {
                kind,
                start,
                end: self.position,
                space_before,
            });
        }
    }

    /// Skips spaces, tabs and backslash-newline continuations; reports whether any were skipped.
    fn skip_blanks(&mut self) -> bool {
        let before = self.position;
        loop {
            match self.peek() {
                Some(' ' | '\t' | '\r') => {
                    self.advance();
                }
                Some('\\') if self.peek_second() == Some('\n') => {
                    self.advance();
                    self.advance();
                }
                _ => return self.position != before,
            }
        }
    }

    /// A line starting with `.method` continues the previous expression.
    fn continues_with_method_call(&self) -> bool {
        let rest = self.rest().trim_start();
        (rest.starts_with('.') && !rest.starts_with("..")) || rest.starts_with("&.")
    }

    fn identifier_chars(&mut self) -> String {
        let mut name = String::new();
        while let Some(character) = self
            .peek()
            .filter(|c| is_identifier_start(*c) || c.is_ascii_digit())
        {
            name.push(character);
            self.advance();
        }
        name
    }

    /// `empty?`, `strip!`: but not the `!=` in `a!=b` nor the `?` of `a ?b : c`.
    fn method_suffix(&mut self, name: &mut String) {
        if let Some(suffix) = self.peek().filter(|c| *c == '?' || *c == '!') {
            if self.peek_second() != Some('=') || self.rest().starts_with("?==") {
                name.push(suffix);
                self.advance();
            }
        }
    }

    fn number(&mut self) -> Result<TokenKind, LexError> {
        let start = self.position;
        let mut digits = String::new();
        let mut is_float = false;
        while let Some(character) = self.peek() {
            if character.is_ascii_digit() {
                digits.push(character);
            } else if character == '_' && self.peek_second().is_some_and(|c| c.is_ascii_digit()) {
            } else if character == '.' && !is_float && self.peek_second().is_some_and(|c| c.is_ascii_digit())
            {
                is_float = true;
                digits.push('.');
            } else if (character == 'e' || character == 'E')
                && (self
                    .peek_second()
                    .is_some_and(|c| c.is_ascii_digit() || c == '-' || c == '+'))
            {
                is_float = true;
                digits.push('e');
                self.advance();
                if let Some(sign) = self.peek().filter(|c| *c == '-' || *c == '+') {
                    digits.push(sign);
                    self.advance();
                }
                continue;
            } else {
                break;
            }
            self.advance();
        }
        let invalid = || LexError {
            offset: start,
            message: format!("invalid number `{digits}`"),
        };
        if is_float {
            digits.parse().map(TokenKind::Float).map_err(|_| invalid())
        } else {
            digits.parse().map(TokenKind::Integer).map_err(|_| invalid())
        }
    }

    /// Whether `%` starts a literal (`%w[]`, `%x()`, `%()`) rather than being the modulo operator.
    fn percent_literal_follows(&self, previous: Option<&Token>) -> bool {
        let mut characters = self.rest().chars().skip(1);
        let after_operator = !previous.is_some_and(|token| {
            matches!(
                token.kind,
                TokenKind::Integer(_)
                    | TokenKind::Float(_)
                    | TokenKind::String(_)
                    | TokenKind::Identifier(_)
                    | TokenKind::Constant(_)
                    | TokenKind::Punct(")" | "]" | "}")
            )
        });
        match characters.next() {
            Some('w' | 'W' | 'x' | 'q' | 'Q' | 'i' | 'I') => {
                characters.next().is_some_and(is_percent_delimiter)
            }
            Some(character) => after_operator && is_percent_delimiter(character),
            None => false,
        }
    }

    fn percent_literal(&mut self) -> Result<TokenKind, LexError> {
        let start = self.position;
        self.advance();
        let kind = match self.peek() {
            Some(character) if character.is_ascii_alphabetic() => {
                self.advance();
                character
            }
            _ => 'Q',
        };
        let opening = self.advance().unwrap_or('(');
        let closing = closing_delimiter(opening);
        let nested = (closing != opening).then_some(opening);
        let unterminated = |_| LexError {
            offset: start,
            message: "unterminated list meets end of file".into(),
        };
        Ok(match kind {
            'w' | 'W' | 'i' | 'I' => {
                let words = self.single_quoted(closing, nested).map_err(unterminated)?;
                let words = words.split_whitespace().map(String::from).collect();
                TokenKind::Words(words)
            }
            'x' => TokenKind::Command(self.interpolated(closing, nested)?),
            'q' => TokenKind::String(vec![StringPart::Literal(self.single_quoted(closing, nested)?)]),
            _ => TokenKind::String(self.interpolated(closing, nested)?),
        })
    }

    /// The body of a `'...'`-like literal: only `\\` and `\<closing>` are escapes.
    fn single_quoted(&mut self, closing: char, nested: Option<char>) -> Result<String, LexError> {
        let start = self.position.saturating_sub(1);
        let mut value = String::new();
        let mut depth = 0;
        loop {
            let Some(character) = self.advance() else {
                return Err(LexError {
                    offset: start,
                    message: "unterminated string meets end of file".into(),
                });
            };
            match character {
                '\\' => match self.peek() {
                    Some(next) if next == '\\' || next == closing || Some(next) == nested => {
                        value.push(next);
                        self.advance();
                    }
                    _ => value.push('\\'),
                },
                character if Some(character) == nested => {
                    depth += 1;
                    value.push(character);
                }
                character if character == closing && depth > 0 => {
                    depth -= 1;
                    value.push(character);
                }
                character if character == closing => return Ok(value),
                character => value.push(character),
            }
        }
    }

    /// The body of a `"..."`-like literal: escapes and `#{}` interpolation.
    fn interpolated(&mut self, closing: char, nested: Option<char>) -> Result<Vec<StringPart>, LexError> {
        let start = self.position.saturating_sub(1);
        let unterminated = || LexError {
            offset: start,
            message: "unterminated string meets end of file".into(),
        };
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut depth = 0;
        loop {
            let character = self.advance().ok_or_else(unterminated)?;
            match character {
                '\\' => {
                    let escaped = self.advance().ok_or_else(unterminated)?;
                    self.escape(escaped, &mut literal)?;
                }
                '#' if self.peek() == Some('{') => {
                    self.advance();
                    if !literal.is_empty() {
                        parts.push(StringPart::Literal(std::mem::take(&mut literal)));
                    }
                    parts.push(StringPart::Code(self.tokens(true)?));
                }
                character if Some(character) == nested => {
                    depth += 1;
                    literal.push(character);
                }
                character if character == closing && depth > 0 => {
                    depth -= 1;
                    literal.push(character);
                }
                character if character == closing => break,
                character => literal.push(character),
            }
        }
        if !literal.is_empty() || parts.is_empty() {
            parts.push(StringPart::Literal(literal));
        }
        Ok(parts)
    }

    fn escape(&mut self, escaped: char, literal: &mut String) -> Result<(), LexError> {
        let start = self.position;
        match escaped {
            'n' => literal.push('\n'),
            't' => literal.push('\t'),
            'r' => literal.push('\r'),
            's' => literal.push(' '),
            'e' => literal.push('\u{1b}'),
            'a' => literal.push('\u{7}'),
            'b' => literal.push('\u{8}'),
            'f' => literal.push('\u{c}'),
            'v' => literal.push('\u{b}'),
            '\n' => {}
            '0'..='7' => {
                let mut value = escaped.to_digit(8).unwrap_or(0);
                for _ in 0..2 {
                    match self.peek().and_then(|c| c.to_digit(8)) {
                        Some(digit) => {
                            value = value * 8 + digit;
                            self.advance();
                        }
                        None => break,
                    }
                }
                literal.push(char::from_u32(value).unwrap_or('\u{fffd}'));
            }
            'x' => {
                let mut value = 0;
                for _ in 0..2 {
                    match self.peek().and_then(|c| c.to_digit(16)) {
                        Some(digit) => {
                            value = value * 16 + digit;
                            self.advance();
                        }
                        None => break,
                    }
                }
                literal.push(char::from_u32(value).unwrap_or('\u{fffd}'));
            }
            'u' => {
                let braced = self.peek() == Some('{');
                if braced {
                    self.advance();
                }
                let mut digits = String::new();
                while let Some(character) = self.peek().filter(|c| c.is_ascii_hexdigit()) {
                    if !braced && digits.len() == 4 {
                        break;
                    }
                    digits.push(character);
                    self.advance();
                }
                if braced && self.advance() != Some('}') {
                    return Err(LexError {
                        offset: start,
                        message: "unterminated Unicode escape".into(),
                    });
                }
                let value = u32::from_str_radix(&digits, 16).ok().and_then(char::from_u32);
                literal.push(value.ok_or(LexError {
                    offset: start,
                    message: "invalid Unicode escape".into(),
                })?);
            }
            other => literal.push(other),
        }
        Ok(())
    }
}

fn is_identifier_start(character: char) -> bool {
    character.is_alphabetic() || character == '_' || !character.is_ascii()
}

fn is_percent_delimiter(character: char) -> bool {
    matches!(character, '(' | '[' | '{' | '<' | '|' | '!' | '/' | '^')
}

fn closing_delimiter(opening: char) -> char {
    match opening {
        '(' => ')',
        '[' => ']',
        '{' => '}',
        '<' => '>',
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(code: &str) -> Vec<TokenKind> {
        tokenize(code, 0)
            .expect("lexes")
            .into_iter()
            .map(|token| token.kind)
            .collect()
    }

    fn literal(text: &str) -> TokenKind {
        TokenKind::String(vec![StringPart::Literal(text.into())])
    }

    #[test]
    fn env_fetch_with_a_default() {
        assert_eq!(
            kinds(r#"ENV.fetch("X", 'd')"#),
            vec![
                TokenKind::Constant("ENV".into()),
                TokenKind::Punct("."),
                TokenKind::Identifier("fetch".into()),
                TokenKind::Punct("("),
                literal("X"),
                TokenKind::Punct(","),
                literal("d"),
                TokenKind::Punct(")"),
            ]
        );
    }

    #[test]
    fn interpolation_nests_tokens() {
        let tokens = kinds(r##""#{ENV["A"]}-x""##);
        let TokenKind::String(parts) = &tokens[0] else {
            panic!("not a string: {tokens:?}")
        };
        assert_eq!(parts.len(), 2);
        assert!(matches!(&parts[0], StringPart::Code(code) if code.len() == 4));
        assert_eq!(parts[1], StringPart::Literal("-x".into()));
    }

    #[test]
    fn escapes_in_double_quotes_only() {
        assert_eq!(kinds(r#""a\n\"\e\u00e9""#), vec![literal("a\n\"\u{1b}é")]);
        assert_eq!(kinds(r#"'a\n\'\\'"#), vec![literal("a\\n'\\")]);
    }

    #[test]
    fn percent_literals() {
        assert_eq!(
            kinds("%w[A B  C]"),
            vec![TokenKind::Words(vec!["A".into(), "B".into(), "C".into()])]
        );
        assert_eq!(
            kinds("%x(aws ecr (x))"),
            vec![TokenKind::Command(vec![StringPart::Literal(
                "aws ecr (x)".into()
            )])]
        );
        assert_eq!(
            kinds("10 % 3"),
            vec![
                TokenKind::Integer(10),
                TokenKind::Punct("%"),
                TokenKind::Integer(3)
            ]
        );
    }

    #[test]
    fn method_names_keep_their_suffix() {
        assert_eq!(
            kinds("a.empty? != b!"),
            vec![
                TokenKind::Identifier("a".into()),
                TokenKind::Punct("."),
                TokenKind::Identifier("empty?".into()),
                TokenKind::Punct("!="),
                TokenKind::Identifier("b!".into()),
            ]
        );
        assert_eq!(kinds("a!=b")[1], TokenKind::Punct("!="));
    }

    #[test]
    fn numbers_symbols_labels_ranges() {
        assert_eq!(
            kinds("365 * 1_000 1.5 :sym a: 1...-1"),
            vec![
                TokenKind::Integer(365),
                TokenKind::Punct("*"),
                TokenKind::Integer(1000),
                TokenKind::Float(1.5),
                TokenKind::Symbol("sym".into()),
                TokenKind::Label("a".into()),
                TokenKind::Integer(1),
                TokenKind::Punct("..."),
                TokenKind::Punct("-"),
                TokenKind::Integer(1),
            ]
        );
    }

    #[test]
    fn newlines_end_statements_unless_a_method_chain_continues() {
        assert_eq!(
            kinds("a # note\n\n  .b\nc"),
            vec![
                TokenKind::Identifier("a".into()),
                TokenKind::Punct("."),
                TokenKind::Identifier("b".into()),
                TokenKind::Newline,
                TokenKind::Identifier("c".into()),
            ]
        );
    }

    #[test]
    fn unterminated_strings_are_errors() {
        let error = tokenize(r#"x "abc"#, 0).expect_err("unterminated");
        assert_eq!(
            (error.offset, error.message.as_str()),
            (2, "unterminated string meets end of file")
        );
        assert!(tokenize(r##""#{a""##, 0).is_err());
    }
}
