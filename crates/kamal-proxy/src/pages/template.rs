//! The small subset of Go's `html/template` that error pages use.
//!
//! Error pages are written for the Go proxy, where `{{ .Message }}` and `{{ if .Message }}…{{ else }}…{{ end }}`
//! are what Kamal documents. We parse exactly that subset (plus `{{/* comments */}}` and `{{-`/`-}}` trimming)
//! and refuse anything else at deploy time, so an unsupported page fails loudly instead of rendering wrong.
//! `.Message` is always HTML-escaped, as html/template does in text context.

#[derive(Debug, Clone, PartialEq, Eq)]
enum Node {
    Text(String),
    Message,
    IfMessage { then: Vec<Node>, otherwise: Vec<Node> },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    nodes: Vec<Node>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("template: {0}")]
pub struct TemplateError(String);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Action {
    Message,
    If,
    Else,
    End,
}

impl Template {
    pub fn parse(source: &str) -> Result<Self, TemplateError> {
        let tokens = tokenize(source)?;
        let mut position = 0;
        let (nodes, terminator) = parse_nodes(&tokens, &mut position)?;
        if let Some(action) = terminator {
            return Err(TemplateError(format!("unexpected {{{{{action:?}}}}}")));
        }
        Ok(Self { nodes })
    }

    pub fn render(&self, message: Option<&str>) -> String {
        let mut output = String::new();
        render_nodes(&self.nodes, message.unwrap_or_default(), &mut output);
        output
    }
}

enum Token {
    Text(String),
    Action(Action),
}

fn tokenize(source: &str) -> Result<Vec<Token>, TemplateError> {
    let mut tokens = Vec::new();
    let mut rest = source;
    let mut trim_next_text = false;
    while let Some(start) = rest.find("{{") {
        let mut text = &rest[..start];
        if trim_next_text {
            text = text.trim_start();
        }
        let after_open = &rest[start + 2..];
        let trim_before =
            after_open.starts_with("- ") || after_open.starts_with("-\t") || after_open.starts_with("-\n");
        if trim_before {
            text = text.trim_end();
        }
        if !text.is_empty() {
            tokens.push(Token::Text(text.to_string()));
        }
        let end = after_open
            .find("}}")
            .ok_or_else(|| TemplateError("unclosed action".into()))?;
        let mut inner = &after_open[..end];
        if trim_before {
            inner = &inner[1..];
        }
        trim_next_text = inner.ends_with(" -") || inner.ends_with("\t-") || inner.ends_with("\n-");
        if trim_next_text {
            inner = &inner[..inner.len() - 1];
        }
        let inner = inner.trim();
        let action = if inner.starts_with("/*") && inner.ends_with("*/") {
            None
        } else {
            let words: Vec<&str> = inner.split_whitespace().collect();
            Some(match words.as_slice() {
                [".Message"] => Action::Message,
                ["if", ".Message"] => Action::If,
                ["else"] => Action::Else,
                ["end"] => Action::End,
                _ => return Err(TemplateError(format!("unsupported action {{{{{inner}}}}}"))),
            })
        };
        if let Some(action) = action {
            tokens.push(Token::Action(action));
        }
        rest = &after_open[end + 2..];
    }
    let text = if trim_next_text { rest.trim_start() } else { rest };
    if !text.is_empty() {
        tokens.push(Token::Text(text.to_string()));
    }
    Ok(tokens)
}

fn parse_nodes(tokens: &[Token], position: &mut usize) -> Result<(Vec<Node>, Option<Action>), TemplateError> {
    let mut nodes = Vec::new();
    while let Some(token) = tokens.get(*position) {
        *position += 1;
        match token {
            Token::Text(text) => nodes.push(Node::Text(text.clone())),
            Token::Action(Action::Message) => nodes.push(Node::Message),
            Token::Action(Action::If) => {
                let (then, terminator) = parse_nodes(tokens, position)?;
                let otherwise = match terminator {
                    Some(Action::End) => Vec::new(),
                    Some(Action::Else) => match parse_nodes(tokens, position)? {
                        (otherwise, Some(Action::End)) => otherwise,
                        _ => return Err(TemplateError("missing {{end}}".into())),
                    },
                    _ => return Err(TemplateError("missing {{end}}".into())),
                };
                nodes.push(Node::IfMessage { then, otherwise });
            }
            Token::Action(action) => return Ok((nodes, Some(action.clone()))),
        }
    }
    Ok((nodes, None))
}

fn render_nodes(nodes: &[Node], message: &str, output: &mut String) {
    for node in nodes {
        match node {
            Node::Text(text) => output.push_str(text),
            Node::Message => output.push_str(&escape_html(message)),
            Node::IfMessage { then, otherwise } => {
                render_nodes(if message.is_empty() { otherwise } else { then }, message, output)
            }
        }
    }
}

/// The escapes html/template applies to text.
pub fn escape_html(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&#34;"),
            '\'' => escaped.push_str("&#39;"),
            '\0' => escaped.push('\u{FFFD}'),
            other => escaped.push(other),
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_message_escaped() {
        let template = Template::parse("<p>{{ .Message }}</p>").expect("parses");
        assert_eq!(
            template.render(Some("<b>Tom & Jerry</b>")),
            "<p>&lt;b&gt;Tom &amp; Jerry&lt;/b&gt;</p>"
        );
        assert_eq!(template.render(None), "<p></p>");
    }

    #[test]
    fn renders_conditionals() {
        let template =
            Template::parse("{{ if .Message }}<p>{{ .Message }}</p>{{ else }}<p>Default</p>{{ end }}!")
                .expect("parses");
        assert_eq!(template.render(Some("Back soon")), "<p>Back soon</p>!");
        assert_eq!(template.render(None), "<p>Default</p>!");
    }

    #[test]
    fn trims_and_comments() {
        let template = Template::parse("a  {{- /* note */ -}}  b {{- .Message }}").expect("parses");
        assert_eq!(template.render(Some("!")), "ab!");
    }

    #[test]
    fn rejects_what_it_cannot_render() {
        assert!(Template::parse("{{ .Other }}").is_err());
        assert!(Template::parse("{{ if .Message }}open").is_err());
        assert!(Template::parse("{{ .Message ").is_err());
        assert!(Template::parse("{{ end }}").is_err());
    }
}
