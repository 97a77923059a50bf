//! The streaming pipeline: output independent of threads and chunking; nothing written when a
//! late document is bad.

#![allow(clippy::unwrap_used)]

use kure_tests::*;

fn apps(n: usize, ns: &str) -> String {
    (0..n)
        .map(|i| {
            format!(
                "---\napiVersion: generators.gokure.dev/v1alpha1\nkind: AppWorkload\nmetadata:\n  name: app-{i}\n  namespace: {ns}\nspec:\n  workload: Deployment\n  replicas: {}\n  containers:\n    - name: main\n      image: nginx:1.{}\n      ports:\n        - name: http\n          containerPort: 8080\n",
                i % 5 + 1,
                i % 30
            )
        })
        .collect()
}

#[test]
fn output_is_identical_with_one_or_two_threads_across_chunks() {
    let s = Sandbox::new();
    // 1,300 apps in three files: several 512-document chunks, chunks spanning files.
    s.write("specs/a.yaml", &apps(600, "one"));
    s.write("specs/b.yaml", &apps(600, "two"));
    s.write("specs/c.yaml", &apps(100, "three"));
    let one = run(s.kure().args(["generate", "-j", "1", "-f", "specs"]));
    let two = run(s.kure().args(["generate", "-j", "2", "-f", "specs"]));
    assert!(one.status.success(), "{}", stderr(&one));
    assert_eq!(one.stdout, two.stdout, "output depends on the thread count");
    let out = stdout(&one);
    assert_eq!(out.matches("kind: Deployment").count(), 1300);
    assert_eq!(out.matches("kind: Service").count(), 1300);
    // Input order: file a's apps, then b's, then c's, each in document order.
    let first = out.find("name: app-599\n  namespace: one").unwrap();
    let second = out.find("name: app-0\n  namespace: two").unwrap();
    let third = out.find("name: app-99\n  namespace: three").unwrap();
    assert!(first < second && second < third);
    // -o with two threads: one directory per app.
    let o = run(s
        .kure()
        .args(["generate", "-j", "2", "-f", "specs", "-o", "out"]));
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        std::fs::read_dir(s.path().join("out/two")).unwrap().count(),
        601
    );
}

#[test]
fn a_bad_document_at_the_end_writes_nothing_and_every_problem_is_reported() {
    let s = Sandbox::new();
    s.write("specs/a.yaml", &apps(1200, "one"));
    s.write("specs/z.yaml", &format!("{}---\napiVersion: generators.gokure.dev/v1alpha1\nkind: AppWorkload\nmetadata:\n  name: broken\nspec:\n  workload: Nope\n  containers: []\n", apps(3, "late")));
    let o = run(s.kure().args(["generate", "-f", "specs"]));
    let err = expect_failure(&o, &["z.yaml:", "app `broken`", "spec.workload"]);
    assert!(!err.contains("one"), "{err}");
    let o = run(s.kure().args(["generate", "-f", "specs", "-o", "out"]));
    expect_failure(&o, &["app `broken`"]);
    assert!(!s.path().join("out").exists());
    let names: Vec<String> = std::fs::read_dir(s.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        !names.iter().any(|n| n.contains("kure-staging")),
        "{names:?}"
    );
}

#[test]
fn duplicate_objects_across_apps_are_refused() {
    let s = Sandbox::new();
    let f = s.write("dup.yaml", &format!("{}{}", apps(2, "x"), apps(1, "x")));
    expect_failure(
        &run(s.kure().args(["generate", "-f"]).arg(&f)),
        &[
            "app `app-0` produced deployment-app-0 in namespace `x`, which the app at",
            "dup.yaml:2 also produced",
            "rename one of the apps",
        ],
    );
}

/// Issue 30: re-rendering a tree links the files that did not change from the previous tree
/// (same inode), writes the ones that did, removes what the new output lacks, and keeps the
/// previous tree's directories, empty, as `.out.kure-spare` for the next run. A file of the
/// previous tree that is a symbolic link is never linked or written through, and the tree
/// built from a spare is byte for byte what a fresh run builds.
#[test]
fn a_re_render_links_what_did_not_change_and_reuses_the_directories() {
    use std::os::unix::fs::MetadataExt;
    let s = Sandbox::new();
    s.write("specs/a.yaml", &apps(40, "one"));
    let out = s.path().join("out");
    let generate = |out: &std::path::Path| {
        let o = run(s.kure().args(["generate", "-f", "specs", "-o"]).arg(out));
        assert!(o.status.success(), "{}", stderr(&o));
    };
    generate(&out);
    let kept = out.join("one/app-1/deployment-app-1.yaml");
    let changed = out.join("one/app-2/deployment-app-2.yaml");
    let ino = |p: &std::path::Path| std::fs::symlink_metadata(p).unwrap().ino();
    let (kept_ino, changed_ino) = (ino(&kept), ino(&changed));
    // Someone made a file of the output a link to a file outside with the same bytes.
    let outside = s.path().join("outside.yaml");
    let linked = out.join("one/app-3/deployment-app-3.yaml");
    std::fs::copy(&linked, &outside).unwrap();
    std::fs::remove_file(&linked).unwrap();
    std::os::unix::fs::symlink(&outside, &linked).unwrap();

    // app-2 changes, app-39 goes.
    let specs = apps(39, "one").replacen(
        "name: app-2\n",
        "name: app-2\n  labels:\n    tier: web\n",
        1,
    );
    s.write("specs/a.yaml", &specs);
    generate(&out);
    assert_eq!(ino(&kept), kept_ino, "an unchanged file was written again");
    assert_ne!(ino(&changed), changed_ino);
    assert!(std::fs::read_to_string(&changed)
        .unwrap()
        .contains("tier: web"));
    assert!(!out.join("one/app-39").exists());
    assert!(std::fs::symlink_metadata(&linked).unwrap().is_file());
    let spare = s.path().join(".out.kure-spare");
    assert!(
        spare.join("one/app-39").is_dir(),
        "the spare keeps the directories"
    );
    assert!(
        tree(&spare).iter().all(|(_, bytes)| bytes.is_none()),
        "the spare holds files"
    );

    // Third run from the spare: the same tree as a fresh run into another directory.
    generate(&out);
    assert!(
        !out.join("one/app-39").exists(),
        "the spare's extra directory was not removed"
    );
    let fresh = s.path().join("fresh");
    generate(&fresh);
    assert_eq!(tree(&out), tree(&fresh));
    assert!(std::fs::read_to_string(&outside).unwrap().contains("app-3"));
}
