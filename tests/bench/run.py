#!/usr/bin/env python3
"""kure benchmarks: prints one table of medians and side-by-side ratios (`make bench`).

Every input is generated here, in a temporary directory. Variants being compared are run
interleaved, round by round, so machine noise hits both sides alike; the table shows medians.

  1. plugin boundary: built-in AppWorkload vs the same code in a plugin (in-process)
  2. scale: kure generate of 1k / 10k / 100k AppWorkload specs, 1 thread vs all threads
  3. kustomize: kubectl kustomize of equivalent plain YAML vs kure generate (200, 1000 apps);
     tree: a 50,000-app `-o` tree, fresh and replacing one, vs the same run to stdout
  4. cold start: one app with one signed plugin, 1 vs 50 plugins installed
  5. verification: kure plugins verify vs openssl dgst -verify on a 50 MB file
  6. isolation: the bench plugin in process isolation vs in-process (10k apps; one app cold),
     and what the in-process hardening costs built-in apps
  7. KRM function: kure fn on a 1,000-item ResourceList vs kure generate on the same specs
  8. registry (when `docker-registry` is installed): install of the bench plugin from a localhost
     registry vs from a file; `kure plugins sync` of 20 locked plugins vs one install
  9. builtins: the built-in AppWorkload per app, the bench's usual spec against one using every
     production field (examples/hardened-web.yaml)
 10. baseline (only with BENCH_BASELINE=DIR, the release directory of another build holding its
     `kure` and `libkure_bench_app_workload.so`; `make bench-compare BASE=REV` builds one):
     this build against that one on the same inputs, interleaved

BENCH_QUICK=1 runs fewer rounds; BENCH_ONLY=boundary,scale,tree,kustomize,krm,cold,isolation,verify,
registry,builtins,baseline runs only those sections (isolation and verify also run cold, which makes their key).
"""

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
REL = os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "release")
KURE = os.path.join(REL, "kure")
BENCH_PLUGIN = os.path.join(REL, "libkure_bench_app_workload.so")
BOUNDARY = os.path.join(REL, "bench_boundary")
RAWABI = os.path.join(REL, "libkure_fixture_rawabi.so")
QUICK = os.environ.get("BENCH_QUICK") == "1"
# BENCH_ONLY=krm,scale runs only those sections (names as in the table's first column).
ONLY = set(filter(None, os.environ.get("BENCH_ONLY", "").split(",")))


def wanted(section):
    return not ONLY or section in ONLY

rows = []  # (section, measurement, value, goal, verdict)


def row(section, what, value, goal="", verdict=""):
    rows.append((section, what, value, goal, verdict))
    print(f"  {section:<11} {what:<52} {value:>16}  {goal} {verdict}", file=sys.stderr, flush=True)


def run(cmd, env=None, stdout=subprocess.DEVNULL):
    """Runs a command; returns (wall seconds, peak RSS in KiB)."""
    start = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=stdout, stderr=subprocess.PIPE, env=env)
    _, err = p.communicate()
    wall = time.perf_counter() - start
    # wait4 already reaped it through communicate; RUSAGE_CHILDREN is cumulative, so use the
    # per-process figure from /usr/bin/time when RSS matters (see `run_rss`).
    if p.returncode != 0:
        raise SystemExit(f"command failed ({p.returncode}): {' '.join(cmd)}\n{err.decode()}")
    return wall


def run_rss(cmd, env=None):
    """Runs a command under /usr/bin/time; returns (wall seconds, peak RSS KiB)."""
    out = subprocess.run(["/usr/bin/time", "-f", "%e %M"] + cmd, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, env=env)
    if out.returncode != 0:
        raise SystemExit(f"command failed: {' '.join(cmd)}\n{out.stderr.decode()}")
    wall, rss = out.stderr.decode().strip().splitlines()[-1].split()
    return float(wall), int(rss)


def spec(i, ns="bench", labels=True, group="generators.gokure.dev/v1alpha1"):
    lab = f"  labels:\n    team: bench\n" if labels else ""
    nsl = f"  namespace: {ns}\n" if ns else ""
    return (f"---\napiVersion: {group}\nkind: AppWorkload\nmetadata:\n  name: app-{i}\n{nsl}{lab}"
            f"spec:\n  workload: Deployment\n  replicas: {i % 5 + 1}\n  containers:\n"
            f"    - name: web\n      image: ghcr.io/example/web:1.{i % 50}\n      ports:\n"
            f"        - name: http\n          containerPort: 8080\n      env:\n"
            f"        - name: MODE\n          value: prod\n      resources:\n        requests:\n"
            f"          cpu: 100m\n          memory: 128Mi\n      readinessProbe:\n        httpGet:\n"
            f"          path: /healthz\n          port: http\n")


def write_specs(d, n, per_file=100, **kw):
    os.makedirs(d, exist_ok=True)
    for f in range(0, n, per_file):
        with open(os.path.join(d, f"apps-{f // per_file:05}.yaml"), "w") as fh:
            fh.write("".join(spec(i, **kw) for i in range(f, min(n, f + per_file))))


def median(xs):
    return statistics.median(xs)


def boundary():
    out = subprocess.run([BOUNDARY, BENCH_PLUGIN, "2000", "7" if QUICK else "15"],
                         capture_output=True, text=True, check=True)
    r = json.loads(out.stdout.strip().splitlines()[-1])
    row("boundary", "built-in AppWorkload generate (us/app)", f"{r['builtin_us']:.1f}")
    row("boundary", "plugin AppWorkload generate (us/app)", f"{r['plugin_us']:.1f}")
    ok = r["ratio"] <= 1.25
    row("boundary", "plugin / built-in, generate", f"{r['ratio']:.2f}", "<= 1.25", "met" if ok else "NOT met")
    row("boundary", "built-in validate+generate+render (us/app)", f"{r['builtin_pipeline_us']:.1f}")
    row("boundary", "plugin validate+generate+render (us/app)", f"{r['plugin_pipeline_us']:.1f}")
    row("boundary", "plugin / built-in, whole per-app work", f"{r['pipeline_ratio']:.2f}", "(info)")
    if out.stderr.strip():
        row("boundary", "built-in breakdown", out.stderr.strip().split(": ", 1)[-1].replace(" us", "us"))
    row("boundary", "JSON Schema check per built-in app (us, jsonschema)", f"{r['schema_us']:.1f}",
        "<= 9", "met" if r["schema_us"] <= 9 else "NOT met")
    sf, sr, pf, pr = r["split_fast_us"], r["split_reference_us"], r["parse_fast_us"], r["parse_reference_us"]
    row("input", "split per document: fast / saphyr-parser (us)", f"{sf:.3f} / {sr:.2f}")
    row("input", "split: saphyr-parser / fast (keep fast if >= 1.5)", f"{sr / sf:.1f}x", ">= 1.5",
        "met" if sr / sf >= 1.5 else "NOT met")
    row("input", "parse per document: fast path / yaml_serde (us)", f"{pf:.2f} / {pr:.2f}")
    row("input", "parse: yaml_serde / fast path (keep fast if >= 1.5)", f"{pr / pf:.1f}x", ">= 1.5",
        "met" if pr / pf >= 1.5 else "NOT met")
    for kind, k in (("AppWorkload", "app"), ("FluxHelm", "flux")):
        row("boundary", f"built-in {kind} per app: values / JSON text / kure's path (us)",
            f"{r[k + '_values_us']:.1f} / {r[k + '_text_us']:.1f} / {r[k + '_chosen_us']:.1f}", "(info)")
    row("boundary", "per plugin app: request to JSON / spec from JSON vs from values / containment (us)",
        f"{r['request_us']:.2f} / {r['decode_json_us']:.2f} vs {r['decode_values_us']:.2f} / {r['contain_us']:.2f}",
        "(info)")
    h = r["hardening_ratio"]
    row("isolation", "built-in per-app work, unhardened / hardened (us)",
        f"{r['unhardened_us']:.1f} / {r['hardened_us']:.1f}")
    row("isolation", "hardening cost (object checks + spool), built-ins", f"{(h - 1) * 100:+.1f}%",
        "<= 2%", "met" if h <= 1.02 else "NOT met")


def scale(tmp):
    sizes = [1000, 10000] if QUICK else [1000, 10000, 100000]
    cpus = os.cpu_count() or 1
    results = {}
    for n in sizes:
        d = os.path.join(tmp, f"scale-{n}")
        write_specs(d, n)
        reps = 3 if n >= 100000 else (5 if not QUICK else 3)
        times = {1: [], cpus: []}
        rss = {1: [], cpus: []}
        for _ in range(reps):
            for j in (1, cpus):
                w, m = run_rss([KURE, "generate", "-j", str(j), "-f", d])
                times[j].append(w)
                rss[j].append(m)
        results[n] = {j: (median(times[j]), max(rss[j])) for j in times}
        for j in (1, cpus):
            t, m = results[n][j]
            row("scale", f"{n:>6} apps, -j{j}: wall s / objects/s / peak RSS",
                f"{t:.2f} / {2 * n / t:,.0f} / {m / 1024:.0f} MiB",
                "< 1 s" if (n == 10000 and j == cpus) else "",
                ("met" if t < 1 else "NOT met") if (n == 10000 and j == cpus) else "")
        row("scale", f"{n:>6} apps, speed-up -j{cpus} vs -j1", f"{results[n][1][0] / results[n][cpus][0]:.2f}x")
        shutil.rmtree(d)
    r = results[10000][cpus][0] / results[1000][cpus][0]
    row("scale", "time 10k / 1k (linear = 10)", f"{r:.1f}", "~10", "met" if 7 <= r <= 13 else "NOT met")
    if 100000 in results:
        r2 = results[100000][cpus][0] / results[10000][cpus][0]
        row("scale", "time 100k / 10k (linear = 10)", f"{r2:.1f}", "~10", "met" if 7 <= r2 <= 13 else "NOT met")
        growth = results[100000][cpus][1] / results[1000][cpus][1]
        row("scale", "peak RSS 100k / 1k", f"{growth:.2f}", "flat", "met" if growth < 1.5 else "NOT met")


def tree(tmp):
    """Issue 30: writing a 50,000-app `-o` tree, fresh and replacing the previous one (the
    steady state of a re-render), against the same run to stdout. The trees are written where
    the bench's temporary directory is (TMPDIR); fresh trees are kept until the end of the
    section, because deleting many files makes the next creations slower on some file
    systems (ext4 without a journal skips recently freed inodes)."""
    n = 10000 if QUICK else 50000
    d = os.path.join(tmp, f"tree-{n}")
    write_specs(d, n)
    out = os.path.join(tmp, "tree-out")
    run([KURE, "generate", "-f", d, "-o", out])  # the tree to replace, and its spare
    run([KURE, "generate", "-f", d, "-o", out])
    reps = 3 if QUICK else 5
    st, fr, rp = [], [], []
    for r in range(reps):
        st.append(run([KURE, "generate", "-f", d]))
        fr.append(run([KURE, "generate", "-f", d, "-o", os.path.join(tmp, f"tree-fresh-{r}")]))
        rp.append(run([KURE, "generate", "-f", d, "-o", out]))
    s, f, p = median(st), median(fr), median(rp)
    row("tree", f"{n} apps: stdout / -o fresh / -o replace (s)", f"{s:.2f} / {f:.2f} / {p:.2f}")
    row("tree", f"{n} apps: -o replace / stdout", f"{p / s:.2f}x", "<= 3x", "met" if p / s <= 3 else "NOT met")
    row("tree", f"{n} apps: -o fresh / stdout", f"{f / s:.2f}x", "<= 3x", "met" if f / s <= 3 else "NOT met")
    for r in range(reps):
        shutil.rmtree(os.path.join(tmp, f"tree-fresh-{r}"))
    shutil.rmtree(d)


def full_spec(i):
    """The bench spec with every production field of issue 26 once, in the same block style."""
    return (spec(i) +
            "      imagePullPolicy: IfNotPresent\n"
            "      envFrom:\n        - configMapRef:\n            name: web-config\n"
            "      securityContext:\n        readOnlyRootFilesystem: true\n"
            "        allowPrivilegeEscalation: false\n"
            "      lifecycle:\n        preStop:\n          sleep:\n            seconds: 5\n"
            "      livenessProbe:\n        tcpSocket:\n          port: http\n"
            "  initContainers:\n    - name: shipper\n      image: fluent/fluent-bit:3.1\n"
            "      restartPolicy: Always\n"
            "  labels:\n    tier: web\n"
            "  podAnnotations:\n    scrape: \"true\"\n"
            "  serviceAccount:\n    automountToken: false\n"
            "  imagePullSecrets:\n    - registry\n"
            "  priorityClassName: web\n  terminationGracePeriodSeconds: 45\n"
            "  securityContext:\n    runAsNonRoot: true\n    fsGroup: 10001\n"
            "  topologySpreadConstraints:\n    - maxSkew: 1\n"
            "      topologyKey: topology.kubernetes.io/zone\n      whenUnsatisfiable: ScheduleAnyway\n"
            "  tolerations:\n    - key: dedicated\n      operator: Exists\n"
            "  volumes:\n    - name: certs\n      projected:\n        sources:\n"
            "          - secret:\n              name: web-tls\n"
            "  autoscaling:\n    maxReplicas: 6\n"
            "  podDisruptionBudget:\n    minAvailable: 1\n"
            "  ingress:\n    servicePortName: http\n    rules:\n"
            f"      - host: app-{i}.example.com\n        paths:\n          - path: /\n"
            ).replace("  replicas: ", "  # replicas: ")


def builtins(tmp):
    """Issue 26: the built-in AppWorkload per app with the bench's usual spec against the same
    spec with every production field of issue 26 once (`full_spec`), the same number of apps
    to stdout, interleaved."""
    n = 2000 if QUICK else 5000
    plain = os.path.join(tmp, "builtins-plain")
    write_specs(plain, n)
    full = os.path.join(tmp, "builtins-full")
    os.makedirs(full)
    for f in range(0, n, 100):
        with open(os.path.join(full, f"apps-{f // 100:05}.yaml"), "w") as fh:
            fh.write("".join(full_spec(i) for i in range(f, min(n, f + 100))))
    t = {"plain": [], "full": []}
    for r in range(3 if QUICK else 9):
        for name in (["plain", "full"] if r % 2 == 0 else ["full", "plain"]):
            t[name].append(run([KURE, "generate", "-f", plain if name == "plain" else full]))
    p, f = median(t["plain"]) / n * 1e6, median(t["full"]) / n * 1e6
    row("builtins", f"AppWorkload per app, {n} apps: bench spec / every field (us)", f"{p:.1f} / {f:.1f}")
    row("builtins", "every field / bench spec", f"{f / p:.2f}x", "<= 2x", "met" if f / p <= 2 else "NOT met")
    shutil.rmtree(plain)
    shutil.rmtree(full)


def kustomize(tmp):
    for n in (200, 1000):
        specs = os.path.join(tmp, f"k-specs-{n}")
        plain_specs = os.path.join(tmp, f"k-plain-specs-{n}")
        kdir = os.path.join(tmp, f"k-plain-{n}")
        write_specs(specs, n)  # namespace + labels in the specs
        write_specs(plain_specs, n, ns=None, labels=False)
        os.makedirs(kdir)
        with open(os.path.join(kdir, "resources.yaml"), "w") as fh:
            subprocess.run([KURE, "generate", "-f", plain_specs], stdout=fh, check=True)
        with open(os.path.join(kdir, "kustomization.yaml"), "w") as fh:
            fh.write("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
                     "namespace: bench\nlabels:\n- pairs:\n    team: bench\n  includeSelectors: false\n"
                     "resources:\n- resources.yaml\n")
        kt, ut = [], []
        # kustomize takes half a minute for 1,000 apps here: fewer rounds keep the run short.
        for _ in range(3 if (QUICK or n >= 1000) else 5):
            kt.append(run(["kubectl", "kustomize", kdir]))
            ut.append(run([KURE, "generate", "-f", specs]))
        row("kustomize", f"{n:>5} apps: kubectl kustomize / kure generate (s)", f"{median(kt):.3f} / {median(ut):.3f}")
        row("kustomize", f"{n:>5} apps: kustomize time / kure time", f"{median(kt) / median(ut):.1f}x")


def krm(tmp):
    n = 1000
    specs = os.path.join(tmp, "krm-specs")
    write_specs(specs, n)
    items = []
    for i in range(n):
        lines = spec(i).split("\n")[1:]  # without the leading ---
        items.append("\n".join(("- " if k == 0 else "  ") + l if l else l for k, l in enumerate(lines)))
    rl = os.path.join(tmp, "resource-list.yaml")
    with open(rl, "w") as fh:
        fh.write("apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems:\n" + "".join(items))
    gt, ft = [], []
    for _ in range(5 if QUICK else 9):
        gt.append(run([KURE, "generate", "-f", specs]))
        start = time.perf_counter()
        with open(rl) as fh:
            subprocess.run([KURE, "fn"], stdin=fh, stdout=subprocess.DEVNULL, check=True)
        ft.append(time.perf_counter() - start)
    ratio = median(ft) / median(gt)
    row("krm", f"{n} apps: kure fn / kure generate (s)", f"{median(ft):.3f} / {median(gt):.3f}")
    row("krm", "kure fn / kure generate", f"{ratio:.2f}", "<= 1.2", "met" if ratio <= 1.2 else "NOT met")


def cold_start(tmp):
    key = os.path.join(tmp, "bench.key.pem")
    pub = os.path.join(tmp, "bench.pub.pem")
    subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:3072", "-out", key],
                   check=True, capture_output=True)
    subprocess.run(["openssl", "pkey", "-pubout", "-in", key, "-out", pub], check=True)
    # The bench plugin, then 49 other plugins: copies of the raw-ABI test fixture in its
    # documented mode `filler:<n>` (its 64-byte marker; see the fixture's crate docs), each with
    # its own name and GVK. The bench plugin itself is installed as built.
    fixture = open(RAWABI, "rb").read()
    none = b"KURE-FIXTURE-MODE:none".ljust(64, b".")
    assert fixture.count(none) == 1, "the fixture's marker moved"
    libs = [BENCH_PLUGIN]
    for i in range(1, 50):
        d = os.path.join(tmp, "many", f"p{i:03}")
        os.makedirs(d)
        lib = os.path.join(d, f"libfiller{i:03}.so")
        with open(lib, "wb") as fh:
            fh.write(fixture.replace(none, f"KURE-FIXTURE-MODE:filler:{i:03}".encode().ljust(64, b".")))
        libs.append(lib)
    signed = []
    for lib in libs:
        d = os.path.join(tmp, "signed", os.path.basename(lib))
        os.makedirs(d)
        copy = os.path.join(d, os.path.basename(lib))
        shutil.copyfile(lib, copy)
        subprocess.run(["openssl", "dgst", "-sha256", "-sign", key, "-out", copy + ".sig", copy], check=True)
        signed.append(copy)
    libs = signed
    homes = {}
    for count in (1, 50):
        home = os.path.join(tmp, f"home-{count}")
        env = dict(os.environ, KURE_HOME=home)
        subprocess.run([KURE, "trust", "add", pub], env=env, check=True, capture_output=True)
        for lib in libs[:count]:
            subprocess.run([KURE, "plugins", "install", lib], env=env, check=True, capture_output=True)
        homes[count] = env
    app = os.path.join(tmp, "one.yaml")
    with open(app, "w") as fh:
        fh.write(spec(0, group="bench000.kure.dev/v1alpha1"))
    t = {1: [], 50: []}
    for _ in range(10 if QUICK else 25):
        for count in (1, 50):
            t[count].append(run([KURE, "generate", "-f", app], env=homes[count]))
    m1, m50 = median(t[1]), median(t[50])
    row("cold start", "1 app, 1 plugin installed (ms)", f"{m1 * 1000:.1f}")
    row("cold start", "1 app, 50 plugins installed (ms)", f"{m50 * 1000:.1f}")
    row("cold start", "50 plugins / 1 plugin", f"{m50 / m1:.2f}", "<= 1.10", "met" if m50 / m1 <= 1.10 else "NOT met")
    return homes[1]


def isolation(tmp, env):
    """The installed, signed bench plugin in-process and in process isolation, interleaved."""
    n = 10000
    d = os.path.join(tmp, "iso-10k")
    write_specs(d, n, group="bench000.kure.dev/v1alpha1")
    # The same specs for the built-in AppWorkload: the whole run, plugin against built-in.
    b = os.path.join(tmp, "builtin-10k")
    write_specs(b, n)
    modes = ("in-process", "process")
    t = {m: [] for m in modes + ("built-in",)}
    # 15 interleaved rounds: on a shared VM the same run varies by several percent, and the
    # goal is a ratio of 1.10.
    for _ in range(5 if QUICK else 15):
        t["built-in"].append(run([KURE, "generate", "-f", b], env=env))
        for m in modes:
            t[m].append(run([KURE, "--isolation", m, "generate", "-f", d], env=env))
    mi, mp, mb = median(t["in-process"]), median(t["process"]), median(t["built-in"])
    row("boundary", f"{n} apps, whole kure generate: built-in / plugin (s)", f"{mb:.3f} / {mi:.3f}")
    row("boundary", f"{n} apps, whole kure generate: plugin / built-in", f"{mi / mb:.2f}", "<= 1.10",
        "met" if mi / mb <= 1.10 else "NOT met")
    shutil.rmtree(b)
    row("isolation", f"{n} plugin apps: in-process / process (s)", f"{mi:.3f} / {mp:.3f}")
    row("isolation", f"{n} plugin apps: process / in-process", f"{mp / mi:.2f}", "<= 1.30",
        "met" if mp / mi <= 1.30 else "NOT met")
    shutil.rmtree(d)
    app = os.path.join(tmp, "one.yaml")
    c = {m: [] for m in modes}
    for _ in range(10 if QUICK else 25):
        for m in modes:
            c[m].append(run([KURE, "--isolation", m, "generate", "-f", app], env=env))
    ci, cp = median(c["in-process"]), median(c["process"])
    row("isolation", "cold start, 1 app: in-process / process (ms)", f"{ci * 1000:.1f} / {cp * 1000:.1f}")
    row("isolation", "cold start, process mode (ms)", f"{cp * 1000:.1f}", "<= 15",
        "met" if cp <= 0.015 else "NOT met")
    row("isolation", "cold start, process / in-process", f"{cp / ci:.2f}", "<= 1.5",
        "met" if cp / ci <= 1.5 else "NOT met")


def verification(tmp):
    big = os.path.join(tmp, "big.bin")
    with open(big, "wb") as fh:
        fh.write(os.urandom(50 * 1024 * 1024))
    key = os.path.join(tmp, "bench.key.pem")
    pub = os.path.join(tmp, "bench.pub.pem")
    subprocess.run(["openssl", "dgst", "-sha256", "-sign", key, "-out", big + ".sig", big], check=True)
    env = dict(os.environ, KURE_HOME=os.path.join(tmp, "home-verify"))
    subprocess.run([KURE, "trust", "add", pub], env=env, check=True, capture_output=True)
    kt, ot = [], []
    for _ in range(5 if QUICK else 9):
        kt.append(run([KURE, "plugins", "verify", big], env=env))
        ot.append(run(["openssl", "dgst", "-sha256", "-verify", pub, "-signature", big + ".sig", big]))
    mb = 50 * 1024 * 1024 / 1e6
    k, o = mb / median(kt), mb / median(ot)
    row("verify", "kure plugins verify, 50 MB (MB/s)", f"{k:.0f}")
    row("verify", "openssl dgst -sha256 -verify, 50 MB (MB/s)", f"{o:.0f}")
    row("verify", "kure / openssl throughput", f"{k / o:.2f}", ">= 0.80", "met" if k / o >= 0.8 else "NOT met")


def registry(tmp):
    """Installing from a localhost docker-registry against installing the same file; syncing
    20 locked plugins against installing one."""
    import socket
    exe = shutil.which("docker-registry")
    if not exe:
        row("registry", "SKIPPED: docker-registry is not installed", "-")
        return
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    root = os.path.join(tmp, "registry")
    os.makedirs(root)
    cfg = os.path.join(root, "config.yml")
    with open(cfg, "w") as fh:
        fh.write(f"version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {root}/data\n"
                 f"http:\n  addr: 127.0.0.1:{port}\n")
    server = subprocess.Popen([exe, "serve", cfg], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        key = os.path.join(tmp, "bench.key.pem")
        pub = os.path.join(tmp, "bench.pub.pem")
        reg = f"oci://localhost:{port}"
        author = dict(os.environ, KURE_HOME=os.path.join(root, "author"))
        subprocess.run([KURE, "trust", "add", pub], env=author, check=True, capture_output=True)
        lib = os.path.join(tmp, "signed", os.path.basename(BENCH_PLUGIN), os.path.basename(BENCH_PLUGIN))
        subprocess.run([KURE, "plugins", "push", lib, f"{reg}/bench:1", "--insecure"], env=author,
                       check=True, capture_output=True)
        homes = iter(range(10 ** 6))

        def fresh():
            env = dict(os.environ, KURE_HOME=os.path.join(root, f"h{next(homes)}"))
            subprocess.run([KURE, "trust", "add", pub], env=env, check=True, capture_output=True)
            return env
        t = {"file": [], "registry": []}
        for r in range(5 if QUICK else 11):
            for side in (("file", "registry") if r % 2 == 0 else ("registry", "file")):
                src = lib if side == "file" else f"{reg}/bench:1"
                cmd = [KURE, "plugins", "install", src] + (["--insecure"] if side == "registry" else [])
                t[side].append(run(cmd, env=fresh()))
        mf, mr = median(t["file"]), median(t["registry"])
        size = os.path.getsize(lib) / 2 ** 20
        row("registry", f"install of a {size:.1f} MB plugin: file / registry (ms)", f"{mf * 1000:.0f} / {mr * 1000:.0f}")
        row("registry", "install: registry / file", f"{mr / mf:.2f}", "<= 2", "met" if mr / mf <= 2 else "NOT met")
        # 20 fillers pushed, installed by a team that locks them; sync on empty stores.
        fillers = sorted(os.path.join(tmp, "signed", d, d) for d in os.listdir(os.path.join(tmp, "signed"))
                         if d.startswith("libfiller"))[:20]
        team = fresh()
        specs = os.path.join(root, "specs.yaml")
        with open(specs, "w") as fh:
            for i, f in enumerate(fillers):
                n = os.path.basename(f)[len("libfiller"):-len(".so")]
                subprocess.run([KURE, "plugins", "push", f, f"{reg}/filler{n}:1", "--insecure"], env=author,
                               check=True, capture_output=True)
                subprocess.run([KURE, "plugins", "install", f"{reg}/filler{n}:1", "--insecure"], env=team,
                               check=True, capture_output=True)
                fh.write(f"---\napiVersion: rawabi.kure.dev/v1\nkind: Filler{n}\nmetadata:\n  name: a{i}\nspec: {{}}\n")
        lock = os.path.join(root, "kure.lock")
        subprocess.run([KURE, "lock", "-f", specs, "--lock", lock], env=team, check=True, capture_output=True)
        s20, one = [], []
        for r in range(3 if QUICK else 7):
            s20.append(run([KURE, "plugins", "sync", "--lock", lock, "--insecure"], env=fresh()))
            one.append(run([KURE, "plugins", "install", f"{reg}/bench:1", "--insecure"], env=fresh()))
        m20, m1 = median(s20), median(one)
        row("registry", "sync of 20 locked plugins / install of one (ms)", f"{m20 * 1000:.0f} / {m1 * 1000:.0f}")
        row("registry", "sync 20 / install 1", f"{m20 / m1:.2f}", "<= 3", "met" if m20 / m1 <= 3 else "NOT met")
    finally:
        server.kill()
        server.wait()


def baseline(tmp):
    """This build against another (BENCH_BASELINE), each with its own bench plugin, interleaved."""
    base = os.environ["BENCH_BASELINE"]
    sides = {"this": (KURE, BENCH_PLUGIN),
             "baseline": (os.path.join(base, "kure"), os.path.join(base, "libkure_bench_app_workload.so"))}
    for k, p in sides.values():
        if not os.path.exists(k) or not os.path.exists(p):
            raise SystemExit(f"BENCH_BASELINE={base}: missing {k} or {p}")
    # Each side's plugin alone in a plugin directory of its own, run unsigned: the same checks
    # (inspection in a worker, then the mode asked for) on both sides.
    dirs = {}
    for name, (_, plugin) in sides.items():
        d = os.path.join(tmp, f"plugins-{name}")
        os.makedirs(d)
        shutil.copyfile(plugin, os.path.join(d, "libbench.so"))
        dirs[name] = d
    env = dict(os.environ, KURE_HOME=os.path.join(tmp, "home-baseline"))
    n = 10000
    builtin = os.path.join(tmp, "base-builtin")
    write_specs(builtin, n)
    plugin = os.path.join(tmp, "base-plugin")
    write_specs(plugin, n, group="bench000.kure.dev/v1alpha1")
    one = os.path.join(tmp, "base-one.yaml")
    with open(one, "w") as fh:
        fh.write(spec(0))
    cases = [
        (f"{n} built-in apps, kure generate (s)", lambda k, d: [k, "generate", "-f", builtin]),
        (f"{n} plugin apps, in-process (s)", lambda k, d: [k, "--allow-unsigned", "--plugin-dir", d,
                                                         "--isolation", "in-process", "generate", "-f", plugin]),
        (f"{n} plugin apps, process isolation (s)", lambda k, d: [k, "--allow-unsigned", "--plugin-dir", d,
                                                                "--isolation", "process", "generate", "-f", plugin]),
        ("1 built-in app, cold (ms)", lambda k, d: [k, "generate", "-f", one]),
    ]
    # 21 rounds: on a shared 2-CPU VM one run of the same build varies by 20% and more.
    rounds = 5 if QUICK else 21
    for what, cmd in cases:
        t = {name: [] for name in sides}
        for r in range(rounds * (3 if "cold" in what else 1)):
            # Alternate which side goes first, so neither always runs on a warmer cache.
            order = list(sides) if r % 2 == 0 else list(reversed(list(sides)))
            for name in order:
                t[name].append(run(cmd(sides[name][0], dirs[name]), env=env))
        mt, mb = median(t["this"]), median(t["baseline"])
        scale_ = 1000 if "ms" in what else 1
        fmt = (lambda x: f"{x * scale_:.1f}") if scale_ == 1000 else (lambda x: f"{x:.3f}")
        row("baseline", f"{what}: baseline / this", f"{fmt(mb)} / {fmt(mt)}")
        row("baseline", f"{what.rsplit(' (', 1)[0]}: this / baseline", f"{mt / mb:.2f}", "<= 1.05",
            "met" if mt / mb <= 1.05 else "NOT met")
    for d in (builtin, plugin):
        shutil.rmtree(d)


def machine():
    cpu = "unknown CPU"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2 ** 30
    return f"{os.cpu_count()} CPUs ({cpu}), {mem:.0f} GiB RAM"


def main():
    for f in (KURE, BENCH_PLUGIN, BOUNDARY, RAWABI):
        if not os.path.exists(f):
            raise SystemExit(f"missing {f}: run `make bench`, which builds it")
    start = time.time()
    print("running benchmarks (progress on stderr)...", file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="kure-bench-") as tmp:
        if wanted("boundary"):
            boundary()
        if wanted("scale"):
            scale(tmp)
        if wanted("tree"):
            tree(tmp)
        if wanted("builtins"):
            builtins(tmp)
        if wanted("kustomize"):
            kustomize(tmp)
        if wanted("krm"):
            krm(tmp)
        if wanted("cold") or wanted("isolation") or wanted("verify") or wanted("registry"):
            home1 = cold_start(tmp)  # also makes the key the others use
            if wanted("isolation"):
                isolation(tmp, home1)
            if wanted("verify"):
                verification(tmp)
            if wanted("registry"):
                registry(tmp)
        if os.environ.get("BENCH_BASELINE") and wanted("baseline"):
            baseline(tmp)
    print(f"\nkure benchmarks: {machine()}; medians; release build; {time.time() - start:.0f} s in all\n")
    print(f"| {'section':<10} | {'measurement':<52} | {'value':>22} | goal | verdict |")
    print(f"|{'-' * 12}|{'-' * 54}|{'-' * 24}|------|---------|")
    for s, w, v, g, ver in rows:
        print(f"| {s:<10} | {w:<52} | {v:>22} | {g} | {ver} |")


if __name__ == "__main__":
    main()
