//! Request and response buffering (§7.6): a body is collected whole before it moves on, in memory up to
//! `--buffer-memory` and in a spill file (`$TMPDIR/proxy-buffer-<random>`, removed when the body is done)
//! beyond that, with an optional size limit.
//!
//! Buffering protects upstreams from slow clients (a slow upload ties up the proxy, not the app) and lets the
//! proxy refuse an oversized body before the app sees a byte of it.

use std::path::PathBuf;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};
use tokio::sync::mpsc;

use crate::body::{BoxError, ProxyBody};

/// Chunk size when replaying a spill file.
const REPLAY_CHUNK: usize = 64 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum BufferError {
    #[error("maximum size exceeded")]
    TooLarge,
    /// The body could not be read: malformed chunking, the peer went away, an I/O error.
    #[error("{0}")]
    Read(BoxError),
    #[error("buffer spill file: {0}")]
    Spill(std::io::Error),
}

/// A collected body: the in-memory part, then the spill file.
#[derive(Debug)]
pub struct Buffered {
    memory: Vec<Bytes>,
    spill: Option<Spill>,
    pub length: u64,
}

#[derive(Debug)]
struct Spill {
    file: tokio::fs::File,
    path: PathBuf,
}

impl Drop for Spill {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Reads `body` to its end. `memory_limit` bytes stay in memory; `max_bytes` of 0 means no limit, and past it
/// reading stops at once with [`BufferError::TooLarge`].
pub async fn collect<B>(mut body: B, memory_limit: u64, max_bytes: u64) -> Result<Buffered, BufferError>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    let mut buffered = Buffered {
        memory: Vec::new(),
        spill: None,
        length: 0,
    };
    let mut in_memory: u64 = 0;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|error| BufferError::Read(error.into()))?;
        let Ok(data) = frame.into_data() else {
            continue; // Trailers are not kept when buffering.
        };
        let length = data.len() as u64;
        if max_bytes > 0 && buffered.length + length > max_bytes {
            return Err(BufferError::TooLarge);
        }
        buffered.length += length;
        if buffered.spill.is_none() && in_memory + length <= memory_limit {
            in_memory += length;
            buffered.memory.push(data);
            continue;
        }
        // Split across memory and disk: fill memory to its limit, then spill the rest.
        let room = memory_limit.saturating_sub(in_memory) as usize;
        let (head, tail) = if buffered.spill.is_none() && room > 0 {
            (Some(data.slice(..room)), data.slice(room..))
        } else {
            (None, data)
        };
        if let Some(head) = head {
            in_memory += head.len() as u64;
            buffered.memory.push(head);
        }
        if buffered.spill.is_none() {
            let path = std::env::temp_dir().join(format!("proxy-buffer-{}", uuid::Uuid::new_v4().simple()));
            let file = tokio::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create_new(true)
                .open(&path)
                .await
                .map_err(BufferError::Spill)?;
            buffered.spill = Some(Spill { file, path });
        }
        if let Some(spill) = &mut buffered.spill {
            spill.file.write_all(&tail).await.map_err(BufferError::Spill)?;
        }
    }
    Ok(buffered)
}

impl Buffered {
    pub fn spilled(&self) -> bool {
        self.spill.is_some()
    }

    /// Replays the body: memory first, then the spill file, which is removed once read or dropped.
    pub fn into_body(self) -> ProxyBody {
        let Buffered {
            memory,
            spill,
            length,
        } = self;
        let receiver = spill.map(|mut spill| {
            let (sender, receiver) = mpsc::channel::<Result<Bytes, BoxError>>(2);
            tokio::spawn(async move {
                if let Err(error) = spill.file.flush().await {
                    let _ = sender.send(Err(error.into())).await;
                    return;
                }
                if let Err(error) = spill.file.seek(std::io::SeekFrom::Start(0)).await {
                    let _ = sender.send(Err(error.into())).await;
                    return;
                }
                loop {
                    let mut chunk = vec![0; REPLAY_CHUNK];
                    match spill.file.read(&mut chunk).await {
                        Ok(0) => return,
                        Ok(read) => {
                            chunk.truncate(read);
                            if sender.send(Ok(Bytes::from(chunk))).await.is_err() {
                                return; // The reader went away; the spill file goes with `spill`.
                            }
                        }
                        Err(error) => {
                            let _ = sender.send(Err(error.into())).await;
                            return;
                        }
                    }
                }
            });
            receiver
        });
        ReplayBody {
            memory: memory.into_iter(),
            spill: receiver,
            remaining: length,
        }
        .boxed()
    }
}

struct ReplayBody {
    memory: std::vec::IntoIter<Bytes>,
    spill: Option<mpsc::Receiver<Result<Bytes, BoxError>>>,
    remaining: u64,
}

impl Body for ReplayBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        if let Some(chunk) = self.memory.next() {
            self.remaining = self.remaining.saturating_sub(chunk.len() as u64);
            return Poll::Ready(Some(Ok(Frame::data(chunk))));
        }
        let Some(receiver) = &mut self.spill else {
            return Poll::Ready(None);
        };
        match receiver.poll_recv(context) {
            Poll::Ready(Some(Ok(chunk))) => {
                self.remaining = self.remaining.saturating_sub(chunk.len() as u64);
                Poll::Ready(Some(Ok(Frame::data(chunk))))
            }
            Poll::Ready(Some(Err(error))) => Poll::Ready(Some(Err(error))),
            Poll::Ready(None) => {
                self.spill = None;
                Poll::Ready(None)
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.remaining == 0 && self.memory.len() == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}

#[cfg(test)]
mod tests {
    use http_body_util::{BodyExt, StreamBody};

    use super::*;

    fn chunks(parts: &[&'static str]) -> impl Body<Data = Bytes, Error = BoxError> + Unpin {
        let frames: Vec<Result<Frame<Bytes>, BoxError>> = parts
            .iter()
            .map(|part| Ok(Frame::data(Bytes::from_static(part.as_bytes()))))
            .collect();
        StreamBody::new(SliceStream(frames.into_iter()))
    }

    struct SliceStream(std::vec::IntoIter<Result<Frame<Bytes>, BoxError>>);

    impl futures_core::Stream for SliceStream {
        type Item = Result<Frame<Bytes>, BoxError>;
        fn poll_next(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Self::Item>> {
            Poll::Ready(self.0.next())
        }
    }

    async fn replay(buffered: Buffered) -> Vec<u8> {
        buffered
            .into_body()
            .collect()
            .await
            .expect("replays")
            .to_bytes()
            .to_vec()
    }

    #[tokio::test]
    async fn keeps_small_bodies_in_memory() {
        let buffered = collect(chunks(&["hello ", "world"]), 100, 0)
            .await
            .expect("collects");
        assert!(!buffered.spilled());
        assert_eq!(replay(buffered).await, b"hello world");
    }

    #[tokio::test]
    async fn spills_past_the_memory_limit_and_removes_the_file() {
        let buffered = collect(chunks(&["hello ", "world", "!"]), 5, 0)
            .await
            .expect("collects");
        assert!(buffered.spilled());
        let path = buffered
            .spill
            .as_ref()
            .map(|spill| spill.path.clone())
            .expect("spill path");
        assert!(path
            .file_name()
            .is_some_and(|name| name.to_string_lossy().starts_with("proxy-buffer-")));
        assert_eq!(replay(buffered).await, b"hello world!");
        // The replay task removes the file when it finishes; poll with a deadline.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while path.exists() && std::time::Instant::now() < deadline {
            tokio::task::yield_now().await;
        }
        assert!(!path.exists());
    }

    #[tokio::test]
    async fn refuses_bodies_over_the_limit() {
        // Go's test: memory 5, max 8, 13 bytes.
        let result = collect(chunks(&["hello", " worl", "d!!"]), 5, 8).await;
        assert!(matches!(result, Err(BufferError::TooLarge)));
        let exact = collect(chunks(&["hello", "abc"]), 5, 8)
            .await
            .expect("8 bytes fit");
        assert_eq!(replay(exact).await, b"helloabc");
    }

    #[tokio::test]
    async fn empty_bodies() {
        let buffered = collect(chunks(&[]), 5, 8).await.expect("collects");
        assert_eq!(buffered.length, 0);
        assert_eq!(replay(buffered).await, b"");
    }
}
