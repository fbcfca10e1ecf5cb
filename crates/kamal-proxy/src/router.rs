//! The service registry: every deployed service, the routing table built from them, the control operations
//! (deploy, remove, pause, stop, resume, list) and state persistence after each change.
//!
//! Operations follow the Go proxy's sequence (§4.1, §5.2): a deploy health-gates a new balancer *before*
//! taking the write lock, swaps it in atomically, saves state, and only then drains the replaced balancer,
//! so `kamal-proxy deploy` returns once the old target is idle.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock, Weak};

use rustls::sign::CertifiedKey;
use serde_json::json;

use crate::acme::{self, on_demand};
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

/// The ACME settings of the service a server name routes to (§6.4, §6.5).
struct AutomaticTls {
    service: Arc<Service>,
    directory: String,
    /// `<acme_cache_path>/<sha256(acme_directory)>`.
    cache: PathBuf,
    /// The on-demand endpoint, when the service approves hosts through it.
    on_demand: Option<String>,
}

fn route_in(registry: &Registry, host: &str, path: &str) -> Option<Matched> {
    let route = registry.table.lookup(host, path)?;
    let service = registry.services.get(route.service)?.clone();
    Some(Matched {
        service,
        prefix: route.prefix.to_string(),
    })
}

/// The ACME settings for `server_name`: its service has TLS on without a static certificate, and either
/// lists the name among its hosts (autocert's `HostWhitelist`) or approves names on demand.
fn automatic_tls_in(registry: &Registry, server_name: &str) -> Option<AutomaticTls> {
    // The name becomes a cache file name; rustls only passes DNS names, but on-demand hosts come from
    // anyone, so nothing that could leave the directory or name the account key gets that far.
    if server_name.is_empty() || server_name.starts_with('.') || server_name.contains(['/', '\\', '+']) {
        return None;
    }
    let matched = route_in(registry, server_name, "/")?;
    let config = matched.service.config();
    let options = &config.options;
    if !options.tls_enabled || config.certificate.is_some() {
        return None;
    }
    let on_demand = (!options.tls_on_demand_url.is_empty()).then(|| options.tls_on_demand_url.clone());
    if on_demand.is_none() && !options.hosts.iter().any(|host| host == server_name) {
        return None;
    }
    let directory = if options.acme_directory.is_empty() {
        acme::LETS_ENCRYPT_DIRECTORY.to_string()
    } else {
        options.acme_directory.clone()
    };
    let cache = acme::scoped_cache_directory(&options.acme_cache_path, &options.acme_directory);
    drop(config);
    Some(AutomaticTls {
        service: matched.service,
        directory,
        cache,
        on_demand,
    })
}

#[derive(Debug)]
pub struct Router {
    /// Shared with certificate renewal tasks, which ask whether their host is still served.
    registry: Arc<RwLock<Registry>>,
    pub acme: Arc<acme::Manager>,
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
            registry: Arc::default(),
            acme: Arc::default(),
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
        route_in(&self.read(), host, path)
    }

    /// Trusts `roots` for the ACME server's HTTPS as well as the web PKI (a test CA).
    pub fn with_acme_roots(self, roots: Vec<rustls::pki_types::CertificateDer<'static>>) -> Self {
        self.with_acme(acme::Manager::new(roots))
    }

    /// Uses `manager` for automatic certificates (its renewal window, its trust roots).
    pub fn with_acme(mut self, manager: acme::Manager) -> Self {
        self.acme = Arc::new(manager);
        self
    }

    fn automatic_tls(&self, server_name: &str) -> Option<AutomaticTls> {
        automatic_tls_in(&self.read(), server_name)
    }

    /// Before a handshake: obtains the certificate for `server_name` if it needs one from ACME and none is
    /// cached (the handshake waits, as with autocert), after the on-demand check for an on-demand service.
    /// Errors are logged where they happen; the handshake then finds no certificate and fails.
    pub async fn prepare_certificate(&self, server_name: &str) {
        let Some(automatic) = self.automatic_tls(server_name) else {
            return;
        };
        // The ACME server's `acme-tls/1` handshake for our own pending TLS-ALPN-01 challenge: the resolver
        // answers it, and waiting for the issuance here would wait for ourselves.
        if self.acme.alpn_challenge(server_name).is_some() {
            return;
        }
        if self.acme.cached(&automatic.cache, server_name).is_some() {
            self.watch_renewal(&automatic, server_name);
            return;
        }
        if let Some(endpoint) = &automatic.on_demand {
            // A host with a cache entry was approved when it was issued (Go skips the check too).
            if !self.acme.has_cache_entry(&automatic.cache, server_name)
                && self
                    .check_on_demand(&automatic.service, endpoint, server_name)
                    .await
                    .is_err()
            {
                return;
            }
        }
        if self
            .acme
            .obtain(&automatic.directory, &automatic.cache, server_name)
            .await
            .is_ok()
        {
            self.watch_renewal(&automatic, server_name);
        }
    }

    /// §6.5: asks the endpoint (the service itself for a path) whether `host` may get a certificate.
    async fn check_on_demand(
        &self,
        service: &Arc<Service>,
        endpoint: &str,
        host: &str,
    ) -> Result<(), String> {
        let url = on_demand::check_url(endpoint, host);
        let answer = if on_demand::is_local(endpoint) {
            let internal = crate::proxy::serve_internal(
                self,
                service.clone(),
                host.to_string(),
                url.clone(),
                on_demand::MAX_BODY_BYTES,
            );
            tokio::time::timeout(on_demand::CHECK_TIMEOUT, internal)
                .await
                .unwrap_or_else(|_| {
                    Err(format!(
                        "GET {url}: timed out after {}s",
                        on_demand::CHECK_TIMEOUT.as_secs()
                    ))
                })
        } else {
            match self.acme.outgoing_tls() {
                Ok(tls) => on_demand::fetch_external(&tls, &url).await,
                Err(error) => Err(error),
            }
        };
        match answer {
            Ok((status, body)) => on_demand::verdict(host, status, &body),
            Err(error) => {
                logging::warn(
                    "TLS on-demand check failed",
                    &[("host", json!(host)), ("error", json!(error))],
                );
                Err(error)
            }
        }
    }

    /// Starts renewing `host`'s certificate in the background, for as long as the same ACME settings still
    /// serve it.
    fn watch_renewal(&self, automatic: &AutomaticTls, host: &str) {
        let registry: Weak<RwLock<Registry>> = Arc::downgrade(&self.registry);
        let (directory, cache, name) = (
            automatic.directory.clone(),
            automatic.cache.clone(),
            host.to_string(),
        );
        let still_wanted: acme::StillWanted = Arc::new(move || {
            let Some(registry) = registry.upgrade() else {
                return false;
            };
            let registry = registry.read().unwrap_or_else(|poisoned| poisoned.into_inner());
            automatic_tls_in(&registry, &name)
                .is_some_and(|current| current.directory == directory && current.cache == cache)
        });
        self.acme
            .watch_renewal(&automatic.directory, &automatic.cache, host, still_wanted);
    }

    /// The answer to an HTTP-01 challenge request for a service with automatic certificates.
    pub fn acme_challenge(&self, token: &str) -> Option<String> {
        self.acme.challenge_response(token)
    }

    pub fn default_tls_hostname(&self) -> Option<String> {
        self.read().default_tls_hostname.clone()
    }

    /// The certificate for a handshake naming `server_name`: the service it routes to must have TLS on. An
    /// `acme-tls/1` handshake gets the TLS-ALPN-01 challenge certificate while that challenge is pending.
    pub fn certificate_for(&self, server_name: &str, acme_challenge: bool) -> Option<Arc<CertifiedKey>> {
        let matched = self.route(server_name, "/")?;
        let config = matched.service.config();
        if !config.options.tls_enabled {
            return None;
        }
        if let Some(certificate) = &config.certificate {
            return (!acme_challenge).then(|| certificate.clone());
        }
        drop(config);
        let automatic = self.automatic_tls(server_name)?;
        if acme_challenge {
            return self.acme.alpn_challenge(server_name);
        }
        self.acme.cached(&automatic.cache, server_name)
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

/// Settings accepted for compatibility whose behaviour is missing: none at the moment; `list` and the
/// deploy warning stay ready for the next one.
fn inactive_settings(_options: &ServiceOptions, _target_options: &TargetOptions) -> Vec<String> {
    Vec::new()
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
            let on_demand = !config.options.tls_on_demand_url.is_empty();
            (config.options.tls_enabled && !on_demand && !first.is_empty()).then(|| first.clone())
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
