//! `kamal build push | pull | deliver | create | remove | details`.
//!
//! Kamal builds with `docker buildx`. Where buildx is not installed (Debian 12 ships no
//! buildx package) a local, single-arch build falls back to `docker build` + `docker push`
//! with the same tags, labels, build args and secrets, and says so once.

use kamal_commands::builder::{self, FallbackUnavailable, PushOptions};
use kamal_commands::{auditor, base, registry, Cmd};
use kamal_config::configuration::Builder;
use kamal_ssh::{Level, RunOptions};

use crate::orchestration::hooks::Extra;
use crate::orchestration::Commander;
use crate::Failure;

/// The Docker architecture of this machine, as Kamal maps it (`x86_64` → `amd64`).
fn docker_arch() -> String {
    match std::env::consts::ARCH {
        "x86_64" => "amd64".to_string(),
        "aarch64" => "arm64".to_string(),
        other => other.to_string(),
    }
}

fn run_local_probe(commander: &Commander, command: &Cmd) -> Result<kamal_ssh::Output, Failure> {
    commander.run_locally(
        command,
        RunOptions::execute().raise_on_non_zero_exit(false).read_only(),
    )
}

pub fn push(commander: &Commander, no_cache: bool) -> Result<(), Failure> {
    commander.pre_connect_if_required()?;
    let docker = run_local_probe(commander, &base::ensure_local_docker_installed())?;
    if !docker.success() {
        return Err(Failure::Remote {
            class: "Kamal::Cli::DependencyError",
            message: "Docker is not installed locally".into(),
        });
    }
    let buildx = run_local_probe(commander, &base::ensure_local_buildx_installed())?.success()
        || commander.settings.dry_run;
    let arch = docker_arch();
    let builder_config = commander.config.builder(&arch);
    let registry_config = commander.config.registry_config();
    if registry_config.is_local() {
        commander.run_locally(&registry::setup(&registry_config), RunOptions::execute())?;
    } else if builder::login_to_registry_locally(&builder_config) {
        if let Some(login) = registry::login(&registry_config, commander.secrets()?)? {
            commander.run_locally(&login, RunOptions::execute())?;
        }
    }
    commander.run_hook("pre-build", &Extra::default())?;

    let build_directory = prepare_build_directory(commander, &builder_config)?;
    let secrets = if builder_config.secret_names().is_empty() {
        Vec::new()
    } else {
        builder_config.secrets(commander.secrets()?)?
    };
    let options = PushOptions {
        no_cache,
        ..PushOptions::default()
    };
    let (command, environment) = if buildx {
        ensure_builder(commander, &builder_config)?;
        (
            builder::push(&builder_config, &commander.version, &secrets, &options),
            builder::push_env(&builder_config),
        )
    } else {
        let command = builder::fallback_push(&builder_config, &commander.version, &secrets, &options)
            .map_err(|error| Failure::Remote {
                class: "Kamal::Cli::DependencyError",
                message: match error {
                    FallbackUnavailable::NeedsBuildx(_) | FallbackUnavailable::MultipleArches(_) => {
                        format!("Docker buildx plugin is not installed locally ({error})")
                    }
                },
            })?;
        commander
            .say("docker buildx is not installed: building with `docker build`, pushing with `docker push`");
        (command, builder::fallback_push_env(&builder_config))
    };
    let mut in_directory = Cmd::new([format!(
        "cd {} &&",
        kamal_config::secrets::shellwords::escape(&build_directory)
    )]);
    in_directory.append(&command.with_env(&environment));
    commander.run_locally(&in_directory, RunOptions::execute().verbosity(Level::Debug))?;
    Ok(())
}

/// `kamal build dev`: builds the working directory as it is (no clone), tagged
/// `<version>-dirty` and `latest-dirty`, into the local Docker (`--output docker`) unless
/// told otherwise. Kamal first lists uncommitted files inside the build context with a
/// busybox helper image; that helper needs buildx and an image pull, so without them we
/// say we skipped the check.
pub fn dev(commander: &Commander, output: Option<&str>, no_cache: bool) -> Result<(), Failure> {
    commander.pre_connect_if_required()?;
    let docker = run_local_probe(commander, &base::ensure_local_docker_installed())?;
    if !docker.success() {
        return Err(Failure::Remote {
            class: "Kamal::Cli::DependencyError",
            message: "Docker is not installed locally".into(),
        });
    }
    let buildx = run_local_probe(commander, &base::ensure_local_buildx_installed())?.success()
        || commander.settings.dry_run;
    let uncommitted = local_git(&["status", "--porcelain"]).unwrap_or_default();
    if !uncommitted.is_empty() && !buildx {
        commander
            .say("Skipping the check for uncommitted files in the build context (it needs docker buildx)");
    }
    let builder_config = commander.config.builder(&docker_arch());
    let secrets = if builder_config.secret_names().is_empty() {
        Vec::new()
    } else {
        builder_config.secrets(commander.secrets()?)?
    };
    let options = PushOptions {
        output: output.unwrap_or("docker").to_string(),
        tag_as_dirty: true,
        no_cache,
    };
    let (command, environment) = if buildx {
        ensure_builder(commander, &builder_config)?;
        (
            builder::push(&builder_config, &commander.version, &secrets, &options),
            builder::push_env(&builder_config),
        )
    } else {
        let command = builder::fallback_push(&builder_config, &commander.version, &secrets, &options)
            .map_err(|error| Failure::Remote {
                class: "Kamal::Cli::DependencyError",
                message: format!("Docker buildx plugin is not installed locally ({error})"),
            })?;
        (command, builder::fallback_push_env(&builder_config))
    };
    commander.run_locally(
        &command.with_env(&environment),
        RunOptions::execute().verbosity(Level::Debug),
    )?;
    Ok(())
}

/// Creates the buildx builder when inspecting it says it is missing.
fn ensure_builder(commander: &Commander, builder_config: &Builder) -> Result<(), Failure> {
    let Some(inspect) = builder::inspect_builder(builder_config) else {
        return Ok(());
    };
    let found = commander.run_locally(
        &inspect,
        RunOptions::capture().raise_on_non_zero_exit(false).read_only(),
    )?;
    if found.success() {
        return Ok(());
    }
    commander.say("Missing compatible builder, so creating a new one first");
    if let Some(remove) = builder::remove(builder_config) {
        let _ = commander.run_locally(&remove, RunOptions::execute().raise_on_non_zero_exit(false));
    }
    if let Some(create) = builder::create(builder_config) {
        commander.run_locally(&create, RunOptions::execute())?;
    }
    Ok(())
}

/// Kamal builds from a fresh clone of the repository at HEAD (so uncommitted changes never
/// ship) unless `builder.context` is set or there is no git repository.
fn prepare_build_directory(commander: &Commander, builder_config: &Builder) -> Result<String, Failure> {
    let git_root = local_git(&["rev-parse", "--show-toplevel"]);
    let working_directory = kamal_config::Environment::current_dir(&commander.environment)
        .display()
        .to_string();
    let Some(root) = git_root.filter(|_| builder_config.git_clone(true)) else {
        return Ok(".".to_string());
    };
    let tmpdir = std::env::temp_dir().display().to_string();
    let clone_directory = builder_config.clone_directory(tmpdir.trim_end_matches('/'), &working_directory);
    let build_directory =
        builder_config.build_directory(tmpdir.trim_end_matches('/'), &working_directory, Some(&root));
    let revision = local_git(&["rev-parse", "HEAD"]).unwrap_or_default();
    let repository = std::path::Path::new(&clone_directory).join(root.rsplit('/').next().unwrap_or_default());
    let cloned = repository.exists() && {
        builder::clone_reset_steps(&repository.display().to_string(), &root, &revision)
            .iter()
            .all(|step| commander.run_locally(step, RunOptions::execute()).is_ok())
    };
    if !cloned {
        let _ = std::fs::remove_dir_all(&clone_directory);
        std::fs::create_dir_all(&clone_directory).map_err(|error| Failure::Remote {
            class: "Errno::EACCES",
            message: format!("{clone_directory}: {error}"),
        })?;
        commander.say(&format!(
            "Cloning repo into build directory `{clone_directory}`..."
        ));
        commander.run_locally(&builder::clone(&clone_directory, &root), RunOptions::execute())?;
    }
    Ok(build_directory)
}

fn local_git(arguments: &[&str]) -> Option<String> {
    let output = std::process::Command::new("git")
        .args(arguments)
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&output.stdout).trim().to_string();
    (output.status.success() && !text.is_empty()).then_some(text)
}

/// Pulls the image on every host: audit, remove any old copy, pull, check its label.
pub fn pull(commander: &Commander) -> Result<(), Failure> {
    let registry_config = commander.config.registry_config();
    let login = if registry_config.is_local() {
        None
    } else {
        registry::login(&registry_config, commander.secrets()?)?
    };
    let hosts = commander.specifics.hosts.clone();
    let version = commander.version.clone();
    let stamp = commander.stamp();
    // A local registry (`localhost:PORT`) is reached through an SSH tunnel from each host.
    let tunnel_port = registry_config
        .local_port()
        .filter(|_| registry_config.is_local())
        .and_then(|port| u16::try_from(port).ok());
    commander.on(&hosts, |host| {
        // The login and the removal of a stale tag (with its audit line) need nothing from
        // each other; the pull needs both.
        let (logged_in, cleaned) = crate::orchestration::overlap::both(
            || match &login {
                Some(login) => host.execute(login).map(|_| ()),
                None => Ok(()),
            },
            || clean_before_pull(commander, host, &stamp, &version),
        );
        logged_in?;
        cleaned?;
        if let Some(port) = tunnel_port {
            commander.executor.forward_remote_port(host.name(), port)?;
        }
        let pulled = pull_on(commander, host, &version);
        if let Some(port) = tunnel_port {
            let _ = commander.executor.cancel_remote_port(host.name(), port);
        }
        pulled
    })?;
    Ok(())
}

/// The audit line, and the version's old tag removed so the pull fetches it afresh.
fn clean_before_pull(
    commander: &Commander,
    host: &kamal_ssh::Host<'_>,
    stamp: &kamal_commands::Stamp,
    version: &str,
) -> Result<(), kamal_ssh::Error> {
    let audit = auditor::record(
        &commander.config,
        stamp,
        &[],
        &format!("Pulled image with version {version}"),
    );
    let (audited, cleaned) = crate::orchestration::overlap::both(
        || host.execute_with(&audit, RunOptions::execute().verbosity(Level::Debug)),
        || {
            host.execute_with(
                &builder::clean(&commander.config, version),
                RunOptions::execute().raise_on_non_zero_exit(false),
            )
        },
    );
    audited?;
    cleaned?;
    Ok(())
}

fn pull_on(commander: &Commander, host: &kamal_ssh::Host<'_>, version: &str) -> Result<(), kamal_ssh::Error> {
    host.execute(&builder::pull(&commander.config, version))?;
    host.execute(&builder::validate_image(&commander.config, version))?;
    Ok(())
}

pub fn create(commander: &Commander) -> Result<(), Failure> {
    let builder_config = commander.config.builder(&docker_arch());
    if let Some(create) = builder::create(&builder_config) {
        commander.run_locally(&create, RunOptions::execute())?;
    }
    Ok(())
}

pub fn remove(commander: &Commander) -> Result<(), Failure> {
    let builder_config = commander.config.builder(&docker_arch());
    if let Some(remove) = builder::remove(&builder_config) {
        commander.run_locally(&remove, RunOptions::execute())?;
    }
    Ok(())
}

pub fn details(commander: &Commander) -> Result<(), Failure> {
    let builder_config = commander.config.builder(&docker_arch());
    // Kamal names the kind of builder here (`local`, `remote`, ...), not the buildx builder.
    commander.puts(&format!("Builder: {}", builder_config.kind().name()));
    let output = commander.run_locally(
        &builder::info(&builder_config),
        RunOptions::capture().raise_on_non_zero_exit(false),
    )?;
    commander.puts(output.stdout.trim_end());
    Ok(())
}
