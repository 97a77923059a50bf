//! kure-core: the host library behind the `kure` command.
//!
//! It decodes YAML application specs, resolves each to a generator by GVK (built in, or from a
//! plugin loaded through the stable ABI of `kure-plugin-api`), validates the spec against the
//! generator's JSON Schema and checks, runs the generator, and renders deterministic YAML.
//!
//! ```no_run
//! use kure_core::pipeline::{generate, Output, PipelineOptions};
//! use kure_core::{Engine, EngineOptions};
//!
//! let mut engine = Engine::new(EngineOptions::default());
//! let summary = generate(&mut engine, &["apps/".into()], &Output::Stdout, &PipelineOptions::default())?;
//! eprintln!("{} apps, {} objects", summary.apps, summary.objects);
//! # Ok::<(), kure_core::Error>(())
//! ```

// By stage: input, then model (what every stage speaks), generate, plugin (and its
// containment), trust, store, output; the pipeline runs them; ops are whole commands.
pub mod config;
#[cfg(any(test, feature = "testing-hooks"))]
#[doc(hidden)]
pub mod fuzz;
pub mod generate;
pub mod input;
pub mod model;
pub mod ops;
pub mod output;
pub mod pipeline;
pub mod plugin;
pub mod store;
pub mod trust;
mod util;
pub use kure_plugin_api::validate;

pub use generate::engine::{Engine, EngineOptions};
pub use generate::registry::{Entry, Provider, SchemaError, StackRegistry};
pub use input::decode::{decode_inputs, decode_str};
pub use input::InputOptions;
pub use model::document::{Document, Location};
pub use model::error::{Diagnostic, Error};
pub use model::gvk::{Gvk, GvkError};
pub use output::emit::object_yaml;
pub use plugin::isolation::{Isolation, IsolationPolicy};
pub use store::Store;
pub use trust::{Admission, TrustPolicy};
pub use util::{shown, shown_max, shown_message, terminal_safe};
pub use validate::validate as validate_against_schema;

/// A structured error from a generator (built in or plugin).
pub use kure_plugin_api::abi::ErrorPayload;
/// The data-level plugin ABI version this kure speaks.
pub use kure_plugin_api::abi::ABI_VERSION as PLUGIN_ABI_VERSION;
/// The kure-plugin-api version this kure loads plugins for.
pub use plugin::API_VERSION as PLUGIN_API_VERSION;

/// Hooks for `make bench` (tests/src/bin/bench_boundary.rs): the input stage's fast paths and
/// their references, each over a whole file. Not an API.
#[cfg(feature = "testing-hooks")]
#[doc(hidden)]
pub mod bench {
    /// The fast split: documents found.
    pub fn split_fast(text: &str) -> usize {
        crate::input::split::fast(text).map_or(0, |p| p.len())
    }

    /// The parser's split: documents found.
    pub fn split_reference(text: &str) -> usize {
        crate::input::split::reference(text).map_or(0, |p| p.len())
    }

    /// Each document through the fast YAML path (the reference where it does not answer):
    /// documents read.
    pub fn parse_fast(pieces: &[String]) -> usize {
        pieces
            .iter()
            .filter(|t| crate::input::parse::parse(t).is_ok())
            .count()
    }

    /// Each document through the reference parser (yaml_serde, with kure's checks).
    pub fn parse_reference(pieces: &[String]) -> usize {
        pieces
            .iter()
            .filter(|t| crate::input::parse::reference(t).is_ok())
            .count()
    }

    /// A generator's answer (the JSON text of an array of objects) written as YAML, as kure
    /// writes a plugin's: the bytes of YAML, or `None` where only values read it right.
    pub fn transcode(json: &str) -> Option<usize> {
        crate::output::transcode::objects_yaml(json)
            .map(|objects| objects.iter().map(|(_, yaml)| yaml.len()).sum())
    }

    /// The non-blank documents of `text`, as the fast split finds them.
    pub fn pieces(text: &str) -> Vec<String> {
        crate::input::split::fast(text)
            .unwrap_or_default()
            .into_iter()
            .map(|(_, t)| t)
            .filter(|t| !crate::input::split::is_blank(t))
            .collect()
    }
}
