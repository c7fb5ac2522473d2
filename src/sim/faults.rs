//! The faults the simulator injects, and the changes of topology it makes on purpose: what
//! each does to connections (their state, the closes it schedules), to agents (crash, restart)
//! and to the wanted topology. It decides and applies; it must not carry bytes or judge the
//! outcome (`net.rs`, `checks.rs`).

use std::collections::VecDeque;

use super::Sim;
use super::net::{ConnState, Ev};
use crate::LinkDownReason;

impl Sim {
    /// Connections open at both ends.
    pub(super) fn open_conns(&self) -> Vec<usize> {
        (0..self.conns.len())
            .filter(|&c| {
                self.conns[c].state == ConnState::Open && !self.conns[c].gone.contains(&true)
            })
            .collect()
    }

    /// Puts connection `c` in `state` and tells both ends it went down, after its latency.
    pub(super) fn kill_conn(&mut self, c: usize, state: ConnState, reason: LinkDownReason) {
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
    pub(super) fn fault(&mut self) -> &'static str {
        let kind = self.fault_inner();
        if self.trace.is_some() {
            eprintln!("{:>7} FAULT {kind}", self.now);
        }
        kind
    }

    /// Draws kinds until one applies (a kind may not: no open connection to break, already
    /// partitioned, ...) and applies it.
    fn fault_inner(&mut self) -> &'static str {
        let n = self.hosts.len();
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
                    self.partition();
                    return "partition";
                }
                4 if self.groups.is_some() => {
                    self.groups = None;
                    return "partition healed";
                }
                5 => {
                    let i = self.rng.below(n as u64) as usize;
                    if self.hosts[i].node.is_none() {
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

    /// Cuts a region off: every open connection across blackholes, and dials across fail until
    /// the partition heals.
    fn partition(&mut self) {
        let groups = self.region();
        for c in self.open_conns() {
            let [(a, _), (b, _)] = self.conns[c].ends;
            if groups[a] != groups[b] {
                self.conns[c].state = ConnState::Blackholed;
            }
        }
        self.groups = Some(groups);
    }

    /// Splits the agents in two for a partition: a connected region around a random agent
    /// (a site losing its uplinks), of up to `Config::region` agents, against the rest.
    /// Partitions cut every link between the two, and the rest may fall apart further.
    fn region(&mut self) -> Vec<u8> {
        let n = self.hosts.len();
        let size = self.rng.range(1, self.cfg.region.max(1) as u64 + 1) as usize;
        let adj = self.true_graph();
        let mut groups = vec![0u8; n];
        let start = self.rng.below(n as u64) as usize;
        let mut queue = VecDeque::from([start]);
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

    /// Agent `i` crashes: its state is lost, its peers see resets, its pairs are excused, and
    /// it will come back with a new, larger incarnation.
    pub(super) fn crash(&mut self, i: usize) {
        // What it believed dies with it; what it said before is still on its way.
        if let Some(node) = self.hosts[i].node.take() {
            for (n, _) in node.routes() {
                if let Some(j) = n.strip_prefix('a').and_then(|j| j.parse::<usize>().ok()) {
                    self.hosts[j].last_doubted = self.now;
                }
            }
        }
        self.hosts[i].wake_at = None;
        self.hosts[i].down_since = Some(self.now);
        for p in self.pairs.iter_mut().filter(|p| p.from == i || p.to == i) {
            p.excused = true;
        }
        let mine: Vec<usize> = self.hosts[i].links.values().copied().collect();
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
        self.hosts[i].links.clear();
        self.hosts[i].incarnation += 1_000_000;
    }

    fn restart_at(&mut self, i: usize, t: u64) {
        // Applied by `apply_restarts` when their time comes.
        self.pending_restarts.push((t, i));
    }

    /// Brings back the crashed agents whose time has come.
    pub(super) fn apply_restarts(&mut self) {
        let now = self.now;
        self.apply_restarts_until(now);
    }

    /// Brings back the crashed agents due by `t`.
    pub(super) fn apply_restarts_until(&mut self, t: u64) {
        let due: Vec<(u64, usize)> = self
            .pending_restarts
            .iter()
            .copied()
            .filter(|&(at, _)| at <= t)
            .collect();
        self.pending_restarts.retain(|&(at, _)| at > t);
        for (_, i) in due {
            if self.hosts[i].node.is_none() {
                self.start(i);
            }
        }
    }

    /// The link `a` dials to `b` is no longer wanted: `a` disconnects it.
    pub(super) fn remove_edge(&mut self, a: usize, b: usize) {
        self.edges.remove(&(a, b));
        if let Some(c) = self.hosts[a].dial_of.remove(&b) {
            let at = self.at(self.now);
            if let Some(node) = self.node(a) {
                let _ = node.disconnect_connect(c, at);
            }
            self.drain(a);
        }
    }

    /// A link from `a` to `b` is wanted: `a` dials it.
    pub(super) fn add_edge(&mut self, a: usize, b: usize) {
        self.edges.insert((a, b));
        self.dial_edge(a, b);
        self.drain(a);
    }
}
