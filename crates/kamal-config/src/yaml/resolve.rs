//! Typing of plain scalars, a port of Psych's `ScalarScanner#tokenize` (Psych 5.1, the
//! `unsafe_load` defaults): YAML 1.1 booleans and nulls, integers with Psych's legacy regex
//! (octal `0755`, `0x1f`, `0b101`, `_` and `,` separators), Psych's base-60 arithmetic, floats,
//! dates and times, and `:symbols`. The emitter asks the same question ("would this text load
//! back as a String?") to decide when a string needs quotes.
//!
//! The regexes are Psych's, with Ruby's semantics spelled out: `^`/`$` are line anchors, `\d`
//! and `\s` are ASCII, `[[:alpha:]]` is Unicode.

use std::sync::LazyLock;

use regex::Regex;

use super::timestamp;
use super::value::Value;

/// Compiles one of the constant patterns of this module (a bad one is a bug caught by tests).
pub(super) fn built_in_regex(pattern: &str) -> Regex {
    match Regex::new(pattern) {
        Ok(regex) => regex,
        Err(error) => panic!("invalid built-in regex {pattern:?}: {error}"),
    }
}

/// Strings that cannot be anything else (checked first by Psych, before the numeric forms).
static STRING_LIKE: LazyLock<Regex> = LazyLock::new(|| {
    built_in_regex(r"(?m)^[^0-9.:\-]?[\p{Alphabetic}_ \t\r\n\x0B\x0C!@#$%^&*(){}<>|/\\~;=]+")
});
static NOT_BOOLEAN_OR_NULL_START: LazyLock<Regex> = LazyLock::new(|| built_in_regex(r"(?mi)^[^ytonf~]"));
static NULL: LazyLock<Regex> = LazyLock::new(|| built_in_regex(r"(?mi)^null$"));
static TRUE: LazyLock<Regex> = LazyLock::new(|| built_in_regex(r"(?mi)^(yes|true|on)$"));
static FALSE: LazyLock<Regex> = LazyLock::new(|| built_in_regex(r"(?mi)^(no|false|off)$"));
static POSITIVE_INFINITY: LazyLock<Regex> = LazyLock::new(|| built_in_regex(r"(?i)^\+?\.inf$"));
static NEGATIVE_INFINITY: LazyLock<Regex> = LazyLock::new(|| built_in_regex(r"(?i)^-\.inf$"));
static NAN: LazyLock<Regex> = LazyLock::new(|| built_in_regex(r"(?i)^\.nan$"));
static BASE_60_INTEGER: LazyLock<Regex> =
    LazyLock::new(|| built_in_regex(r"^[-+]?[0-9][0-9_]*(:[0-5]?[0-9]){1,2}$"));
static BASE_60_FLOAT: LazyLock<Regex> =
    LazyLock::new(|| built_in_regex(r"^[-+]?[0-9][0-9_]*(:[0-5]?[0-9]){1,2}\.[0-9_]*$"));
static FLOAT: LazyLock<Regex> =
    LazyLock::new(|| built_in_regex(r"^[-+]?([0-9][0-9_,]*)?\.[0-9]*([eE][-+][0-9]+)?$"));
static INTEGER: LazyLock<Regex> = LazyLock::new(|| {
    built_in_regex(
        r"^(?:[-+]?0b[0-1_,]+|[-+]?0[0-7_,]+|[-+]?(?:0|[1-9](?:[0-9]|,[0-9]|_[0-9])*)|[-+]?0x[0-9a-fA-F_,]+)$",
    )
});

/// Psych's `ScalarScanner#tokenize`: the Ruby value of a plain scalar.
pub fn tokenize(text: &str) -> Value {
    if text.is_empty() {
        return Value::Null;
    }
    if STRING_LIKE.is_match(text) || text.contains('\n') {
        return boolean_or_null(text).unwrap_or_else(|| Value::String(text.to_string()));
    }
    if timestamp::looks_like_timestamp(text) {
        return match timestamp::parse(text) {
            Some(_) => Value::Timestamp(text.to_string()),
            None => Value::String(text.to_string()),
        };
    }
    if POSITIVE_INFINITY.is_match(text) {
        return Value::Float(f64::INFINITY);
    }
    if NEGATIVE_INFINITY.is_match(text) {
        return Value::Float(f64::NEG_INFINITY);
    }
    if NAN.is_match(text) {
        return Value::Float(f64::NAN);
    }
    if let Some(rest) = text.strip_prefix(':') {
        if !rest.is_empty() {
            return Value::Symbol(symbol_name(rest));
        }
    }
    if BASE_60_INTEGER.is_match(text) {
        return base_60_integer(text).map_or_else(|| Value::String(text.to_string()), Value::Integer);
    }
    if BASE_60_FLOAT.is_match(text) {
        return Value::Float(base_60_float(text));
    }
    if FLOAT.is_match(text) {
        if matches!(text, "." | "+." | "-.") {
            return Value::String(text.to_string());
        }
        return parse_float(text).map_or_else(|| Value::String(text.to_string()), Value::Float);
    }
    if INTEGER.is_match(text) {
        return parse_integer(text).map_or_else(|| Value::String(text.to_string()), Value::Integer);
    }
    Value::String(text.to_string())
}

/// Whether Psych would load this plain text back as a String (the emitter's quoting test).
pub fn loads_as_string(text: &str) -> bool {
    matches!(tokenize(text), Value::String(_))
}

/// The short words Psych types even when they look like strings: `~`, `null`, `yes`, `on`...
fn boolean_or_null(text: &str) -> Option<Value> {
    if text.chars().count() > 5 || NOT_BOOLEAN_OR_NULL_START.is_match(text) {
        None
    } else if text == "~" || NULL.is_match(text) {
        Some(Value::Null)
    } else if TRUE.is_match(text) {
        Some(Value::Bool(true))
    } else if FALSE.is_match(text) {
        Some(Value::Bool(false))
    } else {
        None
    }
}

/// `:"quoted name"` and `:'quoted'` lose their quotes (Ruby `/^:(["'])(.*)\1/`, greedy), then
/// one more leading `:` is dropped.
fn symbol_name(rest: &str) -> String {
    let mut characters = rest.chars();
    if let Some(quote @ ('"' | '\'')) = characters.next() {
        let inner = &rest[1..];
        if let Some(end) = inner.rfind(quote) {
            let name = &inner[..end];
            return name.strip_prefix(':').unwrap_or(name).to_string();
        }
    }
    rest.to_string()
}

/// Psych's base-60 sum, `n.to_i * 60 ** (e - 2).abs` for each part: `1:30` is 1*3600 + 30*60.
fn base_60_integer(text: &str) -> Option<i64> {
    let mut total: i64 = 0;
    for (position, part) in text.split(':').enumerate() {
        let weight = 60_i64.checked_pow(position.abs_diff(2) as u32)?;
        total = total.checked_add(ruby_to_i(part)?.checked_mul(weight)?)?;
    }
    Some(total)
}

fn base_60_float(text: &str) -> f64 {
    text.split(':')
        .enumerate()
        .map(|(position, part)| ruby_to_f(part) * 60_f64.powi(position.abs_diff(2) as i32))
        .sum()
}

/// Ruby `String#to_i`: optional sign, then digits with single underscores between them.
fn ruby_to_i(text: &str) -> Option<i64> {
    let (negative, digits) = split_sign(text);
    let mut value: i64 = 0;
    let mut previous_underscore = false;
    for character in digits.chars() {
        match character {
            '0'..='9' => {
                value = value
                    .checked_mul(10)?
                    .checked_add(i64::from(character as u8 - b'0'))?;
                previous_underscore = false;
            }
            '_' if !previous_underscore => previous_underscore = true,
            _ => break,
        }
    }
    Some(if negative { -value } else { value })
}

/// Ruby `String#to_f` for the digit-and-underscore parts of a base-60 float.
fn ruby_to_f(text: &str) -> f64 {
    let (negative, digits) = split_sign(text);
    let mut cleaned = String::new();
    let mut previous_underscore = false;
    let mut seen_dot = false;
    for character in digits.chars() {
        match character {
            '0'..='9' => {
                cleaned.push(character);
                previous_underscore = false;
            }
            '_' if !previous_underscore && !cleaned.is_empty() => previous_underscore = true,
            '.' if !seen_dot => {
                seen_dot = true;
                cleaned.push('.');
            }
            _ => break,
        }
    }
    let value = cleaned.trim_end_matches('.').parse::<f64>().unwrap_or(0.0);
    if negative {
        -value
    } else {
        value
    }
}

fn split_sign(text: &str) -> (bool, &str) {
    if let Some(rest) = text.strip_prefix('-') {
        (true, rest)
    } else {
        (false, text.strip_prefix('+').unwrap_or(text))
    }
}

/// `Float(string.delete(',_').gsub(/\.([Ee]|$)/, '\1'))`.
fn parse_float(text: &str) -> Option<f64> {
    let cleaned: String = text
        .chars()
        .filter(|character| !matches!(character, ',' | '_'))
        .collect();
    let cleaned = cleaned.replace(".e", "e").replace(".E", "E");
    let cleaned = cleaned.strip_suffix('.').unwrap_or(&cleaned);
    cleaned.parse::<f64>().ok()
}

/// Ruby `Integer(string.delete(',_'))`: a leading `0` means octal, `0b` binary, `0x` hex.
/// Values beyond 64 bits (Ruby Bignums) and `0x` with no digits (Psych raises) give `None`.
fn parse_integer(text: &str) -> Option<i64> {
    let cleaned: String = text
        .chars()
        .filter(|character| !matches!(character, ',' | '_'))
        .collect();
    let (negative, digits) = split_sign(&cleaned);
    let (radix, digits) = if let Some(rest) = digits.strip_prefix("0b") {
        (2, rest)
    } else if let Some(rest) = digits.strip_prefix("0x") {
        (16, rest)
    } else if digits.len() > 1 && digits.starts_with('0') {
        (8, &digits[1..])
    } else {
        (10, digits)
    };
    if digits.is_empty() {
        return None;
    }
    let magnitude = i64::from_str_radix(digits, radix).ok()?;
    Some(if negative { -magnitude } else { magnitude })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn describe(value: &Value) -> String {
        match value {
            Value::Null => "nil".to_string(),
            Value::Bool(boolean) => boolean.to_string(),
            Value::Integer(integer) => format!("Integer {integer}"),
            Value::Float(float) => format!("Float {float:?}"),
            Value::String(string) => format!("String {string:?}"),
            Value::Symbol(symbol) => format!("Symbol {symbol:?}"),
            Value::Timestamp(text) => format!("Timestamp {text}"),
            other => format!("{other:?}"),
        }
    }

    /// Expectations from `YAML.unsafe_load("- #{text}")` in Ruby (Psych 4.0.3; the scanner is
    /// unchanged in 5.1). Note `1:30` is 5400: Psych weighs the first part by 60**2.
    #[test]
    fn types_plain_scalars_as_psych_does() {
        let table: &[(&str, &str)] = &[
            ("1:30", "Integer 5400"),
            ("1:30:10", "Integer 5410"),
            ("-1:30", "Integer -1800"),
            ("1_0:30", "Integer 37800"),
            ("1:30.5", "Float 5430.0"),
            ("190:20:30", "Integer 685230"),
            ("1:60", "String \"1:60\""),
            ("12:5", "Integer 43500"),
            ("-1:30.5", "Float -1770.0"),
            ("1e3", "String \"1e3\""),
            ("1.0e+3", "Float 1000.0"),
            ("1.0e3", "String \"1.0e3\""),
            ("0.1e5", "String \"0.1e5\""),
            ("1.2.3", "String \"1.2.3\""),
            ("0755", "Integer 493"),
            ("0x1f", "Integer 31"),
            ("0b101", "Integer 5"),
            ("1_000", "Integer 1000"),
            ("1,000", "Integer 1000"),
            ("1,2", "Integer 12"),
            ("0o17", "String \"0o17\""),
            ("09", "String \"09\""),
            ("0_8", "String \"0_8\""),
            ("+12", "Integer 12"),
            ("-0", "Integer 0"),
            ("00", "Integer 0"),
            ("1_", "String \"1_\""),
            ("_1", "String \"_1\""),
            ("1__0", "String \"1__0\""),
            ("0b", "String \"0b\""),
            ("1.", "Float 1.0"),
            ("3.", "Float 3.0"),
            (".", "String \".\""),
            ("-.", "String \"-.\""),
            (".5", "Float 0.5"),
            ("1.10", "Float 1.1"),
            ("1_2.5", "Float 12.5"),
            ("1,000.5", "Float 1000.5"),
            ("2024-01-01", "Timestamp 2024-01-01"),
            ("2024-1-5", "Timestamp 2024-1-5"),
            ("2024-02-30", "String \"2024-02-30\""),
            ("2024-01-01 10:00:00", "Timestamp 2024-01-01 10:00:00"),
            ("2024-01-01t10:00:00Z", "Timestamp 2024-01-01t10:00:00Z"),
            ("2024-13-01 10:00:00", "String \"2024-13-01 10:00:00\""),
            ("2024-01-01T25:00:00Z", "String \"2024-01-01T25:00:00Z\""),
            (
                "2024-01-01 10:00:00 +99:00",
                "String \"2024-01-01 10:00:00 +99:00\"",
            ),
            (":sym", "Symbol \"sym\""),
            (":\"q s\"", "Symbol \"q s\""),
            (":'q'", "Symbol \"q\""),
            (":\"a\"b", "Symbol \"a\""),
            ("::a", "Symbol \":a\""),
            (":1", "Symbol \"1\""),
            (":", "String \":\""),
            ("yes", "true"),
            ("Yes", "true"),
            ("YES", "true"),
            ("yEs", "true"),
            ("on", "true"),
            ("off", "false"),
            ("Off", "false"),
            ("no", "false"),
            ("y", "String \"y\""),
            ("n", "String \"n\""),
            ("Y", "String \"Y\""),
            ("NULL", "nil"),
            ("Null", "nil"),
            ("nUll", "nil"),
            ("~", "nil"),
            ("", "nil"),
            ("true", "true"),
            ("tRue", "true"),
            ("FALSE", "false"),
            (".inf", "Float inf"),
            ("-.inf", "Float -inf"),
            ("+.inf", "Float inf"),
            (".Inf", "Float inf"),
            ("123abc", "String \"123abc\""),
            ("abc 1", "String \"abc 1\""),
            ("no\n", "false"),
            ("yes please", "String \"yes please\""),
        ];
        for (text, expected) in table {
            assert_eq!(describe(&tokenize(text)), *expected, "tokenize({text:?})");
        }
        assert!(matches!(tokenize(".NaN"), Value::Float(float) if float.is_nan()));
    }
}
