//! The store's changes, each one transaction under the store's lock: installs (one or
//! several plugins, committed by one index swap) and uninstalls (one or several). None may
//! leave a plugin's `requires` unmet that was met before ([`super::requires`]).

use super::*;

impl Store {
    /// Commits an install ([`crate::ops::install`] verified the library, ran it in a
    /// sandboxed worker to read its metadata and checked its examples): copies library and
    /// signature into the store and records the index entry. See the module docs for
    /// atomicity.
    pub fn commit_install(
        &self,
        staged: Staged<'_>,
        replace: bool,
    ) -> Result<InstallOutcome, Error> {
        self.commit_installs(vec![(staged, replace)])?
            .pop()
            .ok_or_else(|| store_err("nothing was given to install".to_owned()))
    }

    /// Commits several installs as one transaction (`replace` per plugin): each is checked
    /// against the index as the ones before it leave it, the whole is refused when it leaves
    /// a plugin's `requires` unmet, every library is staged, and the index is replaced once.
    /// All of them are installed, or none.
    pub fn commit_installs(
        &self,
        batch: Vec<(Staged<'_>, bool)>,
    ) -> Result<Vec<InstallOutcome>, Error> {
        let _lock = self.lock()?;
        let mut index = self.read_index()?;
        self.remove_orphans(&index);
        let before = index.clone();
        let mut outcomes = Vec::new();
        let mut writes = Vec::new();
        for (staged, replace) in batch {
            // The entry came from a worker, which ran plugin code: it becomes paths and index
            // text only after the checks every entry read from the index gets.
            check_entry(&staged.entry).map_err(|why| {
                store_err(format!(
                    "{} was not installed: {why}",
                    staged.library.display()
                ))
            })?;
            let outcome = self.admit(&mut index, &staged, replace)?;
            if matches!(outcome, InstallOutcome::Installed { .. }) {
                writes.push(staged);
            }
            outcomes.push(outcome);
        }
        let broken = requires::broken_by(&before, &index);
        if !broken.is_empty() {
            let names: Vec<String> = writes
                .iter()
                .map(|w| {
                    format!(
                        "{}@{} ({})",
                        w.entry.name,
                        w.entry.version,
                        w.library.display()
                    )
                })
                .collect();
            return Err(Error::Requires(format!(
                "{} {} not installed: {}. Install versions that fit (`kure plugins install` of a plugin also installs what it requires, from the configured indexes)",
                if names.len() == 1 { "plugin" } else { "plugins" },
                names.join(", ")
                    + if names.len() == 1 { " was" } else { " were" },
                broken.join("; ")
            )));
        }
        if writes.is_empty() {
            return Ok(outcomes);
        }
        for staged in &writes {
            self.stage(staged)?;
        }
        self.write_index(&index)?;
        crate::plugin::killpoint::hit("store-committed");
        // What the new index no longer refers to: older versions, replaced plugins.
        self.remove_orphans(&index);
        Ok(outcomes)
    }

    /// Checks `staged` against `index` and, unless the same bytes are installed already,
    /// puts its entry in (removing its older versions and, with `replace`, the plugins that
    /// provide one of its GVKs).
    fn admit(
        &self,
        index: &mut Index,
        staged: &Staged<'_>,
        replace: bool,
    ) -> Result<InstallOutcome, Error> {
        let Staged { library, entry, .. } = staged;
        let mut replaced: Vec<String> = Vec::new();
        for g in entry.parsed_gvks() {
            if requires::is_builtin(&g) {
                return Err(store_err(format!(
                    "plugin {}@{} provides {g}, which is built into kure; plugins cannot replace built-in generators",
                    entry.name, entry.version
                )));
            }
            for other in index.plugins.iter().filter(|o| o.name != entry.name) {
                if other.parsed_gvks().contains(&g) {
                    if !replace {
                        return Err(store_err(format!(
                            "{g} is already provided by installed plugin {}@{}; installing {}@{} ({}) would make two providers. Uninstall {} first, or pass --replace to replace it",
                            other.name, other.version, entry.name, entry.version, library.display(), other.name
                        )));
                    }
                    if !replaced.contains(&other.name) {
                        replaced.push(other.name.clone());
                    }
                }
            }
        }
        if let Some(same) = index
            .plugins
            .iter()
            .find(|o| o.name == entry.name && o.version == entry.version)
        {
            if same.sha256 == entry.sha256 && self.status(same) == Status::Ok {
                return Ok(InstallOutcome::AlreadyInstalled(same.clone()));
            }
            if same.sha256 != entry.sha256 && !replace {
                return Err(store_err(format!(
                    "{}@{} is already installed with different contents (sha256 {} vs {}); bump the plugin's version, or pass --replace",
                    entry.name,
                    entry.version,
                    &same.sha256[..12],
                    &entry.sha256[..12]
                )));
            }
        }
        let old_versions: Vec<String> = index
            .plugins
            .iter()
            .filter(|o| o.name == entry.name)
            .map(|o| format!("{}@{}", o.name, o.version))
            .collect();

        index
            .plugins
            .retain(|o| o.name != entry.name && !replaced.contains(&o.name));
        index.plugins.push(entry.clone());
        index.plugins.sort_by(|a, b| a.name.cmp(&b.name));
        let mut all_replaced = old_versions;
        all_replaced.retain(|v| *v != format!("{}@{}", entry.name, entry.version));
        all_replaced.extend(replaced);
        Ok(InstallOutcome::Installed {
            entry: entry.clone(),
            replaced: all_replaced,
        })
    }

    /// Stages the files of `staged`, fsyncs them, and moves them to their own directory
    /// (which the index does not refer to until it is replaced). The directory of an entry
    /// the index refers to is never rewritten: a new version, or new bytes for the same
    /// version, get a new directory.
    fn stage(&self, staged: &Staged<'_>) -> Result<(), Error> {
        let Staged {
            file_name,
            bytes,
            sig_bytes,
            entry,
            metadata,
            ..
        } = staged;
        let metadata_json =
            serde_json::to_vec_pretty(metadata).map_err(|e| store_err(e.to_string()))?;
        let dir = self.plugins_dir();
        let staging = dir.join(format!(".staging-{}-{}", std::process::id(), entry.name));
        let dest = self.entry_dir(entry);
        let stage = || -> std::io::Result<()> {
            let _ = std::fs::remove_dir_all(&staging);
            std::fs::create_dir_all(&staging)?;
            write_synced(&staging.join(file_name), bytes)?;
            if let Some(s) = &sig_bytes {
                write_synced(&signature_path(&staging.join(file_name)), s)?;
            }
            write_synced(&staging.join("metadata.json"), &metadata_json)?;
            sync_dir(&staging)?;
            crate::plugin::killpoint::hit("store-staged");
            let parent = dest.parent().unwrap_or(&dir);
            std::fs::create_dir_all(parent)?;
            if dest.exists() {
                // The same bytes again, over a damaged copy (`status` was not ok).
                rustix::fs::renameat_with(
                    rustix::fs::CWD,
                    &staging,
                    rustix::fs::CWD,
                    &dest,
                    rustix::fs::RenameFlags::EXCHANGE,
                )?;
                let _ = std::fs::remove_dir_all(&staging);
            } else {
                std::fs::rename(&staging, &dest)?;
            }
            sync_dir(parent)?;
            for up in parent.ancestors().skip(1).take(2) {
                sync_dir(up)?;
            }
            crate::plugin::killpoint::hit("store-moved");
            Ok(())
        };
        if let Err(e) = stage() {
            let _ = std::fs::remove_dir_all(&staging);
            return Err(store_err(format!(
                "cannot write to the plugin store {}: {e}; check its permissions (or set KURE_HOME); the index was not changed",
                dir.display()
            )));
        }

        Ok(())
    }

    /// Removes a plugin's index entry, library and signature.
    pub fn uninstall(&self, name: &str) -> Result<IndexEntry, Error> {
        self.uninstall_all(&[name.to_owned()])?
            .pop()
            .ok_or_else(|| store_err("nothing was given to uninstall".to_owned()))
    }

    /// Removes several plugins in one transaction (plugins that require each other go
    /// together): all of them, or none.
    pub fn uninstall_all(&self, names: &[String]) -> Result<Vec<IndexEntry>, Error> {
        if let Some(bad) = names.iter().find(|n| !crate::util::valid_plugin_name(n)) {
            return Err(store_err(format!(
                "`{}` is not a plugin name (letters, digits, `-` and `_`); run `kure plugins list` to see the installed plugins",
                crate::util::shown(bad)
            )));
        }
        let _lock = self.lock()?;
        let mut index = self.read_index()?;
        self.remove_orphans(&index);
        let before = index.clone();
        let mut removed = Vec::new();
        for name in names {
            let Some(pos) = index.plugins.iter().position(|e| &e.name == name) else {
                let names: Vec<&str> = before.plugins.iter().map(|e| e.name.as_str()).collect();
                return Err(store_err(format!(
                    "no installed plugin named `{name}` (installed: {}); nothing was uninstalled",
                    if names.is_empty() {
                        "none".to_owned()
                    } else {
                        names.join(", ")
                    }
                )));
            };
            removed.push(index.plugins.remove(pos));
        }
        let broken = requires::broken_by(&before, &index);
        if !broken.is_empty() {
            return Err(Error::Requires(format!(
                "{} {} not uninstalled: {}. Uninstall the plugins that require {it} first, or together with {it} (`kure plugins uninstall` takes several names)",
                names.join(", "),
                if names.len() == 1 { "was" } else { "were" },
                broken.join("; "),
                it = if names.len() == 1 { "it" } else { "them" }
            )));
        }
        self.write_index(&index)?;
        crate::plugin::killpoint::hit("store-committed");
        self.remove_orphans(&index);
        Ok(removed)
    }
}
