//! A plugin index (the YAML `kure plugins search` reads) as an OCI artifact: one image
//! manifest (artifact type [`INDEX_MEDIA_TYPE`]) whose one layer is the YAML, so that a team
//! serves its index from the registry that holds its plugins. The index is read as hostile as
//! from a file; only the plugins' signatures decide trust.

use super::pull::{checked_manifest, fetch};
use super::push::push_image;
use super::*;

/// The media type of the index layer, and the artifact type of its manifest.
pub const INDEX_MEDIA_TYPE: &str = "application/vnd.kure.plugin-index.v1+yaml";

/// The OCI "empty" config an artifact without a config of its own carries.
const EMPTY_CONFIG_MEDIA_TYPE: &str = "application/vnd.oci.empty.v1+json";

/// Publishes `yaml` (an index the caller checked) as the artifact `reference` names; returns
/// its manifest digest.
pub fn push_index(
    reference: &OciRef,
    yaml: Vec<u8>,
    opts: &RegistryOptions,
) -> Result<String, Error> {
    let s = Session::new(reference, opts)?;
    let config = Config::new(b"{}".to_vec(), EMPTY_CONFIG_MEDIA_TYPE.to_owned(), None);
    let layer = ImageLayer::new(yaml, INDEX_MEDIA_TYPE.to_owned(), None);
    let (_, digest) = push_image(
        &s,
        reference,
        &config,
        std::slice::from_ref(&layer),
        INDEX_MEDIA_TYPE,
        true,
        "pushing the index",
    )?;
    Ok(digest)
}

/// The YAML of the index artifact `reference` names (at most `max` bytes), checked against
/// its digests.
pub fn pull_index(reference: &OciRef, max: u64, opts: &RegistryOptions) -> Result<Vec<u8>, Error> {
    let s = Session::new(reference, opts)?;
    let (bytes, _) = checked_manifest(
        &s,
        reference,
        &[OCI_IMAGE_MEDIA_TYPE, OCI_IMAGE_INDEX_MEDIA_TYPE],
    )?;
    let not_index = |why: &str| {
        registry_err(format!(
            "{}: not a kure plugin index ({why}); publish one with `kure plugins index push FILE oci://...`",
            s.what
        ))
    };
    let image = match serde_json::from_slice::<OciManifest>(&bytes) {
        Ok(OciManifest::Image(image)) => image,
        Ok(OciManifest::ImageIndex(_)) => {
            return Err(not_index(
                "it is an index of platforms, as a plugin pushed with `kure plugins push` is",
            ))
        }
        Err(_) => return Err(not_index("its manifest is not OCI JSON")),
    };
    let layers: Vec<&OciDescriptor> = image
        .layers
        .iter()
        .filter(|l| l.media_type == INDEX_MEDIA_TYPE)
        .collect();
    let [layer] = layers.as_slice() else {
        return Err(not_index(&format!(
            "it has {} layers of type {INDEX_MEDIA_TYPE}, not one",
            layers.len()
        )));
    };
    fetch(&s, reference, layer, max, None)
}
