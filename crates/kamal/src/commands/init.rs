//! `kamal init`: a starter `config/deploy.yml`, `.kamal/secrets` and sample hooks, each
//! only where nothing exists yet.

use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::assets;
use crate::output::Printer;

pub fn run(printer: &Printer, directory: &Path, bundle: bool) -> io::Result<()> {
    let deploy_file = directory.join("config/deploy.yml");
    if deploy_file.exists() {
        printer.line("Config file already exists in config/deploy.yml (remove first to create a new one)");
    } else {
        fs::create_dir_all(directory.join("config"))?;
        fs::write(&deploy_file, assets::DEPLOY_TEMPLATE)?;
        printer.line("Created configuration file in config/deploy.yml");
    }

    let secrets_file = directory.join(".kamal/secrets");
    if !secrets_file.exists() {
        fs::create_dir_all(directory.join(".kamal"))?;
        fs::write(&secrets_file, assets::SECRETS_TEMPLATE)?;
        printer.line("Created .kamal/secrets file");
    }

    let hooks = directory.join(".kamal/hooks");
    if !hooks.exists() {
        fs::create_dir_all(&hooks)?;
        for (name, body) in assets::SAMPLE_HOOKS {
            let path = hooks.join(name);
            fs::write(&path, body)?;
            fs::set_permissions(&path, fs::Permissions::from_mode(0o755))?;
        }
        printer.line("Created sample hooks in .kamal/hooks");
    }

    if bundle {
        // Kamal adds its gem to the Gemfile; kamal-rs is one binary, so there is nothing to add.
        printer.line("kamal-rs is a single binary: no Gemfile entry or binstub is needed (--bundle ignored)");
    }
    Ok(())
}
