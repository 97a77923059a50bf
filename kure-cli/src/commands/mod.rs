//! One module per subcommand: a clap `Args` struct and `execute`.

pub mod explain;
pub mod generate;
pub mod gvks;
pub mod schema;
pub mod validate;
pub mod version;
