//! A plugin author's first hour, end to end, outside the workspace: `kure plugins new`, the
//! scaffold's own `cargo test`, a release build, signing with openssl, `kure trust add`,
//! `kure plugins install`, `kure generate`, then a one-line change and the rebuild.
//!
//! The scaffold is a crate of its own; it gets the workspace's Cargo.lock (the same dependency
//! versions, so nothing new is downloaded) and a target directory under the workspace's
//! `target/author-loop` (so its dependencies compile once per machine, not once per run).
//! The timings are printed for the record (`cargo test -- --nocapture`); goals live in the
//! issue, not in assertions.

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use kure_tests::*;

fn cargo(dir: &Path, args: &[&str]) -> std::process::Output {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    Command::new(cargo)
        .current_dir(dir)
        .args(args)
        .env("CARGO_TARGET_DIR", root().join("target/author-loop"))
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_BUILD_TARGET")
        // As the workspace's own dev profile: line tables only, so the test's builds stay small.
        .env("CARGO_PROFILE_DEV_DEBUG", "line-tables-only")
        .output()
        .unwrap()
}

fn cargo_ok(dir: &Path, args: &[&str]) -> String {
    let o = cargo(dir, args);
    assert!(
        o.status.success(),
        "cargo {args:?} failed:\n{}{}",
        stdout(&o),
        stderr(&o)
    );
    format!("{}{}", stdout(&o), stderr(&o))
}

#[test]
fn scaffold_test_build_sign_install_generate() {
    let s = Sandbox::new();
    let outside = tempfile::tempdir().unwrap();
    let crate_dir = outside.path().join("redis-cache");
    let started = Instant::now();

    let out = ok(s
        .kure()
        .args([
            "plugins",
            "new",
            "redis-cache",
            "--gvk",
            "cache.example.com/v1alpha1/RedisCache",
            "--dir",
        ])
        .arg(&crate_dir));
    assert!(
        out.contains("plugin redis-cache, RedisCache in cache.example.com/v1alpha1"),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "kure-plugin-api: {} (by path)",
            std::fs::canonicalize(root().join("kure-plugin-api"))
                .unwrap()
                .display()
        )),
        "{out}"
    );
    let lines: usize = ["src/lib.rs", "tests/spec.rs"]
        .iter()
        .map(|f| {
            std::fs::read_to_string(crate_dir.join(f))
                .unwrap()
                .lines()
                .count()
        })
        .sum();
    // A second `new` into the same directory changes nothing.
    let again = run(s
        .kure()
        .args([
            "plugins",
            "new",
            "redis-cache",
            "--gvk",
            "cache.example.com/v1/RedisCache",
            "--dir",
        ])
        .arg(&crate_dir));
    assert_eq!(again.status.code(), Some(1), "{}", stderr(&again));
    assert!(
        stderr(&again).contains("is not empty"),
        "{}",
        stderr(&again)
    );

    std::fs::copy(root().join("Cargo.lock"), crate_dir.join("Cargo.lock")).unwrap();
    let test_out = cargo_ok(&crate_dir, &["test", "--quiet"]);
    assert!(test_out.contains("3 passed"), "{test_out}");
    let tested = started.elapsed();
    cargo_ok(&crate_dir, &["build", "--release", "--quiet"]);
    let lib = root().join("target/author-loop/release/libredis_cache.so");
    assert!(lib.is_file());

    // Sign as the design does, trust the key, install, generate the scaffold's examples.
    let (key, public) = openssl_keypair(s.path(), "author", 2048);
    let dist = s.path().join("libredis_cache.so");
    std::fs::copy(&lib, &dist).unwrap();
    openssl_sign(&dist, &key);
    ok(s.kure().args(["trust", "add"]).arg(&public));
    let installed = ok(s.kure().args(["plugins", "install"]).arg(&dist));
    assert!(
        installed.contains("installed redis-cache@0.1.0 (cache.example.com/v1alpha1/RedisCache)"),
        "{installed}"
    );
    let manifests = ok(s
        .kure()
        .args(["generate", "-f"])
        .arg(crate_dir.join("examples")));
    let first_generate = started.elapsed();
    assert!(manifests.contains("kind: Deployment"), "{manifests}");
    assert!(
        manifests.contains("name: example-scaled") && manifests.contains("containerPort: 6379"),
        "{manifests}"
    );
    let explain = ok(s.kure().args(["explain", "RedisCache"]));
    assert!(explain.contains("  replicas <integer>\n      Number of pods. Default 1.\n      [default: 1; minimum: 1; maximum: 10]\n"), "{explain}");
    // kure's checks apply to the new GVK like any other.
    let bad = s.write(
        "bad.yaml",
        "apiVersion: cache.example.com/v1alpha1\nkind: RedisCache\nmetadata:\n  name: r\nspec:\n  image: redis:7.4\n  replicas: 11\n",
    );
    expect_failure(
        &run(s.kure().args(["validate", "-f"]).arg(&bad)),
        &["bad.yaml:7", "spec.replicas: must be at most 10, found 11"],
    );

    // One-line change, rebuild, and --plugin runs the new build ahead of the installed one.
    let lib_rs = crate_dir.join("src/lib.rs");
    let text = std::fs::read_to_string(&lib_rs).unwrap();
    std::fs::write(
        &lib_rs,
        text.replace(
            "\"replicas\": app.spec.replicas,",
            "\"replicas\": app.spec.replicas, \"revisionHistoryLimit\": 3,",
        ),
    )
    .unwrap();
    let rebuild = Instant::now();
    cargo_ok(&crate_dir, &["build", "--release", "--quiet"]);
    let rebuilt = rebuild.elapsed();
    let o = run(s
        .kure()
        .args(["--allow-unsigned", "--plugin"])
        .arg(&lib)
        .args(["generate", "-f"])
        .arg(crate_dir.join("examples/minimal.yaml")));
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("revisionHistoryLimit: 3"),
        "{}",
        stdout(&o)
    );
    assert!(
        stderr(&o).contains("instead of installed plugin redis-cache@0.1.0"),
        "{}",
        stderr(&o)
    );

    eprintln!(
        "author loop: scaffold lib.rs + tests/spec.rs = {lines} lines; new -> cargo test passed in {:.1}s; new -> first generate {:.1}s; one-line change -> release rebuild {:.1}s",
        tested.as_secs_f64(),
        first_generate.as_secs_f64(),
        rebuilt.as_secs_f64()
    );
}
