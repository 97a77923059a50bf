//! The walkthrough that ends Kure's plugin architecture design, run as written: the Makefile's
//! `plugin`, `sign-plugin` and `install-plugin` targets, the design's openssl signing command,
//! `kure plugins list`, `kure plugins install terraform-generator.so`,
//! `kure plugins info terraform-generator`, and its TerraformConfig usage example.
//!
//! Only the places are moved into a temporary directory: the system directory (`/etc/kure`,
//! through KURE_SYSTEM_DIR), KURE_HOME, the Makefile's output (`DIST`) and `PREFIX`.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use kure_tests::*;

/// The design's usage example, byte for byte.
const USAGE_EXAMPLE: &str = r#"# Using a plugin-provided generator
apiVersion: generators.example.com/v1alpha1
kind: TerraformConfig
metadata:
  name: infrastructure
spec:
  module: "./terraform/modules/vpc"
  variables:
    region: "us-west-2"
    environment: "production"
  backend:
    type: "s3"
    config:
      bucket: "terraform-state-bucket"
      key: "infrastructure/terraform.tfstate"
      region: "us-west-2"
"#;

struct Walk {
    dir: PathBuf,
    system: PathBuf,
    home: PathBuf,
}

impl Walk {
    /// A shell command as a user types it, in the work directory, with `kure` on PATH.
    fn sh(&self, command: &str) -> Output {
        let bin = kure_bin();
        let path = format!(
            "{}:{}",
            bin.parent().unwrap().display(),
            std::env::var("PATH").unwrap_or_default()
        );
        Command::new("bash")
            .args(["-c", command])
            .current_dir(&self.dir)
            .env("PATH", path)
            .env("KURE_SYSTEM_DIR", &self.system)
            .env("KURE_HOME", &self.home)
            .env_remove("KURE_PLUGIN_PATH")
            .env_remove("KURE_ALLOW_UNSIGNED")
            .env_remove("KURE_ISOLATION")
            .output()
            .unwrap()
    }

    fn ok(&self, command: &str) -> String {
        let o = self.sh(command);
        assert!(
            o.status.success(),
            "`{command}` failed:\n{}{}",
            stdout(&o),
            stderr(&o)
        );
        stdout(&o)
    }

    fn make(&self, targets: &str) -> String {
        self.ok(&format!(
            "make --no-print-directory -C {} {targets} DIST={} PREFIX={}",
            root().display(),
            self.dir.display(),
            self.prefix().display()
        ))
    }

    fn prefix(&self) -> PathBuf {
        self.dir.join("usr-local-lib-kure-plugins")
    }
}

fn columns(line: &str) -> Vec<&str> {
    line.split("  ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect()
}

#[test]
fn the_design_walkthrough_works_as_written() {
    let tmp = tempfile::tempdir().unwrap();
    let w = Walk {
        dir: tmp.path().join("work"),
        system: tmp.path().join("etc-kure"),
        home: tmp.path().join("home"),
    };
    for d in [&w.dir, &w.system] {
        std::fs::create_dir_all(d).unwrap();
    }

    // The plugin author's key; the administrator trusts its public half system-wide, in a
    // bundle after another key (the file holds one or more PEM keys).
    w.ok("openssl genrsa -out private-key.pem 2048 2>/dev/null");
    w.ok("openssl genrsa 2048 2>/dev/null | openssl rsa -pubout > other.pem 2>/dev/null");
    w.ok(&format!(
        "cat other.pem > {0}/trusted-signers.pem && openssl rsa -in private-key.pem -pubout 2>/dev/null >> {0}/trusted-signers.pem",
        w.system.display()
    ));

    // make plugin / sign-plugin (the design's openssl command) / install-plugin.
    let out = w.make("plugin sign-plugin");
    assert!(
        out.contains("openssl dgst -sha256 -sign")
            && out.contains("-out terraform-generator.so.sig terraform-generator.so"),
        "{out}"
    );
    w.ok("openssl rsa -in private-key.pem -pubout -out public.pem 2>/dev/null && openssl dgst -sha256 -verify public.pem -signature terraform-generator.so.sig terraform-generator.so");
    w.make("install-plugin");
    for f in ["terraform-generator.so", "terraform-generator.so.sig"] {
        assert_eq!(
            std::fs::read(w.prefix().join(f)).unwrap(),
            std::fs::read(w.dir.join(f)).unwrap(),
            "{f}"
        );
    }

    // The system key is trusted, and kure says where it comes from.
    let trust = w.ok("kure trust list");
    let rows: Vec<&str> = trust.lines().collect();
    assert_eq!(columns(rows[0]), ["FINGERPRINT", "BITS", "SOURCE", "FILE"]);
    assert!(
        rows[1].contains("system bundle, key 1") && rows[2].contains("system bundle, key 2"),
        "{trust}"
    );
    assert!(rows[2].ends_with("trusted-signers.pem"), "{trust}");

    // kure plugins list, before anything is installed.
    assert_eq!(w.ok("kure plugins list"), "No plugins installed.\n");

    // kure plugins install terraform-generator.so
    let out = w.ok("kure plugins install terraform-generator.so");
    assert!(
        out.contains(
            "installed terraform-generator@1.0.0 (generators.example.com/v1alpha1/TerraformConfig)"
        ),
        "{out}"
    );

    // kure plugins list: the design's columns, then GVKS, SIGNER, STATUS.
    let list = w.ok("kure plugins list");
    let lines: Vec<&str> = list.lines().collect();
    assert_eq!(lines.len(), 2, "{list}");
    assert_eq!(
        columns(lines[0]),
        [
            "NAME",
            "VERSION",
            "AUTHOR",
            "DESCRIPTION",
            "GVKS",
            "SIGNER",
            "STATUS"
        ]
    );
    let row = columns(lines[1]);
    assert_eq!(
        row[..5],
        [
            "terraform-generator",
            "1.0.0",
            "Example Corp <plugins@example.com>",
            "Generates Kubernetes Jobs that run Terraform configurations",
            "generators.example.com/v1alpha1/TerraformConfig",
        ],
        "{list}"
    );
    assert_eq!(row[6], "ok", "{list}");

    // kure plugins info terraform-generator
    let info = w.ok("kure plugins info terraform-generator");
    for needle in [
        "Name:        terraform-generator",
        "Version:     1.0.0",
        "Description: Generates Kubernetes Jobs that run Terraform configurations",
        "Author:      Example Corp <plugins@example.com>",
        "generators.example.com/v1alpha1/TerraformConfig",
    ] {
        assert!(info.contains(needle), "lacks {needle:?}:\n{info}");
    }

    // The usage example generates, with `module` as a string.
    std::fs::write(w.dir.join("infrastructure.yaml"), USAGE_EXAMPLE).unwrap();
    assert_eq!(
        w.ok("kure validate -f infrastructure.yaml"),
        "1 document valid\n"
    );
    let manifests = w.ok("kure generate -f infrastructure.yaml");
    let docs: Vec<yaml_serde::Value> = manifests
        .split("\n---\n")
        .map(|d| yaml_serde::from_str(d).unwrap())
        .collect();
    let kinds: Vec<&str> = docs.iter().map(|d| d["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        ["ServiceAccount", "Role", "RoleBinding", "ConfigMap", "Job"]
    );
    let main_tf = docs[3]["data"]["main.tf"].as_str().unwrap();
    for needle in [
        "backend \"s3\"",
        "bucket = \"terraform-state-bucket\"",
        "source = \"./terraform/modules/vpc\"",
        "region = var.region",
    ] {
        assert!(main_tf.contains(needle), "lacks {needle:?}:\n{main_tf}");
    }
    assert_eq!(docs[4]["metadata"]["name"], "infrastructure-apply");

    // The library `make install-plugin` put in PREFIX is found there (a plugin directory),
    // verified against the system's keys, with nothing installed in KURE_HOME.
    let fresh = Walk {
        dir: w.dir.clone(),
        system: w.system.clone(),
        home: tmp.path().join("fresh-home"),
    };
    let from_dir = fresh.ok(&format!(
        "KURE_PLUGIN_PATH={} kure generate -f infrastructure.yaml",
        w.prefix().display()
    ));
    assert_eq!(from_dir, manifests);

    // Without the system key, the same commands are refused and nothing is installed.
    let untrusting = Walk {
        dir: w.dir.clone(),
        system: tmp.path().join("empty-etc"),
        home: tmp.path().join("other-home"),
    };
    let o = untrusting.sh("kure plugins install terraform-generator.so");
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("terraform-generator.so"),
        "{}",
        stderr(&o)
    );
    assert_eq!(
        untrusting.ok("kure plugins list"),
        "No plugins installed.\n"
    );
    assert!(!Path::new(&untrusting.home.join("plugins/terraform-generator")).exists());
}
