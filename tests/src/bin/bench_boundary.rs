//! Cost of the plugin boundary: the built-in AppWorkload generator against the same code
//! compiled into the bench plugin, on the same applications, in one process. Rounds alternate
//! which goes first. Prints one JSON line with medians (microseconds per application).
//!
//! Usage: bench_boundary PLUGIN.so [APPS] [ROUNDS]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use kure_core::{decode_str, Document, Engine, EngineOptions, TrustPolicy};

fn specs(group: &str, n: usize) -> String {
    (0..n)
        .map(|i| {
            format!(
                "---\napiVersion: {group}\nkind: AppWorkload\nmetadata:\n  name: app-{i}\n  namespace: bench\n  labels:\n    team: t{}\nspec:\n  workload: Deployment\n  replicas: 3\n  containers:\n    - name: web\n      image: ghcr.io/example/web:1.{}\n      ports:\n        - name: http\n          containerPort: 8080\n      env:\n        - name: MODE\n          value: prod\n      resources:\n        requests:\n          cpu: 100m\n          memory: 128Mi\n      readinessProbe:\n        httpGet:\n          path: /healthz\n          port: http\n",
                i % 7,
                i % 50
            )
        })
        .collect()
}

/// `n` FluxHelm apps shaped like examples/podinfo.yaml.
fn flux_specs(n: usize) -> String {
    (0..n)
        .map(|i| {
            format!(
                "---\napiVersion: generators.gokure.dev/v1alpha1\nkind: FluxHelm\nmetadata:\n  name: app-{i}\n  namespace: apps\nspec:\n  chart:\n    name: podinfo\n    version: 6.7.{}\n  source:\n    type: OCIRepository\n    ociUrl: oci://ghcr.io/stefanprodan/charts/podinfo\n    interval: 30m\n  valuesFrom:\n    - kind: ConfigMap\n      name: podinfo-values\n  dependsOn:\n    - name: ingress-nginx\n      namespace: flux-system\n",
                i % 9
            )
        })
        .collect()
}

fn docs(group: &str, n: usize) -> Vec<Document> {
    decoded(&specs(group, n))
}

fn decoded(text: &str) -> Vec<Document> {
    let (mut d, mut p) = (Vec::new(), Vec::new());
    decode_str(Path::new("bench.yaml"), text, &mut d, &mut p);
    assert!(p.is_empty(), "{p:?}");
    d
}

fn time(engine: &Engine, docs: &[Document]) -> f64 {
    let start = Instant::now();
    let mut objects = 0;
    for d in docs {
        objects += engine.generate_one(d).expect("generate").len();
    }
    assert_eq!(objects, docs.len() * 2);
    start.elapsed().as_secs_f64() * 1e6 / docs.len() as f64
}

/// Microseconds per app of `f` over `docs`; `f` returns how many bytes of YAML it made.
fn per_app(docs: &[Document], f: impl Fn(&Document) -> usize) -> f64 {
    let start = Instant::now();
    let bytes: usize = docs.iter().map(f).sum();
    assert!(std::hint::black_box(bytes) > 0);
    start.elapsed().as_secs_f64() * 1e6 / docs.len() as f64
}

/// YAML bytes of values written as kure writes them.
fn yaml_bytes(objects: &[serde_json::Value]) -> usize {
    objects
        .iter()
        .map(|o| kure_core::object_yaml(o).expect("yaml").len())
        .sum()
}

/// Validation, generation and YAML rendering: what `kure generate` does per application.
fn time_pipeline(engine: &Engine, docs: &[Document]) -> f64 {
    per_app(docs, |d| {
        let rendered = engine.check_and_render(d).expect("generate");
        rendered.iter().map(|(_, yaml)| yaml.len()).sum()
    })
}

/// [`time_pipeline`] the way values go: the objects built as `serde_json::Value`s, then
/// written to YAML (what `check_and_render` did for built-ins before they answered with JSON
/// text).
fn time_values(engine: &Engine, docs: &[Document]) -> f64 {
    per_app(docs, |d| {
        yaml_bytes(&engine.check_and_generate(d).expect("generate"))
    })
}

/// [`time_pipeline`] through JSON text whatever the generator prefers: its objects written as
/// text ([`generate_text`](kure_plugin_api::host::DynGenerator::generate_text)), then to YAML.
fn time_text(engine: &Engine, docs: &[Document]) -> f64 {
    per_app(docs, |d| {
        let entry = engine.check_schema(d).expect("valid");
        let text = entry.generator.generate_text(&d.value).expect("generate");
        kure_core::bench::transcode(&text).expect("transcoded")
    })
}

/// [`time_pipeline`] on built-ins without the containment hardening a built-in app gets: no
/// object shape and path checks (`Engine::generate_one` adds them), and the YAML not copied
/// into the spool that holds output until the run succeeds.
fn time_unhardened(engine: &Engine, docs: &[Document]) -> f64 {
    per_app(docs, |d| {
        // kure's checks; the built-in's own run inside its generate, as in check_and_generate.
        let entry = engine.check_schema(d).expect("valid");
        yaml_bytes(&entry.generator.generate(&d.value).expect("generate"))
    })
}

/// [`time_pipeline`] with the hardening: checked objects, YAML copied into a spool.
fn time_hardened(engine: &Engine, docs: &[Document]) -> f64 {
    let spool = std::cell::RefCell::new(Vec::<u8>::new());
    per_app(docs, |d| {
        let mut spool = spool.borrow_mut();
        let before = spool.len();
        for o in engine.check_and_generate(d).expect("generate") {
            spool.extend_from_slice(b"---\n");
            spool.extend_from_slice(kure_core::object_yaml(&o).expect("yaml").as_bytes());
        }
        spool.len() - before
    })
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let plugin = PathBuf::from(
        args.get(1)
            .expect("usage: bench_boundary PLUGIN.so [APPS] [ROUNDS]"),
    );
    let n: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(2000);
    let rounds: usize = args.get(3).and_then(|a| a.parse().ok()).unwrap_or(15);
    let policy = TrustPolicy {
        allow_unsigned: true,
        signers: Vec::new(),
    };
    let mut engine = Engine::new(EngineOptions::default());
    let loaded = kure_core::plugin::load_plugin(&plugin, &policy).expect("load bench plugin");
    engine.add_plugin(Arc::new(loaded)).expect("register");
    let builtin = docs("generators.gokure.dev/v1alpha1", n);
    let plugged = docs("bench000.kure.dev/v1alpha1", n);
    // Same output, apart from nothing: the group is only in the spec's apiVersion.
    assert_eq!(
        engine.generate_one(&builtin[0]).expect("b"),
        engine.generate_one(&plugged[0]).expect("p")
    );
    time(&engine, &builtin[..n.min(200)]);
    time(&engine, &plugged[..n.min(200)]);
    let (mut b, mut p, mut bp, mut pp) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for r in 0..rounds {
        if r % 2 == 0 {
            b.push(time(&engine, &builtin));
            p.push(time(&engine, &plugged));
            bp.push(time_pipeline(&engine, &builtin));
            pp.push(time_pipeline(&engine, &plugged));
        } else {
            p.push(time(&engine, &plugged));
            b.push(time(&engine, &builtin));
            pp.push(time_pipeline(&engine, &plugged));
            bp.push(time_pipeline(&engine, &builtin));
        }
    }
    let (bm, pm, bpm, ppm) = (median(b), median(p), median(bp), median(pp));
    let (mut plain, mut hard) = (Vec::new(), Vec::new());
    for r in 0..rounds {
        if r % 2 == 0 {
            plain.push(time_unhardened(&engine, &builtin));
            hard.push(time_hardened(&engine, &builtin));
        } else {
            hard.push(time_hardened(&engine, &builtin));
            plain.push(time_unhardened(&engine, &builtin));
        }
    }
    let (plain, hard) = (median(plain), median(hard));
    // Built-ins' render paths side by side: values then YAML, or JSON text then YAML.
    let flux = decoded(&flux_specs(n));
    // [values, text, kure's choice] for AppWorkload, then for FluxHelm.
    let mut paths: [[Vec<f64>; 3]; 2] = Default::default();
    for r in 0..rounds {
        for k in 0..3 {
            let path = (k + r) % 3;
            for (kind, docs) in [&builtin, &flux].into_iter().enumerate() {
                paths[kind][path].push(match path {
                    0 => time_values(&engine, docs),
                    1 => time_text(&engine, docs),
                    _ => time_pipeline(&engine, docs),
                });
            }
        }
    }
    let [[av, at, ac], [fv, ft, fc]] = paths.map(|kind| kind.map(median));
    // Where a built-in app's time goes.
    let objects: Vec<Vec<serde_json::Value>> = builtin
        .iter()
        .map(|d| engine.generate_one(d).expect("g"))
        .collect();
    let mut render = Vec::new();
    let mut validate = Vec::new();
    let mut schema = Vec::new();
    let entry = engine.registry().get(&builtin[0].gvk).expect("registered");
    let compiled = entry.schema().expect("the built-in schema compiles");
    for _ in 0..5 {
        let start = Instant::now();
        for os in &objects {
            for o in os {
                std::hint::black_box(kure_core::object_yaml(o).expect("yaml"));
            }
        }
        render.push(start.elapsed().as_secs_f64() * 1e6 / n as f64);
        let start = Instant::now();
        for d in &builtin {
            engine.validate(std::slice::from_ref(d)).expect("valid");
        }
        validate.push(start.elapsed().as_secs_f64() * 1e6 / n as f64);
        let start = Instant::now();
        for d in &builtin {
            assert!(compiled.check(d.spec()).is_empty());
        }
        schema.push(start.elapsed().as_secs_f64() * 1e6 / n as f64);
    }
    let (validate, schema) = (median(validate), median(schema));
    // The input stage: the fast split and YAML path against the parser's split and the
    // reference parser, on the same file (microseconds per document).
    let text = specs("generators.gokure.dev/v1alpha1", n);
    let pieces = kure_core::bench::pieces(&text);
    assert_eq!(pieces.len(), n);
    let per_doc = |f: &dyn Fn() -> usize| {
        let start = Instant::now();
        assert_eq!(f(), n);
        start.elapsed().as_secs_f64() * 1e6 / n as f64
    };
    let (mut sf, mut sr, mut pf, mut pr) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..rounds.min(9) {
        // The fast split also yields the first, empty piece before the first `---`.
        sf.push(per_doc(&|| kure_core::bench::split_fast(&text) - 1));
        sr.push(per_doc(&|| kure_core::bench::split_reference(&text)));
        pf.push(per_doc(&|| kure_core::bench::parse_fast(&pieces)));
        pr.push(per_doc(&|| kure_core::bench::parse_reference(&pieces)));
    }
    let (sf, sr, pf, pr) = (median(sf), median(sr), median(pf), median(pr));
    // What the boundary adds for one app, piece by piece (microseconds per app): the request
    // written as JSON, the spec decoded from that text (in the plugin) against from the values
    // (a built-in), and the containment record of one call.
    type App = kure_plugin_api::sdk::Application<kure_core::generate::builtin::AppWorkloadConfig>;
    let requests: Vec<String> = plugged
        .iter()
        .map(|d| serde_json::to_string(&d.value).expect("json"))
        .collect();
    let (mut rq, mut dj, mut dv, mut ct) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..rounds.min(9) {
        rq.push(per_doc(&|| {
            for d in &plugged {
                std::hint::black_box(serde_json::to_string(&d.value).expect("json"));
            }
            plugged.len()
        }));
        dj.push(per_doc(&|| {
            for r in &requests {
                std::hint::black_box(serde_json::from_str::<App>(r).expect("app"));
            }
            requests.len()
        }));
        dv.push(per_doc(&|| {
            for d in &plugged {
                std::hint::black_box(
                    <App as serde::Deserialize>::deserialize(&d.value).expect("app"),
                );
            }
            plugged.len()
        }));
        ct.push(per_doc(&|| {
            plugged
                .iter()
                .map(|d| {
                    kure_core::plugin::contain::with_app(&d.name, &d.location, || {
                        kure_core::plugin::contain::call(
                            "plugin bench-app-000@0.1.0",
                            "generate",
                            || 1,
                        )
                    })
                })
                .sum()
        }));
    }
    let (rq, dj, dv, ct) = (median(rq), median(dj), median(dv), median(ct));
    eprintln!(
        "breakdown per built-in app: validate {validate:.1} us (JSON Schema {schema:.1} us), generate {bm:.1} us, render {:.1} us",
        median(render)
    );
    println!(
        "{{\"apps\": {n}, \"rounds\": {rounds}, \"builtin_us\": {bm:.2}, \"plugin_us\": {pm:.2}, \"ratio\": {:.3}, \"builtin_pipeline_us\": {bpm:.2}, \"plugin_pipeline_us\": {ppm:.2}, \"pipeline_ratio\": {:.3}, \"unhardened_us\": {plain:.2}, \"hardened_us\": {hard:.2}, \"hardening_ratio\": {:.3}, \"validate_us\": {validate:.2}, \"schema_us\": {schema:.2}, \"split_fast_us\": {sf:.3}, \"split_reference_us\": {sr:.3}, \"parse_fast_us\": {pf:.2}, \"parse_reference_us\": {pr:.2}, \"app_values_us\": {av:.2}, \"app_text_us\": {at:.2}, \"app_chosen_us\": {ac:.2}, \"flux_values_us\": {fv:.2}, \"flux_text_us\": {ft:.2}, \"flux_chosen_us\": {fc:.2}, \"request_us\": {rq:.2}, \"decode_json_us\": {dj:.2}, \"decode_values_us\": {dv:.2}, \"contain_us\": {ct:.2}}}",
        pm / bm,
        ppm / bpm,
        hard / plain
    );
}
