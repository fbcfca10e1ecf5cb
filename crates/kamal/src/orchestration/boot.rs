//! `kamal app boot`, the core of every deploy (Kamal's `Cli::App#boot` and `Cli::App::Boot`):
//! prepare every app host (error pages, assets, certificates), then boot the hosts in
//! groups of `boot.limit` — `pre-app-boot` / `post-app-boot` once per group with the group's
//! hosts in `KAMAL_HOSTS`, `boot.wait` slept after each `post-app-boot` — and tag the image
//! `latest` only when every group succeeded. Other roles wait at a barrier until the first
//! primary-role container is healthy; a failing new container is stopped while the old
//! one keeps serving, and every host's error is collected before the command fails.

use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use kamal_commands::app::{self, App};
use kamal_commands::{auditor, Stamp};
use kamal_config::configuration::Role;
use kamal_ssh::{Host, Level, RunOptions, Upload};

use super::hooks::Extra;
use super::overlap::{both, Pending};
use super::Commander;
use crate::Failure;

/// Why one role's boot on one host failed.
#[derive(Debug, thiserror::Error)]
pub enum BootError {
    #[error(transparent)]
    Host(#[from] kamal_ssh::Error),
    /// `Kamal::Cli::BootError`.
    #[error("{0}")]
    Boot(String),
    /// `Kamal::Cli::Healthcheck::Error`.
    #[error("{0}")]
    Health(String),
    #[error(transparent)]
    Secrets(#[from] kamal_config::secrets::SecretsError),
}

impl BootError {
    fn ruby_class(&self) -> &'static str {
        match self {
            BootError::Host(error) => error.ruby_class(),
            BootError::Boot(_) => "Kamal::Cli::BootError",
            BootError::Health(_) => "Kamal::Cli::Healthcheck::Error",
            BootError::Secrets(_) => "Kamal::ConfigurationError",
        }
    }
}

/// Kamal's single-assignment barrier: the first primary-role container settles it, open
/// (healthy) or closed (unhealthy); other roles wait for it, across all groups.
#[derive(Default)]
struct Barrier {
    state: Mutex<Option<bool>>,
    changed: Condvar,
}

impl Barrier {
    /// Settles the barrier; true if this call was the one that settled it.
    fn settle(&self, open: bool) -> bool {
        let mut state = self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if state.is_some() {
            return false;
        }
        *state = Some(open);
        self.changed.notify_all();
        true
    }

    fn wait(&self) -> bool {
        let mut state = self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        while state.is_none() {
            state = self
                .changed
                .wait(state)
                .unwrap_or_else(|poisoned| poisoned.into_inner());
        }
        state.unwrap_or(false)
    }
}

impl Commander {
    /// The hosts running app roles, among the selected ones, primary-role hosts first.
    pub fn app_hosts(&self) -> Vec<String> {
        self.specifics
            .hosts
            .iter()
            .filter(|host| self.roles_on(host).next().is_some())
            .cloned()
            .collect()
    }

    /// The selected roles on `host`, primary first.
    pub fn roles_on<'a>(&'a self, host: &'a str) -> impl Iterator<Item = &'a Role> + 'a {
        self.specifics
            .roles
            .iter()
            .filter_map(|name| self.config.role(name))
            .filter(move |role| role.hosts().iter().any(|candidate| candidate == host))
    }

    /// Boots `version` of the app on every selected host (under the lock held by the caller).
    pub fn boot_app(&self, version: &str) -> Result<(), Failure> {
        self.boot_app_after(version, &Pending::done())
    }

    /// [`Commander::boot_app`] while the image may still be on its way to the hosts: each
    /// host checks and prepares its roles, then waits for `image` before its first
    /// `docker run`. Asset extraction and a `pre-app-boot` hook (which may use the image)
    /// wait for it up front.
    pub fn boot_app_after(&self, version: &str, image: &Pending<'_>) -> Result<(), Failure> {
        self.say(&format!(
            "Start container with version {version} (or reboot if already running)..."
        ));
        let hosts = self.app_hosts();
        let stamp = Stamp {
            version: Some(version.to_string()),
            ..self.stamp()
        };
        let assets = self
            .config
            .roles
            .iter()
            .any(|role| self.config.role_runtime(role).assets());
        if assets || (!self.settings.skip_hooks && self.hook_exists("pre-app-boot")) {
            image.finish()?;
        }
        self.prepare_hosts(&hosts, version)?;

        let limit = self
            .config
            .boot_limit()
            .map(|limit| limit.max(1) as usize)
            .unwrap_or(hosts.len().max(1));
        let barrier = Barrier::default();
        for group in hosts.chunks(limit) {
            let extra = Extra {
                hosts: Some(group.to_vec()),
                ..Extra::default()
            };
            self.run_hook("pre-app-boot", &extra)?;
            kamal_ssh::on(self.executor.as_ref(), group, |host| {
                self.boot_host(host, version, &stamp, &barrier, image)
            })
            .map_err(|exceptions| Failure::Remote {
                class: exceptions.first().error.ruby_class(),
                message: exceptions.to_string(),
            })?;
            self.run_hook("post-app-boot", &extra)?;
            if let Some(wait) = self.config.boot_wait().filter(|seconds| *seconds > 0) {
                self.say(&format!(
                    "Waiting {wait} seconds before booting the next group..."
                ));
                // `boot.wait` is the user's pause between groups (Kamal sleeps it too).
                if !self.settings.dry_run {
                    std::thread::sleep(Duration::from_secs(wait as u64));
                }
            }
        }

        let tag = app::tag_latest_image(&self.config, version);
        let image = self.config.absolute_image(version);
        self.on(&hosts, |host| {
            let audit = auditor::record(
                &self.config,
                &stamp,
                &[],
                &format!("Tagging {image} as the latest image"),
            );
            let (audited, tagged) = both(
                || host.execute_with(&audit, RunOptions::execute().verbosity(Level::Debug)),
                || host.execute(&tag),
            );
            audited?;
            tagged.map(|_| ())
        })?;
        Ok(())
    }

    /// Error pages (once per host), then per role its assets and TLS certificates.
    fn prepare_hosts(&self, hosts: &[String], version: &str) -> Result<(), Failure> {
        let error_pages = self.error_pages()?;
        let secrets = if self.needs_certificates() {
            Some(self.secrets()?)
        } else {
            None
        };
        self.on(hosts, |host| {
            if !error_pages.is_empty() {
                host.execute(&app::create_error_pages_directory(&self.config))?;
                let directory = format!("{}/{version}", self.config.proxy_boot().error_pages_directory());
                host.execute(&kamal_commands::base::make_directory(&directory))?;
                for (name, contents) in &error_pages {
                    host.upload(Upload::Bytes(contents), &format!("{directory}/{name}"), 0o644)?;
                }
            }
            for role in self.roles_on(host.name()) {
                let app = App::new(&self.config, role, host.name(), version);
                if app.role().assets() {
                    host.execute(&app.extract_assets())?;
                    let old = host.capture_with(
                        &app.current_running_version(),
                        RunOptions::capture().raise_on_non_zero_exit(false).read_only(),
                    )?;
                    host.execute(&app.sync_asset_volumes(Some(old.trim()).filter(|old| !old.is_empty())))?;
                }
                if let (Some(proxy), Some(secrets)) = (app.role().proxy(), secrets) {
                    if proxy.custom_ssl_certificate() {
                        host.execute(&app.create_ssl_directory())?;
                        let certificate = proxy
                            .certificate_pem_content(secrets)
                            .map_err(secrets_to_host(host.name()))?;
                        let key = proxy
                            .private_key_pem_content(secrets)
                            .map_err(secrets_to_host(host.name()))?;
                        let files = [(certificate, proxy.host_tls_cert()), (key, proxy.host_tls_key())];
                        for (contents, path) in files {
                            if let (Some(contents), Some(path)) = (contents, path) {
                                host.upload(Upload::Bytes(contents.expose().as_bytes()), &path, 0o644)?;
                            }
                        }
                    }
                }
            }
            Ok(())
        })?;
        Ok(())
    }

    fn needs_certificates(&self) -> bool {
        self.config.roles.iter().any(|role| {
            self.config
                .role_runtime(role)
                .proxy()
                .is_some_and(|proxy| proxy.custom_ssl_certificate())
        })
    }

    /// `4??.html`/`5??.html` (and `4xx.html`/`5xx.html`) from `error_pages_path`.
    fn error_pages(&self) -> Result<Vec<(String, Vec<u8>)>, Failure> {
        let Some(path) = self.config.error_pages_path() else {
            return Ok(Vec::new());
        };
        let directory = kamal_config::Environment::absolute(&self.environment, std::path::Path::new(&path));
        let entries = std::fs::read_dir(&directory).map_err(|error| Failure::Remote {
            class: "Errno::ENOENT",
            message: format!("error_pages_path {}: {error}", directory.display()),
        })?;
        let mut pages = Vec::new();
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let is_page = name.len() == 8
                && name.ends_with(".html")
                && matches!(name.as_bytes()[0], b'4' | b'5')
                && name[1..3]
                    .chars()
                    .all(|character| character.is_ascii_digit() || character == 'x');
            if is_page {
                let contents = std::fs::read(entry.path()).map_err(|error| Failure::Remote {
                    class: "Errno::EACCES",
                    message: format!("{}: {error}", entry.path().display()),
                })?;
                pages.push((name, contents));
            }
        }
        pages.sort();
        Ok(pages)
    }

    /// Every selected role on one host, primary first, one after the other (or in parallel
    /// with `boot.parallel_roles`). One after the other, as Kamal does, but overlapped
    /// where that cannot change the outcome: every role's checks and env file are done at
    /// once up front, and a role's old container is stopped while the next role boots.
    fn boot_host(
        &self,
        host: &Host<'_>,
        version: &str,
        stamp: &Stamp,
        barrier: &Barrier,
        image: &Pending<'_>,
    ) -> Result<(), BootError> {
        let roles: Vec<&Role> = self.roles_on(host.name()).collect();
        let image_here = || {
            if image.wait() {
                Ok(())
            } else {
                // The pull's own error is what the deploy reports.
                barrier.settle(false);
                Err(BootError::Boot(format!("the image is not on {}", host.name())))
            }
        };
        if self.config.boot_parallel_roles() {
            image_here()?;
            kamal_ssh::in_parallel(&roles, "roles", |role| {
                let app = App::new(&self.config, role, host.name(), version);
                let prepared = self.prepare_role(host, &app, version, barrier)?;
                let old_version = self.boot_role(host, &app, version, stamp, barrier, prepared)?;
                self.stop_old_version(host, &app, version, &old_version)
            })
            .map_err(|exceptions| BootError::Boot(exceptions.to_string()))?;
            return Ok(());
        }
        let apps: Vec<App<'_>> = roles
            .iter()
            .map(|role| App::new(&self.config, role, host.name(), version))
            .collect();
        let prepared: Vec<Result<Prepared, BootError>> = std::thread::scope(|scope| {
            let handles: Vec<_> = apps
                .iter()
                .map(|app| scope.spawn(|| self.prepare_role(host, app, version, barrier)))
                .collect();
            handles.into_iter().map(join).collect()
        });
        image_here()?;
        std::thread::scope(|scope| {
            let mut stopping = Vec::new();
            let mut result = Ok(());
            for (app, prepared) in apps.iter().zip(prepared) {
                let booted = prepared
                    .and_then(|prepared| self.boot_role(host, app, version, stamp, barrier, prepared));
                match booted {
                    Ok(old_version) => stopping
                        .push(scope.spawn(move || self.stop_old_version(host, app, version, &old_version))),
                    Err(error) => {
                        result = Err(error);
                        break;
                    }
                }
            }
            for handle in stopping {
                let stopped = join(handle);
                if result.is_ok() {
                    result = stopped;
                }
            }
            result
        })
    }

    /// What a role needs before its new container starts, all at once: does a container of
    /// this version exist, which version runs, and the env file (0600) in place. A primary
    /// role that cannot get this far closes the barrier, so other roles do not wait forever.
    fn prepare_role(
        &self,
        host: &Host<'_>,
        app: &App<'_>,
        version: &str,
        barrier: &Barrier,
    ) -> Result<Prepared, BootError> {
        let prepared = (|| {
            let secrets = self
                .secrets()
                .map_err(|failure| BootError::Boot(failure.to_string()))?;
            let env_file = app.role().secrets_env_file(host.name(), secrets)?;
            let ((existing, running), placed) = both(
                || {
                    both(
                        || {
                            host.capture_with(
                                &app.container_id_for_version(version, false),
                                RunOptions::capture().read_only(),
                            )
                        },
                        || match self.take_running_version(host.name(), app.role().name()) {
                            Some(known) => Ok(known),
                            None => self.running_version(host, app),
                        },
                    )
                },
                || -> Result<(), BootError> {
                    host.execute(&app.ensure_env_directory())?;
                    host.upload(
                        Upload::Bytes(env_file.expose().as_bytes()),
                        &app.role().secrets_path(),
                        0o600,
                    )?;
                    Ok(())
                },
            );
            placed?;
            Ok(Prepared {
                existing: !existing?.is_empty(),
                old_version: running?,
            })
        })();
        if prepared.is_err() && self.is_primary(app) {
            barrier.settle(false);
        }
        prepared
    }

    fn is_primary(&self, app: &App<'_>) -> bool {
        app.role().name() == self.config.primary_role_name()
    }

    /// `current_running_version`, trimmed (empty: none runs).
    fn running_version(&self, host: &Host<'_>, app: &App<'_>) -> Result<String, kamal_ssh::Error> {
        Ok(host
            .capture_with(
                &app.current_running_version(),
                RunOptions::capture().raise_on_non_zero_exit(false).read_only(),
            )?
            .trim()
            .to_string())
    }

    /// `Cli::App::Boot#run` for one role on one host, up to the new container serving; the
    /// version it replaces is returned, for [`Commander::stop_old_version`].
    fn boot_role(
        &self,
        host: &Host<'_>,
        app: &App<'_>,
        version: &str,
        stamp: &Stamp,
        barrier: &Barrier,
        prepared: Prepared,
    ) -> Result<String, BootError> {
        let role_name = app.role().name().to_string();
        let primary = self.is_primary(app);
        let audit = |line: String| -> Result<(), BootError> {
            let details = [("role", Some(role_name.clone()))];
            host.execute_with(
                &auditor::record(&self.config, stamp, &details, &line),
                RunOptions::execute().verbosity(Level::Debug),
            )?;
            Ok(())
        };

        // A container of this version exists already (a redeploy, a rollback): move it aside.
        let mut old_version = prepared.old_version;
        if prepared.existing {
            let renamed = format!("{version}_replaced_{}", random_hex(8));
            self.printer.info(&format!(
                "Renaming container {version} to {renamed} as already deployed on {}",
                host.name()
            ));
            let moved = audit(format!("Renaming container {version} to {renamed}"))
                .and_then(|()| {
                    Ok(host
                        .execute(&app.rename_container(version, &renamed))
                        .map(|_| ())?)
                })
                // The running container may be the one just renamed.
                .and_then(|()| Ok(self.running_version(host, app)?));
            match moved {
                Ok(running) => old_version = running,
                Err(error) => {
                    if primary {
                        barrier.settle(false);
                    }
                    return Err(error);
                }
            }
        }

        if !primary {
            let primary_role = self.config.primary_role_name();
            self.printer.info(&format!(
                "Waiting for the first healthy {primary_role} container before booting {role_name} on {}...",
                host.name()
            ));
            if !barrier.wait() {
                self.printer.info(&format!(
                    "First {primary_role} container is unhealthy, not booting {role_name} on {}",
                    host.name()
                ));
                return Err(BootError::Health("Halted at barrier".into()));
            }
            self.printer.info(&format!(
                "First {primary_role} container is healthy, booting {role_name} on {}...",
                host.name()
            ));
        }

        match self.start_new_version(host, app, version, &audit) {
            Ok(()) => {
                if primary && barrier.settle(true) {
                    self.printer.info(&format!(
                        "First {role_name} container is healthy on {}, booting any other roles",
                        host.name()
                    ));
                }
                Ok(old_version)
            }
            Err(error) => {
                self.printer
                    .error(&format!("Failed to boot {role_name} on {}", host.name()));
                if primary && barrier.settle(false) {
                    self.printer.info(&format!(
                        "First {role_name} container is unhealthy on {}, not booting any other roles",
                        host.name()
                    ));
                    let logs = host.execute_with(
                        &app.container_health_log(version),
                        RunOptions::execute().raise_on_non_zero_exit(false),
                    );
                    match logs {
                        Ok(output) => self.printer.error(output.stdout.trim_end()),
                        Err(_) => self.printer.error(&format!("Could not fetch logs for {version}")),
                    }
                }
                // The old container keeps serving; the new one must not linger half-booted.
                let _ = host.execute_with(
                    &app.stop(Some(version)),
                    RunOptions::execute().raise_on_non_zero_exit(false),
                );
                Err(error)
            }
        }
    }

    /// Once the new version serves: the old container stops, its assets and error pages go.
    fn stop_old_version(
        &self,
        host: &Host<'_>,
        app: &App<'_>,
        version: &str,
        old_version: &str,
    ) -> Result<(), BootError> {
        if old_version.is_empty() || old_version == version {
            return Ok(());
        }
        host.execute_with(
            &app.stop(Some(old_version)),
            RunOptions::execute().raise_on_non_zero_exit(false),
        )?;
        if app.role().assets() {
            host.execute(&app.clean_up_assets())?;
        }
        if self.config.error_pages_path().is_some() {
            host.execute(&app::clean_up_error_pages(&self.config, version))?;
        }
        Ok(())
    }

    /// `docker run` (with its audit line alongside), then the switch through kamal-proxy
    /// (proxied roles) or the health poll (others). The env file is already in place.
    fn start_new_version(
        &self,
        host: &Host<'_>,
        app: &App<'_>,
        version: &str,
        audit: &(dyn Fn(String) -> Result<(), BootError> + Sync),
    ) -> Result<(), BootError> {
        let hostname = app::container_hostname(host.name(), &random_hex(6));
        let (audited, ran) = both(
            || audit(format!("Booted app version {version}")),
            || host.execute(&app.run(Some(&hostname))),
        );
        audited?;
        let ran = ran?;

        match app.deploy("") {
            Some(_) => {
                // `docker run --detach` prints the new container's id; its first 12 digits are
                // what Kamal asks `docker container ls` for. Asked only if it printed none.
                let mut id = match short_container_id(&ran.stdout) {
                    Some(id) => id,
                    None => host.capture(&app.container_id_for_version(version, true))?,
                };
                if id.is_empty() && self.settings.dry_run {
                    // The container a dry run did not start has no id yet.
                    id = format!("<id of {}>", app.container_name());
                }
                if id.is_empty() {
                    return Err(BootError::Boot(format!(
                        "Failed to get endpoint for {} on {}, did the container boot?",
                        app.role().name(),
                        host.name()
                    )));
                }
                // The builder adds the role's app_port: `--target="<id>:<port>"`.
                if let Some(deploy) = app.deploy(&id) {
                    host.execute(&deploy)?;
                }
                Ok(())
            }
            None => self.wait_until_healthy(host, app, version),
        }
    }

    /// §6.6: poll the container's health (or state) until healthy, `deploy_timeout` at most.
    fn wait_until_healthy(&self, host: &Host<'_>, app: &App<'_>, version: &str) -> Result<(), BootError> {
        if self.settings.dry_run {
            return Ok(());
        }
        let timeout = self.config.deploy_timeout().max(0) as u64;
        let deadline = Instant::now() + Duration::from_secs(timeout);
        let readiness_delay = self.config.readiness_delay().max(0) as u64;
        let mut attempt = 1u64;
        loop {
            let mut status = host.capture(&app.status(version))?;
            if status == "running" && readiness_delay > 0 {
                self.printer.info(&format!(
                    "Container is running, waiting for readiness delay of {readiness_delay} seconds"
                ));
                // Kamal's `readiness_delay`: time the user grants a container without a health check.
                std::thread::sleep(Duration::from_secs(readiness_delay));
                status = host.capture(&app.status(version))?;
            }
            if status == "running" || status == "healthy" {
                self.printer.info("Container is healthy!");
                return Ok(());
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(BootError::Health(format!(
                    "container not ready after {timeout} seconds ({status})"
                )));
            }
            let pause = Duration::from_secs(attempt).min(deadline - now);
            std::thread::sleep(pause); // poll: back off by a second per attempt, as Kamal does
            attempt += 1;
        }
    }
}

/// What [`Commander::prepare_role`] found out.
struct Prepared {
    /// A container of the version being booted exists (it is renamed first).
    existing: bool,
    /// The version running now (empty: none).
    old_version: String,
}

/// The short id (12 hex digits) from `docker run --detach`'s output: its last line, the
/// full 64-digit id.
fn short_container_id(stdout: &str) -> Option<String> {
    let id = stdout.lines().map(str::trim).rfind(|line| !line.is_empty())?;
    (id.len() == 64 && id.bytes().all(|byte| byte.is_ascii_hexdigit())).then(|| id[..12].to_string())
}

/// A scoped thread's result; its panic goes on unwinding here.
fn join<T>(handle: std::thread::ScopedJoinHandle<'_, T>) -> T {
    match handle.join() {
        Ok(value) => value,
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

fn secrets_to_host(host: &str) -> impl Fn(kamal_config::secrets::SecretsError) -> kamal_ssh::Error + '_ {
    move |error| kamal_ssh::Error::Setup {
        host: host.to_string(),
        message: error.to_string(),
    }
}

/// Random lowercase hex of `bytes` bytes (Kamal's `SecureRandom.hex`), from the OS-seeded
/// hasher state.
pub fn random_hex(bytes: usize) -> String {
    use std::collections::hash_map::RandomState;
    use std::hash::{BuildHasher, Hasher};
    let mut out = String::new();
    let mut counter = 0u64;
    while out.len() < bytes * 2 {
        let mut hasher = RandomState::new().build_hasher();
        hasher.write_u64(counter);
        hasher.write_u128(Instant::now().elapsed().as_nanos());
        out.push_str(&format!("{:016x}", hasher.finish()));
        counter += 1;
    }
    out.truncate(bytes * 2);
    out
}
