//! `kure kustomize`: kure as a kustomize generator.

use std::path::PathBuf;

use kure_core::ops::session::absolute;
use kure_core::ops::Session;

use crate::common::print_table;

/// Use kure from kustomize: install exec generator plugins so that a kustomization's
/// `generators:` can list kure specs (`kubectl kustomize --enable-alpha-plugins`).
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Write an executable KUSTOMIZE_PLUGIN_HOME/GROUP/VERSION/<kind>/KIND for every GVK kure
    /// generates (built-ins and installed plugins): a shim running `kure kustomize generate
    /// CONFIG`, so kure's validation, trust rules and ./kure.lock apply. Existing shims are
    /// replaced.
    InstallPlugins {
        /// The plugin home (default: $KUSTOMIZE_PLUGIN_HOME, else
        /// $XDG_CONFIG_HOME/kustomize/plugin, else ~/.config/kustomize/plugin).
        #[arg(long, value_name = "DIR")]
        home: Option<PathBuf>,
        /// The kure binary the shims run (default: this one).
        #[arg(long, value_name = "PATH")]
        kure: Option<PathBuf>,
    },
    /// What the shims run: `kure generate` for kustomize's copy of one generator config.
    ///
    /// kustomize hands an exec generator a temporary copy of the spec, re-written (keys sorted,
    /// comments gone). kure looks for the spec it came from among the files the
    /// kustomization's `generators:` lists (in $KUSTOMIZE_PLUGIN_CONFIG_ROOT, else the current
    /// directory, which is where kustomize runs it) and generates that document, so every
    /// message names your file and line. When no listed file holds it, kure generates the
    /// copy and says so. ./kure.lock applies as in `kure generate`.
    Generate {
        /// kustomize's copy of the generator config.
        #[arg(value_name = "CONFIG")]
        config: PathBuf,
    },
}

/// Runs `kure kustomize`.
pub fn execute(session: &Session, args: Args) -> anyhow::Result<()> {
    match args.command {
        Command::Generate { config } => return generate(session, config),
        Command::InstallPlugins { home, kure } => {
            let home = absolute(&home.unwrap_or_else(kure_core::ops::kustomize::plugin_home));
            let kure = match kure {
                Some(k) => absolute(&k),
                None => std::env::current_exe()?,
            };
            let written = kure_core::ops::kustomize::install_plugins(session, &home, &kure)?;
            let rows: Vec<Vec<String>> = written
                .iter()
                .map(|(g, p)| vec![g.api_version(), g.kind.clone(), p.display().to_string()])
                .collect();
            print_table(&["APIVERSION", "KIND", "PLUGIN"], &rows);
            noteln!(
                "run kustomize with --enable-alpha-plugins (KUSTOMIZE_PLUGIN_HOME={} if it is not the default) and list kure specs under `generators:`",
                home.display()
            );
            noteln!(
                "the shims run {} (this path, not whichever kure is on PATH): after moving or replacing that binary, run `kure kustomize install-plugins` again (or pass --kure PATH)",
                kure.display()
            );
        }
    }
    Ok(())
}

/// `kure kustomize generate CONFIG`: the spec kustomize copied, from the user's file when kure
/// finds it.
fn generate(session: &Session, config: PathBuf) -> anyhow::Result<()> {
    use kure_core::ops::generate::GenerateOptions;
    use kure_core::pipeline::{Output, PipelineOptions};

    let root = std::env::var_os("KUSTOMIZE_PLUGIN_CONFIG_ROOT")
        .filter(|r| !r.is_empty())
        .map_or_else(std::env::current_dir, |r| Ok(PathBuf::from(r)))?;
    let mut pipeline = PipelineOptions::default();
    let origin = kure_core::ops::kustomize::config_origin(&config, &root, pipeline.input.max_bytes);
    let inputs = match &origin {
        Some((file, line)) => {
            pipeline.document = Some(*line);
            vec![file.clone()]
        }
        None => vec![config.clone()],
    };
    let ran = kure_core::ops::generate::generate(
        session,
        &GenerateOptions {
            inputs,
            output: Output::Stdout,
            lock: crate::common::lock_choice(None, false),
            pipeline,
        },
    );
    let result = crate::common::reported(ran);
    if result.is_err() && origin.is_none() {
        // Said even under --quiet (the shims pass it), before the error main prints.
        crate::common::err(format_args!(
            "note: no file listed under `generators:` of the kustomization in {} holds this spec, so the lines below are those of kustomize's re-written copy {}\n",
            root.display(),
            config.display()
        ));
    }
    result?;
    Ok(())
}
