//! TLS fixtures shared by the test binaries: a test CA with a leaf written as PEM files, and a rustls client.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::{CertificateDer, ServerName};
use tokio::net::TcpStream;

/// A CA and a leaf for `names` signed by it, written as PEM files in `directory`.
pub struct TestCertificate {
    pub ca: CertificateDer<'static>,
    pub leaf: CertificateDer<'static>,
    pub leaf_key: rcgen::KeyPair,
    pub certificate_path: String,
    pub key_path: String,
}

pub fn issue_certificate(directory: &Path, names: &[&str], valid_for: Option<Duration>) -> TestCertificate {
    let ca_key = rcgen::KeyPair::generate().expect("ca key");
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("ca params");
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "kamal-proxy test CA");
    let ca = ca_params.self_signed(&ca_key).expect("ca");
    let leaf_key = rcgen::KeyPair::generate().expect("leaf key");
    let mut leaf_params =
        rcgen::CertificateParams::new(names.iter().map(|name| name.to_string()).collect::<Vec<_>>())
            .expect("leaf params");
    if let Some(valid_for) = valid_for {
        let now = time::OffsetDateTime::now_utc();
        leaf_params.not_before = now - time::Duration::days(60);
        leaf_params.not_after = now + time::Duration::try_from(valid_for).expect("duration");
    }
    let leaf = leaf_params.signed_by(&leaf_key, &ca, &ca_key).expect("leaf");
    let certificate_path = directory.join("cert.pem");
    let key_path = directory.join("key.pem");
    std::fs::write(&certificate_path, leaf.pem()).expect("write cert");
    std::fs::write(&key_path, leaf_key.serialize_pem()).expect("write key");
    TestCertificate {
        ca: ca.der().clone(),
        leaf: leaf.der().clone(),
        leaf_key,
        certificate_path: certificate_path.display().to_string(),
        key_path: key_path.display().to_string(),
    }
}

pub async fn tls_connect(
    address: std::net::SocketAddr,
    server_name: &str,
    roots: &[CertificateDer<'static>],
    alpn: &[&[u8]],
) -> std::io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
    let mut store = rustls::RootCertStore::empty();
    for root in roots {
        store.add(root.clone()).expect("add root");
    }
    let mut config =
        rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_root_certificates(store)
            .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|protocol| protocol.to_vec()).collect();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let stream = TcpStream::connect(address).await?;
    let name = ServerName::try_from(server_name.to_string()).expect("server name");
    connector.connect(name, stream).await
}
