//! Plugins as OCI artifacts: `kure plugins push` and `kure plugins install oci://...`.
//!
//! An artifact is an image index (`oci://REGISTRY/REPO:TAG`) with one image manifest per
//! platform. Each manifest has kure's config (media type [`CONFIG_MEDIA_TYPE`]: name, version,
//! GVKs, ABI, author, description) and two layers, the library ([`LIBRARY_MEDIA_TYPE`]) and its
//! signature ([`SIGNATURE_MEDIA_TYPE`]).
//!
//! A plugin index (the YAML behind `kure plugins search`) can be an artifact too
//! ([`INDEX_MEDIA_TYPE`], `index.rs`).
//!
//! Everything a registry says is hostile until checked:
//! - every manifest and blob is checked against its digest, and a blob may not grow past the
//!   size its descriptor gives;
//! - the config is small, and its name must be a valid plugin name before it becomes a file
//!   name;
//! - what is downloaded is only staged: `kure plugins install` then makes exactly the checks it
//!   makes for a local file (hash, signature, trust, inspection in a sandboxed worker,
//!   examples).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use oci_client::client::{ClientConfig, ClientProtocol, Config, ImageLayer};
use oci_client::manifest::{
    ImageIndexEntry, OciDescriptor, OciImageIndex, OciImageManifest, OciManifest,
    OCI_IMAGE_INDEX_MEDIA_TYPE, OCI_IMAGE_MEDIA_TYPE,
};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};
use serde::{Deserialize, Serialize};
use sha2::Digest;

use crate::model::error::Error;

/// The media type of kure's config blob.
pub const CONFIG_MEDIA_TYPE: &str = "application/vnd.kure.plugin.config.v1+json";
/// The media type of the library layer.
pub const LIBRARY_MEDIA_TYPE: &str = "application/vnd.kure.plugin.library.v1";
/// The media type of the signature layer (`openssl dgst -sha256 -sign` bytes).
pub const SIGNATURE_MEDIA_TYPE: &str = "application/vnd.kure.plugin.signature.v1";

/// The largest config blob read.
const MAX_CONFIG_BYTES: u64 = 64 << 10;
/// The largest signature layer read.
const MAX_SIGNATURE_BYTES: u64 = 64 << 10;
/// The largest manifest read.
const MAX_MANIFEST_BYTES: usize = 1 << 20;

/// How kure talks to registries.
#[derive(Debug, Clone)]
pub struct RegistryOptions {
    /// Plain HTTP, for a registry on this machine (`--insecure`; refused for other hosts).
    pub insecure: bool,
    /// The Docker config file credentials come from (default: `$DOCKER_CONFIG/config.json`,
    /// else `~/.docker/config.json`).
    pub config: Option<PathBuf>,
    /// How long a connection or a read may take.
    pub timeout: Duration,
    /// PEM certificates of certificate authorities to trust besides the system's (a registry
    /// with a private CA).
    pub ca: Option<PathBuf>,
}

impl Default for RegistryOptions {
    fn default() -> Self {
        Self {
            insecure: false,
            config: None,
            timeout: Duration::from_secs(30),
            ca: None,
        }
    }
}

/// kure's config blob: what a plugin is, readable without downloading the library.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PluginConfig {
    /// Plugin name.
    pub name: String,
    /// Plugin version.
    pub version: String,
    /// `apiVersion/Kind` of every generator.
    pub gvks: Vec<String>,
    /// The data-level ABI version.
    pub abi_version: u32,
    /// The kure-plugin-api version it was built with.
    pub api_version: String,
    /// Author.
    #[serde(default)]
    pub author: String,
    /// One line about it.
    #[serde(default)]
    pub description: String,
    /// What it requires (kure-plugin-api 1.4), for tools that read the registry: kure itself
    /// reads it from the library when it installs.
    #[serde(
        default,
        skip_serializing_if = "kure_plugin_api::abi::Requires::is_empty"
    )]
    pub requires: kure_plugin_api::abi::Requires,
}

/// A platform as OCI names it: `linux/amd64`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    /// `linux`, `darwin`.
    pub os: String,
    /// `amd64`, `arm64`.
    pub architecture: String,
}

impl Platform {
    /// The platform kure was built for.
    pub fn current() -> Self {
        let architecture = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            other => other,
        };
        Self {
            os: std::env::consts::OS.to_owned(),
            architecture: architecture.to_owned(),
        }
    }

    /// Parses `os/architecture`.
    pub fn parse(s: &str) -> Result<Self, Error> {
        let ok = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_alphanumeric());
        match s.split_once('/') {
            Some((os, arch)) if ok(os) && ok(arch) => Ok(Self {
                os: os.to_owned(),
                architecture: arch.to_owned(),
            }),
            _ => Err(registry_err(format!(
                "`{}` is not a platform: use OS/ARCH, e.g. linux/amd64 or darwin/arm64",
                crate::util::shown(s)
            ))),
        }
    }

    fn oci(&self) -> Result<oci_client::manifest::Platform, Error> {
        serde_json::from_value(serde_json::json!({
            "os": self.os, "architecture": self.architecture
        }))
        .map_err(|e| registry_err(format!("platform {self}: {e}")))
    }

    fn matches(&self, p: &oci_client::manifest::Platform) -> bool {
        let v = serde_json::to_value(p).unwrap_or_default();
        v["os"] == self.os.as_str() && v["architecture"] == self.architecture.as_str()
    }
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)
    }
}

/// `os/architecture` of an index entry's platform, as the registry wrote it (unchecked).
fn platform_name(p: &oci_client::manifest::Platform) -> String {
    let v = serde_json::to_value(p).unwrap_or_default();
    format!(
        "{}/{}",
        v["os"].as_str().unwrap_or("?"),
        v["architecture"].as_str().unwrap_or("?")
    )
}

fn registry_err(message: String) -> Error {
    Error::Registry(message)
}

/// A parsed `oci://REGISTRY/REPO:TAG` or `oci://REGISTRY/REPO@sha256:DIGEST`.
#[derive(Debug, Clone)]
pub struct OciRef {
    reference: Reference,
    text: String,
}

impl OciRef {
    /// Parses `oci://...`; anything else is not a registry reference.
    pub fn parse(s: &str) -> Result<Self, Error> {
        let Some(rest) = s.strip_prefix("oci://") else {
            return Err(registry_err(format!(
                "`{}` is not a registry reference: write oci://REGISTRY/REPOSITORY:TAG",
                crate::util::shown(s)
            )));
        };
        if rest.is_empty() || rest.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(registry_err(format!(
                "`{}` is not a registry reference: write oci://REGISTRY/REPOSITORY:TAG",
                crate::util::shown(s)
            )));
        }
        // A registry host is required: `oci://repo:tag` would silently mean Docker Hub.
        let host = rest.split('/').next().unwrap_or("");
        if !rest.contains('/') || !(host.contains('.') || host.contains(':') || host == "localhost")
        {
            return Err(registry_err(format!(
                "`{}` names no registry host: write oci://REGISTRY/REPOSITORY:TAG (e.g. oci://ghcr.io/acme/plugin:1.0.0)",
                crate::util::shown(s)
            )));
        }
        let reference = parse_reference(rest).ok_or_else(|| {
            registry_err(format!(
                "`{}` is not a registry reference: write oci://REGISTRY/REPOSITORY:TAG or @sha256:DIGEST (repository: lower-case letters, digits and `._-` between them, in `/`-separated parts; tag: letters, digits, `_.-`, at most 128)",
                crate::util::shown(s)
            ))
        })?;
        Ok(Self {
            reference,
            text: s.to_owned(),
        })
    }

    /// The same repository at `digest`: `oci://REGISTRY/REPO@sha256:...`.
    pub fn at_digest(&self, digest: &str) -> String {
        format!(
            "oci://{}/{}@{digest}",
            self.reference.registry(),
            self.reference.repository()
        )
    }

    /// Whether `s` is meant as a registry reference.
    pub fn is_oci(s: &str) -> bool {
        s.starts_with("oci://")
    }

    fn registry(&self) -> &str {
        self.reference.registry()
    }

    fn with_digest(&self, digest: &str) -> Reference {
        Reference::with_digest(
            self.reference.registry().to_owned(),
            self.reference.repository().to_owned(),
            digest.to_owned(),
        )
    }
}

impl std::fmt::Display for OciRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&crate::util::shown(&self.text))
    }
}

/// `REGISTRY/REPOSITORY(:TAG|@sha256:HEX)`, by the distribution spec's grammar, without the
/// OCI client's parser: that compiles a large regex on first use, which took 25 of the 60 ms
/// of a whole `kure plugins install oci://...` (checked against it in the tests). The tag
/// defaults to `latest`, as there.
fn parse_reference(s: &str) -> Option<Reference> {
    let (registry, rest) = s.split_once('/')?;
    let host_ok = !registry.is_empty()
        && registry.len() <= 255
        && registry
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':'));
    if !host_ok {
        return None;
    }
    let (repository, tag, digest) = match rest.split_once('@') {
        Some((repo, digest)) => (repo, None, Some(digest)),
        None => match rest.rsplit_once(':') {
            Some((repo, tag)) if !tag.contains('/') => (repo, Some(tag), None),
            _ => (rest, None, None),
        },
    };
    let component_ok = |c: &str| {
        let b = c.as_bytes();
        !b.is_empty()
            && b[0].is_ascii_lowercase() | b[0].is_ascii_digit()
            && b[b.len() - 1].is_ascii_lowercase() | b[b.len() - 1].is_ascii_digit()
            && b.iter().all(|&x| {
                x.is_ascii_lowercase() || x.is_ascii_digit() || matches!(x, b'.' | b'_' | b'-')
            })
            && !c.contains("..")
    };
    if repository.len() > 255 || !repository.split('/').all(component_ok) {
        return None;
    }
    if let Some(t) = tag {
        let b = t.as_bytes();
        let ok = !b.is_empty()
            && b.len() <= 128
            && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
            && b.iter()
                .all(|&x| x.is_ascii_alphanumeric() || matches!(x, b'_' | b'.' | b'-'));
        if !ok {
            return None;
        }
    }
    if let Some(d) = digest {
        let hex = d.strip_prefix("sha256:")?;
        if hex.len() != 64
            || !hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return None;
        }
    }
    let (registry, repository) = (registry.to_owned(), repository.to_owned());
    Some(match (tag, digest) {
        (_, Some(d)) => Reference::with_digest(registry, repository, d.to_owned()),
        (Some(t), None) => Reference::with_tag(registry, repository, t.to_owned()),
        (None, None) => Reference::with_tag(registry, repository, "latest".to_owned()),
    })
}

/// A single-threaded runtime for one command's network calls (registries, plugin indexes).
pub(crate) fn network_runtime() -> Result<tokio::runtime::Runtime, Error> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| registry_err(format!("cannot start the network runtime: {e}")))
}

/// Whether `registry` (host[:port]) is this machine.
pub(crate) fn is_local(registry: &str) -> bool {
    let host = registry.rsplit_once(':').map_or(registry, |(h, port)| {
        if port.bytes().all(|b| b.is_ascii_digit()) {
            h
        } else {
            registry
        }
    });
    matches!(host, "localhost" | "127.0.0.1" | "[::1]" | "::1")
}

mod index;
mod pull;
mod push;
mod session;

pub use index::{pull_index, push_index, INDEX_MEDIA_TYPE};
pub use pull::{builds, pull, Build, Pulled};
pub use push::{push_layers, Pushed};
use session::Session;

#[cfg(test)]
mod tests {
    use super::session::credentials;
    use super::*;

    #[test]
    fn references_need_the_scheme_and_a_registry_host() {
        assert!(OciRef::parse("oci://localhost:5000/kure/terraform:1.0.0").is_ok());
        assert!(OciRef::parse("oci://ghcr.io/acme/plugin@sha256:0123456789012345678901234567890123456789012345678901234567890123").is_ok());
        for bad in [
            "ghcr.io/acme/plugin:1",
            "oci://plugin:1",
            "oci://",
            "oci://ghcr.io/acme/plu gin:1",
            "oci://ghcr.io/acme/\x1b[31m:1",
        ] {
            let e = OciRef::parse(bad).expect_err(bad).to_string();
            assert!(!e.contains('\x1b'), "{e:?}");
            assert!(e.contains("oci://"), "{e}");
        }
    }

    /// kure's reference parser against the OCI client's, on references both must read the same
    /// way and ones kure refuses (the client may accept more: upper case it lowers, defaults).
    #[test]
    fn the_reference_parser_agrees_with_the_oci_clients() {
        let digest = format!("sha256:{}", "ab".repeat(32));
        let good = [
            "localhost:5000/kure/terraform:1.0.0".to_owned(),
            "ghcr.io/acme/plugins/terraform:v1.2.3-rc.1_x".to_owned(),
            "registry.example.com/a.b/c-d/e_f".to_owned(),
            format!("127.0.0.1:5000/x@{digest}"),
        ];
        for r in &good {
            let ours = parse_reference(r).unwrap_or_else(|| panic!("refused {r}"));
            let theirs: Reference = r.parse().unwrap_or_else(|e| panic!("{r}: {e}"));
            assert_eq!(ours.registry(), theirs.registry(), "{r}");
            assert_eq!(ours.repository(), theirs.repository(), "{r}");
            assert_eq!(ours.tag(), theirs.tag(), "{r}");
            assert_eq!(ours.digest(), theirs.digest(), "{r}");
        }
        for bad in [
            "localhost:5000/Kure/x:1",
            "localhost:5000/x:",
            "localhost:5000/x:-tag",
            "localhost:5000/x@sha256:abc",
            "localhost:5000//x:1",
            "localhost:5000/x/:1",
            "localhost:5000/.x:1",
            "localhost:5000/x..y:1",
            "localhost:5000",
            "/x:1",
            "[::1]:5000/x/y:tag",
        ] {
            assert!(parse_reference(bad).is_none(), "accepted {bad}");
        }
    }

    #[test]
    fn platforms_parse_and_insecure_is_for_this_machine_only() {
        assert_eq!(
            Platform::parse("linux/arm64").expect("ok").to_string(),
            "linux/arm64"
        );
        for bad in ["linux", "linux/", "/amd64", "linux/amd64/v8", "../x/y"] {
            assert!(Platform::parse(bad).is_err(), "{bad}");
        }
        assert!(is_local("localhost:5000") && is_local("127.0.0.1:1234") && is_local("localhost"));
        assert!(!is_local("ghcr.io") && !is_local("localhost.evil.com:5000"));
        let remote = OciRef::parse("oci://ghcr.io/acme/p:1").expect("ref");
        let e = Session::new(
            &remote,
            &RegistryOptions {
                insecure: true,
                ..RegistryOptions::default()
            },
        )
        .err()
        .expect("refused");
        assert!(
            e.to_string()
                .contains("only for a registry on this machine"),
            "{e}"
        );
    }

    #[test]
    fn credentials_come_from_the_docker_config_for_that_registry_only() {
        let dir = tempfile::tempdir().expect("tmp");
        let cfg = dir.path().join("config.json");
        std::fs::write(
            &cfg,
            r#"{"auths":{"https://localhost:5000":{"auth":"dXNlcjpwYXNz"},"other.io":{"auth":"eDp5"}}}"#,
        )
        .expect("write");
        match credentials("localhost:5000", Some(&cfg), Duration::from_secs(5)).expect("read") {
            RegistryAuth::Basic(u, p) => assert_eq!((u.as_str(), p.as_str()), ("user", "pass")),
            _ => panic!("not basic auth"),
        }
        assert!(matches!(
            credentials("ghcr.io", Some(&cfg), Duration::from_secs(5)).expect("read"),
            RegistryAuth::Anonymous
        ));
        std::fs::write(&cfg, r#"{"auths":{"localhost:5000":{"auth":"%%%"}}}"#).expect("write");
        let e = credentials("localhost:5000", Some(&cfg), Duration::from_secs(5))
            .expect_err("bad base64");
        assert!(e.to_string().contains("not base64"), "{e}");
    }
}
