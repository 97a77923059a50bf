//! The store's commands that need no plugin code: `kure plugins list`, `info`, `uninstall`,
//! and `rebuild-index` (which inspects each library in a sandboxed worker).

use std::path::PathBuf;

use crate::model::error::Error;
use crate::ops::session::Session;
use crate::plugin::isolation::{Isolation, Source};
use crate::store::{Index, IndexEntry, Metadata, Status};

/// One installed plugin as `kure plugins list` shows it.
#[derive(Debug, Clone)]
pub struct Listed {
    /// What the index records.
    pub entry: IndexEntry,
    /// Whether its library is still the bytes installed.
    pub status: Status,
    /// Where it would run.
    pub isolation: Isolation,
}

/// What `kure plugins list` shows.
#[derive(Debug, Clone)]
pub struct Listing {
    /// Every installed plugin, in the index's order.
    pub plugins: Vec<Listed>,
    /// Leftovers of interrupted operations, never loaded.
    pub orphans: Vec<PathBuf>,
}

/// The installed plugins (from the index; no library is loaded).
pub fn list(session: &Session) -> Result<Listing, Error> {
    let isolation = session.isolation_policy()?;
    let store = session.store();
    let index = store.read_index()?;
    let orphans = store.orphans()?;
    let plugins = index
        .plugins
        .into_iter()
        .map(|entry| Listed {
            status: store.status(&entry),
            isolation: isolation.requested(&entry.name).0,
            entry,
        })
        .collect();
    Ok(Listing { plugins, orphans })
}

/// Everything recorded about one installed plugin.
#[derive(Debug, Clone)]
pub struct Info {
    /// What the index records.
    pub entry: IndexEntry,
    /// Its metadata: GVKs, schemas, documentation.
    pub metadata: Metadata,
    /// Whether its library is still the bytes installed.
    pub status: Status,
    /// The library's path in the store.
    pub library: PathBuf,
    /// Where it would run.
    pub isolation: Isolation,
    /// Who chose that, in words (`the default`, `--isolation process ...`).
    pub isolation_from: String,
    /// Installed plugins that require it (`name@version`).
    pub required_by: Vec<String>,
}

/// What the store records about plugin `name`.
pub fn info(session: &Session, name: &str) -> Result<Info, Error> {
    let (isolation, source) = session.isolation_policy()?.requested(name);
    let store = session.store();
    let index = store.read_index()?;
    let required_by = index
        .plugins
        .iter()
        .filter(|o| o.requires.plugins.iter().any(|r| r.name == name))
        .map(|o| format!("{}@{}", o.name, o.version))
        .collect();
    let entry = index
        .plugins
        .into_iter()
        .find(|e| e.name == name)
        .ok_or_else(|| {
            Error::Store(format!(
                "no installed plugin named `{}`; see `kure plugins list`",
                crate::util::shown(name)
            ))
        })?;
    Ok(Info {
        status: store.status(&entry),
        metadata: store.metadata(&entry)?,
        library: store.library_path(&entry),
        isolation,
        isolation_from: match source {
            Source::Default => "the default".to_owned(),
            Source::PerPlugin => format!("`plugins: {{{name}: ...}}` in config.yaml"),
            Source::Global(from) => from,
        },
        required_by,
        entry,
    })
}

/// Removes plugins `names` from the store in one transaction; what it removed.
pub fn uninstall(session: &Session, names: &[String]) -> Result<Vec<IndexEntry>, Error> {
    session.store().uninstall_all(names)
}

/// Rebuilds the store's index from its libraries, each verified and inspected in a
/// sandboxed worker.
pub fn rebuild_index(session: &Session) -> Result<Index, Error> {
    session
        .store()
        .rebuild_index(&session.trust()?, &session.worker()?)
}
