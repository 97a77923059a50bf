//! `kure lock`: every check `kure validate` makes, then the pins of the plugins the inputs
//! use, merged into the lock file.

use std::path::PathBuf;

use crate::input::InputOptions;
use crate::model::error::Error;
use crate::ops::session::{Ran, Session};
use crate::pipeline::PipelineOptions;
use crate::store::lockfile;

/// What `kure lock` reads and writes.
#[derive(Debug, Clone)]
pub struct LockOptions {
    /// Spec files and directories.
    pub inputs: Vec<PathBuf>,
    /// How they are read.
    pub input: InputOptions,
    /// The lock file written.
    pub file: PathBuf,
    /// Drop the pins of GVKs the inputs do not use (otherwise they are kept).
    pub prune: bool,
}

/// What `kure lock` wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Locked {
    /// Plugin GVKs pinned from the inputs.
    pub used: usize,
    /// Pins kept from the earlier lock (none with `prune`).
    pub kept: usize,
}

/// Checks every document as `validate` does (each plugin resolved and loaded under the
/// isolation policy), then writes the pins of the plugin GVKs the inputs use.
pub fn lock(session: &Session, opts: &LockOptions) -> Ran<Locked> {
    let mut engine = match session.engine() {
        Ok(e) => e,
        Err(e) => return Ran::early(e),
    };
    let pipeline = PipelineOptions {
        input: opts.input.clone(),
        ..Default::default()
    };
    let checked = crate::pipeline::validate(&mut engine, &opts.inputs, &pipeline);
    let result = checked.and_then(|summary| -> Result<Locked, Error> {
        let mut fresh = engine.pins(&summary.gvks);
        let mut pins = if opts.prune || !opts.file.exists() {
            Default::default()
        } else {
            lockfile::read(&opts.file)?
        };
        with_sources(session, &mut fresh, &pins);
        let kept = pins.keys().filter(|g| !fresh.contains_key(*g)).count();
        let used = fresh.len();
        pins.extend(fresh);
        lockfile::write(&opts.file, &pins)?;
        Ok(Locked { used, kept })
    });
    Ran::new(&engine, result)
}

/// Adds to each of `fresh` the registry reference its installed plugin came from and this
/// platform's manifest digest; the digests an `old` pin of the same plugin, version and source
/// recorded for other platforms stay.
fn with_sources(
    session: &Session,
    fresh: &mut std::collections::BTreeMap<String, lockfile::Pin>,
    old: &std::collections::BTreeMap<String, lockfile::Pin>,
) {
    let Ok(index) = session.store().read_index() else {
        return;
    };
    let platform = crate::store::registry::Platform::current().to_string();
    for (gvk, pin) in fresh.iter_mut() {
        let Some(entry) = index
            .plugins
            .iter()
            .find(|e| e.name == pin.plugin && e.sha256 == pin.sha256)
        else {
            continue;
        };
        let (Some(source), Some(digest)) = (&entry.source, &entry.digest) else {
            continue;
        };
        pin.source = Some(source.clone());
        if let Some(before) = old.get(gvk).filter(|b| {
            b.source.as_ref() == Some(source) && b.plugin == pin.plugin && b.version == pin.version
        }) {
            pin.digests = before.digests.clone();
        }
        pin.digests.insert(platform.clone(), digest.clone());
    }
}
