//! Ruby's `Shellwords`: [`split`] (how `$(kamal secrets ...)` is cut into arguments) and
//! [`escape`] (how `fetch --inline` and the adapters quote values). Both follow Ruby's
//! implementation rather than a real shell: no expansion, only quotes and backslashes.

/// Why a command line could not be split.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Unmatched quote")]
pub struct UnmatchedQuote;

/// Ruby's `\s`.
fn is_space(character: char) -> bool {
    matches!(character, ' ' | '\t' | '\n' | '\u{b}' | '\u{c}' | '\r')
}

/// `Shellwords.split`: words separated by blanks; `'...'` literal; `"..."` with `\` escaping
/// only `$ ` " \ newline`; a bare `\x` is `x`. Adjacent pieces join into one word.
pub fn split(line: &str) -> Result<Vec<String>, UnmatchedQuote> {
    let characters: Vec<char> = line.chars().collect();
    let mut words = Vec::new();
    let mut field = String::new();
    let mut index = 0;
    loop {
        while index < characters.len() && is_space(characters[index]) {
            index += 1;
        }
        if index >= characters.len() {
            break;
        }
        let character = characters[index];
        match character {
            '\'' => {
                let Some(length) = characters[index + 1..].iter().position(|&c| c == '\'') else {
                    return Err(UnmatchedQuote);
                };
                field.extend(&characters[index + 1..index + 1 + length]);
                index += length + 2;
            }
            '"' => {
                let mut cursor = index + 1;
                let mut piece = String::new();
                loop {
                    match characters.get(cursor) {
                        None => return Err(UnmatchedQuote),
                        Some('"') => break,
                        Some('\\') => match characters.get(cursor + 1) {
                            None => return Err(UnmatchedQuote),
                            Some(&next) => {
                                if !matches!(next, '$' | '`' | '"' | '\\' | '\n') {
                                    piece.push('\\');
                                }
                                piece.push(next);
                                cursor += 2;
                            }
                        },
                        Some(&other) => {
                            piece.push(other);
                            cursor += 1;
                        }
                    }
                }
                field.push_str(&piece);
                index = cursor + 1;
            }
            '\\' => {
                if let Some(&next) = characters.get(index + 1) {
                    // Ruby unescapes with `/\\(.)/`, whose `.` skips a newline.
                    if next == '\n' {
                        field.push('\\');
                    }
                    field.push(next);
                    index += 2;
                } else {
                    field.push('\\');
                    index += 1;
                }
            }
            _ => {
                while index < characters.len()
                    && !matches!(characters[index], '\'' | '"' | '\\')
                    && !is_space(characters[index])
                {
                    field.push(characters[index]);
                    index += 1;
                }
            }
        }
        // A blank (or the end) after a piece ends the word.
        match characters.get(index) {
            None => {
                words.push(std::mem::take(&mut field));
                break;
            }
            Some(&next) if is_space(next) => {
                words.push(std::mem::take(&mut field));
                index += 1;
            }
            Some(_) => {}
        }
    }
    Ok(words)
}

/// `Shellwords.escape`: `''` for the empty string; a backslash before every character other
/// than `A-Za-z0-9_-.,:+/@` and newline; a newline becomes `'\n'`.
pub fn escape(text: &str) -> String {
    if text.is_empty() {
        return "''".to_string();
    }
    let mut escaped = String::with_capacity(text.len() * 2);
    for character in text.chars() {
        match character {
            'A'..='Z' | 'a'..='z' | '0'..='9' | '_' | '-' | '.' | ',' | ':' | '+' | '/' | '@' => {
                escaped.push(character)
            }
            '\n' => escaped.push_str("'\n'"),
            _ => {
                escaped.push('\\');
                escaped.push(character);
            }
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(line: &str) -> Vec<String> {
        split(line).expect("splits")
    }

    /// Expected values are Ruby's `Shellwords.split` results.
    #[test]
    fn split_follows_ruby() {
        assert_eq!(words("  a  b "), ["a", "b"]);
        assert_eq!(words("a'b c'd"), ["ab cd"]);
        assert_eq!(words(r#"a "b \$ \x \\ \" c""#), ["a", r#"b $ \x \ " c"#]);
        assert_eq!(words(r"a\ b \{\}"), ["a b", "{}"]);
        assert_eq!(words(r"a\"), [r"a\"]);
        assert_eq!(words("a\\\nb"), ["a\\\nb"]);
        assert_eq!(words("''"), [""]);
        assert_eq!(words(""), Vec::<String>::new());
        assert_eq!(split("a 'b"), Err(UnmatchedQuote));
        assert_eq!(split(r#"a "b\"#), Err(UnmatchedQuote));
    }

    #[test]
    fn escape_follows_ruby() {
        assert_eq!(escape(""), "''");
        assert_eq!(escape(r#"{"v/X":"X/v"}"#), r#"\{\"v/X\":\"X/v\"\}"#);
        assert_eq!(escape("a b\nc"), "a\\ b'\n'c");
        assert_eq!(escape("é"), "\\é");
    }

    #[test]
    fn escaped_json_splits_back_into_one_word() {
        let json = r#"{"a b":"c'd\"e"}"#;
        assert_eq!(
            words(&format!("extract X {}", escape(json))),
            ["extract", "X", json]
        );
    }
}
