//! Allocations per 1 000 messages, in steady state: Wolf → Ames → Rosenberg in one process
//! (real loopback sockets), the counting allocator switched on, and each allocation charged to
//! the agent whose `send_raw`, `poll` or event draining made it. A warm-up stream first lets
//! every buffer and queue reach its working size; then a measured stream of the same length.

use std::time::{Duration, Instant};

use secretagent::{Event, Options, SendError};

use crate::support::Result;
use crate::support::alloc;
use crate::support::config::Config;
use crate::support::mesh::Mesh;
use crate::support::message::{self, RECEIVER, RELAY, SENDER, SEQ};
use crate::support::report::{Report, Row, Unit};

use super::{SETUP, deadline, runs};

/// Row 10.
pub fn relay(cfg: &Config, report: &mut Report) -> Result<()> {
    let n = cfg.pick(200_000, 20_000);
    alloc::start();
    let samples = runs(cfg, || once(n))?;
    let names = [SENDER, RELAY, RECEIVER];
    let roles = ["sender", "relay", "receiver"];
    for (i, (name, role)) in names.into_iter().zip(roles).enumerate() {
        let row = Row::new(
            &format!("allocations/{role}"),
            &format!("allocations per 1 000 msgs, {role} ({name})"),
            Unit::Count,
            samples.iter().map(|s: &[f64; 3]| s[i]).collect(),
        );
        report.add(if i == 0 {
            row.notes(format!(
                "{n} msgs measured/run after {n} warm-up; {SENDER} → {RELAY} → {RECEIVER} in one \
                 process; alloc + realloc calls"
            ))
        } else {
            row
        });
    }
    Ok(())
}

fn once(n: u64) -> Result<[f64; 3]> {
    let mut mesh = Mesh::new()?;
    let (w, _) = mesh.add(SENDER, Options::default())?;
    let (a, a_addr) = mesh.add(RELAY, Options::default())?;
    let (r, r_addr) = mesh.add(RECEIVER, Options::default())?;
    mesh.agents[w]
        .connect(a_addr)
        .map_err(|e| format!("{SENDER} dialling {RELAY}: {e}"))?;
    mesh.agents[a]
        .connect(r_addr)
        .map_err(|e| format!("{RELAY} dialling {RECEIVER}: {e}"))?;
    mesh.run_until("Wolf reaches Rosenberg through Ames", SETUP, |m| {
        m.routes(w, RECEIVER, 2) && m.routes(r, SENDER, 2)
    })?;
    let body = message::body(SEQ)?;
    stream(&mut mesh, [w, a, r], &body, n)?;
    let calls = stream(&mut mesh, [w, a, r], &body, n)?;
    Ok(calls.map(|c| c as f64 * 1000.0 / n as f64))
}

/// Streams `n` messages from the first agent to the last, until all are delivered and
/// confirmed; returns the allocation calls charged to each of the three agents.
fn stream(
    mesh: &mut Mesh,
    who: [usize; 3],
    body: &serde_json::value::RawValue,
    n: u64,
) -> Result<[u64; 3]> {
    let [w, _, r] = who;
    let mut calls = [0u64; 3];
    let (mut sent, mut confirmed, mut received) = (0u64, 0u64, 0u64);
    let end = Instant::now() + deadline(n);
    while confirmed < n || received < n {
        if Instant::now() > end {
            return Err(format!(
                "{sent} sent, {received} received, {confirmed} confirmed of {n} in {:?}",
                deadline(n)
            ));
        }
        let before = alloc::calls();
        while sent < n {
            match mesh.agents[w].send_raw(RECEIVER, body) {
                Ok(_) => sent += 1,
                Err(SendError::QueueFull { .. }) => break,
                Err(e) => return Err(format!("sending message {sent}: {e}")),
            }
        }
        calls[0] += alloc::calls() - before;
        mesh.wait(Duration::from_millis(5))?;
        for (k, &i) in who.iter().enumerate() {
            let before = alloc::calls();
            mesh.poll_one(i, |event| match event {
                Event::Delivered { .. } if i == w => confirmed += 1,
                Event::Message { .. } if i == r => received += 1,
                _ => {}
            })?;
            calls[k] += alloc::calls() - before;
        }
    }
    Ok(calls)
}
