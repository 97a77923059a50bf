//! What every stage speaks: a generator's GVK, an application document and its location, and
//! kure's errors and diagnostics.

pub mod document;
pub mod error;
pub mod gvk;
