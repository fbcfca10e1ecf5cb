//! End-to-end tests of part 2 with real clients on 127.0.0.1: TLS (rustls client, HTTP/1.1 and HTTP/2),
//! redirects, buffering and body limits, metrics and the request log, rollout, continuous health, and the
//! bad-input cases (smuggling, spoofed forwarding headers, slow headers, oversized bodies).

mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use kamal_proxy::control::protocol::{Request as ControlRequest, RolloutDeployArgs, RolloutSetArgs};
use kamal_proxy::service::options::DeploymentOptions;
use rustls::pki_types::{CertificateDer, ServerName};
use support::tls::{issue_certificate, tls_connect};
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// One request over TLS with HTTP/1.1 or (ALPN `h2`) HTTP/2; returns version, status and body.
async fn tls_get(
    proxy: &Proxy,
    server_name: &str,
    ca: &CertificateDer<'static>,
    http2: bool,
    path: &str,
) -> Result<(http::Version, StatusCode, String), String> {
    let alpn: &[&[u8]] = if http2 { &[b"h2"] } else { &[b"http/1.1"] };
    let stream = tls_connect(proxy.https, server_name, std::slice::from_ref(ca), alpn)
        .await
        .map_err(|error| error.to_string())?;
    let io = TokioIo::new(stream);
    let response = if http2 {
        let (mut sender, connection) = hyper::client::conn::http2::handshake(TokioExecutor::new(), io)
            .await
            .map_err(|error| error.to_string())?;
        tokio::spawn(connection);
        let request = Request::get(format!("https://{server_name}{path}"))
            .body(Full::new(Bytes::new()))
            .expect("request");
        sender
            .send_request(request)
            .await
            .map_err(|error| error.to_string())?
    } else {
        let (mut sender, connection) = hyper::client::conn::http1::handshake(io)
            .await
            .map_err(|error| error.to_string())?;
        tokio::spawn(connection);
        let request = Request::get(path)
            .header("host", server_name)
            .body(Full::new(Bytes::new()))
            .expect("request");
        sender
            .send_request(request)
            .await
            .map_err(|error| error.to_string())?
    };
    let version = response.version();
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|error| error.to_string())?
        .to_bytes();
    Ok((version, status, String::from_utf8_lossy(&body).into_owned()))
}

/// Writes `raw` on a fresh connection and reads until the server closes or `deadline` passes.
async fn raw_exchange(address: std::net::SocketAddr, raw: &[u8], deadline: Duration) -> String {
    let mut stream = TcpStream::connect(address).await.expect("connect");
    let _ = stream.write_all(raw).await;
    let mut reply = Vec::new();
    let _ = tokio::time::timeout(deadline, stream.read_to_end(&mut reply)).await;
    String::from_utf8_lossy(&reply).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_with_a_static_certificate_over_http_1_1_and_http_2_with_redirects() {
    let proxy = Proxy::start().await;
    let certificate = issue_certificate(proxy.directory.path(), &["example.com"], None);
    let upstream = echo_upstream().await;
    let mut args = deploy_args("web", &[upstream.target()], &["example.com"], &[]);
    args.service_options.tls_enabled = true;
    args.service_options.tls_certificate_path = certificate.certificate_path.clone();
    args.service_options.tls_private_key_path = certificate.key_path.clone();
    args.target_options.forward_headers = false;
    proxy.deploy(args.clone()).await.expect("deploy with TLS");

    // HTTP/1.1 and HTTP/2 over TLS; the app hears https and the client's host.
    let (version, status, body) = tls_get(&proxy, "example.com", &certificate.ca, false, "/a?b=c")
        .await
        .expect("TLS HTTP/1.1");
    assert_eq!((version, status), (http::Version::HTTP_11, StatusCode::OK));
    assert!(body.contains("x-forwarded-proto: https"), "{body}");
    assert!(body.contains("host: example.com"), "{body}");
    let (version, status, body) = tls_get(&proxy, "example.com", &certificate.ca, true, "/h2")
        .await
        .expect("TLS HTTP/2");
    assert_eq!((version, status), (http::Version::HTTP_2, StatusCode::OK));
    assert!(body.contains("uri: /h2"), "{body}");
    assert!(body.contains("host: example.com"), "{body}");

    // An SNI no TLS service answers fails the handshake.
    assert!(tls_get(&proxy, "other.test", &certificate.ca, false, "/")
        .await
        .is_err());

    // Plain HTTP: 301 to https, port dropped, query kept, Connection: close; POST gets no body.
    let client = http_client();
    let answer = get(&client, &proxy, "example.com:8080", "/path?q=1").await;
    assert_eq!(answer.status, StatusCode::MOVED_PERMANENTLY);
    assert_eq!(header(&answer, "location"), "https://example.com/path?q=1");
    assert_eq!(header(&answer, "connection"), "close");
    let post = send(
        &client,
        Request::post(proxy.url("/form"))
            .header("host", "example.com")
            .body(Full::new(Bytes::from_static(b"x=1")))
            .expect("request"),
    )
    .await
    .expect("post");
    assert_eq!(post.status, StatusCode::MOVED_PERMANENTLY);
    assert!(post.body.is_empty());

    // --tls-redirect=false: plain HTTP is proxied and the app hears http.
    args.service_options.tls_redirect = false;
    proxy.deploy(args.clone()).await.expect("redeploy");
    let answer = get(&client, &proxy, "example.com", "/plain").await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(echoed(&answer)["x-forwarded-proto"], "http");

    // A key that does not belong to the certificate fails the deploy and keeps the running service.
    let mismatched = proxy.directory.path().join("other-key.pem");
    std::fs::write(
        &mismatched,
        rcgen::KeyPair::generate().expect("key").serialize_pem(),
    )
    .expect("write key");
    let mut bad = args.clone();
    bad.service_options.tls_private_key_path = mismatched.display().to_string();
    assert_eq!(
        proxy.deploy(bad).await.err().as_deref(),
        Some("unable to load certificate")
    );
    assert_eq!(
        get(&client, &proxy, "example.com", "/still").await.status,
        StatusCode::OK
    );

    // A handshake without SNI gets the default TLS hostname's certificate (§6.2).
    let mut roots = rustls::RootCertStore::empty();
    roots.add(certificate.ca.clone()).expect("root");
    let mut config =
        rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
    config.enable_sni = false;
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let stream = TcpStream::connect(proxy.https).await.expect("connect");
    let name = ServerName::try_from("example.com").expect("name");
    assert!(
        connector.connect(name, stream).await.is_ok(),
        "no SNI → default TLS hostname"
    );
}

/// An upstream that answers with the size of the body it received and a body of `?size=N` bytes.
async fn sizing_upstream() -> Upstream {
    Upstream::start(Arc::new(|request: Request<Incoming>| {
        Box::pin(async move {
            let size: usize = request
                .uri()
                .query()
                .and_then(|query| query.strip_prefix("size="))
                .and_then(|size| size.parse().ok())
                .unwrap_or(0);
            let received = request
                .into_body()
                .collect()
                .await
                .map(|body| body.to_bytes().len())
                .unwrap_or(usize::MAX);
            let mut response = text(StatusCode::OK, "x".repeat(size));
            response
                .headers_mut()
                .insert("x-received", received.to_string().parse().expect("value"));
            response
        })
    }))
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buffering_limits_bodies_spills_to_disk_and_never_holds_streams() {
    let proxy = Proxy::start().await;
    let upstream = sizing_upstream().await;
    let client = http_client();
    let mut args = deploy_args("web", &[upstream.target()], &[], &[]);
    args.target_options.buffer_requests = true;
    args.target_options.buffer_responses = true;
    args.target_options.max_memory_buffer_size = 1024;
    args.target_options.max_request_body_size = 100_000;
    args.target_options.max_response_body_size = 50_000;
    proxy.deploy(args).await.expect("deploy");

    let post = |body: Vec<u8>, query: &'static str| {
        let client = client.clone();
        let url = proxy.url(&format!("/upload?{query}"));
        async move {
            send(
                &client,
                Request::post(url)
                    .header("host", "x.test")
                    .body(Full::new(Bytes::from(body)))
                    .expect("request"),
            )
            .await
            .expect("response")
        }
    };
    // Past the memory limit, under the body limit: spilled, then sent whole.
    let answer = post(vec![b'a'; 80_000], "size=10").await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(header(&answer, "x-received"), "80000");
    // Over the request limit: 413 with its page, and the app never sees it.
    let answer = post(vec![b'a'; 100_001], "size=10").await;
    assert_eq!(answer.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(answer.body.contains("413"), "{}", answer.body);
    // A chunked upload over the limit (no Content-Length to refuse up front) is cut off the same way.
    let reply = raw_exchange(
        proxy.http,
        format!(
            "POST /upload HTTP/1.1\r\nHost: x.test\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n{:x}\r\n{}\r\n0\r\n\r\n",
            120_000,
            "b".repeat(120_000)
        )
        .as_bytes(),
        Duration::from_secs(5),
    )
    .await;
    assert!(
        reply.starts_with("HTTP/1.1 413"),
        "{}",
        &reply[..reply.len().min(200)]
    );
    // Responses: under the limit pass, over it become a 500 page without the upstream's headers.
    let answer = get(&client, &proxy, "x.test", "/?size=40000").await;
    assert_eq!((answer.status, answer.body.len()), (StatusCode::OK, 40_000));
    let answer = get(&client, &proxy, "x.test", "/?size=60000").await;
    assert_eq!(answer.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(header(&answer, "x-received").is_empty());

    // No spill file is left behind.
    let leftovers = std::fs::read_dir(std::env::temp_dir())
        .expect("temp dir")
        .filter_map(Result::ok)
        .filter(|entry| entry.file_name().to_string_lossy().starts_with("proxy-buffer-"))
        .count();
    assert_eq!(leftovers, 0, "spill files are removed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_sent_events_and_chunked_streams_bypass_the_response_buffer() {
    // The upstream sends one event, then waits until the test has seen it before finishing.
    let seen = Arc::new(tokio::sync::Notify::new());
    let upstream = {
        let seen = seen.clone();
        Upstream::start(Arc::new(move |request: Request<Incoming>| {
            let seen = seen.clone();
            Box::pin(async move {
                if request.uri().path() == "/up" {
                    return text(StatusCode::OK, "up");
                }
                let (sender, receiver) = tokio::sync::mpsc::channel::<
                    Result<http_body::Frame<Bytes>, kamal_proxy::body::BoxError>,
                >(2);
                tokio::spawn(async move {
                    let _ = sender
                        .send(Ok(http_body::Frame::data(Bytes::from_static(b"data: 1\n\n"))))
                        .await;
                    seen.notified().await;
                    let _ = sender
                        .send(Ok(http_body::Frame::data(Bytes::from_static(b"data: 2\n\n"))))
                        .await;
                });
                let body = http_body_util::StreamBody::new(ReceiverStream(receiver));
                let mut response = http::Response::new(BodyExt::boxed(body));
                if request.uri().path() == "/events" {
                    response.headers_mut().insert(
                        "content-type",
                        "text/event-stream; charset=utf-8".parse().expect("value"),
                    );
                }
                response
            })
        }))
        .await
    };
    let proxy = Proxy::start().await;
    let mut args = deploy_args("web", &[upstream.target()], &[], &[]);
    args.target_options.buffer_responses = true;
    args.target_options.max_response_body_size = 4;
    proxy.deploy(args).await.expect("deploy");
    let client = http_client();
    for path in ["/events", "/chunked"] {
        let response = client
            .request(
                Request::get(proxy.url(path))
                    .header("host", "x.test")
                    .body(Full::new(Bytes::new()))
                    .expect("request"),
            )
            .await
            .expect("response");
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        let mut body = response.into_body();
        let first = tokio::time::timeout(Duration::from_secs(5), body.frame())
            .await
            .expect("the first event arrives before the stream ends")
            .expect("frame")
            .expect("ok");
        assert_eq!(
            first.into_data().ok().as_deref(),
            Some(&b"data: 1\n\n"[..]),
            "{path}"
        );
        seen.notify_one();
        let rest = body.collect().await.expect("rest").to_bytes();
        assert_eq!(&rest[..], b"data: 2\n\n", "{path}");
    }
}

struct ReceiverStream<T>(tokio::sync::mpsc::Receiver<T>);

impl<T> futures_core::Stream for ReceiverStream<T> {
    type Item = T;
    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        context: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<T>> {
        self.0.poll_recv(context)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_and_request_log_fields() {
    kamal_proxy::logging::start_capture();
    let proxy = Proxy::start_with_metrics().await;
    let metrics_port = proxy.metrics.expect("metrics listener").port();
    let upstream = Upstream::start(Arc::new(|_request: Request<Incoming>| {
        Box::pin(async move {
            let mut response = text(StatusCode::OK, "hello");
            response
                .headers_mut()
                .insert("cache-control", "max-age=5".parse().expect("value"));
            response
        })
    }))
    .await;
    let mut args = deploy_args("metered", &[upstream.target()], &["metered.test"], &[]);
    args.target_options.log_request_headers = Some(vec!["X-Custom".into()]);
    args.target_options.log_response_headers = Some(vec!["Cache-Control".into()]);
    args.service_options.exclude_metrics_paths = Some(vec!["/skip".into()]);
    proxy.deploy(args).await.expect("deploy");
    let client = http_client();
    let request_id = "metrics-log-test-1";
    let answer = get_with(
        &client,
        &proxy,
        "metered.test",
        "/hello?x=1",
        &[
            ("x-request-id", request_id),
            ("x-custom", "a"),
            ("x-forwarded-for", "203.0.113.7"),
            ("user-agent", "tester"),
        ],
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK);
    get(&client, &proxy, "metered.test", "/skip").await;
    get_with(&client, &proxy, "metered.test", "/x", &[]).await;
    send(
        &client,
        Request::builder()
            .method("BREW")
            .uri(proxy.url("/"))
            .header("host", "metered.test")
            .body(Full::new(Bytes::new()))
            .expect("request"),
    )
    .await
    .expect("custom method");

    let metrics = format!("http://127.0.0.1:{metrics_port}/anything");
    let mut text_body = String::new();
    let found = eventually(Duration::from_secs(5), || {
        let client = client.clone();
        let metrics = metrics.clone();
        async move {
            let answer = send(
                &client,
                Request::get(metrics)
                    .body(Full::new(Bytes::new()))
                    .expect("request"),
            )
            .await;
            answer.is_ok_and(|answer| {
                answer.body.contains(
                    "kamal_proxy_http_requests_total{method=\"GET\",service=\"metered\",status=\"200\"} 2",
                )
            })
        }
    })
    .await;
    if let Ok(answer) = send(
        &client,
        Request::get(&metrics)
            .body(Full::new(Bytes::new()))
            .expect("request"),
    )
    .await
    {
        text_body = answer.body;
    }
    assert!(found, "{text_body}");
    assert!(
        text_body.contains(
            "kamal_proxy_http_requests_total{method=\"OTHER\",service=\"metered\",status=\"200\"} 1"
        ),
        "{text_body}"
    );
    assert!(text_body.contains("kamal_proxy_http_request_duration_seconds_bucket{method=\"GET\",service=\"metered\",status=\"200\",le=\"+Inf\"} 2"));
    assert!(
        text_body.contains("kamal_proxy_http_in_flight_requests{service=\"metered\"} 0"),
        "{text_body}"
    );

    let line = kamal_proxy::logging::captured()
        .into_iter()
        .find(|line| line.contains(request_id) && line.contains("\"msg\":\"Request\""))
        .expect("request logged");
    let fields: serde_json::Value = serde_json::from_str(&line).expect("json");
    // The keys in Go's order: each one appears after the one before it.
    let mut position = 0;
    for key in [
        "time",
        "level",
        "msg",
        "host",
        "port",
        "path",
        "request_id",
        "status",
        "service",
        "target",
        "duration",
        "method",
        "req_content_length",
        "req_content_type",
        "resp_content_length",
        "resp_content_type",
        "client_addr",
        "client_port",
        "remote_addr",
        "user_agent",
        "proto",
        "scheme",
        "query",
        "req_x_custom",
        "resp_cache_control",
    ] {
        let found = line[position..]
            .find(&format!("\"{key}\":"))
            .unwrap_or_else(|| panic!("{key} in order: {line}"));
        position += found;
    }
    assert_eq!(fields["host"], "metered.test");
    assert_eq!(fields["path"], "/hello");
    assert_eq!(fields["status"], 200);
    assert_eq!(fields["service"], "metered");
    assert_eq!(fields["target"], upstream.target());
    assert_eq!(fields["resp_content_length"], 5);
    assert_eq!(fields["remote_addr"], "203.0.113.7");
    assert_eq!(fields["client_addr"], "127.0.0.1");
    assert_eq!(fields["user_agent"], "tester");
    assert_eq!(fields["proto"], "HTTP/1.1");
    assert_eq!(fields["scheme"], "http");
    assert_eq!(fields["query"], "x=1");
    assert_eq!(fields["req_x_custom"], "a");
    assert_eq!(fields["resp_cache_control"], "max-age=5");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_smuggling_spoofed_forwarding_slow_headers_and_bad_chunking_are_refused() {
    let proxy = Proxy::start_configured(tempfile::tempdir().expect("dir"), |settings| {
        settings.header_read_timeout = Duration::from_millis(300);
    })
    .await;
    let upstream = echo_upstream().await;
    let mut args = deploy_args("web", &[upstream.target()], &[], &[]);
    args.target_options.forward_headers = false;
    proxy.deploy(args).await.expect("deploy");

    // Content-Length and Transfer-Encoding together (CL.TE smuggling): the fast path answers 400 and closes,
    // as nginx does. (The general pipeline alone, `KAMAL_PROXY_FAST_PATH=0`, is hyper's: it frames the body by
    // Transfer-Encoding, drops Content-Length and closes after the response, RFC 9112 §6.1.) Either way the
    // request hidden behind it is never read.
    let reply = raw_exchange(
        proxy.http,
        b"POST / HTTP/1.1\r\nHost: x.test\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x.test\r\n\r\n",
        Duration::from_secs(5),
    )
    .await;
    assert_eq!(reply.matches("HTTP/1.1 ").count(), 1, "{reply}");
    if kamal_proxy::server::fast_path_from_environment() {
        assert!(reply.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{reply}");
    }
    assert!(reply.contains("Connection: close"), "{reply}");
    assert!(!reply.contains("/smuggled"), "{reply}");
    assert!(
        !reply.contains("content-length: 4"),
        "the upstream never sees the conflicting length: {reply}"
    );

    // Two different Content-Lengths, and a Transfer-Encoding that does not end in chunked: 400, as nginx.
    for raw in [
        &b"POST / HTTP/1.1\r\nHost: x.test\r\nContent-Length: 4\r\nContent-Length: 40\r\n\r\nabcd"[..],
        &b"POST / HTTP/1.1\r\nHost: x.test\r\nTransfer-Encoding: xchunked\r\n\r\n4\r\nabcd\r\n0\r\n\r\n"[..],
    ] {
        let reply = raw_exchange(proxy.http, raw, Duration::from_secs(5)).await;
        assert!(
            reply.starts_with("HTTP/1.1 400"),
            "{}\n{reply}",
            String::from_utf8_lossy(raw)
        );
    }

    // Malformed chunking in the body (no buffering): 400, as Go's proxy does.
    let reply = raw_exchange(
        proxy.http,
        b"POST / HTTP/1.1\r\nHost: x.test\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\nZZ\r\nabcd\r\n0\r\n\r\n",
        Duration::from_secs(5),
    )
    .await;
    assert!(reply.starts_with("HTTP/1.1 400"), "{reply}");

    // A client that is not trusted cannot spoof where it comes from.
    let client = http_client();
    let answer = get_with(
        &client,
        &proxy,
        "x.test",
        "/",
        &[
            ("x-forwarded-for", "1.2.3.4"),
            ("x-forwarded-proto", "https"),
            ("x-forwarded-host", "evil.test"),
            ("forwarded", "for=1.2.3.4"),
        ],
    )
    .await;
    let seen = echoed(&answer);
    assert_eq!(seen["x-forwarded-for"], "127.0.0.1");
    assert_eq!(seen["x-forwarded-proto"], "http");
    assert_eq!(seen["x-forwarded-host"], "x.test");
    assert!(!seen.contains_key("forwarded"));

    // Slowloris: headers that never finish are cut off at the header timeout; nothing reaches the app.
    let mut stream = TcpStream::connect(proxy.http).await.expect("connect");
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: x.test\r\n")
        .await
        .expect("write");
    let started = tokio::time::Instant::now();
    let mut reply = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            // Keep trickling a byte at a time, as a slowloris client does.
            if stream.write_all(b"X").await.is_err() {
                break;
            }
            let mut buffer = [0u8; 256];
            match tokio::time::timeout(Duration::from_millis(50), stream.read(&mut buffer)).await {
                Ok(Ok(0)) | Ok(Err(_)) => break,
                Ok(Ok(read)) => reply.extend_from_slice(&buffer[..read]),
                Err(_) => {}
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the slow connection was closed");
    assert!(started.elapsed() < Duration::from_secs(5));
    let reply = String::from_utf8_lossy(&reply);
    assert!(reply.is_empty() || reply.starts_with("HTTP/1.1 408"), "{reply}");

    // And the proxy still serves. (A new client: the 300 ms header timeout also closes idle keep-alive
    // connections, as nginx's keepalive_timeout does, so the pooled one is gone by now.)
    let client = http_client();
    assert_eq!(get(&client, &proxy, "x.test", "/").await.status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollout_splits_by_cookie_and_stops() {
    let proxy = Proxy::start().await;
    let active = Upstream::named("active").await;
    let canary = Upstream::named("canary").await;
    proxy
        .deploy(deploy_args("web", &[active.target()], &[], &[]))
        .await
        .expect("deploy");
    let set = |percentage: i64, allowlist: &[&str]| {
        ControlRequest::RolloutSet(RolloutSetArgs {
            service: "web".into(),
            percentage,
            allowlist: allowlist.iter().map(|value| value.to_string()).collect(),
        })
    };
    assert_eq!(
        proxy.call(set(50, &[])).await.err().as_deref(),
        Some("rollout target not set")
    );
    let response = proxy
        .call(ControlRequest::RolloutDeploy(RolloutDeployArgs {
            service: "web".into(),
            target_urls: vec![canary.target()],
            reader_urls: vec![],
            deployment_options: DeploymentOptions {
                deploy_timeout: Duration::from_secs(5),
                drain_timeout: Duration::from_secs(5),
                force: false,
            },
        }))
        .await
        .expect("call");
    assert_eq!(response.error, None);
    let client = http_client();
    let with_cookie = |value: &'static str| {
        let client = client.clone();
        let proxy_url = proxy.url("/");
        async move {
            let mut request = Request::get(proxy_url).header("host", "x.test");
            if !value.is_empty() {
                request = request.header("cookie", format!("other=1; kamal-rollout={value}"));
            }
            send(&client, request.body(Full::new(Bytes::new())).expect("request"))
                .await
                .expect("response")
                .body
        }
    };
    // Installed but no split yet: everything stays on the active targets.
    assert_eq!(with_cookie("vip").await, "active");
    assert_eq!(proxy.call(set(0, &["vip"])).await.expect("call").error, None);
    assert_eq!(with_cookie("vip").await, "canary");
    assert_eq!(with_cookie("someone").await, "active");
    assert_eq!(with_cookie("").await, "active", "no cookie → active");
    assert_eq!(proxy.call(set(100, &[])).await.expect("call").error, None);
    assert_eq!(with_cookie("someone").await, "canary");
    assert_eq!(
        with_cookie("").await,
        "active",
        "no cookie → active, whatever the split"
    );

    // The split survives a restart, through the state file.
    let saved = std::fs::read_to_string(&proxy.state).expect("state");
    assert!(
        saved.contains("\"rollout_controller\":{\"percentage\":100"),
        "{saved}"
    );
    let directory = proxy.shutdown().await;
    let proxy = Proxy::start_in(directory).await;
    let client = http_client();
    let answer = get_with(
        &client,
        &proxy,
        "x.test",
        "/",
        &[("cookie", "kamal-rollout=someone")],
    )
    .await;
    assert_eq!(answer.body, "canary");

    let response = proxy
        .call(ControlRequest::RolloutStop {
            service: "web".into(),
        })
        .await
        .expect("call");
    assert_eq!(response.error, None);
    let answer = get_with(
        &client,
        &proxy,
        "x.test",
        "/",
        &[("cookie", "kamal-rollout=someone")],
    )
    .await;
    assert_eq!(answer.body, "active");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_targets_leave_the_rotation_after_the_deploy_and_list_shows_it() {
    let failing = Arc::new(AtomicBool::new(false));
    let flaky = {
        let failing = failing.clone();
        Upstream::start(Arc::new(move |request: Request<Incoming>| {
            let failing = failing.load(Ordering::SeqCst);
            Box::pin(async move {
                if request.uri().path() == "/up" && failing {
                    text(StatusCode::INTERNAL_SERVER_ERROR, "down")
                } else {
                    text(StatusCode::OK, "flaky")
                }
            })
        }))
        .await
    };
    let steady = Upstream::named("steady").await;
    let proxy = Proxy::start().await;
    proxy
        .deploy(deploy_args(
            "pair",
            &[flaky.target(), steady.target()],
            &["pair.test"],
            &[],
        ))
        .await
        .expect("deploy");
    proxy
        .deploy(deploy_args("single", &[flaky.target()], &["single.test"], &[]))
        .await
        .expect("deploy");
    failing.store(true, Ordering::SeqCst);

    let health = |name: &'static str| {
        let proxy = &proxy;
        async move {
            proxy
                .call(ControlRequest::List)
                .await
                .ok()
                .and_then(|response| response.services)
                .and_then(|services| services.get(name).map(|service| service.health.clone()))
                .unwrap_or_default()
        }
    };
    let unhealthy = format!("{} unhealthy", flaky.target());
    assert!(
        eventually(Duration::from_secs(5), || async {
            health("pair").await == unhealthy
        })
        .await,
        "list reports the failing target: {}",
        health("pair").await
    );
    let client = http_client();
    for _ in 0..6 {
        assert_eq!(get(&client, &proxy, "pair.test", "/").await.body, "steady");
    }
    // A lone target that fails is still the best there is: it keeps serving (as in Go), and list says so.
    assert!(
        eventually(Duration::from_secs(5), || async {
            health("single").await == unhealthy
        })
        .await
    );
    assert_eq!(get(&client, &proxy, "single.test", "/").await.body, "flaky");

    // It comes back when its checks pass again.
    failing.store(false, Ordering::SeqCst);
    assert!(
        eventually(Duration::from_secs(5), || async {
            health("pair").await == "healthy"
        })
        .await
    );
    let mut seen = std::collections::HashSet::new();
    for _ in 0..4 {
        seen.insert(get(&client, &proxy, "pair.test", "/").await.body);
    }
    assert_eq!(seen.len(), 2, "both targets serve again: {seen:?}");
}

// ACME issuance against pebble (HTTP-01, TLS-ALPN-01, renewal, on-demand TLS) is in tests/acme.rs.

/// A cache entry written by the Go proxy (autocert: SEC1 `EC PRIVATE KEY`, then the chain) is served as is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificates_cached_by_the_go_proxy_are_served() {
    let proxy = Proxy::start().await;
    let issued = issue_certificate(proxy.directory.path(), &["cached.test"], None);
    let Ok(converted) = std::process::Command::new("openssl")
        .args(["ec", "-in", &issued.key_path])
        .output()
    else {
        eprintln!("skipped: openssl is not installed to write a SEC1 key");
        return;
    };
    let sec1 = String::from_utf8_lossy(&converted.stdout).into_owned();
    assert!(sec1.contains("BEGIN EC PRIVATE KEY"), "{sec1}");
    let cache = proxy.directory.path().join("certs");
    let scoped = kamal_proxy::acme::scoped_cache_directory(&cache.display().to_string(), "");
    std::fs::create_dir_all(&scoped).expect("mkdir");
    let chain = std::fs::read_to_string(&issued.certificate_path).expect("cert");
    std::fs::write(scoped.join("cached.test"), format!("{sec1}{chain}")).expect("write");

    let upstream = Upstream::named("from go's cache").await;
    let mut args = deploy_args("web", &[upstream.target()], &["cached.test"], &[]);
    args.service_options.tls_enabled = true;
    args.service_options.acme_cache_path = cache.display().to_string();
    proxy.deploy(args).await.expect("deploy");
    let (_, status, body) = tls_get(&proxy, "cached.test", &issued.ca, false, "/")
        .await
        .expect("handshake");
    assert_eq!((status, body.as_str()), (StatusCode::OK, "from go's cache"));
}

/// A client that hangs up while the upstream is still thinking is logged with 499 (as Go does), and the
/// in-flight gauge comes back down.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_goes_away_is_logged_as_499() {
    kamal_proxy::logging::start_capture();
    let proxy = Proxy::start_with_metrics().await;
    let metrics_port = proxy.metrics.expect("metrics listener").port();
    let release = Arc::new(tokio::sync::Notify::new());
    let upstream = {
        let release = release.clone();
        Upstream::start(Arc::new(move |request: Request<Incoming>| {
            let release = release.clone();
            Box::pin(async move {
                if request.uri().path() != "/up" {
                    release.notified().await;
                }
                text(StatusCode::OK, "late")
            })
        }))
        .await
    };
    proxy
        .deploy(deploy_args("slow", &[upstream.target()], &[], &[]))
        .await
        .expect("deploy");
    let mut stream = TcpStream::connect(proxy.http).await.expect("connect");
    stream
        .write_all(b"GET /wait HTTP/1.1\r\nHost: x.test\r\nX-Request-ID: gone-499\r\n\r\n")
        .await
        .expect("write");
    let metrics = format!("http://127.0.0.1:{metrics_port}/");
    let client = http_client();
    let gauge = |value: &'static str| {
        let client = client.clone();
        let metrics = metrics.clone();
        async move {
            send(
                &client,
                Request::get(metrics)
                    .body(Full::new(Bytes::new()))
                    .expect("request"),
            )
            .await
            .is_ok_and(|answer| {
                answer.body.contains(&format!(
                    "kamal_proxy_http_in_flight_requests{{service=\"slow\"}} {value}\n"
                ))
            })
        }
    };
    assert!(
        eventually(Duration::from_secs(5), || gauge("1")).await,
        "the request is in flight"
    );
    drop(stream);
    let logged = eventually(Duration::from_secs(5), || async {
        kamal_proxy::logging::captured()
            .iter()
            .any(|line| line.contains("\"request_id\":\"gone-499\"") && line.contains("\"status\":499"))
    })
    .await;
    assert!(logged, "a 499 request line");
    assert!(
        eventually(Duration::from_secs(5), || gauge("0")).await,
        "the gauge comes back down"
    );
    release.notify_waiters();
}

/// `--scope-cookie-paths` (§7.9): an app mounted under `/api` sets cookies for its own paths; the browser
/// gets them under `/api`, and only for the request's host. Without the flag they pass as they are.
#[tokio::test]
async fn cookies_of_a_prefixed_service_are_scoped_to_its_prefix() {
    let upstream = Upstream::start(Arc::new(|_request: Request<Incoming>| {
        Box::pin(async move {
            let mut response = text(StatusCode::OK, "cookies");
            let headers = response.headers_mut();
            for cookie in [
                "session=abc; Path=/; HttpOnly; secure",
                "pref=dark; Path=/settings; Domain=app.test",
                "other=1; Path=/; Domain=cdn.test",
            ] {
                headers.append(http::header::SET_COOKIE, cookie.parse().expect("header"));
            }
            response
        })
    }))
    .await;
    let proxy = Proxy::start().await;
    let client = http_client();
    let set_cookies = |answer: &Answer| -> Vec<String> {
        answer
            .headers
            .get_all(http::header::SET_COOKIE)
            .iter()
            .map(|value| value.to_str().expect("text").to_string())
            .collect()
    };

    let mut args = deploy_args("api", &[upstream.target()], &["app.test"], &["/api"]);
    args.target_options.scope_cookie_paths = true;
    proxy.deploy(args).await.expect("deploy");
    let answer = get(&client, &proxy, "app.test:8080", "/api/login").await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(
        set_cookies(&answer),
        [
            "session=abc; Path=/api; HttpOnly; Secure",
            "pref=dark; Path=/api/settings; Domain=app.test",
            "other=1; Path=/; Domain=cdn.test",
        ]
    );

    let mut args = deploy_args("api", &[upstream.target()], &["app.test"], &["/api"]);
    args.target_options.scope_cookie_paths = false;
    proxy.deploy(args).await.expect("redeploy without scoping");
    let answer = get(&client, &proxy, "app.test", "/api/login").await;
    assert_eq!(
        set_cookies(&answer),
        [
            "session=abc; Path=/; HttpOnly; secure",
            "pref=dark; Path=/settings; Domain=app.test",
            "other=1; Path=/; Domain=cdn.test",
        ]
    );
}
