//! A recursive-descent parser for the Ruby subset, over the tokens of a whole template.
//!
//! The template is assembled the way ERB compiles it: text becomes a `Text` statement,
//! `<%= %>` an `Output` statement and `<% %>` code is spliced in as statements, each tag
//! ending a statement. So `<% if x %>...<% end %>` and `<% list.each do |item| %>` blocks
//! span tags naturally.
//!
//! A parse failure at the end of a tag or of the template is a syntax error; any other
//! token we cannot place is reported as unsupported Ruby, since it may well be valid Ruby.

use std::collections::HashSet;

use super::ast::{Block, Call, Interpolated, Node, NodeKind, Rescue, Span};
use super::lexer::{tokenize, LexError, StringPart, Token, TokenKind};
use super::template::Segment;

#[derive(Debug, Clone, PartialEq)]
pub struct ParseError {
    pub offset: usize,
    pub message: String,
    /// Syntax errors are certain; the rest may be Ruby we simply do not parse.
    pub is_syntax_error: bool,
}

impl From<LexError> for ParseError {
    fn from(error: LexError) -> Self {
        ParseError {
            offset: error.offset,
            message: error.message,
            is_syntax_error: true,
        }
    }
}

type Parsed<T> = Result<T, ParseError>;

const KEYWORDS: &[&str] = &[
    "alias", "and", "begin", "break", "case", "class", "def", "defined?", "do", "else", "elsif", "end",
    "ensure", "false", "for", "if", "in", "module", "next", "nil", "not", "or", "redo", "rescue", "retry",
    "return", "self", "super", "then", "true", "undef", "unless", "until", "when", "while", "yield",
];

/// Keywords that end a statement list.
const BODY_TERMINATORS: &[&str] = &["end", "else", "elsif", "rescue", "ensure", "when", "then"];

/// Parses a scanned template into its statements.
pub fn parse_template(source: &str, segments: &[Segment]) -> Parsed<Vec<Node>> {
    let mut tokens = Vec::new();
    let mut last_end = 0;
    for segment in segments {
        let marker = |kind, at| Token {
            kind,
            start: at,
            end: at,
            space_before: true,
        };
        match segment {
            Segment::Text(text) => tokens.push(marker(TokenKind::Text(text.clone()), last_end)),
            Segment::Code(tag) => {
                tokens.extend(tokenize(&tag.code, tag.offset)?);
                last_end = tag.end;
            }
            Segment::Output(tag) => {
                tokens.push(marker(TokenKind::OutputOpen, tag.offset));
                tokens.extend(tokenize(&tag.code, tag.offset)?);
                tokens.push(marker(TokenKind::OutputClose, tag.end));
                last_end = tag.end;
            }
        }
        tokens.push(marker(TokenKind::Newline, last_end));
    }
    tokens.push(Token {
        kind: TokenKind::EndOfInput,
        start: source.len(),
        end: source.len(),
        space_before: true,
    });
    let mut parser = Parser {
        tokens,
        position: 0,
        locals: HashSet::new(),
    };
    let statements = parser.statements()?;
    parser.expect_end_of_input()?;
    Ok(statements)
}

struct Parser {
    tokens: Vec<Token>,
    position: usize,
    /// Names assigned so far: Ruby decides "variable or method call" this way too.
    locals: HashSet<String>,
}

impl Parser {
    fn peek(&self) -> &Token {
        let last = self.tokens.len() - 1;
        &self.tokens[self.position.min(last)]
    }

    fn peek_at(&self, distance: usize) -> &Token {
        let last = self.tokens.len() - 1;
        &self.tokens[(self.position + distance).min(last)]
    }

    fn advance(&mut self) -> Token {
        let token = self.peek().clone();
        if self.position < self.tokens.len() - 1 {
            self.position += 1;
        }
        token
    }

    fn previous_end(&self) -> usize {
        self.position
            .checked_sub(1)
            .map_or(0, |index| self.tokens[index].end)
    }

    fn is_punct(&self, punct: &str) -> bool {
        matches!(&self.peek().kind, TokenKind::Punct(found) if *found == punct)
    }

    fn is_keyword(&self, keyword: &str) -> bool {
        matches!(&self.peek().kind, TokenKind::Identifier(name) if name == keyword)
    }

    fn eat_punct(&mut self, punct: &str) -> bool {
        let found = self.is_punct(punct);
        if found {
            self.advance();
        }
        found
    }

    fn eat_keyword(&mut self, keyword: &str) -> bool {
        let found = self.is_keyword(keyword);
        if found {
            self.advance();
        }
        found
    }

    fn skip_newlines(&mut self) {
        while matches!(self.peek().kind, TokenKind::Newline) {
            self.advance();
        }
    }

    fn skip_separators(&mut self) {
        while matches!(self.peek().kind, TokenKind::Newline | TokenKind::Punct(";")) {
            self.advance();
        }
    }

    /// An error at the current token: a syntax error at the end of a tag or the template,
    /// otherwise something we do not parse.
    fn unexpected(&self, expecting: &str) -> ParseError {
        let token = self.peek();
        let (found, is_syntax_error) = match &token.kind {
            TokenKind::EndOfInput => ("end of template".to_string(), true),
            TokenKind::OutputClose | TokenKind::Newline | TokenKind::Text(_) => {
                ("end of tag".to_string(), true)
            }
            kind => (describe(kind), false),
        };
        ParseError {
            offset: token.start,
            message: format!("unexpected {found}, expecting {expecting}"),
            is_syntax_error,
        }
    }

    fn unsupported(&self, what: String) -> ParseError {
        ParseError {
            offset: self.peek().start,
            message: what,
            is_syntax_error: false,
        }
    }

    fn expect_punct(&mut self, punct: &str) -> Parsed<()> {
        if self.eat_punct(punct) {
            Ok(())
        } else {
            Err(self.unexpected(&format!("`{punct}`")))
        }
    }

    fn expect_keyword(&mut self, keyword: &str) -> Parsed<()> {
        if self.eat_keyword(keyword) {
            Ok(())
        } else {
            Err(self.unexpected(&format!("`{keyword}`")))
        }
    }

    fn expect_end_of_input(&mut self) -> Parsed<()> {
        if matches!(self.peek().kind, TokenKind::EndOfInput) {
            Ok(())
        } else {
            Err(self.unexpected("end of template"))
        }
    }

    fn at_body_end(&self) -> bool {
        match &self.peek().kind {
            TokenKind::EndOfInput | TokenKind::OutputClose | TokenKind::Punct("}" | ")") => true,
            TokenKind::Identifier(name) => BODY_TERMINATORS.contains(&name.as_str()),
            _ => false,
        }
    }

    /// Statements up to (not including) the `end`, `else`, `}`, `%>`... that closes them.
    fn statements(&mut self) -> Parsed<Vec<Node>> {
        let mut statements = Vec::new();
        loop {
            self.skip_separators();
            if self.at_body_end() {
                return Ok(statements);
            }
            statements.push(self.statement()?);
            if !matches!(self.peek().kind, TokenKind::Newline | TokenKind::Punct(";")) && !self.at_body_end()
            {
                return Err(self.unexpected("end of statement"));
            }
        }
    }

    fn statement(&mut self) -> Parsed<Node> {
        let start = self.peek().start;
        match self.peek().kind.clone() {
            TokenKind::Text(text) => {
                self.advance();
                return Ok(Node {
                    kind: NodeKind::Text(text),
                    span: Span { start, end: start },
                });
            }
            TokenKind::OutputOpen => {
                self.advance();
                let body = self.statements()?;
                if !matches!(self.peek().kind, TokenKind::OutputClose) {
                    return Err(self.unexpected("`%>`"));
                }
                let end = self.advance().start;
                return Ok(Node {
                    kind: NodeKind::Output(body),
                    span: Span { start, end },
                });
            }
            _ => {}
        }
        let mut node = self.not_expression()?;
        loop {
            let kind = if self.eat_keyword("if") {
                let condition = self.not_expression()?;
                NodeKind::If {
                    condition: Box::new(condition),
                    then_body: vec![node],
                    else_body: vec![],
                }
            } else if self.eat_keyword("unless") {
                let condition = self.not_expression()?;
                NodeKind::If {
                    condition: Box::new(condition),
                    then_body: vec![],
                    else_body: vec![node],
                }
            } else if self.eat_keyword("rescue") {
                let fallback = self.not_expression()?;
                NodeKind::RescueModifier {
                    body: Box::new(node),
                    fallback: Box::new(fallback),
                }
            } else if self.is_keyword("while") || self.is_keyword("until") {
                return Err(self.unsupported("`while`/`until` loops".into()));
            } else {
                return Ok(node);
            };
            node = Node {
                kind,
                span: Span {
                    start,
                    end: self.previous_end(),
                },
            };
        }
    }

    /// `not x`, `a and b`, `a or b`: the loosest operators.
    fn not_expression(&mut self) -> Parsed<Node> {
        let start = self.peek().start;
        let mut node = if self.eat_keyword("not") {
            let operand = self.not_expression()?;
            self.node(NodeKind::Not(Box::new(operand)), start)
        } else {
            self.expression()?
        };
        loop {
            if self.eat_keyword("and") {
                self.skip_newlines();
                let right = self.expression()?;
                node = self.node(NodeKind::And(Box::new(node), Box::new(right)), start);
            } else if self.eat_keyword("or") {
                self.skip_newlines();
                let right = self.expression()?;
                node = self.node(NodeKind::Or(Box::new(node), Box::new(right)), start);
            } else {
                return Ok(node);
            }
        }
    }

    fn node(&self, kind: NodeKind, start: usize) -> Node {
        Node {
            kind,
            span: Span {
                start,
                end: self.previous_end(),
            },
        }
    }

    /// An expression, assignments included.
    fn expression(&mut self) -> Parsed<Node> {
        let start = self.peek().start;
        let target = self.ternary()?;
        let operator = match &self.peek().kind {
            TokenKind::Punct("=") => "=",
            TokenKind::Punct("||=") => "||",
            TokenKind::Punct("&&=") => "&&",
            TokenKind::Punct("+=") => "+",
            TokenKind::Punct("-=") => "-",
            TokenKind::Punct("*=") => "*",
            TokenKind::Punct("/=") => "/",
            _ => return Ok(target),
        };
        let target = match target.kind {
            NodeKind::LocalVariable(_) => target,
            // An unknown bare name followed by `=` is a new local variable.
            NodeKind::Call(call)
                if call.receiver.is_none() && call.arguments.is_empty() && call.block.is_none() =>
            {
                self.locals.insert(call.method.clone());
                Node {
                    kind: NodeKind::LocalVariable(call.method),
                    span: target.span,
                }
            }
            NodeKind::Call(call) if call.method == "[]" => Node {
                kind: NodeKind::Call(call),
                span: target.span,
            },
            _ => return Err(self.unsupported("assignment to this target".into())),
        };
        self.advance();
        self.skip_newlines();
        let value = self.expression()?;
        let value = if self.eat_keyword("rescue") {
            let fallback = self.expression()?;
            self.node(
                NodeKind::RescueModifier {
                    body: Box::new(value),
                    fallback: Box::new(fallback),
                },
                start,
            )
        } else {
            value
        };
        let kind = if operator == "=" {
            NodeKind::Assign {
                target: Box::new(target),
                value: Box::new(value),
            }
        } else {
            NodeKind::OperatorAssign {
                target: Box::new(target),
                operator,
                value: Box::new(value),
            }
        };
        Ok(self.node(kind, start))
    }

    fn ternary(&mut self) -> Parsed<Node> {
        let start = self.peek().start;
        let condition = self.range()?;
        if !self.is_punct("?") {
            return Ok(condition);
        }
        self.advance();
        self.skip_newlines();
        let then_value = self.ternary()?;
        self.skip_newlines();
        // `a ? b :c` lexes `:c` as a symbol; `a ? x: c` lexes `x:` as a label.
        self.expect_punct(":")?;
        self.skip_newlines();
        let else_value = self.ternary()?;
        Ok(self.node(
            NodeKind::If {
                condition: Box::new(condition),
                then_body: vec![then_value],
                else_body: vec![else_value],
            },
            start,
        ))
    }

    fn range(&mut self) -> Parsed<Node> {
        let start = self.peek().start;
        let left = self.or_expression()?;
        let exclusive = match &self.peek().kind {
            TokenKind::Punct("..") => false,
            TokenKind::Punct("...") => true,
            _ => return Ok(left),
        };
        self.advance();
        let end = if self.starts_operand() {
            Some(Box::new(self.or_expression()?))
        } else {
            None
        };
        Ok(self.node(
            NodeKind::Range {
                start: Some(Box::new(left)),
                end,
                exclusive,
            },
            start,
        ))
    }

    fn or_expression(&mut self) -> Parsed<Node> {
        let start = self.peek().start;
        let mut node = self.and_expression()?;
        while self.eat_punct("||") {
            self.skip_newlines();
            let right = self.and_expression()?;
            node = self.node(NodeKind::Or(Box::new(node), Box::new(right)), start);
        }
        Ok(node)
    }

    fn and_expression(&mut self) -> Parsed<Node> {
        let start = self.peek().start;
        let mut node = self.equality()?;
        while self.eat_punct("&&") {
            self.skip_newlines();
            let right = self.equality()?;
            node = self.node(NodeKind::And(Box::new(node), Box::new(right)), start);
        }
        Ok(node)
    }

    fn equality(&mut self) -> Parsed<Node> {
        let start = self.peek().start;
        let left = self.comparison()?;
        let operator = match &self.peek().kind {
            TokenKind::Punct(operator @ ("==" | "!=" | "===" | "<=>" | "=~" | "!~")) => *operator,
            _ => return Ok(left),
        };
        self.advance();
        self.skip_newlines();
        let right = self.comparison()?;
        Ok(match operator {
            "!=" => {
                let equal = self.binary(left, "==", right, start);
                self.node(NodeKind::Not(Box::new(equal)), start)
            }
            operator => self.binary(left, operator, right, start),
        })
    }

    fn binary(&self, left: Node, operator: &str, right: Node, start: usize) -> Node {
        let call = Call {
            receiver: Some(left),
            method: operator.to_string(),
            arguments: vec![right],
            block: None,
            safe_navigation: false,
        };
        self.node(NodeKind::Call(Box::new(call)), start)
    }

    fn binary_level(&mut self, operators: &[&str], operand: fn(&mut Parser) -> Parsed<Node>) -> Parsed<Node> {
        let start = self.peek().start;
        let mut node = operand(self)?;
        loop {
            let operator = match &self.peek().kind {
                TokenKind::Punct(found) if operators.contains(found) => *found,
                _ => return Ok(node),
            };
            self.advance();
            self.skip_newlines();
            let right = operand(self)?;
            node = self.binary(node, operator, right, start);
        }
    }

    fn comparison(&mut self) -> Parsed<Node> {
        self.binary_level(&["<", ">", "<=", ">="], Parser::additive)
    }

    fn additive(&mut self) -> Parsed<Node> {
        self.binary_level(&["+", "-"], Parser::multiplicative)
    }

    fn multiplicative(&mut self) -> Parsed<Node> {
        self.binary_level(&["*", "/", "%"], Parser::negation)
    }

    fn negation(&mut self) -> Parsed<Node> {
        let start = self.peek().start;
        if !self.is_punct("-") {
            return self.power();
        }
        self.advance();
        let operand = self.negation()?;
        Ok(match operand.kind {
            NodeKind::Integer(value) => self.node(NodeKind::Integer(-value), start),
            NodeKind::Float(value) => self.node(NodeKind::Float(-value), start),
            _ => {
                let call = Call {
                    receiver: Some(operand),
                    method: "-@".into(),
                    arguments: vec![],
                    block: None,
                    safe_navigation: false,
                };
                self.node(NodeKind::Call(Box::new(call)), start)
            }
        })
    }

    fn power(&mut self) -> Parsed<Node> {
        let start = self.peek().start;
        let base = self.unary()?;
        if !self.eat_punct("**") {
            return Ok(base);
        }
        let exponent = self.negation()?;
        Ok(self.binary(base, "**", exponent, start))
    }

    fn unary(&mut self) -> Parsed<Node> {
        let start = self.peek().start;
        if self.eat_punct("!") {
            let operand = self.unary()?;
            return Ok(self.node(NodeKind::Not(Box::new(operand)), start));
        }
        let primary = self.primary()?;
        self.postfix(primary, start)
    }

    /// Method calls, indexing, `::` and blocks after a primary expression.
    fn postfix(&mut self, mut node: Node, start: usize) -> Parsed<Node> {
        loop {
            if self.is_punct(".") || self.is_punct("&.") {
                let safe_navigation = self.advance().kind == TokenKind::Punct("&.");
                self.skip_newlines();
                let method = match self.advance().kind {
                    TokenKind::Identifier(name) | TokenKind::Constant(name) => name,
                    TokenKind::Label(name) => {
                        // `a.b ? x: y` is rare; `a.b:` is not Ruby we handle.
                        return Err(self.unsupported(format!("`{name}:` after a method call")));
                    }
                    TokenKind::Punct("(") => "call".into(),
                    _ => return Err(self.unexpected("a method name")),
                };
                node = self.call(Some(node), method, safe_navigation, start)?;
            } else if self.is_punct("::") {
                self.advance();
                match self.advance().kind {
                    TokenKind::Constant(name) if !self.is_punct("(") => {
                        node = self.node(
                            NodeKind::Constant {
                                scope: Some(Box::new(node)),
                                name,
                            },
                            start,
                        );
                    }
                    TokenKind::Constant(name) | TokenKind::Identifier(name) => {
                        node = self.call(Some(node), name, false, start)?;
                    }
                    _ => return Err(self.unexpected("a constant name")),
                }
            } else if self.is_punct("[") && !self.peek().space_before {
                self.advance();
                let arguments = self.arguments("]")?;
                let call = Call {
                    receiver: Some(node),
                    method: "[]".into(),
                    arguments,
                    block: None,
                    safe_navigation: false,
                };
                node = self.node(NodeKind::Call(Box::new(call)), start);
            } else {
                return Ok(node);
            }
        }
    }

    /// A method call's arguments (in parentheses or bare) and block.
    fn call(
        &mut self,
        receiver: Option<Node>,
        method: String,
        safe_navigation: bool,
        start: usize,
    ) -> Parsed<Node> {
        let mut arguments = Vec::new();
        let mut block = None;
        if self.is_punct("(") && (!self.peek().space_before || receiver.is_none()) {
            self.advance();
            arguments = self.arguments(")")?;
            if let Some(Node {
                kind: NodeKind::Call(block_pass),
                ..
            }) = arguments.last()
            {
                if block_pass.method == "&block" {
                    if let Some(Node {
                        kind: NodeKind::Call(block_pass),
                        ..
                    }) = arguments.pop()
                    {
                        block = block_pass.block;
                    }
                }
            }
        } else if self.starts_command_argument() {
            arguments = self.command_arguments()?;
        }
        if block.is_none() {
            if self.is_punct("{") {
                self.advance();
                block = Some(self.block_body("}")?);
            } else if self.is_keyword("do") {
                self.advance();
                block = Some(self.block_body("end")?);
            }
        }
        let call = Call {
            receiver,
            method,
            arguments,
            block,
            safe_navigation,
        };
        Ok(self.node(NodeKind::Call(Box::new(call)), start))
    }

    /// Whether the next token, on the same line and after a space, begins a parenthesis-free
    /// argument list (`require "dotenv"`, `raise "Missing #{key}"`).
    fn starts_command_argument(&self) -> bool {
        let token = self.peek();
        if !token.space_before {
            return false;
        }
        match &token.kind {
            TokenKind::String(_)
            | TokenKind::Command(_)
            | TokenKind::Words(_)
            | TokenKind::Integer(_)
            | TokenKind::Float(_)
            | TokenKind::Symbol(_)
            | TokenKind::Constant(_)
            | TokenKind::Label(_) => true,
            TokenKind::Identifier(name) => {
                !KEYWORDS.contains(&name.as_str())
                    || matches!(name.as_str(), "nil" | "true" | "false" | "self")
            }
            TokenKind::Punct("[") => true,
            TokenKind::Punct("-" | "!" | "::") => {
                let next = self.peek_at(1);
                !next.space_before && !matches!(next.kind, TokenKind::Newline)
            }
            _ => false,
        }
    }

    fn starts_operand(&self) -> bool {
        match &self.peek().kind {
            TokenKind::Identifier(name) => {
                !BODY_TERMINATORS.contains(&name.as_str())
                    && !["do", "and", "or", "if", "unless"].contains(&name.as_str())
            }
            TokenKind::Punct(punct) => matches!(*punct, "(" | "[" | "-" | "!" | "{" | "::"),
            TokenKind::Newline | TokenKind::OutputClose | TokenKind::EndOfInput | TokenKind::Text(_) => false,
            _ => true,
        }
    }

    fn command_arguments(&mut self) -> Parsed<Vec<Node>> {
        let mut arguments = Vec::new();
        let mut pairs = Vec::new();
        loop {
            self.argument(&mut arguments, &mut pairs)?;
            if !self.eat_punct(",") {
                break;
            }
            self.skip_newlines();
        }
        if !pairs.is_empty() {
            let start = pairs
                .first()
                .map_or(self.peek().start, |(key, _): &(Node, Node)| key.span.start);
            arguments.push(self.node(NodeKind::Hash(pairs), start));
        }
        Ok(arguments)
    }

    /// Arguments up to `closing`: expressions, then `key: value` / `key => value` pairs that
    /// become one trailing Hash, as Ruby passes keyword arguments, and `&:name` block passes.
    fn arguments(&mut self, closing: &str) -> Parsed<Vec<Node>> {
        let mut arguments = Vec::new();
        let mut pairs = Vec::new();
        loop {
            self.skip_newlines();
            if self.eat_punct(closing) {
                break;
            }
            self.argument(&mut arguments, &mut pairs)?;
            self.skip_newlines();
            if !self.eat_punct(",") {
                self.skip_newlines();
                self.expect_punct(closing)?;
                break;
            }
        }
        if !pairs.is_empty() {
            let start = pairs
                .first()
                .map_or(self.peek().start, |(key, _): &(Node, Node)| key.span.start);
            let hash = Node {
                kind: NodeKind::Hash(pairs),
                span: Span {
                    start,
                    end: self.previous_end(),
                },
            };
            // Keep a block pass last, where the call looks for it.
            let block_pass = match arguments.last() {
                Some(Node {
                    kind: NodeKind::Call(call),
                    ..
                }) if call.method == "&block" => arguments.pop(),
                _ => None,
            };
            arguments.push(hash);
            arguments.extend(block_pass);
        }
        Ok(arguments)
    }

    fn argument(&mut self, arguments: &mut Vec<Node>, pairs: &mut Vec<(Node, Node)>) -> Parsed<()> {
        let start = self.peek().start;
        if let TokenKind::Label(name) = self.peek().kind.clone() {
            self.advance();
            let key = self.node(NodeKind::Symbol(name), start);
            self.skip_newlines();
            let value = self.expression()?;
            pairs.push((key, value));
            return Ok(());
        }
        if self.is_punct("&") {
            self.advance();
            let TokenKind::Symbol(method) = self.advance().kind else {
                return Err(self.unsupported("a block argument other than `&:method`".into()));
            };
            arguments.push(self.block_pass(method, start));
            return Ok(());
        }
        if self.is_punct("*") || self.is_punct("**") {
            return Err(self.unsupported("splat arguments".into()));
        }
        let value = self.expression()?;
        if self.eat_punct("=>") {
            self.skip_newlines();
            let mapped = self.expression()?;
            pairs.push((value, mapped));
        } else {
            arguments.push(value);
        }
        Ok(())
    }

    /// `&:strip` is `{ |item| item.strip }`; carried as a marker call until the call takes it.
    fn block_pass(&self, method: String, start: usize) -> Node {
        let span = Span {
            start,
            end: self.previous_end(),
        };
        let item = Node {
            kind: NodeKind::LocalVariable("item".into()),
            span,
        };
        let body_call = Call {
            receiver: Some(item),
            method,
            arguments: vec![],
            block: None,
            safe_navigation: false,
        };
        let block = Block {
            parameters: vec!["item".into()],
            body: vec![Node {
                kind: NodeKind::Call(Box::new(body_call)),
                span,
            }],
        };
        let marker = Call {
            receiver: None,
            method: "&block".into(),
            arguments: vec![],
            block: Some(block),
            safe_navigation: false,
        };
        Node {
            kind: NodeKind::Call(Box::new(marker)),
            span,
        }
    }

    /// `|a, b| statements` up to `}` or `end`.
    fn block_body(&mut self, closing: &str) -> Parsed<Block> {
        self.skip_newlines();
        let mut parameters = Vec::new();
        if self.eat_punct("||") {
        } else if self.eat_punct("|") {
            loop {
                match self.advance().kind {
                    TokenKind::Identifier(name) => {
                        self.locals.insert(name.clone());
                        parameters.push(name);
                    }
                    _ => return Err(self.unsupported("block parameters other than plain names".into())),
                }
                if self.eat_punct("|") {
                    break;
                }
                self.expect_punct(",")?;
            }
        }
        let body = self.statements()?;
        if closing == "}" {
            self.expect_punct("}")?;
        } else {
            self.expect_keyword("end")?;
        }
        Ok(Block { parameters, body })
    }

    fn primary(&mut self) -> Parsed<Node> {
        if matches!(
            self.peek().kind,
            TokenKind::EndOfInput | TokenKind::OutputClose | TokenKind::Newline | TokenKind::Text(_)
        ) {
            return Err(self.unexpected("an expression"));
        }
        let token = self.advance();
        let start = token.start;
        let kind = match token.kind {
            TokenKind::Integer(value) => NodeKind::Integer(value),
            TokenKind::Float(value) => NodeKind::Float(value),
            TokenKind::String(parts) => {
                let mut parts = self.interpolation(parts)?;
                // Adjacent literals concatenate: "a" "b".
                while let TokenKind::String(more) = self.peek().kind.clone() {
                    self.advance();
                    parts.extend(self.interpolation(more)?);
                }
                NodeKind::String(parts)
            }
            TokenKind::Command(parts) => NodeKind::Command(self.interpolation(parts)?),
            TokenKind::Words(words) => {
                let span = Span {
                    start,
                    end: token.end,
                };
                let items = words
                    .into_iter()
                    .map(|word| Node {
                        kind: NodeKind::String(vec![Interpolated::Literal(word)]),
                        span,
                    })
                    .collect();
                NodeKind::Array(items)
            }
            TokenKind::Symbol(name) => NodeKind::Symbol(name),
            TokenKind::Constant(name) => {
                if self.is_punct("(") && !self.peek().space_before {
                    return self.call(None, name, false, start);
                }
                NodeKind::Constant { scope: None, name }
            }
            TokenKind::Punct("::") => match self.advance().kind {
                TokenKind::Constant(name) => NodeKind::Constant { scope: None, name },
                _ => return Err(self.unexpected("a constant name")),
            },
            TokenKind::Punct("(") => {
                let body = self.statements()?;
                self.expect_punct(")")?;
                NodeKind::Sequence(body)
            }
            TokenKind::Punct("[") => NodeKind::Array(self.arguments("]")?),
            TokenKind::Punct("{") => NodeKind::Hash(self.hash_pairs()?),
            TokenKind::Punct("->") => return Err(self.unsupported("lambdas".into())),
            TokenKind::Identifier(name) => return self.identifier(name, start),
            TokenKind::Label(name) => {
                return Err(ParseError {
                    offset: start,
                    message: format!("unexpected label `{name}:`"),
                    is_syntax_error: false,
                })
            }
            _ => {
                self.position -= 1;
                return Err(self.unexpected("an expression"));
            }
        };
        Ok(self.node(kind, start))
    }

    fn identifier(&mut self, name: String, start: usize) -> Parsed<Node> {
        let kind = match name.as_str() {
            "nil" => NodeKind::Nil,
            "true" => NodeKind::True,
            "false" => NodeKind::False,
            "self" => NodeKind::SelfObject,
            "if" | "unless" => return self.if_expression(name == "unless", start),
            "case" => return self.case_expression(start),
            "begin" => return self.begin_expression(start),
            "next" | "break" => {
                let value = if self.starts_operand() && !self.peek_is_modifier() {
                    Some(Box::new(self.expression()?))
                } else {
                    None
                };
                if name == "next" {
                    NodeKind::Next(value)
                } else {
                    NodeKind::Break(value)
                }
            }
            "defined?" | "def" | "class" | "module" | "while" | "until" | "for" | "yield" | "return"
            | "super" | "alias" | "undef" | "redo" | "retry" => {
                self.position -= 1;
                return Err(self.unsupported(format!("`{name}`")));
            }
            _ if self.locals.contains(&name) && (!self.is_punct("(") || self.peek().space_before) => {
                NodeKind::LocalVariable(name)
            }
            _ if KEYWORDS.contains(&name.as_str()) => {
                self.position -= 1;
                return Err(self.unexpected("an expression"));
            }
            _ => return self.call(None, name, false, start),
        };
        Ok(self.node(kind, start))
    }

    fn peek_is_modifier(&self) -> bool {
        ["if", "unless", "rescue", "while", "until"]
            .iter()
            .any(|keyword| self.is_keyword(keyword))
    }

    fn hash_pairs(&mut self) -> Parsed<Vec<(Node, Node)>> {
        let mut pairs = Vec::new();
        loop {
            self.skip_newlines();
            if self.eat_punct("}") {
                return Ok(pairs);
            }
            let start = self.peek().start;
            if let TokenKind::Label(name) = self.peek().kind.clone() {
                self.advance();
                let key = self.node(NodeKind::Symbol(name), start);
                self.skip_newlines();
                pairs.push((key, self.expression()?));
            } else {
                let key = self.expression()?;
                self.skip_newlines();
                self.expect_punct("=>")?;
                self.skip_newlines();
                pairs.push((key, self.expression()?));
            }
            self.skip_newlines();
            if !self.eat_punct(",") {
                self.skip_newlines();
                self.expect_punct("}")?;
                return Ok(pairs);
            }
        }
    }

    /// After `if cond` / `when x`: a newline, `;` or `then`.
    fn clause_separator(&mut self) -> Parsed<()> {
        let separated = matches!(self.peek().kind, TokenKind::Newline | TokenKind::Punct(";"));
        self.skip_separators();
        if self.eat_keyword("then") || separated {
            Ok(())
        } else {
            Err(self.unexpected("`then` or a new line"))
        }
    }

    fn if_expression(&mut self, negated: bool, start: usize) -> Parsed<Node> {
        let condition = self.not_expression()?;
        self.clause_separator()?;
        let then_body = self.statements()?;
        let else_body = if !negated && self.is_keyword("elsif") {
            let elsif_start = self.advance().start;
            vec![self.if_expression(false, elsif_start)?]
        } else if self.eat_keyword("else") {
            let body = self.statements()?;
            self.expect_keyword("end")?;
            body
        } else {
            self.expect_keyword("end")?;
            vec![]
        };
        let (then_body, else_body) = if negated {
            (else_body, then_body)
        } else {
            (then_body, else_body)
        };
        Ok(self.node(
            NodeKind::If {
                condition: Box::new(condition),
                then_body,
                else_body,
            },
            start,
        ))
    }

    fn case_expression(&mut self, start: usize) -> Parsed<Node> {
        let subject = if matches!(self.peek().kind, TokenKind::Newline) {
            None
        } else {
            Some(Box::new(self.expression()?))
        };
        self.skip_separators();
        let mut branches = Vec::new();
        while self.eat_keyword("when") {
            let mut patterns = vec![self.expression()?];
            while self.eat_punct(",") {
                self.skip_newlines();
                patterns.push(self.expression()?);
            }
            self.clause_separator()?;
            branches.push((patterns, self.statements()?));
        }
        let else_body = if self.eat_keyword("else") {
            self.statements()?
        } else {
            vec![]
        };
        self.expect_keyword("end")?;
        Ok(self.node(
            NodeKind::Case {
                subject,
                branches,
                else_body,
            },
            start,
        ))
    }

    fn begin_expression(&mut self, start: usize) -> Parsed<Node> {
        let body = self.statements()?;
        let mut rescues = Vec::new();
        while self.eat_keyword("rescue") {
            let mut classes = Vec::new();
            while matches!(self.peek().kind, TokenKind::Constant(_) | TokenKind::Punct("::")) {
                let class_start = self.peek().start;
                let primary = self.primary()?;
                classes.push(self.postfix(primary, class_start)?);
                if !self.eat_punct(",") {
                    break;
                }
                self.skip_newlines();
            }
            let variable = if self.eat_punct("=>") {
                match self.advance().kind {
                    TokenKind::Identifier(name) => {
                        self.locals.insert(name.clone());
                        Some(name)
                    }
                    _ => return Err(self.unexpected("a variable name")),
                }
            } else {
                None
            };
            if !self.eat_keyword("then") {
                self.skip_separators();
            }
            rescues.push(Rescue {
                classes,
                variable,
                body: self.statements()?,
            });
        }
        let else_body = if self.eat_keyword("else") {
            self.statements()?
        } else {
            vec![]
        };
        let ensure_body = if self.eat_keyword("ensure") {
            self.statements()?
        } else {
            vec![]
        };
        self.expect_keyword("end")?;
        Ok(self.node(
            NodeKind::Begin {
                body,
                rescues,
                else_body,
                ensure_body,
            },
            start,
        ))
    }

    fn interpolation(&mut self, parts: Vec<StringPart>) -> Parsed<Vec<Interpolated>> {
        let mut interpolated = Vec::new();
        for part in parts {
            match part {
                StringPart::Literal(text) => interpolated.push(Interpolated::Literal(text)),
                StringPart::Code(mut tokens) => {
                    let end = tokens.last().map_or(self.peek().start, |token| token.end);
                    tokens.push(Token {
                        kind: TokenKind::EndOfInput,
                        start: end,
                        end,
                        space_before: true,
                    });
                    let mut inner = Parser {
                        tokens,
                        position: 0,
                        locals: std::mem::take(&mut self.locals),
                    };
                    let statements = inner.statements();
                    let finished =
                        statements.and_then(|statements| inner.expect_end_of_input().map(|()| statements));
                    self.locals = inner.locals;
                    interpolated.push(Interpolated::Code(finished?));
                }
            }
        }
        Ok(interpolated)
    }
}

fn describe(kind: &TokenKind) -> String {
    match kind {
        TokenKind::Integer(value) => format!("`{value}`"),
        TokenKind::Float(value) => format!("`{value}`"),
        TokenKind::String(_) => "a string".into(),
        TokenKind::Command(_) => "a command".into(),
        TokenKind::Words(_) => "a word list".into(),
        TokenKind::Symbol(name) => format!("`:{name}`"),
        TokenKind::Identifier(name) | TokenKind::Constant(name) => format!("`{name}`"),
        TokenKind::Label(name) => format!("`{name}:`"),
        TokenKind::Punct(punct) => format!("`{punct}`"),
        TokenKind::Newline => "end of line".into(),
        TokenKind::Text(_) | TokenKind::OutputClose => "end of tag".into(),
        TokenKind::OutputOpen => "`<%=`".into(),
        TokenKind::EndOfInput => "end of template".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::erb::template::scan;

    fn parse(template: &str) -> Parsed<Vec<Node>> {
        let segments = scan(template).expect("scans");
        parse_template(template, &segments)
    }

    /// A compact rendering of the tree, to keep expectations readable.
    fn shape(nodes: &[Node]) -> String {
        nodes.iter().map(node_shape).collect::<Vec<_>>().join("; ")
    }

    fn node_shape(node: &Node) -> String {
        match &node.kind {
            NodeKind::Nil => "nil".into(),
            NodeKind::True => "true".into(),
            NodeKind::Integer(value) => value.to_string(),
            NodeKind::String(parts) => parts
                .iter()
                .map(|part| match part {
                    Interpolated::Literal(text) => format!("{text:?}"),
                    Interpolated::Code(code) => format!("#{{{}}}", shape(code)),
                })
                .collect::<Vec<_>>()
                .join("+"),
            NodeKind::Command(_) => "`cmd`".into(),
            NodeKind::Symbol(name) => format!(":{name}"),
            NodeKind::Array(items) => format!("[{}]", shape(items)),
            NodeKind::Hash(pairs) => format!(
                "{{{}}}",
                pairs
                    .iter()
                    .map(|(k, v)| format!("{}=>{}", node_shape(k), node_shape(v)))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            NodeKind::LocalVariable(name) => format!("${name}"),
            NodeKind::Constant { scope, name } => match scope {
                Some(scope) => format!("{}::{name}", node_shape(scope)),
                None => name.clone(),
            },
            NodeKind::Call(call) => {
                let receiver = call
                    .receiver
                    .as_ref()
                    .map(|r| format!("{}.", node_shape(r)))
                    .unwrap_or_default();
                let block = call
                    .block
                    .as_ref()
                    .map(|b| format!(" {{|{}| {}}}", b.parameters.join(","), shape(&b.body)))
                    .unwrap_or_default();
                format!("{receiver}{}({}){block}", call.method, shape(&call.arguments))
            }
            NodeKind::Assign { target, value } => format!("{} = {}", node_shape(target), node_shape(value)),
            NodeKind::Or(left, right) => format!("({} || {})", node_shape(left), node_shape(right)),
            NodeKind::And(left, right) => format!("({} && {})", node_shape(left), node_shape(right)),
            NodeKind::Not(operand) => format!("!{}", node_shape(operand)),
            NodeKind::If {
                condition,
                then_body,
                else_body,
            } => {
                format!(
                    "if {} then {} else {} end",
                    node_shape(condition),
                    shape(then_body),
                    shape(else_body)
                )
            }
            NodeKind::Range {
                start,
                end,
                exclusive,
            } => format!(
                "{}{}{}",
                start.as_ref().map(|n| node_shape(n)).unwrap_or_default(),
                if *exclusive { "..." } else { ".." },
                end.as_ref().map(|n| node_shape(n)).unwrap_or_default()
            ),
            NodeKind::Begin { body, rescues, .. } => format!(
                "begin {} rescue({}) end",
                shape(body),
                rescues
                    .iter()
                    .map(|r| shape(&r.classes))
                    .collect::<Vec<_>>()
                    .join("|")
            ),
            NodeKind::Next(_) => "next".into(),
            NodeKind::Sequence(body) => format!("({})", shape(body)),
            NodeKind::Text(text) => format!("text{text:?}"),
            NodeKind::Output(body) => format!("<%= {} %>", shape(body)),
            other => format!("{other:?}"),
        }
    }

    #[test]
    fn output_of_env_lookups_with_fallbacks() {
        let nodes = parse(r#"a: <%= ENV["A"] || ENV.fetch('B', "x") %>"#).expect("parses");
        assert_eq!(
            shape(&nodes),
            r#"text"a: "; <%= (ENV.[]("A") || ENV.fetch("B"; "x")) %>"#
        );
    }

    #[test]
    fn blocks_span_tags() {
        let nodes = parse("<% hosts.each do |host| %>- <%= host %>\n<% end %>").expect("parses");
        assert_eq!(
            shape(&nodes),
            r#"hosts().each() {|host| text"- "; <%= $host %>; text"\n"}"#
        );
    }

    #[test]
    fn commands_without_parentheses_and_modifiers() {
        let nodes =
            parse(r#"<% require "dotenv"; Dotenv.load ".env" %><% raise "no #{key}" unless ENV[key] %>"#)
                .expect("parses");
        assert_eq!(
            shape(&nodes),
            r#"require("dotenv"); Dotenv.load(".env"); if ENV.[](key()) then  else raise("no "+#{key()}) end"#
        );
    }

    #[test]
    fn assignment_makes_a_local_variable() {
        let nodes = parse("<% uri = URI.parse(x) %><%= uri.host %>").expect("parses");
        assert_eq!(shape(&nodes), "$uri = URI.parse(x()); <%= $uri.host() %>");
    }

    #[test]
    fn if_elsif_else_across_tags() {
        let nodes = parse("<% if a %>1<% elsif b %>2<% else %>3<% end %>").expect("parses");
        assert_eq!(
            shape(&nodes),
            r#"if a() then text"1" else if b() then text"2" else text"3" end end"#
        );
    }

    #[test]
    fn ranges_keyword_arguments_and_block_passes() {
        let nodes =
            parse("<%= v[1...-1] %><% Dotenv.load('.env', overwrite: true) %><%= list.map(&:strip) %>")
                .expect("parses");
        assert_eq!(
            shape(&nodes),
            r#"<%= v().[](1...-1) %>; Dotenv.load(".env"; {:overwrite=>true}); <%= list().map() {|item| $item.strip()} %>"#
        );
    }

    #[test]
    fn begin_rescue() {
        let nodes = parse(r#"<% begin; require "dotenv"; rescue LoadError; end %>"#).expect("parses");
        assert_eq!(shape(&nodes), r#"begin require("dotenv") rescue(LoadError) end"#);
    }

    #[test]
    fn multi_line_conditions_continue_after_operators() {
        let nodes = parse("<% if (a) ||\n   (b)\n  x = 1\nend %>").expect("parses");
        assert_eq!(shape(&nodes), "if ((a()) || (b())) then $x = 1 else  end");
    }

    #[test]
    fn unterminated_block_is_a_syntax_error() {
        let error = parse("<% if a %>x").expect_err("no end");
        assert!(error.is_syntax_error, "{error:?}");
        let error = parse(r#"<%= ENV["X" %>"#).expect_err("no ]");
        assert!(error.is_syntax_error, "{error:?}");
    }

    #[test]
    fn unknown_syntax_is_unsupported() {
        let error = parse("<% def x; end %>").expect_err("def");
        assert!(!error.is_syntax_error, "{error:?}");
    }
}
