//! Small helpers shared by the decoder, validator and registry.

pub use kure_plugin_api::validate::text::{
    closest, edit_distance, hostile, shown, shown_max, shown_message, shown_path,
};

/// Text for a terminal: like [`shown`], every hostile character escaped (`\u{1b}`), but
/// newlines and tabs kept and nothing cut. What kure prints goes through this.
pub fn terminal_safe(text: String) -> String {
    let keep = |c: char| c == '\n' || c == '\t';
    if !text.contains(|c| hostile(c) && !keep(c)) {
        return text;
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if hostile(c) && !keep(c) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// Whether `s` is a DNS-1123 subdomain (Kubernetes object names): the SDK's rule, one copy.
pub use kure_plugin_api::sdk::is_dns_subdomain;

/// Seconds since the epoch as RFC 3339 UTC.
pub fn now_rfc3339() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// The value at `keys` below `v` (`&["metadata", "name"]`). `Value::pointer` would parse and
/// unescape a JSON pointer on every call; on the per-object checks that cost 7% of a built-in
/// application's validate-generate-render time (callgrind).
pub(crate) fn field<'v>(v: &'v serde_json::Value, keys: &[&str]) -> Option<&'v serde_json::Value> {
    keys.iter().try_fold(v, |v, k| v.get(k))
}

/// Whether `s` holds `": "` or `" #"`, the pairs that make a plain YAML scalar a mapping or
/// start a comment: one pass over the bytes. On the short strings of a spec this costs a
/// fraction of two substring searches (each sets up a searcher), and it runs for every
/// scalar read and written (`util::tests` checks it against `str::contains`).
pub(crate) fn has_colon_space_or_space_hash(s: &str) -> bool {
    s.as_bytes()
        .windows(2)
        .any(|w| matches!(w, [b':', b' '] | [b' ', b'#']))
}

/// Whether `s` holds `" #"` (see [`has_colon_space_or_space_hash`]).
pub(crate) fn has_space_hash(s: &str) -> bool {
    s.as_bytes().windows(2).any(|w| w == b" #")
}

/// Writes `contents` to `path` through a temporary file beside it, renamed over `path`: a
/// reader sees the old file or the new one, never part of one. The temporary file is removed
/// on failure.
pub(crate) fn write_atomic(path: &std::path::Path, contents: &[u8]) -> std::io::Result<()> {
    let tmp = std::path::PathBuf::from(format!("{}.tmp-{}", path.display(), std::process::id()));
    std::fs::write(&tmp, contents)
        .and_then(|()| std::fs::rename(&tmp, path))
        .inspect_err(|_| {
            let _ = std::fs::remove_file(&tmp);
        })
}

/// A plugin name kure accepts: letters, digits, `-` and `_`, at most 64, not starting with
/// `-` or `_` (it becomes a directory name in the store).
pub(crate) fn valid_plugin_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        && !name.starts_with(['-', '_'])
}

/// Tests that need a process of their own (a sandbox, a subreaper): fork, run, report an exit
/// code.
#[cfg(all(test, target_os = "linux"))]
#[allow(unsafe_code)]
pub(crate) mod forked {
    use std::io;
    use std::panic::{catch_unwind, AssertUnwindSafe};

    /// Exit codes of the forked child.
    pub(crate) const PASS: i32 = 0;
    pub(crate) const FAIL: i32 = 1;
    pub(crate) const SETUP_FAILED: i32 = 2;
    pub(crate) const PANICKED: i32 = 3;

    /// Forks; the child runs `sandbox` then `check` and exits with `check`'s code (or
    /// SETUP_FAILED / PANICKED). Returns the child's exit code. The child never returns into the
    /// test harness.
    pub(crate) fn in_child(sandbox: impl FnOnce() -> bool, check: impl FnOnce() -> i32) -> i32 {
        // SAFETY: the child only runs `sandbox` and `check` (no locks held by other test threads
        // are needed: no stdout, no env) and leaves with _exit.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork: {}", io::Error::last_os_error());
        if pid == 0 {
            // SAFETY: alarm only arms a timer; a stuck child dies of SIGALRM instead of hanging.
            unsafe { libc::alarm(30) };
            let code = catch_unwind(AssertUnwindSafe(|| {
                if sandbox() {
                    check()
                } else {
                    SETUP_FAILED
                }
            }))
            .unwrap_or(PANICKED);
            // SAFETY: _exit ends the child without running the parent's atexit handlers.
            unsafe { libc::_exit(code) };
        }
        let mut status = 0;
        // SAFETY: waitpid on our own child with a valid status pointer.
        let waited = unsafe { libc::waitpid(pid, &mut status, 0) };
        assert_eq!(waited, pid, "waitpid: {}", io::Error::last_os_error());
        assert!(
            libc::WIFEXITED(status),
            "the forked child died of signal {}",
            libc::WTERMSIG(status)
        );
        libc::WEXITSTATUS(status)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_pair_scans_agree_with_substring_search() {
        let mut cases: Vec<String> = [
            "",
            ":",
            " ",
            "#",
            ": ",
            " #",
            "a: b",
            "a #b",
            "a#b",
            "a:b",
            "ab:",
            " :",
            "# ",
            "url: http://x",
            "héllo: wörld",
            "日本 #語",
            "::  ##",
            "a :b",
            "x\u{a0}#",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        // Every string of up to four characters over an alphabet holding both pairs' bytes
        // and a multi-byte character.
        let alphabet = [':', ' ', '#', 'a', 'é'];
        let mut level = vec![String::new()];
        for _ in 0..4 {
            level = level
                .iter()
                .flat_map(|s| alphabet.iter().map(move |c| format!("{s}{c}")))
                .collect();
            cases.extend(level.iter().cloned());
        }
        for s in &cases {
            assert_eq!(
                has_colon_space_or_space_hash(s),
                s.contains(": ") || s.contains(" #"),
                "{s:?}"
            );
            assert_eq!(has_space_hash(s), s.contains(" #"), "{s:?}");
        }
    }

    use super::*;

    #[test]
    fn plugin_names_are_plain_words() {
        for ok in ["terraform-generator", "a", "x_1", &"n".repeat(64)] {
            assert!(valid_plugin_name(ok), "{ok}");
        }
        for bad in [
            "",
            "-x",
            "_x",
            "a/b",
            "../x",
            "a.b",
            "a b",
            "\u{e9}",
            &"n".repeat(65),
        ] {
            assert!(!valid_plugin_name(bad), "{bad}");
        }
    }
    use kure_plugin_api::sdk::is_dns_label;
    use kure_plugin_api::validate::output::is_kind;

    #[test]
    fn names_that_become_paths_are_strict() {
        for ok in ["Deployment", "ConfigMap", "V1x"] {
            assert!(is_kind(ok), "{ok}");
        }
        for bad in [
            "",
            "../../../x",
            "/tmp/x",
            "Config Map",
            "1Kind",
            "Kind.",
            "Kind-x",
        ] {
            assert!(!is_kind(bad), "{bad}");
        }
        for ok in ["a", "shop", "shop-1", "a.b.c", "x0"] {
            assert!(is_dns_subdomain(ok), "{ok}");
        }
        for bad in [
            "",
            ".",
            "..",
            "../x",
            "a/b",
            "A",
            "-a",
            "a-",
            "a..b",
            ".a",
            "a.",
            &"a".repeat(254),
        ] {
            assert!(!is_dns_subdomain(bad), "{bad}");
        }
        for ok in ["default", "web-1"] {
            assert!(is_dns_label(ok), "{ok}");
        }
        for bad in ["", "..", "a.b", "/abs", "Web", &"a".repeat(64)] {
            assert!(!is_dns_label(bad), "{bad}");
        }
    }

    #[test]
    fn shown_text_is_short_and_inert() {
        assert_eq!(shown("plain"), "plain");
        assert_eq!(shown("a\x1b[31mred\n"), "a\\u{1b}[31mred\\n");
        let long = shown(&"x".repeat(1000));
        assert_eq!(long.chars().count(), 121);
        assert!(long.ends_with('…'));
        assert_eq!(
            terminal_safe("ok\n\tx\x1b[2J\u{202e}".to_owned()),
            "ok\n\tx\\u{1b}[2J\\u{202e}"
        );
    }

    #[test]
    fn suggests_close_names_only() {
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(closest("imagee", ["name", "image", "ports"]), Some("image"));
        assert_eq!(closest("zzzzzzzz", ["name", "image"]), None);
    }
}
