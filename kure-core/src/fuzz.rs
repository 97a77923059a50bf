//! The bodies of kure's fuzz targets (`kure-core/fuzz`, run by `make fuzz`), and of the test
//! that replays their corpus in `make test`. Not an API: each function takes arbitrary bytes,
//! runs one of kure's readers of hostile input on them, and panics only when an invariant is
//! broken. A panic, a stack overflow or a hang is a finding.
//!
//! | target  | reader                                   | invariant checked                     |
//! |---------|------------------------------------------|---------------------------------------|
//! | `yaml`  | the fast YAML path and split, yaml_serde, saphyr-parser | whenever a fast path answers, it answers what the reference does: the fast split finds the parser's documents, the fast parse reads yaml_serde's values, and the parser's documents read alone as in the stream |
//! | `spec`  | decode, schema, built-in generators, the YAML emitter, the transcoder | every emitted object reads back as itself; the transcoder writes what the emitter writes |
//! | `keys`  | PEM public keys, signature checks        | a key that parses re-parses the same; no arbitrary bytes verify |
//! | `index` | `plugins/index.json`                     | every path of an accepted entry stays inside the store |
//! | `lock`  | `kure.lock`                              | an accepted lock writes and reads back as itself; refusals never panic |

use std::path::{Component, Path};

use crate::input::problem::Problem;

/// Scalars that mean something else to some YAML reader when written unquoted (booleans,
/// nulls, numbers, timestamps, indicators, markers, odd spacing): the differential tests of the
/// fast YAML path and of the emitter put them where values go.
pub const TRICKY_SCALARS: &[&str] = &[
    "",
    " ",
    "yes",
    "No",
    "ON",
    "off",
    "y",
    "n",
    "~",
    "null",
    "Null",
    "true",
    "False",
    "1:20",
    "190:20:30",
    "0x1F",
    "0o17",
    "017",
    "0b101",
    "1e3",
    "1_000",
    "1.5",
    ".5",
    "5.",
    ".inf",
    "-.Inf",
    ".NaN",
    "+1",
    "-0",
    "2024-01-01",
    "2001-12-14t21:59:43.10-05:00",
    "- a",
    "-",
    "--",
    "---",
    "...",
    ": b",
    "a: b",
    "a:b",
    "#c",
    "a #b",
    "'q'",
    "\"d\"",
    "  lead",
    "trail ",
    "multi\nline",
    "two\n\nbreaks\n",
    "\ttab",
    "=",
    "<<",
    "!tag",
    "&a",
    "*a",
    "@",
    "`",
    "%",
    "[x]",
    "{y: 1}",
    "... x",
    "--- x",
    "True",
    "FALSE",
    "0",
    "01",
    "-12",
    "1.0",
    "0x10",
    "0o7",
    "-.inf",
    "2024-01-02",
    "12:30",
    "a b",
    "a#b",
    "\"q\"",
    "'it''s'",
    "\"a\\nb\"",
    "[a]",
    "[]",
    "{}",
    "{a: 1}",
    "&x a",
    "*x",
    "!tag x",
    "|",
    ">",
    "- x",
    "-x",
    "@x",
    "`x",
    "%x",
    "?x",
    "http://x.y/z",
    "a,b",
    "ü",
    "9223372036854775808",
    "x:",
];

/// Fast path against the reference parser, document by document; then the whole file through
/// the decoder (envelope checks, line finding, messages).
pub fn yaml(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    split(text);
    for (_, chunk) in crate::input::split::documents(text).unwrap_or_default() {
        let Some(fast) = crate::input::fastyaml::parse(&chunk).transpose() else {
            continue;
        };
        let reference = crate::input::parse::reference(&chunk);
        match (&fast, &reference) {
            (Ok(a), Ok(b)) => assert_eq!(a, b, "the fast path misreads {chunk:?}"),
            (
                Err(Problem::Duplicate {
                    key, first, second, ..
                }),
                Err(Problem::Duplicate {
                    key: k,
                    first: f,
                    second: s,
                }),
            ) => assert_eq!(
                (key, first, second),
                (k, f, s),
                "the two parsers place the duplicate of {chunk:?} differently"
            ),
            (Err(Problem::TooDeep { .. }), Err(Problem::TooDeep { .. })) => {}
            // The fast path stops at its first problem; yaml_serde reports a syntax error of
            // the whole document first. Both refuse the document.
            (Err(_), Err(Problem::Syntax { .. })) => {}
            _ => panic!(
                "the fast path and yaml_serde disagree on {chunk:?}:\nfast: {fast:?}\nreference: {reference:?}"
            ),
        }
    }
    // `kure fn` reads a ResourceList item by item when it can: only ever what the whole
    // document says.
    if let Some(items) = crate::ops::krm::parse_items(text) {
        match crate::input::parse::parse(text) {
            Ok(whole) => assert_eq!(items, whole, "item by item misreads {text:?}"),
            Err(e) => panic!("item by item reads {text:?}, which as a whole is refused: {e:?}"),
        }
    }
    let (mut docs, mut problems) = (Vec::new(), Vec::new());
    crate::input::decode::decode_str(Path::new("fuzz.yaml"), text, &mut docs, &mut problems);
    for p in &problems {
        let _ = p.to_string();
    }
}

/// The fast split against the parser's: whenever the parser reads the stream, the fast split
/// (when it answers) finds the same documents at the same lines; and each document the parser
/// marks out reads on its own as it does in the stream.
fn split(text: &str) {
    let blank = crate::input::split::is_blank;
    let Ok(text) = crate::input::split::unambiguous(text) else {
        return;
    };
    let text = &*text;
    let Ok(reference) = crate::input::split::reference(text) else {
        return;
    };
    let reference: Vec<_> = reference.into_iter().filter(|(_, t)| !blank(t)).collect();
    if let Some(fast) = crate::input::split::fast(text) {
        let fast: Vec<_> = fast.into_iter().filter(|(_, t)| !blank(t)).collect();
        assert_eq!(fast, reference, "the fast split misreads {text:?}");
    }
    // The stream as one (yaml_serde's document iterator) against its pieces, where both read.
    use serde::Deserialize;
    let stream: Result<Vec<serde_json::Value>, _> = yaml_serde::Deserializer::from_str(text)
        .map(serde_json::Value::deserialize)
        .collect();
    let pieces: Result<Vec<serde_json::Value>, _> = reference
        .iter()
        .map(|(_, t)| crate::input::parse::reference(t))
        .collect();
    if let (Ok(stream), Ok(pieces)) = (stream, pieces) {
        let stream: Vec<_> = stream.into_iter().filter(|v| !v.is_null()).collect();
        let pieces: Vec<_> = pieces.into_iter().filter(|v| !v.is_null()).collect();
        assert_eq!(
            pieces, stream,
            "the documents of {text:?} read differently alone"
        );
    }
}

/// Specs of any shape through what `kure generate` does with them before writing: decode,
/// the JSON Schema and the generator's own checks, generation, the object checks, and the
/// YAML emitter, whose output must read back (yaml_serde) as the object it was made from.
pub fn spec(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // `kure fn` reads a ResourceList item by item when it can: only ever what the whole
    // document says.
    if let Some(items) = crate::ops::krm::parse_items(text) {
        match crate::input::parse::parse(text) {
            Ok(whole) => assert_eq!(items, whole, "item by item misreads {text:?}"),
            Err(e) => panic!("item by item reads {text:?}, which as a whole is refused: {e:?}"),
        }
    }
    let (mut docs, mut problems) = (Vec::new(), Vec::new());
    crate::input::decode::decode_str(Path::new("fuzz.yaml"), text, &mut docs, &mut problems);
    let engine = crate::Engine::new(crate::EngineOptions::default());
    for doc in &docs {
        match engine.check_and_generate(doc) {
            Err(e) => {
                let _ = e.to_string();
            }
            Ok(objects) => {
                transcoder(&objects);
                for object in &objects {
                    let yaml = crate::output::emit::to_string(object);
                    let back = crate::input::parse::reference(&yaml).unwrap_or_else(|p| {
                        panic!("the emitter wrote YAML that does not parse ({p:?}):\n{yaml}")
                    });
                    assert_eq!(
                        &back, object,
                        "the emitter's YAML reads back differently:\n{yaml}"
                    );
                }
            }
        }
    }
}

/// The transcoder (a plugin's JSON answer straight to YAML) against the emitter on the same
/// objects: whenever it answers, each document is what the emitter writes and each header is
/// the object's `apiVersion`, `kind`, `metadata.name` and `metadata.namespace`; it declines
/// only for a header field that is a collection (serde_json writes keys in order, once).
pub fn transcoder(objects: &[serde_json::Value]) {
    use serde_json::{Map, Value};
    let text = serde_json::to_string(objects).expect("values serialize");
    let Some(got) = crate::output::transcode::objects_yaml(&text) else {
        let collection = |o: &Value, path: &[&str]| {
            crate::util::field(o, path).is_some_and(|v| v.is_array() || v.is_object())
        };
        assert!(
            objects.iter().any(|o| {
                !o.is_object()
                    || collection(o, &["apiVersion"])
                    || collection(o, &["kind"])
                    || collection(o, &["metadata", "name"])
                    || collection(o, &["metadata", "namespace"])
            }),
            "the transcoder declined {text}"
        );
        return;
    };
    assert_eq!(got.len(), objects.len(), "{text}");
    for (o, (header, yaml)) in objects.iter().zip(got) {
        assert_eq!(yaml, crate::output::emit::to_string(o), "transcoding {o}");
        let mut expected = Map::new();
        for k in ["apiVersion", "kind"] {
            if let Some(v) = o.get(k) {
                expected.insert(k.to_owned(), v.clone());
            }
        }
        if let Some(Value::Object(meta)) = o.get("metadata") {
            let m: Map<String, Value> = ["name", "namespace"]
                .iter()
                .filter_map(|k| meta.get(*k).map(|v| ((*k).to_owned(), v.clone())))
                .collect();
            if !m.is_empty() {
                expected.insert("metadata".to_owned(), Value::Object(m));
            }
        }
        assert_eq!(header, Value::Object(expected), "the header of {o}");
    }
}

/// The fixed key the `keys` target checks signatures against (2048 bits, made for the fuzz target; its private half was
/// thrown away, so no input can carry a valid signature by it, but one of its seeds carries a
/// signature over other bytes).
const FIXED_KEY: &str = "-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAqCFA73GelyOJ/BgMb6UQ
GTZp+SOi5yFFCm1AHSymB8W9PLGU+CNSYuMBxCja8JnPyEw0yjk3kazWfF7ov6Ry
zg8WYwiNQkMSStAxFznO2z/S+6mZKglLPNUh5w0eNA7ZHriKloNFqWmPK4DTntvQ
I8eSvF2CLrewBVv2/9d1VauKY9RBM03++dn4jkr0vGSVrNYlt5wDntt5j0x+OcqX
vwLngOiMAeMg4jtbFnhFWUZtLYv8xFKJQjZVFgxPg3gH5MBvuwCUNMFdybksc7/v
QdZZiel96Lph3HBx37mOwdp4ycgd+cEbK+snMCBArYE+Ey7M2C6w399OzPvRBum3
pQIDAQAB
-----END PUBLIC KEY-----
";

/// The input is `[pem length: u16 LE][pem][signature]`. The PEM goes through the public-key
/// reader; the signature is checked, over the digest of `kure`, against the fixed key and the
/// parsed one, and the refusal is explained as kure would.
pub fn keys(data: &[u8]) {
    use crate::trust::{digest, verify_digest, PublicKey};
    let Some((len, rest)) = data.split_first_chunk::<2>() else {
        return;
    };
    let (pem, sig) = rest.split_at(usize::from(u16::from_le_bytes(*len)).min(rest.len()));
    static FIXED: std::sync::OnceLock<PublicKey> = std::sync::OnceLock::new();
    let source = Path::new("fuzz.pem");
    let fixed = FIXED.get_or_init(|| {
        PublicKey::from_pem(FIXED_KEY, Path::new("fixed.pem")).expect("the fixed key parses")
    });
    let mut signers = vec![fixed.clone()];
    match PublicKey::from_pem(&String::from_utf8_lossy(pem), source) {
        Ok(key) => {
            let again = PublicKey::from_pem(&key.to_pem(), source)
                .expect("a key kure accepted re-parses from the PEM it writes");
            assert_eq!(again.fingerprint, key.fingerprint);
            assert!((crate::trust::MIN_KEY_BITS..=crate::trust::MAX_KEY_BITS).contains(&key.bits()));
            signers.push(key);
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
    let d = digest(b"kure");
    match verify_digest(&d, sig, Path::new("fuzz.sig"), &signers[..1]) {
        Ok(_) => panic!("arbitrary bytes verified as a signature by the fixed key"),
        Err(e) => {
            let _ = e.to_string();
        }
    }
    if let Err(e) = verify_digest(&d, sig, Path::new("fuzz.sig"), &signers) {
        let _ = e.to_string();
    }
}

/// `index.json` as the store reads it: an accepted entry never names a path outside the
/// store.
pub fn index(data: &[u8]) {
    let store = crate::Store::new("/kure-home");
    let root = store.plugins_dir();
    match crate::store::parse_index(data, &store.index_path()) {
        Err(e) => {
            let _ = e.to_string();
        }
        Ok(index) => {
            for e in &index.plugins {
                for path in [store.library_path(e), store.entry_dir(e)] {
                    let inside = path.strip_prefix(&root).is_ok_and(|rel| {
                        rel.components().all(|c| matches!(c, Component::Normal(_)))
                    });
                    assert!(
                        inside,
                        "index entry {e:?} leaves the store: {}",
                        path.display()
                    );
                    assert_ne!(path, root, "index entry {e:?} is the store itself");
                }
                let _ = e.parsed_gvks();
            }
        }
    }
}

/// `kure.lock` as `generate` reads it: an accepted lock round-trips through the writer, and
/// checking a plugin against any of its pins explains the difference without panicking.
pub fn lock(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let path = Path::new("kure.lock");
    let pins = match crate::store::lockfile::parse(text, path) {
        Ok(pins) => pins,
        Err(e) => {
            let _ = e.to_string();
            return;
        }
    };
    let written = crate::store::lockfile::render(&pins).expect("an accepted lock can be written");
    let back = crate::store::lockfile::parse(&written, path).expect("a written lock reads back");
    assert_eq!(back, pins, "the lock reads back differently:\n{written}");
    let lock = crate::store::lockfile::Lock {
        path: path.to_path_buf(),
        pins,
    };
    let other = "0".repeat(64);
    for gvk in lock.pins.keys() {
        for recorded in [None, Some(("other", "0.0.0"))] {
            if let Err(e) =
                lock.check_before_load(gvk, Path::new("lib.so"), &other, &other, recorded)
            {
                let _ = e.to_string();
            }
        }
        if let Err(e) = lock.check_metadata(gvk, "other", "0.0.0") {
            let _ = e.to_string();
        }
    }
}

/// Runs a target by name (the corpus test's entry point).
pub fn run(target: &str, data: &[u8]) {
    match target {
        "yaml" => yaml(data),
        "spec" => spec(data),
        "keys" => keys(data),
        "index" => index(data),
        "lock" => lock(data),
        other => panic!("no fuzz target {other}"),
    }
}

/// The names of the targets.
pub const TARGETS: [&str; 5] = ["yaml", "spec", "keys", "index", "lock"];
