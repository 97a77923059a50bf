//! Plugins through a real OCI registry: Debian's `docker-registry` (the CNCF distribution
//! registry), started per test on a free localhost port, plain HTTP (`--insecure`).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use kure_tests::registry::Registry;
use kure_tests::*;

/// A sandbox with a trusted key and the terraform plugin signed by it.
fn signed_terraform(s: &Sandbox) -> PathBuf {
    let key = s.trusted_key();
    s.signed_copy(&terraform_lib(), &key)
}

fn push(s: &Sandbox, lib: &Path, reference: &str, extra: &[&str]) -> std::process::Output {
    run(s
        .kure()
        .args(["plugins", "push"])
        .arg(lib)
        .arg(reference)
        .arg("--insecure")
        .args(extra))
}

fn install(s: &Sandbox, reference: &str, extra: &[&str]) -> std::process::Output {
    run(s
        .kure()
        .args(["plugins", "install", reference, "--insecure"])
        .args(extra))
}

/// A registry holding the terraform plugin, signed by a key the sandbox trusts, pushed as
/// `kure/terraform:1.0.0`: (registry, sandbox, signed library, reference).
fn pushed_terraform(test: &str) -> Option<(Registry, Sandbox, PathBuf, String)> {
    let reg = Registry::start(test)?;
    let s = Sandbox::new();
    let lib = signed_terraform(&s);
    let reference = format!("{}:1.0.0", reg.reference("kure/terraform"));
    let o = push(&s, &lib, &reference, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    Some((reg, s, lib, reference))
}

/// Writes a plugin index listing plugin `name` at `repo` in `versions`, and adds it to the
/// sandbox as index `team`.
fn team_index(s: &Sandbox, name: &str, repo: &str, versions: &[&str]) {
    let listed: Vec<String> = versions.iter().map(|v| format!("\"{v}\"")).collect();
    let index = s.write(
        "index.yaml",
        &format!(
            "apiVersion: kure.dev/v1\nkind: PluginIndex\nplugins:\n  - name: {name}\n    source: {repo}\n    versions: [{}]\n",
            listed.join(", ")
        ),
    );
    ok(s.kure()
        .args(["plugins", "index", "add", "team"])
        .arg(&index));
}

/// No staging directory is left in the store, and no plugin was installed.
fn store_is_empty(s: &Sandbox) {
    let plugins = s.path().join("home/plugins");
    let left: Vec<String> = std::fs::read_dir(&plugins)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n != ".lock" && n != "index.json")
                .collect()
        })
        .unwrap_or_default();
    assert!(left.is_empty(), "left in the store: {left:?}");
    let o = run(s.kure().args(["plugins", "list", "-o", "json"]));
    assert_eq!(stdout(&o).trim(), "[]", "{}", stdout(&o));
}

#[test]
fn a_pushed_plugin_installs_from_the_registry_and_records_where_it_came_from() {
    let Some((reg, author, lib, reference)) = pushed_terraform("registry push and install") else {
        return;
    };
    let o = push(&author, &lib, &reference, &[]);
    assert!(o.status.success(), "pushing again: {}", stderr(&o));
    let pushed = stdout(&o);
    assert!(
        pushed.contains("pushed terraform-generator@1.0.0"),
        "{pushed}"
    );
    let manifest = pushed
        .lines()
        .find_map(|l| l.strip_prefix("manifest "))
        .expect("the manifest digest")
        .trim()
        .to_owned();

    // Another machine: its own store, the author's key trusted.
    let user = Sandbox::new();
    let public = author.path().join("author.pub.pem");
    ok(user.kure().args(["trust", "add"]).arg(&public));
    let o = install(&user, &reference, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains(&format!("from {reference} ({manifest})")),
        "{}",
        stdout(&o)
    );
    let listed: serde_json::Value =
        serde_json::from_str(&ok(user.kure().args(["plugins", "list", "-o", "json"])))
            .expect("json");
    assert_eq!(listed[0]["source"], reference.as_str(), "{listed}");
    assert_eq!(listed[0]["digest"], manifest.as_str(), "{listed}");
    // The very bytes the author signed.
    let installed = user.installed_dir("terraform-generator");
    let lib_bytes = std::fs::read(&lib).expect("lib");
    let found = std::fs::read_dir(&installed)
        .expect("installed")
        .flatten()
        .any(|e| std::fs::read(e.path()).is_ok_and(|b| b == lib_bytes));
    assert!(found, "the installed library is not the pushed one");
    let example = root().join("examples/terraform-dns.yaml");
    let o = run(user.kure().args(["generate", "-f"]).arg(&example));
    assert!(o.status.success(), "{}", stderr(&o));

    // By digest too; and a second platform joins the index without replacing this one.
    let o = push(&author, &lib, &reference, &["--platform", "linux/arm64"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("platforms: linux/amd64, linux/arm64"),
        "{}",
        stdout(&o)
    );
    let again = Sandbox::new();
    ok(again.kure().args(["trust", "add"]).arg(&public));
    let o = install(
        &again,
        &format!("{}@{manifest}", reg.reference("kure/terraform")),
        &[],
    );
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn an_artifact_for_another_platform_only_is_refused_naming_what_it_has() {
    let Some(reg) = Registry::start("registry platform selection") else {
        return;
    };
    let s = Sandbox::new();
    let lib = signed_terraform(&s);
    let reference = format!("{}:arm", reg.reference("kure/terraform"));
    let o = push(&s, &lib, &reference, &["--platform", "linux/arm64"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = install(&s, &reference, &[]);
    expect_failure(
        &o,
        &[
            "no build for this machine's platform",
            "the artifact has linux/arm64",
        ],
    );
    store_is_empty(&s);
}

#[test]
fn a_blob_that_is_not_what_its_digest_says_is_refused_and_nothing_is_installed() {
    let Some((reg, s, lib, reference)) = pushed_terraform("registry blob digests") else {
        return;
    };
    // The registry's copy of the library, same size, one byte changed.
    let blob = reg.blob_holding(&std::fs::read(&lib).expect("the library"));
    let mut bytes = std::fs::read(&blob).expect("the stored blob");
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&blob, bytes).expect("tamper");
    let o = install(&s, &reference, &[]);
    let err = expect_failure(
        &o,
        &[
            "other bytes than the artifact names",
            "nothing was installed",
        ],
    );
    assert_eq!(err.trim().lines().count(), 1, "not one paragraph:\n{err}");
    store_is_empty(&s);
}

#[test]
fn an_artifact_without_a_signature_layer_is_refused() {
    let Some(reg) = Registry::start("registry missing signature") else {
        return;
    };
    let s = Sandbox::new();
    let reference = format!("{}:nosig", reg.reference("kure/terraform"));
    let parsed = kure_core::store::registry::OciRef::parse(&reference).expect("reference");
    kure_core::store::registry::push_layers(
        &parsed,
        &kure_core::store::registry::Platform::current(),
        &kure_core::store::registry::PluginConfig {
            name: "terraform-generator".into(),
            version: "1.0.0".into(),
            gvks: vec!["generators.example.com/v1alpha1/TerraformConfig".into()],
            abi_version: 1,
            api_version: kure_core::PLUGIN_API_VERSION.into(),
            author: String::new(),
            description: String::new(),
            requires: Default::default(),
        },
        vec![(
            kure_core::store::registry::LIBRARY_MEDIA_TYPE,
            std::fs::read(terraform_lib()).expect("lib"),
        )],
        &kure_core::store::registry::RegistryOptions {
            insecure: true,
            ..Default::default()
        },
    )
    .expect("pushed without a signature");
    let o = install(&s, &reference, &[]);
    expect_failure(&o, &["no signature layer", "cannot be trusted"]);
    store_is_empty(&s);
}

#[test]
fn an_artifact_signed_by_an_untrusted_key_is_refused_by_the_usual_checks() {
    let Some((_reg, _author, _lib, reference)) = pushed_terraform("registry untrusted signer")
    else {
        return;
    };
    // This machine trusts nobody.
    let user = Sandbox::new();
    let o = install(&user, &reference, &[]);
    let err = expect_failure(&o, &[&reference, "kure trust add"]);
    assert!(!err.contains(".pull-"), "names kure's staging copy: {err}");
    store_is_empty(&user);
}

#[test]
fn a_registry_that_never_answers_is_a_timeout_with_a_clear_message() {
    // Accepts connections and never says a word.
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for c in listener.incoming().flatten() {
            held.push(c);
        }
    });
    let s = Sandbox::new();
    let start = Instant::now();
    let o = install(
        &s,
        &format!("oci://localhost:{port}/kure/terraform:1.0.0"),
        &["--registry-timeout", "1"],
    );
    let err = expect_failure(&o, &[&format!("localhost:{port}")]);
    assert!(
        err.contains("did not finish within")
            || err.contains("timed out")
            || err.contains("timeout"),
        "{err}"
    );
    assert!(
        start.elapsed() < Duration::from_secs(20),
        "{:?}",
        start.elapsed()
    );
    store_is_empty(&s);
}

#[test]
fn plain_http_is_only_for_this_machine_and_bad_references_are_refused() {
    let s = Sandbox::new();
    let o = install(&s, "oci://registry.example.com/kure/terraform:1.0.0", &[]);
    expect_failure(
        &o,
        &["--insecure (plain HTTP) is only for a registry on this machine"],
    );
    for bad in ["oci://terraform:1.0.0", "oci://localhost:5000/a b:1"] {
        let o = run(s.kure().args(["plugins", "install", bad]));
        expect_failure(&o, &["oci://REGISTRY/REPOSITORY:TAG"]);
    }
    store_is_empty(&s);
}

/// The whole walk: an author pushes; a platform team installs from the registry and locks;
/// a CI runner with an empty store syncs from the lock alone and renders the same bytes;
/// sync again needs no registry; a lock that pins other bytes is refused naming the pin.
#[test]
fn author_pushes_team_locks_ci_syncs_and_everyone_renders_the_same_bytes() {
    let Some((reg, author, lib, reference)) = pushed_terraform("registry lock and sync") else {
        return;
    };
    let public = author.path().join("author.pub.pem");

    let example = std::fs::read_to_string(root().join("examples/terraform-dns.yaml")).unwrap();
    let team = Sandbox::new();
    ok(team.kure().args(["trust", "add"]).arg(&public));
    let o = install(&team, &reference, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let specs = team.write("specs/dns.yaml", &example);
    // The registry unreachable (no --insecure for this plain-HTTP one): this platform's
    // build only, and a warning that says so.
    let o = run(team.kure().args(["lock", "-f"]).arg(&specs));
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("recorded this platform's build only"),
        "{}",
        stderr(&o)
    );
    let platform = kure_core::store::registry::Platform::current().to_string();
    let other = if platform == "linux/arm64" {
        "linux/amd64"
    } else {
        "linux/arm64"
    };
    let only_here: serde_json::Value =
        yaml_serde::from_str(&std::fs::read_to_string(team.path().join("kure.lock")).unwrap())
            .unwrap();
    let pin = &only_here["plugins"]["generators.example.com/v1alpha1/TerraformConfig"];
    assert_eq!(
        pin["platforms"].as_object().map(|m| m.len()),
        Some(1),
        "{pin}"
    );
    // Another platform's build (other bytes) joins the tag; a lock with the registry reachable
    // records both, each with its own library sha256.
    let other_lib = author.path().join("other/libkure_terraform_generator.so");
    std::fs::create_dir_all(other_lib.parent().unwrap()).unwrap();
    let mut bytes = std::fs::read(&lib).unwrap();
    bytes.extend_from_slice(b"another build");
    std::fs::write(&other_lib, &bytes).unwrap();
    openssl_sign(&other_lib, &author.path().join("author.key.pem"));
    let o = push(&author, &other_lib, &reference, &["--platform", other]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = run(team.kure().args(["lock", "--insecure", "-f"]).arg(&specs));
    assert!(
        o.status.success() && !stderr(&o).contains("warning"),
        "{}",
        stderr(&o)
    );
    let lock = std::fs::read_to_string(team.path().join("kure.lock")).unwrap();
    assert!(lock.contains(&format!("source: {reference}")), "{lock}");
    let both: serde_json::Value = yaml_serde::from_str(&lock).unwrap();
    let pin = &both["plugins"]["generators.example.com/v1alpha1/TerraformConfig"];
    let sha = |p: &Path| kure_core::trust::digest_hex(&kure_core::trust::digest_file(p).unwrap());
    assert_eq!(
        pin["platforms"][&platform]["sha256"],
        sha(&lib).as_str(),
        "{lock}"
    );
    assert_eq!(
        pin["platforms"][other]["sha256"],
        sha(&other_lib).as_str(),
        "{lock}"
    );
    assert_eq!(pin["sha256"], sha(&lib).as_str(), "{lock}");
    let rendered = ok(team.kure().args(["generate", "--locked", "-f"]).arg(&specs));

    let ci = Sandbox::new();
    ok(ci.kure().args(["trust", "add"]).arg(&public));
    std::fs::write(ci.path().join("kure.lock"), &lock).unwrap();
    let specs = ci.write("specs/dns.yaml", &example);
    let o = run(ci.kure().args(["plugins", "sync", "--insecure"]));
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("installed terraform-generator@1.0.0 from oci://"),
        "{}",
        stderr(&o)
    );
    let listed: serde_json::Value =
        serde_json::from_str(&ok(ci.kure().args(["plugins", "list", "-o", "json"]))).unwrap();
    assert_eq!(listed[0]["source"], reference.as_str(), "{listed}");
    assert_eq!(
        ok(ci.kure().args(["generate", "--locked", "-f"]).arg(&specs)),
        rendered
    );

    // A lock pinning other bytes, on an empty store: refused before anything is downloaded.
    let sha = kure_core::trust::digest_hex(&kure_core::trust::digest_file(&lib).unwrap());
    let drift = lock.replace(&sha, &"0".repeat(64));
    let empty = Sandbox::new();
    ok(empty.kure().args(["trust", "add"]).arg(&public));
    std::fs::write(empty.path().join("kure.lock"), &drift).unwrap();
    let o = run(empty.kure().args(["plugins", "sync", "--insecure"]));
    expect_failure(
        &o,
        &["but the lock pins sha256:0000", "nothing was downloaded"],
    );
    store_is_empty(&empty);

    // The Flux recipe on a runner with an empty store: its sync step installs from the lock,
    // and it renders the same objects.
    let runner = Sandbox::new();
    ok(runner.kure().args(["trust", "add"]).arg(&public));
    std::fs::write(runner.path().join("kure.lock"), &lock).unwrap();
    runner.write("apps/dns.yaml", &example);
    let kure_dir = kure_bin().parent().unwrap().to_path_buf();
    let path = format!(
        "{}:{}",
        kure_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let o = run(Command::new("sh")
        .arg(root().join("deploy/flux/render.sh"))
        .current_dir(runner.path())
        .env("PATH", &path)
        .env("KURE_HOME", runner.path().join("home"))
        .env("KURE_SYSTEM_DIR", runner.path().join("system"))
        .env("KURE_REGISTRY_INSECURE", "1")
        .env_remove("KURE_ALLOW_UNSIGNED"));
    assert!(o.status.success(), "{}", stderr(&o));
    let tree = runner.path().join("rendered");
    assert!(tree.join("kustomization.yaml").is_file());
    let listed: serde_json::Value =
        serde_json::from_str(&ok(runner.kure().args(["plugins", "list", "-o", "json"]))).unwrap();
    assert_eq!(listed[0]["source"], reference.as_str(), "{listed}");

    // The Argo CD recipe: its plugin's own `init` and `generate` commands, as the sidecar runs
    // them in an Application's directory (specs and the committed kure.lock) with an empty
    // store: init syncs from the lock, and generate renders what the CI runner renders.
    let plugin: serde_json::Value = yaml_serde::from_str(
        &std::fs::read_to_string(root().join("deploy/argocd/plugin.yaml")).unwrap(),
    )
    .unwrap();
    let sidecar = Sandbox::new();
    ok(sidecar.kure().args(["trust", "add"]).arg(&public));
    std::fs::write(sidecar.path().join("kure.lock"), &lock).unwrap();
    sidecar.write("dns.yaml", &example);
    let step = |which: &str| {
        let script = plugin["spec"][which]["args"][0]
            .as_str()
            .unwrap()
            .to_owned();
        run(Command::new("sh")
            .arg("-c")
            .arg(script)
            .current_dir(sidecar.path())
            .env("PATH", &path)
            .env("KURE_HOME", sidecar.path().join("home"))
            .env("KURE_SYSTEM_DIR", sidecar.path().join("system"))
            .env("KURE_REGISTRY_INSECURE", "1")
            .env_remove("KURE_ALLOW_UNSIGNED"))
    };
    let o = step("init");
    assert!(o.status.success(), "{}", stderr(&o));
    let o = step("generate");
    assert!(o.status.success(), "{}", stderr(&o));
    let expected = ok(ci
        .kure()
        .args(["generate", "--quiet", "-f"])
        .arg(ci.write("argo/dns.yaml", &example)));
    assert_eq!(stdout(&o), expected, "the sidecar rendered other bytes");

    // Everything is there: no registry needed.
    drop(reg);
    let o = run(ci.kure().args(["plugins", "sync", "--insecure"]));
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("0 plugins installed, 1 already as pinned"),
        "{}",
        stderr(&o)
    );

    // A lock pinning other bytes: refused, naming the pin; the store stays as it was.
    let before = ci.store_snapshot();
    std::fs::write(ci.path().join("drift.lock"), &drift).unwrap();
    let o = run(ci
        .kure()
        .args(["plugins", "sync", "--insecure", "--lock", "drift.lock"]));
    expect_failure(
        &o,
        &[
            "drift.lock",
            "generators.example.com/v1alpha1/TerraformConfig",
            "the lock pins terraform-generator@1.0.0",
            "nothing was installed",
        ],
    );
    assert_eq!(ci.store_snapshot(), before);
}

/// A private certificate authority and a certificate for localhost it signed, with openssl:
/// (ca.crt, server.crt, server.key) in `dir`.
fn private_ca(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let (ca_key, ca, key, csr, crt, ext) = (
        dir.join("ca.key"),
        dir.join("ca.crt"),
        dir.join("server.key"),
        dir.join("server.csr"),
        dir.join("server.crt"),
        dir.join("ext.cnf"),
    );
    let openssl = |args: &[&str]| {
        let o = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl runs");
        assert!(o.status.success(), "openssl {args:?}: {}", stderr(&o));
    };
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        "-days",
        "2",
        "-subj",
        "/CN=kure test CA",
    ]);
    openssl(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=localhost",
    ]);
    std::fs::write(&ext, "subjectAltName=DNS:localhost,IP:127.0.0.1\n").expect("ext.cnf");
    openssl(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.crt",
        "-days",
        "2",
        "-extfile",
        "ext.cnf",
    ]);
    let _ = (ca_key, csr);
    (ca, crt, key)
}

/// TLS with a private certificate authority and basic auth: the CA comes from
/// `--registry-ca`, the credentials from a Docker config file; without either the refusal
/// says which is missing and what to pass.
#[test]
fn a_registry_with_a_private_ca_and_basic_auth_works_with_ca_and_credentials_only() {
    let certs = tempfile::tempdir().expect("tmp");
    let (ca, crt, key) = private_ca(certs.path());
    let htpasswd = certs.path().join("htpasswd");
    std::fs::write(
        &htpasswd,
        format!("ci:{}\n", bcrypt::hash("s3cret", 4).expect("bcrypt")),
    )
    .unwrap();
    let extra = format!(
        "  tls:\n    certificate: {}\n    key: {}\nauth:\n  htpasswd:\n    realm: kure\n    path: {}\n",
        crt.display(),
        key.display(),
        htpasswd.display()
    );
    let Some(reg) = Registry::start_with("registry TLS and basic auth", &extra, true) else {
        return;
    };
    let s = Sandbox::new();
    let lib = signed_terraform(&s);
    let docker = s.write(
        "docker/config.json",
        &format!(
            "{{\"auths\":{{\"localhost:{}\":{{\"auth\":\"Y2k6czNjcmV0\"}}}}}}",
            reg.port
        ),
    );
    let reference = format!("{}:1.0.0", reg.reference("kure/terraform"));
    let with = |cmd: &mut Command, ca_too: bool, creds: bool| {
        if ca_too {
            cmd.arg("--registry-ca").arg(&ca);
        }
        if creds {
            cmd.arg("--registry-config").arg(&docker);
        }
        run(cmd)
    };
    let o = with(
        s.kure().args(["plugins", "push"]).arg(&lib).arg(&reference),
        true,
        true,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let o = with(
        s.kure().args(["plugins", "install", &reference]),
        false,
        true,
    );
    expect_failure(&o, &["--registry-ca"]);
    let o = with(
        s.kure().args(["plugins", "install", &reference]),
        true,
        false,
    );
    expect_failure(&o, &["credentials"]);
    store_is_empty(&s);
    let o = with(
        s.kure().args(["plugins", "install", &reference]),
        true,
        true,
    );
    assert!(o.status.success(), "{}", stderr(&o));

    // The same credentials from a credential helper (`credHelpers`), as Docker runs it:
    // `docker-credential-NAME get` from PATH, the registry on stdin.
    let bin = s.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let executable = |name: &str, text: &str| {
        let file = bin.join(name);
        std::fs::write(&file, text).unwrap();
        let mut perms = std::fs::metadata(&file).unwrap().permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
        std::fs::set_permissions(&file, perms).unwrap();
    };
    executable(
        "docker-credential-kuretest",
        &format!(
            "#!/bin/sh\n[ \"$1\" = get ] || exit 3\nread server\n[ \"$server\" = localhost:{} ] || {{ echo credentials not found; exit 1; }}\necho '{{\"ServerURL\":\"x\",\"Username\":\"ci\",\"Secret\":\"s3cret\"}}'\n",
            reg.port
        ),
    );
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let helped = s.write(
        "helped/config.json",
        &format!(
            "{{\"credHelpers\":{{\"localhost:{}\":\"kuretest\"}}}}",
            reg.port
        ),
    );
    let user = Sandbox::new();
    ok(user
        .kure()
        .args(["trust", "add"])
        .arg(s.path().join("author.pub.pem")));
    let o = run(user
        .kure()
        .args(["plugins", "install", &reference, "--registry-ca"])
        .arg(&ca)
        .arg("--registry-config")
        .arg(&helped)
        .env("PATH", &path));
    assert!(o.status.success(), "{}", stderr(&o));
    // A helper name that is a path is never run.
    let evil = s.write("evil/config.json", "{\"credsStore\":\"../../bin/sh\"}");
    let o = run(user
        .kure()
        .args([
            "plugins",
            "install",
            &reference,
            "--replace",
            "--registry-ca",
        ])
        .arg(&ca)
        .arg("--registry-config")
        .arg(&evil)
        .env("PATH", &path));
    expect_failure(&o, &["is not a helper name"]);
    // A helper that never answers, and leaves a child holding its output open, is stopped
    // at the registry time limit, child and all.
    executable(
        "docker-credential-slow",
        "#!/bin/sh\n(sleep 60) &\nsleep 60\n",
    );
    let hangs = s.write("hangs/config.json", "{\"credsStore\":\"slow\"}");
    let started = Instant::now();
    let o = run(user
        .kure()
        .args([
            "plugins",
            "install",
            &reference,
            "--replace",
            "--registry-timeout",
            "1",
            "--registry-ca",
        ])
        .arg(&ca)
        .arg("--registry-config")
        .arg(&hangs)
        .env("PATH", &path));
    expect_failure(&o, &["docker-credential-slow", "did not answer within 1 s"]);
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
}

/// `kure plugins upgrade`: an index lists versions of an installed plugin; the highest released
/// one above it is installed from the registry (pre-releases never), then nothing is left to do.
#[test]
fn upgrade_installs_the_highest_released_version_an_index_lists() {
    let Some(reg) = Registry::start("registry upgrade") else {
        return;
    };
    let s = Sandbox::new();
    let key = s.trusted_key();
    let repo = reg.reference("kure/rawabi");
    for (dir, mode, tag) in [("v1", "none", "0.1.0"), ("v2", "version:0.2.0", "0.2.0")] {
        let lib = rawabi(&s, dir, mode);
        openssl_sign(&lib, &key);
        let o = push(&s, &lib, &format!("{repo}:{tag}"), &[]);
        assert!(o.status.success(), "{}", stderr(&o));
    }
    team_index(&s, "rawabi", &repo, &["0.1.0", "0.2.0", "0.3.0-rc.1"]);
    let o = install(&s, &format!("{repo}:0.1.0"), &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    // A lock pins 0.1.0; upgrade pins 0.2.0 in it, with where it came from.
    let specs = s.write(
        "specs.yaml",
        "apiVersion: rawabi.kure.dev/v1\nkind: Raw\nmetadata:\n  name: a\nspec: {}\n",
    );
    let lock = s.path().join("team.lock");
    ok(s.kure()
        .args(["lock", "--insecure", "-f"])
        .arg(&specs)
        .arg("--lock")
        .arg(&lock));
    assert!(std::fs::read_to_string(&lock)
        .unwrap()
        .contains("version: 0.1.0"));
    let o = run(s
        .kure()
        .args(["plugins", "upgrade", "--insecure", "--lock"])
        .arg(&lock));
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains(&format!(
            "upgraded rawabi 0.1.0 -> 0.2.0 (from {repo}:0.2.0)"
        )),
        "{}",
        stdout(&o)
    );
    assert!(
        stdout(&o).contains("pinned 1 GVKs at the new versions in"),
        "{}",
        stdout(&o)
    );
    let pinned = std::fs::read_to_string(&lock).unwrap();
    assert!(pinned.contains("version: 0.2.0"), "{pinned}");
    assert!(
        pinned.contains(&format!("source: {repo}:0.2.0")),
        "{pinned}"
    );
    ok(s.kure()
        .args(["generate", "--locked", "--lock"])
        .arg(&lock)
        .arg("-f")
        .arg(&specs));
    let listed: serde_json::Value =
        serde_json::from_str(&ok(s.kure().args(["plugins", "list", "-o", "json"]))).unwrap();
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "{listed}");
    assert_eq!(listed[0]["version"], "0.2.0", "{listed}");
    let o = run(s
        .kure()
        .args(["plugins", "upgrade", "--insecure", "rawabi"]));
    assert!(
        stdout(&o).contains("rawabi 0.2.0 is up to date"),
        "{}",
        stdout(&o)
    );
    let o = run(s.kure().args(["plugins", "upgrade", "--insecure", "nope"]));
    expect_failure(&o, &["no installed plugin named `nope`"]);
}

/// `push` publishes only what the trust policy admits: a library without a signature (even
/// with unsigned plugins allowed) or one signed by a key nobody trusts is refused in one
/// paragraph, and nothing is published under the tag.
#[test]
fn push_refuses_an_unsigned_or_untrusted_library_and_publishes_nothing() {
    let Some(reg) = Registry::start("registry push refusals") else {
        return;
    };
    let s = Sandbox::new();
    let reference = format!("{}:1.0.0", reg.reference("kure/terraform"));
    let bare = s.path().join("bare/libkure_terraform_generator.so");
    std::fs::create_dir_all(bare.parent().unwrap()).unwrap();
    std::fs::copy(terraform_lib(), &bare).unwrap();
    let o = run(s
        .kure()
        .args(["--allow-unsigned", "plugins", "push"])
        .arg(&bare)
        .args([reference.as_str(), "--insecure"]));
    let err = expect_failure(&o, &["no signature", "kure plugins sign"]);
    assert_eq!(err.trim().lines().count(), 1, "not one paragraph:\n{err}");
    // Signed, but by a key this machine does not trust.
    let (key, _) = openssl_keypair(s.path(), "stranger", 2048);
    openssl_sign(&bare, &key);
    let o = push(&s, &bare, &reference, &[]);
    expect_failure(&o, &["libkure_terraform_generator.so"]);
    // Nothing is there to install.
    let o = install(&s, &reference, &[]);
    expect_failure(&o, &["there is no artifact at that reference"]);
    store_is_empty(&s);
}

/// A library blob cut short in the registry's storage (a download that ends early): refused
/// in one paragraph, and nothing is installed.
#[test]
fn a_truncated_download_is_refused_and_nothing_is_installed() {
    let Some((reg, s, lib, reference)) = pushed_terraform("registry truncated blob") else {
        return;
    };
    let blob = reg.blob_holding(&std::fs::read(&lib).expect("the library"));
    let bytes = std::fs::read(&blob).expect("the stored blob");
    std::fs::write(&blob, &bytes[..bytes.len() / 2]).expect("truncate");
    let o = install(&s, &reference, &[]);
    let err = expect_failure(&o, &["nothing was installed"]);
    assert_eq!(err.trim().lines().count(), 1, "not one paragraph:\n{err}");
    store_is_empty(&s);
}

/// An index served as an OCI artifact (`kure plugins index push`): checked before it is
/// pushed, read as hostile as a file (a plugin artifact is not an index, a tampered layer is
/// refused), and searched like any index.
#[test]
fn an_index_served_from_the_registry_is_checked_like_a_file() {
    let Some((reg, s, _lib, _reference)) = pushed_terraform("registry index artifact") else {
        return;
    };
    let repo = reg.reference("kure/terraform");
    let index = s.write(
        "index.yaml",
        &format!(
            "apiVersion: kure.dev/v1\nkind: PluginIndex\nplugins:\n  - name: terraform-generator\n    description: Terraform as Jobs\n    source: {repo}\n    versions: [\"1.0.0\"]\n    gvks: [generators.example.com/v1alpha1/TerraformConfig]\n"
        ),
    );
    let at = format!("{}:1", reg.reference("kure/index"));
    let out = ok(s
        .kure()
        .args(["plugins", "index", "push", "--insecure"])
        .arg(&index)
        .arg(&at));
    assert!(out.contains("(1 plugins)"), "{out}");
    let out = ok(s
        .kure()
        .args(["plugins", "index", "add", "team", "--insecure", &at]));
    assert!(out.contains("added index team: 1 plugins"), "{out}");
    let out = ok(s
        .kure()
        .args(["plugins", "search", "--insecure", "terraform"]));
    assert!(
        out.contains("terraform-generator") && out.contains("Terraform as Jobs"),
        "{out}"
    );

    // A bad index is refused before anything is pushed.
    let bad = s.write(
        "bad.yaml",
        "apiVersion: kure.dev/v1\nkind: PluginIndex\nplugins:\n  - name: ../x\n    source: oci://r/x\n    versions: [\"1.0.0\"]\n",
    );
    let bad_at = format!("{}:bad", reg.reference("kure/index"));
    let o = run(s
        .kure()
        .args(["plugins", "index", "push", "--insecure"])
        .arg(&bad)
        .arg(&bad_at));
    expect_failure(&o, &["plugin #1"]);
    let o = run(s
        .kure()
        .args(["plugins", "index", "add", "bad", "--insecure", &bad_at]));
    expect_failure(&o, &["kure/index:bad"]);
    // A plugin artifact is not an index.
    let o = run(s.kure().args([
        "plugins",
        "index",
        "add",
        "wrong",
        "--insecure",
        &format!("{repo}:1.0.0"),
    ]));
    expect_failure(&o, &["not a kure plugin index"]);
    // The index layer changed in the registry's storage: refused by its digest.
    let blob = reg.blob_holding(&std::fs::read(&index).expect("index"));
    let mut bytes = std::fs::read(&blob).expect("the stored layer");
    let last = bytes.len() - 2;
    bytes[last] ^= 0x01;
    std::fs::write(&blob, bytes).expect("tamper");
    let o = run(s.kure().args(["plugins", "search", "--insecure"]));
    let all = format!("{}{}", stdout(&o), stderr(&o));
    assert!(all.contains("skipped index team"), "{all}");
    assert!(!all.contains("Terraform as Jobs"), "{all}");
}

/// An index that lists a version nobody this machine trusts signed: `upgrade` refuses it with
/// the usual trust message (an index decides nothing about trust), and the installed version
/// stays.
#[test]
fn an_index_entry_signed_by_nobody_trusted_is_not_installed_by_upgrade() {
    let Some(reg) = Registry::start("registry index untrusted entry") else {
        return;
    };
    let s = Sandbox::new();
    let key = s.trusted_key();
    let repo = reg.reference("kure/rawabi");
    let v1 = rawabi(&s, "v1", "none");
    openssl_sign(&v1, &key);
    let o = push(&s, &v1, &format!("{repo}:0.1.0"), &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    // Someone else publishes 0.2.0 under the same repository, with their own key.
    let mallory = Sandbox::new();
    let their_key = mallory.trusted_key();
    let v2 = rawabi(&mallory, "v2", "version:0.2.0");
    openssl_sign(&v2, &their_key);
    let o = push(&mallory, &v2, &format!("{repo}:0.2.0"), &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    team_index(&s, "rawabi", &repo, &["0.1.0", "0.2.0"]);
    let o = install(&s, &format!("{repo}:0.1.0"), &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = run(s.kure().args(["plugins", "upgrade", "--insecure"]));
    expect_failure(&o, &[&format!("{repo}:0.2.0"), "kure trust add"]);
    let listed: serde_json::Value =
        serde_json::from_str(&ok(s.kure().args(["plugins", "list", "-o", "json"]))).unwrap();
    assert_eq!(listed[0]["version"], "0.1.0", "{listed}");
}
