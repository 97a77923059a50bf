//! Group/version/kind: the key that selects a generator.

use std::fmt;
use std::str::FromStr;

use kube::core::{GroupVersion, GroupVersionKind};

/// An apiVersion/kind pair that is not a GVK.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid apiVersion `{api_version}` / kind `{kind}`: {reason}")]
pub struct GvkError {
    /// The apiVersion given.
    pub api_version: String,
    /// The kind given.
    pub kind: String,
    /// Why it is invalid.
    pub reason: String,
}

/// A group, version and kind. `v1` (the core group) has an empty group.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Gvk {
    /// API group, empty for the core group.
    pub group: String,
    /// API version.
    pub version: String,
    /// Kind.
    pub kind: String,
}

impl Gvk {
    /// Parses an `apiVersion` (`group/version` or `v1`) and a kind.
    pub fn parse(api_version: &str, kind: &str) -> Result<Self, GvkError> {
        let bad = |why: &str| GvkError {
            api_version: api_version.to_owned(),
            kind: kind.to_owned(),
            reason: why.to_owned(),
        };
        if api_version.is_empty() || api_version.split('/').count() > 2 {
            return Err(bad(
                "apiVersion must be `group/version` or a core version such as `v1`",
            ));
        }
        let gv = GroupVersion::from_str(api_version).map_err(|e| bad(&e.to_string()))?;
        if gv.version.is_empty() || (api_version.contains('/') && gv.group.is_empty()) {
            return Err(bad(
                "apiVersion must be `group/version` or a core version such as `v1`",
            ));
        }
        // Each part may become a name kure writes (a kustomize plugin path, a lock key): a
        // group is a DNS subdomain, a version letters and digits.
        if !(gv.group.is_empty() || crate::util::is_dns_subdomain(&gv.group))
            || !gv.version.chars().all(|c| c.is_ascii_alphanumeric())
        {
            return Err(bad(
                "apiVersion must be `group/version` with a DNS-name group (e.g. `generators.example.com/v1alpha1`) or a core version such as `v1`",
            ));
        }
        if kind.is_empty() || !kind.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(bad(
                "kind must be a non-empty alphanumeric name such as `AppWorkload`",
            ));
        }
        Ok(Self {
            group: gv.group,
            version: gv.version,
            kind: kind.to_owned(),
        })
    }

    /// `group/version`, or the bare version for the core group.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }
}

impl fmt::Display for Gvk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}, Kind={}", self.api_version(), self.kind)
    }
}

impl From<&Gvk> for GroupVersionKind {
    fn from(g: &Gvk) -> Self {
        GroupVersionKind::gvk(&g.group, &g.version, &g.kind)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_grouped_and_core_versions() {
        let g = Gvk::parse("generators.gokure.dev/v1alpha1", "AppWorkload").expect("valid");
        assert_eq!(g.group, "generators.gokure.dev");
        assert_eq!(g.version, "v1alpha1");
        assert_eq!(g.api_version(), "generators.gokure.dev/v1alpha1");
        let core = Gvk::parse("v1", "ConfigMap").expect("valid");
        assert_eq!(core.group, "");
        assert_eq!(core.api_version(), "v1");
        assert_eq!(GroupVersionKind::from(&core).kind, "ConfigMap");
    }

    #[test]
    fn rejects_malformed() {
        for (av, k) in [
            ("", "X"),
            ("a/b/c", "X"),
            ("/v1", "X"),
            ("g/v1", ""),
            ("g/v1", "Bad-Kind"),
            // Parts that could name a path, or hide a terminal escape.
            ("../..", "X"),
            ("a/..", "X"),
            ("Ex.com/v1", "X"),
            ("x.io/v1\u{1b}", "X"),
            ("x.io/v 1", "X"),
        ] {
            assert!(Gvk::parse(av, k).is_err(), "{av} {k} should be rejected");
        }
    }
}
