//! A minimal reader for the dotenv files `Dotenv.load` takes in ERB, following the dotenv
//! gem (3.x): `KEY=value` and `KEY: value` lines, `export `, comments, single quotes (taken
//! literally), double quotes (`\n` escapes), then `$VAR`/`${VAR}` and `$(command)`
//! substitution, variables first.

/// What the parser asks of its caller while substituting.
pub enum Lookup<'a> {
    /// `ENV[name]`.
    Variable(&'a str),
    /// The stdout of a `$(command)`.
    Command(&'a str),
}

/// Parses `text` into ordered `(key, value)` pairs. Unless `overwrite` is set, a key already
/// in the environment keeps (and substitutes as) its environment value, as dotenv does.
pub fn parse(
    text: &str,
    overwrite: bool,
    lookup: &mut dyn FnMut(Lookup) -> Option<String>,
) -> Vec<(String, String)> {
    let mut pairs: Vec<(String, String)> = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let (line, remainder) = next_assignment(rest);
        rest = remainder;
        let Some((key, raw_value)) = line else { continue };
        let value = if let (false, Some(existing)) = (overwrite, lookup(Lookup::Variable(&key))) {
            existing
        } else {
            substitute(raw_value, &pairs, lookup)
        };
        match pairs.iter_mut().find(|(existing, _)| *existing == key) {
            Some((_, slot)) => *slot = value,
            None => pairs.push((key, value)),
        }
    }
    pairs
}

/// A value as written: its quoting decides what happens to it.
enum RawValue {
    Single(String),
    Double(String),
    Bare(String),
}

/// Reads one `KEY=value` line (the value may span lines inside quotes); returns it, if the
/// line is one, and the text after it.
fn next_assignment(text: &str) -> (Option<(String, RawValue)>, &str) {
    let text = text.trim_start();
    let text = text
        .strip_prefix("export")
        .filter(|rest| rest.starts_with([' ', '\t']))
        .map_or(text, str::trim_start);
    let key_length = text
        .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == '.'))
        .unwrap_or(text.len());
    let (key, after_key) = text.split_at(key_length);
    let skip_line = |rest: &'_ str| -> usize { rest.find('\n').map_or(rest.len(), |index| index + 1) };
    if key.is_empty() {
        return (None, &text[skip_line(text)..]);
    }
    let separated = after_key.trim_start_matches([' ', '\t']);
    let after_separator = if let Some(rest) = separated.strip_prefix('=') {
        rest
    } else if let Some(rest) = after_key
        .strip_prefix(':')
        .filter(|rest| rest.starts_with([' ', '\t']))
    {
        rest
    } else {
        return (None, &after_key[skip_line(after_key)..]);
    };
    let value_text = after_separator.trim_start_matches([' ', '\t']);
    for quote in ['\'', '"'] {
        if let Some(quoted) = value_text.strip_prefix(quote) {
            if let Some(end) = closing_quote(quoted, quote) {
                let content = quoted[..end].to_string();
                let after = &quoted[end + 1..];
                let value = if quote == '\'' {
                    RawValue::Single(content)
                } else {
                    RawValue::Double(content)
                };
                return (Some((key.to_string(), value)), &after[skip_line(after)..]);
            }
        }
    }
    let end = value_text.find(['#', '\r', '\n']).unwrap_or(value_text.len());
    let value = value_text[..end].trim().to_string();
    let after = &value_text[end..];
    (
        Some((key.to_string(), RawValue::Bare(value))),
        &after[skip_line(after)..],
    )
}

fn closing_quote(text: &str, quote: char) -> Option<usize> {
    let mut escaped = false;
    for (index, character) in text.char_indices() {
        match character {
            '\\' if !escaped => escaped = true,
            character if character == quote && !escaped => return Some(index),
            _ => escaped = false,
        }
    }
    None
}

fn substitute(
    raw: RawValue,
    pairs: &[(String, String)],
    lookup: &mut dyn FnMut(Lookup) -> Option<String>,
) -> String {
    let value = match raw {
        RawValue::Single(value) => return value,
        RawValue::Double(value) => value.replace("\\n", "\n").replace("\\r", "\r"),
        RawValue::Bare(value) => value,
    };
    let value = unescape(&value);
    let value = substitute_variables(&value, pairs, lookup);
    substitute_commands(&value, lookup)
}

/// `\x` becomes `x`, except `\$`, which substitution handles.
fn unescape(value: &str) -> String {
    let mut result = String::with_capacity(value.len());
    let mut characters = value.chars().peekable();
    while let Some(character) = characters.next() {
        match (character, characters.peek()) {
            ('\\', Some(&next)) if next != '$' => {
                result.push(next);
                characters.next();
            }
            (character, _) => result.push(character),
        }
    }
    result
}

fn substitute_variables(
    value: &str,
    pairs: &[(String, String)],
    lookup: &mut dyn FnMut(Lookup) -> Option<String>,
) -> String {
    let mut result = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(dollar) = rest.find('$') {
        let escaped = rest[..dollar].ends_with('\\');
        let before = if escaped {
            &rest[..dollar - 1]
        } else {
            &rest[..dollar]
        };
        result.push_str(before);
        let after = &rest[dollar + 1..];
        if after.starts_with('(') {
            // A command, for the next pass (escape included).
            result.push_str(&rest[before.len()..dollar + 1]);
            rest = after;
            continue;
        }
        let braced = after.starts_with('{');
        let name_start = usize::from(braced);
        let name_length = after[name_start..]
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(after.len() - name_start);
        let mut consumed = name_start + name_length;
        if after[consumed..].starts_with('}') {
            consumed += 1;
        }
        let name = &after[name_start..name_start + name_length];
        if escaped || name.is_empty() {
            result.push('$');
            result.push_str(&after[..consumed]);
        } else {
            let found = pairs
                .iter()
                .find(|(key, _)| key == name)
                .map(|(_, value)| value.clone());
            result.push_str(
                &found
                    .or_else(|| lookup(Lookup::Variable(name)))
                    .unwrap_or_default(),
            );
        }
        rest = &after[consumed..];
    }
    result.push_str(rest);
    result
}

fn substitute_commands(value: &str, lookup: &mut dyn FnMut(Lookup) -> Option<String>) -> String {
    let mut result = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(start) = rest.find("$(") {
        let Some(length) = balanced_parentheses(&rest[start + 1..]) else {
            break;
        };
        let escaped = rest[..start].ends_with('\\');
        let command = &rest[start + 2..start + length];
        if escaped {
            result.push_str(&rest[..start - 1]);
            result.push_str(&rest[start..start + 1 + length]);
        } else {
            result.push_str(&rest[..start]);
            let output = lookup(Lookup::Command(command)).unwrap_or_default();
            result.push_str(output.strip_suffix('\n').unwrap_or(&output));
        }
        rest = &rest[start + 1 + length..];
    }
    result.push_str(rest);
    result
}

/// Length of the balanced `( ... )` group at the start of `text`.
fn balanced_parentheses(text: &str) -> Option<usize> {
    let mut depth = 0;
    for (index, character) in text.char_indices() {
        match character {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    return Some(index + 1);
                }
            }
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_with(text: &str, environment: &[(&str, &str)]) -> Vec<(String, String)> {
        parse(text, false, &mut |request| match request {
            Lookup::Variable(name) => environment
                .iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| value.to_string()),
            Lookup::Command(command) => Some(format!("ran {command}\n")),
        })
    }

    fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
        expected
            .iter()
            .map(|(key, value)| (key.to_string(), value.to_string()))
            .collect()
    }

    #[test]
    fn quotes_comments_and_export() {
        let text = "# comment\nA=1\nexport B = 'two # not a comment'\nC=\"line\\nbreak\"  # note\nD: plain value # c\n\nE=\n";
        assert_eq!(
            parse_with(text, &[]),
            pairs(&[
                ("A", "1"),
                ("B", "two # not a comment"),
                ("C", "line\nbreak"),
                ("D", "plain value"),
                ("E", "")
            ])
        );
    }

    #[test]
    fn existing_variables_win_and_substitute() {
        let text = "HOST=file\nURL=http://${HOST}:$PORT/x\nLITERAL='$HOST'\nESCAPED=\\$HOST\n";
        assert_eq!(
            parse_with(text, &[("HOST", "env"), ("PORT", "80")]),
            pairs(&[
                ("HOST", "env"),
                ("URL", "http://env:80/x"),
                ("LITERAL", "$HOST"),
                ("ESCAPED", "$HOST")
            ])
        );
    }

    #[test]
    fn commands_run_after_variables() {
        assert_eq!(
            parse_with("A=$(op read x)\nB=\\$(not run)\n", &[]),
            pairs(&[("A", "ran op read x"), ("B", "$(not run)")])
        );
    }

    #[test]
    fn multi_line_double_quoted_values() {
        assert_eq!(
            parse_with("KEY=\"a\nb\"\nNEXT=1", &[]),
            pairs(&[("KEY", "a\nb"), ("NEXT", "1")])
        );
    }
}
