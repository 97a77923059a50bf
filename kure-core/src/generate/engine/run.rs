//! Running generators, one app at a time or in batches, with an audit record of each plugin
//! call, and the checks on the objects that come back.

use crate::input::decode::Document;
use crate::model::error::{Diagnostic, Error};
use crate::model::gvk::Gvk;
use kure_plugin_api::abi::ErrorKind;
use kure_plugin_api::abi::ErrorPayload;
use serde_json::Value;

use super::check::{describe_payload, plugin_problems};
use super::*;

impl Engine {
    /// Whether `gvk`'s generator takes many apps at once (a plugin in a worker process).
    pub fn batched(&self, gvk: &Gvk) -> bool {
        self.registry
            .get(gvk)
            .is_some_and(|e| e.generator.prefers_batches())
    }

    /// The generator's own checks of documents of one GVK, in one batch (after
    /// [`check_schema`](Self::check_schema)); one result per document.
    pub fn validate_batch(
        &self,
        gvk: &Gvk,
        docs: &[&Document],
    ) -> Vec<Result<(), Vec<Diagnostic>>> {
        let Some(entry) = self.registry.get(gvk) else {
            return docs
                .iter()
                .map(|d| Err(self.check_schema(d).err().unwrap_or_default()))
                .collect();
        };
        let apps: Vec<&Value> = docs.iter().map(|d| &d.value).collect();
        let start = std::time::Instant::now();
        let results = entry.generator.validate_application_batch(&apps);
        self.audit_batch(gvk, "validate", docs, &results, start);
        docs.iter()
            .zip(results)
            .map(|(doc, r)| r.map_err(|p| plugin_problems(doc, &p)))
            .collect()
    }

    /// Generates documents of one GVK in one batch and checks each one's objects; one result
    /// per document.
    pub fn generate_batch(&self, gvk: &Gvk, docs: &[&Document]) -> Vec<Result<Vec<Value>, Error>> {
        self.batch_answers(
            gvk,
            docs,
            |entry, doc, answer| {
                let objects = answer.and_then(|text| crate::plugin::json::parse_objects(&text));
                self.generated(entry, doc, objects)
            },
            |doc| self.generate_one(doc),
        )
    }

    /// One batch of `gvk`'s apps to its generator (one round trip to a worker), each answer
    /// (JSON text) made into a result by `answer`; `alone` for each app when `gvk` has no
    /// generator.
    pub(super) fn batch_answers<R>(
        &self,
        gvk: &Gvk,
        docs: &[&Document],
        answer: impl Fn(
            &crate::generate::registry::Entry,
            &Document,
            Result<String, ErrorPayload>,
        ) -> Result<R, Error>,
        alone: impl Fn(&Document) -> Result<R, Error>,
    ) -> Vec<Result<R, Error>> {
        let Some(entry) = self.registry.get(gvk) else {
            return docs.iter().map(|d| alone(d)).collect();
        };
        let apps: Vec<&Value> = docs.iter().map(|d| &d.value).collect();
        let start = std::time::Instant::now();
        let results = entry.generator.generate_batch_json(&apps);
        self.audit_batch(gvk, "generate", docs, &results, start);
        docs.iter()
            .zip(results)
            .map(|(doc, r)| answer(entry, doc, r))
            .collect()
    }

    /// One audit record per app of a batch sent to a worker; each gets an even share of the
    /// batch's time.
    pub(super) fn audit_batch<T>(
        &self,
        gvk: &Gvk,
        entry: &str,
        docs: &[&Document],
        results: &[Result<T, ErrorPayload>],
        start: std::time::Instant,
    ) {
        if !crate::trust::audit::enabled() || docs.is_empty() {
            return;
        }
        let Some(p) = self.plugin_for(gvk) else {
            return;
        };
        let share = start.elapsed().as_micros() as u64 / docs.len() as u64;
        let key = format!("{}/{}", gvk.api_version(), gvk.kind);
        let time = crate::util::now_rfc3339();
        for (doc, r) in docs.iter().zip(results) {
            crate::trust::audit::record(&crate::trust::audit::Record {
                time: time.clone(),
                plugin: p.name(),
                version: p.version(),
                sha256: p.sha256(),
                signer: p.admission().signer(),
                isolation: p.isolation().as_str(),
                entry,
                gvk: Some(&key),
                app: Some(doc.name.clone()),
                location: Some(doc.location.to_string()),
                duration_us: share,
                outcome: match r {
                    Ok(_) => "ok".to_owned(),
                    Err(e) => e.kind.to_string(),
                },
            });
        }
    }

    /// Everything `kure generate` does to one document: kure's checks
    /// ([`check_schema`](Self::check_schema)), the generator's own, the generator, and the
    /// checks on what it returns. The generator's own checks run inside its `generate` when it
    /// runs them there (every SDK generator since kure-plugin-api 1.1), so the spec crosses
    /// the boundary and is decoded once; else `validate` is called first. A failing check is
    /// [`Error::Invalid`], as from [`validate`](Self::validate).
    pub fn check_and_generate(&self, doc: &Document) -> Result<Vec<Value>, Error> {
        self.checks_before_generate(doc)?;
        self.generate_one(doc)
    }

    /// [`check_and_generate`](Self::check_and_generate), each object as YAML with its header
    /// (its `apiVersion`, `kind`, `metadata.name` and `metadata.namespace`: what kure checks
    /// and names files by). A generator whose answer is cheapest as JSON text (an in-process
    /// plugin, a built-in that writes typed objects:
    /// [`answers_in_text`](kure_plugin_api::host::DynGenerator::answers_in_text)) answers with
    /// text, written straight to YAML (`output::transcode`) without being
    /// built as values, unless it is in a shape only values give exactly. Others answer with
    /// values.
    pub fn check_and_render(&self, doc: &Document) -> Result<YamlObjects, Error> {
        let entry = self.checks_before_generate(doc)?;
        if entry.generator.prefers_batches() || !entry.generator.answers_in_text() {
            return self.generate_one(doc).map(with_yaml);
        }
        let answer = in_app(entry, doc, || entry.generator.generate_text(&doc.value));
        self.rendered(entry, doc, answer)
    }

    /// [`generate_batch`](Self::generate_batch), each object as YAML with its header, as
    /// [`check_and_render`](Self::check_and_render) gives them: the worker's answers are
    /// transcoded from their JSON text.
    pub fn render_batch(&self, gvk: &Gvk, docs: &[&Document]) -> Vec<Result<YamlObjects, Error>> {
        self.batch_answers(
            gvk,
            docs,
            |entry, doc, answer| self.rendered(entry, doc, answer),
            |doc| self.generate_one(doc).map(with_yaml),
        )
    }

    /// A generator's answer as JSON text, to checked objects as YAML with their headers.
    pub(super) fn rendered<T: std::ops::Deref<Target = str>>(
        &self,
        entry: &crate::generate::registry::Entry,
        doc: &Document,
        answer: Result<T, ErrorPayload>,
    ) -> Result<YamlObjects, Error> {
        let text = match answer {
            Ok(text) => text,
            Err(p) => return self.generated(entry, doc, Err(p)).map(with_yaml),
        };
        match crate::output::transcode::objects_yaml(&text) {
            Some(objects) => {
                for (n, (header, _)) in objects.iter().enumerate() {
                    self.check_object(doc, n + 1, header)?;
                }
                Ok(objects)
            }
            None => self
                .generated(entry, doc, crate::plugin::json::parse_objects(&text))
                .map(with_yaml),
        }
    }

    /// Whether `gvk`'s generator runs its own checks inside `generate`
    /// ([`check_and_generate`](Self::check_and_generate)).
    pub fn generate_validates(&self, gvk: &Gvk) -> bool {
        self.registry
            .get(gvk)
            .is_some_and(|e| e.generator.generate_validates())
    }

    /// Generates one document's objects and checks their shape (after
    /// [`check_schema`](Self::check_schema); the generator's own checks fail as
    /// [`Error::Invalid`] when it runs them).
    pub fn generate_one(&self, doc: &Document) -> Result<Vec<Value>, Error> {
        let entry = self.registry.get(&doc.gvk).ok_or_else(|| {
            Error::Invalid(vec![Diagnostic {
                location: doc.location.clone(),
                message: format!("no generator for {}", doc.gvk),
                field: None,
            }])
        })?;
        let result = in_app(entry, doc, || entry.generator.generate(&doc.value));
        self.generated(entry, doc, result)
    }

    /// A generator's answer for `doc`: its objects once checked, or what went wrong (its own
    /// checks' failure as [`Error::Invalid`] when it runs them in `generate`).
    pub(super) fn generated(
        &self,
        entry: &crate::generate::registry::Entry,
        doc: &Document,
        result: Result<Vec<Value>, ErrorPayload>,
    ) -> Result<Vec<Value>, Error> {
        let objects = result.map_err(|p| {
            let own_checks =
                p.kind == ErrorKind::InvalidConfig && entry.generator.generate_validates();
            // A field error (`Error::field`) from `generate` is a problem with the spec, shown
            // on the field's line like the generator's own checks, not a failed generator.
            let on_fields = p.kind == ErrorKind::Generate && !p.issues.is_empty();
            if own_checks || on_fields {
                Error::Invalid(plugin_problems(doc, &p))
            } else {
                self.generate_error(doc, describe_payload(&p))
            }
        })?;
        self.check_objects(doc, &objects)?;
        Ok(objects)
    }

    /// Every object needs apiVersion, kind and metadata.name, and names that cannot be paths.
    pub(super) fn check_objects(&self, doc: &Document, objects: &[Value]) -> Result<(), Error> {
        for (n, o) in objects.iter().enumerate() {
            self.check_object(doc, n + 1, o)?;
        }
        Ok(())
    }

    /// The `n`th (from 1) object a generator returned (or its header): what every object
    /// needs, and a kind and name that make a file name under -o DIR (`<kind>-<name>.yaml`,
    /// with room for a `-N` suffix when two share it).
    pub(super) fn check_object(&self, doc: &Document, n: usize, o: &Value) -> Result<(), Error> {
        if let Some(problem) = crate::validate::output::object_problem(n, o) {
            return Err(self.generate_error(doc, problem));
        }
        if let Some(file) = crate::output::tree::file_name_too_long(o) {
            return Err(self.generate_error(
                doc,
                format!(
                    "returned object #{n} whose kind and name make a file name of {file} bytes under -o DIR, more than file systems allow (255); nothing was written"
                ),
            ));
        }
        Ok(())
    }

    pub(super) fn generate_error(&self, doc: &Document, message: String) -> Error {
        Error::Generate {
            location: doc.location.clone(),
            app: doc.name.clone(),
            gvk: doc.gvk.clone(),
            provider: self
                .registry
                .get(&doc.gvk)
                .map_or_else(|| "generator".to_owned(), |e| e.provider.to_string()),
            message,
        }
    }
}

/// One app's objects, each as YAML with the object (or, transcoded, its header) that kure
/// checks, names its file by and finds duplicates with.
pub type YamlObjects = Vec<(Value, String)>;

/// Objects with their YAML, from values.
pub(super) fn with_yaml(objects: Vec<Value>) -> YamlObjects {
    objects
        .into_iter()
        .map(|o| {
            let text = crate::output::emit::to_string(&o);
            (o, text)
        })
        .collect()
}
