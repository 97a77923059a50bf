//! The output stage: YAML for each object (the emitter), the spool that holds a run's output
//! until it has succeeded (the sink), and the `-o` tree (kustomization files, replaced as a
//! whole).

pub mod emit;
pub(crate) mod sink;
pub(crate) mod transcode;
pub(crate) mod tree;
