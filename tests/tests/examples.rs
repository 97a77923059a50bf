//! The shipped examples: golden output, the kustomize tree, upstream schema validation, and
//! every example in a generator's documentation.

#![allow(clippy::unwrap_used)]

use kure_tests::*;

fn sandbox_with_terraform() -> Sandbox {
    let s = Sandbox::new();
    s.add_plugin(&terraform_lib());
    s
}

fn example_files() -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(root().join("examples"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    v.sort();
    v
}

#[test]
fn each_example_matches_its_golden_file() {
    let s = sandbox_with_terraform();
    let files = example_files();
    assert!(files.len() >= 6, "examples/ lost files: {files:?}");
    for f in files {
        let o = s.generate_unsigned(&f);
        assert!(o.status.success(), "{}: {}", f.display(), stderr(&o));
        let name = f.file_stem().unwrap().to_string_lossy().into_owned();
        golden(&format!("{name}.yaml"), &stdout(&o));
    }
}

#[test]
fn output_is_deterministic_and_in_input_order() {
    let s = sandbox_with_terraform();
    let examples = root().join("examples");
    let a = s.generate_unsigned(&examples);
    let b = s.generate_unsigned(&examples);
    assert!(a.status.success(), "{}", stderr(&a));
    assert_eq!(a.stdout, b.stdout);
    let out = stdout(&a);
    // Files are read in path order: hardened-web, ingress-nginx, podinfo, postgres, shop,
    // terraform-*.
    let first_kinds: Vec<&str> = out
        .lines()
        .filter_map(|l| l.strip_prefix("kind: "))
        .collect();
    assert_eq!(
        &first_kinds[..8],
        [
            "Deployment",
            "Service",
            "ServiceAccount",
            "HorizontalPodAutoscaler",
            "PodDisruptionBudget",
            "Ingress",
            "HelmRepository",
            "HelmRelease"
        ]
    );
    assert_eq!(first_kinds.last(), Some(&"Job"));
}

#[test]
fn output_dir_is_a_kustomize_tree_that_kubectl_builds() {
    if !have_tool(
        "kubectl",
        "output_dir_is_a_kustomize_tree_that_kubectl_builds",
        "kubectl with kustomize",
    ) {
        return;
    }
    let s = sandbox_with_terraform();
    let out = s.path().join("out");
    let o = run(s
        .kure()
        .args(["--allow-unsigned", "generate", "-f"])
        .arg(root().join("examples"))
        .arg("-o")
        .arg(&out));
    assert!(o.status.success(), "{}", stderr(&o));
    for rel in [
        "kustomization.yaml",
        "web/kustomization.yaml",
        "web/shop/deployment-shop.yaml",
        "web/shop/ingress-shop.yaml",
        "infra/network/job-network-apply.yaml",
        "default/dns-records/configmap-dns-records-terraform.yaml",
    ] {
        assert!(out.join(rel).is_file(), "missing {rel}");
    }
    let stream = stdout(&run(s
        .kure()
        .args(["--allow-unsigned", "generate", "-f"])
        .arg(root().join("examples"))));
    let built = std::process::Command::new("kubectl")
        .arg("kustomize")
        .arg(&out)
        .output()
        .expect("kubectl");
    assert!(
        built.status.success(),
        "kubectl kustomize: {}",
        String::from_utf8_lossy(&built.stderr)
    );
    let count = |s: &str| s.lines().filter(|l| l.starts_with("kind: ")).count();
    assert_eq!(
        count(&String::from_utf8_lossy(&built.stdout)),
        count(&stream)
    );
}

const BUILTIN_KINDS: [&str; 12] = [
    "Deployment",
    "HorizontalPodAutoscaler",
    "PodDisruptionBudget",
    "StatefulSet",
    "DaemonSet",
    "Service",
    "Ingress",
    "ConfigMap",
    "Job",
    "ServiceAccount",
    "Role",
    "RoleBinding",
];

fn kubernetes_validate(file: &std::path::Path) -> Option<std::process::Output> {
    match std::process::Command::new("kubernetes-validate")
        .args(["--strict", "--quiet", "-k", "1.33.0"])
        .arg(file)
        .output()
    {
        Ok(o) => Some(o),
        Err(_)
            if !have_tool(
                "kubernetes-validate",
                "generated_builtin_kinds_validate_against_upstream_kubernetes_schemas",
                "pip install kubernetes-validate",
            ) =>
        {
            None
        }
        Err(e) => panic!("kubernetes-validate is required in CI: {e}"),
    }
}

#[test]
fn generated_builtin_kinds_validate_against_upstream_kubernetes_schemas() {
    let s = sandbox_with_terraform();
    let o = run(s
        .kure()
        .args(["--allow-unsigned", "generate", "-f"])
        .arg(root().join("examples")));
    assert!(o.status.success(), "{}", stderr(&o));
    let mut docs = Vec::new();
    let mut kinds = std::collections::BTreeSet::new();
    for doc in stdout(&o).split("---\n").filter(|d| !d.trim().is_empty()) {
        let v: yaml_serde::Value = yaml_serde::from_str(doc).unwrap();
        let kind = v["kind"].as_str().unwrap().to_owned();
        if BUILTIN_KINDS.contains(&kind.as_str()) {
            kinds.insert(kind);
            docs.push(doc.to_owned());
        }
    }
    // The examples cover every kind but DaemonSet; add one.
    let ds = s.write("ds.yaml", "apiVersion: generators.gokure.dev/v1alpha1\nkind: AppWorkload\nmetadata:\n  name: agent\nspec:\n  workload: DaemonSet\n  containers:\n    - name: agent\n      image: fluent/fluent-bit:3.1\n      volumeMounts:\n        - name: logs\n          mountPath: /var/log\n          readOnly: true\n  volumes:\n    - name: logs\n      hostPath:\n        path: /var/log\n");
    let o = run(s.kure().args(["generate", "-f"]).arg(&ds));
    assert!(o.status.success(), "{}", stderr(&o));
    docs.push(stdout(&o).trim_start_matches("---\n").to_owned());
    kinds.insert("DaemonSet".into());
    assert_eq!(
        kinds.len(),
        BUILTIN_KINDS.len(),
        "examples no longer cover {kinds:?}"
    );

    let file = s.write("objects.yaml", &format!("---\n{}", docs.join("---\n")));
    let Some(v) = kubernetes_validate(&file) else {
        return;
    };
    assert!(
        v.status.success(),
        "kubernetes-validate rejected generated objects:\n{}{}",
        String::from_utf8_lossy(&v.stdout),
        String::from_utf8_lossy(&v.stderr)
    );

    // Negative control: the validator really rejects a broken Deployment.
    let bad = s.write("bad.yaml", "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: x\nspec:\n  replicas: three\n  selector: {}\n  template: {}\n");
    let v = kubernetes_validate(&bad).unwrap();
    assert!(
        !v.status.success(),
        "kubernetes-validate accepted an invalid object"
    );
}

#[test]
fn every_documented_example_generates() {
    let s = sandbox_with_terraform();
    for kind in ["AppWorkload", "FluxHelm", "TerraformConfig"] {
        let o = run(s.kure().args(["--allow-unsigned", "explain", kind]));
        assert!(o.status.success(), "{kind}: {}", stderr(&o));
        let text = stdout(&o);
        // Each example is printed indented under an `EXAMPLE name:` header.
        let mut examples = Vec::new();
        let mut cur: Option<String> = None;
        for line in text.lines() {
            if line.starts_with("EXAMPLE ") {
                if let Some(c) = cur.take() {
                    examples.push(c);
                }
                cur = Some(String::new());
            } else if let Some(c) = cur.as_mut() {
                // Blank lines inside an example are printed empty, without indentation.
                match line.strip_prefix("  ") {
                    Some(l) => {
                        c.push_str(l);
                        c.push('\n');
                    }
                    None if line.is_empty() => c.push('\n'),
                    None => examples.push(cur.take().unwrap()),
                }
            }
        }
        assert!(
            text.lines().all(|l| l.is_empty() || !l.trim().is_empty()) && !text.contains(" \n"),
            "{kind}: explain prints blank indented lines or trailing spaces:\n{text}"
        );
        assert!(
            examples.len() >= 2,
            "{kind} documents {} examples",
            examples.len()
        );
        for (i, ex) in examples.iter().enumerate() {
            let f = s.write(&format!("ex-{kind}-{i}.yaml"), ex);
            let o = s.generate_unsigned(&f);
            assert!(
                o.status.success(),
                "{kind} example {i} fails:\n{ex}\n{}",
                stderr(&o)
            );
            assert!(
                stdout(&o).contains("kind: "),
                "{kind} example {i} generated nothing"
            );
        }
    }
}

#[test]
fn explain_shows_every_field_with_its_constraints() {
    let s = sandbox_with_terraform();
    let app = ok(s.kure().args(["explain", "AppWorkload"]));
    for needle in [
        "  containers <[]Container> (required)\n      The containers of the pod; at least one.\n      [min items: 1]\n",
        "  containers[].ports[].containerPort <integer> (required)\n      Port number.\n      [minimum: 1; maximum: 65535]\n",
        "  containers[].ports[].protocol <TCP | UDP | SCTP>\n      Protocol. Default TCP.\n      [default: TCP; one of: TCP, UDP, SCTP]\n",
        "  workload <Deployment | StatefulSet | DaemonSet> (required)\n",
        "  replicas <integer>\n",
    ] {
        assert!(app.contains(needle), "lacks {needle:?}:\n{app}");
    }
    let tf = ok(s
        .kure()
        .args(["--allow-unsigned", "explain", "TerraformConfig"]));
    for needle in [
        "  module <string | Module> (required)\n",
        "  module.source <string> (required)\n",
        "  image <string>\n      Terraform image. Default `hashicorp/terraform:1.9`.\n      [default: hashicorp/terraform:1.9]\n",
    ] {
        assert!(tf.contains(needle), "lacks {needle:?}:\n{tf}");
    }
}
