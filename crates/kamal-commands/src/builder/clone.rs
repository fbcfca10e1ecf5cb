//! `Kamal::Commands::Builder::Clone`: building from a fresh git clone of the project (when
//! `builder.context` is unset): clone, reset an existing clone to the local HEAD, and the
//! status/revision checks that decide whether the clone is usable. Paths are escaped with
//! Ruby's `shellescape` (`path\ with\ spaces`).

use kamal_config::secrets::shellwords::escape;

use crate::base::git;
use crate::cmd::Cmd;

/// `git -C <clone dir> clone <repo root> --recurse-submodules`.
pub fn clone(clone_directory: &str, git_root: &str) -> Cmd {
    git(
        ["clone", &escape(git_root), "--recurse-submodules"],
        Some(&escape(clone_directory)),
    )
}

/// Resetting a clone that already exists to `revision` (the local `git rev-parse HEAD`).
/// Kamal 2.12 adds `gc --auto --quiet`; 2.11, which we follow, does not.
pub fn clone_reset_steps(build_directory: &str, git_root: &str, revision: &str) -> Vec<Cmd> {
    let directory = escape(build_directory);
    let path = Some(directory.as_str());
    vec![
        git(["remote", "set-url", "origin", &escape(git_root)], path),
        git(["fetch", "origin"], path),
        git(["reset", "--hard", revision], path),
        git(["clean", "-fdx"], path),
        git(["submodule", "update", "--init"], path),
    ]
}

/// `git -C <build dir> status --porcelain`: must print nothing.
pub fn clone_status(build_directory: &str) -> Cmd {
    git(["status", "--porcelain"], Some(&escape(build_directory)))
}

/// `git -C <build dir> rev-parse HEAD`: must equal the local HEAD.
pub fn clone_revision(build_directory: &str) -> Cmd {
    git(["rev-parse", "HEAD"], Some(&escape(build_directory)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const CLONE: &str = "/tmp/kamal-clones/app-0123456789abc";
    const BUILD: &str = "/tmp/kamal-clones/app-0123456789abc/my app/";

    #[test]
    fn clone_and_reset() {
        assert_eq!(
            clone(CLONE, "/home/dev/my app").to_display(),
            "/usr/bin/env git -C /tmp/kamal-clones/app-0123456789abc clone /home/dev/my\\ app --recurse-submodules"
        );
        let steps: Vec<String> = clone_reset_steps(BUILD, "/home/dev/my app", "abc123")
            .iter()
            .map(Cmd::to_display)
            .collect();
        let prefix = "/usr/bin/env git -C /tmp/kamal-clones/app-0123456789abc/my\\ app/";
        assert_eq!(
            steps,
            [
                format!("{prefix} remote set-url origin /home/dev/my\\ app"),
                format!("{prefix} fetch origin"),
                format!("{prefix} reset --hard abc123"),
                format!("{prefix} clean -fdx"),
                format!("{prefix} submodule update --init"),
            ]
        );
        assert_eq!(
            clone_status(BUILD).to_display(),
            format!("{prefix} status --porcelain")
        );
        assert_eq!(
            clone_revision(BUILD).to_display(),
            format!("{prefix} rev-parse HEAD")
        );
    }
}
