//! Differential cases for configuration validation and `kamal config`: each folder in
//! `validation/` holds a small project (`config/deploy.yml`, maybe a destination file,
//! `.kamal/…`, an `args` file) and `expected`, the exit code and stdout Kamal 2.11 gave
//! for `kamal config <args>` (recorded by `validation/record.sh`). Ours must match byte
//! for byte. The sandbox is the one `record.sh` uses, so paths in messages agree once the
//! working folder is replaced by `$WORK`.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

fn cases_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/validation")
}

/// Copies a case's project files (everything but `expected` and `args`) into `work`.
fn copy_project(from: &Path, to: &Path) {
    fs::create_dir_all(to).expect("create work dir");
    for entry in fs::read_dir(from).expect("read case dir").flatten() {
        let name = entry.file_name();
        if name == "expected" || name == "args" {
            continue;
        }
        let source = entry.path();
        let target = to.join(&name);
        if source.is_dir() {
            copy_project(&source, &target);
        } else {
            fs::copy(&source, &target).expect("copy case file");
        }
    }
}

fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\x1b' && chars.peek() == Some(&'[') {
            chars.next();
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
            continue;
        }
        out.push(c);
    }
    out
}

/// Exit code and stdout in `expected`'s format.
fn run_case(case: &Path, scratch: &Path) -> String {
    let work = scratch.join("work");
    let home = scratch.join("home");
    let _ = fs::remove_dir_all(scratch);
    copy_project(case, &work);
    fs::create_dir_all(&home).expect("create home");
    let args: Vec<String> = fs::read_to_string(case.join("args"))
        .map(|text| text.split_whitespace().map(str::to_string).collect())
        .unwrap_or_default();
    let output = Command::new(env!("CARGO_BIN_EXE_kamal"))
        .arg("config")
        .args(&args)
        .current_dir(&work)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", &home)
        .env("LANG", "C.UTF-8")
        .env("VERSION", "v1")
        .output()
        .expect("run kamal");
    let stdout = strip_ansi(&String::from_utf8_lossy(&output.stdout))
        .replace(&work.to_string_lossy().into_owned(), "$WORK");
    let _ = fs::remove_dir_all(scratch);
    format!("exit_code: {}\n{stdout}", output.status.code().unwrap_or(-1))
}

/// A line diff small enough to read: the lines that differ, with their numbers.
fn diff(expected: &str, actual: &str) -> String {
    let expected: Vec<&str> = expected.lines().collect();
    let actual: Vec<&str> = actual.lines().collect();
    let mut out = String::new();
    for index in 0..expected.len().max(actual.len()) {
        let left = expected.get(index);
        let right = actual.get(index);
        if left != right {
            if let Some(line) = left {
                out.push_str(&format!("  {:>3} - {line}\n", index + 1));
            }
            if let Some(line) = right {
                out.push_str(&format!("  {:>3} + {line}\n", index + 1));
            }
        }
    }
    out
}

#[test]
fn kamal_config_matches_kamal_2_11_on_validation_cases() {
    let root = cases_dir();
    let mut cases: Vec<PathBuf> = fs::read_dir(&root)
        .expect("read validation dir")
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| path.is_dir())
        .collect();
    cases.sort();
    let only = std::env::var("VALIDATION_CASE").ok();
    let scratch_root = std::env::temp_dir().join(format!("kamal-validation-{}", std::process::id()));
    let mut failures = Vec::new();
    let mut compared = 0;
    for case in &cases {
        let name = case.file_name().map(|name| name.to_string_lossy().into_owned());
        let name = name.unwrap_or_default();
        if only.as_deref().is_some_and(|only| !name.contains(only)) {
            continue;
        }
        let expected = fs::read_to_string(case.join("expected"))
            .unwrap_or_else(|_| panic!("{name}: no `expected` (run validation/record.sh)"));
        let actual = run_case(case, &scratch_root.join(&name));
        compared += 1;
        if actual != expected {
            failures.push(format!("== {name}\n{}", diff(&expected, &actual)));
        }
    }
    let _ = fs::remove_dir_all(&scratch_root);
    assert!(compared > 0, "no cases ran");
    assert!(
        failures.is_empty(),
        "{} of {compared} cases differ from Kamal 2.11 (- Kamal, + ours):\n{}",
        failures.len(),
        failures.join("\n")
    );
}
