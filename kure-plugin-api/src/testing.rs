//! Unit-test helpers for plugin authors: a spec checked as kure checks it, in `cargo test`.
//!
//! The schema check is kure's own ([`crate::validate::CompiledSchema`], the code `kure generate`
//! runs): the config's JSON Schema closed the way kure closes it, every keyword enforced, and
//! the same messages (field path, expected and found, "did you mean"). Then the generator's own
//! [`validate`](crate::sdk::Generator::validate), then [`generate`](crate::sdk::Generator::generate)
//! and the checks kure makes on what it returns (also kure's own code,
//! [`crate::validate::output`]). The document around the spec is checked by the same rules as
//! kure's decoder (known top-level and metadata fields, DNS-label names), though not by its
//! YAML reader, so a line number or a YAML edge case can still differ.
//!
//! Enable it for tests only:
//!
//! ```toml
//! [dev-dependencies]
//! kure-plugin-api = { version = "1", features = ["testing"] }
//! ```
//!
//! ```
//! use kure_plugin_api::sdk::prelude::*;
//! use kure_plugin_api::testing;
//!
//! /// A cache.
//! #[derive(Debug, Deserialize, JsonSchema)]
//! #[serde(deny_unknown_fields)]
//! pub struct Cache {
//!     /// Replicas.
//!     #[schemars(range(min = 1, max = 5))]
//!     pub replicas: u32,
//! }
//!
//! #[derive(Default)]
//! pub struct CacheGenerator;
//!
//! impl Generator for CacheGenerator {
//!     type Config = Cache;
//!     const API_VERSION: &'static str = "example.com/v1";
//!     const KIND: &'static str = "Cache";
//!     fn generate(&self, app: &Application<Cache>) -> Result<Vec<Object>, Error> {
//!         Ok(vec![json!({"apiVersion": "v1", "kind": "ConfigMap",
//!                        "metadata": app.child_metadata(&app.metadata.name)})])
//!     }
//! }
//!
//! let doc = "apiVersion: example.com/v1\nkind: Cache\nmetadata:\n  name: c\nspec:\n  replicas: 9\n";
//! let problems = testing::validate::<CacheGenerator>(doc).unwrap_err();
//! assert_eq!(problems.to_string(), "spec.replicas: must be at most 5, found 9");
//! let typo = doc.replace("replicas: 9", "replics: 2");
//! assert!(testing::validate::<CacheGenerator>(&typo)
//!     .unwrap_err()
//!     .to_string()
//!     .contains("did you mean `replicas`?"));
//! let objects = testing::generate::<CacheGenerator>(&doc.replace('9', "2")).unwrap();
//! assert_eq!(objects[0]["kind"], "ConfigMap");
//! testing::check_examples::<CacheGenerator>(); // none documented: nothing to check
//! ```

use std::fmt;
use std::sync::Arc;

use serde_json::Value;

use crate::abi::ErrorPayload;
use crate::host::{erase, DynGenerator};
use crate::sdk::{Generator, Metadata};
use crate::validate::CompiledSchema;

/// What kure says about a spec, one line per problem: `FIELD: message`, the field path from
/// the document (`spec.replicas`, `metadata.name`, `kind`), as `kure validate` prints it after
/// `FILE:LINE: app NAME:`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problems(pub Vec<String>);

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join("\n"))
    }
}

impl std::error::Error for Problems {}

impl Problems {
    fn one(message: String) -> Self {
        Self(vec![message])
    }
}

/// A generator under test, with its schema compiled as kure compiles it.
pub struct Harness {
    generator: Arc<dyn DynGenerator>,
    schema: CompiledSchema,
}

impl fmt::Debug for Harness {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Harness")
            .field("api_version", &self.generator.api_version())
            .field("kind", &self.generator.kind())
            .finish()
    }
}

fn payload_problems(p: &ErrorPayload) -> Problems {
    if p.issues.is_empty() {
        return Problems::one(format!("spec: {}", p.message));
    }
    Problems(
        p.issues
            .iter()
            .map(|i| format!("{}: {}", i.document_path(), i.message))
            .collect(),
    )
}

impl Harness {
    /// Wraps `generator`. Panics when its config's JSON Schema is one kure cannot use (kure
    /// would refuse every spec of it), with the reason.
    pub fn new<G: Generator>(generator: G) -> Self {
        let generator = erase(generator);
        let declared = generator.json_schema().unwrap_or_else(|e| {
            panic!(
                "{}: kure cannot get its JSON Schema: {}",
                generator.kind(),
                e.message
            )
        });
        let schema = CompiledSchema::compile(&declared).unwrap_or_else(|why| {
            panic!(
                "{}: kure cannot use its JSON Schema, so it would refuse every spec: {why}",
                generator.kind()
            )
        });
        Self { generator, schema }
    }

    /// The JSON Schema kure enforces for the spec (what `kure schema KIND` prints).
    pub fn enforced_schema(&self) -> &Value {
        self.schema.enforced()
    }

    /// The document, checked as kure's decoder checks it: only `apiVersion`, `kind`,
    /// `metadata` (`name`, `namespace`, `labels`, `annotations`) and `spec`; this generator's
    /// apiVersion and kind; a DNS-label name and namespace; a missing or null `spec` is `{}`.
    fn document(&self, yaml: &str) -> Result<Value, Problems> {
        let mut doc: Value = yaml_serde::from_str(yaml)
            .map_err(|e| Problems::one(format!("not a YAML document: {e}")))?;
        let Some(map) = doc.as_object_mut() else {
            return Err(Problems::one(
                "document: expected a mapping with apiVersion, kind, metadata and spec".to_owned(),
            ));
        };
        if let Some(k) = map
            .keys()
            .find(|k| !["apiVersion", "kind", "metadata", "spec"].contains(&k.as_str()))
        {
            return Err(Problems::one(format!(
                "{k}: unknown field: a document has apiVersion, kind, metadata and spec"
            )));
        }
        if map.get("spec").is_none_or(Value::is_null) {
            map.insert("spec".to_owned(), Value::Object(serde_json::Map::new()));
        }
        let text = |k: &str| doc.get(k).and_then(Value::as_str).unwrap_or("");
        let (api_version, kind) = (self.generator.api_version(), self.generator.kind());
        if text("apiVersion") != api_version || text("kind") != kind {
            return Err(Problems::one(format!(
                "kind: the document is `{}` `{}`, not this generator's `{api_version}` `{kind}`",
                text("apiVersion"),
                text("kind")
            )));
        }
        let metadata: Metadata = doc
            .get("metadata")
            .map(|m| serde_json::from_value(m.clone()))
            .unwrap_or_else(|| Err(serde::de::Error::custom("missing")))
            .map_err(|e| Problems::one(format!("metadata: {e}")))?;
        if !crate::sdk::is_dns_label(&metadata.name) {
            return Err(Problems::one(format!(
                "metadata.name: `{}` is not a valid name: use lower-case letters, digits and `-`, starting and ending with a letter or digit, at most 63 characters",
                metadata.name
            )));
        }
        if let Some(ns) = metadata
            .namespace
            .as_deref()
            .filter(|ns| !crate::sdk::is_dns_label(ns))
        {
            return Err(Problems::one(format!(
                "metadata.namespace: `{ns}` is not a valid namespace (a DNS-1123 label)"
            )));
        }
        Ok(doc)
    }

    /// Checks one application document (YAML with apiVersion, kind, metadata and spec) as
    /// `kure validate` does: its apiVersion and kind, `metadata`, the spec against the enforced
    /// schema, then the generator's own checks (`validate_application`, which runs `validate`).
    pub fn validate(&self, yaml: &str) -> Result<(), Problems> {
        let doc = self.document(yaml)?;
        self.validate_doc(&doc)
    }

    fn validate_doc(&self, doc: &Value) -> Result<(), Problems> {
        let spec = doc.get("spec").cloned().unwrap_or(Value::Null);
        let issues = self.schema.check(&spec);
        if !issues.is_empty() {
            return Err(Problems(
                issues
                    .into_iter()
                    .map(|i| match i.path.as_str() {
                        "" => format!("spec: {}", i.message),
                        path => format!("spec.{path}: {}", i.message),
                    })
                    .collect(),
            ));
        }
        self.generator
            .validate_application(doc)
            .map_err(|p| payload_problems(&p))
    }

    /// [`validate`](Self::validate), then generates, and checks every object as kure does
    /// (`apiVersion`, `kind` and `metadata.name` present). kure asks a plugin for its objects
    /// as JSON text ([`Generator::generate_json`]): that
    /// text must describe the objects `generate` returns.
    pub fn generate(&self, yaml: &str) -> Result<Vec<Value>, Problems> {
        let doc = self.document(yaml)?;
        self.validate_doc(&doc)?;
        let objects = self
            .generator
            .generate(&doc)
            .map_err(|p| match p.issues.is_empty() {
                // A field error from `generate` is shown as kure shows it: on its field.
                false => payload_problems(&p),
                true => Problems::one(format!("generate: {}", p.message)),
            })?;
        let text = self
            .generator
            .generate_text(&doc)
            .map_err(|p| Problems::one(format!("generate_json: {}", p.message)))?;
        match serde_json::from_str::<Vec<Value>>(&text) {
            Ok(written) if written == objects => {}
            Ok(written) => {
                let at = written
                    .iter()
                    .zip(&objects)
                    .position(|(w, o)| w != o)
                    .map_or_else(
                        || format!("{} objects against {}", written.len(), objects.len()),
                        |i| format!("object {} differs", i + 1),
                    );
                return Err(Problems::one(format!(
                    "generate_json does not describe the objects generate returns ({at}); kure uses generate_json's"
                )));
            }
            Err(e) => {
                return Err(Problems::one(format!(
                    "generate_json: not a JSON array of objects ({e})"
                )))
            }
        }
        // The checks kure makes on every returned object: the same code.
        let bad: Vec<String> = objects
            .iter()
            .enumerate()
            .filter_map(|(i, o)| crate::validate::output::object_problem(i + 1, o))
            .map(|p| format!("generate: {p}"))
            .collect();
        if bad.is_empty() {
            Ok(objects)
        } else {
            Err(Problems(bad))
        }
    }

    /// Validates and generates every example the generator documents, as
    /// `kure plugins install` does. Returns how many were checked, or every problem, each
    /// prefixed with `example NAME:`.
    pub fn check_examples(&self) -> Result<usize, Problems> {
        let docs = self
            .generator
            .documentation()
            .map_err(|p| Problems::one(format!("documentation: {}", p.message)))?;
        let mut problems = Vec::new();
        for ex in &docs.examples {
            if let Err(p) = self.generate(&ex.config) {
                problems.extend(p.0.into_iter().map(|m| format!("example {}: {m}", ex.name)));
            }
        }
        if problems.is_empty() {
            Ok(docs.examples.len())
        } else {
            Err(Problems(problems))
        }
    }
}

/// [`Harness::validate`] for a `Default` generator.
pub fn validate<G: Generator + Default>(yaml: &str) -> Result<(), Problems> {
    Harness::new(G::default()).validate(yaml)
}

/// [`Harness::generate`] for a `Default` generator.
pub fn generate<G: Generator + Default>(yaml: &str) -> Result<Vec<Value>, Problems> {
    Harness::new(G::default()).generate(yaml)
}

/// Validates and generates every documented example of a `Default` generator; panics with
/// every problem, each naming its example (for a `#[test]`).
pub fn check_examples<G: Generator + Default>() {
    if let Err(p) = Harness::new(G::default()).check_examples() {
        panic!(
            "{} has documented examples kure would refuse:\n{p}",
            G::KIND
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sdk::prelude::*;

    /// A cache.
    #[derive(Debug, Deserialize, JsonSchema)]
    #[serde(deny_unknown_fields)]
    struct Cache {
        /// Replicas.
        #[schemars(range(min = 1, max = 5))]
        replicas: u32,
    }

    #[derive(Default)]
    struct Documented;

    fn doc(name: &str, spec: &str) -> Example {
        Example::new(
            name,
            name,
            &format!("apiVersion: example.com/v1\nkind: Cache\nmetadata:\n  name: {name}\nspec:\n  {spec}\n"),
        )
    }

    impl Generator for Documented {
        type Config = Cache;
        const API_VERSION: &'static str = "example.com/v1";
        const KIND: &'static str = "Cache";
        fn generate(&self, app: &Application<Cache>) -> Result<Vec<Object>, Error> {
            if app.metadata.name == "nameless" {
                return Ok(vec![json!({"apiVersion": "v1", "kind": "ConfigMap"})]);
            }
            Ok(vec![
                json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}}),
            ])
        }
        fn validate(&self, c: &Cache) -> Result<(), Error> {
            if c.replicas == 4 {
                return Err(Error::field("replicas", "4 is unlucky"));
            }
            Ok(())
        }
        fn documentation(&self) -> Documentation {
            Documentation {
                examples: vec![
                    doc("good", "replicas: 2"),
                    doc("too-many", "replicas: 9"),
                    doc("typo", "replics: 2"),
                    doc("unlucky", "replicas: 4"),
                    doc("nameless", "replicas: 1"),
                ],
                ..Documentation::default()
            }
        }
    }

    #[test]
    fn every_failing_example_is_named_with_kures_message() {
        let p = Harness::new(Documented)
            .check_examples()
            .expect_err("bad examples");
        assert_eq!(
            p.0,
            [
                "example too-many: spec.replicas: must be at most 5, found 9",
                "example typo: spec.replics: unknown field `replics`: did you mean `replicas`?",
                "example typo: spec.replicas: missing required field `replicas`",
                "example unlucky: spec.replicas: 4 is unlucky",
                "example nameless: generate: returned object #1 without metadata.name: every object needs apiVersion, kind and metadata.name",
            ]
        );
    }

    #[test]
    #[should_panic(expected = "Cache has documented examples kure would refuse")]
    fn check_examples_panics_for_a_test() {
        check_examples::<Documented>();
    }

    #[test]
    fn the_envelope_is_checked_too() {
        let h = Harness::new(Documented);
        let wrong =
            "apiVersion: example.com/v2\nkind: Cache\nmetadata:\n  name: a\nspec:\n  replicas: 1\n";
        assert!(h.validate(wrong).expect_err("kind").0[0].starts_with("kind: "));
        let badname = "apiVersion: example.com/v1\nkind: Cache\nmetadata:\n  name: Not_A_Name\nspec:\n  replicas: 1\n";
        assert!(h.validate(badname).expect_err("name").0[0].starts_with("metadata.name: "));
        assert!(h.validate("a: [").is_err());
        assert_eq!(
            h.enforced_schema()["additionalProperties"],
            Value::Bool(false)
        );
    }

    /// Writes its text by hand, and gets it wrong for one app.
    struct Careless;

    impl Generator for Careless {
        type Config = Cache;
        const API_VERSION: &'static str = "example.com/v1";
        const KIND: &'static str = "Cache";
        const WRITES_JSON: bool = true;
        fn generate(&self, app: &Application<Cache>) -> Result<Vec<Object>, Error> {
            Ok(vec![
                json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": app.metadata.name}}),
            ])
        }
        fn generate_json(&self, app: &Application<Cache>) -> Result<String, Error> {
            let name = match app.spec.replicas {
                3 => "someone-else",
                _ => app.metadata.name.as_str(),
            };
            let mut out = JsonArray::new();
            out.push(
                &json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}}),
            )?;
            if app.spec.replicas == 2 {
                out.push(
                    &json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}}),
                )?;
            }
            Ok(out.finish())
        }
    }

    #[test]
    fn generate_json_must_describe_what_generate_returns() {
        let h = Harness::new(Careless);
        let app = |replicas: u32| {
            format!("apiVersion: example.com/v1\nkind: Cache\nmetadata:\n  name: a\nspec:\n  replicas: {replicas}\n")
        };
        assert_eq!(h.generate(&app(1)).expect("they agree").len(), 1);
        for (replicas, needle) in [(3, "object 1 differs"), (2, "2 objects against 1")] {
            let p = h.generate(&app(replicas)).expect_err("they disagree");
            assert_eq!(p.0.len(), 1, "{p:?}");
            assert!(
                p.0[0].starts_with("generate_json does not describe the objects generate returns")
                    && p.0[0].contains(needle),
                "{p:?}"
            );
        }
    }
}
