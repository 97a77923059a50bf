//! `kure`: turn short YAML application specs into Kubernetes manifests.

mod commands;
mod common;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use common::GlobalArgs;

/// kure turns short YAML application specs into Kubernetes manifests.
///
/// Each YAML document names a generator with `apiVersion` and `kind`. Built-in generators:
/// AppWorkload and FluxHelm (generators.gokure.dev/v1alpha1). More come from plugins: shared
/// libraries signed by a key you trust (`kure trust add`), installed with `kure plugins install`
/// or found in the plugin directories.
#[derive(Debug, Parser)]
#[command(name = "kure", version, propagate_version = true, max_term_width = 100)]
#[command(
    after_help = "Examples:\n  kure generate -f apps/            print manifests for every spec in apps/\n  kure generate -f apps/ -o out/    write a kustomize tree to out/\n  kure explain AppWorkload          show a generator's fields and examples\n  kure gvks                         list every generator and who provides it"
)]
pub struct Cli {
    #[command(flatten)]
    global: GlobalArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    Generate(commands::generate::Args),
    Validate(commands::validate::Args),
    Schema(commands::schema::Args),
    Explain(commands::explain::Args),
    Gvks(commands::gvks::Args),
    Plugins(commands::plugins::Args),
    Trust(commands::trust::Args),
    Lock(commands::lock::Args),
    Version(commands::version::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let verbose = cli.global.verbose;
    let result = match cli.command {
        Command::Generate(a) => commands::generate::execute(&cli.global, a),
        Command::Validate(a) => commands::validate::execute(&cli.global, a),
        Command::Schema(a) => commands::schema::execute(&cli.global, a),
        Command::Explain(a) => commands::explain::execute(&cli.global, a),
        Command::Gvks(a) => commands::gvks::execute(&cli.global, a),
        Command::Plugins(a) => commands::plugins::execute(&cli.global, a),
        Command::Trust(a) => commands::trust::execute(&cli.global, a),
        Command::Lock(a) => commands::lock::execute(&cli.global, a),
        Command::Version(a) => commands::version::execute(&cli.global, a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            if let Some(details) = common::details(&e) {
                if verbose {
                    eprintln!("\n{details}");
                }
            }
            ExitCode::from(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
