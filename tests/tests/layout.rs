//! The shape of kure-core: no import circles between its files (ARCHITECTURE.md: lower stages
//! never import higher ones). A file's imports are the `crate::...` and `super::...` paths it
//! names outside its tests; each resolves to the longest module path that is a file.

#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use kure_tests::root;

/// Module path (`plugin::process::client`, `""` for lib.rs) to the file's text without its tests
/// and comments.
fn modules(src: &Path) -> BTreeMap<String, (bool, String)> {
    fn walk(dir: &Path, src: &Path, out: &mut BTreeMap<String, (bool, String)>) {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, src, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                let rel = p.strip_prefix(src).unwrap().with_extension("");
                let rel = rel.to_string_lossy().replace('/', "::");
                let is_mod = rel == "lib" || rel.ends_with("::mod") || rel == "mod";
                let name = rel
                    .trim_end_matches("::mod")
                    .trim_start_matches("lib")
                    .to_owned();
                let text = std::fs::read_to_string(&p).unwrap();
                let code = text
                    .split("\n#[cfg(test)]")
                    .next()
                    .unwrap()
                    .split("\n#[cfg(all(test")
                    .next()
                    .unwrap()
                    .lines()
                    .map(|l| l.split("//").next().unwrap())
                    .collect::<Vec<_>>()
                    .join("\n");
                out.insert(name, (is_mod, code));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(src, src, &mut out);
    out
}

/// The paths after `prefix` in `code` (`crate::a::b`, and `use crate::a::{b, c::d}` expanded).
fn paths(code: &str, prefix: &str) -> Vec<String> {
    let ident = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':';
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(i) = rest.find(prefix) {
        let before = rest[..i].chars().last();
        rest = &rest[i + prefix.len()..];
        if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') {
            continue;
        }
        let base: String = rest.chars().take_while(|c| ident(*c)).collect();
        let after = &rest[base.len()..];
        if base.ends_with("::") && after.starts_with('{') {
            let group = &after[1..after.find('}').unwrap_or(after.len() - 1).max(1)];
            for item in group.split(',') {
                let item = item
                    .trim()
                    .trim_start_matches('{')
                    .split(" as ")
                    .next()
                    .unwrap();
                out.push(format!("{base}{}", item.trim()));
            }
        }
        out.push(base.trim_end_matches("::").to_owned());
    }
    out
}

#[test]
fn kure_core_has_no_import_circles() {
    let src = root().join("kure-core/src");
    let mods = modules(&src);
    let resolve = |path: &str| -> Option<String> {
        let mut parts: Vec<&str> = path.split("::").filter(|p| !p.is_empty()).collect();
        while !parts.is_empty() {
            let m = parts.join("::");
            if mods.contains_key(&m) {
                return Some(m);
            }
            parts.pop();
        }
        None
    };
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (m, (is_mod, code)) in &mods {
        // `super::` in `a::b` (a.rs's child b.rs, or b/mod.rs) means `a`.
        let parts: Vec<&str> = m.split("::").filter(|p| !p.is_empty()).collect();
        let parent = parts[..parts.len().saturating_sub(1)].join("::");
        let mut targets: Vec<String> = paths(code, "crate::")
            .into_iter()
            .filter_map(|p| resolve(&p))
            .collect();
        targets.extend(
            paths(code, "super::")
                .into_iter()
                .filter_map(|p| resolve(&format!("{parent}::{p}"))),
        );
        // A module file declares and re-exports its children: that is not an import.
        let own =
            |t: &String| t == m || (*is_mod && (m.is_empty() || t.starts_with(&format!("{m}::"))));
        edges
            .entry(m.clone())
            .or_default()
            .extend(targets.into_iter().filter(|t| !own(t)));
    }
    assert!(
        edges.values().map(BTreeSet::len).sum::<usize>() > 100,
        "the import scan found almost nothing: {edges:?}"
    );

    // Every circle shows as a path back to where it started.
    let mut circles = Vec::new();
    for start in edges.keys() {
        let mut stack = vec![(start.clone(), vec![start.clone()])];
        let mut seen = BTreeSet::new();
        while let Some((at, path)) = stack.pop() {
            for next in edges.get(&at).into_iter().flatten() {
                if next == start {
                    circles.push(path.join(" -> ") + " -> " + start);
                } else if seen.insert(next.clone()) {
                    let mut p = path.clone();
                    p.push(next.clone());
                    stack.push((next.clone(), p));
                }
            }
        }
    }
    assert!(
        circles.is_empty(),
        "kure-core has import circles (move the shared type down a stage):\n{}",
        circles.join("\n")
    );
}

/// Files with one job stay small enough to read: no file of kure-core, kure-plugin-api or
/// kure-cli over 900 lines outside its tests, and each `kure` subcommand file (arguments, one
/// `ops` call, printing) under 150.
#[test]
fn files_stay_small() {
    fn walk(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    let mut files = Vec::new();
    for krate in ["kure-core/src", "kure-plugin-api/src", "kure-cli/src"] {
        walk(&root().join(krate), &mut files);
    }
    let mut big = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        let code = text.split("\n#[cfg(test)]").next().unwrap();
        let lines = code.lines().count();
        let rel = f.strip_prefix(root()).unwrap().display().to_string();
        let limit = if rel.starts_with("kure-cli/src/commands/") {
            150
        } else {
            900
        };
        // A directory of tests (`tests.rs` beside its module) is all test.
        if lines > limit && !rel.ends_with("/tests.rs") {
            big.push(format!("{rel}: {lines} lines (at most {limit})"));
        }
    }
    assert!(big.is_empty(), "split these by job:\n{}", big.join("\n"));
}
