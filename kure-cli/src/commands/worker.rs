//! `kure __plugin-worker` (hidden): the worker process of process isolation mode. kure starts
//! it itself, with the plugin library on fd 3 and the frame channel on fd 4; see
//! `kure_core::plugin::worker`.

use std::path::PathBuf;
use std::time::Duration;

use kure_core::plugin::worker::{self, ServeOptions};

use crate::common::GlobalArgs;

/// Run one plugin in a sandboxed worker process (started by kure, not by hand).
#[derive(Debug, clap::Args)]
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
pub fn execute(_global: &GlobalArgs, args: Args) -> anyhow::Result<()> {
    let code = worker::serve(&ServeOptions {
        memory_bytes: args.memory,
        cpu_seconds: args.cpu,
        timeout: Duration::from_millis(args.timeout_ms.max(1)),
        library: args.library,
    });
    worker::exit(code)
}
