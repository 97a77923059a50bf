//! `kure plugins index add|list|remove|push` and `kure plugins search`: what the configured plugin
//! indexes list (see [`crate::store::catalog`]).

use crate::model::error::Error;
use crate::ops::session::Session;
use crate::store::catalog::{self, CatalogEntry, IndexSource};
use crate::store::registry::RegistryOptions;

/// One plugin a search found.
#[derive(Debug, Clone)]
pub struct Found {
    /// The index that lists it.
    pub index: String,
    /// What the index says.
    pub entry: CatalogEntry,
    /// The version installed here, if any.
    pub installed: Option<String>,
}

/// What a search found, and the indexes that could not be read (each a sentence).
#[derive(Debug, Clone, Default)]
pub struct Search {
    /// Matches, by name then index.
    pub found: Vec<Found>,
    /// Indexes that could not be read, and why (`skipped index NAME: ...`).
    pub unreadable: Vec<String>,
}

/// Adds an index (read once now); how many plugins it lists.
pub fn add(
    session: &Session,
    name: &str,
    location: &str,
    registry: &RegistryOptions,
) -> Result<usize, Error> {
    catalog::add(session.home(), name, location, registry)
}

/// Publishes the index file `path` as the OCI artifact `reference` (`kure plugins index
/// push`), after reading it as any index is read; how many plugins it lists, and the digest.
pub fn push(
    path: &std::path::Path,
    reference: &str,
    registry: &RegistryOptions,
) -> Result<(usize, String), Error> {
    catalog::push(path, reference, registry)
}

/// The configured indexes.
pub fn list(session: &Session) -> Result<Vec<IndexSource>, Error> {
    catalog::list(session.home())
}

/// Removes an index.
pub fn remove(session: &Session, name: &str) -> Result<IndexSource, Error> {
    catalog::remove(session.home(), name)
}

/// The plugins of every configured index whose name, description or GVKs contain `word`
/// (any case; every plugin without one). An index that cannot be read is reported, and the
/// others still searched.
pub fn search(
    session: &Session,
    word: Option<&str>,
    registry: &RegistryOptions,
) -> Result<Search, Error> {
    let (entries, unreadable) = catalog::read_all(session.home(), registry)?;
    let installed = session.store().read_index()?;
    let word = word.map(str::to_lowercase);
    let mut out = Search {
        found: Vec::new(),
        unreadable,
    };
    for (index, entry) in entries {
        let hit = word.as_deref().is_none_or(|w| {
            entry.name.to_lowercase().contains(w)
                || entry.description.to_lowercase().contains(w)
                || entry.gvks.iter().any(|g| g.to_lowercase().contains(w))
        });
        if hit {
            out.found.push(Found {
                index,
                installed: installed
                    .plugins
                    .iter()
                    .find(|p| p.name == entry.name)
                    .map(|p| p.version.clone()),
                entry,
            });
        }
    }
    out.found
        .sort_by(|a, b| (&a.entry.name, &a.index).cmp(&(&b.entry.name, &b.index)));
    Ok(out)
}
