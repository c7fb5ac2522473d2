//! Footprint of an idle agent.
//!
//! - Heap per idle link: an agent process with the counting allocator switched on reports its
//!   live heap bytes with 0 and with 100 established, idle links (`report` of the agent role).
//!   The 100 peers are agents in this process, each linked only to the measured agent (a star),
//!   so the measured agent also holds 100 names, routes and link-state descriptions.
//! - Resident set: the command-line agent (`secretagent`, the release build) with 0, 10 and 100
//!   idle links, read from `VmRSS` in `/proc/PID/status` after 300 ms without change.
//! - Binary size: a stripped copy of that release binary.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use secretagent::Options;

use crate::roles::agent::rss_kib;
use crate::support::child::Child;
use crate::support::config::Config;
use crate::support::mesh::Mesh;
use crate::support::message::RECEIVER;
use crate::support::report::{Report, Row, Target, Unit};
use crate::support::{Context, Result};

use super::{SETUP, number, runs, spawn_agent};

/// Links of the largest measurement.
const PEERS: usize = 100;

/// How long an agent must stay unchanged before it counts as idle.
const SETTLE: Duration = Duration::from_millis(300);

/// Row 8a.
pub fn heap(cfg: &Config, report: &mut Report) -> Result<()> {
    let samples = runs(cfg, || {
        let (mut center, port) = spawn_agent(RECEIVER, &["--count-alloc"])?;
        let mut mesh = Mesh::new()?;
        center.send("report 0")?;
        let zero: f64 = number(&await_line(&mut center, "report", &mut mesh)?, 1)?;
        add_peers(&mut mesh, &port, PEERS)?;
        center.send(&format!("report {PEERS}"))?;
        let full: f64 = number(&await_line(&mut center, "report", &mut mesh)?, 1)?;
        Ok([zero, full, (full - zero) / PEERS as f64])
    })?;
    let col = |i: usize| samples.iter().map(|s: &[f64; 3]| s[i]).collect::<Vec<_>>();
    report.add(Row::new(
        "footprint/heap/0",
        "heap, idle agent, 0 links",
        Unit::Bytes,
        col(0),
    ));
    report.add(
        Row::new(
            "footprint/heap/100",
            &format!("heap, idle agent, {PEERS} links"),
            Unit::Bytes,
            col(1),
        )
        .notes("a star: each peer linked only to the measured agent"),
    );
    report.add(
        Row::new(
            "footprint/heap/per-link",
            "heap per idle link",
            Unit::Bytes,
            col(2),
        )
        .target(Target::AtMost(16.0 * 1024.0))
        .notes(format!(
            "(heap with {PEERS} links − heap with 0) ÷ {PEERS}; counting allocator"
        )),
    );
    Ok(())
}

/// Row 8b.
pub fn rss(cfg: &Config, report: &mut Report) -> Result<()> {
    let steps = [0, 10, PEERS];
    let cli = cli_binary()?;
    let samples = runs(cfg, || {
        let mut center = Child::program(
            "secretagent (CLI)",
            &cli,
            &[RECEIVER, "--listen", "127.0.0.1:0"],
        )?;
        let port = cli_port(&mut center)?;
        let mut mesh = Mesh::new()?;
        let mut met = 0;
        let mut out = Vec::new();
        for n in steps {
            let more = n - mesh.agents.len();
            add_peers(&mut mesh, &port, more)?;
            let deadline = Instant::now() + SETUP;
            while met < n {
                if Instant::now() > deadline {
                    return Err(format!("the CLI agent met {met} of {n} peers in {SETUP:?}"));
                }
                while let Some(line) = center.try_line()? {
                    if line.contains(r#""event":"meet""#) {
                        met += 1;
                    }
                }
                mesh.step(Duration::from_millis(5), |_, _| {})?;
            }
            mesh.run_for(SETTLE)?;
            out.push(rss_kib(center.pid())? as f64 * 1024.0);
        }
        Ok(out)
    })?;
    for (i, n) in steps.into_iter().enumerate() {
        let row = Row::new(
            &format!("footprint/rss/{n}"),
            &format!("RSS, idle CLI agent, {n} links"),
            Unit::Bytes,
            samples.iter().map(|s| s[i]).collect(),
        );
        report.add(match n {
            10 => row
                .target(Target::AtMost(4.0 * 1024.0 * 1024.0))
                .notes("VmRSS of the release `secretagent` process"),
            _ => row,
        });
    }
    Ok(())
}

/// Row 8c.
pub fn binary(_cfg: &Config, report: &mut Report) -> Result<()> {
    let cli = cli_binary()?;
    let copy = std::env::temp_dir().join(format!("secretagent-bench-{}", std::process::id()));
    std::fs::copy(&cli, &copy).context(format_args!("copying {}", cli.display()))?;
    let stripped = Command::new("strip").arg(&copy).status();
    let size = std::fs::metadata(&copy).map(|m| m.len());
    let _ = std::fs::remove_file(&copy);
    match stripped {
        Ok(s) if s.success() => {}
        Ok(s) => return Err(format!("strip failed ({s})")),
        Err(e) => return Err(format!("running strip: {e}")),
    }
    let size = size.context("reading the stripped size")?;
    let unstripped = std::fs::metadata(&cli).map_or(0, |m| m.len());
    report.add(
        Row::new(
            "footprint/binary",
            "stripped CLI binary",
            Unit::Bytes,
            vec![size as f64],
        )
        .target(Target::AtMost(1.5 * 1024.0 * 1024.0))
        .notes(format!(
            "release `secretagent`, `strip`ped copy; {} before strip",
            Unit::Bytes.show(unstripped as f64)
        )),
    );
    Ok(())
}

/// The release build of the command-line agent, built if it is missing.
fn cli_binary() -> Result<PathBuf> {
    let path = PathBuf::from(env!("CARGO_BIN_EXE_secretagent"));
    if !path.exists() {
        let status = Command::new(option_env!("CARGO").unwrap_or("cargo"))
            .args(["build", "--release", "--bin", "secretagent"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .context("running cargo build --release --bin secretagent")?;
        if !status.success() || !path.exists() {
            return Err(format!(
                "cargo build --release --bin secretagent failed ({status}), or did not make {}",
                path.display()
            ));
        }
    }
    Ok(path)
}

/// Adds `n` peer agents, each dialling `port`.
fn add_peers(mesh: &mut Mesh, port: &str, n: usize) -> Result<()> {
    let port: u16 = port.parse().map_err(|_| format!("bad port \"{port}\""))?;
    for _ in 0..n {
        let name = format!("peer{:03}", mesh.agents.len());
        let (i, _) = mesh.add(&name, Options::default())?;
        mesh.agents[i]
            .connect(("127.0.0.1", port))
            .context(format_args!("{name} dialling"))?;
    }
    Ok(())
}

/// Waits for `word` from `child` while the peers in `mesh` keep running.
fn await_line(child: &mut Child, word: &str, mesh: &mut Mesh) -> Result<Vec<String>> {
    let deadline = Instant::now() + SETUP;
    loop {
        if let Some(words) = child.try_expect(word)? {
            return Ok(words);
        }
        if Instant::now() > deadline {
            return Err(format!("no \"{word}\" within {SETUP:?}"));
        }
        mesh.step(Duration::from_millis(5), |_, _| {})?;
    }
}

/// The port from the CLI's `{"event":"listening","addr":"127.0.0.1:PORT"}`.
fn cli_port(cli: &mut Child) -> Result<String> {
    let deadline = Instant::now() + SETUP;
    while Instant::now() < deadline {
        match cli.next_line(deadline.saturating_duration_since(Instant::now()))? {
            Some(line) if line.contains(r#""event":"listening""#) => {
                let v: serde_json::Value =
                    serde_json::from_str(&line).context("reading the listening line")?;
                return v["addr"]
                    .as_str()
                    .and_then(|a| a.rsplit(':').next())
                    .map(str::to_owned)
                    .ok_or_else(|| format!("no port in {line}"));
            }
            Some(_) | None => {}
        }
    }
    Err(format!(
        "the CLI did not say where it listens within {SETUP:?}"
    ))
}
