//! The client side of the control socket: one connection, one request, one response, no timeout (a deploy
//! blocks until the server has health-checked and drained, which may take minutes).

use std::path::Path;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;

use super::protocol::{Request, Response};

/// Sends `request` and returns the server's answer, or the error string to print after `Error: `.
pub async fn call(socket: &Path, request: &Request) -> Result<Response, String> {
    let mut stream = UnixStream::connect(socket)
        .await
        .map_err(|error| format!("dial unix {}: connect: {}", socket.display(), describe_io(&error)))?;
    let mut line = serde_json::to_vec(request).map_err(|error| error.to_string())?;
    line.push(b'\n');
    stream
        .write_all(&line)
        .await
        .map_err(|error| format!("write unix {}: {}", socket.display(), describe_io(&error)))?;
    let mut reader = BufReader::new(stream);
    let mut answer = String::new();
    reader
        .read_line(&mut answer)
        .await
        .map_err(|error| format!("read unix {}: {}", socket.display(), describe_io(&error)))?;
    if answer.is_empty() {
        return Err("the server closed the connection without answering".to_string());
    }
    let response: Response = serde_json::from_str(&answer)
        .map_err(|error| format!("unreadable answer from the server: {error}"))?;
    match response.error {
        Some(error) => Err(error),
        None => Ok(response),
    }
}

/// `No such file or directory (os error 2)` → `no such file or directory`, as Go prints errno text.
pub fn describe_io(error: &std::io::Error) -> String {
    let text = error.to_string();
    let text = match text.find(" (os error") {
        Some(index) => &text[..index],
        None => &text,
    };
    let mut characters = text.chars();
    match characters.next() {
        Some(first) => first.to_lowercase().chain(characters).collect(),
        None => String::new(),
    }
}
