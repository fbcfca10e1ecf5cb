//! Bad input gets one clear error: Kamal's `ERROR (Class): message` line, exit 1, no panic,
//! no backtrace, the file (and line where known) named — in the message, or with `-v` in
//! the `-->` line — and never a secret value.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BASE: &str = "service: app\nimage: a/app\nservers: [1.1.1.1]\nregistry: {username: u, password: [PW]}\nbuilder: {arch: amd64}\n";
const SECRET_VALUE: &str = "s3cr3t-value-that-must-not-leak";

struct Project {
    dir: PathBuf,
}

impl Project {
    fn new(name: &str, deploy: &str) -> Project {
        let dir = std::env::temp_dir().join(format!("kamal-bad-input-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(dir.join("config")).expect("config dir");
        fs::create_dir_all(dir.join(".kamal")).expect(".kamal dir");
        fs::write(dir.join("config/deploy.yml"), deploy).expect("deploy.yml");
        fs::write(dir.join(".kamal/secrets"), format!("PW={SECRET_VALUE}\n")).expect("secrets");
        Project { dir }
    }

    fn write(&self, path: &str, contents: &str) {
        fs::write(self.dir.join(path), contents).expect("write");
    }

    fn kamal(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_kamal"))
            .args(args)
            .current_dir(&self.dir)
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("HOME", &self.dir)
            .env("VERSION", "v1")
            .env("NO_COLOR", "1")
            .output()
            .expect("run kamal")
    }
}

impl Drop for Project {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// Asserts one ERROR line on stdout with `expected` in it, exit 1, and no panic, backtrace
/// or secret anywhere. Returns stdout + stderr.
fn assert_clean_failure(output: &Output, expected: &str) -> String {
    let stdout = String::from_utf8_lossy(&output.stdout).to_string();
    let stderr = String::from_utf8_lossy(&output.stderr).to_string();
    let all = format!("{stdout}{stderr}");
    assert_eq!(output.status.code(), Some(1), "exit code; output:\n{all}");
    let error_lines: Vec<&str> = stdout
        .lines()
        .filter(|line| line.starts_with("  ERROR ("))
        .collect();
    assert_eq!(error_lines.len(), 1, "one ERROR line expected:\n{all}");
    assert!(
        error_lines[0].contains(expected),
        "expected {expected:?} in {:?}",
        error_lines[0]
    );
    for forbidden in ["panicked", "RUST_BACKTRACE", "stack backtrace", SECRET_VALUE] {
        assert!(!all.contains(forbidden), "{forbidden:?} must not appear:\n{all}");
    }
    all
}

fn path(dir: &Path) -> String {
    dir.display().to_string()
}

#[test]
fn unparseable_yaml_names_file_line_and_column() {
    let project = Project::new("yaml", &format!("{BASE}volumes: [a\n"));
    let output = project.kamal(&["config"]);
    assert_clean_failure(
        &output,
        "ERROR (Psych::SyntaxError): (config/deploy.yml): did not find expected ',' or ']'",
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("at line 6 column"));
}

#[test]
fn unknown_key_points_at_the_key_with_verbose() {
    let project = Project::new("unknown", &format!("{BASE}\nfoo: 1\n"));
    let all = assert_clean_failure(
        &project.kamal(&["config", "-v"]),
        "ERROR (Kamal::ConfigurationError): unknown key: foo",
    );
    assert!(all.contains("--> config/deploy.yml:7:1"), "{all}");
}

#[test]
fn wrong_type_points_at_the_value_with_verbose() {
    let project = Project::new("type", &format!("{BASE}ssh:\n  user: [a]\n"));
    let all = assert_clean_failure(&project.kamal(&["config", "-v"]), "ssh/user: should be a string");
    assert!(all.contains("--> config/deploy.yml:7:9"), "{all}");
}

#[test]
fn without_a_terminal_or_verbose_the_output_is_kamals_alone() {
    let project = Project::new("plain", &format!("{BASE}foo: 1\n"));
    let output = project.kamal(&["config"]);
    assert_clean_failure(&output, "unknown key: foo");
    assert!(
        output.stderr.is_empty(),
        "stderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn destination_values_are_located_in_the_destination_file() {
    let project = Project::new("destination", BASE);
    project.write("config/deploy.staging.yml", "ssh:\n  port: [1]\n");
    let all = assert_clean_failure(
        &project.kamal(&["config", "-d", "staging", "-v"]),
        "ssh/port: should be a string",
    );
    assert!(all.contains("--> config/deploy.staging.yml:2:9"), "{all}");
}

#[test]
fn missing_env_fetch_variable_is_a_key_error_at_its_line() {
    let project = Project::new(
        "fetch",
        &format!("{BASE}image: <%= ENV.fetch(\"NOT_SET_ANYWHERE\") %>\n"),
    );
    let all = assert_clean_failure(
        &project.kamal(&["config", "-v"]),
        "ERROR (KeyError): key not found: \"NOT_SET_ANYWHERE\"",
    );
    assert!(all.contains("--> config/deploy.yml:6"), "{all}");
}

#[test]
fn unsupported_ruby_names_file_line_and_expression() {
    let project = Project::new("ruby", &format!("{BASE}image: <%= Foo.bar %>\n"));
    assert_clean_failure(
        &project.kamal(&["config"]),
        "config/deploy.yml:6: unsupported Ruby in ERB: `Foo.bar`",
    );
}

#[test]
fn missing_program_in_backticks_is_enoent_as_in_kamal() {
    let project = Project::new(
        "enoent",
        &format!("{BASE}image: <%= `no-such-program-here --flag` %>\n"),
    );
    assert_clean_failure(
        &project.kamal(&["config"]),
        "ERROR (Errno::ENOENT): No such file or directory - no-such-program-here",
    );
}

#[test]
fn a_failing_secrets_command_stops_with_file_and_key() {
    let project = Project::new("failing", BASE);
    project.write(
        ".kamal/secrets",
        &format!("OTHER={SECRET_VALUE}\nPW=$(echo {SECRET_VALUE}; exit 3)\n"),
    );
    assert_clean_failure(
        &project.kamal(&["secrets", "print"]),
        "the command for PW in .kamal/secrets exited with status 3",
    );
}

#[test]
fn a_failing_secrets_command_can_be_accepted_with_or_true() {
    let project = Project::new("accepted", BASE);
    project.write(".kamal/secrets", "PW=$(false || true)\n");
    let output = project.kamal(&["secrets", "print"]);
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&output.stdout), "PW=\n");
}

#[test]
fn unreadable_config_file_is_named() {
    let project = Project::new("unreadable", BASE);
    fs::remove_file(project.dir.join("config/deploy.yml")).expect("remove");
    fs::create_dir(project.dir.join("config/deploy.yml")).expect("directory in its place");
    let expected = format!(
        "ERROR (Errno::EISDIR): Is a directory - {}/config/deploy.yml",
        path(&project.dir)
    );
    assert_clean_failure(&project.kamal(&["config"]), &expected);
}

#[test]
fn missing_config_file_is_kamals_runtime_error() {
    let project = Project::new("missing", BASE);
    let expected = format!(
        "ERROR (RuntimeError): Configuration file not found in {}/config/deploy.staging.yml",
        path(&project.dir)
    );
    assert_clean_failure(&project.kamal(&["config", "-d", "staging"]), &expected);
}

#[test]
fn secret_values_stay_out_of_configuration_errors() {
    let project = Project::new(
        "no-leak",
        &format!("{BASE}registry: {{username: u, password: 3}}\n"),
    );
    assert_clean_failure(
        &project.kamal(&["config", "-v"]),
        "registry/password: should be a string or an array with one string (for secret lookup)",
    );
}
