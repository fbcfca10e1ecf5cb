//! Small pieces of Ruby behaviour that configuration output depends on.

/// Ruby's `Float#to_s`: shortest round-trip digits, `.0` for whole numbers, exponent form
/// (`1.0e+20`, `1.0e-05`) outside 1e-4 ≤ |x| < 1e16.
pub fn float_to_s(number: f64) -> String {
    if number.is_nan() {
        return "NaN".to_string();
    }
    if number.is_infinite() {
        return if number > 0.0 {
            "Infinity".to_string()
        } else {
            "-Infinity".to_string()
        };
    }
    if number == 0.0 {
        return if number.is_sign_negative() {
            "-0.0".to_string()
        } else {
            "0.0".to_string()
        };
    }
    let magnitude = number.abs();
    if (1e-4..1e16).contains(&magnitude) {
        let text = format!("{number}");
        if text.contains('.') {
            text
        } else {
            format!("{text}.0")
        }
    } else {
        // `{:e}` gives the shortest digits, e.g. "1e20" or "1.5e-5".
        let text = format!("{number:e}");
        let (mantissa, exponent) = text.split_once('e').unwrap_or((&text, "0"));
        let mantissa = if mantissa.contains('.') {
            mantissa.to_string()
        } else {
            format!("{mantissa}.0")
        };
        let exponent: i32 = exponent.parse().unwrap_or(0);
        let sign = if exponent < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exponent.abs())
    }
}

/// Kamal's `escape_shell_value`: each ASCII run is `dump`ed (double-quoted), backticks are
/// escaped, and `$` is escaped unless it starts a `${...}` (left for the remote shell).
/// Non-ASCII runs are kept raw, outside the quotes.
pub fn escape_shell_value(value: &str) -> String {
    let mut out = String::new();
    let mut run = String::new();
    let mut run_is_ascii = true;
    let flush = |run: &mut String, ascii: bool, out: &mut String| {
        if run.is_empty() {
            return;
        }
        if ascii {
            out.push_str(&escape_ascii_shell_value(run));
        } else {
            out.push_str(run);
        }
        run.clear();
    };
    for character in value.chars() {
        let ascii = character.is_ascii();
        if ascii != run_is_ascii {
            flush(&mut run, run_is_ascii, &mut out);
            run_is_ascii = ascii;
        }
        run.push(character);
    }
    flush(&mut run, run_is_ascii, &mut out);
    if value.is_empty() {
        out.push_str("\"\"");
    }
    out
}

fn escape_ascii_shell_value(value: &str) -> String {
    let dumped = crate::ruby::dump_ascii(value).replace('`', "\\`");
    // `$` not followed by `{...}` becomes `\$`.
    let characters: Vec<char> = dumped.chars().collect();
    let mut out = String::new();
    for (index, &character) in characters.iter().enumerate() {
        if character == '$' {
            let rest: String = characters[index + 1..].iter().collect();
            let keeps_expansion = rest.starts_with('{')
                && rest[1..]
                    .find('}')
                    .is_some_and(|close| !rest[1..1 + close].contains('}'));
            if !keeps_expansion {
                out.push('\\');
            }
        }
        out.push(character);
    }
    out
}

use crate::yaml::{Mapping, Value};

/// Ruby `to_s` of a scalar value as Kamal interpolates it.
fn value_text(value: &Value) -> String {
    super::raw::to_s(value)
}

/// Kamal's `optionize`: `--key "value"` pairs; `true` gives a bare `--key`; arrays repeat.
pub fn optionize(pairs: &Mapping) -> Vec<String> {
    optionize_with(pairs, None)
}

/// Kamal's `optionize(with: "=")`: `--key="value"`.
pub fn optionize_with(pairs: &Mapping, with: Option<&str>) -> Vec<String> {
    let mut arguments = Vec::new();
    for (key, value) in &pairs.entries {
        let key = value_text(&key.value);
        let values: Vec<&Value> = match &value.value {
            Value::Sequence(items) => items.iter().map(|item| &item.value).collect(),
            other => vec![other],
        };
        for value in values {
            let is_true = matches!(value, Value::Bool(true));
            match with {
                Some(separator) if !is_true => arguments.push(format!(
                    "--{key}{separator}{}",
                    escape_shell_value(&value_text(value))
                )),
                Some(_) => arguments.push(format!("--{key}")),
                None => {
                    arguments.push(format!("--{key}"));
                    if !is_true {
                        arguments.push(escape_shell_value(&value_text(value)));
                    }
                }
            }
        }
    }
    arguments
}

/// Kamal's `argumentize`: for a Hash, `flag key="value"` (`key=false`, or bare `key` when
/// blank); for an Array, `flag element` unescaped.
pub fn argumentize(flag: &str, attributes: &Value) -> Vec<String> {
    let mut arguments = Vec::new();
    match attributes {
        Value::Mapping(mapping) => {
            for (key, value) in &mapping.entries {
                let key = value_text(&key.value);
                arguments.push(flag.to_string());
                if super::raw::present(Some(&value.value)) {
                    arguments.push(format!("{key}={}", escape_shell_value(&value_text(&value.value))));
                } else if matches!(value.value, Value::Bool(false)) {
                    arguments.push(format!("{key}=false"));
                } else {
                    arguments.push(key);
                }
            }
        }
        Value::Sequence(items) => {
            for item in items {
                arguments.push(flag.to_string());
                arguments.push(value_text(&item.value));
            }
        }
        Value::Null => {}
        other => {
            arguments.push(flag.to_string());
            arguments.push(value_text(other));
        }
    }
    arguments
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_floats_like_ruby() {
        assert_eq!(float_to_s(1.1), "1.1");
        assert_eq!(float_to_s(100.0), "100.0");
        assert_eq!(float_to_s(0.25), "0.25");
        assert_eq!(float_to_s(1e20), "1.0e+20");
        assert_eq!(float_to_s(1.5e-5), "1.5e-05");
        assert_eq!(float_to_s(-2.0), "-2.0");
    }
}

#[cfg(test)]
mod escaping_tests {
    use super::escape_shell_value;

    #[test]
    fn escapes_like_kamal() {
        assert_eq!(escape_shell_value("foo"), "\"foo\"");
        assert_eq!(escape_shell_value("`foo`"), "\"\\`foo\\`\"");
        assert_eq!(escape_shell_value("${PWD}"), "\"${PWD}\"");
        assert_eq!(escape_shell_value("$PWD"), "\"\\$PWD\"");
        assert_eq!(escape_shell_value("$(PWD)"), "\"\\$(PWD)\"");
        assert_eq!(escape_shell_value("a\"b"), "\"a\\\"b\"");
        assert_eq!(escape_shell_value("#{x}"), "\"\\#{x}\"");
        assert_eq!(escape_shell_value("café"), "\"caf\"é");
        assert_eq!(escape_shell_value("10m"), "\"10m\"");
    }
}
