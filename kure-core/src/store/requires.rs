//! What installed plugins require of each other. The store keeps one invariant: a change
//! (install, replace, uninstall) may not leave a plugin's `requires` unmet that was met
//! before it. Kure's own version ranges are checked when a plugin loads
//! ([`crate::plugin::requires::check_host`]).

use std::collections::BTreeMap;

use crate::generate::registry::StackRegistry;
use crate::model::gvk::Gvk;
use crate::store::{Index, IndexEntry};
use crate::util::shown;

/// Whether `version` is in the semver `range` (either unreadable: no).
pub fn satisfies(range: &str, version: &str) -> bool {
    match (
        semver::VersionReq::parse(range),
        semver::Version::parse(version),
    ) {
        (Ok(r), Ok(v)) => r.matches(&v),
        _ => false,
    }
}

/// Whether `gvk` is built into kure (the built-ins' GVKs, listed once per process).
pub fn is_builtin(gvk: &Gvk) -> bool {
    static BUILTINS: std::sync::LazyLock<Vec<Gvk>> = std::sync::LazyLock::new(|| {
        StackRegistry::with_builtins()
            .iter()
            .map(|(g, _)| g.clone())
            .collect()
    });
    BUILTINS.contains(gvk)
}

/// Whether kure or a plugin in `plugins` provides `gvk`.
pub fn provided(plugins: &[IndexEntry], gvk: &Gvk) -> bool {
    is_builtin(gvk) || plugins.iter().any(|p| p.parsed_gvks().contains(gvk))
}

/// Every `requires` of a plugin of `index` that `index` does not meet: keyed by the
/// requiring plugin's name and the requirement (so a new version of a plugin whose requirement
/// was unmet already is not "newly" breaking it), a sentence each.
pub fn unmet(index: &Index) -> BTreeMap<(String, String), String> {
    let mut out = BTreeMap::new();
    for p in &index.plugins {
        let who = format!("plugin {}@{}", p.name, shown(&p.version));
        for r in &p.requires.plugins {
            let wanted = format!("plugin {} {}", shown(&r.name), shown(&r.version));
            let problem = match index.plugins.iter().find(|o| o.name == r.name) {
                None => Some(format!("{who} requires {wanted}")),
                Some(o) if !satisfies(&r.version, &o.version) => Some(format!(
                    "{who} requires {wanted}, not {}@{}",
                    o.name,
                    shown(&o.version)
                )),
                Some(_) => None,
            };
            if let Some(problem) = problem {
                out.insert((p.name.clone(), wanted), problem);
            }
        }
        for g in &p.requires.gvks {
            let met =
                Gvk::parse(&g.api_version, &g.kind).is_ok_and(|gvk| provided(&index.plugins, &gvk));
            if !met {
                let wanted = format!("{}/{}", shown(&g.api_version), shown(&g.kind));
                out.insert(
                    (p.name.clone(), wanted.clone()),
                    format!(
                        "{who} requires a generator of {wanted}, which neither kure nor a plugin provides"
                    ),
                );
            }
        }
    }
    out
}

/// What `after` leaves unmet that `before` met (a store that was already inconsistent, e.g.
/// from a kure before `requires`, does not block changes that do not make it worse).
pub fn broken_by(before: &Index, after: &Index) -> Vec<String> {
    let was = unmet(before);
    unmet(after)
        .into_iter()
        .filter(|(key, _)| !was.contains_key(key))
        .map(|(_, problem)| problem)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use kure_plugin_api::abi::Requires;

    fn entry(name: &str, version: &str, requires: Requires, gvks: &[(&str, &str)]) -> IndexEntry {
        IndexEntry {
            name: name.into(),
            version: version.into(),
            description: String::new(),
            author: String::new(),
            library: format!("{name}/{version}/x/lib.so").into(),
            sha256: "0".repeat(64),
            signer: "unsigned".into(),
            gvks: gvks
                .iter()
                .map(|(a, k)| crate::store::GvkRef {
                    api_version: (*a).into(),
                    kind: (*k).into(),
                })
                .collect(),
            installed_at: String::new(),
            source: None,
            digest: None,
            requires,
        }
    }

    fn index(plugins: Vec<IndexEntry>) -> Index {
        Index {
            version: 1,
            plugins,
        }
    }

    #[test]
    fn ranges_versions_and_gvks() {
        let a = entry(
            "a",
            "1.0.0",
            Requires::new()
                .plugin("b", "^1.2")
                .gvk("x.example.com/v1", "Thing")
                .gvk("generators.gokure.dev/v1alpha1", "AppWorkload"),
            &[],
        );
        let b_old = entry("b", "1.1.0", Requires::new(), &[]);
        let b = entry(
            "b",
            "1.4.0",
            Requires::new(),
            &[("x.example.com/v1", "Thing")],
        );
        let b2 = entry(
            "b",
            "2.0.0",
            Requires::new(),
            &[("x.example.com/v1", "Thing")],
        );
        assert!(unmet(&index(vec![a.clone(), b.clone()])).is_empty());
        let missing: Vec<String> = unmet(&index(vec![a.clone()])).into_values().collect();
        assert_eq!(missing.len(), 2, "{missing:?}");
        assert!(missing
            .iter()
            .any(|m| m.ends_with("requires plugin b ^1.2")));
        assert!(missing
            .iter()
            .any(|m| m.contains("x.example.com/v1/Thing, which neither")));
        let old: Vec<String> = unmet(&index(vec![a.clone(), b_old]))
            .into_values()
            .collect();
        assert!(
            old.iter()
                .any(|m| m.contains("requires plugin b ^1.2, not b@1.1.0")),
            "{old:?}"
        );
        // Upgrading b past a's range breaks a; uninstalling b breaks it too.
        let before = index(vec![a.clone(), b]);
        assert_eq!(broken_by(&before, &index(vec![a.clone(), b2])).len(), 1);
        assert_eq!(broken_by(&before, &index(vec![a])).len(), 2);
    }

    #[test]
    fn what_was_already_broken_does_not_block() {
        let a = entry("a", "1.0.0", Requires::new().plugin("gone", "^1"), &[]);
        let c = entry("c", "1.0.0", Requires::new(), &[]);
        let before = index(vec![a.clone()]);
        assert!(broken_by(&before, &index(vec![a, c.clone()])).is_empty());
        // A new version of `a` with the same unmet requirement does not make it worse.
        let a2 = entry("a", "1.1.0", Requires::new().plugin("gone", "^1"), &[]);
        assert!(broken_by(&before, &index(vec![a2, c])).is_empty());
    }

    #[test]
    fn satisfies_is_semver() {
        assert!(satisfies("^1.2", "1.9.0"));
        assert!(!satisfies("^1.2", "2.0.0"));
        assert!(!satisfies("^1.2", "1.3.0-rc.1"));
        assert!(satisfies(">=1.3.0-rc.1", "1.3.0-rc.1"));
        assert!(!satisfies("banana", "1.0.0"));
        assert!(!satisfies("^1", "v1"));
    }
}
