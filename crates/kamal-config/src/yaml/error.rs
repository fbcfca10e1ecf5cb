//! Errors from reading YAML, worded as Psych words them, so `kamal` prints the same
//! `ERROR (Psych::SyntaxError): (config/deploy.yml): did not find expected key while parsing a
//! block mapping at line 3 column 1` as the Ruby original (with our file name instead of
//! Psych's `<unknown>`).

/// A YAML file that Psych would refuse to load.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum YamlError {
    /// The text is not YAML (`Psych::SyntaxError`). `problem` is libyaml's problem followed by
    /// its context (`did not find expected key while parsing a block mapping`); line and column
    /// are 1-based and point where libyaml's context mark points.
    #[error("({origin}): {problem} at line {line} column {column}")]
    Syntax {
        origin: String,
        problem: String,
        line: usize,
        column: usize,
    },

    /// An alias (`*name`) names no anchor defined before it (`Psych::AnchorNotDefined`).
    #[error("An alias referenced an unknown anchor: {anchor}")]
    AnchorNotDefined {
        origin: String,
        anchor: String,
        line: usize,
        column: usize,
    },
}

impl YamlError {
    /// The Ruby exception class Kamal shows in `ERROR (<class>): ...`.
    pub fn ruby_class(&self) -> &'static str {
        match self {
            YamlError::Syntax { .. } => "Psych::SyntaxError",
            YamlError::AnchorNotDefined { .. } => "Psych::AnchorNotDefined",
        }
    }

    /// 1-based line of the error in the source.
    pub fn line(&self) -> usize {
        match self {
            YamlError::Syntax { line, .. } | YamlError::AnchorNotDefined { line, .. } => *line,
        }
    }

    /// 1-based column of the error in the source.
    pub fn column(&self) -> usize {
        match self {
            YamlError::Syntax { column, .. } | YamlError::AnchorNotDefined { column, .. } => *column,
        }
    }

    /// The file the YAML came from, as given to the loader.
    pub fn origin(&self) -> &str {
        match self {
            YamlError::Syntax { origin, .. } | YamlError::AnchorNotDefined { origin, .. } => origin,
        }
    }
}
