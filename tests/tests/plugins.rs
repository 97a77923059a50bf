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
    for isolation in ["in-process", "process"] {
        let s = Sandbox::new();
        rawabi(&s, "plugins", "answer:not-json");
        let f = s.write(
            "p.yaml",
            "apiVersion: rawabi.kure.dev/v1\nkind: Raw\nmetadata:\n  name: victim\nspec: {}\n",
        );
        let o = s.generate_unsigned_in(isolation, &f);
        expect_failure(&o, &["plugin rawabi@0.1.0", "app `victim`", "invalid JSON"]);
        assert!(stdout(&o).is_empty(), "{isolation}: {}", stdout(&o));
    }
}

/// A shared library built by the C compiler: a library, but not a kure plugin.
fn plain_library(s: &Sandbox, dest: &std::path::Path) -> bool {
    if !have_tool(
        "cc",
        "a test building a plain shared library",
        "a C compiler",
    ) {
        return false;
    }
    let c = s.write("plain.c", "int plain(void) { return 42; }\n");
    let status = std::process::Command::new("cc")
        .args(["-shared", "-fPIC", "-o"])
        .arg(dest)
        .arg(&c)
        .status()
        .expect("cc");
    assert!(status.success());
    true
}

/// Libraries that are not kure plugins are skipped. On the plugin search path
/// (KURE_PLUGIN_PATH) that is a `-v` note; in a directory named for this run (`--plugin-dir`)
/// it is a warning (issue 29: what the user pointed at and kure did not use is never silent).
#[test]
fn libraries_that_are_not_kure_plugins_are_skipped_and_listed_under_verbose() {
    let s = Sandbox::new();
    let path = s.path().join("path");
    std::fs::create_dir(&path).unwrap();
    if !plain_library(&s, &path.join("libplain.so")) {
        return;
    }
    s.write("path/random.so", &"\u{7f}ELF garbage ".repeat(100));
    s.add_plugin(&terraform_lib());
    let dns = root().join("examples/terraform-dns.yaml");
    let on_path = |verbose: bool| {
        let mut c = s.kure();
        c.env("KURE_PLUGIN_PATH", &path).arg("--allow-unsigned");
        if verbose {
            c.arg("-v");
        }
        run(c.args(["generate", "-f"]).arg(&dns))
    };
    let o = on_path(false);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!stderr(&o).contains("plain"), "{}", stderr(&o));
    let o = on_path(true);
    assert!(o.status.success(), "{}", stderr(&o));
    for lib in ["libplain.so", "random.so"] {
        assert!(
            stderr(&o).contains(&format!("note: skipped {}", path.join(lib).display()))
                && stderr(&o).contains("not a kure plugin"),
            "{lib}: {}",
            stderr(&o)
        );
    }
    let named = run(s
        .kure()
        .arg("--plugin-dir")
        .arg(&path)
        .args(["--allow-unsigned", "generate", "-f"])
        .arg(&dns));
    assert!(named.status.success(), "{}", stderr(&named));
    for lib in ["libplain.so", "random.so"] {
        assert!(
            stderr(&named).contains(&format!(
                "warning: {} (in --plugin-dir {}) was not used: not a kure plugin",
                path.join(lib).display(),
                path.display()
            )),
            "{lib}: {}",
            stderr(&named)
        );
    }
    // A GVK no plugin provides is still an error; the skipped libraries changed nothing.
    expect_failure(
        &s.generate_unsigned(&s.write("p.yaml", &app("Panic"))),
        &["no generator"],
    );
}

#[test]
fn a_library_that_claims_to_be_a_plugin_but_is_not_loadable_is_named() {
    let s = Sandbox::new();
    // The name of the symbol every kure plugin exports, in bytes that are not a library.
    let mut bytes = b"\x7fELF garbage ".repeat(100);
    bytes.extend_from_slice(b"_1as_0lib_1header_0root_bmodule_bloader\0");
    std::fs::write(s.plugins().join("random.so"), bytes).unwrap();
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
fn a_cargo_target_dir_works_as_a_plugin_dir() {
    // What `cargo build` leaves: the plugin at the top, a copy of it and proc-macro libraries
    // in deps/. Only the top level is a plugin directory's content.
    let s = Sandbox::new();
    let target = s.path().join("target/release");
    std::fs::create_dir_all(target.join("deps")).unwrap();
    for dest in [
        target.join("libkure_terraform_generator.so"),
        target.join("deps/libkure_terraform_generator.so"),
    ] {
        std::fs::copy(terraform_lib(), dest).unwrap();
    }
    if !plain_library(&s, &target.join("deps/libproc_macro_like.so")) {
        return;
    }
    let o = run(s
        .kure()
        .args(["--allow-unsigned", "--plugin-dir"])
        .arg(&target)
        .args(["generate", "-f"])
        .arg(root().join("examples/terraform-dns.yaml")));
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("kind: Job"));
    // A plugin one level further down is not found.
    let deeper = s.path().join("nested");
    std::fs::create_dir_all(deeper.join("sub")).unwrap();
    std::fs::copy(terraform_lib(), deeper.join("sub/libtf.so")).unwrap();
    expect_failure(
        &run(s
            .kure()
            .args(["--allow-unsigned", "--plugin-dir"])
            .arg(&deeper)
            .args(["generate", "-f"])
            .arg(root().join("examples/terraform-dns.yaml"))),
        &["no generator"],
    );
}

#[test]
fn a_dev_build_is_never_shadowed_without_a_word() {
    let s = Sandbox::new();
    let key = s.trusted_key();
    ok(s.kure()
        .args(["plugins", "install"])
        .arg(s.signed_copy(&terraform_lib(), &key)));
    // A newer build (other bytes) of the same plugin, signed, in a plugin directory.
    let dev = s.plugins().join("libdev.so");
    let mut bytes = std::fs::read(terraform_lib()).unwrap();
    bytes.extend_from_slice(b"dev build");
    std::fs::write(&dev, bytes).unwrap();
    openssl_sign(&dev, &key);
    let dns = root().join("examples/terraform-dns.yaml");

    // The installed plugin wins, and the warning says so and how to run the other.
    let o = run(s.kure().args(["generate", "-f"]).arg(&dns));
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    for needle in [
        "warning: generators.example.com/v1alpha1/TerraformConfig: using installed plugin terraform-generator@1.0.0",
        &format!("{} in a plugin directory", dev.display()),
        &format!("--plugin {}", dev.display()),
        "kure plugins install --replace",
    ] {
        assert!(err.contains(needle), "lacks {needle:?}:\n{err}");
    }

    // --plugin runs it for this run, naming what it shadows.
    let o = run(s
        .kure()
        .arg("--plugin")
        .arg(&dev)
        .args(["generate", "-f"])
        .arg(&dns));
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains(&format!(
            "using --plugin terraform-generator@1.0.0 ({}) for this run instead of installed plugin terraform-generator@1.0.0",
            dev.display()
        )),
        "{}",
        stderr(&o)
    );
    let audit = s.path().join("audit.jsonl");
    ok(s.kure()
        .arg("--plugin")
        .arg(&dev)
        .arg("--audit")
        .arg(&audit)
        .args(["generate", "-f"])
        .arg(&dns));
    assert!(
        std::fs::read_to_string(&audit)
            .unwrap()
            .contains(&kure_core::trust::sha256_hex(&std::fs::read(&dev).unwrap())),
        "the --plugin library is the one that ran"
    );

    // gvks lists both providers, marking the one not used.
    let gvks = ok(s.kure().arg("gvks"));
    let rows: Vec<&str> = gvks
        .lines()
        .filter(|l| l.contains("TerraformConfig"))
        .collect();
    assert_eq!(rows.len(), 2, "{gvks}");
    assert!(
        rows.iter()
            .any(|r| r.contains(&dev.display().to_string()) && r.contains("not used")),
        "{gvks}"
    );

    // --plugin is checked like any plugin: an unsigned one is refused.
    let unsigned = s.path().join("libunsigned.so");
    std::fs::copy(terraform_lib(), &unsigned).unwrap();
    expect_failure(
        &run(s
            .kure()
            .arg("--plugin")
            .arg(&unsigned)
            .args(["generate", "-f"])
            .arg(&dns)),
        &["libunsigned.so", "no signature"],
    );
}

#[test]
fn incompatible_abi_is_one_paragraph_with_the_fix() {
    let s = Sandbox::new();
    s.add_plugin(&plugin_lib("kure_fixture_incompatible_abi"));
    let f = s.write("p.yaml", &app("Panic"));
    let rebuild = format!(
        "Rebuild the plugin against kure-plugin-api {}",
        kure_core::plugin::API_VERSION
    );
    let err = expect_failure(
        &s.generate_unsigned(&f),
        &[
            "libkure_fixture_incompatible_abi.so has an incompatible ABI",
            &rebuild,
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
    // Issue 29: a rule on the app's metadata (the Job-name limit, in the plugin's
    // `validate_application`) is checked by `validate` too.
    let dns = std::fs::read_to_string(root().join("examples/terraform-dns.yaml")).unwrap();
    let long_name = s.write(
        "long.yaml",
        &dns.replace("name: dns-records", &format!("name: {}", "d".repeat(58))),
    );
    specs.extend([
        only_plugin_refuses.clone(),
        schema_refuses,
        long_name.clone(),
    ]);
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
    expect_failure(
        &run(s
            .kure()
            .args(["--allow-unsigned", "validate", "-f"])
            .arg(&long_name)),
        &[
            "long.yaml:4: app `dddd",
            "metadata.name: at most 57 characters (this one has 58)",
        ],
    );
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
        stdout(&o).contains(&format!(
            "kure-plugin-api {} (ABI 1)",
            kure_core::plugin::API_VERSION
        )),
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

/// Issue 29: a field error a plugin returns from `generate` (`Error::field("metadata.name",
/// …)`) is a problem with the spec, shown on the field's line like `validate`'s; it was shown
/// as `plugin … failed: …` on line 1, as if the plugin had crashed.
#[test]
fn a_field_error_from_generate_lands_on_its_field_in_both_isolations() {
    let s = Sandbox::new();
    s.add_plugin(&misbehaving());
    let f = s.write("p.yaml", &app("FieldError"));
    for isolation in ["in-process", "process"] {
        let err = expect_failure(
            &s.generate_unsigned_in(isolation, &f),
            &["p.yaml:4: app `victim`: metadata.name: `victim` is refused by generate"],
        );
        assert!(!err.contains("failed"), "{isolation}: {err}");
    }
}

/// Issue 29: an unsigned dev build in a `--plugin-dir` was skipped without a word (only `-v`
/// said so) and the older installed plugin ran. Now every library the user pointed at and
/// kure did not use is a warning naming it, why, and the command that fixes it; libraries of
/// the plugin search path the user did not name this run stay `-v` notes.
#[test]
fn a_skipped_library_of_a_named_plugin_dir_is_a_warning() {
    let s = Sandbox::new();
    let key = s.trusted_key();
    ok(s.kure()
        .args(["plugins", "install"])
        .arg(s.signed_copy(&terraform_lib(), &key)));
    let dev = s.path().join("dev");
    std::fs::create_dir(&dev).unwrap();
    let build = dev.join("libkure_terraform_generator.so");
    let mut bytes = std::fs::read(terraform_lib()).unwrap();
    bytes.extend_from_slice(b"a newer build");
    std::fs::write(&build, bytes).unwrap();
    std::fs::write(dev.join("libnotes.so"), b"\x7fELF not a plugin").unwrap();
    let spec = root().join("examples/terraform-dns.yaml");

    let o = run(s
        .kure()
        .arg("--plugin-dir")
        .arg(&dev)
        .args(["generate", "-f"])
        .arg(&spec));
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    for needle in [
        "warning: generators.example.com/v1alpha1/TerraformConfig: using installed plugin terraform-generator@1.0.0;",
        &format!("{} (in --plugin-dir {}) may be a newer build of it, but was not used", build.display(), dev.display()),
        &format!("sign the library with `kure plugins sign {} --key KEY.pem`", build.display()),
        "or pass --allow-unsigned",
        &format!("warning: {} (in --plugin-dir {}) was not used: not a kure plugin", dev.join("libnotes.so").display(), dev.display()),
    ] {
        assert!(err.contains(needle), "{needle}\n{err}");
    }

    // The same directory on KURE_PLUGIN_PATH, not named for this run: quiet without -v.
    let quiet = run(s
        .kure()
        .env("KURE_PLUGIN_PATH", &dev)
        .args(["generate", "-f"])
        .arg(&spec));
    assert!(quiet.status.success(), "{}", stderr(&quiet));
    assert!(
        !stderr(&quiet).contains("was not used"),
        "{}",
        stderr(&quiet)
    );
    let verbose = run(s
        .kure()
        .env("KURE_PLUGIN_PATH", &dev)
        .args(["-v", "generate", "-f"])
        .arg(&spec));
    assert!(
        stderr(&verbose).contains(&format!("note: skipped {}", build.display())),
        "{}",
        stderr(&verbose)
    );
}

/// Issue 29: a plugin's problems were printed in the order the plugin found them (here its
/// variables' sorted names), not top to bottom.
#[test]
fn a_plugins_problems_come_in_line_order() {
    let s = Sandbox::new();
    s.add_plugin(&terraform_lib());
    let f = s.write(
        "vars.yaml",
        "apiVersion: generators.example.com/v1alpha1\nkind: TerraformConfig\nmetadata:\n  name: t\nspec:\n  module: ./vpc\n  variables:\n    9b: x\n    1a: y\n",
    );
    let err = expect_failure(
        &s.generate_unsigned(&f),
        &[
            "vars.yaml:8: app `t`: spec.variables.9b",
            "vars.yaml:9: app `t`: spec.variables.1a",
        ],
    );
    assert!(
        err.find("vars.yaml:8").unwrap() < err.find("vars.yaml:9").unwrap(),
        "{err}"
    );
}
