//! Plugin indexes (`kure plugins index add|list|remove`, `kure plugins search`): YAML files,
//! local or served over HTTP(S), that say which plugins exist, where their artifacts are and
//! which versions they have. (Named `catalog` here: the store's own `index.json` is the list of
//! installed plugins.)
//!
//! An index is untrusted input. Every entry is checked before it is shown or used: names are
//! plugin names, versions are semantic versions, sources are OCI repositories, GVKs are GVKs,
//! and the text is shown escaped. An index never decides trust: what it points at is installed
//! with every usual check, the signature by a trusted key first.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::model::error::Error;
use crate::store::registry::{pull_index, push_index, OciRef, RegistryOptions};

/// The largest index read.
const MAX_INDEX_BYTES: u64 = 4 << 20;
/// The most entries one index may have.
const MAX_ENTRIES: usize = 10_000;

/// Where the configured indexes are listed: `$KURE_HOME/indexes.yaml`.
pub fn indexes_file(home: &Path) -> PathBuf {
    home.join("indexes.yaml")
}

/// One configured index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IndexSource {
    /// Its name (a plugin-name-like word).
    pub name: String,
    /// A local path or an `https://` (or, on this machine, `http://`) URL.
    pub location: String,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct IndexesDoc {
    #[serde(default)]
    indexes: Vec<IndexSource>,
}

/// One plugin an index lists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogEntry {
    /// Plugin name.
    pub name: String,
    /// One line about it.
    #[serde(default)]
    pub description: String,
    /// The OCI repository its versions are tags of: `oci://REGISTRY/REPOSITORY`.
    pub source: String,
    /// Its versions (semantic versions, each a tag of `source`).
    pub versions: Vec<String>,
    /// `apiVersion/Kind` of its generators.
    #[serde(default)]
    pub gvks: Vec<String>,
}

impl CatalogEntry {
    /// The highest version.
    pub fn latest(&self) -> Option<&str> {
        self.versions
            .iter()
            .filter_map(|v| semver::Version::parse(v).ok().map(|p| (p, v)))
            .max_by(|a, b| a.0.cmp(&b.0))
            .map(|(_, v)| v.as_str())
    }

    /// `oci://REGISTRY/REPOSITORY:VERSION`.
    pub fn reference(&self, version: &str) -> String {
        format!("{}:{version}", self.source)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct CatalogDoc {
    api_version: String,
    kind: String,
    #[serde(default)]
    plugins: Vec<CatalogEntry>,
}

/// The configured indexes.
pub fn list(home: &Path) -> Result<Vec<IndexSource>, Error> {
    let path = indexes_file(home);
    match crate::input::read_small_text(&path) {
        Ok(text) => yaml_serde::from_str::<IndexesDoc>(&text)
            .map(|d| d.indexes)
            .map_err(|e| Error::Config {
                path,
                reason: format!("not a list of plugin indexes ({e}); fix or delete it"),
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(Error::io(&path, e)),
    }
}

fn save(home: &Path, indexes: Vec<IndexSource>) -> Result<(), Error> {
    let path = indexes_file(home);
    std::fs::create_dir_all(home).map_err(|e| Error::io(home, e))?;
    let text =
        yaml_serde::to_string(&IndexesDoc { indexes }).map_err(|e| Error::Store(e.to_string()))?;
    crate::util::write_atomic(&path, text.as_bytes()).map_err(|e| Error::io(&path, e))
}

/// Adds index `name` at `location` after reading it once (a bad index is refused now, not at
/// the next search). Returns how many plugins it lists.
pub fn add(
    home: &Path,
    name: &str,
    location: &str,
    opts: &RegistryOptions,
) -> Result<usize, Error> {
    if !crate::util::valid_plugin_name(name) {
        return Err(Error::Store(format!(
            "`{}` is not an index name: letters, digits, `-` and `_`",
            crate::util::shown(name)
        )));
    }
    let location = if is_url(location) || OciRef::is_oci(location) {
        location.to_owned()
    } else {
        crate::ops::session::absolute(Path::new(location))
            .display()
            .to_string()
    };
    let entries = read(&location, opts)?;
    let mut all = list(home)?;
    if all.iter().any(|i| i.name == name) {
        return Err(Error::Store(format!(
            "an index named `{name}` is already configured; remove it first (`kure plugins index remove {name}`)"
        )));
    }
    all.push(IndexSource {
        name: name.to_owned(),
        location,
    });
    save(home, all)?;
    Ok(entries.len())
}

/// Removes index `name`.
pub fn remove(home: &Path, name: &str) -> Result<IndexSource, Error> {
    let mut all = list(home)?;
    let Some(i) = all.iter().position(|s| s.name == name) else {
        return Err(Error::Store(format!(
            "no index named `{}`; see `kure plugins index list`",
            crate::util::shown(name)
        )));
    };
    let removed = all.remove(i);
    save(home, all)?;
    Ok(removed)
}

/// What every configured index lists: (index name, entry) pairs, and the indexes that could
/// not be read.
pub type Listed = (Vec<(String, CatalogEntry)>, Vec<String>);

/// Every configured index read: (index name, entry) for each entry, and a sentence for each
/// index that could not be read (the others are still used). No index configured is an error
/// saying how to add one.
pub fn read_all(home: &Path, opts: &RegistryOptions) -> Result<Listed, Error> {
    let indexes = list(home)?;
    if indexes.is_empty() {
        return Err(Error::Store(
            "no plugin index is configured; add one with `kure plugins index add NAME URL|PATH|oci://...`"
                .to_owned(),
        ));
    }
    let mut entries = Vec::new();
    let mut unreadable = Vec::new();
    for index in indexes {
        match read(&index.location, opts) {
            Ok(found) => entries.extend(found.into_iter().map(|e| (index.name.clone(), e))),
            Err(e) => unreadable.push(format!("skipped index {}: {e}", index.name)),
        }
    }
    Ok((entries, unreadable))
}

/// Publishes the index file `path` (read and checked as [`read`] reads any index first) as
/// the OCI artifact `reference`; returns how many plugins it lists and the manifest digest.
pub fn push(
    path: &Path,
    reference: &str,
    opts: &RegistryOptions,
) -> Result<(usize, String), Error> {
    let reference = OciRef::parse(reference)?;
    let location = path.display().to_string();
    let entries = read(&location, opts)?;
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let digest = push_index(&reference, bytes, opts)?;
    Ok((entries.len(), digest))
}

fn is_url(s: &str) -> bool {
    s.starts_with("https://") || s.starts_with("http://")
}

/// The entries of the index at `location` (a path, an HTTPS URL, or an OCI artifact pushed
/// with [`push`]), each checked.
pub fn read(location: &str, opts: &RegistryOptions) -> Result<Vec<CatalogEntry>, Error> {
    let shown = crate::util::shown(location);
    let text = if is_url(location) {
        fetch(location, opts.timeout)?
    } else if OciRef::is_oci(location) {
        let bytes = pull_index(&OciRef::parse(location)?, MAX_INDEX_BYTES, opts)?;
        String::from_utf8(bytes)
            .map_err(|_| Error::Store(format!("index {shown} is not UTF-8 text")))?
    } else {
        let path = Path::new(location);
        let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
        if meta.len() > MAX_INDEX_BYTES {
            return Err(Error::Store(format!(
                "index {shown} is larger than {MAX_INDEX_BYTES} bytes"
            )));
        }
        crate::input::read_small_text(path).map_err(|e| Error::io(path, e))?
    };
    parse(&text, &shown)
}

/// The entries of index text read from `shown` (for messages), each checked.
fn parse(text: &str, shown: &str) -> Result<Vec<CatalogEntry>, Error> {
    let doc: CatalogDoc = yaml_serde::from_str(text).map_err(|e| {
        Error::Store(format!(
            "index {shown} is not a plugin index ({}); it must be `apiVersion: kure.dev/v1`, `kind: PluginIndex`, `plugins: [...]`",
            crate::util::shown_message(&e.to_string())
        ))
    })?;
    if doc.api_version != "kure.dev/v1" || doc.kind != "PluginIndex" {
        return Err(Error::Store(format!(
            "index {shown} is `{}`/`{}`, not kure.dev/v1 PluginIndex",
            crate::util::shown(&doc.api_version),
            crate::util::shown(&doc.kind)
        )));
    }
    if doc.plugins.len() > MAX_ENTRIES {
        return Err(Error::Store(format!(
            "index {shown} lists {} plugins (at most {MAX_ENTRIES})",
            doc.plugins.len()
        )));
    }
    for (i, e) in doc.plugins.iter().enumerate() {
        check_entry(e).map_err(|why| {
            Error::Store(format!(
                "index {shown}: plugin #{} (`{}`) {why}; nothing was used from this index",
                i + 1,
                crate::util::shown(&e.name)
            ))
        })?;
    }
    Ok(doc.plugins)
}

fn check_entry(e: &CatalogEntry) -> Result<(), String> {
    if !crate::util::valid_plugin_name(&e.name) {
        return Err("has a name that is not a plugin name".to_owned());
    }
    if e.source.starts_with("oci://")
        && (e.source.contains('@') || e.source.rsplit('/').next().is_some_and(|r| r.contains(':')))
    {
        return Err("has a source with a tag or digest; versions are its tags".to_owned());
    }
    crate::store::registry::OciRef::parse(&format!("{}:0", e.source))
        .map_err(|_| "has a source that is not oci://REGISTRY/REPOSITORY (without a tag)")?;
    if e.versions.is_empty() {
        return Err("lists no versions".to_owned());
    }
    for v in &e.versions {
        if semver::Version::parse(v).is_err() || !crate::store::valid_version(v) {
            return Err(format!(
                "has version `{}`, which is not a semantic version",
                crate::util::shown(v)
            ));
        }
    }
    for g in &e.gvks {
        let ok = g.rsplit_once('/').is_some_and(|(av, kind)| {
            crate::model::gvk::Gvk::parse(av, kind).is_ok_and(|p| p.api_version() == av)
        });
        if !ok {
            return Err(format!(
                "lists `{}`, which is not apiVersion/Kind",
                crate::util::shown(g)
            ));
        }
    }
    if e.description.len() > 1000 {
        return Err("has a description longer than 1,000 bytes".to_owned());
    }
    Ok(())
}

/// GETs `url` (HTTPS; plain HTTP only for this machine), at most [`MAX_INDEX_BYTES`].
fn fetch(url: &str, timeout: Duration) -> Result<String, Error> {
    let shown = crate::util::shown(url);
    if let Some(rest) = url.strip_prefix("http://") {
        let host = rest.split(['/', '?', '#']).next().unwrap_or("");
        if !crate::store::registry::is_local(host) {
            return Err(Error::Store(format!(
                "index {shown}: plain HTTP only for an index on this machine; use https://"
            )));
        }
    }
    let runtime = crate::store::registry::network_runtime()?;
    let failed =
        |e: String| Error::Store(format!("index {shown}: {}", crate::util::shown_message(&e)));
    runtime.block_on(async {
        let mut builder = reqwest::Client::builder()
            .timeout(timeout.saturating_mul(2))
            .connect_timeout(timeout);
        if url.starts_with("http://") {
            // Plain HTTP stays on this machine, never through a proxy.
            builder = builder.no_proxy();
        }
        let client = builder.build().map_err(|e| failed(e.to_string()))?;
        let mut response = client
            .get(url)
            .send()
            .await
            .map_err(|e| failed(e.to_string()))?;
        if !response.status().is_success() {
            return Err(failed(format!("the server answered {}", response.status())));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| failed(e.to_string()))? {
            body.extend_from_slice(&chunk);
            if body.len() as u64 > MAX_INDEX_BYTES {
                return Err(failed(format!("larger than {MAX_INDEX_BYTES} bytes")));
            }
        }
        String::from_utf8(body).map_err(|_| failed("not UTF-8".to_owned()))
    })
}
