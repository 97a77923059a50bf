//! `kure schema`, `kure explain` and `kure gvks`: what the generators are, from the built-ins,
//! the store's index (installed plugins are not loaded) and, only when needed, the plugins.

use serde_json::Value;

use crate::generate::engine::Engine;
use crate::generate::registry::{Entry, SchemaError};
use crate::model::error::Error;
use crate::model::gvk::Gvk;
use crate::ops::session::{Ran, Session};
use crate::validate::fields::Field;
use kure_plugin_api::sdk::Documentation;

/// Finds the single generator for `kind` (of `api_version`, when given), loading plugins
/// only when no built-in or installed plugin provides it.
pub fn find_generator(
    engine: &mut Engine,
    kind: &str,
    api_version: Option<&str>,
) -> Result<Entry, Error> {
    if engine.registry().find_kind(kind, api_version).is_empty() {
        engine.use_index()?;
    }
    if engine.registry().find_kind(kind, api_version).is_empty() {
        engine.load_all_plugins()?;
    }
    let found = engine.registry().find_kind(kind, api_version);
    match found.as_slice() {
        [(_, e)] => Ok((*e).clone()),
        [] => {
            let probe = api_version
                .and_then(|av| Gvk::parse(av, kind).ok())
                .unwrap_or_else(|| Gvk {
                    group: String::new(),
                    version: String::new(),
                    kind: kind.to_owned(),
                });
            Err(Error::UnknownGenerator {
                what: match api_version {
                    Some(av) => format!("apiVersion `{av}` kind `{kind}`"),
                    None => format!("kind `{kind}`"),
                },
                suggestions: engine.registry().nearest(&probe),
            })
        }
        many => Err(Error::AmbiguousKind {
            kind: kind.to_owned(),
            api_versions: many.iter().map(|(g, _)| g.api_version()).collect(),
        }),
    }
}

/// The JSON Schema kure enforces for `entry`'s specs.
fn enforced_schema(entry: &Entry) -> Result<Value, Error> {
    let kind = entry.generator.kind();
    match entry.schema() {
        Ok(s) => Ok(s.enforced().clone()),
        Err(SchemaError::Unavailable(p)) => Err(Error::Describe(format!(
            "{} could not give the JSON Schema of {kind}: {}",
            entry.provider, p.message
        ))),
        Err(SchemaError::Unusable(why)) => Err(Error::Describe(format!(
            "the JSON Schema of {kind} from {} cannot be used: {why}. Report this to the plugin's author",
            entry.provider
        ))),
    }
}

/// The JSON Schema of `kind`'s spec, as kure enforces it.
pub fn schema(session: &Session, kind: &str, api_version: Option<&str>) -> Result<Value, Error> {
    let mut engine = session.engine()?;
    let entry = find_generator(&mut engine, kind, api_version)?;
    enforced_schema(&entry)
}

/// What `kure explain` shows about a generator.
#[derive(Debug, Clone)]
pub struct Explanation {
    /// Its kind.
    pub kind: String,
    /// Its apiVersion.
    pub api_version: String,
    /// Who provides it (built-in, or plugin name@version).
    pub provider: String,
    /// Its documentation, usage guide and examples.
    pub docs: Documentation,
    /// The spec's fields, from the enforced schema.
    pub fields: Vec<Field>,
}

/// The documentation and fields of `kind`'s generator.
pub fn explain(
    session: &Session,
    kind: &str,
    api_version: Option<&str>,
) -> Result<Explanation, Error> {
    let mut engine = session.engine()?;
    let entry = find_generator(&mut engine, kind, api_version)?;
    let g = &entry.generator;
    let docs = g.documentation().map_err(|e| {
        Error::Describe(format!(
            "{} could not give the documentation of {}: {}",
            entry.provider,
            g.kind(),
            e.message
        ))
    })?;
    let schema = enforced_schema(&entry)?;
    Ok(Explanation {
        kind: g.kind().to_owned(),
        api_version: g.api_version().to_owned(),
        provider: entry.provider.to_string(),
        docs,
        fields: crate::validate::fields::fields(&schema),
    })
}

/// One provider of one GVK, as `kure gvks` lists it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Provided {
    /// `group/version`.
    pub api_version: String,
    /// The kind.
    pub kind: String,
    /// Built-in, or plugin name@version.
    pub provider: String,
    /// Whether this provider is the one used.
    pub used: bool,
    /// When not used: the provider used instead.
    pub used_instead: String,
}

/// Every generator and who provides it (plugins of the plugin directories are inspected in a
/// sandboxed worker; installed ones answer from the index), sorted.
pub fn gvks(session: &Session) -> Ran<Vec<Provided>> {
    let mut engine = match session.engine() {
        Ok(e) => e,
        Err(e) => return Ran::early(e),
    };
    let result = engine
        .use_index()
        .and_then(|()| engine.load_all_plugins())
        .map(|()| {
            let mut rows: Vec<Provided> = engine
                .registry()
                .iter()
                .map(|(g, e)| Provided {
                    api_version: g.api_version(),
                    kind: g.kind.clone(),
                    provider: e.provider.to_string(),
                    used: true,
                    used_instead: String::new(),
                })
                .collect();
            rows.extend(engine.shadowed().iter().map(|(g, loser, winner)| Provided {
                api_version: g.api_version(),
                kind: g.kind.clone(),
                provider: loser.clone(),
                used: false,
                used_instead: winner.clone(),
            }));
            rows.sort();
            rows
        });
    Ran::new(&engine, result)
}
