//! A small HTTP/1.1 client for one upstream connection, driven inside the request's own task.
//!
//! hyper's client needs a spawned task per connection and a channel hop per request; proxying is simple
//! enough to do without: the request head is written as one buffer (Go's canonical Title-Case names, as
//! hyper's `title_case_headers` wrote them), the request body streams from the same poll as the response is
//! read (an upstream may answer before it has the whole body), the response head is parsed with `httparse`,
//! and the response body is read straight from the socket by [`ResponseBody`], which hands the connection
//! back to its pool when the body ends cleanly.
//!
//! Framing follows RFC 9112 §6.3: no body for HEAD, 1xx, 204 and 304; chunked (with extensions and trailers)
//! when `Transfer-Encoding` ends in chunked; else `Content-Length`; else the body runs to the close.

use std::collections::VecDeque;
use std::future::poll_fn;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::{Buf, Bytes, BytesMut};
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Response, StatusCode, Version};
use http_body::{Body, Frame, SizeHint};
use tokio::io::AsyncWrite;
use tokio::net::TcpStream;

use crate::body::{BoxError, ProxyBody};

/// As hyper's client allowed by default: 8 KiB plus 4 KiB for each of 100 headers.
pub const MAX_HEAD_BYTES: usize = 8192 + 4096 * 100;
/// hyper's default header count limit.
const MAX_HEADERS: usize = 100;
/// A chunk-size line (with extensions) or a trailer section longer than this is refused.
const MAX_CHUNK_LINE: usize = 4096;
const MAX_TRAILER_BYTES: usize = 64 * 1024;
/// Reads for the head: one read carries a small response whole.
const HEAD_READ: usize = 8 * 1024;
/// Reads for large bodies: fewer, larger reads cost fewer syscalls per byte.
pub const BODY_READ: usize = 256 * 1024;

/// One open connection to an upstream, with whatever it sent that nobody has consumed yet.
#[derive(Debug)]
pub struct Connection {
    pub stream: TcpStream,
    /// Bytes read and not consumed yet.
    pub(crate) read: BytesMut,
}

impl Connection {
    pub fn new(stream: TcpStream) -> Self {
        Self {
            stream,
            read: BytesMut::new(),
        }
    }

    /// False when an idle connection was closed by the upstream (or sent something unasked). Costs no syscall
    /// unless the socket was reported readable.
    pub fn is_usable(&self) -> bool {
        if !self.read.is_empty() {
            return false;
        }
        let mut context = Context::from_waker(std::task::Waker::noop());
        match self.stream.poll_read_ready(&mut context) {
            Poll::Pending => true,
            Poll::Ready(Err(_)) => false,
            Poll::Ready(Ok(())) => {
                let mut probe = [0u8; 1];
                matches!(self.stream.try_read(&mut probe), Err(error) if error.kind() == io::ErrorKind::WouldBlock)
            }
        }
    }

    /// Reads more bytes into the buffer; `Ok(0)` is the end of the stream.
    fn poll_fill(&mut self, context: &mut Context<'_>, want: usize) -> Poll<io::Result<usize>> {
        if self.read.capacity() - self.read.len() < want / 4 {
            self.read.reserve(want);
        }
        tokio_util::io::poll_read_buf(Pin::new(&mut self.stream), context, &mut self.read)
    }
}

/// Go's canonical form of a header name: first letter and each letter after a dash upper case
/// (`x-forwarded-for` → `X-Forwarded-For`), as hyper's `title_case_headers` wrote it.
pub(crate) fn push_title_case(out: &mut Vec<u8>, name: &[u8]) {
    let start = out.len();
    out.extend_from_slice(name);
    let mut upper = true;
    for byte in &mut out[start..] {
        if upper {
            byte.make_ascii_uppercase();
        }
        upper = *byte == b'-';
    }
}

/// How the request body is framed on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    Length(u64),
    Chunked,
}

/// The request as it goes upstream: head bytes and the body still to send.
pub struct Outgoing {
    head: Bytes,
    body: Option<(ProxyBody, Framing)>,
}

impl Outgoing {
    /// Encodes the head. `target` is the request-target (origin-form, or authority for CONNECT). A body of
    /// unknown length goes chunked; a known length gets `Content-Length` unless the client's is kept.
    pub fn new(method: &Method, target: &str, headers: &HeaderMap, body: ProxyBody) -> Result<Self, String> {
        if target.is_empty() || target.bytes().any(|byte| byte <= b' ' || byte == 0x7f) {
            return Err(format!("invalid upstream URI: {target:?}"));
        }
        let framing = if body.is_end_stream() {
            None
        } else if let Some(length) = declared_length(headers) {
            Some((Framing::Length(length), None))
        } else if let Some(length) = body.size_hint().exact() {
            Some((Framing::Length(length), Some(length)))
        } else {
            Some((Framing::Chunked, None))
        };
        let mut head = Vec::with_capacity(256 + headers.len() * 32);
        head.extend_from_slice(method.as_str().as_bytes());
        head.push(b' ');
        head.extend_from_slice(target.as_bytes());
        head.extend_from_slice(b" HTTP/1.1\r\n");
        for (name, value) in headers {
            let chunked = matches!(framing, Some((Framing::Chunked, _)));
            if (framing.is_none() && name == header::TRANSFER_ENCODING)
                || (chunked && name == header::CONTENT_LENGTH)
            {
                continue;
            }
            push_title_case(&mut head, name.as_str().as_bytes());
            head.extend_from_slice(b": ");
            head.extend_from_slice(value.as_bytes());
            head.extend_from_slice(b"\r\n");
        }
        match framing {
            Some((Framing::Length(_), Some(length))) => {
                head.extend_from_slice(format!("Content-Length: {length}\r\n").as_bytes());
            }
            Some((Framing::Chunked, _)) => head.extend_from_slice(b"Transfer-Encoding: chunked\r\n"),
            _ => {}
        }
        head.extend_from_slice(b"\r\n");
        Ok(Self {
            head: Bytes::from(head),
            body: framing.map(|(framing, _)| (body, framing)),
        })
    }

    /// A request already encoded whole, head and body (the fast path's, see [`crate::h1`]).
    pub fn encoded(bytes: Bytes) -> Self {
        Self {
            head: bytes,
            body: None,
        }
    }

    pub fn has_body(&self) -> bool {
        self.body.is_some()
    }

    /// A copy to send again, for a request without a body.
    pub fn replay(&self) -> Option<Outgoing> {
        self.body.is_none().then(|| Outgoing {
            head: self.head.clone(),
            body: None,
        })
    }
}

/// The client's `Content-Length`, when it has one valid value (repeated values must agree).
fn declared_length(headers: &HeaderMap) -> Option<u64> {
    let mut length = None;
    for value in headers.get_all(header::CONTENT_LENGTH) {
        for part in value.to_str().ok()?.split(',') {
            let parsed: u64 = part.trim().parse().ok()?;
            if length.is_some_and(|known| known != parsed) {
                return None;
            }
            length = Some(parsed);
        }
    }
    length
}

/// Why the request body stopped being written.
#[derive(Debug)]
enum WriteError {
    /// The client's body failed (gone, malformed): the exchange fails.
    Body(BoxError),
    /// The upstream stopped taking bytes; its answer may still come.
    Io(io::Error),
}

/// Writes the head and then the body, framed, as the body yields frames.
struct Writer {
    segments: VecDeque<Bytes>,
    body: Option<(ProxyBody, Framing)>,
    written: usize,
}

impl Writer {
    fn new(outgoing: Outgoing) -> Self {
        let mut segments = VecDeque::with_capacity(4);
        segments.push_back(outgoing.head);
        Self {
            segments,
            body: outgoing.body,
            written: 0,
        }
    }

    fn poll_flush(&mut self, stream: &mut TcpStream, context: &mut Context<'_>) -> Poll<io::Result<()>> {
        while !self.segments.is_empty() {
            let mut slices = [IoSlice::new(&[]); 4];
            let count = self.segments.len().min(slices.len());
            for (slice, segment) in slices.iter_mut().zip(self.segments.iter()) {
                *slice = IoSlice::new(segment);
            }
            let mut written = ready!(Pin::new(&mut *stream).poll_write_vectored(context, &slices[..count]))?;
            if written == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.written += written;
            while written > 0 {
                let Some(front) = self.segments.front_mut() else {
                    break;
                };
                if written >= front.len() {
                    written -= front.len();
                    self.segments.pop_front();
                } else {
                    front.advance(written);
                    written = 0;
                }
            }
        }
        Poll::Ready(Ok(()))
    }

    /// Ready once everything is written.
    fn poll_write(
        &mut self,
        stream: &mut TcpStream,
        context: &mut Context<'_>,
    ) -> Poll<Result<(), WriteError>> {
        loop {
            ready!(self.poll_flush(stream, context)).map_err(WriteError::Io)?;
            let Some((body, framing)) = &mut self.body else {
                return Poll::Ready(Ok(()));
            };
            match ready!(Pin::new(&mut *body).poll_frame(context)) {
                None => {
                    if *framing == Framing::Chunked {
                        self.segments.push_back(Bytes::from_static(b"0\r\n\r\n"));
                    } else if *framing != Framing::Length(0) {
                        return Poll::Ready(Err(WriteError::Body(
                            "request body shorter than its Content-Length".into(),
                        )));
                    }
                    self.body = None;
                }
                Some(Err(error)) => return Poll::Ready(Err(WriteError::Body(error))),
                Some(Ok(frame)) => {
                    // Trailers of the client's request are dropped, as hyper's client did (its `Trailer`
                    // header, hop-by-hop, is gone).
                    let Ok(data) = frame.into_data() else { continue };
                    if data.is_empty() {
                        continue;
                    }
                    match framing {
                        Framing::Chunked => {
                            self.segments
                                .push_back(Bytes::from(format!("{:X}\r\n", data.len()).into_bytes()));
                            self.segments.push_back(data);
                            self.segments.push_back(Bytes::from_static(b"\r\n"));
                        }
                        Framing::Length(remaining) => {
                            let length = data.len() as u64;
                            if length > *remaining {
                                return Poll::Ready(Err(WriteError::Body(
                                    "request body longer than its Content-Length".into(),
                                )));
                            }
                            *remaining -= length;
                            self.segments.push_back(data);
                        }
                    }
                }
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decoder {
    Length(u64),
    Chunked(ChunkState),
    Close,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChunkState {
    Size,
    Data(u64),
    DataEnd,
    Trailers,
}

/// A response head as the upstream sent it: the bytes, where each field is in them, and how the body is
/// framed. The fast path ([`crate::h1`]) writes it on from these bytes; [`RawHead::into_response`] builds
/// a `HeaderMap` for everything else.
#[derive(Debug)]
pub struct RawHead {
    /// The whole head, its closing blank line included.
    pub bytes: Bytes,
    pub status: StatusCode,
    /// The minor version: `HTTP/1.<version>`.
    pub version: u8,
    /// `(name, value)` byte ranges in [`RawHead::bytes`], in the order sent.
    pub fields: Vec<(std::ops::Range<usize>, std::ops::Range<usize>)>,
    pub decoder: Decoder,
    pub keep_alive: bool,
}

impl RawHead {
    pub fn name(&self, index: usize) -> &[u8] {
        &self.bytes[self.fields[index].0.clone()]
    }

    pub fn value(&self, index: usize) -> &[u8] {
        &self.bytes[self.fields[index].1.clone()]
    }

    /// Every value of the field `name` (lower case), in order.
    pub fn values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.fields
            .iter()
            .filter(move |(field, _)| self.bytes[field.clone()].eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, value)| &self.bytes[value.clone()])
    }

    /// The head as a `Response`, its values sharing the head's bytes; `Content-Length` is dropped when
    /// `Transfer-Encoding` overrides it (RFC 9112 §6.3).
    pub fn into_response(&self) -> Result<Response<()>, String> {
        let mut headers = HeaderMap::with_capacity(self.fields.len());
        for (name, value) in &self.fields {
            let name = HeaderName::from_bytes(&self.bytes[name.clone()])
                .map_err(|_| format!("invalid upstream header name {:?}", &self.bytes[name.clone()]))?;
            let value = HeaderValue::from_maybe_shared(self.bytes.slice(value.clone()))
                .map_err(|_| format!("invalid value for upstream header {name}"))?;
            headers.append(name, value);
        }
        if headers.contains_key(header::TRANSFER_ENCODING) {
            headers.remove(header::CONTENT_LENGTH);
        }
        let mut response = Response::new(());
        *response.status_mut() = self.status;
        *response.version_mut() = if self.version == 1 {
            Version::HTTP_11
        } else {
            Version::HTTP_10
        };
        *response.headers_mut() = headers;
        Ok(response)
    }
}

/// Whether any comma-separated token of the fields `values` is `token` (case-insensitive).
fn has_token<'a>(values: impl Iterator<Item = &'a [u8]>, token: &str) -> bool {
    values.into_iter().any(|value| {
        value
            .split(|byte| *byte == b',')
            .any(|part| part.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
    })
}

/// The `Content-Length` of raw field values, when they hold one valid value (repeats must agree).
pub fn raw_declared_length<'a>(values: impl Iterator<Item = &'a [u8]>) -> Option<u64> {
    let mut length = None;
    for value in values {
        for part in value.split(|byte| *byte == b',') {
            let part = part.trim_ascii();
            if part.is_empty() || part.len() > 19 || !part.iter().all(u8::is_ascii_digit) {
                return None;
            }
            let parsed = part
                .iter()
                .fold(0u64, |sum, digit| sum * 10 + u64::from(digit - b'0'));
            if length.is_some_and(|known| known != parsed) {
                return None;
            }
            length = Some(parsed);
        }
    }
    length
}

/// Parses a complete head from the front of `buffer`, if there is one, taking it out of the buffer.
pub fn parse_raw_head(buffer: &mut BytesMut, method: &Method) -> Result<Option<RawHead>, String> {
    // Uninitialised slots, as for requests (h1::parse_head).
    let mut slots = [const { std::mem::MaybeUninit::uninit() }; MAX_HEADERS];
    let mut parsed = httparse::Response::new(&mut []);
    let length = match httparse::ParserConfig::default().parse_response_with_uninit_headers(
        &mut parsed,
        buffer,
        &mut slots,
    ) {
        Ok(httparse::Status::Complete(length)) => length,
        Ok(httparse::Status::Partial) if buffer.len() >= MAX_HEAD_BYTES => {
            return Err("upstream response head too large".into())
        }
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(error) => return Err(format!("invalid upstream response: {error}")),
    };
    if length > MAX_HEAD_BYTES {
        return Err("upstream response head too large".into());
    }
    let code = parsed.code.unwrap_or_default();
    let status = StatusCode::from_u16(code).map_err(|_| format!("invalid upstream status {code}"))?;
    let version = parsed.version.unwrap_or(1);
    let base = buffer.as_ptr() as usize;
    let fields: Vec<_> = parsed
        .headers
        .iter()
        .map(|slot| {
            let name = slot.name.as_ptr() as usize - base;
            let value = slot.value.as_ptr() as usize - base;
            (name..name + slot.name.len(), value..value + slot.value.len())
        })
        .collect();
    let mut head = RawHead {
        bytes: buffer.split_to(length).freeze(),
        status,
        version,
        fields,
        decoder: Decoder::Close,
        keep_alive: false,
    };
    // One pass over the names (compared only when the length fits) for what framing and reuse depend on.
    let (mut close, mut keep_alive, mut has_length) = (false, false, false);
    let mut transfer_encoding = None;
    // The declared length, `None` once some `Content-Length` is invalid or disagrees with another.
    let mut declared: Option<u64> = None;
    let mut length_valid = true;
    for (name, value) in &head.fields {
        let name = &head.bytes[name.clone()];
        let value = &head.bytes[value.clone()];
        match name.len() {
            10 if name.eq_ignore_ascii_case(b"connection") => {
                close |= has_token(std::iter::once(value), "close");
                keep_alive |= has_token(std::iter::once(value), "keep-alive");
            }
            14 if name.eq_ignore_ascii_case(b"content-length") => {
                has_length = true;
                match raw_declared_length(std::iter::once(value)) {
                    Some(length) if declared.is_none_or(|known| known == length) => declared = Some(length),
                    _ => length_valid = false,
                }
            }
            17 if name.eq_ignore_ascii_case(b"transfer-encoding") => transfer_encoding = Some(value),
            _ => {}
        }
    }
    let keep_alive = if version == 1 { !close } else { keep_alive };
    head.decoder = if *method == Method::HEAD
        || status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED
    {
        Decoder::Length(0)
    } else if let Some(last) = transfer_encoding {
        let chunked = last
            .rsplit(|byte| *byte == b',')
            .next()
            .is_some_and(|last| last.trim_ascii().eq_ignore_ascii_case(b"chunked"));
        if chunked {
            Decoder::Chunked(ChunkState::Size)
        } else {
            Decoder::Close
        }
    } else if has_length {
        Decoder::Length(
            declared
                .filter(|_| length_valid)
                .ok_or("invalid upstream Content-Length")?,
        )
    } else {
        Decoder::Close
    };
    head.keep_alive = keep_alive && head.decoder != Decoder::Close;
    Ok(Some(head))
}

/// Why an exchange produced no response.
pub struct Failure {
    pub message: String,
    /// Nothing was written: [`Failure::outgoing`] holds the request, body included, to send elsewhere.
    pub unsent: bool,
    /// No response byte came back (the upstream closed or reset): replayable if the request is idempotent.
    pub unanswered: bool,
    pub outgoing: Option<Outgoing>,
}

impl Failure {
    fn new(message: String) -> Self {
        Self {
            message,
            unsent: false,
            unanswered: false,
            outgoing: None,
        }
    }
}

/// What an upstream answered: the head with its body, or a switch of protocols with the raw connection.
pub enum Answer {
    Response(Response<ResponseBody>),
    /// 101: the connection (and any bytes the upstream already sent past the head) now belongs to the
    /// upgraded protocol.
    Upgraded(Response<()>, TcpStream, Bytes),
}

/// A response head read off a connection, with the connection and whatever of the request body is still
/// going out on it.
pub struct Exchanged {
    pub head: RawHead,
    pub connection: Connection,
    writer: Option<Writer>,
    /// The connection can carry another request once this response's body is read.
    pub reusable: bool,
}

impl Exchanged {
    /// The request went out whole: nothing of it is left to write.
    pub fn request_sent(&self) -> bool {
        self.writer.is_none()
    }

    /// As a `Response` whose body reads the rest from the connection, or the upgraded stream on a 101 the
    /// client asked for.
    pub fn into_answer(self, upgrade: bool) -> Result<Answer, String> {
        let response = self.head.into_response()?;
        if self.head.status == StatusCode::SWITCHING_PROTOCOLS && upgrade {
            let mut connection = self.connection;
            let buffered = connection.read.split().freeze();
            return Ok(Answer::Upgraded(response, connection.stream, buffered));
        }
        let (parts, ()) = response.into_parts();
        let body = ResponseBody {
            connection: Some(self.connection),
            writer: self.writer,
            decoder: self.head.decoder,
            reusable: self.reusable,
            finished: None,
        };
        Ok(Answer::Response(Response::from_parts(parts, body)))
    }
}

/// Sends `outgoing` on `connection` and reads the response head (skipping 1xx other than 101).
pub async fn exchange(
    connection: Connection,
    outgoing: Outgoing,
    method: &Method,
    upgrade: bool,
) -> Result<Answer, Failure> {
    exchange_raw(connection, outgoing, method, upgrade)
        .await?
        .into_answer(upgrade)
        .map_err(Failure::new)
}

/// Sends `outgoing` on `connection` and reads the response head (skipping 1xx other than 101), as sent.
pub async fn exchange_raw(
    mut connection: Connection,
    outgoing: Outgoing,
    method: &Method,
    upgrade: bool,
) -> Result<Exchanged, Failure> {
    let has_body = outgoing.has_body();
    let original_head = outgoing.head.clone();
    let mut writer = Some(Writer::new(outgoing));
    let mut write_error: Option<io::Error> = None;
    let mut received = false;
    let head = poll_fn(|context| {
        if let Some(active) = &mut writer {
            match active.poll_write(&mut connection.stream, context) {
                Poll::Pending => {}
                Poll::Ready(Ok(())) => writer = None,
                Poll::Ready(Err(WriteError::Body(error))) => {
                    return Poll::Ready(Err(Failure::new(crate::forward::pool::describe(&*error))))
                }
                Poll::Ready(Err(WriteError::Io(error))) => {
                    // An upstream may refuse a body and answer at once (413): keep reading for it.
                    write_error = Some(error);
                    writer = None;
                }
            }
        }
        loop {
            if !connection.read.is_empty() {
                received = true;
                match parse_raw_head(&mut connection.read, method) {
                    Err(message) => return Poll::Ready(Err(Failure::new(message))),
                    Ok(Some(head))
                        if head.status.is_informational()
                            && head.status != StatusCode::SWITCHING_PROTOCOLS =>
                    {
                        continue
                    }
                    Ok(Some(head)) => return Poll::Ready(Ok(head)),
                    Ok(None) => {}
                }
            }
            let read = match ready!(connection.poll_fill(context, HEAD_READ)) {
                Ok(read) => read,
                Err(error) if received => return Poll::Ready(Err(Failure::new(describe_io(&error)))),
                Err(error) => return Poll::Ready(Err(unanswered(describe_io(&error)))),
            };
            if read == 0 {
                let message = match &write_error {
                    Some(error) => describe_io(error),
                    None => "upstream closed the connection before a response".to_string(),
                };
                return Poll::Ready(Err(if received {
                    Failure::new(message)
                } else {
                    unanswered(message)
                }));
            }
        }
    })
    .await;
    let head = match head {
        Ok(head) => head,
        Err(mut failure) => {
            if failure.unanswered {
                if let Some(writer) = writer.take() {
                    if writer.written == 0 {
                        // Not a byte went out: the request, body included, can go on another connection.
                        failure.unsent = true;
                        failure.outgoing = Some(Outgoing {
                            head: original_head,
                            body: writer.body,
                        });
                    }
                }
            }
            return Err(failure);
        }
    };
    // After a 101 the connection speaks something else: it is not reused.
    let reusable = head.keep_alive
        && write_error.is_none()
        && !upgrade
        && head.status != StatusCode::SWITCHING_PROTOCOLS;
    Ok(Exchanged {
        head,
        connection,
        writer: if has_body { writer } else { None },
        reusable,
    })
}

fn unanswered(message: String) -> Failure {
    Failure {
        unanswered: true,
        ..Failure::new(message)
    }
}

fn describe_io(error: &io::Error) -> String {
    crate::forward::pool::describe(error)
}

/// What to do with the connection once the body has ended cleanly.
pub type OnFinished = Box<dyn FnOnce(Connection) + Send + Sync>;

/// The response body, read from the upstream socket as the client takes it.
pub struct ResponseBody {
    connection: Option<Connection>,
    /// The rest of the request body, still streaming while the response is read.
    writer: Option<Writer>,
    decoder: Decoder,
    reusable: bool,
    finished: Option<OnFinished>,
}

impl std::fmt::Debug for ResponseBody {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("ResponseBody")
            .field("decoder", &self.decoder)
            .finish()
    }
}

impl ResponseBody {
    /// A body that has ended, holding nothing.
    pub fn failed() -> Self {
        Self {
            connection: None,
            writer: None,
            decoder: Decoder::Length(0),
            reusable: false,
            finished: None,
        }
    }

    /// Called with the connection when the body ends cleanly and the connection can carry another request.
    pub fn on_finished(&mut self, finished: OnFinished) {
        self.finished = Some(finished);
        if self.decoder == Decoder::Length(0) {
            self.finish();
        }
    }

    /// The body ended: the connection goes back if nothing is left half-done on it.
    fn finish(&mut self) {
        self.decoder = Decoder::Length(0);
        let Some(connection) = self.connection.take() else {
            return;
        };
        if self.reusable && self.writer.is_none() && connection.read.is_empty() {
            if let Some(finished) = self.finished.take() {
                finished(connection);
            }
        }
    }

    fn fail(&mut self, message: String) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        self.connection = None;
        self.writer = None;
        self.decoder = Decoder::Length(0);
        Poll::Ready(Some(Err(message.into())))
    }

    /// Data from the buffer, up to `limit` bytes, else from the socket; `None` at the end of the stream.
    fn poll_data(
        connection: &mut Connection,
        context: &mut Context<'_>,
        limit: u64,
    ) -> Poll<io::Result<Option<Bytes>>> {
        if connection.read.is_empty() {
            let want = usize::try_from(limit)
                .unwrap_or(usize::MAX)
                .clamp(HEAD_READ, BODY_READ);
            if ready!(connection.poll_fill(context, want))? == 0 {
                return Poll::Ready(Ok(None));
            }
        }
        let take = usize::try_from(limit)
            .unwrap_or(usize::MAX)
            .min(connection.read.len());
        Poll::Ready(Ok(Some(connection.read.split_to(take).freeze())))
    }

    fn poll_chunked(&mut self, context: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        loop {
            let Decoder::Chunked(state) = self.decoder else {
                return Poll::Ready(None);
            };
            let Some(connection) = self.connection.as_mut() else {
                return Poll::Ready(None);
            };
            match state {
                ChunkState::Data(remaining) => {
                    match ready!(Self::poll_data(connection, context, remaining)) {
                        Err(error) => return self.fail(describe_io(&error)),
                        Ok(None) => return self.fail(CLOSED_MID_BODY.into()),
                        Ok(Some(data)) => {
                            let left = remaining - data.len() as u64;
                            self.decoder = Decoder::Chunked(if left == 0 {
                                ChunkState::DataEnd
                            } else {
                                ChunkState::Data(left)
                            });
                            return Poll::Ready(Some(Ok(Frame::data(data))));
                        }
                    }
                }
                ChunkState::Size => match httparse::parse_chunk_size(&connection.read) {
                    Ok(httparse::Status::Complete((used, size))) => {
                        connection.read.advance(used);
                        self.decoder = Decoder::Chunked(if size == 0 {
                            ChunkState::Trailers
                        } else {
                            ChunkState::Data(size)
                        });
                        continue;
                    }
                    Ok(httparse::Status::Partial) if connection.read.len() > MAX_CHUNK_LINE => {
                        return self.fail("upstream chunk size line too long".into())
                    }
                    Ok(httparse::Status::Partial) => {}
                    Err(_) => return self.fail("invalid chunk size from upstream".into()),
                },
                ChunkState::DataEnd => {
                    if connection.read.len() >= 2 {
                        if &connection.read[..2] != b"\r\n" {
                            return self.fail("invalid chunk end from upstream".into());
                        }
                        connection.read.advance(2);
                        self.decoder = Decoder::Chunked(ChunkState::Size);
                        continue;
                    }
                }
                ChunkState::Trailers => {
                    let mut slots = [httparse::EMPTY_HEADER; MAX_HEADERS];
                    match httparse::parse_headers(&connection.read, &mut slots) {
                        Ok(httparse::Status::Complete((used, fields))) => {
                            let mut trailers = HeaderMap::new();
                            for field in fields {
                                if let (Ok(name), Ok(value)) = (
                                    HeaderName::from_bytes(field.name.as_bytes()),
                                    HeaderValue::from_bytes(field.value),
                                ) {
                                    trailers.append(name, value);
                                }
                            }
                            connection.read.advance(used);
                            self.finish();
                            if trailers.is_empty() {
                                return Poll::Ready(None);
                            }
                            return Poll::Ready(Some(Ok(Frame::trailers(trailers))));
                        }
                        Ok(httparse::Status::Partial) if connection.read.len() > MAX_TRAILER_BYTES => {
                            return self.fail("upstream trailers too large".into())
                        }
                        Ok(httparse::Status::Partial) => {}
                        Err(error) => return self.fail(format!("invalid upstream trailers: {error}")),
                    }
                }
            }
            // More bytes are needed to go on.
            match ready!(connection.poll_fill(context, HEAD_READ)) {
                Err(error) => return self.fail(describe_io(&error)),
                Ok(0) => return self.fail(CLOSED_MID_BODY.into()),
                Ok(_) => {}
            }
        }
    }
}

const CLOSED_MID_BODY: &str = "upstream closed the connection before the end of the body";

impl Drop for ResponseBody {
    fn drop(&mut self) {
        // hyper stops polling once `is_end_stream` says the body is complete.
        if self.decoder == Decoder::Length(0) {
            self.finish();
        }
    }
}

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        context: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        if let (Some(writer), Some(connection)) = (&mut this.writer, &mut this.connection) {
            match writer.poll_write(&mut connection.stream, context) {
                Poll::Pending => {}
                Poll::Ready(Ok(())) => this.writer = None,
                Poll::Ready(Err(WriteError::Body(error))) => {
                    return this.fail(crate::forward::pool::describe(&*error))
                }
                Poll::Ready(Err(WriteError::Io(_))) => {
                    this.writer = None;
                    this.reusable = false;
                }
            }
        }
        match this.decoder {
            Decoder::Length(0) => {
                this.finish();
                Poll::Ready(None)
            }
            Decoder::Length(remaining) => {
                let Some(connection) = this.connection.as_mut() else {
                    return Poll::Ready(None);
                };
                match ready!(Self::poll_data(connection, context, remaining)) {
                    Err(error) => this.fail(describe_io(&error)),
                    Ok(None) => this.fail(CLOSED_MID_BODY.into()),
                    Ok(Some(data)) => {
                        let left = remaining - data.len() as u64;
                        this.decoder = Decoder::Length(left);
                        if left == 0 {
                            this.finish();
                        }
                        Poll::Ready(Some(Ok(Frame::data(data))))
                    }
                }
            }
            Decoder::Close => {
                let Some(connection) = this.connection.as_mut() else {
                    return Poll::Ready(None);
                };
                match ready!(Self::poll_data(connection, context, u64::MAX)) {
                    Err(error) => this.fail(describe_io(&error)),
                    Ok(None) => {
                        this.reusable = false;
                        this.finish();
                        Poll::Ready(None)
                    }
                    Ok(Some(data)) => Poll::Ready(Some(Ok(Frame::data(data)))),
                }
            }
            Decoder::Chunked(_) => this.poll_chunked(context),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.decoder == Decoder::Length(0)
    }

    fn size_hint(&self) -> SizeHint {
        match self.decoder {
            Decoder::Length(remaining) => SizeHint::with_exact(remaining),
            _ => SizeHint::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    use http_body_util::BodyExt;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    use super::*;

    /// Reads one request head (and a `Content-Length` body) from `stream`; `None` when it closed.
    async fn read_request(stream: &mut TcpStream) -> Option<String> {
        let mut received = Vec::new();
        let mut byte = [0u8; 1];
        while !received.ends_with(b"\r\n\r\n") {
            match stream.read(&mut byte).await {
                Ok(1) => received.push(byte[0]),
                _ => return None,
            }
        }
        let text = String::from_utf8_lossy(&received).into_owned();
        let length = text
            .lines()
            .find_map(|line| line.strip_prefix("Content-Length: "))
            .and_then(|value| value.trim().parse::<usize>().ok())
            .unwrap_or(0);
        let mut body = vec![0u8; length];
        stream.read_exact(&mut body).await.ok()?;
        Some(text + &String::from_utf8_lossy(&body))
    }

    /// A real upstream on loopback taking one connection: each request gets the next answer, written in the
    /// pieces given (a pause between them makes the client see them in separate reads); then it closes. The
    /// task returns the requests it received.
    async fn upstream(
        answers: Vec<Vec<&'static [u8]>>,
    ) -> (SocketAddr, tokio::task::JoinHandle<Vec<String>>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("address");
        let task = tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.expect("accept");
            let mut requests = Vec::new();
            for pieces in answers {
                let Some(request) = read_request(&mut stream).await else {
                    break;
                };
                requests.push(request);
                for (index, piece) in pieces.iter().enumerate() {
                    if index > 0 {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                    if stream.write_all(piece).await.is_err() {
                        return requests;
                    }
                }
            }
            requests
        });
        (address, task)
    }

    fn outgoing(method: Method, body: ProxyBody) -> Outgoing {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, HeaderValue::from_static("example.com"));
        headers.insert("x-forwarded-for", HeaderValue::from_static("127.0.0.1"));
        Outgoing::new(&method, "/path?q=1", &headers, body).expect("valid request")
    }

    async fn send(address: SocketAddr, method: Method) -> Result<Answer, Failure> {
        let stream = TcpStream::connect(address).await.expect("connect");
        exchange(
            Connection::new(stream),
            outgoing(method.clone(), crate::body::empty()),
            &method,
            false,
        )
        .await
    }

    fn response(answer: Result<Answer, Failure>) -> Response<ResponseBody> {
        match answer {
            Ok(Answer::Response(response)) => response,
            Ok(Answer::Upgraded(..)) => panic!("unexpected upgrade"),
            Err(failure) => panic!("no response: {}", failure.message),
        }
    }

    /// The body with the connection it hands back, if it does.
    async fn read_body(
        mut response: Response<ResponseBody>,
    ) -> (
        Result<http_body_util::Collected<Bytes>, BoxError>,
        Option<Connection>,
    ) {
        let (returned, mut back) = tokio::sync::mpsc::unbounded_channel();
        response.body_mut().on_finished(Box::new(move |connection| {
            let _ = returned.send(connection);
        }));
        let collected = response.into_body().collect().await;
        (collected, back.try_recv().ok())
    }

    #[tokio::test]
    async fn writes_go_canonical_heads_and_content_length_bodies() {
        let (address, requests) =
            upstream(vec![vec![b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"]]).await;
        let stream = TcpStream::connect(address).await.expect("connect");
        let answer = exchange(
            Connection::new(stream),
            outgoing(Method::POST, crate::body::full("hello")),
            &Method::POST,
            false,
        )
        .await;
        let (body, connection) = read_body(response(answer)).await;
        assert_eq!(body.expect("body").to_bytes(), "ok");
        assert!(connection.is_some(), "a finished keep-alive connection goes back");
        let requests = requests.await.expect("upstream");
        assert_eq!(
            requests[0],
            "POST /path?q=1 HTTP/1.1\r\nHost: example.com\r\nX-Forwarded-For: 127.0.0.1\r\n\
             Content-Length: 5\r\n\r\nhello"
        );
    }

    #[tokio::test]
    async fn chunked_bodies_with_extensions_and_trailers() {
        let (address, _requests) = upstream(vec![vec![
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 99\r\n\r\n5;name=value\r\nhel",
            b"lo\r\n6 ; x=\"y\"\r\n world\r\n0\r\nX-Checksum: abc\r\nX-Other: 1\r\n\r\n",
        ]])
        .await;
        let response = response(send(address, Method::GET).await);
        assert!(!response.headers().contains_key(header::CONTENT_LENGTH));
        let (body, connection) = read_body(response).await;
        let body = body.expect("body");
        let trailers = body.trailers().cloned().expect("trailers");
        assert_eq!(trailers["x-checksum"], "abc");
        assert_eq!(trailers["x-other"], "1");
        assert_eq!(body.to_bytes(), "hello world");
        assert!(connection.is_some());
    }

    #[tokio::test]
    async fn close_delimited_bodies_end_with_the_connection() {
        let (address, _requests) = upstream(vec![vec![b"HTTP/1.1 200 OK\r\n\r\nuntil ", b"the end"]]).await;
        let response = response(send(address, Method::GET).await);
        assert_eq!(http_body::Body::size_hint(response.body()).exact(), None);
        let (body, connection) = read_body(response).await;
        assert_eq!(body.expect("body").to_bytes(), "until the end");
        assert!(connection.is_none(), "the connection is used up");
    }

    #[tokio::test]
    async fn head_204_and_304_have_no_body() {
        let (address, _requests) = upstream(vec![
            vec![b"HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n"],
            vec![b"HTTP/1.1 204 No Content\r\n\r\n"],
            vec![b"HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n"],
            vec![b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nlast"],
        ])
        .await;
        let mut connection = Connection::new(TcpStream::connect(address).await.expect("connect"));
        for (method, status) in [
            (Method::HEAD, StatusCode::OK),
            (Method::GET, StatusCode::NO_CONTENT),
            (Method::GET, StatusCode::NOT_MODIFIED),
        ] {
            let answer = exchange(
                connection,
                outgoing(method.clone(), crate::body::empty()),
                &method,
                false,
            )
            .await;
            let response = response(answer);
            assert_eq!(response.status(), status);
            assert!(http_body::Body::is_end_stream(response.body()));
            let (body, returned) = read_body(response).await;
            assert!(body.expect("body").to_bytes().is_empty());
            connection = returned.expect("the same connection carries the next request");
        }
        let (body, _) = read_body(response(
            exchange(
                connection,
                outgoing(Method::GET, crate::body::empty()),
                &Method::GET,
                false,
            )
            .await,
        ))
        .await;
        assert_eq!(body.expect("body").to_bytes(), "last");
    }

    #[tokio::test]
    async fn informational_answers_are_skipped_and_split_heads_are_joined() {
        let (address, _requests) = upstream(vec![vec![
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\nHTTP/1.1 2",
            b"01 Created\r\nContent-Le",
            b"ngth: 3\r\nX-Id: 7\r\n",
            b"\r\nnew",
        ]])
        .await;
        let response = response(send(address, Method::GET).await);
        assert_eq!(response.status(), StatusCode::CREATED);
        assert_eq!(response.headers()["x-id"], "7");
        assert!(!response.headers().contains_key("link"));
        let (body, _) = read_body(response).await;
        assert_eq!(body.expect("body").to_bytes(), "new");
    }

    #[tokio::test]
    async fn switching_protocols_hands_over_the_stream_with_buffered_bytes() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("address");
        tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.expect("accept");
            let _ = read_request(&mut stream).await;
            let _ = stream
                .write_all(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\nearly")
                .await;
            let mut echo = [0u8; 4];
            if stream.read_exact(&mut echo).await.is_ok() {
                let _ = stream.write_all(&echo).await;
            }
        });
        let stream = TcpStream::connect(address).await.expect("connect");
        let answer = exchange(
            Connection::new(stream),
            outgoing(Method::GET, crate::body::empty()),
            &Method::GET,
            true,
        )
        .await;
        let Ok(Answer::Upgraded(head, mut stream, buffered)) = answer else {
            panic!("expected an upgrade");
        };
        assert_eq!(head.status(), StatusCode::SWITCHING_PROTOCOLS);
        assert_eq!(buffered, "early");
        stream.write_all(b"ping").await.expect("write");
        let mut echo = [0u8; 4];
        stream.read_exact(&mut echo).await.expect("read");
        assert_eq!(&echo, b"ping");
    }

    #[tokio::test]
    async fn garbage_and_oversized_heads_are_refused() {
        let (address, _requests) = upstream(vec![vec![b"SSH-2.0-OpenSSH_9.2\r\n\r\n"]]).await;
        let failure = send(address, Method::GET).await.err().expect("refused");
        assert!(
            failure.message.starts_with("invalid upstream response"),
            "{}",
            failure.message
        );

        let huge: &'static [u8] = Box::leak(
            format!("HTTP/1.1 200 OK\r\nX-Big: {}\r\n", "a".repeat(MAX_HEAD_BYTES))
                .into_bytes()
                .into_boxed_slice(),
        );
        let (address, _requests) = upstream(vec![vec![huge]]).await;
        let failure = send(address, Method::GET).await.err().expect("refused");
        assert_eq!(failure.message, "upstream response head too large");
    }

    #[tokio::test]
    async fn conflicting_content_lengths_are_refused() {
        for head in [
            &b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok"[..],
            b"HTTP/1.1 200 OK\r\nContent-Length: 2, 3\r\n\r\nok",
            b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\nok",
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: x\r\n\r\nok",
            b"HTTP/1.1 200 OK\r\nContent-Length: 2, 2\r\nContent-Length: 3\r\n\r\nok",
        ] {
            let (address, _requests) = upstream(vec![vec![head]]).await;
            let failure = send(address, Method::GET)
                .await
                .err()
                .map(|failure| failure.message);
            assert_eq!(failure.as_deref(), Some("invalid upstream Content-Length"));
        }
        // Repeats that agree, in one field or in several, are one length.
        for head in [
            &b"HTTP/1.1 200 OK\r\nContent-Length: 2, 2\r\nConnection: close\r\n\r\nok"[..],
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok",
        ] {
            let (address, _requests) = upstream(vec![vec![head]]).await;
            let (body, connection) = read_body(response(send(address, Method::GET).await)).await;
            assert_eq!(body.expect("body").to_bytes(), "ok");
            assert!(connection.is_none(), "Connection: close is not reused");
        }
    }

    #[tokio::test]
    async fn garbage_heads_become_502_through_forward() {
        use crate::forward::headers::ForwardContext;
        let (address, _requests) = upstream(vec![vec![b"HTTP/1.1 abc\r\n\r\n"]]).await;
        let target = crate::service::target::Target::new(address.to_string());
        let guard = target.claim().expect("claim");
        let context = ForwardContext {
            peer_ip: std::net::IpAddr::from([127, 0, 0, 1]),
            host: "example.com",
            tls: false,
            forward_headers: false,
            client_ip_header: "",
            target_address: &target.address,
        };
        let request = http::Request::get("/")
            .body(crate::body::empty())
            .expect("request");
        let error = crate::forward::forward(request, guard, "/", &context, Duration::from_secs(5))
            .await
            .expect_err("no response");
        assert_eq!(error.status(), StatusCode::BAD_GATEWAY);
    }

    #[tokio::test]
    async fn closing_mid_body_is_an_error_not_a_short_success() {
        let (address, _requests) = upstream(vec![vec![
            b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial",
        ]])
        .await;
        let (body, connection) = read_body(response(send(address, Method::GET).await)).await;
        let error = body.expect_err("error");
        assert_eq!(error.to_string(), CLOSED_MID_BODY);
        assert!(connection.is_none());

        let (address, _requests) = upstream(vec![vec![
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10\r\nshort",
        ]])
        .await;
        let (body, _) = read_body(response(send(address, Method::GET).await)).await;
        assert!(body.is_err());
    }

    #[tokio::test]
    async fn pooled_connections_closed_by_the_upstream_are_replaced() {
        // Answers one request per connection, then closes without saying so (a keep-alive timeout).
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("address");
        let connections = Arc::new(AtomicUsize::new(0));
        let counter = connections.clone();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    if read_request(&mut stream).await.is_some() {
                        let _ = stream
                            .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                            .await;
                    }
                });
            }
        });
        let pool = Arc::new(super::super::pool::Pool::new(&address.to_string()));
        for round in 0..5 {
            let headers = HeaderMap::new();
            let answer = pool
                .send(
                    &Method::GET,
                    &headers,
                    outgoing(Method::GET, crate::body::empty()),
                    false,
                )
                .await;
            let Ok(Answer::Response(mut response)) = answer else {
                panic!("round {round}: no response");
            };
            let home = pool.clone();
            response
                .body_mut()
                .on_finished(Box::new(move |connection| home.reuse(connection)));
            let body = response.into_body().collect().await.expect("body").to_bytes();
            assert_eq!(body, "ok", "round {round}");
            assert_eq!(pool.idle_count(), 1, "round {round}: kept for the next request");
        }
        assert_eq!(connections.load(Ordering::SeqCst), 5);
    }

    #[tokio::test]
    async fn requests_sent_on_a_dead_connection_are_replayed_when_idempotent() {
        // The first and third connections close right after reading a request, without any answer.
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("address");
        tokio::spawn(async move {
            let mut accepted = 0;
            while let Ok((mut stream, _)) = listener.accept().await {
                let silent = accepted % 2 == 0;
                accepted += 1;
                tokio::spawn(async move {
                    while read_request(&mut stream).await.is_some() {
                        if silent {
                            return;
                        }
                        let _ = stream
                            .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                            .await;
                    }
                });
            }
        });
        let pool = super::super::pool::Pool::new(&address.to_string());
        pool.reuse(Connection::new(
            TcpStream::connect(address).await.expect("connect"),
        ));
        let headers = HeaderMap::new();
        let answer = pool
            .send(
                &Method::GET,
                &headers,
                outgoing(Method::GET, crate::body::empty()),
                false,
            )
            .await;
        let (body, _) = read_body(response(answer.map_err(Failure::new))).await;
        assert_eq!(body.expect("body").to_bytes(), "ok");

        // A POST with a body is not sent twice.
        pool.reuse(Connection::new(
            TcpStream::connect(address).await.expect("connect"),
        ));
        let answer = pool
            .send(
                &Method::POST,
                &headers,
                outgoing(Method::POST, crate::body::full("x")),
                false,
            )
            .await;
        assert!(answer.is_err());
    }
}
