//! The generate stage: the registry of generators by GVK (built in, or plugins), and the
//! engine that resolves each GVK to a generator, validates specs and runs generators.

/// The built-in generators (the `kure-builtins` crate).
pub use kure_builtins as builtin;
pub mod engine;
pub mod registry;
