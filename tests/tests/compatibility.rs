//! Plugins built against another 1.x kure-plugin-api: what the compatibility rule loads, what it
//! refuses, and how the host talks to each. A plugin is built against kure-plugin-api 1.0.0 as
//! released (`tests/fixtures/sdk-1.0`); the raw-ABI fixture reports the version and features
//! its mode says (`abi:<version>:<features>`; otherwise what a 1.0 SDK reports); the terraform
//! plugin is built with this workspace's SDK.

use std::path::{Path, PathBuf};
use std::process::Command;

use kure_tests::*;

const RAW_FINE: &str =
    "apiVersion: rawabi.kure.dev/v1\nkind: Raw\nmetadata:\n  name: fine\nspec:\n  keep: 1\n";
const RAW_REFUSED: &str =
    "apiVersion: rawabi.kure.dev/v1\nkind: Raw\nmetadata:\n  name: refused\nspec:\n  keep: 1\n  refuse: true\n";

/// The (entry, app) of every plugin call the audit log at `log` recorded, in order.
fn calls(log: &Path) -> Vec<(String, String)> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("audit JSON"))
        .filter(|r| r["gvk"].is_string())
        .map(|r| {
            (
                r["entry"].as_str().unwrap_or("").to_owned(),
                r["app"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

fn audited_generate(s: &Sandbox, isolation: &str, log: &Path, file: &Path) -> std::process::Output {
    run(s
        .kure()
        .args(["--allow-unsigned", "--isolation", isolation, "--audit"])
        .arg(log)
        .args(["generate", "-j", "1", "-f"])
        .arg(file))
}

/// What kure does with a 1.0 plugin (no `generate-validates`), in sandbox `s`: on `fine` it
/// calls `validate`, then `generate` (returned: what was written); on `refused` its own
/// `validate` refuses at `spec.refuse` (`refusal` is its message), exit 1, nothing is
/// written and nothing generated.
fn checked_then_generated(
    s: &Sandbox,
    isolation: &str,
    fine: &str,
    refused: &str,
    refusal: &str,
) -> String {
    let f = s.write("fine.yaml", fine);
    let log = s.path().join("fine.jsonl");
    let o = audited_generate(s, isolation, &log, &f);
    assert!(o.status.success(), "{isolation}: {}", stderr(&o));
    let written = stdout(&o);
    let entries: Vec<String> = calls(&log).into_iter().map(|(e, _)| e).collect();
    assert_eq!(entries, ["validate", "generate"], "{isolation}");
    let f = s.write("refused.yaml", refused);
    let log = s.path().join("refused.jsonl");
    let o = audited_generate(s, isolation, &log, &f);
    expect_failure(&o, &["refused.yaml:7", "spec.refuse", refusal]);
    assert!(
        !calls(&log).iter().any(|(e, _)| e == "generate"),
        "{isolation}: generated after a refusal: {:?}",
        calls(&log)
    );
    written
}

/// `tests/fixtures/sdk-1.0/lib.rs` built against kure-plugin-api 1.0.0 (the `.crate` beside
/// it), as a crate of its own. It gets the workspace's Cargo.lock and shares
/// `target/author-loop` with the author-loop test: the same dependency versions, compiled once
/// per machine.
fn sdk_1_0_plugin() -> PathBuf {
    let base = root().join("target/compat-1.0");
    let crate_file = root().join("tests/fixtures/kure-plugin-api-1.0.0.crate");
    let bytes = std::fs::read(&crate_file).expect("the 1.0.0 .crate fixture");
    let stamp = base.join("extracted-from.crate");
    // Extracted again only when the fixture changed (fresh files would rebuild it every run),
    // with the time of extraction as the files' (-m): a .crate's files all carry one fixed
    // date, older than the previous build, which cargo would then keep.
    let extracted = base.join("kure-plugin-api-1.0.0");
    if std::fs::read(&stamp).ok().as_deref() != Some(&bytes[..]) || !extracted.is_dir() {
        let _ = std::fs::remove_dir_all(&extracted);
        std::fs::create_dir_all(&base).expect("target/compat-1.0");
        let o = Command::new("tar")
            .arg("-xzmf")
            .arg(&crate_file)
            .arg("-C")
            .arg(&base)
            .output()
            .expect("tar runs");
        assert!(o.status.success(), "tar: {}", stderr(&o));
        std::fs::write(&stamp, &bytes).expect("the extraction stamp");
    }
    let dir = base.join("plugin");
    std::fs::create_dir_all(&dir).expect("the plugin crate's directory");
    std::fs::write(
        dir.join("Cargo.toml"),
        format!(
            r#"[package]
name = "kure-compat-old"
version = "1.0.0"
edition = "2021"
publish = false

[lib]
crate-type = ["cdylib"]
path = "{lib}"

[dependencies]
kure-plugin-api = {{ path = "../kure-plugin-api-1.0.0" }}
serde = {{ version = "1", features = ["derive"] }}
serde_json = "1"
schemars = "1.0"

[workspace]
"#,
            // A TOML basic string: backslashes and quotes escaped.
            lib = root()
                .join("tests/fixtures/sdk-1.0/lib.rs")
                .display()
                .to_string()
                .replace('\\', "\\\\")
                .replace('"', "\\\"")
        ),
    )
    .expect("the plugin crate's Cargo.toml");
    std::fs::copy(root().join("Cargo.lock"), dir.join("Cargo.lock")).expect("Cargo.lock");
    let target = root().join("target/author-loop");
    let o = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .current_dir(&dir)
        .args(["build", "--quiet"])
        .env("CARGO_TARGET_DIR", &target)
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_BUILD_TARGET")
        .output()
        .expect("cargo runs");
    assert!(
        o.status.success(),
        "building the 1.0 plugin:\n{}",
        stderr(&o)
    );
    target.join("debug/libkure_compat_old.so")
}

/// A plugin built against kure-plugin-api 1.0.0 loads in this kure (a later 1.x), in both
/// isolation modes, and is talked to as a 1.0 plugin: `validate`, then `generate`, its own
/// refusal reported at the field.
#[test]
fn a_plugin_built_against_kure_plugin_api_1_0_loads_and_is_checked_then_generated() {
    let lib = sdk_1_0_plugin();
    let fine =
        "apiVersion: compat.kure.dev/v1\nkind: Old\nmetadata:\n  name: old\nspec:\n  copies: 3\n";
    let refused = "apiVersion: compat.kure.dev/v1\nkind: Old\nmetadata:\n  name: old\nspec:\n  copies: 3\n  refuse: true\n";
    for isolation in ["in-process", "process"] {
        let s = Sandbox::new();
        s.add_plugin(&lib);
        let out = checked_then_generated(
            &s,
            isolation,
            fine,
            refused,
            "refused by the 1.0 plugin's validate",
        );
        assert!(
            out.contains("copies: '3'") || out.contains("copies: \"3\""),
            "{isolation}: {out}"
        );
        // The SDK it was built with says so itself.
        assert!(out.contains("sdk: 1.0.0"), "{isolation}: {out}");
    }
}

#[test]
fn a_plugin_of_a_newer_minor_version_loads_and_its_unknown_features_are_ignored() {
    for isolation in ["in-process", "process"] {
        let s = Sandbox::new();
        rawabi(&s, "plugins", "abi:1.9.0:json-payloads,from-the-future");
        let f = s.write("raw.yaml", RAW_FINE);
        let o = s.generate_unsigned_in(isolation, &f);
        assert!(o.status.success(), "{isolation}: {}", stderr(&o));
        assert!(stdout(&o).contains("name: fine"), "{}", stdout(&o));
    }
}

#[test]
fn a_plugin_lacking_a_feature_this_kure_requires_is_refused_naming_it() {
    for isolation in ["in-process", "process"] {
        let s = Sandbox::new();
        rawabi(&s, "plugins", "abi:1.0.0:validator,documentation");
        let f = s.write("raw.yaml", RAW_FINE);
        let o = s.generate_unsigned_in(isolation, &f);
        let err = expect_failure(
            &o,
            &[
                "built against kure-plugin-api 1.0.0",
                "lacks the feature(s) json-payloads",
            ],
        );
        assert!(stdout(&o).is_empty(), "{isolation}: wrote {}", stdout(&o));
        assert_eq!(err.trim().lines().count(), 1, "not one paragraph:\n{err}");
    }
}

#[test]
fn a_1_0_plugin_is_validated_then_generated_a_1_1_plugin_checks_inside_generate() {
    for isolation in ["in-process", "process"] {
        // 1.0 (no generate-validates): kure calls validate, then generate; the refusal of
        // its validate is reported at the field, and the app is never generated.
        let s = Sandbox::new();
        rawabi(&s, "plugins", "none");
        let out = checked_then_generated(
            &s,
            isolation,
            RAW_FINE,
            RAW_REFUSED,
            "refused by rawabi's validate",
        );
        assert!(out.contains("name: fine"), "{isolation}: {out}");

        // 1.1 (the SDK): one call per app, the plugin's own checks inside it.
        let s = Sandbox::new();
        s.add_plugin(&terraform_lib());
        let example = std::fs::read_to_string(root().join("examples/terraform-dns.yaml")).unwrap();
        let f = s.write("tf.yaml", &example);
        let log = s.path().join("tf.jsonl");
        let o = audited_generate(&s, isolation, &log, &f);
        assert!(o.status.success(), "{isolation}: {}", stderr(&o));
        let made = calls(&log);
        assert!(!made.is_empty(), "{isolation}: nothing audited");
        assert!(
            made.iter().all(|(e, _)| e == "generate"),
            "{isolation}: {made:?}"
        );
        // Its own refusal comes from that one call, as validate would say it; nothing is
        // written. A spec kure's schema refuses reaches no plugin code at all.
        for (name, spec, needles, calls_made) in [
            (
                "own",
                "apiVersion: generators.example.com/v1alpha1\nkind: TerraformConfig\nmetadata:\n  name: t\nspec:\n  module:\n    source: ./vpc\n  variables:\n    9lives: x\n",
                &["own.yaml:9", "spec.variables.9lives", "is not a Terraform identifier"][..],
                1,
            ),
            (
                "schema",
                "apiVersion: generators.example.com/v1alpha1\nkind: TerraformConfig\nmetadata:\n  name: t\nspec:\n  module:\n    sourc: x\n",
                &["schema.yaml:7", "spec.module.sourc"][..],
                0,
            ),
        ] {
            let f = s.write(&format!("{name}.yaml"), spec);
            let log = s.path().join(format!("{name}.jsonl"));
            let o = audited_generate(&s, isolation, &log, &f);
            expect_failure(&o, needles);
            assert!(stdout(&o).is_empty(), "{isolation} {name}: {}", stdout(&o));
            let made = calls(&log);
            assert_eq!(made.len(), calls_made, "{isolation} {name}: {made:?}");
            assert!(made.iter().all(|(e, _)| e == "generate"), "{made:?}");
        }
        // `kure validate` still asks the plugin's validate (nothing is generated).
        let log = s.path().join("validate.jsonl");
        let o = run(s
            .kure()
            .args(["--allow-unsigned", "--isolation", isolation, "--audit"])
            .arg(&log)
            .args(["validate", "-f"])
            .arg(&f));
        assert!(o.status.success(), "{isolation}: {}", stderr(&o));
        let asked = calls(&log);
        assert!(
            !asked.is_empty() && asked.iter().all(|(e, _)| e == "validate"),
            "{isolation}: {asked:?}"
        );
    }
}

/// A plugin's answer that only values read right: a key given twice (the last wins) and keys out
/// of order are written as values write them, whatever path the answer takes; a header field
/// that is a list is refused in one paragraph, and the previous `-o` tree stays as it was.
#[test]
fn odd_answers_are_written_as_values_read_them_or_refused() {
    let victim = "apiVersion: rawabi.kure.dev/v1\nkind: Raw\nmetadata:\n  name: victim\nspec: {}\n";
    for isolation in ["in-process", "process"] {
        let s = Sandbox::new();
        let lib = rawabi(&s, "plugins", "answer:dup-kind");
        let f = s.write("raw.yaml", victim);
        let o = s.generate_unsigned_in(isolation, &f);
        assert!(o.status.success(), "{isolation}: {}", stderr(&o));
        assert_eq!(
            stdout(&o),
            "---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: victim\n",
            "{isolation}"
        );
        let o = run(s
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
            .arg(&f));
        assert!(o.status.success(), "{isolation}: {}", stderr(&o));
        let written: Vec<String> = std::fs::read_dir(s.path().join("out/default/victim"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(
            written.contains(&"secret-victim.yaml".to_owned())
                && !written.iter().any(|n| n.starts_with("configmap")),
            "{isolation}: {written:?}"
        );

        // The same directory, a plugin whose answer names nothing.
        std::fs::remove_file(&lib).unwrap();
        rawabi(&s, "plugins", "answer:list-name");
        let before = tree(&s.path().join("out"));
        let o = run(s
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
            .arg(&f));
        let err = expect_failure(&o, &["returned object #1 without metadata.name"]);
        assert_eq!(o.status.code(), Some(1), "{isolation}");
        assert!(stdout(&o).is_empty(), "{isolation}: {}", stdout(&o));
        // One paragraph (after the warning that the plugin is unsigned).
        let errors: Vec<&str> = err.lines().filter(|l| !l.starts_with("warning:")).collect();
        assert_eq!(errors.len(), 1, "not one paragraph:\n{err}");
        assert!(
            errors[0].starts_with("error: ") && errors[0].contains("raw.yaml:1"),
            "{err}"
        );
        assert_eq!(
            tree(&s.path().join("out")),
            before,
            "{isolation}: -o changed"
        );
    }
}
