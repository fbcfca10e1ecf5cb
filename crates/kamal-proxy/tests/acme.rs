//! Automatic certificates against pebble, Let's Encrypt's ACME test server (Debian package `pebble`), on
//! loopback with real TLS clients: HTTP-01, TLS-ALPN-01, renewal of a certificate near expiry, and on-demand
//! TLS with a local and an external check endpoint. Pebble validates for real (no `PEBBLE_VA_ALWAYS_VALID`);
//! its companion `pebble-challtestsrv` is the DNS server answering 127.0.0.1 for every name.
//! Every test is skipped (with a note) where pebble is not installed.

mod support;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use kamal_proxy::control::protocol::{Request as ControlRequest, StopArgs};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use support::tls::{issue_certificate, tls_connect, TestCertificate};
use support::*;
use tokio::net::TcpStream;

fn pebble_installed() -> bool {
    let installed = std::process::Command::new("pebble").arg("-h").output().is_ok()
        && std::process::Command::new("pebble-challtestsrv")
            .arg("-h")
            .output()
            .is_ok();
    if !installed {
        eprintln!("skipped: pebble is not installed (apt-get install pebble)");
    }
    installed
}

/// One HTTP/1.1 request over TLS trusting only `roots`; returns the served leaf, the status and the body.
async fn tls_get(
    proxy: &Proxy,
    server_name: &str,
    roots: &[CertificateDer<'static>],
    path: &str,
) -> Result<(CertificateDer<'static>, StatusCode, String), String> {
    let stream = tls_connect(proxy.https, server_name, roots, &[b"http/1.1"])
        .await
        .map_err(|error| error.to_string())?;
    let leaf = stream
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|chain| chain.first())
        .ok_or("no certificate")?
        .clone()
        .into_owned();
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|error| error.to_string())?;
    tokio::spawn(connection);
    let request = Request::get(path)
        .header("host", server_name)
        .body(Full::new(Bytes::new()))
        .expect("request");
    let response = sender
        .send_request(request)
        .await
        .map_err(|error| error.to_string())?;
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|error| error.to_string())?
        .to_bytes();
    Ok((leaf, status, String::from_utf8_lossy(&body).into_owned()))
}

/// A child process that is killed when the test ends, however it ends.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn(program: &str, arguments: &[&str], environment: &[(&str, &str)], log: &Path) -> Child {
    let output = std::fs::File::create(log).expect("log file");
    let errors = output.try_clone().expect("log file");
    let mut command = std::process::Command::new(program);
    command.args(arguments).stdout(output).stderr(errors);
    for (name, value) in environment {
        command.env(name, value);
    }
    Child(command.spawn().expect("spawn"))
}

async fn wait_for_listener(port: u16) -> bool {
    eventually(Duration::from_secs(20), || async move {
        TcpStream::connect(("127.0.0.1", port)).await.is_ok()
    })
    .await
}

async fn https_get_bytes(port: u16, path: &str, ca: &CertificateDer<'static>) -> Vec<u8> {
    let stream = tls_connect(
        std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        "localhost",
        std::slice::from_ref(ca),
        &[b"http/1.1"],
    )
    .await
    .expect("TLS to pebble's management port");
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("handshake");
    tokio::spawn(connection);
    let request = Request::get(path)
        .header("host", "localhost")
        .body(Full::new(Bytes::new()))
        .expect("request");
    let response = sender.send_request(request).await.expect("response");
    response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes()
        .to_vec()
}

/// Pebble's own HTTPS certificate (for `localhost`), made before the proxy starts so the proxy can trust it.
struct PebbleListenerCertificate {
    work: tempfile::TempDir,
    certificate: TestCertificate,
}

fn pebble_listener_certificate() -> PebbleListenerCertificate {
    let work = tempfile::tempdir().expect("dir");
    let certificate = issue_certificate(work.path(), &["localhost"], None);
    PebbleListenerCertificate { work, certificate }
}

/// A running pebble (and its DNS server) that validates against `http_port` (HTTP-01) and `tls_port`
/// (TLS-ALPN-01) on 127.0.0.1.
struct Pebble {
    _dns: Child,
    _pebble: Child,
    directory_url: String,
    /// The root pebble's certificates chain to.
    issuing_root: CertificateDer<'static>,
    log: std::path::PathBuf,
}

impl Pebble {
    /// Ports are picked free just before pebble binds them, so another test can take one in between: a pebble
    /// that does not come up is started again on new ports.
    async fn start(listener: &PebbleListenerCertificate, http_port: u16, tls_port: u16) -> Self {
        for attempt in 1..=3 {
            match Self::try_start(listener, http_port, tls_port).await {
                Ok(pebble) => return pebble,
                Err(log) => eprintln!("pebble did not come up (attempt {attempt}):\n{log}"),
            }
        }
        panic!("pebble did not listen after 3 attempts");
    }

    async fn try_start(
        listener: &PebbleListenerCertificate,
        http_port: u16,
        tls_port: u16,
    ) -> Result<Self, String> {
        let work = listener.work.path();
        let (listen, management, dns, dns_management) = (free_port(), free_port(), free_port(), free_port());
        let config = serde_json::json!({"pebble": {
            "listenAddress": format!("127.0.0.1:{listen}"),
            "managementListenAddress": format!("127.0.0.1:{management}"),
            "certificate": listener.certificate.certificate_path,
            "privateKey": listener.certificate.key_path,
            "httpPort": http_port,
            "tlsPort": tls_port,
            "ocspResponderURL": "",
            "externalAccountBindingRequired": false
        }});
        let config_path = work.join("pebble.json");
        std::fs::write(&config_path, config.to_string()).expect("config");
        let dns_server = spawn(
            "pebble-challtestsrv",
            &[
                "-defaultIPv4",
                "127.0.0.1",
                "-defaultIPv6",
                "",
                "-dns01",
                &format!("127.0.0.1:{dns}"),
                "-http01",
                "",
                "-https01",
                "",
                "-tlsalpn01",
                "",
                "-management",
                &format!("127.0.0.1:{dns_management}"),
            ],
            &[],
            &work.join("challtestsrv.log"),
        );
        let log = work.join("pebble.log");
        let pebble = spawn(
            "pebble",
            &[
                "-config",
                &config_path.display().to_string(),
                "-dnsserver",
                &format!("127.0.0.1:{dns}"),
            ],
            // No artificial validation delay, no rejected nonces, and no reuse of earlier authorizations
            // (each issuance must pass its own challenge).
            &[
                ("PEBBLE_VA_NOSLEEP", "1"),
                ("PEBBLE_WFE_NONCEREJECT", "0"),
                ("PEBBLE_AUTHZREUSE", "0"),
            ],
            &log,
        );
        if !(wait_for_listener(listen).await && wait_for_listener(management).await) {
            return Err(std::fs::read_to_string(&log).unwrap_or_default());
        }
        let root_pem = https_get_bytes(management, "/roots/0", &listener.certificate.ca).await;
        let issuing_root = CertificateDer::from_pem_slice(&root_pem).expect("pebble root");
        Ok(Self {
            _dns: dns_server,
            _pebble: pebble,
            directory_url: format!("https://localhost:{listen}/dir"),
            issuing_root,
            log,
        })
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

async fn proxy_trusting(listener: &PebbleListenerCertificate) -> Proxy {
    let root = listener.certificate.ca.clone();
    Proxy::start_configured(tempfile::tempdir().expect("proxy dir"), move |settings| {
        settings.acme_roots = vec![root]
    })
    .await
}

/// A TLS deploy of `hosts` with certificates from pebble, cached under the proxy's directory.
fn acme_deploy(
    proxy: &Proxy,
    pebble: &Pebble,
    service: &str,
    target: &Upstream,
    hosts: &[&str],
) -> kamal_proxy::control::protocol::DeployArgs {
    let mut args = deploy_args(service, &[target.target()], hosts, &[]);
    args.service_options.tls_enabled = true;
    args.service_options.acme_directory = pebble.directory_url.clone();
    args.service_options.acme_cache_path = cache_path(proxy).display().to_string();
    args
}

fn cache_path(proxy: &Proxy) -> std::path::PathBuf {
    proxy.directory.path().join("certs")
}

fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).expect("meta").permissions().mode() & 0o777
}

/// The leaf certificate of an autocert cache entry (key PEM, then the chain).
fn cached_leaf(path: &Path) -> CertificateDer<'static> {
    let pem = std::fs::read(path).expect("cache entry");
    CertificateDer::pem_slice_iter(&pem)
        .next()
        .expect("a certificate")
        .expect("PEM")
}

/// HTTP-01 on the proxy's HTTP port, with pebble unable to reach the HTTPS port: TLS-ALPN-01 is tried first
/// (autocert's order), fails, and a new order with HTTP-01 succeeds. The first handshake for a host waits for
/// the certificate, which lands in the Go proxy's cache layout and is served from there after a restart with
/// the ACME server gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_01_is_the_fallback_when_tls_alpn_01_cannot_be_validated() {
    if !pebble_installed() {
        return;
    }
    let listener = pebble_listener_certificate();
    let proxy = proxy_trusting(&listener).await;
    let closed = free_port();
    let pebble = Pebble::start(&listener, proxy.http.port(), closed).await;

    let upstream = Upstream::named("secure app").await;
    proxy
        .deploy(acme_deploy(&proxy, &pebble, "web", &upstream, &["acme.test"]))
        .await
        .expect("deploy");
    let answer = tls_get(
        &proxy,
        "acme.test",
        std::slice::from_ref(&pebble.issuing_root),
        "/",
    )
    .await;
    let (_, status, body) = answer.unwrap_or_else(|error| panic!("{error}\npebble log:\n{}", pebble.log()));
    assert_eq!((status, body.as_str()), (StatusCode::OK, "secure app"));

    // Go's layout: <cache>/<sha256(directory URL)>/<host> and acme_account+key, 0600 in a 0700 directory.
    let scoped = kamal_proxy::acme::scoped_cache_directory(
        &cache_path(&proxy).display().to_string(),
        &pebble.directory_url,
    );
    assert!(scoped.join("acme.test").is_file() && scoped.join("acme_account+key").is_file());
    assert_eq!(mode(&scoped.join("acme.test")), 0o600);
    assert_eq!(mode(&scoped), 0o700);

    // With pebble gone, a restarted proxy serves the cached certificate.
    let root = pebble.issuing_root.clone();
    drop(pebble);
    let directory = proxy.shutdown().await;
    let proxy = Proxy::start_in(directory).await;
    let (_, status, body) = tls_get(&proxy, "acme.test", &[root], "/")
        .await
        .expect("from the cache");
    assert_eq!((status, body.as_str()), (StatusCode::OK, "secure app"));
}

/// TLS-ALPN-01 (RFC 8737) with pebble unable to reach the HTTP port, so only that challenge can succeed:
/// pebble's `acme-tls/1` handshake gets the challenge certificate (pebble checks the negotiated protocol,
/// the SAN and the critical acmeIdentifier extension), and the certificate then served chains to pebble's
/// issuer. Once the challenge is over, `acme-tls/1` handshakes get nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_alpn_01_issues_a_certificate_on_the_https_port() {
    if !pebble_installed() {
        return;
    }
    let listener = pebble_listener_certificate();
    let proxy = proxy_trusting(&listener).await;
    let closed = free_port();
    let pebble = Pebble::start(&listener, closed, proxy.https.port()).await;

    let upstream = Upstream::named("alpn app").await;
    proxy
        .deploy(acme_deploy(&proxy, &pebble, "web", &upstream, &["alpn.test"]))
        .await
        .expect("deploy");
    let answer = tls_get(
        &proxy,
        "alpn.test",
        std::slice::from_ref(&pebble.issuing_root),
        "/",
    )
    .await;
    let (leaf, status, body) =
        answer.unwrap_or_else(|error| panic!("{error}\npebble log:\n{}", pebble.log()));
    assert_eq!((status, body.as_str()), (StatusCode::OK, "alpn app"));

    let scoped = kamal_proxy::acme::scoped_cache_directory(
        &cache_path(&proxy).display().to_string(),
        &pebble.directory_url,
    );
    assert_eq!(cached_leaf(&scoped.join("alpn.test")), leaf);

    let challenge = tls_connect(
        proxy.https,
        "alpn.test",
        std::slice::from_ref(&pebble.issuing_root),
        &[b"acme-tls/1"],
    )
    .await;
    assert!(challenge.is_err(), "no challenge is pending any more");
}

/// A certificate near expiry in the cache (as the Go proxy writes it: SEC1 key, then the chain), expiring in
/// 3 days, is served at once and renewed in the background (autocert renews 30 days before expiry); every
/// handshake meanwhile succeeds, and then the pebble-issued certificate is served and cached.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificates_near_expiry_are_renewed_in_the_background() {
    if !pebble_installed() {
        return;
    }
    let listener = pebble_listener_certificate();
    let proxy = proxy_trusting(&listener).await;
    let pebble = Pebble::start(&listener, proxy.http.port(), proxy.https.port()).await;

    let scoped = kamal_proxy::acme::scoped_cache_directory(
        &cache_path(&proxy).display().to_string(),
        &pebble.directory_url,
    );
    std::fs::create_dir_all(&scoped).expect("mkdir");
    let old = issue_certificate(
        proxy.directory.path(),
        &["renew.test"],
        Some(Duration::from_secs(3 * 86_400)),
    );
    let sec1 = sec1_pem(&old.leaf_key);
    let chain = std::fs::read_to_string(&old.certificate_path).expect("cert");
    std::fs::write(scoped.join("renew.test"), format!("{sec1}{chain}")).expect("write");

    let upstream = Upstream::named("renewed app").await;
    proxy
        .deploy(acme_deploy(&proxy, &pebble, "web", &upstream, &["renew.test"]))
        .await
        .expect("deploy");

    let roots = [old.ca.clone(), pebble.issuing_root.clone()];
    let (first, status, _) = tls_get(&proxy, "renew.test", &roots, "/")
        .await
        .expect("the cached certificate");
    assert_eq!(
        first, old.leaf,
        "the old certificate is served while renewal runs"
    );
    assert_eq!(status, StatusCode::OK);

    let renewed = eventually(Duration::from_secs(60), || {
        let roots = roots.clone();
        let (proxy, old_leaf) = (&proxy, &old.leaf);
        async move {
            let (leaf, status, body) = tls_get(proxy, "renew.test", &roots, "/")
                .await
                .unwrap_or_else(|error| panic!("a handshake failed during renewal: {error}"));
            assert_eq!((status, body.as_str()), (StatusCode::OK, "renewed app"));
            leaf != *old_leaf
        }
    })
    .await;
    assert!(renewed, "renewed within 60 s\npebble log:\n{}", pebble.log());

    // Only pebble's root now: the new certificate chains to it, and it is the one in the cache file.
    let (leaf, _, _) = tls_get(
        &proxy,
        "renew.test",
        std::slice::from_ref(&pebble.issuing_root),
        "/",
    )
    .await
    .expect("the renewed certificate chains to pebble");
    assert_eq!(cached_leaf(&scoped.join("renew.test")), leaf);
    assert_eq!(mode(&scoped.join("renew.test")), 0o600);
    assert_eq!(mode(&scoped), 0o700);
}

/// `EC PRIVATE KEY` (SEC1), what Go's autocert writes: the PKCS#8 wrapper of a P-256 key taken off.
fn sec1_pem(key: &rcgen::KeyPair) -> String {
    let pkcs8 = key.serialize_der();
    // SEQUENCE { version, AlgorithmIdentifier (21 bytes), OCTET STRING { SEC1 } }; the SEC1 key runs to the
    // end of the OCTET STRING.
    let octet = 3 + 3 + 21;
    assert_eq!(pkcs8[octet], 0x04, "OCTET STRING");
    let (length, header) = match pkcs8[octet + 1] {
        0x81 => (usize::from(pkcs8[octet + 2]), 3),
        short => (usize::from(short), 2),
    };
    let sec1 = &pkcs8[octet + header..octet + header + length];
    let encoded = base64_lines(sec1);
    format!("-----BEGIN EC PRIVATE KEY-----\n{encoded}-----END EC PRIVATE KEY-----\n")
}

fn base64_lines(der: &[u8]) -> String {
    use base64::Engine;
    let encoded = base64::engine::general_purpose::STANDARD.encode(der);
    encoded
        .as_bytes()
        .chunks(64)
        .map(|line| format!("{}\n", String::from_utf8_lossy(line)))
        .collect()
}

/// What a check endpoint was asked: `(path and query, Host header, X-Forwarded-Proto)`.
type Seen = Arc<Mutex<Vec<(String, String, String)>>>;

/// The app behind the on-demand service: `/allow-host` approves `allowed` hosts and refuses the others with
/// 403 `Access denied`; every other path answers `on-demand app`.
async fn on_demand_app(allowed: &'static [&'static str], seen: Seen) -> Upstream {
    Upstream::start(Arc::new(move |request: Request<Incoming>| {
        let seen = seen.clone();
        Box::pin(async move {
            if request.uri().path() != "/allow-host" {
                return text(StatusCode::OK, "on-demand app");
            }
            let header = |name: &str| {
                request
                    .headers()
                    .get(name)
                    .and_then(|value| value.to_str().ok())
                    .unwrap_or_default()
                    .to_string()
            };
            let uri = request.uri().to_string();
            seen.lock()
                .expect("seen")
                .push((uri.clone(), header("host"), header("x-forwarded-proto")));
            if allowed.iter().any(|host| uri.contains(&format!("host={host}"))) {
                text(StatusCode::OK, "")
            } else {
                text(StatusCode::FORBIDDEN, "Access denied")
            }
        })
    }))
    .await
}

/// An external check endpoint: 200 for `b.test`, 302 (to a path that would say 200) for `d.test`, 403 else.
async fn external_endpoint(seen: Seen) -> Upstream {
    Upstream::start(Arc::new(move |request: Request<Incoming>| {
        let seen = seen.clone();
        Box::pin(async move {
            let uri = request.uri().to_string();
            let host = request
                .headers()
                .get("host")
                .and_then(|value| value.to_str().ok())
                .unwrap_or_default()
                .to_string();
            seen.lock()
                .expect("seen")
                .push((uri.clone(), host, String::new()));
            if request.uri().path() == "/ok" || uri.contains("host=b.test") {
                text(StatusCode::OK, "")
            } else if uri.contains("host=d.test") {
                let mut response = text(StatusCode::FOUND, "elsewhere");
                response
                    .headers_mut()
                    .insert("location", http::HeaderValue::from_static("/ok"));
                response
            } else {
                text(StatusCode::FORBIDDEN, "Access denied")
            }
        })
    }))
    .await
}

fn denial_logged(host: &str) -> Option<serde_json::Value> {
    kamal_proxy::logging::captured()
        .iter()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .find(|line| line["msg"] == "TLS on-demand check denied host" && line["host"] == host)
}

/// On-demand TLS (§6.5) on a catch-all service: the local path is asked through the service (the app sees
/// `Host: <host>` and `X-Forwarded-Proto: http`), 200 gets a certificate from pebble for an arbitrary host,
/// 403 fails the handshake and logs the denial with status and body; a cached host is not asked again; an
/// external URL approves with 200 and denies with 403 and with a 302 (not followed); a stopped service
/// denies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_demand_tls_issues_only_for_hosts_the_endpoint_approves() {
    if !pebble_installed() {
        return;
    }
    kamal_proxy::logging::start_capture();
    let listener = pebble_listener_certificate();
    let proxy = proxy_trusting(&listener).await;
    let pebble = Pebble::start(&listener, proxy.http.port(), proxy.https.port()).await;
    let root = [pebble.issuing_root.clone()];

    let local_seen = Seen::default();
    let app = on_demand_app(&["a.test"], local_seen.clone()).await;
    let mut args = acme_deploy(&proxy, &pebble, "ondemand", &app, &[]);
    args.service_options.tls_on_demand_url = "/allow-host".to_string();
    proxy.deploy(args.clone()).await.expect("deploy on demand");

    // Local path, approved: a certificate for a host nobody configured.
    let answer = tls_get(&proxy, "a.test", &root, "/").await;
    let (_, status, body) = answer.unwrap_or_else(|error| panic!("{error}\npebble log:\n{}", pebble.log()));
    assert_eq!((status, body.as_str()), (StatusCode::OK, "on-demand app"));
    assert_eq!(
        local_seen.lock().expect("seen").clone(),
        [(
            "/allow-host?host=a.test".to_string(),
            "a.test".to_string(),
            "http".to_string()
        )]
    );

    // Local path, refused: the handshake fails and the denial is logged with status and body.
    assert!(tls_get(&proxy, "denied.test", &root, "/").await.is_err());
    let denial = denial_logged("denied.test").expect("denial logged");
    assert_eq!(
        (
            denial["level"].as_str(),
            denial["status"].as_u64(),
            denial["body"].as_str()
        ),
        (Some("WARN"), Some(403), Some("Access denied"))
    );

    // A host in the cache is served without asking.
    let asked = local_seen.lock().expect("seen").len();
    tls_get(&proxy, "a.test", &root, "/").await.expect("cached");
    assert_eq!(
        local_seen.lock().expect("seen").len(),
        asked,
        "no check for a cached host"
    );

    // A stopped service answers its own check with 503: denied.
    proxy
        .call(ControlRequest::Stop(StopArgs {
            service: "ondemand".into(),
            drain_timeout: Duration::from_secs(1),
            message: String::new(),
        }))
        .await
        .expect("stop");
    assert!(tls_get(&proxy, "stopped.test", &root, "/").await.is_err());
    assert_eq!(
        denial_logged("stopped.test").and_then(|line| line["status"].as_u64()),
        Some(503)
    );
    proxy
        .call(ControlRequest::Resume {
            service: "ondemand".into(),
        })
        .await
        .expect("resume");

    // External URL: 200 approves, 403 and 302 deny; the other query parameters are kept.
    let external_seen = Seen::default();
    let endpoint = external_endpoint(external_seen.clone()).await;
    args.service_options.tls_on_demand_url = format!("http://{}/check?token=abc", endpoint.address);
    proxy.deploy(args).await.expect("redeploy with an external URL");
    let answer = tls_get(&proxy, "b.test", &root, "/").await;
    let (_, status, _) = answer.unwrap_or_else(|error| panic!("{error}\npebble log:\n{}", pebble.log()));
    assert_eq!(status, StatusCode::OK);
    assert!(tls_get(&proxy, "c.test", &root, "/").await.is_err());
    assert_eq!(
        denial_logged("c.test").and_then(|line| line["status"].as_u64()),
        Some(403)
    );
    assert!(tls_get(&proxy, "d.test", &root, "/").await.is_err());
    assert_eq!(
        denial_logged("d.test").and_then(|line| line["status"].as_u64()),
        Some(302),
        "a redirect is an answer, not followed"
    );
    let asked: Vec<String> = external_seen
        .lock()
        .expect("seen")
        .iter()
        .map(|(uri, _, _)| uri.clone())
        .collect();
    assert_eq!(
        asked,
        [
            "/check?host=b.test&token=abc",
            "/check?host=c.test&token=abc",
            "/check?host=d.test&token=abc"
        ]
    );
}

/// A renewal that fails (the ACME directory is a closed port on loopback) is logged and retried with a
/// doubling wait, never in a tight loop; the window and first wait are the manager's (injected here: renew
/// 100 days before expiry, first retry after 50 ms). The task ends once its host is no longer wanted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_renewals_are_retried_with_a_growing_backoff() {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    if std::env::var_os("KAMAL_PROXY_TEST_LOGS").is_none() {
        kamal_proxy::logging::set_silent(true);
    }
    kamal_proxy::logging::start_capture();
    let work = tempfile::tempdir().expect("dir");
    let cache = work.path().join("scoped");
    std::fs::create_dir_all(&cache).expect("mkdir");
    let certificate = issue_certificate(
        work.path(),
        &["backoff.test"],
        Some(Duration::from_secs(90 * 86_400)),
    );
    let chain = std::fs::read_to_string(&certificate.certificate_path).expect("cert");
    std::fs::write(
        cache.join("backoff.test"),
        format!("{}{chain}", certificate.leaf_key.serialize_pem()),
    )
    .expect("write");

    let manager = Arc::new(kamal_proxy::acme::Manager::with_renewal(
        Vec::new(),
        Duration::from_secs(100 * 86_400),
        Duration::from_millis(50),
    ));
    assert!(
        manager.cached(&cache, "backoff.test").is_some(),
        "valid for 90 more days"
    );
    let attempts = Arc::new(AtomicUsize::new(0));
    let wanted = Arc::new(AtomicBool::new(true));
    let still_wanted: kamal_proxy::acme::StillWanted = {
        let (attempts, wanted) = (attempts.clone(), wanted.clone());
        Arc::new(move || {
            attempts.fetch_add(1, Ordering::SeqCst);
            wanted.load(Ordering::SeqCst)
        })
    };
    let directory = format!("http://127.0.0.1:{}/dir", free_port());
    manager.watch_renewal(&directory, &cache, "backoff.test", still_wanted.clone());
    manager.watch_renewal(&directory, &cache, "backoff.test", still_wanted);

    // Attempts at 0, 50, 150, 350 and 750 ms: five in the first second, one task only.
    let failures = || {
        kamal_proxy::logging::captured()
            .iter()
            .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
            .filter(|line| line["msg"] == "Unable to renew certificate" && line["host"] == "backoff.test")
            .map(|line| line["retry_in"].as_str().unwrap_or_default().to_string())
            .collect::<Vec<_>>()
    };
    // Up to the fourth attempt (350 ms in): a tight loop would have logged thousands of failures by then.
    assert!(eventually(Duration::from_secs(10), || async { failures().len() >= 4 }).await);
    let retries = failures();
    assert!(retries.len() <= 6, "no tight loop: {retries:?}");
    assert_eq!(retries[..3], ["0.05s", "0.1s", "0.2s"]);

    // The old certificate is still served while renewal keeps failing.
    assert!(manager.cached(&cache, "backoff.test").is_some());
    wanted.store(false, Ordering::SeqCst);
    let settled = attempts.load(Ordering::SeqCst);
    // The task asks once more, hears no, and ends.
    assert!(
        eventually(Duration::from_secs(10), || async {
            !manager.renewing(&cache, "backoff.test")
        })
        .await,
        "the task ends once the host is not wanted"
    );
    assert!(attempts.load(Ordering::SeqCst) <= settled + 1);
}
