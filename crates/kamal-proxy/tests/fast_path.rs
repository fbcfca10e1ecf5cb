//! The HTTP/1.1 fast path ([`kamal_proxy::h1`]) against the general pipeline (hyper), with raw clients on
//! 127.0.0.1: the same bytes to the upstream and back to the client for the same requests, connections that
//! move to the general pipeline mid-way, and large bodies moved socket to socket.

mod support;

use std::sync::Arc;

use bytes::Bytes;
use http::{Request, StatusCode};
use hyper::body::Incoming;
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const BIG: usize = 3 * 1024 * 1024 + 17;

fn big_body() -> Bytes {
    Bytes::from((0..BIG).map(|index| (index % 251) as u8).collect::<Vec<u8>>())
}

/// Echoes the request (target and header fields, sorted) for most paths; `/big` is [`BIG`] bytes, `/head`
/// answers HEAD with a length and no body.
async fn upstream() -> Upstream {
    Upstream::start(Arc::new(|request: Request<Incoming>| {
        Box::pin(async move {
            if request.uri().path() == "/big" {
                let mut response = http::Response::new(kamal_proxy::body::full(big_body()));
                response.headers_mut().insert(
                    "content-type",
                    http::HeaderValue::from_static("application/octet-stream"),
                );
                return response;
            }
            let mut lines: Vec<String> = request
                .headers()
                .iter()
                .map(|(name, value)| format!("{}: {}", name, value.to_str().unwrap_or_default()))
                .collect();
            lines.sort();
            lines.insert(0, format!("{} {}", request.method(), request.uri()));
            let mut response = text(StatusCode::OK, lines.join("\n"));
            response
                .headers_mut()
                .insert("x-upstream", http::HeaderValue::from_static("yes"));
            response
                .headers_mut()
                .insert("connection", http::HeaderValue::from_static("x-upstream-secret"));
            response
                .headers_mut()
                .insert("x-upstream-secret", http::HeaderValue::from_static("hidden"));
            response
        })
    }))
    .await
}

async fn proxy(fast_path: bool, upstream: &Upstream) -> Proxy {
    let proxy = Proxy::start_configured(tempfile::tempdir().expect("dir"), |settings| {
        settings.fast_path = fast_path;
    })
    .await;
    let mut plain = deploy_args("plain", &[upstream.target()], &["plain.test"], &[]);
    plain.target_options.forward_headers = false;
    proxy.deploy(plain).await.expect("deploy plain");
    let trusted = deploy_args("trusted", &[upstream.target()], &["trusted.test"], &[]);
    proxy.deploy(trusted).await.expect("deploy trusted");
    let prefixed = deploy_args("prefixed", &[upstream.target()], &["plain.test"], &["/app"]);
    proxy.deploy(prefixed).await.expect("deploy prefixed");
    // Response buffering in memory (the body fits), and spilled to disk (it does not).
    for (name, memory) in [("buffered", 4 << 20), ("spilled", 1 << 20)] {
        let host = format!("{name}.test");
        let mut args = deploy_args(name, &[upstream.target()], &[host.as_str()], &[]);
        args.target_options.buffer_responses = true;
        args.target_options.max_memory_buffer_size = memory;
        proxy.deploy(args).await.expect("deploy buffered");
    }
    proxy
}

/// Reads `count` responses (each framed by `Content-Length`, or without a body for HEAD) off `stream`.
async fn read_responses(stream: &mut TcpStream, heads_only: &[bool]) -> Vec<Vec<u8>> {
    let mut buffer = Vec::new();
    let mut responses = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    for &head_only in heads_only {
        loop {
            let mut fields = [httparse::EMPTY_HEADER; 64];
            let mut parsed = httparse::Response::new(&mut fields);
            if let Ok(httparse::Status::Complete(head)) = parsed.parse(&buffer) {
                let length: usize = parsed
                    .headers
                    .iter()
                    .find(|field| field.name.eq_ignore_ascii_case("content-length"))
                    .and_then(|field| std::str::from_utf8(field.value).ok()?.parse().ok())
                    .unwrap_or(0);
                let total = head + if head_only { 0 } else { length };
                if buffer.len() >= total {
                    responses.push(buffer.drain(..total).collect());
                    break;
                }
            }
            let read = tokio::time::timeout(std::time::Duration::from_secs(10), stream.read(&mut chunk))
                .await
                .expect("the proxy answers in time")
                .expect("read");
            assert!(read > 0, "closed early after {} responses", responses.len());
            buffer.extend_from_slice(&chunk[..read]);
        }
    }
    responses
}

/// A response as text without its `Date` field (the only part that may differ from one second to the next).
fn dateless(response: &[u8]) -> String {
    String::from_utf8_lossy(response)
        .split("\r\n")
        .filter(|line| !line.starts_with("Date: "))
        .collect::<Vec<_>>()
        .join("\r\n")
}

const REQUESTS: &[&str] = &[
    // Hop-by-hop fields (and one `Connection` names) go, spoofed forwarding fields are replaced.
    "GET /a%20b/c?x=1&y=%2F HTTP/1.1\r\nHost: plain.test\r\nUser-Agent: tester\r\nConnection: keep-alive, X-Secret\r\n\
     X-Secret: 1\r\nKeep-Alive: 5\r\nTE: trailers, deflate\r\nX-Forwarded-For: 1.2.3.4\r\nX-Forwarded-Host: evil.test\r\n\
     X-Forwarded-Proto: https\r\nForwarded: for=1.2.3.4\r\nX-Kamal-Target: spoofed\r\nCookie: a=b; kamal-writer=1\r\n\
     X-Request-ID: fixed-1\r\nX-Request-Start: t=1\r\nAccept: */*\r\nAccept: text/html\r\n\r\n",
    // With --forward-headers the client's values are kept and the peer added.
    "GET / HTTP/1.1\r\nHost: trusted.test:8080\r\nX-Forwarded-For: 1.2.3.4, 5.6.7.8\r\nX-Forwarded-For: 9.9.9.9\r\n\
     X-Forwarded-Host: original.test\r\nX-Forwarded-Proto: https\r\nX-Kamal-Target: first\r\nX-Request-ID: fixed-2\r\n\
     X-Request-Start: t=2\r\n\r\n",
    // A small body that came with the head.
    "POST /form HTTP/1.1\r\nHost: plain.test\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 7\r\n\
     X-Request-ID: fixed-3\r\nX-Request-Start: t=3\r\n\r\na=1&b=2",
    // A stripped prefix keeps the client's escaping.
    "GET /app/x%2Fy?q HTTP/1.1\r\nHost: plain.test\r\nX-Request-ID: fixed-4\r\nX-Request-Start: t=4\r\n\r\n",
    // HEAD: the upstream's length, no body.
    "HEAD /head HTTP/1.1\r\nHost: plain.test\r\nX-Request-ID: fixed-5\r\nX-Request-Start: t=5\r\n\r\n",
    // No route: the built-in 404 page.
    "GET / HTTP/1.1\r\nHost: nowhere.test\r\nX-Request-ID: fixed-6\r\n\r\n",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_paths_send_and_answer_the_same_bytes() {
    let upstream = upstream().await;
    let mut answers = Vec::new();
    for fast_path in [true, false] {
        let proxy = proxy(fast_path, &upstream).await;
        let mut stream = TcpStream::connect(proxy.http).await.expect("connect");
        let mut replies = Vec::new();
        for request in REQUESTS {
            stream.write_all(request.as_bytes()).await.expect("write");
            let head_only = request.starts_with("HEAD");
            replies.push(dateless(&read_responses(&mut stream, &[head_only]).await[0]));
        }
        answers.push(replies);
    }
    for (index, (fast, general)) in answers[0].iter().zip(&answers[1]).enumerate() {
        assert_eq!(fast, general, "request {index}:\n{}", REQUESTS[index]);
    }
    // And what they answer is right (not merely the same).
    let first = &answers[0][0];
    assert!(first.starts_with("HTTP/1.1 200 OK\r\n"), "{first}");
    assert!(first.contains("GET /a%20b/c?x=1&y=%2F\n"), "{first}");
    assert!(first.contains("x-forwarded-for: 127.0.0.1\n"), "{first}");
    assert!(first.contains("x-forwarded-host: plain.test\n"), "{first}");
    assert!(first.contains("x-forwarded-proto: http\n"), "{first}");
    assert!(first.contains("te: trailers\n"), "{first}");
    assert!(first.contains("accept: */*\naccept: text/html\n"), "{first}");
    assert!(first.contains("X-Upstream: yes\r\n"), "{first}");
    for gone in [
        "x-secret",
        "keep-alive",
        "forwarded:",
        "X-Upstream-Secret",
        "spoofed",
        "evil.test",
    ] {
        assert!(!first.contains(gone), "{gone} in {first}");
    }
    let trusted = &answers[0][1];
    assert!(
        trusted.contains("x-forwarded-for: 1.2.3.4, 5.6.7.8, 9.9.9.9, 127.0.0.1\n"),
        "{trusted}"
    );
    assert!(trusted.contains("x-forwarded-host: original.test\n"), "{trusted}");
    assert!(trusted.contains("x-kamal-target: first, 127.0.0.1:"), "{trusted}");
    assert!(answers[0][2].contains("POST /form\n") && answers[0][2].contains("content-length: 7\n"));
    assert!(answers[0][3].contains("GET /x%2Fy?q\n"), "{}", answers[0][3]);
    assert!(answers[0][4].starts_with("HTTP/1.1 200 OK\r\n") && answers[0][4].contains("Content-Length: "));
    assert!(
        answers[0][5].starts_with("HTTP/1.1 404 Not Found\r\n"),
        "{}",
        answers[0][5]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_moves_to_the_general_pipeline_mid_way_in_order() {
    let upstream = upstream().await;
    let proxy = proxy(true, &upstream).await;
    let mut stream = TcpStream::connect(proxy.http).await.expect("connect");
    // Pipelined in one write: fast, then chunked (general pipeline from here on), then what would be fast.
    stream
        .write_all(
            b"GET /one HTTP/1.1\r\nHost: plain.test\r\n\r\n\
              POST /two HTTP/1.1\r\nHost: plain.test\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n\
              GET /three HTTP/1.1\r\nHost: plain.test\r\n\r\n",
        )
        .await
        .expect("write");
    let replies = read_responses(&mut stream, &[false, false, false]).await;
    let replies: Vec<String> = replies.iter().map(|reply| dateless(reply)).collect();
    assert!(replies[0].contains("\r\n\r\nGET /one\n"), "{}", replies[0]);
    assert!(replies[1].contains("\r\n\r\nPOST /two\n"), "{}", replies[1]);
    assert!(
        replies[1].contains("transfer-encoding: chunked"),
        "{}",
        replies[1]
    );
    assert!(replies[2].contains("\r\n\r\nGET /three\n"), "{}", replies[2]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_bodies_arrive_whole_through_both_paths_and_are_logged_with_their_length() {
    kamal_proxy::logging::start_capture();
    let upstream = upstream().await;
    for fast_path in [true, false] {
        let proxy = proxy(fast_path, &upstream).await;
        let mut stream = TcpStream::connect(proxy.http).await.expect("connect");
        let id = format!("big-{fast_path}");
        // Twice on one connection (the upstream connection and the pipe are reused), then buffered.
        for host in ["plain.test", "plain.test", "buffered.test", "spilled.test"] {
            stream
                .write_all(
                    format!("GET /big HTTP/1.1\r\nHost: {host}\r\nX-Request-ID: {id}\r\n\r\n").as_bytes(),
                )
                .await
                .expect("write");
            let reply = read_responses(&mut stream, &[false]).await.remove(0);
            let body_start = reply
                .windows(4)
                .position(|window| window == b"\r\n\r\n")
                .expect("head")
                + 4;
            assert_eq!(reply.len() - body_start, BIG, "fast path {fast_path}, {host}");
            assert!(
                reply[body_start..] == big_body()[..],
                "fast path {fast_path}, {host}: the bytes themselves"
            );
        }
        let logged = eventually(std::time::Duration::from_secs(5), || {
            let id = id.clone();
            async move {
                kamal_proxy::logging::captured().iter().any(|line| {
                    line.contains(&format!("\"request_id\":\"{id}\""))
                        && line.contains(&format!("\"resp_content_length\":{BIG}"))
                        && line.contains("\"resp_content_type\":\"application/octet-stream\"")
                })
            }
        })
        .await;
        assert!(
            logged,
            "fast path {fast_path}: a request line with the whole length"
        );
    }
}
