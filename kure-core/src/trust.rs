//! Trust policy: which plugin libraries may be loaded.

use std::path::Path;

use crate::plugin::LoadError;

/// How a library was admitted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    /// Loaded without a trusted signature because unsigned plugins are allowed.
    Unsigned,
}

/// What the host accepts.
#[derive(Debug, Clone, Default)]
pub struct TrustPolicy {
    /// Load plugins without a trusted signature (development only).
    pub allow_unsigned: bool,
}

impl TrustPolicy {
    /// Decides whether `bytes` (read from `path`) may be loaded.
    pub fn admit(&self, path: &Path, _bytes: &[u8]) -> Result<Admission, LoadError> {
        if self.allow_unsigned {
            return Ok(Admission::Unsigned);
        }
        Err(LoadError::Signature {
            path: path.to_path_buf(),
            reason: "unsigned plugins are refused by default; pass --allow-unsigned (or set \
                     KURE_ALLOW_UNSIGNED=1) to load it for development"
                .to_owned(),
        })
    }
}
