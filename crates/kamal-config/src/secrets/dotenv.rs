//! The dotenv file format as gem dotenv 3.2 parses it (`Dotenv::Parser`, called by Kamal as
//! `Dotenv.parse(file, overwrite: true)`), quirks included.
//!
//! dotenv scans the whole text with one regular expression (`LINE`) rather than reading
//! line by line. [`scan`] reproduces that expression's backtracking result by hand:
//!
//! ```text
//! (?:^|\A) \s* (export\s+)? ([\w.]+)
//! (?: (?:\s*=\s*?|:\s+?) ( \s*'(?:\\'|[^'])*' | \s*"(?:\\"|[^"])*" | [^\#\n]+ )? )?
//! \s* (?:\#.*)? (?:$|\z)
//! ```
//!
//! Consequences worth knowing: `\s` spans newlines (a quoted value may run over several
//! lines, `KEY\n=value` is one assignment), lines that do not match are skipped silently,
//! `#` ends an unquoted value, and `KEY: value` works like `KEY=value`. Values then go
//! through [`parse_value`]: strip, unquote, `\n` handling in double quotes, backslash
//! unescaping and the substitutions of [`super::substitution`] (not in single quotes).

use indexmap::IndexMap;

use super::error::SecretsError;
use super::ruby;
use super::sensitive::Secret;
use super::substitution::{self, CommandFailure};
use crate::environment::Environment;

/// One assignment found by `LINE`, as byte ranges into the text.
#[derive(Debug, Clone, PartialEq, Eq)]
struct LineMatch {
    start: usize,
    end: usize,
    export: bool,
    key: (usize, usize),
    value: Option<(usize, usize)>,
}

/// Ruby's `\s`.
fn is_space(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// Ruby's `[\w.]` (ASCII only, as in Ruby).
fn is_key_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'_' || byte == b'.'
}

fn skip_spaces(bytes: &[u8], mut position: usize) -> usize {
    while position < bytes.len() && is_space(bytes[position]) {
        position += 1;
    }
    position
}

/// `\s* (?:\#.*)? (?:$|\z)` from `position`: where the match ends, if it can.
fn rest_of_line(bytes: &[u8], position: usize) -> Option<usize> {
    let after_spaces = skip_spaces(bytes, position);
    if after_spaces == bytes.len() {
        return Some(after_spaces);
    }
    if bytes[after_spaces] == b'#' {
        let line_end = bytes[after_spaces..].iter().position(|&byte| byte == b'\n');
        return Some(line_end.map_or(bytes.len(), |offset| after_spaces + offset));
    }
    // Backtracking gives blanks back until `$` holds just before a newline.
    bytes[position..after_spaces]
        .iter()
        .rposition(|&byte| byte == b'\n')
        .map(|offset| position + offset)
}

/// `\s*Q(?:\\Q|[^Q])*Q` at `position`: the possible ends, in the order backtracking tries
/// them (the first unescaped quote, then each escaped quote from the last one back).
fn quoted_value_ends(bytes: &[u8], position: usize, quote: u8) -> Vec<usize> {
    let open = skip_spaces(bytes, position);
    if bytes.get(open) != Some(&quote) {
        return Vec::new();
    }
    let mut escaped_quotes = Vec::new();
    let mut index = open + 1;
    let mut close = None;
    while index < bytes.len() {
        if bytes[index] == b'\\' && bytes.get(index + 1) == Some(&quote) {
            escaped_quotes.push(index + 1);
            index += 2;
        } else if bytes[index] == quote {
            close = Some(index);
            break;
        } else {
            index += 1;
        }
    }
    close
        .into_iter()
        .chain(escaped_quotes.into_iter().rev())
        .map(|quote_at| quote_at + 1)
        .collect()
}

/// Tries `LINE` with the key starting at `key_start`.
fn match_key(bytes: &[u8], start: usize, export: bool, key_start: usize) -> Option<LineMatch> {
    let mut key_end = key_start;
    while key_end < bytes.len() && is_key_byte(bytes[key_end]) {
        key_end += 1;
    }
    if key_end == key_start {
        return None;
    }
    let found = |end: usize, value: Option<(usize, usize)>| LineMatch {
        start,
        end,
        export,
        key: (key_start, key_end),
        value,
    };

    // Separator `\s*=\s*?` or `:\s+?`; the lazy blanks after it are tried shortest first.
    let after_blanks = skip_spaces(bytes, key_end);
    let separator = if bytes.get(after_blanks) == Some(&b'=') {
        Some(after_blanks + 1)
    } else if bytes.get(key_end) == Some(&b':') && bytes.get(key_end + 1).is_some_and(|&byte| is_space(byte))
    {
        Some(key_end + 2)
    } else {
        None
    };
    if let Some(first_value_start) = separator {
        let mut value_start = first_value_start;
        loop {
            for quote in [b'\'', b'"'] {
                for value_end in quoted_value_ends(bytes, value_start, quote) {
                    if let Some(end) = rest_of_line(bytes, value_end) {
                        return Some(found(end, Some((value_start, value_end))));
                    }
                }
            }
            let mut unquoted_end = value_start;
            while unquoted_end < bytes.len() && bytes[unquoted_end] != b'#' && bytes[unquoted_end] != b'\n' {
                unquoted_end += 1;
            }
            if unquoted_end > value_start {
                if let Some(end) = rest_of_line(bytes, unquoted_end) {
                    return Some(found(end, Some((value_start, unquoted_end))));
                }
            }
            if let Some(end) = rest_of_line(bytes, value_start) {
                return Some(found(end, None));
            }
            if value_start < bytes.len() && is_space(bytes[value_start]) {
                value_start += 1;
            } else {
                break;
            }
        }
    }
    rest_of_line(bytes, key_end).map(|end| found(end, None))
}

/// Tries `LINE` at a line start.
fn match_at(bytes: &[u8], start: usize) -> Option<LineMatch> {
    let first = skip_spaces(bytes, start);
    if bytes[first..].starts_with(b"export") && bytes.get(first + 6).is_some_and(|&byte| is_space(byte)) {
        if let Some(found) = match_key(bytes, start, true, skip_spaces(bytes, first + 6)) {
            return Some(found);
        }
    }
    match_key(bytes, start, false, first)
}

/// `string.scan(LINE)`: every match, left to right.
fn scan(text: &str) -> Vec<LineMatch> {
    let bytes = text.as_bytes();
    let mut matches = Vec::new();
    let mut cursor = 0;
    loop {
        let line_start = if cursor == 0 || bytes[cursor - 1] == b'\n' {
            cursor
        } else {
            match bytes[cursor..].iter().position(|&byte| byte == b'\n') {
                Some(offset) => cursor + offset + 1,
                None => break,
            }
        };
        if line_start >= bytes.len() {
            break;
        }
        match match_at(bytes, line_start) {
            Some(found) => {
                cursor = found.end;
                matches.push(found);
            }
            None => cursor = line_start + 1,
        }
    }
    matches
}

/// What one file gave: its values in order, and the `$(...)` commands that exited non-zero
/// (Kamal ignores their status and keeps their stdout; the CLI may warn).
#[derive(Debug, Clone, Default)]
pub struct ParsedFile {
    pub values: IndexMap<String, Secret>,
    pub command_failures: Vec<CommandFailure>,
}

/// `Dotenv::Parser.call(text, overwrite: true)`. `file` is only for error context.
pub fn parse(text: &str, file: &str, environment: &mut dyn Environment) -> Result<ParsedFile, SecretsError> {
    let text = text
        .strip_prefix('\u{feff}')
        .unwrap_or(text)
        .replace("\r\n", "\n")
        .replace('\r', "\n");
    let mut parsed = ParsedFile::default();
    for found in scan(&text) {
        let key = &text[found.key.0..found.key.1];
        let line = text[..found.key.0].matches('\n').count() + 1;
        let in_file = |source: SecretsError| SecretsError::InFile {
            file: file.to_string(),
            line,
            source: Box::new(source),
        };
        match found.value {
            None if found.export => {
                if !parsed.values.contains_key(key) {
                    return Err(in_file(SecretsError::UnsetVariable {
                        line: text[found.start..found.end].to_string(),
                    }));
                }
            }
            value => {
                let raw = value.map_or("", |(start, end)| &text[start..end]);
                let value = parse_value(raw, key, &mut parsed, environment).map_err(in_file)?;
                parsed.values.insert(key.to_string(), Secret::new(value));
            }
        }
    }
    for failure in &mut parsed.command_failures {
        failure.file = file.to_string();
    }
    Ok(parsed)
}

/// `Parser#parse_value`.
fn parse_value(
    raw: &str,
    key: &str,
    parsed: &mut ParsedFile,
    environment: &mut dyn Environment,
) -> Result<String, SecretsError> {
    let stripped = ruby::strip(raw);
    let bytes = stripped.as_bytes();
    let quote = match (bytes.first(), bytes.last()) {
        (Some(&first @ (b'\'' | b'"')), Some(&last)) if bytes.len() >= 2 && first == last => Some(first),
        _ => None,
    };
    let mut value = if quote.is_some() {
        stripped[1..stripped.len() - 1].to_string()
    } else {
        stripped.to_string()
    };
    if quote == Some(b'"') {
        value = expand_newlines(&value, &parsed.values, &*environment);
    }
    if quote != Some(b'\'') {
        value = unescape_characters(&value);
        value = substitution::commands(&value, key, parsed, environment)?;
        value = substitution::variables(&value, &parsed.values, &*environment);
    }
    Ok(value)
}

/// `Parser#expand_newlines`. Outside `DOTENV_LINEBREAK_MODE=legacy` this only protects
/// `\n` and `\r` from [`unescape_characters`], so they stay a literal backslash and letter.
fn expand_newlines(value: &str, values: &IndexMap<String, Secret>, environment: &dyn Environment) -> String {
    let mode = match values.get("DOTENV_LINEBREAK_MODE") {
        Some(mode) => Some(mode.expose().to_string()),
        None => environment.var("DOTENV_LINEBREAK_MODE"),
    };
    if mode.as_deref() == Some("legacy") {
        value.replace("\\n", "\n").replace("\\r", "\r")
    } else {
        value.replace("\\n", "\\\\n").replace("\\r", "\\\\r")
    }
}

/// `Parser#unescape_characters`: `gsub(/\\([^$])/, '\1')`.
fn unescape_characters(value: &str) -> String {
    let mut unescaped = String::with_capacity(value.len());
    let mut characters = value.chars().peekable();
    while let Some(character) = characters.next() {
        if character == '\\' {
            if let Some(&next) = characters.peek() {
                if next != '$' {
                    unescaped.push(next);
                    characters.next();
                    continue;
                }
            }
        }
        unescaped.push(character);
    }
    unescaped
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::environment::MapEnvironment;

    fn parse_text(text: &str, environment: &mut MapEnvironment) -> Vec<(String, String)> {
        parse(text, ".kamal/secrets", environment)
            .expect("parses")
            .values
            .into_iter()
            .map(|(key, value)| (key, value.into_exposed()))
            .collect()
    }

    fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
        expected
            .iter()
            .map(|(key, value)| (key.to_string(), value.to_string()))
            .collect()
    }

    /// Expected values come from dotenv 3.2.0's own parser (and the Kamal 2.11 binary).
    #[test]
    fn assignments_quotes_and_comments() {
        let text = concat!(
            "# comment\n",
            "\n",
            "A=plain value  \n",
            "export B=exported\n",
            "C='single $A \\n'\n",
            "D=\"double $A\"\n",
            "E=trailing # comment\n",
            "F=\"hash # kept\" # comment\n",
            "G=\n",
            "H: yaml style\n",
            "I\n",
            "  J = spaced  \n",
            "this line is ignored\n",
            "K=a#b\n",
        );
        assert_eq!(
            parse_text(text, &mut MapEnvironment::new()),
            pairs(&[
                ("A", "plain value"),
                ("B", "exported"),
                ("C", "single $A \\n"),
                ("D", "double plain value"),
                ("E", "trailing"),
                ("F", "hash # kept"),
                ("G", ""),
                ("H", "yaml style"),
                ("I", ""),
                ("J", "spaced"),
                ("K", "a"),
            ])
        );
    }

    /// dotenv 3.2: `"a\nb"` stays a backslash and `n` unless `DOTENV_LINEBREAK_MODE=legacy`.
    #[test]
    fn escapes_in_double_quotes() {
        let text = "A=\"a\\nb\"\nB=\"a\\\\nb\"\nD=a\\nb\nE=\"x\\\"y\\$z\\\\\\\\w\"\n";
        assert_eq!(
            parse_text(text, &mut MapEnvironment::new()),
            pairs(&[("A", "a\\nb"), ("B", "a\\nb"), ("D", "anb"), ("E", "x\"y$z\\\\w")])
        );
        let legacy = "DOTENV_LINEBREAK_MODE=legacy\nA=\"a\\nb\\r\"\n";
        assert_eq!(
            parse_text(legacy, &mut MapEnvironment::new()),
            pairs(&[("DOTENV_LINEBREAK_MODE", "legacy"), ("A", "a\nb\r")])
        );
    }

    #[test]
    fn multi_line_values() {
        let text = "A=\"line one\nline two\"\nB='x\ny'\nC\n=spanning\n";
        assert_eq!(
            parse_text(text, &mut MapEnvironment::new()),
            pairs(&[("A", "line one\nline two"), ("B", "x\ny"), ("C", "spanning")])
        );
    }

    #[test]
    fn quirks_of_the_line_expression() {
        let text = concat!(
            "A='a' 'b'\n",
            "B=\"unterminated\n",
            "C='it\\'s'\n",
            "D='x\\' # y\n",
            "E=\"q\"junk\n",
            "export=1\n",
            "\u{feff}F=bom\n",
        );
        assert_eq!(
            parse_text(text, &mut MapEnvironment::new()),
            pairs(&[
                ("A", "a' 'b"),
                ("B", "\"unterminated"),
                ("C", "it\\'s"),
                ("D", "x\\"),
                ("E", "\"q\"junk"),
                ("export", "1"),
            ])
        );
        assert_eq!(
            parse_text("\u{feff}F=bom\r\nG=crlf\r\n", &mut MapEnvironment::new()),
            pairs(&[("F", "bom"), ("G", "crlf")])
        );
    }

    /// Values pinned from the Kamal 2.11 binary (`kamal secrets print`); the commands are
    /// answered by the stand-in with what the shell printed there.
    #[test]
    fn command_and_variable_substitution_like_kamal() {
        let text = concat!(
            "A=$(printf \"%sQQ\" \"\\$\")\n",
            "B=x\\$(echo hi)y\n",
            "C=$(echo \"(nested)\")\n",
            "D=$(echo a\\)b)\n",
            "E=\"$(echo one)-$(echo two)\"\n",
            "F=$(false)\n",
            "G=$(printf \"a\\n\\n\")\n",
            "H=${QQ}$QQ\n",
            "I=$(echo $QQ)\n",
            "J=$(echo \\$QQ)\n",
        );
        let mut environment = MapEnvironment::new()
            .with_var("QQ", "fromenv")
            .with_command("printf \"%sQQ\" \"$\"", "$QQ", 0)
            .with_command("echo \"(nested)\"", "(nested)\n", 0)
            .with_command("echo a", "a\n", 0)
            .with_command("echo one", "one\n", 0)
            .with_command("echo two", "two\n", 0)
            .with_command("false", "", 1)
            .with_command("printf \"ann\"", "ann", 0)
            .with_command("echo fromenv", "fromenv\n", 0)
            .with_command("echo $QQ", "fromenv\n", 0);
        let parsed = parse(text, ".kamal/secrets", &mut environment).expect("parses");
        let values: Vec<(String, String)> = parsed
            .values
            .iter()
            .map(|(key, value)| (key.clone(), value.expose().to_string()))
            .collect();
        assert_eq!(
            values,
            pairs(&[
                ("A", "fromenv"),
                ("B", "x$(echo hi)y"),
                ("C", "(nested)"),
                ("D", "ab)"),
                ("E", "one-two"),
                ("F", ""),
                ("G", "ann"),
                ("H", "fromenvfromenv"),
                ("I", "fromenv"),
                ("J", "fromenv"),
            ])
        );
        assert_eq!(
            parsed.command_failures,
            [CommandFailure {
                file: ".kamal/secrets".into(),
                key: "F".into(),
                status: 1
            }]
        );
    }

    /// Values pinned from the Kamal 2.11 binary: `kamal secrets` commands run in process.
    #[test]
    fn inline_kamal_secrets_commands() {
        let text = concat!(
            "SECRETS=$(kamal secrets fetch -a test --account x --from y A B)\n",
            "A=$(kamal secrets extract A $SECRETS)\n",
            "B=$(kamal secrets extract B ${SECRETS})\n",
            "C=$(kamal secrets fetch -a test --account x \"LPARENq wRPAREN\" --from \"a b\")\n",
            "D=$(kamal secrets extract y/A $SECRETS --inline)\n",
            "F=\"$(kamal secrets extract A '{\"y/A\":\"x\\ny\"}')\"\n",
            "G=$(kamal secrets fetch -a test --account=x --from=z Q)\n",
            "H=$(kamal secrets fetch --adapter=test --account x Q --no-inline)\n",
        );
        let parsed = parse(text, ".kamal/secrets", &mut MapEnvironment::new()).expect("parses");
        let values: Vec<(String, String)> = parsed
            .values
            .iter()
            .map(|(key, value)| (key.clone(), value.expose().to_string()))
            .collect();
        assert_eq!(
            values,
            pairs(&[
                ("SECRETS", r#"\{\"y/A\":\"A/y\",\"y/B\":\"B/y\"\}"#),
                ("A", "A/y"),
                ("B", "B/y"),
                ("C", r#"\{\"a\ b/LPARENq\ wRPAREN\":\"\)w\ q\(/b\ a\"\}"#),
                ("D", "A/y"),
                ("F", "x\ny"),
                ("G", r#"\{\"z/Q\":\"Q/z\"\}"#),
                ("H", r#"\{\"Q\":\"Q\"\}"#),
            ])
        );
        assert!(parse(
            "A=$(kamal secrets extract A \"{\\\"A\\\":1})\n",
            "s",
            &mut MapEnvironment::new()
        )
        .is_err());
    }

    #[test]
    fn export_without_a_value_needs_an_earlier_definition() {
        assert_eq!(
            parse_text("A=1\nexport A\n", &mut MapEnvironment::new()),
            pairs(&[("A", "1")])
        );
        let error = parse("\nexport A\n", "s", &mut MapEnvironment::new()).expect_err("unset");
        assert_eq!(
            error.to_string(),
            "s:2: Line \"\\nexport A\\n\" has an unset variable"
        );
    }
}

/// Random texts and dotenv 3.2.0's own results for them (`testdata/dotenv_cases.rb`).
#[cfg(test)]
mod compared_with_ruby {
    use super::*;
    use crate::environment::MapEnvironment;

    #[test]
    fn random_texts_parse_as_ruby_dotenv_parses_them() {
        let cases: serde_json::Value =
            serde_json::from_str(include_str!("testdata/dotenv_cases.json")).expect("json");
        for case in cases.as_array().expect("array") {
            let input = case["input"].as_str().expect("input");
            let mut environment = MapEnvironment::new().with_var("X", "envx");
            match parse(input, "f", &mut environment) {
                Ok(parsed) => {
                    let values: Vec<serde_json::Value> = parsed
                        .values
                        .iter()
                        .map(|(key, value)| serde_json::json!([key, value.expose()]))
                        .collect();
                    assert_eq!(
                        Some(&serde_json::Value::Array(values)),
                        case.get("output"),
                        "{input:?}"
                    );
                }
                Err(error) => {
                    let message = error.to_string();
                    let message = message.split_once(": ").map(|(_, message)| message);
                    assert_eq!(message, case["error"].as_str(), "{input:?}");
                }
            }
        }
    }
}
