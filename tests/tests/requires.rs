//! `requires` (kure-plugin-api 1.4): a plugin declares a kure range, a kure-plugin-api range,
//! other plugins (name and semver range) and GVKs it needs. kure checks the ranges on every
//! load, `install` resolves plugins and GVKs from the configured indexes (highest satisfying
//! version) or refuses naming both constraints, the store never leaves a requirement unmet,
//! and `lock` / `sync` carry the resolution to every machine. The plugins are the raw-ABI
//! fixture's `req:` mode (see its crate documentation).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use kure_tests::registry::Registry;
use kure_tests::*;

/// The fixture as plugin `mode` (`req:<name>@<version>[:<requirement>]`), signed by the
/// sandbox's trusted key (made by the first call: `author.pub.pem` in the sandbox).
fn req(s: &Sandbox, dir: &str, mode: &str) -> PathBuf {
    let key = s.path().join("author.key.pem");
    if !key.exists() {
        s.trusted_key();
    }
    let lib = rawabi(s, dir, &format!("req:{mode}"));
    openssl_sign(&lib, &key);
    lib
}

fn push(s: &Sandbox, lib: &Path, reference: &str) {
    let o = run(s
        .kure()
        .args(["plugins", "push", "--insecure"])
        .arg(lib)
        .arg(reference));
    assert!(o.status.success(), "{}", stderr(&o));
}

fn install(s: &Sandbox, lib: &Path) -> std::process::Output {
    run(s.kure().args(["plugins", "install", "--insecure"]).arg(lib))
}

fn installed(s: &Sandbox) -> Vec<(String, String)> {
    let listed: serde_json::Value =
        serde_json::from_str(&ok(s.kure().args(["plugins", "list", "-o", "json"]))).unwrap();
    listed
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap().to_owned(),
                p["version"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn pair(name: &str, version: &str) -> (String, String) {
    (name.to_owned(), version.to_owned())
}

#[test]
fn ranges_are_checked_on_load_and_the_store_never_leaves_a_requirement_unmet() {
    let s = Sandbox::new();
    // A plugin for another kure, or another kure-plugin-api, is refused saying which.
    let o = install(&s, &req(&s, "future", "future@1.0.0:kure>=99"));
    expect_failure(
        &o,
        &["requires kure >=99, and this kure is built with kure 0."],
    );
    let o = install(&s, &req(&s, "api", "api@1.0.0:api^2"));
    expect_failure(&o, &["requires kure-plugin-api ^2"]);
    // What a plugin writes is hostile: a range that is not one, a name that is a path.
    let o = install(&s, &req(&s, "bad", "bad@1.0.0:kure banana"));
    expect_failure(
        &o,
        &["declares `requires.kure:  banana`, which is not a semver range"],
    );
    let o = install(&s, &req(&s, "path", "path@1.0.0:../x@^1"));
    expect_failure(
        &o,
        &["requires a plugin named `../x`, which is not a plugin name"],
    );
    // A missing dependency, with no index to find it in, says what to do.
    let app = req(&s, "app", "app@1.0.0:base@^1");
    let o = install(&s, &app);
    expect_failure(
        &o,
        &[
            "plugin app@1.0.0 was not installed",
            "app@1.0.0 requires base ^1, which is not installed and no configured index lists",
            "kure plugins index add",
        ],
    );
    assert!(installed(&s).is_empty());

    // With its dependency installed first, it installs; `info` shows both directions.
    let o = install(&s, &req(&s, "base12", "base@1.2.0"));
    assert!(o.status.success(), "{}", stderr(&o));
    let o = install(&s, &app);
    assert!(o.status.success(), "{}", stderr(&o));
    let info = ok(s.kure().args(["plugins", "info", "app"]));
    assert!(info.contains("Requires:    plugin base ^1"), "{info}");
    let info = ok(s.kure().args(["plugins", "info", "base"]));
    assert!(info.contains("Required by: app@1.0.0"), "{info}");

    // Neither uninstalling the dependency nor moving it out of the range is allowed, and
    // either refusal leaves the store as it was.
    let before = s.store_snapshot();
    let o = run(s.kure().args(["plugins", "uninstall", "base"]));
    expect_failure(
        &o,
        &["base was not uninstalled: plugin app@1.0.0 requires plugin base ^1"],
    );
    let o = install(&s, &req(&s, "base2", "base@2.0.0"));
    expect_failure(
        &o,
        &[
            "plugin base@2.0.0",
            "requires plugin base ^1, not base@2.0.0",
        ],
    );
    assert!(s.store_snapshot() == before, "a refusal changed the store");

    // A GVK requirement: met by an installed plugin, refused when nothing provides it.
    let o = install(&s, &req(&s, "gv", "gv@1.0.0:gvk=Reqbase"));
    assert!(o.status.success(), "{}", stderr(&o));
    let o = install(&s, &req(&s, "gw", "gw@1.0.0:gvk=Nothing"));
    expect_failure(
        &o,
        &["requires a generator of rawabi.kure.dev/v1/Nothing, which neither kure nor an installed plugin provides"],
    );

    // `kure lock` pins what the used plugin requires, and records the edge.
    let specs = s.write(
        "specs.yaml",
        "apiVersion: rawabi.kure.dev/v1\nkind: Reqapp\nmetadata:\n  name: a\nspec: {}\n",
    );
    let lock = s.path().join("kure.lock");
    ok(s.kure()
        .args(["lock", "-f"])
        .arg(&specs)
        .arg("--lock")
        .arg(&lock));
    let text = std::fs::read_to_string(&lock).unwrap();
    assert!(text.contains("rawabi.kure.dev/v1/Reqbase:"), "{text}");
    assert!(text.contains("requires:\n    - base@1.2.0"), "{text}");
    assert!(
        installed(&s).contains(&pair("base", "1.2.0")),
        "{:?}",
        installed(&s)
    );
}

/// Install resolves from the indexes (highest version every constraint allows), refuses a
/// conflict naming both constraints and installs nothing, upgrade stays inside the ranges,
/// an index pointing at the wrong artifact is refused, and a lock syncs dependencies first.
#[test]
fn install_resolves_from_indexes_and_sync_installs_dependencies_first() {
    let Some(reg) = Registry::start("requires resolution") else {
        return;
    };
    let s = Sandbox::new();
    let repo = reg.reference("team/base");
    for v in ["1.0.0", "1.5.0", "2.0.0"] {
        let lib = req(&s, &format!("base-{v}"), &format!("base@{v}"));
        push(&s, &lib, &format!("{repo}:{v}"));
    }
    let app = format!("{}:1.0.0", reg.reference("team/app"));
    push(&s, &req(&s, "app", "app@1.0.0:base@^1"), &app);
    // `liar` is listed as a base for `Reqliar`, but its repository holds base.
    let index = s.write(
        "index.yaml",
        &format!(
            "apiVersion: kure.dev/v1\nkind: PluginIndex\nplugins:\n  - name: base\n    source: {repo}\n    versions: [\"1.0.0\", \"1.5.0\", \"2.0.0\", \"1.9.0-rc.1\"]\n    gvks: [rawabi.kure.dev/v1/Reqbase]\n  - name: liar\n    source: {repo}\n    versions: [\"1.0.0\"]\n    gvks: [rawabi.kure.dev/v1/Reqliar]\n"
        ),
    );
    ok(s.kure()
        .args(["plugins", "index", "add", "team"])
        .arg(&index));

    // An index entry whose artifact is another plugin is refused, and nothing is installed.
    let o = install(&s, &req(&s, "wants-liar", "wl@1.0.0:gvk=Reqliar"));
    expect_failure(&o, &["an index points at", "the index is wrong"]);
    assert!(installed(&s).is_empty(), "{:?}", installed(&s));

    let o = run(s.kure().args(["plugins", "install", "--insecure", &app]));
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("installed base@1.5.0 (required) signed by"),
        "{}",
        stdout(&o)
    );
    assert_eq!(
        installed(&s),
        vec![pair("app", "1.0.0"), pair("base", "1.5.0")]
    );

    // A plugin that wants base 2 conflicts with what is installed: both constraints named.
    let before = s.store_snapshot();
    let o = install(&s, &req(&s, "app2", "apptwo@1.0.0:base@^2"));
    expect_failure(
        &o,
        &[
            "plugin apptwo@1.0.0 was not installed",
            "apptwo@1.0.0 requires plugin base ^2, and base@1.5.0 is installed (app@1.0.0 requires base ^1); these conflict",
        ],
    );
    assert!(
        s.store_snapshot() == before,
        "a refused install changed the store"
    );

    // Upgrade stays in app's range, and says what it held back.
    let o = run(s.kure().args(["plugins", "upgrade", "--insecure", "base"]));
    assert!(o.status.success(), "{}", stderr(&o));
    let all = format!("{}{}", stdout(&o), stderr(&o));
    assert!(
        all.contains("2.0.0 is listed, but app@1.0.0 requires base ^1"),
        "{all}"
    );
    assert!(installed(&s).contains(&pair("base", "1.5.0")));

    // The lock carries the resolution: a fresh machine syncs base before app and renders.
    let specs = s.write(
        "specs.yaml",
        "apiVersion: rawabi.kure.dev/v1\nkind: Reqapp\nmetadata:\n  name: a\nspec: {}\n",
    );
    let lock = s.path().join("kure.lock");
    let o = run(s
        .kure()
        .args(["lock", "--insecure", "-f"])
        .arg(&specs)
        .arg("--lock")
        .arg(&lock));
    assert!(o.status.success(), "{}", stderr(&o));
    let text = std::fs::read_to_string(&lock).unwrap();
    assert!(text.contains("requires:\n    - base@1.5.0"), "{text}");
    let ci = Sandbox::new();
    ok(ci
        .kure()
        .args(["trust", "add"])
        .arg(s.path().join("author.pub.pem")));
    let o = run(ci
        .kure()
        .args(["plugins", "sync", "--insecure", "--lock"])
        .arg(&lock));
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        installed(&ci),
        vec![pair("app", "1.0.0"), pair("base", "1.5.0")]
    );
    let out = ok(ci
        .kure()
        .args(["generate", "--locked", "--lock"])
        .arg(&lock)
        .arg("-f")
        .arg(&specs));
    assert!(out.contains("kind: ConfigMap"), "{out}");
    // base 1.6.0 is released: upgrade takes it (inside app's range) and pins it, and the
    // edge app -> base follows, so a fresh machine syncs the new lock.
    push(
        &s,
        &req(&s, "base-1.6.0", "base@1.6.0"),
        &format!("{repo}:1.6.0"),
    );
    std::fs::write(
        &index,
        std::fs::read_to_string(&index).unwrap().replace(
            "\"2.0.0\", \"1.9.0-rc.1\"",
            "\"2.0.0\", \"1.9.0-rc.1\", \"1.6.0\"",
        ),
    )
    .unwrap();
    let o = run(s
        .kure()
        .args(["plugins", "upgrade", "--insecure", "base", "--lock"])
        .arg(&lock));
    assert!(o.status.success(), "{}", stderr(&o));
    let text = std::fs::read_to_string(&lock).unwrap();
    assert!(text.contains("requires:\n    - base@1.6.0"), "{text}");
    let again = Sandbox::new();
    ok(again
        .kure()
        .args(["trust", "add"])
        .arg(s.path().join("author.pub.pem")));
    let o = run(again
        .kure()
        .args(["plugins", "sync", "--insecure", "--lock"])
        .arg(&lock));
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        installed(&again),
        vec![pair("app", "1.0.0"), pair("base", "1.6.0")]
    );

    // A lock whose edge names a plugin it does not pin is refused before anything runs.
    let broken = text.replace("- base@1.6.0", "- base@9.9.9");
    std::fs::write(&lock, broken).unwrap();
    let fresh = Sandbox::new();
    let o = run(fresh
        .kure()
        .args(["plugins", "sync", "--insecure", "--lock"])
        .arg(&lock));
    expect_failure(&o, &["requires base@9.9.9, which the lock does not pin"]);
    assert!(installed(&fresh).is_empty());
}

/// A plugin that requires two plugins, one of which requires the other (a diamond), and two
/// plugins that require each other (a cycle): each install is one transaction that puts them
/// all in, and the store refuses to take any of them out from under another.
#[test]
fn a_diamond_and_a_cycle_install_in_one_transaction() {
    let Some(reg) = Registry::start("requires diamond") else {
        return;
    };
    let s = Sandbox::new();
    let mut listed = String::from("apiVersion: kure.dev/v1\nkind: PluginIndex\nplugins:\n");
    for (name, mode) in [
        ("a", "a@1.0.0"),
        ("b", "b@1.0.0:a@^1"),
        ("y", "y@1.0.0:x@^1"),
    ] {
        let repo = reg.reference(&format!("team/{name}"));
        push(&s, &req(&s, name, mode), &format!("{repo}:1.0.0"));
        listed.push_str(&format!(
            "  - name: {name}\n    source: {repo}\n    versions: [\"1.0.0\"]\n"
        ));
    }
    let index = s.write("index.yaml", &listed);
    ok(s.kure()
        .args(["plugins", "index", "add", "team"])
        .arg(&index));

    let o = install(&s, &req(&s, "t", "t@1.0.0:a@^1;b@^1"));
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("installed a@1.0.0 (required)"), "{out}");
    assert!(out.contains("installed b@1.0.0 (required)"), "{out}");
    assert_eq!(
        installed(&s),
        vec![pair("a", "1.0.0"), pair("b", "1.0.0"), pair("t", "1.0.0")]
    );
    let o = run(s.kure().args(["plugins", "uninstall", "a"]));
    let err = expect_failure(&o, &["a was not uninstalled"]);
    assert!(
        err.contains("plugin b@1.0.0 requires plugin a ^1")
            && err.contains("plugin t@1.0.0 requires plugin a ^1"),
        "{err}"
    );

    let o = install(&s, &req(&s, "x", "x@1.0.0:y@^1"));
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(installed(&s).contains(&pair("y", "1.0.0")));
    // In a cycle neither can go first; together they can go.
    let o = run(s.kure().args(["plugins", "uninstall", "x"]));
    expect_failure(
        &o,
        &["plugin y@1.0.0 requires plugin x ^1", "or together with it"],
    );
    let out = ok(s.kure().args(["plugins", "uninstall", "x", "y"]));
    assert!(
        out.contains("uninstalled x@1.0.0") && out.contains("uninstalled y@1.0.0"),
        "{out}"
    );
    assert_eq!(
        installed(&s),
        vec![pair("a", "1.0.0"), pair("b", "1.0.0"), pair("t", "1.0.0")]
    );
}
