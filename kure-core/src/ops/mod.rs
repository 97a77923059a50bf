//! Every command, whole: one function per `kure` subcommand, taking a [`Session`] (the
//! user's settings and `KURE_HOME`) and options, and returning what the command found. The
//! CLI parses arguments, makes one call here, and prints.
//!
//! | command | call |
//! |---|---|
//! | `generate` | [`generate::generate`] |
//! | `validate` | [`generate::validate`] |
//! | `lock` | [`lock::lock`] |
//! | `schema`, `explain`, `gvks` | [`describe::schema`], [`describe::explain`], [`describe::gvks`] |
//! | `fn` | [`krm::function`] |
//! | `kustomize install-plugins` | [`kustomize::install_plugins`] |
//! | `plugins install` | [`install::install_file`], [`install::install_from_registry`] (requirements: `resolve`) |
//! | `plugins list`, `info`, `uninstall`, `rebuild-index` | [`plugins`] |
//! | `plugins status` | [`status::status`] |
//! | `plugins push`, `sync` | [`push::push`], [`sync::sync`] |
//! | `plugins index add\|list\|remove`, `search` | [`search`] |
//! | `plugins upgrade` | [`upgrade::upgrade`] |
//! | `trust`, `plugins keygen\|sign\|verify` | [`trust`] |
//! | `plugins new` | [`scaffold::NewPlugin`] |
//!
//! [`Session`]: session::Session

pub mod describe;
pub mod generate;
pub mod install;
pub mod krm;
pub mod kustomize;
pub mod lock;
pub mod plugins;
pub mod prepare;
pub mod push;
pub mod resolve;
pub mod scaffold;
pub mod search;
pub mod session;
pub mod status;
pub mod sync;
pub mod trust;
pub mod upgrade;

pub use session::{LockChoice, PluginReport, Ran, Session, Settings};
