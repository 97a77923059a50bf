//! One exchange on a worker's channel, under a deadline, and what can go wrong with it.

use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use kure_plugin_api::abi::ErrorPayload;

use serde_json::Value;

use super::wire::{self};

use super::*;

/// Why an exchange with a worker failed; the worker is then ended.
#[derive(Debug)]
pub(super) enum Trouble {
    /// The channel closed or failed: the worker died (or closed it).
    Gone,
    /// The host's backstop deadline for the frame passed.
    HostTimeout(Duration),
    /// The worker's watchdog ended a plugin call.
    WorkerTimeout { entry: String, index: Option<usize> },
    /// The worker sent something that is not the protocol.
    Protocol(String),
}

/// A failed request: the paragraph, the app it concerns within the frame (when known), and
/// whether the request reached a worker at all.
#[derive(Debug)]
pub(super) struct Failed {
    pub(super) payload: ErrorPayload,
    pub(super) index: Option<usize>,
    pub(super) attempted: bool,
}

/// The channel with a deadline on every read and write. Reads wake up every 200 ms to check
/// that the worker is still alive: a process the plugin forked may hold the worker's end of
/// the channel open after the worker died.
pub(super) struct Deadline<'a> {
    pub(super) stream: &'a UnixStream,
    pub(super) until: Instant,
    pub(super) pid: i32,
}

impl Deadline<'_> {
    pub(super) fn remaining(&self) -> io::Result<Duration> {
        let left = self.until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            Err(io::ErrorKind::TimedOut.into())
        } else {
            Ok(left.max(Duration::from_millis(1)))
        }
    }
}

impl Read for Deadline<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let slice = self.remaining()?.min(Duration::from_millis(200));
            self.stream.set_read_timeout(Some(slice))?;
            match (&*self.stream).read(buf) {
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    if has_exited(self.pid) {
                        return Err(io::ErrorKind::UnexpectedEof.into());
                    }
                }
                other => return other,
            }
        }
    }
}

impl Write for Deadline<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.stream.set_write_timeout(Some(self.remaining()?))?;
        (&*self.stream).write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A worker's answer: a JSON message, or a batch answer ([`wire`]).
pub(super) enum Answer {
    Json(Value),
    Batch(Vec<u8>),
}

impl Answer {
    /// The JSON message; a batch answer where one was not asked for is a protocol error.
    pub(super) fn json(self) -> Result<Value, Trouble> {
        match self {
            Answer::Json(v) => Ok(v),
            Answer::Batch(_) => Err(Trouble::Protocol(
                "a batch answer to a request that was not a batch".to_owned(),
            )),
        }
    }
}

pub(super) fn exchange(
    proc: &mut Proc,
    body: &[u8],
    calls: usize,
    limit: Duration,
) -> Result<Answer, Trouble> {
    let factor = u32::try_from(calls.saturating_add(1)).unwrap_or(u32::MAX);
    let backstop = limit
        .checked_mul(factor)
        .and_then(|d| d.checked_add(Duration::from_secs(5)))
        .unwrap_or(Duration::from_secs(365 * 86_400));
    let until = Instant::now()
        .checked_add(backstop)
        .unwrap_or_else(|| Instant::now() + Duration::from_secs(365 * 86_400));
    let mut io = Deadline {
        stream: &proc.channel,
        until,
        pid: proc.pid,
    };
    let classify = |e: FrameError| match e {
        FrameError::TimedOut => Trouble::HostTimeout(backstop),
        FrameError::TooLarge { .. } | FrameError::Json(_) => Trouble::Protocol(e.to_string()),
        FrameError::Closed | FrameError::Truncated { .. } | FrameError::Io(_) => Trouble::Gone,
    };
    write_frame(&mut io, body).map_err(classify)?;
    let frame = read_frame(&mut io, MAX_FRAME).map_err(classify)?;
    if frame.first() == Some(&wire::BATCH) {
        return Ok(Answer::Batch(frame));
    }
    let value: Value = serde_json::from_slice(&frame)
        .map_err(|e| Trouble::Protocol(format!("an answer is not JSON ({e})")))?;
    if let Some(t) = value.get("timeout") {
        return Err(Trouble::WorkerTimeout {
            entry: t
                .get("entry")
                .and_then(Value::as_str)
                .map_or_else(|| "a plugin call".to_owned(), crate::util::shown),
            index: t
                .get("index")
                .and_then(Value::as_u64)
                .and_then(|i| usize::try_from(i).ok()),
        });
    }
    Ok(Answer::Json(value))
}
