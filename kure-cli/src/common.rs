//! Options every subcommand shares, and building an engine from them.

use std::path::PathBuf;

use kure_core::ops::{LockChoice, PluginReport, Ran, Settings};
use kure_core::Isolation;

/// Global options.
#[derive(Debug, clap::Args)]
pub struct GlobalArgs {
    /// Use the plugin library LIB for this run (repeatable), ahead of installed plugins and
    /// the plugin directories: the dev loop's way to try a fresh build without installing it.
    /// It is checked like any plugin (signature, lock); a warning names what it shadows.
    #[arg(long = "plugin", value_name = "LIB", global = true)]
    pub plugins: Vec<PathBuf>,
    /// Also look for plugins in DIR (searched before KURE_PLUGIN_PATH and the default dirs).
    /// Only the libraries directly in DIR are considered. A library there that kure does not
    /// use (not a kure plugin, unsigned, signed by a key it does not trust) is a warning that
    /// says why and what fixes it; in the other plugin dirs, `-v` lists them.
    #[arg(long = "plugin-dir", value_name = "DIR", global = true)]
    pub plugin_dirs: Vec<PathBuf>,
    /// Load plugins that have no trusted signature (development only; prints a warning).
    /// KURE_ALLOW_UNSIGNED=1 (or true/yes/on) does the same.
    #[arg(long, global = true, env = "KURE_ALLOW_UNSIGNED", action = clap::ArgAction::SetTrue,
          value_parser = clap::builder::BoolishValueParser::new(), hide_env_values = true)]
    pub allow_unsigned: bool,
    /// Print full diagnostics (e.g. abi_stable's layout report for an incompatible plugin), and
    /// what plugins printed: their stdout and stderr never reach kure's output.
    #[arg(short, long, global = true)]
    pub verbose: bool,
    /// Colour `error:`, `warning:` and `note:` on stderr: `auto` (the default) on a terminal
    /// unless NO_COLOR is set, `always`, or `never`.
    #[arg(long, value_enum, value_name = "WHEN", default_value_t = ColorChoice::Auto, global = true)]
    pub color: ColorChoice,
    /// Print errors only: no warnings, notes or summaries (`N documents valid`, `wrote ...`);
    /// generated manifests and listings still go to stdout. The exit status says the rest.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Longest time one plugin call may take before kure stops it (default 30; also
    /// KURE_PLUGIN_TIMEOUT, or `plugin_timeout:` in config.yaml). In-process, kure exits 1.
    #[arg(long, value_name = "SECONDS", global = true, env = "KURE_PLUGIN_TIMEOUT",
          value_parser = parse_seconds)]
    pub plugin_timeout: Option<std::time::Duration>,
    /// Append one JSON line per plugin call to FILE (time, plugin, version, sha256, signer,
    /// isolation, entry point, GVK, app and FILE:LINE, duration, outcome). Also
    /// `audit_log:` in config.yaml.
    #[arg(long, value_name = "FILE", global = true)]
    pub audit: Option<PathBuf>,
    /// Where plugin code runs: `in-process` (default: fastest; kure fails cleanly whatever
    /// the plugin does, but the plugin can read what kure can) or `process` (a sandboxed
    /// worker: no writes, no reads once loaded, no network, no new processes, memory and CPU
    /// limits; kure survives it). Also
    /// KURE_ISOLATION, `isolation:` in config.yaml, and per plugin
    /// `plugins: {NAME: {isolation: process}}`.
    #[arg(long, value_name = "MODE", global = true, env = "KURE_ISOLATION",
          value_parser = parse_isolation)]
    pub isolation: Option<Isolation>,
    /// Address-space limit of each process-isolation worker, e.g. 2GiB (the default) or
    /// 512MiB. Also KURE_PLUGIN_MEMORY, or `plugin_memory:` in config.yaml.
    #[arg(long, value_name = "SIZE", global = true, env = "KURE_PLUGIN_MEMORY",
          value_parser = kure_core::config::parse_size)]
    pub plugin_memory: Option<u64>,
}

/// The specs a command reads: `-f` and the input size limit.
#[derive(Debug, clap::Args)]
pub struct InputArgs {
    /// Spec files or directories (`-f a.yaml b/` or `-f a.yaml -f b/`). Directories are read
    /// recursively in name order, skipping hidden entries and kure output directories; `-`
    /// reads standard input.
    #[arg(short = 'f', long = "file", value_name = "PATH", required = true, num_args = 1..)]
    pub files: Vec<PathBuf>,
    /// How problems are printed on stderr: `human` sentences, or `json`, one object per line
    /// (severity, message, file, line, column, field, hint) for editors and CI.
    #[arg(long, value_enum, default_value_t = MessageFormat::Human)]
    pub message_format: MessageFormat,
    /// Largest input kure reads from one file or from standard input, e.g. 256MiB (default
    /// 64MiB). Also KURE_MAX_INPUT_BYTES.
    #[arg(long, value_name = "SIZE", env = "KURE_MAX_INPUT_BYTES",
          value_parser = parse_input_size)]
    pub max_input_bytes: Option<u64>,
}

impl InputArgs {
    /// The input options these arguments ask for; also sets the diagnostic format.
    pub fn options(&self) -> kure_core::InputOptions {
        set_message_format(self.message_format);
        let mut o = kure_core::InputOptions::default();
        if let Some(max) = self.max_input_bytes {
            o.max_bytes = max;
        }
        o
    }
}

fn parse_input_size(s: &str) -> Result<u64, String> {
    match kure_core::config::parse_bytes(s)? {
        0 => Err("the input limit must be at least 1 byte".to_owned()),
        n => Ok(n),
    }
}

fn parse_isolation(s: &str) -> Result<Isolation, String> {
    s.parse()
}

fn parse_seconds(s: &str) -> Result<std::time::Duration, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if v > 0.0 && v <= 86_400.0 => Ok(std::time::Duration::from_secs_f64(v)),
        _ => Err(format!(
            "`{s}` is not a number of seconds between 0 and 86400 (e.g. 30 or 2.5)"
        )),
    }
}

/// Writes to kure's own stdout; a closed pipe ends kure quietly with success. Control
/// characters other than newline and tab are escaped: text from specs, plugins and indexes
/// never reaches the terminal as an escape sequence.
pub fn out(args: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let text = kure_core::terminal_safe(args.to_string());
    if let Err(e) = kure_core::plugin::contain::stdout().write_all(text.as_bytes()) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            kure_core::plugin::contain::exit(0);
        }
    }
}

/// Writes to kure's own stderr, control characters escaped as in [`out`] (then kure's own
/// colour added, when on).
pub fn err(args: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let mut text = kure_core::terminal_safe(args.to_string());
    if COLOR.load(std::sync::atomic::Ordering::Relaxed) && !json_messages() {
        text = colored(&text);
    }
    let _ = kure_core::plugin::contain::stderr().write_all(text.as_bytes());
}

static JSON_MESSAGES: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
static COLOR: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// When to colour stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorChoice {
    /// On a terminal, unless NO_COLOR is set to anything.
    Auto,
    /// Always.
    Always,
    /// Never.
    Never,
}

/// Decides colour for the run (after [`crate::progress::detect_terminal`]).
pub fn set_color(choice: ColorChoice) {
    let on = match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            crate::progress::stderr_is_terminal()
                && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
        }
    };
    COLOR.store(on, std::sync::atomic::Ordering::Relaxed);
}

/// `text` with the `error:`, `warning:` and `note:` that start its lines coloured.
fn colored(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    for line in text.split_inclusive('\n') {
        let painted = [("error:", "1;31"), ("warning:", "1;33"), ("note:", "1;36")]
            .iter()
            .find_map(|(word, code)| {
                line.strip_prefix(word)
                    .map(|rest| format!("\x1b[{code}m{}\x1b[0m:{rest}", &word[..word.len() - 1]))
            });
        out.push_str(painted.as_deref().unwrap_or(line));
    }
    out
}

/// How diagnostics are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum MessageFormat {
    /// Sentences for people.
    Human,
    /// One JSON object per line: severity, message, file, line, column, field, hint.
    Json,
}

/// Chooses the diagnostic format for the rest of the run.
pub fn set_message_format(format: MessageFormat) {
    JSON_MESSAGES.store(
        format == MessageFormat::Json,
        std::sync::atomic::Ordering::Relaxed,
    );
}

/// Whether diagnostics are JSON lines.
pub fn json_messages() -> bool {
    JSON_MESSAGES.load(std::sync::atomic::Ordering::Relaxed)
}

/// One diagnostic as a JSON line (`--message-format json`).
fn message_json(
    severity: &str,
    message: &str,
    location: Option<&kure_core::Location>,
    field: Option<&str>,
) -> String {
    // The suggestion, up to its question mark (`did you mean `x`?`).
    let hint = message.find("did you mean").map(|i| {
        let rest = &message[i..];
        rest.find('?').map_or(rest, |q| &rest[..=q]).to_owned()
    });
    serde_json::json!({
        "severity": severity,
        "message": message,
        "file": location.map(|l| l.file.display().to_string()),
        "line": location.map(|l| l.line),
        "column": location.and_then(|l| l.column),
        "field": field,
        "hint": hint,
    })
    .to_string()
}

/// Prints a warning, note or summary on stderr: a sentence, or a JSON line under
/// `--message-format json`; nothing under `-q`.
pub fn note(severity: &str, text: std::fmt::Arguments<'_>) {
    if kure_core::plugin::contain::quiet() {
        return;
    }
    if json_messages() {
        let text = text.to_string();
        let (severity, message) = match text.split_once(": ") {
            Some((s @ ("warning" | "note"), rest)) => (s, rest),
            _ => (severity, text.as_str()),
        };
        err(format_args!(
            "{}\n",
            message_json(severity, message, None, None)
        ));
    } else {
        err(format_args!("{text}\n"));
    }
}

/// Prints the error that ends the run: `error: ...` (with `-v` details), or under
/// `--message-format json` one JSON line per problem.
pub fn print_error(e: &anyhow::Error, verbose: bool) {
    // kure's own errors already say their cause; anyhow's `{:#}` would say it twice.
    let text = match e.downcast_ref::<kure_core::Error>() {
        Some(k) if e.chain().count() <= 2 => k.to_string(),
        _ => format!("{e:#}"),
    };
    if json_messages() {
        let diags = e
            .downcast_ref::<kure_core::Error>()
            .map(kure_core::Error::diagnostics)
            .unwrap_or_default();
        if diags.is_empty() {
            err(format_args!(
                "{}\n",
                message_json("error", &text, None, None)
            ));
        }
        for d in diags {
            err(format_args!(
                "{}\n",
                message_json("error", &d.message, Some(&d.location), d.field.as_deref())
            ));
        }
        return;
    }
    err(format_args!("error: {text}\n"));
    if let Some(details) = details(e) {
        if verbose {
            err(format_args!("\n{details}\n"));
        }
    }
}

impl GlobalArgs {
    /// The settings these flags choose, for [`kure_core::ops::Session::start`].
    pub fn settings(&self) -> Settings {
        Settings {
            plugins: self.plugins.clone(),
            plugin_dirs: self.plugin_dirs.clone(),
            allow_unsigned: self.allow_unsigned,
            plugin_timeout: self.plugin_timeout,
            audit: self.audit.clone(),
            isolation: self.isolation,
            plugin_memory: self.plugin_memory,
        }
    }
}

/// How commands that talk to OCI registries do it.
#[derive(Debug, clap::Args)]
pub struct RegistryArgs {
    /// Plain HTTP instead of HTTPS, for a registry on this machine only (localhost,
    /// 127.0.0.1, ::1). KURE_REGISTRY_INSECURE=1 does the same (for scripts such as
    /// deploy/flux/render.sh run against a local registry).
    #[arg(long, env = "KURE_REGISTRY_INSECURE", action = clap::ArgAction::SetTrue,
          value_parser = clap::builder::BoolishValueParser::new(), hide_env_values = true)]
    pub insecure: bool,
    /// The Docker config file with registry credentials (`auths.REGISTRY.auth`; default
    /// $DOCKER_CONFIG/config.json, else ~/.docker/config.json). Credential helpers are not run.
    #[arg(long, value_name = "FILE")]
    pub registry_config: Option<PathBuf>,
    /// Longest time a connection or a read may take (default 30; the whole operation gets
    /// twice that).
    #[arg(long, value_name = "SECONDS", value_parser = parse_seconds)]
    pub registry_timeout: Option<std::time::Duration>,
    /// A PEM certificate authority to trust besides the system's, for a registry with a
    /// private certificate.
    #[arg(long, value_name = "FILE")]
    pub registry_ca: Option<PathBuf>,
}

impl RegistryArgs {
    /// The registry options these arguments ask for.
    pub fn options(&self) -> kure_core::store::registry::RegistryOptions {
        let mut o = kure_core::store::registry::RegistryOptions {
            insecure: self.insecure,
            config: self.registry_config.clone(),
            ca: self.registry_ca.clone(),
            ..Default::default()
        };
        if let Some(t) = self.registry_timeout {
            o.timeout = t;
        }
        o
    }
}

/// Output formats of list-like commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Aligned columns.
    Table,
    /// Aligned columns, with more of them.
    Wide,
    /// JSON.
    Json,
    /// YAML.
    Yaml,
}

/// Prints `value` as JSON or YAML (`format` is `json` or `yaml`).
pub fn print_value(value: &serde_json::Value, format: Format) -> anyhow::Result<()> {
    match format {
        Format::Json => outln!("{}", serde_json::to_string_pretty(value)?),
        _ => out!("{}", kure_core::output::emit::to_string(value)),
    }
    Ok(())
}

/// Prints rows as an aligned table with a header.
pub fn print_table(header: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for r in rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut s = String::new();
        for (i, (c, w)) in cells.iter().zip(&widths).enumerate() {
            if i + 1 == cells.len() {
                s.push_str(c);
            } else {
                // `{:w$}` pads by characters, as the widths are counted.
                s.push_str(&format!("{c:w$}  "));
            }
        }
        outln!("{}", s.trim_end());
    };
    line(header.to_vec());
    for r in rows {
        line(r.iter().map(String::as_str).collect());
    }
}

/// Tells the user, on stderr, what they should know about the plugins of a run: every
/// plugin loaded without a trusted signature, every provider that won over another (and how to
/// choose the other; libraries of a `--plugin-dir` that were not used), and, with `-v`, the
/// libraries of the other plugin directories that were skipped.
pub fn report_plugins(report: &PluginReport) {
    for (label, path) in &report.unsigned {
        noteln!(
            "warning: loaded unsigned plugin {label} ({}) because unsigned plugins are allowed",
            path.display()
        );
    }
    for w in &report.warnings {
        noteln!("warning: {w}");
    }
    if kure_core::plugin::contain::verbose() {
        for (path, why) in &report.skipped {
            noteln!("note: skipped {}: {why}", path.display());
        }
    }
}

/// The outcome of `ran`, after its plugin report was shown.
pub fn reported<T>(ran: Ran<T>) -> Result<T, kure_core::Error> {
    report_plugins(&ran.plugins);
    ran.result
}

/// The lock flags of `generate`, `validate` and `fn`.
pub fn lock_choice(file: Option<PathBuf>, locked: bool) -> LockChoice {
    LockChoice {
        file,
        required: locked,
    }
}

/// Long details behind an error, shown with `--verbose`.
pub fn details(e: &anyhow::Error) -> Option<String> {
    let core = e.downcast_ref::<kure_core::Error>()?;
    match core {
        kure_core::Error::Load(l) => l.details().map(str::to_owned),
        kure_core::Error::Worker(w) => w.details().map(str::to_owned),
        _ => None,
    }
}
