//! A plugin author's first hour, end to end, outside the workspace: `kure plugins new`, the
//! scaffold's own `cargo test`, a release build, signing with openssl, `kure trust add`,
//! `kure plugins install`, `kure generate`, then a one-line change and the rebuild, and a
//! second plugin sharing the first one's target directory.
//!
//! As a new author's machine would, it builds in a fresh target directory (a cold cargo
//! cache: every dependency compiles), against kure-plugin-api as `cargo package` makes it
//! (what crates.io would serve), named by version in the crate's Cargo.toml and by path only
//! in its `.cargo/config.toml`. The crate gets the workspace's Cargo.lock, so nothing new is
//! downloaded. The timings are printed for the record (`cargo test -- --nocapture`), and the
//! README's numbers come from them; goals live in the issue, not in assertions.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use kure_tests::*;

fn cargo(dir: &Path, target: &Path, args: &[&str]) -> std::process::Output {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    Command::new(cargo)
        .current_dir(dir)
        .args(args)
        .env("CARGO_TARGET_DIR", target)
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_BUILD_TARGET")
        .env_remove("CARGO_INCREMENTAL")
        // As the workspace's own dev profile: line tables only, so the test's builds stay small.
        .env("CARGO_PROFILE_DEV_DEBUG", "line-tables-only")
        .output()
        .unwrap()
}

fn cargo_ok(dir: &Path, target: &Path, args: &[&str]) -> String {
    let o = cargo(dir, target, args);
    assert!(
        o.status.success(),
        "cargo {args:?} failed:\n{}{}",
        stdout(&o),
        stderr(&o)
    );
    format!("{}{}", stdout(&o), stderr(&o))
}

/// kure-plugin-api as `cargo package` makes it, unpacked into `dir`: proof that it is
/// publishable, and what the scaffold builds against.
fn packaged_api(dir: &Path) -> PathBuf {
    let target = dir.join("package-target");
    cargo_ok(
        &root(),
        &target,
        &[
            "package",
            "-p",
            "kure-plugin-api",
            "--no-verify",
            "--allow-dirty",
            "--quiet",
        ],
    );
    let version = std::fs::read_to_string(root().join("kure-plugin-api/Cargo.toml"))
        .unwrap()
        .lines()
        .find_map(|l| {
            l.strip_prefix("version = \"")?
                .strip_suffix('"')
                .map(str::to_owned)
        })
        .unwrap();
    let krate = target.join(format!("package/kure-plugin-api-{version}.crate"));
    ok(Command::new("tar")
        .arg("-xzf")
        .arg(&krate)
        .arg("-C")
        .arg(dir));
    let unpacked = dir.join(format!("kure-plugin-api-{version}"));
    let manifest = std::fs::read_to_string(unpacked.join("Cargo.toml")).unwrap();
    assert!(!manifest.contains("workspace = true"), "{manifest}");
    unpacked
}

/// `kure plugins new` without `--api-path`: the crate asks for kure-plugin-api by version,
/// and the checkout this kure was built from is named only in `.cargo/config.toml`, which its
/// .gitignore keeps out of the repository.
#[test]
fn the_scaffold_names_no_machine_path_in_its_cargo_toml() {
    let s = Sandbox::new();
    let outside = tempfile::tempdir().unwrap();
    let crate_dir = outside.path().join("plain");
    let out = ok(s
        .kure()
        .args([
            "plugins",
            "new",
            "plain",
            "--gvk",
            "plain.example.com/v1/Plain",
            "--dir",
        ])
        .arg(&crate_dir));
    let checkout = std::fs::canonicalize(root().join("kure-plugin-api")).unwrap();
    assert!(
        out.contains(&format!(
            "kure-plugin-api: {} (this machine's checkout, named in .cargo/config.toml",
            checkout.display()
        )),
        "{out}"
    );
    let cargo_toml = std::fs::read_to_string(crate_dir.join("Cargo.toml")).unwrap();
    assert!(!cargo_toml.contains("path"), "{cargo_toml}");
    assert!(
        !cargo_toml.contains(&*checkout.to_string_lossy()),
        "{cargo_toml}"
    );
    let config = std::fs::read_to_string(crate_dir.join(".cargo/config.toml")).unwrap();
    assert!(
        config.contains(&format!(
            "[patch.crates-io]\nkure-plugin-api = {{ path = \"{}\" }}",
            checkout.display()
        )),
        "{config}"
    );
    let ignore = std::fs::read_to_string(crate_dir.join(".gitignore")).unwrap();
    assert!(
        ignore.lines().any(|l| l == "/.cargo/config.toml"),
        "{ignore}"
    );
    // Cargo reads it: the dependency resolves to the checkout.
    std::fs::copy(root().join("Cargo.lock"), crate_dir.join("Cargo.lock")).unwrap();
    let meta = cargo_ok(
        &crate_dir,
        &outside.path().join("target"),
        &["metadata", "--format-version", "1", "--offline", "--quiet"],
    );
    assert!(
        meta.contains(&format!("path+file://{}", checkout.display())),
        "{meta}"
    );
}

#[test]
fn scaffold_test_build_sign_install_generate() {
    let s = Sandbox::new();
    let outside = tempfile::tempdir().unwrap();
    // A fresh target directory (on the workspace's file system, removed at the end).
    std::fs::create_dir_all(root().join("target")).unwrap();
    let cold = tempfile::tempdir_in(root().join("target")).unwrap();
    let target = cold.path().join("target");
    let api = packaged_api(cold.path());
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
            "--api-path",
        ])
        .arg(&api)
        .arg("--dir")
        .arg(&crate_dir));
    assert!(
        out.contains("plugin redis-cache, RedisCache in cache.example.com/v1alpha1"),
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
    let test_out = cargo_ok(&crate_dir, &target, &["test", "--quiet"]);
    assert!(test_out.contains("3 passed"), "{test_out}");
    let tested = started.elapsed();
    let release = Instant::now();
    cargo_ok(&crate_dir, &target, &["build", "--release", "--quiet"]);
    let first_release = release.elapsed();
    let lib = target.join("release/libredis_cache.so");
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
    let examples = crate_dir.join("examples");
    let manifests = ok(s.kure().args(["generate", "-f"]).arg(&examples));
    let first_generate = started.elapsed();
    assert!(manifests.contains("kind: Deployment"), "{manifests}");
    assert!(
        manifests.contains("name: example-scaled") && manifests.contains("containerPort: 6379"),
        "{manifests}"
    );
    // Issue 29: validate agrees with generate on the scaffold's examples, and on a bad spec.
    assert!(ok(s.kure().args(["validate", "-f"]).arg(&examples)).contains("valid"));
    let explain = ok(s.kure().args(["explain", "RedisCache"]));
    assert!(explain.contains("  replicas <integer>\n      Number of pods. Default 1.\n      [default: 1; minimum: 1; maximum: 10]\n"), "{explain}");
    // kure's checks apply to the new GVK like any other.
    let bad = s.write(
        "bad.yaml",
        "apiVersion: cache.example.com/v1alpha1\nkind: RedisCache\nmetadata:\n  name: r\nspec:\n  image: redis:7.4\n  replicas: 11\n",
    );
    let needles = ["bad.yaml:7", "spec.replicas: must be at most 10, found 11"];
    let validated = expect_failure(&run(s.kure().args(["validate", "-f"]).arg(&bad)), &needles);
    let generated = expect_failure(&run(s.kure().args(["generate", "-f"]).arg(&bad)), &needles);
    assert_eq!(validated, generated);

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
    cargo_ok(&crate_dir, &target, &["build", "--release", "--quiet"]);
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

    // A second plugin in the same target directory (the scaffold README's way to share one):
    // its dependencies are compiled already.
    let second = outside.path().join("second");
    ok(s.kure()
        .args([
            "plugins",
            "new",
            "second",
            "--gvk",
            "second.example.com/v1/Second",
            "--api-path",
        ])
        .arg(&api)
        .arg("--dir")
        .arg(&second));
    std::fs::copy(root().join("Cargo.lock"), second.join("Cargo.lock")).unwrap();
    let warm = Instant::now();
    cargo_ok(&second, &target, &["build", "--release", "--quiet"]);
    let second_release = warm.elapsed();
    assert!(target.join("release/libsecond.so").is_file());

    eprintln!(
        "author loop (fresh target directory, dependencies compiled): scaffold lib.rs + tests/spec.rs = {lines} lines; \
         new -> cargo test passed {:.1}s; first release build {:.1}s; new -> first generate {:.1}s; \
         one-line change -> release rebuild {:.1}s; a second plugin's first release build in the shared target directory {:.1}s",
        tested.as_secs_f64(),
        first_release.as_secs_f64(),
        first_generate.as_secs_f64(),
        rebuilt.as_secs_f64(),
        second_release.as_secs_f64()
    );
}
