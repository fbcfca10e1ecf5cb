//! ERB as Kamal runs it on `config/deploy*.yml`: `ERB.new(text, trim_mode: "-").result`,
//! with a small evaluator for the Ruby real configs use (ENV lookups, string methods,
//! backticks, `File.read`, `Dotenv.load`, conditionals and loops across tags).
//!
//! The pipeline: [`template`] splits tags and applies trimming, [`lexer`] and [`parser`]
//! turn the tags' Ruby (spliced between text statements, as ERB compiles it) into an
//! [`ast`], and [`evaluator`] walks it over [`value::Value`]s, calling [`methods`] and
//! [`builtins`]. Every side effect goes through the [`Environment`]. Ruby outside the
//! subset is an [`ErbErrorKind::Unsupported`] error, never silent output.

mod ast;
mod builtins;
mod error;
mod evaluator;
mod lexer;
mod methods;
mod parser;
mod template;
mod value;

use std::path::Path;

pub use error::{ErbError, ErbErrorKind, RubyException};

use crate::environment::Environment;
use template::{LineIndex, Segment};

/// Renders `template` (read from `origin`, which errors name) like Ruby's ERB with
/// `trim_mode: "-"`. `Dotenv.load` in the template changes `environment` for later stages.
pub fn render(template: &str, origin: &Path, environment: &mut dyn Environment) -> Result<String, ErbError> {
    let syntax_error = |offset: usize, message: String| {
        // Offsets from a tag holding `%%>` may drift; never slice inside a character.
        let offset = (0..=offset.min(template.len()))
            .rev()
            .find(|offset| template.is_char_boundary(*offset))
            .unwrap_or(0);
        let lines = LineIndex::new(template);
        let line_end = template[offset..]
            .find('\n')
            .map_or(template.len(), |end| offset + end);
        ErbError {
            file: origin.to_path_buf(),
            line: lines.line_of(offset),
            expression: template[offset..line_end].trim().to_string(),
            kind: ErbErrorKind::Syntax { message },
        }
    };
    let segments = template::scan(template).map_err(|unterminated| {
        syntax_error(unterminated.offset, "unterminated tag (missing `%>`)".into())
    })?;
    let tags: Vec<(usize, usize)> = segments
        .iter()
        .filter_map(|segment| match segment {
            Segment::Code(tag) | Segment::Output(tag) => Some((tag.offset, tag.end)),
            Segment::Text(_) => None,
        })
        .collect();
    let statements = parser::parse_template(template, &segments).map_err(|error| {
        if error.is_syntax_error {
            syntax_error(error.offset, error.message)
        } else {
            let tag = tags
                .iter()
                .find(|(start, end)| *start <= error.offset && error.offset <= *end);
            let (start, end) = tag.copied().unwrap_or((error.offset, error.offset));
            ErbError {
                file: origin.to_path_buf(),
                line: LineIndex::new(template).line_of(error.offset),
                expression: template[start..end].trim().to_string(),
                kind: ErbErrorKind::Unsupported {
                    detail: error.message,
                },
            }
        }
    })?;
    evaluator::Evaluator::new(template, origin, tags, environment).run(&statements)
}

#[cfg(test)]
mod tests;
