//! What every stage speaks: a generator's GVK, and kure's errors and diagnostics.

pub mod error;
pub mod gvk;
