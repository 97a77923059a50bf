//! Benchmark plugin: the built-in AppWorkload generator, the very same source file, compiled
//! into a plugin and registered as `bench000.kure.dev/v1alpha1` `AppWorkload`. `make bench`
//! compares it with the built-in to measure what the plugin boundary costs, and patches copies
//! of this library (`bench000` -> `bench017`, `bench-app-000` -> `bench-app-017`) to install 50
//! distinct plugins.

/// The group the benchmark registers under (patched in copies; keep the length).
pub const GROUP_VERSION: &str = "bench000.kure.dev/v1alpha1";

#[path = "../../../kure-core/src/generate/builtin/app_workload.rs"]
mod app_workload;

pub use app_workload::AppWorkload;

kure_plugin_api::export_plugin! {
    name: "bench-app-000",
    version: "0.1.0",
    description: "kure's AppWorkload generator as a plugin, for benchmarks",
    author: "kure authors",
    generators: [AppWorkload],
}
