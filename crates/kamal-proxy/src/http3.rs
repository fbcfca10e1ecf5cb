//! HTTP/3 (§6.1): with `run --http3`, a QUIC endpoint on the HTTPS port's UDP twin, TLS 1.3 only with ALPN
//! `h3`, the HTTPS listener's certificate resolver and the same request handler. Without `--http3` no UDP
//! socket is opened. HTTPS responses then advertise it with `Alt-Svc` ([`alt_svc`]); HTTP/3 responses do not.
//!
//! Certificates: QUIC handshakes take what the resolver has. An ACME certificate is issued on the first
//! HTTPS (TCP) handshake for a host, which is also where browsers learn of HTTP/3 from `Alt-Svc`.

use std::future::Future;
use std::net::{Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use http::{HeaderValue, Request, Response};
use http_body::{Body, Frame, SizeHint};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::body::ProxyBody;
use crate::logging;

pub const ALPN_H3: &[u8] = b"h3";

type RecvStream = h3::server::RequestStream<h3_quinn::RecvStream, Bytes>;
type SendStream = h3::server::RequestStream<h3_quinn::SendStream<Bytes>, Bytes>;

/// quic-go's `SetQUICHeaders` value for a server on `port`.
pub fn alt_svc(port: u16) -> HeaderValue {
    HeaderValue::from_str(&format!("h3=\":{port}\"; ma=2592000")).unwrap_or(HeaderValue::from_static("h3"))
}

/// The QUIC server configuration: the HTTPS listener's certificates, TLS 1.3 only, ALPN `h3`.
pub fn server_config(
    resolver: Arc<dyn rustls::server::ResolvesServerCert>,
) -> Result<quinn::ServerConfig, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut tls = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|error| format!("HTTP/3 TLS configuration: {error}"))?
        .with_no_client_auth()
        .with_cert_resolver(resolver);
    tls.alpn_protocols = vec![ALPN_H3.to_vec()];
    let crypto = quinn::crypto::rustls::QuicServerConfig::try_from(tls)
        .map_err(|error| format!("HTTP/3 TLS configuration: {error}"))?;
    Ok(quinn::ServerConfig::with_crypto(Arc::new(crypto)))
}

/// Binds UDP `:port` on every interface (IPv6 dual-stack when available, else IPv4), as the HTTPS listener.
pub fn bind(port: u16, config: quinn::ServerConfig) -> Result<quinn::Endpoint, String> {
    let socket = std::net::UdpSocket::bind(SocketAddr::from((Ipv6Addr::UNSPECIFIED, port)))
        .or_else(|_| std::net::UdpSocket::bind(SocketAddr::from(([0, 0, 0, 0], port))))
        .map_err(|error| format!("listen udp :{port}: bind: {error}"))?;
    quinn::Endpoint::new(
        quinn::EndpointConfig::default(),
        Some(config),
        socket,
        Arc::new(quinn::TokioRuntime),
    )
    .map_err(|error| format!("listen udp :{port}: {error}"))
}

/// Serves HTTP/3 connections until `stop`; each request goes to `handler` with the client's address.
pub async fn serve<H, F>(endpoint: quinn::Endpoint, handler: H, stop: CancellationToken)
where
    H: Fn(SocketAddr, Request<RequestBody>) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Response<ProxyBody>> + Send + 'static,
{
    loop {
        let incoming = tokio::select! {
            _ = stop.cancelled() => break,
            incoming = endpoint.accept() => match incoming {
                Some(incoming) => incoming,
                None => break,
            },
        };
        let handler = handler.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            let peer = crate::server::canonical_peer(incoming.remote_address());
            match incoming.await {
                Ok(connection) => serve_connection(connection, peer, handler, stop).await,
                Err(error) => logging::debug(
                    "HTTP/3 handshake failed",
                    &[
                        ("client_addr", json!(peer.to_string())),
                        ("error", json!(error.to_string())),
                    ],
                ),
            }
        });
    }
    // Tell clients we are going away (H3_NO_ERROR), then give the streams in flight a moment to finish.
    endpoint.close(0u32.into(), b"");
    let _ = tokio::time::timeout(crate::server::SHUTDOWN_TIMEOUT, endpoint.wait_idle()).await;
}

async fn serve_connection<H, F>(
    connection: quinn::Connection,
    peer: SocketAddr,
    handler: H,
    stop: CancellationToken,
) where
    H: Fn(SocketAddr, Request<RequestBody>) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Response<ProxyBody>> + Send + 'static,
{
    let mut connection = match h3::server::builder()
        .max_field_section_size(crate::server::MAX_HEADER_BYTES as u64)
        .build::<_, Bytes>(h3_quinn::Connection::new(connection))
        .await
    {
        Ok(connection) => connection,
        Err(error) => {
            logging::debug("HTTP/3 connection failed", &[("error", json!(error.to_string()))]);
            return;
        }
    };
    loop {
        let resolver = tokio::select! {
            _ = stop.cancelled() => {
                let _ = connection.shutdown(0).await;
                break;
            }
            accepted = connection.accept() => match accepted {
                Ok(Some(resolver)) => resolver,
                Ok(None) => break,
                Err(error) => {
                    logging::debug("HTTP/3 connection ended", &[("error", json!(error.to_string()))]);
                    break;
                }
            },
        };
        let handler = handler.clone();
        tokio::spawn(async move {
            match resolver.resolve_request().await {
                Ok((request, stream)) => serve_request(request, stream, peer, handler).await,
                Err(error) => logging::debug("HTTP/3 request failed", &[("error", json!(error.to_string()))]),
            }
        });
    }
}

async fn serve_request<H, F>(
    request: Request<()>,
    stream: h3::server::RequestStream<h3_quinn::BidiStream<Bytes>, Bytes>,
    peer: SocketAddr,
    handler: H,
) where
    H: Fn(SocketAddr, Request<RequestBody>) -> F,
    F: Future<Output = Response<ProxyBody>>,
{
    let (mut send, mut recv) = stream.split();
    // A request without a body usually arrives with its stream already finished: say so, so that the upstream
    // request is not sent with a chunked empty body.
    let first = std::future::poll_fn(|context| {
        Poll::Ready(
            recv.poll_recv_data(context)
                .map(|r| r.map(|d| d.map(|mut d| d.copy_to_bytes(d.remaining())))),
        )
    })
    .await;
    let body = RequestBody::new(recv, first);
    let (parts, ()) = request.into_parts();
    let response = handler(peer, Request::from_parts(parts, body)).await;
    if let Err(error) = send_response(&mut send, response).await {
        logging::debug("HTTP/3 response failed", &[("error", json!(error))]);
        send.stop_stream(h3::error::Code::H3_INTERNAL_ERROR);
    }
}

async fn send_response(send: &mut SendStream, response: Response<ProxyBody>) -> Result<(), String> {
    let (parts, mut body) = response.into_parts();
    send.send_response(Response::from_parts(parts, ()))
        .await
        .map_err(|error| error.to_string())?;
    while let Some(frame) = std::future::poll_fn(|context| Pin::new(&mut body).poll_frame(context)).await {
        let frame = frame.map_err(|error| error.to_string())?;
        match frame.into_data() {
            Ok(data) => {
                if !data.is_empty() {
                    send.send_data(data).await.map_err(|error| error.to_string())?;
                }
            }
            Err(frame) => {
                if let Ok(trailers) = frame.into_trailers() {
                    send.send_trailers(trailers)
                        .await
                        .map_err(|error| error.to_string())?;
                    return Ok(());
                }
            }
        }
    }
    send.finish().await.map_err(|error| error.to_string())
}

/// The body of an HTTP/3 request: DATA frames, then trailers.
pub struct RequestBody {
    recv: RecvStream,
    /// What the first poll found: `Ready(Ok(None))` when the client had already finished its stream.
    first: Option<Poll<Result<Option<Bytes>, h3::error::StreamError>>>,
    data_done: bool,
    done: bool,
}

impl RequestBody {
    fn new(recv: RecvStream, first: Poll<Result<Option<Bytes>, h3::error::StreamError>>) -> Self {
        let done = matches!(first, Poll::Ready(Ok(None)));
        Self {
            recv,
            first: Some(first),
            data_done: done,
            done,
        }
    }
}

impl Body for RequestBody {
    type Data = Bytes;
    type Error = h3::error::StreamError;

    fn poll_frame(
        self: Pin<&mut Self>,
        context: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        if this.done {
            return Poll::Ready(None);
        }
        if !this.data_done {
            let polled = match this.first.take() {
                Some(Poll::Ready(result)) => Poll::Ready(result),
                _ => this.recv.poll_recv_data(context).map(|result| {
                    result.map(|data| data.map(|mut data| data.copy_to_bytes(data.remaining())))
                }),
            };
            match polled {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(error)) => {
                    this.done = true;
                    return Poll::Ready(Some(Err(error)));
                }
                Poll::Ready(Ok(Some(data))) => return Poll::Ready(Some(Ok(Frame::data(data)))),
                Poll::Ready(Ok(None)) => this.data_done = true,
            }
        }
        match this.recv.poll_recv_trailers(context) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(result) => {
                this.done = true;
                match result {
                    Ok(Some(trailers)) => Poll::Ready(Some(Ok(Frame::trailers(trailers)))),
                    Ok(None) => Poll::Ready(None),
                    Err(error) => Poll::Ready(Some(Err(error))),
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done
    }

    fn size_hint(&self) -> SizeHint {
        if self.done {
            SizeHint::with_exact(0)
        } else {
            SizeHint::default()
        }
    }
}
