//! End-to-end behaviour of the proxy in-process: real upstreams, the real control socket, a real HTTP client.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::Full;
use kamal_proxy::control::protocol::{PauseArgs, Request as ControlRequest, StopArgs};
use support::*;
use tokio::sync::Notify;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routes_by_host_and_path_with_404_and_conflicts() {
    let proxy = Proxy::start().await;
    let client = http_client();
    let root = Upstream::named("root").await;
    let api = Upstream::named("api").await;
    let wild = Upstream::named("wild").await;
    let fallback = Upstream::named("fallback").await;
    proxy
        .deploy(deploy_args("root", &[root.target()], &["example.com"], &[]))
        .await
        .expect("deploy root");
    proxy
        .deploy(deploy_args("api", &[api.target()], &["example.com"], &["/api"]))
        .await
        .expect("deploy api");
    proxy
        .deploy(deploy_args("wild", &[wild.target()], &["*.example.com"], &[]))
        .await
        .expect("deploy wild");
    proxy
        .deploy(deploy_args("fallback", &[fallback.target()], &[], &[]))
        .await
        .expect("deploy fallback");

    assert_eq!(get(&client, &proxy, "example.com", "/").await.body, "root");
    assert_eq!(
        get(&client, &proxy, "example.com", "/api/users").await.body,
        "api"
    );
    assert_eq!(get(&client, &proxy, "example.com", "/apiary").await.body, "root");
    assert_eq!(get(&client, &proxy, "app.example.com", "/").await.body, "wild");
    assert_eq!(
        get(&client, &proxy, "a.b.example.com", "/").await.body,
        "fallback"
    );
    assert_eq!(
        get(&client, &proxy, "other.test:8080", "/").await.body,
        "fallback"
    );

    // Conflicts: same host and prefix on another service; the first keeps serving.
    let conflict = proxy
        .deploy(deploy_args(
            "thief",
            &[api.target()],
            &["example.com"],
            &["/api/"],
        ))
        .await;
    assert_eq!(
        conflict,
        Err("host settings conflict with another service".to_string())
    );
    assert_eq!(get(&client, &proxy, "example.com", "/api").await.body, "api");

    // No fall-through from an exact host whose prefixes do not match.
    let paths = Upstream::named("paths").await;
    proxy
        .deploy(deploy_args(
            "paths",
            &[paths.target()],
            &["paths.test"],
            &["/first"],
        ))
        .await
        .expect("deploy");
    let missing = get(&client, &proxy, "paths.test", "/third").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert!(missing.body.contains("<h1>404</h1>"));
    assert_eq!(header(&missing, "content-type"), "text/html; charset=utf-8");

    // Removal frees the host for the fallback.
    proxy
        .call(ControlRequest::Remove {
            service: "wild".into(),
        })
        .await
        .expect("remove");
    assert_eq!(
        get(&client, &proxy, "app.example.com", "/").await.body,
        "fallback"
    );
    let unknown = proxy
        .call(ControlRequest::Remove {
            service: "wild".into(),
        })
        .await;
    assert_eq!(unknown.err().as_deref(), Some("service not found"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strips_prefixes_and_rewrites_forwarding_headers() {
    let proxy = Proxy::start().await;
    let client = http_client();
    let upstream = echo_upstream().await;
    let mut args = deploy_args("app", &[upstream.target()], &["example.com"], &["/app"]);
    args.target_options.forward_headers = false;
    proxy.deploy(args).await.expect("deploy");

    let answer = get_with(
        &client,
        &proxy,
        "example.com",
        "/app/show?p1=a;b;c&p2=%x",
        &[
            ("x-forwarded-for", "203.0.113.9"),
            ("x-request-id", "keep-me"),
            ("x-kamal-target", "spoof"),
        ],
    )
    .await;
    let seen = echoed(&answer);
    assert_eq!(seen["uri"], "/show?p1=a;b;c&p2=%x");
    assert_eq!(seen["x-forwarded-for"], "127.0.0.1");
    assert_eq!(seen["x-forwarded-proto"], "http");
    assert_eq!(seen["x-forwarded-host"], "example.com");
    assert_eq!(seen["host"], "example.com");
    assert_eq!(seen["x-request-id"], "keep-me");
    assert_eq!(seen["x-kamal-target"], upstream.target());
    assert!(seen["x-request-start"].starts_with("t="));

    let mut trusted = deploy_args("app", &[upstream.target()], &["example.com"], &["/app"]);
    trusted.service_options.strip_prefix = false;
    proxy.deploy(trusted).await.expect("redeploy");
    let answer = get_with(
        &client,
        &proxy,
        "example.com",
        "/app",
        &[("x-forwarded-for", "203.0.113.9")],
    )
    .await;
    let seen = echoed(&answer);
    assert_eq!(seen["uri"], "/app");
    assert_eq!(seen["x-forwarded-for"], "203.0.113.9, 127.0.0.1");
    assert!(seen["x-request-id"].len() >= 32, "a request id is generated");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_health_check_keeps_the_old_target_and_says_what_it_saw() {
    let proxy = Proxy::start().await;
    let client = http_client();
    let good = Upstream::named("good").await;
    proxy
        .deploy(deploy_args("web", &[good.target()], &[], &[]))
        .await
        .expect("deploy good");
    let state_before = std::fs::read_to_string(&proxy.state).expect("state written");

    let sick = Upstream::start(Arc::new(|_| {
        Box::pin(async { text(StatusCode::INTERNAL_SERVER_ERROR, "boom") })
    }))
    .await;
    let mut args = deploy_args("web", &[sick.target()], &[], &[]);
    args.deployment_options.deploy_timeout = Duration::from_millis(300);
    let error = proxy.deploy(args).await.expect_err("deploy fails");
    assert!(
        error.starts_with("target failed to become healthy within configured timeout (300ms)"),
        "{error}"
    );
    assert!(error.contains(&format!("http://{}/up", sick.target())), "{error}");
    assert!(error.contains("unexpected status (500)"), "{error}");
    assert_eq!(get(&client, &proxy, "any.test", "/").await.body, "good");
    assert_eq!(
        std::fs::read_to_string(&proxy.state).expect("state"),
        state_before,
        "state untouched"
    );

    // A target nobody listens on reports the connection error.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("address");
    let mut args = deploy_args("web", &[closed.to_string()], &[], &[]);
    args.deployment_options.deploy_timeout = Duration::from_millis(300);
    let error = proxy.deploy(args).await.expect_err("deploy fails");
    assert!(error.to_lowercase().contains("connection refused"), "{error}");

    // Bad target names are refused before any check.
    let error = proxy
        .deploy(deploy_args("web", &["http://x".into()], &[], &[]))
        .await
        .expect_err("invalid");
    assert_eq!(error, "http://x :invalid host pattern");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploy_drains_slow_requests_before_returning() {
    let proxy = Proxy::start().await;
    let client = http_client();
    let release = Arc::new(Notify::new());
    let arrived = Arc::new(AtomicUsize::new(0));
    let old = {
        let release = release.clone();
        let arrived = arrived.clone();
        Upstream::start(Arc::new(move |request: Request<hyper::body::Incoming>| {
            let release = release.clone();
            let arrived = arrived.clone();
            Box::pin(async move {
                if request.uri().path() == "/slow" {
                    arrived.fetch_add(1, Ordering::SeqCst);
                    release.notified().await;
                }
                text(StatusCode::OK, "old")
            })
        }))
        .await
    };
    let new = Upstream::named("new").await;
    proxy
        .deploy(deploy_args("web", &[old.target()], &[], &[]))
        .await
        .expect("deploy old");

    let slow = tokio::spawn({
        let client = client.clone();
        let url = proxy.url("/slow");
        async move {
            send(
                &client,
                Request::get(url)
                    .header("host", "x.test")
                    .body(Full::new(Bytes::new()))
                    .expect("req"),
            )
            .await
        }
    });
    assert!(
        eventually(Duration::from_secs(5), || async {
            arrived.load(Ordering::SeqCst) == 1
        })
        .await
    );

    let deploy = tokio::spawn({
        let socket = proxy.socket.clone();
        let args = deploy_args("web", &[new.target()], &[], &[]);
        async move { kamal_proxy::control::client::call(&socket, &ControlRequest::Deploy(Box::new(args))).await }
    });
    // New requests go to the new target while the old one drains...
    assert!(
        eventually(Duration::from_secs(5), || async {
            get(&client, &proxy, "x.test", "/").await.body == "new"
        })
        .await
    );
    // ...and the deploy has not returned, because the slow request is still in flight.
    assert!(!deploy.is_finished());
    release.notify_one();
    let slow = slow.await.expect("join").expect("slow response");
    assert_eq!((slow.status, slow.body.as_str()), (StatusCode::OK, "old"));
    deploy.await.expect("join").expect("deploy succeeds");

    // A request still running at the drain deadline is cancelled with 504.
    let stuck_arrived = Arc::new(AtomicUsize::new(0));
    let stuck = Upstream::start(Arc::new({
        let stuck_arrived = stuck_arrived.clone();
        move |request: Request<hyper::body::Incoming>| {
            let stuck_arrived = stuck_arrived.clone();
            Box::pin(async move {
                if request.uri().path() == "/stuck" {
                    stuck_arrived.fetch_add(1, Ordering::SeqCst);
                    std::future::pending::<()>().await;
                }
                text(StatusCode::OK, "stuck")
            })
        }
    }))
    .await;
    proxy
        .deploy(deploy_args("web", &[stuck.target()], &[], &[]))
        .await
        .expect("deploy stuck");
    let stuck_request = tokio::spawn({
        let client = client.clone();
        let url = proxy.url("/stuck");
        async move {
            send(
                &client,
                Request::get(url)
                    .header("host", "x.test")
                    .body(Full::new(Bytes::new()))
                    .expect("req"),
            )
            .await
        }
    });
    assert!(
        eventually(Duration::from_secs(5), || async {
            stuck_arrived.load(Ordering::SeqCst) == 1
        })
        .await
    );
    let mut args = deploy_args("web", &[new.target()], &[], &[]);
    args.deployment_options.drain_timeout = Duration::from_millis(200);
    proxy.deploy(args).await.expect("deploy over a stuck request");
    let answer = stuck_request.await.expect("join").expect("response");
    assert_eq!(answer.status, StatusCode::GATEWAY_TIMEOUT);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_resume_and_pause() {
    let proxy = Proxy::start().await;
    let client = http_client();
    let upstream = Upstream::named("app").await;
    proxy
        .deploy(deploy_args("web", &[upstream.target()], &[], &[]))
        .await
        .expect("deploy");

    let stop = StopArgs {
        service: "web".into(),
        drain_timeout: Duration::from_secs(1),
        message: "Back at <5>".into(),
    };
    proxy.call(ControlRequest::Stop(stop)).await.expect("stop");
    let stopped = get(&client, &proxy, "x.test", "/").await;
    assert_eq!(stopped.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        stopped.body.contains("<p>Back at &lt;5&gt;</p>"),
        "{}",
        stopped.body
    );
    let health = get(&client, &proxy, "x.test", "/up?x=1").await;
    assert_eq!((health.status, health.body.as_str()), (StatusCode::OK, ""));
    let listed = proxy
        .call(ControlRequest::List)
        .await
        .expect("list")
        .services
        .expect("services");
    assert_eq!(listed["web"].state, "stopped");

    proxy
        .call(ControlRequest::Resume {
            service: "web".into(),
        })
        .await
        .expect("resume");
    assert_eq!(get(&client, &proxy, "x.test", "/").await.body, "app");

    // Paused: requests wait, and go through on resume.
    let pause = PauseArgs {
        service: "web".into(),
        drain_timeout: Duration::from_secs(1),
        pause_timeout: Duration::from_secs(10),
    };
    proxy.call(ControlRequest::Pause(pause)).await.expect("pause");
    let waiting = tokio::spawn({
        let client = client.clone();
        let url = proxy.url("/");
        async move {
            send(
                &client,
                Request::get(url)
                    .header("host", "x.test")
                    .body(Full::new(Bytes::new()))
                    .expect("req"),
            )
            .await
        }
    });
    let start = tokio::time::Instant::now();
    // Give the request a chance to reach the pause gate; it must still be waiting.
    assert!(!eventually(Duration::from_millis(150), || async { waiting.is_finished() }).await);
    proxy
        .call(ControlRequest::Resume {
            service: "web".into(),
        })
        .await
        .expect("resume");
    let released = waiting.await.expect("join").expect("response");
    assert_eq!((released.status, released.body.as_str()), (StatusCode::OK, "app"));
    assert!(start.elapsed() < Duration::from_secs(5));

    // A pause that outlasts --max-pause gives 504.
    let pause = PauseArgs {
        service: "web".into(),
        drain_timeout: Duration::from_secs(1),
        pause_timeout: Duration::from_millis(100),
    };
    proxy.call(ControlRequest::Pause(pause)).await.expect("pause");
    let expired = get(&client, &proxy, "x.test", "/").await;
    assert_eq!(expired.status, StatusCode::GATEWAY_TIMEOUT);
    assert!(expired.body.contains("<h1>504</h1>"));

    let unknown = proxy
        .call(ControlRequest::Resume {
            service: "nope".into(),
        })
        .await;
    assert_eq!(unknown.err().as_deref(), Some("service not found"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custom_error_pages_with_message_and_fallback() {
    let proxy = Proxy::start().await;
    let client = http_client();
    let upstream = Upstream::named("app").await;
    let pages = tempfile::tempdir().expect("pages dir");
    std::fs::write(pages.path().join("503.html"), "<p>Custom: {{ .Message }}</p>").expect("write");
    let mut args = deploy_args("web", &[upstream.target()], &[], &[]);
    args.service_options.error_page_path = pages.path().display().to_string();
    proxy.deploy(args).await.expect("deploy");

    let stop = StopArgs {
        service: "web".into(),
        drain_timeout: Duration::from_secs(1),
        message: "Upgrading".into(),
    };
    proxy.call(ControlRequest::Stop(stop)).await.expect("stop");
    let answer = get(&client, &proxy, "x.test", "/").await;
    assert_eq!(
        (answer.status, answer.body.as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, "<p>Custom: Upgrading</p>")
    );

    // A missing directory fails the deploy and leaves the service as it was.
    let mut bad = deploy_args("web", &[upstream.target()], &[], &[]);
    bad.service_options.error_page_path = "/nonexistent/kamal-proxy/pages".into();
    assert_eq!(
        proxy.deploy(bad).await.err().as_deref(),
        Some("unable to load error pages")
    );
    assert_eq!(
        get(&client, &proxy, "x.test", "/").await.body,
        "<p>Custom: Upgrading</p>"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_failures_map_to_502_and_504() {
    let proxy = Proxy::start().await;
    let client = http_client();
    let slow = Upstream::start(Arc::new(|request: Request<hyper::body::Incoming>| {
        Box::pin(async move {
            if request.uri().path() == "/slow" {
                // Never answers: past the response timeout whatever the machine's speed.
                std::future::pending::<()>().await;
            }
            text(StatusCode::IM_A_TEAPOT, "teapot")
        })
    }))
    .await;
    let mut args = deploy_args("web", &[slow.target()], &[], &[]);
    args.target_options.health_check_config.path = "/up".into();
    args.target_options.response_timeout = Duration::from_millis(200);
    // The teapot answers health checks with 418, so skip the gate and let a 2xx-less target be used.
    args.deployment_options.force = true;
    proxy.deploy(args).await.expect("deploy");
    // --force still needs a passing check before traffic flows: 503 meanwhile.
    let early = get(&client, &proxy, "x.test", "/").await;
    assert_eq!(early.status, StatusCode::SERVICE_UNAVAILABLE);

    let healthy = Upstream::start(Arc::new(|request: Request<hyper::body::Incoming>| {
        Box::pin(async move {
            match request.uri().path() {
                "/slow" => std::future::pending().await,
                "/teapot" => text(StatusCode::IM_A_TEAPOT, "short and stout"),
                _ => text(StatusCode::OK, "ok"),
            }
        })
    }))
    .await;
    let mut args = deploy_args("web", &[healthy.target()], &[], &[]);
    args.target_options.response_timeout = Duration::from_millis(200);
    proxy.deploy(args).await.expect("deploy");
    let timeout = get(&client, &proxy, "x.test", "/slow").await;
    assert_eq!(timeout.status, StatusCode::GATEWAY_TIMEOUT);
    // Upstream error bodies pass through untouched.
    let teapot = get(&client, &proxy, "x.test", "/teapot").await;
    assert_eq!(
        (teapot.status, teapot.body.as_str()),
        (StatusCode::IM_A_TEAPOT, "short and stout")
    );

    let address = healthy.address;
    drop(healthy);
    // Wait until the port really refuses connections.
    assert!(
        eventually(Duration::from_secs(5), || async move {
            tokio::net::TcpStream::connect(address).await.is_err()
        })
        .await
    );
    let fresh = http_client();
    let unreachable = get(&fresh, &proxy, "x.test", "/").await;
    assert_eq!(unreachable.status, StatusCode::BAD_GATEWAY);
    assert!(unreachable.body.contains("<h1>502</h1>"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restores_a_go_written_state_file_keeping_good_services() {
    let upstream = Upstream::named("restored").await;
    let reader = Upstream::named("reader").await;
    let directory = tempfile::tempdir().expect("temp dir");
    // Written from the spec's example (§2.4), plus a legacy-shaped service and one that cannot be restored.
    let fixture = format!(
        r#"[{{"name":"app-web","options":{{"hosts":["app.example.com"],"path_prefixes":["/"],"tls_enabled":false,"tls_certificate_path":"","tls_private_key_path":"","tls_on_demand_url":"","tls_redirect":true,"canonical_host":"","acme_directory":"","acme_cache_path":"/home/kamal-proxy/.config/kamal-proxy/certs","error_page_path":"","strip_prefix":true,"writer_affinity_timeout":1000000000,"read_targets_accept_websockets":false,"exclude_metrics_paths":null,"client_ip_header":""}},"target_options":{{"health_check_config":{{"path":"/up","port":0,"interval":1000000000,"timeout":5000000000,"host":""}},"response_timeout":30000000000,"buffer_requests":true,"buffer_responses":true,"max_memory_buffer_size":1048576,"max_request_body_size":0,"max_response_body_size":0,"log_request_headers":["Cache-Control"],"log_response_headers":null,"forward_headers":false,"scope_cookie_paths":false}},"active_targets":["{target}"],"active_readers":["{reader}"],"rollout_targets":null,"rollout_readers":null,"pause_controller":{{"state":0,"stop_message":"","fail_after":0}},"rollout_controller":null}},
{{"name":"legacy","hosts":["legacy.example.com"],"active_target":"{target}","options":{{}},"target_options":{{"health_check_config":{{"path":"/up","interval":1000000000,"timeout":5000000000}},"response_timeout":30000000000}},"pause_controller":{{"state":2,"stop_message":"Gone fishing","fail_after":0}}}},
{{"name":"broken","options":{{"hosts":["broken.example.com"],"error_page_path":"/nonexistent/pages"}},"target_options":{{}},"active_targets":["{target}"]}}]
"#,
        target = upstream.target(),
        reader = reader.target(),
    );
    std::fs::write(directory.path().join("kamal-proxy.state"), fixture).expect("write fixture");
    let proxy = Proxy::start_in(directory).await;
    let client = http_client();

    // Restored targets are healthy at once, without waiting for a check.
    let answer = get_with(&client, &proxy, "app.example.com", "/", &[("cookie", "x=1")]).await;
    assert!(answer.body == "restored" || answer.body == "reader");
    let post = send(
        &client,
        Request::post(proxy.url("/"))
            .header("host", "app.example.com")
            .body(Full::new(Bytes::new()))
            .expect("req"),
    )
    .await
    .expect("response");
    assert_eq!(post.body, "restored", "writes go to the writer");
    assert!(
        header(&post, "set-cookie").starts_with("kamal-writer="),
        "writer affinity cookie"
    );
    let legacy = get(&client, &proxy, "legacy.example.com", "/").await;
    assert_eq!(legacy.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(legacy.body.contains("Gone fishing"));
    assert_eq!(
        get(&client, &proxy, "broken.example.com", "/").await.status,
        StatusCode::NOT_FOUND
    );

    let listed = proxy
        .call(ControlRequest::List)
        .await
        .expect("list")
        .services
        .expect("services");
    assert_eq!(listed.keys().collect::<Vec<_>>(), vec!["app-web", "legacy"]);
    assert_eq!(listed["legacy"].state, "stopped");

    // Any change rewrites the file in the current format, legacy keys folded in.
    proxy
        .call(ControlRequest::Resume {
            service: "legacy".into(),
        })
        .await
        .expect("resume");
    let saved = std::fs::read_to_string(&proxy.state).expect("state");
    assert!(saved.contains(r#""active_targets":[""#) && !saved.contains("active_target\""));
    assert!(saved.contains(r#""writer_affinity_timeout":1000000000"#));
    let directory = proxy.shutdown().await;

    // And a restart restores the same services and routing.
    let proxy = Proxy::start_in(directory).await;
    assert_eq!(
        get(&client, &proxy, "legacy.example.com", "/").await.body,
        "restored"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_upgrades_and_server_sent_events_pass_through() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    // Upstream: answers the upgrade with 101 and echoes bytes back; streams SSE events one by one.
    let upstream = Upstream::start(Arc::new(|mut request: Request<hyper::body::Incoming>| {
        Box::pin(async move {
            if request.uri().path() == "/events" {
                let (sender, receiver) = tokio::sync::mpsc::channel::<
                    Result<http_body::Frame<Bytes>, kamal_proxy::body::BoxError>,
                >(4);
                tokio::spawn(async move {
                    for index in 0..3 {
                        let _ = sender
                            .send(Ok(http_body::Frame::data(Bytes::from(format!(
                                "data: {index}\n\n"
                            )))))
                            .await;
                        // Events spaced out as a live stream sends them: the first must come through
                        // on its own, before the next is sent (not held back until the stream ends).
                        tokio::time::sleep(Duration::from_millis(30)).await;
                    }
                });
                let body = http_body_util::StreamBody::new(tokio_stream_from(receiver));
                let mut response = http::Response::new(http_body_util::BodyExt::boxed(body));
                response
                    .headers_mut()
                    .insert("content-type", "text/event-stream".parse().expect("value"));
                return response;
            }
            if request.headers().contains_key("upgrade") {
                let upgrade = hyper::upgrade::on(&mut request);
                tokio::spawn(async move {
                    if let Ok(upgraded) = upgrade.await {
                        let mut io = hyper_util::rt::TokioIo::new(upgraded);
                        let mut buffer = [0u8; 64];
                        while let Ok(read) = io.read(&mut buffer).await {
                            if read == 0 || io.write_all(&buffer[..read]).await.is_err() {
                                break;
                            }
                        }
                    }
                });
                let mut response = text(StatusCode::SWITCHING_PROTOCOLS, "");
                response
                    .headers_mut()
                    .insert("connection", "upgrade".parse().expect("value"));
                response
                    .headers_mut()
                    .insert("upgrade", "websocket".parse().expect("value"));
                return response;
            }
            text(StatusCode::OK, "ok")
        })
    }))
    .await;
    let proxy = Proxy::start().await;
    proxy
        .deploy(deploy_args("web", &[upstream.target()], &[], &[]))
        .await
        .expect("deploy");

    let mut stream = tokio::net::TcpStream::connect(proxy.http).await.expect("connect");
    stream
        .write_all(b"GET /socket HTTP/1.1\r\nHost: x.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
        .await
        .expect("write");
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        stream.read_exact(&mut byte).await.expect("read head");
        head.push(byte[0]);
    }
    assert!(
        String::from_utf8_lossy(&head).starts_with("HTTP/1.1 101"),
        "{}",
        String::from_utf8_lossy(&head)
    );
    stream.write_all(b"ping").await.expect("write frame");
    let mut echoed_bytes = [0u8; 4];
    tokio::time::timeout(Duration::from_secs(5), stream.read_exact(&mut echoed_bytes))
        .await
        .expect("in time")
        .expect("read");
    assert_eq!(&echoed_bytes, b"ping");

    // Redeploying cuts the upgraded connection at once instead of waiting for the drain timeout.
    let other = Upstream::named("other").await;
    let mut args = deploy_args("web", &[other.target()], &[], &[]);
    args.deployment_options.drain_timeout = Duration::from_secs(30);
    let started = tokio::time::Instant::now();
    proxy.deploy(args).await.expect("deploy");
    assert!(started.elapsed() < Duration::from_secs(5));
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut rest)).await;
    assert!(closed.is_ok(), "the upgraded connection was closed");

    // SSE: events arrive as they are sent, not at the end.
    proxy
        .deploy(deploy_args("web", &[upstream.target()], &[], &[]))
        .await
        .expect("deploy back");
    let client = http_client();
    let response = client
        .request(
            Request::get(proxy.url("/events"))
                .header("host", "x.test")
                .body(Full::new(Bytes::new()))
                .expect("req"),
        )
        .await
        .expect("response");
    let mut body = response.into_body();
    let first = tokio::time::timeout(Duration::from_secs(5), http_body_util::BodyExt::frame(&mut body))
        .await
        .expect("first event in time")
        .expect("frame")
        .expect("ok");
    assert_eq!(first.into_data().ok().as_deref(), Some(&b"data: 0\n\n"[..]));
}

/// Adapts an mpsc receiver into a stream of frames without pulling in tokio-stream.
fn tokio_stream_from<T: Send + 'static>(
    mut receiver: tokio::sync::mpsc::Receiver<T>,
) -> impl futures_core_stream::Stream<Item = T> {
    futures_core_stream::from_fn(move |context| receiver.poll_recv(context))
}

mod futures_core_stream {
    pub use futures_core::Stream;

    pub struct FromFn<F>(F);

    pub fn from_fn<T, F: FnMut(&mut std::task::Context<'_>) -> std::task::Poll<Option<T>> + Unpin>(
        function: F,
    ) -> FromFn<F> {
        FromFn(function)
    }

    impl<T, F: FnMut(&mut std::task::Context<'_>) -> std::task::Poll<Option<T>> + Unpin> Stream for FromFn<F> {
        type Item = T;

        fn poll_next(
            self: std::pin::Pin<&mut Self>,
            context: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Option<T>> {
            (self.get_mut().0)(context)
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_clear_errors_and_the_server_keeps_running() {
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};

    let proxy = Proxy::start().await;
    let client = http_client();
    let upstream = Upstream::named("app").await;
    proxy
        .deploy(deploy_args("web", &[upstream.target()], &[], &[]))
        .await
        .expect("deploy");

    // Garbage on the control socket.
    let mut socket = tokio::net::UnixStream::connect(&proxy.socket)
        .await
        .expect("connect");
    socket.write_all(b"\x00\x01garbage{{{\n").await.expect("write");
    let mut answer = String::new();
    tokio::io::BufReader::new(&mut socket)
        .read_line(&mut answer)
        .await
        .expect("read");
    assert!(answer.contains("invalid request"), "{answer}");
    // A client that connects and hangs up without a word.
    drop(
        tokio::net::UnixStream::connect(&proxy.socket)
            .await
            .expect("connect"),
    );

    // Invalid options are refused by the server too.
    let mut args = deploy_args("web", &[upstream.target()], &[], &[]);
    args.service_options.tls_enabled = true;
    assert_eq!(
        proxy.deploy(args).await.err().as_deref(),
        Some("service options invalid: host must be set when using TLS")
    );

    // Oversized request headers: refused, and the server carries on.
    let mut stream = tokio::net::TcpStream::connect(proxy.http).await.expect("connect");
    let huge = "a".repeat(2 << 20);
    let request = format!("GET / HTTP/1.1\r\nHost: x.test\r\nX-Huge: {huge}\r\n\r\n");
    let _ = stream.write_all(request.as_bytes()).await;
    let mut reply = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut reply)).await;
    let reply = String::from_utf8_lossy(&reply);
    assert!(reply.is_empty() || reply.starts_with("HTTP/1.1 431"), "{reply}");

    assert_eq!(get(&client, &proxy, "x.test", "/").await.body, "app");
    let listed = proxy.call(ControlRequest::List).await.expect("list");
    assert!(listed
        .services
        .is_some_and(|services| services.contains_key("web")));
}

/// Found on the test bed: an HTTP/1.0 upstream (Python's `http.server`) made the proxy answer an HTTP/1.1 client
/// with `HTTP/1.0 200 OK`, and header names went out lower-cased both ways. Go answers `HTTP/1.1` and writes
/// canonical names (`Content-Type`, `Etag`) to clients and upstreams.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_1_0_upstream_still_gets_an_http_1_1_status_line_and_canonical_header_names() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    // A raw upstream that speaks HTTP/1.0 with lower-case names and records the request heads it receives.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let upstream = listener.local_addr().expect("address").to_string();
    let (heads, mut received) = tokio::sync::mpsc::unbounded_channel::<String>();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let heads = heads.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    match stream.read(&mut byte).await {
                        Ok(1) => head.push(byte[0]),
                        _ => return,
                    }
                }
                let _ = heads.send(String::from_utf8_lossy(&head).into_owned());
                let _ = stream
                    .write_all(b"HTTP/1.0 200 OK\r\ncontent-type: text/plain\r\netag: \"v1\"\r\ncontent-length: 2\r\n\r\nok")
                    .await;
            });
        }
    });
    let proxy = Proxy::start().await;
    proxy
        .deploy(deploy_args("web", &[upstream], &[], &[]))
        .await
        .expect("deploy");

    let mut client = tokio::net::TcpStream::connect(proxy.http).await.expect("connect");
    for round in 0..2 {
        client
            .write_all(b"GET /page HTTP/1.1\r\nhost: example.com\r\nuser-agent: probe\r\n\r\n")
            .await
            .expect("write");
        let mut reply = Vec::new();
        let mut chunk = [0u8; 1024];
        while !reply.ends_with(b"\r\n\r\nok") {
            let read = tokio::time::timeout(Duration::from_secs(5), client.read(&mut chunk))
                .await
                .expect("reply in time")
                .expect("read");
            assert!(
                read > 0,
                "round {round}: the connection closed: {}",
                String::from_utf8_lossy(&reply)
            );
            reply.extend_from_slice(&chunk[..read]);
        }
        let reply = String::from_utf8_lossy(&reply);
        assert!(reply.starts_with("HTTP/1.1 200 OK\r\n"), "{reply}");
        assert!(reply.contains("\r\nContent-Type: text/plain\r\n"), "{reply}");
        assert!(reply.contains("\r\nEtag: \"v1\"\r\n"), "{reply}");
        assert!(!reply.contains("onnection: close"), "{reply}");

        // Health checks go on every 20 ms after the deploy; the request is the first head that is not one.
        let head = tokio::time::timeout(Duration::from_secs(5), async {
            loop {
                let head = received.recv().await.expect("upstream request");
                if !head.starts_with("GET /up ") {
                    return head;
                }
            }
        })
        .await
        .expect("upstream request in time");
        assert!(head.starts_with("GET /page HTTP/1.1\r\n"), "{head}");
        for name in [
            "Host: example.com",
            "User-Agent: probe",
            "X-Forwarded-For: ",
            "X-Request-Id: ",
        ] {
            assert!(head.contains(&format!("\r\n{name}")), "{name} in {head}");
        }
    }
}

/// A raw HTTP/1.1 upstream answering `ok` with keep-alive; `close_after_each` closes every connection right after
/// its answer without saying so, as an upstream whose keep-alive timeout passed does. Returns the address and
/// the number of connections that carried requests other than health checks.
async fn counting_upstream(close_after_each: bool) -> (String, Arc<AtomicUsize>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("address").to_string();
    let proxied_connections = Arc::new(AtomicUsize::new(0));
    let counter = proxied_connections.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let counter = counter.clone();
            tokio::spawn(async move {
                let mut counted = false;
                loop {
                    let mut head = Vec::new();
                    let mut byte = [0u8; 1];
                    while !head.ends_with(b"\r\n\r\n") {
                        match stream.read(&mut byte).await {
                            Ok(1) => head.push(byte[0]),
                            _ => return,
                        }
                    }
                    if !head.starts_with(b"GET /up ") && !counted {
                        counted = true;
                        counter.fetch_add(1, Ordering::SeqCst);
                    }
                    let answer = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
                    if stream.write_all(answer).await.is_err() || close_after_each {
                        return;
                    }
                }
            });
        }
    });
    (address, proxied_connections)
}

/// Writes `request` and reads until the reply ends with `body`.
async fn raw_exchange(stream: &mut tokio::net::TcpStream, request: &str, body: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    stream.write_all(request.as_bytes()).await.expect("write");
    let mut reply = Vec::new();
    let mut chunk = [0u8; 1024];
    while !reply.ends_with(format!("\r\n\r\n{body}").as_bytes()) {
        let read = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut chunk))
            .await
            .expect("reply in time")
            .expect("read");
        assert!(
            read > 0,
            "the connection closed: {}",
            String::from_utf8_lossy(&reply)
        );
        reply.extend_from_slice(&chunk[..read]);
    }
    String::from_utf8_lossy(&reply).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_connections_are_kept_alive_and_closed_ones_replaced() {
    let proxy = Proxy::start().await;
    let client = http_client();

    let (kept, kept_connections) = counting_upstream(false).await;
    proxy
        .deploy(deploy_args("kept", &[kept], &["kept.example"], &[]))
        .await
        .expect("deploy");
    // One client connection is served by one worker thread, which keeps one upstream connection.
    let mut connection = tokio::net::TcpStream::connect(proxy.http).await.expect("connect");
    for round in 0..20 {
        let reply = raw_exchange(
            &mut connection,
            "GET / HTTP/1.1\r\nhost: kept.example\r\n\r\n",
            "ok",
        )
        .await;
        assert!(reply.starts_with("HTTP/1.1 200 OK\r\n"), "round {round}: {reply}");
    }
    assert_eq!(kept_connections.load(Ordering::SeqCst), 1);

    // Every pooled connection is gone by the next request: each must get a fresh one, never a 502.
    let (closing, closing_connections) = counting_upstream(true).await;
    proxy
        .deploy(deploy_args("closing", &[closing], &["closing.example"], &[]))
        .await
        .expect("deploy");
    for round in 0..20 {
        let answer = get(&client, &proxy, "closing.example", "/").await;
        assert_eq!(answer.status, StatusCode::OK, "round {round}");
        assert_eq!(answer.body, "ok");
    }
    assert_eq!(closing_connections.load(Ordering::SeqCst), 20);
}
