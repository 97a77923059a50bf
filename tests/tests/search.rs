//! Plugin indexes: `kure plugins index add|list|remove` and `kure plugins search`, from a
//! local file and over plain HTTP on this machine; hostile entries refused.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;

use kure_tests::*;

const INDEX: &str = "apiVersion: kure.dev/v1
kind: PluginIndex
plugins:
  - name: terraform-generator
    description: Runs Terraform as Kubernetes Jobs
    source: oci://ghcr.io/acme/terraform
    versions: [\"1.0.0\", \"1.2.0\", \"1.10.0\"]
    gvks: [generators.example.com/v1alpha1/TerraformConfig]
  - name: postgres-backup
    description: CronJobs that back up PostgreSQL
    source: oci://ghcr.io/acme/postgres-backup
    versions: [\"0.3.1\"]
    gvks: [backups.example.com/v1/PostgresBackup]
";

/// Serves `body` over plain HTTP on 127.0.0.1 for every request; returns the URL.
fn serve(body: &'static str) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for mut c in listener.incoming().flatten() {
            let mut reader = BufReader::new(c.try_clone().expect("clone"));
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                line.clear();
            }
            let _ = write!(
                c,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    format!("http://127.0.0.1:{port}/index.yaml")
}

#[test]
fn indexes_are_added_searched_and_removed() {
    let s = Sandbox::new();
    let file = s.write("index.yaml", INDEX);
    let o = run(s
        .kure()
        .args(["plugins", "index", "add", "local"])
        .arg(&file));
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("added index local: 2 plugins"),
        "{}",
        stdout(&o)
    );
    let url = serve(INDEX);
    ok(s.kure().args(["plugins", "index", "add", "web", &url]));
    let listed = ok(s.kure().args(["plugins", "index", "list"]));
    assert!(
        listed.contains("local") && listed.contains(&url),
        "{listed}"
    );

    // One word, any case, in names, descriptions or GVKs; the highest version by semver.
    let found: serde_json::Value = serde_json::from_str(&ok(s.kure().args([
        "plugins",
        "search",
        "TERRAFORM",
        "-o",
        "json",
    ])))
    .unwrap();
    let found = found.as_array().unwrap();
    assert_eq!(found.len(), 2, "{found:?}"); // from both indexes
    assert!(found.iter().all(|f| f["name"] == "terraform-generator"));
    assert!(found.iter().all(|f| f["latest"] == "1.10.0"), "{found:?}");
    assert!(found.iter().all(|f| f["installed"].is_null()));
    let table = ok(s.kure().args(["plugins", "search", "backups.example.com"]));
    assert!(
        table.contains("postgres-backup") && !table.contains("terraform"),
        "{table}"
    );
    assert!(
        ok(s.kure().args(["plugins", "search", "nothing-like-it"])).contains("No plugins found")
    );

    // An installed plugin says which version is here.
    s.add_plugin(&terraform_lib());
    let key = s.trusted_key();
    let lib = s.signed_copy(&terraform_lib(), &key);
    ok(s.kure().args(["plugins", "install"]).arg(&lib));
    let found: serde_json::Value = serde_json::from_str(&ok(s.kure().args([
        "plugins",
        "search",
        "terraform",
        "-o",
        "json",
    ])))
    .unwrap();
    assert_eq!(found[0]["installed"], "1.0.0", "{found}");

    ok(s.kure().args(["plugins", "index", "remove", "web"]));
    let listed = ok(s.kure().args(["plugins", "index", "list"]));
    assert!(!listed.contains(&url), "{listed}");
    let o = run(s.kure().args(["plugins", "index", "remove", "web"]));
    expect_failure(&o, &["no index named `web`"]);
}

#[test]
fn a_hostile_index_is_refused_whole_and_named() {
    let s = Sandbox::new();
    for (name, entry, needle) in [
        ("path", "  - name: ../evil\n    source: oci://ghcr.io/a/b\n    versions: [\"1.0.0\"]\n", "not a plugin name"),
        ("version", "  - name: ok\n    source: oci://ghcr.io/a/b\n    versions: [\"latest\"]\n", "not a semantic version"),
        ("source", "  - name: ok\n    source: https://evil.example.com/x\n    versions: [\"1.0.0\"]\n", "oci://REGISTRY/REPOSITORY"),
        ("tagged", "  - name: ok\n    source: oci://ghcr.io/a/b:1.0.0\n    versions: [\"1.0.0\"]\n", "a tag or digest"),
        ("gvk", "  - name: ok\n    source: oci://ghcr.io/a/b\n    versions: [\"1.0.0\"]\n    gvks: [\"\\e[31mred\"]\n", "not apiVersion/Kind"),
    ] {
        let file = s.write(
            &format!("{name}.yaml"),
            &format!("apiVersion: kure.dev/v1\nkind: PluginIndex\nplugins:\n{entry}"),
        );
        let o = run(s.kure().args(["plugins", "index", "add", name]).arg(&file));
        let err = expect_failure(&o, &[needle, "nothing was used from this index"]);
        assert!(!err.contains('\x1b'), "an escape reached the terminal: {err:?}");
    }
    let o = run(s.kure().args([
        "plugins",
        "index",
        "add",
        "remote",
        "http://example.com/index.yaml",
    ]));
    expect_failure(&o, &["plain HTTP only for an index on this machine"]);
    assert_eq!(
        ok(s.kure().args(["plugins", "index", "list"]))
            .lines()
            .count(),
        1
    );
    let o = run(s.kure().args(["plugins", "search"]));
    expect_failure(&o, &["no plugin index is configured"]);
}
