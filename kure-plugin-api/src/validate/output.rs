//! The checks kure makes on every object a generator returns, shared by the host and
//! [`crate::testing`]: each needs `apiVersion`, `kind` and `metadata.name`, and its kind, name
//! and namespace become file and directory names in `kure generate -o DIR`, so each must be
//! what Kubernetes accepts (a kind of letters and digits, a DNS-1123 subdomain name, a
//! DNS-1123 label namespace): no object can name a path.

use serde_json::Value;

use super::text::shown;
use crate::sdk::{is_dns_label, is_dns_subdomain};

/// Whether `s` is a Kubernetes kind: ASCII letters and digits, starting with a letter.
pub fn is_kind(s: &str) -> bool {
    let mut b = s.bytes();
    b.next().is_some_and(|c| c.is_ascii_alphabetic()) && b.all(|c| c.is_ascii_alphanumeric())
}

/// The field at `path` (keys from the root), looked up key by key: `Value::pointer` would
/// parse a pointer string on every call, and this runs on every object kure writes.
fn field<'a>(o: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(o, |v, k| v.get(*k))
}

fn text<'a>(o: &'a Value, path: &[&str]) -> Option<&'a str> {
    field(o, path).and_then(Value::as_str)
}

fn missing_field(o: &Value) -> Option<&'static str> {
    let present = |p: &[&str]| text(o, p).is_some_and(|s| !s.is_empty());
    if !o.is_object() {
        Some("being an object")
    } else if !present(&["apiVersion"]) {
        Some("apiVersion")
    } else if !present(&["kind"]) {
        Some("kind")
    } else if !present(&["metadata", "name"]) {
        Some("metadata.name")
    } else {
        None
    }
}

fn unsafe_name(o: &Value) -> Option<String> {
    let kind = text(o, &["kind"]).unwrap_or("");
    if !is_kind(kind) {
        return Some(format!(
            "kind `{}`, which is not a Kubernetes kind (letters and digits, starting with a letter)",
            shown(kind)
        ));
    }
    let name = text(o, &["metadata", "name"]).unwrap_or("");
    if !is_dns_subdomain(name) {
        return Some(format!(
            "metadata.name `{}` ({kind}), which is not a DNS-1123 subdomain (lower-case letters, digits, `-` and `.`, at most 253)",
            shown(name)
        ));
    }
    match field(o, &["metadata", "namespace"]) {
        None | Some(Value::Null) => None,
        Some(Value::String(ns)) if is_dns_label(ns) => None,
        Some(other) => Some(format!(
            "metadata.namespace `{}` ({kind} {name}), which is not a DNS-1123 label (lower-case letters, digits and `-`, at most 63)",
            shown(&other.as_str().map_or_else(|| other.to_string(), str::to_owned))
        )),
    }
}

/// What is wrong with the `n`th (from 1) returned object, if anything, in kure's words.
pub fn object_problem(n: usize, o: &Value) -> Option<String> {
    if let Some(missing) = missing_field(o) {
        return Some(format!(
            "returned object #{n} without {missing}: every object needs apiVersion, kind and metadata.name"
        ));
    }
    unsafe_name(o)
        .map(|problem| format!("returned object #{n} with {problem}; nothing was written"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn objects_that_could_name_a_path_are_refused() {
        let ok = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a.b", "namespace": "ns"}});
        assert_eq!(object_problem(1, &ok), None);
        for (o, needle) in [
            (json!([]), "without being an object"),
            (
                json!({"kind": "X", "metadata": {"name": "a"}}),
                "without apiVersion",
            ),
            (
                json!({"apiVersion": "v1", "kind": "../X", "metadata": {"name": "a"}}),
                "kind `../X`",
            ),
            (
                json!({"apiVersion": "v1", "kind": "X", "metadata": {"name": "../a"}}),
                "metadata.name `../a`",
            ),
            (
                json!({"apiVersion": "v1", "kind": "X", "metadata": {"name": "a", "namespace": "A/B"}}),
                "metadata.namespace `A/B`",
            ),
            (
                json!({"apiVersion": "v1", "kind": "X", "metadata": {"name": "a", "namespace": 5}}),
                "metadata.namespace `5`",
            ),
        ] {
            let p = object_problem(2, &o).expect("refused");
            assert!(
                p.starts_with("returned object #2 ") && p.contains(needle),
                "{p}"
            );
        }
    }
}
