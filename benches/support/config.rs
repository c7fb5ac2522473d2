//! How much to measure: runs per figure (`BENCH_RUNS`, default 5), quick mode (`BENCH_QUICK=1`:
//! two runs, small message counts, for a smoke test of the whole suite), and which benchmarks
//! to run (`cargo bench -- NAME...`: those whose id contains one of the names).

use super::Result;

/// The run's settings.
pub struct Config {
    /// Runs per figure; each figure is the median of its runs.
    pub runs: usize,
    /// Small message counts and few runs.
    pub quick: bool,
    /// Print the benchmark ids instead of running them (`cargo bench -- --list`).
    pub list: bool,
    filters: Vec<String>,
}

impl Config {
    /// Reads the environment and the arguments `cargo bench` passes (`--bench` and the like
    /// are ignored).
    pub fn new(args: &[String]) -> Result<Config> {
        let quick = std::env::var("BENCH_QUICK").is_ok_and(|v| !v.is_empty() && v != "0");
        let runs = match std::env::var("BENCH_RUNS") {
            Ok(v) => match v.parse::<usize>() {
                Ok(n) if n > 0 => n,
                _ => return Err(format!("BENCH_RUNS must be a positive number, not \"{v}\"")),
            },
            Err(_) if quick => 2,
            Err(_) => 5,
        };
        Ok(Config {
            runs,
            quick,
            list: args.iter().any(|a| a == "--list"),
            filters: args
                .iter()
                .filter(|a| !a.starts_with('-'))
                .cloned()
                .collect(),
        })
    }

    /// Whether the benchmark `id` was asked for.
    pub fn wants(&self, id: &str) -> bool {
        self.filters.is_empty() || self.filters.iter().any(|f| id.contains(f.as_str()))
    }

    /// Runs of a figure that a target divides by a floor, and of that floor: 2 × `runs` − 1
    /// (9 by default). Such a figure, and its floor, fall into one of a few modes from run to
    /// run, set by where the scheduler puts the processes, and a ratio of medians needs both
    /// medians to come from the commoner mode.
    pub fn paired_runs(&self) -> usize {
        2 * self.runs - 1
    }

    /// `full` normally, `quick` in quick mode.
    pub fn pick<T>(&self, full: T, quick: T) -> T {
        if self.quick { quick } else { full }
    }
}
