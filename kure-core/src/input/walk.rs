//! Where specs come from: the files and directories given with `-f`, and standard input.
//!
//! - Directories are walked with the `ignore` crate, in file-name order. The walk skips hidden
//!   files and directories (kure's own staging directories among them), every directory that
//!   holds kure's output marker, and the paths in [`InputOptions::skip`] (the `-o` directory),
//!   so `kure generate -f . -o out` can run again and again. Symbolic links are followed; a
//!   link that leads back to one of its own ancestors is an error, never a loop.
//! - Only regular files are read, and at most [`InputOptions::max_bytes`] of each: a FIFO,
//!   a device such as `/dev/zero` or a socket is refused before a byte is read (the file is
//!   opened non-blocking, so a FIFO with no writer cannot hang kure). `-` reads standard input,
//!   under the same limit.
//! - A UTF-8 byte-order mark is dropped; text that is not UTF-8 is refused with its line.

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::model::error::Error;
use crate::output::tree::MARKER;
use crate::util::shown;

/// The default limit for one input file: 64 MiB.
pub const DEFAULT_MAX_INPUT_BYTES: u64 = 64 << 20;

/// The `-f` argument that reads standard input.
pub const STDIN: &str = "-";

/// How inputs are found and read.
#[derive(Debug, Clone)]
pub struct InputOptions {
    /// The most bytes read from one file (or from standard input).
    pub max_bytes: u64,
    /// Directories the walk never enters (the output directory), compared by their canonical
    /// path.
    pub skip: Vec<PathBuf>,
}

impl Default for InputOptions {
    fn default() -> Self {
        Self {
            max_bytes: DEFAULT_MAX_INPUT_BYTES,
            skip: Vec::new(),
        }
    }
}

fn fail(path: &Path, reason: impl Into<String>) -> Error {
    Error::Input {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

/// Whether `p` is the `-f -` that names standard input.
pub fn is_stdin(p: &Path) -> bool {
    p.as_os_str() == STDIN
}

/// The `*.yaml` / `*.yml` files of the inputs, in order: files as given, directories walked
/// in file-name order (see the module documentation for what is skipped).
pub fn collect_files(inputs: &[PathBuf], options: &InputOptions) -> Result<Vec<PathBuf>, Error> {
    let skip: Vec<PathBuf> = options
        .skip
        .iter()
        .filter_map(|p| std::fs::canonicalize(p).ok())
        .collect();
    let mut out = Vec::new();
    let mut stdin_seen = false;
    for input in inputs {
        if is_stdin(input) {
            if std::mem::replace(&mut stdin_seen, true) {
                return Err(fail(
                    input,
                    "standard input (`-f -`) can be read only once: give `-f -` once",
                ));
            }
            out.push(input.clone());
            continue;
        }
        let meta = std::fs::metadata(input).map_err(|e| Error::io(input, e))?;
        if meta.is_dir() {
            walk(input, &skip, &mut out)?;
        } else {
            out.push(input.clone());
        }
    }
    Ok(out)
}

fn walk(root: &Path, skip: &[PathBuf], out: &mut Vec<PathBuf>) -> Result<(), Error> {
    let skip = skip.to_vec();
    let walker = ignore::WalkBuilder::new(root)
        .standard_filters(false)
        .hidden(true)
        .follow_links(true)
        .sort_by_file_name(|a, b| a.cmp(b))
        .filter_entry(move |e| {
            let is_dir = e.file_type().is_some_and(|t| t.is_dir());
            if !is_dir || e.depth() == 0 {
                return true;
            }
            if e.path().join(MARKER).exists() {
                return false;
            }
            skip.is_empty() || !std::fs::canonicalize(e.path()).is_ok_and(|c| skip.contains(&c))
        })
        .build();
    for entry in walker {
        let entry = entry.map_err(|e| walk_error(root, e))?;
        let is_file = entry.file_type().is_some_and(|t| !t.is_dir());
        if is_file
            && matches!(
                entry.path().extension().and_then(|e| e.to_str()),
                Some("yaml" | "yml")
            )
        {
            out.push(entry.into_path());
        }
    }
    Ok(())
}

fn walk_error(root: &Path, e: ignore::Error) -> Error {
    match e {
        ignore::Error::WithPath { path, err } => match *err {
            ignore::Error::Io(io) => Error::io(path, io),
            other => walk_error(&path, other),
        },
        ignore::Error::WithDepth { err, .. } => walk_error(root, *err),
        ignore::Error::Loop { ancestor, child } => fail(
            &child,
            format!(
                "is a symbolic link to {}, a directory that contains it: kure does not follow \
                 link loops; remove the link or pass the directories you mean",
                shown(&ancestor.display().to_string())
            ),
        ),
        ignore::Error::Io(io) => Error::io(root, io),
        other => fail(root, format!("cannot walk the directory: {other}")),
    }
}

/// Why [`read_capped`] refused a file.
enum Refusal {
    Io(std::io::Error),
    /// Not a regular file: what it is.
    NotRegular(&'static str),
    /// Over the limit: its size, or `None` for a stream that went on past it.
    TooBig(Option<u64>),
}

impl From<std::io::Error> for Refusal {
    fn from(e: std::io::Error) -> Self {
        Self::Io(e)
    }
}

/// Reads at most `max` bytes of a regular file, or of standard input for `-` when `stdin` is
/// allowed. The file is opened non-blocking and its type checked before anything is read.
fn read_capped(path: &Path, max: u64, stdin: bool) -> Result<Vec<u8>, Refusal> {
    use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
    let mut bytes = Vec::new();
    if stdin && is_stdin(path) {
        std::io::stdin()
            .lock()
            .take(max.saturating_add(1))
            .read_to_end(&mut bytes)?;
    } else {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
            .open(path)?;
        let meta = file.metadata()?;
        let t = meta.file_type();
        if !t.is_file() {
            return Err(Refusal::NotRegular(if t.is_fifo() {
                "a FIFO (named pipe)"
            } else if t.is_char_device() {
                "a character device"
            } else if t.is_block_device() {
                "a block device"
            } else if t.is_socket() {
                "a socket"
            } else if t.is_dir() {
                "a directory"
            } else {
                "not a regular file"
            }));
        }
        if meta.len() > max {
            return Err(Refusal::TooBig(Some(meta.len())));
        }
        bytes.reserve_exact(usize::try_from(meta.len()).unwrap_or(0));
        // `take` as well: the file may grow while it is read.
        (&file)
            .take(max.saturating_add(1))
            .read_to_end(&mut bytes)?;
    }
    if bytes.len() as u64 > max {
        return Err(Refusal::TooBig(None));
    }
    Ok(bytes)
}

/// UTF-8 text without a byte-order mark; on error, the 1-based line and byte offset of the
/// first invalid byte.
fn text(bytes: Vec<u8>) -> Result<String, (usize, usize)> {
    let body = match bytes.strip_prefix(b"\xEF\xBB\xBF") {
        Some(rest) => rest.to_vec(),
        None => bytes,
    };
    String::from_utf8(body).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        let line = 1 + e.as_bytes()[..at].iter().filter(|&&b| b == b'\n').count();
        (line, at)
    })
}

/// Reads one input: a regular file, or standard input for `-`. `shown_as` is the name used in
/// messages (the path as the user gave it).
pub fn read(path: &Path, shown_as: &Path, max_bytes: u64) -> Result<String, Error> {
    let bytes = read_capped(path, max_bytes, true).map_err(|r| match r {
        Refusal::Io(e) => Error::io(shown_as, e),
        Refusal::NotRegular(what) => fail(
            shown_as,
            format!(
                "is {what}: kure reads specs from regular files, and from standard input with \
                 `-f -` (e.g. `producer | kure generate -f -`)"
            ),
        ),
        Refusal::TooBig(size) => too_big(shown_as, size, max_bytes),
    })?;
    text(bytes).map_err(|(line, at)| {
        fail(
            shown_as,
            format!(
                "line {line}: not UTF-8 text (invalid byte at offset {at}): kure reads YAML in \
                 UTF-8; convert the file, e.g. with iconv"
            ),
        )
    })
}

/// The most bytes kure reads from a small file of its own kind: a lock file, a configuration,
/// an index, a key or a signature.
pub const MAX_SMALL_FILE_BYTES: u64 = 16 << 20;

/// Reads a small regular file (a lock, a configuration, an index, a key, a signature): like
/// `std::fs::read`, but a FIFO or a device is refused without blocking, and at most
/// [`MAX_SMALL_FILE_BYTES`] are read. Errors are `io::Error`s (`NotFound` stays `NotFound`).
pub fn read_small(path: &Path) -> std::io::Result<Vec<u8>> {
    read_capped(path, MAX_SMALL_FILE_BYTES, false).map_err(|r| match r {
        Refusal::Io(e) => e,
        Refusal::NotRegular(what) => std::io::Error::other(format!(
            "it is {what}; kure reads this only from a regular file"
        )),
        Refusal::TooBig(_) => std::io::Error::other(format!(
            "larger than {}, far more than such a file needs",
            human(MAX_SMALL_FILE_BYTES)
        )),
    })
}

/// [`read_small`] as UTF-8 text (a byte-order mark dropped).
pub fn read_small_text(path: &Path) -> std::io::Result<String> {
    text(read_small(path)?).map_err(|(line, _)| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("line {line}: not UTF-8 text"),
        )
    })
}

/// `size` is `None` when the input was a stream that went on past the limit.
fn too_big(path: &Path, size: Option<u64>, max: u64) -> Error {
    let what = match size {
        Some(n) => format!("is {}, more than", human(n)),
        None => "goes on past".to_owned(),
    };
    fail(
        path,
        format!(
            "{what} the {} limit for one input: split it into several files, or raise the \
             limit with --max-input-bytes (e.g. --max-input-bytes 256MiB)",
            human(max)
        ),
    )
}

/// A byte count for people: `64 MiB`, `1.5 GiB`, `900 bytes`.
fn human(n: u64) -> String {
    const UNITS: [(&str, u64); 3] = [("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)];
    for (unit, size) in UNITS {
        if n >= size {
            let v = n as f64 / size as f64;
            return if v.fract() == 0.0 {
                format!("{v:.0} {unit}")
            } else {
                format!("{v:.1} {unit}")
            };
        }
    }
    format!("{n} bytes")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_well() {
        assert_eq!(human(64 << 20), "64 MiB");
        assert_eq!(human(1536 << 20), "1.5 GiB");
        assert_eq!(human(900), "900 bytes");
    }

    #[test]
    fn non_regular_files_are_refused_without_reading() {
        let e = read(Path::new("/dev/zero"), Path::new("/dev/zero"), 1 << 20)
            .expect_err("a device")
            .to_string();
        assert!(e.contains("is a character device"), "{e}");
        assert!(e.contains("-f -"), "{e}");
        let dir = tempfile::tempdir().expect("tempdir");
        let fifo = dir.path().join("specs.yaml");
        let status = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .expect("mkfifo");
        assert!(status.success());
        // No writer: a blocking open would hang here forever.
        let e = read(&fifo, &fifo, 1 << 20).expect_err("a FIFO").to_string();
        assert!(e.contains("is a FIFO"), "{e}");
    }

    #[test]
    fn size_limit_bom_and_utf8() {
        let dir = tempfile::tempdir().expect("tempdir");
        let f = dir.path().join("a.yaml");
        std::fs::write(&f, "\u{feff}kind: A\n").expect("write");
        assert_eq!(read(&f, &f, 100).expect("bom"), "kind: A\n");
        let e = read(&f, &f, 5).expect_err("too big").to_string();
        assert!(
            e.contains("is 11 bytes, more than the 5 bytes limit"),
            "{e}"
        );
        assert!(e.contains("--max-input-bytes"), "{e}");
        std::fs::write(&f, b"a: 1\nb: \xff\n").expect("write");
        let e = read(&f, &f, 100).expect_err("latin-1").to_string();
        assert!(e.contains("line 2: not UTF-8"), "{e}");
    }

    #[test]
    fn walk_skips_hidden_output_and_loops() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        for f in [
            "b.yaml",
            "a/x.yml",
            "a/y.txt",
            ".git/c.yaml",
            ".out.kure-staging-1/d.yaml",
            "out/e.yaml",
            "marked/f.yaml",
            "plain/.hidden.yaml",
        ] {
            let p = root.join(f);
            std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
            std::fs::write(&p, "").expect("write");
        }
        std::fs::write(root.join("marked").join(MARKER), "").expect("marker");
        let options = InputOptions {
            skip: vec![root.join("out")],
            ..InputOptions::default()
        };
        let files = collect_files(&[root.to_path_buf()], &options).expect("walk");
        let rel: Vec<String> = files
            .iter()
            .map(|f| {
                f.strip_prefix(root)
                    .expect("under root")
                    .display()
                    .to_string()
            })
            .collect();
        assert_eq!(rel, ["a/x.yml", "b.yaml"]);
        // A file given by name is read whatever its name.
        let hidden = root.join("plain/.hidden.yaml");
        let files = collect_files(std::slice::from_ref(&hidden), &options).expect("file");
        assert_eq!(files, [hidden]);
        std::os::unix::fs::symlink(root, root.join("a").join("loop")).expect("symlink");
        let e = collect_files(&[root.to_path_buf()], &options)
            .expect_err("loop")
            .to_string();
        assert!(e.contains("does not follow link loops"), "{e}");
        let e = collect_files(&["-".into(), "-".into()], &options)
            .expect_err("stdin twice")
            .to_string();
        assert!(e.contains("only once"), "{e}");
    }
}
