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

/// kure-plugin-api 1.0.0 as released (the `.crate` fixture), extracted under
/// `target/compat-1.0`: the directory of its sources.
fn api_1_0() -> PathBuf {
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
    extracted
}

/// A TOML basic string holding `p`: backslashes and quotes escaped.
fn toml_path(p: &Path) -> String {
    p.display()
        .to_string()
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
}

/// Builds the crate `name` (its `[lib]` or `[[bin]]` section given as `target`) against
/// kure-plugin-api 1.0.0, as a crate of its own in `target/compat-1.0/<dir>`. It gets the
/// workspace's Cargo.lock and shares `target/author-loop` with the author-loop test: the same
/// dependency versions, compiled once per machine. Returns that target directory.
fn build_against_1_0(dir: &str, name: &str, target: &str, deps: &str) -> PathBuf {
    let api = api_1_0();
    let dir = root().join("target/compat-1.0").join(dir);
    std::fs::create_dir_all(&dir).expect("the crate's directory");
    std::fs::write(
        dir.join("Cargo.toml"),
        format!(
            r#"[package]
name = "{name}"
version = "1.0.0"
edition = "2021"
publish = false

{target}

[dependencies]
kure-plugin-api = {{ path = "{api}" }}
serde_json = "1"
{deps}

[workspace]
"#,
            api = toml_path(&api),
        ),
    )
    .expect("the crate's Cargo.toml");
    std::fs::copy(root().join("Cargo.lock"), dir.join("Cargo.lock")).expect("Cargo.lock");
    let out = root().join("target/author-loop");
    let o = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .current_dir(&dir)
        .args(["build", "--quiet"])
        .env("CARGO_TARGET_DIR", &out)
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_BUILD_TARGET")
        // As the workspace's own dev profile: line tables only, so the test's builds stay small.
        .env("CARGO_PROFILE_DEV_DEBUG", "line-tables-only")
        .output()
        .expect("cargo runs");
    assert!(o.status.success(), "building {name}:\n{}", stderr(&o));
    out.join("debug")
}

/// `tests/fixtures/sdk-1.0/lib.rs` built against kure-plugin-api 1.0.0.
fn sdk_1_0_plugin() -> PathBuf {
    let lib = root().join("tests/fixtures/sdk-1.0/lib.rs");
    build_against_1_0(
        "plugin",
        "kure-compat-old",
        &format!(
            "[lib]\ncrate-type = [\"cdylib\"]\npath = \"{}\"",
            toml_path(&lib)
        ),
        "serde = { version = \"1\", features = [\"derive\"] }\nschemars = \"1.0\"",
    )
    .join("libkure_compat_old.so")
}

/// `tests/fixtures/host-1.0/main.rs`: a host as kure 1.0 was, built against kure-plugin-api
/// 1.0.0.
fn host_1_0() -> PathBuf {
    let main = root().join("tests/fixtures/host-1.0/main.rs");
    build_against_1_0(
        "host",
        "kure-host-1-0",
        &format!(
            "[[bin]]\nname = \"kure-host-1-0\"\npath = \"{}\"",
            toml_path(&main)
        ),
        "",
    )
    .join("kure-host-1-0")
}

/// The other direction of the compatibility rule, for real: a plugin built with this
/// workspace's SDK (a later 1.x, typed error kinds included) loads in a host built from the
/// kure-plugin-api 1.0.0 crate, passes abi_stable's layout checks and 1.0's rule, generates,
/// and its refusal arrives as the 1.0 host reads errors (`invalid-config`, the message).
#[test]
fn a_plugin_built_with_this_sdk_loads_and_generates_in_a_host_built_against_1_0() {
    let host = host_1_0();
    let lib = terraform_lib();
    let good = r#"{"apiVersion":"generators.example.com/v1alpha1","kind":"TerraformConfig","metadata":{"name":"dns"},"spec":{"module":{"source":"./modules/dns"},"variables":{"zone":"example.com"}}}"#;
    let refused = r#"{"apiVersion":"generators.example.com/v1alpha1","kind":"TerraformConfig","metadata":{"name":"dns"},"spec":{"module":{"source":"./vpc"},"variables":{"9lives":"x"}}}"#;
    let o = run(Command::new(&host).arg(&lib).arg(good).arg(refused));
    let out = stdout(&o);
    assert!(o.status.success(), "{out}{}", stderr(&o));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    assert!(
        lines[0].starts_with("loaded terraform-generator@")
            && lines[0].contains(&format!(
                "built against kure-plugin-api {}",
                kure_core::PLUGIN_API_VERSION
            ))
            && lines[0].contains("(1 generators, 1 validators, 1 docs)"),
        "{out}"
    );
    let objects: serde_json::Value = serde_json::from_str(
        lines[1]
            .strip_prefix("ok ")
            .unwrap_or_else(|| panic!("{out}")),
    )
    .expect("the objects are JSON");
    let kinds: Vec<&str> = objects
        .as_array()
        .expect("an array")
        .iter()
        .filter_map(|o| o["kind"].as_str())
        .collect();
    assert!(
        kinds.contains(&"ConfigMap") && kinds.contains(&"Job"),
        "{kinds:?}"
    );
    assert!(
        lines[2].starts_with("err invalid-config ") && lines[2].contains("9lives"),
        "{out}"
    );
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

/// A generator without a validator would have its specs pass unchecked (no schema, unknown
/// fields accepted): such a plugin is refused at load, in one paragraph naming the GVK, in both
/// isolation modes, and nothing is generated.
#[test]
fn a_plugin_that_registers_no_validator_is_refused() {
    for isolation in ["in-process", "process"] {
        let s = Sandbox::new();
        rawabi(&s, "plugins", "no-validator");
        let f = s.write("raw.yaml", RAW_FINE);
        let o = s.generate_unsigned_in(isolation, &f);
        let err = expect_failure(
            &o,
            &[
                "registers no validator for rawabi.kure.dev/v1/Raw",
                "JSON Schema",
            ],
        );
        assert!(stdout(&o).is_empty(), "{isolation}: wrote {}", stdout(&o));
        let errors: Vec<&str> = err.lines().filter(|l| !l.starts_with("warning:")).collect();
        assert_eq!(errors.len(), 1, "{isolation}: not one paragraph:\n{err}");
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
        // written. A spec kure's schema refuses is never generated: only the plugin's own
        // checks see it (so one run reports both kinds of problems where it decodes).
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
            let generated = made.iter().filter(|(e, _)| e == "generate").count();
            assert_eq!(generated, calls_made, "{isolation} {name}: {made:?}");
            if calls_made == 0 {
                assert_eq!(made, [("validate".to_owned(), "t".to_owned())], "{made:?}");
            } else {
                assert_eq!(made.len(), calls_made, "{isolation} {name}: {made:?}");
            }
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
