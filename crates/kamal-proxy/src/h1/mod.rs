//! The HTTP/1.1 fast path for plain-HTTP connections.
//!
//! Most requests a proxy sees are simple: an HTTP/1.1 head with no body or a small one that arrived with it,
//! for a running service, answered by the upstream with a `Content-Length` body. For those, this module is
//! the server: it parses the head where it lies (`httparse`), routes it, writes the upstream request from the
//! client's bytes with the forwarding fields rebuilt, and writes the upstream's head back from its bytes;
//! no `HeaderMap`, no `Request`/`Response`, and large bodies move socket to socket with `splice(2)`. What it
//! produces is what the general pipeline ([`crate::proxy`] behind hyper) produces for the same request: the
//! same upstream fields, response bytes, log line and metrics; the tests run through both.
//!
//! Everything else goes to the general pipeline: the connection is handed to hyper, with the bytes read so
//! far replayed in front of the socket, and hyper serves it from then on. That covers HTTP/1.0, upgrades,
//! `Expect`, chunked or large request bodies, maintenance and pauses, redirects, ACME challenges, header
//! logging of the rarer kinds, cookie scoping, writer affinity, and anything malformed (hyper answers 400 or
//! 431 as before). The one answer of its own: `Content-Length` together with `Transfer-Encoding` is refused
//! with 400, as nginx does, where hyper framed by `Transfer-Encoding` and closed.

mod deadline;
mod rewind;
#[cfg(target_os = "linux")]
mod splice;
pub mod write;

use std::net::SocketAddr;
use std::ops::Range;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use http::{Method, StatusCode};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::json;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

use crate::forward::upstream::{raw_declared_length, Decoder, Exchanged, Outgoing, RawHead};
use crate::forward::{self, ForwardError};
use crate::logging;
use crate::proxy::{self, Proxy};
use crate::request_log::{field_name, joined_values as joined, Outcome, Record, RequestFacts};
use crate::routing;
use crate::server::MAX_HEADER_BYTES;
use crate::service::pause::PauseState;
use crate::service::target::InFlightGuard;
use crate::service::ServiceConfig;
use deadline::Deadline;
use write::has_token;

/// hyper's default limit on request header fields.
const MAX_FIELDS: usize = 100;
/// First read size for a request head.
const HEAD_READ: usize = 8 * 1024;

/// One plain-HTTP connection: the fast path until a request needs the general pipeline, then hyper.
pub(crate) async fn serve_connection(
    mut stream: TcpStream,
    peer: SocketAddr,
    proxy: Arc<Proxy>,
    http1: hyper::server::conn::http1::Builder,
    header_read_timeout: Duration,
    stop: CancellationToken,
) {
    let mut buffer = BytesMut::with_capacity(HEAD_READ);
    let mut timers = Timers::default();
    let handed_off = loop {
        let head = match read_head(
            &mut stream,
            &mut buffer,
            header_read_timeout,
            &stop,
            &mut timers.header,
        )
        .await
        {
            Read::Head(head) => head,
            Read::HandOff => break buffer.freeze(),
            Read::Closed => return,
        };
        match serve_request(&mut stream, peer, &proxy, head, &mut buffer, &stop, &mut timers).await {
            Step::KeepAlive => {}
            Step::Close => {
                let _ = stream.shutdown().await;
                return;
            }
            Step::HandOff(replay) => break replay,
        }
    };
    let service = service_fn(move |request| proxy::handle(proxy.clone(), peer, false, request));
    let connection = http1
        .serve_connection(TokioIo::new(rewind::Rewind::new(handed_off, stream)), service)
        .with_upgrades();
    let mut connection = std::pin::pin!(connection);
    let result = tokio::select! {
        result = connection.as_mut() => result,
        _ = stop.cancelled() => {
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    if let Err(error) = result {
        logging::debug(
            "Connection ended with an error",
            &[("error", json!(error.to_string()))],
        );
    }
}

/// The connection's two deadlines, kept from one request to the next.
#[derive(Default)]
struct Timers {
    /// The next request's head must be complete by then.
    header: Deadline,
    /// The upstream must have answered by then.
    response: Deadline,
}

/// A request head, parsed where it lies.
struct Head {
    bytes: Bytes,
    method: Method,
    target: Range<usize>,
    fields: Vec<(Range<usize>, Range<usize>)>,
}

impl Head {
    fn name(&self, index: usize) -> &[u8] {
        &self.bytes[self.fields[index].0.clone()]
    }

    fn value(&self, index: usize) -> &[u8] {
        &self.bytes[self.fields[index].1.clone()]
    }

    fn values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.fields
            .iter()
            .filter(move |(field, _)| self.bytes[field.clone()].eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, value)| &self.bytes[value.clone()])
    }

    /// The first value of `name` as text ("" when absent or not text), as Go's `Header.Get`.
    fn text<'a>(&'a self, name: &'a str) -> &'a str {
        self.values(name)
            .next()
            .and_then(|value| std::str::from_utf8(value).ok())
            .unwrap_or_default()
    }

    /// The head bytes followed by `rest`: what hyper gets to read when the connection is handed over.
    fn replay(&self, rest: &BytesMut) -> Bytes {
        let mut replay = BytesMut::with_capacity(self.bytes.len() + rest.len());
        replay.extend_from_slice(&self.bytes);
        replay.extend_from_slice(rest);
        replay.freeze()
    }
}

enum Read {
    Head(Head),
    /// Not for the fast path (or malformed): hyper takes the connection with what is in the buffer.
    HandOff,
    /// The client closed, went quiet past the header timeout, or the server is stopping.
    Closed,
}

/// Reads until `buffer` holds a complete request head, and takes it out.
async fn read_head(
    stream: &mut TcpStream,
    buffer: &mut BytesMut,
    timeout: Duration,
    stop: &CancellationToken,
    timer: &mut Deadline,
) -> Read {
    let mut deadline = None;
    loop {
        if !buffer.is_empty() {
            match parse_head(buffer) {
                Some(Ok(head)) => return Read::Head(head),
                Some(Err(())) => return Read::HandOff,
                None => {}
            }
        }
        // Slowloris: the whole head within the header timeout (idle keep-alive time included), as hyper's
        // `header_read_timeout` did.
        let deadline = *deadline.get_or_insert_with(|| deadline_after(timeout));
        if buffer.capacity() - buffer.len() < 1024 {
            buffer.reserve(HEAD_READ);
        }
        let read = tokio::select! {
            biased;
            read = tokio_util::io::read_buf(stream, buffer) => read,
            () = timer.reached(deadline) => return Read::Closed,
            () = stop.cancelled(), if buffer.is_empty() => return Read::Closed,
        };
        match read {
            Ok(0) | Err(_) => return Read::Closed,
            Ok(_) => {}
        }
    }
}

/// `timeout` from now; a timeout too long to represent is as good as none.
fn deadline_after(timeout: Duration) -> tokio::time::Instant {
    let now = tokio::time::Instant::now();
    now.checked_add(timeout)
        .unwrap_or_else(|| now + Duration::from_secs(100 * 365 * 86_400))
}

/// `Some(Ok)` for a complete head fit for the fast path, `Some(Err)` for one that is not (or is malformed or
/// too large), `None` while incomplete.
fn parse_head(buffer: &mut BytesMut) -> Option<Result<Head, ()>> {
    // Uninitialised slots: filling 100 of them for every request cost more than parsing a small head.
    let mut slots = [const { std::mem::MaybeUninit::uninit() }; MAX_FIELDS];
    let mut parsed = httparse::Request::new(&mut []);
    let length = match parsed.parse_with_uninit_headers(buffer, &mut slots) {
        Ok(httparse::Status::Complete(length)) => length,
        Ok(httparse::Status::Partial) if buffer.len() < MAX_HEADER_BYTES => return None,
        _ => return Some(Err(())),
    };
    if parsed.version != Some(1) {
        return Some(Err(()));
    }
    let (Some(method), Some(path)) = (parsed.method, parsed.path) else {
        return Some(Err(()));
    };
    let Ok(method) = Method::from_bytes(method.as_bytes()) else {
        return Some(Err(()));
    };
    if method == Method::CONNECT || !path.starts_with('/') {
        return Some(Err(()));
    }
    let base = buffer.as_ptr() as usize;
    let range = |text: &[u8]| {
        let start = text.as_ptr() as usize - base;
        start..start + text.len()
    };
    let target = range(path.as_bytes());
    let fields = parsed
        .headers
        .iter()
        .map(|field| (range(field.name.as_bytes()), range(field.value)))
        .collect();
    Some(Ok(Head {
        bytes: buffer.split_to(length).freeze(),
        method,
        target,
        fields,
    }))
}

enum Step {
    KeepAlive,
    Close,
    HandOff(Bytes),
}

/// What the request looks like on the wire, checked before anything else happens.
struct Shape {
    host: String,
    content_length: u64,
    close: bool,
}

/// `Err(None)`: the general pipeline serves it. `Err(Some(status))`: refused here.
fn shape(head: &Head) -> Result<Shape, Option<StatusCode>> {
    let mut host = None;
    let mut lengths = 0;
    let mut transfer_encoding = false;
    let mut close = false;
    for index in 0..head.fields.len() {
        let name = head.name(index);
        match name.len() {
            4 if name.eq_ignore_ascii_case(b"host") => {
                if host.is_some() {
                    return Err(None);
                }
                let value = std::str::from_utf8(head.value(index)).map_err(|_| None)?;
                if value.is_empty() || value.bytes().any(|byte| !byte.is_ascii_graphic()) {
                    return Err(None);
                }
                host = Some(value);
            }
            14 if name.eq_ignore_ascii_case(b"content-length") => lengths += 1,
            17 if name.eq_ignore_ascii_case(b"transfer-encoding") => transfer_encoding = true,
            7 if name.eq_ignore_ascii_case(b"upgrade") => return Err(None),
            6 if name.eq_ignore_ascii_case(b"expect") => return Err(None),
            10 if name.eq_ignore_ascii_case(b"connection") => {
                close |= has_token(std::iter::once(head.value(index)), b"close");
            }
            _ => {}
        }
    }
    if transfer_encoding {
        // CL.TE smuggling: nginx refuses the pair outright; a chunked body alone is hyper's to read.
        return Err((lengths > 0).then_some(StatusCode::BAD_REQUEST));
    }
    let content_length = if lengths == 0 {
        0
    } else {
        raw_declared_length(head.values("content-length")).ok_or(None)?
    };
    Ok(Shape {
        host: host.ok_or(None)?.to_string(),
        content_length,
        close,
    })
}

async fn serve_request(
    stream: &mut TcpStream,
    peer: SocketAddr,
    proxy: &Arc<Proxy>,
    head: Head,
    buffer: &mut BytesMut,
    stop: &CancellationToken,
    timers: &mut Timers,
) -> Step {
    let started = Instant::now();
    let shape = match shape(&head) {
        Ok(shape) => shape,
        Err(None) => return Step::HandOff(head.replay(buffer)),
        Err(Some(status)) => return refuse(stream, status).await,
    };
    // The whole body is here already, or the general pipeline streams it.
    let Ok(body_length) = usize::try_from(shape.content_length) else {
        return Step::HandOff(head.replay(buffer));
    };
    if body_length > buffer.len() {
        return Step::HandOff(head.replay(buffer));
    }
    let Ok(uri) = http::Uri::from_maybe_shared(head.bytes.slice(head.target.clone())) else {
        return Step::HandOff(head.replay(buffer));
    };
    let Some(plan) = plan(proxy, &shape, &uri, body_length) else {
        return Step::HandOff(head.replay(buffer));
    };
    let body = buffer.split_to(body_length).freeze();
    let keep_alive = forward_request(
        stream, peer, proxy, &head, shape, uri, plan, body, buffer, started, timers,
    )
    .await;
    if keep_alive && !stop.is_cancelled() {
        Step::KeepAlive
    } else {
        Step::Close
    }
}

/// Answers `status` with its built-in page and closes.
async fn refuse(stream: &mut TcpStream, status: StatusCode) -> Step {
    let mut page = proxy::error_page(None, status, None);
    page.headers_mut()
        .insert(http::header::CONNECTION, http::HeaderValue::from_static("close"));
    let mut bytes = 0;
    let _ = write::response(stream, page, &Method::GET, &mut bytes).await;
    Step::Close
}

/// The routing decisions, taken before anything is claimed or counted.
struct Plan {
    service: Arc<crate::service::Service>,
    config: Arc<ServiceConfig>,
    routed_path: String,
    decoded_routed_path: String,
}

/// `None` when the general pipeline has to serve the request (everything it does beyond plain forwarding).
fn plan(proxy: &Proxy, shape: &Shape, uri: &http::Uri, body_length: usize) -> Option<Plan> {
    let raw_path = uri.path();
    if raw_path.starts_with(crate::acme::CHALLENGE_PATH_PREFIX) {
        return None;
    }
    let decoded_path = proxy::percent_decode(raw_path);
    let matched = proxy.router.route(&shape.host, &decoded_path)?;
    let service = matched.service;
    let config = service.config();
    let options = &config.options;
    let target_options = &config.target_options;
    let strip = options.strip_prefix && matched.prefix != "/";
    let redirect = (options.tls_enabled && options.tls_redirect)
        || (!options.canonical_host.is_empty() && routing::strip_port(&shape.host) != options.canonical_host);
    let max_request = u64::try_from(target_options.max_request_body_size).unwrap_or(0);
    if redirect
        || !options.client_ip_header.is_empty()
        || (strip && target_options.scope_cookie_paths)
        || (max_request > 0 && body_length as u64 > max_request && target_options.buffer_requests)
        || service.pause.state() != PauseState::Running
    {
        return None;
    }
    let routed_path = if strip {
        proxy::strip_raw_prefix(raw_path, &decoded_path, &matched.prefix)
    } else {
        raw_path.to_string()
    };
    let decoded_routed_path = if strip {
        proxy::percent_decode(&routed_path)
    } else {
        decoded_path
    };
    Some(Plan {
        service,
        config,
        routed_path,
        decoded_routed_path,
    })
}

/// Claims a target, forwards, answers and logs. Returns whether the connection stays open.
#[expect(
    clippy::too_many_arguments,
    reason = "one request's whole context, passed once"
)]
async fn forward_request(
    stream: &mut TcpStream,
    peer: SocketAddr,
    proxy: &Arc<Proxy>,
    head: &Head,
    shape: Shape,
    uri: http::Uri,
    plan: Plan,
    body: Bytes,
    buffer: &mut BytesMut,
    started: Instant,
    timers: &mut Timers,
) -> bool {
    let Plan {
        service,
        config,
        routed_path,
        decoded_routed_path,
    } = plan;
    let now = proxy::now_millis();
    // One we make when the client sent none (the upstream and the log get it), or the client's.
    let generated_request_id =
        !matches!(head.values("x-request-id").next(), Some(value) if !value.is_empty());
    let facts = RequestFacts {
        host: shape.host.clone(),
        request_id: if generated_request_id {
            let mut text = uuid::Uuid::encode_buffer();
            uuid::Uuid::new_v4()
                .hyphenated()
                .encode_lower(&mut text)
                .to_string()
        } else {
            head.text("x-request-id").to_string()
        },
        method: head.method.clone(),
        request_content_length: head.text("content-length").parse().unwrap_or(-1),
        request_content_type: head.text("content-type").to_string(),
        client_addr: crate::forward::headers::ip_text(peer.ip()),
        client_port: peer.port(),
        user_agent: head.text("user-agent").to_string(),
        proto: "HTTP/1.1",
        tls: false,
        uri,
    };
    let mut record = Record {
        facts,
        outcome: Outcome {
            service: service.name.clone(),
            forwarded_for: first_forwarded_for(head),
            ..Outcome::default()
        },
        status: 0,
        response_content_type: String::new(),
        response_headers: Vec::new(),
        port: proxy.http_port,
        started,
        metrics: proxy.metrics.clone(),
    };
    if let Some(metrics) = &proxy.metrics {
        let excluded = config
            .options
            .exclude_metrics_paths
            .as_ref()
            .is_some_and(|paths| paths.contains(&decoded_routed_path));
        if !excluded {
            metrics.enter(&service.name);
            record.outcome.counted = true;
        }
    }

    let is_read = matches!(head.method, Method::GET | Method::HEAD);
    let cookies = Cookies(head);
    let treat_as_read = is_read && !cookies.has_writer(now);
    let rollout_key = cookies.get("kamal-rollout");
    let (config, claimed) = service.claim(treat_as_read, rollout_key);
    let pages = config.error_pages.as_deref();
    let claimed = match claimed {
        Ok(claimed) => claimed,
        Err(_) => {
            let page = proxy::error_page(pages, StatusCode::SERVICE_UNAVAILABLE, None);
            return answer(stream, page, &head.method, record, &shape).await;
        }
    };
    let guard = claimed.guard;
    let target_options = &config.target_options;
    let writer_affinity =
        !is_read && claimed.has_readers && !config.options.writer_affinity_timeout.is_zero();
    let target = guard.target().clone();
    record.outcome.target = target.address.clone();
    record.outcome.request_headers = target_options
        .log_request_headers
        .iter()
        .flatten()
        .map(|name| {
            // The pipeline logs the request as it goes upstream, with the ID and start time it was given.
            let value = if generated_request_id && name.eq_ignore_ascii_case("x-request-id") {
                record.facts.request_id.clone()
            } else if name.eq_ignore_ascii_case("x-request-start")
                && head.values("x-request-start").next().is_none()
            {
                format!("t={now}")
            } else {
                joined(head.values(name))
            };
            (field_name("req", name), value)
        })
        .collect();
    record.outcome.log_response_headers = target_options.log_response_headers.clone().unwrap_or_default();

    let path_and_query = match record.facts.uri.query() {
        Some(query) => format!("{routed_path}?{query}"),
        None => routed_path,
    };
    let encoded = upstream_request(
        head,
        &path_and_query,
        &UpstreamContext {
            peer: &record.facts.client_addr,
            host: &shape.host,
            forward_headers: target_options.forward_headers,
            target_address: &target.address,
            request_start: now,
            request_id: generated_request_id.then_some(record.facts.request_id.as_str()),
        },
        &body,
    );
    let replayable = crate::forward::pool::idempotent_method(&head.method)
        || head.values("idempotency-key").next().is_some()
        || head.values("x-idempotency-key").next().is_some();
    let exchange = target
        .pool
        .exchange(&head.method, Outgoing::encoded(encoded), false, replayable);
    let exchanged = {
        let response_deadline = deadline_after(target_options.response_timeout);
        let mut exchange = std::pin::pin!(exchange);
        tokio::select! {
            biased;
            result = &mut exchange => match result {
                Err(message) => {
                    logging::error(
                        "Error while proxying",
                        &[("target", json!(target.address)), ("path", json!(path_and_query)), ("error", json!(message))],
                    );
                    Err(ForwardError::Unreachable(message))
                }
                Ok(exchanged) => Ok(exchanged),
            },
            () = timers.response.reached(response_deadline) => Err(ForwardError::Timeout),
            () = guard.cancelled() => Err(ForwardError::Draining),
            () = client_gone(stream, buffer) => {
                record.outcome.client_gone = true;
                record.status = 499;
                record.finish(0);
                return false;
            }
        }
    };
    let exchanged = match exchanged {
        Ok(exchanged) => exchanged,
        Err(error) => {
            if error == ForwardError::Draining {
                logging::info(
                    "Request cancelled due to draining",
                    &[("target", json!(target.address))],
                );
            }
            drop(guard);
            let page = proxy::error_page(pages, error.status(), None);
            return answer(stream, page, &head.method, record, &shape).await;
        }
    };

    record_response(&mut record, exchanged.head.status, |name| {
        joined(exchanged.head.values(name))
    });

    let buffer_responses = target_options.buffer_responses && !is_event_stream(&exchanged.head);
    if let Decoder::Length(length) = exchanged.head.decoder {
        let max = u64::try_from(target_options.max_response_body_size).unwrap_or(0);
        let memory = u64::try_from(target_options.max_memory_buffer_size).unwrap_or(0);
        if buffer_responses && max > 0 && length > max {
            logging::info("Response exceeded max response limit", &[]);
            drop(exchanged);
            drop(guard);
            let page = proxy::error_page(pages, StatusCode::INTERNAL_SERVER_ERROR, None);
            return answer(stream, page, &head.method, record, &shape).await;
        }
        let fast = !writer_affinity
            && (!buffer_responses || length <= memory)
            && exchanged.head.status != StatusCode::SWITCHING_PROTOCOLS;
        if let Some(out) = fast.then(|| write::upstream_head(&exchanged.head)).flatten() {
            return stream_response(
                stream,
                out,
                exchanged,
                length,
                guard,
                target,
                buffer_responses,
                record,
                &shape,
            )
            .await;
        }
    }

    // The general path for the rest: chunked or close-delimited bodies, large buffered ones.
    let response = match exchanged.into_answer(false) {
        Ok(crate::forward::upstream::Answer::Response(response)) => forward::passed_on(response, guard),
        Ok(crate::forward::upstream::Answer::Upgraded(..)) | Err(_) => {
            logging::error(
                "Error while proxying",
                &[
                    ("target", json!(target.address)),
                    ("path", json!(path_and_query)),
                    ("error", json!("invalid upstream response head")),
                ],
            );
            drop(guard);
            let page = proxy::error_page(pages, StatusCode::BAD_GATEWAY, None);
            return answer(stream, page, &head.method, record, &shape).await;
        }
    };
    let response = if buffer_responses && proxy::is_bufferable(&response) {
        match proxy::buffer_response(response, target_options).await {
            Ok(response) => response,
            Err(status) => {
                let page = proxy::error_page(pages, status, None);
                return answer(stream, page, &head.method, record, &shape).await;
            }
        }
    } else {
        response
    };
    let mut response = response;
    if writer_affinity {
        proxy::add_writer_affinity(&mut response, config.options.writer_affinity_timeout);
    }
    answer(stream, response, &head.method, record, &shape).await
}

/// The response side of the log line, as [`Record::attach`] takes it: the status the client is sent (499
/// stays when it went away) and the fields it logs; `joined` gives a field's values joined with `,`.
fn record_response(record: &mut Record, status: StatusCode, joined: impl Fn(&str) -> String) {
    if !record.outcome.client_gone {
        record.status = status.as_u16();
    }
    record.response_content_type = joined("content-type");
    record.response_headers = record
        .outcome
        .log_response_headers
        .iter()
        .map(|name| (field_name("resp", name), joined(name)))
        .collect();
}

/// Writes a response built as a `Response` and logs it. Returns whether the connection stays open.
async fn answer(
    stream: &mut TcpStream,
    response: http::Response<crate::body::ProxyBody>,
    method: &Method,
    mut record: Record,
    shape: &Shape,
) -> bool {
    let headers = response.headers();
    record_response(&mut record, response.status(), |name| {
        crate::request_log::joined_header(headers, name)
    });
    let mut bytes = 0;
    let result = write::response(stream, response, method, &mut bytes).await;
    record.finish(bytes);
    matches!(result, Ok(true)) && !shape.close
}

/// Writes an upstream response with a `Content-Length` body: the head as built, then the body from the
/// upstream connection (spliced when large), then the connection back to its pool.
#[expect(
    clippy::too_many_arguments,
    reason = "one response's whole context, passed once"
)]
async fn stream_response(
    stream: &mut TcpStream,
    mut out: Vec<u8>,
    exchanged: Exchanged,
    length: u64,
    guard: InFlightGuard,
    home: Arc<crate::service::target::Target>,
    buffer_all: bool,
    record: Record,
    shape: &Shape,
) -> bool {
    let Exchanged {
        head: _,
        mut connection,
        reusable,
        ..
    } = exchanged;
    let mut sent: u64 = 0;
    let result: std::io::Result<()> = async {
        if buffer_all {
            // `--buffer-responses`: the whole body from the upstream before the client gets a byte.
            // All of it at once (it is within the memory limit): growing as it comes would copy it again.
            connection
                .read
                .reserve((length as usize).saturating_sub(connection.read.len()));
            while (connection.read.len() as u64) < length {
                if tokio_util::io::read_buf(&mut connection.stream, &mut connection.read).await? == 0 {
                    return Err(std::io::Error::other(
                        "upstream closed the connection before the end of the body",
                    ));
                }
            }
        }
        let ready = (connection.read.len() as u64).min(length) as usize;
        let body = connection.read.split_to(ready);
        if body.len() <= SMALL_BODY {
            out.extend_from_slice(&body);
            stream.write_all(&out).await?;
        } else {
            // A large body already read (buffered): head and body in one write without copying them together.
            write_both(stream, &out, &body).await?;
        }
        sent += ready as u64;
        if sent == length {
            return Ok(());
        }
        let copy = copy_body(stream, &mut connection, length - sent, &mut sent);
        tokio::select! {
            biased;
            result = copy => result,
            () = guard.cancelled() => Err(std::io::Error::other("request cancelled due to draining")),
        }
    }
    .await;
    record.finish(sent);
    drop(guard);
    match result {
        Ok(()) => {
            if reusable && connection.read.is_empty() {
                home.pool.reuse(connection);
            }
            !shape.close
        }
        Err(_) => false,
    }
}

/// Bodies up to this size go out in the same buffer as the head (one copy, one write).
const SMALL_BODY: usize = 16 * 1024;

/// Writes `first` then `second` with vectored writes.
async fn write_both(stream: &mut TcpStream, first: &[u8], second: &[u8]) -> std::io::Result<()> {
    let (mut first, mut second) = (first, second);
    while !first.is_empty() {
        let slices = [std::io::IoSlice::new(first), std::io::IoSlice::new(second)];
        let written = stream.write_vectored(&slices).await?;
        if written == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        let from_first = written.min(first.len());
        first = &first[from_first..];
        second = &second[written - from_first..];
    }
    stream.write_all(second).await
}

/// Copies `remaining` body bytes from the upstream to the client.
async fn copy_body(
    stream: &mut TcpStream,
    connection: &mut crate::forward::upstream::Connection,
    mut remaining: u64,
    sent: &mut u64,
) -> std::io::Result<()> {
    #[cfg(target_os = "linux")]
    if remaining >= splice::THRESHOLD && connection.read.is_empty() {
        return splice::copy(&connection.stream, stream, remaining, sent).await;
    }
    while remaining > 0 {
        if connection.read.is_empty() {
            connection
                .read
                .reserve((remaining as usize).min(crate::forward::upstream::BODY_READ));
            if tokio_util::io::read_buf(&mut connection.stream, &mut connection.read).await? == 0 {
                return Err(std::io::Error::other(
                    "upstream closed the connection before the end of the body",
                ));
            }
        }
        let take = (connection.read.len() as u64).min(remaining) as usize;
        let chunk = connection.read.split_to(take);
        stream.write_all(&chunk).await?;
        remaining -= take as u64;
        *sent += take as u64;
    }
    Ok(())
}

/// Resolves when the client closes its side while the upstream is working on the answer (Go cancels the
/// request then, and logs 499). Bytes that arrive meanwhile (a pipelined request) are kept for later.
async fn client_gone(stream: &TcpStream, buffer: &mut BytesMut) {
    loop {
        if buffer.len() >= MAX_HEADER_BYTES || stream.readable().await.is_err() {
            return std::future::pending().await;
        }
        buffer.reserve(1024);
        match stream.try_read_buf(buffer) {
            Ok(0) => return,
            Ok(_) => {}
            Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(_) => return,
        }
    }
}

fn is_event_stream(head: &RawHead) -> bool {
    head.values("content-type").next().is_some_and(|value| {
        value
            .split(|byte| *byte == b';')
            .next()
            .is_some_and(|media_type| media_type.trim_ascii().eq_ignore_ascii_case(b"text/event-stream"))
    })
}

/// `remote_addr`: the first `X-Forwarded-For` value as the client sent it.
fn first_forwarded_for(head: &Head) -> String {
    head.values("x-forwarded-for")
        .next()
        .and_then(|value| std::str::from_utf8(value).ok())
        .and_then(|value| value.split(',').next())
        .map(|value| value.trim().to_string())
        .unwrap_or_default()
}

/// The request's cookies, as [`crate::forward::headers`] reads them.
struct Cookies<'a>(&'a Head);

impl<'a> Cookies<'a> {
    fn pairs(&self) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
        self.0
            .values("cookie")
            .filter_map(|value| std::str::from_utf8(value).ok())
            .flat_map(|value| value.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
    }

    fn has_writer(&self, now_millis: u128) -> bool {
        self.pairs().any(|(name, value)| {
            name == "kamal-writer" && value.parse::<u128>().is_ok_and(|expiry| expiry > now_millis)
        })
    }

    fn get(&self, name: &str) -> Option<&'a str> {
        self.pairs()
            .find(|(key, value)| *key == name && !value.is_empty())
            .map(|(_, value)| value)
    }
}

struct UpstreamContext<'a> {
    /// The client's address as text.
    peer: &'a str,
    host: &'a str,
    forward_headers: bool,
    target_address: &'a str,
    request_start: u128,
    /// Set when the client sent none (or an empty one).
    request_id: Option<&'a str>,
}

/// The request as the upstream gets it, head and body in one buffer: the client's fields in order minus
/// the hop-by-hop ones and the forwarding ones, which are rebuilt after them (§7.2), as
/// [`crate::forward::headers::prepare_upstream_request`] does.
fn upstream_request(head: &Head, path_and_query: &str, context: &UpstreamContext<'_>, body: &[u8]) -> Bytes {
    let mut out = Vec::with_capacity(head.bytes.len() + 256 + body.len());
    out.extend_from_slice(head.method.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(path_and_query.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    let trusted = context.forward_headers;
    let mut prior_for = Vec::new();
    let mut prior_target = Vec::new();
    let mut prior_host: Option<&[u8]> = None;
    let mut prior_proto: Option<&[u8]> = None;
    let mut te_trailers = false;
    let mut has_request_start = false;
    let listed: Vec<&[u8]> = head
        .values("connection")
        .flat_map(|value| value.split(|byte| *byte == b','))
        .map(<[u8]>::trim_ascii)
        .filter(|name| !name.is_empty())
        .collect();
    for index in 0..head.fields.len() {
        let name = head.name(index);
        let value = head.value(index);
        let is = |expected: &[u8]| name.eq_ignore_ascii_case(expected);
        // By length first: most names are compared with nothing.
        match name.len() {
            15 if is(b"x-forwarded-for") => {
                if trusted && value.is_ascii() {
                    prior_for.push(value);
                }
                continue;
            }
            14 if is(b"x-kamal-target") => {
                if trusted && value.is_ascii() {
                    prior_target.push(value);
                }
                continue;
            }
            16 if is(b"x-forwarded-host") => {
                if trusted && prior_host.is_none() {
                    prior_host = Some(value);
                }
                continue;
            }
            17 if is(b"x-forwarded-proto") => {
                if trusted && prior_proto.is_none() {
                    prior_proto = Some(value);
                }
                continue;
            }
            9 if is(b"forwarded") => continue,
            12 if context.request_id.is_some() && is(b"x-request-id") => continue,
            15 if is(b"x-request-start") => has_request_start = true,
            2 if is(b"te") => {
                te_trailers |= has_token(std::iter::once(value), b"trailers");
                continue;
            }
            _ if write::is_hop_by_hop(name) => continue,
            _ => {}
        }
        if listed.iter().any(|listed| listed.eq_ignore_ascii_case(name)) {
            continue;
        }
        crate::forward::upstream::push_title_case(&mut out, name);
        out.extend_from_slice(b": ");
        out.extend_from_slice(value);
        out.extend_from_slice(b"\r\n");
    }
    if te_trailers {
        out.extend_from_slice(b"Te: trailers\r\n");
    }
    let peer = context.peer;
    out.extend_from_slice(b"X-Forwarded-For: ");
    for value in &prior_for {
        out.extend_from_slice(value);
        out.extend_from_slice(b", ");
    }
    out.extend_from_slice(peer.as_bytes());
    out.extend_from_slice(b"\r\nX-Forwarded-Host: ");
    out.extend_from_slice(
        prior_host
            .filter(|value| !value.is_empty() && value.is_ascii())
            .unwrap_or(context.host.as_bytes()),
    );
    out.extend_from_slice(b"\r\nX-Forwarded-Proto: ");
    out.extend_from_slice(
        prior_proto
            .filter(|value| !value.is_empty() && value.is_ascii())
            .unwrap_or(b"http"),
    );
    out.extend_from_slice(b"\r\nX-Kamal-Target: ");
    for value in &prior_target {
        out.extend_from_slice(value);
        out.extend_from_slice(b", ");
    }
    out.extend_from_slice(context.target_address.as_bytes());
    out.extend_from_slice(b"\r\n");
    if !has_request_start {
        out.extend_from_slice(b"X-Request-Start: t=");
        out.extend_from_slice(itoa::Buffer::new().format(context.request_start).as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if let Some(request_id) = context.request_id {
        out.extend_from_slice(b"X-Request-Id: ");
        out.extend_from_slice(request_id.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
    Bytes::from(out)
}
