//! The input stage: files and standard input, read; split into YAML documents where the
//! parser says they are; each parsed to a JSON value (the fast path for plain block YAML, the
//! reference parser for the rest) with kure's depth and duplicate-key checks; decoded into a
//! [`Document`](decode::Document) (the envelope checked); and, only to place a message, the
//! line of a field found from the parser's positions.

pub mod decode;
pub(crate) mod fastyaml;
pub(crate) mod parse;
pub(crate) mod position;
pub(crate) mod problem;
pub(crate) mod split;
mod walk;

pub use walk::*;
