//! Kubernetes structures embedded in a spec (a container's `securityContext`, a pod's
//! `affinity`), with the upstream types of k8s-openapi and their schema from the Kubernetes
//! OpenAPI, but as strict as kure's own fields.
//!
//! k8s-openapi's schemas let any extra key through and its deserializers drop such keys
//! silently, so `securityContext: {runAsNonRot: true}` would be accepted and mean nothing.
//! [`Strict`] gives the type's schema with every object that lists its properties closed
//! (`additionalProperties: false`), so kure's schema check names the unknown key, its line
//! and the closest valid name, as it does for every other field.

use std::borrow::Cow;

use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A k8s-openapi type whose schema refuses unknown fields (see the module).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(transparent)]
pub struct Strict<T>(pub T);

impl<T: JsonSchema> JsonSchema for Strict<T> {
    fn schema_name() -> Cow<'static, str> {
        T::schema_name()
    }

    fn schema_id() -> Cow<'static, str> {
        T::schema_id()
    }

    /// `T`'s schema, closed, and every Kubernetes definition the generator holds closed too:
    /// the k8s-openapi types are used in specs only through `Strict`, so the definitions they
    /// share (a `LabelSelector` in six places of an `Affinity`) are written once, as `$defs`,
    /// instead of inlined at every use (which made the AppWorkload schema 160 KB and kure's
    /// start 4 ms slower).
    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let mut schema = T::json_schema(generator).to_value();
        close(&mut schema);
        for (name, definition) in generator.definitions_mut() {
            if name.starts_with("io.k8s.") {
                close(definition);
            }
        }
        Schema::try_from(schema).unwrap_or_default()
    }
}

/// Sets `additionalProperties: false` on every object schema below `v` that lists properties
/// and says nothing of others, and cuts each description to its first sentence (the
/// Kubernetes OpenAPI's run to paragraphs: `kure explain` shows the gist, and every kure
/// start builds, checks and compiles the schema, so its size is paid on every run).
fn close(v: &mut Value) {
    match v {
        Value::Object(map) => {
            if map.contains_key("properties") && !map.contains_key("additionalProperties") {
                map.insert("additionalProperties".to_owned(), Value::Bool(false));
            }
            if let Some(Value::String(d)) = map.get_mut("description") {
                if let Some(end) = d.find(". ") {
                    d.truncate(end + 1);
                }
            }
            for child in map.values_mut() {
                close(child);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(close),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::SecurityContext;

    #[test]
    fn every_listed_object_is_closed_and_the_values_pass_through() {
        let schema = schemars::schema_for!(Strict<SecurityContext>).to_value();
        assert_eq!(schema["additionalProperties"], false, "{schema}");
        let capabilities = &schema["$defs"]["io.k8s.api.core.v1.Capabilities"];
        assert_eq!(capabilities["additionalProperties"], false, "{schema}");
        assert!(schema["properties"]["runAsNonRoot"].is_object());
        // Descriptions keep their first sentence.
        let d = schema["properties"]["privileged"]["description"]
            .as_str()
            .expect("text");
        assert!(d.ends_with('.') && !d.contains(". "), "{d}");
        let v = serde_json::json!({"runAsNonRoot": true, "capabilities": {"drop": ["ALL"]}});
        let s: Strict<SecurityContext> = serde_json::from_value(v.clone()).expect("decodes");
        assert_eq!(serde_json::to_value(&s).expect("encodes"), v);
    }
}
