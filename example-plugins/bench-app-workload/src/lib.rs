//! Benchmark plugin: kure's built-in AppWorkload generator (the very code kure-core runs, by a
//! dependency on kure-builtins; kure-core is not linked) registered at run time under `bench000.kure.dev/v1alpha1` with
//! [`PluginBuilder::generator_as`]. `make bench` compares it with the built-in to measure what
//! the plugin boundary costs.

use kure_builtins::AppWorkload;
use kure_plugin_api::sdk::PluginBuilder;

/// The group/version the benchmark registers AppWorkload under.
pub const GROUP_VERSION: &str = "bench000.kure.dev/v1alpha1";

/// The plugin: one generator, the built-in's, under [`GROUP_VERSION`].
pub fn plugin() -> PluginBuilder {
    PluginBuilder::new(
        "bench-app-000",
        "0.1.0",
        "kure's AppWorkload generator as a plugin, for benchmarks",
        "kure authors",
    )
    .generator_as(GROUP_VERSION, "AppWorkload", AppWorkload)
}

kure_plugin_api::export_plugin!(builder: plugin);
