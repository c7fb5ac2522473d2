//! The simulator's invariants: as the run goes (every pair's messages arrive at the right
//! agent, once and in order; nothing is given up; a crashed agent, once lost, is not met
//! again on news nobody holds any more), and at quiescence (every routing table
//! loop-free and shortest for the graph really up, exactly the reachable names known, nothing
//! queued or held, timers and descriptions bounded, every message handed over and confirmed).
//! Violations are collected in `Sim::errors` and turned into one failure naming the seed and
//! the command that replays it. It judges only: it must not change the network or the cores.

use std::collections::{BTreeMap, VecDeque};

use super::{Report, Sim, name};
use crate::Event;
use crate::node::Node;

impl Sim {
    /// Checks an event of agent `i` against the pairs' accounts, as it happens.
    pub(super) fn observe(&mut self, i: usize, e: Event) {
        if self.traced(i)
            && !matches!(
                e,
                Event::Message { .. } | Event::Delivered { .. } | Event::Relayed { .. }
            )
        {
            eprintln!("{:>7} {} {e:?}", self.now, name(i));
        }
        match e {
            Event::Message { from, body, .. } => self.handed_over(i, &from, body.get()),
            Event::Delivered { to, id } => self.confirmed(i, &to, id),
            Event::Undeliverable { .. } => self
                .errors
                .push(format!("{} gave up on a message: {e:?}", name(i))),
            Event::Meet { name: met } => self.met(i, &met),
            Event::Lose { name: lost } => self.lost(i, &lost),
            _ => {}
        }
    }

    /// Agent `i` met `met`, which may be down: a crashed agent is gone for good once `i` has
    /// lost it, while nobody believes in it any more. After the crash its neighbours notice,
    /// and their new descriptions spread; until they have reached everyone, some agents still
    /// route to it, and what they said before they knew better is still on its way (news of
    /// an agent travels no faster than news of its end, and a partition not noticed yet
    /// hides the end from a whole side). So a meeting is a fault only when nobody else routes
    /// to it and nobody stopped more recently than news takes to cross the mesh (every link
    /// of the longest path at the slowest latency): then nothing `i` met it by can be fresh,
    /// only stale (a description of it that still lists its neighbours, theirs that still
    /// list it, a database kept while `i` was cut off).
    fn met(&mut self, i: usize, met: &str) {
        let Some(j) = index_of(met) else {
            return;
        };
        let Some(down) = self.hosts.get(j).and_then(|h| h.down_since) else {
            return;
        };
        let Some(&lost) = self.hosts[i].lost.get(&j).filter(|&&lost| lost >= down) else {
            return;
        };
        let believed = self
            .hosts
            .iter()
            .enumerate()
            .any(|(k, h)| k != i && h.node.as_ref().is_some_and(|n| n.route(met).is_some()));
        let crossing = (self.hosts.len() as u64 - 1) * self.cfg.latency.1;
        let doubted = self.hosts[j].last_doubted;
        if !believed && self.now > doubted + crossing {
            self.errors.push(format!(
                "at {} ms, {} met {met} again, down since {down} ms and lost at {lost} ms; \
                 nobody else has routed to it since {doubted} ms",
                self.now,
                name(i)
            ));
        }
    }

    /// Agent `i` lost `lost`.
    fn lost(&mut self, i: usize, lost: &str) {
        if let Some(j) = index_of(lost) {
            self.hosts[i].lost.insert(j, self.now);
            self.hosts[j].last_doubted = self.now;
        }
    }

    /// Agent `i` had a message to `to` confirmed: it must have been handed over (a forged
    /// confirmation would drop messages that never arrived).
    fn confirmed(&mut self, i: usize, to: &str, id: crate::MessageId) {
        let now = self.now;
        for (k, p) in self.pairs.iter_mut().enumerate() {
            if p.from != i || name(p.to) != to {
                continue;
            }
            let Some(n) = p.ids.iter().position(|&x| x == id) else {
                continue;
            };
            p.confirmed += 1;
            if !p.excused && n as u64 >= p.next {
                self.errors.push(format!(
                    "at {now} ms, pair {k} ({}→{to}): message {n} confirmed before it was handed over (next {})",
                    name(i),
                    p.next
                ));
            }
        }
    }

    /// Agent `i` handed over a message from `from`: it must be its pair's next number.
    fn handed_over(&mut self, i: usize, from: &str, body: &str) {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(body) else {
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

    /// The graph really up: links identified at both ends.
    pub(super) fn true_graph(&self) -> Vec<Vec<usize>> {
        let mut adj = vec![Vec::new(); self.hosts.len()];
        for c in &self.conns {
            if c.gone.contains(&true) || c.state != super::net::ConnState::Open {
                continue;
            }
            let [(a, la), (b, lb)] = c.ends;
            let ok = |i: usize, l: crate::LinkId| {
                self.hosts[i]
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

    /// Hops from `from` to every agent in `adj`, `None` where unreachable.
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
    pub(super) fn check_tables(&mut self) {
        let adj = self.true_graph();
        let index: BTreeMap<String, usize> = (0..self.hosts.len()).map(|i| (name(i), i)).collect();
        let dist: Vec<Vec<Option<u32>>> = (0..self.hosts.len())
            .map(|i| Self::distances(&adj, i))
            .collect();
        let mut errors = Vec::new();
        for (i, host) in self.hosts.iter().enumerate() {
            if let Some(node) = host.node.as_ref() {
                Self::check_table(i, node, &dist, &index, &mut errors);
            }
        }
        self.errors.extend(errors);
    }

    /// Agent `i`'s table against the true distances `dist`.
    fn check_table(
        i: usize,
        node: &Node,
        dist: &[Vec<Option<u32>>],
        index: &BTreeMap<String, usize>,
        errors: &mut Vec<String>,
    ) {
        let routes: BTreeMap<&str, crate::Route> = node.routes().collect();
        for (j, d) in dist[i].iter().enumerate() {
            if j == i {
                continue;
            }
            let (d, r) = match (d, routes.get(name(j).as_str())) {
                (None, None) => continue,
                (None, Some(_)) => {
                    errors.push(format!("{} routes to unreachable {}", name(i), name(j)));
                    continue;
                }
                (Some(_), None) => {
                    errors.push(format!("{} has no route to reachable {}", name(i), name(j)));
                    continue;
                }
                (Some(d), Some(r)) => (*d, r),
            };
            if r.hops != Some(d) {
                errors.push(format!(
                    "{} reaches {} in {:?} hops; the shortest is {d}",
                    name(i),
                    name(j),
                    r.hops
                ));
            }
            let next = node.link_peer(r.link).and_then(|p| index.get(p)).copied();
            match next {
                Some(p) if dist[p][j] == Some(d - 1) => {}
                _ => errors.push(format!(
                    "{}'s next hop to {} ({:?}) does not bring it closer",
                    name(i),
                    name(j),
                    node.link_peer(r.link)
                )),
            }
        }
        if routes.len() > dist.len() {
            errors.push(format!("{} knows {} names", name(i), routes.len()));
        }
    }

    /// At quiescence: timers in proportion to links and dials, nothing queued or held, no more
    /// descriptions than agents.
    pub(super) fn check_bounded(&mut self) {
        for i in 0..self.hosts.len() {
            let Some(node) = self.hosts[i].node.as_ref() else {
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
                let for_whom = self.queued_by_destination(node);
                self.errors.push(format!(
                    "{} still holds {} messages ({}) and {} for others at quiescence; resent {}, timeouts {}",
                    name(i),
                    s.queued_messages,
                    for_whom,
                    s.held_messages,
                    s.resent,
                    s.timeouts
                ));
            }
            if s.descriptions > self.hosts.len() {
                self.errors
                    .push(format!("{} holds {} descriptions", name(i), s.descriptions));
            }
        }
    }

    /// What `node` still queues, per destination, with what the destination says about it.
    fn queued_by_destination(&self, node: &Node) -> String {
        let for_whom: Vec<String> = (0..self.hosts.len())
            .filter(|&j| node.queued_for(&name(j)) > 0)
            .map(|j| {
                let other = self.hosts[j].node.as_ref();
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
        for_whom.join("; ")
    }

    /// Counts every pair's messages into `report`; a pair whose ends stayed up must have had
    /// every message handed over and confirmed.
    pub(super) fn account_pairs(&mut self, report: &mut Report) {
        let mut errors = Vec::new();
        for (k, p) in self.pairs.iter().enumerate() {
            report.messages += p.sent;
            if p.excused {
                report.pairs_with_crashes += 1;
                continue;
            }
            report.delivered += p.next;
            if p.next < p.sent || p.confirmed < p.sent {
                report.lost += p.sent - p.next.min(p.sent);
                errors.push(format!(
                    "pair {k} ({}→{}): sent {}, handed over {}, confirmed {}\n    {}: {}\n    {}: {}",
                    name(p.from),
                    name(p.to),
                    p.sent,
                    p.next,
                    p.confirmed,
                    name(p.from),
                    self.describe(p.from, p.to),
                    name(p.to),
                    self.describe(p.to, p.from)
                ));
            }
        }
        self.errors.extend(errors);
        report.reordered = self
            .errors
            .iter()
            .filter(|e| e.contains("got message"))
            .count() as u64;
    }

    /// What agent `i` knows of the way to `other`, for a failed pair's report.
    fn describe(&self, i: usize, other: usize) -> String {
        self.hosts[i].node.as_ref().map_or_else(
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
    }

    /// `Err` with every violation so far (the first twenty) and the replay command, if any.
    pub(super) fn fail(&mut self, when: &str) -> Result<(), String> {
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

/// The index of the agent called `n`, if it is one of the simulator's names.
pub(super) fn index_of(n: &str) -> Option<usize> {
    n.strip_prefix('a')?.parse().ok()
}
