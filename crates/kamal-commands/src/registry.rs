//! `Kamal::Commands::Registry`: logging in to and out of the image registry, and the local
//! registry container (`localhost:PORT` registries, reached from hosts through SSH tunnels).
//!
//! **Deliberate deviation from Kamal:** Kamal logs in with `-p "<password>"`, which puts
//! the password in the process list of the host (and of the deployer) and in the shell's
//! history of commands. We pass it on standard input instead (`--password-stdin`); the
//! username stays an escaped argument, redacted as `[REDACTED]` in every printed form.

use kamal_config::configuration::{ruby::escape_shell_value, Registry};
use kamal_config::secrets::{Secret, Secrets, SecretsError};

use crate::base::{combine, docker};
use crate::cmd::Cmd;

/// The local registry's container on the deployer machine.
pub const LOCAL_REGISTRY_CONTAINER: &str = "kamal-docker-registry";
/// The image it runs.
pub const LOCAL_REGISTRY_IMAGE: &str = "registry:3";

/// `docker login [<server>] -u "<user>" --password-stdin`, the password as stdin. `None`
/// for a local registry, which needs no login. Missing `[SECRET]` credentials raise
/// Kamal's secrets error.
pub fn login(registry: &Registry, secrets: &Secrets) -> Result<Option<Cmd>, SecretsError> {
    if registry.is_local() {
        return Ok(None);
    }
    let username = registry.username(secrets)?.unwrap_or_default();
    let password = registry.password(secrets)?.unwrap_or_default();
    let mut command = docker(["login"]);
    if let Some(server) = registry.server() {
        command.push(server);
    }
    command.push("-u");
    command.push_sensitive(Secret::new(escape_shell_value(username.expose())), "[REDACTED]");
    command.push("--password-stdin");
    Ok(Some(command.with_stdin(password)))
}

/// `docker logout [<server>]`.
pub fn logout(registry: &Registry) -> Cmd {
    let mut command = docker(["logout"]);
    if let Some(server) = registry.server() {
        command.push(server);
    }
    command
}

/// Starts the local registry, creating it the first time:
/// `docker start kamal-docker-registry || docker run --detach -p 127.0.0.1:PORT:5000 …`.
pub fn setup(registry: &Registry) -> Cmd {
    let port = registry.local_port().unwrap_or(0);
    combine(
        [
            docker(["start", LOCAL_REGISTRY_CONTAINER]),
            docker([
                "run",
                "--detach",
                "-p",
                &format!("127.0.0.1:{port}:5000"),
                "--name",
                LOCAL_REGISTRY_CONTAINER,
                LOCAL_REGISTRY_IMAGE,
            ]),
        ],
        "||",
    )
}

/// `docker stop kamal-docker-registry && docker rm kamal-docker-registry`.
pub fn remove() -> Cmd {
    combine(
        [
            docker(["stop", LOCAL_REGISTRY_CONTAINER]),
            docker(["rm", LOCAL_REGISTRY_CONTAINER]),
        ],
        "&&",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{configuration, secrets, DEPLOY_YML};

    #[test]
    fn login_passes_the_password_on_stdin() {
        let config = configuration(DEPLOY_YML);
        let login = login(&config.registry_config(), &secrets(""))
            .expect("secrets")
            .expect("a login");
        // Kamal: `docker login -u [REDACTED] -p [REDACTED]`; we never put the password in argv.
        assert_eq!(login.to_display(), "docker login -u [REDACTED] --password-stdin");
        assert_eq!(login.to_shell(), "docker login -u \"dhh\" --password-stdin");
        assert_eq!(login.stdin.as_ref().map(Secret::expose), Some("secret"));
    }

    #[test]
    fn login_to_a_server_with_secret_credentials_escapes_the_username() {
        let config = configuration(
            "service: app\nimage: dhh/app\nservers: [1.1.1.1]\nbuilder:\n  arch: amd64\nregistry:\n  server: registry.example.com\n  username: [REGISTRY_USER]\n  password: [REGISTRY_PASSWORD]\n",
        );
        let secrets = secrets("REGISTRY_USER='us\"er$x'\nREGISTRY_PASSWORD=\"more-secret'\\\"\"\n");
        let login = login(&config.registry_config(), &secrets)
            .expect("secrets")
            .expect("a login");
        assert_eq!(
            login.to_display(),
            "docker login registry.example.com -u [REDACTED] --password-stdin"
        );
        assert_eq!(
            login.to_shell(),
            "docker login registry.example.com -u \"us\\\"er\\$x\" --password-stdin"
        );
        assert_eq!(login.stdin.as_ref().map(Secret::expose), Some("more-secret'\""));
        assert_eq!(
            logout(&config.registry_config()).to_display(),
            "docker logout registry.example.com"
        );
    }

    #[test]
    fn a_missing_secret_is_kamals_error() {
        let config = configuration(
            "service: app\nimage: dhh/app\nservers: [1.1.1.1]\nbuilder:\n  arch: amd64\nregistry:\n  username: [NOPE]\n  password: x\n",
        );
        assert!(login(&config.registry_config(), &secrets("A=1\n")).is_err());
    }

    #[test]
    fn local_registry_runs_a_container_instead_of_logging_in() {
        let config = configuration(
            "service: app\nimage: dhh/app\nservers: [1.1.1.1]\nbuilder:\n  arch: amd64\nregistry:\n  server: localhost:5000\n",
        );
        let registry = config.registry_config();
        assert_eq!(login(&registry, &secrets("")).expect("secrets"), None);
        assert_eq!(
            setup(&registry).to_display(),
            "docker start kamal-docker-registry || docker run --detach -p 127.0.0.1:5000:5000 --name kamal-docker-registry registry:3"
        );
        assert_eq!(
            remove().to_display(),
            "docker stop kamal-docker-registry && docker rm kamal-docker-registry"
        );
        assert_eq!(
            logout(&configuration(DEPLOY_YML).registry_config()).to_display(),
            "docker logout"
        );
    }
}
