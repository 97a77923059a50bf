//! Where plugins are looked for.

use std::path::{Path, PathBuf};

use super::LoadError;

/// The plugin search path, in priority order.
#[derive(Debug, Clone, Default)]
pub struct PluginDirs(pub Vec<PathBuf>);

/// `KURE_HOME`, defaulting to `~/.kure`, as an absolute path. Read once per process, before
/// any plugin runs, so a plugin's `chdir` or `setenv` cannot move it.
pub fn kure_home() -> PathBuf {
    static HOME: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    HOME.get_or_init(|| {
        let home = match std::env::var_os("KURE_HOME").filter(|h| !h.is_empty()) {
            Some(h) => PathBuf::from(h),
            None => std::env::var_os("HOME")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("."))
                .join(".kure"),
        };
        std::path::absolute(&home).unwrap_or(home)
    })
    .clone()
}

/// The search path: `extra` (from `--plugin-dir` and the config), `KURE_PLUGIN_PATH`, then
/// `/usr/local/lib/kure/plugins` and `./plugins`. The store, `$KURE_HOME/plugins`, is never
/// one of them, even when named: installed plugins load only through its index.
pub fn plugin_dirs(extra: &[PathBuf]) -> PluginDirs {
    let mut dirs: Vec<PathBuf> = extra.to_vec();
    if let Some(p) = std::env::var_os("KURE_PLUGIN_PATH") {
        dirs.extend(
            std::env::split_paths(&p)
                .filter(|p| !p.as_os_str().is_empty())
                .map(|p| std::path::absolute(&p).unwrap_or(p)),
        );
    }
    dirs.push(PathBuf::from("/usr/local/lib/kure/plugins"));
    let local = PathBuf::from("plugins");
    dirs.push(std::path::absolute(&local).unwrap_or(local));
    let store = kure_home().join("plugins");
    let canon = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    let store = canon(&store);
    dirs.retain(|d| canon(d) != store);
    PluginDirs(dirs)
}

fn is_library(p: &Path) -> bool {
    matches!(
        p.extension().and_then(|e| e.to_str()),
        Some("so" | "dylib" | "dll")
    )
}

/// What the plugin directories hold.
#[derive(Debug, Default)]
pub struct Discovery {
    /// Kure plugin libraries, in search-path then name order, each once; a symlink leading out
    /// of its plugin directory is an error in its place.
    pub libraries: Vec<Result<PathBuf, LoadError>>,
    /// Shared libraries that are not kure plugins, and why: skipped, never loaded (`-v` lists
    /// them).
    pub skipped: Vec<(PathBuf, String)>,
}

/// Every library file (`*.so`, `*.dylib`, `*.dll`) under `dirs`, at most `depth` directory
/// levels below each, each once, in search-path then path order; missing dirs are skipped. The
/// store's layout (`<name>/<version>/<hash>/lib`) is read with depth 3.
pub fn discover_libraries(dirs: &PluginDirs, depth: usize) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for dir in &dirs.0 {
        let mut found = Vec::new();
        walk(dir, depth, &mut found);
        found.sort();
        out.extend(found);
    }
    out
}

/// The kure plugins in the plugin directories: the libraries directly in each directory (one
/// level: `--plugin-dir target/release` finds the plugins cargo built there, not the
/// proc-macro libraries in `deps/`). A library that does not export a kure plugin's entry
/// symbol is skipped with a reason; a symlink resolving outside its plugin directory is an
/// error, as a plugin directory must not be a way to load arbitrary files.
pub fn discover_checked(dirs: &PluginDirs) -> Discovery {
    let mut out = Discovery::default();
    let mut seen = std::collections::HashSet::new();
    let mut refused = std::collections::HashSet::new();
    for dir in &dirs.0 {
        let mut found = Vec::new();
        walk(dir, 0, &mut found);
        found.sort();
        let canon_dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.clone());
        for f in found {
            let key = std::fs::canonicalize(&f).unwrap_or_else(|_| f.clone());
            let is_link = std::fs::symlink_metadata(&f).is_ok_and(|m| m.file_type().is_symlink());
            if is_link && !key.starts_with(&canon_dir) {
                // Reported once, even when its directory is listed twice.
                let spelled = canon_dir.join(f.strip_prefix(dir).unwrap_or(&f));
                if refused.insert(spelled) {
                    out.libraries.push(Err(LoadError::Symlink {
                        path: f,
                        target: key,
                        dir: dir.clone(),
                    }));
                }
                continue;
            }
            if !seen.insert(key) {
                continue;
            }
            match super::loader::exports_plugin_root(&f) {
                Ok(true) => out.libraries.push(Ok(f)),
                Ok(false) => out.skipped.push((
                    f,
                    "not a kure plugin (it does not export a kure plugin's entry point)".to_owned(),
                )),
                // Unreadable: loading it would fail the same way, with the full story.
                Err(_) => out.libraries.push(Ok(f)),
            }
        }
    }
    out
}

fn walk(dir: &Path, depth: usize, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        let Ok(ft) = e.file_type() else { continue };
        if ft.is_dir() {
            if depth > 0 {
                walk(&p, depth - 1, out);
            }
        } else if is_library(&p) {
            out.push(p);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plugin_directories_are_read_one_level_deep_each_library_once() {
        let root = tempfile::tempdir().expect("tempdir");
        let dir = root.path().join("plugins");
        let outside = root.path().join("elsewhere");
        std::fs::create_dir_all(dir.join("deps")).expect("mkdir");
        std::fs::create_dir_all(&outside).expect("mkdir");
        // Not a kure plugin: skipped with the reason, never loaded.
        std::fs::write(dir.join("a.so"), "not a library").expect("write");
        std::fs::write(dir.join("notes.txt"), "ignored").expect("write");
        std::fs::write(dir.join("deps/b.so"), "one level down").expect("write");
        std::fs::write(outside.join("c.so"), "outside").expect("write");
        std::os::unix::fs::symlink(outside.join("c.so"), dir.join("escape.so")).expect("link");
        std::os::unix::fs::symlink(dir.join("a.so"), dir.join("alias.so")).expect("link");
        // The same directory twice finds each library once.
        let found = discover_checked(&PluginDirs(vec![dir.clone(), dir.join(".")]));
        let skipped: Vec<&PathBuf> = found.skipped.iter().map(|(p, _)| p).collect();
        assert_eq!(skipped, [&dir.join("a.so")], "{:?}", found.skipped);
        assert!(found.skipped[0].1.contains("not a kure plugin"));
        let errors: Vec<String> = found
            .libraries
            .iter()
            .filter_map(|r| r.as_ref().err().map(ToString::to_string))
            .collect();
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].contains("escape.so"), "{errors:?}");
        // The store's depth reaches `deps/`.
        let deep = discover_libraries(&PluginDirs(vec![dir.clone()]), 1);
        assert!(deep.contains(&dir.join("deps/b.so")), "{deep:?}");
    }
}
