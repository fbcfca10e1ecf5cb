//! Large response bodies socket to socket through a pipe (`splice(2)`): the bytes never enter user space.

use std::cell::RefCell;
use std::io;
use std::os::fd::OwnedFd;

use rustix::pipe::{splice, SpliceFlags};
use tokio::io::Interest;
use tokio::net::TcpStream;

/// Bodies at least this large are spliced; smaller ones cost less copied than the extra system calls.
pub const THRESHOLD: u64 = 64 * 1024;
/// Pipe capacity asked for: fewer round trips per megabyte (the kernel may grant less).
const PIPE_SIZE: usize = 1 << 20;

thread_local! {
    /// One empty pipe per worker thread, reused by each large body in turn.
    static PIPE: RefCell<Option<(OwnedFd, OwnedFd)>> = const { RefCell::new(None) };
}

fn take_pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    if let Some(pipe) = PIPE.with_borrow_mut(Option::take) {
        return Ok(pipe);
    }
    let (read, write) =
        rustix::pipe::pipe_with(rustix::pipe::PipeFlags::NONBLOCK | rustix::pipe::PipeFlags::CLOEXEC)?;
    let _ = rustix::pipe::fcntl_setpipe_size(&write, PIPE_SIZE);
    Ok((read, write))
}

/// Moves exactly `remaining` bytes from `from` to `to`, counting them in `sent`.
pub async fn copy(from: &TcpStream, to: &TcpStream, mut remaining: u64, sent: &mut u64) -> io::Result<()> {
    let (pipe_read, pipe_write) = take_pipe()?;
    let flags = SpliceFlags::MOVE | SpliceFlags::NONBLOCK;
    let result: io::Result<()> = async {
        while remaining > 0 {
            let want = usize::try_from(remaining).unwrap_or(usize::MAX).min(PIPE_SIZE);
            let moved = loop {
                from.readable().await?;
                match from.try_io(Interest::READABLE, || {
                    splice(from, None, &pipe_write, None, want, flags).map_err(io::Error::from)
                }) {
                    Ok(0) => {
                        return Err(io::Error::other(
                            "upstream closed the connection before the end of the body",
                        ))
                    }
                    Ok(moved) => break moved,
                    Err(error) if error.kind() == io::ErrorKind::WouldBlock => {}
                    Err(error) => return Err(error),
                }
            };
            let mut left = moved;
            while left > 0 {
                to.writable().await?;
                match to.try_io(Interest::WRITABLE, || {
                    splice(&pipe_read, None, to, None, left, flags).map_err(io::Error::from)
                }) {
                    Ok(written) => {
                        left -= written;
                        *sent += written as u64;
                    }
                    Err(error) if error.kind() == io::ErrorKind::WouldBlock => {}
                    Err(error) => return Err(error),
                }
            }
            remaining -= moved as u64;
        }
        Ok(())
    }
    .await;
    if result.is_ok() {
        // Empty again: the next body can use it. (A failed copy may have left bytes in it: dropped.)
        PIPE.with_borrow_mut(|pipe| *pipe = Some((pipe_read, pipe_write)));
    }
    result
}
