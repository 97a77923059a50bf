//! A progress bar on stderr for long runs: apps done, apps per second, the file being read.
//! Only on a terminal, never under `-q` or `--message-format json`, and only once a run has
//! taken about a second (`KURE_PROGRESS_AFTER_MS` changes that, for tests).

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle, TermLike};

static STDERR_IS_TERMINAL: AtomicBool = AtomicBool::new(false);

/// Records whether stderr is a terminal: call before kure takes over its descriptors.
pub fn detect_terminal() {
    use std::io::IsTerminal;
    STDERR_IS_TERMINAL.store(std::io::stderr().is_terminal(), Ordering::Relaxed);
}

/// Whether stderr is a terminal.
pub fn stderr_is_terminal() -> bool {
    STDERR_IS_TERMINAL.load(Ordering::Relaxed)
}

/// kure's own stderr as indicatif's terminal (the process's fd 2 holds what plugins print).
#[derive(Debug)]
struct KureStderr;

impl KureStderr {
    fn put(&self, s: &str) -> std::io::Result<()> {
        kure_core::plugin::contain::stderr().write_all(s.as_bytes())
    }
}

impl TermLike for KureStderr {
    fn width(&self) -> u16 {
        std::env::var("COLUMNS")
            .ok()
            .and_then(|c| c.parse().ok())
            .unwrap_or(100)
    }
    fn move_cursor_up(&self, n: usize) -> std::io::Result<()> {
        if n > 0 {
            self.put(&format!("\x1b[{n}A"))?;
        }
        Ok(())
    }
    fn move_cursor_down(&self, n: usize) -> std::io::Result<()> {
        if n > 0 {
            self.put(&format!("\x1b[{n}B"))?;
        }
        Ok(())
    }
    fn move_cursor_right(&self, n: usize) -> std::io::Result<()> {
        if n > 0 {
            self.put(&format!("\x1b[{n}C"))?;
        }
        Ok(())
    }
    fn move_cursor_left(&self, n: usize) -> std::io::Result<()> {
        if n > 0 {
            self.put(&format!("\x1b[{n}D"))?;
        }
        Ok(())
    }
    fn write_line(&self, s: &str) -> std::io::Result<()> {
        self.put(&format!("{s}\n"))
    }
    fn write_str(&self, s: &str) -> std::io::Result<()> {
        self.put(s)
    }
    fn clear_line(&self) -> std::io::Result<()> {
        self.put("\r\x1b[2K")
    }
    fn flush(&self) -> std::io::Result<()> {
        kure_core::plugin::contain::stderr().flush()
    }
}

/// A bar for one run, or nothing when none is wanted.
pub struct Bar {
    bar: ProgressBar,
    shown: Mutex<bool>,
    start: Instant,
    after: Duration,
}

impl Bar {
    /// A bar when stderr is a terminal and neither `-q` nor JSON messages were asked for.
    pub fn new(json_messages: bool) -> Option<Arc<Self>> {
        if !stderr_is_terminal() || kure_core::plugin::contain::quiet() || json_messages {
            return None;
        }
        let after = std::env::var("KURE_PROGRESS_AFTER_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .map_or(Duration::from_secs(1), Duration::from_millis);
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::hidden());
        bar.set_style(
            ProgressStyle::with_template("{spinner} {human_pos} apps, {per_sec} {wide_msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        Some(Arc::new(Self {
            bar,
            shown: Mutex::new(false),
            start: Instant::now(),
            after,
        }))
    }

    /// The pipeline's callback.
    pub fn callback(self: &Arc<Self>) -> kure_core::pipeline::Progress {
        let me = Arc::clone(self);
        kure_core::pipeline::Progress(Arc::new(move |done, file| {
            let mut shown = me.shown.lock().unwrap_or_else(|e| e.into_inner());
            if !*shown && me.start.elapsed() >= me.after {
                me.bar
                    .set_draw_target(ProgressDrawTarget::term_like(Box::new(KureStderr)));
                *shown = true;
            }
            me.bar.set_position(done as u64);
            me.bar
                .set_message(kure_core::terminal_safe(file.display().to_string()));
        }))
    }

    /// Removes the bar before kure prints its result or its errors.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
