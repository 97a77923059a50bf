//! Containment: whatever a plugin does in-process, kure fails cleanly (one paragraph naming
//! the plugin, the entry point and the app; exit 1; empty stdout; the previous `-o` tree
//! byte-identical; nothing created beside it; the store still usable) or, for plugins that
//! only misbehave quietly (prints, chdir), finishes correctly.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use kure_tests::*;

fn hostile() -> PathBuf {
    plugin_lib("kure_fixture_hostile")
}

fn app(kind: &str, name: &str) -> String {
    format!("apiVersion: hostile.kure.dev/v1\nkind: {kind}\nmetadata:\n  name: {name}\n")
}

/// Names directly in the sandbox (what a run must not add to).
fn top_level(s: &Sandbox) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(s.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// A sandbox with the hostile plugin and a previous `-o out` tree written by a good run.
fn with_previous_output() -> Sandbox {
    let s = Sandbox::new();
    s.add_plugin(&hostile());
    let good = s.write("good.yaml", &app("Trace", "previous"));
    let o = run(s
        .kure()
        .args(["--allow-unsigned", "generate", "-o", "out", "-f"])
        .arg(&good));
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(s.path().join("out/default/previous").is_dir());
    s
}

/// Runs `kure generate -o out` on one hostile app (plus `extra` flags) and asserts everything
/// the containment promise says; returns stderr.
fn contained(kind: &str, extra: &[&str], needles: &[&str]) -> String {
    let s = with_previous_output();
    let before = tree(&s.path().join("out"));
    let top = top_level(&s);
    let f = s.write("p.yaml", &app(kind, "victim"));
    let o = run(s
        .kure()
        .arg("--allow-unsigned")
        .args(extra)
        .args(["generate", "-o", "out", "-f"])
        .arg(&f));
    let mut all = vec!["plugin hostile@0.1.0", "app `victim`", "p.yaml:1"];
    all.extend_from_slice(needles);
    let err = expect_failure(&o, &all);
    let paragraph: Vec<&str> = err
        .trim_end()
        .lines()
        .filter(|l| !l.starts_with("warning: loaded unsigned plugin"))
        .collect();
    assert_eq!(paragraph.len(), 1, "{kind}: not one paragraph:\n{err}");
    assert!(
        !err.contains("HOSTILE"),
        "{kind}: plugin output leaked: {err}"
    );
    assert_eq!(
        tree(&s.path().join("out")),
        before,
        "{kind}: the previous output changed"
    );
    let mut now = top_level(&s);
    now.retain(|n| n != "p.yaml");
    assert_eq!(now, top, "{kind}: something was created beside the output");
    let list = run(s.kure().args(["plugins", "list"]));
    assert!(list.status.success(), "{kind}: {}", stderr(&list));
    err
}

#[test]
fn exit_from_generate_is_not_a_success() {
    contained(
        "Exit0",
        &[],
        &["called exit(0)", "in generate", "nothing was written"],
    );
}

#[test]
fn abort_is_named() {
    contained("Abort", &[], &["crashed with SIGABRT", "in generate"]);
}

#[test]
fn segfault_is_named() {
    contained("Segfault", &[], &["crashed with SIGSEGV", "in generate"]);
}

#[test]
fn stack_overflow_is_named() {
    contained(
        "StackOverflow",
        &[],
        &["crashed with SIG", "stack overflow"],
    );
}

#[test]
fn panic_while_panicking_is_named() {
    contained(
        "DoublePanic",
        &[],
        &["crashed with SIGABRT", "panic while panicking"],
    );
}

#[test]
fn failed_huge_allocation_is_named() {
    contained(
        "HugeAlloc",
        &[],
        &["crashed with SIGABRT", "failed allocation"],
    );
}

#[test]
fn endless_loop_hits_the_time_limit() {
    let err = contained(
        "Loop",
        &["--plugin-timeout", "1"],
        &[
            "did not return within 1 s",
            "in generate",
            "--plugin-timeout",
        ],
    );
    assert!(err.contains("nothing was written"), "{err}");
}

#[test]
fn time_limit_comes_from_the_environment_and_the_config() {
    let s = Sandbox::new();
    s.add_plugin(&hostile());
    let f = s.write("p.yaml", &app("Loop", "victim"));
    let o = run(s
        .kure()
        .args(["--allow-unsigned", "generate", "-f"])
        .arg(&f)
        .env("KURE_PLUGIN_TIMEOUT", "0.5"));
    expect_failure(&o, &["did not return within 0.500 s"]);
    s.write("home/config.yaml", "plugin_timeout: 1\n");
    let o = run(s
        .kure()
        .args(["--allow-unsigned", "generate", "-f"])
        .arg(&f));
    expect_failure(&o, &["did not return within 1 s"]);
    let o = run(s
        .kure()
        .args([
            "--allow-unsigned",
            "--plugin-timeout",
            "zero",
            "generate",
            "-f",
        ])
        .arg(&f));
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("not a number of seconds"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn path_like_kinds_names_and_namespaces_never_become_paths() {
    for (kind, needle) in [
        ("PathKind", "kind `../../../escape`"),
        ("AbsKind", "kind `/tmp/kure-escape`"),
        ("PathName", "metadata.name `../../escape`"),
        ("PathNamespace", "metadata.namespace `../..`"),
    ] {
        let err = contained(kind, &[], &[needle, "nothing was written"]);
        assert!(!Path::new("/tmp/kure-escape").exists(), "{err}");
    }
}

#[test]
fn plugin_prints_never_reach_the_yaml_stream() {
    let s = Sandbox::new();
    s.add_plugin(&hostile());
    let f = s.write(
        "p.yaml",
        &format!(
            "{}---\n{}",
            app("PrintStdout", "one"),
            app("ThreadPrint", "two")
        ),
    );
    let o = run(s
        .kure()
        .args(["--allow-unsigned", "generate", "-f"])
        .arg(&f));
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        !out.contains("HOSTILE"),
        "plugin output in the stream:\n{out}"
    );
    let docs: Vec<yaml_serde::Value> = out
        .split("---\n")
        .filter(|d| !d.trim().is_empty())
        .map(|d| yaml_serde::from_str(d).expect("every document is YAML"))
        .collect();
    assert_eq!(docs.len(), 2, "{out}");
    assert!(
        stderr(&o).contains("note: plugins printed") && stderr(&o).contains("run with -v"),
        "{}",
        stderr(&o)
    );
    // With -v, what the plugins printed is shown on stderr, still never on stdout.
    let o = run(s
        .kure()
        .args(["--allow-unsigned", "-v", "generate", "-f"])
        .arg(&f));
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!stdout(&o).contains("HOSTILE"));
    for n in [
        "HOSTILE-STDOUT-FROM-GENERATE",
        "HOSTILE-STDERR-FROM-GENERATE",
        "what plugins printed",
    ] {
        assert!(stderr(&o).contains(n), "-v lacks {n}:\n{}", stderr(&o));
    }
}

#[test]
fn a_plugin_chdir_does_not_move_inputs_or_output() {
    let s = Sandbox::new();
    s.add_plugin(&hostile());
    // The Chdir app runs in the first chunk of 512 documents; b.yaml is read after it.
    let mut a = app("Chdir", "mover");
    for n in 0..600 {
        a.push_str("---\n");
        a.push_str(&app("Trace", &format!("t{n}")));
    }
    s.write("a.yaml", &a);
    s.write("b.yaml", &app("Trace", "last"));
    let root_out_existed = Path::new("/out").exists();
    let o = run(s.kure().args([
        "--allow-unsigned",
        "generate",
        "-f",
        "a.yaml",
        "-f",
        "b.yaml",
        "-o",
        "out",
    ]));
    assert!(o.status.success(), "{}", stderr(&o));
    for app in ["mover", "t599", "last"] {
        assert!(
            s.path().join("out/default").join(app).is_dir(),
            "{app} missing: {:?}",
            std::fs::read_dir(s.path().join("out/default")).map(|d| d.count())
        );
    }
    assert_eq!(Path::new("/out").exists(), root_out_existed);
}

fn raw_app(s: &Sandbox) -> PathBuf {
    s.write(
        "raw.yaml",
        "apiVersion: rawabi.kure.dev/v1\nkind: Raw\nmetadata:\n  name: victim\n",
    )
}

/// The entry points a worker runs while it starts (before its handshake answer).
const STARTUP: [&str; 4] = ["constructor", "metadata", "supported_gvks", "register"];

#[test]
fn a_panic_in_any_raw_entry_point_is_named() {
    for entry in [
        "constructor",
        "metadata",
        "supported_gvks",
        "register",
        "initialize",
        "health_check",
        "validate",
        "generate",
        "json_schema",
        "shutdown",
    ] {
        let s = Sandbox::new();
        let lib = rawabi(&s, "plugins", &format!("panic:{entry}"));
        let f = raw_app(&s);
        // In-process, loaded straight from a lock pin (no inspection first): kure's paragraph
        // names the entry point, and kure ends.
        let lock = raw_lock(&s, "pinned.lock", &lib);
        let o = run(s
            .kure()
            .args(["--allow-unsigned", "generate", "--lock"])
            .arg(&lock)
            .arg("-f")
            .arg(&f));
        let shown = if entry == "constructor" {
            "its constructor"
        } else {
            entry
        };
        let err = expect_failure(&o, &[&format!("in {shown}"), "nothing was written"]);
        let last = err.trim_end().lines().last().unwrap();
        assert!(
            last.starts_with("error: plugin"),
            "{entry}: kure's paragraph must end stderr:\n{err}"
        );
        if ["metadata", "constructor"].contains(&entry) {
            assert!(err.contains(&lib.display().to_string()), "{entry}: {err}");
        } else {
            assert!(err.contains("plugin rawabi@0.1.0"), "{entry}: {err}");
        }
        // In process isolation kure survives the worker and names the plugin, the mode and
        // the call (every startup entry point is "startup").
        let o = run(s
            .kure()
            .args([
                "--allow-unsigned",
                "--isolation",
                "process",
                "generate",
                "-f",
            ])
            .arg(&f));
        let err = if STARTUP.contains(&entry) {
            expect_failure(
                &o,
                &[
                    &lib.display().to_string(),
                    "(in process isolation)",
                    "during startup",
                ],
            )
        } else {
            let call = if entry == "health_check" {
                "during initialize"
            } else {
                &format!("during {entry}")
            };
            expect_failure(&o, &["plugin rawabi@0.1.0 (in process isolation)", call])
        };
        assert!(err.contains("kure stopped the worker"), "{entry}: {err}");
        // The default run inspects the library in a worker before using it in-process, so a
        // library that fails while starting never runs in kure at all.
        let o = s.generate_unsigned(&f);
        if STARTUP.contains(&entry) {
            expect_failure(&o, &["(in process isolation)", "during startup"]);
        } else {
            expect_failure(&o, &["plugin rawabi@0.1.0", &format!("in {entry}")]);
        }
    }
}

#[test]
fn a_panic_in_raw_documentation_entry_points_fails_explain() {
    // `explain` of a plugin-directory library runs it in a sandboxed worker: its docs op
    // calls documentation, examples and usage_guide.
    for entry in ["documentation", "examples", "usage_guide"] {
        let s = Sandbox::new();
        rawabi(&s, "plugins", &format!("panic:{entry}"));
        let o = run(s.kure().args(["--allow-unsigned", "explain", "Raw"]));
        expect_failure(
            &o,
            &[
                "plugin rawabi@0.1.0 (in process isolation)",
                "during documentation",
            ],
        );
    }
}

#[test]
fn a_panic_in_sdk_documentation_is_an_error_not_documentation() {
    let s = Sandbox::new();
    s.add_plugin(&hostile());
    let o = run(s.kure().args(["--allow-unsigned", "explain", "BadDocs"]));
    expect_failure(
        &o,
        &[
            "plugin hostile@0.1.0",
            "could not give the documentation of BadDocs",
            "documentation exploded",
        ],
    );
}

#[test]
fn plugin_metadata_is_checked_before_any_generator_runs() {
    for (mode, needles) in [
        (
            "version:latest",
            &["version `latest` is not a semantic version"][..],
        ),
        (
            "name:../evil",
            &["invalid plugin name `../evil`", "librawabi.so"][..],
        ),
        (
            "gvk-mismatch",
            &["registers a generator for rawabi.kure.dev/v1/Extra but does not list it"][..],
        ),
        (
            "gvk-missing",
            &["lists rawabi.kure.dev/v1/Unregistered in supported_gvks but registers no generator"][..],
        ),
    ] {
        let s = Sandbox::new();
        rawabi(&s, "plugins", mode);
        let f = raw_app(&s);
        expect_failure(&s.generate_unsigned(&f), needles);
    }
}

fn sha256_hex(path: &Path) -> String {
    kure_core::trust::digest_hex(&kure_core::trust::digest_file(path).unwrap())
}

fn raw_lock(s: &Sandbox, name: &str, lib: &Path) -> PathBuf {
    s.write(
        name,
        &format!(
            "version: 1\nplugins:\n  rawabi.kure.dev/v1/Raw:\n    plugin: rawabi\n    version: 0.1.0\n    sha256: {}\n    signer: unsigned\n",
            sha256_hex(lib)
        ),
    )
}

#[test]
fn a_lock_mismatch_is_refused_before_the_library_constructor_runs() {
    let s = Sandbox::new();
    let trace = s.path().join("trace");
    let pinned = rawabi(&s, "elsewhere", "none");
    let traced = rawabi(&s, "plugins", &format!("trace:{}", trace.display()));
    raw_lock(&s, "kure.lock", &pinned);
    let f = raw_app(&s);
    expect_failure(
        &s.generate_unsigned(&f),
        &[
            "kure.lock",
            "rawabi.kure.dev/v1/Raw",
            "neither the store nor the plugin directories hold a library with those bytes",
        ],
    );
    assert!(
        !trace.exists(),
        "plugin code ran before the lock was checked"
    );
    // Control: pinned to the traced library, it loads, and its constructor leaves the trace.
    let lock = raw_lock(&s, "traced.lock", &traced);
    let o = run(s
        .kure()
        .args(["--allow-unsigned", "generate", "--lock"])
        .arg(&lock)
        .arg("-f")
        .arg(&f));
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        trace.exists(),
        "the fixture's constructor trace does not work"
    );
}

#[test]
fn an_installed_plugin_that_differs_from_the_lock_is_not_loaded() {
    let s = Sandbox::new();
    let trace = s.path().join("trace");
    let pinned = rawabi(&s, "elsewhere", "none");
    let traced = rawabi(&s, "staging", &format!("trace:{}", trace.display()));
    ok(s.kure()
        .args(["--allow-unsigned", "plugins", "install"])
        .arg(&traced));
    let _ = std::fs::remove_file(&trace);
    raw_lock(&s, "kure.lock", &pinned);
    let f = raw_app(&s);
    expect_failure(
        &s.generate_unsigned(&f),
        &[
            "kure.lock",
            "rawabi.kure.dev/v1/Raw",
            "sha256",
            "was not loaded",
        ],
    );
    assert!(
        !trace.exists(),
        "plugin code ran before the lock was checked"
    );
    // An unpinned GVK of an installed plugin is refused before loading too.
    s.write("kure.lock", "version: 1\nplugins: {}\n");
    expect_failure(&s.generate_unsigned(&f), &["is not pinned", "kure lock"]);
    assert!(
        !trace.exists(),
        "plugin code ran before the lock was checked"
    );
}

#[test]
fn two_libraries_with_one_plugin_name_are_both_named() {
    let s = Sandbox::new();
    let a = rawabi(&s, "plugins", "none");
    let b = rawabi(&s, "more-plugins", "version:0.2.0");
    let f = raw_app(&s);
    let err = expect_failure(
        &run(s
            .kure()
            .env("KURE_PLUGIN_PATH", s.path().join("more-plugins"))
            .args(["--allow-unsigned", "generate", "-f"])
            .arg(&f)),
        &["two libraries call themselves plugin `rawabi`"],
    );
    for lib in [a, b] {
        assert!(err.contains(&lib.display().to_string()), "{err}");
    }
}

#[test]
fn every_plugin_call_is_audited_one_json_line_each() {
    let s = Sandbox::new();
    s.add_plugin(&hostile());
    let f = s.write(
        "p.yaml",
        &format!("{}---\n{}", app("Trace", "one"), app("Trace", "two")),
    );
    let log = s.path().join("audit.jsonl");
    let o = run(s
        .kure()
        .args(["--allow-unsigned", "--audit"])
        .arg(&log)
        .args(["generate", "-j", "1", "-f"])
        .arg(&f));
    assert!(o.status.success(), "{}", stderr(&o));
    let text = std::fs::read_to_string(&log).unwrap();
    let records: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    let entries: Vec<&str> = records
        .iter()
        .map(|r| r["entry"].as_str().unwrap())
        .collect();
    assert_eq!(
        entries,
        // The SDK's generate runs the plugin's own checks: one call per app.
        [
            "initialize",
            "health_check",
            "generate",
            "generate",
            "shutdown"
        ],
        "{text}"
    );
    let generate = &records[2];
    assert_eq!(generate["plugin"], "hostile");
    assert_eq!(generate["version"], "0.1.0");
    assert_eq!(generate["isolation"], "in-process");
    assert_eq!(generate["gvk"], "hostile.kure.dev/v1/Trace");
    assert_eq!(generate["app"], "one");
    assert_eq!(generate["location"], format!("{}:1", f.display()));
    assert_eq!(generate["signer"], "unsigned");
    assert_eq!(generate["outcome"], "ok");
    assert_eq!(generate["sha256"].as_str().unwrap(), sha256_hex(&hostile()));
    assert!(generate["duration_us"].is_u64());
    // A second run appends.
    let o = run(s
        .kure()
        .args(["--allow-unsigned", "--audit"])
        .arg(&log)
        .arg("generate")
        .arg("-f")
        .arg(&f));
    assert!(o.status.success());
    assert_eq!(std::fs::read_to_string(&log).unwrap().lines().count(), 10);
    // In process isolation each app of a batch gets its own record.
    let plog = s.path().join("process.jsonl");
    let o = run(s
        .kure()
        .args(["--allow-unsigned", "--isolation", "process", "--audit"])
        .arg(&plog)
        .arg("generate")
        .arg("-f")
        .arg(&f));
    assert!(o.status.success(), "{}", stderr(&o));
    let text = std::fs::read_to_string(&plog).unwrap();
    let records: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let seen: Vec<(String, String)> = records
        .iter()
        .map(|r| {
            assert_eq!(r["isolation"], "process", "{text}");
            assert_eq!(r["sha256"].as_str().unwrap(), sha256_hex(&hostile()));
            (
                r["entry"].as_str().unwrap().to_owned(),
                r["app"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    // The apps may run in parallel (one worker per thread): one generate each, the
    // plugin's own checks inside it.
    let of = |app: &str| -> Vec<&str> {
        seen.iter()
            .filter(|(_, a)| a == app)
            .map(|(e, _)| e.as_str())
            .collect()
    };
    assert_eq!(seen.len(), 2, "{text}");
    assert_eq!(of("one"), ["generate"], "{text}");
    assert_eq!(of("two"), ["generate"], "{text}");
}

#[test]
fn plugins_status_runs_every_check_and_fails_on_any() {
    let s = Sandbox::new();
    let key = s.trusted_key();
    let good = rawabi(&s, "staging", "none");
    openssl_sign(&good, &key);
    ok(s.kure().args(["plugins", "install"]).arg(&good));
    let o = run(s.kure().args(["plugins", "status", "-o", "json"]));
    assert!(o.status.success(), "{}", stderr(&o));
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let checks: Vec<&str> = report[0]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["check"].as_str().unwrap())
        .collect();
    assert_eq!(
        checks,
        [
            "hash",
            "signature",
            "load",
            "initialize",
            "health_check",
            "shutdown"
        ]
    );
    assert!(report[0]["checks"][4]["micros"].is_u64(), "{report}");
    // A modified library fails the hash check and is never loaded.
    let lib = s.installed_dir("rawabi").join("librawabi.so");
    let mut bytes = std::fs::read(&lib).unwrap();
    let n = bytes.len();
    bytes[n - 1] ^= 0xff;
    std::fs::write(&lib, bytes).unwrap();
    let o = run(s.kure().args(["plugins", "status", "rawabi"]));
    let err = expect_failure_allowing_stdout(&o, &["plugin checks failed: rawabi"]);
    assert!(stdout(&o).contains("hash FAILED"), "{}{err}", stdout(&o));
    assert!(!stdout(&o).contains("load ok"), "{}", stdout(&o));
    expect_failure_allowing_stdout(
        &run(s.kure().args(["plugins", "status", "nosuch"])),
        &["no installed plugin named `nosuch`"],
    );
}

/// Exit 1 with stderr containing every needle; stdout may hold a report.
fn expect_failure_allowing_stdout(o: &std::process::Output, needles: &[&str]) -> String {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    for n in needles {
        assert!(err.contains(n), "stderr lacks {n:?}:\n{err}");
    }
    err
}

// ---------------------------------------------------------------------------------------------
// The same hostile plugin in process isolation: kure survives, names plugin, mode, what
// happened and the app, writes nothing, and the store still works.
// ---------------------------------------------------------------------------------------------

#[test]
fn every_crash_is_survived_in_process_isolation() {
    for (kind, extra, what) in [
        ("Exit0", &[][..], "exited with status 0"),
        ("ExitNow", &[][..], "exited with status 0"),
        ("KillSelf", &[][..], "was killed with SIGKILL, not by kure"),
        ("Abort", &[][..], "crashed with SIGABRT"),
        ("Segfault", &[][..], "crashed with SIGSEGV"),
        ("StackOverflow", &[][..], "crashed with SIG"),
        ("DoublePanic", &[][..], "crashed with SIGABRT"),
        (
            "HugeAlloc",
            &[][..],
            "exceeded its memory limit of 2048 MiB",
        ),
        (
            "Alloc3GiB",
            &[][..],
            "exceeded its memory limit of 2048 MiB",
        ),
        (
            "Loop",
            &["--plugin-timeout", "1"][..],
            "did not return from generate within 1 s",
        ),
    ] {
        let mut flags = vec!["--isolation", "process"];
        flags.extend_from_slice(extra);
        let err = contained(
            kind,
            &flags,
            &["(in process isolation)", what, "kure stopped the worker"],
        );
        assert!(err.contains("during generate"), "{kind}: {err}");
    }
}

#[test]
fn a_smaller_memory_limit_is_named() {
    contained(
        "Alloc3GiB",
        &["--isolation", "process", "--plugin-memory", "512MiB"],
        &["exceeded its memory limit of 512 MiB"],
    );
}

#[test]
fn quiet_misbehaviour_is_harmless_in_process_isolation() {
    for kind in ["PrintStdout", "ThreadPrint", "Chdir"] {
        let s = Sandbox::new();
        s.add_plugin(&hostile());
        let f = s.write("p.yaml", &app(kind, "victim"));
        let o = run(s
            .kure()
            .args([
                "--allow-unsigned",
                "--isolation",
                "process",
                "generate",
                "-o",
                "out",
                "-f",
            ])
            .arg(&f));
        assert!(o.status.success(), "{kind}: {}", stderr(&o));
        assert!(!stderr(&o).contains("HOSTILE"), "{kind}: {}", stderr(&o));
        assert!(
            s.path()
                .join("out/default/victim/configmap-victim.yaml")
                .is_file(),
            "{kind}: the output is not where -o put it"
        );
        // -v shows what the worker printed, attributed to the plugin.
        let o = run(s
            .kure()
            .args([
                "--allow-unsigned",
                "--isolation",
                "process",
                "-v",
                "generate",
                "-f",
            ])
            .arg(&f));
        assert!(o.status.success(), "{kind}: {}", stderr(&o));
        assert!(!stdout(&o).contains("HOSTILE"), "{kind}: {}", stdout(&o));
        if kind == "PrintStdout" {
            let err = stderr(&o);
            assert!(
                err.contains("[plugin hostile@0.1.0 (process isolation)]")
                    && err.contains("HOSTILE-STDOUT-FROM-GENERATE"),
                "{err}"
            );
        }
    }
}

#[test]
fn path_like_names_are_refused_in_process_isolation_too() {
    for (kind, needle) in [
        ("PathKind", "kind `../../../escape`"),
        ("PathName", "metadata.name `../../escape`"),
        ("PathNamespace", "metadata.namespace `../..`"),
    ] {
        contained(kind, &["--isolation", "process"], &[needle]);
    }
}

/// Runs one reporting hostile kind aimed at `target` with `kure` (a [`Sandbox::kure`] command)
/// and returns `data.outcome`, `data.content` (what it read, if anything), and stdout and
/// stderr together.
fn report(
    s: &Sandbox,
    kure: std::process::Command,
    kind: &str,
    target: &str,
    isolation: &str,
) -> (String, String, String) {
    let f = s.write(
        "p.yaml",
        &format!(
            "{}  annotations:\n    hostile.kure.dev/target: \"{target}\"\n",
            app(kind, "victim")
        ),
    );
    let o = generate_unsigned_with(kure, isolation, &f);
    assert!(o.status.success(), "{kind} {isolation}: {}", stderr(&o));
    let doc: serde_json::Value = yaml_serde::from_slice(
        o.stdout
            .strip_prefix(b"---\n".as_slice())
            .unwrap_or(&o.stdout),
    )
    .unwrap();
    let field = |k: &str| doc["data"][k].as_str().unwrap_or_default().to_owned();
    (
        field("outcome"),
        field("content"),
        format!("{}{}", stdout(&o), stderr(&o)),
    )
}

/// [`report`]'s `data.outcome`, run as the user the tests run as.
fn outcome(s: &Sandbox, kind: &str, target: &str, isolation: &str) -> String {
    report(s, s.kure(), kind, target, isolation).0
}

#[test]
fn the_sandbox_refuses_writes_tcp_and_unix_sockets() {
    // Landlock and seccomp bind root as well; each in-process control shows the attempt
    // works when nothing refuses it.
    let s = Sandbox::new();
    s.add_plugin(&hostile());
    let file = s.path().join("written-by-plugin");
    let target = file.display().to_string();
    let refused = outcome(&s, "WriteFile", &target, "process");
    assert!(refused.starts_with("refused:"), "{refused}");
    assert!(!file.exists(), "the sandboxed plugin wrote a file");
    assert_eq!(outcome(&s, "WriteFile", &target, "in-process"), "done");
    assert!(file.exists());

    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let refused = outcome(&s, "Connect", &addr, "process");
    assert!(refused.starts_with("refused:"), "{refused}");
    assert!(
        listener.accept().is_err(),
        "the sandboxed plugin reached the TCP listener"
    );
    assert_eq!(outcome(&s, "Connect", &addr, "in-process"), "done");

    let sock = s.path().join("sock");
    let unix = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    unix.set_nonblocking(true).unwrap();
    let target = sock.display().to_string();
    let refused = outcome(&s, "ConnectUnix", &target, "process");
    assert!(refused.starts_with("refused:"), "{refused}");
    assert!(
        unix.accept().is_err(),
        "the sandboxed plugin reached the UNIX socket"
    );
    assert_eq!(outcome(&s, "ConnectUnix", &target, "in-process"), "done");
}

#[test]
fn inspection_and_install_run_plugin_code_only_in_the_sandbox() {
    // The fixture's ELF constructor writes a trace file: inside a worker the sandbox refuses
    // that write, so a trace means the library ran in kure's own process.
    let s = Sandbox::new();
    let trace = s.path().join("trace");
    let traced = rawabi(&s, "plugins", &format!("trace:{}", trace.display()));
    // A GVK nobody provides: every plugin-directory library is inspected, in a worker.
    let other = s.write(
        "other.yaml",
        "apiVersion: nobody.kure.dev/v1\nkind: Nothing\nmetadata:\n  name: x\n",
    );
    expect_failure(&s.generate_unsigned(&other), &["no generator for"]);
    assert!(!trace.exists(), "inspection ran the library in kure");
    // `gvks` and `explain` inspect the same way.
    let o = run(s.kure().args(["--allow-unsigned", "gvks"]));
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("Raw"), "{}", stdout(&o));
    assert!(!trace.exists(), "gvks ran the library in kure");
    // Process isolation: used, never in kure.
    let f = raw_app(&s);
    let o = run(s
        .kure()
        .args([
            "--allow-unsigned",
            "--isolation",
            "process",
            "generate",
            "-f",
        ])
        .arg(&f));
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!trace.exists(), "process isolation ran the library in kure");
    // Installing reads metadata, schemas and docs in a worker too.
    ok(s.kure()
        .args(["--allow-unsigned", "plugins", "install"])
        .arg(&traced));
    assert!(!trace.exists(), "install ran the library in kure");
    let o = run(s.kure().args(["--allow-unsigned", "plugins", "status"]));
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!trace.exists(), "status ran the library in kure");
    // Control: the default mode loads it in-process for the app that needs it.
    std::fs::remove_file(&traced).unwrap();
    let o = s.generate_unsigned(&f);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        trace.exists(),
        "the constructor trace does not work in-process"
    );
}

#[test]
fn a_lock_pinned_to_process_never_runs_in_process() {
    let s = Sandbox::new();
    let trace = s.path().join("trace");
    let lib = rawabi(&s, "plugins", &format!("trace:{}", trace.display()));
    let f = raw_app(&s);
    let o = run(s
        .kure()
        .args(["--allow-unsigned", "--isolation", "process", "lock", "-f"])
        .arg(&f));
    assert!(o.status.success(), "{}", stderr(&o));
    let lock = std::fs::read_to_string(s.path().join("kure.lock")).unwrap();
    assert!(lock.contains("isolation: process"), "{lock}");
    assert!(lock.contains(&sha256_hex(&lib)), "{lock}");
    // Nothing asks for a mode: the lock's `process` wins, in a worker.
    let o = s.generate_unsigned(&f);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!trace.exists(), "a process-pinned plugin ran in kure");
    // Explicitly in-process: refused, naming the lock and the setting.
    let o = run(s
        .kure()
        .args([
            "--allow-unsigned",
            "--isolation",
            "in-process",
            "generate",
            "-f",
        ])
        .arg(&f));
    expect_failure(
        &o,
        &["kure.lock", "process isolation", "--isolation in-process"],
    );
    s.write(
        "home/config.yaml",
        "plugins:\n  rawabi:\n    isolation: in-process\n",
    );
    expect_failure(
        &s.generate_unsigned(&f),
        &["kure.lock", "plugins: {rawabi: {isolation: in-process}}"],
    );
    assert!(!trace.exists(), "a process-pinned plugin ran in kure");
    // `plugins list`/`info` and the config's per-plugin entry agree on the mode.
    s.write(
        "home/config.yaml",
        "plugins:\n  rawabi:\n    isolation: process\n",
    );
    ok(s.kure()
        .args(["--allow-unsigned", "plugins", "install"])
        .arg(&lib));
    let o = run(s.kure().args(["plugins", "list", "-o", "json"]));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v[0]["isolation"], "process", "{v}");
    let o = run(s.kure().args(["plugins", "info", "rawabi"]));
    assert!(
        stdout(&o).contains("Isolation:   process"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn isolation_settings_are_checked() {
    let s = Sandbox::new();
    let f = s.write("a.yaml", &app("Trace", "x"));
    let o = run(s
        .kure()
        .args(["--isolation", "sandbox", "generate", "-f"])
        .arg(&f));
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("use `in-process` or `process`"),
        "{}",
        stderr(&o)
    );
    let o = run(s
        .kure()
        .args(["--plugin-memory", "12", "generate", "-f"])
        .arg(&f));
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("outside 64MiB..1TiB"), "{}", stderr(&o));
    s.write("home/config.yaml", "isolation: jail\n");
    let o = run(s.kure().args(["generate", "-f"]).arg(&f));
    expect_failure(&o, &["config.yaml", "isolation"]);
    s.write(
        "home/config.yaml",
        "plugins:\n  x:\n    isolaton: process\n",
    );
    let o = run(s.kure().args(["generate", "-f"]).arg(&f));
    expect_failure(&o, &["config.yaml", "isolaton"]);
}

#[test]
fn a_plugin_schema_that_refers_to_itself_is_refused_not_followed() {
    // `{"$ref": "#"}` used to send the host's validator into unbounded recursion (a stack
    // overflow in kure, whatever the isolation); it fails closed, with one paragraph naming
    // the plugin, and the previous output and the store untouched.
    let needles = [
        "JSON Schema of hostile.kure.dev/v1, Kind=CyclicSchema",
        "cannot be used",
        "refers back to itself",
        "report this to the plugin's author",
    ];
    for isolation in ["in-process", "process"] {
        contained("CyclicSchema", &["--isolation", isolation], &needles);
        let s = Sandbox::new();
        s.add_plugin(&hostile());
        let f = s.write("p.yaml", &app("CyclicSchema", "victim"));
        let o = run(s
            .kure()
            .args([
                "--allow-unsigned",
                "--isolation",
                isolation,
                "validate",
                "-f",
            ])
            .arg(&f));
        let mut all = vec!["p.yaml:1", "plugin hostile@0.1.0"];
        all.extend_from_slice(&needles);
        expect_failure(&o, &all);
    }
}

#[test]
fn install_refuses_a_plugin_whose_documented_examples_fail() {
    let s = Sandbox::new();
    let lib = rawabi(&s, "dist", "bad-examples");
    let before = s.store_snapshot();
    for isolation in ["in-process", "process"] {
        let err = expect_failure(
            &run(s
                .kure()
                .args([
                    "--allow-unsigned",
                    "--isolation",
                    isolation,
                    "plugins",
                    "install",
                ])
                .arg(&lib)),
            &[
                "plugin rawabi@0.1.0",
                "was not installed: its documented examples must validate and generate",
                "example `not-an-object` of Raw:5",
                "spec: expected object, found integer `5`",
                "example `wrong-kind` of Raw:2",
                "Nope",
                "example `generate-fails` of Raw:1: app `generate-fails` (rawabi.kure.dev/v1, Kind=Raw): plugin rawabi@0.1.0",
                "failed: cannot render this one",
            ],
        );
        assert!(!err.contains("example `good`"), "{err}");
        // Issue 29: each problem names its example once (the place was repeated).
        assert_eq!(err.matches("example `generate-fails`").count(), 1, "{err}");
        assert_eq!(s.store_snapshot(), before, "nothing may be installed");
    }
    // The same library without the broken examples installs.
    let good = rawabi(&s, "ok", "none");
    ok(s.kure()
        .args(["--allow-unsigned", "plugins", "install"])
        .arg(&good));
}

/// A spec of the rawabi fixture's GVK, and of the second GVK rawabi-extra provides.
const RAW: &str = "apiVersion: rawabi.kure.dev/v1\nkind: Raw\nmetadata:\n  name: raw\n";
const EXTRA: &str = "apiVersion: rawabi.kure.dev/v1\nkind: Extra\nmetadata:\n  name: extra\n";

#[test]
fn the_provider_of_a_gvk_does_not_depend_on_document_order() {
    // Installed: rawabi (Raw). In the plugin directory: rawabi-extra (Raw and Extra). Raw is
    // the installed plugin's whatever comes first; Extra is rawabi-extra's.
    let s = Sandbox::new();
    let installed = rawabi(&s, "dist", "none");
    ok(s.kure()
        .args(["--allow-unsigned", "plugins", "install"])
        .arg(&installed));
    rawabi(&s, "plugins", "extra-gvk");
    for (n, order) in [[RAW, EXTRA], [EXTRA, RAW]].iter().enumerate() {
        let f = s.write(&format!("order{n}.yaml"), &order.join("---\n"));
        let log = s.path().join(format!("audit{n}.jsonl"));
        let o = run(s
            .kure()
            .args(["--allow-unsigned", "--audit"])
            .arg(&log)
            .args(["generate", "-j", "1", "-f"])
            .arg(&f));
        assert!(o.status.success(), "order {n}: {}", stderr(&o));
        let served: std::collections::BTreeMap<String, String> = std::fs::read_to_string(&log)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .filter(|r| r["entry"] == "generate")
            .map(|r| {
                (
                    r["gvk"].as_str().unwrap().to_owned(),
                    r["plugin"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        assert_eq!(served["rawabi.kure.dev/v1/Raw"], "rawabi", "order {n}");
        assert_eq!(
            served["rawabi.kure.dev/v1/Extra"], "rawabi-extra",
            "order {n}"
        );
    }
    // gvks says the same.
    let gvks = ok(s.kure().args(["--allow-unsigned", "gvks"]));
    assert!(
        gvks.lines()
            .any(|l| l.contains("Raw") && l.contains("rawabi-extra") && l.contains("not used")),
        "{gvks}"
    );
}

#[test]
fn a_plugin_flag_the_lock_does_not_pin_never_runs() {
    let s = Sandbox::new();
    let pinned = rawabi(&s, "plugins", "none");
    let f = raw_app(&s);
    ok(s.kure().args(["--allow-unsigned", "lock", "-f"]).arg(&f));
    // A different build: refused on its bytes, before a worker is even started for it.
    let dev = rawabi(&s, "dev", "version:0.2.0");
    assert_ne!(
        std::fs::read(&dev).unwrap(),
        std::fs::read(&pinned).unwrap()
    );
    expect_failure(
        &run(s
            .kure()
            .args(["--allow-unsigned", "--plugin"])
            .arg(&dev)
            .args(["generate", "-f"])
            .arg(&f)),
        &["kure.lock", "is not pinned by it; none of it ran"],
    );
    // The pinned bytes themselves are accepted through --plugin.
    ok(s.kure()
        .args(["--allow-unsigned", "--plugin"])
        .arg(&pinned)
        .args(["generate", "-f"])
        .arg(&f));
}

#[test]
fn kure_fn_holds_every_gvk_it_generates_to_the_lock() {
    // rawabi-extra provides Raw and Extra; the lock pins only Raw. Loading it for Raw
    // registers Extra too: `kure fn`, like `kure generate`, must still refuse to generate
    // Extra with a plugin the lock does not pin for it.
    let s = Sandbox::new();
    let lib = rawabi(&s, "dist", "extra-gvk");
    ok(s.kure()
        .args(["--allow-unsigned", "plugins", "install"])
        .arg(&lib));
    let only_raw = s.write("raw.yaml", RAW);
    ok(s.kure()
        .args(["--allow-unsigned", "lock", "-f"])
        .arg(&only_raw));
    let lock = std::fs::read_to_string(s.path().join("kure.lock")).unwrap();
    assert!(lock.contains("Raw") && !lock.contains("Extra"), "{lock}");
    let both = s.write("both.yaml", &format!("{RAW}---\n{EXTRA}"));
    let o = run(s
        .kure()
        .args(["--allow-unsigned", "generate", "-f"])
        .arg(&both));
    expect_failure(&o, &["kure.lock", "Extra", "not pinned"]);
    for items in [
        format!("{}{}", list_item(RAW), list_item(EXTRA)),
        format!("{}{}", list_item(EXTRA), list_item(RAW)),
    ] {
        let list =
            format!("apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems:\n{items}");
        let o = run_with_stdin(s.kure().args(["--allow-unsigned", "fn"]), &list);
        expect_failure(&o, &["kure.lock", "Extra", "not pinned"]);
    }
}

// ---------------------------------------------------------------------------------------------
// Process isolation has no way out: no new process, no read of anything the plugin was not
// handed, kure's environment included. Run as an ordinary user (nobody, when the tests run as
// root), with an in-process control for each attempt that works when nothing refuses it.
// ---------------------------------------------------------------------------------------------

/// [`report`] as an ordinary user (nobody, when the tests run as root), with
/// `KURE_TEST_SECRET` in kure's environment.
fn attempt(
    s: &Sandbox,
    kind: &str,
    target: &str,
    isolation: &str,
    secret: &str,
) -> (String, String, String) {
    let mut kure = s.kure_unprivileged();
    kure.env("KURE_TEST_SECRET", secret);
    report(s, kure, kind, target, isolation)
}

#[test]
fn a_process_isolated_plugin_starts_no_process_and_reads_nothing_it_was_not_given() {
    let s = Sandbox::new();
    s.add_plugin(&hostile());
    let id = std::process::id();
    let secret = format!("SECRET-ENV-{id}");
    let file_secret = format!("SECRET-FILE-{id}");
    let secret_file = s.write("secret.txt", &file_secret);
    let secret_path = secret_file.display().to_string();
    // At most 15 bytes: a process name.
    let escapee = format!("kesc{}", id % 1_000_000);

    for (kind, target) in [
        ("Fork", escapee.as_str()),
        ("Spawn", "-"),
        ("Exec", "-"),
        ("ReadFile", secret_path.as_str()),
        ("ReadEnviron", "parent"),
        ("ReadEnviron", "self"),
        // Its parent is kure: no control in-process, where the parent is this test.
        ("SignalParent", "-"),
        ("PtraceParent", "-"),
    ] {
        let (outcome, content, all) = attempt(&s, kind, target, "process", &secret);
        assert!(
            outcome.starts_with("refused:"),
            "{kind} {target}: not refused in process isolation: {outcome}"
        );
        assert!(content.is_empty(), "{kind} {target}: read {content:?}");
        for leaked in [&secret, &file_secret] {
            assert!(
                !all.contains(leaked.as_str()),
                "{kind} {target}: a secret reached kure's output: {all}"
            );
        }
        assert!(
            !all.contains("HOSTILE-EXEC"),
            "{kind}: a program ran: {all}"
        );
    }
    assert!(
        processes_named(&escapee).is_empty(),
        "a process the plugin forked outlived kure"
    );

    // Controls: in-process, the same user, nothing refuses. (In-process cannot stop these: the
    // README's threat model says so.)
    let (outcome, content, _) = attempt(&s, "ReadFile", &secret_path, "in-process", &secret);
    assert_eq!(
        (outcome.as_str(), content.as_str()),
        ("done", file_secret.as_str())
    );
    let (outcome, content, _) = attempt(&s, "ReadEnviron", "self", "in-process", &secret);
    assert_eq!(outcome, "done");
    assert!(
        content.contains(&format!("KURE_TEST_SECRET={secret}")),
        "{content}"
    );
    // In-process the fork works, but kure ends the process when it finishes.
    let (outcome, _, _) = attempt(&s, "Fork", &escapee, "in-process", &secret);
    assert_eq!(outcome, "done");
    // (Watched for a while: the child names itself only once it runs.)
    for _ in 0..10 {
        let left = processes_named(&escapee);
        for pid in &left {
            let _ = std::process::Command::new("kill")
                .arg("-9")
                .arg(pid.to_string())
                .status();
        }
        assert!(
            left.is_empty(),
            "a process an in-process plugin forked outlived kure"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[test]
fn a_library_constructor_in_a_worker_reads_nothing_and_starts_no_thread() {
    let s = Sandbox::new();
    let file_secret = format!("SECRET-CTOR-{}", std::process::id());
    let secret = s.write("secret", &file_secret);
    rawabi(&s, "plugins", &format!("steal:{}", secret.display()));
    let f = raw_app(&s);
    let generate = |isolation: &str| generate_unsigned_with(s.kure_unprivileged(), isolation, &f);
    let o = generate("process");
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("stolen: 'refused: "), "{}", stdout(&o));
    assert!(!stdout(&o).contains(&file_secret) && !stderr(&o).contains(&file_secret));
    // Control: in-process the constructor reads it (what process isolation is for).
    let o = generate("in-process");
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains(&file_secret), "{}", stdout(&o));

    // A thread started at load time would escape the restrictions added after the load: the
    // run fails in one paragraph, and the previous `-o` tree and the store are untouched.
    let to_out = |isolation: &str| {
        run(s
            .kure()
            .args([
                "--allow-unsigned",
                "--isolation",
                isolation,
                "generate",
                "-o",
                "out",
                "-f",
            ])
            .arg(&f))
    };
    let o = to_out("process");
    assert!(o.status.success(), "{}", stderr(&o));
    let before = tree(&s.path().join("out"));
    rawabi(&s, "plugins", "ctor-thread");
    let o = to_out("process");
    let err = expect_failure(
        &o,
        &[
            "librawabi.so (in process isolation) was not used",
            "the library started 2 threads while it was loaded",
        ],
    );
    assert_eq!(
        err.trim_end().lines().count(),
        1,
        "not one paragraph: {err}"
    );
    assert!(stdout(&o).is_empty(), "{}", stdout(&o));
    assert_eq!(
        tree(&s.path().join("out")),
        before,
        "the previous output changed"
    );
    let list = run(s.kure().args(["plugins", "list"]));
    assert!(list.status.success(), "{}", stderr(&list));
}
