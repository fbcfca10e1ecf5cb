//! Builds the [`Commander`] for a command that works on hosts: loads and validates the
//! configuration, resolves the version, the host/role selection and the SSH settings, and
//! picks the executor (OpenSSH, or a dry run that prints per host what would run).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use kamal_config::configuration::{self, raw, KeyData, LoadOptions, SshConfigFiles, SshProxy};
use kamal_ssh::{DryRun, Executor, Level, OpenSsh, Printer, SshConfig, SshLogLevel, SshOptions};

use crate::cli::GlobalSettings;
use crate::orchestration::specifics::Specifics;
use crate::orchestration::{Commander, RunSettings};
use crate::system::SystemEnvironment;
use crate::Failure;

pub fn commander(
    settings: &GlobalSettings,
    load_options: &LoadOptions,
    mut environment: SystemEnvironment,
    command: &str,
    subcommand: Option<&str>,
) -> Result<Commander, Failure> {
    let config = configuration::load(load_options, &mut environment)?;
    let version = config.version(&mut environment)?;
    let split = |value: &Option<String>| -> Option<Vec<String>> {
        value
            .as_ref()
            .map(|text| text.split(',').map(|part| part.trim().to_string()).collect())
    };
    let hosts = split(&settings.hosts);
    let roles = split(&settings.roles);
    let specifics =
        Specifics::new(&config, hosts.as_deref(), roles.as_deref(), settings.primary).map_err(|error| {
            Failure::Remote {
                class: "ArgumentError",
                message: error.to_string(),
            }
        })?;

    let printer = Arc::new(Printer::stdout(Level::from_flags(
        settings.verbose,
        settings.quiet,
    )));
    let run_settings = RunSettings {
        skip_hooks: settings.skip_hooks,
        dry_run: settings.dry_run,
        quiet: settings.quiet,
        roles_filter: specifics_roles_filter(settings, &specifics),
        lock_wait: settings.lock_wait,
    };

    let options = ssh_options(&config, &environment)?;
    let executor: Arc<dyn Executor> = if settings.dry_run {
        // Reads (which container runs, is the proxy up?) go to the hosts so the plan shows
        // what a real run would do there; nothing that changes a host runs.
        let probes = Arc::new(OpenSsh::new(options.clone(), printer.clone()));
        Arc::new(DryRun::new(printer.clone(), options).with_probes(probes))
    } else {
        Arc::new(OpenSsh::new(options, printer.clone()))
    };
    Ok(Commander::new(
        config,
        environment,
        run_settings,
        specifics,
        printer,
        executor,
        command,
        subcommand,
        version,
    ))
}

/// `KAMAL_ROLES`: the selected role names, only when `-r` was given.
fn specifics_roles_filter(settings: &GlobalSettings, specifics: &Specifics) -> Option<String> {
    settings.roles.as_ref().map(|_| specifics.roles.join(","))
}

/// The configuration's `ssh:` and `sshkit:` as OpenSSH settings.
fn ssh_options(
    config: &configuration::Configuration,
    environment: &SystemEnvironment,
) -> Result<SshOptions, Failure> {
    let ssh = config.ssh();
    let mut options = SshOptions::new();
    options.user = ssh.user();
    options.port = ssh.port().trim().parse().map_err(|_| Failure::Remote {
        class: "Kamal::ConfigurationError",
        message: format!("ssh/port: {} is not a port number", ssh.port()),
    })?;
    match ssh.proxy() {
        Some(SshProxy::Jump(jump)) => options.proxy = Some(jump),
        Some(SshProxy::Command(command)) => options.proxy_command = Some(command),
        None => {}
    }
    let home = kamal_config::Environment::var(environment, "HOME").unwrap_or_default();
    let expand = |path: &str| -> PathBuf {
        match path.strip_prefix("~/") {
            Some(rest) => PathBuf::from(&home).join(rest),
            None => PathBuf::from(path),
        }
    };
    options.keys = ssh.keys().iter().map(|key| expand(key)).collect();
    options.keys_only = ssh.keys_only();
    options.config = match ssh.config() {
        SshConfigFiles::Default => SshConfig::Default,
        SshConfigFiles::Ignored => SshConfig::Disabled,
        SshConfigFiles::Files(files) => SshConfig::Files(files.iter().map(|file| expand(file)).collect()),
    };
    options.log_level = SshLogLevel::parse(&ssh.log_level()).unwrap_or(SshLogLevel::Fatal);
    if raw::has_key(raw::get_mapping(Some(&config.raw), "ssh"), "key_data") {
        let mut secrets_environment = environment.clone();
        let secrets = crate::commands::secrets::load(
            &config.secrets_path(),
            config.destination.as_deref(),
            &mut secrets_environment,
        )?;
        options.key_data = ssh
            .key_data(&secrets)
            .into_iter()
            .map(|key| match key {
                KeyData::FromSecret(secret) | KeyData::Inline(secret) => secret,
            })
            .collect();
    }
    let sshkit = raw::get_mapping(Some(&config.raw), "sshkit");
    if let Some(starts) = raw::get_integer(sshkit, "max_concurrent_starts") {
        options.max_concurrent_starts = starts.max(1) as usize;
    }
    if let Some(seconds) = raw::get_integer(sshkit, "pool_idle_timeout") {
        options.pool_idle_timeout = Duration::from_secs(seconds.max(0) as u64);
    }
    if let Some(retries) = raw::get_integer(sshkit, "dns_retries") {
        options.dns_retries = retries.max(0) as u32;
    }
    Ok(options)
}
