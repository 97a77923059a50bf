//! The plugin store: `$KURE_HOME/plugins/<name>/<version>/<sha256 prefix>/<library>` (+ `.sig`
//! and `metadata.json`) and an index recording what each plugin provides, so `list`, `info`,
//! `schema`, `explain` and `validate` never load a library. The store is not a plugin
//! directory: installed plugins load only through the index.
//!
//! - Every name and version read from the index becomes part of a path only after the same
//!   checks as at install ([`Store::read_index`] refuses an index with a bad entry), and every
//!   store path comes from [`Store::library_path`] / [`Store::entry_dir`].
//! - Every change happens under an exclusive lock on `plugins/.lock`. New files are staged in
//!   a hidden directory, fsynced, moved to their own content-addressed directory (so no
//!   directory the index refers to is ever rewritten), and the index is replaced by rename
//!   last: the index swap is the commit point. A `kill -9` anywhere leaves the old index
//!   valid, plus at most an orphan: a directory the index does not refer to.
//! - Orphans are reported by `plugins list` and removed by the next install or uninstall.
//!   `rebuild-index` trusts no index: it registers the newest version of each plugin that
//!   verifies, then removes the rest (staging directories and older versions).

pub mod catalog;
pub mod lockfile;
pub mod registry;
pub mod requires;
mod transaction;

use std::collections::BTreeSet;
use std::fs::File;
use std::path::{Path, PathBuf};

use kure_plugin_api::abi::Requires;
use kure_plugin_api::sdk::Documentation;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::model::error::Error;
use crate::model::gvk::Gvk;
use crate::plugin::process::{WorkerOptions, WorkerPlugin};
use crate::trust::{signature_path, TrustPolicy};

/// Index format version.
const INDEX_VERSION: u32 = 1;

/// The index file.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Index {
    /// Format version.
    pub version: u32,
    /// Installed plugins, by name.
    pub plugins: Vec<IndexEntry>,
}

/// One installed plugin.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IndexEntry {
    /// Plugin name.
    pub name: String,
    /// Plugin version.
    pub version: String,
    /// Description.
    pub description: String,
    /// Author.
    pub author: String,
    /// The library, relative to the plugins directory.
    pub library: PathBuf,
    /// SHA-256 of the library, hex.
    pub sha256: String,
    /// Signer fingerprint, or `unsigned`.
    pub signer: String,
    /// What it provides. Schemas and documentation are in the plugin's `metadata.json`, so
    /// that `generate` reads a small index however many plugins are installed.
    pub gvks: Vec<GvkRef>,
    /// When it was installed (UTC, RFC 3339).
    pub installed_at: String,
    /// The registry reference it was installed from (`oci://...`), when it came from one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// The digest of the image manifest installed (this platform's), with `source`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// What the plugin declares it needs (kure-plugin-api 1.4).
    #[serde(default, skip_serializing_if = "Requires::is_empty")]
    pub requires: Requires,
}

/// A GVK in the index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GvkRef {
    /// `group/version`.
    pub api_version: String,
    /// Kind.
    pub kind: String,
}

/// `<name>/<version>/metadata.json`: what `schema`, `explain`, `validate` and `info` read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Metadata {
    /// Schema and documentation per GVK.
    pub gvks: Vec<IndexedGvk>,
}

/// A GVK with what `schema` and `explain` show.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IndexedGvk {
    /// `group/version`.
    pub api_version: String,
    /// Kind.
    pub kind: String,
    /// JSON Schema of the spec.
    pub schema: Value,
    /// Documentation, examples and usage guide.
    pub documentation: Documentation,
}

impl IndexEntry {
    /// The GVKs as parsed values.
    pub fn parsed_gvks(&self) -> Vec<Gvk> {
        self.gvks
            .iter()
            .filter_map(|g| Gvk::parse(&g.api_version, &g.kind).ok())
            .collect()
    }
}

/// What [`Store::commit_install`] writes: a verified library and what its worker reported.
#[derive(Debug)]
pub struct Staged<'a> {
    /// The library as the user named it (for messages).
    pub library: &'a Path,
    /// Its file name in the store.
    pub file_name: String,
    /// The verified bytes.
    pub bytes: &'a [u8],
    /// Its signature, if it has one.
    pub sig_bytes: Option<Vec<u8>>,
    /// The index entry.
    pub entry: IndexEntry,
    /// What `metadata.json` holds.
    pub metadata: Metadata,
}

/// What installing did.
#[derive(Debug, Clone, PartialEq)]
pub enum InstallOutcome {
    /// Newly installed (or a new version replacing `replaced`).
    Installed {
        /// The new entry.
        entry: IndexEntry,
        /// Entries removed: older versions and, with `--replace`, conflicting plugins.
        replaced: Vec<String>,
    },
    /// The same version with the same bytes was installed already.
    AlreadyInstalled(IndexEntry),
}

/// The state of an installed library compared with its index entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Library present with the recorded hash.
    Ok,
    /// Library present, hash differs: `generate` refuses it.
    Modified,
    /// Library missing.
    Missing,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Status::Ok => "ok",
            Status::Modified => "modified",
            Status::Missing => "missing",
        })
    }
}

/// The store under a KURE_HOME.
#[derive(Debug, Clone)]
pub struct Store {
    home: PathBuf,
}

pub(crate) fn store_err(msg: String) -> Error {
    Error::Store(msg)
}

/// The directory name of a library's content: the first 16 hex digits of its SHA-256.
pub(crate) fn content_dir(sha256: &str) -> &str {
    &sha256[..16.min(sha256.len())]
}

pub(crate) fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Parses an index read from `path`, checking every entry with install's rules (a name, a
/// path-safe version, the store's layout, a sha256, no name twice) before any of it becomes
/// part of a path.
pub(crate) fn parse_index(bytes: &[u8], path: &Path) -> Result<Index, Error> {
    let index = serde_json::from_slice::<Index>(bytes)
            .ok()
            .filter(|i| i.version == INDEX_VERSION)
            .ok_or_else(|| {
                store_err(format!(
                    "the plugin index {} is corrupted or from another kure version; rebuild it from the installed libraries with `kure plugins rebuild-index`",
                    path.display()
                ))
            })?;
    let mut names = BTreeSet::new();
    for e in &index.plugins {
        let bad = check_entry(e).err().or_else(|| {
            (!names.insert(e.name.as_str())).then(|| format!("plugin {} is listed twice", e.name))
        });
        if let Some(reason) = bad {
            return Err(store_err(format!(
                    "the plugin index {} is invalid: {reason}; nothing was read from it. Rebuild it from the installed libraries with `kure plugins rebuild-index`",
                    path.display()
                )));
        }
    }
    Ok(index)
}

/// Checks everything of an index entry that becomes part of a path, with the rules of
/// install: a plugin name, a path-safe version, a library at `<name>/<version>/<sha prefix>/`
/// (or `<name>/<version>/` as older kure wrote it) with a plain library file name, and a
/// SHA-256.
fn check_entry(e: &IndexEntry) -> Result<(), String> {
    use std::path::Component;
    if !crate::util::valid_plugin_name(&e.name) {
        return Err(format!(
            "`{}` is not a plugin name",
            crate::util::shown(&e.name)
        ));
    }
    if !valid_version(&e.version) {
        return Err(format!(
            "plugin {}: `{}` is not a usable version",
            e.name,
            crate::util::shown(&e.version)
        ));
    }
    if !is_hex(&e.sha256, 64) {
        return Err(format!(
            "plugin {}: the sha256 is not 64 hex digits",
            e.name
        ));
    }
    crate::plugin::requires::check_declared(&e.requires)
        .map_err(|why| format!("plugin {} {why}", e.name))?;
    let parts: Vec<&str> = e
        .library
        .components()
        .map(|c| match c {
            Component::Normal(n) => n.to_str().unwrap_or("/"),
            _ => "/",
        })
        .collect();
    let file = parts.last().copied().unwrap_or("/");
    let layout = match parts.as_slice() {
        [n, v, _] => *n == e.name && *v == e.version,
        [n, v, c, _] => *n == e.name && *v == e.version && *c == content_dir(&e.sha256),
        _ => false,
    };
    let file_ok = !file.starts_with('.')
        && !file.contains(['/', '\\'])
        && matches!(
            Path::new(file).extension().and_then(|x| x.to_str()),
            Some("so" | "dylib" | "dll")
        );
    if !layout || !file_ok {
        return Err(format!(
            "plugin {}: library `{}` is not inside the store's {}/{}/",
            e.name,
            crate::util::shown(&e.library.display().to_string()),
            e.name,
            e.version
        ));
    }
    Ok(())
}

pub(crate) fn valid_version(v: &str) -> bool {
    !v.is_empty()
        && v.len() <= 64
        && v != "."
        && v != ".."
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '+' | '_'))
}

/// Everything the index records of a plugin, asked of it in a sandboxed worker; the worker
/// is ended afterwards.
fn entry_from_plugin(
    p: &std::sync::Arc<WorkerPlugin>,
    library: PathBuf,
) -> Result<(IndexEntry, Metadata), Error> {
    let result = entry_from_worker(p, library);
    let shutdown = p.shutdown();
    let (entry, metadata) = result?;
    shutdown.map_err(|e| {
        store_err(format!(
            "{}; nothing was installed",
            crate::util::shown_message(&e.message)
        ))
    })?;
    Ok((entry, metadata))
}

pub(crate) fn entry_from_worker(
    p: &std::sync::Arc<WorkerPlugin>,
    library: PathBuf,
) -> Result<(IndexEntry, Metadata), Error> {
    let gvks: Vec<IndexedGvk> = p
        .generators()
        .iter()
        .map(|g| {
            let failed = |what: &str, e: kure_plugin_api::abi::ErrorPayload| {
                store_err(format!(
                    "plugin {}@{} ({}) could not give the {what} of {}/{}: {}; nothing was installed",
                    p.name,
                    p.version,
                    p.path.display(),
                    g.api_version(),
                    g.kind(),
                    crate::util::shown_message(&e.message)
                ))
            };
            Ok(IndexedGvk {
                api_version: g.api_version().to_owned(),
                kind: g.kind().to_owned(),
                schema: g.json_schema().map_err(|e| failed("JSON Schema", e))?,
                documentation: g.documentation().map_err(|e| failed("documentation", e))?,
            })
        })
        .collect::<Result<_, Error>>()?;
    let entry = IndexEntry {
        name: p.name.clone(),
        version: p.version.clone(),
        description: p.description.clone(),
        author: p.author.clone(),
        library,
        sha256: p.sha256.clone(),
        signer: p.admission.signer().to_owned(),
        gvks: gvks
            .iter()
            .map(|g| GvkRef {
                api_version: g.api_version.clone(),
                kind: g.kind.clone(),
            })
            .collect(),
        installed_at: crate::util::now_rfc3339(),
        source: None,
        digest: None,
        requires: p.abi_info.requires.clone(),
    };
    Ok((entry, Metadata { gvks }))
}

impl Store {
    /// The store of `home` (`KURE_HOME`).
    pub fn new(home: impl Into<PathBuf>) -> Self {
        Self { home: home.into() }
    }

    /// `<home>/plugins`.
    pub fn plugins_dir(&self) -> PathBuf {
        self.home.join("plugins")
    }

    /// `<home>/plugins/index.json`.
    pub fn index_path(&self) -> PathBuf {
        self.plugins_dir().join("index.json")
    }

    /// The absolute path of an entry's library. Entries come from [`Self::read_index`] or
    /// from install, both of which checked their paths (`check_entry`).
    pub fn library_path(&self, e: &IndexEntry) -> PathBuf {
        self.plugins_dir().join(&e.library)
    }

    /// The directory of an entry: its library, signature and `metadata.json`.
    pub fn entry_dir(&self, e: &IndexEntry) -> PathBuf {
        let lib = self.library_path(e);
        lib.parent()
            .map_or_else(|| self.plugins_dir(), Path::to_path_buf)
    }

    /// Reads the index; a missing index is empty.
    pub fn read_index(&self) -> Result<Index, Error> {
        let path = self.index_path();
        match crate::input::read_small(&path) {
            Ok(bytes) => parse_index(&bytes, &path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Index {
                version: INDEX_VERSION,
                plugins: Vec::new(),
            }),
            Err(e) => Err(Error::io(path, e)),
        }
    }

    fn write_index(&self, index: &Index) -> Result<(), Error> {
        let path = self.index_path();
        let tmp = self
            .plugins_dir()
            .join(format!(".index.json.tmp-{}", std::process::id()));
        let json = serde_json::to_vec_pretty(index).map_err(|e| store_err(e.to_string()))?;
        let write = || -> std::io::Result<()> {
            std::fs::write(&tmp, &json)?;
            File::open(&tmp)?.sync_all()?;
            crate::plugin::killpoint::hit("store-index-written");
            std::fs::rename(&tmp, &path)?;
            sync_dir(&self.plugins_dir())
        };
        write().map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            store_err(format!(
                "cannot write the plugin index {}: {e}; nothing was changed",
                path.display()
            ))
        })
    }

    /// Takes the store's exclusive lock (released when the file is dropped).
    fn lock(&self) -> Result<File, Error> {
        let dir = self.plugins_dir();
        let fail = |e: std::io::Error| {
            store_err(format!(
                "cannot write to the plugin store {}: {e}; check its permissions (or set KURE_HOME); nothing was changed",
                dir.display()
            ))
        };
        std::fs::create_dir_all(&dir).map_err(fail)?;
        let f = self.lock_file().map_err(fail)?;
        f.lock().map_err(fail)?;
        Ok(f)
    }

    /// `plugins/.lock`, opened (created) but not locked.
    fn lock_file(&self) -> std::io::Result<File> {
        std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(self.plugins_dir().join(".lock"))
    }

    /// The status of an entry's library.
    pub fn status(&self, e: &IndexEntry) -> Status {
        match crate::trust::digest_file(&self.library_path(e)) {
            Ok(d) if crate::trust::digest_hex(&d) == e.sha256 => Status::Ok,
            Ok(_) => Status::Modified,
            Err(_) => Status::Missing,
        }
    }

    /// An entry's schemas and documentation.
    pub fn metadata(&self, e: &IndexEntry) -> Result<Metadata, Error> {
        let path = self.entry_dir(e).join("metadata.json");
        let bytes = crate::input::read_small(&path).map_err(|err| {
            store_err(format!(
                "cannot read {} ({err}); rebuild the index with `kure plugins rebuild-index`",
                path.display()
            ))
        })?;
        serde_json::from_slice(&bytes).map_err(|err| {
            store_err(format!(
                "{} is corrupted ({err}); rebuild it with `kure plugins rebuild-index`",
                path.display()
            ))
        })
    }

    /// What interrupted operations left in the store: directories and files the index does
    /// not refer to (staging directories, temporary index files, versions and contents no
    /// entry names). Empty while another kure holds the store's lock (its staging is not an
    /// orphan). Only paths of the store's own layout are ever listed; anything else is left.
    pub fn orphans(&self) -> Result<Vec<PathBuf>, Error> {
        let dir = self.plugins_dir();
        if !dir.is_dir() {
            return Ok(Vec::new());
        }
        let Ok(lock) = self.lock_file() else {
            return Ok(Vec::new());
        };
        if lock.try_lock().is_err() {
            return Ok(Vec::new());
        }
        let index = self.read_index()?;
        Ok(self.orphans_of(&index))
    }

    fn orphans_of(&self, index: &Index) -> Vec<PathBuf> {
        let dir = self.plugins_dir();
        let mut out = Vec::new();
        let list = |d: &Path| -> Vec<(String, PathBuf, bool)> {
            let mut v: Vec<(String, PathBuf, bool)> = std::fs::read_dir(d)
                .into_iter()
                .flatten()
                .flatten()
                .map(|e| {
                    let is_dir = e.file_type().is_ok_and(|t| t.is_dir());
                    (
                        e.file_name().to_string_lossy().into_owned(),
                        e.path(),
                        is_dir,
                    )
                })
                .collect();
            v.sort();
            v
        };
        let used: Vec<PathBuf> = index.plugins.iter().map(|e| self.entry_dir(e)).collect();
        for (name, path, is_dir) in list(&dir) {
            if name.starts_with(".staging-") && is_dir || name.starts_with(".index.json.tmp-") {
                out.push(path);
                continue;
            }
            // A registry download's staging directory (`.pull-<pid>-...`): left over once its
            // process is gone.
            if let Some(rest) = name.strip_prefix(".pull-") {
                let alive = rest
                    .split('-')
                    .next()
                    .and_then(|pid| pid.parse::<u32>().ok())
                    .is_some_and(|pid| Path::new("/proc").join(pid.to_string()).exists());
                if is_dir && !alive {
                    out.push(path);
                }
                continue;
            }
            if !is_dir || !crate::util::valid_plugin_name(&name) {
                continue;
            }
            for (version, vpath, vdir) in list(&path) {
                if !vdir || !valid_version(&version) {
                    continue;
                }
                if used.contains(&vpath) {
                    continue; // an entry in the older layout: the whole version directory
                }
                if !used.iter().any(|u| u.starts_with(&vpath)) {
                    out.push(vpath);
                    continue;
                }
                // In use through a content directory: other content directories, and files
                // of the older layout, are left over.
                for (content, cpath, cdir) in list(&vpath) {
                    if (!cdir || is_hex(&content, 16)) && !used.contains(&cpath) {
                        out.push(cpath);
                    }
                }
            }
        }
        out
    }

    /// Removes the orphans of `index` (the caller holds the lock), then the name and version
    /// directories that are left empty.
    fn remove_orphans(&self, index: &Index) {
        for path in self.orphans_of(index) {
            let _ = if path.is_dir() {
                std::fs::remove_dir_all(&path)
            } else {
                std::fs::remove_file(&path)
            };
            for up in path.ancestors().skip(1).take(2) {
                if up == self.plugins_dir() || std::fs::remove_dir(up).is_err() {
                    break;
                }
            }
        }
    }

    /// Rebuilds the index from the libraries under `plugins/<name>/<version>/`, verifying each
    /// and reading it in a sandboxed worker. For each plugin name the newest version that
    /// verifies is kept; everything the new index does not refer to is then removed. Returns
    /// the new index.
    pub fn rebuild_index(
        &self,
        policy: &TrustPolicy,
        worker: &WorkerOptions,
    ) -> Result<Index, Error> {
        let _lock = self.lock()?;
        let dir = self.plugins_dir();
        let mut names: Vec<PathBuf> = std::fs::read_dir(&dir)
            .map_err(|e| Error::io(&dir, e))?
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .filter(|e| crate::util::valid_plugin_name(&e.file_name().to_string_lossy()))
            .map(|e| e.path())
            .collect();
        names.sort();
        let mut chosen: std::collections::BTreeMap<
            String,
            (semver::Version, IndexEntry, Metadata),
        > = std::collections::BTreeMap::new();
        for name_dir in names {
            for lib in
                crate::plugin::discover_libraries(&crate::plugin::PluginDirs(vec![name_dir]), 2)
            {
                let plugin = std::sync::Arc::new(WorkerPlugin::spawn_file(&lib, policy, worker)?);
                let rel = lib.strip_prefix(&dir).unwrap_or(&lib).to_path_buf();
                let (entry, metadata) = entry_from_plugin(&plugin, rel)?;
                if check_entry(&entry).is_err() {
                    continue; // not where the store puts this plugin: not an entry
                }
                let Ok(version) = semver::Version::parse(&entry.version) else {
                    continue;
                };
                if chosen
                    .get(&entry.name)
                    .is_none_or(|(newest, _, _)| version > *newest)
                {
                    chosen.insert(entry.name.clone(), (version, entry, metadata));
                }
            }
        }
        let mut entries = Vec::new();
        for (_, entry, metadata) in chosen.into_values() {
            let path = self.entry_dir(&entry).join("metadata.json");
            let json =
                serde_json::to_vec_pretty(&metadata).map_err(|e| store_err(e.to_string()))?;
            let tmp = path.with_extension("json.tmp");
            write_synced(&tmp, &json)
                .and_then(|()| std::fs::rename(&tmp, &path))
                .map_err(|e| Error::io(&path, e))?;
            entries.push(entry);
        }
        let index = Index {
            version: INDEX_VERSION,
            plugins: entries,
        };
        self.write_index(&index)?;
        self.remove_orphans(&index);
        Ok(index)
    }
}

/// Writes `bytes` to a new file at `path` and fsyncs it.
fn write_synced(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut f = File::create(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

/// fsyncs a directory, so the names in it survive a crash.
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_rfc3339() {
        let t = crate::util::now_rfc3339();
        assert_eq!(t.len(), 20, "{t}");
        assert!(t.starts_with("20") && t.ends_with('Z'), "{t}");
    }

    #[test]
    fn versions_must_be_path_safe() {
        for ok in ["0.1.0", "1.0.0-rc.1+build_5"] {
            assert!(valid_version(ok), "{ok}");
        }
        for bad in ["", "..", "1/2", "a b", "../x"] {
            assert!(!valid_version(bad), "{bad}");
        }
    }

    #[test]
    fn corrupted_index_says_how_to_rebuild() {
        let tmp = tempfile::tempdir().expect("tmp");
        let store = Store::new(tmp.path());
        std::fs::create_dir_all(store.plugins_dir()).expect("mkdir");
        std::fs::write(store.index_path(), "{ not json").expect("write");
        let e = store.read_index().expect_err("corrupt");
        assert!(e.to_string().contains("kure plugins rebuild-index"), "{e}");
    }
}
