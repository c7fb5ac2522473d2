//! Convergence: 100 agents in one process, on real loopback sockets, linked as a line, a ring
//! or a 10×10 grid. The figure is the time from starting the dials until every agent has met
//! every other (`Event::Meet`, less `Event::Lose`), and the control traffic it took (hellos,
//! link-state descriptions, confirmations: `Stats::control_frames` and `control_bytes`, summed
//! over agents once nothing has been sent for 300 ms).
//!
//! Link-state flooding sends each description over every link, so control traffic should grow
//! no faster than links × agents; that product is printed beside it.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use secretagent::{Event, Options};

use crate::support::config::Config;
use crate::support::mesh::Mesh;
use crate::support::report::{Report, Row, Target, Unit};
use crate::support::{Context, Result};

use super::{SETUP, runs};

/// Agents in every topology.
const AGENTS: usize = 100;

/// Side of the grid.
const SIDE: usize = 10;

/// How long without control traffic counts as quiet.
const QUIET: Duration = Duration::from_millis(300);

/// Row 9, line.
pub fn line(cfg: &Config, report: &mut Report) -> Result<()> {
    let edges = (1..AGENTS).map(|i| (i - 1, i)).collect();
    measure(cfg, report, "line", edges)
}

/// Row 9, ring.
pub fn ring(cfg: &Config, report: &mut Report) -> Result<()> {
    let edges = (0..AGENTS).map(|i| (i, (i + 1) % AGENTS)).collect();
    measure(cfg, report, "ring", edges)
}

/// Row 9, grid.
pub fn grid(cfg: &Config, report: &mut Report) -> Result<()> {
    let mut edges = Vec::new();
    for r in 0..SIDE {
        for c in 0..SIDE {
            let i = r * SIDE + c;
            if c + 1 < SIDE {
                edges.push((i, i + 1));
            }
            if r + 1 < SIDE {
                edges.push((i, i + SIDE));
            }
        }
    }
    measure(cfg, report, "10×10 grid", edges)
}

/// What one run saw.
struct Outcome {
    millis: f64,
    frames: f64,
    bytes: f64,
    descriptions: f64,
}

fn measure(
    cfg: &Config,
    report: &mut Report,
    name: &str,
    edges: Vec<(usize, usize)>,
) -> Result<()> {
    let outcomes = runs(cfg, || once(&edges))?;
    let id = format!(
        "convergence/{}",
        name.split(' ').next_back().unwrap_or(name)
    );
    let product = (edges.len() * AGENTS) as f64;
    let col = |f: fn(&Outcome) -> f64| outcomes.iter().map(f).collect::<Vec<_>>();
    report.add(
        Row::new(
            &format!("{id}/time"),
            &format!("convergence, {AGENTS} agents, {name}"),
            Unit::Millis,
            col(|o| o.millis),
        )
        .target(Target::AtMost(1000.0))
        .notes(format!("{} links; one process, real sockets", edges.len())),
    );
    let frames = Row::new(
        &format!("{id}/frames"),
        &format!("convergence, {name}: control frames"),
        Unit::Count,
        col(|o| o.frames),
    );
    let per = frames.median() / product;
    let descriptions = crate::support::report::median(&col(|o| o.descriptions));
    report.add(frames.notes(format!(
        "links × agents = {product:.0}; {per:.2} frames per link × agent; \
         {descriptions:.0} descriptions sent"
    )));
    let bytes = Row::new(
        &format!("{id}/bytes"),
        &format!("convergence, {name}: control bytes"),
        Unit::Bytes,
        col(|o| o.bytes),
    );
    let per = bytes.median() / product;
    report.add(bytes.notes(format!("{per:.1} bytes per link × agent")));
    Ok(())
}

fn once(edges: &[(usize, usize)]) -> Result<Outcome> {
    let mut mesh = Mesh::new()?;
    let mut addrs: Vec<SocketAddr> = Vec::with_capacity(AGENTS);
    for i in 0..AGENTS {
        let (_, addr) = mesh.add(&format!("agent{i:02}"), Options::default())?;
        addrs.push(addr);
    }
    let mut known: Vec<HashSet<String>> = vec![HashSet::new(); AGENTS];
    let start = Instant::now();
    for &(i, j) in edges {
        mesh.agents[i]
            .connect(addrs[j])
            .context(format_args!("agent{i:02} dialling agent{j:02}"))?;
    }
    while known.iter().any(|k| k.len() < AGENTS - 1) {
        if start.elapsed() > SETUP {
            let done = known.iter().filter(|k| k.len() == AGENTS - 1).count();
            return Err(format!(
                "after {SETUP:?} only {done} of {AGENTS} agents had met every other"
            ));
        }
        mesh.step(Duration::from_millis(5), |i, event| match event {
            Event::Meet { name } => {
                known[i].insert(name.into());
            }
            Event::Lose { name } => {
                known[i].remove(name.as_str());
            }
            _ => {}
        })?;
    }
    let millis = start.elapsed().as_secs_f64() * 1e3;
    // Let late descriptions and confirmations finish, so that the traffic counted is the whole
    // of it.
    let total = |m: &Mesh| -> (u64, u64, u64) {
        m.agents.iter().fold((0, 0, 0), |(f, b, d), a| {
            let s = a.stats();
            (
                f + s.control_frames,
                b + s.control_bytes,
                d + s.descriptions_sent,
            )
        })
    };
    let mut last = total(&mesh);
    let mut quiet_since = Instant::now();
    while quiet_since.elapsed() < QUIET {
        if start.elapsed() > 2 * SETUP {
            return Err("control traffic never stopped".into());
        }
        mesh.step(Duration::from_millis(20), |_, _| {})?;
        let now = total(&mesh);
        if now != last {
            last = now;
            quiet_since = Instant::now();
        }
    }
    Ok(Outcome {
        millis,
        frames: last.0 as f64,
        bytes: last.1 as f64,
        descriptions: last.2 as f64,
    })
}
