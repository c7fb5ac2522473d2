//! Machinery shared by the benchmarks and their child processes: the counting allocator, child
//! processes and their line protocol, the run configuration, the thread's CPU clock, several
//! agents in one thread, the benchmark message, the figures table, and agents with secure
//! links.
//!
//! Errors are plain strings that say what failed and what was seen: a benchmark that cannot
//! finish reports why and the suite carries on with the next one.

pub mod alloc;
pub mod args;
pub mod child;
pub mod config;
pub mod cpu;
pub mod mesh;
pub mod message;
pub mod report;
pub mod secure;

use std::fmt::Display;

/// A benchmark's result: the error is a sentence for the person running `cargo bench`.
pub type Result<T, E = String> = std::result::Result<T, E>;

/// Adds what was being done to an error, so that a failure reads as a sentence.
pub trait Context<T> {
    /// Prefixes the error with `what`.
    fn context(self, what: impl Display) -> Result<T>;
}

impl<T, E: Display> Context<T> for std::result::Result<T, E> {
    fn context(self, what: impl Display) -> Result<T> {
        self.map_err(|e| format!("{what}: {e}"))
    }
}
