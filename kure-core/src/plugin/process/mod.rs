//! Process isolation: a plugin runs in a sandboxed worker process, `kure __plugin-worker`, and
//! the host talks to it over a socket with the same payloads the ABI carries.
//!
//! # Starting a worker (host side, [`WorkerPlugin::start`] and [`WorkerPlugin::spawn`])
//!
//! The trust checks are the same as in-process. The host reads the library once into a memfd
//! ([`super::Staging`]), re-executes its own binary (`/proc/self/exe`, so a binary replaced on
//! disk meanwhile is not what runs) with the hidden subcommand `__plugin-worker`, and only then
//! seals, hashes and admits the bytes: starting the process (exec, sandbox) overlaps reading and
//! checking the library. The worker touches the library only after the handshake, which the
//! host sends once every check passed; the worker then refuses a memfd that is not sealed
//! against every change. The worker gets:
//!
//! - fd 3: the memfd holding the library (the worker loads `/proc/self/fd/3`, never the
//!   library's path; the path is only passed to name the library in messages);
//! - fd 4: the worker's end of a `UnixStream` pair, the frame channel;
//! - fd 5, stdout and stderr: one pipe the host drains on a thread, keeping the last 64 KiB
//!   ([`WorkerPlugin::output`]);
//! - stdin `/dev/null`, an empty environment, working directory `/`, a session of its own (so
//!   its own process group, and no controlling terminal) and `PR_SET_PDEATHSIG(SIGKILL)`
//!   ([`crate::plugin::sandbox::child_pre_exec`]). Workers are spawned from one
//!   long-lived thread, because the death signal follows the spawning *thread*; the caller
//!   does not wait for the spawn.
//!
//! One plugin may have several workers ([`WorkerOptions::pool`]): each thread calling it at
//! the same time gets its own, started on first need.
//!
//! # The worker ([`serve`])
//!
//! `main` sends it here before anything else (it parses only its own arguments and reads no
//! configuration). It checks fds 3 to 5, puts the fatal signals back to their default action (so
//! the host sees the real signal), applies [`crate::plugin::sandbox::apply`] while still single-threaded (memory
//! and CPU limits from `--memory` and `--cpu`, 64 files, no capabilities, Landlock, seccomp),
//! waits for the handshake and checks that the library is sealed. Only then does it `dlopen` the
//! library (`load::open_sealed`: its constructors run inside the sandbox), tighten the sandbox
//! so that nothing can be opened any more ([`crate::plugin::sandbox::restrict_after_load`]), start its call
//! watchdog, and run the library's entry points with the same ABI, metadata and registration
//! checks as in-process (`load::load_opened`), and answer the handshake.
//!
//! # Frames
//!
//! Every message is a frame: a `u32` little-endian length, then that many bytes. A frame is
//! at most [`MAX_FRAME`] (256 MiB); a longer length is a protocol error. A frame holds JSON,
//! except the `generate` and `validate` batches, whose binary layout (`wire`) carries
//! each app's JSON as it is, unescaped.
//!
//! ## Handshake
//!
//! host: `{"protocol": 3, "kure": "<kure version>"}`
//!
//! worker: `{"protocol": 3, "kure": "<version>", "abiInfo": {..AbiInfo..}, "plugin": {"name",
//! "version", "description", "author"}, "gvks": [{"apiVersion", "kind"}]}`, or `{"error":
//! ErrorPayload, "details"?: "...", "protocol"?, "kure"?}` when the library cannot be loaded or
//! registered (the message is the in-process one) or the versions differ. A protocol or kure
//! version mismatch is refused on both sides, naming both versions. The worker does not report
//! what its sandbox enforces: plugin code has run in it by then, so kure computes that itself
//! ([`crate::plugin::sandbox::expected_report`]).
//!
//! ## Requests, one response each
//!
//! | request | response |
//! |---|---|
//! | batch `generate` of N request JSONs (`wire`) | batch answer: per app the objects JSON array, or an ErrorPayload |
//! | batch `validate` of N spec JSONs | batch answer: per app nothing, or an ErrorPayload |
//! | `{"op":"schema","apiVersion","kind"}` | `{"ok": <JSON Schema>}` \| `{"err":ErrorPayload}` |
//! | `{"op":"docs","apiVersion","kind"}` | `{"ok": {"documentation","examples","usageGuide"}}` \| `{"err":ErrorPayload}` |
//! | `{"op":"initialize"}` | `{"ok":{"initializeUs":N}}` \| `{"err":ErrorPayload}` (initialize and the first health_check, once) |
//! | `{"op":"health"}` | `{"ok":{"healthCheckUs":N}}` \| `{"err":ErrorPayload}` |
//! | `{"op":"shutdown"}` | `{"ok":null}` (the worker closes its output first), then it exits 0 |
//!
//! Any request can instead be answered `{"error":ErrorPayload}` (an unknown GVK, a malformed
//! request, results too large for one frame): the request failed, the worker is fine.
//!
//! Many apps travel in one `generate` frame: that is what keeps the per-app cost low.
//!
//! ## Time limits
//!
//! The worker arms a deadline around every plugin call ([`crate::plugin::contain::timeout`] on the host
//! when the worker starts). When a call outlives it, the worker's watchdog sends
//! `{"timeout":{"entry","index","limitMs"}}` (`index`: the app within the frame) and exits 124.
//! The host also keeps a backstop deadline per frame and kills the worker's process group
//! (SIGKILL) when it passes.
//!
//! # Failures
//!
//! A worker that crashes, exits, times out or breaks the protocol is killed (its whole process
//! group) and reaped; the call returns one paragraph naming `plugin NAME@VERSION`, `in process
//! isolation`, what happened (signal, exit status, the memory or CPU limit, the time limit) and
//! the operation, as an [`ErrorPayload`](kure_plugin_api::abi::ErrorPayload) of kind `worker-crashed`, `worker-timeout` or
//! `protocol`. kure itself carries on. When a worker dies during a batch, the host restarts it
//! (at most [`WorkerOptions::max_restarts`] times per plugin) and retries the apps of that batch
//! one at a time, so the results say exactly which apps failed; apps left when the restart
//! budget is spent get an error saying they were not attempted.

//!
//! # Files
//!
//! - `frame`: frames; `wire`: the batch layout inside them;
//! - `protocol`: the messages (handshake, requests, outcomes);
//! - `serve`: the worker process itself, its sandbox steps and its call watchdog;
//! - `spawn`: starting, ending and reaping worker processes, their output, how one died;
//! - `channel`: one exchange with a worker under a deadline;
//! - `client`: [`WorkerPlugin`], the host's handle on a plugin's workers;
//! - `generator`: a plugin GVK served by its workers, as a `DynGenerator`.
#![allow(unsafe_code)]

mod channel;
mod client;
mod frame;
mod generator;
mod protocol;
mod serve;
mod spawn;
mod wire;

/// The version of the frame protocol this kure speaks.
pub const PROTOCOL_VERSION: u32 = 3;

/// The kure version both ends of the channel must share.
pub const KURE_VERSION: &str = env!("CARGO_PKG_VERSION");

/// The largest frame either side accepts (256 MiB).
pub const MAX_FRAME: usize = 256 << 20;

/// Default address-space limit of a worker (2 GiB).
pub const DEFAULT_MEMORY_BYTES: u64 = 2 << 30;

/// Default CPU-time limit of a worker, over its whole life (10 minutes).
pub const DEFAULT_CPU_SECONDS: u64 = 600;

/// Default number of restarts of one plugin's worker per run.
pub const DEFAULT_MAX_RESTARTS: u32 = 3;

/// The hidden subcommand that runs a worker (`plugin/error.rs` spells it in a message; a test
/// there keeps the two the same).
pub const WORKER_SUBCOMMAND: &str = "__plugin-worker";

/// The fd the worker finds the sealed library at.
const LIBRARY_FD: i32 = 3;
/// The fd of the worker's end of the frame channel.
const CHANNEL_FD: i32 = 4;
/// The fd of the output pipe (also the worker's initial stdout and stderr).
const OUTPUT_FD: i32 = 5;
/// How much of a worker's output the host keeps.
const OUTPUT_TAIL: usize = 64 << 10;
/// The worker's exit status after its watchdog ended an overlong call.
const TIMEOUT_EXIT: i32 = 124;
/// Requests of one frame are kept below this many bytes; larger batches are split.
const BATCH_BYTES: usize = 64 << 20;

pub use crate::plugin::WorkerError;
use channel::*;
pub use client::{Starting, WorkerOptions, WorkerPlugin};
pub use frame::{read_frame, recv, send, write_frame, FrameError};
use generator::*;
use protocol::*;
pub use protocol::{HealthTimings, InitTimings, PluginGvk, PluginInfo};
pub use serve::{exit, serve, ServeOptions};
use spawn::*;

#[cfg(test)]
mod tests {
    use super::*;
    use kure_plugin_api::abi::ErrorKind;
    use std::borrow::Cow;
    use std::io;
    use wire::BatchOp;

    #[test]
    fn frames_round_trip() {
        let mut wire = Vec::new();
        write_frame(&mut wire, b"{\"a\":1}").expect("write");
        write_frame(&mut wire, b"").expect("write empty");
        send(
            &mut wire,
            &Hello {
                protocol: 1,
                kure: "9.9.9".into(),
            },
        )
        .expect("send");
        assert_eq!(&wire[..4], &7u32.to_le_bytes());
        let mut r = io::Cursor::new(wire);
        assert_eq!(read_frame(&mut r, MAX_FRAME).expect("first"), b"{\"a\":1}");
        assert_eq!(read_frame(&mut r, MAX_FRAME).expect("empty"), b"");
        let hello: Hello = recv(&mut r).expect("typed");
        assert_eq!(hello.kure, "9.9.9");
        assert!(matches!(
            read_frame(&mut r, MAX_FRAME),
            Err(FrameError::Closed)
        ));
    }

    #[test]
    fn oversized_frames_are_refused_before_reading_them() {
        let mut wire = Vec::new();
        wire.extend_from_slice(&(MAX_FRAME as u32 + 1).to_le_bytes());
        wire.extend_from_slice(b"xx");
        let err = read_frame(&mut io::Cursor::new(&wire), MAX_FRAME).expect_err("too large");
        assert!(
            matches!(err, FrameError::TooLarge { len, .. } if len == MAX_FRAME as u64 + 1),
            "{err}"
        );
        let err = read_frame(&mut io::Cursor::new(&wire), 1).expect_err("over a small cap");
        assert!(matches!(err, FrameError::TooLarge { .. }));
        // Writing refuses too, without writing anything.
        let mut sink = Vec::new();
        let big = vec![b' '; MAX_FRAME + 1];
        assert!(matches!(
            write_frame(&mut sink, &big),
            Err(FrameError::TooLarge { .. })
        ));
        assert!(sink.is_empty());
    }

    #[test]
    fn truncated_frames_are_errors() {
        let err = read_frame(&mut io::Cursor::new(vec![5u8, 0]), MAX_FRAME).expect_err("header");
        assert!(
            matches!(
                err,
                FrameError::Truncated {
                    expected: 4,
                    got: 2
                }
            ),
            "{err}"
        );
        let mut wire = 10u32.to_le_bytes().to_vec();
        wire.extend_from_slice(b"abc");
        let err = read_frame(&mut io::Cursor::new(wire), MAX_FRAME).expect_err("body");
        assert!(
            matches!(
                err,
                FrameError::Truncated {
                    expected: 10,
                    got: 3
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn invalid_json_is_an_error() {
        let mut wire = Vec::new();
        write_frame(&mut wire, b"{not json").expect("write");
        let err = recv::<Hello>(&mut io::Cursor::new(wire)).expect_err("json");
        assert!(matches!(err, FrameError::Json(_)));
    }

    #[test]
    fn requests_and_outcomes_have_the_documented_shapes() {
        let r = Request::Schema {
            api_version: Cow::Borrowed("a.b/v1"),
            kind: Cow::Borrowed("K"),
        };
        assert_eq!(
            serde_json::to_value(&r).expect("encode"),
            serde_json::json!({"op":"schema","apiVersion":"a.b/v1","kind":"K"})
        );
        assert_eq!(
            serde_json::to_value(Request::Shutdown).expect("encode"),
            serde_json::json!({"op":"shutdown"})
        );
        let back: Request<'static> =
            serde_json::from_value(serde_json::json!({"op":"docs","apiVersion":"v1","kind":"K"}))
                .expect("decode");
        assert!(matches!(back, Request::Docs { .. }));
        assert_eq!(
            serde_json::to_value(Outcome::<()>::Err(payload(
                ErrorKind::Validate,
                "bad".into()
            )))
            .expect("encode"),
            serde_json::json!({"err":{"kind":"validate","message":"bad"}})
        );
        // Batches are binary frames (see `wire`): they never start like a JSON message.
        let batch = wire::encode_request(BatchOp::Generate, "a.b/v1", "K", &[]);
        assert_ne!(batch[0], b'{');
    }

    #[test]
    fn output_tail_keeps_the_last_64_kib() {
        let t = OutputTail::default();
        t.push(&vec![b'a'; OUTPUT_TAIL]);
        let from = t.total();
        t.push(b"tail");
        assert_eq!(t.total(), OUTPUT_TAIL as u64 + 4);
        assert_eq!(t.since(0).len(), OUTPUT_TAIL);
        assert_eq!(t.since(from), b"tail");
    }

    #[test]
    fn the_telling_line_is_quoted() {
        let rust = "memory allocation of 8 bytes failed\nnote: run with `RUST_BACKTRACE=1` environment variable to display a backtrace\n";
        assert_eq!(
            telling_line(rust),
            Some("memory allocation of 8 bytes failed")
        );
        let panic = "thread 'main' panicked at src/lib.rs:1:1:\nboom\nnote: run with `RUST_BACKTRACE=1` environment variable to display a backtrace\n";
        assert_eq!(telling_line(panic), Some("boom"));
        assert_eq!(telling_line("\n  \n"), None);
    }

    #[test]
    fn allocation_failures_are_recognized() {
        assert!(allocation_failed(
            "memory allocation of 3221225472 bytes failed\n"
        ));
        assert!(allocation_failed(
            "terminate called after throwing an instance of 'std::bad_alloc'"
        ));
        assert!(!allocation_failed("segfault"));
    }
}
