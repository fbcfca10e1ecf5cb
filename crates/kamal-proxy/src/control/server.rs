//! The server side of the control socket: accepts connections, reads one JSON request line (bounded in size
//! and time, so garbage cannot wedge it), runs the command and answers. Commands run concurrently, as Go's
//! net/rpc runs each call in its own goroutine.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio_util::sync::CancellationToken;

use super::protocol::{Request, Response, MAX_REQUEST_BYTES};
use crate::logging;
use crate::router::Router;

/// How long a client has to send its request line; the command itself has no limit.
const REQUEST_READ_TIMEOUT: Duration = Duration::from_secs(10);

pub async fn serve(listener: UnixListener, router: Arc<Router>, shutdown: CancellationToken) {
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let router = router.clone();
                    tokio::spawn(async move { handle_connection(stream, router).await });
                }
                Err(error) => {
                    logging::error("Control socket accept failed", &[("error", json!(error.to_string()))]);
                    // Usually EMFILE: back off briefly rather than spin.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }
}

async fn handle_connection(stream: UnixStream, router: Arc<Router>) {
    let (read_half, mut write_half) = stream.into_split();
    let mut reader = BufReader::new(read_half).take(MAX_REQUEST_BYTES as u64 + 1);
    let mut line = Vec::new();
    let response = match tokio::time::timeout(REQUEST_READ_TIMEOUT, reader.read_until(b'\n', &mut line)).await
    {
        Err(_) => Response::error("invalid request: timed out waiting for the request"),
        Ok(Err(error)) => Response::error(format!("invalid request: {error}")),
        Ok(Ok(_)) if line.len() > MAX_REQUEST_BYTES => Response::error("invalid request: too large"),
        Ok(Ok(_)) => match serde_json::from_slice::<Request>(&line) {
            Ok(request) => dispatch(&router, request).await,
            Err(error) => {
                logging::warn("Invalid control request", &[("error", json!(error.to_string()))]);
                Response::error(format!("invalid request: {error}"))
            }
        },
    };
    let mut answer =
        serde_json::to_vec(&response).unwrap_or_else(|_| b"{\"error\":\"internal error\"}".to_vec());
    answer.push(b'\n');
    // The client may have gone; nothing to do about it.
    let _ = write_half.write_all(&answer).await;
    let _ = write_half.shutdown().await;
}

pub async fn dispatch(router: &Router, request: Request) -> Response {
    let result = match request {
        Request::Deploy(args) => router.deploy(*args).await,
        Request::Remove { service } => router.remove(&service),
        Request::Pause(args) => router.pause(args).await,
        Request::Stop(args) => router.stop(args).await,
        Request::Resume { service } => router.resume(&service),
        Request::List => {
            return Response {
                error: None,
                services: Some(router.list()),
            }
        }
        Request::RolloutDeploy(args) => router.rollout_deploy(args).await,
        Request::RolloutSet(args) => router.rollout_set(args),
        Request::RolloutStop { service } => router.rollout_stop(&service),
    };
    match result {
        Ok(()) => Response::default(),
        Err(error) => Response::error(error),
    }
}
