//! `kure plugins new`: a plugin crate that builds and tests as written.

use std::path::{Path, PathBuf};

/// The arguments of `kure plugins new`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Plugin and crate name, e.g. redis-cache.
    pub name: String,
    /// The GVK it generates, e.g. cache.example.com/v1alpha1/RedisCache.
    #[arg(long, value_name = "GROUP/VERSION/KIND")]
    pub gvk: String,
    /// Where to write the crate (default: ./NAME); it must not exist or be empty.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Where this machine's kure-plugin-api is (a kure source checkout's kure-plugin-api/),
    /// until it is on crates.io: written to the crate's .cargo/config.toml as a
    /// `[patch.crates-io]`, never to Cargo.toml (which asks for a version). Default: the
    /// kure-plugin-api of the source tree this kure was built from, when it is still there.
    #[arg(long, value_name = "PATH")]
    pub api_path: Option<PathBuf>,
}

/// Runs `kure plugins new`.
pub fn execute(args: Args) -> anyhow::Result<()> {
    let Args {
        name,
        gvk,
        dir,
        api_path,
    } = args;
    let api_path = match api_path {
        Some(p) => {
            let p = kure_core::ops::session::absolute(&p);
            anyhow::ensure!(
                    p.join("Cargo.toml").is_file(),
                    "--api-path {}: no Cargo.toml there; point it at the kure-plugin-api directory of a kure checkout",
                    p.display()
                );
            Some(p)
        }
        // The source tree this kure was built from, when it is still there and the
        // user's own: kure-plugin-api is not on crates.io yet.
        None => kure_core::ops::scaffold::built_from_api_path(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("../kure-plugin-api"),
        ),
    };
    let plugin = kure_core::ops::scaffold::NewPlugin::new(&name, &gvk, api_path.clone())?;
    let dir = dir.unwrap_or_else(|| PathBuf::from(&name));
    plugin.write(&dir)?;
    outln!(
        "created {} ({} files): plugin {name}, {} in {}/{}",
        dir.display(),
        plugin.files().len(),
        plugin.kind,
        plugin.group,
        plugin.version
    );
    match &api_path {
            Some(p) => outln!(
                "kure-plugin-api: {} (this machine's checkout, named in .cargo/config.toml, which .gitignore keeps out of the repository; Cargo.toml asks for a version)",
                p.display()
            ),
            None => noteln!(
                "note: the crate depends on kure-plugin-api {} by version, which crates.io does not have yet: run `kure plugins new` again with --api-path PATH/kure-plugin-api (a kure checkout), or write its .cargo/config.toml by hand (see README.md)",
                kure_core::PLUGIN_API_VERSION
            ),
        }
    outln!(
            "next:\n  cd {}\n  cargo test\n  cargo build --release\n  kure --allow-unsigned --plugin target/release/lib{}.so generate -f examples/",
            dir.display(),
            plugin.lib_name()
        );
    Ok(())
}
