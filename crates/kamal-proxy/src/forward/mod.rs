//! Sending one request to a claimed target with hyper and streaming the answer back (§7.5, §7.7).
//!
//! The in-flight guard rides inside the response body, so a drain waits until the client has the whole
//! response, and the body stops with an error if the drain cancels it. Upgrades (WebSockets) are spliced with
//! `copy_bidirectional` in a task that also holds the guard and ends the moment a drain cancels it.

pub mod headers;
pub mod pool;

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode, Uri, Version};
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use serde_json::json;
use tokio_util::sync::WaitForCancellationFutureOwned;

use crate::body::{BoxError, ProxyBody};
use crate::logging;
use crate::service::target::InFlightGuard;
use headers::ForwardContext;

/// Why forwarding produced no upstream response; each maps to the status the Go proxy uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ForwardError {
    /// `--target-timeout` passed before response headers arrived → 504.
    Timeout,
    /// A drain cancelled the request → 504.
    Draining,
    /// Connection refused, reset, bad response → 502.
    Unreachable(String),
}

impl ForwardError {
    pub fn status(&self) -> StatusCode {
        match self {
            ForwardError::Timeout | ForwardError::Draining => StatusCode::GATEWAY_TIMEOUT,
            ForwardError::Unreachable(_) => StatusCode::BAD_GATEWAY,
        }
    }
}

/// Forwards `request` (headers already rewritten) to the guard's target at `path_and_query`.
pub async fn forward(
    mut request: Request<ProxyBody>,
    guard: InFlightGuard,
    path_and_query: &str,
    context: &ForwardContext<'_>,
    target_timeout: Duration,
) -> Result<Response<ProxyBody>, ForwardError> {
    let upgrade_requested = headers::is_upgrade(request.headers());
    let client_upgrade = upgrade_requested.then(|| hyper::upgrade::on(&mut request));
    let (mut parts, body) = request.into_parts();
    let target = guard.target().clone();
    // Origin-form (`/path?query`), as hyper-util's client sends HTTP/1; CONNECT names the target itself.
    let uri = if parts.method == http::Method::CONNECT {
        Uri::try_from(target.address.as_str())
    } else if path_and_query.starts_with('/') {
        Uri::try_from(path_and_query)
    } else {
        Uri::try_from(format!("http://{}{}", target.address, path_and_query))
    };
    parts.uri = uri.map_err(|error| ForwardError::Unreachable(format!("invalid upstream URI: {error}")))?;
    parts.version = Version::HTTP_11;
    headers::prepare_upstream_request(&mut parts.headers, context, upgrade_requested);
    if !parts.headers.contains_key(http::header::HOST) {
        // HTTP/2 clients send `:authority` instead; the upstream still gets the client's host (§7.2).
        if let Ok(host) = http::HeaderValue::from_str(context.host) {
            parts.headers.insert(http::header::HOST, host);
        }
    }
    let upstream_request = Request::from_parts(parts, body);

    let cancel = guard.cancel.clone();
    let (mut response, connection) = tokio::select! {
        _ = cancel.cancelled() => return Err(ForwardError::Draining),
        result = tokio::time::timeout(target_timeout, target.pool.send(upstream_request)) => match result {
            Err(_) => return Err(ForwardError::Timeout),
            Ok(Err(message)) => {
                logging::error(
                    "Error while proxying",
                    &[("target", json!(target.address)), ("path", json!(path_and_query)), ("error", json!(message))],
                );
                return Err(ForwardError::Unreachable(message));
            }
            Ok(Ok(sent)) => sent,
        }
    };

    // The client gets Go's status line, `HTTP/1.1`, whatever the upstream spoke: passing an upstream's
    // `HTTP/1.0` on would tell an HTTP/1.1 client the connection is not kept alive. (hyper still answers an
    // HTTP/1.0 client with `HTTP/1.0`.)
    *response.version_mut() = Version::HTTP_11;

    if response.status() == StatusCode::SWITCHING_PROTOCOLS {
        if let Some(client_upgrade) = client_upgrade {
            let upstream_upgrade = hyper::upgrade::on(&mut response);
            guard.mark_upgraded();
            tokio::spawn(splice(client_upgrade, upstream_upgrade, guard));
            let (parts, _) = response.into_parts();
            return Ok(Response::from_parts(parts, crate::body::empty()));
        }
    }

    let (mut parts, body) = response.into_parts();
    headers::remove_hop_by_hop(&mut parts.headers, false);
    let body = GuardedBody {
        inner: body,
        cancelled: Box::pin(cancel.cancelled_owned()),
        guard: Some(guard),
        connection: Some(connection),
    };
    Ok(Response::from_parts(parts, body.boxed()))
}

/// Copies bytes both ways between the client and the upstream until either side closes or a drain cuts it.
async fn splice(
    client: hyper::upgrade::OnUpgrade,
    upstream: hyper::upgrade::OnUpgrade,
    guard: InFlightGuard,
) {
    let cancel = guard.cancel.clone();
    let copy = async {
        let (client, upstream) = tokio::try_join!(client, upstream)?;
        let mut client = TokioIo::new(client);
        let mut upstream = TokioIo::new(upstream);
        tokio::io::copy_bidirectional(&mut client, &mut upstream)
            .await
            .map_err(hyper_error_from_io)?;
        Ok::<(), BoxError>(())
    };
    tokio::select! {
        _ = cancel.cancelled() => {}
        result = copy => {
            if let Err(error) = result {
                logging::debug("Upgraded connection ended", &[("error", json!(error.to_string()))]);
            }
        }
    }
    drop(guard);
}

fn hyper_error_from_io(error: std::io::Error) -> BoxError {
    Box::new(error)
}

/// An upstream body that releases its in-flight guard when finished and fails if a drain cancels it. Read to
/// the end, it hands its connection back to the target's pool.
struct GuardedBody {
    inner: Incoming,
    cancelled: Pin<Box<WaitForCancellationFutureOwned>>,
    guard: Option<InFlightGuard>,
    connection: Option<pool::Connection>,
}

impl GuardedBody {
    /// The body is complete: the connection can carry another request, and a drain need not wait.
    fn finish(&mut self) {
        let guard = self.guard.take();
        if let (Some(guard), Some(connection)) = (&guard, self.connection.take()) {
            guard.target().pool.reuse(connection);
        }
    }
}

impl Drop for GuardedBody {
    fn drop(&mut self) {
        // hyper stops polling once `is_end_stream` says the body is complete.
        if self.inner.is_end_stream() {
            self.finish();
        }
    }
}

impl Body for GuardedBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        context: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        if this.guard.is_some() && this.cancelled.as_mut().poll(context).is_ready() {
            this.guard = None;
            this.connection = None;
            return Poll::Ready(Some(Err("request cancelled due to draining".into())));
        }
        match Pin::new(&mut this.inner).poll_frame(context) {
            Poll::Ready(None) => {
                this.finish();
                Poll::Ready(None)
            }
            Poll::Ready(Some(Err(error))) => {
                this.guard = None;
                this.connection = None;
                Poll::Ready(Some(Err(Box::new(error))))
            }
            other => other.map(|frame| frame.map(|result| result.map_err(BoxError::from))),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
