//! Validation of a spec against the JSON Schema its generator declares.
//!
//! The `jsonschema` crate does the checking; kure adds three things around it:
//! - [`guard`] refuses a schema the validator could not finish with (reference loops,
//!   multiplying branches, references kure cannot follow), so a broken plugin schema fails
//!   closed instead of overflowing the stack or running forever;
//! - [`closed`] makes kure's strictness part of the schema itself (closed objects, integer
//!   ranges), so `kure schema` prints what is enforced;
//! - [`schema`] words each problem with the field path, what was expected and what was found,
//!   and the closest valid name.
//!
//! [`fields`] lists a schema's fields with their constraints, for `kure explain`.

pub mod closed;
pub mod fields;
pub mod guard;
pub mod output;
pub mod schema;
pub mod text;

pub use schema::CompiledSchema;

use crate::abi::Issue;
use serde_json::Value;

/// Compiles `schema` and checks `value` against it: every problem, or `Err` when the schema
/// cannot be used. Compiling is the expensive part: callers checking many values compile once
/// ([`CompiledSchema`]).
pub fn validate(schema: &Value, value: &Value) -> Result<Vec<Issue>, String> {
    Ok(CompiledSchema::compile(schema)?.check(value))
}
