//! `Kamal::Commands::Lock`: the deploy lock, a directory created atomically with `mkdir` on
//! the primary host (`.kamal/lock-<service>[-<destination>]`), holding a `details` file:
//! who locked, when, which version and why, base64-encoded as Ruby's `Base64.encode64`
//! does (a newline every 60 characters and at the end). A failed `mkdir` ("cannot create
//! directory") is how a held lock shows itself.

use kamal_config::configuration::Configuration;

use crate::base::{combine, pipe, write};
use crate::cmd::Cmd;

/// `.kamal/lock-<service>[-<destination>]`.
pub fn lock_dir(config: &Configuration) -> String {
    let mut name = format!("lock-{}", config.service());
    if let Some(destination) = &config.destination {
        name.push('-');
        name.push_str(destination);
    }
    format!("{}/{name}", config.run_directory())
}

fn lock_details_file(config: &Configuration) -> String {
    format!("{}/details", lock_dir(config))
}

/// What the lock records, before encoding. `locked_by` is `git config user.name` (empty
/// when unset, `Unknown` when git is missing); `locked_at` is UTC ISO8601.
pub fn lock_details(locked_by: &str, locked_at: &str, version: &str, message: &str) -> String {
    let details = format!("Locked by: {locked_by} at {locked_at}\nVersion: {version}\nMessage: {message}");
    // Kamal builds it with a heredoc and `strip`s it.
    details
        .trim_matches(|character: char| character.is_whitespace() || character == '\0')
        .to_string()
}

/// `mkdir .kamal/lock-app && echo "<base64>" > .kamal/lock-app/details`.
pub fn acquire(
    config: &Configuration,
    message: &str,
    version: &str,
    locked_by: &str,
    locked_at: &str,
) -> Cmd {
    let encoded = encode64(lock_details(locked_by, locked_at, version, message).as_bytes());
    combine(
        [
            Cmd::new(["mkdir", &lock_dir(config)]),
            write([
                Cmd::new(["echo".to_string(), format!("\"{encoded}\"")]),
                Cmd::new([lock_details_file(config)]),
            ]),
        ],
        "&&",
    )
}

/// `rm .kamal/lock-app/details && rm -r .kamal/lock-app`.
pub fn release(config: &Configuration) -> Cmd {
    combine(
        [
            Cmd::new(["rm".to_string(), lock_details_file(config)]),
            Cmd::new(["rm".to_string(), "-r".to_string(), lock_dir(config)]),
        ],
        "&&",
    )
}

/// `stat .kamal/lock-app > /dev/null && cat .kamal/lock-app/details | base64 -d`.
pub fn status(config: &Configuration) -> Cmd {
    combine(
        [
            write([
                Cmd::new(["stat".to_string(), lock_dir(config)]),
                Cmd::new(["/dev/null"]),
            ]),
            pipe([
                Cmd::new(["cat".to_string(), lock_details_file(config)]),
                Cmd::new(["base64", "-d"]),
            ]),
        ],
        "&&",
    )
}

/// `mkdir -p .kamal`, where the lock directories live.
pub fn ensure_locks_directory(config: &Configuration) -> Cmd {
    Cmd::new(["mkdir", "-p", config.run_directory()])
}

/// Ruby's `Base64.encode64` (`pack("m")`): standard alphabet with padding, a newline after
/// every 60 output characters and at the end (nothing at all for empty input).
pub fn encode64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    // 45 input bytes make one 60-character line.
    for line in bytes.chunks(45) {
        for group in line.chunks(3) {
            let b0 = group[0];
            let b1 = group.get(1).copied().unwrap_or(0);
            let b2 = group.get(2).copied().unwrap_or(0);
            let indices = [
                b0 >> 2,
                ((b0 & 0x03) << 4) | (b1 >> 4),
                ((b1 & 0x0f) << 2) | (b2 >> 6),
                b2 & 0x3f,
            ];
            for (position, index) in indices.iter().enumerate() {
                if position <= group.len() {
                    out.push(ALPHABET[usize::from(*index)] as char);
                } else {
                    out.push('=');
                }
            }
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{configuration, configuration_for, DEPLOY_YML, VERSION};

    #[test]
    fn encode64_wraps_like_ruby() {
        assert_eq!(encode64(b""), "");
        assert_eq!(encode64(b"a"), "YQ==\n");
        assert_eq!(encode64(b"ab"), "YWI=\n");
        assert_eq!(encode64(b"abc"), "YWJj\n");
        // 46 bytes: one full line of 60 characters, then the rest.
        assert_eq!(
            encode64(&[b'x'; 46]),
            "eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4\neA==\n"
        );
    }

    #[test]
    fn acquire_writes_base64_details() {
        let config = configuration(DEPLOY_YML);
        let details = lock_details("David", "2026-11-26T10:04:23Z", VERSION, "Automatic deploy lock");
        assert_eq!(
            details,
            "Locked by: David at 2026-11-26T10:04:23Z\nVersion: 999\nMessage: Automatic deploy lock"
        );
        // `Base64.encode64` of the details above, as Ruby 3.x prints it.
        assert_eq!(
            acquire(&config, "Automatic deploy lock", VERSION, "David", "2026-11-26T10:04:23Z").to_display(),
            "/usr/bin/env mkdir .kamal/lock-app && echo \"TG9ja2VkIGJ5OiBEYXZpZCBhdCAyMDI2LTExLTI2VDEwOjA0OjIzWgpWZXJz\naW9uOiA5OTkKTWVzc2FnZTogQXV0b21hdGljIGRlcGxveSBsb2Nr\n\" > .kamal/lock-app/details"
        );
    }

    #[test]
    fn release_and_status() {
        let config = configuration(DEPLOY_YML);
        assert_eq!(
            release(&config).to_display(),
            "/usr/bin/env rm .kamal/lock-app/details && rm -r .kamal/lock-app"
        );
        assert_eq!(
            status(&config).to_display(),
            "/usr/bin/env stat .kamal/lock-app > /dev/null && cat .kamal/lock-app/details | base64 -d"
        );
        assert_eq!(
            ensure_locks_directory(&config).to_display(),
            "/usr/bin/env mkdir -p .kamal"
        );
    }

    #[test]
    fn destination_names_the_lock() {
        let config = configuration_for(DEPLOY_YML, Some(("staging", "{}\n")));
        assert_eq!(lock_dir(&config), ".kamal/lock-app-staging");
        assert_eq!(
            release(&config).to_display(),
            "/usr/bin/env rm .kamal/lock-app-staging/details && rm -r .kamal/lock-app-staging"
        );
    }
}
