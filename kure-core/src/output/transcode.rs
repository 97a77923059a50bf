//! A plugin's answer (a JSON array of objects, as text) straight to YAML, in one pass, without
//! building the objects as values: byte for byte what [`emit::to_string`](super::emit::to_string)
//! writes for the parsed objects, plus each object's header (`apiVersion`, `kind`,
//! `metadata.name`, `metadata.namespace`: what kure checks, names files by and finds duplicates
//! with).
//!
//! It takes only what it can write exactly as the emitter would: keys in strictly increasing
//! order in every mapping (what serde_json writes for its values; the emitter sorts, and a
//! value keeps the last of two equal keys), header fields that are scalars. Anything else
//! (and anything that is not JSON) is `None`, and the caller parses the text into values as
//! before. `kure_core::fuzz::transcoder` (feature `testing-hooks`) holds it to the emitter: on the `spec` fuzz target's
//! objects, and on the YAML oracle test's 2,000 generated values.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use super::emit::{indent, write_double_quoted, write_float, write_string, IMPLICIT_KEY_MAX};

/// One object's header and its YAML document (no `---`).
pub(crate) type Transcoded = (Value, String);

/// The objects of a JSON array as YAML documents, with their headers; `None` when the text is
/// not one the transcoder takes (see the module documentation).
pub(crate) fn objects_yaml(json: &str) -> Option<Vec<Transcoded>> {
    let mut de = serde_json::Deserializer::from_str(json);
    let objects = Objects.deserialize(&mut de).ok()?;
    de.end().ok()?;
    Some(objects)
}

/// Why the transcoder gives up (never shown: the caller falls back to values).
fn refuse<E: de::Error>() -> E {
    E::custom("not transcoded")
}

struct Objects;

impl<'de> DeserializeSeed<'de> for Objects {
    type Value = Vec<Transcoded>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for Objects {
    type Value = Vec<Transcoded>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of objects")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut objects = Vec::new();
        while let Some(o) = seq.next_element_seed(Object)? {
            objects.push(o);
        }
        Ok(objects)
    }
}

/// One object of the array: a mapping at the top of its own document.
struct Object;

impl<'de> DeserializeSeed<'de> for Object {
    type Value = Transcoded;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Object {
    type Value = Transcoded;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut out = String::with_capacity(1024);
        let mut header = Map::new();
        if !entries(&mut out, &mut header, &mut map, 0, None, Cap::Top)? {
            out.push_str("{}\n");
        }
        Ok((Value::Object(header), out))
    }
}

/// Which header field a node is, if any.
#[derive(Clone, Copy)]
enum Cap {
    /// Not a header field, nor inside one.
    None,
    /// The object itself: its `apiVersion`, `kind` and `metadata` are.
    Top,
    /// `metadata`: its `name` and `namespace` are.
    Metadata,
    /// A top-level header field.
    Field(&'static str),
    /// A header field inside `metadata`.
    MetaField(&'static str),
}

impl Cap {
    /// What the value of `key` in a mapping that is `self` is.
    fn below(self, key: &str) -> Cap {
        match (self, key) {
            (Cap::Top, "apiVersion") => Cap::Field("apiVersion"),
            (Cap::Top, "kind") => Cap::Field("kind"),
            (Cap::Top, "metadata") => Cap::Metadata,
            (Cap::Metadata, "name") => Cap::MetaField("name"),
            (Cap::Metadata, "namespace") => Cap::MetaField("namespace"),
            _ => Cap::None,
        }
    }

    fn record(self, header: &mut Map<String, Value>, value: impl FnOnce() -> Value) {
        match self {
            Cap::Field(k) => {
                header.insert(k.to_owned(), value());
            }
            Cap::MetaField(k) => {
                if let Value::Object(m) = header
                    .entry("metadata")
                    .or_insert_with(|| Value::Object(Map::new()))
                {
                    m.insert(k.to_owned(), value());
                }
            }
            Cap::None | Cap::Top | Cap::Metadata => {}
        }
    }

    /// Header fields are scalars here; a collection there is left to the values path.
    fn is_field(self) -> bool {
        matches!(self, Cap::Field(_) | Cap::MetaField(_))
    }
}

/// A mapping's entries at `level`, the first where the cursor is (after `prefix`, written
/// once there is an entry). `false` when it has none (nothing written).
fn entries<'de, A: MapAccess<'de>>(
    out: &mut String,
    header: &mut Map<String, Value>,
    map: &mut A,
    level: usize,
    prefix: Option<usize>,
    cap: Cap,
) -> Result<bool, A::Error> {
    let mut previous: Option<Cow<'de, str>> = None;
    while let Some(key) = map.next_key_seed(Key)? {
        match &previous {
            None => {
                if let Some(n) = prefix {
                    out.push('\n');
                    indent(out, n);
                }
            }
            Some(p) => {
                if **p >= *key {
                    return Err(refuse());
                }
                indent(out, level);
            }
        }
        let below = cap.below(&key);
        let how = if key.len() > IMPLICIT_KEY_MAX {
            out.push_str("? ");
            write_double_quoted(out, &key);
            out.push('\n');
            indent(out, level);
            out.push(':');
            How::Explicit
        } else {
            write_string(out, &key, level, true);
            out.push(':');
            How::Child
        };
        map.next_value_seed(Node {
            out: &mut *out,
            header: &mut *header,
            level,
            how,
            cap: below,
            item_prefix: None,
        })?;
        previous = Some(key);
    }
    Ok(previous.is_some())
}

/// A key, borrowed from the text when it has no escapes.
struct Key;

impl<'de> DeserializeSeed<'de> for Key {
    type Value = Cow<'de, str>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Key {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a key")
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_owned()))
    }
}

/// Where a node is written (the emitter's `write_child`, its explicit-key variant, and a
/// sequence item).
#[derive(Clone, Copy, PartialEq, Eq)]
enum How {
    /// After `key:`.
    Child,
    /// After an explicit key's `:`.
    Explicit,
    /// After `- `.
    Item,
}

/// One value, written as the emitter writes it where `how` says.
struct Node<'a> {
    out: &'a mut String,
    header: &'a mut Map<String, Value>,
    /// The level of the mapping or sequence it is in.
    level: usize,
    how: How,
    cap: Cap,
    /// For a sequence item: the indentation before its `- ` (`None`: the cursor is there).
    item_prefix: Option<Option<usize>>,
}

impl Node<'_> {
    fn scalar(self, text: impl FnOnce(&mut String, usize), value: impl FnOnce() -> Value) {
        self.cap.record(self.header, value);
        if self.how != How::Item {
            self.out.push(' ');
        }
        text(self.out, self.level + 2);
        self.out.push('\n');
    }

    fn empty(self, text: &str) {
        if self.how != How::Item {
            self.out.push(' ');
        }
        self.out.push_str(text);
        self.out.push('\n');
    }
}

impl<'de> DeserializeSeed<'de> for Node<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        if let Some(prefix) = self.item_prefix {
            if let Some(n) = prefix {
                indent(self.out, n);
            }
            self.out.push_str("- ");
        }
        d.deserialize_any(Node {
            item_prefix: None,
            ..self
        })
    }
}

impl<'de> Visitor<'de> for Node<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.scalar(|o, _| o.push_str("null"), || Value::Null);
        Ok(())
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<(), E> {
        self.scalar(
            |o, _| o.push_str(if v { "true" } else { "false" }),
            || Value::Bool(v),
        );
        Ok(())
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<(), E> {
        self.scalar(|o, _| o.push_str(&v.to_string()), || Value::from(v));
        Ok(())
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<(), E> {
        self.scalar(|o, _| o.push_str(&v.to_string()), || Value::from(v));
        Ok(())
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<(), E> {
        // As the values path holds it: a serde_json number.
        let n = serde_json::Number::from_f64(v).ok_or_else(refuse)?;
        let shortest = n.to_string();
        self.scalar(|o, _| write_float(o, &shortest), || Value::Number(n));
        Ok(())
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<(), E> {
        self.visit_str(v)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        self.scalar(
            |o, level| write_string(o, v, level, false),
            || Value::String(v.to_owned()),
        );
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        if self.cap.is_field() {
            return Err(refuse());
        }
        let (level, prefix) = match self.how {
            How::Child | How::Explicit => (self.level + 2, Some(self.level + 2)),
            How::Item => (self.level + 2, None),
        };
        if !entries(
            &mut *self.out,
            &mut *self.header,
            &mut map,
            level,
            prefix,
            self.cap,
        )? {
            self.empty("{}");
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        if self.cap.is_field() {
            return Err(refuse());
        }
        let (level, prefix) = match self.how {
            How::Child => (self.level, Some(self.level)),
            How::Explicit => (self.level + 2, Some(self.level + 2)),
            How::Item => (self.level + 2, None),
        };
        let mut any = false;
        loop {
            let item_prefix = if any { Some(level) } else { prefix };
            // The line break before the first item (after `key:`) is written with it.
            let first_break = !any && prefix.is_some();
            let node = Node {
                out: &mut *self.out,
                header: &mut *self.header,
                level,
                how: How::Item,
                cap: Cap::None,
                item_prefix: Some(item_prefix),
            };
            let seed = Breaking { node, first_break };
            if seq.next_element_seed(seed)?.is_none() {
                break;
            }
            any = true;
        }
        if !any {
            self.empty("[]");
        }
        Ok(())
    }
}

/// A sequence item, with the line break that comes before a sequence's first item when the
/// sequence is a mapping's value.
struct Breaking<'a> {
    node: Node<'a>,
    first_break: bool,
}

impl<'de> DeserializeSeed<'de> for Breaking<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        if self.first_break {
            self.node.out.push('\n');
        }
        self.node.deserialize(d)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::output::emit::to_string;

    /// What the values path makes of the same objects.
    fn by_values(objects: &[Value]) -> Vec<String> {
        objects.iter().map(to_string).collect()
    }

    fn transcoded(objects: &[Value]) -> Vec<String> {
        let text = serde_json::to_string(objects).expect("json");
        objects_yaml(&text)
            .unwrap_or_else(|| panic!("not transcoded: {text}"))
            .into_iter()
            .map(|(_, yaml)| yaml)
            .collect()
    }

    #[test]
    fn objects_are_written_as_the_emitter_writes_them_with_their_headers() {
        let long = "k".repeat(IMPLICIT_KEY_MAX + 1);
        let objects = vec![
            json!({
                "apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": "web", "namespace": "shop", "labels": {"app": "web"}},
                "spec": {"replicas": 3, "ratio": 1e16, "empty": {}, "none": [], "nothing": null,
                         "list": [[1, [], {}], {"a": [1, 2], "b": {}}, "yes", "multi\nline\n"],
                         long.clone(): [1, {"x": true}], "short": {long.clone(): {}}},
            }),
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}),
            json!({}),
        ];
        assert_eq!(transcoded(&objects), by_values(&objects));
        let text = serde_json::to_string(&objects).expect("json");
        let headers: Vec<Value> = objects_yaml(&text)
            .expect("transcoded")
            .into_iter()
            .map(|(h, _)| h)
            .collect();
        assert_eq!(
            headers,
            [
                json!({"apiVersion": "apps/v1", "kind": "Deployment",
                       "metadata": {"name": "web", "namespace": "shop"}}),
                json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}),
                json!({}),
            ]
        );
    }

    #[test]
    fn what_it_cannot_write_exactly_is_left_to_the_values_path() {
        for text in [
            // Keys out of order, or twice: a value sorts them and keeps the last.
            r#"[{"b": 1, "a": 2}]"#,
            r#"[{"a": 1, "a": 2}]"#,
            r#"[{"metadata": {"name": "x", "name": "y"}}]"#,
            // Equal once unescaped.
            r#"[{"kind": "A", "ki\u006ed": "B"}]"#,
            // Header fields that are not scalars (the messages quote them whole).
            r#"[{"kind": ["X"]}]"#,
            r#"[{"metadata": {"namespace": {"a": 1}}}]"#,
            // Not an array of objects, not JSON, or more than one value.
            r#"{"a": 1}"#,
            "[5]",
            "[{]",
            "[] []",
        ] {
            assert!(objects_yaml(text).is_none(), "{text}");
        }
        // Escaped keys and strings read as the text says.
        let (_, yaml) = objects_yaml(r#"[{"a\"b": "c\u00e9\n"}]"#)
            .expect("transcoded")
            .remove(0);
        assert_eq!(yaml, to_string(&json!({"a\"b": "c\u{e9}\n"})));
    }
    /// An AppWorkload app with `spec`.
    fn app(spec: Value) -> Value {
        serde_json::json!({"apiVersion": "generators.gokure.dev/v1alpha1", "kind": "AppWorkload",
               "metadata": {"name": "shop", "namespace": "web"}, "spec": spec})
    }

    #[test]
    fn the_json_text_is_the_values_and_written_as_the_emitter_takes_it() {
        let g = kure_plugin_api::host::erase(crate::generate::builtin::AppWorkload);
        let volumes = json!({"workload": "StatefulSet", "replicas": 2,
            "containers": [{"name": "db", "image": "postgres:16",
                "ports": [{"containerPort": 5432}],
                "volumeMounts": [{"name": "data", "mountPath": "/var/lib/postgresql"}]}],
            "volumeClaimTemplates": [{"name": "data", "storage": "1Gi"}]});
        let daemon = json!({"workload": "DaemonSet",
            "containers": [{"name": "c", "image": "agent:1", "env": [{"name": "A", "value": "b"}]}]});
        let shop: Value = yaml_serde::from_str(include_str!("../../../examples/shop.yaml"))
            .expect("the shipped example");
        for app in [app(volumes), app(daemon), shop] {
            let text = g.generate_text(&app).expect("generate");
            let values = g.generate(&app).expect("generate");
            assert_eq!(
                serde_json::from_str::<Vec<Value>>(&text).expect("JSON"),
                values
            );
            // Keys in order, as the transcoder needs them to skip building values.
            let yaml = objects_yaml(&text).expect("transcoded");
            let emitted: Vec<String> = values.iter().map(crate::output::emit::to_string).collect();
            assert_eq!(
                yaml.into_iter().map(|(_, y)| y).collect::<Vec<_>>(),
                emitted
            );
        }
    }
}
