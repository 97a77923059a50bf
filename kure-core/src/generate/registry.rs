//! The stack registry: every generator kure knows, keyed by GVK, with who provides it.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use kure_plugin_api::abi::ErrorPayload;
use kure_plugin_api::host::DynGenerator;

use crate::model::error::Error;
use crate::model::gvk::Gvk;
use crate::util::edit_distance;
use crate::validate::CompiledSchema;

/// Who provides a generator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Provider {
    /// Compiled into kure.
    BuiltIn,
    /// A plugin library.
    Plugin {
        /// Plugin name.
        name: String,
        /// Plugin version.
        version: String,
        /// The library it was loaded from.
        path: PathBuf,
    },
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Provider::BuiltIn => f.write_str("built-in"),
            Provider::Plugin {
                name,
                version,
                path,
            } => write!(f, "plugin {name}@{version} ({})", path.display()),
        }
    }
}

/// One registered generator.
#[derive(Clone)]
pub struct Entry {
    /// The generator.
    pub generator: Arc<dyn DynGenerator>,
    /// Who provides it.
    pub provider: Provider,
    schema: Arc<OnceLock<Result<CompiledSchema, SchemaError>>>,
}

/// Why a generator's schema cannot be checked against.
#[derive(Debug, Clone)]
pub enum SchemaError {
    /// The generator failed to give it.
    Unavailable(ErrorPayload),
    /// It was given, but kure cannot use it (the reason ends "... cannot be used: ").
    Unusable(String),
}

impl Entry {
    /// The generator's JSON Schema as kure enforces it, compiled once per GVK (deriving it,
    /// asking a plugin for it and compiling it all cost far more than one check).
    pub fn schema(&self) -> Result<&CompiledSchema, &SchemaError> {
        self.schema
            .get_or_init(|| {
                let declared = self
                    .generator
                    .json_schema()
                    .map_err(SchemaError::Unavailable)?;
                CompiledSchema::compile(&declared).map_err(SchemaError::Unusable)
            })
            .as_ref()
    }
}

/// Generators keyed by GVK.
#[derive(Default, Clone)]
pub struct StackRegistry {
    entries: BTreeMap<Gvk, Entry>,
}

impl StackRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// A registry holding kure's built-in generators.
    pub fn with_builtins() -> Self {
        let mut r = Self::new();
        for g in crate::generate::builtin::all() {
            // Built-ins have distinct GVKs; a clash is a programming error caught by tests.
            let _ = r.register(g, Provider::BuiltIn);
        }
        r
    }

    /// Registers a generator. Two providers of one GVK is an error naming both.
    pub fn register(
        &mut self,
        generator: Arc<dyn DynGenerator>,
        provider: Provider,
    ) -> Result<(), Error> {
        let gvk = Gvk::parse(generator.api_version(), generator.kind())?;
        if let Some(existing) = self.entries.get(&gvk) {
            return Err(Error::DuplicateGvk {
                gvk,
                first: existing.provider.to_string(),
                second: provider.to_string(),
            });
        }
        self.insert(gvk, generator, provider);
        Ok(())
    }

    /// Registers `generator` in place of the provider its GVK has (a better one: see the
    /// engine's ranking). Its schema is compiled afresh.
    pub fn replace(
        &mut self,
        generator: Arc<dyn DynGenerator>,
        provider: Provider,
    ) -> Result<(), Error> {
        let gvk = Gvk::parse(generator.api_version(), generator.kind())?;
        self.insert(gvk, generator, provider);
        Ok(())
    }

    /// Stores an entry (its schema compiled when first asked for).
    fn insert(&mut self, gvk: Gvk, generator: Arc<dyn DynGenerator>, provider: Provider) {
        self.entries.insert(
            gvk,
            Entry {
                generator,
                provider,
                schema: Arc::new(OnceLock::new()),
            },
        );
    }

    /// The generator for a GVK.
    pub fn get(&self, gvk: &Gvk) -> Option<&Entry> {
        self.entries.get(gvk)
    }

    /// Every entry, in GVK order.
    pub fn iter(&self) -> impl Iterator<Item = (&Gvk, &Entry)> {
        self.entries.iter()
    }

    /// Entries whose kind is `kind`, optionally restricted to an apiVersion.
    pub fn find_kind(&self, kind: &str, api_version: Option<&str>) -> Vec<(&Gvk, &Entry)> {
        self.entries
            .iter()
            .filter(|(g, _)| g.kind == kind && api_version.is_none_or(|av| g.api_version() == av))
            .collect()
    }

    /// The registered GVKs closest to `gvk`, best first (at most three).
    /// A registered GVK whose kind is `gvk`'s and whose API group is one or two letters from
    /// it (`generator.gokure.dev` for `generators.gokure.dev`): a spec with a misspelt group,
    /// which `--passthrough` must not copy as a plain object.
    pub fn misspelt_group(&self, gvk: &Gvk) -> Option<&Gvk> {
        self.entries.keys().find(|g| {
            g.kind == gvk.kind && g.group != gvk.group && edit_distance(&g.group, &gvk.group) <= 2
        })
    }

    pub fn nearest(&self, gvk: &Gvk) -> Vec<String> {
        let mut scored: Vec<(usize, String)> = self
            .entries
            .keys()
            .map(|g| {
                let kind = edit_distance(&g.kind, &gvk.kind);
                let av = edit_distance(&g.api_version(), &gvk.api_version());
                (
                    kind * 2 + av.min(8),
                    format!("{}/{}", g.api_version(), g.kind),
                )
            })
            .filter(|(score, _)| *score <= 12)
            .collect();
        scored.sort();
        scored.into_iter().take(3).map(|(_, s)| s).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gvk(av: &str, kind: &str) -> Gvk {
        Gvk::parse(av, kind).expect("gvk")
    }

    fn plugin(name: &str) -> Provider {
        Provider::Plugin {
            name: name.to_owned(),
            version: "1.0.0".to_owned(),
            path: std::path::PathBuf::from(format!("/p/lib{name}.so")),
        }
    }

    #[test]
    fn builtins_register_once_and_a_second_provider_is_named() {
        let mut r = StackRegistry::with_builtins();
        let app = gvk(crate::generate::builtin::GROUP_VERSION, "AppWorkload");
        assert_eq!(r.get(&app).expect("built in").provider, Provider::BuiltIn);
        assert_eq!(r.iter().count(), 2);
        let again = kure_plugin_api::host::erase(crate::generate::builtin::AppWorkload);
        match r.register(again.clone(), plugin("copycat")) {
            Err(Error::DuplicateGvk { first, second, .. }) => {
                assert_eq!(first, "built-in");
                assert!(second.contains("copycat"), "{second}");
            }
            other => panic!("expected a duplicate: {other:?}"),
        }
        // replace() is the engine's way to let a better-ranked provider win.
        r.replace(again, plugin("better")).expect("replace");
        assert_eq!(r.get(&app).expect("entry").provider, plugin("better"));
    }

    #[test]
    fn kinds_are_found_and_near_misses_suggested() {
        let r = StackRegistry::with_builtins();
        assert_eq!(r.find_kind("FluxHelm", None).len(), 1);
        assert!(r.find_kind("FluxHelm", Some("other.io/v1")).is_empty());
        assert!(r.find_kind("Nope", None).is_empty());
        let near = r.nearest(&gvk(crate::generate::builtin::GROUP_VERSION, "AppWorkloda"));
        assert_eq!(near[0], "generators.gokure.dev/v1alpha1/AppWorkload");
        assert!(r
            .nearest(&gvk("unrelated.example.com/v9", "Zzzzzzzzzzzz"))
            .is_empty());
    }

    #[test]
    fn a_schema_is_compiled_once_and_kept() {
        let r = StackRegistry::with_builtins();
        let e = r
            .get(&gvk(crate::generate::builtin::GROUP_VERSION, "AppWorkload"))
            .expect("entry");
        let first = e.schema().expect("usable") as *const CompiledSchema;
        let second = e.schema().expect("usable") as *const CompiledSchema;
        assert_eq!(first, second);
        assert_eq!(
            e.schema().expect("usable").enforced()["additionalProperties"],
            serde_json::Value::Bool(false)
        );
    }
}
