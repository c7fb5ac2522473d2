//! `cargo bench`: the crate's figures — throughput, latency, failover, footprint, convergence
//! and allocations — printed as one markdown table, each figure the median of several runs with
//! its min–max range and its target.
//!
//! ```text
//! cargo bench                       # everything, 5 runs per figure (about 2 minutes)
//! BENCH_QUICK=1 cargo bench         # smoke test: 2 runs, small message counts (about 20 s)
//! BENCH_RUNS=9 cargo bench          # more runs per figure
//! cargo bench -- latency failover   # only benchmarks whose id contains one of the words
//! cargo bench -- --list             # the benchmark ids
//! cargo bench --features secure     # and secure links beside plain ones (`groups::secure`)
//! cargo bench --bench secretagent --features secure -- secure   # the secure rows alone
//! ```
//!
//! (`cargo bench --bench secretagent` does the same without first listing the library's unit
//! tests as ignored.) The table goes to stdout, progress and failures to stderr; the exit
//! status is non-zero if a benchmark could not finish. Timings need a quiet machine with at
//! least two cores (three processes for the relay rows); `ulimit -n` must allow about 1 000
//! descriptors (the convergence benchmarks hold 100 agents in one process).
//!
//! Every agent measured for speed lives in its own process: this binary runs itself again
//! (`std::env::current_exe()`) with `--role ROLE ...` (see `roles`), and the parent coordinates
//! through the children's stdout lines (`listening PORT`, `received COUNT NANOS`, ...). Children
//! are killed and reaped when the parent is done with them, on errors too, and end by themselves
//! if the parent disappears. Everything runs on loopback, on ports the system picks.
//!
//! Layout: `support/` (allocator, child processes, configuration, in-process agents, the
//! message, the table, secure agents' keys), `roles/` (what child processes do), `groups/`
//! (the benchmarks). Without the `secure` feature, the secure benchmarks are listed in the
//! table as not run.

mod groups;
mod roles;
mod support;

/// The test suite's fault-injecting TCP proxy, for the failover benchmark.
#[allow(dead_code)]
#[path = "../tests/support/proxy.rs"]
mod proxy;

use std::process::ExitCode;

use support::config::Config;
use support::report::{Report, Target, Unit};

/// Counts heap bytes and allocation calls where a benchmark switches counting on.
#[global_allocator]
static ALLOC: support::alloc::Counting = support::alloc::Counting;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(i) = args.iter().position(|a| a == "--role") {
        let role = args.get(i + 1).cloned().unwrap_or_default();
        return roles::run(&role, args[i + 2..].to_vec());
    }
    let cfg = match Config::new(&args) {
        Ok(cfg) => cfg,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    if cfg.list {
        for b in groups::ALL {
            println!("{}", b.id);
        }
        return ExitCode::SUCCESS;
    }
    let mut report = Report::default();
    let chosen: Vec<_> = groups::ALL.iter().filter(|b| cfg.wants(b.id)).collect();
    if chosen.is_empty() {
        eprintln!("no benchmark id matches; `cargo bench -- --list` lists them");
        return ExitCode::FAILURE;
    }
    let started = std::time::Instant::now();
    for b in chosen {
        eprintln!("{}", b.id);
        if let Err(e) = (b.run)(&cfg, &mut report) {
            report.fail(b.id, e);
        }
    }
    derived(&mut report);
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let header = format!(
        "secretagent benchmarks: median of {} run(s) ({} for a figure divided by a floor, and \
         the floor, in turn){}, {cores} cores, {:.0} s",
        cfg.runs,
        cfg.paired_runs(),
        if cfg.quick {
            ", QUICK (small counts)"
        } else {
            ""
        },
        started.elapsed().as_secs_f64()
    );
    println!("{}", report.table(&header));
    if report.failed() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// Figures computed from others measured in the same run: how close the agents come to the
/// floors, and secure links to plain ones.
fn derived(report: &mut Report) {
    report.ratio(
        "throughput/one-hop/vs-serde",
        "throughput, one hop ÷ serde_json floor",
        "throughput/one-hop",
        "throughput/floor-serde",
        Unit::Percent,
        Target::AtLeast(0.8),
    );
    report.ratio(
        "latency/one-hop/vs-floor",
        "latency, one hop p50 ÷ floor p50",
        "latency/one-hop/p50",
        "latency/floor/p50",
        Unit::Factor,
        Target::AtMost(1.3),
    );
    report.ratio(
        "latency/embedded/vs-own-loop",
        "latency, one hop: embedding loop p50 ÷ agents' own loop p50",
        "latency/embedded/p50",
        "latency/one-hop-own-loop/p50",
        Unit::Factor,
        Target::AtMost(1.2),
    );
    report.ratio(
        "throughput/secure-one-hop/vs-plain",
        "throughput, one hop: secure ÷ plain",
        "throughput/secure-one-hop",
        "throughput/secure-one-hop/plain",
        Unit::Percent,
        Target::AtLeast(0.5),
    );
    report.ratio(
        "throughput/secure-relay/vs-plain",
        "throughput through a relay: secure ÷ plain",
        "throughput/secure-relay",
        "throughput/secure-relay/plain",
        Unit::Percent,
        Target::None,
    );
    report.ratio(
        "latency/secure-one-hop/vs-plain",
        "latency, one hop p50: secure ÷ plain",
        "latency/secure-one-hop/p50",
        "latency/secure-one-hop/plain/p50",
        Unit::Factor,
        Target::AtMost(1.2),
    );
    report.ratio(
        "latency/secure-one-hop/vs-plain-p99",
        "latency, one hop p99: secure ÷ plain",
        "latency/secure-one-hop/p99",
        "latency/secure-one-hop/plain/p99",
        Unit::Factor,
        Target::None,
    );
    report.ratio(
        "latency/two-hops/vs-floor",
        "latency, two hops p50 ÷ two-hop floor p50",
        "latency/two-hops/p50",
        "latency/floor-two-hops/p50",
        Unit::Factor,
        Target::AtMost(1.3),
    );
}
