//! The virtual network: the simulated agents' hosts, the connections between them, and the
//! queue of events by virtual millisecond. It carries out what each core asks (dial, close,
//! write) with the connection's latency, and hands cores what arrives, in the order it was
//! scheduled. It owns the clock (`Sim::now`) and the digest of delivered bytes; it must not
//! decide faults or judge outcomes (`faults.rs`, `checks.rs`), only apply the connection states
//! they set.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::forger::Counts;
use super::{Sim, name};
use crate::node::{Action, LinkOrigin, Node};
use crate::{ConnectId, LinkDownReason, LinkId};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ConnState {
    Open,
    /// Cleanly closed: what was sent before still arrives, then the close.
    Closing,
    /// Bytes vanish; nobody is told.
    Blackholed,
    /// Reset or crashed: bytes in flight are lost.
    Dead,
}

/// One TCP connection between two simulated agents.
#[derive(Debug)]
pub(super) struct Conn {
    /// (agent, its link id) at each end; end 0 dialled.
    pub(super) ends: [(usize, LinkId); 2],
    /// Whether each end has let go of its link id.
    pub(super) gone: [bool; 2],
    pub(super) latency: u64,
    pub(super) state: ConnState,
    /// The dialling end's `connect` call.
    connect: ConnectId,
}

/// Something that happens at a virtual millisecond.
#[derive(Debug)]
pub(super) enum Ev {
    Up {
        conn: usize,
        end: usize,
    },
    Bytes {
        conn: usize,
        end: usize,
        bytes: Vec<u8>,
        /// Forgeries among them (`forger.rs`).
        forged: Counts,
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

/// A simulated agent: its core while it runs, and what its shell would know.
pub(super) struct Host {
    pub(super) node: Option<Node>,
    pub(super) incarnation: u64,
    /// Local link id → conn.
    pub(super) links: BTreeMap<usize, usize>,
    /// Connect call → the agent it dials.
    pub(super) dials: BTreeMap<ConnectId, usize>,
    /// Agent dialled → connect call (this agent is the dialling end of that edge).
    pub(super) dial_of: BTreeMap<usize, ConnectId>,
    pub(super) wake_at: Option<u64>,
    /// When it crashed, while it is down.
    pub(super) down_since: Option<u64>,
    /// When its core last lost each agent (by index), for the check that a vanished agent
    /// is not met again.
    pub(super) lost: BTreeMap<usize, u64>,
    /// When an agent last stopped routing to this one (it lost it, or crashed).
    pub(super) last_doubted: u64,
    /// Routing updates as of the last look (`Node::routing_updates`).
    updates: u64,
    /// Forgeries that reached its core since it started.
    pub(super) forgeries: Counts,
}

impl Host {
    /// Agent `i`, not started yet.
    pub(super) fn new(i: usize) -> Host {
        Host {
            node: None,
            incarnation: 1_000 + i as u64,
            links: BTreeMap::new(),
            dials: BTreeMap::new(),
            dial_of: BTreeMap::new(),
            wake_at: None,
            down_since: None,
            lost: BTreeMap::new(),
            last_doubted: 0,
            updates: 0,
            forgeries: Counts::default(),
        }
    }
}

impl Sim {
    pub(super) fn at(&self, t: u64) -> Instant {
        self.t0 + Duration::from_millis(t)
    }

    pub(super) fn push(&mut self, t: u64, ev: Ev) {
        let spare = &mut self.spare_buckets;
        self.queue
            .entry(t)
            .or_insert_with(|| spare.pop().unwrap_or_default())
            .push_back(ev);
    }

    /// Starts (or restarts) agent `i` and dials its edges.
    pub(super) fn start(&mut self, i: usize) {
        self.create(i);
        self.dial_all(i);
    }

    pub(super) fn create(&mut self, i: usize) {
        let at = self.at(self.now);
        let (opts, inc) = (self.opts.clone(), self.hosts[i].incarnation);
        #[cfg(feature = "secure")]
        let node = match &self.keys {
            Some(keys) => keys.node(self.cfg.seed, i, opts, inc, at),
            None => Node::new(&name(i), opts, inc, at),
        };
        #[cfg(not(feature = "secure"))]
        let node = Node::new(&name(i), opts, inc, at);
        let node = node.expect("node");
        let a = &mut self.hosts[i];
        a.forgeries = Counts::default();
        a.node = Some(node);
        a.links.clear();
        a.dials.clear();
        a.dial_of.clear();
        a.wake_at = None;
        a.down_since = None;
        a.lost.clear();
    }

    pub(super) fn dial_all(&mut self, i: usize) {
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

    pub(super) fn dial_edge(&mut self, from: usize, to: usize) {
        let a = &mut self.hosts[from];
        let Some(node) = a.node.as_mut() else { return };
        let c = node.connect();
        a.dials.insert(c, to);
        a.dial_of.insert(to, c);
    }

    /// Whether `a` cannot reach `b`: a partition between them, or the measured link failure.
    fn partitioned(&self, a: usize, b: usize) -> bool {
        self.groups.as_ref().is_some_and(|g| g[a] != g[b]) || self.cut == Some((a.min(b), a.max(b)))
    }

    pub(super) fn node(&mut self, i: usize) -> Option<&mut Node> {
        self.hosts[i].node.as_mut()
    }

    pub(super) fn traced(&self, i: usize) -> bool {
        self.trace.as_ref().is_some_and(|t| t.contains(&i))
    }

    /// Carries out what agent `i`'s core asked for, and records its events and whether it
    /// updated its routing.
    pub(super) fn drain(&mut self, i: usize) {
        let Some(node) = self.hosts[i].node.as_ref() else {
            return;
        };
        let updates = node.routing_updates();
        if updates != self.hosts[i].updates {
            self.hosts[i].updates = updates;
            self.last_update = self.now;
        }
        self.drain_actions(i);
        self.drain_transmits(i);
        self.drain_events(i);
        self.arm_wake(i);
    }

    fn drain_actions(&mut self, i: usize) {
        while let Some(action) = self.node(i).and_then(Node::poll_action) {
            match action {
                Action::Dial(c) => self.dial(i, c),
                Action::Close { link, flush } => self.close(i, link, flush),
            }
        }
    }

    /// Puts what the core wrote on its connections, to arrive after their latency; writes
    /// on a connection no longer open vanish.
    fn drain_transmits(&mut self, i: usize) {
        loop {
            let at = self.at(self.now);
            let Some(node) = self.hosts[i].node.as_mut() else {
                return;
            };
            let Some(link) = node.poll_transmit() else {
                break;
            };
            let mut bytes = self.spare.pop().unwrap_or_default();
            bytes.clear();
            bytes.extend_from_slice(node.outbound(link));
            node.consume_outbound(link, bytes.len(), at);
            let conn = self.hosts[i].links.get(&link.0).copied();
            let open = conn.is_some_and(|c| self.conns[c].state == ConnState::Open);
            let forged = self
                .forger
                .as_mut()
                .map(|f| f.written(i, link, open))
                .unwrap_or_default();
            if let Some(c) = conn.filter(|_| open) {
                let end = usize::from(self.conns[c].ends[1] == (i, link));
                let t = self.now + self.conns[c].latency;
                self.push(
                    t,
                    Ev::Bytes {
                        conn: c,
                        end: 1 - end,
                        bytes,
                        forged,
                    },
                );
            }
        }
    }

    fn drain_events(&mut self, i: usize) {
        while let Some(e) = self.node(i).and_then(Node::poll_event) {
            self.observe(i, e);
        }
    }

    /// Timers: one wake-up per agent, at its core's next deadline.
    fn arm_wake(&mut self, i: usize) {
        let Some(node) = self.hosts[i].node.as_ref() else {
            return;
        };
        if let Some(due) = node.next_timeout() {
            let t = due.saturating_duration_since(self.t0).as_millis() as u64;
            if self.hosts[i].wake_at.is_none_or(|w| t < w) {
                self.hosts[i].wake_at = Some(t);
                self.push(t.max(self.now), Ev::Wake { agent: i });
            }
        }
    }

    /// Dials for agent `i`'s connect call `c`: the connection comes up at both ends after its
    /// latency, or the dial fails after a round trip when the other agent is down or cut off.
    fn dial(&mut self, i: usize, c: ConnectId) {
        let Some(&to) = self.hosts[i].dials.get(&c) else {
            return;
        };
        let fails = self.hosts[to].node.is_none() || self.partitioned(i, to);
        if self.traced(i) || self.traced(to) {
            let how = if fails { ": fails" } else { "" };
            eprintln!("{:>7} {} dials {} ({c}){how}", self.now, name(i), name(to));
        }
        let latency = self.rng.range(self.cfg.latency.0, self.cfg.latency.1);
        let incarnation = self.hosts[i].incarnation;
        if fails {
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
        self.hosts[i].links.insert(id_a, conn);
        self.hosts[to].links.insert(id_b, conn);
        let t = self.now + latency;
        self.push(t, Ev::Up { conn, end: 1 });
        self.push(t, Ev::Up { conn, end: 0 });
    }

    /// The lowest link id agent `i` is not using (ids are reused, as an agent's slab would).
    fn free_link(&self, i: usize) -> usize {
        let used = &self.hosts[i].links;
        (0..).find(|k| !used.contains_key(k)).unwrap_or(0)
    }

    fn close(&mut self, i: usize, link: LinkId, _flush: Vec<u8>) {
        let Some(c) = self.hosts[i].links.remove(&link.0) else {
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

    /// Processes every event up to virtual time `until`.
    pub(super) fn run_until(&mut self, until: u64) {
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
        match ev {
            Ev::Up { conn, end } => self.on_up(conn, end),
            Ev::Bytes {
                conn,
                end,
                bytes,
                forged,
            } => self.on_bytes(conn, end, bytes, forged),
            Ev::Down { conn, end, reason } => self.on_down(conn, end, reason),
            Ev::DialFailed {
                agent,
                incarnation,
                connect,
            } => {
                if self.hosts[agent].incarnation != incarnation {
                    return;
                }
                let at = self.at(self.now);
                if let Some(node) = self.node(agent) {
                    node.handle_connect_failed(connect, "refused".into(), at);
                }
                self.drain(agent);
            }
            Ev::Wake { agent } => self.on_wake(agent),
        }
    }

    fn on_up(&mut self, conn: usize, end: usize) {
        let at = self.at(self.now);
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
            self.hosts[agent].links.remove(&link.0);
            if end == 0 {
                let connect = self.conns[conn].connect;
                if let Some(node) = self.node(agent) {
                    node.handle_connect_failed(connect, "reset before established".into(), at);
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

    fn on_bytes(&mut self, conn: usize, end: usize, bytes: Vec<u8>, forged: Counts) {
        let c = &self.conns[conn];
        if c.gone[end] || matches!(c.state, ConnState::Dead | ConnState::Blackholed) {
            return;
        }
        let (agent, link) = c.ends[end];
        self.mix_digest(&bytes);
        let at = self.at(self.now);
        if let Some(node) = self.hosts[agent].node.as_mut() {
            node.handle_bytes(link, &bytes, at);
            self.hosts[agent].forgeries.add(forged);
        }
        if self.spare.len() < 1024 {
            self.spare.push(bytes);
        }
        self.drain(agent);
    }

    /// Adds delivered `bytes` and the time they arrived to the digest.
    fn mix_digest(&mut self, bytes: &[u8]) {
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
    }

    fn on_down(&mut self, conn: usize, end: usize, reason: LinkDownReason) {
        let c = &mut self.conns[conn];
        if c.gone[end] {
            return;
        }
        c.gone[end] = true;
        let (agent, link) = c.ends[end];
        self.hosts[agent].links.remove(&link.0);
        let at = self.at(self.now);
        if let Some(node) = self.node(agent) {
            node.handle_link_down(link, reason, at);
        }
        self.drain(agent);
    }

    fn on_wake(&mut self, agent: usize) {
        if self.hosts[agent].wake_at != Some(self.now) {
            // A stale wake-up; a later one is scheduled if needed.
            if self.hosts[agent].wake_at.is_some_and(|w| w > self.now) {
                return;
            }
        }
        self.hosts[agent].wake_at = None;
        let at = self.at(self.now);
        if let Some(node) = self.node(agent) {
            node.handle_timeout(at);
        }
        self.drain(agent);
    }

    /// Prints every agent's dials, peers and links (`SIM_DUMP`).
    pub(super) fn dump(&self) {
        eprintln!("at {} ms, edges {:?}", self.now, self.edges);
        for (i, a) in self.hosts.iter().enumerate() {
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
}
