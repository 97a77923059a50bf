//! `--audit FILE` (or `audit_log:` in config.yaml): one JSON Lines record per plugin call,
//! each appended with a single `write(2)` on a file opened with `O_APPEND`, so concurrent
//! kure runs and threads never interleave records.
//!
//! A record holds the time, plugin, version, sha256, signer, isolation mode, entry point, GVK,
//! app and FILE:LINE, the duration in microseconds and the outcome (`ok` or the error kind). A
//! call that ends the process (a crash, an exit, the time limit) leaves no record: the one
//! paragraph on stderr says what happened.

use std::io::Write;
use std::path::Path;
use std::sync::OnceLock;

use serde::Serialize;

use crate::model::error::Error;

static SINK: OnceLock<std::fs::File> = OnceLock::new();

/// Opens (creating, mode 0600) the audit log every later plugin call is recorded in.
pub fn open(path: &Path) -> Result<(), Error> {
    let mut opts = std::fs::OpenOptions::new();
    opts.append(true).create(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let file = opts.open(path).map_err(|e| Error::Config {
        path: path.to_path_buf(),
        reason: format!("cannot open the audit log: {e}"),
    })?;
    let _ = SINK.set(file);
    Ok(())
}

/// Whether calls are being recorded.
pub fn enabled() -> bool {
    SINK.get().is_some()
}

/// One plugin call.
#[derive(Debug, Serialize)]
pub struct Record<'a> {
    /// When the call ended (UTC, RFC 3339).
    pub time: String,
    /// Plugin name.
    pub plugin: &'a str,
    /// Plugin version.
    pub version: &'a str,
    /// SHA-256 of the library that ran.
    pub sha256: &'a str,
    /// Signer fingerprint, or `unsigned`.
    pub signer: &'a str,
    /// `in-process` or `process`.
    pub isolation: &'a str,
    /// The entry point called.
    pub entry: &'a str,
    /// `apiVersion/Kind`, for calls about one GVK.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gvk: Option<&'a str>,
    /// The app, for calls about one app.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app: Option<String>,
    /// The app's FILE:LINE.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// How long the call took.
    pub duration_us: u64,
    /// `ok`, or the kind of error (`panic`, `generate`, `invalid-config`, ...).
    pub outcome: String,
}

/// Appends `record` (one write). Errors are ignored: auditing never fails a run.
pub fn record(record: &Record<'_>) {
    let Some(mut file) = SINK.get() else { return };
    if let Ok(mut line) = serde_json::to_vec(record) {
        line.push(b'\n');
        let _ = file.write_all(&line);
    }
}
