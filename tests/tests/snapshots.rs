//! What kure prints, as snapshots (`insta`): help, listings, explain, and the messages for bad
//! input, human and JSON. A change to any of them shows up as a diff in review; accept one
//! with `INSTA_UPDATE=always cargo test -p kure-tests --test snapshots` (or `cargo insta
//! review`) after reading it. Under CI a missing or different snapshot fails.

#![allow(clippy::unwrap_used)]

use kure_tests::*;

/// stdout and stderr of a kure command, with the sandbox's path made constant, and its status.
fn shot(s: &Sandbox, args: &[&str], stdin: Option<&str>) -> String {
    let o = run_with_stdin(
        s.kure()
            .args(args)
            .env("COLUMNS", "100")
            .env("NO_COLOR", "1"),
        stdin.unwrap_or(""),
    );
    let sandbox = s.path().display().to_string();
    format!(
        "status: {}\n--- stdout\n{}--- stderr\n{}",
        o.status
            .code()
            .map_or("signal".to_owned(), |c| c.to_string()),
        stdout(&o).replace(&sandbox, "[SANDBOX]"),
        stderr(&o).replace(&sandbox, "[SANDBOX]"),
    )
}

const BAD: &str = "apiVersion: generators.gokure.dev/v1alpha1
kind: AppWorkload
metadata:
  name: shop
spec:
  workload: Deploymnet
  replicas: -1
  containers:
    - name: web
      image: nginx
    - name: api
      imag: api:1
";

#[test]
fn help() {
    let s = Sandbox::new();
    insta::assert_snapshot!("help", shot(&s, &["--help"], None));
    insta::assert_snapshot!("generate_help", shot(&s, &["generate", "--help"], None));
}

#[test]
fn listings() {
    let s = Sandbox::new();
    s.add_plugin(&terraform_lib());
    insta::assert_snapshot!("gvks", shot(&s, &["--allow-unsigned", "gvks"], None));
    insta::assert_snapshot!(
        "gvks_json",
        shot(&s, &["--allow-unsigned", "gvks", "-o", "json"], None)
    );
    insta::assert_snapshot!("plugins_list_empty", shot(&s, &["plugins", "list"], None));
    insta::assert_snapshot!("trust_list_empty", shot(&s, &["trust", "list"], None));
}

#[test]
fn explain() {
    let s = Sandbox::new();
    insta::assert_snapshot!(
        "explain_appworkload",
        shot(&s, &["explain", "AppWorkload"], None)
    );
}

#[test]
fn bad_input_messages() {
    let s = Sandbox::new();
    s.write("apps/shop.yaml", BAD);
    insta::assert_snapshot!("validate_bad", shot(&s, &["validate", "-f", "apps"], None));
    insta::assert_snapshot!(
        "validate_bad_json",
        shot(
            &s,
            &["validate", "--message-format", "json", "-f", "apps"],
            None
        )
    );
    insta::assert_snapshot!(
        "generate_bad_stdin",
        shot(&s, &["generate", "-f", "-"], Some(BAD))
    );
}

#[test]
fn krm_function_results() {
    let s = Sandbox::new();
    let item = list_item(BAD);
    let list = format!("apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems:\n- apiVersion: v1\n  kind: ConfigMap\n  metadata:\n    name: kept\n{item}");
    insta::assert_snapshot!("fn_results", shot(&s, &["fn"], Some(&list)));
}
