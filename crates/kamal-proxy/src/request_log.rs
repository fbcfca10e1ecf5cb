//! The request log line and the request metrics (§8.1, §8.2), emitted when the response body is finished.
//!
//! Go logs from a `defer` after the handler returns, that is after the body has been written, so `duration`
//! covers the whole response and `resp_content_length` is the bytes actually sent. We get the same by riding
//! inside the response body and logging when it is dropped.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use http::{HeaderMap, Request, Response};
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;

use crate::body::{BoxError, ProxyBody};
use crate::logging::{self, log_key, Field};
use crate::metrics::Metrics;

/// The request side of the log line, captured before the request is consumed.
#[derive(Debug)]
pub struct RequestFacts {
    pub host: String,
    /// Path and query, shared with the request (no copy).
    pub uri: http::Uri,
    pub request_id: String,
    pub method: http::Method,
    pub request_content_length: i64,
    pub request_content_type: String,
    pub client_addr: String,
    pub client_port: u16,
    pub user_agent: String,
    pub proto: &'static str,
    pub tls: bool,
}

/// Go's `Request.Proto`.
fn proto_name(version: http::Version) -> &'static str {
    match version {
        http::Version::HTTP_09 => "HTTP/0.9",
        http::Version::HTTP_10 => "HTTP/1.0",
        http::Version::HTTP_2 => "HTTP/2.0",
        http::Version::HTTP_3 => "HTTP/3.0",
        _ => "HTTP/1.1",
    }
}

fn header_text(headers: &HeaderMap, name: &str) -> String {
    headers
        .get(name)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

/// Every value of `name`, joined with `,` (Go's `strings.Join(header.Values(name), ",")`).
pub fn joined_header(headers: &HeaderMap, name: &str) -> String {
    joined_values(headers.get_all(name).iter().map(http::HeaderValue::as_bytes))
}

/// Header values joined with `,`, as Go joins them; both request paths (hyper's and [`crate::h1`]'s) log
/// through this, so they agree. A value that is not UTF-8 is left out.
pub fn joined_values<'a>(values: impl Iterator<Item = &'a [u8]>) -> String {
    let mut joined = String::new();
    for (index, value) in values
        .filter_map(|value| std::str::from_utf8(value).ok())
        .enumerate()
    {
        if index > 0 {
            joined.push(',');
        }
        joined.push_str(value);
    }
    joined
}

impl RequestFacts {
    pub fn from_request<B>(request: &Request<B>, host: String, peer: SocketAddr, tls: bool) -> Self {
        let headers = request.headers();
        Self {
            host,
            uri: request.uri().clone(),
            request_id: header_text(headers, "x-request-id"),
            method: request.method().clone(),
            request_content_length: header_text(headers, "content-length").parse().unwrap_or(-1),
            request_content_type: header_text(headers, "content-type"),
            client_addr: peer.ip().to_string(),
            client_port: peer.port(),
            user_agent: header_text(headers, "user-agent"),
            proto: proto_name(request.version()),
            tls,
        }
    }
}

/// What the pipeline learned while serving: filled in as it goes.
#[derive(Debug, Default)]
pub struct Outcome {
    pub service: String,
    pub target: String,
    /// `remote_addr`: the first `X-Forwarded-For` value after any `--client-ip-header` replacement.
    pub forwarded_for: String,
    /// `(field name, value)` for each `--log-request-header`, captured once a target was claimed.
    pub request_headers: Vec<(String, String)>,
    pub log_response_headers: Vec<String>,
    /// Counted in the in-flight gauge (a matched service whose path is not excluded from metrics).
    pub counted: bool,
    /// The client went away before the upstream answered: logged as 499.
    pub client_gone: bool,
}

pub fn field_name(prefix: &str, header: &str) -> String {
    format!("{prefix}_{}", header.to_ascii_lowercase().replace('-', "_"))
}

/// One request's record, logged when the response body is dropped.
pub struct Record {
    pub facts: RequestFacts,
    pub outcome: Outcome,
    pub status: u16,
    pub response_content_type: String,
    pub response_headers: Vec<(String, String)>,
    pub port: u16,
    pub started: Instant,
    pub metrics: Option<Arc<Metrics>>,
}

impl Record {
    /// Wraps the response so the record is written when its body is finished or abandoned.
    pub fn attach(
        facts: RequestFacts,
        outcome: Outcome,
        response: Response<ProxyBody>,
        port: u16,
        started: Instant,
        metrics: Option<Arc<Metrics>>,
    ) -> Response<ProxyBody> {
        let status = if outcome.client_gone {
            499
        } else {
            response.status().as_u16()
        };
        let response_headers = outcome
            .log_response_headers
            .iter()
            .map(|name| (field_name("resp", name), joined_header(response.headers(), name)))
            .collect();
        let record = Record {
            facts,
            status,
            response_content_type: joined_header(response.headers(), "content-type"),
            response_headers,
            outcome,
            port,
            started,
            metrics,
        };
        let (parts, body) = response.into_parts();
        Response::from_parts(
            parts,
            LoggedBody {
                inner: body,
                bytes: 0,
                record: Some(record),
            }
            .boxed(),
        )
    }

    pub(crate) fn finish(self, bytes: u64) {
        let duration = self.started.elapsed();
        if let Some(metrics) = &self.metrics {
            if self.outcome.counted {
                metrics.record(
                    &self.outcome.service,
                    self.facts.method.as_str(),
                    self.status,
                    duration,
                );
                metrics.leave(&self.outcome.service);
            } else if self.outcome.service.is_empty() {
                metrics.record("", self.facts.method.as_str(), self.status, duration);
            }
        }
        let facts = &self.facts;
        // Text from the client is escaped; what we wrote ourselves (a method token, an IP address, a fixed
        // word) is copied as it is.
        let remote_addr = if self.outcome.forwarded_for.is_empty() {
            Field::Plain(&facts.client_addr)
        } else {
            Field::Text(&self.outcome.forwarded_for)
        };
        let scheme = if facts.tls { "https" } else { "http" };
        let fields = [
            (log_key!("host"), Field::Text(&facts.host)),
            (log_key!("port"), Field::Unsigned(u64::from(self.port))),
            (log_key!("path"), Field::Text(facts.uri.path())),
            (log_key!("request_id"), Field::Text(&facts.request_id)),
            (log_key!("status"), Field::Unsigned(u64::from(self.status))),
            (log_key!("service"), Field::Text(&self.outcome.service)),
            (log_key!("target"), Field::Text(&self.outcome.target)),
            (log_key!("duration"), Field::Unsigned(duration.as_nanos() as u64)),
            (log_key!("method"), Field::Plain(facts.method.as_str())),
            (
                log_key!("req_content_length"),
                Field::Integer(facts.request_content_length),
            ),
            (
                log_key!("req_content_type"),
                Field::Text(&facts.request_content_type),
            ),
            (log_key!("resp_content_length"), Field::Unsigned(bytes)),
            (
                log_key!("resp_content_type"),
                Field::Text(&self.response_content_type),
            ),
            (log_key!("client_addr"), Field::Plain(&facts.client_addr)),
            (
                log_key!("client_port"),
                Field::UnsignedText(u64::from(facts.client_port)),
            ),
            (log_key!("remote_addr"), remote_addr),
            (log_key!("user_agent"), Field::Text(&facts.user_agent)),
            (log_key!("proto"), Field::Plain(facts.proto)),
            (log_key!("scheme"), Field::Plain(scheme)),
            (
                log_key!("query"),
                Field::Text(facts.uri.query().unwrap_or_default()),
            ),
        ];
        // Header fields only once a target was chosen, as in Go.
        let headers = if self.outcome.target.is_empty() {
            [].iter().chain(&[])
        } else {
            self.outcome.request_headers.iter().chain(&self.response_headers)
        };
        logging::info_fields("Request", &fields, headers);
    }
}

/// A request not answered yet. Dropped before [`InProgress::respond`] (the client went away and hyper
/// dropped the handler), it logs status 499, as Go does for a cancelled request.
pub struct InProgress {
    facts: Option<RequestFacts>,
    pub outcome: Outcome,
    port: u16,
    started: Instant,
    metrics: Option<Arc<Metrics>>,
}

impl InProgress {
    pub fn new(facts: RequestFacts, port: u16, started: Instant, metrics: Option<Arc<Metrics>>) -> Self {
        Self {
            facts: Some(facts),
            outcome: Outcome::default(),
            port,
            started,
            metrics,
        }
    }

    pub fn respond(mut self, response: Response<ProxyBody>) -> Response<ProxyBody> {
        let Some(facts) = self.facts.take() else {
            return response;
        };
        let outcome = std::mem::take(&mut self.outcome);
        Record::attach(
            facts,
            outcome,
            response,
            self.port,
            self.started,
            self.metrics.clone(),
        )
    }
}

impl Drop for InProgress {
    fn drop(&mut self) {
        if let Some(facts) = self.facts.take() {
            Record {
                facts,
                outcome: std::mem::take(&mut self.outcome),
                status: 499,
                response_content_type: String::new(),
                response_headers: Vec::new(),
                port: self.port,
                started: self.started,
                metrics: self.metrics.take(),
            }
            .finish(0);
        }
    }
}

struct LoggedBody {
    inner: ProxyBody,
    bytes: u64,
    record: Option<Record>,
}

impl Drop for LoggedBody {
    fn drop(&mut self) {
        if let Some(record) = self.record.take() {
            record.finish(self.bytes);
        }
    }
}

impl Body for LoggedBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(context);
        if let Poll::Ready(Some(Ok(frame))) = &polled {
            if let Some(data) = frame.data_ref() {
                self.bytes += data.len() as u64;
            }
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_values_join_like_go_on_both_paths() {
        let mut headers = HeaderMap::new();
        headers.append("cache-control", http::HeaderValue::from_static("no-cache"));
        headers.append("cache-control", http::HeaderValue::from_static("max-age=5"));
        // Not visible ASCII, but UTF-8: Go logs it, and so do both of our paths.
        headers.append(
            "x-name",
            http::HeaderValue::from_bytes("café".as_bytes()).expect("a header value"),
        );
        headers.append(
            "x-bytes",
            http::HeaderValue::from_bytes(b"\xff").expect("a header value"),
        );
        assert_eq!(joined_header(&headers, "cache-control"), "no-cache,max-age=5");
        assert_eq!(joined_header(&headers, "x-name"), "café");
        assert_eq!(joined_header(&headers, "x-bytes"), "");
        assert_eq!(joined_header(&headers, "absent"), "");
        let raw: [&[u8]; 3] = [b"a", b"\xff", b"b"];
        assert_eq!(joined_values(raw.into_iter()), "a,b");
    }
}
