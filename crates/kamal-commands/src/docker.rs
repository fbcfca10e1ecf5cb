//! `Kamal::Commands::Docker`: what `kamal server bootstrap` runs on each host — is Docker
//! there, may we install it (root, or passwordless `sudo usermod`), the get.docker.com
//! install, and putting the SSH user in the `docker` group. The shell tests are single words
//! holding spaces, so SSHKit sends them as written (no `/usr/bin/env`).

use crate::base::{any, docker, pipe, shell};
use crate::cmd::Cmd;

/// `docker -v`: fails when the client is missing.
pub fn installed() -> Cmd {
    docker(["-v"])
}

/// `docker version`: fails when the daemon is not running.
pub fn running() -> Cmd {
    docker(["version"])
}

/// Root, or passwordless sudo for `usermod`.
pub fn superuser() -> Cmd {
    Cmd::new([r#"[ "${EUID:-$(id -u)}" -eq 0 ] || sudo -nl usermod >/dev/null"#])
}

pub fn root() -> Cmd {
    Cmd::new([r#"[ "${EUID:-$(id -u)}" -eq 0 ]"#])
}

pub fn in_docker_group() -> Cmd {
    Cmd::new([r#"id -nG "${USER:-$(id -un)}" | grep -qw docker"#])
}

pub fn add_to_docker_group() -> Cmd {
    Cmd::new([r#"sudo -n usermod -aG docker "${USER:-$(id -un)}""#])
}

/// Ends the SSH session so the next one picks up the new group.
pub fn refresh_session() -> Cmd {
    Cmd::new(["kill -HUP $PPID"])
}

/// `docker network create kamal`.
pub fn create_network() -> Cmd {
    docker(["network", "create", "kamal"])
}

/// The docker-install convenience script, fetched with curl or wget:
/// `sh -c 'curl -fsSL https://get.docker.com || wget -O - https://get.docker.com || echo "exit 1"' | sh`.
pub fn install() -> Cmd {
    let get_docker = shell(&any([
        Cmd::new(["curl", "-fsSL", "https://get.docker.com"]),
        Cmd::new(["wget", "-O -", "https://get.docker.com"]),
        Cmd::new(["echo", "\"exit 1\""]),
    ]));
    pipe([get_docker, Cmd::new(["sh"])])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bootstrap_commands() {
        assert_eq!(installed().to_display(), "docker -v");
        assert_eq!(running().to_display(), "docker version");
        assert_eq!(
            superuser().to_display(),
            r#"[ "${EUID:-$(id -u)}" -eq 0 ] || sudo -nl usermod >/dev/null"#
        );
        assert_eq!(root().to_display(), r#"[ "${EUID:-$(id -u)}" -eq 0 ]"#);
        assert_eq!(
            in_docker_group().to_display(),
            r#"id -nG "${USER:-$(id -un)}" | grep -qw docker"#
        );
        assert_eq!(
            add_to_docker_group().to_display(),
            r#"sudo -n usermod -aG docker "${USER:-$(id -un)}""#
        );
        assert_eq!(refresh_session().to_display(), "kill -HUP $PPID");
        assert_eq!(create_network().to_display(), "docker network create kamal");
    }

    #[test]
    fn install_pipes_the_convenience_script_to_sh() {
        // SSHKit maps the leading `sh`, so the line starts with `/usr/bin/env`.
        assert_eq!(
            install().to_display(),
            r#"/usr/bin/env sh -c 'curl -fsSL https://get.docker.com || wget -O - https://get.docker.com || echo "exit 1"' | sh"#
        );
    }
}
