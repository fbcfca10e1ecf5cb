//! Response heads and bodies as the fast path writes them, byte for byte as hyper's server wrote them before
//! (Go's canonical Title-Case names, a `Date` when the response has none, `Content-Length` or chunked framing
//! chosen the same way), so that a client cannot tell which path answered.

use std::cell::RefCell;
use std::io;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{header, Method, Response, StatusCode};
use http_body::Body;
use http_body_util::BodyExt;
use tokio::io::{AsyncWrite, AsyncWriteExt};

use crate::body::ProxyBody;
use crate::forward::upstream::{push_title_case, RawHead};

thread_local! {
    /// The `Date` value of the current second, formatted once per second per thread.
    static DATE: RefCell<(u64, Vec<u8>)> = const { RefCell::new((u64::MAX, Vec::new())) };
}

/// `Date: <IMF-fixdate>\r\n`.
pub fn push_date(out: &mut Vec<u8>) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs())
        .unwrap_or_default();
    DATE.with_borrow_mut(|(second, text)| {
        if *second != now {
            *second = now;
            text.clear();
            text.extend_from_slice(
                crate::cookie_scope::imf_fixdate(i64::try_from(now).unwrap_or_default()).as_bytes(),
            );
        }
        out.extend_from_slice(b"Date: ");
        out.extend_from_slice(text);
        out.extend_from_slice(b"\r\n");
    });
}

/// `HTTP/1.1 <code> <reason>\r\n`; hyper's `<none>` for a code without a reason phrase.
pub fn push_status_line(out: &mut Vec<u8>, status: StatusCode) {
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(status.canonical_reason().unwrap_or("<none>").as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// Hop-by-hop fields (RFC 9110 §7.6.1), by lower-case name, as [`crate::forward::headers`] removes them.
pub fn is_hop_by_hop(name: &[u8]) -> bool {
    // By length first: most names are compared with nothing.
    let is = |expected: &[u8]| name.eq_ignore_ascii_case(expected);
    match name.len() {
        2 => is(b"te"),
        7 => is(b"trailer") || is(b"upgrade"),
        10 => is(b"connection") || is(b"keep-alive"),
        16 => is(b"proxy-connection"),
        17 => is(b"transfer-encoding"),
        18 => is(b"proxy-authenticate"),
        19 => is(b"proxy-authorization"),
        _ => false,
    }
}

/// Whether some comma-separated token of `values` is `token` (case-insensitive).
pub fn has_token<'a>(mut values: impl Iterator<Item = &'a [u8]>, token: &[u8]) -> bool {
    values.any(|value| {
        value
            .split(|byte| *byte == b',')
            .any(|part| part.trim_ascii().eq_ignore_ascii_case(token))
    })
}

/// The head of an upstream response whose body is `Content-Length`-framed, as the client gets it: hop-by-hop
/// fields (and those `Connection` names) dropped, names in canonical case, one `Content-Length`, a `Date`
/// when there was none. `None` when the head needs the general path (no reason phrase for its status, or a
/// `Transfer-Encoding` that changes the framing).
pub fn upstream_head(head: &RawHead) -> Option<Vec<u8>> {
    let reason = head.status.canonical_reason()?;
    let mut out = Vec::with_capacity(head.bytes.len() + 64);
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(head.status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(reason.as_bytes());
    out.extend_from_slice(b"\r\n");
    let mut wrote_length = false;
    let mut wrote_date = false;
    let mut te_trailers = false;
    let has_hop_by_hop = (0..head.fields.len()).any(|index| is_hop_by_hop(head.name(index)));
    // The names `Connection` lists (besides its own tokens), gathered once.
    let listed: Vec<&[u8]> = if has_hop_by_hop {
        head.values("connection")
            .flat_map(|value| value.split(|byte| *byte == b','))
            .map(<[u8]>::trim_ascii)
            .filter(|name| !name.is_empty())
            .collect()
    } else {
        Vec::new()
    };
    for index in 0..head.fields.len() {
        let name = head.name(index);
        if has_hop_by_hop {
            if name.eq_ignore_ascii_case(b"transfer-encoding") {
                return None;
            }
            if name.eq_ignore_ascii_case(b"te") {
                te_trailers |= has_token(std::iter::once(head.value(index)), b"trailers");
            }
            if is_hop_by_hop(name) || listed.iter().any(|listed| listed.eq_ignore_ascii_case(name)) {
                continue;
            }
        }
        match name.len() {
            14 if name.eq_ignore_ascii_case(b"content-length") => {
                // hyper wrote the first and dropped the repeats (they agree: the framing checked).
                if wrote_length {
                    continue;
                }
                wrote_length = true;
            }
            4 if name.eq_ignore_ascii_case(b"date") => wrote_date = true,
            _ => {}
        }
        push_title_case(&mut out, name);
        out.extend_from_slice(b": ");
        out.extend_from_slice(head.value(index));
        out.extend_from_slice(b"\r\n");
    }
    if te_trailers {
        out.extend_from_slice(b"Te: trailers\r\n");
    }
    if !wrote_date {
        push_date(&mut out);
    }
    out.extend_from_slice(b"\r\n");
    Some(out)
}

/// hyper's rules for which responses carry a body and a length (RFC 9110 §6.4.1).
fn can_have_body(method: &Method, status: StatusCode) -> bool {
    !(*method == Method::HEAD
        || status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED)
}

fn can_have_length(status: StatusCode) -> bool {
    !(status.is_informational() || status == StatusCode::NO_CONTENT || status == StatusCode::NOT_MODIFIED)
}

/// Writes `response` (an error page, a buffered or chunked upstream response) as hyper's server did.
/// An error means the connection is broken: the client or the body failed mid-way.
pub async fn response<W: AsyncWrite + Unpin>(
    io: &mut W,
    response: Response<ProxyBody>,
    method: &Method,
    bytes: &mut u64,
) -> io::Result<bool> {
    let (parts, mut body) = response.into_parts();
    let status = parts.status;
    let mut out = Vec::with_capacity(256);
    push_status_line(&mut out, status);
    let mut declared: Option<u64> = None;
    let mut wrote_length = false;
    let mut wrote_date = false;
    let mut close = status == StatusCode::SWITCHING_PROTOCOLS;
    for (name, value) in &parts.headers {
        if name == header::CONTENT_LENGTH {
            if wrote_length {
                continue;
            }
            wrote_length = true;
            declared = value.to_str().ok().and_then(|text| text.trim().parse().ok());
        } else if name == header::TRANSFER_ENCODING {
            // Never on a response here: the proxy frames bodies itself.
            continue;
        } else if name == header::CONNECTION {
            close |= has_token(std::iter::once(value.as_bytes()), b"close");
        } else if name == header::DATE {
            wrote_date = true;
        }
        push_title_case(&mut out, name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    let with_body = can_have_body(method, status);
    let exact = body.size_hint().exact();
    let mut chunked = false;
    let mut length = declared.or(exact);
    if !wrote_length {
        // As hyper: an implicit zero length except for HEAD, a known length, else chunked when a body may follow.
        let implicit_zero = exact == Some(0) && can_have_length(status) && *method != Method::HEAD;
        let known = exact.filter(|known| *known > 0 && can_have_length(status));
        if implicit_zero {
            out.extend_from_slice(b"Content-Length: 0\r\n");
        } else if let Some(known) = known {
            out.extend_from_slice(format!("Content-Length: {known}\r\n").as_bytes());
        } else if exact.is_none() && with_body {
            out.extend_from_slice(b"Transfer-Encoding: chunked\r\n");
            chunked = true;
        }
    }
    if !with_body {
        length = Some(0);
        chunked = false;
    }
    if !wrote_date {
        push_date(&mut out);
    }
    out.extend_from_slice(b"\r\n");
    if length == Some(0) && !chunked {
        io.write_all(&out).await?;
        return Ok(!close);
    }
    // Small bodies (pages) go out with the head in one write.
    let mut pending = out;
    let mut sent: u64 = 0;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(io::Error::other)?;
        let Ok(data) = frame.into_data() else {
            continue; // trailers: not declared, so not sent (as hyper)
        };
        if data.is_empty() {
            continue;
        }
        if let Some(length) = length.filter(|_| !chunked) {
            if sent + data.len() as u64 > length {
                return Err(io::Error::other("response body longer than its Content-Length"));
            }
        }
        sent += data.len() as u64;
        *bytes = sent;
        if chunked {
            pending.extend_from_slice(format!("{:X}\r\n", data.len()).as_bytes());
        }
        write_data(io, &mut pending, data).await?;
        if chunked {
            pending.extend_from_slice(b"\r\n");
        }
        if !chunked && length == Some(sent) {
            break;
        }
        if !body.is_end_stream() && !pending.is_empty() {
            // A stream (server-sent events): what there is goes out before waiting for more.
            io.write_all(&pending).await?;
            pending.clear();
        }
    }
    if chunked {
        pending.extend_from_slice(b"0\r\n\r\n");
    } else if length.is_some_and(|length| sent < length) {
        return Err(io::Error::other("response body shorter than its Content-Length"));
    }
    if !pending.is_empty() {
        io.write_all(&pending).await?;
    }
    // A body of unknown length that cannot be chunked ends with the connection.
    Ok(!close && (chunked || length.is_some()))
}

/// Queues `data` behind `pending` (small) or writes both now (large), leaving `pending` empty then.
async fn write_data<W: AsyncWrite + Unpin>(io: &mut W, pending: &mut Vec<u8>, data: Bytes) -> io::Result<()> {
    if pending.len() + data.len() <= 16 * 1024 {
        pending.extend_from_slice(&data);
        return Ok(());
    }
    if !pending.is_empty() {
        io.write_all(pending).await?;
        pending.clear();
    }
    io.write_all(&data).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;

    fn raw(text: &str) -> RawHead {
        let mut buffer = BytesMut::from(text);
        crate::forward::upstream::parse_raw_head(&mut buffer, &Method::GET)
            .expect("valid")
            .expect("complete")
    }

    fn without_date(bytes: &[u8]) -> String {
        let text = String::from_utf8_lossy(bytes).into_owned();
        text.lines()
            .filter(|line| !line.starts_with("Date: "))
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn upstream_heads_lose_hop_by_hop_fields_and_gain_a_date() {
        let head = raw("HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\nConnection: keep-alive, X-Secret\r\n\
             X-Secret: 1\r\nKeep-Alive: timeout=5\r\ncontent-length: 2\r\nContent-Length: 2\r\nx-multi-part-name: a\r\n\r\nok");
        let out = upstream_head(&head).expect("fast");
        let text = String::from_utf8_lossy(&out);
        assert!(text.contains("\r\nDate: "), "{text}");
        assert_eq!(
            without_date(&out),
            "HTTP/1.1 200 OK\nContent-Type: text/plain\nContent-Length: 2\nX-Multi-Part-Name: a\n"
        );
    }

    #[test]
    fn upstream_dates_and_unusual_statuses() {
        let head =
            raw("HTTP/1.0 404 Whatever\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\nContent-Length: 0\r\n\r\n");
        assert_eq!(
            String::from_utf8_lossy(&upstream_head(&head).expect("fast")),
            "HTTP/1.1 404 Not Found\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\nContent-Length: 0\r\n\r\n"
        );
        assert!(upstream_head(&raw("HTTP/1.1 599 Odd\r\nContent-Length: 0\r\n\r\n")).is_none());
        assert!(upstream_head(&raw(
            "HTTP/1.1 204 No Content\r\nTransfer-Encoding: chunked\r\n\r\n"
        ))
        .is_none());
    }

    async fn written(response: Response<ProxyBody>, method: &Method) -> (String, bool, u64) {
        let mut out = Vec::new();
        let mut bytes = 0;
        let keep_alive = super::response(&mut out, response, method, &mut bytes)
            .await
            .expect("written");
        (without_date(&out), keep_alive, bytes)
    }

    #[tokio::test]
    async fn pages_get_a_length_and_streams_are_chunked() {
        let page = crate::proxy::error_page(None, StatusCode::BAD_GATEWAY, None);
        let (text, keep_alive, bytes) = written(page, &Method::GET).await;
        assert!(
            text.starts_with(
                "HTTP/1.1 502 Bad Gateway\nContent-Type: text/html; charset=utf-8\nContent-Length: "
            ),
            "{text}"
        );
        assert!(keep_alive);
        assert!(bytes > 0);

        let stream = http_body_util::StreamBody::new(futures_stream(vec!["ab", "cde"]));
        let response = Response::new(BodyExt::boxed(stream));
        let (text, keep_alive, bytes) = written(response, &Method::GET).await;
        assert_eq!(
            text,
            "HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n\n2\nab\n3\ncde\n0\n"
        );
        assert!(keep_alive);
        assert_eq!(bytes, 5);
    }

    #[tokio::test]
    async fn head_and_no_content_answers_have_no_body_and_close_is_honoured() {
        let page = crate::proxy::error_page(None, StatusCode::NOT_FOUND, None);
        let (text, _, bytes) = written(page, &Method::HEAD).await;
        assert!(
            text.starts_with(
                "HTTP/1.1 404 Not Found\nContent-Type: text/html; charset=utf-8\nContent-Length: "
            ),
            "{text}"
        );
        assert!(!text.contains('<'), "no body for HEAD: {text}");
        assert_eq!(bytes, 0);

        let mut response = Response::new(crate::body::full("moved"));
        *response.status_mut() = StatusCode::MOVED_PERMANENTLY;
        response
            .headers_mut()
            .insert(header::CONNECTION, http::HeaderValue::from_static("close"));
        let (text, keep_alive, _) = written(response, &Method::GET).await;
        assert_eq!(
            text,
            "HTTP/1.1 301 Moved Permanently\nConnection: close\nContent-Length: 5\n\nmoved"
        );
        assert!(!keep_alive);
    }

    fn futures_stream(
        parts: Vec<&'static str>,
    ) -> impl futures_core::Stream<Item = Result<http_body::Frame<Bytes>, crate::body::BoxError>> + Send + Sync
    {
        Unfold(parts.into_iter())
    }

    /// A stream of data frames without pulling in a stream utility crate.
    struct Unfold(std::vec::IntoIter<&'static str>);

    impl futures_core::Stream for Unfold {
        type Item = Result<http_body::Frame<Bytes>, crate::body::BoxError>;

        fn poll_next(
            mut self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Option<Self::Item>> {
            std::task::Poll::Ready(
                self.0
                    .next()
                    .map(|part| Ok(http_body::Frame::data(Bytes::from_static(part.as_bytes())))),
            )
        }
    }
}
