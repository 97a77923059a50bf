//! Plugin loading and the host's defences against broken or hostile plugins.

#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use kure_tests::*;

fn misbehaving() -> std::path::PathBuf {
    plugin_lib("kure_fixture_misbehaving")
}

fn app(kind: &str) -> String {
    format!("apiVersion: fixtures.kure.dev/v1\nkind: {kind}\nmetadata:\n  name: victim\n")
}

#[test]
fn unsigned_plugins_are_refused_unless_allowed() {
    let s = Sandbox::new();
    let lib = s.add_plugin(&terraform_lib());
    let f = root().join("examples/terraform-network.yaml");
    let err = expect_failure(
        &run(s.kure().args(["generate", "-f"]).arg(&f)),
        &["refused", "--allow-unsigned"],
    );
    assert!(err.contains(&lib.display().to_string()), "{err}");
    let o = run(s
        .kure()
        .args(["generate", "-f"])
        .arg(&f)
        .env("KURE_ALLOW_UNSIGNED", "1"));
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("warning: loaded unsigned plugin terraform-generator@1.0.0"),
        "{}",
        stderr(&o)
    );
    assert!(stdout(&o).contains("kind: Job"));
}

#[test]
fn plugins_are_found_through_kure_plugin_path_never_in_the_store() {
    let s = Sandbox::new();
    let f = root().join("examples/terraform-dns.yaml");
    let via_path = s.path().join("via-path");
    std::fs::create_dir(&via_path).unwrap();
    std::fs::copy(terraform_lib(), via_path.join("libtf.so")).unwrap();
    let o = run(s
        .kure()
        .args(["--allow-unsigned", "generate", "-f"])
        .arg(&f)
        .env("KURE_PLUGIN_PATH", &via_path));
    assert!(o.status.success(), "{}", stderr(&o));
    std::fs::remove_dir_all(&via_path).unwrap();
    // The store is not a plugin directory: a library dropped into it (or left there by an
    // interrupted install) is never loaded, even when named with --plugin-dir, and the next
    // store operation removes it.
    let home_plugins = s.path().join("home/plugins/terraform-generator/1.0.0");
    std::fs::create_dir_all(&home_plugins).unwrap();
    std::fs::copy(terraform_lib(), home_plugins.join("libtf.so")).unwrap();
    expect_failure(&s.generate_unsigned(&f), &["no generator for"]);
    let o = run(s
        .kure()
        .arg("--plugin-dir")
        .arg(s.path().join("home/plugins"))
        .args(["--allow-unsigned", "generate", "-f"])
        .arg(&f));
    expect_failure(&o, &["no generator for"]);
    let o = run(s.kure().args(["plugins", "list"]));
    assert!(o.status.success());
    assert!(
        stderr(&o).contains("1 leftover(s)") && stderr(&o).contains("terraform-generator/1.0.0"),
        "{}",
        stderr(&o)
    );
    expect_failure(
        &run(s
            .kure()
            .args(["plugins", "uninstall", "terraform-generator"])),
        &["no installed plugin named `terraform-generator`"],
    );
    assert!(!s.path().join("home/plugins/terraform-generator").exists());
}

#[test]
fn plugins_are_not_loaded_when_the_input_uses_only_builtins() {
    let s = Sandbox::new();
    s.write("plugins/garbage.so", "definitely not ELF");
    let o = run(s
        .kure()
        .args(["generate", "-f"])
        .arg(root().join("examples/shop.yaml")));
    assert!(
        o.status.success(),
        "a broken plugin was loaded for built-in input: {}",
        stderr(&o)
    );
}

#[test]
fn panicking_plugin_is_survived_and_named() {
    let s = Sandbox::new();
    s.add_plugin(&misbehaving());
    let f = s.write("p.yaml", &app("Panic"));
    let err = expect_failure(
        &s.generate_unsigned(&f),
        &[
            "p.yaml:1",
            "app `victim`",
            "plugin misbehaving@0.1.0",
            "panicked",
            "boom in app victim",
        ],
    );
    assert!(!err.contains("stack backtrace"), "{err}");
}

#[test]
fn plugin_objects_without_kind_are_rejected() {
    let s = Sandbox::new();
    s.add_plugin(&misbehaving());
    let f = s.write("p.yaml", &app("NoKind"));
    expect_failure(
        &s.generate_unsigned(&f),
        &[
            "plugin misbehaving@0.1.0",
            "app `victim`",
            "without kind",
            "apiVersion, kind and metadata.name",
        ],
    );
}

#[test]
fn plugin_returning_invalid_json_is_rejected() {
    let s = Sandbox::new();
    s.add_plugin(&misbehaving());
    let f = s.write("p.yaml", &app("BadJson"));
    expect_failure(
        &s.generate_unsigned(&f),
        &[
            "plugin misbehaving@0.1.0",
            "app `victim`",
            "returned invalid JSON",
        ],
    );
}

#[test]
fn random_bytes_in_the_plugin_dir_are_named() {
    let s = Sandbox::new();
    s.write("plugins/random.so", &"\u{7f}ELF garbage ".repeat(100));
    let f = s.write("p.yaml", &app("Panic"));
    expect_failure(
        &s.generate_unsigned(&f),
        &[
            "random.so is not a loadable library",
            "remove it from the plugin directory",
        ],
    );
}

#[test]
fn an_ordinary_shared_library_is_not_a_kure_plugin() {
    let s = Sandbox::new();
    let c = s.write("plain.c", "int plain(void) { return 42; }\n");
    let status = std::process::Command::new("cc")
        .args(["-shared", "-fPIC", "-o"])
        .arg(s.plugins().join("libplain.so"))
        .arg(&c)
        .status()
        .expect("cc");
    assert!(status.success());
    let f = s.write("p.yaml", &app("Panic"));
    expect_failure(
        &s.generate_unsigned(&f),
        &["libplain.so is a shared library but not a kure plugin"],
    );
}

#[test]
fn incompatible_abi_is_one_paragraph_with_the_fix() {
    let s = Sandbox::new();
    s.add_plugin(&plugin_lib("kure_fixture_incompatible_abi"));
    let f = s.write("p.yaml", &app("Panic"));
    let err = expect_failure(
        &s.generate_unsigned(&f),
        &[
            "libkure_fixture_incompatible_abi.so has an incompatible ABI",
            "Rebuild the plugin against kure-plugin-api 1.0.0",
        ],
    );
    assert_eq!(err.trim().lines().count(), 1, "not one paragraph:\n{err}");
    let o = run(s
        .kure()
        .args(["--allow-unsigned", "-v", "generate", "-f"])
        .arg(&f));
    assert!(
        stderr(&o).lines().count() > 10,
        "--verbose should add abi_stable's report"
    );
}

#[test]
fn two_plugins_claiming_one_gvk_are_both_named() {
    let s = Sandbox::new();
    s.add_plugin(&misbehaving());
    s.add_plugin(&terraform_lib());
    let f = root().join("examples/terraform-dns.yaml");
    expect_failure(
        &s.generate_unsigned(&f),
        &[
            "TerraformConfig is provided by both",
            "plugin misbehaving@0.1.0",
            "plugin terraform-generator@1.0.0",
        ],
    );
}

#[test]
fn plugin_validation_uses_the_plugin_schema() {
    let s = Sandbox::new();
    s.add_plugin(&terraform_lib());
    let f = s.write("t.yaml", "apiVersion: generators.example.com/v1alpha1\nkind: TerraformConfig\nmetadata:\n  name: t\nspec:\n  module:\n    sourc: x\n");
    expect_failure(
        &run(s
            .kure()
            .args(["--allow-unsigned", "validate", "-f"])
            .arg(&f)),
        &["t.yaml:7", "spec.module.sourc", "did you mean `source`?"],
    );
}

/// `validate` is `generate` without writing: it runs the plugin's own checks too, under each
/// isolation mode, and says exactly what `generate` says. `--schema-only` checks the schema
/// without loading the plugin, so it passes a spec only the plugin refuses.
#[test]
fn validate_and_generate_agree_on_every_spec() {
    let s = Sandbox::new();
    s.add_plugin(&terraform_lib());
    let only_plugin_refuses = s.write(
        "vars.yaml",
        "apiVersion: generators.example.com/v1alpha1\nkind: TerraformConfig\nmetadata:\n  name: t\nspec:\n  module:\n    source: ./vpc\n  variables:\n    9lives: x\n",
    );
    let schema_refuses = s.write("t.yaml", "apiVersion: generators.example.com/v1alpha1\nkind: TerraformConfig\nmetadata:\n  name: t\nspec:\n  module:\n    sourc: x\n");
    let mut specs: Vec<PathBuf> = std::fs::read_dir(root().join("examples"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    specs.sort();
    specs.extend([only_plugin_refuses.clone(), schema_refuses]);
    for isolation in ["in-process", "process"] {
        for spec in &specs {
            let args = |command: &str| {
                let mut c = s.kure();
                c.args(["--allow-unsigned", "--isolation", isolation, command, "-f"])
                    .arg(spec);
                c
            };
            let generated = run(&mut args("generate"));
            let validated = run(&mut args("validate"));
            assert_eq!(
                (generated.status.code(), stderr(&generated)),
                (validated.status.code(), stderr(&validated)),
                "{isolation}: {}",
                spec.display()
            );
            if validated.status.success() {
                assert!(
                    stdout(&validated).ends_with(" valid\n"),
                    "{}",
                    stdout(&validated)
                );
            } else {
                assert!(stdout(&validated).is_empty());
            }
        }
    }
    let refused = expect_failure(
        &run(s
            .kure()
            .args(["--allow-unsigned", "validate", "-f"])
            .arg(&only_plugin_refuses)),
        &[
            "vars.yaml:",
            "variables.9lives",
            "is not a Terraform identifier",
        ],
    );
    assert_eq!(
        refused.lines().filter(|l| l.starts_with("error:")).count(),
        1,
        "{refused}"
    );
    assert_eq!(
        ok(s.kure()
            .args(["--allow-unsigned", "validate", "--schema-only", "-f"])
            .arg(&only_plugin_refuses)),
        "1 document valid\n"
    );
}

#[test]
fn gvks_schema_explain_and_version() {
    let s = Sandbox::new();
    s.add_plugin(&terraform_lib());
    let o = run(s.kure().args(["--allow-unsigned", "gvks"]));
    let out = stdout(&o);
    let rows: Vec<Vec<&str>> = out
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert!(
        rows.iter()
            .any(|r| r[..] == ["generators.gokure.dev/v1alpha1", "AppWorkload", "built-in"]),
        "{out}"
    );
    assert!(
        rows.iter().any(|r| r[..3]
            == [
                "generators.example.com/v1alpha1",
                "TerraformConfig",
                "plugin"
            ]
            && r[3] == "terraform-generator@1.0.0"),
        "{out}"
    );
    let o = run(s.kure().args(["schema", "AppWorkload"]));
    let schema: serde_json::Value = serde_json::from_slice(&o.stdout).expect("schema is JSON");
    assert_eq!(
        schema["properties"]["workload"]["$ref"],
        "#/$defs/WorkloadKind"
    );
    assert!(schema["required"]
        .as_array()
        .unwrap()
        .contains(&"containers".into()));
    let o = run(s
        .kure()
        .args(["--allow-unsigned", "schema", "TerraformConfig"]));
    let schema: serde_json::Value =
        serde_json::from_slice(&o.stdout).expect("plugin schema is JSON");
    assert!(schema["properties"]["backend"].is_object());
    expect_failure(
        &run(s.kure().args(["--allow-unsigned", "schema", "AppWorkloud"])),
        &["no generator for kind `AppWorkloud`", "AppWorkload"],
    );
    let o = run(s.kure().args(["version"]));
    assert!(
        stdout(&o).contains("kure-plugin-api 1.0.0 (ABI 1)"),
        "{}",
        stdout(&o)
    );
}

/// `export_plugin!` refuses to compile under `panic = "abort"`, which would silently switch off
/// the SDK's panic guard (a plugin's panic would then end kure). Checked with `cargo check` in
/// a target dir of its own (the profile change rebuilds everything once).
#[test]
fn a_plugin_built_with_panic_abort_does_not_compile() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let target = root().join("target/panic-abort");
    let o = std::process::Command::new(cargo)
        .current_dir(root())
        .args([
            "check",
            "-q",
            "-p",
            "kure-fixture-bad-name",
            "--config",
            "profile.dev.panic=\"abort\"",
            "--target-dir",
        ])
        .arg(&target)
        .output()
        .expect("run cargo check");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "it compiled:\n{err}");
    assert!(
        err.contains("kure plugins must be built with `panic = \"unwind\"`")
            && err.contains("Remove `panic = \"abort\"`"),
        "{err}"
    );
}
