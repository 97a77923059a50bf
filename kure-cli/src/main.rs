//! `kure`: turn short YAML application specs into Kubernetes manifests.

/// Writes a line to kure's own stdout (never the plugins' fd 1; see `kure_core::plugin::contain`).
macro_rules! outln {
    () => { $crate::common::out(format_args!("\n")) };
    ($($t:tt)*) => { $crate::common::out(format_args!("{}\n", format_args!($($t)*))) };
}
/// Writes to kure's own stdout.
macro_rules! out {
    ($($t:tt)*) => { $crate::common::out(format_args!($($t)*)) };
}
/// Writes a warning, note or summary line to stderr, unless `-q` (a JSON line under
/// `--message-format json`).
macro_rules! noteln {
    ($($t:tt)*) => {
        $crate::common::note("note", format_args!($($t)*))
    };
}

mod commands;
mod common;
mod progress;

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
    Kustomize(commands::kustomize::Args),
    #[command(name = "fn")]
    Fn(commands::function::Args),
    /// Print a shell completion script: `source <(kure completions bash)`, or write it to
    /// your shell's completion directory (zsh: a file `_kure` in $fpath; fish:
    /// ~/.config/fish/completions/kure.fish).
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    Version(commands::version::Args),
}

fn main() -> ExitCode {
    if commands::worker::requested() {
        commands::worker::main();
    }
    let Cli { global, command } = Cli::parse();
    let verbose = global.verbose;
    kure_core::plugin::contain::set_quiet(global.quiet);
    // Before kure takes over its descriptors: is stderr a terminal (colour, progress)?
    progress::detect_terminal();
    common::set_color(global.color);
    // Before anything that could load a plugin: kure's own stdout/stderr, the exit hook, the
    // fatal-signal handlers, and the paths a plugin's chdir must not move.
    if let Err(e) = kure_core::plugin::contain::install(verbose) {
        eprintln!("error: cannot set up plugin containment: {e}");
        return ExitCode::from(1);
    }
    let result = kure_core::ops::Session::start(global.settings())
        .map_err(anyhow::Error::from)
        .and_then(|session| run(&session, command));
    let code = match result {
        Ok(()) => 0,
        Err(e) => {
            common::print_error(&e, verbose);
            1
        }
    };
    kure_core::plugin::contain::finish(code)
}

fn run(session: &kure_core::ops::Session, command: Command) -> anyhow::Result<()> {
    match command {
        Command::Generate(a) => commands::generate::execute(session, a),
        Command::Validate(a) => commands::validate::execute(session, a),
        Command::Schema(a) => commands::schema::execute(session, a),
        Command::Explain(a) => commands::explain::execute(session, a),
        Command::Gvks(a) => commands::gvks::execute(session, a),
        Command::Plugins(a) => commands::plugins::execute(session, a),
        Command::Trust(a) => commands::trust::execute(session, a),
        Command::Lock(a) => commands::lock::execute(session, a),
        Command::Kustomize(a) => commands::kustomize::execute(session, a),
        Command::Fn(a) => commands::function::execute(session, a),
        Command::Completions { shell } => {
            use clap::CommandFactory;
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "kure", &mut script);
            out!("{}", String::from_utf8_lossy(&script));
            Ok(())
        }
        Command::Version(a) => commands::version::execute(session, a),
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
