//! kill -9 at any point: the output directory and the plugin store are never left half
//! written, and what a killed run left behind is cleaned by the next one. Debug builds of kure
//! send themselves SIGKILL at the point named by `KURE_KILL_AT`.

#![allow(clippy::unwrap_used)]

use std::os::unix::process::ExitStatusExt;
use std::path::Path;

use kure_tests::*;

const SPEC: &str = "apiVersion: generators.gokure.dev/v1alpha1\nkind: AppWorkload\nmetadata:\n  name: NAME\nspec:\n  workload: Deployment\n  containers:\n    - name: web\n      image: nginx\n";

fn spec(name: &str) -> String {
    SPEC.replace("NAME", name)
}

/// Asserts that `o` is kure killed by SIGKILL: the kill point exists and was reached.
fn killed(o: &std::process::Output) {
    assert_eq!(
        o.status.signal(),
        Some(9),
        "expected a SIGKILL at the kill point; status {:?}, stderr:\n{}",
        o.status,
        stderr(o)
    );
}

/// The apps under `out/default`, sorted.
fn apps(out: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(out.join("default"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != "kustomization.yaml")
        .collect();
    v.sort();
    v
}

/// A run into `-o out` that fails on its input (exit 1, nothing written).
fn failing_run_into_out(s: &Sandbox) {
    let bad = s.write("bad/a.yaml", "kind: [\n");
    let o = run(s
        .kure()
        .args(["generate", "-f"])
        .arg(&bad)
        .args(["-o", "out"]));
    expect_failure(&o, &["bad/a.yaml:", "YAML syntax error"]);
}

fn leftovers(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".kure-"))
        .collect()
}

#[test]
fn output_survives_kill_at_every_step() {
    let s = Sandbox::new();
    let out = s.path().join("out");
    s.write("old/a.yaml", &spec("old"));
    s.write("new/a.yaml", &spec("new"));
    for (point, expect) in [("output-staged", "old"), ("output-exchanged", "new")] {
        ok(s.kure().args(["generate", "-f", "old", "-o", "out"]));
        let o = run(s
            .kure()
            .env("KURE_KILL_AT", point)
            .args(["generate", "-f", "new", "-o", "out"]));
        killed(&o);
        // At every instant out/ is one whole tree, old or new.
        assert_eq!(apps(&out), [expect], "killed at {point}");
        assert_eq!(leftovers(s.path()).len(), 1, "killed at {point}");
        // The next run cleans up what the killed one left, even when it fails.
        failing_run_into_out(&s);
        assert!(leftovers(s.path()).is_empty(), "{:?}", leftovers(s.path()));
        assert_eq!(apps(&out), [expect]);
    }
}

#[test]
fn an_output_set_aside_by_a_killed_fallback_is_put_back() {
    // The two-rename fallback (file systems without RENAME_EXCHANGE) killed between its
    // renames leaves DIR missing and the old tree in .DIR.kure-old-PID.
    let s = Sandbox::new();
    s.write("old/a.yaml", &spec("old"));
    ok(s.kure().args(["generate", "-f", "old", "-o", "out"]));
    let mut dead = std::process::Command::new("true").spawn().unwrap();
    let pid = dead.id();
    dead.wait().unwrap();
    let aside = s.path().join(format!(".out.kure-old-{pid}"));
    std::fs::rename(s.path().join("out"), &aside).unwrap();
    // Even a failing run restores it first.
    failing_run_into_out(&s);
    assert_eq!(apps(&s.path().join("out")), ["old"]);
    assert!(!aside.exists());
    // A live process's staging directory is not touched.
    let live = s
        .path()
        .join(format!(".out.kure-staging-{}", std::process::id()));
    std::fs::create_dir(&live).unwrap();
    ok(s.kure().args(["generate", "-f", "old", "-o", "out"]));
    assert!(live.exists());
}

#[test]
fn output_symlink_is_refused_and_left_alone() {
    let s = Sandbox::new();
    s.write("apps/a.yaml", &spec("web"));
    ok(s.kure().args(["generate", "-f", "apps", "-o", "real"]));
    let before =
        std::fs::read_to_string(s.path().join("real/default/web/deployment-web.yaml")).unwrap();
    std::os::unix::fs::symlink(s.path().join("real"), s.path().join("link")).unwrap();
    s.write("apps/a.yaml", &spec("other"));
    let o = run(s.kure().args(["generate", "-f", "apps", "-o", "link"]));
    expect_failure(
        &o,
        &[
            "cannot write output link",
            "symbolic link",
            "pass the directory itself",
        ],
    );
    assert!(std::fs::symlink_metadata(s.path().join("link"))
        .unwrap()
        .is_symlink());
    assert_eq!(
        std::fs::read_to_string(s.path().join("real/default/web/deployment-web.yaml")).unwrap(),
        before
    );
}

/// The store is consistent: `plugins list` reads it, and the plugin the index names generates.
fn consistent(s: &Sandbox, version: Option<&str>) -> String {
    let o = run(s.kure().args(["plugins", "list"]));
    assert!(o.status.success(), "{}", stderr(&o));
    let dns = root().join("examples/terraform-dns.yaml");
    match version {
        Some(v) => {
            assert!(stdout(&o).contains(v), "{}", stdout(&o));
            if v == "1.0.0" {
                // (The pretend 0.0.9 is refused by generate: it reports 1.0.0.)
                ok(s.kure().args(["generate", "-f"]).arg(&dns));
            }
        }
        None => {
            assert!(!stdout(&o).contains("terraform"), "{}", stdout(&o));
            expect_failure(
                &run(s.kure().args(["generate", "-f"]).arg(&dns)),
                &["no generator for"],
            );
        }
    }
    stderr(&o)
}

#[test]
fn store_survives_kill_at_every_step_of_install_and_uninstall() {
    let steps = [
        ("store-staged", "0.0.9"),
        ("store-moved", "0.0.9"),
        ("store-index-written", "0.0.9"),
        ("store-committed", "1.0.0"),
    ];
    for (point, after) in steps {
        let s = Sandbox::new();
        let key = s.trusted_key();
        let lib = s.signed_copy(&terraform_lib(), &key);
        ok(s.kure().args(["plugins", "install"]).arg(&lib));
        s.pretend_terraform_is_older();
        let o = run(s
            .kure()
            .env("KURE_KILL_AT", point)
            .args(["plugins", "install"])
            .arg(&lib));
        killed(&o);
        let warning = consistent(&s, Some(after));
        // Whatever the kill left is reported, never loaded, and cleaned by the next install.
        assert!(warning.contains("leftover"), "killed at {point}: {warning}");
        ok(s.kure().args(["plugins", "install"]).arg(&lib));
        let warning = consistent(&s, Some("1.0.0"));
        assert!(!warning.contains("leftover"), "{warning}");
        assert_eq!(
            std::fs::read_dir(s.path().join("home/plugins/terraform-generator"))
                .unwrap()
                .count(),
            1,
            "one version directory after the upgrade"
        );
    }
    for (point, installed) in [("store-index-written", true), ("store-committed", false)] {
        let s = Sandbox::new();
        let key = s.trusted_key();
        let lib = s.signed_copy(&terraform_lib(), &key);
        ok(s.kure().args(["plugins", "install"]).arg(&lib));
        let o = run(s.kure().env("KURE_KILL_AT", point).args([
            "plugins",
            "uninstall",
            "terraform-generator",
        ]));
        killed(&o);
        consistent(&s, installed.then_some("1.0.0"));
        if !installed {
            // The next store operation removes the leftover (rebuild-index would register it
            // again: with no index to trust, a library that verifies is a plugin).
            assert!(s.path().join("home/plugins/terraform-generator").exists());
            expect_failure(
                &run(s
                    .kure()
                    .args(["plugins", "uninstall", "terraform-generator"])),
                &["no installed plugin named `terraform-generator`"],
            );
            assert!(!s.path().join("home/plugins/terraform-generator").exists());
            consistent(&s, None);
        }
    }
}

#[test]
fn hostile_index_entries_never_become_paths() {
    let s = Sandbox::new();
    let key = s.trusted_key();
    let lib = s.signed_copy(&terraform_lib(), &key);
    ok(s.kure().args(["plugins", "install"]).arg(&lib));
    let victim = s.write("victim/keep.txt", "precious");
    let index_path = s.path().join("home/plugins/index.json");
    let good = std::fs::read_to_string(&index_path).unwrap();
    let dir = s.installed_dir("terraform-generator");
    let rel = dir
        .strip_prefix(s.path().join("home/plugins"))
        .unwrap()
        .display()
        .to_string();
    for (from, to) in [
        (
            "\"name\": \"terraform-generator\"",
            "\"name\": \"../../victim\"",
        ),
        ("\"version\": \"1.0.0\"", "\"version\": \"../../../victim\""),
        (rel.as_str(), "../../victim"),
        (rel.as_str(), "/tmp"),
    ] {
        std::fs::write(&index_path, good.replace(from, to)).unwrap();
        for args in [
            &["plugins", "uninstall", "../../victim"][..],
            &["plugins", "uninstall", "terraform-generator"],
            &["plugins", "list"],
            &["plugins", "info", "terraform-generator"],
        ] {
            let o = run(s.kure().args(args));
            assert_eq!(
                o.status.code(),
                Some(1),
                "{args:?} with {to}: {}",
                stderr(&o)
            );
            assert!(
                stderr(&o).contains("not a plugin name") || stderr(&o).contains("is invalid"),
                "{args:?} with {to}: {}",
                stderr(&o)
            );
        }
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
        assert!(dir.exists());
    }
    std::fs::write(&index_path, &good).unwrap();
    ok(s.kure()
        .args(["plugins", "uninstall", "terraform-generator"]));
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
}
