//! Throughput: messages per second at the receiver, each party in its own process.
//!
//! - The floors send the benchmark message over one blocking socket: as raw bytes, and as a
//!   typed message serialised and parsed with serde_json for every frame.
//! - One hop: a sender agent linked to a receiver agent. Two hops: sender, relay and receiver
//!   in a line; the sender has no link to the receiver.
//!
//! Agents run with default options, so messages are numbered and confirmed end to end (v2),
//! and the sender keeps its window full (see the `stream` command of the agent role).

use crate::support::Result;
use crate::support::child::Child;
use crate::support::config::Config;
use crate::support::message::{RECEIVER, RELAY, SENDER};
use crate::support::report::{Report, Row, Target, Unit};

use super::{Links, SETUP, deadline, listening, paired, rate, runs, spawn};

/// Row 1: the raw framing pipe.
pub fn floor_raw(cfg: &Config, report: &mut Report) -> Result<()> {
    let n = cfg.pick(5_000_000, 200_000);
    let samples = runs(cfg, || pipe(n, false))?;
    report.add(
        Row::new(
            "throughput/floor-raw",
            "floor: raw framing pipe",
            Unit::Rate,
            samples,
        )
        .notes(format!(
            "{n} frames/run, blocking sockets, 64 KiB buffers, no JSON"
        )),
    );
    Ok(())
}

/// Messages per run of one hop.
pub fn one_hop_count(cfg: &Config) -> u64 {
    cfg.pick(2_000_000, 100_000)
}

/// Messages per run through a relay.
pub fn relay_count(cfg: &Config) -> u64 {
    cfg.pick(1_500_000, 100_000)
}

/// Rows 2 and 3: the serde_json pipe and one hop between agent processes, runs in turn.
pub fn one_hop(cfg: &Config, report: &mut Report) -> Result<()> {
    let floor_n = cfg.pick(3_000_000, 200_000);
    let n = one_hop_count(cfg);
    let (floors, samples) = paired(cfg, || pipe(floor_n, true), || one_hop_run(n, Links::Plain))?;
    report.add(
        Row::new(
            "throughput/floor-serde",
            "floor: serde_json pipe",
            Unit::Rate,
            floors,
        )
        .notes(format!(
            "{floor_n} frames/run; typed struct serialised per frame, parsed (borrowing) per frame"
        )),
    );
    report.add(
        Row::new(
            "throughput/one-hop",
            "throughput, one hop",
            Unit::Rate,
            samples,
        )
        .target(Target::AtLeast(2.5e6))
        .notes(format!(
            "{n} msgs/run, {SENDER} → {RECEIVER}, default options (v2: numbered, confirmed)"
        )),
    );
    Ok(())
}

/// Row 4: through a relay.
pub fn relay(cfg: &Config, report: &mut Report) -> Result<()> {
    let n = relay_count(cfg);
    let samples = runs(cfg, || relay_run(n, Links::Plain))?;
    report.add(
        Row::new(
            "throughput/relay",
            "throughput through a relay",
            Unit::Rate,
            samples,
        )
        .target(Target::AtLeast(1.5e6))
        .notes(format!(
            "{n} msgs/run, {SENDER} → {RELAY} → {RECEIVER}, 3 processes"
        )),
    );
    Ok(())
}

/// One run of one hop with `links`: `n` messages from a sender process to a receiver process;
/// the rate at the receiver.
pub fn one_hop_run(n: u64, links: Links) -> Result<f64> {
    let n_arg = n.to_string();
    let (mut rx, port) = spawn(RECEIVER, links, &["--sink", &n_arg])?;
    let (tx, _) = spawn(SENDER, links, &["--connect", &port])?;
    stream(tx, &mut rx, n, 1)
}

/// One run through a relay with `links`: `n` messages from a sender process through a relay
/// process to a receiver process; the rate at the receiver.
pub fn relay_run(n: u64, links: Links) -> Result<f64> {
    let n_arg = n.to_string();
    let (mut rx, rx_port) = spawn(RECEIVER, links, &["--sink", &n_arg])?;
    let (_relay, relay_port) = spawn(RELAY, links, &["--connect", &rx_port])?;
    let (tx, _) = spawn(SENDER, links, &["--connect", &relay_port])?;
    stream(tx, &mut rx, n, 2)
}

/// Streams `n` messages from `tx` once it reaches the receiver in `hops` hops; returns the
/// rate at the receiver, after checking that the sender saw every message confirmed.
fn stream(mut tx: Child, rx: &mut Child, n: u64, hops: u32) -> Result<f64> {
    tx.send(&format!("wait {RECEIVER} {hops}"))?;
    tx.expect("reachable", SETUP)?;
    tx.send(&format!("stream {RECEIVER} {n}"))?;
    let words = rx.expect("received", deadline(n))?;
    tx.expect("streamed", SETUP)?;
    rate(&words, n)
}

/// One floor run: a raw sink and a raw source.
fn pipe(n: u64, serde: bool) -> Result<f64> {
    let flag: &[&str] = if serde { &["--serde"] } else { &[] };
    let mut sink = Child::role("raw sink", "raw-sink", flag)?;
    let port = listening(&mut sink)?;
    let count = n.to_string();
    let mut args = vec!["--port", &port, "--count", &count];
    args.extend_from_slice(flag);
    let _source = Child::role("raw source", "raw-source", &args)?;
    let words = sink.expect("received", deadline(n))?;
    rate(&words, n)
}
