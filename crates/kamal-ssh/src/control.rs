//! Where shared connections live: a private 0700 directory per process, and one short
//! ControlPath per (user, host, port, jump) in it. Unix socket paths are limited to 104
//! bytes (macOS; 108 on Linux) and OpenSSH appends a 17-byte random suffix while it creates
//! the socket, so names are fixed-width hashes and a long `$TMPDIR` falls back to `/tmp`.

use std::io::ErrorKind;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

/// The smallest `sun_path` among the systems we run on, minus its terminating NUL.
const SOCKET_PATH_LIMIT: usize = 103;
/// OpenSSH binds `<ControlPath>.<16 random chars>` first, then renames it into place.
const OPENSSH_TEMPORARY_SUFFIX: usize = 17;
/// `/<16 hex>`.
const SOCKET_NAME_LENGTH: usize = 17;

/// A directory only we can enter, removed when dropped.
#[derive(Debug)]
pub(crate) struct PrivateDir {
    path: PathBuf,
}

impl PrivateDir {
    /// Creates `kamal-ssh-<8 hex>` under `temp_dir` when socket paths fit there, else `/tmp`.
    pub(crate) fn create(temp_dir: &Path) -> std::io::Result<PrivateDir> {
        let base = if fits(temp_dir) {
            temp_dir
        } else {
            Path::new("/tmp")
        };
        for _ in 0..16 {
            let path = base.join(format!("kamal-ssh-{:08x}", crate::random::next_u64() as u32));
            // 0700 at creation, so there is no moment when others could enter it.
            match std::fs::DirBuilder::new().mode(0o700).create(&path) {
                Ok(()) => return Ok(PrivateDir { path }),
                Err(error) if error.kind() == ErrorKind::AlreadyExists => continue,
                Err(error) => return Err(error),
            }
        }
        Err(std::io::Error::new(
            ErrorKind::AlreadyExists,
            "no free name for a private directory",
        ))
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for PrivateDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// Whether sockets in `kamal-ssh-xxxxxxxx/` under `base` stay within the limit.
fn fits(base: &Path) -> bool {
    let directory = base.as_os_str().len() + "/kamal-ssh-00000000".len();
    directory + SOCKET_NAME_LENGTH + OPENSSH_TEMPORARY_SUFFIX <= SOCKET_PATH_LIMIT
}

/// The socket name for one connection: 16 hex digits of a stable hash of what makes the
/// connection distinct. Stable (FNV-1a) rather than std's hasher so names are reproducible.
pub(crate) fn socket_name(user: &str, host: &str, port: u16, jump: Option<&str>) -> String {
    let key = format!("{user}\0{host}\0{port}\0{}", jump.unwrap_or(""));
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in key.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{hash:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_short_fixed_width_and_distinct() {
        let name = socket_name("root", "10.213.0.11", 22, None);
        assert_eq!(name.len(), 16);
        assert_eq!(name, socket_name("root", "10.213.0.11", 22, None));
        let long_host = "a".repeat(253);
        assert_eq!(socket_name("root", &long_host, 22, None).len(), 16);
        let others = [
            socket_name("app", "10.213.0.11", 22, None),
            socket_name("root", "10.213.0.12", 22, None),
            socket_name("root", "10.213.0.11", 2222, None),
            socket_name("root", "10.213.0.11", 22, Some("root@jump")),
        ];
        for other in others {
            assert_ne!(other, name);
        }
    }

    #[test]
    fn a_long_temp_dir_falls_back_to_tmp() {
        let long = PathBuf::from(format!("/var/folders/{}/T", "x".repeat(60)));
        let directory = PrivateDir::create(&long).expect("created under /tmp");
        assert!(directory.path().to_string_lossy().starts_with("/tmp/kamal-ssh-"));
        let socket = directory.path().join(socket_name("root", "h", 22, None));
        assert!(socket.as_os_str().len() + OPENSSH_TEMPORARY_SUFFIX <= SOCKET_PATH_LIMIT);
    }

    #[test]
    fn the_directory_is_private_and_removed() {
        use std::os::unix::fs::PermissionsExt;
        let directory = PrivateDir::create(&std::env::temp_dir()).expect("created");
        let path = directory.path().to_path_buf();
        let mode = std::fs::metadata(&path).expect("exists").permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
        drop(directory);
        assert!(!path.exists());
    }
}
