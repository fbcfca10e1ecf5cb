//! `Kamal::Commands::App::Proxy`: telling kamal-proxy about a role's containers (§5.4) —
//! deploy a new target, remove the service, maintenance (`stop`) and `resume` — plus the
//! app's directories under the proxy's `apps-config`.

use kamal_config::configuration::proxy_runtime::stop_command_args;
use kamal_config::configuration::Configuration;

use super::App;
use crate::base::{docker, make_directory, remove_directory};
use crate::cmd::Cmd;

/// `docker exec kamal-proxy kamal-proxy <words…>`.
pub(crate) fn proxy_exec(config: &Configuration, words: impl IntoIterator<Item = String>) -> Cmd {
    docker([
        "exec".to_string(),
        config.proxy_boot().container_name().to_string(),
        "kamal-proxy".to_string(),
    ])
    .with_words(words)
}

/// `rm -r .kamal/proxy/apps-config/<svc>[-<dest>]`.
pub fn remove_proxy_app_directory(config: &Configuration) -> Cmd {
    remove_directory(&config.proxy_boot().app_directory())
}

impl App<'_> {
    /// `kamal-proxy deploy <prefix> --target="<id>:<port>" …` with the role's options;
    /// `None` for a role that does not run behind the proxy.
    pub fn deploy(&self, target: &str) -> Option<Cmd> {
        let proxy = self.role.proxy()?;
        let mut words = vec!["deploy".to_string(), self.role.container_prefix()];
        words.extend(proxy.deploy_command_args(target, self.version));
        Some(proxy_exec(self.config, words))
    }

    /// `kamal-proxy remove <prefix>`.
    pub fn remove(&self) -> Cmd {
        proxy_exec(self.config, ["remove".to_string(), self.role.container_prefix()])
    }

    /// `kamal-proxy resume <prefix>` (`kamal app live`).
    pub fn live(&self) -> Cmd {
        proxy_exec(self.config, ["resume".to_string(), self.role.container_prefix()])
    }

    /// `kamal-proxy stop <prefix>[ --drain-timeout="Ns"][ --message="…"]`
    /// (`kamal app maintenance`; the CLI passes `drain_timeout` as given or configured).
    pub fn maintenance(&self, drain_timeout: Option<i64>, message: Option<&str>) -> Cmd {
        let mut words = vec!["stop".to_string(), self.role.container_prefix()];
        words.extend(stop_command_args(drain_timeout, message));
        proxy_exec(self.config, words)
    }

    /// `mkdir -p .kamal/proxy/apps-config/<svc>/tls/<role>` for custom certificates.
    pub fn create_ssl_directory(&self) -> Cmd {
        make_directory(&format!(
            "{}/{}",
            self.config.proxy_boot().tls_directory(),
            self.role.name()
        ))
    }
}
