//! The command line's conventions: machine-readable diagnostics, `-q`, listing formats, the
//! JSON stream, a closed pipe, shell completions and colour.

#![allow(clippy::unwrap_used)]

use std::process::Stdio;

use kure_tests::*;

const BAD: &str = "apiVersion: generators.gokure.dev/v1alpha1\nkind: AppWorkload\nmetadata:\n  name: shop\nspec:\n  workload: Deployment\n  replicas: -1\n  containers:\n  - name: shop\n    imag: shop:1\n";

fn json_lines(text: &str) -> Vec<serde_json::Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}")))
        .collect()
}

#[test]
fn message_format_json_is_one_object_per_problem_on_generate_validate_and_lock() {
    let s = Sandbox::new();
    let f = s.write("bad.yaml", BAD);
    for command in ["generate", "validate", "lock"] {
        let o = run(s
            .kure()
            .args([command, "--message-format", "json", "-f"])
            .arg(&f));
        assert_eq!(o.status.code(), Some(1), "{command}: {}", stderr(&o));
        assert!(o.stdout.is_empty(), "{command}");
        let lines = json_lines(&stderr(&o));
        assert!(lines.len() >= 2, "{command}: {lines:?}");
        for l in &lines {
            for key in [
                "severity", "message", "file", "line", "column", "field", "hint",
            ] {
                assert!(l.get(key).is_some(), "{command}: {key} missing in {l}");
            }
            assert_eq!(l["severity"], "error");
            assert_eq!(l["file"], f.display().to_string());
        }
        let replicas = lines
            .iter()
            .find(|l| l["field"] == "spec.replicas")
            .unwrap();
        assert_eq!(replicas["line"], 7);
        // `  replicas: -1`: the key's column, 1-based.
        assert_eq!(replicas["column"], 3);
        assert!(replicas["message"]
            .as_str()
            .unwrap()
            .contains("must be at least 0"));
        let typo = lines
            .iter()
            .find(|l| l["field"] == "spec.containers[0].imag")
            .unwrap();
        assert_eq!(typo["hint"], "did you mean `image`?");
        assert_eq!((&typo["line"], &typo["column"]), (&10.into(), &5.into()));
    }
    // A YAML syntax error has the parser's column.
    let broken = s.write(
        "broken.yaml",
        "apiVersion: v1
kind: A
metadata:
  name: [x
",
    );
    let o = run(s
        .kure()
        .args(["validate", "--message-format", "json", "-f"])
        .arg(&broken));
    let lines = json_lines(&stderr(&o));
    assert!(
        lines
            .iter()
            .any(|l| l["line"].is_u64() && l["column"].is_u64()),
        "{lines:?}"
    );
    // An error about no document is one object too.
    let o = run(s
        .kure()
        .args(["generate", "--message-format", "json", "-f", "missing.yaml"]));
    let lines = json_lines(&stderr(&o));
    assert_eq!(lines.len(), 1);
    assert!(lines[0]["message"]
        .as_str()
        .unwrap()
        .contains("missing.yaml"));
    assert_eq!(lines[0]["file"], serde_json::Value::Null);
    // Warnings are objects as well.
    s.add_plugin(&terraform_lib());
    let o = run(s
        .kure()
        .args([
            "--allow-unsigned",
            "validate",
            "--message-format",
            "json",
            "-f",
        ])
        .arg(root().join("examples/terraform-dns.yaml")));
    assert!(o.status.success(), "{}", stderr(&o));
    let lines = json_lines(&stderr(&o));
    assert_eq!(lines[0]["severity"], "warning");
    assert!(lines[0]["message"]
        .as_str()
        .unwrap()
        .starts_with("loaded unsigned plugin"));
}

#[test]
fn quiet_prints_errors_only() {
    let s = Sandbox::new();
    s.add_plugin(&terraform_lib());
    let dns = root().join("examples/terraform-dns.yaml");
    let o = run(s
        .kure()
        .args(["--allow-unsigned", "-q", "validate", "-f"])
        .arg(&dns));
    assert!(o.status.success());
    assert!(
        o.stdout.is_empty() && o.stderr.is_empty(),
        "{}{}",
        stdout(&o),
        stderr(&o)
    );
    let out = s.path().join("out");
    let o = run(s
        .kure()
        .args(["--allow-unsigned", "-q", "generate", "-f"])
        .arg(&dns)
        .arg("-o")
        .arg(&out));
    assert!(o.status.success() && o.stderr.is_empty(), "{}", stderr(&o));
    assert!(out.join("kustomization.yaml").is_file());
    // Errors still reach stderr, and -q with -v is a usage error.
    let o = run(s
        .kure()
        .args(["-q", "validate", "-f"])
        .arg(s.write("bad.yaml", BAD)));
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).starts_with("error: "), "{}", stderr(&o));
    assert_eq!(
        run(s.kure().args(["-q", "-v", "gvks"])).status.code(),
        Some(2)
    );
}

#[test]
fn every_listing_has_table_wide_json_and_yaml() {
    let s = Sandbox::new();
    let key = s.trusted_key();
    ok(s.kure()
        .args(["plugins", "install"])
        .arg(s.signed_copy(&terraform_lib(), &key)));
    for args in [
        &["gvks"][..],
        &["plugins", "list"],
        &["plugins", "info", "terraform-generator"],
        &["plugins", "status"],
        &["trust", "list"],
    ] {
        let table = ok(s.kure().args(args));
        let wide = ok(s.kure().args(args).args(["-o", "wide"]));
        // (Line counts: `plugins status` shows timings, which differ from run to run.)
        assert!(
            !table.trim().is_empty() && wide.lines().count() >= table.lines().count(),
            "{args:?}"
        );
        let json: serde_json::Value =
            serde_json::from_str(&ok(s.kure().args(args).args(["-o", "json"]))).unwrap();
        let yaml: serde_json::Value =
            yaml_serde::from_str(&ok(s.kure().args(args).args(["-o", "yaml"]))).unwrap();
        // (Timings differ from run to run.)
        let untimed = |v: serde_json::Value| v.to_string().split("\"micros\":").count();
        assert_eq!(untimed(json.clone()), untimed(yaml.clone()), "{args:?}");
        if !args.contains(&"status") {
            assert_eq!(json, yaml, "{args:?}");
        }
    }
    let gvks: serde_json::Value =
        serde_json::from_str(&ok(s.kure().args(["gvks", "-o", "json"]))).unwrap();
    let app = gvks
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["kind"] == "AppWorkload")
        .unwrap();
    assert_eq!(app["provider"], "built-in");
    assert_eq!(app["used"], true);
    assert!(ok(s.kure().args(["gvks", "-o", "wide"]))
        .lines()
        .next()
        .unwrap()
        .ends_with("USED"));
    let wide = ok(s.kure().args(["plugins", "list", "-o", "wide"]));
    let header: Vec<&str> = wide.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(
        header[header.len() - 3..],
        ["ISOLATION", "SHA256", "SOURCE"],
        "{wide}"
    );
    let keys: serde_json::Value =
        serde_json::from_str(&ok(s.kure().args(["trust", "list", "-o", "json"]))).unwrap();
    assert_eq!(keys[0]["source"], "user (kure trust add)");
    assert_eq!(keys[0]["bits"], 2048);
}

#[test]
fn generate_format_json_is_the_same_objects_as_one_list() {
    let s = Sandbox::new();
    let examples = root().join("examples/shop.yaml");
    let yaml = ok(s.kure().args(["generate", "-f"]).arg(&examples));
    let json = ok(s
        .kure()
        .args(["generate", "--format", "json", "-f"])
        .arg(&examples));
    let list: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(list["apiVersion"], "v1");
    assert_eq!(list["kind"], "List");
    let from_yaml: Vec<serde_json::Value> = yaml
        .split("---\n")
        .filter(|d| !d.trim().is_empty())
        .map(|d| yaml_serde::from_str(d).unwrap())
        .collect();
    assert_eq!(list["items"].as_array().unwrap(), &from_yaml);
    // Nothing to generate is an empty list, still one JSON document.
    let empty = s.write("empty.yaml", "# nothing\n");
    let o = run(s
        .kure()
        .args(["generate", "--format", "json", "-f"])
        .arg(&empty));
    if o.status.success() {
        let list: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
        assert_eq!(list["items"], serde_json::json!([]));
    }
    // -o DIR writes YAML: asking for JSON there is a usage error.
    let o = run(s
        .kure()
        .args(["generate", "--format", "json", "-o", "out", "-f"])
        .arg(&examples));
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn a_closed_pipe_ends_quietly_with_success() {
    let s = Sandbox::new();
    // Many apps, so kure is still writing when `head` has gone.
    let mut text = String::new();
    for i in 0..2000 {
        text.push_str(&format!("---\napiVersion: generators.gokure.dev/v1alpha1\nkind: AppWorkload\nmetadata:\n  name: app{i}\nspec:\n  workload: Deployment\n  containers:\n  - name: c\n    image: nginx:1\n    ports: [{{name: http, containerPort: 80}}]\n"));
    }
    let f = s.write("many.yaml", &text);
    let cmd = format!(
        "{} generate -f {} | head -n 1; echo \"status=${{PIPESTATUS[0]}}\"",
        kure_bin().display(),
        f.display()
    );
    let o = std::process::Command::new("bash")
        .args(["-c", &cmd])
        .env("KURE_HOME", s.path().join("home"))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(stdout(&o), "---\nstatus=0\n");
    assert!(o.stderr.is_empty(), "{}", stderr(&o));
}

#[test]
fn shell_completions_for_bash_zsh_and_fish() {
    let s = Sandbox::new();
    let bash = ok(s.kure().args(["completions", "bash"]));
    assert!(
        bash.contains("_kure()") && bash.contains("generate"),
        "{bash}"
    );
    let check = std::process::Command::new("bash")
        .arg("-n")
        .stdin(Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(bash.as_bytes())?;
            c.wait()
        })
        .unwrap();
    assert!(check.success(), "the bash script does not parse");
    assert!(ok(s.kure().args(["completions", "zsh"])).starts_with("#compdef kure"));
    assert!(ok(s.kure().args(["completions", "fish"])).contains("complete -c kure"));
    assert_eq!(
        run(s.kure().args(["completions", "tcsh"])).status.code(),
        Some(2)
    );
}

/// Runs `command` (a shell line) with stdout and stderr on a pseudo-terminal, as a person at
/// a terminal would: `script` records what was shown.
fn on_a_terminal(s: &Sandbox, command: &str, env: &[(&str, &str)]) -> String {
    let mut c = std::process::Command::new("script");
    c.args(["-qec", command, "/dev/null"])
        .env("KURE_HOME", s.path().join("home"))
        .env("KURE_SYSTEM_DIR", s.path().join("system"))
        .env_remove("NO_COLOR")
        .stdin(Stdio::null());
    for (k, v) in env {
        c.env(k, v);
    }
    let o = c.output().expect("script (util-linux)");
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn colour_on_terminals_unless_no_color_and_never_for_hostile_text() {
    if !have_tool(
        "script",
        "colour_on_terminals_unless_no_color_and_never_for_hostile_text",
        "util-linux, for a pseudo-terminal",
    ) {
        return;
    }
    let s = Sandbox::new();
    // A field name holding a terminal escape: kure names it in its message.
    let f = s.write(
        "bad.yaml",
        &BAD.replace("    imag: shop:1", "    \"\\x1b[2Jimag\": shop:1"),
    );
    let kure = kure_bin();
    let cmd = |flags: &str| format!("{} {flags} validate -f {}", kure.display(), f.display());
    let red = "\x1b[1;31merror\x1b[0m: ";
    assert!(on_a_terminal(&s, &cmd(""), &[]).contains(red));
    assert!(!on_a_terminal(&s, &cmd(""), &[("NO_COLOR", "1")]).contains('\x1b'));
    assert!(!on_a_terminal(&s, &cmd("--color never"), &[]).contains('\x1b'));
    // Not a terminal: no colour unless asked.
    let o = run(s.kure().args(["validate", "-f"]).arg(&f));
    assert!(stderr(&o).starts_with("error: ") && !stderr(&o).contains('\x1b'));
    let o = run(s
        .kure()
        .args(["--color", "always", "validate", "-f"])
        .arg(&f));
    assert!(stderr(&o).starts_with(red), "{}", stderr(&o));
    // Only kure's own words are coloured: escapes from the input stay escaped.
    assert!(stderr(&o).contains("\\u{1b}[2Jimag"), "{:?}", stderr(&o));
    assert_eq!(stderr(&o).matches('\x1b').count(), 2, "{:?}", stderr(&o));
}

#[test]
fn a_progress_bar_on_terminals_for_long_runs_only() {
    if !have_tool(
        "script",
        "a_progress_bar_on_terminals_for_long_runs_only",
        "util-linux, for a pseudo-terminal",
    ) {
        return;
    }
    let s = Sandbox::new();
    let mut text = String::new();
    for i in 0..3000 {
        text.push_str(&format!("---\napiVersion: generators.gokure.dev/v1alpha1\nkind: AppWorkload\nmetadata:\n  name: app{i}\nspec:\n  workload: Deployment\n  containers:\n  - name: c\n    image: nginx:1\n"));
    }
    let f = s.write("many.yaml", &text);
    let kure = kure_bin();
    let generate = |flags: &str| {
        format!(
            "{} {flags} generate -f {} > /dev/null",
            kure.display(),
            f.display()
        )
    };
    let shown = on_a_terminal(&s, &generate(""), &[("KURE_PROGRESS_AFTER_MS", "0")]);
    assert!(
        shown.contains(" apps, ") && shown.contains("many.yaml"),
        "{shown:?}"
    );
    // The bar is cleared at the end: the last thing on the terminal is a cleared line.
    assert!(shown.ends_with("\r\x1b[2K"), "{shown:?}");
    // A short run (one app: well under a second) shows nothing; -q and JSON messages never do.
    let one = root().join("examples/shop.yaml");
    let short = format!(
        "{} generate -f {} > /dev/null",
        kure.display(),
        one.display()
    );
    assert_eq!(on_a_terminal(&s, &short, &[]), "");
    for flags in ["-q", "--message-format json"] {
        let cmd = format!(
            "{} {} generate {flags} -f {} > /dev/null",
            kure.display(),
            "",
            f.display()
        );
        assert_eq!(
            on_a_terminal(&s, &cmd, &[("KURE_PROGRESS_AFTER_MS", "0")]),
            "",
            "{flags}"
        );
    }
    // Not a terminal: nothing.
    let o = run(s
        .kure()
        .env("KURE_PROGRESS_AFTER_MS", "0")
        .args(["generate", "-f"])
        .arg(&f));
    assert!(o.status.success() && o.stderr.is_empty(), "{}", stderr(&o));
}
