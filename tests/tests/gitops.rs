//! kure in the GitOps toolchain: as a kustomize generator (the real `kubectl kustomize
//! --enable-alpha-plugins`), and as a KRM function (`kure fn`) on ResourceLists.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Output};

use kure_tests::*;

fn docs(stream: &str) -> Vec<serde_json::Value> {
    stream
        .split("\n---\n")
        .map(|d| d.trim_start_matches("---\n"))
        .filter(|d| !d.trim().is_empty())
        .map(|d| yaml_serde::from_str(d).unwrap())
        .collect()
}

fn kinds_and_names(objects: &[serde_json::Value]) -> BTreeSet<(String, String)> {
    objects
        .iter()
        .map(|o| {
            (
                o["kind"].as_str().unwrap().to_owned(),
                o["metadata"]["name"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn kubectl_kustomize(s: &Sandbox, home: &Path, dir: &Path) -> Output {
    Command::new("kubectl")
        .args(["kustomize", "--enable-alpha-plugins"])
        .arg(dir)
        .env("KUSTOMIZE_PLUGIN_HOME", home)
        .env("KURE_HOME", s.path().join("home"))
        .env("KURE_SYSTEM_DIR", s.path().join("system"))
        .env_remove("KURE_PLUGIN_PATH")
        .env_remove("KURE_ALLOW_UNSIGNED")
        .output()
        .expect("kubectl")
}

#[test]
fn kubectl_kustomize_renders_kure_specs_through_the_installed_shims() {
    if !have_tool(
        "kubectl",
        "kubectl_kustomize_renders_kure_specs_through_the_installed_shims",
        "kubectl with kustomize",
    ) {
        return;
    }
    let s = Sandbox::new();
    let key = s.trusted_key();
    ok(s.kure()
        .args(["plugins", "install"])
        .arg(s.signed_copy(&terraform_lib(), &key)));
    let home = s.path().join("kustomize-plugins");
    let o = run(s
        .kure()
        .args(["kustomize", "install-plugins", "--home"])
        .arg(&home));
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    for kind in ["AppWorkload", "FluxHelm", "TerraformConfig"] {
        assert!(out.contains(kind), "{out}");
    }
    // Issue 30: the shims pin this binary's path, and install says so.
    assert!(
        stderr(&o).contains(&format!("the shims run {}", kure_bin().display())),
        "{}",
        stderr(&o)
    );
    let shim = home.join("generators.gokure.dev/v1alpha1/appworkload/AppWorkload");
    assert!(std::fs::read_to_string(&shim)
        .unwrap()
        .contains("--quiet kustomize generate \"$1\""));

    let app = s.path().join("app");
    std::fs::create_dir_all(&app).unwrap();
    for f in ["shop.yaml", "terraform-dns.yaml"] {
        std::fs::copy(root().join("examples").join(f), app.join(f)).unwrap();
    }
    std::fs::write(
        app.join("namespace.yaml"),
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: web\n",
    )
    .unwrap();
    std::fs::write(
        app.join("kustomization.yaml"),
        "resources:\n- namespace.yaml\ngenerators:\n- shop.yaml\n- terraform-dns.yaml\ncommonLabels:\n  team: shop\n",
    )
    .unwrap();
    let o = kubectl_kustomize(&s, &home, &app);
    assert!(o.status.success(), "{}", stderr(&o));
    let built = docs(&stdout(&o));
    let direct = docs(&ok(s
        .kure()
        .args(["generate", "-f"])
        .arg(app.join("shop.yaml"))
        .arg(app.join("terraform-dns.yaml"))));
    let mut expected = kinds_and_names(&direct);
    expected.insert(("Namespace".to_owned(), "web".to_owned()));
    assert_eq!(kinds_and_names(&built), expected);
    // kustomize's own transformers ran on what kure generated.
    assert!(built
        .iter()
        .all(|o| o["metadata"]["labels"]["team"] == "shop"));

    // kure's validation applies: a bad spec fails the build with kure's message.
    std::fs::write(
        app.join("shop.yaml"),
        std::fs::read_to_string(root().join("examples/shop.yaml"))
            .unwrap()
            .replace("replicas: 3", "replicas: -1"),
    )
    .unwrap();
    let o = kubectl_kustomize(&s, &home, &app);
    assert!(!o.status.success());
    // Issue 30: the message names the user's file and line, not kustomize's re-written
    // temporary copy (keys sorted, comments gone: not even its lines are the user's).
    let line = std::fs::read_to_string(app.join("shop.yaml"))
        .unwrap()
        .lines()
        .position(|l| l.contains("replicas: -1"))
        .unwrap()
        + 1;
    assert!(
        stderr(&o).contains(&format!(
            "{}:{line}: app `shop`: spec.replicas: must be at least 0, found -1",
            app.join("shop.yaml").display()
        )),
        "{}",
        stderr(&o)
    );
    // A second document of a listed file, below comments: its own line.
    let two = "# more apps\n---\n# the second\napiVersion: generators.gokure.dev/v1alpha1\nkind: AppWorkload\nmetadata:\n  name: two\nspec:\n  workload: Deployment\n  containers:\n  - name: two\n    imag: two:1\n";
    std::fs::write(app.join("more.yaml"), two).unwrap();
    std::fs::copy(root().join("examples/shop.yaml"), app.join("shop.yaml")).unwrap();
    std::fs::write(
        app.join("kustomization.yaml"),
        "resources:\n- namespace.yaml\ngenerators:\n- shop.yaml\n- more.yaml\n",
    )
    .unwrap();
    let o = kubectl_kustomize(&s, &home, &app);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains(&format!(
            "{}:12: app `two`: spec.containers[0].imag: unknown field",
            app.join("more.yaml").display()
        )),
        "{}",
        stderr(&o)
    );
    std::fs::write(
        app.join("kustomization.yaml"),
        "resources:\n- namespace.yaml\ngenerators:\n- shop.yaml\n- terraform-dns.yaml\n",
    )
    .unwrap();
    // And its trust rules: a modified installed plugin is refused.
    std::fs::copy(root().join("examples/shop.yaml"), app.join("shop.yaml")).unwrap();
    let lib = s
        .installed_dir("terraform-generator")
        .join("libkure_terraform_generator.so");
    std::fs::write(&lib, b"tampered").unwrap();
    let o = kubectl_kustomize(&s, &home, &app);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("modified after it was installed"),
        "{}",
        stderr(&o)
    );
}

fn kure_fn(s: &Sandbox, input: &str) -> Output {
    run_with_stdin(s.kure().args(["--allow-unsigned", "fn"]), input)
}

/// A YAML document indented as a list item.
fn item(doc: &str, annotations: &str) -> String {
    let mut lines: Vec<String> = Vec::new();
    for (i, l) in doc.lines().filter(|l| !l.starts_with('#')).enumerate() {
        lines.push(format!("{}{l}", if i == 0 { "- " } else { "  " }));
        if l == "metadata:" && !annotations.is_empty() {
            lines.push(format!("    annotations:\n{annotations}"));
        }
    }
    lines.join("\n") + "\n"
}

#[test]
fn kure_fn_replaces_specs_with_what_they_generate_and_passes_the_rest_through() {
    let s = Sandbox::new();
    s.add_plugin(&terraform_lib());
    let shop = std::fs::read_to_string(root().join("examples/shop.yaml")).unwrap();
    let dns = std::fs::read_to_string(root().join("examples/terraform-dns.yaml")).unwrap();
    let flux = std::fs::read_to_string(root().join("examples/podinfo.yaml")).unwrap();
    let namespace = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: web\n";
    let foreign = "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w\nspec:\n  anything: [1, 2]\n";
    let config: String = flux
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| format!("  {l}\n"))
        .collect();
    let input = format!(
        "apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems:\n{}{}{}{}functionConfig:\n{config}",
        item(namespace, "      config.kubernetes.io/index: '0'"),
        item(&shop, "      internal.config.kubernetes.io/path: apps/shop.yaml\n      config.kubernetes.io/index: '1'"),
        item(foreign, ""),
        item(&dns, ""),
    );
    let o = kure_fn(&s, &input);
    assert!(o.status.success(), "{}", stderr(&o));
    let list: serde_json::Value = yaml_serde::from_str(&stdout(&o)).unwrap();
    assert_eq!(list["apiVersion"], "config.kubernetes.io/v1");
    assert_eq!(list["kind"], "ResourceList");
    assert!(list.get("results").is_none(), "{list}");
    let items = list["items"].as_array().unwrap();
    // The same objects `kure generate` makes, in input order, the config's last.
    let generate = |f: &str| {
        docs(&ok(s
            .kure()
            .args(["--allow-unsigned", "generate", "-f"])
            .arg(root().join("examples").join(f))))
    };
    let mut expected = vec![yaml_serde::from_str::<serde_json::Value>(namespace).unwrap()];
    expected[0]["metadata"]["annotations"] = serde_json::json!({"config.kubernetes.io/index": "0"});
    expected.extend(generate("shop.yaml"));
    expected.push(yaml_serde::from_str(foreign).unwrap());
    expected.extend(generate("terraform-dns.yaml"));
    expected.extend(generate("podinfo.yaml"));
    assert_eq!(items, &expected);
    // The runtime's annotations on a spec are not copied onto what it generates.
    assert!(!stdout(&o).contains("internal.config.kubernetes.io/path"));
}

#[test]
fn kure_fn_reports_problems_as_results_and_exits_1() {
    let s = Sandbox::new();
    let bad = "apiVersion: generators.gokure.dev/v1alpha1\nkind: AppWorkload\nmetadata:\n  name: shop\nspec:\n  workload: Deployment\n  replicas: -1\n  containers:\n  - name: shop\n    imag: shop:1\n";
    let unknown =
        "apiVersion: generators.gokure.dev/v1alpha1\nkind: AppWorkloda\nmetadata:\n  name: x\n";
    let input = format!(
        "apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems:\n{}{}",
        item(
            bad,
            "      internal.config.kubernetes.io/path: apps/shop.yaml"
        ),
        item(unknown, ""),
    );
    let o = kure_fn(&s, &input);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let list: serde_json::Value = yaml_serde::from_str(&stdout(&o)).unwrap();
    // The items come back unchanged; each problem is a result with file and field.
    assert_eq!(list["items"].as_array().unwrap().len(), 2);
    assert_eq!(list["items"][0]["spec"]["replicas"], -1);
    let results = list["results"].as_array().unwrap();
    let find = |field: &str| {
        results
            .iter()
            .find(|r| r["field"]["path"] == field)
            .unwrap_or_else(|| panic!("no result for {field}: {list}"))
    };
    let r = find("spec.replicas");
    assert_eq!(r["severity"], "error");
    assert_eq!(r["file"]["path"], "apps/shop.yaml");
    assert!(r["message"]
        .as_str()
        .unwrap()
        .contains("must be at least 0"));
    assert!(find("spec.containers[0].imag")["message"]
        .as_str()
        .unwrap()
        .contains("did you mean `image`?"));
    // An unknown kind in a kure group is a misspelt kure spec (issue 30; it used to pass
    // through unchanged with exit 0): an error result, with `kure generate`'s did-you-mean.
    let typo = results
        .iter()
        .find(|r| r["file"]["path"] == "items[1]")
        .unwrap_or_else(|| panic!("no result for the misspelt kind: {list}"));
    assert_eq!(typo["severity"], "error");
    assert!(
        typo["message"]
            .as_str()
            .unwrap()
            .contains("did you mean generators.gokure.dev/v1alpha1/AppWorkload"),
        "{typo}"
    );

    // Not a ResourceList: an error, nothing on stdout.
    let o = kure_fn(&s, "apiVersion: v1\nkind: List\nitems: []\n");
    let err = expect_failure(&o, &["not a ResourceList", "config.kubernetes.io/v1"]);
    assert_eq!(err.lines().count(), 1, "{err}");
}

/// A sandbox whose KURE_HOME has the signed terraform plugin installed, and a work directory
/// holding a copy of the examples.
fn gitops_sandbox() -> (Sandbox, std::path::PathBuf) {
    let s = Sandbox::new();
    let key = s.trusted_key();
    ok(s.kure()
        .args(["plugins", "install"])
        .arg(s.signed_copy(&terraform_lib(), &key)));
    let apps = s.path().join("repo/apps");
    std::fs::create_dir_all(&apps).unwrap();
    for e in std::fs::read_dir(root().join("examples")).unwrap() {
        let p = e.unwrap().path();
        std::fs::copy(&p, apps.join(p.file_name().unwrap())).unwrap();
    }
    (s, apps)
}

/// `sh -c COMMAND` in `dir`, as Argo CD's cmp-server or a CI job runs it: kure on PATH.
fn sh(s: &Sandbox, dir: &Path, command: &str) -> Output {
    let bin = kure_bin();
    Command::new("sh")
        .args(["-c", command])
        .current_dir(dir)
        .env(
            "PATH",
            format!(
                "{}:{}",
                bin.parent().unwrap().display(),
                std::env::var("PATH").unwrap_or_default()
            ),
        )
        .env("KURE_HOME", s.path().join("home"))
        .env("KURE_SYSTEM_DIR", s.path().join("system"))
        .env_remove("KURE_PLUGIN_PATH")
        .env_remove("KURE_ALLOW_UNSIGNED")
        .output()
        .unwrap()
}

/// deploy/argocd copied into the sandbox with a trusted-signers.pem of a new key, as its
/// kustomization.yaml tells the user to do; the key.
fn argocd_with_signers(s: &Sandbox) -> (std::path::PathBuf, String) {
    let copy = s.path().join("argocd");
    std::fs::create_dir_all(&copy).unwrap();
    for f in std::fs::read_dir(root().join("deploy/argocd"))
        .unwrap()
        .flatten()
    {
        std::fs::copy(f.path(), copy.join(f.file_name())).unwrap();
    }
    let (_, public) = openssl_keypair(s.path(), "argocd-signer", 2048);
    std::fs::copy(&public, copy.join("trusted-signers.pem")).unwrap();
    (copy, std::fs::read_to_string(&public).unwrap())
}

#[test]
fn the_argocd_plugin_commands_render_the_examples() {
    if !have_tool(
        "kubectl",
        "the_argocd_plugin_commands_render_the_examples",
        "kubectl with kustomize",
    ) {
        return;
    }
    let (s, apps) = gitops_sandbox();
    let plugin: serde_json::Value = yaml_serde::from_str(
        &std::fs::read_to_string(root().join("deploy/argocd/plugin.yaml")).unwrap(),
    )
    .unwrap();
    assert_eq!(plugin["kind"], "ConfigManagementPlugin");
    let command = |stage: &str| -> String {
        let c = &plugin["spec"][stage];
        let c = if stage == "discover" { &c["find"] } else { c };
        assert_eq!(c["command"], serde_json::json!(["sh", "-c"]), "{stage}");
        assert_eq!(c["args"].as_array().map(Vec::len), Some(1), "{stage}");
        c["args"][0].as_str().unwrap().to_owned()
    };
    // discover finds the specs; init validates; generate prints what `kure generate` prints.
    let found = sh(&s, &apps, &command("discover"));
    assert!(
        found.status.success() && !stdout(&found).trim().is_empty(),
        "{}",
        stderr(&found)
    );
    let init = sh(&s, &apps, &command("init"));
    assert!(init.status.success(), "{}", stderr(&init));
    assert_eq!(stdout(&init), "", "init must print nothing under --quiet");
    let generated = sh(&s, &apps, &command("generate"));
    assert!(generated.status.success(), "{}", stderr(&generated));
    assert_eq!(stderr(&generated), "");
    assert_eq!(
        stdout(&generated),
        ok(s.kure().args(["generate", "-f"]).arg(&apps))
    );
    // A directory without kure specs is not discovered.
    let other = s.path().join("repo/plain");
    std::fs::create_dir_all(&other).unwrap();
    std::fs::write(
        other.join("cm.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n",
    )
    .unwrap();
    assert_eq!(stdout(&sh(&s, &other, &command("discover"))), "");
    // Issue 30: another project's `generators.` group (External Secrets) is not kure's.
    std::fs::write(
        other.join("password.yaml"),
        "apiVersion: generators.external-secrets.io/v1alpha1\nkind: Password\nmetadata:\n  name: x\n",
    )
    .unwrap();
    assert_eq!(stdout(&sh(&s, &other, &command("discover"))), "");
    // An installed plugin's group is (the sandbox has the terraform plugin installed).
    std::fs::copy(
        root().join("examples/terraform-dns.yaml"),
        other.join("dns.yaml"),
    )
    .unwrap();
    assert_eq!(
        stdout(&sh(&s, &other, &command("discover"))).trim(),
        "./dns.yaml"
    );

    // The ConfigMap holds plugin.yaml, and the sidecar patch applies to a repo-server.
    let built = docs(&ok(Command::new("kubectl")
        .args(["kustomize"])
        .arg(argocd_with_signers(&s).0)));
    assert_eq!(built[0]["kind"], "ConfigMap");
    assert_eq!(built[0]["metadata"]["name"], "kure-cmp-plugin");
    assert_eq!(
        built[0]["data"]["plugin.yaml"].as_str().unwrap(),
        std::fs::read_to_string(root().join("deploy/argocd/plugin.yaml")).unwrap()
    );
    let base = s.write(
        "repo-server.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: argocd-repo-server\nspec:\n  selector:\n    matchLabels: {app: repo}\n  template:\n    metadata:\n      labels: {app: repo}\n    spec:\n      containers:\n      - name: argocd-repo-server\n        image: quay.io/argoproj/argocd:v2\n",
    );
    let patched = ok(Command::new("kubectl")
        .args(["patch", "--local", "-o", "yaml", "-f"])
        .arg(&base)
        .arg("--patch-file")
        .arg(root().join("deploy/argocd/sidecar.yaml")));
    let patched: serde_json::Value = yaml_serde::from_str(&patched).unwrap();
    let names: Vec<&str> = patched["spec"]["template"]["spec"]["containers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["kure", "argocd-repo-server"]);
}

#[test]
fn the_flux_render_script_writes_a_tree_kustomize_builds() {
    if !have_tool(
        "kubectl",
        "the_flux_render_script_writes_a_tree_kustomize_builds",
        "kubectl with kustomize",
    ) {
        return;
    }
    let (s, apps) = gitops_sandbox();
    let repo = apps.parent().unwrap().to_path_buf();
    let script = root().join("deploy/flux/render.sh");
    let o = sh(&s, &repo, &format!("sh {}", script.display()));
    assert!(o.status.success(), "{}", stderr(&o));
    let flux: serde_json::Value = yaml_serde::from_str(
        &std::fs::read_to_string(root().join("deploy/flux/flux-kustomization.yaml")).unwrap(),
    )
    .unwrap();
    assert_eq!(flux["kind"], "Kustomization");
    let path = flux["spec"]["path"].as_str().unwrap();
    let rendered = repo.join(path);
    assert!(rendered.join("kustomization.yaml").is_file());
    let built = docs(&ok(Command::new("kubectl").arg("kustomize").arg(&rendered)));
    let direct = docs(&ok(s.kure().args(["generate", "-f"]).arg(&apps)));
    assert_eq!(kinds_and_names(&built), kinds_and_names(&direct));
    // Run again: the tree is replaced, not merged into.
    // (every app of namespace `web`)
    std::fs::remove_file(apps.join("shop.yaml")).unwrap();
    std::fs::remove_file(apps.join("hardened-web.yaml")).unwrap();
    let o = sh(&s, &repo, &format!("sh {}", script.display()));
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        !std::fs::read_to_string(rendered.join("kustomization.yaml"))
            .unwrap()
            .contains("web")
    );
}

/// Issue 30: a FluxHelm chart from an OCI source with a version range rendered `ref.tag: 6.*`,
/// a tag no registry has. A range is `ref.semver`; a version stays `ref.tag`.
#[test]
fn a_flux_oci_chart_range_becomes_ref_semver() {
    let s = Sandbox::new();
    let podinfo = std::fs::read_to_string(root().join("examples/podinfo.yaml")).unwrap();
    for (version, expected) in [
        ("\"6.*\"", serde_json::json!({"semver": "6.*"})),
        ("^6.0.0", serde_json::json!({"semver": "^6.0.0"})),
        ("6.7.1", serde_json::json!({"tag": "6.7.1"})),
    ] {
        let spec = s.write(
            "podinfo.yaml",
            &podinfo.replace("version: 6.7.1", &format!("version: {version}")),
        );
        let objects = docs(&ok(s.kure().args(["generate", "-f"]).arg(&spec)));
        let repo = objects
            .iter()
            .find(|o| o["kind"] == "OCIRepository")
            .unwrap_or_else(|| panic!("no OCIRepository: {objects:?}"));
        assert_eq!(repo["spec"]["ref"], expected, "{version}");
    }
}

/// Issue 30: `deploy/flux/kustomization.yaml` held a Flux object, so `kubectl kustomize` of the
/// directory failed (`unknown field "spec"`). Every deploy directory builds with kustomize,
/// and the Argo CD plugin parses as a ConfigManagementPlugin with its commands.
#[test]
fn every_deploy_directory_builds_with_kubectl_kustomize() {
    if !have_tool(
        "kubectl",
        "every_deploy_directory_builds_with_kubectl_kustomize",
        "kubectl with kustomize",
    ) {
        return;
    }
    let mut built = Vec::new();
    let s = Sandbox::new();
    let mut argocd_signers = String::new();
    for dir in std::fs::read_dir(root().join("deploy")).unwrap().flatten() {
        let mut dir = dir.path();
        if !dir.join("kustomization.yaml").is_file() {
            continue;
        }
        if dir.ends_with("argocd") {
            // As its kustomization.yaml says: the signers' keys first, or the build fails.
            assert!(!dir.join("trusted-signers.pem").exists(), "no key may ship");
            let refused = run(Command::new("kubectl").arg("kustomize").arg(&dir));
            assert!(
                !refused.status.success(),
                "built without trusted-signers.pem"
            );
            (dir, argocd_signers) = argocd_with_signers(&s);
        }
        let out = ok(Command::new("kubectl").arg("kustomize").arg(&dir));
        if dir.ends_with("argocd") {
            let signers = docs(&out)
                .into_iter()
                .find(|d| d["metadata"]["name"] == "kure-trusted-signers")
                .expect("the signers' ConfigMap");
            assert_eq!(
                signers["data"]["trusted-signers.pem"],
                argocd_signers.as_str()
            );
        }
        let kinds: Vec<String> = docs(&out)
            .iter()
            .map(|d| d["kind"].as_str().unwrap_or("").to_owned())
            .collect();
        built.push((
            dir.file_name().unwrap().to_string_lossy().into_owned(),
            kinds,
        ));
    }
    built.sort();
    assert_eq!(
        built,
        [
            (
                "argocd".to_owned(),
                vec!["ConfigMap".to_owned(), "ConfigMap".to_owned()]
            ),
            ("flux".to_owned(), vec!["Kustomization".to_owned()]),
        ]
    );
    let plugin: serde_json::Value = yaml_serde::from_str(
        &std::fs::read_to_string(root().join("deploy/argocd/plugin.yaml")).unwrap(),
    )
    .unwrap();
    assert_eq!(plugin["apiVersion"], "argoproj.io/v1alpha1");
    assert_eq!(plugin["kind"], "ConfigManagementPlugin");
    for step in ["init", "generate"] {
        assert!(
            plugin["spec"][step]["command"].is_array(),
            "{step}: {plugin}"
        );
    }
}

/// Issue 30: the sidecar's image is built by deploy/argocd/Dockerfile, tagged with what
/// `kure version` prints, and sidecar.yaml names that tag; the image holds kure where the
/// plugin's commands find it and runs as Argo CD's user. (Building the image needs a container
/// engine, which this machine does not have: the recipe's parts are checked as text.)
#[test]
fn the_argocd_sidecar_image_is_built_and_tagged_as_kure_version_says() {
    let version = ok(Command::new(kure_bin()).arg("version"));
    let version = version
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("kure "))
        .expect("kure VERSION")
        .to_owned();
    let tag = format!("registry.example.com/kure:{version}");
    let sidecar = std::fs::read_to_string(root().join("deploy/argocd/sidecar.yaml")).unwrap();
    let patch: serde_json::Value = yaml_serde::from_str(&sidecar).unwrap();
    assert_eq!(
        patch["spec"]["template"]["spec"]["containers"][0]["image"],
        tag.as_str()
    );
    let docker = std::fs::read_to_string(root().join("deploy/argocd/Dockerfile")).unwrap();
    assert!(docker.contains(&format!("-t {tag} .")), "{docker}");
    let rust = std::fs::read_to_string(root().join("Cargo.toml"))
        .unwrap()
        .lines()
        .find_map(|l| {
            Some(
                l.strip_prefix("rust-version = \"")?
                    .trim_end_matches('"')
                    .to_owned(),
            )
        })
        .expect("rust-version");
    assert!(docker.contains(&format!("FROM rust:{rust}-")), "{docker}");
    for line in [
        "RUN cargo build --release --locked -p kure-cli",
        "COPY --from=build /src/target/release/kure /usr/local/bin/kure",
        "USER 999:999",
    ] {
        assert!(docker.lines().any(|l| l == line), "{line}\n{docker}");
    }
    assert!(sidecar.contains("runAsUser: 999"), "{sidecar}");
}

/// Issue 30: a directory mixing plain manifests (and a kustomization.yaml) with kure specs was
/// refused (`unknown field data`). With `--passthrough` every document in an API group kure
/// does not generate for is copied through, in input order; kustomize configuration is left
/// out and named; a misspelt kind in kure's own groups (a built-in's or a plugin's) is still an
/// error; a copied object's name and namespace cannot become paths; and a copied object that
/// an app also produces is a duplicate.
#[test]
fn generate_passthrough_copies_plain_manifests_beside_the_specs() {
    let s = Sandbox::new();
    s.add_plugin(&terraform_lib());
    let dir = s.path().join("mixed");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(root().join("examples/shop.yaml"), dir.join("shop.yaml")).unwrap();
    std::fs::copy(
        root().join("examples/terraform-dns.yaml"),
        dir.join("terraform-dns.yaml"),
    )
    .unwrap();
    let plain = "# plain manifests\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: shop-config\n  namespace: web\ndata:\n  key: value  # a comment\n---\napiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w\nspec:\n  anything: [1, 2]\n";
    std::fs::write(dir.join("a-plain.yaml"), plain).unwrap();
    std::fs::write(
        dir.join("kustomization.yaml"),
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n- a-plain.yaml\n",
    )
    .unwrap();
    let generate = || {
        let mut c = s.kure();
        c.args(["--allow-unsigned", "generate"]);
        c
    };
    // Without the flag, the plain manifests are refused as specs, as before.
    expect_failure(
        &run(generate().arg("-f").arg(&dir)),
        &["a-plain.yaml:7", "data"],
    );

    let o = run(generate().arg("-f").arg(&dir).arg("--passthrough"));
    assert!(o.status.success(), "{}", stderr(&o));
    let mut expected: Vec<serde_json::Value> = plain
        .split("---\n")
        .map(|d| yaml_serde::from_str(d).unwrap())
        .collect();
    for f in ["shop.yaml", "terraform-dns.yaml"] {
        expected.extend(docs(&ok(generate()
            .arg("-f")
            .arg(root().join("examples").join(f)))));
    }
    assert_eq!(docs(&stdout(&o)), expected);
    let err = stderr(&o);
    assert!(
        err.contains("2 objects copied through unchanged")
            && err.contains("1 ConfigMap (v1)")
            && err.contains("1 Widget (example.com/v1)"),
        "{err}"
    );
    assert!(
        err.contains("kustomization.yaml:1: kustomize configuration left out"),
        "{err}"
    );
    assert!(!stdout(&o).contains("Kustomization"));
    let v = run(s
        .kure()
        .args(["--allow-unsigned", "validate", "--passthrough", "-f"])
        .arg(&dir));
    assert!(v.status.success(), "{}", stderr(&v));

    // The -o tree holds the copies beside the apps, and kustomize builds the same objects.
    let out = s.path().join("out");
    let o = run(generate()
        .arg("-f")
        .arg(&dir)
        .arg("--passthrough")
        .arg("-o")
        .arg(&out));
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(out
        .join("web/_passthrough/configmap-shop-config.yaml")
        .is_file());
    assert!(out.join("default/_passthrough/widget-w.yaml").is_file());
    if have_tool(
        "kubectl",
        "generate_passthrough_copies_plain_manifests_beside_the_specs",
        "kubectl with kustomize",
    ) {
        let k = Command::new("kubectl")
            .arg("kustomize")
            .arg(&out)
            .output()
            .unwrap();
        assert!(k.status.success(), "{}", stderr(&k));
        assert_eq!(
            kinds_and_names(&docs(&stdout(&k))),
            kinds_and_names(&expected)
        );
    }

    // A kure kind in a misspelt group is a wrong spec too, not a plain object.
    let text = std::fs::read_to_string(dir.join("shop.yaml")).unwrap();
    let bad = s.write(
        "typo-group.yaml",
        &text.replace("generators.gokure.dev", "generator.gokure.dev"),
    );
    let o = run(generate().arg("-f").arg(&bad).arg("--passthrough"));
    expect_failure(
        &o,
        &[
            "no generator for",
            "did you mean generators.gokure.dev/v1alpha1/AppWorkload",
        ],
    );
    // A misspelt kind in a built-in's group, and in a plugin's group, is a wrong spec.
    for (file, typo, needle) in [
        ("shop.yaml", "kind: AppWorkload", "did you mean"),
        (
            "terraform-dns.yaml",
            "kind: TerraformConfig",
            "TerraformConfi",
        ),
    ] {
        let text = std::fs::read_to_string(dir.join(file)).unwrap();
        assert!(text.contains(typo), "{file}");
        let bad = s.write(
            &format!("typo-{file}"),
            &text.replace(typo, &format!("{}x", &typo[..typo.len() - 1])),
        );
        let o = run(generate().arg("-f").arg(&bad).arg("--passthrough"));
        expect_failure(&o, &["no generator for", needle]);
    }

    // Names that would be paths, and an object an app also produces.
    for (doc, needles) in [
        (
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ../../escape\n",
            &["hostile.yaml:4", "metadata.name `../../escape`"][..],
        ),
        (
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n  namespace: a/b\n",
            &["hostile.yaml:5", "metadata.namespace `a/b`"][..],
        ),
        (
            "apiVersion: v1\nkind: ConfigMap\ndata: {}\n",
            &["hostile.yaml:1", "no metadata.name"][..],
        ),
        (
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: shop\n  namespace: web\n",
            &[
                "hostile.yaml:1",
                "copied through with --passthrough",
                "deployment-shop",
            ][..],
        ),
    ] {
        let hostile = s.write("hostile.yaml", doc);
        let o = run(generate()
            .arg("-f")
            .arg(dir.join("shop.yaml"))
            .arg(&hostile)
            .arg("--passthrough")
            .arg("-o")
            .arg(&out));
        expect_failure(&o, needles);
        assert!(!s.path().join("escape").exists());
        // The previous tree is untouched.
        assert!(out
            .join("web/_passthrough/configmap-shop-config.yaml")
            .is_file());
    }
}

/// `kure kustomize generate` on a copy it cannot trace to a listed file still generates it,
/// and when that fails says that the lines are those of kustomize's copy.
#[test]
fn kustomize_generate_says_when_lines_are_those_of_kustomizes_copy() {
    let s = Sandbox::new();
    let shop = std::fs::read_to_string(root().join("examples/shop.yaml")).unwrap();
    let copy = s.write("copy.yaml", &shop);
    let o = run(s
        .kure()
        .args(["--quiet", "kustomize", "generate"])
        .arg(&copy)
        .current_dir(s.path()));
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        docs(&stdout(&o)),
        docs(&ok(s.kure().args(["generate", "-f"]).arg(&copy)))
    );
    let copy = s.write("copy.yaml", &shop.replace("replicas: 3", "replicas: -1"));
    let o = run(s
        .kure()
        .args(["--quiet", "kustomize", "generate"])
        .arg(&copy)
        .current_dir(s.path()));
    expect_failure(
        &o,
        &[
            "the lines below are those of kustomize's re-written copy",
            "copy.yaml:",
            "spec.replicas",
        ],
    );
}

/// Review of issue 30's --passthrough: a copy is the text as written (kubectl reads YAML 1.1:
/// `0644` is octal and `no` is false there, which a re-written YAML 1.2 value would change),
/// and an object without a namespace is the same object as one in `default`.
#[test]
fn passthrough_copies_the_text_and_finds_duplicates_across_default() {
    let s = Sandbox::new();
    let plain = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: modes  # as written\ndata:\n  mode: 0644\n  enabled: no\n";
    let f = s.write("plain.yaml", plain);
    let o = run(s.kure().args(["generate", "--passthrough", "-f"]).arg(&f));
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), format!("---\n{plain}"));
    let shop = s.write(
        "shop.yaml",
        &std::fs::read_to_string(root().join("examples/shop.yaml"))
            .unwrap()
            .replace("  namespace: web\n", ""),
    );
    let svc = s.write(
        "svc.yaml",
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: shop\n  namespace: default\nspec:\n  ports:\n  - port: 80\n",
    );
    let o = run(s
        .kure()
        .args(["generate", "--passthrough", "-f"])
        .arg(&shop)
        .arg(&svc));
    expect_failure(&o, &["svc.yaml:1", "service-shop", "namespace `default`"]);
}

/// Review of issue 30: a valid 253-character name makes `configmap-<name>.yaml` longer than a
/// file name may be; it is refused at its line before anything is written, not at commit.
#[test]
fn passthrough_refuses_a_name_too_long_for_a_file_name() {
    let s = Sandbox::new();
    let name = format!(
        "{}.{}.{}.{}",
        "a".repeat(63),
        "b".repeat(63),
        "c".repeat(63),
        "d".repeat(61)
    );
    let f = s.write(
        "long.yaml",
        &format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n"),
    );
    let out = s.path().join("out");
    let o = run(s
        .kure()
        .args(["generate", "--passthrough", "-f"])
        .arg(&f)
        .arg("-o")
        .arg(&out));
    expect_failure(&o, &["long.yaml:4", "file name of 268 bytes"]);
    assert!(!out.exists());
}
