//! Signatures, trusted signers, the plugin store and the lock file.

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::Command;

use kure_tests::*;

const DNS: &str = "examples/terraform-dns.yaml";

fn dns() -> std::path::PathBuf {
    root().join(DNS)
}

#[test]
fn openssl_signs_and_kure_verifies_with_spki_and_pkcs1_keys() {
    let s = Sandbox::new();
    let (key, spki) = openssl_keypair(s.path(), "author", 3072);
    let lib = s.path().join("lib.so");
    std::fs::copy(terraform_lib(), &lib).unwrap();
    openssl_sign(&lib, &key);
    // Trust the key in PKCS#1 form; the fingerprint must equal the SPKI form's.
    let pkcs1 = s.path().join("author.pkcs1.pem");
    ok(Command::new("openssl")
        .args(["rsa", "-pubin", "-in"])
        .arg(&spki)
        .args(["-RSAPublicKey_out", "-out"])
        .arg(&pkcs1));
    assert!(std::fs::read_to_string(&pkcs1)
        .unwrap()
        .contains("BEGIN RSA PUBLIC KEY"));
    let added = ok(s.kure().args(["trust", "add"]).arg(&pkcs1));
    let fp = added.split_whitespace().nth(1).unwrap().to_owned();
    let der = Command::new("openssl")
        .args(["pkey", "-pubin", "-in"])
        .arg(&spki)
        .args(["-outform", "DER"])
        .output()
        .unwrap();
    std::fs::write(s.path().join("der.bin"), &der.stdout).unwrap();
    let digest = ok(Command::new("openssl")
        .args(["dgst", "-sha256", "-r"])
        .arg(s.path().join("der.bin")));
    assert_eq!(
        digest.split_whitespace().next().unwrap(),
        fp,
        "fingerprint is not SHA-256 of the DER public key"
    );
    let out = ok(s.kure().args(["plugins", "verify"]).arg(&lib));
    assert!(out.contains(&format!("signed by {fp}")), "{out}");
    // Trusting the SPKI form of the same key adds nothing new.
    ok(s.kure().args(["trust", "add"]).arg(&spki));
    assert_eq!(ok(s.kure().args(["trust", "list"])).lines().count(), 2);
}

#[test]
fn kure_signs_and_openssl_verifies() {
    let s = Sandbox::new();
    let prefix = s.path().join("k");
    ok(s.kure()
        .args(["plugins", "keygen", "--bits", "2048", "--out"])
        .arg(&prefix));
    let lib = s.path().join("lib.so");
    std::fs::copy(terraform_lib(), &lib).unwrap();
    ok(s.kure()
        .args(["plugins", "sign"])
        .arg(&lib)
        .arg("--key")
        .arg(s.path().join("k.key.pem")));
    let out = ok(Command::new("openssl")
        .args(["dgst", "-sha256", "-verify"])
        .arg(s.path().join("k.pub.pem"))
        .arg("-signature")
        .arg(s.path().join("lib.so.sig"))
        .arg(&lib));
    assert!(out.contains("Verified OK"), "{out}");
    // The private key is private.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(s.path().join("k.key.pem"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(
        mode & 0o077,
        0,
        "private key is readable by others: {mode:o}"
    );
    // openssl can also sign with kure's key (PKCS#8) and kure verifies it.
    let lib2 = s.path().join("lib2.so");
    std::fs::copy(plugin_lib("kure_fixture_misbehaving"), &lib2).unwrap();
    openssl_sign(&lib2, &s.path().join("k.key.pem"));
    ok(s.kure()
        .args(["trust", "add"])
        .arg(s.path().join("k.pub.pem")));
    ok(s.kure().args(["plugins", "verify"]).arg(&lib2));
}

#[test]
fn signed_plugins_load_without_allow_unsigned_and_without_warning() {
    let s = Sandbox::new();
    let key = s.trusted_key();
    let lib = s.add_plugin(&terraform_lib());
    openssl_sign(&lib, &key);
    let o = run(s.kure().args(["generate", "-f"]).arg(dns()));
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).is_empty(), "{}", stderr(&o));
    assert!(stdout(&o).contains("kind: Job"));
}

/// Each broken signature is refused by `generate` (plugin dir) and by `install`, naming the
/// file and the reason, and the store is unchanged.
fn refused(prepare: impl Fn(&Sandbox, &Path, &Path), needles: &[&str]) {
    let s = Sandbox::new();
    let key = s.trusted_key();
    let lib = s.add_plugin(&terraform_lib());
    openssl_sign(&lib, &key);
    prepare(&s, &lib, &key);
    let mut all = vec![lib.file_name().unwrap().to_str().unwrap()];
    all.extend_from_slice(needles);
    expect_failure(&run(s.kure().args(["generate", "-f"]).arg(dns())), &all);
    let before = s.store_snapshot();
    expect_failure(&run(s.kure().args(["plugins", "install"]).arg(&lib)), &all);
    assert_eq!(s.store_snapshot(), before, "install changed the store");
    let list = ok(s.kure().args(["plugins", "list"]));
    assert_eq!(list.lines().count(), 1, "{list}");
}

fn sig_of(lib: &Path) -> std::path::PathBuf {
    std::path::PathBuf::from(format!("{}.sig", lib.display()))
}

#[test]
fn missing_signature() {
    refused(
        |_, lib, _| std::fs::remove_file(sig_of(lib)).unwrap(),
        &["no signature", ".sig does not exist"],
    );
}

#[test]
fn empty_signature() {
    refused(
        |_, lib, _| std::fs::write(sig_of(lib), b"").unwrap(),
        &["is empty"],
    );
}

#[test]
fn truncated_signature() {
    refused(
        |_, lib, _| {
            let sig = std::fs::read(sig_of(lib)).unwrap();
            std::fs::write(sig_of(lib), &sig[..100]).unwrap();
        },
        &["truncated or not an RSA signature (100 bytes)"],
    );
}

#[test]
fn garbage_signature() {
    refused(
        |_, lib, _| std::fs::write(sig_of(lib), b"not a signature at all\n").unwrap(),
        &["truncated or not an RSA signature"],
    );
}

#[test]
fn signature_by_an_untrusted_key() {
    refused(
        |s, lib, _| {
            let (other, _) = openssl_keypair(s.path(), "stranger", 2048);
            openssl_sign(lib, &other);
        },
        &["not made by any trusted signer", "kure trust add"],
    );
}

#[test]
fn one_byte_flipped_after_signing() {
    refused(
        |_, lib, _| {
            let mut bytes = std::fs::read(lib).unwrap();
            let i = bytes.len() / 2;
            bytes[i] ^= 0x01;
            std::fs::write(lib, bytes).unwrap();
        },
        &["modified after signing"],
    );
}

#[test]
fn signature_made_for_another_file() {
    refused(
        |s, lib, key| {
            let other = s.signed_copy(&plugin_lib("kure_fixture_misbehaving"), key);
            std::fs::copy(sig_of(&other), sig_of(lib)).unwrap();
        },
        &["signature belongs to another file"],
    );
}

#[test]
fn bad_key_files_are_refused() {
    let s = Sandbox::new();
    let not_pem = s.write("notpem.pem", "hello\n");
    expect_failure(
        &run(s.kure().args(["trust", "add"]).arg(&not_pem)),
        &["notpem.pem", "not a PEM public key"],
    );
    let ec = s.path().join("ec.key");
    ok(Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
        ])
        .arg(&ec));
    let ec_pub = s.path().join("ec.pub");
    ok(Command::new("openssl")
        .args(["pkey", "-pubout", "-in"])
        .arg(&ec)
        .arg("-out")
        .arg(&ec_pub));
    expect_failure(
        &run(s.kure().args(["trust", "add"]).arg(&ec_pub)),
        &[
            "ec.pub",
            "an EC key (prime256v1): kure accepts RSA keys of 2048 to 4096 bits",
        ],
    );
    let (small_key, small_pub) = openssl_keypair(s.path(), "small", 1024);

    expect_failure(
        &run(s.kure().args(["trust", "add"]).arg(&small_pub)),
        &["small.pub.pem", "1024 bits refused"],
    );
    let lib = s.write("x.so", "x");
    expect_failure(
        &run(s
            .kure()
            .args(["plugins", "sign"])
            .arg(&lib)
            .arg("--key")
            .arg(&small_key)),
        &["1024 bits refused"],
    );
    assert!(
        !s.path().join("home/trusted-signers").exists()
            || std::fs::read_dir(s.path().join("home/trusted-signers"))
                .unwrap()
                .count()
                == 0
    );
}

/// The fingerprint on the first row of `kure trust list`.
fn first_fingerprint(list: &str) -> String {
    let row = list.lines().nth(1).expect("a row");
    row.split_whitespace()
        .next()
        .expect("a fingerprint")
        .to_owned()
}

#[test]
fn trust_remove_by_fingerprint() {
    let s = Sandbox::new();
    s.trusted_key();
    let list = ok(s.kure().args(["trust", "list"]));
    let fp = first_fingerprint(&list);
    expect_failure(
        &run(s.kure().args(["trust", "remove", "ffff"])),
        &["no trusted signer"],
    );
    ok(s.kure().args(["trust", "remove"]).arg(&fp[..12]));
    assert_eq!(ok(s.kure().args(["trust", "list"])).lines().count(), 1);
}

#[test]
fn plugin_names_that_are_paths_are_refused() {
    let s = Sandbox::new();
    let key = s.trusted_key();
    let lib = s.signed_copy(&plugin_lib("kure_fixture_bad_name"), &key);
    let before = s.store_snapshot();
    expect_failure(
        &run(s.kure().args(["plugins", "install"]).arg(&lib)),
        &["invalid plugin name `../evil`", "kure_fixture_bad_name"],
    );
    assert_eq!(s.store_snapshot(), before);
    assert!(!s.path().join("home/evil").exists() && !s.path().join("evil").exists());
}

#[test]
fn symlink_out_of_the_plugin_dir_is_refused() {
    let s = Sandbox::new();
    let key = s.trusted_key();
    let outside = s.signed_copy(&terraform_lib(), &key);
    std::os::unix::fs::symlink(&outside, s.plugins().join("linked.so")).unwrap();
    std::os::unix::fs::symlink(sig_of(&outside), s.plugins().join("linked.so.sig")).unwrap();
    expect_failure(
        &run(s.kure().args(["generate", "-f"]).arg(dns())),
        &[
            "linked.so",
            "is a symlink to",
            "outside the plugin directory",
        ],
    );
}

#[test]
fn the_verified_bytes_are_what_runs_even_if_the_file_is_swapped() {
    let s = Sandbox::new();
    let key = s.trusted_key();
    let lib = s.signed_copy(&terraform_lib(), &key);
    let policy =
        kure_core::config::trust_policy(&s.path().join("home"), &Default::default(), false)
            .unwrap();
    let evil = plugin_lib("kure_fixture_misbehaving");
    let plugin = kure_core::plugin::load_plugin_observed(&lib, &policy, |p| {
        // Replace the file (new inode) and overwrite it in place: neither may matter.
        std::fs::remove_file(p).unwrap();
        std::fs::copy(&evil, p).unwrap();
    })
    .expect("the verified library loads");
    assert_eq!(plugin.name, "terraform-generator");
    assert_eq!(
        plugin.sha256,
        kure_core::trust::sha256_hex(&std::fs::read(terraform_lib()).unwrap())
    );
    // And what is on disk now is refused, because its signature no longer matches.
    let again = kure_core::plugin::load_plugin(&lib, &policy);
    assert!(
        matches!(again, Err(kure_core::plugin::LoadError::Signature { .. })),
        "{:?}",
        again.err()
    );
}

#[test]
fn install_list_info_and_index_only_commands() {
    let s = Sandbox::new();
    let key = s.trusted_key();
    let lib = s.signed_copy(&terraform_lib(), &key);
    let out = ok(s.kure().args(["plugins", "install"]).arg(&lib));
    assert!(
        out.contains(
            "installed terraform-generator@1.0.0 (generators.example.com/v1alpha1/TerraformConfig)"
        ),
        "{out}"
    );
    let dir = s.installed_dir("terraform-generator");
    assert!(
        dir.join("libkure_terraform_generator.so").is_file()
            && dir.join("libkure_terraform_generator.so.sig").is_file()
    );
    assert!(ok(s.kure().args(["plugins", "install"]).arg(&lib)).contains("already installed"));
    let list: serde_json::Value =
        serde_json::from_str(&ok(s.kure().args(["plugins", "list", "-o", "json"]))).unwrap();
    assert_eq!(list[0]["name"], "terraform-generator");
    assert_eq!(list[0]["status"], "ok");
    assert_eq!(
        list[0]["gvks"][0],
        "generators.example.com/v1alpha1/TerraformConfig"
    );
    let info: yaml_serde::Value = yaml_serde::from_str(&ok(s.kure().args([
        "plugins",
        "info",
        "terraform-generator",
        "-o",
        "yaml",
    ])))
    .unwrap();
    assert_eq!(
        info["gvks"][0]["documentation"]["examples"]
            .as_sequence()
            .unwrap()
            .len(),
        3
    );
    assert!(info["gvks"][0]["schema"]["properties"]["module"].is_mapping());
    // Generation uses the installed plugin: no plugin dir, no flag.
    assert!(ok(s.kure().args(["generate", "-f"]).arg(dns())).contains("kind: Job"));

    // Corrupt the installed library: list/info/schema/explain/validate --schema-only keep
    // working from the index (proving they do not load it); generate and validate refuse it.
    std::fs::write(dir.join("libkure_terraform_generator.so"), b"tampered").unwrap();
    let table = ok(s.kure().args(["plugins", "list"]));
    assert!(
        table.lines().nth(1).unwrap().ends_with("modified"),
        "{table}"
    );
    assert!(ok(s.kure().args(["schema", "TerraformConfig"])).contains("\"module\""));
    assert!(ok(s.kure().args(["explain", "TerraformConfig"])).contains("EXAMPLE s3-backend"));
    assert_eq!(
        ok(s.kure()
            .args(["validate", "--schema-only", "-f"])
            .arg(dns())),
        "1 document valid\n"
    );
    let bad = s.write("bad.yaml", "apiVersion: generators.example.com/v1alpha1\nkind: TerraformConfig\nmetadata:\n  name: t\nspec:\n  modul: {}\n");
    expect_failure(
        &run(s.kure().args(["validate", "--schema-only", "-f"]).arg(&bad)),
        &["bad.yaml:6", "did you mean `module`?"],
    );
    for command in ["generate", "validate"] {
        expect_failure(
            &run(s.kure().args([command, "-f"]).arg(dns())),
            &[
                "terraform-generator@1.0.0",
                "modified after it was installed",
                "reinstall",
            ],
        );
    }

    // Uninstall removes everything.
    ok(s.kure()
        .args(["plugins", "uninstall", "terraform-generator"]));
    assert!(!s.path().join("home/plugins/terraform-generator").exists());
    assert_eq!(
        ok(s.kure().args(["plugins", "list"])),
        "No plugins installed.\n"
    );
    expect_failure(
        &run(s
            .kure()
            .args(["plugins", "uninstall", "terraform-generator"])),
        &["no installed plugin named `terraform-generator`"],
    );
}

#[test]
fn gvk_conflicts_are_refused_unless_replace() {
    let s = Sandbox::new();
    let key = s.trusted_key();
    ok(s.kure()
        .args(["plugins", "install"])
        .arg(s.signed_copy(&terraform_lib(), &key)));
    let impostor = s.signed_copy(&plugin_lib("kure_fixture_misbehaving"), &key);
    let before = s.store_snapshot();
    expect_failure(
        &run(s.kure().args(["plugins", "install"]).arg(&impostor)),
        &[
            "TerraformConfig is already provided by installed plugin terraform-generator@1.0.0",
            "misbehaving@0.1.0",
            "--replace",
        ],
    );
    assert_eq!(s.store_snapshot(), before);
    let out = ok(s
        .kure()
        .args(["plugins", "install", "--replace"])
        .arg(&impostor));
    assert!(out.contains("replaced terraform"), "{out}");
    let list = ok(s.kure().args(["plugins", "list"]));
    assert!(
        list.contains("misbehaving") && !list.contains("terraform "),
        "{list}"
    );
    assert!(!s.path().join("home/plugins/terraform-generator").exists());
}

#[test]
fn a_new_version_replaces_the_old_one() {
    let s = Sandbox::new();
    let key = s.trusted_key();
    let lib = s.signed_copy(&terraform_lib(), &key);
    ok(s.kure().args(["plugins", "install"]).arg(&lib));
    s.pretend_terraform_is_older();
    let plugins = s.path().join("home/plugins");
    assert!(ok(s.kure().args(["plugins", "list"])).contains("0.0.9"));
    let out = ok(s.kure().args(["plugins", "install"]).arg(&lib));
    assert!(out.contains("replaced terraform-generator@0.0.9"), "{out}");
    assert!(!plugins.join("terraform-generator/0.0.9").exists());
    assert!(plugins.join("terraform-generator/1.0.0").exists());
}

#[test]
fn corrupted_index_is_reported_and_can_be_rebuilt() {
    let s = Sandbox::new();
    let key = s.trusted_key();
    ok(s.kure()
        .args(["plugins", "install"])
        .arg(s.signed_copy(&terraform_lib(), &key)));
    let index = s.path().join("home/plugins/index.json");
    std::fs::write(&index, "{\"version\": 1, \"plugins\": [").unwrap();
    expect_failure(
        &run(s.kure().args(["plugins", "list"])),
        &["index.json", "corrupted", "kure plugins rebuild-index"],
    );
    let out = ok(s.kure().args(["plugins", "rebuild-index"]));
    assert!(out.contains("1 plugins"), "{out}");
    assert!(ok(s.kure().args(["plugins", "list"])).contains("terraform"));
    assert!(ok(s.kure().args(["generate", "-f"]).arg(dns())).contains("kind: Job"));
}

#[test]
fn concurrent_installs_leave_one_whole_entry() {
    let s = Sandbox::new();
    let key = s.trusted_key();
    let lib = s.signed_copy(&terraform_lib(), &key);
    let children: Vec<_> = (0..4)
        .map(|_| {
            s.kure()
                .args(["plugins", "install"])
                .arg(&lib)
                .spawn()
                .unwrap()
        })
        .collect();
    for mut c in children {
        assert!(c.wait().unwrap().success());
    }
    let list: serde_json::Value =
        serde_json::from_str(&ok(s.kure().args(["plugins", "list", "-o", "json"]))).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["status"], "ok");
    let leftovers: Vec<_> = std::fs::read_dir(s.path().join("home/plugins"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("staging") || n.contains("tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn install_into_a_read_only_store_changes_nothing() {
    let s = Sandbox::new();
    let key = s.trusted_key();
    let lib = s.signed_copy(&terraform_lib(), &key);
    let plugins = s.path().join("home/plugins");
    std::fs::create_dir_all(&plugins).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&plugins, std::fs::Permissions::from_mode(0o555)).unwrap();
    // root ignores permissions: run kure as nobody then (everything it reads is world-readable).
    let is_root = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false);
    let mut cmd = if is_root {
        for p in [
            s.path(),
            &s.path().join("home"),
            &s.path().join("home/trusted-signers"),
        ] {
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        for f in std::fs::read_dir(s.path().join("home/trusted-signers"))
            .unwrap()
            .flatten()
        {
            std::fs::set_permissions(f.path(), std::fs::Permissions::from_mode(0o644)).unwrap();
        }
        let mut c = Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(kure_bin());
        c
    } else {
        Command::new(kure_bin())
    };
    cmd.current_dir(s.path())
        .env("KURE_HOME", s.path().join("home"))
        .args(["plugins", "install"])
        .arg(&lib);
    let o = run(&mut cmd);
    expect_failure(
        &o,
        &[
            "cannot write to the plugin store",
            "Permission denied",
            "nothing was changed",
        ],
    );
    assert_eq!(std::fs::read_dir(&plugins).unwrap().count(), 0);
    std::fs::set_permissions(&plugins, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn lock_file_pins_plugins() {
    let s = Sandbox::new();
    let key = s.trusted_key();
    ok(s.kure()
        .args(["plugins", "install"])
        .arg(s.signed_copy(&terraform_lib(), &key)));
    let specs = s.path().join("specs");
    std::fs::create_dir(&specs).unwrap();
    std::fs::copy(dns(), specs.join("dns.yaml")).unwrap();
    std::fs::copy(root().join("examples/shop.yaml"), specs.join("shop.yaml")).unwrap();
    ok(s.kure().args(["lock", "-f", "specs"]));
    let lock = std::fs::read_to_string(s.path().join("kure.lock")).unwrap();
    assert!(
        lock.contains("generators.example.com/v1alpha1/TerraformConfig:")
            && lock.contains("plugin: terraform"),
        "{lock}"
    );
    assert!(
        !lock.contains("AppWorkload"),
        "built-ins are not pinned: {lock}"
    );
    ok(s.kure().args(["generate", "-f", "specs", "--locked"]));

    // Locking a subset keeps the pins it does not use; --prune drops them.
    let shop = specs.join("shop.yaml");
    let o = run(s.kure().args(["lock", "-f"]).arg(&shop));
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("0 plugin GVKs pinned from the inputs, 1 kept from before"),
        "{}",
        stderr(&o)
    );
    assert_eq!(
        std::fs::read_to_string(s.path().join("kure.lock")).unwrap(),
        lock
    );
    ok(s.kure().args(["lock", "--prune", "-f"]).arg(&shop));
    let pruned = std::fs::read_to_string(s.path().join("kure.lock")).unwrap();
    assert!(!pruned.contains("TerraformConfig"), "{pruned}");
    expect_failure(
        &run(s.kure().args(["generate", "-f", "specs"])),
        &["TerraformConfig is not pinned"],
    );
    std::fs::write(s.path().join("kure.lock"), &lock).unwrap();
    // --locked needs a lock.
    let elsewhere = s.path().join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    let o = run(s
        .kure()
        .current_dir(&elsewhere)
        .args(["generate", "--locked", "-f"])
        .arg(&specs));
    expect_failure(&o, &["--locked", "no lock file", "kure lock"]);
    ok(s.kure()
        .current_dir(&elsewhere)
        .args(["generate", "-f"])
        .arg(&specs));

    // A different library for the pinned GVK is refused, naming what differs.
    let sha = lock
        .lines()
        .find_map(|l| l.trim().strip_prefix("sha256: "))
        .unwrap()
        .to_owned();
    std::fs::write(
        s.path().join("kure.lock"),
        lock.replace(&sha, &"0".repeat(64)),
    )
    .unwrap();
    expect_failure(
        &run(s.kure().args(["generate", "-f", "specs"])),
        &["kure.lock", "TerraformConfig", "sha256", "kure lock"],
    );
    // --lock points elsewhere; an unpinned plugin GVK is refused too.
    let other = s.write("other.lock", "version: 1\nplugins: {}\n");
    expect_failure(
        &run(s
            .kure()
            .args(["generate", "-f", "specs", "--lock"])
            .arg(&other)),
        &["other.lock", "is not pinned"],
    );
    let broken = s.write("broken.lock", "nope: [");
    expect_failure(
        &run(s
            .kure()
            .args(["generate", "-f", "specs", "--lock"])
            .arg(&broken)),
        &["broken.lock", "not a valid lock file"],
    );
}

#[test]
fn a_signature_by_a_too_small_key_says_so() {
    // A library signed with a 1024-bit key (by openssl, since kure refuses to): the message
    // says so, rather than "truncated".
    let s = Sandbox::new();
    s.trusted_key();
    let (small_key, _) = openssl_keypair(s.path(), "small", 1024);
    let signed = s.write("signed.so", "library bytes");
    openssl_sign(&signed, &small_key);
    expect_failure(
        &run(s.kure().args(["plugins", "verify"]).arg(&signed)),
        &[
            "signed.so.sig was made with a 1024-bit key",
            "kure accepts RSA keys of 2048 to 4096 bits",
        ],
    );
}

#[test]
fn a_hostile_lock_file_is_refused_with_its_problem() {
    // Every pin is checked when the lock is read: what kure writes, nothing else. A sha256 of
    // multi-byte characters used to panic when a mismatch was explained.
    let s = Sandbox::new();
    let good = "version: 1\nplugins:\n  generators.example.com/v1alpha1/TerraformConfig:\n    plugin: terraform\n    version: 0.1.0\n    sha256: SHA\n    signer: unsigned\n";
    let zeros = "0".repeat(64);
    let cases: [(String, &[&str]); 7] = [
        (
            good.replace("SHA", &format!("a{}", "é".repeat(40))),
            &["TerraformConfig", "the sha256 is not 64 hex digits"],
        ),
        (
            good.replace("SHA", &zeros)
                .replace("version: 1\n", "version: 3\n"),
            &[
                "lock file version 3",
                "reads versions 1 and 2",
                "a newer kure wrote it",
            ],
        ),
        (
            good.replace("SHA", &zeros)
                .replace("plugin: terraform", "plugin: ../../x"),
            &["`../../x` is not a plugin name"],
        ),
        (
            good.replace("SHA", &zeros).replace("0.1.0", "'../1'"),
            &["`../1` is not a version"],
        ),
        (
            good.replace("SHA", &zeros)
                .replace("/TerraformConfig:", "/Terraform Config:"),
            &["is not an apiVersion/Kind"],
        ),
        (
            good.replace("SHA", &zeros)
                .replace("signer: unsigned", "signer: \"\\e[31mred\""),
            &["the signer is neither a 64-hex key fingerprint nor `unsigned`"],
        ),
        (
            good.replace("SHA", &zeros)
                .replace("plugin: terraform", "plugin: \"\\e]0;x\\a\""),
            &["is not a plugin name", "\\u{1b}]0;x\\u{7}"],
        ),
    ];
    let shop = root().join("examples/shop.yaml");
    ok(s.kure().args(["generate", "-o", "out", "-f"]).arg(&shop));
    let before = tree(&s.path().join("out"));
    for (text, needles) in cases {
        let lock = s.write("kure.lock", &text);
        let mut all = vec!["kure.lock", "nothing was generated", "kure lock --prune"];
        all.extend_from_slice(needles);
        let o = run(s
            .kure()
            .args(["generate", "-o", "out", "-f"])
            .arg(&shop)
            .arg("--lock")
            .arg(&lock));
        let err = expect_failure(&o, &all);
        assert_eq!(
            err.trim_end().lines().count(),
            1,
            "not one paragraph:\n{err}"
        );
        assert!(!err.contains('\u{1b}'), "{err}");
        assert_eq!(
            tree(&s.path().join("out")),
            before,
            "the previous output changed"
        );
        // `kure lock` refuses to merge into it, and --prune writes a fresh one.
        expect_failure(
            &run(s
                .kure()
                .args(["lock", "-f"])
                .arg(root().join("examples/shop.yaml"))),
            &["kure.lock", "kure lock --prune"],
        );
    }
    ok(s.kure()
        .args(["lock", "--prune", "-f"])
        .arg(root().join("examples/shop.yaml")));
    ok(s.kure()
        .args(["generate", "--locked", "-f"])
        .arg(root().join("examples/shop.yaml")));
}

#[test]
fn a_key_trusted_twice_is_listed_twice_and_removing_one_copy_says_what_remains() {
    let s = Sandbox::new();
    let (_, public) = openssl_keypair(s.path(), "both", 2048);
    ok(s.kure().args(["trust", "add"]).arg(&public));
    let system = s.path().join("system");
    std::fs::create_dir_all(&system).unwrap();
    std::fs::copy(&public, system.join("trusted-signers.pem")).unwrap();
    let list = ok(s.kure().args(["trust", "list"]));
    assert_eq!(list.lines().count(), 3, "{list}");
    assert!(
        list.contains("user (kure trust add)") && list.contains("system bundle, key 1"),
        "{list}"
    );
    let fp = first_fingerprint(&list);
    let err = expect_failure(
        &run(s.kure().args(["trust", "remove", &fp[..12]])),
        &["removed", "is still trusted through", "trusted-signers.pem"],
    );
    assert!(err.contains(&fp), "{err}");
    // The user's copy is gone; the system's stays, and says so.
    let list = ok(s.kure().args(["trust", "list"]));
    assert_eq!(list.lines().count(), 2, "{list}");
    expect_failure(
        &run(s.kure().args(["trust", "remove", &fp[..12]])),
        &["is still trusted through", "an administrator"],
    );
}
