//! A pflag-compatible flag parser (§1.1): `--flag=value` and `--flag value`, bare `--bool` for true (a bool
//! never takes the next word), Go durations, repeated slices that are also split on commas, and pflag's
//! error wording, which Kamal's users see through `docker exec`.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use crate::duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlagKind {
    Bool,
    Duration,
    Int,
    String,
    StringSlice,
}

#[derive(Debug, Clone)]
pub struct FlagSpec {
    pub name: &'static str,
    pub kind: FlagKind,
    /// The default in flag syntax (`"30s"`, `"true"`, `""`), overridable from the environment for `run`.
    pub default: String,
    pub usage: &'static str,
}

impl FlagSpec {
    pub fn new(name: &'static str, kind: FlagKind, default: &str, usage: &'static str) -> Self {
        Self {
            name,
            kind,
            default: default.to_string(),
            usage,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum FlagValue {
    Bool(bool),
    Duration(Duration),
    Int(i64),
    String(String),
    StringSlice(Vec<String>),
}

#[derive(Debug, Clone, Default)]
pub struct ParsedFlags {
    values: BTreeMap<&'static str, FlagValue>,
    changed: BTreeSet<&'static str>,
    pub positionals: Vec<String>,
    pub help: bool,
}

impl ParsedFlags {
    pub fn changed(&self, name: &str) -> bool {
        self.changed.contains(name)
    }

    pub fn bool(&self, name: &str) -> bool {
        matches!(self.values.get(name), Some(FlagValue::Bool(true)))
    }

    pub fn duration(&self, name: &str) -> Duration {
        match self.values.get(name) {
            Some(FlagValue::Duration(value)) => *value,
            _ => Duration::ZERO,
        }
    }

    pub fn int(&self, name: &str) -> i64 {
        match self.values.get(name) {
            Some(FlagValue::Int(value)) => *value,
            _ => 0,
        }
    }

    pub fn string(&self, name: &str) -> String {
        match self.values.get(name) {
            Some(FlagValue::String(value)) => value.clone(),
            _ => String::new(),
        }
    }

    pub fn strings(&self, name: &str) -> Vec<String> {
        match self.values.get(name) {
            Some(FlagValue::StringSlice(value)) => value.clone(),
            _ => Vec::new(),
        }
    }
}

/// Go's `strconv.ParseBool`.
pub fn parse_bool(text: &str) -> Result<bool, String> {
    match text {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
        _ => Err(format!("strconv.ParseBool: parsing \"{text}\": invalid syntax")),
    }
}

/// Go's `strconv.ParseInt(text, 0, 64)`.
pub fn parse_int(text: &str) -> Result<i64, String> {
    let error = || format!("strconv.ParseInt: parsing \"{text}\": invalid syntax");
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let (radix, digits) = if let Some(hex) = digits.strip_prefix("0x").or_else(|| digits.strip_prefix("0X")) {
        (16, hex)
    } else if let Some(binary) = digits.strip_prefix("0b").or_else(|| digits.strip_prefix("0B")) {
        (2, binary)
    } else if let Some(octal) = digits.strip_prefix("0o").or_else(|| digits.strip_prefix("0O")) {
        (8, octal)
    } else {
        (10, digits)
    };
    if digits.is_empty() || digits.starts_with(['+', '-']) {
        return Err(error());
    }
    let value = i64::from_str_radix(&digits.replace('_', ""), radix).map_err(|parse_error| {
        if matches!(
            parse_error.kind(),
            std::num::IntErrorKind::PosOverflow | std::num::IntErrorKind::NegOverflow
        ) {
            format!("strconv.ParseInt: parsing \"{text}\": value out of range")
        } else {
            error()
        }
    })?;
    Ok(if negative { -value } else { value })
}

/// pflag's string-slice reading: a CSV record, so `a,b` is two values and quotes protect commas.
fn split_csv(text: &str) -> Vec<String> {
    if text.is_empty() {
        return Vec::new();
    }
    let mut values = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    let mut characters = text.chars().peekable();
    while let Some(c) = characters.next() {
        match c {
            '"' if quoted && characters.peek() == Some(&'"') => {
                current.push('"');
                characters.next();
            }
            '"' if current.is_empty() || quoted => quoted = !quoted,
            ',' if !quoted => values.push(std::mem::take(&mut current)),
            other => current.push(other),
        }
    }
    values.push(current);
    values
}

fn convert(spec: &FlagSpec, text: &str) -> Result<FlagValue, String> {
    Ok(match spec.kind {
        FlagKind::Bool => FlagValue::Bool(parse_bool(text)?),
        FlagKind::Duration => FlagValue::Duration(duration::parse(text)?),
        FlagKind::Int => FlagValue::Int(parse_int(text)?),
        FlagKind::String => FlagValue::String(text.to_string()),
        FlagKind::StringSlice => FlagValue::StringSlice(split_csv(text)),
    })
}

/// Parses `args` (everything after the command name) against `specs`.
pub fn parse(specs: &[FlagSpec], args: &[String]) -> Result<ParsedFlags, String> {
    let mut parsed = ParsedFlags::default();
    for spec in specs {
        let value = convert(spec, &spec.default)
            .map_err(|error| format!("invalid default {:?} for --{}: {error}", spec.default, spec.name))?;
        parsed.values.insert(spec.name, value);
    }
    let mut index = 0;
    while index < args.len() {
        let argument = &args[index];
        index += 1;
        if argument == "--" {
            parsed.positionals.extend(args[index..].iter().cloned());
            break;
        }
        if argument == "-h" || argument == "--help" {
            parsed.help = true;
            continue;
        }
        let Some(flag) = argument.strip_prefix("--") else {
            if let Some(short) = argument.strip_prefix('-').filter(|s| !s.is_empty()) {
                let first = short.chars().next().unwrap_or('-');
                return Err(format!("unknown shorthand flag: '{first}' in -{short}"));
            }
            parsed.positionals.push(argument.clone());
            continue;
        };
        let (name, inline_value) = match flag.split_once('=') {
            Some((name, value)) => (name, Some(value.to_string())),
            None => (flag, None),
        };
        let spec = specs
            .iter()
            .find(|spec| spec.name == name)
            .ok_or_else(|| format!("unknown flag: --{name}"))?;
        let text = match (inline_value, spec.kind) {
            (Some(value), _) => value,
            (None, FlagKind::Bool) => "true".to_string(),
            (None, _) => {
                let value = args
                    .get(index)
                    .ok_or_else(|| format!("flag needs an argument: --{name}"))?;
                index += 1;
                value.clone()
            }
        };
        let value = convert(spec, &text)
            .map_err(|error| format!("invalid argument \"{text}\" for \"--{name}\" flag: {error}"))?;
        let value = match (
            parsed.changed.contains(spec.name),
            value,
            parsed.values.get(spec.name),
        ) {
            // Repeats append; the default is replaced by the first use, as in pflag.
            (true, FlagValue::StringSlice(more), Some(FlagValue::StringSlice(existing))) => {
                FlagValue::StringSlice(existing.iter().cloned().chain(more).collect())
            }
            (_, value, _) => value,
        };
        parsed.values.insert(spec.name, value);
        parsed.changed.insert(spec.name);
    }
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn specs() -> Vec<FlagSpec> {
        vec![
            FlagSpec::new("target", FlagKind::StringSlice, "", ""),
            FlagSpec::new("tls", FlagKind::Bool, "false", ""),
            FlagSpec::new("strip-path-prefix", FlagKind::Bool, "true", ""),
            FlagSpec::new("deploy-timeout", FlagKind::Duration, "30s", ""),
            FlagSpec::new("buffer-memory", FlagKind::Int, "1048576", ""),
            FlagSpec::new("message", FlagKind::String, "", ""),
        ]
    }

    fn args(values: &[&str]) -> Vec<String> {
        values.iter().map(|v| v.to_string()).collect()
    }

    #[test]
    fn parses_both_value_forms_and_slices() {
        let parsed = parse(
            &specs(),
            &args(&[
                "web",
                "--target=a:80,b:80",
                "--target",
                "c:80",
                "--deploy-timeout",
                "1m",
                "--message=x=y",
            ]),
        )
        .expect("parses");
        assert_eq!(parsed.positionals, vec!["web"]);
        assert_eq!(parsed.strings("target"), vec!["a:80", "b:80", "c:80"]);
        assert_eq!(parsed.duration("deploy-timeout"), Duration::from_secs(60));
        assert_eq!(parsed.string("message"), "x=y");
        assert!(parsed.changed("target"));
        assert!(!parsed.changed("tls"));
        assert!(parsed.bool("strip-path-prefix"));
    }

    #[test]
    fn bools_never_take_the_next_word() {
        let parsed =
            parse(&specs(), &args(&["--tls", "false", "--strip-path-prefix=false"])).expect("parses");
        assert!(parsed.bool("tls"));
        assert_eq!(parsed.positionals, vec!["false"]);
        assert!(!parsed.bool("strip-path-prefix"));
    }

    #[test]
    fn errors_read_like_pflag() {
        let error = |values: &[&str]| parse(&specs(), &args(values)).err();
        assert_eq!(
            error(&["--deploy-timeout=30"]).as_deref(),
            Some("invalid argument \"30\" for \"--deploy-timeout\" flag: time: missing unit in duration \"30\"")
        );
        assert_eq!(error(&["--nope"]).as_deref(), Some("unknown flag: --nope"));
        assert_eq!(
            error(&["--message"]).as_deref(),
            Some("flag needs an argument: --message")
        );
        assert_eq!(
            error(&["--tls=maybe"]).as_deref(),
            Some("invalid argument \"maybe\" for \"--tls\" flag: strconv.ParseBool: parsing \"maybe\": invalid syntax")
        );
        assert_eq!(
            error(&["--buffer-memory=1k"]).as_deref(),
            Some("invalid argument \"1k\" for \"--buffer-memory\" flag: strconv.ParseInt: parsing \"1k\": invalid syntax")
        );
        assert_eq!(
            error(&["-x"]).as_deref(),
            Some("unknown shorthand flag: 'x' in -x")
        );
    }

    #[test]
    fn csv_quotes_protect_commas() {
        assert_eq!(split_csv("a,\"b,c\",d"), vec!["a", "b,c", "d"]);
        assert_eq!(split_csv(""), Vec::<String>::new());
    }
}
