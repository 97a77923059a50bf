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

#[cfg(test)]
mod tests {
    use super::*;

    fn record_of(app: String) -> Record<'static> {
        Record {
            time: crate::util::now_rfc3339(),
            plugin: "p",
            version: "1.0.0",
            sha256: "ab",
            signer: "unsigned",
            isolation: "in-process",
            entry: "generate",
            gvk: Some("x.dev/v1/Thing"),
            app: Some(app),
            location: Some("a.yaml:1".into()),
            duration_us: 7,
            outcome: "ok".into(),
        }
    }

    /// The log is process-wide (opened once per run): one test opens it, from threads at once
    /// writes records whose apps carry newlines and quotes, and reads back one whole JSON
    /// record per line.
    #[test]
    fn records_from_many_threads_are_whole_lines_in_a_private_file() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tmp");
        let log = dir.path().join("audit.jsonl");
        assert!(!enabled());
        // A log kure cannot open is a configuration error naming it.
        let e = open(&dir.path().join("missing/audit.jsonl")).expect_err("no such directory");
        assert!(e.to_string().contains("missing/audit.jsonl"), "{e}");
        assert!(!enabled());
        open(&log).expect("open");
        assert!(enabled());
        std::thread::scope(|s| {
            for t in 0..8 {
                s.spawn(move || {
                    for i in 0..50 {
                        record(&record_of(format!("app {t}-{i}\n\"quoted\"")));
                    }
                });
            }
        });
        let mode = std::fs::metadata(&log).expect("log").permissions().mode();
        assert_eq!(mode & 0o077, 0, "{mode:o}");
        let text = std::fs::read_to_string(&log).expect("read");
        let mut apps: Vec<String> = text
            .lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).expect("one record per line");
                assert_eq!(v["outcome"], "ok");
                assert_eq!(
                    v["durationUs"].as_u64().or(v["duration_us"].as_u64()),
                    Some(7)
                );
                v["app"].as_str().expect("app").to_owned()
            })
            .collect();
        apps.sort();
        apps.dedup();
        assert_eq!(apps.len(), 400);
    }
}
