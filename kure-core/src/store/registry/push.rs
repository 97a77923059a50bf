//! Publishing an artifact: the layers, this platform's manifest, the index.

use super::*;

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
    let (manifest_json, manifest_digest) = push_image(
        &s,
        reference,
        &config,
        &layers,
        CONFIG_MEDIA_TYPE,
        false,
        "pushing the library and its signature",
    )?;
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

/// Pushes the blobs of an image manifest of `layers` and `config` (artifact type
/// `artifact_type`), then the manifest as kure's own bytes (so its digest is the one computed
/// here): under the reference's tag when `tagged`, else under its digest. Returns the
/// manifest's JSON and digest.
pub(super) fn push_image(
    s: &Session,
    reference: &OciRef,
    config: &Config,
    layers: &[ImageLayer],
    artifact_type: &str,
    tagged: bool,
    doing: &str,
) -> Result<(Vec<u8>, String), Error> {
    let mut manifest = OciImageManifest::build(layers, config, None);
    manifest.artifact_type = Some(artifact_type.to_owned());
    let manifest_json =
        serde_json::to_vec(&manifest).map_err(|e| registry_err(format!("manifest: {e}")))?;
    let digest = sha256_digest(&manifest_json);
    let by_digest = reference.with_digest(&digest);
    let target = if tagged {
        &reference.reference
    } else {
        &by_digest
    };
    s.run(doing, async {
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
                target,
                manifest_json.clone(),
                http::HeaderValue::from_static(OCI_IMAGE_MEDIA_TYPE),
            )
            .await
    })?;
    Ok((manifest_json, digest))
}

pub(super) fn sha256_digest(bytes: &[u8]) -> String {
    format!(
        "sha256:{}",
        crate::trust::digest_hex(&sha2::Sha256::digest(bytes).into())
    )
}
