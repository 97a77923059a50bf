//! The host's side: one object-safe, JSON-level view of any generator.
//!
//! kure holds built-in generators, plugin generators (through the ABI) and generators in a
//! sandboxed worker behind the same [`DynGenerator`] trait, so they differ only in how they
//! are registered. Plugin authors never need this module: they implement
//! [`Generator`] and export it with
//! [`export_plugin!`](crate::export_plugin). Its text-level methods (the JSON text a plugin
//! answers, kept in the plugin's own allocation) are for the host's hot path.

use std::sync::Arc;

use abi_stable::std_types::RString;
use serde::Deserialize;
use serde_json::Value;

use crate::abi::{ErrorKind, ErrorPayload, ValidatorRequest};
use crate::sdk::{Application, Documentation, Error, Generator};

/// A generator seen through JSON values, object safe.
pub trait DynGenerator: Send + Sync {
    /// `group/version` it answers to.
    fn api_version(&self) -> &str;
    /// Kind it answers to.
    fn kind(&self) -> &str;
    /// JSON Schema of the spec. `Err` when a plugin failed to give one.
    fn json_schema(&self) -> Result<Value, ErrorPayload>;
    /// Decodes the spec and runs the generator's own checks.
    fn validate(&self, spec: &Value) -> Result<(), ErrorPayload>;
    /// Generates objects from a whole application document (see [`crate::abi`] payloads).
    fn generate(&self, app: &Value) -> Result<Vec<Value>, ErrorPayload>;
    /// Whether [`generate`](DynGenerator::generate) runs the generator's own checks first, on
    /// the spec it has decoded anyway, and reports a failing one as [`validate`] would (an
    /// `invalid-config` payload with its issues). A host that generates then need not call
    /// `validate` as well, and the spec is decoded once. True for every generator this SDK
    /// wraps since 1.1 (feature [`GENERATE_VALIDATES`](crate::abi::GENERATE_VALIDATES)).
    ///
    /// [`validate`]: DynGenerator::validate
    fn generate_validates(&self) -> bool {
        false
    }
    /// Documentation, examples and usage guide. `Err` when a plugin failed to give them: a
    /// failure is never shown as documentation.
    fn documentation(&self) -> Result<Documentation, ErrorPayload>;

    /// [`validate`](DynGenerator::validate) on JSON text (what the ABI carries).
    fn validate_json(&self, spec: &str) -> Result<(), ErrorPayload> {
        let spec: Value = serde_json::from_str(spec).map_err(decode_error)?;
        self.validate(&spec)
    }

    /// The generator's own checks of a whole application document (its metadata as well as
    /// its spec: [`Generator::validate_application`]): what `generate` runs first. The default,
    /// for a generator that sees only specs, validates the document's `spec`.
    fn validate_application(&self, app: &Value) -> Result<(), ErrorPayload> {
        self.validate(app.get("spec").unwrap_or(&Value::Null))
    }

    /// [`validate_application`](DynGenerator::validate_application) on JSON text.
    fn validate_application_json(&self, app: &str) -> Result<(), ErrorPayload> {
        let app: Value = serde_json::from_str(app).map_err(decode_error)?;
        self.validate_application(&app)
    }

    /// A validator request as the ABI carries it ([`ValidatorRequest`]): a spec or an
    /// application document.
    fn validate_request(&self, request: &str) -> Result<(), ErrorPayload> {
        match ValidatorRequest::parse(request) {
            ValidatorRequest::Spec(spec) => self.validate_json(spec),
            ValidatorRequest::Application(app) => self.validate_application_json(app),
        }
    }

    /// [`generate`](DynGenerator::generate) on JSON text, returning a JSON array: what the
    /// ABI carries. Typed generators decode the request straight into their config type.
    fn generate_json(&self, request: &str) -> Result<String, ErrorPayload> {
        let app: Value = serde_json::from_str(request).map_err(decode_error)?;
        self.generate_text(&app).map(String::from)
    }

    /// [`generate`](DynGenerator::generate) answering with the JSON text of an array, as
    /// [`generate_json`](DynGenerator::generate_json) does: for a host that holds the app as a
    /// value and reads the answer as text (a typed generator writes its objects straight to
    /// text, [`Generator::generate_json`]). An `RString`, so that a plugin's answer reaches the
    /// host without being copied out of the plugin's allocation.
    fn generate_text(&self, app: &Value) -> Result<RString, ErrorPayload> {
        let objects = self.generate(app)?;
        serde_json::to_string(&objects)
            .map(RString::from)
            .map_err(|e| payload(ErrorKind::Internal, Error::msg(e)))
    }

    /// Whether [`generate_text`](DynGenerator::generate_text) is the cheaper way to the
    /// objects for a host that can also take [`generate`](DynGenerator::generate)'s values:
    /// true for a plugin (its answer is text) and an SDK generator that sets
    /// [`Generator::WRITES_JSON`].
    fn answers_in_text(&self) -> bool {
        false
    }

    /// Whether the host should hand this generator many apps at once
    /// ([`validate_batch`](DynGenerator::validate_batch),
    /// [`generate_batch_json`](DynGenerator::generate_batch_json)): true for a plugin in a worker
    /// process, where one round trip per batch is what keeps the cost per app small.
    fn prefers_batches(&self) -> bool {
        false
    }

    /// [`validate`](DynGenerator::validate) on many specs; one result per spec, in order.
    fn validate_batch(&self, specs: &[&Value]) -> Vec<Result<(), ErrorPayload>> {
        specs.iter().map(|s| self.validate(s)).collect()
    }

    /// [`validate_application`](DynGenerator::validate_application) on many application
    /// documents; one result per document, in order.
    fn validate_application_batch(&self, apps: &[&Value]) -> Vec<Result<(), ErrorPayload>> {
        apps.iter().map(|a| self.validate_application(a)).collect()
    }

    /// [`generate_json`](DynGenerator::generate_json) on many apps (each app's objects as the
    /// JSON text of an array), one result per app, in order: a host reads the text without
    /// building values.
    fn generate_batch_json(&self, apps: &[&Value]) -> Vec<Result<String, ErrorPayload>> {
        apps.iter()
            .map(|a| {
                let request = serde_json::to_string(a)
                    .map_err(|e| payload(ErrorKind::Internal, Error::msg(e)))?;
                self.generate_json(&request)
            })
            .collect()
    }
}

/// Wraps a typed generator as a [`DynGenerator`].
pub fn erase<G: Generator>(generator: G) -> Arc<dyn DynGenerator> {
    Arc::new(Typed(generator))
}

struct Typed<G>(G);

pub(crate) fn payload(kind: ErrorKind, e: Error) -> ErrorPayload {
    ErrorPayload {
        kind,
        message: e.message().to_owned(),
        issues: e.field_issues().to_vec(),
    }
}

fn decode_error(e: serde_json::Error) -> ErrorPayload {
    ErrorPayload {
        kind: ErrorKind::InvalidConfig,
        message: e.to_string(),
        issues: Vec::new(),
    }
}

impl<G: Generator> DynGenerator for Typed<G> {
    fn api_version(&self) -> &str {
        G::API_VERSION
    }

    fn kind(&self) -> &str {
        G::KIND
    }

    fn json_schema(&self) -> Result<Value, ErrorPayload> {
        serde_json::to_value(schemars::schema_for!(G::Config))
            .map_err(|e| payload(ErrorKind::Internal, Error::msg(e)))
    }

    fn validate(&self, spec: &Value) -> Result<(), ErrorPayload> {
        let config = G::Config::deserialize(spec).map_err(decode_error)?;
        self.own_checks(&config)
    }

    fn generate(&self, app: &Value) -> Result<Vec<Value>, ErrorPayload> {
        let app = Application::<G::Config>::deserialize(app).map_err(decode_error)?;
        self.checked(&app, G::generate)
    }

    fn generate_validates(&self) -> bool {
        true
    }

    fn validate_json(&self, spec: &str) -> Result<(), ErrorPayload> {
        let config: G::Config = serde_json::from_str(spec).map_err(decode_error)?;
        self.own_checks(&config)
    }

    fn validate_application(&self, app: &Value) -> Result<(), ErrorPayload> {
        let app = Application::<G::Config>::deserialize(app).map_err(decode_error)?;
        self.app_checks(&app)
    }

    fn validate_application_json(&self, app: &str) -> Result<(), ErrorPayload> {
        let app: Application<G::Config> = serde_json::from_str(app).map_err(decode_error)?;
        self.app_checks(&app)
    }

    fn generate_json(&self, request: &str) -> Result<String, ErrorPayload> {
        let app: Application<G::Config> = serde_json::from_str(request).map_err(decode_error)?;
        self.checked(&app, G::generate_json)
    }

    fn generate_text(&self, app: &Value) -> Result<RString, ErrorPayload> {
        let app = Application::<G::Config>::deserialize(app).map_err(decode_error)?;
        self.checked(&app, G::generate_json).map(RString::from)
    }

    fn answers_in_text(&self) -> bool {
        G::WRITES_JSON
    }

    fn documentation(&self) -> Result<Documentation, ErrorPayload> {
        let mut docs = self.0.documentation();
        if docs.documentation.is_empty() {
            if let Some(d) = self
                .json_schema()?
                .get("description")
                .and_then(Value::as_str)
            {
                docs.documentation = d.to_owned();
            }
        }
        if docs.usage_guide.is_empty() {
            docs.usage_guide = default_usage(G::API_VERSION, G::KIND);
        }
        Ok(docs)
    }
}

impl<G: Generator> Typed<G> {
    /// The generator's own checks, then `generate` (the generator's `generate` or
    /// `generate_json`), on one decoded application.
    fn checked<T>(
        &self,
        app: &Application<G::Config>,
        generate: impl FnOnce(&G, &Application<G::Config>) -> Result<T, Error>,
    ) -> Result<T, ErrorPayload> {
        self.app_checks(app)?;
        generate(&self.0, app).map_err(|e| payload(ErrorKind::Generate, e))
    }

    /// The generator's `validate`: a refusal is `invalid-config`.
    fn own_checks(&self, spec: &G::Config) -> Result<(), ErrorPayload> {
        self.0
            .validate(spec)
            .map_err(|e| payload(ErrorKind::InvalidConfig, e))
    }

    /// The generator's `validate_application`: a refusal is `invalid-config`.
    fn app_checks(&self, app: &Application<G::Config>) -> Result<(), ErrorPayload> {
        self.0
            .validate_application(app)
            .map_err(|e| payload(ErrorKind::InvalidConfig, e))
    }
}

/// The usage guide of a generator that wrote none.
fn default_usage(api_version: &str, kind: &str) -> String {
    format!(
        "Write a YAML document with `apiVersion: {api_version}`, `kind: {kind}`, `metadata.name` \
         and a `spec:`, then run `kure generate -f FILE`. `kure schema {kind}` prints the JSON \
         Schema of the spec."
    )
}

/// Wraps a generator as a [`DynGenerator`] that answers to a GVK chosen at run time instead
/// of its `API_VERSION` and `KIND`.
pub fn erase_as<G: Generator>(
    generator: G,
    api_version: &str,
    kind: &str,
) -> Arc<dyn DynGenerator> {
    Arc::new(Renamed {
        inner: Typed(generator),
        api_version: api_version.to_owned(),
        kind: kind.to_owned(),
    })
}

struct Renamed<G> {
    inner: Typed<G>,
    api_version: String,
    kind: String,
}

impl<G: Generator> DynGenerator for Renamed<G> {
    fn api_version(&self) -> &str {
        &self.api_version
    }

    fn kind(&self) -> &str {
        &self.kind
    }

    fn json_schema(&self) -> Result<Value, ErrorPayload> {
        self.inner.json_schema()
    }

    fn validate(&self, spec: &Value) -> Result<(), ErrorPayload> {
        self.inner.validate(spec)
    }

    fn generate(&self, app: &Value) -> Result<Vec<Value>, ErrorPayload> {
        self.inner.generate(app)
    }

    fn generate_validates(&self) -> bool {
        self.inner.generate_validates()
    }

    fn validate_json(&self, spec: &str) -> Result<(), ErrorPayload> {
        self.inner.validate_json(spec)
    }

    fn validate_application(&self, app: &Value) -> Result<(), ErrorPayload> {
        self.inner.validate_application(app)
    }

    fn validate_application_json(&self, app: &str) -> Result<(), ErrorPayload> {
        self.inner.validate_application_json(app)
    }

    fn generate_json(&self, request: &str) -> Result<String, ErrorPayload> {
        self.inner.generate_json(request)
    }

    fn generate_text(&self, app: &Value) -> Result<RString, ErrorPayload> {
        self.inner.generate_text(app)
    }

    fn answers_in_text(&self) -> bool {
        self.inner.answers_in_text()
    }

    fn documentation(&self) -> Result<Documentation, ErrorPayload> {
        let mut docs = self.inner.documentation()?;
        if docs.usage_guide == default_usage(G::API_VERSION, G::KIND) {
            docs.usage_guide = default_usage(&self.api_version, &self.kind);
        }
        Ok(docs)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use serde::{Deserializer, Serialize};
    use serde_json::json;

    use super::*;
    use crate::sdk::JsonArray;

    /// How many times a [`Counted`] spec was decoded.
    static DECODED: AtomicUsize = AtomicUsize::new(0);

    /// A spec that counts its decodings.
    #[derive(schemars::JsonSchema)]
    struct Counted {
        replicas: i64,
    }

    impl<'de> Deserialize<'de> for Counted {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            #[derive(Deserialize)]
            struct Plain {
                replicas: i64,
            }
            DECODED.fetch_add(1, Ordering::SeqCst);
            Plain::deserialize(d).map(|p| Counted {
                replicas: p.replicas,
            })
        }
    }

    struct Checked;

    impl Generator for Checked {
        type Config = Counted;
        const API_VERSION: &'static str = "test.kure.dev/v1";
        const KIND: &'static str = "Checked";

        fn generate(&self, app: &Application<Counted>) -> Result<Vec<Value>, Error> {
            Ok(vec![json!({
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": app.metadata.name},
                "data": {"replicas": app.spec.replicas.to_string()},
            })])
        }

        fn validate(&self, config: &Counted) -> Result<(), Error> {
            if config.replicas < 0 {
                return Err(Error::field("replicas", "must not be negative"));
            }
            Ok(())
        }
    }

    fn app(replicas: i64) -> String {
        json!({
            "apiVersion": "test.kure.dev/v1",
            "kind": "Checked",
            "metadata": {"name": "a"},
            "spec": {"replicas": replicas},
        })
        .to_string()
    }

    #[test]
    fn generate_runs_the_generators_own_checks_on_the_spec_it_decoded_once() {
        let g = erase(Checked);
        assert!(g.generate_validates());
        assert!(erase_as(Checked, "other.kure.dev/v2", "Renamed").generate_validates());
        // Both entries the ABI reaches (JSON text) and the host's (values).
        let before = DECODED.load(Ordering::SeqCst);
        let out = g.generate_json(&app(2)).expect("valid");
        assert!(out.contains("\"replicas\":\"2\""), "{out}");
        assert_eq!(DECODED.load(Ordering::SeqCst) - before, 1, "decoded once");
        let value: Value = serde_json::from_str(&app(2)).expect("json");
        let before = DECODED.load(Ordering::SeqCst);
        assert_eq!(g.generate_text(&value).expect("valid").as_str(), out);
        assert_eq!(DECODED.load(Ordering::SeqCst) - before, 1, "decoded once");
        let refused_value: Value = serde_json::from_str(&app(-1)).expect("json");
        for refused in [
            g.generate_json(&app(-1)).expect_err("refused"),
            g.generate(&refused_value).expect_err("refused"),
            g.generate_text(&refused_value).expect_err("refused"),
        ] {
            // What validate says, as validate says it.
            assert_eq!(refused.kind, ErrorKind::InvalidConfig);
            assert_eq!(refused.issues.len(), 1);
            assert_eq!(refused.issues[0].path, "replicas");
            assert_eq!(
                g.validate(&json!({"replicas": -1})).expect_err("refused"),
                refused
            );
        }
    }

    /// A spec (not [`Counted`], whose count the test above reads).
    #[derive(Deserialize, schemars::JsonSchema)]
    struct Count {
        replicas: i64,
    }

    /// A generator with typed objects that writes them as text itself.
    struct Typed2;

    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct ConfigMap<'a> {
        api_version: &'a str,
        kind: &'a str,
        metadata: Value,
    }

    impl Generator for Typed2 {
        type Config = Count;
        const API_VERSION: &'static str = "test.kure.dev/v1";
        const KIND: &'static str = "Checked";
        const WRITES_JSON: bool = true;

        fn generate(&self, app: &Application<Count>) -> Result<Vec<Value>, Error> {
            self.objects(app)
                .iter()
                .map(|o| serde_json::to_value(o).map_err(Error::msg))
                .collect()
        }

        fn generate_json(&self, app: &Application<Count>) -> Result<String, Error> {
            let mut out = JsonArray::new();
            for o in self.objects(app) {
                out.push(&o)?;
            }
            Ok(out.finish())
        }

        fn validate(&self, config: &Count) -> Result<(), Error> {
            if config.replicas < 0 {
                return Err(Error::field("replicas", "must not be negative"));
            }
            Ok(())
        }
    }

    impl Typed2 {
        fn objects(&self, app: &Application<Count>) -> Vec<ConfigMap<'static>> {
            (0..app.spec.replicas)
                .map(|n| ConfigMap {
                    api_version: "v1",
                    kind: "ConfigMap",
                    metadata: app.child_metadata(&format!("{}-{n}", app.metadata.name)),
                })
                .collect()
        }
    }

    #[test]
    fn a_generator_writing_its_own_text_is_called_for_text_and_checked_first() {
        let g = erase(Typed2);
        assert!(g.answers_in_text());
        assert!(erase_as(Typed2, "other.kure.dev/v2", "Renamed").answers_in_text());
        assert!(!erase(Checked).answers_in_text());
        for replicas in [0, 1, 3] {
            let value: Value = serde_json::from_str(&app(replicas)).expect("json");
            let text = g.generate_text(&value).expect("valid");
            let parsed: Vec<Value> = serde_json::from_str(&text).expect("a JSON array");
            assert_eq!(parsed, g.generate(&value).expect("valid"), "{text}");
            assert_eq!(parsed.len(), usize::try_from(replicas).expect("small"));
            assert_eq!(
                g.generate_json(&app(replicas)).expect("valid"),
                text.as_str()
            );
        }
        let refused: Value = serde_json::from_str(&app(-1)).expect("json");
        assert_eq!(
            g.generate_text(&refused).expect_err("refused").kind,
            ErrorKind::InvalidConfig
        );
    }
}
