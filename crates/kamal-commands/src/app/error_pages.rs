//! `Kamal::Commands::App::ErrorPages`: the per-version error pages directory under the
//! proxy's `apps-config` (uploaded at boot, §5.6) and the removal of older versions' pages
//! once an old container stops.

use kamal_config::configuration::Configuration;

use crate::base::make_directory;
use crate::cmd::Cmd;

/// `mkdir -p .kamal/proxy/apps-config/<svc>[-<dest>]/error_pages`.
pub fn create_error_pages_directory(config: &Configuration) -> Cmd {
    make_directory(&config.proxy_boot().error_pages_directory())
}

/// `find …/error_pages -mindepth 1 -maxdepth 1 ! -name <version> -exec rm -rf {} +`.
pub fn clean_up_error_pages(config: &Configuration, version: &str) -> Cmd {
    Cmd::new([
        "find".to_string(),
        config.proxy_boot().error_pages_directory(),
        "-mindepth".to_string(),
        "1".to_string(),
        "-maxdepth".to_string(),
        "1".to_string(),
        "!".to_string(),
        "-name".to_string(),
        version.to_string(),
        "-exec".to_string(),
        "rm".to_string(),
        "-rf".to_string(),
        "{} +".to_string(),
    ])
}
