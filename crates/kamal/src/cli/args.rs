//! Thor-compatible option parsing: `--name=value`, `--name value`, `-x value`, `-x=value`,
//! clustered short flags (`-vq`), `--no-name`/`--skip-name` for booleans, underscores
//! accepted for dashes, options anywhere after the command, `--` ending options. Unknown
//! options are kept as positional arguments, as Thor does; the command decides whether
//! extra arguments are an error.

use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Flag,
    Value,
    /// Thor `type: :hash` (`-e KEY:VALUE`, repeatable).
    Hash,
}

#[derive(Debug, Clone, Copy)]
pub struct OptionSpec {
    /// The canonical name with dashes (`config-file`).
    pub long: &'static str,
    pub short: Option<char>,
    pub kind: Kind,
}

pub const fn flag(long: &'static str, short: Option<char>) -> OptionSpec {
    OptionSpec {
        long,
        short,
        kind: Kind::Flag,
    }
}

pub const fn value(long: &'static str, short: Option<char>) -> OptionSpec {
    OptionSpec {
        long,
        short,
        kind: Kind::Value,
    }
}

#[cfg_attr(
    not(test),
    expect(
        dead_code,
        reason = "used by `app exec --env`, which arrives with the app commands"
    )
)]
pub const fn hash(long: &'static str, short: Option<char>) -> OptionSpec {
    OptionSpec {
        long,
        short,
        kind: Kind::Hash,
    }
}

/// Options every command accepts (Kamal's class options).
pub const GLOBAL_OPTIONS: &[OptionSpec] = &[
    flag("verbose", Some('v')),
    flag("quiet", Some('q')),
    value("version", None),
    flag("primary", Some('p')),
    value("hosts", Some('h')),
    value("roles", Some('r')),
    value("config-file", Some('c')),
    value("destination", Some('d')),
    flag("skip-hooks", Some('H')),
    flag("dry-run", None),
    flag("lock-wait", None),
    value("lock-wait-timeout", None),
    value("lock-wait-interval", None),
    flag("help", None),
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OptionValue {
    Flag(bool),
    Text(String),
    Pairs(Vec<(String, String)>),
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Parsed {
    pub options: BTreeMap<String, OptionValue>,
    pub arguments: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArgumentError {
    #[error("No value provided for option '--{0}'")]
    MissingValue(String),
}

impl Parsed {
    pub fn flag(&self, name: &str) -> bool {
        matches!(self.options.get(name), Some(OptionValue::Flag(true)))
    }

    pub fn text(&self, name: &str) -> Option<&str> {
        match self.options.get(name) {
            Some(OptionValue::Text(text)) => Some(text),
            _ => None,
        }
    }

    #[cfg_attr(
        not(test),
        expect(
            dead_code,
            reason = "used by `app exec --env`, which arrives with the app commands"
        )
    )]
    pub fn pairs(&self, name: &str) -> Vec<(String, String)> {
        match self.options.get(name) {
            Some(OptionValue::Pairs(pairs)) => pairs.clone(),
            _ => Vec::new(),
        }
    }
}

/// Parses `words` against `specs` (global options are always included).
pub fn parse(words: &[String], specs: &[OptionSpec]) -> Result<Parsed, ArgumentError> {
    let all: Vec<OptionSpec> = GLOBAL_OPTIONS.iter().chain(specs.iter()).copied().collect();
    let find_long = |name: &str| {
        all.iter()
            .find(|spec| spec.long == name.replace('_', "-"))
            .copied()
    };
    let find_short = |letter: char| all.iter().find(|spec| spec.short == Some(letter)).copied();
    let mut parsed = Parsed::default();
    let mut index = 0;
    let mut options_ended = false;
    while index < words.len() {
        let word = &words[index];
        index += 1;
        if options_ended || word == "-" || !word.starts_with('-') {
            parsed.arguments.push(word.clone());
            continue;
        }
        if word == "--" {
            options_ended = true;
            continue;
        }
        let (_name, inline_value, spec) = if let Some(long) = word.strip_prefix("--") {
            let (name, inline) = match long.split_once('=') {
                Some((name, value)) => (name.to_string(), Some(value.to_string())),
                None => (long.to_string(), None),
            };
            let negated = ["no-", "no_", "skip-", "skip_"].iter().find_map(|prefix| {
                name.strip_prefix(prefix)
                    .and_then(|rest| find_long(rest).filter(|spec| spec.kind == Kind::Flag))
            });
            match (find_long(&name), negated) {
                (Some(spec), _) => (name, inline, Some(spec)),
                (None, Some(spec)) if inline.is_none() => {
                    parsed
                        .options
                        .insert(spec.long.to_string(), OptionValue::Flag(false));
                    continue;
                }
                _ => (name, inline, None),
            }
        } else {
            let body = &word[1..];
            let (letters, inline) = match body.split_once('=') {
                Some((letters, value)) => (letters.to_string(), Some(value.to_string())),
                None => (body.to_string(), None),
            };
            let mut characters = letters.chars();
            let Some(first) = characters.next() else {
                parsed.arguments.push(word.clone());
                continue;
            };
            let rest: String = characters.collect();
            match find_short(first) {
                Some(spec) if spec.kind == Kind::Flag && !rest.is_empty() => {
                    // `-vq`: a cluster of flags; unknown letters keep the word as an argument.
                    let cluster: Option<Vec<OptionSpec>> = letters.chars().map(find_short).collect();
                    match cluster.filter(|specs| specs.iter().all(|spec| spec.kind == Kind::Flag)) {
                        Some(specs) => {
                            for spec in specs {
                                parsed
                                    .options
                                    .insert(spec.long.to_string(), OptionValue::Flag(true));
                            }
                        }
                        None => parsed.arguments.push(word.clone()),
                    }
                    continue;
                }
                Some(spec) => {
                    let inline = inline.or_else(|| (!rest.is_empty()).then_some(rest));
                    (spec.long.to_string(), inline, Some(spec))
                }
                None => (letters, inline, None),
            }
        };
        let Some(spec) = spec else {
            parsed.arguments.push(word.clone());
            continue;
        };
        match spec.kind {
            Kind::Flag => {
                let value = inline_value.map(|value| value != "false").unwrap_or(true);
                parsed
                    .options
                    .insert(spec.long.to_string(), OptionValue::Flag(value));
            }
            Kind::Value => {
                let value = match inline_value {
                    Some(value) => value,
                    None => match words.get(index) {
                        Some(next) if !next.starts_with('-') => {
                            index += 1;
                            next.clone()
                        }
                        _ => return Err(ArgumentError::MissingValue(spec.long.to_string())),
                    },
                };
                parsed
                    .options
                    .insert(spec.long.to_string(), OptionValue::Text(value));
            }
            Kind::Hash => {
                let mut values = Vec::new();
                if let Some(value) = inline_value {
                    values.push(value);
                }
                while let Some(next) = words
                    .get(index)
                    .filter(|next| !next.starts_with('-') && next.contains(':'))
                {
                    values.push(next.clone());
                    index += 1;
                }
                let entry = parsed
                    .options
                    .entry(spec.long.to_string())
                    .or_insert(OptionValue::Pairs(Vec::new()));
                if let OptionValue::Pairs(pairs) = entry {
                    for value in values {
                        let (key, value) = value.split_once(':').unwrap_or((&value, ""));
                        pairs.push((key.to_string(), value.to_string()));
                    }
                }
            }
        }
    }
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(line: &str) -> Vec<String> {
        line.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn parses_thor_forms() {
        let parsed = parse(
            &words("-c x.yml --destination=staging -vq --skip_hooks arg --version=abc"),
            &[],
        )
        .expect("parse");
        assert_eq!(parsed.text("config-file"), Some("x.yml"));
        assert_eq!(parsed.text("destination"), Some("staging"));
        assert!(parsed.flag("verbose") && parsed.flag("quiet") && parsed.flag("skip-hooks"));
        assert_eq!(parsed.text("version"), Some("abc"));
        assert_eq!(parsed.arguments, vec!["arg"]);
    }

    #[test]
    fn dash_h_is_hosts_and_dash_capital_h_skips_hooks() {
        let parsed = parse(&words("-h 1.1.1.1,1.1.1.2 -H"), &[]).expect("parse");
        assert_eq!(parsed.text("hosts"), Some("1.1.1.1,1.1.1.2"));
        assert!(parsed.flag("skip-hooks"));
    }

    #[test]
    fn booleans_negate_with_no_and_skip() {
        let specs = [flag("push", None)];
        assert!(!parse(&words("--no-push"), &specs).expect("parse").flag("push"));
        assert!(!parse(&words("--skip-push"), &specs).expect("parse").flag("push"));
    }

    #[test]
    fn unknown_options_stay_arguments() {
        let parsed = parse(&words("--bogus x"), &[]).expect("parse");
        assert_eq!(parsed.arguments, vec!["--bogus", "x"]);
    }

    #[test]
    fn missing_value_is_an_error() {
        assert_eq!(
            parse(&words("-d"), &[]),
            Err(ArgumentError::MissingValue("destination".into()))
        );
    }

    #[test]
    fn hash_options_collect_pairs() {
        let specs = [hash("env", Some('e'))];
        let parsed = parse(&words("-e A:1 B:2 --env C:3"), &specs).expect("parse");
        assert_eq!(
            parsed.pairs("env"),
            vec![
                ("A".into(), "1".into()),
                ("B".into(), "2".into()),
                ("C".into(), "3".into())
            ]
        );
    }
}
