//! Plugins as OCI artifacts: `kure plugins push` and `kure plugins install oci://...`.
//!
//! An artifact is an image index (`oci://REGISTRY/REPO:TAG`) with one image manifest per
//! platform. Each manifest has kure's config (media type [`CONFIG_MEDIA_TYPE`]: name, version,
//! GVKs, ABI, author, description) and two layers, the library ([`LIBRARY_MEDIA_TYPE`]) and its
//! signature ([`SIGNATURE_MEDIA_TYPE`]).
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

/// With `--insecure` kure speaks plain HTTP to one registry on this machine and no TLS at all,
/// yet the HTTP client loads the system's whole certificate store when it is made (about
/// 300 files, 60 ms here) unless it is given certificates of its own: this one, whose key
/// was thrown away when it was made, so it can vouch for no server.
const NO_TLS_PLACEHOLDER: &str = "-----BEGIN CERTIFICATE-----
MIIBxTCCAWugAwIBAgIUbkCk/SJdIFnIXDvHwv6tAqZQBVEwCgYIKoZIzj0EAwIw
NzE1MDMGA1UEAwwsa3VyZSBwbGFpbi1IVFRQIHBsYWNlaG9sZGVyIChubyBUTFMg
aXMgdXNlZCkwIBcNMjYxMjA3MTYyMzA2WhgPMjEyNjExMTMxNjIzMDZaMDcxNTAz
BgNVBAMMLGt1cmUgcGxhaW4tSFRUUCBwbGFjZWhvbGRlciAobm8gVExTIGlzIHVz
ZWQpMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEDKS5NyTg6LdC8Oa4yiUvuIzu
4MyDnE+chB3mx6fgXvSo3ky3e+2SL8IZsYaHbliTpYpe94O50kWpu8EQ8/t7l6NT
MFEwHQYDVR0OBBYEFD9ehPaQd9ssl/nqYOBmQUSgByUlMB8GA1UdIwQYMBaAFD9e
hPaQd9ssl/nqYOBmQUSgByUlMA8GA1UdEwEB/wQFMAMBAf8wCgYIKoZIzj0EAwID
SAAwRQIhAMirwTNvOg6C2zppfLRj6m/vZqDygrI20f/QMY89DW+JAiA7rxmAc6WR
D3q7nkGgoQ4ZephI0i0LAy3HkZeLEW27dQ==
-----END CERTIFICATE-----\n";

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

/// Whether `registry` (host[:port]) is this machine.
fn is_local(registry: &str) -> bool {
    let host = registry.rsplit_once(':').map_or(registry, |(h, port)| {
        if port.bytes().all(|b| b.is_ascii_digit()) {
            h
        } else {
            registry
        }
    });
    matches!(host, "localhost" | "127.0.0.1" | "[::1]" | "::1")
}

struct Session {
    client: Client,
    auth: RegistryAuth,
    runtime: tokio::runtime::Runtime,
    what: String,
    timeout: Duration,
}

impl Session {
    fn new(r: &OciRef, opts: &RegistryOptions) -> Result<Self, Error> {
        let registry = r.registry().to_owned();
        if opts.insecure && !is_local(&registry) {
            return Err(registry_err(format!(
                "--insecure (plain HTTP) is only for a registry on this machine, not {}",
                crate::util::shown(&registry)
            )));
        }
        let extra_root_certificates = match &opts.ca {
            Some(path) => {
                let data = crate::input::read_small(path).map_err(|e| Error::io(path, e))?;
                if !String::from_utf8_lossy(&data).contains("-----BEGIN CERTIFICATE-----") {
                    return Err(registry_err(format!(
                        "{}: not a PEM certificate (-----BEGIN CERTIFICATE-----)",
                        path.display()
                    )));
                }
                vec![oci_client::client::Certificate {
                    encoding: oci_client::client::CertificateEncoding::Pem,
                    data,
                }]
            }
            None => Vec::new(),
        };
        let config = ClientConfig {
            tls_certs_only: if opts.insecure && opts.ca.is_none() {
                vec![oci_client::client::Certificate {
                    encoding: oci_client::client::CertificateEncoding::Pem,
                    data: NO_TLS_PLACEHOLDER.as_bytes().to_vec(),
                }]
            } else {
                Vec::new()
            },
            extra_root_certificates,
            protocol: if opts.insecure {
                ClientProtocol::HttpsExcept(vec![registry.clone()])
            } else {
                ClientProtocol::Https
            },
            read_timeout: Some(opts.timeout),
            connect_timeout: Some(opts.timeout),
            // Plain HTTP stays on this machine: an explicit proxy that every host bypasses
            // turns the environment's HTTP_PROXY/HTTPS_PROXY off.
            http_proxy: opts.insecure.then(|| "http://127.0.0.1:9".to_owned()),
            https_proxy: opts.insecure.then(|| "http://127.0.0.1:9".to_owned()),
            no_proxy: opts.insecure.then(|| "*".to_owned()),
            ..ClientConfig::default()
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| registry_err(format!("cannot start the network runtime: {e}")))?;
        Ok(Self {
            client: Client::new(config),
            auth: credentials(&registry, opts.config.as_deref())?,
            runtime,
            what: r.to_string(),
            timeout: opts.timeout,
        })
    }

    /// Runs `f` to completion, within the time limit (twice the per-read limit: a registry
    /// that trickles bytes is stopped too).
    fn run<T>(
        &self,
        doing: &str,
        f: impl std::future::Future<Output = Result<T, oci_client::errors::OciDistributionError>>,
    ) -> Result<T, Error> {
        let limit = self.timeout.saturating_mul(2);
        match self
            .runtime
            .block_on(async { tokio::time::timeout(limit, f).await })
        {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => {
                let text = describe(&e);
                let hint = if text.contains("MANIFEST_UNKNOWN") || text.contains("manifest unknown") {
                    "; there is no artifact at that reference (check the repository and tag, or push one with `kure plugins push`)"
                } else if text.contains("InvalidContentType") || text.contains("corrupt message") {
                    "; the registry does not speak HTTPS (for a plain-HTTP registry on this machine, add --insecure)"
                } else if text.contains("certificate") || text.contains("UnknownIssuer") {
                    "; the registry's TLS certificate is not trusted (for a private certificate authority, pass its PEM certificate with --registry-ca FILE)"
                } else if text.contains("UNAUTHORIZED")
                    || text.contains("Not authorized")
                    || text.contains("401")
                {
                    "; the registry wants credentials: log in with `docker login` (kure reads its config file) or pass --registry-config FILE"
                } else {
                    ""
                };
                Err(registry_err(format!(
                    "{}: {doing} failed: {}{hint}",
                    self.what,
                    crate::util::shown_message(&text)
                )))
            }
            Err(_) => Err(registry_err(format!(
                "{}: {doing} did not finish within {} s; the registry is not answering (check the address, or raise --registry-timeout)",
                self.what,
                limit.as_secs()
            ))),
        }
    }
}

impl Session {
    /// The image manifest an index entry names, fetched by its digest and checked against it.
    fn platform_manifest(
        &self,
        reference: &OciRef,
        entry: &ImageIndexEntry,
    ) -> Result<(Vec<u8>, String), Error> {
        let child = reference.with_digest(&entry.digest);
        let (bytes, digest) = self.run(
            "reading a platform's manifest",
            self.client
                .pull_manifest_raw(&child, &self.auth, &[OCI_IMAGE_MEDIA_TYPE]),
        )?;
        check_manifest(self, &bytes, &digest, Some(&entry.digest))?;
        Ok((bytes.to_vec(), digest))
    }
}

/// An error of the OCI client with its causes, on one line.
fn describe(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let more = s.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = s.source();
    }
    text
}

/// Credentials for `registry` from the Docker config file (`auths.<registry>.auth`, base64
/// `user:password`); anonymous when there are none. Credential helpers are not run.
fn credentials(registry: &str, config: Option<&Path>) -> Result<RegistryAuth, Error> {
    use base64::Engine as _;
    let path = match config {
        Some(p) => p.to_path_buf(),
        None => match std::env::var_os("DOCKER_CONFIG") {
            Some(d) if !d.is_empty() => PathBuf::from(d).join("config.json"),
            _ => match std::env::var_os("HOME") {
                Some(h) => PathBuf::from(h).join(".docker/config.json"),
                None => return Ok(RegistryAuth::Anonymous),
            },
        },
    };
    let text = match crate::input::read_small_text(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && config.is_none() => {
            return Ok(RegistryAuth::Anonymous)
        }
        Err(e) => return Err(Error::io(&path, e)),
    };
    #[derive(Deserialize)]
    struct DockerConfig {
        #[serde(default)]
        auths: BTreeMap<String, AuthEntry>,
    }
    #[derive(Deserialize)]
    struct AuthEntry {
        #[serde(default)]
        auth: Option<String>,
    }
    // serde's message could quote a credential: say where, not what.
    let parsed: DockerConfig = serde_json::from_str(&text).map_err(|e| Error::Config {
        path: path.clone(),
        reason: format!(
            "not a Docker config file (line {}, column {}); expected {{\"auths\": {{\"REGISTRY\": {{\"auth\": \"BASE64\"}}}}}}",
            e.line(),
            e.column()
        ),
    })?;
    let entry = parsed.auths.iter().find(|(k, _)| {
        let k = k
            .trim_start_matches("https://")
            .trim_start_matches("http://");
        k.split('/').next() == Some(registry)
    });
    let Some((_, AuthEntry { auth: Some(auth) })) = entry else {
        return Ok(RegistryAuth::Anonymous);
    };
    let bad = || Error::Config {
        path: path.clone(),
        reason: format!(
            "auths.{}.auth is not base64 of USER:PASSWORD",
            crate::util::shown(registry)
        ),
    };
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(auth.trim())
        .map_err(|_| bad())?;
    let decoded = String::from_utf8(decoded).map_err(|_| bad())?;
    let (user, password) = decoded.split_once(':').ok_or_else(bad)?;
    Ok(RegistryAuth::Basic(user.to_owned(), password.to_owned()))
}

/// What `push` published.
#[derive(Debug, Clone)]
pub struct Pushed {
    /// The platform's image manifest.
    pub manifest_digest: String,
    /// The index the tag now names.
    pub index_digest: String,
    /// The platforms the index holds.
    pub platforms: Vec<String>,
}

/// Publishes `layers` (media type, bytes) with `config` as `platform`'s manifest of the index
/// `reference` names; the index keeps its manifests for other platforms. Used by
/// `kure plugins push` (the library and its signature) and by tests that need artifacts kure
/// would not make.
pub fn push_layers(
    reference: &OciRef,
    platform: &Platform,
    config: &PluginConfig,
    layers: Vec<(&str, Vec<u8>)>,
    opts: &RegistryOptions,
) -> Result<Pushed, Error> {
    let s = Session::new(reference, opts)?;
    let config_bytes =
        serde_json::to_vec(config).map_err(|e| registry_err(format!("config: {e}")))?;
    let config = Config::new(config_bytes, CONFIG_MEDIA_TYPE.to_owned(), None);
    let layers: Vec<ImageLayer> = layers
        .into_iter()
        .map(|(media, data)| ImageLayer::new(data, media.to_owned(), None))
        .collect();
    let mut manifest = OciImageManifest::build(&layers, &config, None);
    manifest.artifact_type = Some(CONFIG_MEDIA_TYPE.to_owned());
    let manifest_json =
        serde_json::to_vec(&manifest).map_err(|e| registry_err(format!("manifest: {e}")))?;
    let manifest_digest = sha256_digest(&manifest_json);
    let by_digest = reference.with_digest(&manifest_digest);
    // Blobs, then the manifest as these very bytes (so its digest is the one computed here).
    s.run("pushing the library and its signature", async {
        s.client
            .store_auth_if_needed(reference.registry(), &s.auth)
            .await;
        for (layer, d) in layers.iter().zip(&manifest.layers) {
            s.client
                .push_blob(&by_digest, layer.data.clone(), &d.digest)
                .await?;
        }
        s.client
            .push_blob(&by_digest, config.data.clone(), &manifest.config.digest)
            .await?;
        s.client
            .push_manifest_raw(
                &by_digest,
                manifest_json.clone(),
                http::HeaderValue::from_static(OCI_IMAGE_MEDIA_TYPE),
            )
            .await
    })?;
    // The index the tag names now, if any: its other platforms stay.
    let mut entries: Vec<ImageIndexEntry> = match s.run(
        "reading the current index",
        s.client
            .pull_manifest_raw(&reference.reference, &s.auth, &[OCI_IMAGE_INDEX_MEDIA_TYPE]),
    ) {
        Ok((bytes, _)) => match serde_json::from_slice::<OciManifest>(&bytes) {
            Ok(OciManifest::ImageIndex(i)) => i.manifests,
            _ => Vec::new(),
        },
        Err(Error::Registry(m)) if m.contains("there is no artifact at that reference") => {
            Vec::new()
        }
        Err(e) => return Err(e),
    };
    entries.retain(|e| !e.platform.as_ref().is_some_and(|p| platform.matches(p)));
    entries.push(ImageIndexEntry {
        media_type: OCI_IMAGE_MEDIA_TYPE.to_owned(),
        digest: manifest_digest.clone(),
        size: manifest_json.len() as i64,
        platform: Some(platform.oci()?),
        annotations: None,
        artifact_type: Some(CONFIG_MEDIA_TYPE.to_owned()),
    });
    let platforms = entries
        .iter()
        .filter_map(|e| e.platform.as_ref())
        .map(platform_name)
        .collect();
    let index = OciImageIndex {
        schema_version: 2,
        media_type: Some(OCI_IMAGE_INDEX_MEDIA_TYPE.to_owned()),
        manifests: entries,
        artifact_type: Some(CONFIG_MEDIA_TYPE.to_owned()),
        annotations: None,
    };
    let index_json = serde_json::to_vec(&index).map_err(|e| registry_err(format!("index: {e}")))?;
    let index_digest = sha256_digest(&index_json);
    s.run(
        "pushing the index",
        s.client.push_manifest_raw(
            &reference.reference,
            index_json,
            http::HeaderValue::from_static(OCI_IMAGE_INDEX_MEDIA_TYPE),
        ),
    )?;
    Ok(Pushed {
        manifest_digest,
        index_digest,
        platforms,
    })
}

fn sha256_digest(bytes: &[u8]) -> String {
    format!(
        "sha256:{}",
        crate::trust::digest_hex(&sha2::Sha256::digest(bytes).into())
    )
}

/// What `pull` staged.
#[derive(Debug, Clone)]
pub struct Pulled {
    /// The library, in the staging directory.
    pub library: PathBuf,
    /// Its signature, beside it.
    pub signature: PathBuf,
    /// What the config says.
    pub config: PluginConfig,
    /// The digest of the image manifest used (this platform's).
    pub manifest_digest: String,
    /// The reference as given.
    pub source: String,
}

/// Downloads `platform`'s library and signature of the artifact `reference` names into
/// `staging` (a directory that exists), each checked against its digest and size. With
/// `library_sha256` (a lock's pin), a library layer with another digest is refused before it
/// is downloaded. Nothing is verified beyond that: the caller installs what was staged with
/// every usual check.
pub fn pull(
    reference: &OciRef,
    platform: &Platform,
    staging: &Path,
    opts: &RegistryOptions,
    library_sha256: Option<&str>,
) -> Result<Pulled, Error> {
    let s = Session::new(reference, opts)?;
    let (bytes, digest) = s.run(
        "reading the manifest",
        s.client.pull_manifest_raw(
            &reference.reference,
            &s.auth,
            &[OCI_IMAGE_INDEX_MEDIA_TYPE, OCI_IMAGE_MEDIA_TYPE],
        ),
    )?;
    check_manifest(&s, &bytes, &digest, reference.reference.digest())?;
    let not_kure = |why: &str| {
        registry_err(format!(
            "{}: not a kure plugin artifact ({why}); push one with `kure plugins push`",
            s.what
        ))
    };
    let (image, image_digest) = match serde_json::from_slice::<OciManifest>(&bytes)
        .map_err(|_| not_kure("its manifest is not OCI JSON"))?
    {
        // One platform's manifest, named by its digest (what `sync` fetches): the digest says
        // which build. Named by a tag, an artifact must be an index of platforms.
        OciManifest::Image(m) if reference.reference.digest().is_some() => (m, digest),
        OciManifest::Image(_) => {
            return Err(not_kure(
                "its tag names a single image manifest, not an index of platforms",
            ))
        }
        OciManifest::ImageIndex(index) => {
            let entry = index
                .manifests
                .iter()
                .find(|e| e.platform.as_ref().is_some_and(|p| platform.matches(p)));
            let Some(entry) = entry else {
                let have: Vec<String> = index
                    .manifests
                    .iter()
                    .filter_map(|e| e.platform.as_ref())
                    .map(|p| crate::util::shown(&platform_name(p)))
                    .collect();
                let listed = if have.is_empty() {
                    "none".to_owned()
                } else if have.len() > 10 {
                    format!("{} and {} more", have[..10].join(", "), have.len() - 10)
                } else {
                    have.join(", ")
                };
                return Err(registry_err(format!(
                    "{}: no build for this machine's platform {platform} (the artifact has {listed}); push one with `kure plugins push --platform {platform}`",
                    s.what
                )));
            };
            let (bytes, digest) = s.platform_manifest(reference, entry)?;
            match serde_json::from_slice::<OciManifest>(&bytes) {
                Ok(OciManifest::Image(m)) => (m, digest),
                _ => return Err(not_kure("its platform manifest is not an image manifest")),
            }
        }
    };
    if image.config.media_type != CONFIG_MEDIA_TYPE {
        return Err(not_kure(&format!(
            "its config is `{}`, not {CONFIG_MEDIA_TYPE}",
            crate::util::shown(&image.config.media_type)
        )));
    }
    let one = |media: &str, what: &str| -> Result<Option<&OciDescriptor>, Error> {
        let found: Vec<&OciDescriptor> = image
            .layers
            .iter()
            .filter(|l| l.media_type == media)
            .collect();
        match found.as_slice() {
            [] => Ok(None),
            [l] => Ok(Some(*l)),
            _ => Err(not_kure(&format!("it has {} {what} layers", found.len()))),
        }
    };
    let library =
        one(LIBRARY_MEDIA_TYPE, "library")?.ok_or_else(|| not_kure("it has no library layer"))?;
    let signature = one(SIGNATURE_MEDIA_TYPE, "signature")?.ok_or_else(|| {
        registry_err(format!(
            "{}: the artifact has no signature layer, so its library cannot be trusted; push it again with its .sig (`kure plugins push LIB --sig LIB.sig ...`)",
            s.what
        ))
    })?;
    if let Some(sha) = library_sha256 {
        if library.digest != format!("sha256:{sha}") {
            return Err(registry_err(format!(
                "{}: its library is {}, but the lock pins sha256:{}; nothing was downloaded",
                s.what,
                crate::util::shown(&library.digest),
                crate::util::shown(sha)
            )));
        }
    }
    let config_bytes = fetch(&s, reference, &image.config, MAX_CONFIG_BYTES, None)?;
    let config: PluginConfig = serde_json::from_slice(&config_bytes)
        .map_err(|e| not_kure(&format!("its config does not read: {e}")))?;
    if !crate::util::valid_plugin_name(&config.name) {
        return Err(not_kure(&format!(
            "its config names the plugin `{}`, which is not a plugin name",
            crate::util::shown(&config.name)
        )));
    }
    let lib_path = staging.join(format!("lib{}.so", config.name.replace('-', "_")));
    let sig_path = crate::trust::signature_path(&lib_path);
    fetch(
        &s,
        reference,
        library,
        crate::plugin::MAX_LIBRARY_BYTES,
        Some(&lib_path),
    )?;
    let sig = fetch(&s, reference, signature, MAX_SIGNATURE_BYTES, None)?;
    std::fs::write(&sig_path, sig).map_err(|e| Error::io(&sig_path, e))?;
    Ok(Pulled {
        library: lib_path,
        signature: sig_path,
        config,
        manifest_digest: image_digest,
        source: reference.text.clone(),
    })
}

/// One platform's build in a registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Build {
    /// The digest of its image manifest.
    pub digest: String,
    /// The sha256 of its library (hex).
    pub sha256: String,
}

/// The most platforms `builds` reads from one index.
const MAX_PLATFORMS: usize = 32;

/// Every platform's build the artifact `reference` names (its index): per platform
/// (`linux/amd64`), the image manifest digest and the library's sha256, which is the library
/// layer's digest. Reads manifests only, no library.
pub fn builds(
    reference: &OciRef,
    opts: &RegistryOptions,
) -> Result<BTreeMap<String, Build>, Error> {
    let s = Session::new(reference, opts)?;
    let (bytes, digest) = s.run(
        "reading the index",
        s.client
            .pull_manifest_raw(&reference.reference, &s.auth, &[OCI_IMAGE_INDEX_MEDIA_TYPE]),
    )?;
    check_manifest(&s, &bytes, &digest, reference.reference.digest())?;
    let Ok(OciManifest::ImageIndex(index)) = serde_json::from_slice::<OciManifest>(&bytes) else {
        return Err(registry_err(format!(
            "{}: not an index of platforms",
            s.what
        )));
    };
    let mut out = BTreeMap::new();
    for entry in index.manifests.iter().take(MAX_PLATFORMS) {
        let Some(p) = &entry.platform else { continue };
        let Ok(platform) = Platform::parse(&platform_name(p)) else {
            continue;
        };
        let (bytes, digest) = s.platform_manifest(reference, entry)?;
        let Ok(OciManifest::Image(m)) = serde_json::from_slice::<OciManifest>(&bytes) else {
            continue;
        };
        let libs: Vec<&OciDescriptor> = m
            .layers
            .iter()
            .filter(|l| l.media_type == LIBRARY_MEDIA_TYPE)
            .collect();
        let [lib] = libs.as_slice() else { continue };
        let Some(sha) = lib
            .digest
            .strip_prefix("sha256:")
            .filter(|h| crate::store::is_hex(h, 64))
        else {
            continue;
        };
        out.insert(
            platform.to_string(),
            Build {
                digest,
                sha256: sha.to_owned(),
            },
        );
    }
    Ok(out)
}

/// Refuses a manifest that is too large or is not what its digest says.
fn check_manifest(
    s: &Session,
    bytes: &[u8],
    digest: &str,
    wanted: Option<&str>,
) -> Result<(), Error> {
    if bytes.len() > MAX_MANIFEST_BYTES {
        return Err(registry_err(format!(
            "{}: the registry sent a manifest of {} bytes (at most {MAX_MANIFEST_BYTES})",
            s.what,
            bytes.len()
        )));
    }
    let actual = sha256_digest(bytes);
    for expected in [Some(digest), wanted].into_iter().flatten() {
        if expected != actual {
            return Err(registry_err(format!(
                "{}: the registry sent a manifest whose digest is {actual}, not {}; nothing was installed",
                s.what,
                crate::util::shown(expected)
            )));
        }
    }
    Ok(())
}

/// Downloads the blob `d` (at most `max` bytes, and no more than it says), checked against its
/// digest: into `to`, or returned.
fn fetch(
    s: &Session,
    reference: &OciRef,
    d: &OciDescriptor,
    max: u64,
    to: Option<&Path>,
) -> Result<Vec<u8>, Error> {
    let size = u64::try_from(d.size).unwrap_or(u64::MAX);
    if size > max {
        return Err(registry_err(format!(
            "{}: a layer of {size} bytes ({}) is larger than kure accepts ({max})",
            s.what,
            crate::util::shown(&d.media_type)
        )));
    }
    let mut sink = Capped {
        file: match to {
            Some(p) => Some(std::fs::File::create(p).map_err(|e| Error::io(p, e))?),
            None => None,
        },
        bytes: Vec::new(),
        written: 0,
        cap: size,
    };
    // By digest alone: a descriptor's `urls` (other hosts to fetch from) are not followed.
    s.run(
        &format!("downloading {}", crate::util::shown(&d.media_type)),
        s.client
            .pull_blob(&reference.reference, d.digest.as_str(), &mut sink),
    )
    .map_err(|e| match e {
        Error::Registry(m) if m.contains("Digest") || m.contains("digest") => {
            registry_err(format!(
            "{m}; the registry sent other bytes than the artifact names, and nothing was installed"
        ))
        }
        other => other,
    })?;
    if sink.written != size {
        return Err(registry_err(format!(
            "{}: the registry sent {} bytes of a {size}-byte layer; nothing was installed",
            s.what, sink.written
        )));
    }
    Ok(sink.bytes)
}

/// A download target that refuses bytes past the size the descriptor gave.
struct Capped {
    file: Option<std::fs::File>,
    bytes: Vec<u8>,
    written: u64,
    cap: u64,
}

impl tokio::io::AsyncWrite for Capped {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        if this.written + buf.len() as u64 > this.cap {
            return Poll::Ready(Err(std::io::Error::other(format!(
                "the registry sent more than the layer's {} bytes",
                this.cap
            ))));
        }
        match &mut this.file {
            Some(f) => f.write_all(buf)?,
            None => this.bytes.extend_from_slice(buf),
        }
        this.written += buf.len() as u64;
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        if let Some(f) = &mut this.file {
            f.flush()?;
        }
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.poll_flush(cx)
    }
}

#[cfg(test)]
mod tests {
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
        match credentials("localhost:5000", Some(&cfg)).expect("read") {
            RegistryAuth::Basic(u, p) => assert_eq!((u.as_str(), p.as_str()), ("user", "pass")),
            _ => panic!("not basic auth"),
        }
        assert!(matches!(
            credentials("ghcr.io", Some(&cfg)).expect("read"),
            RegistryAuth::Anonymous
        ));
        std::fs::write(&cfg, r#"{"auths":{"localhost:5000":{"auth":"%%%"}}}"#).expect("write");
        let e = credentials("localhost:5000", Some(&cfg)).expect_err("bad base64");
        assert!(e.to_string().contains("not base64"), "{e}");
    }
}
