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
    /// Thor `type: :numeric`: a value that must be a number.
    Numeric,
    /// Thor `type: :string, repeatable: true`: every occurrence adds a value.
    Repeatable,
    /// Thor `type: :array`: the values that follow, up to the next option
    /// (`--docker-options a=b c=d`); a second occurrence replaces the first.
    Array,
}

#[derive(Debug, Clone, Copy)]
pub struct OptionSpec {
    /// The canonical name with dashes (`config-file`).
    pub long: &'static str,
    pub short: Option<char>,
    pub kind: Kind,
    /// What `kamal help` says about the option.
    pub doc: Doc,
}

/// An option as Thor's help shows it (`desc:`, `default:`, `banner:`, `required:`,
/// `hide:`); parsing ignores all of it.
#[derive(Debug, Clone, Copy)]
pub struct Doc {
    pub description: Option<&'static str>,
    /// The default as Thor prints it after `# Default: ` (none: no such line).
    pub default: Option<&'static str>,
    /// The placeholder after `=` when it is not the one the kind implies (`N`, `NAME`).
    pub banner: Option<&'static str>,
    /// Thor's `required: true`: shown without brackets.
    pub required: bool,
    /// Not listed in help (Thor's `hide: true`, or one Kamal 2.11 does not have).
    pub hidden: bool,
    /// The whole usage text, where Thor's type differs from how we parse the option
    /// (`-f` is a string in Kamal that we treat as a flag) or for our own options.
    pub shown_as: Option<&'static str>,
}

impl Doc {
    pub const NONE: Doc = Doc {
        description: None,
        default: None,
        banner: None,
        required: false,
        hidden: false,
        shown_as: None,
    };
}

impl OptionSpec {
    pub const fn desc(self, description: &'static str) -> OptionSpec {
        OptionSpec {
            doc: Doc {
                description: Some(description),
                ..self.doc
            },
            ..self
        }
    }

    pub const fn default(self, default: &'static str) -> OptionSpec {
        OptionSpec {
            doc: Doc {
                default: Some(default),
                ..self.doc
            },
            ..self
        }
    }

    pub const fn banner(self, banner: &'static str) -> OptionSpec {
        OptionSpec {
            doc: Doc {
                banner: Some(banner),
                ..self.doc
            },
            ..self
        }
    }

    pub const fn required(self) -> OptionSpec {
        OptionSpec {
            doc: Doc {
                required: true,
                ..self.doc
            },
            ..self
        }
    }

    pub const fn hidden(self) -> OptionSpec {
        OptionSpec {
            doc: Doc {
                hidden: true,
                ..self.doc
            },
            ..self
        }
    }

    pub const fn shown_as(self, usage: &'static str) -> OptionSpec {
        OptionSpec {
            doc: Doc {
                shown_as: Some(usage),
                ..self.doc
            },
            ..self
        }
    }
}

pub const fn flag(long: &'static str, short: Option<char>) -> OptionSpec {
    OptionSpec {
        long,
        short,
        kind: Kind::Flag,
        doc: Doc::NONE,
    }
}

pub const fn value(long: &'static str, short: Option<char>) -> OptionSpec {
    OptionSpec {
        long,
        short,
        kind: Kind::Value,
        doc: Doc::NONE,
    }
}

pub const fn hash(long: &'static str, short: Option<char>) -> OptionSpec {
    OptionSpec {
        long,
        short,
        kind: Kind::Hash,
        doc: Doc::NONE,
    }
}

pub const fn numeric(long: &'static str, short: Option<char>) -> OptionSpec {
    OptionSpec {
        long,
        short,
        kind: Kind::Numeric,
        doc: Doc::NONE,
    }
}

pub const fn repeatable(long: &'static str, short: Option<char>) -> OptionSpec {
    OptionSpec {
        long,
        short,
        kind: Kind::Repeatable,
        doc: Doc::NONE,
    }
}

pub const fn array(long: &'static str, short: Option<char>) -> OptionSpec {
    OptionSpec {
        long,
        short,
        kind: Kind::Array,
        doc: Doc::NONE,
    }
}

/// Options every command accepts (Kamal's class options).
/// In Thor's order, which is the order `kamal help` lists them in; `--dry-run` is ours and
/// comes last, the Kamal 2.12 lock-wait options are not listed (2.11 has none).
pub const GLOBAL_OPTIONS: &[OptionSpec] = &[
    flag("verbose", Some('v')).desc("Detailed logging"),
    flag("quiet", Some('q')).desc("Minimal logging"),
    value("version", None).desc("Run commands against a specific app version"),
    flag("primary", Some('p')).desc("Run commands only on primary host instead of all"),
    value("hosts", Some('h'))
        .desc("Run commands on these hosts instead of all (separate by comma, supports wildcards with *)"),
    value("roles", Some('r'))
        .desc("Run commands on these roles instead of all (separate by comma, supports wildcards with *)"),
    value("config-file", Some('c'))
        .desc("Path to config file")
        .default("config/deploy.yml"),
    value("destination", Some('d'))
        .desc("Specify destination to be used for config file (staging -> deploy.staging.yml)"),
    flag("skip-hooks", Some('H'))
        .desc("Don't run hooks")
        .default("false"),
    flag("dry-run", None)
        .desc("Print, per host, every command that would run; change nothing")
        .shown_as("[--dry-run]"),
    flag("lock-wait", None).hidden(),
    value("lock-wait-timeout", None).hidden(),
    value("lock-wait-interval", None).hidden(),
    flag("help", None).hidden(),
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OptionValue {
    Flag(bool),
    Text(String),
    Pairs(Vec<(String, String)>),
    List(Vec<String>),
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
    #[error("Expected numeric value for '--{name}'; got {value:?}")]
    NotNumeric { name: String, value: String },
}

impl Parsed {
    pub fn flag(&self, name: &str) -> bool {
        matches!(self.options.get(name), Some(OptionValue::Flag(true)))
    }

    /// A boolean option with a default other than false (Thor's `default: true`).
    pub fn flag_or(&self, name: &str, default: bool) -> bool {
        match self.options.get(name) {
            Some(OptionValue::Flag(value)) => *value,
            _ => default,
        }
    }

    /// A repeatable or array option's values (empty when not given).
    pub fn list(&self, name: &str) -> Option<&[String]> {
        match self.options.get(name) {
            Some(OptionValue::List(values)) => Some(values),
            _ => None,
        }
    }

    pub fn text(&self, name: &str) -> Option<&str> {
        match self.options.get(name) {
            Some(OptionValue::Text(text)) => Some(text),
            _ => None,
        }
    }

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
            Kind::Value | Kind::Numeric | Kind::Repeatable => {
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
                if spec.kind == Kind::Numeric && !is_numeric(&value) {
                    return Err(ArgumentError::NotNumeric {
                        name: spec.long.to_string(),
                        value,
                    });
                }
                if spec.kind == Kind::Repeatable {
                    let entry = parsed
                        .options
                        .entry(spec.long.to_string())
                        .or_insert(OptionValue::List(Vec::new()));
                    if let OptionValue::List(values) = entry {
                        values.push(value);
                    }
                } else {
                    parsed
                        .options
                        .insert(spec.long.to_string(), OptionValue::Text(value));
                }
            }
            Kind::Array => {
                let mut values: Vec<String> = inline_value.into_iter().collect();
                while let Some(next) = words.get(index).filter(|next| !next.starts_with('-')) {
                    values.push(next.clone());
                    index += 1;
                }
                if values.is_empty() {
                    return Err(ArgumentError::MissingValue(spec.long.to_string()));
                }
                parsed
                    .options
                    .insert(spec.long.to_string(), OptionValue::List(values));
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

/// Thor's `NUMERIC`: an optionally signed integer or decimal, the whole word.
fn is_numeric(text: &str) -> bool {
    let unsigned = text.strip_prefix(['-', '+']).unwrap_or(text);
    let (whole, fraction) = match unsigned.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (unsigned, None),
    };
    let digits = |part: &str| part.bytes().all(|byte| byte.is_ascii_digit());
    match fraction {
        None => !whole.is_empty() && digits(whole),
        Some(fraction) => !fraction.is_empty() && digits(fraction) && digits(whole),
    }
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

    #[test]
    fn repeatable_options_collect_every_occurrence() {
        let specs = [repeatable("publish-host-ip", None)];
        let parsed = parse(
            &words("set --publish-host-ip 127.0.0.1 --publish-host-ip=10.0.0.1"),
            &specs,
        )
        .expect("parse");
        assert_eq!(
            parsed.list("publish-host-ip"),
            Some(&["127.0.0.1".to_string(), "10.0.0.1".to_string()][..])
        );
        assert_eq!(parsed.arguments, vec!["set"]);
        assert_eq!(
            parse(&words("set"), &specs)
                .expect("parse")
                .list("publish-host-ip"),
            None
        );
    }

    #[test]
    fn array_options_take_the_values_up_to_the_next_option() {
        let specs = [array("docker-options", None), flag("debug", None)];
        let parsed = parse(&words("set --docker-options=label=a cpus=1 --debug get"), &specs).expect("parse");
        assert_eq!(
            parsed.list("docker-options"),
            Some(&["label=a".to_string(), "cpus=1".to_string()][..])
        );
        assert!(parsed.flag("debug"));
        assert_eq!(parsed.arguments, vec!["set", "get"]);
        assert_eq!(
            parse(&words("--docker-options"), &specs),
            Err(ArgumentError::MissingValue("docker-options".into()))
        );
    }

    #[test]
    fn numeric_options_reject_words() {
        let specs = [numeric("http-port", None)];
        let parsed = parse(&words("--http-port 8080"), &specs).expect("parse");
        assert_eq!(parsed.text("http-port"), Some("8080"));
        let error = parse(&words("--http-port=eighty"), &specs).expect_err("not numeric");
        assert_eq!(
            error.to_string(),
            "Expected numeric value for '--http-port'; got \"eighty\""
        );
    }

    #[test]
    fn booleans_default_as_declared() {
        let specs = [flag("publish", None)];
        assert!(parse(&words(""), &specs).expect("parse").flag_or("publish", true));
        assert!(!parse(&words("--no-publish"), &specs)
            .expect("parse")
            .flag_or("publish", true));
        assert!(!parse(&words("--skip-publish"), &specs)
            .expect("parse")
            .flag_or("publish", true));
    }
}
