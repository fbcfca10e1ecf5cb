//! ERB's own syntax: splitting a template into text, `<%= %>` output tags and `<% %>` code
//! tags, with `trim_mode: "-"` applied exactly as Ruby's `ERB::Compiler::TrimScanner` does.
//!
//! The scanner mirrors ERB's regular expression
//! `(.*?)(^[ \t]*<%-|<%-|<%%|%%>|<%=|<%#|<%|-%>\n|-%>|%>|\z)`: at each position the first
//! delimiter that matches wins, and `<%-` swallows the indentation before it only when it
//! starts its line. `-%>` swallows the newline right after it and nothing else.

/// One piece of a template, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Segment {
    /// Literal text, copied to the output.
    Text(String),
    /// `<% code %>`.
    Code(Tag),
    /// `<%= expression %>`.
    Output(Tag),
}

/// The Ruby inside a tag and where it sits in the template.
#[derive(Debug, Clone, PartialEq)]
pub struct Tag {
    pub code: String,
    /// Byte offset of the code's first character in the template.
    pub offset: usize,
    /// Byte offset just past the code in the template.
    pub end: usize,
}

/// A tag that never closes: ERB would quietly compile it, we refuse.
#[derive(Debug, Clone, PartialEq)]
pub struct UnterminatedTag {
    /// Byte offset of the `<%` that opened it.
    pub offset: usize,
}

#[derive(Clone, Copy, PartialEq)]
enum TagKind {
    Code,
    Output,
    Comment,
}

/// Splits `template` into segments. Comments are dropped; adjacent text is merged.
pub fn scan(template: &str) -> Result<Vec<Segment>, UnterminatedTag> {
    let bytes = template.as_bytes();
    let mut segments = Vec::new();
    let mut text = String::new();
    // The open tag, with where its code started, and the code collected so far.
    let mut open: Option<(TagKind, usize, usize)> = None;
    let mut code = String::new();
    let mut chunk_start = 0;
    let mut position = 0;

    while position < bytes.len() {
        let Some((delimiter, length)) = delimiter_at(bytes, position) else {
            position += 1;
            continue;
        };
        // Everything between the last delimiter and this one is plain content.
        let chunk = &template[chunk_start..position];
        match open {
            None => {
                text.push_str(chunk);
                match delimiter {
                    Delimiter::IndentedTrimOpen | Delimiter::TrimOpen | Delimiter::Open => {
                        open = Some((TagKind::Code, position, position + length))
                    }
                    Delimiter::OutputOpen => open = Some((TagKind::Output, position, position + length)),
                    Delimiter::CommentOpen => open = Some((TagKind::Comment, position, position + length)),
                    Delimiter::LiteralOpen => text.push_str("<%"),
                    // Closing delimiters outside a tag are just text.
                    _ => text.push_str(&template[position..position + length]),
                }
                // Comments vanish, so the text around them stays one segment.
                let opened_code = matches!(open, Some((TagKind::Code | TagKind::Output, _, _)));
                if opened_code && !text.is_empty() {
                    segments.push(Segment::Text(std::mem::take(&mut text)));
                }
            }
            Some((kind, _, code_start)) => {
                code.push_str(chunk);
                let closes = match delimiter {
                    Delimiter::Close | Delimiter::TrimClose => true,
                    Delimiter::LiteralClose => {
                        code.push_str("%>");
                        false
                    }
                    // Opening delimiters inside a tag are part of the code.
                    _ => {
                        code.push_str(&template[position..position + length]);
                        false
                    }
                };
                if closes {
                    let tag = Tag {
                        code: std::mem::take(&mut code),
                        offset: code_start,
                        end: position,
                    };
                    match kind {
                        TagKind::Code => segments.push(Segment::Code(tag)),
                        TagKind::Output => segments.push(Segment::Output(tag)),
                        TagKind::Comment => {}
                    }
                    open = None;
                }
            }
        }
        position += length;
        chunk_start = position;
    }

    if let Some((_, tag_offset, _)) = open {
        return Err(UnterminatedTag { offset: tag_offset });
    }
    text.push_str(&template[chunk_start..]);
    if !text.is_empty() {
        segments.push(Segment::Text(text));
    }
    Ok(segments)
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Delimiter {
    /// `^[ \t]*<%-`: the indentation goes too.
    IndentedTrimOpen,
    TrimOpen,
    LiteralOpen,
    LiteralClose,
    OutputOpen,
    CommentOpen,
    Open,
    /// `-%>` with the newline it swallows, if any.
    TrimClose,
    Close,
}

/// The delimiter starting at `position`, in the order ERB's alternation tries them.
fn delimiter_at(bytes: &[u8], position: usize) -> Option<(Delimiter, usize)> {
    let rest = &bytes[position..];
    if position == 0 || bytes[position - 1] == b'\n' {
        let indentation = rest
            .iter()
            .take_while(|byte| **byte == b' ' || **byte == b'\t')
            .count();
        if rest[indentation..].starts_with(b"<%-") {
            return Some((Delimiter::IndentedTrimOpen, indentation + 3));
        }
    }
    let fixed: [(&[u8], Delimiter); 10] = [
        (b"<%-", Delimiter::TrimOpen),
        (b"<%%", Delimiter::LiteralOpen),
        (b"%%>", Delimiter::LiteralClose),
        (b"<%=", Delimiter::OutputOpen),
        (b"<%#", Delimiter::CommentOpen),
        (b"<%", Delimiter::Open),
        (b"-%>\r\n", Delimiter::TrimClose),
        (b"-%>\n", Delimiter::TrimClose),
        (b"-%>", Delimiter::TrimClose),
        (b"%>", Delimiter::Close),
    ];
    fixed
        .iter()
        .find(|(pattern, _)| rest.starts_with(pattern))
        .map(|(pattern, delimiter)| (*delimiter, pattern.len()))
}

/// Byte offsets of line starts, to turn offsets into 1-based line numbers.
#[derive(Debug, Clone)]
pub struct LineIndex {
    starts: Vec<usize>,
}

impl LineIndex {
    pub fn new(text: &str) -> Self {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(index, _)| index + 1));
        LineIndex { starts }
    }

    pub fn line_of(&self, offset: usize) -> usize {
        match self.starts.binary_search(&offset) {
            Ok(index) => index + 1,
            Err(index) => index,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text_and_tags(template: &str) -> Vec<String> {
        scan(template)
            .expect("scans")
            .into_iter()
            .map(|segment| match segment {
                Segment::Text(text) => format!("T{text:?}"),
                Segment::Code(tag) => format!("C{:?}", tag.code),
                Segment::Output(tag) => format!("O{:?}", tag.code),
            })
            .collect()
    }

    #[test]
    fn splits_text_output_and_code() {
        assert_eq!(
            text_and_tags("a <%= x %> b <% y %>\n"),
            vec![r#"T"a ""#, r#"O" x ""#, r#"T" b ""#, r#"C" y ""#, r#"T"\n""#]
        );
    }

    #[test]
    fn dash_open_at_line_start_drops_the_indentation() {
        assert_eq!(
            text_and_tags("a\n  <%- x %>\n"),
            vec![r#"T"a\n""#, r#"C" x ""#, r#"T"\n""#]
        );
        // Not at line start: the text before it stays.
        assert_eq!(text_and_tags("a  <%- x %>"), vec![r#"T"a  ""#, r#"C" x ""#]);
    }

    #[test]
    fn dash_close_swallows_only_a_directly_following_newline() {
        assert_eq!(text_and_tags("<% x -%>\nb"), vec![r#"C" x ""#, r#"T"b""#]);
        assert_eq!(text_and_tags("<% x -%>  \nb"), vec![r#"C" x ""#, r#"T"  \nb""#]);
        assert_eq!(text_and_tags("<% x -%>\r\nb"), vec![r#"C" x ""#, r#"T"b""#]);
    }

    #[test]
    fn percent_literals_and_comments() {
        assert_eq!(text_and_tags("<%% x %%> <%# note %>!"), vec![r#"T"<% x %%> !""#]);
        assert_eq!(text_and_tags("<%= '%%>' %>"), vec![r#"O" '%>' ""#]);
        assert_eq!(text_and_tags("a <%# c -%>\nz"), vec![r#"T"a z""#]);
    }

    #[test]
    fn closing_delimiters_outside_tags_are_text() {
        assert_eq!(text_and_tags("a %> b -%>\nc"), vec![r#"T"a %> b -%>\nc""#]);
    }

    #[test]
    fn an_unclosed_tag_is_an_error() {
        assert_eq!(scan("ab\n<%= x"), Err(UnterminatedTag { offset: 3 }));
    }

    #[test]
    fn line_index_counts_from_one() {
        let index = LineIndex::new("a\nb\nc");
        assert_eq!(
            (
                index.line_of(0),
                index.line_of(2),
                index.line_of(4),
                index.line_of(5)
            ),
            (1, 2, 3, 3)
        );
    }
}
