//! Kill points for tests: in a debug build, `KURE_KILL_AT=<point>` makes kure send itself
//! SIGKILL when it reaches `<point>`, so tests can prove that the store and the output
//! directory survive `kill -9` between any two steps. Release builds compile this to nothing.

/// Dies here, as if killed with `kill -9`, when `KURE_KILL_AT` names this point (debug builds
/// only).
#[inline]
pub(crate) fn hit(point: &str) {
    #[cfg(debug_assertions)]
    if std::env::var_os("KURE_KILL_AT").is_some_and(|v| v == point) {
        let _ =
            rustix::process::kill_process(rustix::process::getpid(), rustix::process::Signal::KILL);
    }
    #[cfg(not(debug_assertions))]
    let _ = point;
}
