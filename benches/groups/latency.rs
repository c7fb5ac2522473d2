//! Latency: the round trip of one message in flight, each party in its own process, measured by
//! the sender from just before its send to the moment it drains the answer.
//!
//! - Floor: the framed message over blocking sockets, echoed by the other process; for two
//!   hops, passed through a third process that forwards frames both ways.
//! - One hop: A sends to B, whose caller answers each message with a message back.
//! - Two hops: A and B are linked only to a relay: A → relay → B → relay → A.
//!
//! Agents block in `poll` until there is network work (no spinning), as the floor blocks in
//! `read`; each waits for the answer before sending the next message.

use crate::support::Result;
use crate::support::child::Child;
use crate::support::config::Config;
use crate::support::message::{RECEIVER, RELAY, SENDER};
use crate::support::report::{Report, Row, Unit};

use super::{SETUP, listening, number, runs, spawn_agent};

/// How the agents wait, for the notes.
const AGENTS_WAIT: &str = "agents block in `poll` until IO (1 s cap), no spinning";

/// Round trips measured per run (and unmeasured ones before them).
fn counts(cfg: &Config) -> (u64, u64) {
    cfg.pick((20_000, 2_000), (2_000, 200))
}

/// Row 5: the floor.
pub fn floor(cfg: &Config, report: &mut Report) -> Result<()> {
    let (n, warm) = counts(cfg);
    let samples = runs(cfg, || {
        let mut echo = Child::role("raw echo", "raw-echo", &[])?;
        let port = listening(&mut echo)?;
        let (count, warm) = (n.to_string(), warm.to_string());
        let mut ping = Child::role(
            "raw ping",
            "raw-ping",
            &["--port", &port, "--count", &count, "--warm", &warm],
        )?;
        let words = ping.expect("latency", SETUP + std::time::Duration::from_millis(n))?;
        percentiles(&words)
    })?;
    add(
        report,
        "latency/floor",
        "latency floor (raw ping-pong)",
        samples,
        n,
        "blocking read and write",
    );
    Ok(())
}

/// Row 5b: the floor of two hops: ping → relay → echo → relay → ping, plain frames.
pub fn floor_two_hops(cfg: &Config, report: &mut Report) -> Result<()> {
    let (n, warm) = counts(cfg);
    let samples = runs(cfg, || {
        let mut echo = Child::role("raw echo", "raw-echo", &[])?;
        let echo_port = listening(&mut echo)?;
        let mut relay = Child::role("raw relay", "raw-relay", &["--port", &echo_port])?;
        let port = listening(&mut relay)?;
        let (count, warm) = (n.to_string(), warm.to_string());
        let mut ping = Child::role(
            "raw ping",
            "raw-ping",
            &["--port", &port, "--count", &count, "--warm", &warm],
        )?;
        let words = ping.expect("latency", SETUP + std::time::Duration::from_millis(n))?;
        percentiles(&words)
    })?;
    add(
        report,
        "latency/floor-two-hops",
        "latency floor, two hops (raw ping → relay → echo)",
        samples,
        n,
        "blocking read and write; the relay forwards each way on its own thread",
    );
    Ok(())
}

/// Row 6a: one hop.
pub fn one_hop(cfg: &Config, report: &mut Report) -> Result<()> {
    let (n, warm) = counts(cfg);
    let samples = runs(cfg, || {
        let (_b, port) = spawn_agent(RECEIVER, &["--echo"])?;
        let (a, _) = spawn_agent(SENDER, &["--connect", &port])?;
        ping(a, n, warm, 1)
    })?;
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

/// Row 6b: two hops each way.
pub fn two_hops(cfg: &Config, report: &mut Report) -> Result<()> {
    let (n, warm) = counts(cfg);
    let samples = runs(cfg, || {
        let (_relay, relay_port) = spawn_agent(RELAY, &[])?;
        let (_b, _) = spawn_agent(RECEIVER, &["--echo", "--connect", &relay_port])?;
        let (a, _) = spawn_agent(SENDER, &["--connect", &relay_port])?;
        ping(a, n, warm, 2)
    })?;
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

/// Runs `ping` on agent `a` once it reaches B in `hops` hops.
fn ping(mut a: Child, n: u64, warm: u64, hops: u32) -> Result<[f64; 3]> {
    a.send(&format!("wait {RECEIVER} {hops}"))?;
    a.expect("reachable", SETUP)?;
    a.send(&format!("ping {RECEIVER} {n} {warm}"))?;
    let words = a.expect("latency", SETUP + std::time::Duration::from_millis(n))?;
    percentiles(&words)
}

/// `COUNT P50 P99 MAX` (nanoseconds) from a child.
fn percentiles(words: &[String]) -> Result<[f64; 3]> {
    Ok([number(words, 1)?, number(words, 2)?, number(words, 3)?])
}

/// Adds the p50, p99 and max rows of one benchmark; `how` says how its processes wait.
fn add(report: &mut Report, id: &str, what: &str, samples: Vec<[f64; 3]>, n: u64, how: &str) {
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
