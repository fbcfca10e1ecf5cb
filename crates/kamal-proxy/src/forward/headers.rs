//! Request and response header rules for forwarding (§7.2, §7.3, §4.6).
//!
//! Pure functions over header maps. The trust model: the client's `Forwarded`/`X-Forwarded-*` headers are
//! always removed and rebuilt; with `--forward-headers` the client's values are kept and the peer appended,
//! without it they are replaced by what the proxy saw itself.

use std::net::IpAddr;

use http::header::{self, HeaderMap, HeaderName, HeaderValue};

pub const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
pub const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
pub const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
pub const X_KAMAL_TARGET: HeaderName = HeaderName::from_static("x-kamal-target");
pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
pub const X_REQUEST_START: HeaderName = HeaderName::from_static("x-request-start");
pub const X_WRITER_AFFINITY: HeaderName = HeaderName::from_static("x-writer-affinity");
const FORWARDED: HeaderName = HeaderName::from_static("forwarded");
const PROXY_CONNECTION: HeaderName = HeaderName::from_static("proxy-connection");
const KEEP_ALIVE: HeaderName = HeaderName::from_static("keep-alive");

/// What the forwarding rules need to know about one request.
#[derive(Debug, Clone)]
pub struct ForwardContext<'a> {
    pub peer_ip: IpAddr,
    pub host: &'a str,
    pub tls: bool,
    pub forward_headers: bool,
    pub client_ip_header: &'a str,
    pub target_address: &'a str,
}

fn joined(headers: &HeaderMap, name: &HeaderName) -> String {
    headers
        .get_all(name)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .collect::<Vec<_>>()
        .join(", ")
}

fn first(headers: &HeaderMap, name: &HeaderName) -> String {
    headers
        .get(name)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

fn set(headers: &mut HeaderMap, name: HeaderName, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        headers.insert(name, value);
    }
}

/// `--client-ip-header NAME`: a non-empty `NAME` replaces `X-Forwarded-For` before anything else looks at it.
pub fn apply_client_ip_header(headers: &mut HeaderMap, client_ip_header: &str) {
    if client_ip_header.is_empty() {
        return;
    }
    let Ok(name) = HeaderName::from_bytes(client_ip_header.as_bytes()) else {
        return;
    };
    let value = first(headers, &name);
    if !value.is_empty() {
        set(headers, X_FORWARDED_FOR, &value);
    }
}

const HOP_BY_HOP: [HeaderName; 9] = [
    header::CONNECTION,
    PROXY_CONNECTION,
    KEEP_ALIVE,
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];

/// One string match per name (a length switch and a compare), where comparing with each of
/// [`HOP_BY_HOP`] in turn cost ten times as much on every request.
fn is_hop_by_hop(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "connection"
            | "proxy-connection"
            | "keep-alive"
            | "proxy-authenticate"
            | "proxy-authorization"
            | "te"
            | "trailer"
            | "transfer-encoding"
            | "upgrade"
    )
}

/// `ip` as text; IPv4 without `fmt`'s padding machinery, which showed in the per-request profile.
pub(crate) fn ip_text(ip: IpAddr) -> String {
    let IpAddr::V4(v4) = ip else {
        return ip.to_string();
    };
    let mut text = String::with_capacity(15);
    for (index, octet) in v4.octets().into_iter().enumerate() {
        if index > 0 {
            text.push('.');
        }
        if octet >= 100 {
            text.push(char::from(b'0' + octet / 100));
        }
        if octet >= 10 {
            text.push(char::from(b'0' + octet / 10 % 10));
        }
        text.push(char::from(b'0' + octet % 10));
    }
    text
}

/// Removes hop-by-hop headers (and any named in `Connection`); `keep_upgrade` restores the upgrade pair.
pub fn remove_hop_by_hop(headers: &mut HeaderMap, keep_upgrade: bool) {
    // Most messages carry none: one pass over the names instead of a lookup per hop-by-hop name.
    if !headers.keys().any(is_hop_by_hop) {
        return;
    }
    let upgrade = headers.get(header::UPGRADE).cloned();
    let listed: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    for name in listed {
        headers.remove(name);
    }
    let te_trailers = headers.get_all(header::TE).iter().any(|value| {
        value.to_str().is_ok_and(|v| {
            v.split(',')
                .any(|part| part.trim().eq_ignore_ascii_case("trailers"))
        })
    });
    for name in HOP_BY_HOP {
        headers.remove(name);
    }
    if te_trailers {
        headers.insert(header::TE, HeaderValue::from_static("trailers"));
    }
    if keep_upgrade {
        if let Some(upgrade) = upgrade {
            headers.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
            headers.insert(header::UPGRADE, upgrade);
        }
    }
}

/// Sets `name` to `value`, or removes it when `value` is not a valid header value.
fn replace(
    headers: &mut HeaderMap,
    name: HeaderName,
    value: Result<HeaderValue, http::header::InvalidHeaderValue>,
) {
    match value {
        Ok(value) => {
            headers.insert(name, value);
        }
        Err(_) => {
            headers.remove(name);
        }
    }
}

/// Rebuilds `X-Forwarded-*` and `X-Kamal-Target` on a request about to go upstream.
pub fn prepare_upstream_request(headers: &mut HeaderMap, context: &ForwardContext<'_>, is_upgrade: bool) {
    // The client's values count only with `--forward-headers`.
    let trusted = context.forward_headers;
    let prior = |headers: &HeaderMap, name: &HeaderName, all: bool| {
        if !trusted {
            String::new()
        } else if all {
            joined(headers, name)
        } else {
            first(headers, name)
        }
    };
    let prior_for = prior(headers, &X_FORWARDED_FOR, true);
    let prior_host = prior(headers, &X_FORWARDED_HOST, false);
    let prior_proto = prior(headers, &X_FORWARDED_PROTO, false);
    let prior_target = prior(headers, &X_KAMAL_TARGET, true);
    remove_hop_by_hop(headers, is_upgrade);
    headers.remove(FORWARDED);
    let peer = ip_text(context.peer_ip);
    let forwarded_for = if prior_for.is_empty() {
        peer
    } else {
        format!("{prior_for}, {peer}")
    };
    replace(headers, X_FORWARDED_FOR, HeaderValue::try_from(forwarded_for));
    let forwarded_host = if prior_host.is_empty() {
        HeaderValue::from_str(context.host)
    } else {
        HeaderValue::try_from(prior_host)
    };
    replace(headers, X_FORWARDED_HOST, forwarded_host);
    let forwarded_proto = if !prior_proto.is_empty() {
        HeaderValue::try_from(prior_proto)
    } else if context.tls {
        Ok(HeaderValue::from_static("https"))
    } else {
        Ok(HeaderValue::from_static("http"))
    };
    replace(headers, X_FORWARDED_PROTO, forwarded_proto);
    let target = if prior_target.is_empty() {
        HeaderValue::from_str(context.target_address)
    } else {
        HeaderValue::try_from(format!("{prior_target}, {}", context.target_address))
    };
    replace(headers, X_KAMAL_TARGET, target);
}

/// A WebSocket upgrade: `GET`, `Upgrade: websocket`, `Connection` containing `upgrade` (case-insensitive).
pub fn is_websocket(method: &http::Method, headers: &HeaderMap) -> bool {
    method == http::Method::GET
        && headers
            .get(header::UPGRADE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
        && headers
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|v| v.to_ascii_lowercase().contains("upgrade"))
}

/// Any protocol upgrade the upstream may accept with 101.
pub fn is_upgrade(headers: &HeaderMap) -> bool {
    headers.contains_key(header::UPGRADE)
        && headers
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|v| v.to_ascii_lowercase().contains("upgrade"))
}

/// Every `name=value` pair of the request's `Cookie` headers.
fn cookies(headers: &HeaderMap) -> impl Iterator<Item = (&str, &str)> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
}

/// A `kamal-writer` cookie holding Unix milliseconds still in the future.
pub fn has_writer_cookie(headers: &HeaderMap, now_millis: u128) -> bool {
    cookies(headers).any(|(name, value)| {
        name == "kamal-writer" && value.parse::<u128>().is_ok_and(|expiry| expiry > now_millis)
    })
}

/// The non-empty value of the `kamal-rollout` cookie the application sets (never the proxy) (§4.7).
pub fn rollout_cookie(headers: &HeaderMap) -> Option<String> {
    cookies(headers)
        .find(|(name, value)| *name == "kamal-rollout" && !value.is_empty())
        .map(|(_, value)| value.to_string())
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;

    fn context(forward_headers: bool) -> ForwardContext<'static> {
        ForwardContext {
            peer_ip: IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1)),
            host: "example.com:8080",
            tls: false,
            forward_headers,
            client_ip_header: "",
            target_address: "web:3000",
        }
    }

    fn client_headers() -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(X_FORWARDED_FOR, HeaderValue::from_static("203.0.113.9"));
        headers.insert(X_FORWARDED_HOST, HeaderValue::from_static("spoofed.example"));
        headers.insert(X_FORWARDED_PROTO, HeaderValue::from_static("https"));
        headers.insert(X_KAMAL_TARGET, HeaderValue::from_static("earlier"));
        headers.insert(FORWARDED, HeaderValue::from_static("for=1.2.3.4"));
        headers.insert(
            header::CONNECTION,
            HeaderValue::from_static("keep-alive, X-Secret"),
        );
        headers.insert("x-secret", HeaderValue::from_static("1"));
        headers.insert(header::HOST, HeaderValue::from_static("example.com:8080"));
        headers
    }

    #[test]
    fn untrusted_values_are_replaced() {
        let mut headers = client_headers();
        prepare_upstream_request(&mut headers, &context(false), false);
        assert_eq!(headers[X_FORWARDED_FOR], "127.0.0.1");
        assert_eq!(headers[X_FORWARDED_HOST], "example.com:8080");
        assert_eq!(headers[X_FORWARDED_PROTO], "http");
        assert_eq!(headers[X_KAMAL_TARGET], "web:3000");
        assert!(!headers.contains_key(FORWARDED));
        assert!(!headers.contains_key("x-secret"));
        assert!(!headers.contains_key(header::CONNECTION));
        assert_eq!(headers[header::HOST], "example.com:8080");
    }

    #[test]
    fn trusted_values_are_kept_and_extended() {
        let mut headers = client_headers();
        headers.append(X_FORWARDED_FOR, HeaderValue::from_static("198.51.100.1"));
        prepare_upstream_request(&mut headers, &context(true), false);
        assert_eq!(headers[X_FORWARDED_FOR], "203.0.113.9, 198.51.100.1, 127.0.0.1");
        assert_eq!(headers[X_FORWARDED_HOST], "spoofed.example");
        assert_eq!(headers[X_FORWARDED_PROTO], "https");
        assert_eq!(headers[X_KAMAL_TARGET], "earlier, web:3000");
    }

    #[test]
    fn client_ip_header_replaces_forwarded_for() {
        let mut headers = client_headers();
        headers.insert("true-client-ip", HeaderValue::from_static("192.0.2.7"));
        apply_client_ip_header(&mut headers, "True-Client-IP");
        prepare_upstream_request(&mut headers, &context(true), false);
        assert_eq!(headers[X_FORWARDED_FOR], "192.0.2.7, 127.0.0.1");
    }

    #[test]
    fn upgrades_keep_their_headers() {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
        headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        assert!(is_websocket(&http::Method::GET, &headers));
        assert!(!is_websocket(&http::Method::POST, &headers));
        prepare_upstream_request(&mut headers, &context(false), true);
        assert_eq!(headers[header::UPGRADE], "websocket");
        assert_eq!(headers[header::CONNECTION], "Upgrade");
    }

    #[test]
    fn ip_text_matches_display() {
        for ip in [
            "0.0.0.0",
            "127.0.0.1",
            "10.213.0.99",
            "255.255.255.255",
            "::1",
            "2001:db8::7",
        ] {
            let parsed: IpAddr = ip.parse().expect("ip");
            assert_eq!(ip_text(parsed), parsed.to_string());
        }
        for name in HOP_BY_HOP {
            assert!(is_hop_by_hop(&name), "{name}");
        }
        assert!(!is_hop_by_hop(&header::CONTENT_LENGTH));
    }

    #[test]
    fn writer_cookie_must_be_in_the_future() {
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, HeaderValue::from_static("a=b; kamal-writer=2000"));
        assert!(has_writer_cookie(&headers, 1000));
        assert!(!has_writer_cookie(&headers, 3000));
    }
}
