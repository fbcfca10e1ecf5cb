//! The Ruby string behaviours kamal-rs reproduces byte for byte: `strip`, `chomp`,
//! `split("/")`, `String#dump`, `String#inspect`, `JSON.dump` of a string, `Float#to_s` and
//! the lenient `Base64.decode64`. Kamal's output (env files, JSON from `secrets fetch`,
//! command lines, ERB output, error messages) depends on them exactly.

/// Ruby's whitespace for `strip`: ASCII blanks and NUL.
fn is_strip_character(character: char) -> bool {
    matches!(character, '\0' | '\t' | '\n' | '\u{b}' | '\u{c}' | '\r' | ' ')
}

/// `String#strip`.
pub fn strip(text: &str) -> &str {
    text.trim_matches(is_strip_character)
}

/// `String#chomp`: removes one trailing `\n`, `\r\n` or `\r`.
pub fn chomp(mut text: String) -> String {
    if text.ends_with("\r\n") {
        text.truncate(text.len() - 2);
    } else if text.ends_with('\n') || text.ends_with('\r') {
        text.truncate(text.len() - 1);
    }
    text
}

/// `String#split(separator)` with a string separator: trailing empty fields are dropped.
pub fn split<'a>(text: &'a str, separator: &str) -> Vec<&'a str> {
    let mut fields: Vec<&str> = text.split(separator).collect();
    while fields.last().is_some_and(|field| field.is_empty()) {
        fields.pop();
    }
    fields
}

/// `String#dump` of an ASCII string, including the surrounding double quotes. Callers
/// split non-ASCII runs off first, as Kamal does, and keep them raw.
pub fn dump_ascii(text: &str) -> String {
    let mut dumped = String::with_capacity(text.len() + 2);
    dumped.push('"');
    let bytes = text.as_bytes();
    for (index, &byte) in bytes.iter().enumerate() {
        match byte {
            b'"' => dumped.push_str("\\\""),
            b'\\' => dumped.push_str("\\\\"),
            b'\n' => dumped.push_str("\\n"),
            b'\r' => dumped.push_str("\\r"),
            b'\t' => dumped.push_str("\\t"),
            0x0c => dumped.push_str("\\f"),
            0x0b => dumped.push_str("\\v"),
            0x08 => dumped.push_str("\\b"),
            0x07 => dumped.push_str("\\a"),
            0x1b => dumped.push_str("\\e"),
            b'#' if matches!(bytes.get(index + 1), Some(b'{' | b'$' | b'@')) => dumped.push_str("\\#"),
            0x20..=0x7e => dumped.push(byte as char),
            _ => dumped.push_str(&format!("\\x{byte:02X}")),
        }
    }
    dumped.push('"');
    dumped
}

/// `String#inspect` of a UTF-8 string (for messages Kamal words with `inspect`).
pub fn inspect(text: &str) -> String {
    let mut inspected = String::with_capacity(text.len() + 2);
    inspected.push('"');
    let mut characters = text.chars().peekable();
    while let Some(character) = characters.next() {
        match character {
            '"' => inspected.push_str("\\\""),
            '\\' => inspected.push_str("\\\\"),
            '\n' => inspected.push_str("\\n"),
            '\t' => inspected.push_str("\\t"),
            '\r' => inspected.push_str("\\r"),
            '\u{c}' => inspected.push_str("\\f"),
            '\u{b}' => inspected.push_str("\\v"),
            '\u{7}' => inspected.push_str("\\a"),
            '\u{8}' => inspected.push_str("\\b"),
            '\u{1b}' => inspected.push_str("\\e"),
            '#' if matches!(characters.peek(), Some('{' | '$' | '@')) => inspected.push_str("\\#"),
            character if character.is_control() => {
                inspected.push_str(&format!("\\u{:04X}", character as u32))
            }
            character => inspected.push(character),
        }
    }
    inspected.push('"');
    inspected
}

/// Splits text into maximal ASCII and non-ASCII runs (`scan(/[\x00-\x7F]+|[^\x00-\x7F]+/)`).
pub fn ascii_runs(text: &str) -> Vec<(bool, &str)> {
    let mut runs = Vec::new();
    let mut start = 0;
    let mut current_ascii = None;
    for (index, character) in text.char_indices() {
        let ascii = character.is_ascii();
        match current_ascii {
            Some(previous) if previous != ascii => {
                runs.push((previous, &text[start..index]));
                start = index;
            }
            _ => {}
        }
        current_ascii = Some(ascii);
    }
    if let Some(ascii) = current_ascii {
        runs.push((ascii, &text[start..]));
    }
    runs
}

/// A string as Ruby's `JSON.dump` writes it (json 2.x): `"` and `\` escaped, control
/// characters as `\b \f \n \r \t` or `\u00xx`, everything else (including `/`, DEL and
/// non-ASCII) raw.
pub fn json_string(text: &str) -> String {
    let mut encoded = String::with_capacity(text.len() + 2);
    encoded.push('"');
    for character in text.chars() {
        match character {
            '"' => encoded.push_str("\\\""),
            '\\' => encoded.push_str("\\\\"),
            '\n' => encoded.push_str("\\n"),
            '\r' => encoded.push_str("\\r"),
            '\t' => encoded.push_str("\\t"),
            '\u{8}' => encoded.push_str("\\b"),
            '\u{c}' => encoded.push_str("\\f"),
            character if (character as u32) < 0x20 => {
                encoded.push_str(&format!("\\u{:04x}", character as u32))
            }
            character => encoded.push(character),
        }
    }
    encoded.push('"');
    encoded
}

/// `Base64.decode64` (`unpack1("m")`): characters outside the alphabet are skipped, and an
/// `=` in the third or fourth place of a group ends the input.
pub fn decode64(text: &str) -> Vec<u8> {
    fn value(byte: u8) -> Option<u32> {
        match byte {
            b'A'..=b'Z' => Some(u32::from(byte - b'A')),
            b'a'..=b'z' => Some(u32::from(byte - b'a') + 26),
            b'0'..=b'9' => Some(u32::from(byte - b'0') + 52),
            b'+' => Some(62),
            b'/' => Some(63),
            _ => None,
        }
    }
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len() * 3 / 4);
    let mut position = 0;
    // The next alphabet character; with `stop_at_padding`, an `=` ends the search.
    let next = |position: &mut usize, stop_at_padding: bool| -> Option<u32> {
        while *position < bytes.len() {
            let byte = bytes[*position];
            if let Some(value) = value(byte) {
                *position += 1;
                return Some(value);
            }
            if stop_at_padding && byte == b'=' {
                return None;
            }
            *position += 1;
        }
        None
    };
    while let Some(first) = next(&mut position, false) {
        let Some(second) = next(&mut position, false) else {
            break;
        };
        let Some(third) = next(&mut position, true) else {
            decoded.push((first << 2 | second >> 4) as u8);
            break;
        };
        let Some(fourth) = next(&mut position, true) else {
            decoded.push((first << 2 | second >> 4) as u8);
            decoded.push(((second << 4) | (third >> 2)) as u8);
            break;
        };
        decoded.push((first << 2 | second >> 4) as u8);
        decoded.push(((second << 4) | (third >> 2)) as u8);
        decoded.push(((third << 6) | fourth) as u8);
    }
    decoded
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strip_removes_ascii_blanks_and_nul_only() {
        assert_eq!(strip("\0 a \0\t\u{b}"), "a");
        assert_eq!(strip("\u{a0}a"), "\u{a0}a");
    }

    #[test]
    fn chomp_removes_a_single_line_ending() {
        assert_eq!(chomp("a\n\n".into()), "a\n");
        assert_eq!(chomp("a\r\n".into()), "a");
        assert_eq!(chomp("a\r".into()), "a");
        assert_eq!(chomp("a".into()), "a");
    }

    #[test]
    fn split_drops_trailing_empty_fields() {
        assert_eq!(split("a/b/", "/"), ["a", "b"]);
        assert_eq!(split("a//b", "/"), ["a", "", "b"]);
        assert!(split("", "/").is_empty());
    }

    /// Pinned from Ruby 3.3: `"\x00\x07\x08\x1b\x7f\#{\#$\#@#a\"\\\v\f".dump`.
    #[test]
    fn dump_matches_ruby() {
        assert_eq!(
            dump_ascii("\u{0}\u{7}\u{8}\u{1b}\u{7f}#{#$#@#a\"\\\u{b}\u{c}"),
            r#""\x00\a\b\e\x7F\#{\#$\#@#a\"\\\v\f""#
        );
    }

    /// Pinned from json 2.19.3: `JSON.dump("\x01\x1f\x7f/\u2028é\"\\\b\f\n\r\t")`.
    #[test]
    fn json_string_matches_ruby() {
        assert_eq!(
            json_string("\u{1}\u{1f}\u{7f}/\u{2028}é\"\\\u{8}\u{c}\n\r\t"),
            "\"\\u0001\\u001f\u{7f}/\u{2028}é\\\"\\\\\\b\\f\\n\\r\\t\""
        );
    }

    /// Pinned from Ruby: `"abc".unpack1("m")`, `"YW Jj=ZA==".unpack1("m")`, `"YWJjZA"...`.
    #[test]
    fn decode64_is_lenient_like_ruby() {
        assert_eq!(decode64("abc"), b"i\xB7");
        assert_eq!(decode64("YW Jj=ZA=="), b"abcd");
        assert_eq!(decode64("YWJjZA"), b"abcd");
        assert_eq!(decode64("aGVsbG8gd29ybGQ=\n"), b"hello world");
    }

    /// Pinned from Ruby: `"\x01\x7f".inspect`, `"#{a} #$b #x\"\\\n".inspect`.
    #[test]
    fn inspect_matches_ruby() {
        assert_eq!(inspect("\u{1}\u{7f}"), r#""\u0001\u007F""#);
        assert_eq!(inspect("#{a} #$b #x\"\\\n"), r#""\#{a} \#$b #x\"\\\n""#);
    }

    #[test]
    fn ascii_runs_split_at_boundaries() {
        assert_eq!(ascii_runs("héllo"), [(true, "h"), (false, "é"), (true, "llo")]);
        assert!(ascii_runs("").is_empty());
    }
}
