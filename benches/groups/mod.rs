//! The benchmarks, by id. `cargo bench -- NAME` runs those whose id contains NAME; each adds
//! its figures to the report, and a failure is reported without stopping the others.

pub mod allocations;
pub mod convergence;
pub mod failover;
pub mod footprint;
pub mod latency;
pub mod secure;
pub mod throughput;

use std::time::Duration;

use crate::support::child::Child;
use crate::support::config::Config;
use crate::support::report::Report;
use crate::support::secure::MESH;
use crate::support::{Context, Result};

/// A benchmark: its id and what runs it.
pub struct Bench {
    /// `group/name`, matched by the command-line filter.
    pub id: &'static str,
    /// Measures, and adds figures to the report.
    pub run: fn(&Config, &mut Report) -> Result<()>,
}

/// Every benchmark, in the order of the table.
pub const ALL: &[Bench] = &[
    Bench {
        id: "throughput/floor-raw",
        run: throughput::floor_raw,
    },
    Bench {
        id: "throughput/one-hop",
        run: throughput::one_hop,
    },
    Bench {
        id: "throughput/secure-one-hop",
        run: secure::one_hop,
    },
    Bench {
        id: "throughput/relay",
        run: throughput::relay,
    },
    Bench {
        id: "throughput/secure-relay",
        run: secure::relay,
    },
    Bench {
        id: "latency/one-hop",
        run: latency::one_hop,
    },
    Bench {
        id: "latency/secure-one-hop",
        run: secure::latency,
    },
    Bench {
        id: "latency/two-hops",
        run: latency::two_hops,
    },
    Bench {
        id: "latency/embedded",
        run: latency::embedded,
    },
    Bench {
        id: "handshake/secure",
        run: secure::handshake,
    },
    Bench {
        id: "failover/clean-close",
        run: failover::clean_close,
    },
    Bench {
        id: "failover/blackhole",
        run: failover::blackhole,
    },
    Bench {
        id: "footprint/heap",
        run: footprint::heap,
    },
    Bench {
        id: "footprint/secure-heap",
        run: secure::heap,
    },
    Bench {
        id: "footprint/rss",
        run: footprint::rss,
    },
    Bench {
        id: "footprint/binary",
        run: footprint::binary,
    },
    Bench {
        id: "footprint/secure-binary",
        run: secure::binary,
    },
    Bench {
        id: "convergence/line",
        run: convergence::line,
    },
    Bench {
        id: "convergence/ring",
        run: convergence::ring,
    },
    Bench {
        id: "convergence/grid",
        run: convergence::grid,
    },
    Bench {
        id: "allocations/relay",
        run: allocations::relay,
    },
    Bench {
        id: "allocations/exchange",
        run: allocations::exchange,
    },
];

/// Longest wait for a child to start, link up, or answer a command.
pub const SETUP: Duration = Duration::from_secs(15);

/// Longest wait for `n` messages: setup time plus 50 000 messages a second, far below any
/// figure worth reporting.
pub fn deadline(n: u64) -> Duration {
    SETUP + Duration::from_micros(n * 20)
}

/// What links the agents of a benchmark have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Links {
    /// Plain TCP.
    Plain,
    /// Secure links (feature `secure`), keys from [`MESH`].
    Secure,
}

impl Links {
    /// The mesh number of an in-process agent (`support::secure::agent`).
    pub fn mesh(self) -> Option<u64> {
        match self {
            Links::Plain => None,
            Links::Secure => Some(MESH),
        }
    }
}

/// Starts a plain agent process named `name` with extra arguments; returns it with its port.
pub fn spawn_agent(name: &str, extra: &[&str]) -> Result<(Child, String)> {
    spawn(name, Links::Plain, extra)
}

/// Starts an agent process named `name` with `links` and extra arguments; returns it with its
/// port.
pub fn spawn(name: &str, links: Links, extra: &[&str]) -> Result<(Child, String)> {
    let mesh = MESH.to_string();
    let mut args = vec!["--name", name];
    if links == Links::Secure {
        args.extend_from_slice(&["--secure", &mesh]);
    }
    args.extend_from_slice(extra);
    let mut child = Child::role(name, "agent", &args)?;
    let port = listening(&mut child)?;
    Ok((child, port))
}

/// Waits for a child's `listening PORT` line; returns the port.
pub fn listening(child: &mut Child) -> Result<String> {
    let words = child.expect("listening", SETUP)?;
    words
        .first()
        .cloned()
        .ok_or_else(|| "\"listening\" without a port".to_owned())
}

/// Reads `COUNT NANOS` from a sink and turns it into messages per second, checking that all
/// `n` arrived.
pub fn rate(words: &[String], n: u64) -> Result<f64> {
    let count: u64 = number(words, 0)?;
    let nanos: u64 = number(words, 1)?;
    if count != n {
        return Err(format!("{count} messages arrived, not {n}"));
    }
    if nanos == 0 || count < 2 {
        return Err("too few messages to time".into());
    }
    // From the first message to the last: count - 1 intervals.
    Ok((count - 1) as f64 / (nanos as f64 / 1e9))
}

/// Word `i` of a child's line, as a number.
pub fn number<T: std::str::FromStr>(words: &[String], i: usize) -> Result<T> {
    words
        .get(i)
        .ok_or_else(|| format!("line {words:?} has no word {i}"))?
        .parse()
        .map_err(|_| format!("word {i} of {words:?} is not a number"))
}

/// Runs one benchmark's runs, collecting one sample (or a few) per run.
pub fn runs<T>(cfg: &Config, mut once: impl FnMut() -> Result<T>) -> Result<Vec<T>> {
    (0..cfg.runs)
        .map(|i| once().context(format_args!("run {} of {}", i + 1, cfg.runs)))
        .collect()
}

/// Runs of a measurement and of the floor it is divided by, taken in turn ([`Config::paired_runs`]
/// of each; the floor first in odd runs, second in even ones), so that both meet the machine
/// in the same states. On a small VM a run's figure depends on which core each process lands
/// on, and that changes over the minute a group takes: measured one after the other, a floor
/// and its measurement could each catch a different spell.
pub fn paired<F, M>(
    cfg: &Config,
    mut floor: impl FnMut() -> Result<F>,
    mut measured: impl FnMut() -> Result<M>,
) -> Result<(Vec<F>, Vec<M>)> {
    let n = cfg.paired_runs();
    let (mut floors, mut figures) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for i in 0..n {
        let run = |what: &str| format!("{what}, run {} of {n}", i + 1);
        if i % 2 == 0 {
            floors.push(floor().context(run("floor"))?);
            figures.push(measured().context(run("measurement"))?);
        } else {
            figures.push(measured().context(run("measurement"))?);
            floors.push(floor().context(run("floor"))?);
        }
    }
    Ok((floors, figures))
}
