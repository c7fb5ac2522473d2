//! Allocations per 1 000 messages, in steady state: Wolf → Ames → Rosenberg in one process
//! (real loopback sockets), the counting allocator switched on, and each allocation charged to
//! the agent whose `send_raw`, `poll` or event draining made it. A warm-up first lets every
//! buffer and queue reach its working size; then a measured part of the same length.
//!
//! Two kinds of traffic: a stream (Wolf keeps the window full), and request/response (one
//! message in flight: Rosenberg answers each message, and Wolf sends the next on the answer),
//! where every message finds its destination's queue just emptied by the one before.

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
    let samples = runs(cfg, || per_thousand(n, stream))?;
    add(
        report,
        &samples,
        ("", "msgs"),
        ["sender", "relay", "receiver"],
        format!(
            "{n} msgs measured/run after {n} warm-up; {SENDER} → {RELAY} → {RECEIVER} in one \
             process; alloc + realloc calls"
        ),
    );
    Ok(())
}

/// Row 10b: request/response.
pub fn exchange(cfg: &Config, report: &mut Report) -> Result<()> {
    let n = cfg.pick(20_000, 2_000);
    let samples = runs(cfg, || per_thousand(n, exchanges))?;
    add(
        report,
        &samples,
        ("exchange-", "exchanges"),
        ["asker", "relay", "answerer"],
        format!(
            "{n} exchanges measured/run after {n} warm-up; a message each way, one in flight; \
             each end allocates the body of the message it receives"
        ),
    );
    Ok(())
}

/// Traffic of `n` messages or exchanges on the line; the allocation calls of each agent.
type Traffic = fn(&mut Mesh, [usize; 3], &serde_json::value::RawValue, u64) -> Result<[u64; 3]>;

/// One run: a fresh line, `traffic` once to warm up and once measured (`n` each); the
/// allocation calls of each agent per 1 000.
fn per_thousand(n: u64, traffic: Traffic) -> Result<[f64; 3]> {
    alloc::start();
    let (mut mesh, who) = line()?;
    let body = message::body(SEQ)?;
    traffic(&mut mesh, who, &body, n)?;
    let calls = traffic(&mut mesh, who, &body, n)?;
    Ok(calls.map(|c| c as f64 * 1000.0 / n as f64))
}

/// One row per agent of the line, named by `roles`; `(id, unit)`: the id's prefix after
/// `allocations/` and what is counted per 1 000; `notes` on the first row.
fn add(
    report: &mut Report,
    samples: &[[f64; 3]],
    (id, unit): (&str, &str),
    roles: [&str; 3],
    notes: String,
) {
    let names = [SENDER, RELAY, RECEIVER];
    for (i, (name, role)) in names.into_iter().zip(roles).enumerate() {
        let row = Row::new(
            &format!("allocations/{id}{role}"),
            &format!("allocations per 1 000 {unit}, {role} ({name})"),
            Unit::Count,
            samples.iter().map(|s| s[i]).collect(),
        );
        report.add(if i == 0 {
            row.notes(notes.clone())
        } else {
            row
        });
    }
}

/// Wolf → Ames → Rosenberg in one mesh, routes settled.
fn line() -> Result<(Mesh, [usize; 3])> {
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
    Ok((mesh, [w, a, r]))
}

/// `n` exchanges: the first agent sends, the last answers each message at once, and the first
/// sends the next message when the answer arrives. Returns the allocation calls charged to
/// each agent.
fn exchanges(
    mesh: &mut Mesh,
    who: [usize; 3],
    body: &serde_json::value::RawValue,
    n: u64,
) -> Result<[u64; 3]> {
    let [w, _, r] = who;
    let mut calls = [0u64; 3];
    let (mut asked, mut answered, mut to_answer) = (0u64, 0u64, 0u64);
    let end = Instant::now() + deadline(n);
    while answered < n {
        if Instant::now() > end {
            return Err(format!(
                "{asked} asked, {answered} answered of {n} in {:?}",
                deadline(n)
            ));
        }
        let before = alloc::calls();
        if asked == answered {
            mesh.agents[w]
                .send_raw(RECEIVER, body)
                .map_err(|e| format!("sending message {asked}: {e}"))?;
            asked += 1;
        }
        calls[0] += alloc::calls() - before;
        let before = alloc::calls();
        for _ in 0..to_answer {
            mesh.agents[r]
                .send_raw(SENDER, body)
                .map_err(|e| format!("answering: {e}"))?;
        }
        to_answer = 0;
        calls[2] += alloc::calls() - before;
        // What was just sent leaves at the sender's next poll: poll before waiting.
        let mut poll = |mesh: &mut Mesh, k: usize| -> Result<()> {
            let i = who[k];
            let before = alloc::calls();
            mesh.poll_one(i, |event| match event {
                Event::Message { .. } if i == w => answered += 1,
                Event::Message { .. } if i == r => to_answer += 1,
                _ => {}
            })?;
            calls[k] += alloc::calls() - before;
            Ok(())
        };
        poll(mesh, 0)?;
        poll(mesh, 2)?;
        mesh.wait(Duration::from_millis(5))?;
        for k in 0..3 {
            poll(mesh, k)?;
        }
    }
    Ok(calls)
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
