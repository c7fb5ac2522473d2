//! A deterministic simulator: many protocol cores ([`Node`](crate::node::Node)) over a virtual network with
//! per-link latency and virtual time, all decided by one `u64` seed. Same seed, same run, byte
//! for byte: there is no thread, no socket and no clock read (the cores get
//! `t0 + virtual time`), every choice comes from the seeded generator, and events that fall on
//! the same virtual millisecond keep the order they were scheduled in.
//!
//! Built only for the crate's own tests and with the cargo feature `sim`, which
//! `examples/sim.rs` requires. It is a test instrument, not a stable API: its types and
//! figures change whenever the tests need them to.
//!
//! Faults: clean close, reset, silent blackhole, partitions that split the agents into groups
//! and heal, agent crash and restart (state lost, new incarnation), links removed and added,
//! and bursts of traffic. Invariants are checked as the run goes (no message lost, duplicated
//! or reordered between agents that stayed up; no message confirmed before it was handed
//! over; a crashed agent, once lost, is not met again on stale news) and at quiescence (every
//! routing table loop-free and shortest for the graph that is really up, every reachable name
//! known everywhere it is reachable and no unreachable one, every queue empty, timers
//! bounded).
//!
//! Secure mode (`Config::secure`, feature `secure`) runs every agent on secure links, and a
//! forging member (`Config::forger`) writes forgeries of others into its links; on secure
//! links each must be counted as forged by the core it reached, and every invariant above
//! still hold.
//!
//! | file | owns |
//! |---|---|
//! | `mod.rs` | the configuration, the [`Sim`] and the phases of a run |
//! | `net.rs` | the virtual network: connections, the event queue, carrying out what cores ask |
//! | `faults.rs` | the faults: what each does to connections, agents and the wanted topology |
//! | `traffic.rs` | the numbered traffic between sender–receiver pairs |
//! | `checks.rs` | the invariants, as the run goes and at quiescence |
//! | `secure.rs` | secure mode (feature `secure`): keys from the seed, one trust file, seeded generators |
//! | `forger.rs` | the forging member: forgeries of others written into its links, and the count of them |
//! | `report.rs` | the measurements: convergence and control traffic per change |
//! | `rng.rs` | the seeded generator |
//! | `testbed.rs` (tests only) | a few cores wired by hand under a virtual clock: `step`, `drive_until`, `drive_checking` |
//! | `never.rs` (tests only) | checks that something never happens, run on the testbed in virtual time |
//! | `forgery.rs` (tests only) | forged descriptions on the testbed: the victim back within the bounds `node/flooding.rs` states |
//! | `tests.rs` | the simulator over many seeds |
//!
//! The simulator drives cores only through their public `handle_*`/`poll_*` surface and their
//! getters, as any shell would; it must not reach into a core's internals. Every draw from the
//! generator and every event's place in the queue is part of what a seed means: changing either
//! changes every digest.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::{Duration, Instant};

use crate::Options;

mod checks;
mod faults;
mod forger;
#[cfg(test)]
mod forgery;
#[cfg(all(test, feature = "secure"))]
mod members;
mod net;
#[cfg(test)]
mod never;
mod report;
mod rng;
#[cfg(feature = "secure")]
mod secure;
#[cfg(test)]
mod testbed;
#[cfg(test)]
mod tests;
mod traffic;

pub use report::{Change, Report};

use forger::Forger;
use net::{Conn, Ev, Host};
use rng::Rng;
use traffic::Pair;

/// What a run is made of.
#[derive(Debug, Clone)]
pub struct Config {
    /// Agents in the mesh (at least 2).
    pub agents: usize,
    /// Average number of links per agent.
    pub degree: usize,
    /// Faults injected during the chaos phase.
    pub faults: usize,
    /// The seed every choice is drawn from.
    pub seed: u64,
    /// Link latency range, virtual ms.
    pub latency: (u64, u64),
    /// Sender→receiver pairs carrying numbered traffic.
    pub pairs: usize,
    /// Messages per pair.
    pub messages: u64,
    /// Check every routing table at quiescence (costly for thousands of agents).
    pub check_tables: bool,
    /// Most agents a partition cuts off from the rest.
    pub region: usize,
    /// Secure links (needs the `secure` feature): every agent's key drawn from the seed, one
    /// trust file for the mesh, each start of an agent with its own seeded generator.
    pub secure: bool,
    /// The agent that, besides behaving, forges other agents' descriptions, messages and
    /// confirmations into its links every chaos round (`forger.rs`). On secure links every
    /// forgery must be counted by the core it reached, and every invariant still hold.
    pub forger: Option<usize>,
}

impl Config {
    /// The small mesh the unit tests run under many seeds: 20 agents of degree 3, 30 faults,
    /// 6 pairs of 60 messages.
    pub fn small(seed: u64) -> Config {
        Config {
            agents: 20,
            degree: 3,
            faults: 30,
            seed,
            latency: (1, 10),
            pairs: 6,
            messages: 60,
            check_tables: true,
            region: Config::region_for(20),
            secure: false,
            forger: None,
        }
    }

    /// The default partition size for `agents` agents: up to a third of them, at most 20 (a
    /// site losing its uplinks). In a random mesh nearly every agent of a region is on its
    /// border, so a partition renumbers about as many descriptions as the region has agents,
    /// twice (cut, heal), each flooded to its whole side: a third of a thousand agents is
    /// some 3 M descriptions per partition, where the rest of a fault costs tens of
    /// thousands. Small meshes get partitions of a third; `--region` asks for larger ones.
    pub fn region_for(agents: usize) -> usize {
        (agents / 3).clamp(1, 20)
    }

    /// The command that replays this run.
    pub fn replay(&self) -> String {
        let features = if self.secure { "sim,secure" } else { "sim" };
        let mut cmd = format!(
            "cargo run --release --features {features} --example sim -- --agents {} --degree {} --faults {} --seed {} --pairs {} --messages {} --region {}",
            self.agents,
            self.degree,
            self.faults,
            self.seed,
            self.pairs,
            self.messages,
            self.region
        );
        if self.secure {
            cmd.push_str(" --secure");
        }
        if let Some(f) = self.forger {
            cmd.push_str(&format!(" --forger {f}"));
        }
        cmd
    }
}

/// One simulated mesh, from its configuration to its [`Report`].
pub struct Sim {
    cfg: Config,
    rng: Rng,
    t0: Instant,
    /// Virtual ms since `t0`.
    now: u64,
    /// Events by virtual ms, each ms's in the order they were scheduled.
    queue: BTreeMap<u64, VecDeque<Ev>>,
    /// Emptied buckets of `queue`, for the next ones.
    spare_buckets: Vec<VecDeque<Ev>>,
    /// Byte buffers of delivered `Ev::Bytes`, for the next ones.
    spare: Vec<Vec<u8>>,
    /// `SIM_TRACE`: `None` when unset; else the agents whose dials and frames are traced.
    trace: Option<Vec<usize>>,
    hosts: Vec<Host>,
    conns: Vec<Conn>,
    /// Wanted topology: (dialler, listener).
    edges: BTreeSet<(usize, usize)>,
    /// Group per agent while partitioned.
    groups: Option<Vec<u8>>,
    /// The link that fails for the measurement: its dialler's re-dials fail until it is put
    /// back, so that what is measured is the failure, not the failure and the repair.
    cut: Option<(usize, usize)>,
    pairs: Vec<Pair>,
    /// Virtual time of the last routing update anywhere (a description applied, shortest
    /// paths computed).
    last_update: u64,
    errors: Vec<String>,
    events: u64,
    opts: Options,
    /// (time, agent) of crashed agents to bring back.
    pending_restarts: Vec<(u64, usize)>,
    /// FNV-1a (over 8-byte words) of every byte delivered and when: equal digests mean equal
    /// runs.
    digest: u64,
    /// Every agent's key and the mesh's trust file, on secure links.
    #[cfg(feature = "secure")]
    keys: Option<secure::Keys>,
    /// The forging member, if there is one.
    forger: Option<Forger>,
}

/// The name of agent `i`.
fn name(i: usize) -> String {
    format!("a{i}")
}

/// A random connected graph on `n` agents: a random tree, then random extra edges up to
/// `degree` on average. Edges are (lower, higher).
fn random_graph(rng: &mut Rng, n: usize, degree: usize) -> BTreeSet<(usize, usize)> {
    let mut edges = BTreeSet::new();
    for i in 1..n {
        let j = rng.below(i as u64) as usize;
        edges.insert((j, i));
    }
    let want = (n * degree / 2).max(n - 1);
    let mut tries = 0;
    while edges.len() < want && tries < want * 20 {
        tries += 1;
        let a = rng.below(n as u64) as usize;
        let b = rng.below(n as u64) as usize;
        if a != b && !edges.contains(&(b, a)) {
            edges.insert((a.min(b), a.max(b)));
        }
    }
    edges
}

/// The options every simulated agent runs with, for `n` agents.
fn options(n: usize, cfg: &Config) -> Options {
    Options {
        ping_after: Duration::from_millis(1000),
        ping_timeout: Duration::from_millis(1000),
        auto_reconnect_interval: Duration::from_millis(200),
        hello_timeout: Duration::from_millis(2000),
        max_known_names: n * 4 + 64,
        // Both ends' descriptions of a changed link cross the mesh by paths of five or six
        // links here, whose latencies differ by up to several slow links' worth: wait for the
        // pair rather than search twice (a WAN setting; the default suits a LAN).
        route_delay: Duration::from_millis(5 * cfg.latency.1),
        ..Options::default()
    }
}

impl Sim {
    /// Builds the mesh `cfg` describes: every agent started, every wanted link dialled, no
    /// virtual time passed yet.
    pub fn new(cfg: Config) -> Sim {
        let mut rng = Rng::new(cfg.seed);
        let n = cfg.agents.max(2);
        let edges = random_graph(&mut rng, n, cfg.degree);
        let opts = options(n, &cfg);
        assert!(
            !cfg.secure || cfg!(feature = "secure"),
            "the simulator's secure mode needs the `secure` feature"
        );
        let forger = cfg.forger.map(|f| Forger::new(f.min(n - 1), cfg.seed));
        let mut sim = Sim {
            #[cfg(feature = "secure")]
            keys: cfg.secure.then(|| secure::Keys::new(cfg.seed, n)),
            forger,
            cfg,
            rng,
            t0: Instant::now(),
            now: 0,
            queue: BTreeMap::new(),
            spare_buckets: Vec::new(),
            spare: Vec::new(),
            trace: std::env::var("SIM_TRACE").ok().map(|t| {
                t.split(',')
                    .filter_map(|n| n.strip_prefix('a')?.parse().ok())
                    .collect()
            }),
            hosts: (0..n).map(Host::new).collect(),
            conns: Vec::new(),
            edges,
            groups: None,
            cut: None,
            pairs: Vec::new(),
            last_update: 0,
            errors: Vec::new(),
            events: 0,
            opts,
            pending_restarts: Vec::new(),
            digest: 0xcbf2_9ce4_8422_2325,
        };
        // Every agent exists before anyone dials.
        for i in 0..n {
            sim.create(i);
        }
        for i in 0..n {
            sim.dial_all(i);
        }
        sim
    }

    /// Converges, measures a link failure and a crash, runs the chaos phase with traffic, then
    /// checks every invariant at quiescence.
    pub fn run(mut self) -> Result<Report, String> {
        let wall = Instant::now();
        let mut report = Report {
            links: self.edges.len(),
            ..Report::default()
        };
        report.initial = self.converge()?;
        report.mean_latency = self.mean_latency();
        report.link_failure = self.measure_link_failure();
        report.agent_crash = self.measure_crash()?;
        let chaos_from = (self.now, self.control());
        let original = self.edges.clone();
        self.chaos(&mut report);
        self.heal(&original);
        self.quiesce();
        report.chaos = self.settle(chaos_from.0, chaos_from.1);
        if std::env::var("SIM_DUMP").is_ok() {
            self.dump();
        }
        self.account_pairs(&mut report);
        if self.cfg.check_tables {
            self.check_tables();
        }
        self.check_bounded();
        self.check_forgeries();
        self.report_forgeries(&mut report);
        report.virtual_ms = self.now;
        report.events = self.events;
        report.digest = self.digest;
        report.wall = wall.elapsed();
        self.fail("at quiescence")?;
        Ok(report)
    }

    /// The first phase: every agent up, every wanted link dialled, until routing is quiet.
    fn converge(&mut self) -> Result<Change, String> {
        let before = self.control();
        self.run_until(1);
        let change = self.settle(0, before);
        if self.cfg.check_tables {
            self.check_tables();
        }
        self.fail("initial convergence")?;
        Ok(change)
    }

    /// One link fails cleanly and its dialler cannot re-dial; measured, then put back so that
    /// the mesh stays the one generated. Nothing is measured if no link is open.
    fn measure_link_failure(&mut self) -> Change {
        let open = self.open_conns();
        let Some(&c) = open.get(self.rng.below(open.len() as u64) as usize) else {
            return Change::default();
        };
        let before = self.control();
        let t = self.now;
        let [(a, _), (b, _)] = self.conns[c].ends;
        self.edges.remove(&(a.min(b), a.max(b)));
        self.hosts[a].dial_of.remove(&b);
        self.cut = Some((a.min(b), a.max(b)));
        self.kill_conn(
            c,
            net::ConnState::Closing,
            crate::LinkDownReason::PeerClosed,
        );
        let change = self.settle(t, before);
        self.cut = None;
        let (a, b) = (a.min(b), a.max(b));
        self.hosts[a].dial_of.remove(&b);
        if let Some((&old, _)) = self.hosts[a].dials.iter().find(|&(_, &to)| to == b) {
            let at = self.at(self.now);
            if let Some(node) = self.node(a) {
                let _ = node.disconnect_connect(old, at);
            }
            self.hosts[a].dials.remove(&old);
        }
        self.add_edge(a, b);
        let _ = self.settle(self.now, self.control());
        change
    }

    /// One agent crashes and stays down while measured, then comes back.
    fn measure_crash(&mut self) -> Result<Change, String> {
        let victim = self.rng.below(self.hosts.len() as u64) as usize;
        let before = self.control();
        let t = self.now;
        self.crash(victim);
        let change = self.settle(t, before);
        if self.cfg.check_tables {
            self.check_tables();
        }
        self.fail("after a link failure and a crash")?;
        self.start(victim);
        let _ = self.settle(self.now, self.control());
        Ok(change)
    }

    /// Traffic and faults together: pairs are drawn, then every round injects a fault (until
    /// `Config::faults` are in), sends a burst from two pairs and lets some time pass, until
    /// every pair has sent its messages or is excused.
    fn chaos(&mut self, report: &mut Report) {
        self.draw_pairs();
        let mut faults = 0;
        while faults < self.cfg.faults
            || self
                .pairs
                .iter()
                .any(|p| p.sent < self.cfg.messages && !p.excused)
        {
            self.apply_restarts();
            if faults < self.cfg.faults {
                let kind = self.fault();
                *report.faults.entry(kind).or_default() += 1;
                faults += 1;
            }
            // A burst from a few pairs.
            for _ in 0..2 {
                let k = self.rng.below(self.pairs.len() as u64) as usize;
                let burst = self.rng.range(1, 20);
                self.send(k, burst);
            }
            self.forge();
            let t = self.now + self.rng.range(20, 300);
            self.run_until(t);
        }
    }

    /// Heals everything: partitions, blackholes (they close by keepalive), the `original`
    /// topology, crashed agents.
    fn heal(&mut self, original: &BTreeSet<(usize, usize)>) {
        self.groups = None;
        let t = self.now + 5_000;
        while !self.pending_restarts.is_empty() {
            self.apply_restarts_until(t);
            self.run_until(self.now + 100);
        }
        let extra: Vec<(usize, usize)> = self.edges.difference(original).copied().collect();
        for (a, b) in extra {
            self.remove_edge(a, b);
        }
        let missing: Vec<(usize, usize)> = original.difference(&self.edges).copied().collect();
        for (a, b) in missing {
            self.add_edge(a, b);
        }
        for i in 0..self.hosts.len() {
            if self.hosts[i].node.is_none() {
                self.start(i);
            }
        }
    }

    /// Runs long enough for keepalives to close blackholed links (silence, a ping, its
    /// timeout) and re-dials to land, then until every message is confirmed and nothing is
    /// held, or two virtual minutes pass.
    fn quiesce(&mut self) {
        let detect = (self.opts.ping_after + self.opts.ping_timeout).as_millis() as u64;
        let reconnect = self.opts.auto_reconnect_interval.as_millis() as u64;
        self.run_until(self.now + 2 * detect + 2 * reconnect);
        let deadline = self.now + 120_000;
        loop {
            self.run_until(self.now + 1_000);
            let pairs_done = self
                .pairs
                .iter()
                .all(|p| p.excused || (p.next == p.sent && p.confirmed == p.sent));
            let nothing_held = self.hosts.iter().all(|a| {
                a.node.as_ref().is_none_or(|n| {
                    let s = n.stats();
                    s.queued_messages == 0 && s.held_messages == 0
                })
            });
            if (pairs_done && nothing_held) || self.now >= deadline {
                break;
            }
        }
    }
}
