//! The syntax tree the parser builds and the evaluator walks: the Ruby subset, plus the two
//! ERB statements (`Text` appends template text, `Output` appends an expression's `to_s`).

/// Byte range in the template a node was parsed from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub kind: NodeKind,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum NodeKind {
    Nil,
    True,
    False,
    SelfObject,
    Integer(i64),
    Float(f64),
    String(Vec<Interpolated>),
    /// A backtick or `%x()` command.
    Command(Vec<Interpolated>),
    Symbol(String),
    Array(Vec<Node>),
    Hash(Vec<(Node, Node)>),
    Range {
        start: Option<Box<Node>>,
        end: Option<Box<Node>>,
        exclusive: bool,
    },
    LocalVariable(String),
    Constant {
        scope: Option<Box<Node>>,
        name: String,
    },
    /// Every method call, operators included (`a + b` calls `+` on `a`), as in Ruby.
    Call(Box<Call>),
    /// `target = value`; the target is a local variable or an index call (`ENV[key] = v`).
    Assign {
        target: Box<Node>,
        value: Box<Node>,
    },
    /// `target ||= value`, `target += value`, ...
    OperatorAssign {
        target: Box<Node>,
        operator: &'static str,
        value: Box<Node>,
    },
    And(Box<Node>, Box<Node>),
    Or(Box<Node>, Box<Node>),
    Not(Box<Node>),
    If {
        condition: Box<Node>,
        then_body: Vec<Node>,
        else_body: Vec<Node>,
    },
    Case {
        subject: Option<Box<Node>>,
        branches: Vec<(Vec<Node>, Vec<Node>)>,
        else_body: Vec<Node>,
    },
    Begin {
        body: Vec<Node>,
        rescues: Vec<Rescue>,
        else_body: Vec<Node>,
        ensure_body: Vec<Node>,
    },
    /// `expression rescue fallback`.
    RescueModifier {
        body: Box<Node>,
        fallback: Box<Node>,
    },
    Next(Option<Box<Node>>),
    Break(Option<Box<Node>>),
    /// `( statements )`.
    Sequence(Vec<Node>),
    /// Template text between tags.
    Text(String),
    /// `<%= statements %>`.
    Output(Vec<Node>),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Interpolated {
    Literal(String),
    Code(Vec<Node>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    pub receiver: Option<Node>,
    pub method: String,
    pub arguments: Vec<Node>,
    pub block: Option<Block>,
    /// `receiver&.method`.
    pub safe_navigation: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Block {
    pub parameters: Vec<String>,
    pub body: Vec<Node>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Rescue {
    /// Exception classes named (empty: `StandardError`).
    pub classes: Vec<Node>,
    pub variable: Option<String>,
    pub body: Vec<Node>,
}
