//! The forging member: a trusted agent of the mesh whose core behaves like every other, and
//! which, besides, writes into its links forgeries of other agents' words, every chaos round:
//! - descriptions of others (the peer it writes to included) at the most extreme versions,
//!   with false neighbours, unsigned, with a signature that is not base64 of a signature,
//!   signed with its own key, or signed with its own key under the origin's key;
//! - numbered and unnumbered messages in others' names, for the peer it writes to or to be
//!   relayed through it, whose bodies claim to be the pairs' traffic;
//! - confirmations of others' streams, for the peer it writes to (confirming everything it
//!   sent) or to be relayed through it.
//!
//! A message or confirmation for the peer itself carries, when the peer certainly holds the
//! claimed origin's key, a tag: random, or made with the forger's own key with the peer.
//! Otherwise it carries none. So every forgery is one the peer must count as forged by the
//! rules of `node/origins.rs` (a tag it could not check would be refused as unjudgeable
//! instead): the simulator counts the forgeries that reach each core and compares with the
//! core's counters at quiescence.
//!
//! The forger's lies about itself are not simulated: its own description stays true. A
//! member may legitimately lie about its own links (hide some, claim links to agents that do
//! not list it back), which changes routes through it; the tables would then have to be
//! checked against the graph it claims rather than the one really up. (Claims of v1 peers or
//! names behind them are refused as forged on secure links: `sim/members.rs` shows it.) Forgeries of others change nothing:
//! with every one refused, every invariant holds for the graph really up, the forger's links
//! included.
//!
//! On plain links (a share of the tests runs it so, to show it) the same forgeries are
//! believed: messages in others' names are handed over, confirmations of others' streams
//! drop what was never delivered, and descriptions at the top of the number space take
//! agents off the mesh for a while.
//!
//! It owns its generator (salted from the seed, so that the simulator's own draws are the same
//! with or without it), the forgeries written and not yet on the wire, and the count of those
//! that were. It writes through its core's public test hook (`Node::write_forged`), so that
//! forgeries cross secure links inside their encryption, as a member's would.

use std::collections::BTreeMap;

use super::rng::Rng;
use super::{Report, Sim, name};
use crate::LinkId;
use crate::wire::MAX_NUMBER;

/// Salts the seed of the forger's generator.
const SALT: u64 = 0x666f_7267_6572_0003;

/// Forgeries by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Counts {
    pub(super) descriptions: u64,
    pub(super) messages: u64,
    pub(super) confirmations: u64,
}

impl Counts {
    pub(super) fn add(&mut self, other: Counts) {
        self.descriptions += other.descriptions;
        self.messages += other.messages;
        self.confirmations += other.confirmations;
    }

    pub(super) fn total(&self) -> u64 {
        self.descriptions + self.messages + self.confirmations
    }
}

/// The forging member's state.
pub(super) struct Forger {
    /// The agent that forges.
    pub(super) agent: usize,
    rng: Rng,
    /// Forgeries written into its core, by link, not yet put on the wire.
    unsent: BTreeMap<usize, Counts>,
    /// Forgeries put on the wire.
    pub(super) injected: Counts,
}

impl Forger {
    /// Agent `agent` forges, drawing from `seed`.
    pub(super) fn new(agent: usize, seed: u64) -> Forger {
        Forger {
            agent,
            rng: Rng::new(seed ^ SALT),
            unsent: BTreeMap::new(),
            injected: Counts::default(),
        }
    }

    /// The forgeries of agent `i`'s `link` that its core just handed over to be written:
    /// on the wire when `sent` (the connection is open), else lost with the bytes.
    pub(super) fn written(&mut self, i: usize, link: LinkId, sent: bool) -> Counts {
        if i != self.agent {
            return Counts::default();
        }
        let counts = self.unsent.remove(&link.0).unwrap_or_default();
        if !sent {
            return Counts::default();
        }
        self.injected.add(counts);
        counts
    }
}

/// What a forged tag would cover.
#[cfg_attr(not(feature = "secure"), allow(dead_code))]
enum Tagged<'a> {
    Message {
        from: &'a str,
        to: &'a str,
        inc: u64,
        seq: u64,
        to_inc: u64,
        body: &'a str,
    },
    Confirmation {
        from: &'a str,
        to: &'a str,
        inc: u64,
        seq: u64,
    },
}

/// A random tag, 16 bytes in base64.
fn random_tag(rng: &mut Rng) -> String {
    const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut t: String = (0..21)
        .map(|_| char::from(B64[rng.below(64) as usize]))
        .collect();
    // The last character of 16 bytes carries 2 bits: one of "AQgw".
    t.push(char::from(b"AQgw"[rng.below(4) as usize]));
    t.push_str("==");
    t
}

impl Sim {
    /// The forger writes a few forgeries into its open links, if it is up.
    pub(super) fn forge(&mut self) {
        let Some(mut f) = self.forger.take() else {
            return;
        };
        let m = f.agent;
        let targets: Vec<(LinkId, usize)> = match self.hosts[m].node.as_ref() {
            None => Vec::new(),
            Some(node) => self.hosts[m]
                .links
                .iter()
                .filter(|&(_, &c)| self.conns[c].state == super::net::ConnState::Open)
                .filter_map(|(&l, _)| {
                    let peer = node.link_peer(LinkId(l))?;
                    let y = super::checks::index_of(peer)?;
                    self.hosts[y].node.as_ref().map(|_| (LinkId(l), y))
                })
                .collect(),
        };
        if !targets.is_empty() {
            for _ in 0..f.rng.range(1, 3) {
                let (link, y) = targets[f.rng.below(targets.len() as u64) as usize];
                let (payload, kind) = self.forgery(&mut f, y);
                if let Some(node) = self.hosts[m].node.as_mut() {
                    node.write_forged(link, payload.as_bytes());
                    f.unsent.entry(link.0).or_default().add(kind);
                }
            }
        }
        self.forger = Some(f);
        self.drain(m);
    }

    /// One forgery for agent `y`, the forger's peer, and its kind.
    fn forgery(&self, f: &mut Forger, y: usize) -> (String, Counts) {
        let n = self.hosts.len();
        let m = f.agent;
        // Another agent than the forger and `y`; and a third one, for what `y` would relay.
        let other = |f: &mut Forger, not: &[usize]| loop {
            let x = f.rng.below(n as u64) as usize;
            if !not.contains(&x) {
                return x;
            }
        };
        let x = other(f, &[m, y]);
        let z = other(f, &[m, y, x]);
        match f.rng.below(5) {
            0 => {
                let origin = if f.rng.below(4) == 0 { y } else { x };
                let kind = Counts {
                    descriptions: 1,
                    ..Counts::default()
                };
                (self.forged_description(f, origin), kind)
            }
            k @ (1 | 2) => {
                // A pair's sender's next message; else anybody's, for `y` or through it.
                let claim = self.pair_to_impersonate(f, y, |p| (p.from, p.to));
                let (from, to, pair, n) = match claim {
                    Some((k, p)) => (p.from, p.to, k as u64, p.next),
                    None => {
                        let to = if k == 1 { y } else { z };
                        let pair = f.rng.below(self.pairs.len().max(1) as u64);
                        (x, to, pair, f.rng.below(60))
                    }
                };
                let kind = Counts {
                    messages: 1,
                    ..Counts::default()
                };
                (self.forged_message(f, from, to, y, (pair, n)), kind)
            }
            k => {
                // A pair's receiver confirming everything; else anybody's confirmation.
                let claim = self.pair_to_impersonate(f, y, |p| (p.to, p.from));
                let (from, to) = match claim {
                    Some((_, p)) => (p.to, p.from),
                    None => (x, if k == 3 { y } else { z }),
                };
                let kind = Counts {
                    confirmations: 1,
                    ..Counts::default()
                };
                (self.forged_confirmation(f, from, to, y), kind)
            }
        }
    }

    /// A pair whose traffic the forger can claim to `y`: `ends` gives the agent claimed and the
    /// agent the forgery is for, and neither is the forger, nor is the one claimed `y` (`y`
    /// is the forger's peer, the destination or the relay). Half the time, none. First a pair
    /// for `y` itself whose claimed end `y` reaches through the forger, as a member relaying
    /// that traffic would choose (on plain links numbered traffic is believed only from the
    /// way it comes); then any, in the pairs' order.
    fn pair_to_impersonate(
        &self,
        f: &mut Forger,
        y: usize,
        ends: fn(&super::traffic::Pair) -> (usize, usize),
    ) -> Option<(usize, &super::traffic::Pair)> {
        if f.rng.below(2) == 0 {
            return None;
        }
        let m = f.agent;
        let through_forger = |other: usize| {
            self.hosts[y].node.as_ref().is_some_and(|n| {
                let peer = n.route(&name(other)).and_then(|r| n.link_peer(r.link));
                peer == Some(&*name(m))
            })
        };
        let fitting = || {
            self.pairs.iter().enumerate().filter(move |(_, p)| {
                let (claimed, to) = ends(p);
                claimed != m && claimed != y && to != m
            })
        };
        fitting()
            .find(|(_, p)| {
                let (claimed, to) = ends(p);
                to == y && through_forger(claimed)
            })
            .or_else(|| fitting().next())
    }

    /// A description of `origin` at a version above any it makes, listing the forger and
    /// names that may not exist.
    fn forged_description(&self, f: &mut Forger, origin: usize) -> String {
        let (inc, seq) = [
            (MAX_NUMBER, MAX_NUMBER),
            (MAX_NUMBER - 1, 1),
            (MAX_NUMBER - 5, MAX_NUMBER),
        ][f.rng.below(3) as usize];
        let mut neighbours = vec![name(f.agent)];
        for _ in 0..f.rng.below(3) {
            neighbours.push(name(f.rng.below(self.hosts.len() as u64 + 3) as usize));
        }
        if f.rng.below(4) == 0 {
            neighbours.clear();
        }
        let n = serde_json::to_string(&neighbours).unwrap_or_default();
        let o = name(origin);
        let plain = format!(r#"{{"c":"lsa","o":"{o}","i":{inc},"s":{seq},"n":{n},"x":[]"#);
        match f.rng.below(4) {
            0 => format!("{plain}}}"),
            1 => format!(
                r#"{plain},"k":"not a key","g":"{}"}}"#,
                random_tag(&mut f.rng)
            ),
            #[cfg(feature = "secure")]
            k if self.keys.is_some() => {
                let key_of = if k == 2 { f.agent } else { origin };
                self.signed_by_forger(f.agent, key_of, &plain, (&o, inc, seq), &neighbours)
            }
            _ => format!("{plain}}}"),
        }
    }

    /// `plain` (a description without its closing brace) signed with the forger's key, naming
    /// agent `key_of`'s key as the one that signed.
    #[cfg(feature = "secure")]
    fn signed_by_forger(
        &self,
        forger: usize,
        key_of: usize,
        plain: &str,
        (origin, inc, seq): (&str, u64, u64),
        neighbours: &[String],
    ) -> String {
        let Some(keys) = self.keys.as_ref() else {
            return format!("{plain}}}");
        };
        let mut bytes = Vec::new();
        let mut n = neighbours.iter().map(String::as_str);
        let (mut p, mut x) = (std::iter::empty(), std::iter::empty());
        crate::secure::signed_description(&mut bytes, origin, inc, seq, [&mut n, &mut p, &mut x]);
        let sig = keys.identity(forger).sign(&bytes);
        let key = keys.identity(key_of).public().to_bytes();
        format!(
            r#"{plain},"k":"{}","g":"{}"}}"#,
            crate::secure::encode(&key),
            crate::secure::encode(&sig)
        )
    }

    /// A message in `from`'s name for `to`, written to `y` (the destination, or the relay),
    /// whose body claims to be message `n` of pair `pair`.
    fn forged_message(
        &self,
        f: &mut Forger,
        from: usize,
        to: usize,
        y: usize,
        (pair, n): (u64, u64),
    ) -> String {
        let body = format!(r#"{{"k":{pair},"n":{n}}}"#);
        let (from, to_name) = (name(from), name(to));
        let head = format!(r#"{{"c":"msg","f":"{from}","t":"{to_name}","m":{body},"h":2"#);
        if f.rng.below(4) == 0 {
            return format!("{head}}}");
        }
        let inc = self.incarnation_of(&from);
        let seq = f.rng.range(1, 50);
        let numbered = format!(r#"{head},"i":{inc},"s":{seq},"b":1"#);
        // The destination's run, as an origin names it beside its tag.
        let to_inc = self.incarnation_of(&to_name);
        let what = Tagged::Message {
            from: &from,
            to: &to_name,
            inc,
            seq,
            to_inc,
            body: &body,
        };
        match (to == y).then(|| self.forged_tag(f, y, what)).flatten() {
            Some(t) => format!(r#"{numbered},"d":{to_inc},"g":"{t}"}}"#),
            None => format!("{numbered}}}"),
        }
    }

    /// A confirmation in `from`'s name of the stream of `to`, written to `y` (`to` itself,
    /// confirming everything it sent, or the relay).
    fn forged_confirmation(&self, f: &mut Forger, from: usize, to: usize, y: usize) -> String {
        let (from, to_name) = (name(from), name(to));
        let inc = self.incarnation_of(&to_name);
        let seq = 1_000_000;
        let head = format!(r#"{{"c":"ack","f":"{from}","t":"{to_name}","i":{inc},"s":{seq},"h":2"#);
        let what = Tagged::Confirmation {
            from: &from,
            to: &to_name,
            inc,
            seq,
        };
        match (to == y).then(|| self.forged_tag(f, y, what)).flatten() {
            Some(t) => format!(r#"{head},"g":"{t}"}}"#),
            None => format!("{head}}}"),
        }
    }

    /// The incarnation agent `who` numbers its streams in now, or 1 if it is down.
    fn incarnation_of(&self, who: &str) -> u64 {
        super::checks::index_of(who)
            .and_then(|i| self.hosts.get(i)?.node.as_ref())
            .map_or(1, |n| n.incarnation())
    }

    /// A tag for `what` (in the name of an agent other than the forger) for `y`, on secure
    /// links, when `y` certainly holds that agent's key (a route to it through others,
    /// confirmed, with no change waiting: its description is held and signed), half the
    /// time: random, or made with the forger's own key with `y`. `None` otherwise, and on
    /// plain links (where nothing checks one) without drawing anything.
    #[cfg(feature = "secure")]
    fn forged_tag(&self, f: &mut Forger, y: usize, what: Tagged<'_>) -> Option<String> {
        let keys = self.keys.as_ref()?;
        let node = self.hosts[y].node.as_ref()?;
        let from = match what {
            Tagged::Message { from, .. } | Tagged::Confirmation { from, .. } => from,
        };
        let route = node.route(from)?;
        let certain = route.confirmed
            && node.link_peer(route.link) != Some(from)
            && !node.stats().paths_pending;
        if !certain || f.rng.below(2) == 0 {
            return None;
        }
        if f.rng.below(2) == 0 {
            return Some(random_tag(&mut f.rng));
        }
        let own = keys.identity(f.agent);
        let key = crate::secure::PairKey::derive(own, keys.identity(y).public()).ok()?;
        let tag = match what {
            Tagged::Message {
                from,
                to,
                inc,
                seq,
                to_inc,
                body,
            } => key.tag_message(&crate::secure::MessageFields {
                from,
                to,
                inc,
                seq,
                base: 1,
                to_inc,
                sealed: false,
                body,
            }),
            Tagged::Confirmation { from, to, inc, seq } => key.tag_confirmation(from, to, inc, seq),
        };
        Some(crate::secure::encode(&tag))
    }

    #[cfg(not(feature = "secure"))]
    fn forged_tag(&self, _: &mut Forger, _: usize, _: Tagged<'_>) -> Option<String> {
        None
    }

    /// At quiescence, on secure links: every core counted as forged exactly the forgeries
    /// that reached it since it started.
    pub(super) fn check_forgeries(&mut self) {
        if !self.cfg.secure || self.forger.is_none() {
            return;
        }
        let mut errors = Vec::new();
        for (i, host) in self.hosts.iter().enumerate() {
            let Some(node) = host.node.as_ref() else {
                continue;
            };
            let s = node.stats();
            let counted = Counts {
                descriptions: s.forged_descriptions,
                messages: s.forged_messages,
                confirmations: s.forged_confirmations,
            };
            if counted != host.forgeries {
                errors.push(format!(
                    "{} counted {counted:?} as forged; {:?} reached it",
                    name(i),
                    host.forgeries
                ));
            }
        }
        self.errors.extend(errors);
    }

    /// The forgeries injected and counted, into `report`.
    pub(super) fn report_forgeries(&self, report: &mut Report) {
        let Some(f) = &self.forger else {
            return;
        };
        report.forgeries = f.injected.total();
        report.forgeries_counted = self
            .hosts
            .iter()
            .filter_map(|h| h.node.as_ref())
            .map(|n| {
                let s = n.stats();
                s.forged_descriptions + s.forged_messages + s.forged_confirmations
            })
            .sum();
    }
}
