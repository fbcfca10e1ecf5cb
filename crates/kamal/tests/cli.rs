//! The command line as Kamal users and scripts see it: command lookup, Thor's errors,
//! `version`, `docs`, `init`, `help`, and options wherever Kamal accepts them.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Command, Output};

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kamal-cli-{}-{name}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

fn kamal(dir: &PathBuf, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kamal"))
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env("VERSION", "v1")
        .output()
        .expect("run kamal")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn version_prints_the_kamal_release_we_replace() {
    let dir = scratch("version");
    let output = kamal(&dir, &["version"]);
    assert_eq!(stdout(&output), "2.11.0\n");
    assert!(output.status.success());
    // Thor resolves unambiguous prefixes.
    assert_eq!(stdout(&kamal(&dir, &["vers"])), "2.11.0\n");
}

#[test]
fn extra_arguments_are_thors_error() {
    let dir = scratch("extra");
    let output = kamal(&dir, &["version", "extra"]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        stderr(&output),
        "ERROR: \"kamal version\" was called with arguments [\"extra\"]\nUsage: \"kamal version\"\n"
    );
}

#[test]
fn unknown_commands_are_named() {
    let dir = scratch("unknown");
    let output = kamal(&dir, &["frobnicate"]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(stderr(&output), "Could not find command \"frobnicate\".\n");
}

#[test]
fn docs_prints_sections_and_refuses_unknown_ones() {
    let dir = scratch("docs");
    let overview = stdout(&kamal(&dir, &["docs"]));
    assert!(overview.contains("service:"), "{overview}");
    let proxy = stdout(&kamal(&dir, &["docs", "proxy"]));
    assert!(proxy.contains("healthcheck"), "{proxy}");
    let output = kamal(&dir, &["docs", "configuration"]);
    assert_eq!(stdout(&output), "No documentation found for configuration\n");
    assert!(output.status.success());
}

#[test]
fn init_creates_config_secrets_and_executable_sample_hooks_once() {
    let dir = scratch("init");
    let first = kamal(&dir, &["init"]);
    assert_eq!(
        stdout(&first),
        "Created configuration file in config/deploy.yml\nCreated .kamal/secrets file\nCreated sample hooks in .kamal/hooks\n"
    );
    for hook in [
        "pre-app-boot",
        "post-app-boot",
        "pre-connect",
        "docker-setup",
        "post-proxy-reboot",
    ] {
        let path = dir.join(format!(".kamal/hooks/{hook}.sample"));
        let mode = fs::metadata(&path).expect("sample hook").permissions().mode();
        assert_eq!(mode & 0o777, 0o755, "{hook}");
    }
    let second = kamal(&dir, &["init"]);
    assert_eq!(
        stdout(&second),
        "Config file already exists in config/deploy.yml (remove first to create a new one)\n"
    );
}

#[test]
fn the_init_template_is_a_valid_configuration() {
    let dir = scratch("template");
    assert!(kamal(&dir, &["init"]).status.success());
    let output = kamal(&dir, &["config"]);
    assert!(output.status.success(), "{}{}", stdout(&output), stderr(&output));
    assert!(
        stdout(&output).starts_with("---\n:roles:\n- web\n"),
        "{}",
        stdout(&output)
    );
}

#[test]
fn options_work_before_and_after_the_command() {
    let dir = scratch("options");
    fs::create_dir_all(dir.join("deploy")).expect("dir");
    fs::write(
        dir.join("deploy/app.yml"),
        "service: app\nimage: a/app\nservers: [1.1.1.1]\nregistry: {username: u, password: p}\nbuilder: {arch: amd64}\n",
    )
    .expect("config");
    for args in [
        vec!["config", "-c", "deploy/app.yml", "--version=abc"],
        vec!["-c", "deploy/app.yml", "config", "--version", "abc"],
        vec!["config", "--config_file=deploy/app.yml", "--version=abc"],
    ] {
        let output = kamal(&dir, &args);
        assert!(output.status.success(), "{args:?}: {}", stderr(&output));
        assert!(
            stdout(&output).contains(":version: abc\n"),
            "{args:?}: {}",
            stdout(&output)
        );
    }
}

#[test]
fn help_for_a_command_matches_thor() {
    let dir = scratch("help");
    let text = stdout(&kamal(&dir, &["help", "config"]));
    assert!(text.starts_with("Usage:\n  kamal config\n\nOptions:\n"), "{text}");
    assert!(
        text.ends_with("Show combined config (including secrets!)\n"),
        "{text}"
    );
}
