//! The official JSON Schema Test Suite (a slice, see `tests/json-schema-test-suite/README.md`)
//! through kure's validator: every case must get the suite's verdict, and every schema kure
//! refuses to use must be one listed here, with the reason.

use std::path::{Path, PathBuf};

use kure_core::validate::CompiledSchema;
use serde_json::Value;

fn suite_files() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("json-schema-test-suite/draft2020-12");
    let mut files = Vec::new();
    let mut dirs = vec![root];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("the suite directory") {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "json") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// Groups whose schema kure refuses on purpose: `(file, group description)` with why.
const REFUSED: &[(&str, &str, &str)] = &[
    (
        "defs.json",
        "validate definition against metaschema",
        REMOTE,
    ),
    ("ref.json", "remote ref, containing refs itself", REMOTE),
    ("ref.json", "Recursive references between schemas", ID),
    ("ref.json", "refs with relative uris and defs", ID),
    ("ref.json", "relative refs with absolute uris and defs", ID),
    (
        "ref.json",
        "$id must be resolved against nearest parent",
        ID,
    ),
    ("ref.json", "order of evaluation: $id and $ref", ID),
    (
        "ref.json",
        "order of evaluation: $id and $anchor and $ref",
        ID,
    ),
    (
        "ref.json",
        "order of evaluation: $id and $ref on nested schema",
        ID,
    ),
    ("ref.json", "simple URN base URI with $ref via the URN", ID),
    ("ref.json", "URN base URI with URN and JSON pointer ref", ID),
    ("ref.json", "URN base URI with URN and anchor ref", ID),
    ("ref.json", "URN ref with nested pointer ref", ID),
    ("ref.json", "ref to if", ID),
    ("ref.json", "ref to then", ID),
    ("ref.json", "ref to else", ID),
    ("ref.json", "ref with absolute-path-reference", ID),
    (
        "unevaluatedProperties.json",
        "unevaluatedProperties with $dynamicRef",
        ID,
    ),
];
/// kure has no network code and reads no files for a schema: only references inside it.
const REMOTE: &str = "a reference to another document";
/// kure follows `#/...` pointers only, so base URIs (`$id`), anchors and `$dynamicRef` are
/// refused rather than resolved differently from the validator. schemars emits none of them.
const ID: &str = "an embedded `$id`, an anchor or a dynamic reference";

/// Cases where kure's verdict differs from the suite's, with why.
const DIFFERENT: &[(&str, &str, &str, &str)] = &[];

#[test]
fn every_case_gets_the_suites_verdict() {
    let files = suite_files();
    assert!(files.len() >= 40, "the suite slice is missing: {files:?}");
    let mut cases = 0;
    let mut refused = Vec::new();
    let mut different = Vec::new();
    for file in &files {
        let name = file
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        let text = std::fs::read_to_string(file).expect("a suite file");
        let groups: Vec<Value> = serde_json::from_str(&text).expect("suite JSON");
        for group in &groups {
            let description = group["description"].as_str().unwrap_or_default();
            let compiled = match CompiledSchema::compile_standard(&group["schema"]) {
                Ok(c) => c,
                Err(why) => {
                    refused.push(format!("{name} / {description}: {why}"));
                    continue;
                }
            };
            for case in group["tests"].as_array().expect("tests") {
                cases += 1;
                let want = case["valid"].as_bool().expect("a verdict");
                let issues = compiled.check(&case["data"]);
                if issues.is_empty() != want {
                    different.push(format!(
                        "{name} / {description} / {}: suite says valid={want}, kure says {issues:?}",
                        case["description"].as_str().unwrap_or_default()
                    ));
                }
            }
        }
    }
    let listed =
        |line: &String, file: &str, group: &str| line.starts_with(&format!("{file} / {group}"));
    let unexpected_refusals: Vec<&String> = refused
        .iter()
        .filter(|r| !REFUSED.iter().any(|(f, g, _)| listed(r, f, g)))
        .collect();
    let unexpected_differences: Vec<&String> = different
        .iter()
        .filter(|d| {
            !DIFFERENT
                .iter()
                .any(|(f, g, c, _)| listed(d, f, &format!("{g} / {c}")))
        })
        .collect();
    assert!(
        unexpected_refusals.is_empty() && unexpected_differences.is_empty(),
        "{cases} cases; refused:\n{}\ndifferent:\n{}",
        unexpected_refusals
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join("\n"),
        unexpected_differences
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert_eq!(
        refused.len(),
        REFUSED.len(),
        "a listed refusal no longer happens: {refused:?}"
    );
    assert_eq!(
        different.len(),
        DIFFERENT.len(),
        "a listed difference no longer happens: {different:?}"
    );
    assert!(cases > 1000, "only {cases} cases ran");
}
