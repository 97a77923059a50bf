//! Bad input: each case exits 1 with a message naming file, line and field (or plugin), and
//! writes nothing.

#![allow(clippy::unwrap_used)]

use kure_tests::*;

const HEAD: &str =
    "apiVersion: generators.gokure.dev/v1alpha1\nkind: AppWorkload\nmetadata:\n  name: web\n";

/// Generates `contents` to stdout and to `-o out` with an earlier output in place; both must
/// fail, and the earlier output must be untouched.
fn fails(contents: &str, needles: &[&str]) -> String {
    let s = Sandbox::new();
    let good = s.write("good.yaml", &format!("{HEAD}spec:\n  workload: Deployment\n  containers:\n    - name: web\n      image: nginx\n"));
    let out = s.path().join("out");
    let o = run(s
        .kure()
        .args(["generate", "-f"])
        .arg(&good)
        .arg("-o")
        .arg(&out));
    assert!(o.status.success(), "{}", stderr(&o));
    let before = std::fs::read_to_string(out.join("default/web/deployment-web.yaml")).unwrap();

    let f = s.write("apps/bad.yaml", contents);
    let err = expect_failure(&run(s.kure().args(["generate", "-f"]).arg(&f)), needles);
    let o = run(s
        .kure()
        .args(["generate", "-f"])
        .arg(&f)
        .arg("-o")
        .arg(&out));
    expect_failure(&o, needles);
    assert_eq!(
        std::fs::read_to_string(out.join("default/web/deployment-web.yaml")).unwrap(),
        before
    );
    let entries: Vec<_> = std::fs::read_dir(s.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(
        !entries
            .iter()
            .any(|n| n.to_string_lossy().contains("kure-staging")),
        "{entries:?}"
    );
    err
}

#[test]
fn yaml_syntax_error_names_file_and_line() {
    fails(
        &format!("{HEAD}spec:\n  workload: Deployment\n  containers: [\n"),
        &["bad.yaml:", "YAML syntax error"],
    );
    let err = fails(
        &format!(
            "{HEAD}spec:\n  workload: Deployment\n  containers:\n    - name: a\n     image: b\n"
        ),
        &["YAML syntax error"],
    );
    assert!(
        err.contains("bad.yaml:9") || err.contains("bad.yaml:8"),
        "{err}"
    );
}

#[test]
fn missing_api_version_or_kind() {
    fails(
        "kind: AppWorkload\nmetadata:\n  name: web\n",
        &["bad.yaml:1", "missing `apiVersion`"],
    );
    fails(
        "apiVersion: generators.gokure.dev/v1alpha1\nmetadata:\n  name: web\n",
        &["bad.yaml:1", "missing `kind`"],
    );
}

#[test]
fn unknown_gvk_lists_the_nearest_registered() {
    fails(
        "apiVersion: generators.gokure.dev/v1alpha1\nkind: AppWorkloads\nmetadata:\n  name: web\n",
        &[
            "bad.yaml:2",
            "no generator for",
            "did you mean generators.gokure.dev/v1alpha1/AppWorkload",
        ],
    );
}

#[test]
fn unknown_field_names_path_line_and_closest_name() {
    fails(
        &format!("{HEAD}spec:\n  workload: Deployment\n  containers:\n    - name: web\n      image: nginx\n      port:\n        - containerPort: 80\n"),
        &["bad.yaml:10", "spec.containers[0].port", "unknown field `port`", "did you mean `ports`?"],
    );
}

#[test]
fn wrong_type_names_the_field() {
    fails(
        &format!("{HEAD}spec:\n  workload: Deployment\n  replicas: three\n  containers:\n    - name: web\n      image: nginx\n"),
        &["bad.yaml:7", "spec.replicas", "expected integer", "found string `three`"],
    );
}

#[test]
fn invalid_workload_lists_valid_values() {
    fails(
        &format!("{HEAD}spec:\n  workload: CronJob\n  containers:\n    - name: web\n      image: nginx\n"),
        &["bad.yaml:6", "spec.workload", "Deployment", "StatefulSet", "DaemonSet"],
    );
}

#[test]
fn cross_field_rules_are_checked_before_generation() {
    fails(
        &format!("{HEAD}spec:\n  workload: DaemonSet\n  replicas: 2\n  containers:\n    - name: web\n      image: nginx\n      volumeMounts:\n        - name: data\n          mountPath: /data\n"),
        &["spec.replicas", "DaemonSet", "spec.containers[0].volumeMounts[0].name", "no volume or volumeClaimTemplate named `data`"],
    );
}

#[test]
fn every_problem_is_reported_in_one_run() {
    let err = fails(
        &format!("{HEAD}spec:\n  workload: Deployment\n  replicas: x\n  containers: []\n---\napiVersion: nope/v1\nkind: Nothing\nmetadata:\n  name: other\n"),
        &["problems in the input", "spec.replicas", "no generator for apiVersion `nope/v1`"],
    );
    assert!(err.contains("bad.yaml:11"), "{err}");
}

#[test]
fn usage_errors_exit_2() {
    let s = Sandbox::new();
    let o = run(s.kure().arg("generate"));
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let o = run(s.kure().arg("no-such-command"));
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn missing_input_path_and_empty_dir() {
    let s = Sandbox::new();
    expect_failure(
        &run(s.kure().args(["generate", "-f", "does-not-exist"])),
        &["does-not-exist"],
    );
    std::fs::create_dir(s.path().join("empty")).unwrap();
    expect_failure(
        &run(s.kure().args(["generate", "-f", "empty"])),
        &["no YAML documents found in empty"],
    );
}

#[test]
fn output_dir_not_written_by_kure_is_refused() {
    let s = Sandbox::new();
    let f = s.write("a.yaml", &format!("{HEAD}spec:\n  workload: Deployment\n  containers:\n    - name: web\n      image: nginx\n"));
    s.write("mine/notes.txt", "precious");
    expect_failure(
        &run(s
            .kure()
            .args(["generate", "-f"])
            .arg(&f)
            .args(["-o", "mine"])),
        &["not written by kure"],
    );
    assert_eq!(
        std::fs::read_to_string(s.path().join("mine/notes.txt")).unwrap(),
        "precious"
    );
}
