//! Automatic certificates with ACME (RFC 8555, §6.4): an account, an order per host, a challenge answered by
//! the proxy itself, and the certificate cached on disk in the layout of Go's `autocert.DirCache`, so
//! certificates the Go proxy obtained are served after an image swap and ours are readable by it:
//!
//! ```text
//! <acme_cache_path>/<sha256-hex(acme_directory)>/acme_account+key   account key (PEM)
//! <acme_cache_path>/<sha256-hex(acme_directory)>/<host>             private key PEM + certificate chain PEM
//! ```
//!
//! Issuance happens on the first TLS handshake for a host (as autocert does): the handshake waits for it.
//! Challenges are tried in autocert's order: TLS-ALPN-01 (RFC 8737, answered on the HTTPS port to `acme-tls/1`
//! handshakes), then HTTP-01 (answered on the HTTP port) on a fresh order when the first fails.
//!
//! Renewal: a certificate in memory is renewed in the background [`RENEW_BEFORE`] its expiry (autocert's
//! `RenewBefore`), while the old one keeps being served; failures are retried with a growing backoff. An
//! expired certificate counts as missing, so the next handshake waits for a new one.
//!
//! On-demand TLS (§6.5) decides which hosts may get a certificate: see [`on_demand`].

pub mod on_demand;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use bytes::Bytes;
use http::{header, Method, Request, Uri};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::sign::CertifiedKey;
use serde_json::{json, Value};

use crate::calendar::{civil_from_days, days_from_civil};
use crate::logging;

/// Let's Encrypt production, the directory used when a service names none (as autocert's default).
pub const LETS_ENCRYPT_DIRECTORY: &str = "https://acme-v02.api.letsencrypt.org/directory";
pub const CHALLENGE_PATH_PREFIX: &str = "/.well-known/acme-challenge/";
const ACCOUNT_KEY_FILE: &str = "acme_account+key";
/// How long one issuance may take before the handshake waiting for it gives up.
pub const ISSUANCE_TIMEOUT: Duration = Duration::from_secs(60);
const POLL_INTERVAL: Duration = Duration::from_millis(250);
/// autocert's `RenewBefore` default: 30 days.
pub const RENEW_BEFORE: Duration = Duration::from_secs(720 * 3600);
/// The first wait after a failed renewal; it doubles up to [`MAX_RENEWAL_RETRY`].
pub const FIRST_RENEWAL_RETRY: Duration = Duration::from_secs(60);
const MAX_RENEWAL_RETRY: Duration = Duration::from_secs(3600);
/// A renewal task wakes at least this often to see whether its host is still served (and the clock moved).
const RENEWAL_CHECK_INTERVAL: Duration = Duration::from_secs(3600);

const TLS_ALPN_01: &str = "tls-alpn-01";
const HTTP_01: &str = "http-01";

/// The cache directory for one ACME directory URL: `<cache path>/<sha256-hex(url)>` (§2.1).
pub fn scoped_cache_directory(cache_path: &str, directory_url: &str) -> PathBuf {
    let digest = ring::digest::digest(&ring::digest::SHA256, directory_url.as_bytes());
    let hex: String = digest.as_ref().iter().map(|byte| format!("{byte:02x}")).collect();
    Path::new(cache_path).join(hex)
}

/// A certificate in memory with the expiry of its leaf.
#[derive(Debug, Clone)]
struct Cached {
    key: Arc<CertifiedKey>,
    not_after: SystemTime,
}

/// Whether a renewal task should go on: false once no service serves the host any more.
pub type StillWanted = Arc<dyn Fn() -> bool + Send + Sync>;

/// Issues, caches and renews certificates; shared by every service (each names its directory and cache path).
#[derive(Debug)]
pub struct Manager {
    certificates: Mutex<HashMap<PathBuf, Cached>>,
    /// HTTP-01 token → key authorization, while a challenge is pending.
    challenges: Mutex<HashMap<String, String>>,
    /// Host → TLS-ALPN-01 challenge certificate, while a challenge is pending.
    alpn_challenges: Mutex<HashMap<String, Arc<CertifiedKey>>>,
    /// One issuance at a time per cache file; later handshakes for it wait for the first.
    issuing: Mutex<HashMap<PathBuf, Arc<tokio::sync::Mutex<()>>>>,
    /// Cache files with a renewal task running.
    renewing: Mutex<HashSet<PathBuf>>,
    /// Extra trust roots for the ACME server's own HTTPS (a test CA such as pebble's); the web PKI otherwise.
    extra_roots: Vec<CertificateDer<'static>>,
    renew_before: Duration,
    first_retry: Duration,
}

impl Default for Manager {
    fn default() -> Self {
        Self::new(Vec::new())
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Manager {
    pub fn new(extra_roots: Vec<CertificateDer<'static>>) -> Self {
        Self::with_renewal(extra_roots, RENEW_BEFORE, FIRST_RENEWAL_RETRY)
    }

    /// A manager that renews `renew_before` expiry and first retries a failed renewal after `first_retry`.
    pub fn with_renewal(
        extra_roots: Vec<CertificateDer<'static>>,
        renew_before: Duration,
        first_retry: Duration,
    ) -> Self {
        Self {
            certificates: Mutex::default(),
            challenges: Mutex::default(),
            alpn_challenges: Mutex::default(),
            issuing: Mutex::default(),
            renewing: Mutex::default(),
            extra_roots,
            renew_before,
            first_retry,
        }
    }

    /// TLS for outgoing requests to an on-demand endpoint: the web PKI plus the extra roots.
    pub fn outgoing_tls(&self) -> Result<Arc<rustls::ClientConfig>, String> {
        client_tls(&self.extra_roots)
    }

    /// The key authorization for an HTTP-01 token, if one of our challenges is pending.
    pub fn challenge_response(&self, token: &str) -> Option<String> {
        lock(&self.challenges).get(token).cloned()
    }

    /// The TLS-ALPN-01 challenge certificate for `host`, if one of our challenges is pending.
    pub fn alpn_challenge(&self, host: &str) -> Option<Arc<CertifiedKey>> {
        lock(&self.alpn_challenges)
            .get(host.trim_end_matches('.'))
            .cloned()
    }

    /// A certificate still valid, in memory or in the cache directory (Go's files included); no network.
    pub fn cached(&self, cache_directory: &Path, host: &str) -> Option<Arc<CertifiedKey>> {
        let file = cache_directory.join(host.trim_end_matches('.'));
        let now = SystemTime::now();
        if let Some(cached) = lock(&self.certificates).get(&file) {
            if cached.not_after > now {
                return Some(cached.key.clone());
            }
        }
        let pem = std::fs::read(&file).ok()?;
        let cached = parse_cached_entry(&pem).ok()?;
        if cached.not_after <= now {
            return None;
        }
        lock(&self.certificates).insert(file, cached.clone());
        Some(cached.key)
    }

    /// Whether the cache holds an entry for `host` or `<host>+rsa` (autocert's keys), valid or not: the
    /// on-demand check is skipped for such hosts (§6.5).
    pub fn has_cache_entry(&self, cache_directory: &Path, host: &str) -> bool {
        let host = host.trim_end_matches('.');
        [host.to_string(), format!("{host}+rsa")]
            .iter()
            .any(|name| cache_directory.join(name).is_file())
    }

    fn issuing_lock(&self, file: &Path) -> Arc<tokio::sync::Mutex<()>> {
        lock(&self.issuing).entry(file.to_path_buf()).or_default().clone()
    }

    /// Returns the host's certificate, obtaining one from the directory first when none is cached.
    pub async fn obtain(
        &self,
        directory_url: &str,
        cache_directory: &Path,
        host: &str,
    ) -> Result<Arc<CertifiedKey>, String> {
        let host = host.trim_end_matches('.');
        let one_at_a_time = self.issuing_lock(&cache_directory.join(host));
        let _one_at_a_time = one_at_a_time.lock().await;
        if let Some(certificate) = self.cached(cache_directory, host) {
            return Ok(certificate);
        }
        logging::info(
            "Obtaining certificate",
            &[("host", json!(host)), ("directory", json!(directory_url))],
        );
        match self.issue_in_time(directory_url, cache_directory, host).await {
            Ok(certificate) => {
                logging::info("Obtained certificate", &[("host", json!(host))]);
                Ok(certificate)
            }
            Err(error) => {
                logging::error(
                    "Unable to obtain certificate",
                    &[("host", json!(host)), ("error", json!(error))],
                );
                Err(error)
            }
        }
    }

    async fn issue_in_time(
        &self,
        directory_url: &str,
        cache_directory: &Path,
        host: &str,
    ) -> Result<Arc<CertifiedKey>, String> {
        match tokio::time::timeout(ISSUANCE_TIMEOUT, self.issue(directory_url, cache_directory, host)).await {
            Ok(result) => result,
            Err(_) => Err(format!("obtaining a certificate for {host} timed out")),
        }
    }

    /// Keeps the host's certificate renewed from now on, unless a task already does (§6.4: 30 days before
    /// expiry). `still_wanted` is asked before each renewal; the task ends when it says no.
    pub fn watch_renewal(
        self: &Arc<Self>,
        directory_url: &str,
        cache_directory: &Path,
        host: &str,
        still_wanted: StillWanted,
    ) {
        let host = host.trim_end_matches('.').to_string();
        let file = cache_directory.join(&host);
        if !lock(&self.renewing).insert(file.clone()) {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            lock(&self.renewing).remove(&file);
            return;
        };
        let manager = self.clone();
        let directory_url = directory_url.to_string();
        let cache_directory = cache_directory.to_path_buf();
        runtime.spawn(async move {
            manager
                .renew_while_wanted(&directory_url, &cache_directory, &host, still_wanted)
                .await;
            lock(&manager.renewing).remove(&cache_directory.join(&host));
        });
    }

    /// Whether a renewal task watches the host's certificate (it ends when the host is no longer wanted).
    pub fn renewing(&self, cache_directory: &Path, host: &str) -> bool {
        lock(&self.renewing).contains(&cache_directory.join(host.trim_end_matches('.')))
    }

    fn not_after(&self, file: &Path) -> Option<SystemTime> {
        lock(&self.certificates).get(file).map(|cached| cached.not_after)
    }

    async fn renew_while_wanted(
        &self,
        directory_url: &str,
        cache_directory: &Path,
        host: &str,
        still_wanted: StillWanted,
    ) {
        let file = cache_directory.join(host);
        let mut retry = self.first_retry;
        loop {
            let Some(not_after) = self.not_after(&file) else {
                return;
            };
            let due = not_after
                .checked_sub(self.renew_before)
                .unwrap_or(SystemTime::UNIX_EPOCH);
            let wait = due.duration_since(SystemTime::now()).unwrap_or(Duration::ZERO);
            if !wait.is_zero() {
                // Wakes now and then rather than sleeping for months: the host may have gone.
                tokio::time::sleep(wait.min(RENEWAL_CHECK_INTERVAL)).await;
                if !still_wanted() {
                    return;
                }
                continue;
            }
            if !still_wanted() {
                return;
            }
            let result = {
                let one_at_a_time = self.issuing_lock(&file);
                let _one_at_a_time = one_at_a_time.lock().await;
                // An issuance that just happened (an expired certificate replaced at a handshake) counts.
                if self.not_after(&file).is_some_and(|current| current > not_after) {
                    continue;
                }
                logging::info(
                    "Renewing certificate",
                    &[("host", json!(host)), ("expires", json!(rfc3339(not_after)))],
                );
                self.issue_in_time(directory_url, cache_directory, host).await
            };
            match result {
                Ok(_) => {
                    logging::info("Renewed certificate", &[("host", json!(host))]);
                    retry = self.first_retry;
                }
                Err(error) => {
                    logging::error(
                        "Unable to renew certificate",
                        &[
                            ("host", json!(host)),
                            ("error", json!(error)),
                            ("retry_in", json!(format!("{}s", retry.as_secs_f64()))),
                        ],
                    );
                    tokio::time::sleep(retry).await;
                    retry = (retry * 2).min(MAX_RENEWAL_RETRY);
                }
            }
        }
    }

    async fn issue(
        &self,
        directory_url: &str,
        cache_directory: &Path,
        host: &str,
    ) -> Result<Arc<CertifiedKey>, String> {
        create_private_directory(cache_directory)?;
        let account_key = load_or_create_account_key(cache_directory)?;
        let mut client = Client::new(directory_url, account_key, &self.extra_roots).await?;
        client.register().await?;

        // autocert's order: TLS-ALPN-01, then HTTP-01 on a new order (a failed authorization fails its order).
        let mut failures = Vec::new();
        let mut valid = None;
        for kind in [TLS_ALPN_01, HTTP_01] {
            match self.authorized_order(&mut client, host, kind).await {
                Ok(order) => {
                    valid = Some(order);
                    break;
                }
                Err(error) => {
                    logging::debug(
                        "ACME challenge failed",
                        &[
                            ("host", json!(host)),
                            ("challenge", json!(kind)),
                            ("error", json!(error)),
                        ],
                    );
                    failures.push(format!("{kind}: {error}"));
                }
            }
        }
        let Some((order_url, order)) = valid else {
            return Err(failures.join("; "));
        };

        let key = rcgen::KeyPair::generate().map_err(|error| error.to_string())?;
        let csr = rcgen::CertificateParams::new(vec![host.to_string()])
            .and_then(|params| params.serialize_request(&key))
            .map_err(|error| error.to_string())?;
        let finalize = order["finalize"]
            .as_str()
            .ok_or("order without a finalize URL")?
            .to_string();
        client
            .post_json(&finalize, json!({"csr": URL_SAFE_NO_PAD.encode(csr.der())}))
            .await?;
        let order = client.poll(&order_url, "valid").await?;
        let certificate_url = order["certificate"]
            .as_str()
            .ok_or("valid order without a certificate URL")?;
        let (_, chain) = client.post(certificate_url, None).await?;

        let mut entry = key.serialize_pem().into_bytes();
        entry.extend_from_slice(&chain);
        let cached = parse_cached_entry(&entry)?;
        let file = cache_directory.join(host);
        write_private_file(&file, &entry)?;
        lock(&self.certificates).insert(file, cached.clone());
        Ok(cached.key)
    }

    /// A new order for `host` with every authorization made valid through `kind`: `(order URL, order)`.
    async fn authorized_order(
        &self,
        client: &mut Client,
        host: &str,
        kind: &str,
    ) -> Result<(String, Value), String> {
        let (order_url, order) = client
            .post_json(
                &client.directory_url("newOrder")?,
                json!({"identifiers": [{"type": "dns", "value": host}]}),
            )
            .await
            .and_then(|(response, body)| Ok((location(&response)?, body)))?;
        let authorizations: Vec<String> = order["authorizations"]
            .as_array()
            .map(|urls| {
                urls.iter()
                    .filter_map(|url| url.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        for authorization in &authorizations {
            self.authorize(client, authorization, host, kind).await?;
        }
        Ok((order_url, order))
    }

    async fn authorize(
        &self,
        client: &mut Client,
        authorization_url: &str,
        host: &str,
        kind: &str,
    ) -> Result<(), String> {
        let (_, body) = client.post(authorization_url, None).await?;
        let authorization: Value = serde_json::from_slice(&body).map_err(|error| error.to_string())?;
        if authorization["status"] == "valid" {
            return Ok(());
        }
        let challenge = authorization["challenges"]
            .as_array()
            .and_then(|challenges| challenges.iter().find(|challenge| challenge["type"] == kind))
            .ok_or_else(|| format!("no {kind} challenge offered"))?;
        let token = challenge["token"]
            .as_str()
            .ok_or("challenge without a token")?
            .to_string();
        let url = challenge["url"]
            .as_str()
            .ok_or("challenge without a URL")?
            .to_string();
        let key_authorization = format!("{token}.{}", client.thumbprint());
        if kind == TLS_ALPN_01 {
            let certificate = alpn_challenge_certificate(host, &key_authorization)?;
            lock(&self.alpn_challenges).insert(host.to_string(), certificate);
        } else {
            lock(&self.challenges).insert(token.clone(), key_authorization);
        }
        let result = async {
            client.post_json(&url, json!({})).await?;
            client.poll(authorization_url, "valid").await
        }
        .await;
        if kind == TLS_ALPN_01 {
            lock(&self.alpn_challenges).remove(host);
        } else {
            lock(&self.challenges).remove(&token);
        }
        result.map(|_| ())
    }
}

/// RFC 8737: a self-signed certificate for `host` whose critical `id-pe-acmeIdentifier` extension holds the
/// SHA-256 of the key authorization; served to `acme-tls/1` handshakes while the challenge is pending.
fn alpn_challenge_certificate(host: &str, key_authorization: &str) -> Result<Arc<CertifiedKey>, String> {
    let digest = ring::digest::digest(&ring::digest::SHA256, key_authorization.as_bytes());
    let key = rcgen::KeyPair::generate().map_err(|error| error.to_string())?;
    let mut params =
        rcgen::CertificateParams::new(vec![host.to_string()]).map_err(|error| error.to_string())?;
    params
        .custom_extensions
        .push(rcgen::CustomExtension::new_acme_identifier(digest.as_ref()));
    let certificate = params.self_signed(&key).map_err(|error| error.to_string())?;
    let private_key = PrivateKeyDer::Pkcs8(key.serialize_der().into());
    let signing_key =
        rustls::crypto::ring::sign::any_supported_type(&private_key).map_err(|error| error.to_string())?;
    // Not `tls::certified_key`: its key check parses the certificate with webpki, which refuses the
    // critical acmeIdentifier extension; the key is the one just used to sign it.
    Ok(Arc::new(CertifiedKey::new(
        vec![certificate.der().clone()],
        signing_key,
    )))
}

/// `time` as RFC 3339 in UTC (for log fields).
fn rfc3339(time: SystemTime) -> String {
    let seconds = time
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs() as i64)
        .unwrap_or_default();
    let (year, month, day) = civil_from_days(seconds.div_euclid(86_400));
    let second_of_day = seconds.rem_euclid(86_400);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        second_of_day / 3600,
        (second_of_day / 60) % 60,
        second_of_day % 60
    )
}

/// The `notAfter` of an X.509 certificate (RFC 5280 §4.1.2.5: UTCTime or GeneralizedTime, in UTC).
pub fn certificate_not_after(der: &[u8]) -> Option<SystemTime> {
    let (certificate, _) = der_element(der, 0x30)?;
    let (tbs, _) = der_element(certificate, 0x30)?;
    let mut rest = tbs;
    if rest.first() == Some(&0xa0) {
        rest = der_skip(rest)?; // version
    }
    for _ in 0..3 {
        rest = der_skip(rest)?; // serial, signature algorithm, issuer
    }
    let (validity, _) = der_element(rest, 0x30)?;
    let after_not_before = der_skip(validity)?;
    let tag = *after_not_before.first()?;
    let (time, _) = der_element(after_not_before, tag)?;
    let text = std::str::from_utf8(time).ok()?.strip_suffix('Z')?;
    let (year, rest) = match tag {
        0x17 => {
            let year: i64 = text.get(..2)?.parse().ok()?;
            (if year < 50 { 2000 + year } else { 1900 + year }, text.get(2..)?)
        }
        0x18 => (text.get(..4)?.parse().ok()?, text.get(4..)?),
        _ => return None,
    };
    let field = |index: usize| -> Option<i64> { rest.get(index..index + 2)?.parse().ok() };
    let days = days_from_civil(year, field(0)?, field(2)?);
    let seconds = days * 86_400 + field(4)? * 3600 + field(6)? * 60 + field(8)?;
    let seconds = u64::try_from(seconds).ok()?;
    Some(SystemTime::UNIX_EPOCH + Duration::from_secs(seconds))
}

/// The content of the DER element at the start of `input` if it has `tag`, and what follows it.
fn der_element(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    if *input.first()? != tag {
        return None;
    }
    let first = usize::from(*input.get(1)?);
    let (length, header) = if first < 0x80 {
        (first, 2)
    } else {
        let count = first & 0x7f;
        if count == 0 || count > 4 {
            return None;
        }
        let bytes = input.get(2..2 + count)?;
        (
            bytes
                .iter()
                .fold(0usize, |length, byte| (length << 8) | usize::from(*byte)),
            2 + count,
        )
    };
    let end = header.checked_add(length)?;
    Some((input.get(header..end)?, input.get(end..)?))
}

/// What follows the DER element at the start of `input`, whatever its tag.
fn der_skip(input: &[u8]) -> Option<&[u8]> {
    der_element(input, *input.first()?).map(|(_, rest)| rest)
}

/// `autocert`'s cache entry: a private key PEM block, then the certificate chain.
pub fn parse_cached(pem: &[u8]) -> Result<Arc<CertifiedKey>, String> {
    parse_cached_entry(pem).map(|cached| cached.key)
}

fn parse_cached_entry(pem: &[u8]) -> Result<Cached, String> {
    let key = PrivateKeyDer::from_pem_slice(pem).map_err(|error| format!("cached key: {error}"))?;
    let chain = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| format!("cached certificate: {error}"))?;
    let leaf = chain.first().ok_or("cached entry has no certificate")?;
    let not_after = certificate_not_after(leaf).ok_or("cached certificate: unreadable validity")?;
    Ok(Cached {
        key: crate::tls::certified_key(chain, &key)?,
        not_after,
    })
}

fn create_private_directory(path: &Path) -> Result<(), String> {
    std::fs::create_dir_all(path).map_err(|error| format!("{}: {error}", path.display()))?;
    set_mode(path, 0o700);
    Ok(())
}

/// Written beside the target and renamed over it, so readers (the Go proxy too) never see half a file.
fn write_private_file(path: &Path, contents: &[u8]) -> Result<(), String> {
    let name = path
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    let unique = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_nanos())
        .unwrap_or_default();
    let temporary = path.with_file_name(format!(".{name}.{}.{unique}.tmp", std::process::id()));
    std::fs::write(&temporary, contents).map_err(|error| format!("{}: {error}", temporary.display()))?;
    set_mode(&temporary, 0o600);
    std::fs::rename(&temporary, path).map_err(|error| {
        let _ = std::fs::remove_file(&temporary);
        format!("{}: {error}", path.display())
    })
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode));
}

/// The account key: PKCS#8 as we write it, or SEC1 (`EC PRIVATE KEY`) as autocert writes it.
fn load_or_create_account_key(cache_directory: &Path) -> Result<EcdsaKeyPair, String> {
    let file = cache_directory.join(ACCOUNT_KEY_FILE);
    let random = SystemRandom::new();
    if let Ok(pem) = std::fs::read(&file) {
        let pkcs8 = match PrivateKeyDer::from_pem_slice(&pem) {
            Ok(PrivateKeyDer::Pkcs8(pkcs8)) => Some(pkcs8.secret_pkcs8_der().to_vec()),
            Ok(PrivateKeyDer::Sec1(sec1)) => Some(pkcs8_from_sec1_p256(sec1.secret_sec1_der())),
            _ => None,
        };
        if let Some(key) = pkcs8
            .and_then(|der| EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &der, &random).ok())
        {
            return Ok(key);
        }
        logging::warn(
            "Unreadable ACME account key; creating a new account",
            &[("path", json!(file.display().to_string()))],
        );
    }
    let document = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &random)
        .map_err(|error| error.to_string())?;
    let pem = PrivateKeyDer::Pkcs8(document.as_ref().to_vec().into());
    let pem = match pem {
        PrivateKeyDer::Pkcs8(key) => pem_block("PRIVATE KEY", key.secret_pkcs8_der()),
        _ => return Err("unexpected key type".to_string()),
    };
    write_private_file(&file, pem.as_bytes())?;
    EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, document.as_ref(), &random)
        .map_err(|error| error.to_string())
}

fn pem_block(label: &str, der: &[u8]) -> String {
    let encoded = base64::engine::general_purpose::STANDARD.encode(der);
    let mut pem = format!("-----BEGIN {label}-----\n");
    for line in encoded.as_bytes().chunks(64) {
        pem.push_str(&String::from_utf8_lossy(line));
        pem.push('\n');
    }
    pem.push_str(&format!("-----END {label}-----\n"));
    pem
}

/// Wraps a SEC1 P-256 key in PKCS#8 (RFC 5208), which is what ring reads.
fn pkcs8_from_sec1_p256(sec1: &[u8]) -> Vec<u8> {
    const ALGORITHM: &[u8] = &[
        0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce,
        0x3d, 0x03, 0x01, 0x07,
    ];
    let mut content = vec![0x02, 0x01, 0x00];
    content.extend_from_slice(ALGORITHM);
    content.push(0x04);
    content.extend(der_length(sec1.len()));
    content.extend_from_slice(sec1);
    let mut document = vec![0x30];
    document.extend(der_length(content.len()));
    document.extend(content);
    document
}

fn der_length(length: usize) -> Vec<u8> {
    if length < 0x80 {
        vec![length as u8]
    } else if length < 0x100 {
        vec![0x81, length as u8]
    } else {
        vec![0x82, (length >> 8) as u8, length as u8]
    }
}

fn location(response: &http::response::Parts) -> Result<String, String> {
    response
        .headers
        .get(header::LOCATION)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned)
        .ok_or_else(|| "ACME response without a Location".to_string())
}

/// A minimal ACME client: JWS (ES256) requests with nonces, one HTTPS connection per request.
struct Client {
    directory: Value,
    key: EcdsaKeyPair,
    account_url: Option<String>,
    nonce: Option<String>,
    tls: Arc<rustls::ClientConfig>,
}

impl Client {
    async fn new(
        directory_url: &str,
        key: EcdsaKeyPair,
        extra_roots: &[CertificateDer<'static>],
    ) -> Result<Self, String> {
        let mut client = Self {
            directory: Value::Null,
            key,
            account_url: None,
            nonce: None,
            tls: client_tls(extra_roots)?,
        };
        let (_, body) = client.send(Method::GET, directory_url, None).await?;
        client.directory =
            serde_json::from_slice(&body).map_err(|error| format!("ACME directory: {error}"))?;
        Ok(client)
    }

    fn directory_url(&self, name: &str) -> Result<String, String> {
        self.directory[name]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| format!("ACME directory has no {name}"))
    }

    fn jwk(&self) -> Value {
        let public = self.key.public_key().as_ref();
        json!({
            "crv": "P-256",
            "kty": "EC",
            "x": URL_SAFE_NO_PAD.encode(&public[1..33]),
            "y": URL_SAFE_NO_PAD.encode(&public[33..65]),
        })
    }

    /// RFC 7638: SHA-256 over the JWK's required members in lexical order.
    fn thumbprint(&self) -> String {
        let public = self.key.public_key().as_ref();
        let canonical = format!(
            "{{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"{}\",\"y\":\"{}\"}}",
            URL_SAFE_NO_PAD.encode(&public[1..33]),
            URL_SAFE_NO_PAD.encode(&public[33..65])
        );
        URL_SAFE_NO_PAD.encode(ring::digest::digest(&ring::digest::SHA256, canonical.as_bytes()))
    }

    async fn register(&mut self) -> Result<(), String> {
        let url = self.directory_url("newAccount")?;
        let (response, _) = self
            .post_json(&url, json!({"termsOfServiceAgreed": true}))
            .await?;
        self.account_url = Some(location(&response)?);
        Ok(())
    }

    async fn post_json(
        &mut self,
        url: &str,
        payload: Value,
    ) -> Result<(http::response::Parts, Value), String> {
        let (response, body) = self.post(url, Some(payload)).await?;
        let value = if body.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&body).map_err(|error| format!("ACME response from {url}: {error}"))?
        };
        Ok((response, value))
    }

    /// A signed POST (`payload: None` is POST-as-GET); retried once on `badNonce`.
    async fn post(
        &mut self,
        url: &str,
        payload: Option<Value>,
    ) -> Result<(http::response::Parts, Bytes), String> {
        let mut attempts = 0;
        loop {
            attempts += 1;
            let nonce = match self.nonce.take() {
                Some(nonce) => nonce,
                None => {
                    let new_nonce = self.directory_url("newNonce")?;
                    let (response, _) = self.send(Method::HEAD, &new_nonce, None).await?;
                    replay_nonce(&response).ok_or("no Replay-Nonce from newNonce")?
                }
            };
            let body = self.sign(url, &nonce, payload.as_ref())?;
            let (response, bytes) = self.send(Method::POST, url, Some(body)).await?;
            self.nonce = replay_nonce(&response);
            if response.status.is_success() {
                return Ok((response, bytes));
            }
            let problem: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            if attempts < 3 && problem["type"] == "urn:ietf:params:acme:error:badNonce" {
                continue;
            }
            return Err(format!(
                "ACME {url}: {} {}",
                response.status,
                problem["detail"]
                    .as_str()
                    .unwrap_or(&String::from_utf8_lossy(&bytes))
            ));
        }
    }

    fn sign(&self, url: &str, nonce: &str, payload: Option<&Value>) -> Result<Vec<u8>, String> {
        let mut protected = json!({"alg": "ES256", "nonce": nonce, "url": url});
        match &self.account_url {
            Some(kid) => protected["kid"] = json!(kid),
            None => protected["jwk"] = self.jwk(),
        }
        let protected = URL_SAFE_NO_PAD.encode(protected.to_string());
        let payload = payload
            .map(|value| URL_SAFE_NO_PAD.encode(value.to_string()))
            .unwrap_or_default();
        let signing_input = format!("{protected}.{payload}");
        let signature = self
            .key
            .sign(&SystemRandom::new(), signing_input.as_bytes())
            .map_err(|error| error.to_string())?;
        let jws = json!({
            "protected": protected,
            "payload": payload,
            "signature": URL_SAFE_NO_PAD.encode(signature.as_ref()),
        });
        Ok(jws.to_string().into_bytes())
    }

    /// POST-as-GET `url` until its `status` is `wanted`; `invalid` ends it with the server's words.
    async fn poll(&mut self, url: &str, wanted: &str) -> Result<Value, String> {
        loop {
            let (response, body) = self.post(url, None).await?;
            drop(response);
            let value: Value =
                serde_json::from_slice(&body).map_err(|error| format!("ACME {url}: {error}"))?;
            match value["status"].as_str() {
                Some(status) if status == wanted => return Ok(value),
                Some("invalid") => return Err(format!("ACME {url} is invalid: {value}")),
                _ => tokio::time::sleep(POLL_INTERVAL).await,
            }
        }
    }

    async fn send(
        &self,
        method: Method,
        url: &str,
        body: Option<Vec<u8>>,
    ) -> Result<(http::response::Parts, Bytes), String> {
        let request = request(method, url, body)?;
        let (parts, body) = send_request(&self.tls, url, request).await?.into_parts();
        let bytes = body
            .collect()
            .await
            .map_err(|error| format!("{url}: {error}"))?
            .to_bytes();
        Ok((parts, bytes))
    }
}

/// TLS for outgoing HTTPS (the ACME server, an on-demand endpoint): the web PKI plus `extra_roots`.
pub(crate) fn client_tls(
    extra_roots: &[CertificateDer<'static>],
) -> Result<Arc<rustls::ClientConfig>, String> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    for root in extra_roots {
        roots.add(root.clone()).map_err(|error| error.to_string())?;
    }
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|error| error.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(tls))
}

/// A request for `url` in origin form with the URL's own `Host`.
pub(crate) fn request(
    method: Method,
    url: &str,
    body: Option<Vec<u8>>,
) -> Result<Request<Full<Bytes>>, String> {
    let uri: Uri = url.parse().map_err(|error| format!("{url}: {error}"))?;
    let host = uri.host().ok_or_else(|| format!("{url}: no host"))?;
    let mut request = Request::builder()
        .method(method)
        .uri(uri.path_and_query().map(|p| p.as_str()).unwrap_or("/"))
        .header(header::HOST, uri.authority().map(|a| a.as_str()).unwrap_or(host))
        .header(header::USER_AGENT, "kamal-proxy");
    if body.is_some() {
        request = request.header(header::CONTENT_TYPE, "application/jose+json");
    }
    request
        .body(Full::new(Bytes::from(body.unwrap_or_default())))
        .map_err(|error| error.to_string())
}

/// Sends `request` to `url`'s host over a new connection (TLS for `https`); redirects are not followed.
pub(crate) async fn send_request(
    tls: &Arc<rustls::ClientConfig>,
    url: &str,
    request: Request<Full<Bytes>>,
) -> Result<http::Response<hyper::body::Incoming>, String> {
    let uri: Uri = url.parse().map_err(|error| format!("{url}: {error}"))?;
    let host = uri.host().ok_or_else(|| format!("{url}: no host"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']').to_string();
    let https = uri.scheme_str() == Some("https");
    let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
    let stream = tokio::net::TcpStream::connect((host.as_str(), port))
        .await
        .map_err(|error| format!("{url}: {error}"))?;
    if https {
        let name = ServerName::try_from(host).map_err(|error| error.to_string())?;
        let stream = tokio_rustls::TlsConnector::from(tls.clone())
            .connect(name, stream)
            .await
            .map_err(|error| format!("{url}: {error}"))?;
        exchange(TokioIo::new(stream), request).await
    } else {
        exchange(TokioIo::new(stream), request).await
    }
    .map_err(|error| format!("{url}: {error}"))
}

async fn exchange<I>(
    io: I,
    request: Request<Full<Bytes>>,
) -> Result<http::Response<hyper::body::Incoming>, hyper::Error>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(io).await?;
    tokio::spawn(connection);
    sender.send_request(request).await
}

fn replay_nonce(response: &http::response::Parts) -> Option<String> {
    response
        .headers
        .get("replay-nonce")
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_directories_are_scoped_by_the_directory_url_as_in_go() {
        assert_eq!(
            scoped_cache_directory("/c", ""),
            Path::new("/c/e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        );
        assert_eq!(
            scoped_cache_directory("/c", crate::service::options::ACME_STAGING_DIRECTORY),
            Path::new("/c/67f2750652314251daad76f012141d33c9f7290f4f8ebb0a006a7f02d394a904")
        );
    }

    fn days(days: i64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(u64::try_from(days * 86_400).expect("after 1970"))
    }

    #[test]
    fn expiry_is_read_from_utc_and_generalized_times() {
        for (year, month, day) in [(2031, 5, 17), (2051, 1, 2)] {
            let key = rcgen::KeyPair::generate().expect("key");
            let mut params = rcgen::CertificateParams::new(vec!["x.test".to_string()]).expect("params");
            params.not_after = rcgen::date_time_ymd(year, month, day);
            let certificate = params.self_signed(&key).expect("certificate");
            let expected = days(days_from_civil(i64::from(year), i64::from(month), i64::from(day)));
            assert_eq!(certificate_not_after(certificate.der()), Some(expected));
        }
        assert_eq!(civil_from_days(days_from_civil(2024, 2, 29)), (2024, 2, 29));
        assert_eq!(
            rfc3339(days(19_000) + Duration::from_secs(3723)),
            "2022-01-08T01:02:03Z"
        );
        assert_eq!(certificate_not_after(b"\x30\x03\x02\x01"), None);
    }

    #[test]
    fn tls_alpn_challenge_certificates_carry_the_critical_acme_identifier() {
        let certificate = alpn_challenge_certificate("alpn.test", "token.thumbprint").expect("certificate");
        let der = certificate.cert[0].as_ref();
        let digest = ring::digest::digest(&ring::digest::SHA256, b"token.thumbprint");
        // id-pe-acmeIdentifier (1.3.6.1.5.5.7.1.31), critical TRUE, OCTET STRING { OCTET STRING digest }.
        let mut extension = vec![0x06, 0x08, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x01, 0x1f];
        extension.extend([0x01, 0x01, 0xff, 0x04, 0x22, 0x04, 0x20]);
        extension.extend_from_slice(digest.as_ref());
        assert!(der.windows(extension.len()).any(|window| window == extension));
        assert!(der.windows(9).any(|window| window == b"alpn.test"));
    }

    #[test]
    fn expired_cache_entries_count_as_missing_and_writes_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let directory = tempfile::tempdir().expect("dir");
        let cache = directory.path().join("scoped");
        create_private_directory(&cache).expect("mkdir");
        let entry = |year: i32| {
            let key = rcgen::KeyPair::generate().expect("key");
            let mut params = rcgen::CertificateParams::new(vec!["x.test".to_string()]).expect("params");
            params.not_before = rcgen::date_time_ymd(2000, 1, 1);
            params.not_after = rcgen::date_time_ymd(year, 1, 1);
            let certificate = params.self_signed(&key).expect("certificate");
            format!("{}{}", key.serialize_pem(), certificate.pem())
        };
        write_private_file(&cache.join("old.test"), entry(2001).as_bytes()).expect("write");
        write_private_file(&cache.join("new.test"), entry(2090).as_bytes()).expect("write");
        let manager = Manager::default();
        assert!(manager.cached(&cache, "old.test").is_none(), "expired");
        assert!(
            manager.has_cache_entry(&cache, "old.test"),
            "still an entry for on-demand"
        );
        assert!(manager.cached(&cache, "new.test.").is_some());
        assert!(!manager.has_cache_entry(&cache, "none.test"));
        let mode = |path: &Path| std::fs::metadata(path).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode(&cache), 0o700);
        assert_eq!(mode(&cache.join("new.test")), 0o600);
        assert_eq!(
            std::fs::read_dir(&cache).expect("list").count(),
            2,
            "no temporary files left"
        );
    }

    #[test]
    fn sec1_account_keys_from_autocert_are_read() {
        let random = SystemRandom::new();
        let document = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &random).expect("key");
        // PKCS#8 wraps the SEC1 key in an OCTET STRING after the algorithm; unwrap and wrap it again.
        let der = document.as_ref();
        let sec1_start = 3 + 3 + 21 + 2; // SEQUENCE header (long form), version, algorithm, OCTET STRING header
        let sec1 = &der[sec1_start..];
        assert_eq!(pkcs8_from_sec1_p256(sec1), der);
    }
}
