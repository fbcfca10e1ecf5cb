//! The training workload for kamal-proxy's profile-guided build (`scripts/build-proxy.sh`).
//!
//! `kamal-proxy-pgo-train <kamal-proxy binary>` runs the given (instrumented) binary as `kamal-proxy run` in a temporary
//! HOME, deploys two services in front of an HTTP/1.1 upstream started here, sends it a mix of traffic and
//! stops it with SIGTERM, so the binary writes its profile on the way out (to `$LLVM_PROFILE_FILE`).
//!
//! The mix is what a proxy in front of a web app sees, not the benchmark alone: small and 1 MiB responses
//! over keep-alive connections, a new connection per request, request bodies, chunked responses, errors,
//! and HTTPS with HTTP/1.1 and HTTP/2 (new handshakes and long-lived connections). Code the mix never runs
//! is optimised for size by the profiled build, so a path missing here gets slower, not faster.
//! Every response is checked: a workload that silently failed would train the error paths instead.
//!
//! `$KAMAL_PROXY_PROFILE_FILE` becomes the proxy's `LLVM_PROFILE_FILE`: this program is built instrumented
//! too (it shares the proxy's dependencies), and its own profile must not be mixed in.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::net::{TcpListener, TcpStream};

type Failure = Box<dyn std::error::Error + Send + Sync>;

const SMALL: &[u8] = b"Hello, world\n";

#[tokio::main]
async fn main() -> Result<(), Failure> {
    let binary = std::env::args()
        .nth(1)
        .ok_or("usage: kamal-proxy-pgo-train <kamal-proxy binary>")?;
    let home = Home::create()?;
    let upstream = start_upstream().await?;
    let http = free_port()?;
    let https = free_port()?;
    let mut proxy = proxy_command(&binary, &home.0)
        .args([
            "run",
            &format!("--http-port={http}"),
            &format!("--https-port={https}"),
        ])
        .spawn()?;
    let outcome = train(&binary, &home.0, upstream, http, https).await;
    // SIGTERM: a clean exit writes the profile (SIGKILL would lose it).
    let _ = Command::new("kill").arg(proxy.id().to_string()).status();
    let status = wait_exit(&mut proxy)?;
    outcome?;
    if !status.success() {
        return Err(format!("kamal-proxy exited with {status}").into());
    }
    Ok(())
}

/// The proxy's HOME (its state and control socket), removed when dropped.
struct Home(PathBuf);

impl Home {
    fn create() -> std::io::Result<Home> {
        let path = std::env::temp_dir().join(format!("kamal-proxy-pgo-{}", std::process::id()));
        std::fs::create_dir_all(&path)?;
        Ok(Home(path))
    }
}

impl Drop for Home {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn proxy_command(binary: &str, home: &Path) -> Command {
    let mut command = Command::new(binary);
    command
        .env("HOME", home)
        .env("KAMAL_PROXY_SOCKET", home.join("kamal-proxy.sock"))
        .stdout(Stdio::null());
    match std::env::var_os("KAMAL_PROXY_PROFILE_FILE") {
        Some(file) => command.env("LLVM_PROFILE_FILE", file),
        None => command.env_remove("LLVM_PROFILE_FILE"),
    };
    command
}

async fn train(
    binary: &str,
    home: &Path,
    upstream: SocketAddr,
    http: u16,
    https: u16,
) -> Result<(), Failure> {
    wait_for_port(http).await?;
    let certificate = issue_certificate(home)?;
    let target = format!("--target={upstream}");
    deploy(binary, home, &["app", &target])?;
    deploy(
        binary,
        home,
        &[
            "secure",
            &target,
            "--host=localhost",
            "--tls",
            &format!(
                "--tls-certificate-path={}",
                certificate.certificate_path.display()
            ),
            &format!("--tls-private-key-path={}", certificate.key_path.display()),
        ],
    )?;
    let proxy: SocketAddr = ([127, 0, 0, 1], http).into();
    let secure: SocketAddr = ([127, 0, 0, 1], https).into();
    let started = Instant::now();

    // The bulk: small responses over keep-alive connections, as most traffic is.
    fan_out(32, |_| plain(proxy, "/small", 1, 1500)).await?;
    fan_out(4, |_| plain(proxy, "/1mb", 1, 40)).await?;
    fan_out(4, |_| plain(proxy, "/chunked", 1, 300)).await?;
    fan_out(4, |_| posts(proxy, 300)).await?;
    fan_out(4, |_| plain(proxy, "/missing", 1, 300)).await?;
    // A new connection for each request.
    fan_out(4, |_| plain(proxy, "/small", 150, 1)).await?;
    let roots = [certificate.ca.clone()];
    fan_out(4, |_| tls_http1(secure, roots.clone(), 1, 600)).await?;
    fan_out(4, |_| tls_http1(secure, roots.clone(), 40, 1)).await?;
    fan_out(2, |_| tls_http2(secure, roots.clone(), 1500)).await?;
    eprintln!(
        "kamal-proxy-pgo-train: workload done in {:.1?}",
        started.elapsed()
    );
    Ok(())
}

/// Runs `count` copies of a job at once; fails if any does.
async fn fan_out<F, Fut>(count: usize, job: F) -> Result<(), Failure>
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = Result<(), Failure>> + Send + 'static,
{
    let tasks: Vec<_> = (0..count).map(|index| tokio::spawn(job(index))).collect();
    for task in tasks {
        task.await??;
    }
    Ok(())
}

fn get(path: &str, host: &str) -> Request<Full<Bytes>> {
    Request::get(path)
        .header("host", host)
        .header("user-agent", "pgo-train")
        .body(Full::new(Bytes::new()))
        .expect("request")
}

/// Sends `request`; checks the status is `expected` and reads the whole body.
async fn exchange(
    sender: &mut hyper::client::conn::http1::SendRequest<Full<Bytes>>,
    request: Request<Full<Bytes>>,
    expected: StatusCode,
) -> Result<usize, Failure> {
    sender.ready().await?;
    let response = sender.send_request(request).await?;
    check(response, expected).await
}

async fn check(response: Response<Incoming>, expected: StatusCode) -> Result<usize, Failure> {
    let status = response.status();
    let body = response.into_body().collect().await?.to_bytes();
    if status != expected {
        return Err(format!(
            "expected {expected}, got {status}: {}",
            String::from_utf8_lossy(&body)
        )
        .into());
    }
    Ok(body.len())
}

async fn http1<I>(io: I) -> Result<hyper::client::conn::http1::SendRequest<Full<Bytes>>, Failure>
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(io)).await?;
    tokio::spawn(connection);
    Ok(sender)
}

/// `connections` connections one after another, `requests` GETs of `path` on each.
async fn plain(
    proxy: SocketAddr,
    path: &'static str,
    connections: usize,
    requests: usize,
) -> Result<(), Failure> {
    let expected = if path == "/missing" {
        StatusCode::NOT_FOUND
    } else {
        StatusCode::OK
    };
    for _ in 0..connections {
        let mut sender = http1(TcpStream::connect(proxy).await?).await?;
        for _ in 0..requests {
            exchange(&mut sender, get(path, "example.com"), expected).await?;
        }
    }
    Ok(())
}

async fn posts(proxy: SocketAddr, requests: usize) -> Result<(), Failure> {
    let mut sender = http1(TcpStream::connect(proxy).await?).await?;
    let body = Bytes::from(vec![b'x'; 4096]);
    for _ in 0..requests {
        let request = Request::post("/echo")
            .header("host", "example.com")
            .header("content-type", "application/octet-stream")
            .body(Full::new(body.clone()))?;
        let length = exchange(&mut sender, request, StatusCode::OK).await?;
        if length != body.len() {
            return Err(format!("echoed {length} bytes of {}", body.len()).into());
        }
    }
    Ok(())
}

/// As [`plain`], over HTTPS: each connection a new handshake.
async fn tls_http1(
    secure: SocketAddr,
    roots: [CertificateDer<'static>; 1],
    connections: usize,
    requests: usize,
) -> Result<(), Failure> {
    for _ in 0..connections {
        let stream = tls_connect(secure, "localhost", &roots, &[b"http/1.1"]).await?;
        let mut sender = http1(stream).await?;
        for _ in 0..requests {
            exchange(&mut sender, get("/small", "localhost"), StatusCode::OK).await?;
        }
    }
    Ok(())
}

async fn tls_http2(
    secure: SocketAddr,
    roots: [CertificateDer<'static>; 1],
    requests: usize,
) -> Result<(), Failure> {
    let stream = tls_connect(secure, "localhost", &roots, &[b"h2"]).await?;
    let (sender, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    // Eight streams at a time on the one connection.
    fan_out(8, move |_| {
        let mut sender = sender.clone();
        async move {
            for _ in 0..requests / 8 {
                sender.ready().await?;
                let request = Request::get("https://localhost/small")
                    .header("user-agent", "pgo-train")
                    .body(Full::new(Bytes::new()))?;
                check(sender.send_request(request).await?, StatusCode::OK).await?;
            }
            Ok(())
        }
    })
    .await
}

/// The upstream: `/up` and `/small` (13 bytes), `/1mb`, `/chunked` (a streamed body of three chunks),
/// `/echo` (the request body back), 404 for the rest.
async fn start_upstream() -> Result<SocketAddr, Failure> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    let large = Bytes::from(vec![b'x'; 1 << 20]);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let large = large.clone();
            tokio::spawn(async move {
                let service = service_fn(move |request: Request<Incoming>| {
                    let large = large.clone();
                    async move { Ok::<_, Infallible>(respond(request, large).await) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Ok(address)
}

type UpstreamBody = http_body_util::combinators::BoxBody<Bytes, Infallible>;

async fn respond(request: Request<Incoming>, large: Bytes) -> Response<UpstreamBody> {
    let full = |status: StatusCode, body: Bytes| {
        Response::builder()
            .status(status)
            .header("content-type", "text/plain")
            .body(Full::new(body).boxed())
            .expect("response")
    };
    match request.uri().path() {
        "/up" | "/small" => full(StatusCode::OK, Bytes::from_static(SMALL)),
        "/1mb" => full(StatusCode::OK, large),
        "/echo" => {
            let body = request
                .into_body()
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            full(StatusCode::OK, body)
        }
        "/chunked" => Response::builder()
            .header("content-type", "text/plain")
            .body(Chunks(vec!["three\n", "two ", "one "]).boxed())
            .expect("response"),
        _ => full(StatusCode::NOT_FOUND, Bytes::from_static(b"not found\n")),
    }
}

/// A body of a few chunks with no length, which hyper sends chunked. Pops from the back.
struct Chunks(Vec<&'static str>);

impl http_body::Body for Chunks {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Poll::Ready(
            self.0
                .pop()
                .map(|chunk| Ok(Frame::data(Bytes::from_static(chunk.as_bytes())))),
        )
    }
}

/// A CA, and a certificate for `localhost` signed by it, written as PEM files in `directory`.
struct Certificate {
    ca: CertificateDer<'static>,
    certificate_path: PathBuf,
    key_path: PathBuf,
}

fn issue_certificate(directory: &Path) -> Result<Certificate, Failure> {
    let ca_key = rcgen::KeyPair::generate()?;
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key)?;
    let key = rcgen::KeyPair::generate()?;
    let leaf = rcgen::CertificateParams::new(vec!["localhost".to_string()])?.signed_by(&key, &ca, &ca_key)?;
    let certificate_path = directory.join("cert.pem");
    let key_path = directory.join("key.pem");
    std::fs::write(&certificate_path, leaf.pem())?;
    std::fs::write(&key_path, key.serialize_pem())?;
    Ok(Certificate {
        ca: ca.der().clone(),
        certificate_path,
        key_path,
    })
}

async fn tls_connect(
    address: SocketAddr,
    server_name: &str,
    roots: &[CertificateDer<'static>],
    alpn: &[&[u8]],
) -> Result<tokio_rustls::client::TlsStream<TcpStream>, Failure> {
    let mut store = rustls::RootCertStore::empty();
    for root in roots {
        store.add(root.clone())?;
    }
    let mut config =
        rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()?
            .with_root_certificates(store)
            .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|protocol| protocol.to_vec()).collect();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let stream = TcpStream::connect(address).await?;
    Ok(connector
        .connect(ServerName::try_from(server_name.to_string())?, stream)
        .await?)
}

fn deploy(binary: &str, home: &Path, args: &[&str]) -> Result<(), Failure> {
    let status = proxy_command(binary, home).arg("deploy").args(args).status()?;
    if !status.success() {
        return Err(format!("kamal-proxy deploy {args:?}: {status}").into());
    }
    Ok(())
}

fn free_port() -> Result<u16, Failure> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Until the proxy accepts connections on `port`, for at most 30 s.
async fn wait_for_port(port: u16) -> Result<(), Failure> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("kamal-proxy is not listening on {port} after 30 s").into());
        }
        tokio::time::sleep(Duration::from_millis(20)).await; // poll interval
    }
}

/// Waits for the proxy to exit, for at most 30 s (it drains for up to 10 s on SIGTERM).
fn wait_exit(child: &mut Child) -> Result<std::process::ExitStatus, Failure> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            return Err("kamal-proxy did not exit within 30 s of SIGTERM".into());
        }
        std::thread::sleep(Duration::from_millis(20)); // poll interval
    }
}
