//! What a spec must pass before its generator runs (its JSON Schema, the generator's own
//! checks), and the documented examples a plugin must pass to be installed.

use crate::input::decode::Document;
use crate::model::error::{Diagnostic, Error};
use crate::plugin::PluginHandle;
use kure_plugin_api::abi::ErrorKind;
use kure_plugin_api::abi::ErrorPayload;
use std::path::PathBuf;

use super::*;

impl Engine {
    /// Validates every document (GVK known, schema, generator checks); reports all problems.
    pub fn validate(&self, docs: &[Document]) -> Result<(), Error> {
        let mut problems = Vec::new();
        for doc in docs {
            match self.check_spec(doc) {
                Err(d) => problems.extend(d),
                Ok(entry) => problems.extend(own_checks(entry, doc).err().unwrap_or_default()),
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(Error::Invalid(problems))
        }
    }

    /// Only the checks kure makes itself ([`check_schema`](Self::check_schema)) on every
    /// document, never the generator's own (`kure validate --schema-only`).
    pub fn validate_schemas(&self, docs: &[Document]) -> Result<(), Error> {
        let problems: Vec<Diagnostic> = docs
            .iter()
            .filter_map(|d| self.check_schema(d).err())
            .flatten()
            .collect();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(Error::Invalid(problems))
        }
    }

    /// The checks kure makes itself: a generator for the GVK, and the spec against its JSON
    /// Schema. Returns the generator's entry.
    pub fn check_schema(
        &self,
        doc: &Document,
    ) -> Result<&crate::generate::registry::Entry, Vec<Diagnostic>> {
        let Some(entry) = self.registry.get(&doc.gvk) else {
            let near = self.registry.nearest(&doc.gvk);
            let hint = if near.is_empty() {
                "run `kure gvks` to list the registered generators, or install the plugin that provides it".to_owned()
            } else {
                format!("did you mean {}?", near.join(" or "))
            };
            return Err(vec![Diagnostic {
                location: doc.locate("kind"),
                message: format!(
                    "no generator for apiVersion `{}` kind `{}`: {hint}",
                    doc.gvk.api_version(),
                    doc.gvk.kind
                ),
                field: Some("kind".to_owned()),
            }]);
        };
        let schema = in_app(entry, doc, || entry.schema()).map_err(|e| {
            let message = match e {
                crate::generate::registry::SchemaError::Unavailable(p) => format!(
                    "app `{}`: {} could not give the JSON Schema of {}: {}",
                    doc.name,
                    entry.provider,
                    doc.gvk,
                    crate::util::shown_message(&p.message)
                ),
                crate::generate::registry::SchemaError::Unusable(why) => format!(
                    "app `{}`: the JSON Schema of {} from {} cannot be used: {why}. kure refuses \
                     the spec rather than skip the check; report this to the plugin's author",
                    doc.name, doc.gvk, entry.provider
                ),
            };
            vec![Diagnostic {
                location: doc.location.clone(),
                message,
                field: None,
            }]
        })?;
        let issues = schema.check(doc.spec());
        if issues.is_empty() {
            Ok(entry)
        } else {
            let pairs: Vec<(&str, &str)> = issues
                .iter()
                .map(|i| (i.path.as_str(), i.message.as_str()))
                .collect();
            let mut problems = diags(doc, &pairs);
            // Top to bottom, as the reader meets them (stable: one line keeps the validator's
            // order).
            problems.sort_by_key(|d| d.location.line);
            Err(problems)
        }
    }

    /// [`check_schema`](Self::check_schema), and when the schema refuses the spec, the
    /// generator's own checks as well, where they can say something: a spec with a pattern
    /// violation and a cross-field mistake gets both problems in one run. Their problems are
    /// added only when the spec still decodes (they came as field issues); when it does not,
    /// the schema's problems say why.
    pub fn check_spec(
        &self,
        doc: &Document,
    ) -> Result<&crate::generate::registry::Entry, Vec<Diagnostic>> {
        let mut problems = match self.check_schema(doc) {
            Ok(entry) => return Ok(entry),
            Err(problems) => problems,
        };
        // Only a refusal by the schema; not a missing generator or schema.
        let schema_refused = problems
            .iter()
            .any(|d| d.field.as_deref().is_some_and(|f| f.starts_with("spec")));
        if let (true, Some(entry)) = (schema_refused, self.registry.get(&doc.gvk)) {
            // As the run would call it otherwise (a worker's in a batch, audited).
            let own = if entry.generator.prefers_batches() {
                self.validate_batch(&doc.gvk, &[doc])
                    .pop()
                    .unwrap_or(Ok(()))
            } else {
                own_checks(entry, doc)
            };
            // Field problems only: a spec that did not decode, or a check that failed
            // without naming a field (its problem is at `spec`), adds nothing to the schema's.
            let have: Vec<Option<String>> = problems.iter().map(|d| d.field.clone()).collect();
            problems.extend(own.err().into_iter().flatten().filter(|d| {
                d.field.as_deref().is_some_and(|f| f != "spec") && !have.contains(&d.field)
            }));
            problems.sort_by_key(|d| d.location.line);
        }
        Err(problems)
    }

    /// Validates and generates every example `plugin` documents, as `kure generate` treats a
    /// spec: the enforced schema, the plugin's own `validate`, `generate`, and the checks on
    /// what it returns. For `kure plugins install`: a plugin whose documentation shows specs
    /// it refuses is not installed. Messages name the example (`example NAME of KIND:LINE`).
    pub fn check_examples(plugin: PluginHandle) -> Result<(), Error> {
        let mut engine = Engine::new(EngineOptions::default());
        let generators = plugin.generators();
        engine.add_plugin(plugin)?;
        let mut problems = Vec::new();
        for g in generators {
            let docs = g.documentation().map_err(|p| {
                Error::Invalid(vec![Diagnostic {
                    location: crate::input::decode::Location::new(
                        format!("documentation of {}", g.kind()),
                        0,
                    ),
                    message: format!("cannot be read: {}", describe_payload(&p)),
                    field: None,
                }])
            })?;
            if docs.examples.len() > MAX_EXAMPLES {
                problems.push(Diagnostic {
                    location: crate::input::decode::Location::new(
                        format!("documentation of {}", g.kind()),
                        1,
                    ),
                    message: format!(
                        "documents {} examples; kure checks every one at install and takes at most {MAX_EXAMPLES}: document fewer",
                        docs.examples.len()
                    ),
                    field: None,
                });
                continue;
            }
            for ex in &docs.examples {
                let file = PathBuf::from(format!(
                    "example `{}` of {}",
                    crate::util::shown(&ex.name),
                    g.kind()
                ));
                let mut parsed = Vec::new();
                let before = problems.len();
                crate::input::decode::decode_str(&file, &ex.config, &mut parsed, &mut problems);
                if parsed.is_empty() && problems.len() == before {
                    problems.push(Diagnostic {
                        location: crate::input::decode::Location::new(file, 1),
                        message: "holds no YAML document".to_owned(),
                        field: None,
                    });
                    continue;
                }
                for doc in &parsed {
                    if let Err(e) = engine.check_and_generate(doc) {
                        // Each problem names its place once (`example NAME of KIND:LINE`).
                        problems.extend(crate::pipeline::generate_problem(doc, e));
                    }
                }
            }
        }
        engine.shutdown()?;
        if problems.is_empty() {
            Ok(())
        } else {
            Err(Error::Invalid(problems))
        }
    }

    /// The checks [`check_and_generate`](Self::check_and_generate) makes before the generator
    /// runs: kure's, then the generator's own unless it runs them inside `generate`.
    pub(super) fn checks_before_generate(
        &self,
        doc: &Document,
    ) -> Result<&crate::generate::registry::Entry, Error> {
        let entry = self.check_spec(doc).map_err(Error::Invalid)?;
        if !entry.generator.generate_validates() {
            own_checks(entry, doc).map_err(Error::Invalid)?;
        }
        Ok(entry)
    }
}

/// The generator's own checks of one document (its `validate`).
pub(super) fn own_checks(
    entry: &crate::generate::registry::Entry,
    doc: &Document,
) -> Result<(), Vec<Diagnostic>> {
    in_app(entry, doc, || {
        entry.generator.validate_application(&doc.value)
    })
    .map_err(|p| plugin_problems(doc, &p))
}

/// A generator's own validation failure as diagnostics: one per issue, or the message.
pub(super) fn plugin_problems(doc: &Document, p: &ErrorPayload) -> Vec<Diagnostic> {
    use crate::util::{shown, shown_message};
    if p.issues.is_empty() {
        vec![diag(doc, "", &shown_message(&p.message))]
    } else {
        let shown: Vec<(String, String)> = p
            .issues
            .iter()
            .map(|i| (shown(&i.path), shown_message(&i.message)))
            .collect();
        let pairs: Vec<(&str, &str)> = shown
            .iter()
            .map(|(p, m)| (p.as_str(), m.as_str()))
            .collect();
        // A plugin's issue at `metadata…` is in the app's metadata; any other, in its spec.
        let full: Vec<String> = shown
            .iter()
            .map(|(path, _)| kure_plugin_api::abi::document_path(path))
            .collect();
        let mut problems = diags_at(doc, &full, &pairs);
        // Top to bottom, as the reader meets them, whatever order the plugin found them in.
        problems.sort_by_key(|d| d.location.line);
        problems
    }
}

pub(super) fn diag(doc: &Document, path: &str, message: &str) -> Diagnostic {
    diags(doc, &[(path, message)]).remove(0)
}

/// Diagnostics for problems at paths below `spec`, their lines found in one pass over the
/// document.
pub(super) fn diags(doc: &Document, problems: &[(&str, &str)]) -> Vec<Diagnostic> {
    let full: Vec<String> = problems
        .iter()
        .map(|(path, _)| match *path {
            "" => "spec".to_owned(),
            path => format!("spec.{path}"),
        })
        .collect();
    diags_at(doc, &full, problems)
}

/// Diagnostics for problems at the paths `full` of the document (`spec.replicas`,
/// `metadata.name`); `problems` holds their messages.
fn diags_at(doc: &Document, full: &[String], problems: &[(&str, &str)]) -> Vec<Diagnostic> {
    let paths: Vec<&str> = full.iter().map(String::as_str).collect();
    doc.locate_all(&paths)
        .into_iter()
        .zip(full.iter().cloned())
        .zip(problems)
        .map(|((location, full), (_, message))| Diagnostic {
            location,
            message: format!("app `{}`: {full}: {message}", doc.name),
            field: Some(full),
        })
        .collect()
}

pub(super) fn describe_payload(p: &ErrorPayload) -> String {
    let message = crate::util::shown_message(&p.message);
    match p.kind {
        ErrorKind::Panic => format!("the generator panicked ({message})"),
        _ => message,
    }
}
