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
