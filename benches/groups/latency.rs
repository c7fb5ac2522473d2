//! Latency: the round trip of one message in flight, each party in its own process, measured by
//! the sender from just before its send to the moment it drains the answer.
//!
//! - Floor: the framed message over blocking sockets, echoed by the other process; for two
//!   hops, passed through a third process that forwards frames both ways.
//! - One hop: A sends to B, whose caller answers each message with a message back.
//! - Two hops: A and B are linked only to a relay: A → relay → B → relay → A.
//! - Embedded: one hop, each agent inside an application's own mio loop (woken by its
//!   descriptor and `next_timeout()`, polled without blocking), set against the agents' own
//!   loop: an embedding must not cost latency.
//!
//! Agents block in `poll` until there is network work (no spinning), as the floor blocks in
//! `read`; each waits for the answer before sending the next message. A floor's runs and its
//! agents' runs are taken in turn (see [`paired`]).

use crate::support::Result;
use crate::support::child::Child;
use crate::support::config::Config;
use crate::support::message::{RECEIVER, RELAY, SENDER};
use crate::support::report::{Report, Row, Unit, median};

use super::{Links, SETUP, listening, number, paired, spawn, spawn_agent};

/// How the agents wait, for the notes.
pub const AGENTS_WAIT: &str = "agents block in `poll` until IO (1 s cap), no spinning";

/// Round trips measured per run (and unmeasured ones before them).
pub fn counts(cfg: &Config) -> (u64, u64) {
    cfg.pick((10_000, 1_000), (2_000, 200))
}

/// Rows 5 and 6a: the raw ping-pong floor and one hop, their runs taken in turn.
pub fn one_hop(cfg: &Config, report: &mut Report) -> Result<()> {
    let (n, warm) = counts(cfg);
    let (floors, samples) = paired(
        cfg,
        || {
            let mut echo = Child::role("raw echo", "raw-echo", &[])?;
            let port = listening(&mut echo)?;
            counting_wakes(n + warm, || raw_ping(&port, n, warm))
        },
        || one_hop_run(n, warm, Links::Plain),
    )?;
    add(
        report,
        "latency/floor",
        "latency floor (raw ping-pong)",
        floors,
        n,
        "blocking read and write",
    );
    add(
        report,
        "latency/one-hop",
        "latency, one hop (A→B→A)",
        samples,
        n,
        AGENTS_WAIT,
    );
    Ok(())
}

/// One run of one hop with `links`: A pings B, which echoes; p50, p99, max and cross-core
/// wake-ups per round trip.
pub fn one_hop_run(n: u64, warm: u64, links: Links) -> Result<[f64; 4]> {
    let (_b, port) = spawn(RECEIVER, links, &["--echo"])?;
    let (a, _) = spawn(SENDER, links, &["--connect", &port])?;
    counting_wakes(n + warm, || ping(a, n, warm, 1))
}

/// Rows 5b and 6b: the floor of two hops (ping → relay → echo → relay → ping, plain frames)
/// and two hops each way between agents (A and B linked only to a relay), runs in turn.
pub fn two_hops(cfg: &Config, report: &mut Report) -> Result<()> {
    let (n, warm) = counts(cfg);
    let (floors, samples) = paired(
        cfg,
        || {
            let mut echo = Child::role("raw echo", "raw-echo", &[])?;
            let echo_port = listening(&mut echo)?;
            let mut relay = Child::role("raw relay", "raw-relay", &["--port", &echo_port])?;
            let port = listening(&mut relay)?;
            counting_wakes(n + warm, || raw_ping(&port, n, warm))
        },
        || {
            let (_relay, relay_port) = spawn_agent(RELAY, &[])?;
            let (_b, _) = spawn_agent(RECEIVER, &["--echo", "--connect", &relay_port])?;
            let (a, _) = spawn_agent(SENDER, &["--connect", &relay_port])?;
            counting_wakes(n + warm, || ping(a, n, warm, 2))
        },
    )?;
    add(
        report,
        "latency/floor-two-hops",
        "latency floor, two hops (raw ping → relay → echo)",
        floors,
        n,
        "blocking read and write; the relay passes each frame on and the answer back, on one thread",
    );
    add(
        report,
        "latency/two-hops",
        "latency, two hops (A→relay→B→relay→A)",
        samples,
        n,
        AGENTS_WAIT,
    );
    Ok(())
}

/// Rows 6c: one hop with both agents in an embedding loop, runs in turn with one hop in the
/// agents' own loop (the row it is divided by).
pub fn embedded(cfg: &Config, report: &mut Report) -> Result<()> {
    let (n, warm) = counts(cfg);
    let (own, embedded) = paired(
        cfg,
        || one_hop_run(n, warm, Links::Plain),
        || {
            let (_b, port) = spawn_agent(RECEIVER, &["--echo", "--embed"])?;
            let (a, _) = spawn_agent(SENDER, &["--connect", &port, "--embed"])?;
            counting_wakes(n + warm, || ping(a, n, warm, 1))
        },
    )?;
    add(
        report,
        "latency/one-hop-own-loop",
        "latency, one hop, agents' own loop (paired with the embedded row)",
        own,
        n,
        AGENTS_WAIT,
    );
    add(
        report,
        "latency/embedded",
        "latency, one hop, both agents in an embedding mio loop",
        embedded,
        n,
        "each agent's descriptor in an outer mio::Poll with its next_timeout(), polled with a zero timeout",
    );
    Ok(())
}

/// Runs a raw ping against the raw echo (or relay) listening on `port`.
fn raw_ping(port: &str, n: u64, warm: u64) -> Result<[f64; 3]> {
    let (count, warm) = (n.to_string(), warm.to_string());
    let mut ping = Child::role(
        "raw ping",
        "raw-ping",
        &["--port", port, "--count", &count, "--warm", &warm],
    )?;
    let words = ping.expect("latency", SETUP + std::time::Duration::from_millis(n))?;
    percentiles(&words)
}

/// Runs `ping` on agent `a` once it reaches B in `hops` hops.
fn ping(mut a: Child, n: u64, warm: u64, hops: u32) -> Result<[f64; 3]> {
    a.send(&format!("wait {RECEIVER} {hops}"))?;
    a.expect("reachable", SETUP)?;
    a.send(&format!("ping {RECEIVER} {n} {warm}"))?;
    let words = a.expect("latency", SETUP + std::time::Duration::from_millis(n))?;
    percentiles(&words)
}

/// Runs `measure` and appends the cross-core wake-ups per round trip it caused, `NaN` where
/// they cannot be counted: the machine's function-call interrupts (`CAL` in
/// `/proc/interrupts`, the IPI a CPU sends to wake a task on another), over `round_trips`.
/// Setup's share is a few hundred in tens of thousands. On a VM whose idle CPUs halt, such a
/// wake-up costs tens of µs, and how many a round trip takes decides the run.
fn counting_wakes(
    round_trips: u64,
    measure: impl FnOnce() -> Result<[f64; 3]>,
) -> Result<[f64; 4]> {
    let before = wake_ipis();
    let [p50, p99, max] = measure()?;
    let per_trip = match (before, wake_ipis()) {
        (Some(b), Some(a)) => a.saturating_sub(b) as f64 / round_trips as f64,
        _ => f64::NAN,
    };
    Ok([p50, p99, max, per_trip])
}

/// The function-call interrupts taken so far, summed over CPUs (Linux and x86 only).
fn wake_ipis() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/interrupts").ok()?;
    let line = text.lines().find(|l| l.trim_start().starts_with("CAL:"))?;
    let counts = line.trim_start()["CAL:".len()..]
        .split_whitespace()
        .map_while(|w| w.parse::<u64>().ok());
    Some(counts.sum())
}

/// `COUNT P50 P99 MAX` (nanoseconds) from a child.
fn percentiles(words: &[String]) -> Result<[f64; 3]> {
    Ok([number(words, 1)?, number(words, 2)?, number(words, 3)?])
}

/// Adds the p50, p99 and max rows of one benchmark; `how` says how its processes wait.
pub fn add(report: &mut Report, id: &str, what: &str, samples: Vec<[f64; 4]>, n: u64, how: &str) {
    let wakes: Vec<f64> = samples
        .iter()
        .map(|s| s[3])
        .filter(|w| !w.is_nan())
        .collect();
    let how = if wakes.is_empty() {
        how.to_owned()
    } else {
        let w = median(&wakes);
        format!("{how}; {w:.1} cross-core wake-ups per round trip")
    };
    for (i, name) in ["p50", "p99", "max"].into_iter().enumerate() {
        let row = Row::new(
            &format!("{id}/{name}"),
            &format!("{what} {name}"),
            Unit::Nanos,
            samples.iter().map(|s| s[i]).collect(),
        );
        let row = if i == 0 {
            row.notes(format!("{n} round trips/run, one in flight; {how}"))
        } else {
            row
        };
        report.add(row);
    }
}
