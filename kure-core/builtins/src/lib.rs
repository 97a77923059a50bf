//! kure's built-in generators, `AppWorkload` and `FluxHelm` (`generators.gokure.dev/v1alpha1`),
//! written against the same SDK traits as plugins. A crate of their own: kure-core registers
//! them, and the benchmark plugin serves the very same code without linking kure-core.

mod app_workload;
mod flux_helm;
mod strict;

use std::sync::Arc;

use kure_plugin_api::host::{erase, DynGenerator};

pub use app_workload::{AppWorkload, AppWorkloadConfig};
pub use flux_helm::{FluxHelm, FluxHelmConfig};
pub use strict::Strict;

/// The group/version of the built-in generators.
pub const GROUP_VERSION: &str = "generators.gokure.dev/v1alpha1";

/// Every built-in generator.
pub fn all() -> Vec<Arc<dyn DynGenerator>> {
    vec![erase(AppWorkload), erase(FluxHelm)]
}
