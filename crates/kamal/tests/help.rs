//! `kamal help …`, `kamal <group>`, `kamal <group> help [SUBCOMMAND]`, `--help` and
//! `kamal tree`, byte for byte as Kamal 2.11 (Thor) prints them.
//!
//! The expected texts in `testdata/help/` were recorded from the real Kamal 2.11 by
//! `testdata/help/record.sh`, one per line of `testdata/help/cases.txt`, with a single
//! edit: our own `[--dry-run]` class option, which Kamal does not have, is inserted where
//! ours prints it (the last class option, aligned with the rest of the table). Kamal is not
//! needed to run this test.
//!
//! Not covered on purpose: options before the command (`kamal -v help app`, where Thor
//! describes `help` itself) and `--help` after a top-level command (`kamal deploy --help`,
//! which Thor refuses as an extra argument); ours describes the command in both cases.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/testdata/help")
}

/// `record.sh`'s file name for a case: `kamal` and the words joined by `_`.
fn golden_name(words: &[&str]) -> String {
    let mut name = String::from("kamal");
    for word in words {
        name.push('_');
        name.extend(word.chars().map(|character| {
            if character.is_ascii_alphanumeric() || "._=-".contains(character) {
                character
            } else {
                '_'
            }
        }));
    }
    name
}

struct Case {
    line: String,
    environment: Vec<(String, String)>,
    words: Vec<String>,
}

impl Case {
    /// The golden file's name: the environment settings, then the words.
    fn golden_name(&self) -> String {
        let mut labels: Vec<String> = self
            .environment
            .iter()
            .map(|(key, value)| format!("{key}={value}"))
            .collect();
        labels.extend(self.words.iter().cloned());
        golden_name(&labels.iter().map(String::as_str).collect::<Vec<_>>())
    }
}

fn cases() -> Vec<Case> {
    let text = fs::read_to_string(testdata().join("cases.txt")).expect("cases.txt");
    text.lines()
        .filter(|line| !line.trim().is_empty() && !line.starts_with('#'))
        .map(|line| {
            let mut environment = Vec::new();
            let mut words = Vec::new();
            if line != "-" {
                for word in line.split_whitespace() {
                    let setting = word.split_once('=').filter(|(key, _)| {
                        words.is_empty()
                            && !key.is_empty()
                            && key.chars().all(|c| c.is_ascii_uppercase() || c == '_')
                    });
                    match setting {
                        Some((key, value)) => environment.push((key.to_string(), value.to_string())),
                        None => words.push(word.to_string()),
                    }
                }
            }
            Case {
                line: line.to_string(),
                environment,
                words,
            }
        })
        .collect()
}

#[test]
fn help_texts_match_kamal_2_11() {
    let scratch = std::env::temp_dir().join(format!("kamal-help-{}", std::process::id()));
    fs::create_dir_all(&scratch).expect("scratch dir");
    let cases = cases();
    assert!(cases.len() > 150, "cases.txt lists {} cases", cases.len());
    let mut failures = Vec::new();
    for case in &cases {
        let name = case.golden_name();
        // As recorded: no terminal, so Thor's width is THOR_COLUMNS or 80.
        let mut command = Command::new(env!("CARGO_BIN_EXE_kamal"));
        command
            .args(&case.words)
            .current_dir(&scratch)
            .stdin(Stdio::null())
            .env_remove("COLUMNS")
            .env_remove("THOR_COLUMNS")
            .env("TERM", "dumb")
            .env("NO_COLOR", "1");
        for (key, value) in &case.environment {
            command.env(key, value);
        }
        let output = command.output().expect("run kamal");
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        let success = testdata().join(format!("{name}.txt"));
        let (expected, actual, status_ok) = if success.exists() {
            (
                fs::read_to_string(&success).expect("golden"),
                format!("{stdout}{stderr}"),
                output.status.success(),
            )
        } else {
            let failure = testdata().join(format!("{name}.err"));
            let expected = fs::read_to_string(&failure).unwrap_or_else(|_| {
                panic!(
                    "no golden file for `{}` ({name}.txt or .err): run record.sh",
                    case.line
                )
            });
            (
                expected,
                format!("{stdout}{stderr}"),
                output.status.code() == Some(1),
            )
        };
        if actual != expected || !status_ok {
            failures.push(format!(
                "`kamal {}` (exit {:?}), expected {name}:\n--- expected\n{expected}--- actual\n{actual}",
                case.line,
                output.status.code()
            ));
        }
    }
    let _ = fs::remove_dir_all(&scratch);
    assert!(
        failures.is_empty(),
        "{} of {} help texts differ from Kamal 2.11:\n\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn every_golden_file_has_a_case() {
    let names: Vec<String> = cases().iter().map(Case::golden_name).collect();
    for entry in fs::read_dir(testdata()).expect("testdata") {
        let file = entry.expect("entry").file_name().to_string_lossy().into_owned();
        if let Some(stem) = file.strip_suffix(".txt").or_else(|| file.strip_suffix(".err")) {
            if stem.starts_with("kamal") {
                assert!(
                    names.iter().any(|name| name == stem),
                    "{file} has no line in cases.txt"
                );
            }
        }
    }
}
