//! Sending one request to a claimed target and streaming the answer back (§7.5, §7.7).
//!
//! The in-flight guard rides inside the response body, so a drain waits until the client has the whole
//! response, and the body stops with an error if the drain cancels it. Upgrades (WebSockets) are spliced with
//! `copy_bidirectional` in a task that also holds the guard and ends the moment a drain cancels it.

pub mod headers;
pub mod pool;
pub mod upstream;

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode, Version};
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use hyper_util::rt::TokioIo;
use serde_json::json;
use tokio::io::AsyncWriteExt;
use tokio::sync::futures::OwnedNotified;

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
    headers::prepare_upstream_request(&mut parts.headers, context, upgrade_requested);
    if !parts.headers.contains_key(http::header::HOST) {
        // HTTP/2 clients send `:authority` instead; the upstream still gets the client's host (§7.2).
        if let Ok(host) = http::HeaderValue::from_str(context.host) {
            parts.headers.insert(http::header::HOST, host);
        }
    }
    // Origin-form (`/path?query`); CONNECT names the target itself.
    let absolute;
    let request_target = if parts.method == http::Method::CONNECT {
        target.address.as_str()
    } else if path_and_query.starts_with('/') {
        path_and_query
    } else {
        absolute = format!("http://{}{}", target.address, path_and_query);
        absolute.as_str()
    };
    let outgoing = upstream::Outgoing::new(&parts.method, request_target, &parts.headers, body)
        .map_err(ForwardError::Unreachable)?;

    let send = target
        .pool
        .send(&parts.method, &parts.headers, outgoing, upgrade_requested);
    let answer = tokio::select! {
        biased;
        result = tokio::time::timeout(target_timeout, send) => match result {
            Err(_) => return Err(ForwardError::Timeout),
            Ok(Err(message)) => {
                logging::error(
                    "Error while proxying",
                    &[("target", json!(target.address)), ("path", json!(path_and_query)), ("error", json!(message))],
                );
                return Err(ForwardError::Unreachable(message));
            }
            Ok(Ok(answer)) => answer,
        },
        _ = guard.cancelled() => return Err(ForwardError::Draining),
    };

    match answer {
        upstream::Answer::Upgraded(response, stream, buffered) => {
            let (mut parts, ()) = response.into_parts();
            parts.version = Version::HTTP_11;
            if let Some(client_upgrade) = client_upgrade {
                guard.mark_upgraded();
                tokio::spawn(splice(client_upgrade, stream, buffered, guard));
            }
            Ok(Response::from_parts(parts, crate::body::empty()))
        }
        upstream::Answer::Response(response) => Ok(passed_on(response, guard)),
    }
}

/// An upstream response as the client gets it: hop-by-hop headers gone, the body holding the in-flight guard
/// and handing the connection back to the pool when it ends cleanly.
pub fn passed_on(
    mut response: Response<upstream::ResponseBody>,
    guard: InFlightGuard,
) -> Response<ProxyBody> {
    // The client gets Go's status line, `HTTP/1.1`, whatever the upstream spoke: passing an upstream's
    // `HTTP/1.0` on would tell an HTTP/1.1 client the connection is not kept alive. (hyper still answers an
    // HTTP/1.0 client with `HTTP/1.0`.)
    *response.version_mut() = Version::HTTP_11;
    let (mut parts, mut body) = response.into_parts();
    headers::remove_hop_by_hop(&mut parts.headers, false);
    let home = guard.target().clone();
    body.on_finished(Box::new(move |connection| home.pool.reuse(connection)));
    let body = GuardedBody {
        inner: body,
        guard: Some(guard),
        cancelled: None,
    };
    Response::from_parts(parts, body.boxed())
}

/// Copies bytes both ways between the client and the upstream until either side closes or a drain cuts it;
/// `buffered` is what the upstream sent right after its 101 head.
async fn splice(
    client: hyper::upgrade::OnUpgrade,
    mut upstream: tokio::net::TcpStream,
    buffered: Bytes,
    guard: InFlightGuard,
) {
    let copy = async {
        let mut client = TokioIo::new(client.await?);
        if !buffered.is_empty() {
            client.write_all(&buffered).await.map_err(hyper_error_from_io)?;
        }
        tokio::io::copy_bidirectional(&mut client, &mut upstream)
            .await
            .map_err(hyper_error_from_io)?;
        Ok::<(), BoxError>(())
    };
    tokio::select! {
        _ = guard.cancelled() => {}
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

/// An upstream body that releases its in-flight guard when finished and fails if a drain cancels it.
struct GuardedBody {
    inner: upstream::ResponseBody,
    guard: Option<InFlightGuard>,
    /// Registered only once the body has to wait for the upstream: most bodies never do, and checking the
    /// guard costs two atomic loads where registering takes the shared wake-up list's lock.
    cancelled: Option<Pin<Box<OwnedNotified>>>,
}

impl GuardedBody {
    fn drained(&mut self) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        self.guard = None;
        self.cancelled = None;
        self.inner = upstream::ResponseBody::failed();
        Poll::Ready(Some(Err("request cancelled due to draining".into())))
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
        let Some(guard) = &this.guard else {
            return Pin::new(&mut this.inner).poll_frame(context);
        };
        if guard.is_cancelled() {
            return this.drained();
        }
        if let Some(waiting) = &mut this.cancelled {
            if waiting.as_mut().poll(context).is_ready() {
                // A cut for other requests (upgraded ones) wakes us too: wait for the next one.
                this.cancelled = None;
            }
        }
        let polled = Pin::new(&mut this.inner).poll_frame(context);
        match &polled {
            Poll::Pending if this.cancelled.is_none() => loop {
                let mut waiting = Box::pin(guard.next_cut());
                // Registered before the check, so a cut in between still wakes this task.
                let woken = waiting.as_mut().poll(context).is_ready();
                if guard.is_cancelled() {
                    return this.drained();
                }
                if !woken {
                    this.cancelled = Some(waiting);
                    break;
                }
            },
            Poll::Ready(None) | Poll::Ready(Some(Err(_))) => this.guard = None,
            Poll::Ready(Some(Ok(_))) if this.inner.is_end_stream() => this.guard = None,
            _ => {}
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
