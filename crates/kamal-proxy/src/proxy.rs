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
use serde_json::{json, Value};

use crate::body::{self, ProxyBody};
use crate::forward::headers::{
    self as forward_headers, ForwardContext, X_REQUEST_ID, X_REQUEST_START, X_WRITER_AFFINITY,
};
use crate::forward::{self, ForwardError};
use crate::logging;
use crate::pages::{self, ErrorPages};
use crate::router::Router;
use crate::routing;
use crate::service::pause::WaitOutcome;

/// What the handler needs from the server: the registry and the configured ports (for the log line).
#[derive(Debug)]
pub struct Proxy {
    pub router: Arc<Router>,
    pub http_port: u16,
}

/// Per-request facts collected for the log line.
#[derive(Default)]
struct Outcome {
    service: String,
    target: String,
    log_request_headers: Vec<String>,
    log_response_headers: Vec<String>,
}

fn now_millis() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default()
}

pub async fn handle(
    proxy: Arc<Proxy>,
    peer: SocketAddr,
    mut request: Request<Incoming>,
) -> Result<Response<ProxyBody>, Infallible> {
    let started = Instant::now();
    let headers = request.headers_mut();
    if !headers.contains_key(&X_REQUEST_START) {
        if let Ok(value) = HeaderValue::from_str(&format!("t={}", now_millis())) {
            headers.insert(X_REQUEST_START, value);
        }
    }
    if headers.get(&X_REQUEST_ID).is_none_or(|value| value.is_empty()) {
        if let Ok(value) = HeaderValue::from_str(&uuid::Uuid::new_v4().to_string()) {
            headers.insert(X_REQUEST_ID, value);
        }
    }
    let log_fields = RequestFacts::from_request(&request, peer);
    let mut outcome = Outcome::default();
    let request_header_values = request.headers().clone();
    let response = serve(&proxy, peer, request, &mut outcome).await;
    log_request(
        &proxy,
        &log_fields,
        &outcome,
        &request_header_values,
        &response,
        started,
    );
    Ok(response)
}

async fn serve(
    proxy: &Proxy,
    peer: SocketAddr,
    mut request: Request<Incoming>,
    outcome: &mut Outcome,
) -> Response<ProxyBody> {
    let host = request_host(&request);
    let raw_path = request.uri().path().to_string();
    let decoded_path = percent_decode(&raw_path);
    let Some(matched) = proxy.router.route(&host, &decoded_path) else {
        return error_page(None, StatusCode::NOT_FOUND, None);
    };
    let service = matched.service;
    outcome.service = service.name.clone();
    let config = service.config();
    outcome.log_request_headers = config
        .target_options
        .log_request_headers
        .clone()
        .unwrap_or_default();
    outcome.log_response_headers = config
        .target_options
        .log_response_headers
        .clone()
        .unwrap_or_default();
    let pages = config.error_pages.clone();
    let pages = pages.as_deref();

    forward_headers::apply_client_ip_header(request.headers_mut(), &config.options.client_ip_header);

    if let Some(redirect) = canonical_redirect(&request, &host, &config.options.canonical_host) {
        return redirect;
    }

    let strip = config.options.strip_prefix && matched.prefix != "/";
    let routed_path = if strip {
        strip_raw_prefix(&raw_path, &decoded_path, &matched.prefix)
    } else {
        raw_path.clone()
    };

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
    let (config, claimed) = service.claim(treat_as_read);
    let pages = config.error_pages.as_deref();
    let guard = match claimed {
        Ok(guard) => guard,
        Err(_) => return error_page(pages, StatusCode::SERVICE_UNAVAILABLE, None),
    };
    let target_address = guard.target().address.clone();
    outcome.target = target_address.clone();
    let writer_affinity =
        !is_read && config.balancer.has_readers() && !config.options.writer_affinity_timeout.is_zero();

    let path_and_query = match request.uri().query() {
        Some(query) => format!("{routed_path}?{query}"),
        None => routed_path,
    };
    let context = ForwardContext {
        peer_ip: peer.ip(),
        host: &host,
        tls: false,
        forward_headers: config.target_options.forward_headers,
        client_ip_header: &config.options.client_ip_header,
        target_address: &target_address,
    };
    match forward::forward(
        request,
        guard,
        &path_and_query,
        &context,
        config.target_options.response_timeout,
    )
    .await
    {
        Ok(mut response) => {
            if writer_affinity {
                add_writer_affinity(&mut response, config.options.writer_affinity_timeout);
            }
            response
        }
        Err(error @ ForwardError::Draining) => {
            logging::info(
                "Request cancelled due to draining",
                &[("target", json!(target_address))],
            );
            error_page(pages, error.status(), None)
        }
        Err(error) => error_page(pages, error.status(), None),
    }
}

/// `kamal-writer=<expiry ms>; Path=/; Expires=<expiry + 1s>; HttpOnly` unless the app opted out (§4.6).
fn add_writer_affinity(response: &mut Response<ProxyBody>, timeout: std::time::Duration) {
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
    let days = seconds.div_euclid(86_400);
    let weekday = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"][days.rem_euclid(7) as usize];
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    let month_name = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ][(month - 1) as usize];
    let second_of_day = seconds.rem_euclid(86_400);
    format!(
        "{weekday}, {day:02} {month_name} {year} {:02}:{:02}:{:02} GMT",
        second_of_day / 3600,
        (second_of_day / 60) % 60,
        second_of_day % 60
    )
}

/// 301 to the canonical host (port dropped, query kept), `Connection: close`, body only for GET/HEAD (§6.6).
fn canonical_redirect<B>(
    request: &Request<B>,
    host: &str,
    canonical_host: &str,
) -> Option<Response<ProxyBody>> {
    if canonical_host.is_empty() || routing::strip_port(host) == canonical_host {
        return None;
    }
    let request_uri = request.uri().path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let location = format!("http://{canonical_host}{request_uri}");
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
fn strip_raw_prefix(raw_path: &str, decoded_path: &str, prefix: &str) -> String {
    if routing::prefix_matches(raw_path, prefix) {
        return routing::strip_prefix(raw_path, prefix).into_owned();
    }
    percent_encode_path(&routing::strip_prefix(decoded_path, prefix))
}

pub fn percent_decode(path: &str) -> String {
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

/// The request side of the log line, captured before the request is consumed.
struct RequestFacts {
    host: String,
    path: String,
    request_id: String,
    method: String,
    request_content_length: i64,
    request_content_type: String,
    client_addr: String,
    client_port: String,
    remote_addr: String,
    user_agent: String,
    proto: String,
    query: String,
}

impl RequestFacts {
    fn from_request<B>(request: &Request<B>, peer: SocketAddr) -> Self {
        let header = |name: &str| {
            request
                .headers()
                .get(name)
                .and_then(|value| value.to_str().ok())
                .unwrap_or_default()
                .to_string()
        };
        let client_addr = peer.ip().to_string();
        let forwarded_for = header("x-forwarded-for");
        let first_forwarded = forwarded_for
            .split(',')
            .next()
            .unwrap_or_default()
            .trim()
            .to_string();
        Self {
            host: request_host(request),
            path: request.uri().path().to_string(),
            request_id: header("x-request-id"),
            method: request.method().to_string(),
            request_content_length: header("content-length").parse().unwrap_or(-1),
            request_content_type: header("content-type"),
            remote_addr: if first_forwarded.is_empty() {
                client_addr.clone()
            } else {
                first_forwarded
            },
            client_addr,
            client_port: peer.port().to_string(),
            user_agent: header("user-agent"),
            proto: format!("{:?}", request.version()),
            query: request.uri().query().unwrap_or_default().to_string(),
        }
    }
}

fn log_request(
    proxy: &Proxy,
    facts: &RequestFacts,
    outcome: &Outcome,
    request_headers: &http::HeaderMap,
    response: &Response<ProxyBody>,
    started: Instant,
) {
    let header_value = |headers: &http::HeaderMap, name: &str| -> String {
        headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect::<Vec<_>>()
            .join(",")
    };
    let response_length = http_body::Body::size_hint(response.body())
        .exact()
        .map(|n| n as i64)
        .unwrap_or(-1);
    let mut fields: Vec<(String, Value)> = vec![
        ("host".into(), json!(facts.host)),
        ("port".into(), json!(proxy.http_port)),
        ("path".into(), json!(facts.path)),
        ("request_id".into(), json!(facts.request_id)),
        ("status".into(), json!(response.status().as_u16())),
        ("service".into(), json!(outcome.service)),
        ("target".into(), json!(outcome.target)),
        ("duration".into(), json!(started.elapsed().as_nanos() as u64)),
        ("method".into(), json!(facts.method)),
        ("req_content_length".into(), json!(facts.request_content_length)),
        ("req_content_type".into(), json!(facts.request_content_type)),
        ("resp_content_length".into(), json!(response_length)),
        (
            "resp_content_type".into(),
            json!(header_value(response.headers(), "content-type")),
        ),
        ("client_addr".into(), json!(facts.client_addr)),
        ("client_port".into(), json!(facts.client_port)),
        ("remote_addr".into(), json!(facts.remote_addr)),
        ("user_agent".into(), json!(facts.user_agent)),
        ("proto".into(), json!(facts.proto)),
        ("scheme".into(), json!("http")),
        ("query".into(), json!(facts.query)),
    ];
    let field_name =
        |prefix: &str, name: &str| format!("{prefix}_{}", name.to_ascii_lowercase().replace('-', "_"));
    if !outcome.target.is_empty() {
        for name in &outcome.log_request_headers {
            fields.push((
                field_name("req", name),
                json!(header_value(request_headers, name)),
            ));
        }
        for name in &outcome.log_response_headers {
            fields.push((
                field_name("resp", name),
                json!(header_value(response.headers(), name)),
            ));
        }
    }
    let borrowed: Vec<(&str, Value)> = fields
        .iter()
        .map(|(key, value)| (key.as_str(), value.clone()))
        .collect();
    logging::info("Request", &borrowed);
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let response =
            canonical_redirect(&request, "www.example.com:8080", "example.com").expect("redirects");
        assert_eq!(response.status(), StatusCode::MOVED_PERMANENTLY);
        assert_eq!(response.headers()[header::LOCATION], "http://example.com/x?y=1");
        assert_eq!(response.headers()[header::CONNECTION], "close");
        assert!(canonical_redirect(&request, "example.com:8080", "example.com").is_none());
    }
}
