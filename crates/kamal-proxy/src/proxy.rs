//! The request pipeline (§7.1): request start and ID, routing, redirects, maintenance gate, target claim,
//! forwarding, error pages and the request log line.
//!
//! Errors the proxy produces itself are rendered here as pages (custom, then built-in); responses from an
//! upstream pass through untouched whatever their status.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use http::header::{self, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use serde_json::json;

use http_body_util::BodyExt;

use crate::body::{self, BoxError, ProxyBody};
use crate::buffer::{self, BufferError};
use crate::forward::headers::{
    self as forward_headers, ForwardContext, X_FORWARDED_FOR, X_REQUEST_ID, X_REQUEST_START,
    X_WRITER_AFFINITY,
};
use crate::forward::{self, ForwardError};
use crate::logging;
use crate::metrics::Metrics;
use crate::pages::{self, ErrorPages};
use crate::request_log::{field_name, joined_header, InProgress, Outcome, RequestFacts};
use crate::router::Router;
use crate::routing;
use crate::service::options::TargetOptions;
use crate::service::pause::WaitOutcome;

/// What the handler needs from the server: the registry, the configured ports (for the log line) and the
/// metrics tracker when `--metrics-port` is on.
#[derive(Debug)]
pub struct Proxy {
    pub router: Arc<Router>,
    pub http_port: u16,
    pub https_port: u16,
    pub metrics: Option<Arc<Metrics>>,
    /// `Alt-Svc` for HTTPS responses when HTTP/3 is on (quic-go's `SetQUICHeaders`).
    pub alt_svc: Option<HeaderValue>,
}

/// `t=<milliseconds>` for `X-Request-Start`, written without `fmt` (this runs for every request).
pub(crate) fn request_start(millis: u128) -> Option<HeaderValue> {
    // "t=" and the 20 digits of u64::MAX; milliseconds fit in a u64 for the next half a billion years.
    let mut text = [0u8; 22];
    let mut start = text.len();
    let mut rest = u64::try_from(millis).unwrap_or(u64::MAX);
    loop {
        start -= 1;
        text[start] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    start -= 2;
    text[start..start + 2].copy_from_slice(b"t=");
    HeaderValue::from_bytes(&text[start..]).ok()
}

pub(crate) fn now_millis() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default()
}

/// A client's request body as its server hands it over: hyper's for HTTP/1.1 and HTTP/2, h3's for HTTP/3.
pub trait ClientBody:
    http_body::Body<Data = bytes::Bytes, Error = Self::ReadError> + Send + Sync + Unpin + 'static
{
    type ReadError: std::error::Error + Send + Sync + 'static;

    /// Whether a read error means the request was malformed (→ 400) rather than cut off by the client (→ 499).
    fn is_malformed(error: &Self::ReadError) -> bool;
}

impl ClientBody for Incoming {
    type ReadError = hyper::Error;

    fn is_malformed(error: &hyper::Error) -> bool {
        io_error_kind(error).is_some_and(|kind| {
            matches!(
                kind,
                std::io::ErrorKind::InvalidInput | std::io::ErrorKind::InvalidData
            )
        }) || error.is_parse()
    }
}

impl ClientBody for crate::http3::RequestBody {
    type ReadError = h3::error::StreamError;

    fn is_malformed(_error: &h3::error::StreamError) -> bool {
        false
    }
}

pub async fn handle<B: ClientBody>(
    proxy: Arc<Proxy>,
    peer: SocketAddr,
    tls: bool,
    mut request: Request<B>,
) -> Result<Response<ProxyBody>, Infallible> {
    let started = Instant::now();
    let headers = request.headers_mut();
    if !headers.contains_key(&X_REQUEST_START) {
        if let Some(value) = request_start(now_millis()) {
            headers.insert(X_REQUEST_START, value);
        }
    }
    if headers.get(&X_REQUEST_ID).is_none_or(|value| value.is_empty()) {
        let mut text = uuid::Uuid::encode_buffer();
        if let Ok(value) = HeaderValue::from_str(uuid::Uuid::new_v4().hyphenated().encode_lower(&mut text)) {
            headers.insert(X_REQUEST_ID, value);
        }
    }
    let host = request_host(&request);
    let facts = RequestFacts::from_request(&request, host.clone(), peer, tls);
    let port = if tls { proxy.https_port } else { proxy.http_port };
    // Logs 499 if the client goes away before there is a response (hyper then drops this future).
    let mut in_progress = InProgress::new(facts, port, started, proxy.metrics.clone());
    let advertise_http3 = tls && request.version() != http::Version::HTTP_3;
    let mut response = serve(
        &proxy.router,
        proxy.metrics.as_ref(),
        peer,
        tls,
        host,
        request,
        &mut in_progress.outcome,
    )
    .await;
    if let Some(alt_svc) = proxy.alt_svc.as_ref().filter(|_| advertise_http3) {
        // Set before the handler in Go, so an upstream's own `Alt-Svc` replaces it.
        if !response.headers().contains_key(header::ALT_SVC) {
            response.headers_mut().insert(header::ALT_SVC, alt_svc.clone());
        }
    }
    Ok(in_progress.respond(response))
}

async fn serve<B: ClientBody>(
    router: &Router,
    metrics: Option<&Arc<Metrics>>,
    peer: SocketAddr,
    tls: bool,
    host: String,
    mut request: Request<B>,
    outcome: &mut Outcome,
) -> Response<ProxyBody> {
    let raw_path = request.uri().path().to_string();
    let decoded_path = percent_decode(&raw_path);
    // The on-demand TLS check names its service: no routing, no redirect, no log line (§6.5).
    let internal = request.extensions_mut().remove::<InternalRequest>();
    let matched = match &internal {
        Some(InternalRequest(service)) => Some(crate::router::Matched {
            service: service.clone(),
            prefix: "/".to_string(),
        }),
        None => router.route(&host, &decoded_path),
    };
    let Some(matched) = matched else {
        outcome.forwarded_for = first_forwarded_for(request.headers());
        return error_page(None, StatusCode::NOT_FOUND, None);
    };
    let service = matched.service;
    outcome.service = service.name.clone();
    let config = service.config();
    let pages = config.error_pages.clone();
    let pages = pages.as_deref();

    let strip = config.options.strip_prefix && matched.prefix != "/";
    let routed_path = if strip {
        strip_raw_prefix(&raw_path, &decoded_path, &matched.prefix)
    } else {
        raw_path.clone()
    };
    if let Some(token) = raw_path.strip_prefix(crate::acme::CHALLENGE_PATH_PREFIX) {
        // HTTP-01 is answered before any redirect and never reaches the app (autocert's HTTPHandler).
        if config.options.tls_enabled && config.certificate.is_none() {
            outcome.service.clear();
            return match router.acme_challenge(token) {
                Some(key_authorization) => {
                    let mut response = Response::new(body::full(key_authorization));
                    response
                        .headers_mut()
                        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
                    response
                }
                None => error_page(None, StatusCode::NOT_FOUND, None),
            };
        }
    }
    if let Some(metrics) = metrics {
        let excluded = config
            .options
            .exclude_metrics_paths
            .as_ref()
            .is_some_and(|paths| paths.iter().any(|path| *path == percent_decode(&routed_path)));
        if !excluded {
            metrics.enter(&service.name);
            outcome.counted = true;
        }
    }

    forward_headers::apply_client_ip_header(request.headers_mut(), &config.options.client_ip_header);
    outcome.forwarded_for = first_forwarded_for(request.headers());

    if tls && !config.options.tls_enabled {
        // The SNI chose a TLS service but the Host header routes to one without TLS (§6.7).
        return error_page(pages, StatusCode::SERVICE_UNAVAILABLE, None);
    }
    if internal.is_none() {
        if let Some(redirect) = redirect(&request, &host, tls, &config.options) {
            return redirect;
        }
    }

    if service.pause.state() != crate::service::pause::PauseState::Running
        && matches!(*request.method(), Method::GET | Method::HEAD)
        && percent_decode(&routed_path) == config.target_options.health_check_config.path
    {
        // Keeps an outer load balancer from dropping the node during maintenance (§5.3).
        return status_only(StatusCode::OK);
    }
    match service.pause.wait().await {
        WaitOutcome::Proceed => {}
        WaitOutcome::Stopped { message } => {
            return error_page(pages, StatusCode::SERVICE_UNAVAILABLE, Some(&message));
        }
        WaitOutcome::PauseExpired => {
            logging::warn(
                "Rejecting request due to expired pause",
                &[("service", json!(service.name))],
            );
            return error_page(pages, StatusCode::GATEWAY_TIMEOUT, None);
        }
    }

    let is_read = matches!(*request.method(), Method::GET | Method::HEAD)
        && (config.options.read_targets_accept_websockets
            || !forward_headers::is_websocket(request.method(), request.headers()));
    let treat_as_read = is_read && !forward_headers::has_writer_cookie(request.headers(), now_millis());

    // Claimed on the *current* configuration, atomically with deploys.
    let rollout_key = forward_headers::rollout_cookie(request.headers());
    let (config, claimed) = service.claim(treat_as_read, rollout_key.as_deref());
    let pages = config.error_pages.as_deref();
    let (guard, has_readers) = match claimed {
        Ok(claimed) => (claimed.guard, claimed.has_readers),
        Err(_) => return error_page(pages, StatusCode::SERVICE_UNAVAILABLE, None),
    };
    let target_address = guard.target().address.clone();
    outcome.target = target_address.clone();
    let target_options = &config.target_options;
    outcome.request_headers = target_options
        .log_request_headers
        .iter()
        .flatten()
        .map(|name| (field_name("req", name), joined_header(request.headers(), name)))
        .collect();
    outcome.log_response_headers = target_options.log_response_headers.clone().unwrap_or_default();
    let writer_affinity = !is_read && has_readers && !config.options.writer_affinity_timeout.is_zero();

    let path_and_query = match request.uri().query() {
        Some(query) => format!("{routed_path}?{query}"),
        None => routed_path,
    };
    let context = ForwardContext {
        peer_ip: peer.ip(),
        host: &host,
        tls,
        forward_headers: target_options.forward_headers,
        client_ip_header: &config.options.client_ip_header,
        target_address: &target_address,
    };

    let client_body = ClientBodyState::default();
    let upgrade = forward_headers::is_upgrade(request.headers());
    let request = if target_options.buffer_requests && !upgrade {
        match buffer_request(request, target_options, &client_body).await {
            Ok(request) => request,
            Err(status) if status == CLIENT_CLOSED_REQUEST => {
                // Nobody is left to read a page: 499 is for the log and the metrics only.
                outcome.client_gone = true;
                return status_only(CLIENT_CLOSED_REQUEST);
            }
            Err(status) => return error_page(pages, status, None),
        }
    } else {
        let state = client_body.clone();
        request.map(|body| body.map_err(move |error| state.record::<B>(error)).boxed())
    };

    let response = match forward::forward(
        request,
        guard,
        &path_and_query,
        &context,
        target_options.response_timeout,
    )
    .await
    {
        Ok(response) => response,
        Err(error @ ForwardError::Draining) => {
            logging::info(
                "Request cancelled due to draining",
                &[("target", json!(target_address))],
            );
            return error_page(pages, error.status(), None);
        }
        Err(error) => {
            if client_body.malformed() {
                logging::info("Malformed request", &[("path", json!(path_and_query))]);
                return error_page(pages, StatusCode::BAD_REQUEST, None);
            }
            if client_body.gone() {
                outcome.client_gone = true;
                return status_only(CLIENT_CLOSED_REQUEST);
            }
            return error_page(pages, error.status(), None);
        }
    };
    let mut response = if target_options.buffer_responses && is_bufferable(&response) {
        match buffer_response(response, target_options).await {
            Ok(response) => response,
            Err(status) => return error_page(pages, status, None),
        }
    } else {
        response
    };
    if strip && target_options.scope_cookie_paths {
        crate::cookie_scope::scope_set_cookies(
            response.headers_mut(),
            routing::strip_port(&host),
            &matched.prefix,
        );
    }
    if writer_affinity {
        add_writer_affinity(&mut response, config.options.writer_affinity_timeout);
    }
    response
}

/// Marks the on-demand TLS check's request to `service` (§6.5).
#[derive(Clone)]
struct InternalRequest(Arc<crate::service::Service>);

/// The on-demand TLS check for a local path (§6.5): `GET <path_and_query>` with `Host: <host>` through
/// `service`'s own handler chain (pause/stop, balancer, app), as plain HTTP without redirects. Returns the
/// status and the first `body_limit` bytes of the body.
///
/// The handler takes hyper's own request body type, so the request travels over an in-memory HTTP/1.1
/// connection rather than being built by hand.
pub async fn serve_internal(
    router: &Router,
    service: Arc<crate::service::Service>,
    host: String,
    path_and_query: String,
    body_limit: usize,
) -> Result<(StatusCode, Vec<u8>), String> {
    let (client_io, server_io) = tokio::io::duplex(64 * 1024);
    let peer = SocketAddr::from(([127, 0, 0, 1], 0));
    let handler = hyper::service::service_fn(move |mut request: Request<Incoming>| {
        request.extensions_mut().insert(InternalRequest(service.clone()));
        async move {
            let host = request_host(&request);
            let mut outcome = Outcome::default();
            let response = serve(router, None, peer, false, host, request, &mut outcome).await;
            // Only the status and the start of the body matter; the rest is never read.
            let (mut parts, body) = response.into_parts();
            let prefix = crate::acme::on_demand::read_prefix(body, body_limit).await;
            parts.headers.remove(header::CONTENT_LENGTH);
            parts.headers.remove(header::TRANSFER_ENCODING);
            let body = http_body_util::Full::new(bytes::Bytes::from(prefix));
            Ok::<_, Infallible>(Response::from_parts(parts, body))
        }
    });
    let server = hyper::server::conn::http1::Builder::new()
        .serve_connection(hyper_util::rt::TokioIo::new(server_io), handler);
    let (mut sender, client) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(client_io))
        .await
        .map_err(|error| error.to_string())?;
    let request = Request::get(path_and_query)
        .header(header::HOST, host)
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .map_err(|error| error.to_string())?;
    let exchange = async {
        let response = sender
            .send_request(request)
            .await
            .map_err(|error| error.to_string())?;
        let status = response.status();
        let prefix = crate::acme::on_demand::read_prefix(response.into_body(), body_limit).await;
        Ok((status, prefix))
    };
    let connections = async {
        let _ = tokio::join!(server, client);
    };
    tokio::select! {
        result = exchange => result,
        _ = connections => Err("the internal connection closed".to_string()),
    }
}

/// 499 is nginx's "client closed request"; it only ever reaches the log and the metrics.
pub(crate) const CLIENT_CLOSED_REQUEST: StatusCode = match StatusCode::from_u16(499) {
    Ok(status) => status,
    Err(_) => StatusCode::BAD_REQUEST,
};

/// What became of the client's request body while it was read: malformed (→ 400) or cut off (→ 499).
#[derive(Debug, Clone, Default)]
struct ClientBodyState(Arc<std::sync::atomic::AtomicU8>);

impl ClientBodyState {
    const MALFORMED: u8 = 1;
    const GONE: u8 = 2;

    fn record<B: ClientBody>(&self, error: B::ReadError) -> BoxError {
        let malformed = B::is_malformed(&error);
        let value = if malformed { Self::MALFORMED } else { Self::GONE };
        self.0.store(value, std::sync::atomic::Ordering::SeqCst);
        Box::new(error)
    }

    fn malformed(&self) -> bool {
        self.0.load(std::sync::atomic::Ordering::SeqCst) == Self::MALFORMED
    }

    fn gone(&self) -> bool {
        self.0.load(std::sync::atomic::Ordering::SeqCst) == Self::GONE
    }
}

fn io_error_kind(error: &(dyn std::error::Error + 'static)) -> Option<std::io::ErrorKind> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(current) = source {
        if let Some(io) = current.downcast_ref::<std::io::Error>() {
            return Some(io.kind());
        }
        source = current.source();
    }
    None
}

/// `--buffer-requests`: the whole body is read before the upstream is contacted. Over `--max-request-body`
/// → 413 (at once when `Content-Length` already says so), malformed chunking → 400, other read errors → 500.
async fn buffer_request<B: ClientBody>(
    request: Request<B>,
    options: &TargetOptions,
    client_body: &ClientBodyState,
) -> Result<Request<ProxyBody>, StatusCode> {
    let max = u64::try_from(options.max_request_body_size).unwrap_or(0);
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    if max > 0 && declared.is_some_and(|length| length > max) {
        return Err(StatusCode::PAYLOAD_TOO_LARGE);
    }
    let memory = u64::try_from(options.max_memory_buffer_size).unwrap_or(0);
    let (parts, body) = request.into_parts();
    let state = client_body.clone();
    let body = body.map_err(move |error| state.record::<B>(error));
    match buffer::collect(body, memory, max).await {
        Ok(buffered) => Ok(Request::from_parts(parts, buffered.into_body())),
        Err(BufferError::TooLarge) => Err(StatusCode::PAYLOAD_TOO_LARGE),
        Err(BufferError::Read(_)) if client_body.malformed() => {
            logging::info("Malformed chunked request", &[]);
            Err(StatusCode::BAD_REQUEST)
        }
        Err(BufferError::Read(_)) if client_body.gone() => Err(CLIENT_CLOSED_REQUEST),
        Err(error) => {
            logging::error("Unable to buffer request", &[("error", json!(error.to_string()))]);
            Err(StatusCode::INTERNAL_SERVER_ERROR)
        }
    }
}

/// Streams are never buffered: server-sent events, bodies of unknown length (chunked) and upgrades.
pub(crate) fn is_bufferable(response: &Response<ProxyBody>) -> bool {
    let event_stream = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|media_type| media_type.trim().eq_ignore_ascii_case("text/event-stream"));
    response.status() != StatusCode::SWITCHING_PROTOCOLS
        && !event_stream
        && http_body::Body::size_hint(response.body()).exact().is_some()
}

/// `--buffer-responses`: the whole body is read from the upstream before the client gets a byte; over
/// `--max-response-body` → 500 without leaking the upstream's headers.
pub(crate) async fn buffer_response(
    response: Response<ProxyBody>,
    options: &TargetOptions,
) -> Result<Response<ProxyBody>, StatusCode> {
    let max = u64::try_from(options.max_response_body_size).unwrap_or(0);
    let memory = u64::try_from(options.max_memory_buffer_size).unwrap_or(0);
    if max > 0
        && http_body::Body::size_hint(response.body())
            .exact()
            .is_some_and(|length| length > max)
    {
        logging::info("Response exceeded max response limit", &[]);
        return Err(StatusCode::INTERNAL_SERVER_ERROR);
    }
    let (mut parts, body) = response.into_parts();
    match buffer::collect(body, memory, max).await {
        Ok(buffered) => {
            parts
                .headers
                .insert(header::CONTENT_LENGTH, HeaderValue::from(buffered.length));
            Ok(Response::from_parts(parts, buffered.into_body()))
        }
        Err(BufferError::TooLarge) => {
            logging::info("Response exceeded max response limit", &[]);
            Err(StatusCode::INTERNAL_SERVER_ERROR)
        }
        Err(error) => {
            logging::error("Error while proxying", &[("error", json!(error.to_string()))]);
            Err(StatusCode::BAD_GATEWAY)
        }
    }
}

fn first_forwarded_for(headers: &http::HeaderMap) -> String {
    headers
        .get(&X_FORWARDED_FOR)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(',').next())
        .map(|value| value.trim().to_string())
        .unwrap_or_default()
}

/// `kamal-writer=<expiry ms>; Path=/; Expires=<expiry + 1s>; HttpOnly` unless the app opted out (§4.6).
pub(crate) fn add_writer_affinity(response: &mut Response<ProxyBody>, timeout: std::time::Duration) {
    let opted_out = response
        .headers()
        .get(&X_WRITER_AFFINITY)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.eq_ignore_ascii_case("false"));
    response.headers_mut().remove(&X_WRITER_AFFINITY);
    if opted_out {
        return;
    }
    let expiry = SystemTime::now() + timeout;
    let expiry_millis = expiry
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default();
    let cookie = format!(
        "kamal-writer={expiry_millis}; Path=/; Expires={}; HttpOnly",
        http_date(expiry + std::time::Duration::from_secs(1))
    );
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
}

/// IMF-fixdate, as cookies and Go's `http.TimeFormat` use.
fn http_date(time: SystemTime) -> String {
    let seconds = time
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default();
    crate::cookie_scope::imf_fixdate(seconds)
}

/// §6.6: one 301 to `https` (TLS on, redirect on, plain request) and/or the canonical host, port dropped and
/// query kept, `Connection: close`, a short body only for GET/HEAD.
fn redirect<B>(
    request: &Request<B>,
    host: &str,
    tls: bool,
    options: &crate::service::options::ServiceOptions,
) -> Option<Response<ProxyBody>> {
    let bare_host = routing::strip_port(host);
    let to_https = options.tls_enabled && options.tls_redirect && !tls;
    let canonical = &options.canonical_host;
    let to_canonical = !canonical.is_empty() && bare_host != canonical;
    if !to_https && !to_canonical {
        return None;
    }
    let scheme = if tls || to_https { "https" } else { "http" };
    let target_host = if to_canonical {
        canonical.as_str()
    } else {
        bare_host
    };
    let request_uri = request.uri().path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let location = format!("{scheme}://{target_host}{request_uri}");
    let body = if matches!(*request.method(), Method::GET | Method::HEAD) {
        format!(
            "<a href=\"{}\">Moved Permanently</a>.\n\n",
            pages::template::escape_html(&location)
        )
    } else {
        String::new()
    };
    let mut response = Response::new(body::full(body));
    *response.status_mut() = StatusCode::MOVED_PERMANENTLY;
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&location) {
        headers.insert(header::LOCATION, value);
    }
    headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    Some(response)
}

pub fn error_page(
    custom: Option<&ErrorPages>,
    status: StatusCode,
    message: Option<&str>,
) -> Response<ProxyBody> {
    let page = pages::render(custom, status.as_u16(), message);
    let mut response = Response::new(body::full(page));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    response
}

fn status_only(status: StatusCode) -> Response<ProxyBody> {
    let mut response = Response::new(body::empty());
    *response.status_mut() = status;
    response
}

/// `Host` header, else the URI authority (absolute-form requests).
fn request_host<B>(request: &Request<B>) -> String {
    request
        .headers()
        .get(header::HOST)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned)
        .or_else(|| request.uri().authority().map(|a| a.to_string()))
        .unwrap_or_default()
}

/// Strips `prefix` from the path keeping the client's escaping when the raw path carries the prefix as is.
pub(crate) fn strip_raw_prefix(raw_path: &str, decoded_path: &str, prefix: &str) -> String {
    if routing::prefix_matches(raw_path, prefix) {
        return routing::strip_prefix(raw_path, prefix).into_owned();
    }
    percent_encode_path(&routing::strip_prefix(decoded_path, prefix))
}

pub fn percent_decode(path: &str) -> String {
    if !path.contains('%') {
        return path.to_string();
    }
    let bytes = path.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] == b'%' && index + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[index + 1..index + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok());
            if let Some(byte) = hex {
                decoded.push(byte);
                index += 3;
                continue;
            }
        }
        decoded.push(bytes[index]);
        index += 1;
    }
    String::from_utf8_lossy(&decoded).into_owned()
}

fn percent_encode_path(path: &str) -> String {
    let mut encoded = String::with_capacity(path.len());
    for byte in path.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~/!$&'()*+,;=:@".contains(&byte) {
            encoded.push(byte as char);
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::options::ServiceOptions;

    #[test]
    fn decodes_and_encodes_paths() {
        assert_eq!(percent_decode("/a%20b/%2Fc"), "/a b//c");
        assert_eq!(percent_decode("/bad%zz%"), "/bad%zz%");
        assert_eq!(percent_encode_path("/a b"), "/a%20b");
    }

    #[test]
    fn strips_keeping_escapes() {
        assert_eq!(strip_raw_prefix("/app/a%20b", "/app/a b", "/app"), "/a%20b");
        assert_eq!(strip_raw_prefix("/%61pp/x", "/app/x", "/app"), "/x");
        assert_eq!(strip_raw_prefix("/app", "/app", "/app"), "/");
    }

    #[test]
    fn request_start_is_t_equals_milliseconds() {
        for millis in [0u128, 7, 1_700_000_000_123, u128::from(u64::MAX)] {
            assert_eq!(
                request_start(millis).expect("header"),
                HeaderValue::from_str(&format!("t={millis}")).expect("header")
            );
        }
    }

    #[test]
    fn formats_http_dates() {
        assert_eq!(
            http_date(UNIX_EPOCH + std::time::Duration::from_secs(784_111_777)),
            "Sun, 06 Nov 1994 08:49:37 GMT"
        );
    }

    #[test]
    fn canonical_redirects_drop_the_port_and_keep_the_query() {
        let request = Request::post("/x?y=1")
            .header("host", "www.example.com:8080")
            .body(())
            .expect("request");
        let options = ServiceOptions {
            canonical_host: "example.com".into(),
            ..ServiceOptions::default()
        };
        let response = redirect(&request, "www.example.com:8080", false, &options).expect("redirects");
        assert_eq!(response.status(), StatusCode::MOVED_PERMANENTLY);
        assert_eq!(response.headers()[header::LOCATION], "http://example.com/x?y=1");
        assert_eq!(response.headers()[header::CONNECTION], "close");
        assert!(redirect(&request, "example.com:8080", false, &options).is_none());
    }

    #[test]
    fn https_redirects_combine_with_the_canonical_host_in_one_hop() {
        let request = Request::get("/a?b=c").body(()).expect("request");
        let mut options = ServiceOptions {
            hosts: vec!["example.com".into(), "www.example.com".into()],
            tls_enabled: true,
            tls_redirect: true,
            canonical_host: "example.com".into(),
            ..ServiceOptions::default()
        };
        let response = redirect(&request, "www.example.com:8080", false, &options).expect("redirects");
        assert_eq!(response.headers()[header::LOCATION], "https://example.com/a?b=c");
        assert!(
            redirect(&request, "example.com", true, &options).is_none(),
            "already https and canonical"
        );
        options.tls_redirect = false;
        assert!(
            redirect(&request, "example.com", false, &options).is_none(),
            "--tls-redirect=false"
        );
    }
}
