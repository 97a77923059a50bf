//! Whole commands beyond generate and validate: `kure plugins install`, `kure fn` (a KRM
//! function), the kustomize exec generator shims, and `kure plugins new`.

pub mod install;
pub mod krm;
pub mod kustomize;
pub mod scaffold;
