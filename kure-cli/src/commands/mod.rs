//! One module per subcommand: a clap `Args` struct and `execute`.

pub mod explain;
pub mod function;
pub mod generate;
pub mod gvks;
pub mod kustomize;
pub mod lock;
pub mod plugins;
pub mod schema;
pub mod trust;
pub mod validate;
pub mod version;
pub mod worker;
