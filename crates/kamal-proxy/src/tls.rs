//! TLS termination (§6.1–§6.3): the rustls server configuration and certificate selection by SNI.
//!
//! Certificates belong to services: a deploy with `--tls-certificate-path`/`--tls-private-key-path` loads the
//! pair once (a bad pair fails the deploy with `unable to load certificate`), and the resolver picks the
//! certificate of the service the SNI routes to, as the Go proxy's `GetCertificate` does. Automatic (ACME)
//! certificates come from [`crate::acme`]'s cache through the same resolver, and a handshake offering
//! `acme-tls/1` (the ACME server validating a TLS-ALPN-01 challenge, RFC 8737) gets the pending challenge's
//! certificate instead; rustls then negotiates `acme-tls/1`, as the validator offers nothing else.

use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use serde_json::json;

use crate::logging;
use crate::router::Router;

/// ALPN offered on the HTTPS port, as the Go proxy (`acme-tls/1` answers TLS-ALPN-01 challenges).
pub const ALPN_H2: &[u8] = b"h2";
pub const ALPN_HTTP1: &[u8] = b"http/1.1";
pub const ALPN_ACME_TLS: &[u8] = b"acme-tls/1";

/// Loads a PEM certificate chain and private key and checks that they belong together.
pub fn load_certificate(certificate_path: &str, private_key_path: &str) -> Result<Arc<CertifiedKey>, String> {
    let chain = CertificateDer::pem_file_iter(certificate_path)
        .and_then(|certificates| certificates.collect::<Result<Vec<_>, _>>())
        .map_err(|error| format!("{certificate_path}: {error}"))?;
    if chain.is_empty() {
        return Err(format!("{certificate_path}: no certificate found"));
    }
    let key = PrivateKeyDer::from_pem_file(private_key_path)
        .map_err(|error| format!("{private_key_path}: {error}"))?;
    certified_key(chain, &key)
}

pub fn certified_key(
    chain: Vec<CertificateDer<'static>>,
    key: &PrivateKeyDer<'_>,
) -> Result<Arc<CertifiedKey>, String> {
    let signing_key =
        rustls::crypto::ring::sign::any_supported_type(key).map_err(|error| error.to_string())?;
    let certified = CertifiedKey::new(chain, signing_key);
    certified
        .keys_match()
        .map_err(|error| format!("certificate and key do not match: {error}"))?;
    Ok(Arc::new(certified))
}

/// `GetCertificate`: SNI → service (exact, wildcard, catch-all) → that service's certificate.
#[derive(Debug)]
pub struct CertificateResolver {
    router: Arc<Router>,
}

impl ResolvesServerCert for CertificateResolver {
    fn resolve(&self, client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let acme_challenge = client_hello
            .alpn()
            .is_some_and(|mut protocols| protocols.any(|protocol| protocol == ALPN_ACME_TLS));
        let server_name = match client_hello.server_name() {
            Some(name) => name.to_string(),
            None => {
                let default = self.router.default_tls_hostname()?;
                logging::warn(
                    "No server name; using default TLS hostname",
                    &[("host", json!(default))],
                );
                default
            }
        };
        self.router.certificate_for(&server_name, acme_challenge)
    }
}

/// The certificate resolver HTTPS and HTTP/3 share.
pub fn resolver(router: Arc<Router>) -> Arc<dyn ResolvesServerCert> {
    Arc::new(CertificateResolver { router })
}

/// Whether a finished handshake negotiated `acme-tls/1`: a TLS-ALPN-01 validation, after which no HTTP is
/// served (RFC 8737 §3), so the connection should be closed.
pub fn is_acme_challenge(negotiated_alpn: Option<&[u8]>) -> bool {
    negotiated_alpn == Some(ALPN_ACME_TLS)
}

/// The HTTPS listener's configuration: certificates from the router, ALPN h2 then HTTP/1.1 (and
/// `acme-tls/1` for TLS-ALPN-01 validations).
pub fn server_config(router: Arc<Router>) -> Result<Arc<rustls::ServerConfig>, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|error| format!("TLS configuration: {error}"))?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(CertificateResolver { router }));
    config.alpn_protocols = vec![ALPN_H2.to_vec(), ALPN_HTTP1.to_vec(), ALPN_ACME_TLS.to_vec()];
    Ok(Arc::new(config))
}
