//! Resolution without plugins to run: what the engine touches (and does not) for built-ins,
//! for GVKs nobody provides, and under a lock.

use super::*;

/// A plugin directory holding a library that is not a kure plugin (no root module): one kure
/// would skip, never run.
fn dir_with_a_non_plugin() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::write(dir.path().join("libplain.so"), b"\x7fELF plain").expect("write");
    dir
}

fn engine(dir: &std::path::Path) -> Engine {
    Engine::new(EngineOptions {
        plugin_dirs: vec![dir.to_path_buf()],
        ..EngineOptions::default()
    })
}

fn gvk(av: &str, kind: &str) -> Gvk {
    Gvk::parse(av, kind).expect("gvk")
}

#[test]
fn a_built_in_gvk_is_resolved_without_looking_at_any_plugin_directory() {
    let dir = dir_with_a_non_plugin();
    let mut e = engine(dir.path());
    e.resolve_gvks(&[gvk("generators.gokure.dev/v1alpha1", "AppWorkload")])
        .expect("resolved");
    assert!(e.plugins().is_empty());
    assert!(e.skipped().is_empty(), "scanned: {:?}", e.skipped());
    assert!(e
        .plugin_for(&gvk("generators.gokure.dev/v1alpha1", "AppWorkload"))
        .is_none());
}

#[test]
fn a_gvk_nobody_provides_stays_unregistered_and_non_plugins_are_skipped_with_a_reason() {
    let dir = dir_with_a_non_plugin();
    let mut e = engine(dir.path());
    let wanted = gvk("nobody.example.com/v1", "Thing");
    e.resolve_gvks(std::slice::from_ref(&wanted))
        .expect("nothing to load is not an error here");
    assert!(e.registry().get(&wanted).is_none());
    assert!(e.plugins().is_empty());
    let skipped: Vec<String> = e
        .skipped()
        .iter()
        .map(|(p, _)| p.display().to_string())
        .collect();
    assert!(
        skipped.iter().any(|p| p.ends_with("libplain.so")),
        "{skipped:?}"
    );
    assert!(e.skipped().iter().all(|(_, why)| !why.is_empty()));
}

fn lock_file(dir: &std::path::Path, text: &str) -> Lock {
    let path = dir.join("kure.lock");
    std::fs::write(&path, text).expect("lock");
    Lock::read(&path).expect("a valid lock")
}

#[test]
fn under_a_lock_a_gvk_it_does_not_pin_loads_nothing_and_scans_nothing() {
    let dir = dir_with_a_non_plugin();
    let mut e = engine(dir.path());
    e.set_lock(lock_file(dir.path(), "version: 1\nplugins: {}\n"));
    e.resolve_gvks(&[gvk("nobody.example.com/v1", "Thing")])
        .expect("unpinned: left to validation");
    assert!(e.plugins().is_empty());
    assert!(e.skipped().is_empty(), "scanned: {:?}", e.skipped());
}

#[test]
fn under_a_lock_a_pinned_gvk_whose_bytes_are_nowhere_is_refused_naming_the_pin() {
    let dir = dir_with_a_non_plugin();
    let mut e = engine(dir.path());
    e.set_lock(lock_file(
        dir.path(),
        &format!(
            "version: 1\nplugins:\n  nobody.example.com/v1/Thing:\n    plugin: thing\n    version: 1.0.0\n    sha256: {}\n    signer: unsigned\n",
            "ab".repeat(32)
        ),
    ));
    let err = e
        .resolve_gvks(&[gvk("nobody.example.com/v1", "Thing")])
        .expect_err("refused");
    let text = err.to_string();
    for needle in [
        "kure.lock",
        "nobody.example.com/v1/Thing",
        "thing@1.0.0",
        "no library was loaded",
    ] {
        assert!(text.contains(needle), "{needle}: {text}");
    }
    assert!(e.plugins().is_empty());
}
