//! A private `ssh-agent` for `ssh.key_data`: keys from secrets go to the agent through
//! `ssh-add -` on stdin, so they never touch the disk in clear. The agent runs in the
//! foreground (`-D`) as our child, listens on a socket in our private directory, and is
//! killed when the executor closes. Connections use it through `IdentityAgent`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use kamal_config::secrets::Secret;

use crate::process::{self, Input, Outcome};

const START_DEADLINE: Duration = Duration::from_secs(5);
const ADD_DEADLINE: Duration = Duration::from_secs(10);

#[derive(Debug)]
pub(crate) struct Agent {
    child: Child,
    socket: PathBuf,
    public_keys: Vec<PathBuf>,
}

impl Agent {
    pub(crate) fn start(directory: &Path, keys: &[Secret]) -> Result<Agent, String> {
        let socket = directory.join("agent");
        let child = Command::new("ssh-agent")
            .arg("-D")
            .arg("-a")
            .arg(&socket)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|error| format!("could not start ssh-agent for ssh/key_data: {error}"))?;
        let mut agent = Agent {
            child,
            socket,
            public_keys: Vec::new(),
        };
        let deadline = Instant::now() + START_DEADLINE;
        while !agent.socket.exists() {
            if let Ok(Some(status)) = agent.child.try_wait() {
                return Err(format!("ssh-agent for ssh/key_data exited at start ({status})"));
            }
            if Instant::now() >= deadline {
                agent.stop();
                return Err("ssh-agent for ssh/key_data did not start within 5 seconds".to_string());
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        for (index, key) in keys.iter().enumerate() {
            if let Err(error) = agent.add(key) {
                agent.stop();
                return Err(format!("ssh/key_data[{index}]: {error}"));
            }
        }
        if let Err(error) = agent.write_public_keys(directory) {
            agent.stop();
            return Err(error);
        }
        Ok(agent)
    }

    /// Writes the agent's public keys beside its socket. Passed as identity files they make
    /// `IdentitiesOnly=yes` (`keys_only`) still offer the agent's keys, as Net::SSH offers
    /// `key_data` alongside `keys`.
    fn write_public_keys(&mut self, directory: &Path) -> Result<(), String> {
        let mut command = Command::new("ssh-add");
        command.arg("-L").env("SSH_AUTH_SOCK", &self.socket);
        let listed = match process::run(command, Input::None, Some(ADD_DEADLINE), &mut |_, _| {}) {
            Ok(Outcome::Finished(finished)) if finished.exit_status == 0 => finished.stdout,
            Ok(_) => return Err("ssh-add -L could not list the keys of ssh/key_data".to_string()),
            Err(error) => return Err(format!("could not run ssh-add: {error}")),
        };
        for (index, line) in String::from_utf8_lossy(&listed).lines().enumerate() {
            let path = directory.join(format!("key-data-{index}.pub"));
            std::fs::write(&path, format!("{line}\n"))
                .map_err(|error| format!("could not write {}: {error}", path.display()))?;
            self.public_keys.push(path);
        }
        Ok(())
    }

    pub(crate) fn public_keys(&self) -> &[PathBuf] {
        &self.public_keys
    }

    fn add(&self, key: &Secret) -> Result<(), String> {
        let mut command = Command::new("ssh-add");
        command
            .arg("-q")
            .arg("-")
            .env("SSH_AUTH_SOCK", &self.socket)
            // A passphrase-protected key must fail here, not prompt on the user's terminal.
            .env("SSH_ASKPASS", "/bin/false")
            .env("SSH_ASKPASS_REQUIRE", "force");
        let mut pem = key.expose().as_bytes().to_vec();
        if !pem.ends_with(b"\n") {
            pem.push(b'\n');
        }
        match process::run(command, Input::Bytes(pem), Some(ADD_DEADLINE), &mut |_, _| {}) {
            Ok(Outcome::Finished(finished)) if finished.exit_status == 0 => Ok(()),
            Ok(Outcome::Finished(finished)) => Err(format!(
                "ssh-add rejected the key: {}",
                crate::error::ruby_strip(&String::from_utf8_lossy(&finished.stderr))
            )),
            Ok(Outcome::TimedOut(_)) => Err("ssh-add did not finish within 10 seconds".to_string()),
            Err(error) => Err(format!("could not run ssh-add: {error}")),
        }
    }

    pub(crate) fn socket(&self) -> &Path {
        &self.socket
    }

    pub(crate) fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.socket);
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        self.stop();
    }
}
