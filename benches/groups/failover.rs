//! Failover: A streams steadily to B over a direct link, with a second way A–C–B; the direct
//! link breaks, and the figure is the time from the fault to the first message delivered at B
//! over the new way (`Event::Message::via` is C), plus a check that every message arrived
//! exactly once and in order.
//!
//! The direct link runs through the test suite's fault-injecting proxy
//! (`tests/support/proxy.rs`), which either closes both sides cleanly or silently drops every
//! byte while keeping both sockets open (a blackhole, found only by the keepalive). The three
//! agents share one thread here (their polls interleaved through one outer poll); the proxy
//! forwards on threads of its own.

use std::sync::Arc;
use std::time::{Duration, Instant};

use secretagent::{Event, Options, SendError};

use crate::proxy;
use crate::support::config::Config;
use crate::support::mesh::Mesh;
use crate::support::message::{self, RECEIVER, RELAY, SENDER};
use crate::support::report::{Report, Row, Target, Unit};
use crate::support::{Context, Result};

use super::{SETUP, runs};

/// Keepalive for both cases: silence after which a peer is pinged, and how long it then has.
const PING_AFTER: Duration = Duration::from_millis(200);
/// See [`PING_AFTER`].
const PING_TIMEOUT: Duration = Duration::from_millis(300);

/// A's steady rate: one message every this long (sent in small bursts as polls return).
const INTERVAL: Duration = Duration::from_micros(200);

/// How long A keeps streaming after the first message over the new way.
const AFTER: Duration = Duration::from_millis(300);

/// How the direct link breaks.
#[derive(Clone, Copy)]
enum Fault {
    /// Both sides closed cleanly (FIN both ways).
    Clean,
    /// Bytes vanish; both sockets stay open.
    Blackhole,
}

/// What one run saw.
struct Outcome {
    gap: Duration,
    sent: u64,
    lost: u64,
    duplicates: u64,
    out_of_order: u64,
}

/// Row 7a.
pub fn clean_close(cfg: &Config, report: &mut Report) -> Result<()> {
    measure(cfg, report, Fault::Clean)
}

/// Row 7b.
pub fn blackhole(cfg: &Config, report: &mut Report) -> Result<()> {
    measure(cfg, report, Fault::Blackhole)
}

fn measure(cfg: &Config, report: &mut Report, fault: Fault) -> Result<()> {
    let warm = cfg.pick(Duration::from_millis(500), Duration::from_millis(200));
    let outcomes = runs(cfg, || once(fault, warm))?;
    let (id, what, limit) = match fault {
        Fault::Clean => ("failover/clean-close", "failover gap, clean close", 50.0),
        Fault::Blackhole => (
            "failover/blackhole",
            "failover gap, blackhole",
            (PING_AFTER + PING_TIMEOUT).as_secs_f64() * 1e3 + 50.0,
        ),
    };
    let sent: u64 = outcomes.iter().map(|o| o.sent).sum();
    let dups: u64 = outcomes.iter().map(|o| o.duplicates).sum();
    let disorder: u64 = outcomes.iter().map(|o| o.out_of_order).sum();
    report.add(
        Row::new(
            &format!("{id}/gap"),
            what,
            Unit::Millis,
            outcomes.iter().map(|o| o.gap.as_secs_f64() * 1e3).collect(),
        )
        .target(Target::AtMost(limit))
        .notes(format!(
            "one process; ping_after {} ms, ping_timeout {} ms; {:.0} msgs/s streamed",
            PING_AFTER.as_millis(),
            PING_TIMEOUT.as_millis(),
            1.0 / INTERVAL.as_secs_f64()
        )),
    );
    report.add(
        Row::new(
            &format!("{id}/lost"),
            &format!("{what}: messages lost"),
            Unit::Count,
            outcomes.iter().map(|o| o.lost as f64).collect(),
        )
        .target(Target::AtMost(0.0))
        .notes(format!(
            "{sent} sent over all runs; duplicates delivered {dups}, out of order {disorder}"
        )),
    );
    Ok(())
}

/// Stops the proxy's threads however the run ends.
struct StopOnDrop(Arc<proxy::Route>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.stop();
    }
}

fn once(fault: Fault, warm: Duration) -> Result<Outcome> {
    let opts = Options {
        ping_after: PING_AFTER,
        ping_timeout: PING_TIMEOUT,
        ..Options::default()
    };
    let mut mesh = Mesh::new()?;
    let (a, _) = mesh.add(SENDER, opts.clone())?;
    let (b, b_addr) = mesh.add(RECEIVER, opts.clone())?;
    let (c, c_addr) = mesh.add(RELAY, opts)?;
    let route = StopOnDrop(proxy::Route::new(b_addr));
    mesh.agents[a]
        .connect(route.0.addr)
        .context("A dialling B through the proxy")?;
    mesh.agents[a].connect(c_addr).context("A dialling C")?;
    mesh.agents[c].connect(b_addr).context("C dialling B")?;
    mesh.run_until("A reaches B directly and C reaches both", SETUP, |m| {
        m.routes(a, RECEIVER, 1)
            && m.routes(b, SENDER, 1)
            && m.routes(c, SENDER, 1)
            && m.routes(c, RECEIVER, 1)
    })?;

    let body = |seq: u64| message::body(seq);
    let start = Instant::now();
    let mut sent = 0u64;
    let mut sending = true;
    let mut fault_at = None;
    let mut first_new = None;
    let mut received: Vec<u64> = Vec::new();
    let mut error = None;
    let mut drained_by = None;
    loop {
        let now = Instant::now();
        if sending {
            let due = (now - start).as_nanos() / INTERVAL.as_nanos();
            while u128::from(sent) < due {
                match mesh.agents[a].send_raw(RECEIVER, &body(sent)?) {
                    Ok(_) => sent += 1,
                    // The window is full (the way is down): catch up once there is room.
                    Err(SendError::QueueFull { .. }) => break,
                    Err(e) => return Err(format!("sending message {sent}: {e}")),
                }
            }
        }
        if fault_at.is_none() && now >= start + warm {
            fault_at = Some(Instant::now());
            match fault {
                Fault::Clean => route.0.cut(),
                Fault::Blackhole => route.0.blackhole(),
            }
        }
        if let Some(f) = fault_at {
            if first_new.is_none() && now > f + SETUP {
                return Err(format!(
                    "no message reached B through C within {SETUP:?} of the fault; \
                     {} of {sent} delivered",
                    received.len()
                ));
            }
        }
        if sending && first_new.is_some_and(|t: Instant| now >= t + AFTER) {
            sending = false;
            drained_by = Some(now + SETUP);
        }
        if !sending && received.len() as u64 >= sent {
            break;
        }
        if drained_by.is_some_and(|t| now >= t) {
            // Whatever has not arrived by now counts as lost.
            break;
        }
        mesh.step(Duration::from_millis(1), |i, event| {
            if i != b {
                return;
            }
            if let Event::Message { via, body, .. } = event {
                match message::seq_of(body.get()) {
                    Ok(seq) => received.push(seq),
                    Err(e) => error = Some(e),
                }
                if via == RELAY && fault_at.is_some() && first_new.is_none() {
                    first_new = Some(Instant::now());
                }
            }
        })?;
        if let Some(e) = error.take() {
            return Err(e);
        }
    }
    let (Some(f), Some(n)) = (fault_at, first_new) else {
        return Err("the stream ended before the fault".into());
    };
    let mut seen = vec![false; sent as usize];
    let (mut duplicates, mut out_of_order, mut last) = (0, 0, None);
    for &seq in &received {
        match seen.get_mut(seq as usize) {
            Some(s) if *s => duplicates += 1,
            Some(s) => *s = true,
            None => return Err(format!("B received message {seq}, never sent")),
        }
        if last.is_some_and(|l| seq <= l) {
            out_of_order += 1;
        }
        last = Some(seq);
    }
    Ok(Outcome {
        gap: n - f,
        sent,
        lost: seen.iter().filter(|s| !**s).count() as u64,
        duplicates,
        out_of_order,
    })
}
