//! What a plugin declares it needs (`requires` in its ABI information, kure-plugin-api 1.4):
//! checked as hostile input when the plugin loads, then against this kure. Which plugins and
//! GVKs satisfy the rest is the store's and the installer's question (`ops::resolve`).

use kure_plugin_api::abi::Requires;
use semver::{Version, VersionReq};

use crate::model::gvk::Gvk;
use crate::plugin::process::KURE_VERSION;
use crate::util::{shown, valid_plugin_name};

/// At most this many plugins, and this many GVKs, in one `requires`.
pub const MAX_REQUIRED: usize = 32;

/// A range as written by a plugin, at most this long.
const MAX_RANGE_LEN: usize = 128;

/// Parses a semver range a plugin wrote in `field`.
pub fn parse_range(field: &str, range: &str) -> Result<VersionReq, String> {
    if range.len() > MAX_RANGE_LEN {
        return Err(format!(
            "declares `requires.{field}` of {} bytes (at most {MAX_RANGE_LEN})",
            range.len()
        ));
    }
    VersionReq::parse(range).map_err(|e| {
        format!(
            "declares `requires.{field}: {}`, which is not a semver range like `^1.2` or `>=0.9, <2` ({})",
            shown(range),
            shown(&e.to_string())
        )
    })
}

/// Checks that `requires` is well formed: ranges parse, plugin names are names kure accepts,
/// GVKs are GVKs, and there are at most [`MAX_REQUIRED`] of each. `Err` ends "plugin X ...".
pub fn check_declared(requires: &Requires) -> Result<(), String> {
    if let Some(r) = &requires.kure {
        parse_range("kure", r)?;
    }
    if let Some(r) = &requires.plugin_api {
        parse_range("pluginApi", r)?;
    }
    if requires.plugins.len() > MAX_REQUIRED || requires.gvks.len() > MAX_REQUIRED {
        return Err(format!(
            "declares {} required plugins and {} required GVKs (at most {MAX_REQUIRED} each)",
            requires.plugins.len(),
            requires.gvks.len()
        ));
    }
    for p in &requires.plugins {
        if !valid_plugin_name(&p.name) {
            return Err(format!(
                "requires a plugin named `{}`, which is not a plugin name (letters, digits, `-` and `_`)",
                shown(&p.name)
            ));
        }
        parse_range(&format!("plugins.{}", p.name), &p.version)?;
    }
    for g in &requires.gvks {
        Gvk::parse(&g.api_version, &g.kind).map_err(|e| {
            format!(
                "requires the GVK `{}/{}`, which is not one ({e})",
                shown(&g.api_version),
                shown(&g.kind)
            )
        })?;
    }
    Ok(())
}

/// Checks `requires` against this kure: well formed ([`check_declared`]), and this kure's
/// version and kure-plugin-api version in the declared ranges. `Err` ends "plugin X ...".
pub fn check_host(requires: &Requires) -> Result<(), String> {
    check_declared(requires)?;
    let host = [
        ("kure", &requires.kure, KURE_VERSION, "kure"),
        (
            "pluginApi",
            &requires.plugin_api,
            kure_plugin_api::VERSION,
            "kure-plugin-api",
        ),
    ];
    for (field, range, version, what) in host {
        let Some(range) = range else { continue };
        let req = parse_range(field, range)?;
        // A pre-release of kure counts as its release: `>=0.1` holds for 0.2.0-rc.1 too.
        let mut ours = Version::parse(version).map_err(|e| e.to_string())?;
        ours.pre = semver::Prerelease::EMPTY;
        if !req.matches(&ours) {
            return Err(format!(
                "requires {what} {}, and this kure is built with {what} {version}: use a kure in that range, or a version of the plugin that supports this one",
                shown(range)
            ));
        }
    }
    Ok(())
}

/// `requires` in one line for `plugins info` (empty when nothing is required).
pub fn describe(requires: &Requires) -> String {
    let mut parts = Vec::new();
    if let Some(r) = &requires.kure {
        parts.push(format!("kure {r}"));
    }
    if let Some(r) = &requires.plugin_api {
        parts.push(format!("kure-plugin-api {r}"));
    }
    for p in &requires.plugins {
        parts.push(format!("plugin {} {}", p.name, p.version));
    }
    for g in &requires.gvks {
        parts.push(format!("GVK {}/{}", g.api_version, g.kind));
    }
    parts.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_ranges_are_checked() {
        assert!(check_host(&Requires::new()).is_ok());
        assert!(check_host(&Requires::new().kure(">=0.1").plugin_api("^1.4")).is_ok());
        let e = check_host(&Requires::new().kure(">=99")).unwrap_err();
        assert!(
            e.contains("requires kure >=99, and this kure is built with kure 0."),
            "{e}"
        );
        let e = check_host(&Requires::new().plugin_api("^2")).unwrap_err();
        assert!(e.contains("requires kure-plugin-api ^2"), "{e}");
    }

    /// What a plugin writes is hostile: bad ranges, names that would be paths, terminal
    /// escapes, and too many entries are refused with the field named.
    #[test]
    fn hostile_requires_are_refused() {
        let e = check_declared(&Requires::new().kure("banana")).unwrap_err();
        assert!(e.contains("`requires.kure: banana`"), "{e}");
        let e = check_declared(&Requires::new().plugin("../../etc", "^1")).unwrap_err();
        assert!(e.contains("not a plugin name"), "{e}");
        let e = check_declared(&Requires::new().plugin("x", "^1\u{1b}[2J")).unwrap_err();
        assert!(!e.contains('\u{1b}'), "{e}");
        let e = check_declared(&Requires::new().gvk("a b/v1", "K")).unwrap_err();
        assert!(e.contains("requires the GVK"), "{e}");
        let e = check_declared(&Requires::new().kure(&"1".repeat(200))).unwrap_err();
        assert!(e.contains("200 bytes"), "{e}");
        let mut many = Requires::new();
        for i in 0..=MAX_REQUIRED {
            many = many.plugin(&format!("p{i}"), "^1");
        }
        assert!(check_declared(&many).unwrap_err().contains("at most 32"));
        assert!(check_declared(&Requires::new().plugin("base_x-1", ">=1, <3")).is_ok());
    }

    #[test]
    fn describe_lists_everything() {
        let r = Requires::new()
            .kure(">=0.1")
            .plugin("base", "^1")
            .gvk("a.example.com/v1", "Thing");
        assert_eq!(
            describe(&r),
            "kure >=0.1, plugin base ^1, GVK a.example.com/v1/Thing"
        );
    }
}
