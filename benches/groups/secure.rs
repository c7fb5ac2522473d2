//! Secure links (feature `secure`) set against plain ones in the same run: throughput one hop
//! and through a relay, one-hop latency, the handshake, heap per idle link and the size of the
//! command-line agent.
//!
//! - Throughput and latency: the plain groups' method and processes (`throughput`, `latency`),
//!   the agents started with `--secure`. Each secure figure is measured in turn with the same
//!   figure on plain links ([`paired`]), and the plain rows of these pairs are the ones its
//!   ratios divide by, so that both meet the machine in the same states.
//! - Handshake, two ways, each per side (dialler, acceptor):
//!   - the CPU time of the Noise handshake alone: [`Session`](secretagent::secure::Session)s
//!     in this thread, no sockets, no node; the dialler's is making its session (with
//!     message 1) and reading message 2 (and writing message 3), the acceptor's is reading
//!     message 1 (and writing message 2) and reading message 3;
//!   - the CPU time of setting up a link between two agents in this process on loopback,
//!     plain and secure: from the dialler's `connect` to the `LinkUp` event on each side (the
//!     peer's hello received and, on a secure link, its key checked for the name it claims),
//!     each side's calls timed on the thread's CPU clock (the time blocked in between counts
//!     for neither), and the wall time of the whole, for information.
//! - Heap per idle link and the stripped binary: as `footprint`, with secure agents, and with
//!   the command-line agent built with `--features secure`.
//!
//! In a build without the feature, each of these benchmarks is listed in the table as not run,
//! and says how to run it.

use std::time::{Duration, Instant};

use secretagent::{Event, Options};

use crate::support::config::Config;
use crate::support::mesh::Mesh;
use crate::support::message::{RECEIVER, RELAY, SENDER};
use crate::support::report::{Report, Row, Target, Unit, median};
use crate::support::{Context, Result, cpu, secure};

use super::{Links, SETUP, footprint, latency, paired, runs, throughput};

/// The handshake target, per side.
const HANDSHAKE_MAX: f64 = 1e6;

/// `cargo bench -- secure`'s note on plain rows measured in turn with secure ones.
const PAIRED: &str = "runs in turn with the secure row below";

/// One hop, plain and secure in turn.
pub fn one_hop(cfg: &Config, report: &mut Report) -> Result<()> {
    if !available(report, "throughput/secure-one-hop") {
        return Ok(());
    }
    let n = throughput::one_hop_count(cfg);
    let (plain, secured) = paired(
        cfg,
        || throughput::one_hop_run(n, Links::Plain),
        || throughput::one_hop_run(n, Links::Secure),
    )?;
    report.add(
        Row::new(
            "throughput/secure-one-hop/plain",
            "throughput, one hop, plain links",
            Unit::Rate,
            plain,
        )
        .notes(format!("{n} msgs/run, {SENDER} → {RECEIVER}; {PAIRED}")),
    );
    report.add(
        Row::new(
            "throughput/secure-one-hop",
            "throughput, one hop, secure links",
            Unit::Rate,
            secured,
        )
        .notes(format!(
            "{n} msgs/run, {SENDER} → {RECEIVER}; Noise XX links, records sealed per write"
        )),
    );
    Ok(())
}

/// Through a relay, plain and secure in turn.
pub fn relay(cfg: &Config, report: &mut Report) -> Result<()> {
    if !available(report, "throughput/secure-relay") {
        return Ok(());
    }
    let n = throughput::relay_count(cfg);
    let (plain, secured) = paired(
        cfg,
        || throughput::relay_run(n, Links::Plain),
        || throughput::relay_run(n, Links::Secure),
    )?;
    report.add(
        Row::new(
            "throughput/secure-relay/plain",
            "throughput through a relay, plain links",
            Unit::Rate,
            plain,
        )
        .notes(format!(
            "{n} msgs/run, {SENDER} → {RELAY} → {RECEIVER}, 3 processes; {PAIRED}"
        )),
    );
    report.add(
        Row::new(
            "throughput/secure-relay",
            "throughput through a relay, secure links",
            Unit::Rate,
            secured,
        )
        .target(Target::AtLeast(1e6))
        .notes(format!(
            "{n} msgs/run; each message tagged end to end by {SENDER}, checked by {RECEIVER}"
        )),
    );
    Ok(())
}

/// One-hop latency, plain and secure in turn.
pub fn latency(cfg: &Config, report: &mut Report) -> Result<()> {
    if !available(report, "latency/secure-one-hop") {
        return Ok(());
    }
    let (n, warm) = latency::counts(cfg);
    let (plain, secured) = paired(
        cfg,
        || latency::one_hop_run(n, warm, Links::Plain),
        || latency::one_hop_run(n, warm, Links::Secure),
    )?;
    latency::add(
        report,
        "latency/secure-one-hop/plain",
        "latency, one hop, plain links",
        plain,
        n,
        &format!("{}; {PAIRED}", latency::AGENTS_WAIT),
    );
    latency::add(
        report,
        "latency/secure-one-hop",
        "latency, one hop, secure links",
        secured,
        n,
        latency::AGENTS_WAIT,
    );
    Ok(())
}

/// Heap per idle secure link.
pub fn heap(cfg: &Config, report: &mut Report) -> Result<()> {
    if !available(report, "footprint/secure-heap") {
        return Ok(());
    }
    footprint::heap_rows(cfg, report, Links::Secure)
}

/// The stripped command-line agent built with the feature.
pub fn binary(_cfg: &Config, report: &mut Report) -> Result<()> {
    if !available(report, "footprint/secure-binary") {
        return Ok(());
    }
    footprint::binary_row(report, Links::Secure)
}

/// The handshake per side: the Noise handshake alone, and a whole link set-up plain and
/// secure.
pub fn handshake(cfg: &Config, report: &mut Report) -> Result<()> {
    if !available(report, "handshake/secure") {
        return Ok(());
    }
    let handshakes = cfg.pick(200, 20);
    let samples = runs(cfg, || session::per_side(handshakes))?;
    for (i, side) in ["dialler", "acceptor"].into_iter().enumerate() {
        let row = Row::new(
            &format!("handshake/session/{side}"),
            &format!("handshake CPU, Noise XX alone, {side}"),
            Unit::Nanos,
            samples.iter().map(|s| s[i]).collect(),
        )
        .target(Target::AtMost(HANDSHAKE_MAX));
        report.add(if i == 0 {
            row.notes(format!(
                "median of {handshakes} handshakes/run between two `Session`s in one thread, no \
                 IO: the dialler makes message 1, reads 2, writes 3; the acceptor reads 1, \
                 writes 2, reads 3; thread CPU time"
            ))
        } else {
            row
        });
    }
    let links = cfg.pick(40, 8);
    let (plain, secured) = paired(
        cfg,
        || link_ups(links, Links::Plain),
        || link_ups(links, Links::Secure),
    )?;
    add_link_ups(report, "plain", plain, links, Target::None);
    add_link_ups(
        report,
        "secure",
        secured,
        links,
        Target::AtMost(HANDSHAKE_MAX),
    );
    Ok(())
}

/// Adds the rows of link set-ups: CPU per side, and the wall time.
fn add_link_ups(report: &mut Report, kind: &str, samples: Vec<[f64; 3]>, n: usize, t: Target) {
    let col = |i: usize| samples.iter().map(|s| s[i]).collect::<Vec<_>>();
    report.add(
        Row::new(
            &format!("handshake/link-up/{kind}/dialler"),
            &format!("link set-up CPU, {kind}, dialler"),
            Unit::Nanos,
            col(0),
        )
        .target(t)
        .notes(format!(
            "median of {n} set-ups/run between two fresh agents in one thread on loopback: \
             from `connect` to each side's `LinkUp` (hello received, on a secure link its key \
             checked), the thread's CPU time in each agent's calls"
        )),
    );
    report.add(
        Row::new(
            &format!("handshake/link-up/{kind}/acceptor"),
            &format!("link set-up CPU, {kind}, acceptor"),
            Unit::Nanos,
            col(1),
        )
        .target(t),
    );
    report.add(
        Row::new(
            &format!("handshake/link-up/{kind}/wall"),
            &format!("link set-up wall time, {kind}, both sides"),
            Unit::Nanos,
            col(2),
        )
        .notes("from `connect` to the second `LinkUp`, one thread serving both agents"),
    );
}

/// `n` link set-ups between fresh agents with `links`: the median CPU time of the dialler
/// and of the acceptor, and the median wall time, in nanoseconds.
fn link_ups(n: usize, links: Links) -> Result<[f64; 3]> {
    let mut samples = [Vec::new(), Vec::new(), Vec::new()];
    for i in 0..n {
        let s = link_up(links).context(format_args!("link set-up {} of {n}", i + 1))?;
        for (col, x) in samples.iter_mut().zip(s) {
            col.push(x);
        }
    }
    Ok(samples.map(|col| median(&col)))
}

/// One link set-up between two fresh agents in one thread; see the module documentation.
fn link_up(links: Links) -> Result<[f64; 3]> {
    let opts = Options::default();
    let mut mesh = Mesh::new()?;
    let (a, _) = mesh.add_agent(secure::agent(SENDER, opts.clone(), links.mesh())?)?;
    let (b, b_addr) = mesh.add_agent(secure::agent(RECEIVER, opts, links.mesh())?)?;
    let mut cpu = [0u64; 2];
    let mut up = [false; 2];
    let start = Instant::now();
    let before = cpu::thread_ns()?;
    mesh.agents[a]
        .connect(b_addr)
        .context(format_args!("{SENDER} dialling {RECEIVER}"))?;
    cpu[0] += cpu::thread_ns()? - before;
    while !(up[0] && up[1]) {
        if start.elapsed() > SETUP {
            return Err(format!(
                "the link was not up within {SETUP:?} (up at the dialler: {}, at the \
                 acceptor: {})",
                up[0], up[1]
            ));
        }
        mesh.wait(Duration::from_millis(5))?;
        // Both keep running until both are up (the other may need what one writes), but a
        // side's time counts only until its own `LinkUp`.
        for (k, i) in [a, b].into_iter().enumerate() {
            let before = cpu::thread_ns()?;
            let mut now_up = false;
            mesh.poll_one(i, |e| now_up |= matches!(e, Event::LinkUp { .. }))?;
            if !up[k] {
                cpu[k] += cpu::thread_ns()? - before;
                up[k] = now_up;
            }
        }
    }
    let wall = start.elapsed().as_nanos() as f64;
    Ok([cpu[0] as f64, cpu[1] as f64, wall])
}

/// Whether this build has secure links; if not, lists benchmark `id` as not run.
fn available(report: &mut Report, id: &str) -> bool {
    if !secure::AVAILABLE {
        report.unavailable(id, secure::NEEDS_FEATURE);
    }
    secure::AVAILABLE
}

/// The Noise handshake between two sessions, timed per side.
#[cfg(feature = "secure")]
mod session {
    use std::sync::Arc;

    use secretagent::secure::{Csprng, SecureConfig, SecureError, Session};

    use crate::support::message::{RECEIVER, SENDER};
    use crate::support::report::median;
    use crate::support::{Context, Result, cpu, secure};

    /// `n` handshakes: the median CPU nanoseconds of the dialler's and of the acceptor's part.
    pub fn per_side(n: usize) -> Result<[f64; 2]> {
        let config = |name: &str| -> Result<Arc<SecureConfig>> {
            let identity = secure::identity(secure::MESH, name)?;
            Ok(Arc::new(SecureConfig::new(
                identity,
                secure::trust(secure::MESH)?,
            )))
        };
        let (dialler, acceptor) = (config(SENDER)?, config(RECEIVER)?);
        let mut rng = Csprng::from_seed([7; 32]);
        let (mut d, mut a) = (Vec::with_capacity(n), Vec::with_capacity(n));
        for i in 0..n {
            let [x, y] = once(&dialler, &acceptor, &mut rng)
                .context(format_args!("handshake {} of {n}", i + 1))?;
            d.push(x);
            a.push(y);
        }
        Ok([median(&d), median(&a)])
    }

    /// One handshake; the CPU nanoseconds of each side.
    fn once(
        dialler: &Arc<SecureConfig>,
        acceptor: &Arc<SecureConfig>,
        rng: &mut Csprng,
    ) -> Result<[f64; 2]> {
        let (mut m1, mut m2, mut m3) = (Vec::new(), Vec::new(), Vec::new());
        let mut plain = Vec::new();
        let mut spent = [0u64; 2];
        let mut timed = |side: usize, f: &mut dyn FnMut() -> Result<()>| -> Result<()> {
            let before = cpu::thread_ns()?;
            f()?;
            spent[side] += cpu::thread_ns()? - before;
            Ok(())
        };
        fn fail(what: &'static str) -> impl Fn(SecureError) -> String {
            move |e| format!("{what}: {e}")
        }
        let mut d = None;
        timed(0, &mut || {
            d = Some(Session::initiator(dialler, rng, &mut m1).map_err(fail("message 1"))?);
            Ok(())
        })?;
        let mut d = d.ok_or("no dialler session")?;
        let mut a = None;
        timed(1, &mut || {
            let mut s = Session::responder(acceptor, rng);
            s.read(&m1, &mut plain, &mut m2, 0)
                .map_err(fail("reading message 1"))?;
            a = Some(s);
            Ok(())
        })?;
        let mut a = a.ok_or("no acceptor session")?;
        timed(0, &mut || {
            d.read(&m2, &mut plain, &mut m3, 0)
                .map(drop)
                .map_err(fail("reading message 2"))
        })?;
        timed(1, &mut || {
            a.read(&m3, &mut plain, &mut Vec::new(), 0)
                .map(drop)
                .map_err(fail("reading message 3"))
        })?;
        if !(d.is_established() && a.is_established()) {
            return Err("the handshake did not finish in three messages".into());
        }
        Ok(spent.map(|ns| ns as f64))
    }
}

#[cfg(not(feature = "secure"))]
mod session {
    use crate::support::Result;

    pub fn per_side(_: usize) -> Result<[f64; 2]> {
        Err(crate::support::secure::NEEDS_FEATURE.to_owned())
    }
}
