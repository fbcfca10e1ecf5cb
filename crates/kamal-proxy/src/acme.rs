//! Automatic certificates with ACME (RFC 8555, §6.4): an account, an order per host, the HTTP-01 challenge
//! answered by the proxy's own HTTP listener, and the certificate cached on disk in the layout of Go's
//! `autocert.DirCache`, so certificates the Go proxy obtained are served after an image swap and ours are
//! readable by it:
//!
//! ```text
//! <acme_cache_path>/<sha256-hex(acme_directory)>/acme_account+key   account key (PEM)
//! <acme_cache_path>/<sha256-hex(acme_directory)>/<host>             private key PEM + certificate chain PEM
//! ```
//!
//! Issuance happens on the first TLS handshake for a host (as autocert does): the handshake waits for it.
//! Only HTTP-01 is answered (Go also answers TLS-ALPN-01). Renewal before expiry is not done yet.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

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

use crate::logging;

/// Let's Encrypt production, the directory used when a service names none (as autocert's default).
pub const LETS_ENCRYPT_DIRECTORY: &str = "https://acme-v02.api.letsencrypt.org/directory";
pub const CHALLENGE_PATH_PREFIX: &str = "/.well-known/acme-challenge/";
const ACCOUNT_KEY_FILE: &str = "acme_account+key";
/// How long one issuance may take before the handshake waiting for it gives up.
pub const ISSUANCE_TIMEOUT: Duration = Duration::from_secs(60);
const POLL_INTERVAL: Duration = Duration::from_millis(250);

/// The cache directory for one ACME directory URL: `<cache path>/<sha256-hex(url)>` (§2.1).
pub fn scoped_cache_directory(cache_path: &str, directory_url: &str) -> PathBuf {
    let digest = ring::digest::digest(&ring::digest::SHA256, directory_url.as_bytes());
    let hex: String = digest.as_ref().iter().map(|byte| format!("{byte:02x}")).collect();
    Path::new(cache_path).join(hex)
}

/// Issues and caches certificates; shared by every service (each names its directory and cache path).
#[derive(Debug, Default)]
pub struct Manager {
    certificates: Mutex<HashMap<PathBuf, Arc<CertifiedKey>>>,
    /// HTTP-01 token → key authorization, while a challenge is pending.
    challenges: Mutex<HashMap<String, String>>,
    /// One issuance at a time per host file; later handshakes wait for the first.
    issuing: tokio::sync::Mutex<()>,
    /// Extra trust roots for the ACME server's own HTTPS (a test CA such as pebble's); the web PKI otherwise.
    extra_roots: Vec<CertificateDer<'static>>,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Manager {
    pub fn new(extra_roots: Vec<CertificateDer<'static>>) -> Self {
        Self {
            extra_roots,
            ..Self::default()
        }
    }

    /// The key authorization for an HTTP-01 token, if one of our challenges is pending.
    pub fn challenge_response(&self, token: &str) -> Option<String> {
        lock(&self.challenges).get(token).cloned()
    }

    /// A certificate already in memory or in the cache directory (Go's files included); no network.
    pub fn cached(&self, cache_directory: &Path, host: &str) -> Option<Arc<CertifiedKey>> {
        let host = host.trim_end_matches('.');
        let file = cache_directory.join(host);
        if let Some(certificate) = lock(&self.certificates).get(&file) {
            return Some(certificate.clone());
        }
        let pem = std::fs::read(&file).ok()?;
        let certificate = parse_cached(&pem).ok()?;
        lock(&self.certificates).insert(file, certificate.clone());
        Some(certificate)
    }

    /// Returns the host's certificate, obtaining one from the directory first when none is cached.
    pub async fn obtain(
        &self,
        directory_url: &str,
        cache_directory: &Path,
        host: &str,
    ) -> Result<Arc<CertifiedKey>, String> {
        let _one_at_a_time = self.issuing.lock().await;
        if let Some(certificate) = self.cached(cache_directory, host) {
            return Ok(certificate);
        }
        logging::info(
            "Obtaining certificate",
            &[("host", json!(host)), ("directory", json!(directory_url))],
        );
        let result =
            tokio::time::timeout(ISSUANCE_TIMEOUT, self.issue(directory_url, cache_directory, host)).await;
        match result {
            Ok(Ok(certificate)) => {
                logging::info("Obtained certificate", &[("host", json!(host))]);
                Ok(certificate)
            }
            Ok(Err(error)) => {
                logging::error(
                    "Unable to obtain certificate",
                    &[("host", json!(host)), ("error", json!(error))],
                );
                Err(error)
            }
            Err(_) => Err(format!("obtaining a certificate for {host} timed out")),
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
            self.authorize(&mut client, authorization).await?;
        }

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

        let mut cached = key.serialize_pem().into_bytes();
        cached.extend_from_slice(&chain);
        let certificate = parse_cached(&cached)?;
        let file = cache_directory.join(host);
        write_private_file(&file, &cached)?;
        lock(&self.certificates).insert(file, certificate.clone());
        Ok(certificate)
    }

    async fn authorize(&self, client: &mut Client, authorization_url: &str) -> Result<(), String> {
        let (_, body) = client.post(authorization_url, None).await?;
        let authorization: Value = serde_json::from_slice(&body).map_err(|error| error.to_string())?;
        if authorization["status"] == "valid" {
            return Ok(());
        }
        let challenge = authorization["challenges"]
            .as_array()
            .and_then(|challenges| challenges.iter().find(|challenge| challenge["type"] == "http-01"))
            .ok_or("no http-01 challenge offered")?;
        let token = challenge["token"]
            .as_str()
            .ok_or("challenge without a token")?
            .to_string();
        let url = challenge["url"]
            .as_str()
            .ok_or("challenge without a URL")?
            .to_string();
        let key_authorization = format!("{token}.{}", client.thumbprint());
        lock(&self.challenges).insert(token.clone(), key_authorization);
        let result = async {
            client.post_json(&url, json!({})).await?;
            client.poll(authorization_url, "valid").await
        }
        .await;
        lock(&self.challenges).remove(&token);
        result.map(|_| ())
    }
}

/// `autocert`'s cache entry: a private key PEM block, then the certificate chain.
pub fn parse_cached(pem: &[u8]) -> Result<Arc<CertifiedKey>, String> {
    let key = PrivateKeyDer::from_pem_slice(pem).map_err(|error| format!("cached key: {error}"))?;
    let chain = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| format!("cached certificate: {error}"))?;
    if chain.is_empty() {
        return Err("cached entry has no certificate".to_string());
    }
    crate::tls::certified_key(chain, &key)
}

fn create_private_directory(path: &Path) -> Result<(), String> {
    std::fs::create_dir_all(path).map_err(|error| format!("{}: {error}", path.display()))?;
    set_mode(path, 0o700);
    Ok(())
}

fn write_private_file(path: &Path, contents: &[u8]) -> Result<(), String> {
    let temporary = path.with_extension("tmp");
    std::fs::write(&temporary, contents).map_err(|error| format!("{}: {error}", temporary.display()))?;
    set_mode(&temporary, 0o600);
    std::fs::rename(&temporary, path).map_err(|error| format!("{}: {error}", path.display()))
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
        let mut roots = rustls::RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        for root in extra_roots {
            roots.add(root.clone()).map_err(|error| error.to_string())?;
        }
        let tls =
            rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .map_err(|error| error.to_string())?
                .with_root_certificates(roots)
                .with_no_client_auth();
        let mut client = Self {
            directory: Value::Null,
            key,
            account_url: None,
            nonce: None,
            tls: Arc::new(tls),
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
        let uri: Uri = url.parse().map_err(|error| format!("{url}: {error}"))?;
        let host = uri.host().ok_or_else(|| format!("{url}: no host"))?.to_string();
        let https = uri.scheme_str() == Some("https");
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        let stream = tokio::net::TcpStream::connect((host.as_str(), port))
            .await
            .map_err(|error| format!("{url}: {error}"))?;
        let mut request = Request::builder()
            .method(method)
            .uri(uri.path_and_query().map(|p| p.as_str()).unwrap_or("/"))
            .header(header::HOST, uri.authority().map(|a| a.as_str()).unwrap_or(&host))
            .header(header::USER_AGENT, "kamal-proxy");
        if body.is_some() {
            request = request.header(header::CONTENT_TYPE, "application/jose+json");
        }
        let request = request
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .map_err(|error| error.to_string())?;
        let response = if https {
            let name = ServerName::try_from(host.clone()).map_err(|error| error.to_string())?;
            let stream = tokio_rustls::TlsConnector::from(self.tls.clone())
                .connect(name, stream)
                .await
                .map_err(|error| format!("{url}: {error}"))?;
            exchange(TokioIo::new(stream), request).await
        } else {
            exchange(TokioIo::new(stream), request).await
        }
        .map_err(|error| format!("{url}: {error}"))?;
        let (parts, body) = response.into_parts();
        let bytes = body
            .collect()
            .await
            .map_err(|error| format!("{url}: {error}"))?
            .to_bytes();
        Ok((parts, bytes))
    }
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
