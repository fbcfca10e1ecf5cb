//! On-demand TLS (§6.5): a service deployed with `--tls --tls-on-demand-url=…` and no hosts gets certificates
//! for any server name its endpoint approves.
//!
//! The check URL is the endpoint with `host=<server name>` set in its query (Go's `url.Values.Encode`: keys
//! sorted, `:` as `%3A`). A local path (`/allow-host`) is asked of the service itself, through its own handler
//! chain ([`crate::proxy::serve_internal`]); an absolute URL is fetched with a client that does not follow
//! redirects. Either way only a 200 within [`CHECK_TIMEOUT`] approves; anything else denies, and a status
//! answer is logged as `TLS on-demand check denied host` with the first [`MAX_BODY_BYTES`] of its body.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, StatusCode};
use http_body_util::BodyExt;
use serde_json::json;

use crate::logging;

pub const CHECK_TIMEOUT: Duration = Duration::from_secs(2);
pub const MAX_BODY_BYTES: usize = 256;

/// Whether the endpoint is a path served by the service itself rather than an external URL.
pub fn is_local(endpoint: &str) -> bool {
    endpoint.starts_with('/') && !endpoint.starts_with("//")
}

/// The endpoint with its query parameter `host` set to `host`, the other parameters kept and every key
/// sorted, as Go's `url.Values.Encode` writes them (the fragment is dropped; it is never sent).
pub fn check_url(endpoint: &str, host: &str) -> String {
    let without_fragment = endpoint.split('#').next().unwrap_or_default();
    let (base, query) = without_fragment.split_once('?').unwrap_or((without_fragment, ""));
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|pair| !pair.is_empty() && !pair.contains(';'))
        .filter_map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            Some((query_unescape(key)?, query_unescape(value)?))
        })
        .filter(|(key, _)| key != "host")
        .collect();
    pairs.push(("host".to_string(), host.to_string()));
    // A stable sort by key keeps each key's values in their order, as Go's Encode does.
    pairs.sort_by(|(a, _), (b, _)| a.cmp(b));
    let encoded: Vec<String> = pairs
        .iter()
        .map(|(key, value)| format!("{}={}", query_escape(key), query_escape(value)))
        .collect();
    format!("{base}?{}", encoded.join("&"))
}

/// Go's `url.QueryEscape`: unreserved bytes as they are, space as `+`, the rest `%XX`.
fn query_escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => escaped.push(byte as char),
            b' ' => escaped.push('+'),
            _ => escaped.push_str(&format!("%{byte:02X}")),
        }
    }
    escaped
}

/// Go's `url.QueryUnescape`; `None` for a bad escape (Go drops such a pair).
fn query_unescape(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        match bytes[index] {
            b'%' => {
                let hex = std::str::from_utf8(bytes.get(index + 1..index + 3)?).ok()?;
                decoded.push(u8::from_str_radix(hex, 16).ok()?);
                index += 3;
            }
            b'+' => {
                decoded.push(b' ');
                index += 1;
            }
            byte => {
                decoded.push(byte);
                index += 1;
            }
        }
    }
    Some(String::from_utf8_lossy(&decoded).into_owned())
}

/// Turns a check's answer into the verdict: 200 approves; any other status is a denial, logged.
pub fn verdict(host: &str, status: StatusCode, body: &[u8]) -> Result<(), String> {
    if status == StatusCode::OK {
        return Ok(());
    }
    let body = String::from_utf8_lossy(body);
    logging::warn(
        "TLS on-demand check denied host",
        &[
            ("host", json!(host)),
            ("status", json!(status.as_u16())),
            ("body", json!(body)),
        ],
    );
    Err(format!(
        "{host} is not allowed to get a certificate (status: {}, body: {})",
        status.as_u16(),
        go_quote(&body)
    ))
}

/// GET of an external check URL: 2 s for the whole exchange, redirects not followed (a 302 is an answer).
/// Returns the status and the first [`MAX_BODY_BYTES`] of the body.
pub async fn fetch_external(
    tls: &Arc<rustls::ClientConfig>,
    url: &str,
) -> Result<(StatusCode, Vec<u8>), String> {
    let exchange = async {
        let request = super::request(Method::GET, url, None)?;
        let response = super::send_request(tls, url, request).await?;
        let status = response.status();
        let body = read_prefix(response.into_body(), MAX_BODY_BYTES).await;
        Ok::<_, String>((status, body))
    };
    tokio::time::timeout(CHECK_TIMEOUT, exchange)
        .await
        .map_err(|_| format!("Get \"{url}\": timed out after {}s", CHECK_TIMEOUT.as_secs()))?
}

/// The first `limit` bytes of a body; the rest is not read.
pub async fn read_prefix<B>(body: B, limit: usize) -> Vec<u8>
where
    B: http_body::Body<Data = Bytes> + Unpin,
{
    let mut body = body;
    let mut prefix = Vec::new();
    while prefix.len() < limit {
        match body.frame().await {
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    let take = data.len().min(limit - prefix.len());
                    prefix.extend_from_slice(&data[..take]);
                }
            }
            _ => break,
        }
    }
    prefix
}

/// Go's `%q` for a string: double-quoted with `"`, `\` and control characters escaped.
fn go_quote(text: &str) -> String {
    let mut quoted = String::with_capacity(text.len() + 2);
    quoted.push('"');
    for character in text.chars() {
        match character {
            '"' => quoted.push_str("\\\""),
            '\\' => quoted.push_str("\\\\"),
            '\n' => quoted.push_str("\\n"),
            '\r' => quoted.push_str("\\r"),
            '\t' => quoted.push_str("\\t"),
            '\u{7}' => quoted.push_str("\\a"),
            '\u{8}' => quoted.push_str("\\b"),
            '\u{c}' => quoted.push_str("\\f"),
            '\u{b}' => quoted.push_str("\\v"),
            character if (character as u32) < 0x20 || character == '\u{7f}' => {
                quoted.push_str(&format!("\\x{:02x}", character as u32));
            }
            character => quoted.push(character),
        }
    }
    quoted.push('"');
    quoted
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_urls_set_host_and_sort_keys_as_go() {
        assert_eq!(check_url("/allow-host", "a.test"), "/allow-host?host=a.test");
        assert_eq!(
            check_url("/allow-host?token=abc", "test.example.com"),
            "/allow-host?host=test.example.com&token=abc"
        );
        assert_eq!(
            check_url("https://auth.example/check?z=1&host=old&a=x+y", "h.test:443"),
            "https://auth.example/check?a=x+y&host=h.test%3A443&z=1"
        );
        assert_eq!(check_url("/a?b=%zz&c=1#frag", "h"), "/a?c=1&host=h");
    }

    #[test]
    fn only_200_approves_and_denials_quote_the_body_as_go() {
        assert!(verdict("a.test", StatusCode::OK, b"").is_ok());
        assert_eq!(
            verdict("a.test", StatusCode::FORBIDDEN, b"Access denied"),
            Err("a.test is not allowed to get a certificate (status: 403, body: \"Access denied\")".into())
        );
        assert_eq!(
            verdict("a.test", StatusCode::FOUND, b"say \"no\"\n"),
            Err(
                "a.test is not allowed to get a certificate (status: 302, body: \"say \\\"no\\\"\\n\")"
                    .into()
            )
        );
        assert!(verdict("a.test", StatusCode::NO_CONTENT, b"").is_err());
    }

    #[test]
    fn local_endpoints_are_paths() {
        assert!(is_local("/allow-host"));
        assert!(!is_local("//evil/allow"));
        assert!(!is_local("http://auth/allow"));
    }
}
