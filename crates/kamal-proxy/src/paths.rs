//! Where the control socket and the data directory live (§2.1), worked out from an injected environment.
//!
//! The paths must match the Go proxy's so that Kamal's volume (`/home/kamal-proxy/.config/kamal-proxy`) and
//! `docker exec … kamal-proxy deploy` keep finding them after the image swap.

use std::path::PathBuf;

/// A read-only view of the environment, so path and flag defaults can be tested with a map.
pub trait Environment {
    fn get(&self, key: &str) -> Option<String>;
}

/// The process environment.
pub struct ProcessEnvironment;

impl Environment for ProcessEnvironment {
    fn get(&self, key: &str) -> Option<String> {
        std::env::var(key).ok()
    }
}

impl Environment for std::collections::HashMap<String, String> {
    fn get(&self, key: &str) -> Option<String> {
        std::collections::HashMap::get(self, key).cloned()
    }
}

fn non_empty(environment: &dyn Environment, key: &str) -> Option<String> {
    environment.get(key).filter(|value| !value.is_empty())
}

/// Go's `os.TempDir()`.
fn temp_dir(environment: &dyn Environment) -> PathBuf {
    non_empty(environment, "TMPDIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/tmp"))
}

/// `$KAMAL_PROXY_SOCKET`, else `${XDG_RUNTIME_DIR:-$TMPDIR:-/tmp}/kamal-proxy.sock`.
pub fn socket_path(environment: &dyn Environment) -> PathBuf {
    if let Some(path) = non_empty(environment, "KAMAL_PROXY_SOCKET") {
        return PathBuf::from(path);
    }
    let directory = non_empty(environment, "XDG_RUNTIME_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| temp_dir(environment));
    directory.join("kamal-proxy.sock")
}

/// `$HOME/.config/kamal-proxy`, created 0700 on every lookup; the temp dir when that is impossible.
pub fn data_directory(environment: &dyn Environment) -> PathBuf {
    if let Some(home) = non_empty(environment, "HOME") {
        let directory = PathBuf::from(home).join(".config").join("kamal-proxy");
        if create_private_directory(&directory).is_ok() {
            return directory;
        }
    }
    temp_dir(environment)
}

fn create_private_directory(directory: &std::path::Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(directory)
}

pub fn state_file(environment: &dyn Environment) -> PathBuf {
    data_directory(environment).join("kamal-proxy.state")
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn environment(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn socket_path_precedence() {
        assert_eq!(
            socket_path(&environment(&[])),
            PathBuf::from("/tmp/kamal-proxy.sock")
        );
        assert_eq!(
            socket_path(&environment(&[("TMPDIR", "/t")])),
            PathBuf::from("/t/kamal-proxy.sock")
        );
        assert_eq!(
            socket_path(&environment(&[
                ("TMPDIR", "/t"),
                ("XDG_RUNTIME_DIR", "/run/user/1")
            ])),
            PathBuf::from("/run/user/1/kamal-proxy.sock")
        );
        assert_eq!(
            socket_path(&environment(&[
                ("XDG_RUNTIME_DIR", "/x"),
                ("KAMAL_PROXY_SOCKET", "/s.sock")
            ])),
            PathBuf::from("/s.sock")
        );
    }

    #[test]
    fn data_directory_under_home() {
        let home = tempfile::tempdir().expect("temp dir");
        let home_path = home.path().to_string_lossy().into_owned();
        let path = state_file(&environment(&[("HOME", &home_path)]));
        assert_eq!(path, home.path().join(".config/kamal-proxy/kamal-proxy.state"));
        assert!(home.path().join(".config/kamal-proxy").is_dir());
    }
}
