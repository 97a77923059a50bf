//! `kure __plugin-worker` (hidden): the worker process of process isolation mode. kure starts
//! it itself, with the plugin library on fd 3 and the frame channel on fd 4; see
//! `kure_core::plugin::process`.

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use kure_core::plugin::process::{self, ServeOptions, WORKER_SUBCOMMAND};

/// Whether this process was started as a worker (`kure __plugin-worker ...`). `main` checks
/// this before anything else: a worker reads no configuration, installs none of kure's own
/// containment (the worker has its own) and parses only its own arguments, so it starts in a
/// fraction of the time the full command line takes to build.
pub fn requested() -> bool {
    std::env::args_os()
        .nth(1)
        .is_some_and(|a| a == WORKER_SUBCOMMAND)
}

/// Run one plugin in a sandboxed worker process (started by kure, not by hand).
#[derive(Debug, Parser)]
#[command(name = "kure __plugin-worker")]
pub struct Args {
    /// Address-space limit, in bytes.
    #[arg(long, value_name = "BYTES")]
    memory: u64,
    /// CPU-time limit, in seconds.
    #[arg(long, value_name = "SECONDS")]
    cpu: u64,
    /// Time limit of one plugin call, in milliseconds.
    #[arg(long = "timeout-ms", value_name = "MS")]
    timeout_ms: u64,
    /// The library's original path, only named in messages (the bytes come on fd 3).
    #[arg(long, value_name = "PATH")]
    library: PathBuf,
}

/// Runs the worker and ends the process with its status.
pub fn main() -> ! {
    // The subcommand's name stands where clap expects the program's.
    let args = Args::parse_from(std::env::args_os().skip(1));
    let code = process::serve(&ServeOptions {
        memory_bytes: args.memory,
        cpu_seconds: args.cpu,
        timeout: Duration::from_millis(args.timeout_ms.max(1)),
        library: args.library,
    });
    process::exit(code)
}
