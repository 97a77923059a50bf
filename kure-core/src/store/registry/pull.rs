//! Reading an artifact: this platform's build staged, or every platform's build listed.

use super::push::sha256_digest;
use super::*;

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
    let (bytes, digest) = checked_manifest(
        &s,
        reference,
        &[OCI_IMAGE_INDEX_MEDIA_TYPE, OCI_IMAGE_MEDIA_TYPE],
    )?;
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

/// The manifest `reference` names (one of the media types `accept`), refused when it is too
/// large or is not what its digest says: its bytes and digest.
pub(super) fn checked_manifest(
    s: &Session,
    reference: &OciRef,
    accept: &[&str],
) -> Result<(Vec<u8>, String), Error> {
    let (bytes, digest) = s.run(
        "reading the manifest",
        s.client
            .pull_manifest_raw(&reference.reference, &s.auth, accept),
    )?;
    check_manifest(s, &bytes, &digest, reference.reference.digest())?;
    Ok((bytes.to_vec(), digest))
}

/// Refuses a manifest that is too large or is not what its digest says.
pub(super) fn check_manifest(
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
pub(super) fn fetch(
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
