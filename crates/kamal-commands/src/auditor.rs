//! `Kamal::Commands::Auditor`: one line per audited action appended to
//! `.kamal/<service>[-<destination>]-audit.log` on the host, and `kamal audit`'s reveal.
//! The line carries the tags recorded_at, performer, destination and any extra details
//! (such as the role); version and service are left out.

use kamal_config::configuration::ruby::escape_shell_value;
use kamal_config::configuration::Configuration;

use crate::base::{append, combine, make_directory};
use crate::cmd::Cmd;
use crate::tags::{Stamp, Tags};

/// `.kamal/<service>[-<destination>]-audit.log`.
pub fn audit_log_file(config: &Configuration) -> String {
    format!(
        "{}/{}-audit.log",
        config.run_directory(),
        config.service_and_destination()
    )
}

/// `[<recorded_at>] [<performer>] [<destination>]? [<detail>]… <line>`.
pub fn audit_line(
    config: &Configuration,
    stamp: &Stamp,
    details: &[(&str, Option<String>)],
    line: &str,
) -> String {
    let tags = Tags::from_config(config, stamp, details).except(&["version", "service_version", "service"]);
    format!("{} {line}", tags.to_line())
}

/// `mkdir -p .kamal && echo "<audit line>" >> .kamal/app-audit.log`.
pub fn record(config: &Configuration, stamp: &Stamp, details: &[(&str, Option<String>)], line: &str) -> Cmd {
    combine(
        [
            make_directory(config.run_directory()),
            append([
                Cmd::new([
                    "echo".to_string(),
                    escape_shell_value(&audit_line(config, stamp, details, line)),
                ]),
                Cmd::new([audit_log_file(config)]),
            ]),
        ],
        "&&",
    )
}

/// `tail -n 50 .kamal/app-audit.log`.
pub fn reveal(config: &Configuration) -> Cmd {
    Cmd::new([
        "tail".to_string(),
        "-n".to_string(),
        "50".to_string(),
        audit_log_file(config),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{configuration, configuration_for, DEPLOY_YML};

    fn stamp() -> Stamp {
        Stamp {
            recorded_at: "2024-01-02T03:04:05Z".to_string(),
            performer: "dev@example.com".to_string(),
            version: Some("999".to_string()),
        }
    }

    #[test]
    fn record_appends_the_tagged_line() {
        let config = configuration(DEPLOY_YML);
        assert_eq!(
            record(&config, &stamp(), &[], "Pulled image with version 999").to_display(),
            "/usr/bin/env mkdir -p .kamal && echo \"[2024-01-02T03:04:05Z] [dev@example.com] Pulled image with version 999\" >> .kamal/app-audit.log"
        );
    }

    #[test]
    fn destination_and_role_are_tagged() {
        let config = configuration_for(DEPLOY_YML, Some(("staging", "{}\n")));
        assert_eq!(
            record(&config, &stamp(), &[("role", Some("web".to_string()))], "app removed container").to_display(),
            "/usr/bin/env mkdir -p .kamal && echo \"[2024-01-02T03:04:05Z] [dev@example.com] [staging] [web] app removed container\" >> .kamal/app-staging-audit.log"
        );
        assert_eq!(
            reveal(&config).to_display(),
            "/usr/bin/env tail -n 50 .kamal/app-staging-audit.log"
        );
    }

    #[test]
    fn the_line_is_escaped_for_the_shell() {
        let config = configuration(DEPLOY_YML);
        assert_eq!(
            record(&config, &stamp(), &[], "Executed cmd 'echo $HOME \"x\"' on 1.1.1.1").to_display(),
            "/usr/bin/env mkdir -p .kamal && echo \"[2024-01-02T03:04:05Z] [dev@example.com] Executed cmd 'echo \\$HOME \\\"x\\\"' on 1.1.1.1\" >> .kamal/app-audit.log"
        );
    }
}
