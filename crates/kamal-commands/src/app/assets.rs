//! `Kamal::Commands::App::Assets` (§5.7): asset bridging for proxied roles with an
//! `asset_path`. The new image's assets are copied out into `assets/extracted/<role>-<v>`,
//! merged with the running version's into `assets/volumes/<role>-<v>` (mounted into the
//! container), so requests for either version's fingerprinted files succeed mid-deploy;
//! older versions' directories are removed once the old container stops.

use super::App;
use crate::base::{chain, combine, docker, make_directory};
use crate::cmd::Cmd;

impl App<'_> {
    /// `mkdir -p <extracted> && docker container rm <prefix>-assets 2> /dev/null || true &&
    /// docker container create --name <prefix>-assets <image> && docker container cp -L
    /// <prefix>-assets:<asset_path>/. <extracted> && docker container rm <prefix>-assets`.
    pub fn extract_assets(&self) -> Cmd {
        let asset_container = format!("{}-assets", self.role.container_prefix());
        let extracted = self.role.asset_extracted_directory(self.version);
        let asset_path = self.role.asset_path().unwrap_or_default();
        combine(
            [
                make_directory(&extracted),
                docker(["container", "rm", &asset_container, "2> /dev/null", "|| true"]),
                docker([
                    "container".to_string(),
                    "create".to_string(),
                    "--name".to_string(),
                    asset_container.clone(),
                    self.config.absolute_image(self.version),
                ]),
                docker([
                    "container".to_string(),
                    "cp".to_string(),
                    "-L".to_string(),
                    format!("{asset_container}:{asset_path}/."),
                    extracted,
                ]),
                docker(["container", "rm", &asset_container]),
            ],
            "&&",
        )
    }

    /// `mkdir -p <new volume> ; cp -rnT <new extracted> <new volume>`, and with a running
    /// `old_version` (blank means none) the two cross copies, failures ignored.
    pub fn sync_asset_volumes(&self, old_version: Option<&str>) -> Cmd {
        let new_extracted = self.role.asset_extracted_directory(self.version);
        let new_volume = self.role.asset_volume_directory(self.version);
        let mut commands = vec![
            make_directory(&new_volume),
            copy_contents(&new_extracted, &new_volume, false),
        ];
        if let Some(old_version) = old_version.filter(|old| !old.trim().is_empty()) {
            let old_extracted = self.role.asset_extracted_directory(old_version);
            let old_volume = self.role.asset_volume_directory(old_version);
            commands.push(copy_contents(&new_extracted, &old_volume, true));
            commands.push(copy_contents(&old_extracted, &new_volume, true));
        }
        chain(commands)
    }

    /// `find <assets>/extracted -maxdepth 1 -name '<role>-*' ! -name <role>-<v> -exec rm -rf
    /// "{}" + ; find <assets>/volumes …`.
    pub fn clean_up_assets(&self) -> Cmd {
        chain([
            self.remove_older_siblings(&self.role.asset_extracted_directory(self.version)),
            self.remove_older_siblings(&self.role.asset_volume_directory(self.version)),
        ])
    }

    fn remove_older_siblings(&self, path: &str) -> Cmd {
        let (parent, name) = path.rsplit_once('/').unwrap_or((".", path));
        Cmd::new([
            "find".to_string(),
            parent.to_string(),
            "-maxdepth 1".to_string(),
            "-name".to_string(),
            format!("'{}-*'", self.role.name()),
            "!".to_string(),
            "-name".to_string(),
            name.to_string(),
            "-exec rm -rf \"{}\" +".to_string(),
        ])
    }
}

/// `cp -rnT <source> <destination>[ || true]`.
fn copy_contents(source: &str, destination: &str, continue_on_error: bool) -> Cmd {
    let mut command = Cmd::new(["cp", "-rnT", source, destination]);
    if continue_on_error {
        command.push("|| true");
    }
    command
}
