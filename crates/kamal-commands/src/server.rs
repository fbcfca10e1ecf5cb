//! `Kamal::Commands::Server`: the run directory every lock and audit line needs, the app
//! directory, and counting installed apps (the proxy is only removed when none are left).
//! `kamal server exec` runs the user's words joined as one command.

use kamal_config::configuration::Configuration;

use crate::base::{make_directory, pipe, remove_directory};
use crate::cmd::Cmd;

/// `mkdir -p .kamal`.
pub fn ensure_run_directory(config: &Configuration) -> Cmd {
    make_directory(config.run_directory())
}

/// `rm -r .kamal/apps/<service>[-<destination>]`.
pub fn remove_app_directory(config: &Configuration) -> Cmd {
    remove_directory(&config.app_directory())
}

/// `ls .kamal/apps | wc -l`.
pub fn app_directory_count(config: &Configuration) -> Cmd {
    pipe([
        Cmd::new(["ls".to_string(), config.apps_directory()]),
        Cmd::new(["wc", "-l"]),
    ])
}

/// `kamal server exec CMD…`: the words stripped and joined with spaces
/// (`Kamal::Utils.join_commands`), run as one command — so `ls -la` runs as written and a
/// bare `uptime` as `/usr/bin/env uptime`.
pub fn exec(words: &[String]) -> Cmd {
    Cmd::new([join_commands(words)])
}

/// `Kamal::Utils.join_commands`.
pub fn join_commands(words: &[String]) -> String {
    words.iter().map(|word| word.trim()).collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{configuration, configuration_for, DEPLOY_YML};

    #[test]
    fn directories() {
        let config = configuration(DEPLOY_YML);
        assert_eq!(
            ensure_run_directory(&config).to_display(),
            "/usr/bin/env mkdir -p .kamal"
        );
        assert_eq!(
            app_directory_count(&config).to_display(),
            "/usr/bin/env ls .kamal/apps | wc -l"
        );
        assert_eq!(
            remove_app_directory(&config).to_display(),
            "/usr/bin/env rm -r .kamal/apps/app"
        );
        let staging = configuration_for(DEPLOY_YML, Some(("staging", "{}\n")));
        assert_eq!(
            remove_app_directory(&staging).to_display(),
            "/usr/bin/env rm -r .kamal/apps/app-staging"
        );
    }

    #[test]
    fn exec_is_the_users_command() {
        assert_eq!(
            exec(&["ls".to_string(), " -la ".to_string()]).to_display(),
            "ls -la"
        );
        assert_eq!(exec(&["uptime".to_string()]).to_display(), "/usr/bin/env uptime");
        assert_eq!(
            exec(&["cat /etc/hostname".to_string()]).to_display(),
            "cat /etc/hostname"
        );
    }
}
