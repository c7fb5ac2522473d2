//! The child processes' side: `--role NAME ...` picks what this process does instead of running
//! the suite. Every role prints its lines for the parent on stdout, ends when its stdin closes,
//! and reports a failure as a line `error ...` (and a non-zero exit).

pub mod agent;
pub mod raw;

use std::process::ExitCode;
use std::time::Duration;

use crate::support::args::Args;
use crate::support::child;

/// The longest any child may live: far beyond any benchmark, short of forever.
const CHILD_LIFETIME: Duration = Duration::from_secs(600);

/// Runs role `role` with `args`.
pub fn run(role: &str, args: Vec<String>) -> ExitCode {
    child::watchdog(CHILD_LIFETIME);
    let args = Args::new(args);
    let result = match role {
        "agent" => agent::run(&args),
        "raw-sink" => raw::sink(&args),
        "raw-source" => raw::source(&args),
        "raw-echo" => raw::echo(&args),
        "raw-ping" => raw::ping(&args),
        "raw-relay" => raw::relay(&args),
        other => Err(format!("unknown role \"{other}\"")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            child::say(&format!("error {e}"));
            ExitCode::FAILURE
        }
    }
}
