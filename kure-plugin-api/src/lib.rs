//! The one crate a kure plugin depends on.
//!
//! A kure plugin is a `cdylib` that turns application specs (YAML documents selected by their
//! `apiVersion` and `kind`) into Kubernetes objects. This crate has two layers:
//!
//! - [`sdk`]: what plugin authors write against. A config struct that derives
//!   `Deserialize` + `JsonSchema`, an implementation of [`sdk::Generator`], and one
//!   [`export_plugin!`] line. The SDK derives the JSON Schema and a validator, wires the
//!   documentation, and turns panics and errors into structured errors.
//! - [`abi`]: the frozen stable-ABI surface (built on `abi_stable`) that the host loads. Plugin
//!   authors normally never touch it.
//!
//! # A complete plugin
//!
//! ```
//! use kure_plugin_api::sdk::prelude::*;
//!
//! /// Says hello in a ConfigMap.
//! #[derive(Deserialize, JsonSchema)]
//! #[serde(deny_unknown_fields, rename_all = "camelCase")]
//! pub struct Greeting {
//!     /// Who to greet.
//!     pub name: String,
//! }
//!
//! pub struct GreetingGenerator;
//!
//! impl Generator for GreetingGenerator {
//!     type Config = Greeting;
//!     const API_VERSION: &'static str = "hello.example.com/v1";
//!     const KIND: &'static str = "Greeting";
//!
//!     fn generate(&self, app: &Application<Greeting>) -> Result<Vec<Object>, Error> {
//!         Ok(vec![json!({
//!             "apiVersion": "v1",
//!             "kind": "ConfigMap",
//!             "metadata": app.child_metadata(&app.metadata.name),
//!             "data": { "greeting": format!("hello, {}", app.spec.name) },
//!         })])
//!     }
//! }
//!
//! export_plugin! {
//!     name: "hello",
//!     version: "0.1.0",
//!     description: "Greets people",
//!     author: "Example Authors",
//!     generators: [GreetingGenerator],
//! }
//! # fn main() {}
//! ```
//!
//! Build it with `crate-type = ["cdylib", "rlib"]`, sign the library, and `kure` can load it.
//! The derives expand to paths in `serde` and `schemars`, so a plugin's `Cargo.toml` lists
//! those two beside this crate, with the same major versions (serde 1, schemars 1).
//! `kure plugins new NAME --gvk GROUP/VERSION/KIND` writes such a crate, tests included.
//! Depend on it by version. It is not on crates.io yet: until it is, point Cargo at a kure
//! checkout in the crate's `.cargo/config.toml` (kept out of the repository), which is what
//! `kure plugins new` writes.
//!
//! ```toml
//! [lib]
//! crate-type = ["cdylib", "rlib"]
//!
//! [dependencies]
//! kure-plugin-api = "1.5"
//! serde = { version = "1", features = ["derive"] }
//! schemars = "1"
//!
//! [dev-dependencies]
//! # kure_plugin_api::testing: specs checked as kure checks them, in `cargo test`.
//! kure-plugin-api = { version = "1.5", features = ["testing"] }
//! ```
//!
//! ```toml
//! # .cargo/config.toml: this machine's kure checkout
//! [patch.crates-io]
//! kure-plugin-api = { path = "/path/to/kure/kure-plugin-api" }
//! ```
#![deny(missing_docs)]

pub mod abi;
pub mod host;
pub mod sdk;
#[cfg(feature = "testing")]
pub mod testing;
#[cfg(feature = "validate")]
pub mod validate;

/// The version of this crate, as the host reports and checks it.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

#[doc(hidden)]
pub mod __private {
    //! Re-exports used by [`export_plugin!`](crate::export_plugin); not part of the API.
    pub use abi_stable;
}
