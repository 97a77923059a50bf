//! Built-in generators, written against the same SDK traits as plugins.

mod app_workload;
mod flux_helm;

use std::sync::Arc;

use kure_plugin_api::sdk::{erase, DynGenerator};

pub use app_workload::{AppWorkload, AppWorkloadConfig};
pub use flux_helm::{FluxHelm, FluxHelmConfig};

/// The group/version of the built-in generators.
pub const GROUP_VERSION: &str = "generators.gokure.dev/v1alpha1";

/// Every built-in generator.
pub fn all() -> Vec<Arc<dyn DynGenerator>> {
    vec![erase(AppWorkload), erase(FluxHelm)]
}
