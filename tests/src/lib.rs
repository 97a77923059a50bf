//! Support for kure's end-to-end tests: builds the `kure` binary and the example and fixture
//! plugins once, lays out plugin directories, runs `kure`, and compares golden files.
#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod registry;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Whether the tests run kure and the plugins as release builds (`KURE_TEST_PROFILE=release`,
/// which `make test` sets for a second run of the containment tests: what a crash handler
/// needs differs between an optimised and an unoptimised build).
pub fn release_profile() -> bool {
    match std::env::var("KURE_TEST_PROFILE").as_deref() {
        Ok("release") => true,
        Ok("debug" | "") | Err(_) => false,
        Ok(other) => panic!("KURE_TEST_PROFILE is `{other}`; use `debug` or `release`"),
    }
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"))
        .join(if release_profile() {
            "release"
        } else {
            "debug"
        })
}

/// Builds kure and every plugin crate once per test process.
pub fn build() {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .current_dir(root())
            .args(["build", "-q"])
            .args(release_profile().then_some("--release"))
            .args([
                "-p",
                "kure-cli",
                "-p",
                "kure-terraform-generator",
                "-p",
                "kure-fixture-misbehaving",
                "-p",
                "kure-fixture-incompatible-abi",
                "-p",
                "kure-fixture-bad-name",
                "-p",
                "kure-fixture-hostile",
                "-p",
                "kure-fixture-rawabi",
            ])
            .status()
            .expect("run cargo build");
        assert!(status.success(), "cargo build failed");
    });
}

/// The `kure` binary.
pub fn kure_bin() -> PathBuf {
    build();
    target_dir().join("kure")
}

/// A built plugin library by crate name (e.g. `kure_terraform_generator`).
pub fn plugin_lib(crate_name: &str) -> PathBuf {
    build();
    target_dir().join(format!("lib{crate_name}.so"))
}

/// The terraform plugin library.
pub fn terraform_lib() -> PathBuf {
    plugin_lib("kure_terraform_generator")
}

/// A scratch area with its own KURE_HOME and an empty plugin dir.
pub struct Sandbox {
    /// Keeps the directory alive.
    pub dir: tempfile::TempDir,
}

impl Default for Sandbox {
    fn default() -> Self {
        Self::new()
    }
}

impl Sandbox {
    /// A new sandbox.
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("plugins")).unwrap();
        std::fs::create_dir_all(dir.path().join("home")).unwrap();
        Self { dir }
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The sandbox's plugin dir.
    pub fn plugins(&self) -> PathBuf {
        self.path().join("plugins")
    }

    /// Copies a library into the plugin dir.
    pub fn add_plugin(&self, lib: &Path) -> PathBuf {
        let dest = self.plugins().join(lib.file_name().unwrap());
        std::fs::copy(lib, &dest).unwrap();
        dest
    }

    /// Writes a file relative to the sandbox.
    pub fn write(&self, rel: &str, contents: &str) -> PathBuf {
        let p = self.path().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, contents).unwrap();
        p
    }

    /// Runs `kure --allow-unsigned generate -f FILE` in the sandbox.
    pub fn generate_unsigned(&self, file: &Path) -> Output {
        run(self
            .kure()
            .args(["--allow-unsigned", "generate", "-f"])
            .arg(file))
    }

    /// [`generate_unsigned`](Self::generate_unsigned) under `--isolation ISOLATION`.
    pub fn generate_unsigned_in(&self, isolation: &str, file: &Path) -> Output {
        generate_unsigned_with(self.kure(), isolation, file)
    }

    /// A `kure` command isolated from the user's environment: KURE_HOME in the sandbox, the
    /// sandbox's plugin dir, running in the sandbox.
    pub fn kure(&self) -> Command {
        self.configure(Command::new(kure_bin()))
    }

    /// [`kure`](Self::kure) as an ordinary user. When the tests run as root, kure runs as
    /// `nobody` (`setpriv`) and the sandbox is made world-readable: a refusal seen as root
    /// proves nothing about an unprivileged user (seccomp and Landlock need no_new_privs there,
    /// and root's capabilities bypass file permissions).
    pub fn kure_unprivileged(&self) -> Command {
        if !is_root() {
            return self.kure();
        }
        fn open_up(p: &Path) {
            use std::os::unix::fs::PermissionsExt;
            let Ok(meta) = std::fs::symlink_metadata(p) else {
                return;
            };
            let mode = if meta.is_dir() { 0o755 } else { 0o644 };
            if !meta.file_type().is_symlink() {
                std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
            }
            if meta.is_dir() {
                for e in std::fs::read_dir(p).unwrap().flatten() {
                    open_up(&e.path());
                }
            }
        }
        open_up(self.path());
        let mut c = Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(kure_bin());
        self.configure(c)
    }

    fn configure(&self, mut c: Command) -> Command {
        c.current_dir(self.path())
            .env("KURE_HOME", self.path().join("home"))
            .env("KURE_SYSTEM_DIR", self.path().join("system"))
            .env_remove("KURE_PLUGIN_PATH")
            .env_remove("KURE_ALLOW_UNSIGNED")
            .env_remove("KURE_ISOLATION")
            .env_remove("KURE_PLUGIN_MEMORY")
            .env_remove("KURE_PLUGIN_TIMEOUT")
            .env_remove("KURE_MAX_INPUT_BYTES")
            .env_remove("RUST_BACKTRACE")
            .arg("--plugin-dir")
            .arg(self.plugins());
        c
    }
}

/// Whether the tests run as root.
pub fn is_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
}

/// The pids of the processes whose name (`/proc/PID/comm`) is `name`.
pub fn processes_named(name: &str) -> Vec<i32> {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim_end() == name)
        })
        .collect()
}

/// Runs `kure` (a [`Sandbox::kure`] command, perhaps as another user) as `kure
/// --allow-unsigned --isolation ISOLATION generate -f FILE`.
pub fn generate_unsigned_with(mut kure: Command, isolation: &str, file: &Path) -> Output {
    run(kure
        .args([
            "--allow-unsigned",
            "--isolation",
            isolation,
            "generate",
            "-f",
        ])
        .arg(file))
}

/// Runs a command and returns its output.
pub fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("run kure")
}

/// Runs a command with `input` on its stdin (written from a thread, so a command that stops
/// reading, or fills its stdout first, cannot deadlock the test) and returns its output.
pub fn run_with_stdin(cmd: &mut Command, input: &str) -> Output {
    use std::io::Write;
    let mut child = cmd
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run");
    let mut stdin = child.stdin.take().expect("stdin");
    let input = input.to_owned();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(input.as_bytes());
    });
    let o = child.wait_with_output().expect("wait");
    writer.join().expect("writer");
    o
}

/// A YAML document as an item of a block list at column 0 (`- ` before its first line, two
/// spaces before the others), for ResourceLists; comment lines are left out.
pub fn list_item(doc: &str) -> String {
    doc.lines()
        .filter(|l| !l.starts_with('#'))
        .enumerate()
        .map(|(i, l)| format!("{}{l}\n", if i == 0 { "- " } else { "  " }))
        .collect()
}

/// stdout as text.
pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// stderr as text.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Asserts exit code 1, stderr containing every needle, and returns stderr.
pub fn expect_failure(o: &Output, needles: &[&str]) -> String {
    let err = stderr(o);
    assert_eq!(
        o.status.code(),
        Some(1),
        "expected exit 1; stderr:\n{err}\nstdout:\n{}",
        stdout(o)
    );
    for n in needles {
        assert!(err.contains(n), "stderr lacks {n:?}:\n{err}");
    }
    assert!(
        o.stdout.is_empty(),
        "nothing may be written on failure, got:\n{}",
        stdout(o)
    );
    err
}

/// Compares `actual` with the golden file `tests/golden/<name>`; `BLESS=1` rewrites it.
pub fn golden(name: &str, actual: &str) {
    let path = root().join("tests/golden").join(name);
    if std::env::var_os("BLESS").is_some_and(|v| v == "1") {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|_| {
        panic!(
            "missing golden file {}; run with BLESS=1 to create it",
            path.display()
        )
    });
    if expected != actual {
        let diff: Vec<String> = expected
            .lines()
            .zip(actual.lines())
            .enumerate()
            .filter(|(_, (a, b))| a != b)
            .take(5)
            .map(|(i, (a, b))| format!("line {}:\n  golden: {a}\n  actual: {b}", i + 1))
            .collect();
        panic!(
            "{} differs from the output (run with BLESS=1 to accept):\n{}\n(golden {} lines, actual {} lines)",
            path.display(),
            diff.join("\n"),
            expected.lines().count(),
            actual.lines().count()
        );
    }
}

/// Runs a command that must succeed; returns stdout.
pub fn ok(cmd: &mut Command) -> String {
    let o = cmd.output().expect("run");
    assert!(
        o.status.success(),
        "{:?} failed:\n{}{}",
        cmd,
        stdout(&o),
        stderr(&o)
    );
    stdout(&o)
}

/// A signing key pair made by the openssl CLI: (private PEM, public SPKI PEM).
pub fn openssl_keypair(dir: &Path, name: &str, bits: u32) -> (PathBuf, PathBuf) {
    let key = dir.join(format!("{name}.key.pem"));
    let public = dir.join(format!("{name}.pub.pem"));
    ok(Command::new("openssl")
        .args(["genpkey", "-algorithm", "RSA", "-pkeyopt"])
        .arg(format!("rsa_keygen_bits:{bits}"))
        .arg("-out")
        .arg(&key));
    ok(Command::new("openssl")
        .args(["pkey", "-pubout", "-in"])
        .arg(&key)
        .arg("-out")
        .arg(&public));
    (key, public)
}

/// Signs `lib` with the openssl CLI into `<lib>.sig`.
pub fn openssl_sign(lib: &Path, key: &Path) -> PathBuf {
    let sig = PathBuf::from(format!("{}.sig", lib.display()));
    ok(Command::new("openssl")
        .args(["dgst", "-sha256", "-sign"])
        .arg(key)
        .arg("-out")
        .arg(&sig)
        .arg(lib));
    sig
}

impl Sandbox {
    /// Generates a key with openssl, trusts its public key, and returns the private key.
    pub fn trusted_key(&self) -> PathBuf {
        let (key, public) = openssl_keypair(self.path(), "author", 2048);
        ok(self.kure().args(["trust", "add"]).arg(&public));
        key
    }

    /// Copies a library into the sandbox (outside the plugin dir), signed with `key`.
    pub fn signed_copy(&self, lib: &Path, key: &Path) -> PathBuf {
        let dest = self.path().join(lib.file_name().unwrap());
        std::fs::copy(lib, &dest).unwrap();
        openssl_sign(&dest, key);
        dest
    }

    /// The store directory of installed plugin `name`, as the index records it.
    pub fn installed_dir(&self, name: &str) -> PathBuf {
        let plugins = self.path().join("home/plugins");
        let index: serde_json::Value =
            serde_json::from_slice(&std::fs::read(plugins.join("index.json")).unwrap()).unwrap();
        let entry = index["plugins"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == name)
            .unwrap_or_else(|| panic!("{name} is not installed: {index}"));
        plugins
            .join(entry["library"].as_str().unwrap())
            .parent()
            .unwrap()
            .to_path_buf()
    }

    /// Pretends installed plugin terraform-generator 1.0.0 is version 0.0.9 (same bytes): moves its
    /// version directory and edits the index, as upgrade tests need an older version.
    pub fn pretend_terraform_is_older(&self) {
        let plugins = self.path().join("home/plugins");
        std::fs::rename(
            plugins.join("terraform-generator/1.0.0"),
            plugins.join("terraform-generator/0.0.9"),
        )
        .unwrap();
        let index = std::fs::read_to_string(plugins.join("index.json")).unwrap();
        std::fs::write(
            plugins.join("index.json"),
            index
                .replace("\"version\": \"1.0.0\"", "\"version\": \"0.0.9\"")
                .replace("terraform-generator/1.0.0", "terraform-generator/0.0.9"),
        )
        .unwrap();
    }

    /// Every file under KURE_HOME/plugins, for "nothing changed" checks.
    pub fn store_snapshot(&self) -> Vec<(PathBuf, Vec<u8>)> {
        fn walk(d: &Path, out: &mut Vec<(PathBuf, Vec<u8>)>) {
            let Ok(rd) = std::fs::read_dir(d) else { return };
            for e in rd.flatten() {
                let p = e.path();
                if p.is_dir() {
                    walk(&p, out);
                } else if !p.ends_with(".lock") {
                    out.push((p.clone(), std::fs::read(&p).unwrap()));
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.path().join("home/plugins"), &mut out);
        out.sort();
        out
    }
}

/// Every file under `dir` with its bytes, and every directory, for "untouched" checks.
pub fn tree(dir: &Path) -> Vec<(PathBuf, Option<Vec<u8>>)> {
    fn walk(root: &Path, d: &Path, out: &mut Vec<(PathBuf, Option<Vec<u8>>)>) {
        let Ok(rd) = std::fs::read_dir(d) else { return };
        for e in rd.flatten() {
            let p = e.path();
            let rel = p.strip_prefix(root).expect("readable tree").to_path_buf();
            if e.file_type().expect("readable tree").is_dir() {
                out.push((rel, None));
                walk(root, &p, out);
            } else {
                out.push((rel, Some(std::fs::read(&p).expect("readable tree"))));
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// Whether the external tool `name` is on PATH, for a test that needs it. Under CI a missing
/// tool fails the test (CI skips nothing). Elsewhere the test should return early: this says so
/// loudly on stderr and records the skip in `target/test-skips.txt`, which `make test` lists
/// at the end.
pub fn have_tool(name: &str, test: &str, install: &str) -> bool {
    let found = std::env::var_os("PATH").is_some_and(|paths| {
        std::env::split_paths(&paths).any(|dir| {
            let p = dir.join(name);
            p.is_file()
                && std::fs::metadata(&p).is_ok_and(|m| {
                    use std::os::unix::fs::PermissionsExt;
                    m.permissions().mode() & 0o111 != 0
                })
        })
    });
    found || skipped(test, &format!("`{name}`"), install)
}

/// Whether `python3` can import `module` (a Python library a test uses as an oracle); as
/// [`have_tool`] otherwise.
pub fn have_python_module(module: &str, test: &str, install: &str) -> bool {
    let found = std::process::Command::new("python3")
        .args(["-c", &format!("import {module}")])
        .output()
        .is_ok_and(|o| o.status.success());
    found || skipped(test, &format!("the Python module `{module}`"), install)
}

/// A test skipped for want of `what`: a failure under CI, else said on stderr and recorded.
fn skipped(test: &str, what: &str, install: &str) -> bool {
    assert!(
        std::env::var_os("CI").is_none(),
        "{test} needs {what}, which is not installed ({install}); CI skips nothing"
    );
    let line = format!("{test}: {what} is not installed ({install})\n");
    eprintln!("SKIPPED {line}");
    let skips = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"))
        .join("test-skips.txt");
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&skips)
    {
        use std::io::Write;
        let _ = f.write_all(line.as_bytes());
    }
    false
}

/// A copy of the raw-ABI fixture whose behaviour is switched by its 64-byte marker.
pub fn rawabi(s: &Sandbox, dir: &str, mode: &str) -> PathBuf {
    let lib = std::fs::read(plugin_lib("kure_fixture_rawabi")).unwrap();
    let from = marker("none");
    let to = marker(mode);
    let at = lib
        .windows(from.len())
        .position(|w| w == from)
        .expect("marker");
    let mut patched = lib;
    patched[at..at + from.len()].copy_from_slice(&to);
    let dest = s.path().join(dir).join("librawabi.so");
    std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
    std::fs::write(&dest, patched).unwrap();
    dest
}

/// The fixture's marker bytes (the same layout as `kure_fixture_rawabi::marker`).
pub fn marker(mode: &str) -> Vec<u8> {
    let mut m = format!("KURE-FIXTURE-MODE:{mode}").into_bytes();
    assert!(m.len() <= 64);
    m.resize(64, b'.');
    m
}
