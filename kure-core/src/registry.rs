//! The stack registry: every generator kure knows, keyed by GVK, with who provides it.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use kure_plugin_api::abi::ErrorPayload;
use kure_plugin_api::sdk::DynGenerator;

use crate::error::Error;
use crate::gvk::Gvk;
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
        for g in crate::builtin::all() {
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
        self.entries.insert(
            gvk,
            Entry {
                generator,
                provider,
                schema: Arc::new(OnceLock::new()),
            },
        );
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
        self.entries.insert(
            gvk,
            Entry {
                generator,
                provider,
                schema: Arc::new(OnceLock::new()),
            },
        );
        Ok(())
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
