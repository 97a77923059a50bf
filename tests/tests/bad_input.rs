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
    // Issue 29: `kure validate` refuses what `generate` refuses, with the same problems.
    let validated = expect_failure(&run(s.kure().args(["validate", "-f"]).arg(&f)), needles);
    assert_eq!(validated, err, "validate and generate disagree");
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
fn a_field_of_the_second_item_is_placed_on_its_own_line() {
    // The line of `containers[1].image`, not of `containers[0].image` (a line search for the
    // key names in turn found the first item's).
    fails(
        &format!("{HEAD}spec:\n  workload: Deployment\n  containers:\n    - name: a\n      image: nginx\n    - name: b\n      image: 5\n"),
        &["bad.yaml:11", "spec.containers[1].image", "expected string"],
    );
    // In flow style over several lines.
    fails(
        &format!(
            "{HEAD}spec:\n  workload: Deployment\n  containers: [{{name: a,\n    image: 5}}]\n"
        ),
        &["bad.yaml:8", "spec.containers[0].image"],
    );
}

#[test]
fn documents_are_where_the_parser_says() {
    let s = Sandbox::new();
    let spec =
        "spec:\n  workload: Deployment\n  containers:\n    - name: web\n      image: nginx\n";
    let named = |n: &str| HEAD.replace("name: web", &format!("name: {n}"));
    // Document-end markers, a directive, a document on its marker line, and Windows line
    // breaks: the same apps as the plain file.
    let plain = s.write(
        "plain.yaml",
        &format!("{}{spec}---\n{}{spec}", named("a"), named("b")),
    );
    let marked = s.write(
        "marked.yaml",
        &format!(
            "{}{spec}...\n%YAML 1.2\n---\n{}{spec}...\n",
            named("a"),
            named("b")
        ),
    );
    let crlf = s.write(
        "crlf.yaml",
        &format!("{}{spec}---\n{}{spec}", named("a"), named("b")).replace('\n', "\r\n"),
    );
    let expected = ok(s.kure().args(["generate", "-f"]).arg(&plain));
    assert!(expected.contains("name: b"), "{expected}");
    assert_eq!(ok(s.kure().args(["generate", "-f"]).arg(&marked)), expected);
    assert_eq!(ok(s.kure().args(["generate", "-f"]).arg(&crlf)), expected);
    // Lines still count from the parser's documents: the second app's bad field.
    let bad = s.write(
        "bad.yaml",
        &format!(
            "{}{spec}...\n%YAML 1.2\n---\n{}{}",
            named("a"),
            named("b"),
            spec.replace("nginx", "[1]")
        ),
    );
    let o = run(s.kure().args(["generate", "-f"]).arg(&bad));
    expect_failure(&o, &["bad.yaml:21", "spec.containers[0].image"]);
}

#[test]
fn what_yaml_readers_read_differently_is_refused_naming_the_line() {
    let spec =
        "spec:\n  workload: Deployment\n  containers:\n    - name: web\n      image: nginx\n";
    // A line separator in a comment: a line break to YAML 1.1 readers, text to YAML 1.2.
    fails(
        &format!("{HEAD}{spec}  # note\u{2028}x\n"),
        &["bad.yaml:10", "U+2028", "\\u2028"],
    );
    // A byte-order mark after the start (one at the start is accepted).
    fails(
        &format!("{HEAD}---\n\u{feff}{HEAD}{spec}"),
        &["bad.yaml:6", "byte-order mark"],
    );
    // A %TAG directive, which would change what the next document's tags mean.
    fails(
        &format!("{HEAD}{spec}...\n%TAG !! tag:example.com,2000:\n---\n{HEAD}{spec}"),
        &["bad.yaml:11", "%TAG"],
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

const GOOD_SPEC: &str =
    "spec:\n  workload: Deployment\n  containers:\n    - name: web\n      image: nginx\n";

/// Runs `cmd`, killing it after `secs`: a hang is a failure, not a stuck test run.
fn run_within(cmd: &mut std::process::Command, secs: u64) -> std::process::Output {
    use std::process::Stdio;
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("kure did not finish within {secs} s");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    // The second document nests 10,000 block sequences (about 50 MB): it reaches a worker
    // thread's 2 MiB stack in a recursive parser.
    let mut text = format!("{HEAD}{GOOD_SPEC}---\n{HEAD}spec:\n  x:\n");
    for i in 0..10_000 {
        text.push_str(&" ".repeat(4 + i));
        text.push_str("-\n");
    }
    let err = fails(&text, &["bad.yaml:", "nested more than 64 levels deep"]);
    assert!(err.len() < 2_000, "{err}");
    // Flow style goes through the other parser: the same limit.
    let flow = format!(
        "{HEAD}spec:\n  x: {}{}\n",
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    fails(&flow, &["bad.yaml:", "nested more than 64 levels deep"]);
}

#[test]
fn duplicate_keys_name_both_lines() {
    fails(
        &format!("{HEAD}spec:\n  workload: Deployment\n  containers:\n    - name: web\n      image: nginx\n      image: httpd\n"),
        &["bad.yaml:10:", "duplicate key `image`", "also on line 9"],
    );
    // Outside the fast path's subset (a block scalar), the same answer.
    fails(
        &format!("{HEAD}spec:\n  workload: Deployment\n  containers:\n    - name: web\n      image: |\n        nginx\n      name: again\n"),
        &["bad.yaml:11:", "duplicate key `name`", "also on line 8"],
    );
}

#[test]
fn devices_and_fifos_are_refused_at_once() {
    let s = Sandbox::new();
    let o = run_within(s.kure().args(["generate", "-f", "/dev/zero"]), 20);
    expect_failure(&o, &["/dev/zero: is a character device", "-f -"]);
    let fifo = s.path().join("apps.yaml");
    assert!(std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    // No writer: reading it would block forever.
    let o = run_within(s.kure().args(["generate", "-f", "apps.yaml"]), 20);
    expect_failure(&o, &["apps.yaml: is a FIFO"]);
    // kure's own small files too: a lock, a key.
    let spec = s.write("ok.yaml", &format!("{HEAD}{GOOD_SPEC}"));
    let o = run_within(
        s.kure()
            .args(["generate", "--lock", "apps.yaml", "-f"])
            .arg(&spec),
        20,
    );
    expect_failure(&o, &["apps.yaml", "it is a FIFO", "regular file"]);
    let o = run_within(s.kure().args(["trust", "add", "/dev/zero"]), 20);
    expect_failure(&o, &["/dev/zero", "it is a character device"]);
    // In a directory too.
    std::fs::create_dir(s.path().join("dir")).unwrap();
    std::fs::rename(&fifo, s.path().join("dir/apps.yaml")).unwrap();
    let o = run_within(s.kure().args(["validate", "-f", "dir"]), 20);
    expect_failure(&o, &["dir/apps.yaml: is a FIFO"]);
}

#[test]
fn stdin_is_read_with_dash_and_limited() {
    let s = Sandbox::new();
    let spec = format!("{HEAD}{GOOD_SPEC}");
    let feed = |args: &[&str], input: &str| run_with_stdin(s.kure().args(args), input);
    let o = feed(&["generate", "-f", "-"], &spec);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("kind: Deployment"), "{}", stdout(&o));
    let f = s.write("file.yaml", &spec);
    let direct = ok(s.kure().args(["generate", "-f"]).arg(&f));
    assert_eq!(stdout(&o), direct);
    // Errors name <stdin>.
    let o = feed(
        &["generate", "-f", "-"],
        &format!("{HEAD}spec:\n  nope: 1\n"),
    );
    expect_failure(&o, &["<stdin>:6", "unknown field `nope`"]);
    // The size limit holds for a stream that never ends.
    let o = feed(
        &["generate", "-f", "-", "--max-input-bytes", "1KiB"],
        &"# padding\n".repeat(10_000),
    );
    expect_failure(
        &o,
        &["<stdin>: goes on past the 1 KiB limit", "--max-input-bytes"],
    );
}

#[test]
fn input_size_limit_is_clear_and_adjustable() {
    let s = Sandbox::new();
    let f = s.write("a.yaml", &format!("{HEAD}{GOOD_SPEC}"));
    let size = std::fs::metadata(&f).unwrap().len();
    let o = run(s
        .kure()
        .args(["generate", "--max-input-bytes", "100", "-f"])
        .arg(&f));
    expect_failure(
        &o,
        &[
            &format!("a.yaml: is {size} bytes, more than the 100 bytes limit"),
            "--max-input-bytes",
        ],
    );
    let o = run(s
        .kure()
        .env("KURE_MAX_INPUT_BYTES", "100")
        .args(["validate", "-f"])
        .arg(&f));
    expect_failure(&o, &["more than the 100 bytes limit"]);
    ok(s.kure()
        .args(["generate", "--max-input-bytes", "1KiB", "-f"])
        .arg(&f));
    let o = run(s
        .kure()
        .args(["generate", "--max-input-bytes", "lots", "-f"])
        .arg(&f));
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("is not a size"), "{}", stderr(&o));
}

#[test]
fn a_byte_order_mark_is_accepted() {
    let s = Sandbox::new();
    let f = s.write("bom.yaml", &format!("\u{feff}{HEAD}{GOOD_SPEC}"));
    let plain = s.write("plain.yaml", &format!("{HEAD}{GOOD_SPEC}"));
    assert_eq!(
        ok(s.kure().args(["generate", "-f"]).arg(&f)),
        ok(s.kure().args(["generate", "-f"]).arg(&plain))
    );
}

#[test]
fn hostile_text_is_cut_and_escaped_in_messages() {
    let long = "z".repeat(1_000_000);
    let err = fails(
        &format!(
            "{HEAD}spec:\n  workload: Deployment\n  containers:\n    - name: web\n      image: nginx\n  ? {long}\n  : 1\n  \"\\e[31mred\\u202e\": 2\n"
        ),
        &["unknown field `zzzz", "…", "\\u{1b}[31mred\\u{202e}"],
    );
    assert!(err.len() < 2_000, "a {} byte message", err.len());
    assert!(
        !err.contains('\u{1b}') && !err.contains('\u{202e}'),
        "{err}"
    );
}

#[test]
fn generate_into_a_directory_it_reads_can_repeat() {
    let s = Sandbox::new();
    s.write("apps/a.yaml", &format!("{HEAD}{GOOD_SPEC}"));
    // Hidden directories are not specs: neither is an editor's or git's.
    s.write(".git/config.yaml", "not: [a spec\n");
    s.write("apps/.backup/a.yaml", "not: [a spec\n");
    let first = ok(s.kure().args(["generate", "-f", ".", "-o", "out"]));
    let tree =
        std::fs::read_to_string(s.path().join("out/default/web/deployment-web.yaml")).unwrap();
    // The second run walks over out/ (and any other kure output) without reading it.
    let second = ok(s.kure().args(["generate", "-f", ".", "-o", "out"]));
    assert_eq!(first, second);
    ok(s.kure().args(["generate", "-f", ".", "-o", "elsewhere"]));
    ok(s.kure().args(["generate", "-f", ".", "-o", "out"]));
    assert_eq!(
        std::fs::read_to_string(s.path().join("out/default/web/deployment-web.yaml")).unwrap(),
        tree
    );
    // A link loop is an error naming the link, not an endless walk.
    std::os::unix::fs::symlink(s.path().join("apps"), s.path().join("apps/again")).unwrap();
    let o = run_within(s.kure().args(["generate", "-f", "apps"]), 20);
    expect_failure(&o, &["apps/again", "does not follow link loops"]);
}

#[test]
fn names_the_built_ins_emit_follow_kubernetes_rules() {
    let flux = "apiVersion: generators.gokure.dev/v1alpha1\nkind: FluxHelm\nmetadata:\n  name: podinfo\nspec:\n  chart:\n    name: podinfo\n  source:\n    type: HelmRepository\n    url: https://example.com/charts\n    refName: ../../x\n  valuesFrom:\n    - kind: ConfigMap\n      name: Values_1\n  targetNamespace: a.b\n";
    let err = fails(
        flux,
        &[
            "spec.source.refName",
            "`../../x` is not a valid source object name",
            "DNS-1123 subdomain",
            "spec.valuesFrom[0].name",
            "`Values_1`",
            "spec.targetNamespace",
            "DNS-1123 label",
        ],
    );
    assert!(err.contains("bad.yaml:11"), "{err}");
    fails(
        &format!("{HEAD}spec:\n  workload: Deployment\n  containers:\n    - name: web\n      image: nginx\n      volumeMounts:\n        - name: Data\n          mountPath: /d\n  volumes:\n    - name: Data\n      secret:\n        name: /etc/passwd\n  ingress:\n    host: a/../b\n    servicePortName: http\n"),
        &[
            "spec.volumes[0].name",
            "`Data` is not a valid volume name",
            "spec.volumes[0].secret.name",
            "`/etc/passwd` is not a valid Secret name",
            "spec.ingress.host",
        ],
    );
}

#[test]
fn thousands_of_problems_in_one_spec_are_cut_to_the_first_hundred() {
    let s = Sandbox::new();
    let items: String = (0..5000).map(|i| format!("    - name: c{i}\n")).collect();
    let f = s.write(
        "many.yaml",
        &format!("{HEAD}spec:\n  workload: Deployment\n  containers:\n{items}"),
    );
    let o = run(s.kure().args(["validate", "-f"]).arg(&f));
    let err = expect_failure(
        &o,
        &[
            "many.yaml:8:",
            "spec.containers[0].image",
            "more problems than the first 100 shown",
        ],
    );
    assert_eq!(
        err.matches("missing required field `image`").count(),
        100,
        "{err}"
    );
}

/// Issue 30: `metadata.labels.app: web-frontend` was silently replaced by `app: <name>` on
/// every object. It is refused, naming the field; `app: <name>` itself is fine.
#[test]
fn an_app_label_other_than_the_name_is_refused_not_overwritten() {
    fails(
        "apiVersion: generators.gokure.dev/v1alpha1\nkind: AppWorkload\nmetadata:\n  name: web\n  labels:\n    app: web-frontend\n    tier: front\nspec:\n  workload: Deployment\n  containers:\n    - name: web\n      image: nginx\n",
        &["bad.yaml", "metadata.labels.app is `web-frontend`", "`app: web`"],
    );
    let s = Sandbox::new();
    let same = s.write(
        "same.yaml",
        "apiVersion: generators.gokure.dev/v1alpha1\nkind: AppWorkload\nmetadata:\n  name: web\n  labels:\n    app: web\nspec:\n  workload: Deployment\n  containers:\n    - name: web\n      image: nginx\n",
    );
    ok(s.kure().args(["generate", "-f"]).arg(&same));
}

/// Issue 29: a spec the schema refuses (a port out of range) was not given to the
/// generator's own checks, so a second run showed a second problem (replicas on a DaemonSet).
/// Where the spec still decodes, both come in one run, top to bottom.
#[test]
fn schema_and_generator_problems_come_together_in_line_order() {
    let err = fails(
        &format!("{HEAD}spec:\n  workload: DaemonSet\n  replicas: 2\n  containers:\n    - name: web\n      image: nginx\n      ports:\n        - containerPort: 70000\n"),
        &[
            "2 problems in the input",
            "bad.yaml:7: app `web`: spec.replicas: a DaemonSet runs one pod per node",
            "bad.yaml:12: app `web`: spec.containers[0].ports[0].containerPort: must be at most 65535, found 70000",
        ],
    );
    assert!(
        err.find("bad.yaml:7").unwrap() < err.find("bad.yaml:12").unwrap(),
        "{err}"
    );
    // A spec that does not decode gets the schema's problems alone.
    fails(
        &format!("{HEAD}spec:\n  workload: DaemonSet\n  replicas: two\n  containers:\n    - name: web\n      image: nginx\n"),
        &["bad.yaml:7: app `web`: spec.replicas: expected integer, found string `two`"],
    );
}
