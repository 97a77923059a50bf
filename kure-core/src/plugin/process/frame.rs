//! Frames: a `u32` little-endian length, then that many bytes, at most [`MAX_FRAME`]; JSON
//! frames, and the binary batch layout of `wire`.

use std::io::{self, Read, Write};

use serde::Serialize;

use super::*;

/// Why a frame could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The peer closed the channel between frames.
    #[error("the channel was closed")]
    Closed,
    /// The channel ended inside a frame.
    #[error("the channel ended inside a frame ({got} of {expected} bytes)")]
    Truncated {
        /// Bytes expected (the header's 4, or the announced length).
        expected: usize,
        /// Bytes received.
        got: usize,
    },
    /// A frame longer than [`MAX_FRAME`] was announced or about to be sent.
    #[error("a frame of {len} bytes exceeds the limit of {max} bytes")]
    TooLarge {
        /// The announced length.
        len: u64,
        /// The limit.
        max: usize,
    },
    /// The deadline passed.
    #[error("no frame within the time limit")]
    TimedOut,
    /// A frame's JSON could not be decoded or encoded.
    #[error("invalid JSON in a frame: {0}")]
    Json(#[from] serde_json::Error),
    /// The channel failed.
    #[error("the channel failed: {0}")]
    Io(#[source] io::Error),
}

pub(super) fn frame_io(e: io::Error) -> FrameError {
    match e.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => FrameError::TimedOut,
        _ => FrameError::Io(e),
    }
}

/// Writes one frame: the length (`u32`, little endian), then `body`.
pub fn write_frame(w: &mut impl Write, body: &[u8]) -> Result<(), FrameError> {
    let len = u32::try_from(body.len())
        .ok()
        .filter(|_| body.len() <= MAX_FRAME)
        .ok_or(FrameError::TooLarge {
            len: body.len() as u64,
            max: MAX_FRAME,
        })?;
    w.write_all(&len.to_le_bytes()).map_err(frame_io)?;
    w.write_all(body).map_err(frame_io)?;
    w.flush().map_err(frame_io)
}

/// Reads until `buf` is full; returns how much was read before the end of the stream.
pub(super) fn fill(r: &mut impl Read, buf: &mut [u8]) -> Result<usize, FrameError> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(frame_io(e)),
        }
    }
    Ok(got)
}

/// Reads one frame of at most `max` bytes.
pub fn read_frame(r: &mut impl Read, max: usize) -> Result<Vec<u8>, FrameError> {
    let mut header = [0u8; 4];
    match fill(r, &mut header)? {
        0 => return Err(FrameError::Closed),
        4 => {}
        got => return Err(FrameError::Truncated { expected: 4, got }),
    }
    let len = u32::from_le_bytes(header);
    let len = usize::try_from(len)
        .ok()
        .filter(|l| *l <= max)
        .ok_or(FrameError::TooLarge {
            len: u64::from(len),
            max,
        })?;
    let mut body = vec![0u8; len];
    let got = fill(r, &mut body)?;
    if got < len {
        return Err(FrameError::Truncated { expected: len, got });
    }
    Ok(body)
}

/// Encodes `msg` as JSON and writes it as one frame.
pub fn send<T: Serialize>(w: &mut impl Write, msg: &T) -> Result<(), FrameError> {
    write_frame(w, &serde_json::to_vec(msg)?)
}

/// Reads one frame and decodes its JSON.
pub fn recv<T: serde::de::DeserializeOwned>(r: &mut impl Read) -> Result<T, FrameError> {
    Ok(serde_json::from_slice(&read_frame(r, MAX_FRAME)?)?)
}
