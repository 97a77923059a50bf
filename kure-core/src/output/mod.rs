//! The output stage: YAML for each object (the emitter), and the `-o` tree (kustomization
//! files, replaced as a whole).

pub mod emit;
pub(crate) mod tree;
