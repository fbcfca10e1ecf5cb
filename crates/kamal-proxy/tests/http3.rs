//! HTTP/3 (§6.1) with a real QUIC client (quinn + h3) against the proxy on loopback.

mod support;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, Bytes};
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use rustls::pki_types::{CertificateDer, ServerName};
use support::*;

/// A self-signed certificate for `names`, written as PEM files in `directory`: (certificate, cert path, key path).
fn self_signed(directory: &std::path::Path, names: &[&str]) -> (CertificateDer<'static>, String, String) {
    let key = rcgen::KeyPair::generate().expect("key");
    let params = rcgen::CertificateParams::new(names.iter().map(|name| name.to_string()).collect::<Vec<_>>())
        .expect("params");
    let certificate = params.self_signed(&key).expect("certificate");
    let certificate_path = directory.join("cert.pem");
    let key_path = directory.join("key.pem");
    std::fs::write(&certificate_path, certificate.pem()).expect("write cert");
    std::fs::write(&key_path, key.serialize_pem()).expect("write key");
    (
        certificate.der().clone(),
        certificate_path.display().to_string(),
        key_path.display().to_string(),
    )
}

fn client_tls(root: &CertificateDer<'static>, alpn: &[u8]) -> rustls::ClientConfig {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(root.clone()).expect("root");
    let mut config =
        rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_protocol_versions(&[&rustls::version::TLS13])
            .expect("versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
    config.alpn_protocols = vec![alpn.to_vec()];
    config
}

struct Answer3 {
    status: StatusCode,
    headers: http::HeaderMap,
    body: String,
}

/// One HTTP/3 request on a new QUIC connection to `address`, for `host`.
async fn h3_request(
    address: SocketAddr,
    host: &str,
    root: &CertificateDer<'static>,
    method: http::Method,
    path: &str,
    body: Option<&'static [u8]>,
) -> Result<Answer3, String> {
    let crypto = quinn::crypto::rustls::QuicClientConfig::try_from(client_tls(root, b"h3"))
        .map_err(|error| error.to_string())?;
    let mut endpoint =
        quinn::Endpoint::client(SocketAddr::from(([127, 0, 0, 1], 0))).map_err(|e| e.to_string())?;
    endpoint.set_default_client_config(quinn::ClientConfig::new(Arc::new(crypto)));
    let connection = endpoint
        .connect(address, host)
        .map_err(|error| error.to_string())?
        .await
        .map_err(|error| error.to_string())?;
    let (mut driver, mut sender) = h3::client::new(h3_quinn::Connection::new(connection))
        .await
        .map_err(|error| error.to_string())?;
    let drive = tokio::spawn(async move { std::future::poll_fn(|context| driver.poll_close(context)).await });
    let request = Request::builder()
        .method(method)
        .uri(format!("https://{host}{path}"))
        .body(())
        .expect("request");
    let mut stream = sender
        .send_request(request)
        .await
        .map_err(|error| error.to_string())?;
    if let Some(body) = body {
        stream
            .send_data(Bytes::from_static(body))
            .await
            .map_err(|e| e.to_string())?;
    }
    stream.finish().await.map_err(|error| error.to_string())?;
    let response = stream.recv_response().await.map_err(|error| error.to_string())?;
    let mut text = Vec::new();
    while let Some(mut chunk) = stream.recv_data().await.map_err(|error| error.to_string())? {
        text.extend_from_slice(&chunk.copy_to_bytes(chunk.remaining()));
    }
    drop(sender);
    drive.abort();
    endpoint.close(0u32.into(), b"done");
    Ok(Answer3 {
        status: response.status(),
        headers: response.headers().clone(),
        body: String::from_utf8_lossy(&text).into_owned(),
    })
}

/// One HTTPS request over TCP (HTTP/1.1); returns the response headers and body.
async fn https_get(
    address: SocketAddr,
    host: &str,
    root: &CertificateDer<'static>,
) -> (http::HeaderMap, String) {
    let mut config = client_tls(root, b"http/1.1");
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let stream = tokio::net::TcpStream::connect(address).await.expect("connect");
    let stream = connector
        .connect(ServerName::try_from(host.to_string()).expect("name"), stream)
        .await
        .expect("handshake");
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("http1");
    tokio::spawn(connection);
    let response = sender
        .send_request(
            Request::get("/hello")
                .header("host", host)
                .body(Full::new(Bytes::new()))
                .expect("request"),
        )
        .await
        .expect("response");
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.expect("body").to_bytes();
    (headers, String::from_utf8_lossy(&body).into_owned())
}

/// Echoes the method, path, `X-Forwarded-Proto`, `Host` and body the upstream saw.
async fn echo_body_upstream() -> Upstream {
    Upstream::start(Arc::new(|request: Request<Incoming>| {
        Box::pin(async move {
            let line = format!(
                "{} {} xfp={} host={}",
                request.method(),
                request.uri().path(),
                request
                    .headers()
                    .get("x-forwarded-proto")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or(""),
                request
                    .headers()
                    .get("host")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or(""),
            );
            let body = request
                .into_body()
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            text(
                StatusCode::OK,
                format!("{line} body={}", String::from_utf8_lossy(&body)),
            )
        })
    }))
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http3_serves_the_same_services_and_https_advertises_it() {
    kamal_proxy::logging::start_capture();
    let certificates = tempfile::tempdir().expect("dir");
    let (root, certificate_path, key_path) = self_signed(certificates.path(), &["h3.test"]);
    let proxy = Proxy::start_configured(tempfile::tempdir().expect("dir"), |settings| {
        settings.http3 = true;
    })
    .await;
    let upstream = echo_body_upstream().await;
    let mut args = deploy_args("web", &[upstream.target()], &["h3.test"], &[]);
    args.service_options.tls_enabled = true;
    args.service_options.tls_certificate_path = certificate_path;
    args.service_options.tls_private_key_path = key_path;
    proxy.deploy(args).await.expect("deploy");

    // The same port number, over UDP.
    let quic = SocketAddr::from(([127, 0, 0, 1], proxy.https.port()));
    let answer = h3_request(quic, "h3.test", &root, http::Method::GET, "/hello?x=1", None)
        .await
        .expect("HTTP/3 GET");
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.body, "GET /hello xfp=https host=h3.test body=");
    assert!(
        answer.headers.get("alt-svc").is_none(),
        "HTTP/3 responses do not advertise HTTP/3"
    );

    let answer = h3_request(
        quic,
        "h3.test",
        &root,
        http::Method::POST,
        "/upload",
        Some(b"payload over quic"),
    )
    .await
    .expect("HTTP/3 POST");
    assert_eq!(
        answer.body,
        "POST /upload xfp=https host=h3.test body=payload over quic"
    );

    // An unknown host gets the proxy's 404 page over HTTP/3 too… once it has a certificate: it has none.
    assert!(
        h3_request(quic, "other.test", &root, http::Method::GET, "/", None)
            .await
            .is_err()
    );

    let logged = eventually(Duration::from_secs(5), || async {
        kamal_proxy::logging::captured()
            .iter()
            .any(|line| line.contains("\"path\":\"/upload\"") && line.contains("\"proto\":\"HTTP/3.0\""))
    })
    .await;
    assert!(logged, "the request log shows HTTP/3.0");

    let (headers, body) = https_get(proxy.https, "h3.test", &root).await;
    assert_eq!(body, "GET /hello xfp=https host=h3.test body=");
    assert_eq!(
        headers.get("alt-svc").and_then(|value| value.to_str().ok()),
        Some(format!("h3=\":{}\"; ma=2592000", proxy.https.port()).as_str())
    );
    // The UDP port is taken by the proxy.
    assert!(std::net::UdpSocket::bind(SocketAddr::from(([127, 0, 0, 1], proxy.https.port()))).is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_http3_no_udp_socket_is_opened_and_nothing_is_advertised() {
    let certificates = tempfile::tempdir().expect("dir");
    let (root, certificate_path, key_path) = self_signed(certificates.path(), &["h3.test"]);
    let proxy = Proxy::start().await;
    let upstream = echo_body_upstream().await;
    let mut args = deploy_args("web", &[upstream.target()], &["h3.test"], &[]);
    args.service_options.tls_enabled = true;
    args.service_options.tls_certificate_path = certificate_path;
    args.service_options.tls_private_key_path = key_path;
    proxy.deploy(args).await.expect("deploy");
    let (headers, _) = https_get(proxy.https, "h3.test", &root).await;
    assert!(headers.get("alt-svc").is_none());
    let socket = std::net::UdpSocket::bind(SocketAddr::from(([127, 0, 0, 1], proxy.https.port())));
    assert!(socket.is_ok(), "the HTTPS port's UDP twin is free: {socket:?}");
}
