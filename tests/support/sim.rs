//! A deterministic simulator: many protocol cores (`secretagent::Node`) over a virtual network
//! with per-link latency and virtual time, all decided by one `u64` seed. Same seed, same run,
//! byte for byte: there is no thread, no socket and no clock read (the cores get
//! `t0 + virtual time`), every choice comes from the seeded generator, and events that fall on
//! the same virtual millisecond keep the order they were scheduled in.
//!
//! Faults: clean close, reset, silent blackhole, partitions that split the agents into groups
//! and heal, agent crash and restart (state lost, new incarnation), links removed and added,
//! and bursts of traffic. Invariants are checked as the run goes (no message lost, duplicated
//! or reordered between agents that stayed up) and at quiescence (every routing table
//! loop-free and shortest for the graph that is really up, every reachable name known
//! everywhere it is reachable and no unreachable one, every queue empty, timers bounded).
//!
//! Used by `tests/sim.rs` (many seeds, small meshes) and `examples/sim.rs` (one large mesh).
#![allow(dead_code)]

pub use super::rng::Rng;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::{Duration, Instant};

use secretagent::node::{Action, LinkOrigin, Node};
use secretagent::{ConnectId, Event, LinkDownReason, LinkId, MessageId, Options};
use serde_json::value::RawValue;

/// What a run is made of.
#[derive(Debug, Clone)]
pub struct Config {
    pub agents: usize,
    /// Average number of links per agent.
    pub degree: usize,
    /// Faults injected during the chaos phase.
    pub faults: usize,
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
}

impl Config {
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
        format!(
            "cargo run --release --example sim -- --agents {} --degree {} --faults {} --seed {} --pairs {} --messages {} --region {}",
            self.agents,
            self.degree,
            self.faults,
            self.seed,
            self.pairs,
            self.messages,
            self.region
        )
    }
}

/// Figures of one measured change.
#[derive(Debug, Clone, Default)]
pub struct Change {
    /// Virtual ms from the change until the last routing update anywhere.
    pub converged_ms: u64,
    /// `converged_ms` in units of the mean link latency.
    pub latencies: f64,
    pub control_frames: u64,
    pub control_bytes: u64,
    /// The most descriptions any one agent applied.
    pub max_updates: u64,
    /// Shortest-path computations, all agents together.
    pub computations: u64,
    /// Versions of their own descriptions the agents made (each is flooded everywhere).
    pub versions: u64,
}

/// What a run measured.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub links: usize,
    pub mean_latency: f64,
    pub initial: Change,
    pub link_failure: Change,
    pub agent_crash: Change,
    /// The whole chaos phase, from the first fault to quiescence (counters of crashed agents
    /// start again, so this is a lower bound).
    pub chaos: Change,
    pub faults: BTreeMap<&'static str, usize>,
    pub messages: u64,
    pub delivered: u64,
    pub lost: u64,
    pub duplicates: u64,
    pub reordered: u64,
    /// Pairs left out of the exactly-once count because one end crashed.
    pub pairs_with_crashes: usize,
    pub virtual_ms: u64,
    pub events: u64,
    pub wall: Duration,
    /// A digest of every byte delivered and when.
    pub digest: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ConnState {
    Open,
    /// Cleanly closed: what was sent before still arrives, then the close.
    Closing,
    /// Bytes vanish; nobody is told.
    Blackholed,
    /// Reset or crashed: bytes in flight are lost.
    Dead,
}

#[derive(Debug)]
struct Conn {
    /// (agent, its link id) at each end; end 0 dialled.
    ends: [(usize, LinkId); 2],
    /// Whether each end has let go of its link id.
    gone: [bool; 2],
    latency: u64,
    state: ConnState,
    /// The dialling end's `connect` call.
    connect: ConnectId,
}

#[derive(Debug)]
enum Ev {
    Up {
        conn: usize,
        end: usize,
    },
    Bytes {
        conn: usize,
        end: usize,
        bytes: Vec<u8>,
    },
    Down {
        conn: usize,
        end: usize,
        reason: LinkDownReason,
    },
    DialFailed {
        agent: usize,
        incarnation: u64,
        connect: ConnectId,
    },
    Wake {
        agent: usize,
    },
}

struct Agent {
    name: String,
    node: Option<Node>,
    incarnation: u64,
    /// Local link id → conn.
    links: BTreeMap<usize, usize>,
    /// Connect call → the agent it dials.
    dials: BTreeMap<ConnectId, usize>,
    /// Agent dialled → connect call (this agent is the dialling end of that edge).
    dial_of: BTreeMap<usize, ConnectId>,
    wake_at: Option<u64>,
    crashed: bool,
    /// Routing updates as of the last look (`Node::routing_updates`).
    updates: u64,
}

#[derive(Default)]
struct Pair {
    from: usize,
    to: usize,
    sent: u64,
    ids: Vec<MessageId>,
    next: u64,
    confirmed: u64,
    /// One end crashed: its messages are no longer promised.
    excused: bool,
}

pub struct Sim {
    pub cfg: Config,
    rng: Rng,
    t0: Instant,
    pub now: u64,
    /// Events by virtual ms, each ms's in the order they were scheduled.
    queue: BTreeMap<u64, VecDeque<Ev>>,
    /// Emptied buckets of `queue`, for the next ones.
    spare_buckets: Vec<VecDeque<Ev>>,
    /// Byte buffers of delivered `Ev::Bytes`, for the next ones.
    spare: Vec<Vec<u8>>,
    /// `SIM_TRACE`: `None` when unset; else the agents whose dials and frames are traced.
    trace: Option<Vec<usize>>,
    agents: Vec<Agent>,
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
}

fn name(i: usize) -> String {
    format!("a{i}")
}

impl Sim {
    pub fn new(cfg: Config) -> Sim {
        let mut rng = Rng::new(cfg.seed);
        let n = cfg.agents.max(2);
        // A random connected graph: a random tree, then random extra edges up to the degree.
        let mut edges = BTreeSet::new();
        for i in 1..n {
            let j = rng.below(i as u64) as usize;
            edges.insert((j, i));
        }
        let want = (n * cfg.degree / 2).max(n - 1);
        let mut tries = 0;
        while edges.len() < want && tries < want * 20 {
            tries += 1;
            let a = rng.below(n as u64) as usize;
            let b = rng.below(n as u64) as usize;
            if a != b && !edges.contains(&(b, a)) {
                edges.insert((a.min(b), a.max(b)));
            }
        }
        let mut opts = Options::default();
        opts.ping_after = Duration::from_millis(1000);
        opts.ping_timeout = Duration::from_millis(1000);
        opts.auto_reconnect_interval = Duration::from_millis(200);
        opts.hello_timeout = Duration::from_millis(2000);
        opts.max_known_names = n * 4 + 64;
        // Both ends' descriptions of a changed link cross the mesh by paths of five or six
        // links here, whose latencies differ by up to several slow links' worth: wait for the
        // pair rather than search twice (a WAN setting; the default suits a LAN).
        opts.route_delay = Duration::from_millis(5 * cfg.latency.1);
        let agents = (0..n)
            .map(|i| Agent {
                name: name(i),
                node: None,
                incarnation: 1_000 + i as u64,
                links: BTreeMap::new(),
                dials: BTreeMap::new(),
                dial_of: BTreeMap::new(),
                wake_at: None,
                crashed: false,
                updates: 0,
            })
            .collect();
        let mut sim = Sim {
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
            agents,
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

    fn at(&self, t: u64) -> Instant {
        self.t0 + Duration::from_millis(t)
    }

    fn push(&mut self, t: u64, ev: Ev) {
        let spare = &mut self.spare_buckets;
        self.queue
            .entry(t)
            .or_insert_with(|| spare.pop().unwrap_or_default())
            .push_back(ev);
    }

    /// Starts (or restarts) agent `i` and dials its edges.
    fn start(&mut self, i: usize) {
        self.create(i);
        self.dial_all(i);
    }

    fn create(&mut self, i: usize) {
        let at = self.at(self.now);
        let node =
            Node::new(&name(i), self.opts.clone(), self.agents[i].incarnation, at).expect("node");
        let a = &mut self.agents[i];
        a.node = Some(node);
        a.links.clear();
        a.dials.clear();
        a.dial_of.clear();
        a.wake_at = None;
    }

    fn dial_all(&mut self, i: usize) {
        let targets: Vec<usize> = self
            .edges
            .iter()
            .filter(|&&(x, _)| x == i)
            .map(|&(_, y)| y)
            .collect();
        for t in targets {
            self.dial_edge(i, t);
        }
        self.drain(i);
    }

    fn dial_edge(&mut self, from: usize, to: usize) {
        let a = &mut self.agents[from];
        let Some(node) = a.node.as_mut() else { return };
        let c = node.connect();
        a.dials.insert(c, to);
        a.dial_of.insert(to, c);
    }

    /// Whether `a` cannot reach `b`: a partition between them, or the measured link failure.
    fn partitioned(&self, a: usize, b: usize) -> bool {
        self.groups.as_ref().is_some_and(|g| g[a] != g[b]) || self.cut == Some((a.min(b), a.max(b)))
    }

    fn node(&mut self, i: usize) -> Option<&mut Node> {
        self.agents[i].node.as_mut()
    }

    /// Carries out what agent `i`'s core asked for, and records its events and whether it
    /// updated its routing.
    fn drain(&mut self, i: usize) {
        if let Some(node) = self.agents[i].node.as_ref() {
            let updates = node.routing_updates();
            if updates != self.agents[i].updates {
                self.agents[i].updates = updates;
                self.last_update = self.now;
            }
        }
        loop {
            let Some(node) = self.agents[i].node.as_mut() else {
                return;
            };
            let Some(action) = node.poll_action() else {
                break;
            };
            match action {
                Action::Dial(c) => self.dial(i, c),
                Action::Close { link, flush } => self.close(i, link, flush),
            }
        }
        loop {
            let at = self.at(self.now);
            let Some(node) = self.agents[i].node.as_mut() else {
                return;
            };
            let Some(link) = node.poll_transmit() else {
                break;
            };
            let mut bytes = self.spare.pop().unwrap_or_default();
            bytes.clear();
            bytes.extend_from_slice(node.outbound(link));
            node.consume_outbound(link, bytes.len(), at);
            if let Some(&c) = self.agents[i].links.get(&link.0) {
                let end = usize::from(self.conns[c].ends[1] == (i, link));
                let conn = &self.conns[c];
                if conn.state == ConnState::Open {
                    let t = self.now + conn.latency;
                    self.push(
                        t,
                        Ev::Bytes {
                            conn: c,
                            end: 1 - end,
                            bytes,
                        },
                    );
                }
            }
        }
        loop {
            let Some(node) = self.agents[i].node.as_mut() else {
                return;
            };
            let Some(e) = node.poll_event() else { break };
            self.observe(i, e);
        }
        // Timers: one wake-up per agent, at its core's next deadline.
        let Some(node) = self.agents[i].node.as_ref() else {
            return;
        };
        if let Some(due) = node.next_timeout() {
            let t = due.saturating_duration_since(self.t0).as_millis() as u64;
            if self.agents[i].wake_at.is_none_or(|w| t < w) {
                self.agents[i].wake_at = Some(t);
                self.push(t.max(self.now), Ev::Wake { agent: i });
            }
        }
    }

    fn traced(&self, i: usize) -> bool {
        self.trace.as_ref().is_some_and(|t| t.contains(&i))
    }

    fn dial(&mut self, i: usize, c: ConnectId) {
        let Some(&to) = self.agents[i].dials.get(&c) else {
            return;
        };
        if self.traced(i) || self.traced(to) {
            eprintln!(
                "{:>7} {} dials {} ({c}){}",
                self.now,
                name(i),
                name(to),
                if self.agents[to].node.is_none() || self.partitioned(i, to) {
                    ": fails"
                } else {
                    ""
                }
            );
        }
        let latency = self.rng.range(self.cfg.latency.0, self.cfg.latency.1);
        let incarnation = self.agents[i].incarnation;
        if self.agents[to].node.is_none() || self.partitioned(i, to) {
            self.push(
                self.now + 2 * latency,
                Ev::DialFailed {
                    agent: i,
                    incarnation,
                    connect: c,
                },
            );
            return;
        }
        let id_a = self.free_link(i);
        let id_b = self.free_link(to);
        let conn = self.conns.len();
        self.conns.push(Conn {
            ends: [(i, LinkId(id_a)), (to, LinkId(id_b))],
            gone: [false, false],
            latency,
            state: ConnState::Open,
            connect: c,
        });
        self.agents[i].links.insert(id_a, conn);
        self.agents[to].links.insert(id_b, conn);
        let t = self.now + latency;
        self.push(t, Ev::Up { conn, end: 1 });
        self.push(t, Ev::Up { conn, end: 0 });
    }

    /// The lowest link id agent `i` is not using (ids are reused, as an agent's slab would).
    fn free_link(&self, i: usize) -> usize {
        let used = &self.agents[i].links;
        (0..).find(|k| !used.contains_key(k)).unwrap_or(0)
    }

    fn close(&mut self, i: usize, link: LinkId, _flush: Vec<u8>) {
        let Some(c) = self.agents[i].links.remove(&link.0) else {
            return;
        };
        let end = usize::from(self.conns[c].ends[1] == (i, link));
        self.conns[c].gone[end] = true;
        let conn = &mut self.conns[c];
        if conn.state == ConnState::Open {
            conn.state = ConnState::Closing;
            let t = self.now + conn.latency;
            self.push(
                t,
                Ev::Down {
                    conn: c,
                    end: 1 - end,
                    reason: LinkDownReason::PeerClosed,
                },
            );
        }
    }

    fn observe(&mut self, i: usize, e: Event) {
        if self.traced(i)
            && !matches!(
                e,
                Event::Message { .. } | Event::Delivered { .. } | Event::Relayed { .. }
            )
        {
            eprintln!("{:>7} {} {e:?}", self.now, name(i));
        }
        match e {
            Event::Message { from, body, .. } => {
                let Ok(v) = serde_json::from_str::<serde_json::Value>(body.get()) else {
                    return;
                };
                let (Some(k), Some(n)) = (v["k"].as_u64(), v["n"].as_u64()) else {
                    return;
                };
                let Some(p) = self.pairs.get_mut(k as usize) else {
                    return;
                };
                if name(p.from) != from || p.to != i {
                    self.errors.push(format!(
                        "message of pair {k} from {from} arrived at {}",
                        name(i)
                    ));
                    return;
                }
                if p.excused {
                    return;
                }
                if n != p.next {
                    self.errors.push(format!(
                        "at {} ms, pair {k} ({from}→{}): got message {n}, expected {}",
                        self.now,
                        name(i),
                        p.next
                    ));
                    p.next = p.next.max(n + 1);
                } else {
                    p.next += 1;
                }
            }
            Event::Delivered { to, id } => {
                for p in self
                    .pairs
                    .iter_mut()
                    .filter(|p| p.from == i && name(p.to) == to)
                {
                    if p.ids.contains(&id) {
                        p.confirmed += 1;
                    }
                }
            }
            Event::Undeliverable { .. } => self
                .errors
                .push(format!("{} gave up on a message: {e:?}", name(i))),
            _ => {}
        }
    }

    /// Processes every event up to virtual time `until`.
    pub fn run_until(&mut self, until: u64) {
        while let Some(mut bucket) = self.queue.first_entry() {
            let t = *bucket.key();
            if t > until {
                break;
            }
            let Some(ev) = bucket.get_mut().pop_front() else {
                self.spare_buckets.push(bucket.remove());
                continue;
            };
            self.now = self.now.max(t);
            self.events += 1;
            self.handle(ev);
        }
        self.now = self.now.max(until);
    }

    fn handle(&mut self, ev: Ev) {
        let at = self.at(self.now);
        match ev {
            Ev::Up { conn, end } => {
                let (agent, link) = self.conns[conn].ends[end];
                if self.traced(agent) {
                    eprintln!(
                        "{:>7} {} up on {link} (conn {conn} {:?} gone {:?})",
                        self.now,
                        name(agent),
                        self.conns[conn].state,
                        self.conns[conn].gone
                    );
                }
                let c = &self.conns[conn];
                if c.gone[end] || matches!(c.state, ConnState::Dead | ConnState::Closing) {
                    // Broken before it was established: the dialler's connect failed (the
                    // accepting side never knew of it).
                    self.conns[conn].gone[end] = true;
                    self.agents[agent].links.remove(&link.0);
                    if end == 0 {
                        let connect = self.conns[conn].connect;
                        if let Some(node) = self.node(agent) {
                            node.handle_connect_failed(
                                connect,
                                "reset before established".into(),
                                at,
                            );
                        }
                        self.drain(agent);
                    }
                    return;
                }
                let origin = if end == 0 {
                    LinkOrigin::Dialed(self.conns[conn].connect)
                } else {
                    LinkOrigin::Accepted
                };
                if let Some(node) = self.node(agent) {
                    node.handle_link_up(link, origin, at);
                }
                self.drain(agent);
            }
            Ev::Bytes { conn, end, bytes } => {
                let c = &self.conns[conn];
                if c.gone[end] || matches!(c.state, ConnState::Dead | ConnState::Blackholed) {
                    return;
                }
                let (agent, link) = c.ends[end];
                // FNV-1a's step over words rather than bytes: gigabytes go through here.
                let mut mix = |w: u64| {
                    self.digest = (self.digest ^ w).wrapping_mul(0x100_0000_01b3);
                };
                mix(self.now);
                mix(bytes.len() as u64);
                let mut words = bytes.chunks_exact(8);
                for w in &mut words {
                    mix(u64::from_le_bytes(w.try_into().expect("8 bytes")));
                }
                let mut last = [0u8; 8];
                last[..words.remainder().len()].copy_from_slice(words.remainder());
                mix(u64::from_le_bytes(last));
                if let Some(node) = self.node(agent) {
                    node.handle_bytes(link, &bytes, at);
                }
                if self.spare.len() < 1024 {
                    self.spare.push(bytes);
                }
                self.drain(agent);
            }
            Ev::Down { conn, end, reason } => {
                let c = &mut self.conns[conn];
                if c.gone[end] {
                    return;
                }
                c.gone[end] = true;
                let (agent, link) = c.ends[end];
                self.agents[agent].links.remove(&link.0);
                if let Some(node) = self.node(agent) {
                    node.handle_link_down(link, reason, at);
                }
                self.drain(agent);
            }
            Ev::DialFailed {
                agent,
                incarnation,
                connect,
            } => {
                if self.agents[agent].incarnation != incarnation {
                    return;
                }
                if let Some(node) = self.node(agent) {
                    node.handle_connect_failed(connect, "refused".into(), at);
                }
                self.drain(agent);
            }
            Ev::Wake { agent } => {
                if self.agents[agent].wake_at != Some(self.now) {
                    // A stale wake-up; a later one is scheduled if needed.
                    if self.agents[agent].wake_at.is_some_and(|w| w > self.now) {
                        return;
                    }
                }
                self.agents[agent].wake_at = None;
                if let Some(node) = self.node(agent) {
                    node.handle_timeout(at);
                }
                self.drain(agent);
            }
        }
    }

    // -----------------------------------------------------------------------------------------
    // Faults

    fn open_conns(&self) -> Vec<usize> {
        (0..self.conns.len())
            .filter(|&c| {
                self.conns[c].state == ConnState::Open && !self.conns[c].gone.contains(&true)
            })
            .collect()
    }

    fn kill_conn(&mut self, c: usize, state: ConnState, reason: LinkDownReason) {
        let conn = &mut self.conns[c];
        conn.state = state;
        let latency = conn.latency;
        for end in 0..2 {
            if !self.conns[c].gone[end] {
                self.push(
                    self.now + latency,
                    Ev::Down {
                        conn: c,
                        end,
                        reason: reason.clone(),
                    },
                );
            }
        }
    }

    fn reset(c: &str) -> LinkDownReason {
        LinkDownReason::Io {
            kind: std::io::ErrorKind::ConnectionReset,
            message: c.into(),
        }
    }

    /// Injects one random fault; returns its kind.
    pub fn fault(&mut self) -> &'static str {
        let kind = self.fault_inner();
        if self.trace.is_some() {
            eprintln!("{:>7} FAULT {kind}", self.now);
        }
        kind
    }

    fn fault_inner(&mut self) -> &'static str {
        let n = self.agents.len();
        loop {
            let kind = self.rng.below(8);
            let open = self.open_conns();
            match kind {
                0 | 1 if !open.is_empty() => {
                    let c = open[self.rng.below(open.len() as u64) as usize];
                    if kind == 0 {
                        self.conns[c].state = ConnState::Closing;
                        self.kill_conn(c, ConnState::Closing, LinkDownReason::PeerClosed);
                        return "clean close";
                    }
                    self.kill_conn(c, ConnState::Dead, Self::reset("reset"));
                    return "reset";
                }
                2 if !open.is_empty() => {
                    let c = open[self.rng.below(open.len() as u64) as usize];
                    self.conns[c].state = ConnState::Blackholed;
                    return "blackhole";
                }
                3 if self.groups.is_none() => {
                    let groups = self.region();
                    for c in self.open_conns() {
                        let [(a, _), (b, _)] = self.conns[c].ends;
                        if groups[a] != groups[b] {
                            self.conns[c].state = ConnState::Blackholed;
                        }
                    }
                    self.groups = Some(groups);
                    return "partition";
                }
                4 if self.groups.is_some() => {
                    self.groups = None;
                    return "partition healed";
                }
                5 => {
                    let i = self.rng.below(n as u64) as usize;
                    if self.agents[i].node.is_none() {
                        continue;
                    }
                    self.crash(i);
                    let back = self.now + self.rng.range(100, 2000);
                    self.restart_at(i, back);
                    return "crash and restart";
                }
                6 if !self.edges.is_empty() => {
                    let edges: Vec<(usize, usize)> = self.edges.iter().copied().collect();
                    let (a, b) = edges[self.rng.below(edges.len() as u64) as usize];
                    self.remove_edge(a, b);
                    return "link removed";
                }
                7 => {
                    let a = self.rng.below(n as u64) as usize;
                    let b = self.rng.below(n as u64) as usize;
                    if a == b || self.edges.contains(&(a.min(b), a.max(b))) {
                        continue;
                    }
                    self.add_edge(a.min(b), a.max(b));
                    return "link added";
                }
                _ => {}
            }
        }
    }

    /// Splits the agents in two for a partition: a connected region around a random agent
    /// (a site losing its uplinks), of up to `Config::region` agents, against the rest.
    /// Partitions cut every link between the two, and the rest may fall apart further.
    fn region(&mut self) -> Vec<u8> {
        let n = self.agents.len();
        let size = self.rng.range(1, self.cfg.region.max(1) as u64 + 1) as usize;
        let adj = self.true_graph();
        let mut groups = vec![0u8; n];
        let start = self.rng.below(n as u64) as usize;
        let mut queue = std::collections::VecDeque::from([start]);
        groups[start] = 1;
        let mut taken = 1;
        while let Some(u) = queue.pop_front() {
            for &v in &adj[u] {
                if taken < size && groups[v] == 0 {
                    groups[v] = 1;
                    taken += 1;
                    queue.push_back(v);
                }
            }
        }
        groups
    }

    pub fn crash(&mut self, i: usize) {
        self.agents[i].node = None;
        self.agents[i].crashed = true;
        self.agents[i].wake_at = None;
        for p in self.pairs.iter_mut().filter(|p| p.from == i || p.to == i) {
            p.excused = true;
        }
        let mine: Vec<usize> = self.agents[i].links.values().copied().collect();
        for c in mine {
            let end = usize::from(self.conns[c].ends[1].0 == i);
            self.conns[c].gone[end] = true;
            // The kernel resets the crashed process's connections.
            let latency = self.conns[c].latency;
            self.conns[c].state = ConnState::Dead;
            if !self.conns[c].gone[1 - end] {
                self.push(
                    self.now + latency,
                    Ev::Down {
                        conn: c,
                        end: 1 - end,
                        reason: Self::reset("the peer crashed"),
                    },
                );
            }
        }
        self.agents[i].links.clear();
        // A new run has a new, larger incarnation.
        self.agents[i].incarnation += 1_000_000;
    }

    fn restart_at(&mut self, i: usize, t: u64) {
        // Restarts are applied by `run_chaos` when their time comes.
        self.pending_restarts.push((t, i));
    }

    pub fn remove_edge(&mut self, a: usize, b: usize) {
        self.edges.remove(&(a, b));
        if let Some(c) = self.agents[a].dial_of.remove(&b) {
            let at = self.at(self.now);
            if let Some(node) = self.node(a) {
                let _ = node.disconnect_connect(c, at);
            }
            self.drain(a);
        }
    }

    pub fn add_edge(&mut self, a: usize, b: usize) {
        self.edges.insert((a, b));
        self.dial_edge(a, b);
        self.drain(a);
    }

    // -----------------------------------------------------------------------------------------
    // Traffic

    fn send(&mut self, k: usize, count: u64) {
        for _ in 0..count {
            let p = &self.pairs[k];
            if p.sent >= self.cfg.messages || p.excused {
                return;
            }
            let (from, to, n) = (p.from, p.to, p.sent);
            let body = format!(r#"{{"k":{k},"n":{n}}}"#);
            let raw = RawValue::from_string(body).expect("json");
            let at = self.at(self.now);
            let Some(node) = self.agents[from].node.as_mut() else {
                return;
            };
            match node.send_message(&name(to), &raw, at) {
                Ok(id) => {
                    let p = &mut self.pairs[k];
                    p.ids.push(id);
                    p.sent += 1;
                }
                Err(_) => return,
            }
            self.drain(from);
        }
    }

    // -----------------------------------------------------------------------------------------
    // Checks

    /// The graph really up: links identified at both ends.
    fn true_graph(&self) -> Vec<Vec<usize>> {
        let mut adj = vec![Vec::new(); self.agents.len()];
        for c in &self.conns {
            if c.gone.contains(&true) || c.state != ConnState::Open {
                continue;
            }
            let [(a, la), (b, lb)] = c.ends;
            let ok = |i: usize, l: LinkId| {
                self.agents[i]
                    .node
                    .as_ref()
                    .is_some_and(|n| n.link_peer(l).is_some())
            };
            if ok(a, la) && ok(b, lb) {
                adj[a].push(b);
                adj[b].push(a);
            }
        }
        adj
    }

    fn distances(adj: &[Vec<usize>], from: usize) -> Vec<Option<u32>> {
        let mut d = vec![None; adj.len()];
        d[from] = Some(0);
        let mut q = VecDeque::from([from]);
        while let Some(u) = q.pop_front() {
            for &v in &adj[u] {
                if d[v].is_none() {
                    d[v] = Some(d[u].unwrap_or(0) + 1);
                    q.push_back(v);
                }
            }
        }
        d
    }

    /// Every routing table is loop-free and shortest for the graph really up, and knows exactly
    /// the names reachable.
    fn check_tables(&mut self) {
        let adj = self.true_graph();
        let index: BTreeMap<String, usize> = (0..self.agents.len()).map(|i| (name(i), i)).collect();
        let dist: Vec<Vec<Option<u32>>> = (0..self.agents.len())
            .map(|i| Self::distances(&adj, i))
            .collect();
        for i in 0..self.agents.len() {
            let Some(node) = self.agents[i].node.as_ref() else {
                continue;
            };
            let routes: BTreeMap<&str, secretagent::Route> = node.routes().collect();
            for (j, d) in dist[i].iter().enumerate() {
                if j == i {
                    continue;
                }
                let r = routes.get(name(j).as_str());
                match (d, r) {
                    (None, None) => {}
                    (None, Some(_)) => {
                        self.errors
                            .push(format!("{} routes to unreachable {}", name(i), name(j)))
                    }
                    (Some(_), None) => self.errors.push(format!(
                        "{} has no route to reachable {}",
                        name(i),
                        name(j)
                    )),
                    (Some(d), Some(r)) => {
                        if r.hops != Some(*d) {
                            self.errors.push(format!(
                                "{} reaches {} in {:?} hops; the shortest is {d}",
                                name(i),
                                name(j),
                                r.hops
                            ));
                        }
                        let next = node.link_peer(r.link).and_then(|p| index.get(p)).copied();
                        match next {
                            Some(p) if dist[p][j] == Some(d - 1) => {}
                            _ => self.errors.push(format!(
                                "{}'s next hop to {} ({:?}) does not bring it closer",
                                name(i),
                                name(j),
                                node.link_peer(r.link)
                            )),
                        }
                    }
                }
            }
            if routes.len() > self.agents.len() {
                self.errors
                    .push(format!("{} knows {} names", name(i), routes.len()));
            }
        }
    }

    fn check_bounded(&mut self) {
        for i in 0..self.agents.len() {
            let Some(node) = self.agents[i].node.as_ref() else {
                continue;
            };
            let s = node.stats();
            let links = s.links.max(1);
            if s.timers > 16 * (links + node.dial_count()) + 64 {
                self.errors.push(format!(
                    "{} holds {} timers for {} links",
                    name(i),
                    s.timers,
                    s.links
                ));
            }
            if s.queued_messages > 0 || s.held_messages > 0 {
                let for_whom: Vec<String> = (0..self.agents.len())
                    .filter(|&j| node.queued_for(&name(j)) > 0)
                    .map(|j| {
                        let other = self.agents[j].node.as_ref();
                        format!(
                            "{} for {} (route {:?}; {} rejected {}, dup {}, streams {})",
                            node.queued_for(&name(j)),
                            name(j),
                            node.route(&name(j)),
                            name(j),
                            other.map_or(0, |n| n.stats().rejected),
                            other.map_or(0, |n| n.stats().duplicates),
                            other.map_or(0, |n| n.stats().streams),
                        )
                    })
                    .collect();
                self.errors.push(format!(
                    "{} still holds {} messages ({}) and {} for others at quiescence; resent {}, timeouts {}",
                    name(i),
                    s.queued_messages,
                    for_whom.join("; "),
                    s.held_messages,
                    s.resent,
                    s.timeouts
                ));
            }
            if s.descriptions > self.agents.len() {
                self.errors
                    .push(format!("{} holds {} descriptions", name(i), s.descriptions));
            }
        }
    }

    /// Per agent: descriptions sent, control bytes written, descriptions applied.
    fn control(&self) -> Vec<[u64; 5]> {
        self.agents
            .iter()
            .map(|a| {
                let s = a.node.as_ref().map(|n| n.stats()).unwrap_or_default();
                [
                    s.descriptions_sent,
                    s.control_bytes,
                    s.descriptions_applied,
                    s.paths_computed,
                    s.descriptions_originated,
                ]
            })
            .collect()
    }

    /// Runs until no routing update happened for a while; measures the change since `from`.
    fn settle(&mut self, from: u64, before: Vec<[u64; 5]>) -> Change {
        self.last_update = self.now;
        let quiet = 4 * self.cfg.latency.1 + 50;
        loop {
            let step = self.now + quiet;
            self.run_until(step);
            let pending = self
                .agents
                .iter()
                .any(|a| a.node.as_ref().is_some_and(|n| n.stats().paths_pending));
            if self.now >= self.last_update + quiet && !pending {
                break;
            }
        }
        // Per agent, so that a crashed agent (whose counters start again) counts for nothing.
        let after = self.control();
        let delta: Vec<[u64; 5]> = after
            .iter()
            .zip(before.iter().chain(std::iter::repeat(&[0; 5])))
            .map(|(a, b)| std::array::from_fn(|k| a[k].saturating_sub(b[k])))
            .collect();
        let converged = self.last_update.saturating_sub(from);
        Change {
            converged_ms: converged,
            latencies: converged as f64 / self.mean_latency(),
            control_frames: delta.iter().map(|d| d[0]).sum(),
            control_bytes: delta.iter().map(|d| d[1]).sum(),
            max_updates: delta.iter().map(|d| d[2]).max().unwrap_or(0),
            computations: delta.iter().map(|d| d[3]).sum(),
            versions: delta.iter().map(|d| d[4]).sum(),
        }
    }

    fn mean_latency(&self) -> f64 {
        let open = self.conns.iter().filter(|c| c.state == ConnState::Open);
        let (sum, n) = open.fold((0u64, 0u64), |(s, n), c| (s + c.latency, n + 1));
        if n == 0 { 1.0 } else { sum as f64 / n as f64 }
    }

    // -----------------------------------------------------------------------------------------
    // The whole run

    /// Converges, measures a link failure and a crash, runs the chaos phase with traffic, then
    /// checks every invariant at quiescence.
    pub fn run(mut self) -> Result<Report, String> {
        let wall = Instant::now();
        let mut report = Report {
            links: self.edges.len(),
            ..Report::default()
        };
        let before = self.control();
        self.run_until(1);
        report.initial = self.settle(0, before);
        report.mean_latency = self.mean_latency();
        if self.cfg.check_tables {
            self.check_tables();
        }
        self.fail("initial convergence")?;

        // One link fails cleanly.
        let open = self.open_conns();
        if let Some(&c) = open.get(self.rng.below(open.len() as u64) as usize) {
            let before = self.control();
            let t = self.now;
            let [(a, _), (b, _)] = self.conns[c].ends;
            self.edges.remove(&(a.min(b), a.max(b)));
            self.agents[a].dial_of.remove(&b);
            self.cut = Some((a.min(b), a.max(b)));
            self.kill_conn(c, ConnState::Closing, LinkDownReason::PeerClosed);
            report.link_failure = self.settle(t, before);
            self.cut = None;
            // Put it back: the mesh stays the one generated.
            let (a, b) = (a.min(b), a.max(b));
            self.agents[a].dial_of.remove(&b);
            if let Some((&old, _)) = self.agents[a].dials.iter().find(|&(_, &to)| to == b) {
                let at = self.at(self.now);
                if let Some(node) = self.node(a) {
                    let _ = node.disconnect_connect(old, at);
                }
                self.agents[a].dials.remove(&old);
            }
            self.add_edge(a, b);
            let _ = self.settle(self.now, self.control());
        }
        // One agent crashes (and stays down while measured).
        let victim = self.rng.below(self.agents.len() as u64) as usize;
        let before = self.control();
        let t = self.now;
        self.crash(victim);
        report.agent_crash = self.settle(t, before);
        if self.cfg.check_tables {
            self.check_tables();
        }
        self.fail("after a link failure and a crash")?;
        self.start(victim);
        let _ = self.settle(self.now, self.control());

        // Chaos: traffic and faults together.
        let n = self.agents.len() as u64;
        for _ in 0..self.cfg.pairs {
            let from = self.rng.below(n) as usize;
            let mut to = self.rng.below(n) as usize;
            if to == from {
                to = (to + 1) % self.agents.len();
            }
            self.pairs.push(Pair {
                from,
                to,
                ..Pair::default()
            });
        }
        let original = self.edges.clone();
        let chaos_from = (self.now, self.control());
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
            let t = self.now + self.rng.range(20, 300);
            self.run_until(t);
        }
        // Heal everything: partitions, blackholes (they close by keepalive), the original
        // topology, crashed agents.
        self.groups = None;
        let t = self.now + 5_000;
        while !self.pending_restarts.is_empty() {
            self.apply_restarts_until(t);
            self.run_until(self.now + 100);
        }
        let extra: Vec<(usize, usize)> = self.edges.difference(&original).copied().collect();
        for (a, b) in extra {
            self.remove_edge(a, b);
        }
        let missing: Vec<(usize, usize)> = original.difference(&self.edges).copied().collect();
        for (a, b) in missing {
            self.add_edge(a, b);
        }
        for i in 0..self.agents.len() {
            if self.agents[i].node.is_none() {
                self.start(i);
            }
        }
        // Quiescence: long enough for keepalives to close blackholed links (silence, a ping,
        // its timeout), re-dials to land, and every message to be confirmed.
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
            let nothing_held = self.agents.iter().all(|a| {
                a.node.as_ref().is_none_or(|n| {
                    let s = n.stats();
                    s.queued_messages == 0 && s.held_messages == 0
                })
            });
            let done = pairs_done && nothing_held;
            if done || self.now >= deadline {
                break;
            }
        }
        report.chaos = self.settle(chaos_from.0, chaos_from.1);
        if std::env::var("SIM_DUMP").is_ok() {
            eprintln!("at {} ms, edges {:?}", self.now, self.edges);
            for (i, a) in self.agents.iter().enumerate() {
                let peers = a
                    .node
                    .as_ref()
                    .map(|n| n.peers().iter().map(|p| p.name.clone()).collect::<Vec<_>>());
                let links: Vec<_> = a
                    .links
                    .iter()
                    .map(|(l, &c)| (*l, c, self.conns[c].state, self.conns[c].gone))
                    .collect();
                eprintln!(
                    "{}: dial_of {:?} peers {peers:?} links {links:?}",
                    name(i),
                    a.dial_of
                );
            }
        }
        for (k, p) in self.pairs.iter().enumerate() {
            report.messages += p.sent;
            if p.excused {
                report.pairs_with_crashes += 1;
                continue;
            }
            report.delivered += p.next;
            if p.next < p.sent || p.confirmed < p.sent {
                report.lost += p.sent - p.next.min(p.sent);
                let describe = |i: usize, other: usize| {
                    self.agents[i].node.as_ref().map_or_else(
                        || "down".to_owned(),
                        |n| {
                            let s = n.stats();
                            format!(
                                "route to {} {:?} via {:?}; rejected {}, duplicates {}, resent {}, timeouts {}, held {}",
                                name(other),
                                n.route(&name(other)),
                                n.route(&name(other)).and_then(|r| n.link_peer(r.link)),
                                s.rejected,
                                s.duplicates,
                                s.resent,
                                s.timeouts,
                                n.queued_for(&name(other))
                            )
                        },
                    )
                };
                self.errors.push(format!(
                    "pair {k} ({}→{}): sent {}, handed over {}, confirmed {}\n    {}: {}\n    {}: {}",
                    name(p.from),
                    name(p.to),
                    p.sent,
                    p.next,
                    p.confirmed,
                    name(p.from),
                    describe(p.from, p.to),
                    name(p.to),
                    describe(p.to, p.from)
                ));
            }
        }
        report.reordered = self
            .errors
            .iter()
            .filter(|e| e.contains("got message"))
            .count() as u64;
        if self.cfg.check_tables {
            self.check_tables();
        }
        self.check_bounded();
        report.virtual_ms = self.now;
        report.events = self.events;
        report.digest = self.digest;
        report.wall = wall.elapsed();
        self.fail("at quiescence")?;
        Ok(report)
    }

    fn apply_restarts(&mut self) {
        let now = self.now;
        self.apply_restarts_until(now);
    }

    fn apply_restarts_until(&mut self, t: u64) {
        let due: Vec<(u64, usize)> = self
            .pending_restarts
            .iter()
            .copied()
            .filter(|&(at, _)| at <= t)
            .collect();
        self.pending_restarts.retain(|&(at, _)| at > t);
        for (_, i) in due {
            if self.agents[i].node.is_none() {
                self.start(i);
            }
        }
    }

    fn fail(&mut self, when: &str) -> Result<(), String> {
        if self.errors.is_empty() {
            return Ok(());
        }
        let mut msg = format!(
            "seed {}: {} violation(s) {when}:\n",
            self.cfg.seed,
            self.errors.len()
        );
        for e in self.errors.iter().take(20) {
            msg.push_str("  ");
            msg.push_str(e);
            msg.push('\n');
        }
        msg.push_str(&format!("replay: {}\n", self.cfg.replay()));
        Err(msg)
    }
}
