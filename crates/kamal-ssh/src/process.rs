//! Runs one child process to completion: feeds its stdin, streams stdout and stderr line by
//! line to a callback while collecting them, and enforces an optional deadline (the child
//! is killed when it passes). Shared by remote commands (an `ssh` client), the connection
//! master, the agent's `ssh-add`, and local commands.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::printer::Stream;

/// What to write to the child's standard input.
pub(crate) enum Input {
    None,
    Bytes(Vec<u8>),
    File(std::fs::File),
}

#[derive(Debug)]
pub(crate) struct Finished {
    pub exit_status: i32,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub runtime: Duration,
}

#[derive(Debug)]
pub(crate) enum Outcome {
    Finished(Finished),
    /// Killed at the deadline; what it wrote until then.
    TimedOut(Finished),
}

enum Event {
    Line(Stream, Vec<u8>),
    Closed(Stream),
}

/// After a kill, how long to wait for the output pipes to close. A grandchild (a hook that
/// backgrounded something) can hold them open forever; its reader threads are then left
/// to end on their own rather than block the caller past its deadline.
const PIPE_GRACE: Duration = Duration::from_secs(2);

/// Spawns `command` and runs it to completion. `on_line` sees each output line (with its
/// newline) as it arrives.
pub(crate) fn run(
    mut command: Command,
    input: Input,
    timeout: Option<Duration>,
    on_line: &mut dyn FnMut(Stream, &[u8]),
) -> std::io::Result<Outcome> {
    let started = Instant::now();
    let deadline = timeout.map(|timeout| started + timeout);
    command
        .stdin(if matches!(input, Input::None) {
            Stdio::null()
        } else {
            Stdio::piped()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn()?;

    let mut threads: Vec<(Option<Stream>, JoinHandle<()>)> = Vec::new();
    if let Some(stdin) = child.stdin.take() {
        threads.push((None, std::thread::spawn(move || write_input(stdin, input))));
    }
    let (sender, receiver) = mpsc::channel();
    if let Some(stdout) = child.stdout.take() {
        let sender = sender.clone();
        threads.push((
            Some(Stream::Stdout),
            std::thread::spawn(move || read_lines(stdout, Stream::Stdout, sender)),
        ));
    }
    if let Some(stderr) = child.stderr.take() {
        let sender = sender.clone();
        threads.push((
            Some(Stream::Stderr),
            std::thread::spawn(move || read_lines(stderr, Stream::Stderr, sender)),
        ));
    }
    drop(sender);

    let mut stdout = Vec::new();
    let mut stderr = Vec::new();
    let mut open = [Stream::Stdout, Stream::Stderr].to_vec();
    let mut timed_out = false;
    while !open.is_empty() {
        let event = match deadline {
            Some(deadline) => receiver.recv_timeout(deadline.saturating_duration_since(Instant::now())),
            None => receiver.recv().map_err(|_| mpsc::RecvTimeoutError::Disconnected),
        };
        match event {
            Ok(Event::Line(stream, line)) => {
                on_line(stream, &line);
                match stream {
                    Stream::Stdout => stdout.extend_from_slice(&line),
                    Stream::Stderr => stderr.extend_from_slice(&line),
                }
            }
            Ok(Event::Closed(stream)) => open.retain(|open| *open != stream),
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                timed_out = true;
                let _ = child.kill();
                // Give the pipes a moment to drain and close now that the child is gone.
                let grace = Instant::now() + PIPE_GRACE;
                while !open.is_empty() {
                    match receiver.recv_timeout(grace.saturating_duration_since(Instant::now())) {
                        Ok(Event::Line(Stream::Stdout, line)) => stdout.extend_from_slice(&line),
                        Ok(Event::Line(Stream::Stderr, line)) => stderr.extend_from_slice(&line),
                        Ok(Event::Closed(stream)) => open.retain(|open| *open != stream),
                        Err(_) => break,
                    }
                }
                break;
            }
        }
    }

    let status = wait(&mut child, deadline, &mut timed_out)?;
    for (stream, thread) in threads {
        // Readers of still-open pipes (held by a grandchild after a kill) are not joined;
        // they end by themselves when the pipe closes.
        let finished = thread.is_finished() || stream.is_none_or(|stream| !open.contains(&stream));
        if finished {
            let _ = thread.join();
        }
    }
    let finished = Finished {
        exit_status: status,
        stdout,
        stderr,
        runtime: started.elapsed(),
    };
    Ok(if timed_out {
        Outcome::TimedOut(finished)
    } else {
        Outcome::Finished(finished)
    })
}

/// Waits for the exit status, killing the child once the deadline has passed.
fn wait(child: &mut Child, deadline: Option<Instant>, timed_out: &mut bool) -> std::io::Result<i32> {
    let Some(deadline) = deadline else {
        return child.wait().map(exit_code);
    };
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(exit_code(status));
        }
        if Instant::now() >= deadline {
            *timed_out = true;
            let _ = child.kill();
            return child.wait().map(exit_code);
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// The exit code, or 128 + the signal number as a shell reports a killed process.
fn exit_code(status: std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(0))
}

fn write_input(mut stdin: std::process::ChildStdin, input: Input) {
    // A child that exits without reading its input closes the pipe: not our error to report,
    // its exit status says what happened.
    let _ = match input {
        Input::None => Ok(()),
        Input::Bytes(bytes) => stdin.write_all(&bytes),
        Input::File(mut file) => std::io::copy(&mut file, &mut stdin).map(|_| ()),
    };
}

fn read_lines(pipe: impl Read, stream: Stream, sender: mpsc::Sender<Event>) {
    let mut reader = BufReader::new(pipe);
    loop {
        let mut line = Vec::new();
        match reader.read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) => {
                if sender.send(Event::Line(stream, line)).is_err() {
                    return;
                }
            }
        }
    }
    let _ = sender.send(Event::Closed(stream));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shell(script: &str) -> Command {
        let mut command = Command::new("/bin/sh");
        command.arg("-c").arg(script);
        command
    }

    fn finished(outcome: Outcome) -> Finished {
        match outcome {
            Outcome::Finished(finished) => finished,
            Outcome::TimedOut(finished) => panic!("timed out: {finished:?}"),
        }
    }

    #[test]
    fn collects_streams_lines_and_status() {
        let mut lines = Vec::new();
        let outcome = run(
            shell("echo one; echo two >&2; printf three; exit 3"),
            Input::None,
            None,
            &mut |stream, line| lines.push((stream, String::from_utf8_lossy(line).to_string())),
        )
        .expect("runs");
        let finished = finished(outcome);
        assert_eq!(finished.exit_status, 3);
        assert_eq!(finished.stdout, b"one\nthree");
        assert_eq!(finished.stderr, b"two\n");
        assert!(lines.contains(&(Stream::Stdout, "three".to_string())));
    }

    #[test]
    fn feeds_stdin() {
        let outcome = run(
            shell("cat"),
            Input::Bytes(b"secret\n".to_vec()),
            None,
            &mut |_, _| {},
        )
        .expect("runs");
        assert_eq!(finished(outcome).stdout, b"secret\n");
    }

    #[test]
    fn kills_at_the_deadline() {
        let started = Instant::now();
        let outcome = run(
            shell("echo started; exec sleep 30"),
            Input::None,
            Some(Duration::from_millis(200)),
            &mut |_, _| {},
        )
        .expect("runs");
        assert!(started.elapsed() < Duration::from_secs(5));
        match outcome {
            Outcome::TimedOut(finished) => assert_eq!(finished.stdout, b"started\n"),
            Outcome::Finished(finished) => panic!("finished: {finished:?}"),
        }
    }

    #[test]
    fn a_grandchild_holding_the_pipes_does_not_block_past_the_deadline() {
        let started = Instant::now();
        let outcome = run(
            shell("sleep 20 & sleep 20"),
            Input::None,
            Some(Duration::from_millis(200)),
            &mut |_, _| {},
        )
        .expect("runs");
        assert!(matches!(outcome, Outcome::TimedOut(_)));
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
    }
}
