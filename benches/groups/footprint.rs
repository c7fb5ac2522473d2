//! Footprint of an idle agent.
//!
//! - Heap per idle link: an agent process with the counting allocator switched on reports its
//!   live heap bytes with 0 and with 100 established, idle links (`report` of the agent role).
//!   The 100 peers are agents in this process, each linked only to the measured agent (a star),
//!   so the measured agent also holds 100 names, routes and link-state descriptions. With
//!   secure links (`groups::secure`), the measured agent and its peers are all secure.
//! - Resident set: the command-line agent (`secretagent`, the release build without the
//!   `secure` feature) with 0, 10 and 100 idle links, read from `VmRSS` in
//!   `/proc/PID/status` after 300 ms without change.
//! - Binary size: a stripped copy of that release binary, and of the one built with the
//!   `secure` feature.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use secretagent::Options;

use crate::roles::agent::rss_kib;
use crate::support::child::Child;
use crate::support::config::Config;
use crate::support::mesh::Mesh;
use crate::support::message::{PEERS, RECEIVER, peer};
use crate::support::report::{Report, Row, Target, Unit};
use crate::support::{Context, Result, secure};

use super::{Links, SETUP, number, runs, spawn};

/// How long an agent must stay unchanged before it counts as idle.
const SETTLE: Duration = Duration::from_millis(300);

/// Row 8a.
pub fn heap(cfg: &Config, report: &mut Report) -> Result<()> {
    heap_rows(cfg, report, Links::Plain)
}

/// The heap rows of agents with `links`: ids under `footprint/heap` (plain) or
/// `footprint/secure-heap`; the per-link target is 16 KiB plain, 24 KiB secure.
pub fn heap_rows(cfg: &Config, report: &mut Report, links: Links) -> Result<()> {
    let samples = runs(cfg, || {
        let (mut center, port) = spawn(RECEIVER, links, &["--count-alloc"])?;
        let mut mesh = Mesh::new()?;
        center.send("report 0")?;
        let zero: f64 = number(&await_line(&mut center, "report", &mut mesh)?, 1)?;
        add_peers(&mut mesh, &port, PEERS, links)?;
        center.send(&format!("report {PEERS}"))?;
        let full: f64 = number(&await_line(&mut center, "report", &mut mesh)?, 1)?;
        Ok([zero, full, (full - zero) / PEERS as f64])
    })?;
    let (id, kind, target_kib) = match links {
        Links::Plain => ("footprint/heap", "", 16.0),
        Links::Secure => ("footprint/secure-heap", "secure ", 24.0),
    };
    let col = |i: usize| samples.iter().map(|s: &[f64; 3]| s[i]).collect::<Vec<_>>();
    report.add(Row::new(
        &format!("{id}/0"),
        &format!("heap, idle {kind}agent, 0 links"),
        Unit::Bytes,
        col(0),
    ));
    report.add(
        Row::new(
            &format!("{id}/100"),
            &format!("heap, idle {kind}agent, {PEERS} links"),
            Unit::Bytes,
            col(1),
        )
        .notes("a star: each peer linked only to the measured agent"),
    );
    report.add(
        Row::new(
            &format!("{id}/per-link"),
            &format!("heap per idle {kind}link"),
            Unit::Bytes,
            col(2),
        )
        .target(Target::AtMost(target_kib * 1024.0))
        .notes(format!(
            "(heap with {PEERS} links − heap with 0) ÷ {PEERS}; counting allocator"
        )),
    );
    Ok(())
}

/// Row 8b.
pub fn rss(cfg: &Config, report: &mut Report) -> Result<()> {
    let steps = [0, 10, PEERS];
    let cli = cli_binary(Links::Plain)?;
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
            add_peers(&mut mesh, &port, more, Links::Plain)?;
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
    binary_row(report, Links::Plain)
}

/// The stripped size of the command-line agent built without (`Links::Plain`) or with the
/// `secure` feature; 1.5 MiB at most either way.
pub fn binary_row(report: &mut Report, links: Links) -> Result<()> {
    let cli = cli_binary(links)?;
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
    let (id, what, build) = match links {
        Links::Plain => ("footprint/binary", "stripped CLI binary", "release"),
        Links::Secure => (
            "footprint/secure-binary",
            "stripped CLI binary, secure feature",
            "release `--features secure`",
        ),
    };
    report.add(
        Row::new(id, what, Unit::Bytes, vec![size as f64])
            .target(Target::AtMost(1.5 * 1024.0 * 1024.0))
            .notes(format!(
                "{build} `secretagent`, `strip`ped copy; {} before strip",
                Unit::Bytes.show(unstripped as f64)
            )),
    );
    Ok(())
}

/// The release build of the command-line agent, with the `secure` feature or without. The
/// one this benchmark was built with is cargo's (`CARGO_BIN_EXE_secretagent`); the other is
/// built here, in a target directory of its own (cargo holds the benchmark's own while it
/// runs), the first time in about a minute.
fn cli_binary(links: Links) -> Result<PathBuf> {
    let secure = links == Links::Secure;
    let own = PathBuf::from(env!("CARGO_BIN_EXE_secretagent"));
    if secure == cfg!(feature = "secure") && own.exists() {
        return Ok(own);
    }
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(if secure {
        "cli-secure"
    } else {
        "cli-plain"
    });
    let mut cmd = Command::new(option_env!("CARGO").unwrap_or("cargo"));
    cmd.args(["build", "--release", "--quiet", "--bin", "secretagent"])
        .arg("--target-dir")
        .arg(&dir)
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    if secure {
        cmd.args(["--features", "secure"]);
    }
    let what = format!(
        "cargo build --release --bin secretagent{} --target-dir {}",
        if secure { " --features secure" } else { "" },
        dir.display()
    );
    eprintln!("  building the command-line agent: {what}");
    let status = cmd.status().context(format_args!("running {what}"))?;
    let path = dir.join("release").join("secretagent");
    if !status.success() || !path.exists() {
        return Err(format!(
            "{what} failed ({status}), or did not make {}",
            path.display()
        ));
    }
    Ok(path)
}

/// Adds `n` peer agents with `links`, each dialling `port`.
fn add_peers(mesh: &mut Mesh, port: &str, n: usize, links: Links) -> Result<()> {
    let port: u16 = port.parse().map_err(|_| format!("bad port \"{port}\""))?;
    for _ in 0..n {
        let name = peer(mesh.agents.len());
        let (i, _) = mesh.add_agent(secure::agent(&name, Options::default(), links.mesh())?)?;
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
