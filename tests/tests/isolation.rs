//! Process isolation, driven through the host API (`kure_core::plugin::process`): the hostile
//! fixture runs in a `kure __plugin-worker` process started from the built `kure` binary. A
//! crash, exit or hang is one clean error naming the plugin, the mode, what happened and the
//! operation; the host (this test process) survives and the worker is restarted.

#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kure_core::plugin::process::{WorkerError, WorkerOptions, WorkerPlugin};
use kure_core::{Admission, ErrorPayload};
use kure_tests::*;

const HOSTILE: &str = "hostile.kure.dev/v1";

fn hostile_lib() -> PathBuf {
    plugin_lib("kure_fixture_hostile")
}

fn options() -> WorkerOptions {
    WorkerOptions {
        exe: Some(kure_bin()),
        timeout: Some(Duration::from_secs(5)),
        print_sandbox_warnings: false,
        ..WorkerOptions::default()
    }
}

fn spawn_with(lib: &std::path::Path, opts: &WorkerOptions) -> Result<WorkerPlugin, WorkerError> {
    let (library, _) = kure_core::plugin::read_library(lib).unwrap();
    WorkerPlugin::spawn(lib, &library, "unused", Admission::Unsigned, opts)
}

fn hostile(opts: &WorkerOptions) -> Arc<WorkerPlugin> {
    Arc::new(spawn_with(&hostile_lib(), opts).unwrap_or_else(|e| panic!("spawn: {e}")))
}

fn request(kind: &str, name: &str) -> String {
    serde_json::json!({
        "apiVersion": HOSTILE,
        "kind": kind,
        "metadata": {"name": name},
        "spec": {},
    })
    .to_string()
}

fn one(
    plugin: &WorkerPlugin,
    kind: &str,
    name: &str,
) -> Result<Vec<serde_json::Value>, ErrorPayload> {
    plugin
        .generate_batch(HOSTILE, kind, &[request(kind, name)])
        .pop()
        .unwrap()
}

fn assert_paragraph(e: &ErrorPayload, kind: &str, needles: &[&str]) {
    assert_eq!(e.kind.as_str(), kind, "{e:?}");
    assert!(
        !e.message.contains('\n'),
        "not one paragraph: {}",
        e.message
    );
    for n in ["plugin hostile@0.1.0", "in process isolation"]
        .iter()
        .chain(needles)
    {
        assert!(e.message.contains(n), "{n:?} missing from: {}", e.message);
    }
}

fn assert_trace_works(plugin: &WorkerPlugin) {
    let objects = one(plugin, "Trace", "after").unwrap();
    assert_eq!(objects[0]["kind"], "ConfigMap");
    assert_eq!(objects[0]["metadata"]["name"], "after");
}

#[test]
fn a_working_generator_answers_every_operation() {
    let plugin = hostile(&options());
    assert_eq!(plugin.label(), "hostile@0.1.0");
    assert!(plugin.gvks.iter().any(|g| g.kind == "Trace"));
    eprintln!("sandbox warnings: {:?}", plugin.sandbox_warnings);
    let batch: Vec<String> = (0..5)
        .map(|i| request("Trace", &format!("app-{i}")))
        .collect();
    let results = plugin.generate_batch(HOSTILE, "Trace", &batch);
    assert_eq!(results.len(), 5);
    for (i, r) in results.iter().enumerate() {
        let objects = r.as_ref().unwrap();
        assert_eq!(objects[0]["metadata"]["name"], format!("app-{i}"));
    }
    // Through the DynGenerator objects the registry holds.
    let generators = plugin.generators();
    let trace = generators.iter().find(|g| g.kind() == "Trace").unwrap();
    let schema = trace.json_schema().unwrap();
    assert!(schema.is_object(), "{schema}");
    trace.validate(&serde_json::json!({})).unwrap();
    let invalid = trace
        .validate(&serde_json::json!({"unknown": 1}))
        .unwrap_err();
    assert!(invalid.message.contains("unknown"), "{invalid:?}");
    let docs = trace.documentation().unwrap();
    assert!(!docs.usage_guide.is_empty());
    let app: serde_json::Value = serde_json::from_str(&request("Trace", "via-dyn")).unwrap();
    assert_eq!(
        trace.generate(&app).unwrap()[0]["metadata"]["name"],
        "via-dyn"
    );
    // Documentation that panics is an error, never documentation.
    let bad = generators.iter().find(|g| g.kind() == "BadDocs").unwrap();
    let e = bad.documentation().unwrap_err();
    assert!(e.message.contains("documentation exploded"), "{e:?}");
    plugin.initialize().unwrap();
    plugin.health_check().unwrap();
    assert_eq!(plugin.restarts(), 0);
    plugin.shutdown().expect("a clean shutdown");
    let e = one(&plugin, "Trace", "late").unwrap_err();
    assert!(e.message.contains("shut down"), "{e:?}");
}

#[test]
fn crashes_and_exits_are_clean_errors_and_the_host_carries_on() {
    let plugin = hostile(&options());
    for (kind, what) in [
        ("Segfault", "crashed with SIGSEGV"),
        ("Abort", "crashed with SIGABRT"),
        ("Exit0", "exited with status 0"),
    ] {
        let e = one(&plugin, kind, "boom").unwrap_err();
        assert_paragraph(
            &e,
            "worker-crashed",
            &[what, &format!("during generate of {HOSTILE}/{kind}")],
        );
        eprintln!("{kind}: {}", e.message);
        assert_trace_works(&plugin);
    }
    assert_eq!(plugin.restarts(), 3);
}

#[test]
fn stack_overflows_and_double_panics_are_clean_errors() {
    for (kind, what) in [
        ("StackOverflow", "crashed with SIGSEGV"),
        ("DoublePanic", "crashed with SIGABRT"),
    ] {
        let plugin = hostile(&options());
        let e = one(&plugin, kind, "boom").unwrap_err();
        assert_paragraph(&e, "worker-crashed", &[what]);
        eprintln!("{kind}: {}", e.message);
        assert_trace_works(&plugin);
    }
}

#[test]
fn a_hanging_call_times_out() {
    let plugin = hostile(&WorkerOptions {
        timeout: Some(Duration::from_secs(1)),
        ..options()
    });
    let started = Instant::now();
    let e = one(&plugin, "Loop", "spin").unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_paragraph(
        &e,
        "worker-timeout",
        &["did not return from generate within 1 s"],
    );
    eprintln!("Loop: {}", e.message);
    assert_trace_works(&plugin);
}

#[test]
fn a_batch_of_hanging_apps_names_each_one() {
    // The worker's watchdog names the app it stopped (index 0 of the batch); app 1 is then
    // retried alone in a restarted worker and times out too.
    let plugin = hostile(&WorkerOptions {
        timeout: Some(Duration::from_millis(500)),
        ..options()
    });
    let batch = [request("Loop", "l0"), request("Loop", "l1")];
    let results = plugin.generate_batch(HOSTILE, "Loop", &batch);
    for r in &results {
        assert_paragraph(
            r.as_ref().unwrap_err(),
            "worker-timeout",
            &["did not return from generate within 0.500 s"],
        );
    }
    assert_eq!(plugin.restarts(), 1);
    assert_trace_works(&plugin);
    assert_eq!(plugin.restarts(), 2);
}

#[test]
fn a_worker_of_another_kure_version_is_refused() {
    // A fake worker: reads the handshake and claims another version of everything.
    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join("fake-kure");
    std::fs::write(
        &fake,
        "#!/usr/bin/python3\nimport json, os, struct\n\
         f = os.fdopen(4, 'r+b', buffering=0)\n\
         n = struct.unpack('<I', f.read(4))[0]\nf.read(n)\n\
         body = json.dumps({'protocol': 99, 'kure': '9.9.9'}).encode()\n\
         f.write(struct.pack('<I', len(body)) + body)\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    let e = spawn_with(
        &hostile_lib(),
        &WorkerOptions {
            exe: Some(fake),
            ..options()
        },
    )
    .unwrap_err();
    let WorkerError::Failed { error, .. } = &e else {
        panic!("expected a handshake failure, got {e:?}");
    };
    assert_eq!(error.kind.as_str(), "protocol");
    let ours = format!(
        "worker protocol {}",
        kure_core::plugin::process::PROTOCOL_VERSION
    );
    for n in [
        "kure 9.9.9",
        "worker protocol 99",
        "this is kure 0.1.0",
        &ours,
    ] {
        assert!(
            error.message.contains(n),
            "{n:?} missing: {}",
            error.message
        );
    }
    eprintln!("mismatch: {}", error.message);
}

#[test]
fn the_worker_runs_sandboxed_with_its_limits() {
    let plugin = hostile(&options());
    let pid = plugin.worker_pid().unwrap();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    assert!(status.contains("NoNewPrivs:\t1"), "{status}");
    assert!(status.contains("Seccomp:\t2"), "{status}");
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let limit = |name: &str| {
        limits
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("{name} missing: {limits}"))
            .split_whitespace()
            .rev()
            .nth(2)
            .unwrap()
            .to_owned()
    };
    assert_eq!(limit("Max address space"), (2u64 << 30).to_string());
    assert_eq!(limit("Max open files"), "64");
    assert_eq!(limit("Max cpu time"), "600");
    assert_eq!(limit("Max core file size"), "0");
    // No capabilities, even for a kure run as root.
    for set in ["CapInh", "CapPrm", "CapEff", "CapAmb"] {
        assert!(
            status.contains(&format!("{set}:\t0000000000000000")),
            "{set}: {status}"
        );
    }
    // Cleared environment, working directory `/`, own process group. (The worker is not
    // dumpable: only root reads its /proc entries.)
    match std::fs::read(format!("/proc/{pid}/environ")) {
        Ok(environ) => assert!(environ.is_empty(), "{}", String::from_utf8_lossy(&environ)),
        Err(e) => assert!(!is_root(), "root cannot read the worker's environ: {e}"),
    }
    if let Ok(cwd) = std::fs::read_link(format!("/proc/{pid}/cwd")) {
        assert_eq!(cwd, PathBuf::from("/"));
    }
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let pgrp = stat
        .rsplit(')')
        .next()
        .unwrap()
        .split_whitespace()
        .nth(2)
        .unwrap();
    assert_eq!(pgrp, pid.to_string());
    // Its own session: no controlling terminal to type into.
    let session = stat
        .rsplit(')')
        .next()
        .unwrap()
        .split_whitespace()
        .nth(3)
        .unwrap();
    assert_eq!(session, pid.to_string());
    let tty = stat
        .rsplit(')')
        .next()
        .unwrap()
        .split_whitespace()
        .nth(4)
        .unwrap();
    assert_eq!(tty, "0", "the worker has a controlling terminal");
    // Still working after being inspected.
    assert_trace_works(&plugin);
}

#[test]
fn sandbox_warnings_are_one_line_each() {
    let plugin = hostile(&options());
    for w in &plugin.sandbox_warnings {
        assert!(
            w.starts_with("plugin sandbox: ") && !w.contains('\n'),
            "{w:?}"
        );
    }
}

#[test]
fn a_failed_allocation_is_reported_as_the_memory_limit() {
    let plugin = hostile(&options());
    let e = one(&plugin, "HugeAlloc", "big").unwrap_err();
    assert_paragraph(
        &e,
        "worker-crashed",
        &[
            "exceeded its memory limit of 2048 MiB",
            "memory allocation of 50000000000 bytes failed",
        ],
    );
    eprintln!("HugeAlloc: {}", e.message);
    assert_trace_works(&plugin);
}

#[test]
fn a_batch_says_which_apps_failed_and_stops_restarting() {
    // Four apps that all crash: the batch crashes the first worker, then one at a time with
    // a restarted worker each: apps 0, 1 and 2 crash (restarts 1 to 3), app 3 is not attempted.
    let plugin = hostile(&options());
    let batch: Vec<String> = (0..4)
        .map(|i| request("Segfault", &format!("s{i}")))
        .collect();
    let results = plugin.generate_batch(HOSTILE, "Segfault", &batch);
    let errors: Vec<&ErrorPayload> = results.iter().map(|r| r.as_ref().unwrap_err()).collect();
    for e in &errors[..3] {
        assert_paragraph(e, "worker-crashed", &["SIGSEGV"]);
    }
    assert!(
        errors[3]
            .message
            .starts_with("generate of hostile.kure.dev/v1/Segfault was not attempted"),
        "{errors:?}"
    );
    eprintln!("not attempted: {}", errors[3].message);
    assert_eq!(plugin.restarts(), 3);
    // The budget is spent: everything after is refused without starting a worker.
    let e = one(&plugin, "Trace", "after").unwrap_err();
    assert!(e.message.contains("not attempted"), "{e:?}");
}

#[test]
fn per_app_errors_in_a_batch_do_not_restart_the_worker() {
    let plugin = hostile(&options());
    let bad = serde_json::json!({
        "apiVersion": HOSTILE, "kind": "Trace", "metadata": {"name": "bad"},
        "spec": {"unexpected": true},
    })
    .to_string();
    let results = plugin.generate_batch(
        HOSTILE,
        "Trace",
        &[request("Trace", "a"), bad, request("Trace", "c")],
    );
    assert!(results[0].is_ok() && results[2].is_ok(), "{results:?}");
    assert!(results[1].is_err(), "{results:?}");
    assert_eq!(plugin.restarts(), 0);
}

#[test]
fn what_a_plugin_prints_is_kept_for_verbose() {
    let plugin = hostile(&options());
    one(&plugin, "PrintStdout", "p").unwrap();
    // The drain thread reads asynchronously.
    let until = Instant::now() + Duration::from_secs(5);
    loop {
        let out = String::from_utf8_lossy(&plugin.output()).into_owned();
        if out.contains("HOSTILE-STDOUT-FROM-GENERATE")
            && out.contains("HOSTILE-STDERR-FROM-GENERATE")
        {
            break;
        }
        assert!(Instant::now() < until, "output so far: {out:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn load_failures_give_the_in_process_message() {
    for name in ["kure_fixture_bad_name", "kure_fixture_incompatible_abi"] {
        let lib = plugin_lib(name);
        let e = spawn_with(&lib, &options()).unwrap_err();
        let WorkerError::Refused { error, .. } = &e else {
            panic!("{name}: expected a refusal, got {e:?}");
        };
        assert_eq!(error.kind.as_str(), "load");
        let (library, digest) = kure_core::plugin::read_library(&lib).unwrap();
        let in_process =
            kure_core::plugin::load_admitted(&lib, library, &digest, Admission::Unsigned)
                .err()
                .unwrap();
        assert_eq!(e.to_string(), in_process.to_string(), "{name}");
    }
}

#[test]
fn a_missing_worker_binary_is_a_clean_error() {
    let e = spawn_with(
        &hostile_lib(),
        &WorkerOptions {
            exe: Some(PathBuf::from("/nonexistent/kure")),
            ..options()
        },
    )
    .unwrap_err();
    assert!(matches!(e, WorkerError::Spawn { .. }), "{e:?}");
}

/// Cost per app: one batch of N apps in a worker against the same N apps in-process.
/// `cargo test -p kure-tests --test isolation -- --ignored --nocapture`
#[test]
#[ignore]
fn cost_per_app_batch_vs_in_process() {
    const N: usize = 2000;
    let lib = hostile_lib();
    let requests: Vec<String> = (0..N)
        .map(|i| request("Trace", &format!("app-{i}")))
        .collect();

    let t = Instant::now();
    let plugin = hostile(&options());
    let startup = t.elapsed();
    let _ = plugin.generate_batch(HOSTILE, "Trace", &requests[..1]);
    let t = Instant::now();
    let results = plugin.generate_batch(HOSTILE, "Trace", &requests);
    let batch = t.elapsed();
    assert!(results.iter().all(Result::is_ok));
    let t = Instant::now();
    for r in &requests[..200] {
        plugin
            .generate_batch(HOSTILE, "Trace", std::slice::from_ref(r))
            .pop()
            .unwrap()
            .unwrap();
    }
    let single = t.elapsed() / 200;

    let (library, digest) = kure_core::plugin::read_library(&lib).unwrap();
    let loaded =
        kure_core::plugin::load_admitted(&lib, library, &digest, Admission::Unsigned).unwrap();
    let trace = loaded
        .generators
        .iter()
        .find(|g| g.kind() == "Trace")
        .unwrap();
    let _ = trace.generate_json(&requests[0]).unwrap();
    let t = Instant::now();
    for r in &requests {
        trace.generate_json(r).unwrap();
    }
    let in_process = t.elapsed();
    eprintln!(
        "worker startup {startup:?}; batch of {N}: {:?}/app; one app per frame: {single:?}/app; in-process: {:?}/app",
        batch / N as u32,
        in_process / N as u32
    );
}
