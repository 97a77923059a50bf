//! Replays every fuzz target's seeds (`kure-core/fuzz/corpus/TARGET/`) and the inputs of past
//! findings (`kure-core/fuzz/regressions/TARGET/`) through the target's body, so `make test`
//! keeps what fuzzing found fixed without running a fuzzer. `make fuzz` runs the fuzzers.

use std::path::{Path, PathBuf};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../kure-core/fuzz")
}

fn inputs(kind: &str, target: &str) -> Vec<PathBuf> {
    let dir = fuzz_dir().join(kind).join(target);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.expect("readable corpus directory").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

#[test]
fn every_target_has_seeds_and_a_dictionary() {
    for target in kure_core::fuzz::TARGETS {
        assert!(
            inputs("corpus", target).len() >= 3,
            "fuzz target {target} needs seeds in kure-core/fuzz/corpus/{target}/"
        );
        assert!(
            fuzz_dir()
                .join("dict")
                .join(format!("{target}.dict"))
                .is_file(),
            "fuzz target {target} needs kure-core/fuzz/dict/{target}.dict"
        );
        assert!(
            fuzz_dir()
                .join("fuzz_targets")
                .join(format!("{target}.rs"))
                .is_file(),
            "fuzz target {target} has no binary in kure-core/fuzz/fuzz_targets/"
        );
    }
}

#[test]
fn seeds_and_past_findings_pass_every_target() {
    let mut ran = 0;
    for target in kure_core::fuzz::TARGETS {
        for file in inputs("corpus", target)
            .into_iter()
            .chain(inputs("regressions", target))
        {
            let data = std::fs::read(&file).expect("readable input");
            let outcome = std::panic::catch_unwind(|| kure_core::fuzz::run(target, &data));
            assert!(
                outcome.is_ok(),
                "fuzz target {target} fails on {}",
                file.display()
            );
            ran += 1;
        }
    }
    assert!(ran >= 20, "only {ran} inputs replayed");
}

/// The seeds reach what they are there for: if they stopped doing so (a renamed field, a key
/// that no longer parses), the fuzzers would start from nothing.
#[test]
fn seeds_reach_the_deep_paths() {
    let read = |target: &str, name: &str| {
        std::fs::read(fuzz_dir().join("corpus").join(target).join(name)).expect("seed")
    };
    // A valid built-in spec generates objects (the emitter round trip then runs on them).
    let text = String::from_utf8(read("spec", "shop.yaml")).expect("UTF-8");
    let (mut docs, mut problems) = (Vec::new(), Vec::new());
    kure_core::decode_str(Path::new("shop.yaml"), &text, &mut docs, &mut problems);
    assert!(problems.is_empty(), "{problems:?}");
    let engine = kure_core::Engine::new(kure_core::EngineOptions::default());
    engine.validate(&docs).expect("the shop seed is valid");
    assert!(engine.generate_one(&docs[0]).expect("generates").len() >= 3);
    // The emitter seed is valid too, so its strings reach the emitter.
    let text = String::from_utf8(read("spec", "emitter-strings.yaml")).expect("UTF-8");
    let (mut docs, mut problems) = (Vec::new(), Vec::new());
    kure_core::decode_str(Path::new("e.yaml"), &text, &mut docs, &mut problems);
    assert!(problems.is_empty(), "{problems:?}");
    engine.validate(&docs).expect("the emitter seed is valid");
    // The key seeds parse.
    for seed in ["fixed-other-sig", "k4096-valid-sig", "pkcs1"] {
        let data = read("keys", seed);
        let len = usize::from(u16::from_le_bytes([data[0], data[1]]));
        let pem = String::from_utf8(data[2..2 + len].to_vec()).expect("UTF-8");
        kure_core::trust::PublicKey::from_pem(&pem, Path::new(seed)).expect("the seed key parses");
    }
    // The index and lock seeds are accepted (but the traversal one).
    let home = tempfile::tempdir().expect("tempdir");
    let plugins = home.path().join("plugins");
    std::fs::create_dir_all(&plugins).expect("mkdir");
    let store = kure_core::Store::new(home.path());
    for seed in ["content-layout.json", "old-layout.json", "two.json"] {
        std::fs::write(plugins.join("index.json"), read("index", seed)).expect("write");
        store.read_index().expect("the index seed is accepted");
    }
    std::fs::write(plugins.join("index.json"), read("index", "traversal.json")).expect("write");
    assert!(store.read_index().is_err());
    for seed in ["one.lock", "two.lock"] {
        let path = home.path().join(seed);
        std::fs::write(&path, read("lock", seed)).expect("write");
        assert!(!kure_core::store::lockfile::read(&path)
            .expect("the lock seed is accepted")
            .is_empty());
    }
}
