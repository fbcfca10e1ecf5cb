//! `Kamal::Commands::Hook`: hooks are local executables under `hooks_path`
//! (`.kamal/hooks/<name>`), run through SSHKit's local backend, so the command is the path
//! itself (`/usr/bin/env .kamal/hooks/pre-connect`). Their environment is the `KAMAL_*`
//! tags (§3) and, for pre-connect, pre-deploy and post-deploy, every secret.

use kamal_config::configuration::Configuration;
use kamal_config::secrets::{Secret, Secrets};

use crate::cmd::Cmd;
use crate::tags::{Stamp, Tags};

/// The hooks whose environment includes the secrets.
pub const HOOKS_WITH_SECRETS: &[&str] = &["pre-connect", "pre-deploy", "post-deploy"];

/// `<hooks_path>/<hook>`; it runs only if this file exists (and hooks are not skipped).
pub fn hook_file(config: &Configuration, hook: &str) -> String {
    format!("{}/{hook}", config.hooks_path().trim_end_matches('/'))
}

/// The hook as a command.
pub fn run(config: &Configuration, hook: &str) -> Cmd {
    Cmd::new([hook_file(config, hook)])
}

/// What the invocation adds to the tags (`Cli::Base#run_hook`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HookDetails {
    /// The selected hosts joined with `,` — or, for the boot and proxy-reboot hooks, the
    /// group's hosts.
    pub hosts: String,
    /// The `--roles` filter, joined with `,`; `None` without `-r`.
    pub roles: Option<String>,
    /// Whether the deploy lock is held right now.
    pub lock: bool,
    /// The first invocation's top-level command (`deploy`, `app`, …).
    pub command: String,
    /// Its subcommand (`boot` for `kamal app boot`); `None` under a main command.
    pub subcommand: Option<String>,
    /// post-deploy only: whole seconds the deploy took.
    pub runtime: Option<u64>,
}

/// A hook's environment: the `KAMAL_*` tags, then the secrets. Apply them in this order —
/// a secret of the same name wins, as Kamal's `merge!` does.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HookEnvironment {
    pub tags: Vec<(String, String)>,
    pub secrets: Vec<(String, Secret)>,
}

/// `Hook#env(**details)`: nil values omitted; secrets only when `secrets` is given (the
/// caller passes them for the hooks in [`HOOKS_WITH_SECRETS`]).
pub fn env(
    config: &Configuration,
    stamp: &Stamp,
    details: &HookDetails,
    secrets: Option<&Secrets>,
) -> HookEnvironment {
    let extra = [
        ("hosts", Some(details.hosts.clone())),
        ("roles", details.roles.clone()),
        ("lock", Some(details.lock.to_string())),
        ("command", Some(details.command.clone())),
        ("subcommand", details.subcommand.clone()),
        ("runtime", details.runtime.map(|seconds| seconds.to_string())),
    ];
    HookEnvironment {
        tags: Tags::from_config(config, stamp, &extra).env(),
        secrets: secrets
            .map(|secrets| {
                secrets
                    .to_map()
                    .iter()
                    .map(|(key, value)| (key.clone(), value.clone()))
                    .collect()
            })
            .unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{configuration, configuration_for, secrets, DEPLOY_YML};

    fn stamp() -> Stamp {
        Stamp {
            recorded_at: "2026-11-26T10:04:23Z".to_string(),
            performer: "dev@example.com".to_string(),
            version: Some("f5f60b2223a51b05a1d02c2509cc205f3a5cc5ca".to_string()),
        }
    }

    fn pairs(environment: &HookEnvironment) -> Vec<(String, String)> {
        environment.tags.clone()
    }

    #[test]
    fn hooks_output_for_one_level_or_per_hook() {
        use kamal_config::configuration::HooksOutput;
        assert_eq!(configuration(DEPLOY_YML).hooks_output_for("pre-deploy"), None);
        let everywhere = configuration(&format!("{DEPLOY_YML}hooks_output: :quiet\n"));
        assert_eq!(
            everywhere.hooks_output_for("pre-deploy"),
            Some(HooksOutput::Quiet)
        );
        assert_eq!(
            everywhere.hooks_output_for("post-deploy"),
            Some(HooksOutput::Quiet)
        );
        let per_hook = configuration(&format!(
            "{DEPLOY_YML}hooks_output:\n  pre-deploy: verbose\n  post-deploy: quiet\n"
        ));
        assert_eq!(
            per_hook.hooks_output_for("pre-deploy"),
            Some(HooksOutput::Verbose)
        );
        assert_eq!(per_hook.hooks_output_for("post-deploy"), Some(HooksOutput::Quiet));
        assert_eq!(per_hook.hooks_output_for("pre-connect"), None);
    }

    #[test]
    fn hook_command_is_the_file() {
        let config = configuration(DEPLOY_YML);
        assert_eq!(
            run(&config, "pre-connect").to_display(),
            "/usr/bin/env .kamal/hooks/pre-connect"
        );
        let custom = configuration(&format!("{DEPLOY_YML}hooks_path: bin/hooks\n"));
        assert_eq!(
            run(&custom, "pre-build").to_display(),
            "/usr/bin/env bin/hooks/pre-build"
        );
    }

    #[test]
    fn setup_environment_as_kamal_2_11_passed_it() {
        let config = configuration_for(DEPLOY_YML, Some(("staging", "{}\n")));
        let details = HookDetails {
            hosts: "127.0.0.1".to_string(),
            roles: Some("web,workers".to_string()),
            lock: true,
            command: "setup".to_string(),
            subcommand: Some("boot".to_string()),
            runtime: Some(15),
        };
        let expected: Vec<(String, String)> = [
            ("KAMAL_RECORDED_AT", "2026-11-26T10:04:23Z"),
            ("KAMAL_PERFORMER", "dev@example.com"),
            ("KAMAL_DESTINATION", "staging"),
            ("KAMAL_VERSION", "f5f60b2223a51b05a1d02c2509cc205f3a5cc5ca"),
            ("KAMAL_SERVICE_VERSION", "app@f5f60b2"),
            ("KAMAL_SERVICE", "app"),
            ("KAMAL_HOSTS", "127.0.0.1"),
            ("KAMAL_ROLES", "web,workers"),
            ("KAMAL_LOCK", "true"),
            ("KAMAL_COMMAND", "setup"),
            ("KAMAL_SUBCOMMAND", "boot"),
            ("KAMAL_RUNTIME", "15"),
        ]
        .iter()
        .map(|(key, value)| (key.to_string(), value.to_string()))
        .collect();
        assert_eq!(pairs(&env(&config, &stamp(), &details, None)), expected);
    }

    #[test]
    fn nil_details_are_omitted_and_secrets_follow() {
        let config = configuration(DEPLOY_YML);
        let details = HookDetails {
            hosts: "1.1.1.1,1.1.1.2".to_string(),
            lock: false,
            command: "deploy".to_string(),
            ..HookDetails::default()
        };
        let environment = env(
            &config,
            &stamp(),
            &details,
            Some(&secrets("DB_PASSWORD=hunter2\n")),
        );
        let keys: Vec<&str> = environment.tags.iter().map(|(key, _)| key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "KAMAL_RECORDED_AT",
                "KAMAL_PERFORMER",
                "KAMAL_VERSION",
                "KAMAL_SERVICE_VERSION",
                "KAMAL_SERVICE",
                "KAMAL_HOSTS",
                "KAMAL_LOCK",
                "KAMAL_COMMAND"
            ]
        );
        assert_eq!(environment.tags[6].1, "false");
        assert_eq!(
            environment.secrets,
            vec![("DB_PASSWORD".to_string(), Secret::new("hunter2"))]
        );
    }

    #[test]
    fn uncommitted_versions_are_not_abbreviated() {
        let config = configuration(DEPLOY_YML);
        let stamp = Stamp {
            version: Some("abc1234567_uncommitted_0123456789abcdef".to_string()),
            ..stamp()
        };
        let tags = env(&config, &stamp, &HookDetails::default(), None).tags;
        assert_eq!(tags[3].1, "app@abc1234567_uncommitted_0123456789abcdef");
    }
}
