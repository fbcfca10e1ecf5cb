//! The service registry: every deployed service, the routing table built from them, the control operations
//! (deploy, remove, pause, stop, resume, list) and state persistence after each change.
//!
//! Operations follow the Go proxy's sequence (§4.1, §5.2): a deploy health-gates a new balancer *before*
//! taking the write lock, swaps it in atomically, saves state, and only then drains the replaced balancer,
//! so `kamal-proxy deploy` returns once the old target is idle.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use rustls::sign::CertifiedKey;
use serde_json::json;

use crate::acme;
use crate::control::protocol::{
    DeployArgs, PauseArgs, RolloutDeployArgs, RolloutSetArgs, ServiceDescription, StopArgs,
};
use crate::logging;
use crate::pages::ErrorPages;
use crate::routing::RoutingTable;
use crate::service::balancer::LoadBalancer;
use crate::service::options::{describe, ServiceOptions, TargetOptions};
use crate::service::pause::PauseState;
use crate::service::{RolloutState, Service, ServiceConfig};
use crate::state::{self, SavedRolloutController, SavedService};
use crate::tls;

pub const SERVICE_NOT_FOUND: &str = "service not found";

#[derive(Debug, Default)]
struct Registry {
    services: BTreeMap<String, Arc<Service>>,
    table: RoutingTable,
    /// For handshakes without SNI (§6.2): set once from a TLS service's first host, never cleared.
    default_tls_hostname: Option<String>,
}

#[derive(Debug)]
pub struct Router {
    registry: RwLock<Registry>,
    pub acme: acme::Manager,
    state_path: Option<PathBuf>,
    save_lock: Mutex<()>,
}

/// A request's match: the service and the prefix it matched.
pub struct Matched {
    pub service: Arc<Service>,
    pub prefix: String,
}

impl Router {
    /// `state_path` of `None` keeps everything in memory (tests of routing alone).
    pub fn new(state_path: Option<PathBuf>) -> Self {
        Self {
            registry: RwLock::new(Registry::default()),
            acme: acme::Manager::default(),
            state_path,
            save_lock: Mutex::new(()),
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Registry> {
        self.registry
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Registry> {
        self.registry
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn route(&self, host: &str, path: &str) -> Option<Matched> {
        let registry = self.read();
        let route = registry.table.lookup(host, path)?;
        let service = registry.services.get(route.service)?.clone();
        Some(Matched {
            service,
            prefix: route.prefix.to_string(),
        })
    }

    /// Trusts `roots` for the ACME server's HTTPS as well as the web PKI (a test CA).
    pub fn with_acme_roots(mut self, roots: Vec<rustls::pki_types::CertificateDer<'static>>) -> Self {
        self.acme = acme::Manager::new(roots);
        self
    }

    /// The ACME settings of the TLS service `server_name` routes to, when it uses automatic certificates and
    /// the name is one of its hosts (autocert's `HostWhitelist`): `(directory URL, scoped cache directory)`.
    fn automatic_tls(&self, server_name: &str) -> Option<(String, PathBuf)> {
        let matched = self.route(server_name, "/")?;
        let config = matched.service.config();
        let options = &config.options;
        if !options.tls_enabled
            || config.certificate.is_some()
            || !options.hosts.iter().any(|host| host == server_name)
        {
            return None;
        }
        let directory = if options.acme_directory.is_empty() {
            acme::LETS_ENCRYPT_DIRECTORY.to_string()
        } else {
            options.acme_directory.clone()
        };
        Some((
            directory,
            acme::scoped_cache_directory(&options.acme_cache_path, &options.acme_directory),
        ))
    }

    /// Before a handshake: obtains the certificate for `server_name` if it needs one from ACME and none is
    /// cached (the handshake waits, as with autocert). Errors are logged by the manager.
    pub async fn prepare_certificate(&self, server_name: &str) {
        let Some((directory, cache)) = self.automatic_tls(server_name) else {
            return;
        };
        if self.acme.cached(&cache, server_name).is_none() {
            let _ = self.acme.obtain(&directory, &cache, server_name).await;
        }
    }

    /// The answer to an HTTP-01 challenge request for a service with automatic certificates.
    pub fn acme_challenge(&self, token: &str) -> Option<String> {
        self.acme.challenge_response(token)
    }

    pub fn default_tls_hostname(&self) -> Option<String> {
        self.read().default_tls_hostname.clone()
    }

    /// The certificate for a handshake naming `server_name`: the service it routes to must have TLS on.
    pub fn certificate_for(&self, server_name: &str, acme_challenge: bool) -> Option<Arc<CertifiedKey>> {
        let matched = self.route(server_name, "/")?;
        let config = matched.service.config();
        if !config.options.tls_enabled {
            return None;
        }
        if acme_challenge {
            return None; // TLS-ALPN-01 is not answered; HTTP-01 is.
        }
        if let Some(certificate) = &config.certificate {
            return Some(certificate.clone());
        }
        drop(config);
        let (_, cache) = self.automatic_tls(server_name)?;
        self.acme.cached(&cache, server_name)
    }

    fn service(&self, name: &str) -> Result<Arc<Service>, String> {
        self.read()
            .services
            .get(name)
            .cloned()
            .ok_or_else(|| SERVICE_NOT_FOUND.to_string())
    }

    pub async fn deploy(&self, args: DeployArgs) -> Result<(), String> {
        let DeployArgs {
            service: name,
            target_urls,
            reader_urls,
            deployment_options,
            service_options,
            target_options,
        } = args;
        service_options.validate().map_err(|error| error.to_string())?;
        let mut options = service_options;
        options.normalize();
        let mut target_options = target_options;
        target_options.normalize();
        logging::info(
            "Deploying",
            &[
                ("service", json!(name)),
                ("targets", json!(target_urls)),
                ("hosts", json!(options.hosts)),
                ("paths", json!(options.path_prefixes)),
                ("tls", json!(options.tls_enabled)),
            ],
        );

        let balancer = LoadBalancer::new(&target_urls, &reader_urls)?;
        balancer.start_health_checks(&target_options.health_check_config);
        if !deployment_options.force {
            if let Err(last_failure) = balancer
                .wait_until_healthy(deployment_options.deploy_timeout)
                .await
            {
                balancer.dispose();
                let mut message = format!(
                    "target failed to become healthy within configured timeout ({})",
                    describe(deployment_options.deploy_timeout)
                );
                match last_failure {
                    Some((url, error)) => message.push_str(&format!("; last health check {url}: {error}")),
                    None => message.push_str("; no health check has completed yet"),
                }
                return Err(message);
            }
        }

        let (error_pages, certificate) = match initialize(&name, &options) {
            Ok(initialized) => initialized,
            Err(error) => {
                balancer.dispose();
                return Err(error);
            }
        };
        warn_inactive(&name, &options, &target_options);

        let replaced = {
            let mut registry = self.write();
            if let Err(conflict) =
                registry
                    .table
                    .check_conflicts(&name, &options.hosts, &options.path_prefixes)
            {
                logging::error(
                    "Host settings conflict with another service",
                    &[
                        ("service", json!(name)),
                        ("conflicting_service", json!(conflict.other_service)),
                    ],
                );
                balancer.dispose();
                return Err(conflict.to_string());
            }
            let config = ServiceConfig {
                options: options.clone(),
                target_options,
                error_pages,
                certificate,
                balancer,
            };
            let replaced = match registry.services.get(&name) {
                Some(existing) => Some(existing.swap(config)),
                None => {
                    let service =
                        Service::new(name.clone(), config, PauseState::Running, RolloutState::default());
                    registry.services.insert(name.clone(), Arc::new(service));
                    None
                }
            };
            rebuild(&mut registry);
            replaced
        };
        self.save();

        if let Some(old) = replaced {
            old.balancer.dispose();
            old.balancer.drain(deployment_options.drain_timeout).await;
        }
        logging::info(
            "Deployed",
            &[
                ("service", json!(name)),
                ("targets", json!(target_urls)),
                ("hosts", json!(options.hosts)),
                ("paths", json!(options.path_prefixes)),
                ("tls", json!(options.tls_enabled)),
            ],
        );
        Ok(())
    }

    /// Drops the service from routing at once; requests in flight carry on (no drain, as in Go).
    pub fn remove(&self, name: &str) -> Result<(), String> {
        let removed = {
            let mut registry = self.write();
            let removed = registry
                .services
                .remove(name)
                .ok_or_else(|| SERVICE_NOT_FOUND.to_string())?;
            rebuild(&mut registry);
            removed
        };
        removed.config().balancer.dispose();
        if let Some(rollout) = removed.rollout_balancer() {
            rollout.dispose();
        }
        logging::info("Removed", &[("service", json!(name))]);
        self.save();
        Ok(())
    }

    pub async fn pause(&self, args: PauseArgs) -> Result<(), String> {
        let service = self.service(&args.service)?;
        service.pause.pause(args.pause_timeout);
        logging::info("Service paused", &[("service", json!(service.name))]);
        self.save();
        drain_service(&service, args.drain_timeout).await;
        logging::info("Service drained", &[("service", json!(service.name))]);
        Ok(())
    }

    pub async fn stop(&self, args: StopArgs) -> Result<(), String> {
        let service = self.service(&args.service)?;
        service.pause.stop(args.message);
        logging::info("Service stopped", &[("service", json!(service.name))]);
        self.save();
        drain_service(&service, args.drain_timeout).await;
        logging::info("Service drained", &[("service", json!(service.name))]);
        Ok(())
    }

    pub fn resume(&self, name: &str) -> Result<(), String> {
        let service = self.service(name)?;
        service.pause.resume();
        logging::info("Service resumed", &[("service", json!(service.name))]);
        self.save();
        Ok(())
    }

    pub fn list(&self) -> BTreeMap<String, ServiceDescription> {
        self.read()
            .services
            .values()
            .map(|service| {
                let config = service.config();
                let hosts: Vec<&str> = config
                    .options
                    .hosts
                    .iter()
                    .map(String::as_str)
                    .filter(|host| !host.is_empty())
                    .collect();
                let mut targets = config.balancer.writer_names();
                targets.extend(config.balancer.reader_names());
                let inactive = inactive_settings(&config.options, &config.target_options);
                let description = ServiceDescription {
                    host: if hosts.is_empty() {
                        "*".to_string()
                    } else {
                        hosts.join(",")
                    },
                    path: config.options.path_prefixes.join(","),
                    tls: config.options.tls_enabled,
                    target: targets.join(","),
                    state: service.pause.state().name().to_string(),
                    health: config.balancer.health_summary(),
                    inactive,
                };
                (service.name.clone(), description)
            })
            .collect()
    }

    /// Restores saved services before the listeners open (§2.4). Unlike Go, one service that cannot be
    /// restored is logged and skipped instead of wiping all the others.
    pub fn restore(&self) {
        let Some(path) = &self.state_path else { return };
        let saved = match state::load(path) {
            Ok(None) => {
                logging::info(
                    "No previous state to restore",
                    &[("path", json!(path.display().to_string()))],
                );
                return;
            }
            Ok(Some(saved)) => saved,
            Err(error) => {
                logging::error(
                    "Failed to decode saved state",
                    &[
                        ("path", json!(path.display().to_string())),
                        ("error", json!(error.to_string())),
                    ],
                );
                return;
            }
        };
        let mut restored = 0;
        let mut registry = self.write();
        for saved_service in saved {
            let name = saved_service.name.clone();
            match restore_service(saved_service) {
                Ok(service) => {
                    registry.services.insert(name, Arc::new(service));
                    restored += 1;
                }
                Err(error) => logging::error(
                    "Failed to restore saved service",
                    &[
                        ("service", json!(name)),
                        ("error", json!(error)),
                        ("path", json!(path.display().to_string())),
                    ],
                ),
            }
        }
        rebuild(&mut registry);
        drop(registry);
        logging::info(
            "Restored saved state",
            &[
                ("path", json!(path.display().to_string())),
                ("services", json!(restored)),
            ],
        );
    }

    /// Saves every service; errors are logged, never fatal (as in Go).
    pub fn save(&self) {
        let Some(path) = &self.state_path else { return };
        let _serialised = self
            .save_lock
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let services: Vec<SavedService> = self
            .read()
            .services
            .values()
            .map(|service| service.saved())
            .collect();
        match state::save(path, &services) {
            Ok(()) => logging::debug("Saved state", &[("path", json!(path.display().to_string()))]),
            Err(error) => logging::error("Unable to save state", &[("error", json!(error.to_string()))]),
        }
    }

    pub fn state_path(&self) -> Option<&Path> {
        self.state_path.as_deref()
    }

    /// `rollout deploy`: a second balancer built from the service's current settings, health-gated like a
    /// deploy, installed in the rollout slot; the one it replaces is drained (§4.7).
    pub async fn rollout_deploy(&self, args: RolloutDeployArgs) -> Result<(), String> {
        let service = self.service(&args.service)?;
        let config = service.config();
        logging::info(
            "Deploying for rollout",
            &[
                ("service", json!(service.name)),
                ("targets", json!(args.target_urls)),
            ],
        );
        let balancer = LoadBalancer::new(&args.target_urls, &args.reader_urls)?;
        balancer.start_health_checks(&config.target_options.health_check_config);
        let timeout = args.deployment_options.deploy_timeout;
        if balancer.wait_until_healthy(timeout).await.is_err() {
            balancer.dispose();
            return Err(format!(
                "target failed to become healthy within configured timeout ({})",
                describe(timeout)
            ));
        }
        let replaced = {
            let mut rollout = service
                .rollout
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            rollout.balancer.replace(balancer)
        };
        self.save();
        if let Some(old) = replaced {
            old.dispose();
            old.drain(args.deployment_options.drain_timeout).await;
        }
        logging::info(
            "Deployed for rollout",
            &[
                ("service", json!(service.name)),
                ("targets", json!(args.target_urls)),
            ],
        );
        Ok(())
    }

    pub fn rollout_set(&self, args: RolloutSetArgs) -> Result<(), String> {
        let service = self.service(&args.service)?;
        {
            let mut rollout = service
                .rollout
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            if rollout.balancer.is_none() {
                return Err("rollout target not set".to_string());
            }
            rollout.controller = Some(SavedRolloutController::new(
                args.percentage,
                args.allowlist.clone(),
            ));
        }
        logging::info(
            "Set rollout split",
            &[
                ("service", json!(service.name)),
                ("percentage", json!(args.percentage)),
                ("allowlist", json!(args.allowlist)),
            ],
        );
        self.save();
        Ok(())
    }

    /// Sends all traffic back to the active balancer; the rollout targets stay installed.
    pub fn rollout_stop(&self, name: &str) -> Result<(), String> {
        let service = self.service(name)?;
        service
            .rollout
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .controller = None;
        logging::info("Stopped rollout", &[("service", json!(service.name))]);
        self.save();
        Ok(())
    }

    /// Stops every balancer's health checks at shutdown.
    pub fn dispose_all(&self) {
        for service in self.read().services.values() {
            service.config().balancer.dispose();
            if let Some(rollout) = service.rollout_balancer() {
                rollout.dispose();
            }
        }
    }
}

/// Drains the active and rollout balancers concurrently (pause and stop, §5.2).
async fn drain_service(service: &Service, timeout: std::time::Duration) {
    let active = service.config().balancer.clone();
    match service.rollout_balancer() {
        Some(rollout) => {
            tokio::join!(active.drain(timeout), rollout.drain(timeout));
        }
        None => active.drain(timeout).await,
    }
}

fn restore_service(mut saved: SavedService) -> Result<Service, String> {
    saved.options.normalize();
    saved.target_options.normalize();
    let health_check_config = saved.target_options.health_check_config.clone();
    let balancer = LoadBalancer::new(&saved.active_targets, &saved.active_readers)?;
    balancer.mark_all_healthy();
    balancer.start_health_checks(&saved.target_options.health_check_config);
    let (error_pages, certificate) = match initialize(&saved.name, &saved.options) {
        Ok(initialized) => initialized,
        Err(error) => {
            balancer.dispose();
            return Err(error);
        }
    };
    let config = ServiceConfig {
        options: saved.options,
        target_options: saved.target_options,
        error_pages,
        certificate,
        balancer,
    };
    let rollout_balancer = match &saved.rollout_targets {
        Some(targets) if !targets.is_empty() => {
            let readers = saved.rollout_readers.clone().unwrap_or_default();
            let rollout = LoadBalancer::new(targets, &readers)?;
            rollout.mark_all_healthy();
            rollout.start_health_checks(&health_check_config);
            Some(rollout)
        }
        _ => None,
    };
    let rollout = RolloutState {
        balancer: rollout_balancer,
        controller: saved.rollout_controller,
    };
    Ok(Service::new(
        saved.name,
        config,
        saved.pause_controller.to_state(),
        rollout,
    ))
}

type Initialized = (Option<Arc<ErrorPages>>, Option<Arc<CertifiedKey>>);

/// The checks Go runs when a service is initialised: certificates and error pages.
fn initialize(name: &str, options: &ServiceOptions) -> Result<Initialized, String> {
    let has_certificate = !options.tls_certificate_path.is_empty();
    if options.tls_enabled && !has_certificate && options.hosts.iter().any(|host| host.starts_with('*')) {
        return Err("automatic TLS does not support wildcards".to_string());
    }
    let mut certificate = None;
    if options.tls_enabled && has_certificate {
        match tls::load_certificate(&options.tls_certificate_path, &options.tls_private_key_path) {
            Ok(loaded) => certificate = Some(loaded),
            Err(error) => {
                logging::error(
                    "Error loading TLS certificate",
                    &[("service", json!(name)), ("error", json!(error))],
                );
                return Err("unable to load certificate".to_string());
            }
        }
    }
    if options.error_page_path.is_empty() {
        return Ok((None, certificate));
    }
    match ErrorPages::load(Path::new(&options.error_page_path)) {
        Ok(pages) => Ok((Some(Arc::new(pages)), certificate)),
        Err(error) => {
            logging::error(
                "Unable to load error pages",
                &[
                    ("service", json!(name)),
                    ("path", json!(options.error_page_path)),
                    ("error", json!(error.reason)),
                ],
            );
            Err(error.to_string())
        }
    }
}

/// Settings accepted for compatibility whose behaviour arrives in part 2.
fn inactive_settings(options: &ServiceOptions, _target_options: &TargetOptions) -> Vec<String> {
    let mut inactive = Vec::new();
    let mut note = |active: bool, name: &str| {
        if active {
            inactive.push(name.to_string());
        }
    };
    note(!options.tls_on_demand_url.is_empty(), "tls-on-demand-url");
    inactive
}

fn warn_inactive(name: &str, options: &ServiceOptions, target_options: &TargetOptions) {
    let inactive = inactive_settings(options, target_options);
    if !inactive.is_empty() {
        logging::warn(
            "Settings accepted but not active in this version of kamal-proxy",
            &[("service", json!(name)), ("settings", json!(inactive))],
        );
    }
}

/// Rebuilds the table, then applies §3.6: non-root services take TLS settings from their host's root service.
fn rebuild(registry: &mut Registry) {
    let configs: Vec<(String, Arc<ServiceConfig>)> = registry
        .services
        .values()
        .map(|service| (service.name.clone(), service.config()))
        .collect();
    if registry.default_tls_hostname.is_none() {
        registry.default_tls_hostname = configs.iter().find_map(|(_, config)| {
            let first = config.options.hosts.first()?;
            (config.options.tls_enabled && !first.is_empty()).then(|| first.clone())
        });
    }
    registry.table = RoutingTable::build(configs.iter().map(|(name, config)| {
        (
            name.as_str(),
            config.options.hosts.as_slice(),
            config.options.path_prefixes.as_slice(),
        )
    }));
    for (name, config) in &configs {
        if config.options.serves_root() {
            continue;
        }
        let first_host = config
            .options
            .hosts
            .first()
            .map(String::as_str)
            .unwrap_or_default();
        let (tls_enabled, tls_redirect) = registry
            .table
            .lookup(first_host, "/")
            .and_then(|route| configs.iter().find(|(other, _)| other == route.service))
            .map(|(_, root)| (root.options.tls_enabled, root.options.tls_redirect))
            .unwrap_or((false, true));
        if let Some(service) = registry.services.get(name) {
            let mut options = config.options.clone();
            options.tls_enabled = tls_enabled;
            options.tls_redirect = tls_redirect;
            service.update_options(options);
        }
    }
}
