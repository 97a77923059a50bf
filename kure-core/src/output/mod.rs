//! The output stage: YAML for each object (the emitter), the spool that holds a run's output
//! until it has succeeded (the sink), and the `-o` tree (kustomization files, replaced as a
//! whole).

pub mod emit;
pub(crate) mod fill;
pub(crate) mod sink;
pub(crate) mod transcode;
pub(crate) mod tree;

use std::path::PathBuf;

/// Where the manifests go.
#[derive(Debug, Clone)]
pub enum Output {
    /// One YAML stream, written to stdout when the whole run has succeeded.
    Stdout,
    /// One JSON document, a `v1` `List` of every object (what `kubectl get -o json` prints for
    /// several objects), written to stdout when the whole run has succeeded.
    StdoutJson,
    /// A kustomize tree, replacing the directory atomically.
    Dir(PathBuf),
}
