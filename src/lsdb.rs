//! The link-state database of v2 routing, and the shortest paths computed over it.
//!
//! This module owns what every v2 agent has said about its own links (one LSA per agent: its
//! direct peers, and the names it reaches only through v1 peers), which of two descriptions is
//! newer, and the shortest-path computation. It is pure: no links, no bytes, no clock (ages are
//! in the caller's ticks). It does not flood anything; the core decides whom to tell.
//!
//! Why link state: every agent computes its routes from the same picture of the graph, so at
//! convergence next hops strictly shorten the distance to the destination and no loop can
//! survive; a vanished agent disappears as soon as its neighbours' descriptions stop listing it
//! (no count-to-infinity); and links here are TCP, so flooding needs no acknowledgement of its
//! own. An edge A–B counts only when both A and B list each other (or B, a v1 agent, describes
//! nothing), so a stale description of a dead agent cannot create a route.

use std::collections::BTreeMap;

use crate::LinkId;
use crate::routing::{Route, TableFull};

/// One agent's description of itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lsa {
    /// The agent's incarnation.
    pub inc: u64,
    /// The description's version within the incarnation.
    pub seq: u64,
    /// Its direct peers, sorted.
    pub neighbors: Vec<Box<str>>,
    /// Names it reaches only through v1 peers, sorted.
    pub externals: Vec<Box<str>>,
    /// When it was last found unreachable (for purging), if it is.
    pub unreachable_since: Option<u64>,
}

impl Lsa {
    fn version(&self) -> (u64, u64) {
        (self.inc, self.seq)
    }
}

/// What became of a received description.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Received {
    /// Newer than what was held: stored. Pass it on.
    Newer,
    /// Already held.
    Same,
    /// Older than what is held: the sender is behind; send it ours.
    Older,
    /// A description of this agent newer than its own (left over from an earlier run): this
    /// agent's own description was renumbered above it and must be sent out.
    OwnRenumbered,
}

/// A shortest path to a name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Path {
    /// The route chosen: fewest hops, ties broken by the first hop's name.
    pub route: Route,
    /// The first-hop links of every shortest path, sorted.
    pub upstream: Vec<LinkId>,
}

/// A direct peer, as SPF needs it.
#[derive(Debug, Clone, Copy)]
pub struct Direct<'a> {
    /// Its name.
    pub name: &'a str,
    /// The link to it.
    pub link: LinkId,
    /// Whether the link speaks v2 (the peer confirms deliveries).
    pub v2: bool,
}

/// The database. Holds this agent's own description too.
#[derive(Debug)]
pub struct Lsdb {
    me: Box<str>,
    entries: BTreeMap<Box<str>, Lsa>,
    max: usize,
}

impl Lsdb {
    /// A database for agent `me` in incarnation `inc`, holding at most `max` descriptions.
    pub fn new(me: &str, inc: u64, max: usize) -> Lsdb {
        let own = Lsa {
            inc,
            seq: 1,
            neighbors: Vec::new(),
            externals: Vec::new(),
            unreachable_since: None,
        };
        Lsdb {
            me: me.into(),
            entries: BTreeMap::from([(me.into(), own)]),
            max: max.max(1),
        }
    }

    /// This agent's own description.
    pub fn own(&self) -> &Lsa {
        // Inserted at creation and never removed.
        &self.entries[&*self.me]
    }

    fn own_mut(&mut self) -> &mut Lsa {
        self.entries
            .get_mut(&*self.me)
            .expect("own description is never removed")
    }

    /// Descriptions held, this agent's own included.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether only this agent's own description is held.
    pub fn is_empty(&self) -> bool {
        self.entries.len() <= 1
    }

    /// The description of `origin`.
    pub fn get(&self, origin: &str) -> Option<&Lsa> {
        self.entries.get(origin)
    }

    /// Every description, in name order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Lsa)> {
        self.entries.iter().map(|(n, l)| (&**n, l))
    }

    /// Sets this agent's own peers and v1-only names (both sorted); returns whether the
    /// description changed (and so was renumbered and must be flooded).
    pub fn originate(&mut self, neighbors: Vec<Box<str>>, externals: Vec<Box<str>>) -> bool {
        let own = self.own_mut();
        if own.neighbors == neighbors && own.externals == externals {
            return false;
        }
        own.neighbors = neighbors;
        own.externals = externals;
        own.seq += 1;
        true
    }

    /// Offers a description received from a peer.
    pub fn receive(
        &mut self,
        origin: &str,
        inc: u64,
        seq: u64,
        neighbors: Vec<Box<str>>,
        externals: Vec<Box<str>>,
    ) -> Result<Received, TableFull> {
        let got = (inc, seq);
        if origin == &*self.me {
            let own = self.own_mut();
            return Ok(match got.cmp(&own.version()) {
                std::cmp::Ordering::Greater => {
                    // An earlier run of this agent got further; carry on above it.
                    own.inc = inc;
                    own.seq = seq + 1;
                    Received::OwnRenumbered
                }
                std::cmp::Ordering::Equal => Received::Same,
                std::cmp::Ordering::Less => Received::Older,
            });
        }
        let mut neighbors = neighbors;
        let mut externals = externals;
        neighbors.sort();
        neighbors.dedup();
        externals.sort();
        externals.dedup();
        match self.entries.get_mut(origin) {
            Some(held) => Ok(match got.cmp(&held.version()) {
                std::cmp::Ordering::Greater => {
                    *held = Lsa {
                        inc,
                        seq,
                        neighbors,
                        externals,
                        unreachable_since: held.unreachable_since,
                    };
                    Received::Newer
                }
                std::cmp::Ordering::Equal => Received::Same,
                std::cmp::Ordering::Less => Received::Older,
            }),
            None => {
                if self.entries.len() >= self.max {
                    return Err(TableFull { max: self.max });
                }
                self.entries.insert(
                    origin.into(),
                    Lsa {
                        inc,
                        seq,
                        neighbors,
                        externals,
                        unreachable_since: None,
                    },
                );
                Ok(Received::Newer)
            }
        }
    }

    /// Whether `a` lists `b` as a direct peer.
    fn lists(&self, a: &str, b: &str) -> bool {
        self.entries
            .get(a)
            .is_some_and(|l| l.neighbors.binary_search_by(|n| (**n).cmp(b)).is_ok())
    }

    /// Shortest paths from this agent: fewest hops, ties broken by the smaller name of the
    /// first hop, so that every agent decides the same way. `direct` are this agent's
    /// identified peers. A route is `confirmed` when its first link speaks v2 and the
    /// destination is a v2 agent (it describes itself, or it is that v2 peer).
    ///
    /// Each path also lists every first-hop link of every shortest path to the name (its
    /// upstream links): genuine traffic from that name arrives through one of them.
    ///
    /// Also marks when each description became unreachable, at tick `now`.
    pub fn shortest_paths(&mut self, direct: &[Direct<'_>], now: u64) -> BTreeMap<Box<str>, Path> {
        struct Label<'n> {
            hops: u32,
            /// The smallest name of a first hop over the shortest paths (the tie-break).
            via: &'n str,
            upstream: Vec<LinkId>,
        }
        let mut first: BTreeMap<&str, (LinkId, bool)> = BTreeMap::new();
        let mut labels: BTreeMap<&str, Label<'_>> = BTreeMap::new();
        // Breadth first by hop count; costs are 1 (a link) or 2 (a name behind a v1 agent).
        let mut levels: Vec<Vec<&str>> = vec![Vec::new(), Vec::new()];
        for d in direct {
            first.insert(d.name, (d.link, d.v2));
            labels.insert(
                d.name,
                Label {
                    hops: 1,
                    via: d.name,
                    upstream: vec![d.link],
                },
            );
            levels[1].push(d.name);
        }
        let mut level = 1;
        while level < levels.len() {
            let mut nodes = std::mem::take(&mut levels[level]);
            nodes.sort_unstable();
            nodes.dedup();
            for &u in &nodes {
                // Only v2 agents describe their links; v1 agents are leaves.
                let Some(lsa) = self.entries.get(u) else {
                    continue;
                };
                let (via, upstream) = match labels.get(u) {
                    Some(l) if l.hops as usize == level => (l.via, l.upstream.clone()),
                    _ => continue,
                };
                let steps = lsa
                    .neighbors
                    .iter()
                    .filter(|n| !self.entries.contains_key(&***n) || self.lists(n, u))
                    .map(|n| (&**n, 1))
                    // A name that describes itself is reached through its own edges instead.
                    .chain(
                        lsa.externals
                            .iter()
                            .filter(|x| !self.entries.contains_key(&***x))
                            .map(|x| (&**x, 2)),
                    );
                for (v, cost) in steps {
                    if v == &*self.me {
                        continue;
                    }
                    let hops = level as u32 + cost;
                    match labels.get_mut(v) {
                        Some(l) if l.hops < hops => {}
                        Some(l) if l.hops == hops => {
                            l.via = l.via.min(via);
                            for link in &upstream {
                                if !l.upstream.contains(link) {
                                    l.upstream.push(*link);
                                }
                            }
                        }
                        _ => {
                            labels.insert(
                                v,
                                Label {
                                    hops,
                                    via,
                                    upstream: upstream.clone(),
                                },
                            );
                            if levels.len() <= hops as usize {
                                levels.resize_with(hops as usize + 1, Vec::new);
                            }
                            levels[hops as usize].push(v);
                        }
                    }
                }
            }
            level += 1;
        }
        let mut paths = BTreeMap::new();
        for (name, mut l) in labels {
            let Some(&(link, v2)) = first.get(l.via) else {
                continue;
            };
            let describes_itself = self.entries.contains_key(name);
            l.upstream.sort_unstable();
            paths.insert(
                name.into(),
                Path {
                    route: Route {
                        link,
                        hops: Some(l.hops),
                        confirmed: v2 && (describes_itself || name == l.via),
                    },
                    upstream: l.upstream,
                },
            );
        }
        let me = self.me.clone();
        for (name, lsa) in self.entries.iter_mut() {
            let reachable = **name == *me || paths.contains_key(&**name);
            lsa.unreachable_since = if reachable {
                None
            } else {
                lsa.unreachable_since.or(Some(now))
            };
        }
        paths
    }

    /// Forgets descriptions unreachable since before `before`; returns how many.
    pub fn purge(&mut self, before: u64) -> usize {
        let n = self.entries.len();
        self.entries
            .retain(|_, l| l.unreachable_since.is_none_or(|since| since >= before));
        n - self.entries.len()
    }

    /// The earliest time a description became unreachable, if one is.
    pub fn oldest_unreachable(&self) -> Option<u64> {
        self.entries
            .values()
            .filter_map(|l| l.unreachable_since)
            .min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &[&str]) -> Vec<Box<str>> {
        v.iter().map(|&s| s.into()).collect()
    }

    /// A database for `me` holding the given descriptions (each agent lists its peers).
    fn graph(me: &str, edges: &[(&str, &[&str])]) -> Lsdb {
        let mut db = Lsdb::new(me, 1, 100);
        for (origin, peers) in edges {
            if *origin == me {
                db.originate(names(peers), vec![]);
            } else {
                db.receive(origin, 1, 1, names(peers), vec![]).unwrap();
            }
        }
        db
    }

    fn hop(db: &mut Lsdb, direct: &[(&str, usize)], to: &str) -> Option<(usize, u32)> {
        let d: Vec<Direct<'_>> = direct
            .iter()
            .map(|&(name, l)| Direct {
                name,
                link: LinkId(l),
                v2: true,
            })
            .collect();
        let r = db.shortest_paths(&d, 0);
        r.get(to).map(|p| (p.route.link.0, p.route.hops.unwrap()))
    }

    #[test]
    fn fewest_hops_with_ties_broken_by_the_first_hops_name() {
        // A line A-B-C-D plus a shortcut A-D, and a diamond A-{X,Y}-Z.
        let mut db = graph(
            "A",
            &[
                ("A", &["B", "D", "X", "Y"]),
                ("B", &["A", "C"]),
                ("C", &["B", "D"]),
                ("D", &["C", "A"]),
                ("X", &["A", "Z"]),
                ("Y", &["A", "Z"]),
                ("Z", &["X", "Y"]),
            ],
        );
        let direct = [("B", 1), ("D", 4), ("X", 7), ("Y", 8)];
        assert_eq!(
            hop(&mut db, &direct, "C"),
            Some((1, 2)),
            "B and D tie; B is smaller"
        );
        assert_eq!(
            hop(&mut db, &direct, "Z"),
            Some((7, 2)),
            "X and Y tie; X is smaller"
        );
        assert_eq!(hop(&mut db, &direct, "D"), Some((4, 1)));
    }

    #[test]
    fn every_first_hop_of_a_shortest_path_is_upstream() {
        // A diamond A-{X,Y}-Z plus a longer way A-W-V-Z: X and Y are upstream of Z, W is not.
        let mut db = graph(
            "A",
            &[
                ("A", &["X", "Y", "W"]),
                ("X", &["A", "Z"]),
                ("Y", &["A", "Z"]),
                ("W", &["A", "V"]),
                ("V", &["W", "Z"]),
                ("Z", &["X", "Y", "V"]),
            ],
        );
        let d: Vec<Direct<'_>> = [("X", 1), ("Y", 2), ("W", 3)]
            .iter()
            .map(|&(name, l)| Direct {
                name,
                link: LinkId(l),
                v2: true,
            })
            .collect();
        let r = db.shortest_paths(&d, 0);
        assert_eq!(r["Z"].upstream, [LinkId(1), LinkId(2)]);
        assert_eq!(r["Z"].route.link, LinkId(1));
        assert_eq!(r["V"].upstream, [LinkId(3)]);
        assert_eq!(r["X"].upstream, [LinkId(1)]);
    }

    #[test]
    fn an_edge_needs_both_ends_to_list_it() {
        // C still lists B (stale), but B no longer lists C: C is unreachable.
        let mut db = graph("A", &[("A", &["B"]), ("B", &["A"]), ("C", &["B"])]);
        assert_eq!(hop(&mut db, &[("B", 1)], "C"), None);
        // A v1 agent describes nothing: B's word is enough.
        let mut db = graph("A", &[("A", &["B"]), ("B", &["A", "Old"])]);
        assert_eq!(hop(&mut db, &[("B", 1)], "Old"), Some((1, 2)));
    }

    #[test]
    fn names_behind_v1_peers_count_two_hops_and_are_not_confirmed() {
        let mut db = Lsdb::new("A", 1, 100);
        db.receive("B", 1, 1, names(&["A"]), names(&["Node1"]))
            .unwrap();
        let d = [Direct {
            name: "B",
            link: LinkId(3),
            v2: true,
        }];
        let r = db.shortest_paths(&d, 0);
        assert_eq!(
            r["Node1"].route,
            Route {
                link: LinkId(3),
                hops: Some(3),
                confirmed: false
            }
        );
        assert!(r["B"].route.confirmed);
    }

    #[test]
    fn newer_wins_and_an_agents_own_old_description_renumbers_it() {
        let mut db = Lsdb::new("A", 5, 100);
        assert_eq!(
            db.receive("B", 1, 3, names(&["A"]), vec![]),
            Ok(Received::Newer)
        );
        assert_eq!(
            db.receive("B", 1, 3, names(&["A"]), vec![]),
            Ok(Received::Same)
        );
        assert_eq!(
            db.receive("B", 1, 2, names(&[]), vec![]),
            Ok(Received::Older)
        );
        assert_eq!(
            db.receive("B", 2, 1, names(&[]), vec![]),
            Ok(Received::Newer),
            "a new incarnation"
        );
        assert_eq!(db.get("B").unwrap().neighbors.len(), 0);
        // A's own description from an earlier run with a later clock.
        assert_eq!(
            db.receive("A", 9, 4, vec![], vec![]),
            Ok(Received::OwnRenumbered)
        );
        assert_eq!((db.own().inc, db.own().seq), (9, 5));
        assert_eq!(db.receive("A", 9, 1, vec![], vec![]), Ok(Received::Older));
    }

    #[test]
    fn unreachable_descriptions_are_purged_after_a_while() {
        let mut db = graph("A", &[("A", &["B"]), ("B", &["A"]), ("Gone", &[])]);
        let d = [Direct {
            name: "B",
            link: LinkId(1),
            v2: true,
        }];
        db.shortest_paths(&d, 100);
        assert_eq!(db.oldest_unreachable(), Some(100));
        db.shortest_paths(&d, 200);
        assert_eq!(db.purge(100), 0, "not yet");
        assert_eq!(db.purge(101), 1);
        assert!(db.get("Gone").is_none() && db.get("B").is_some());
    }

    #[test]
    fn the_limit_holds() {
        let mut db = Lsdb::new("A", 1, 3);
        db.receive("B", 1, 1, vec![], vec![]).unwrap();
        db.receive("C", 1, 1, vec![], vec![]).unwrap();
        assert_eq!(
            db.receive("D", 1, 1, vec![], vec![]),
            Err(TableFull { max: 3 })
        );
        assert_eq!(
            db.receive("C", 1, 2, vec![], vec![]),
            Ok(Received::Newer),
            "updates still fit"
        );
    }
}
