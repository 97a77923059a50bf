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
        format!("Strict_{}", T::schema_name()).into()
    }

    /// Inline: the closed schema is made from a generator of its own, which inlines every
    /// structure below it, so none of them is shared with an open one.
    fn inline_schema() -> bool {
        true
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        let mut generator = schemars::generate::SchemaSettings::draft2020_12()
            .with(|s| s.inline_subschemas = true)
            .into_generator();
        let mut value = generator.root_schema_for::<T>().to_value();
        if let Value::Object(map) = &mut value {
            map.remove("$schema");
            map.remove("title");
        }
        close(&mut value);
        Schema::try_from(value).unwrap_or_default()
    }
}

/// Sets `additionalProperties: false` on every object schema below `v` that lists properties
/// and says nothing of others.
fn close(v: &mut Value) {
    match v {
        Value::Object(map) => {
            if map.contains_key("properties") && !map.contains_key("additionalProperties") {
                map.insert("additionalProperties".to_owned(), Value::Bool(false));
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
        assert_eq!(
            schema["properties"]["capabilities"]["additionalProperties"], false,
            "{schema}"
        );
        assert!(schema["properties"]["runAsNonRoot"].is_object());
        let v = serde_json::json!({"runAsNonRoot": true, "capabilities": {"drop": ["ALL"]}});
        let s: Strict<SecurityContext> = serde_json::from_value(v.clone()).expect("decodes");
        assert_eq!(serde_json::to_value(&s).expect("encodes"), v);
    }
}
