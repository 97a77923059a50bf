//! kure's YAML read by a YAML 1.1 reader, as kubectl's parser is one: PyYAML (the reference
//! implementation of YAML 1.1, libyaml's loader) reads every golden file as the objects kure
//! generated, and random values, tricky strings among them, come back from kure's emitter as
//! themselves through PyYAML and through kure's own reader (yaml_serde).

#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use kure_tests::*;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestRunner};
use serde_json::Value;

/// Loads each file's documents with PyYAML's safe loader and prints them as JSON (anything
/// JSON cannot hold, such as a date, as a marker that no kure value equals).
const LOAD: &str = "\
import json, sys, yaml
loader = getattr(yaml, 'CSafeLoader', yaml.SafeLoader)
out = []
for path in sys.argv[1:]:
    with open(path, encoding='utf-8') as f:
        out.append([d for d in yaml.load_all(f, Loader=loader)])
print(json.dumps(out, default=lambda o: {'not JSON': repr(o)}, allow_nan=False))
";

/// Each file's documents as PyYAML reads them, blank documents left out.
fn pyyaml(files: &[PathBuf]) -> Vec<Vec<Value>> {
    let o = std::process::Command::new("python3")
        .args(["-c", LOAD])
        .args(files)
        .output()
        .expect("python3");
    assert!(
        o.status.success(),
        "PyYAML refused kure's YAML: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let all: Vec<Vec<Value>> = serde_json::from_slice(&o.stdout).unwrap();
    all.into_iter()
        .map(|docs| docs.into_iter().filter(|d| !d.is_null()).collect())
        .collect()
}

/// Reads each text (one YAML document) on its own with PyYAML: its value, or the error.
const LOAD_EACH: &str = "\
import json, sys, yaml
loader = getattr(yaml, 'CSafeLoader', yaml.SafeLoader)
out = []
for text in json.load(sys.stdin):
    try:
        out.append({'value': yaml.load(text, Loader=loader)})
    except Exception as e:
        out.append({'error': str(e)})
print(json.dumps(out, default=lambda o: {'not JSON': repr(o)}, allow_nan=False))
";

fn pyyaml_each(texts: &[String]) -> Vec<Result<Value, String>> {
    let input = serde_json::to_string(texts).unwrap();
    let o = run_with_stdin(
        std::process::Command::new("python3").args(["-c", LOAD_EACH]),
        &input,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let all: Vec<Value> = serde_json::from_slice(&o.stdout).unwrap();
    all.into_iter()
        .map(|r| match r.get("error") {
            Some(e) => Err(e.to_string()),
            None => Ok(r["value"].clone()),
        })
        .collect()
}

#[test]
fn every_golden_file_reads_in_yaml_1_1_as_the_objects_kure_made() {
    let test = "every_golden_file_reads_in_yaml_1_1_as_the_objects_kure_made";
    if !have_python_module("yaml", test, "pip install pyyaml") {
        return;
    }
    let mut goldens: Vec<PathBuf> = std::fs::read_dir(root().join("tests/golden"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    goldens.sort();
    assert!(goldens.len() >= 7, "{goldens:?}");
    let s = Sandbox::new();
    s.add_plugin(&terraform_lib());
    for (golden, read) in goldens.iter().zip(pyyaml(&goldens)) {
        // What kure made, without YAML in between.
        // Goldens of examples/, and `fields-NAME.yaml` of tests/fixtures/fields/NAME.yaml.
        let name = golden.file_name().unwrap().to_string_lossy().into_owned();
        let example = match name.strip_prefix("fields-") {
            Some(fixture) => root().join("tests/fixtures/fields").join(fixture),
            None => root().join("examples").join(&name),
        };
        let o = run(s
            .kure()
            .args(["--allow-unsigned", "generate", "--format", "json", "-f"])
            .arg(&example));
        assert!(o.status.success(), "{}", stderr(&o));
        let list: Value = serde_json::from_str(&stdout(&o)).unwrap();
        let objects = list["items"].as_array().unwrap();
        assert!(!objects.is_empty());
        assert_eq!(&read, objects, "{}", golden.display());
    }
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        proptest::sample::select(kure_core::fuzz::TRICKY_SCALARS.to_vec()).prop_map(str::to_owned),
        proptest::collection::vec(
            proptest::sample::select(kure_core::fuzz::TRICKY_SCALARS.to_vec()),
            1..4
        )
        .prop_map(|v| v.concat()),
        "[ -~]{0,12}",
        "[a-z0-9\n :#'\".,-]{0,16}",
        "\\PC{0,6}",
        // Longer than an implicit key may be.
        "[a-z .]{1020,1040}",
    ]
}

fn value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("JSON numbers are finite", |f| f.is_finite())
            .prop_map(Value::from),
        // Floats printed with an exponent and no dot, or as many digits.
        proptest::sample::select(vec![
            1e300, 1e21, -1e22, 5e-324, 1e16, 1e15, 0.1, -0.0, 2.5e-8
        ])
        .prop_map(Value::from),
        text().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            proptest::collection::btree_map(text(), inner, 0..5)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

#[test]
fn random_values_read_back_as_themselves_in_yaml_1_1_and_1_2() {
    let test = "random_values_read_back_as_themselves_in_yaml_1_1_and_1_2";
    let mut runner = TestRunner::new(Config {
        cases: 2000,
        failure_persistence: None,
        ..Config::default()
    });
    // kure's reader (yaml_serde, YAML 1.2 rules), case by case, shrinking a failure.
    runner
        .run(&value(), |v| {
            // A plugin's answer holding it is transcoded to the same YAML.
            let object = match &v {
                Value::Object(_) => v.clone(),
                other => serde_json::json!({ "metadata": { "name": other }, "v": other }),
            };
            kure_core::fuzz::transcoder(&[object]);
            let yaml = kure_core::output::emit::to_string(&v);
            let back: Value = yaml_serde::from_str(&yaml)
                .map_err(|e| TestCaseError::fail(format!("{e}:\n{yaml}")))?;
            prop_assert_eq!(&back, &v, "{}", yaml);
            Ok(())
        })
        .unwrap();
    if !have_python_module("yaml", test, "pip install pyyaml") {
        return;
    }
    // PyYAML (YAML 1.1), in one run over a file of many documents.
    let mut runner = TestRunner::deterministic();
    let values: Vec<Value> = (0..2000)
        .map(|_| value().new_tree(&mut runner).unwrap().current())
        .filter(|v| !v.is_null())
        .collect();
    let docs: Vec<String> = values
        .iter()
        .map(kure_core::output::emit::to_string)
        .collect();
    let read = pyyaml_each(&docs);
    assert_eq!(read.len(), values.len());
    let mut wrong = Vec::new();
    for ((v, back), yaml) in values.iter().zip(&read).zip(&docs) {
        if back.as_ref() != Ok(v) {
            wrong.push(format!("{v}\n  as YAML:\n{yaml}  PyYAML: {back:?}"));
        }
    }
    assert!(
        wrong.is_empty(),
        "PyYAML reads {} of {} values differently; the smallest:\n{}",
        wrong.len(),
        values.len(),
        {
            wrong.sort_by_key(String::len);
            wrong[..wrong.len().min(5)].join("\n")
        }
    );
}
