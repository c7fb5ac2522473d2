//! The shortest-path search over the descriptions, and what it found.
//!
//! This module owns the search and its results: per id, the hops and first hop found, the
//! first-hop links of every shortest path (the upstream bitsets), the route as of the last
//! search, which routes the last search changed, and when each description was found
//! unreachable; and whether the graph changed since the last search in a way that asks for a
//! new one (it is told of changes through [`Changes`]). It reuses its buffers from one search
//! to the next.
//!
//! It reads the descriptions only through the layout [`Descriptions`] keeps for it (the heads
//! and the pool) and must not change them, nor intern names: its callers hand it ids, and the
//! direct peers already sorted by name.

use super::descriptions::{Changes, Descriptions, HEADER, MUTUAL};
use crate::LinkId;
use crate::routing::Route;

/// What the shortest-path search found for one name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Found {
    /// [`Found::NONE`]'s when not reached.
    hops: u32,
    /// The first hop, as an index into the direct peers sorted by name: the smallest among
    /// the shortest paths' first hops.
    via: u32,
}

impl Found {
    /// Not reached (8 bytes where an `Option` takes 12: the search streams these).
    const NONE: Found = Found {
        hops: u32::MAX,
        via: u32::MAX,
    };

    fn get(self) -> Option<Found> {
        (self.hops != u32::MAX).then_some(self)
    }
}

/// A direct peer as the search holds it.
#[derive(Debug, Clone, Copy)]
pub(super) struct Peer {
    pub(super) id: u32,
    pub(super) link: LinkId,
    /// The link speaks v2.
    pub(super) v2: bool,
    /// What lies beyond the peer is reached through it (see [`Direct::synced`](super::Direct)).
    pub(super) synced: bool,
}

/// The search, its buffers and its results.
#[derive(Debug)]
pub(super) struct Search {
    /// This agent's id.
    me: u32,
    /// The direct peers of the last search, sorted by name.
    direct: Vec<Peer>,
    /// Words per upstream bitset (one bit per direct peer of the last search).
    words: usize,
    /// Per id: the first-hop links of every shortest path, as a bitset over `direct`.
    upstream: Vec<u64>,
    /// Per id: the route as of the last search.
    routes: Vec<Option<Route>>,
    /// Per id: when its description was found unreachable, if it is.
    unreachable_since: Vec<Option<u64>>,
    /// Something the search reads changed since the last search.
    graph_changed: bool,
    changed: Vec<u32>,
    // Reused by every search.
    found: Vec<Found>,
    levels: Vec<Vec<u32>>,
    /// The headers of one level's agents: (agent, where its lists start, counts).
    visits: Vec<(u32, usize, [usize; 3])>,
    /// Reused by `record`: the direct v2 peers whose description does not list this agent.
    unlisting: Vec<u32>,
}

impl Search {
    /// No search done yet, for agent `me`.
    pub(super) fn new(me: u32) -> Search {
        Search {
            me,
            direct: Vec::new(),
            words: 0,
            upstream: Vec::new(),
            routes: Vec::new(),
            unreachable_since: Vec::new(),
            graph_changed: false,
            changed: Vec::new(),
            found: Vec::new(),
            levels: Vec::new(),
            visits: Vec::new(),
            unlisting: Vec::new(),
        }
    }

    /// Makes room for a new id (the next one, or a freed one): no route, never unreachable.
    pub(super) fn open(&mut self, id: u32) {
        let i = id as usize;
        if i == self.routes.len() {
            self.routes.push(None);
            self.unreachable_since.push(None);
        } else {
            self.routes[i] = None;
            self.unreachable_since[i] = None;
        }
    }

    /// The buffer for the next search's direct peers, emptied.
    pub(super) fn take_direct(&mut self) -> Vec<Peer> {
        let mut direct = std::mem::take(&mut self.direct);
        direct.clear();
        direct
    }

    /// Recomputes shortest paths from this agent over `descriptions`, from `direct` (sorted
    /// by name, so that ties between first hops compare indices instead of names); see
    /// [`Lsdb::shortest_paths`](super::Lsdb::shortest_paths). Returns how many ids' routes
    /// changed.
    pub(super) fn run(
        &mut self,
        descriptions: &Descriptions,
        direct: Vec<Peer>,
        now: u64,
    ) -> usize {
        self.graph_changed = false;
        self.direct = direct;
        self.seed(descriptions.ids());
        let mut level = 1;
        while level < self.levels.len() {
            self.visit_level(level, descriptions);
            level += 1;
        }
        self.record(descriptions, now)
    }

    /// Clears the results for `n` ids and puts the direct peers one hop away.
    fn seed(&mut self, n: usize) {
        self.words = self.direct.len().div_ceil(64).max(1);
        let words = self.words;
        self.found.clear();
        self.found.resize(n, Found::NONE);
        self.upstream.clear();
        self.upstream.resize(n * words, 0);
        for level in &mut self.levels {
            level.clear();
        }
        if self.levels.len() < 2 {
            self.levels.resize_with(2, Vec::new);
        }
        for (k, peer) in self.direct.iter().enumerate() {
            let id = peer.id;
            self.found[id as usize] = Found {
                hops: 1,
                via: k as u32,
            };
            self.upstream[id as usize * words + k / 64] |= 1 << (k % 64);
            // A peer whose side of the database may be stale is reached, and nothing through
            // it: it is never visited (nothing else reaches it in fewer hops).
            if peer.synced {
                self.levels[1].push(id);
            }
        }
    }

    /// Visits every agent found `level` hops away: reaches what its lists name.
    fn visit_level(&mut self, level: usize, descriptions: &Descriptions) {
        let (heads, pool) = (descriptions.heads(), descriptions.pool());
        let nodes = std::mem::take(&mut self.levels[level]);
        // Every agent's header is read before any is visited: the reads do not depend on
        // each other, so the processor waits for their cache misses together rather than
        // one after another (with a thousand agents in one process, most are misses).
        let mut visits = std::mem::take(&mut self.visits);
        visits.clear();
        for &u in &nodes {
            let head = heads[u as usize] as usize;
            let counts = match pool.get(head..head + HEADER) {
                Some(&[n, p, x]) => [n as usize, p as usize, x as usize],
                _ => [0; 3],
            };
            visits.push((u, head + HEADER, counts));
        }
        for &(u, start, [neighbors, v1, externals]) in &visits {
            let Some(here) = self.found[u as usize].get() else {
                continue;
            };
            if here.hops as usize != level {
                continue;
            }
            // Only v2 agents describe their links; v1 agents are leaves.
            let v1_end = neighbors + v1;
            for j in 0..v1_end + externals {
                let w = pool[start + j];
                let (v, cost) = if j < neighbors {
                    if w & MUTUAL == 0 {
                        continue;
                    }
                    (w & !MUTUAL, 1)
                } else {
                    // A name that describes itself is reached through its own edges instead.
                    if heads[w as usize] != 0 {
                        continue;
                    }
                    (w, if j < v1_end { 1 } else { 2 })
                };
                if v != self.me {
                    self.reach(u, v, level as u32 + cost, here.via);
                }
            }
        }
        self.visits = visits;
        self.levels[level] = nodes;
    }

    /// `v` is `hops` away through `u`, whose smallest first hop is `via`: keeps the fewer
    /// hops, then the smaller first hop, and gathers every first hop of the shortest paths.
    fn reach(&mut self, u: u32, v: u32, hops: u32, via: u32) {
        let merge = match self.found[v as usize].get() {
            Some(f) if f.hops < hops => return,
            Some(f) if f.hops == hops => {
                if via < f.via {
                    self.found[v as usize] = Found { hops, via };
                }
                true
            }
            _ => {
                self.found[v as usize] = Found { hops, via };
                if self.levels.len() <= hops as usize {
                    self.levels.resize_with(hops as usize + 1, Vec::new);
                }
                self.levels[hops as usize].push(v);
                false
            }
        };
        let words = self.words;
        let (from, to) = (u as usize * words, v as usize * words);
        for w in 0..words {
            let bits = self.upstream[from + w];
            if merge {
                self.upstream[to + w] |= bits;
            } else {
                self.upstream[to + w] = bits;
            }
        }
    }

    /// Compares what was found with the previous routes, noting the changed ones, and records
    /// when each description became unreachable. Returns how many routes changed.
    ///
    /// A description counts as reached when its agent is reached, except that of a direct v2
    /// peer that does not list this agent back: the link reaches the peer, but not through
    /// that description, which no edge it names confirms here. An honest peer lists a v2 link
    /// within moments of its hello; a description that never does is one nobody made (a
    /// forgery at the top of the number space, which no newer version can replace), and must
    /// be forgotten by the peers of its agent as by everyone else.
    fn record(&mut self, descriptions: &Descriptions, now: u64) -> usize {
        self.changed.clear();
        let mut unlisting = std::mem::take(&mut self.unlisting);
        unlisting.clear();
        unlisting.extend(
            self.direct
                .iter()
                .filter(|p| {
                    p.v2 && descriptions.is_described(p.id)
                        && !descriptions.lists_peer(p.id, self.me)
                })
                .map(|p| p.id),
        );
        for id in 0..self.found.len() as u32 {
            let described = descriptions.is_described(id);
            let route = self.found[id as usize].get().map(|f| {
                let via = self.direct[f.via as usize];
                Route {
                    link: via.link,
                    hops: Some(f.hops),
                    confirmed: via.v2 && (described || id == via.id),
                }
            });
            if self.routes[id as usize] != route {
                self.routes[id as usize] = route;
                self.changed.push(id);
            }
            if described && id != self.me {
                let reached = route.is_some() && !unlisting.contains(&id);
                let since = &mut self.unreachable_since[id as usize];
                *since = if reached { None } else { since.or(Some(now)) };
            }
        }
        self.unlisting = unlisting;
        self.changed.len()
    }

    /// Whether the edge between `a` and `b` coming or going can change what the last search
    /// found. It cannot when both ends are as far from this agent (both unreached counts):
    /// such an edge lies on no shortest path, and none comes through it, so searching again
    /// would find the same hops, first hops and ways in. In a random mesh about a quarter of
    /// the edges are such, for any one agent.
    fn edge_matters(&self, a: u32, b: u32) -> bool {
        let hops = |x: u32| {
            if x == self.me {
                Some(0)
            } else {
                self.found.get(x as usize).map(|f| f.hops)
            }
        };
        match (hops(a), hops(b)) {
            (Some(x), Some(y)) => x != y,
            _ => true,
        }
    }

    /// Whether what the search reads changed since the last search in a way that can change
    /// what it finds.
    pub(super) fn graph_changed(&self) -> bool {
        self.graph_changed
    }

    /// The ids whose route the last search changed, with their new route.
    pub(super) fn changed(&self) -> impl Iterator<Item = (u32, Option<Route>)> + '_ {
        self.changed
            .iter()
            .map(|&id| (id, self.routes[id as usize]))
    }

    /// The route the last search found to `id`.
    pub(super) fn route(&self, id: u32) -> Option<Route> {
        self.routes[id as usize]
    }

    /// Whether `link` is the first hop of a shortest path to `id`, as of the last search.
    pub(super) fn upstream_of(&self, id: u32, link: LinkId) -> bool {
        let Some(k) = self.direct.iter().position(|d| d.link == link) else {
            return false;
        };
        self.routes[id as usize].is_some()
            && self
                .upstream
                .get(id as usize * self.words + k / 64)
                .is_some_and(|w| w & (1 << (k % 64)) != 0)
    }

    /// The ids of the direct peers of the last search.
    pub(super) fn direct_ids(&self) -> impl Iterator<Item = u32> + '_ {
        self.direct.iter().map(|d| d.id)
    }

    /// When `id`'s description was found unreachable, if it was.
    pub(super) fn unreachable_since(&self, id: u32) -> Option<u64> {
        self.unreachable_since[id as usize]
    }

    /// Forgets when `id` was found unreachable: its description went.
    pub(super) fn forget(&mut self, id: u32) {
        self.unreachable_since[id as usize] = None;
    }
}

impl Changes for Search {
    fn lists_changed(&mut self) {
        self.graph_changed = true;
    }

    fn edge_turned(&mut self, a: u32, b: u32) {
        // Once a search is asked for, the rest need not be looked at (each look is a cache
        // miss or two in a large mesh).
        if !self.graph_changed {
            self.graph_changed = self.edge_matters(a, b);
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::LinkId;
    use crate::lsdb::tests::{direct, graph};
    use crate::lsdb::{Direct, Lsdb};
    use crate::routing::Route;

    fn hop(db: &mut Lsdb, d: &[(&'static str, usize)], to: &str) -> Option<(usize, u32)> {
        db.shortest_paths(&direct(d), 0);
        db.route(to).map(|r| (r.link.0, r.hops.unwrap()))
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
        let d = [("B", 1), ("D", 4), ("X", 7), ("Y", 8)];
        assert_eq!(
            hop(&mut db, &d, "C"),
            Some((1, 2)),
            "B and D tie; B is smaller"
        );
        assert_eq!(
            hop(&mut db, &d, "Z"),
            Some((7, 2)),
            "X and Y tie; X is smaller"
        );
        assert_eq!(hop(&mut db, &d, "D"), Some((4, 1)));
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
        db.shortest_paths(&direct(&[("X", 1), ("Y", 2), ("W", 3)]), 0);
        assert!(db.upstream_of("Z", LinkId(1)) && db.upstream_of("Z", LinkId(2)));
        assert!(!db.upstream_of("Z", LinkId(3)));
        assert_eq!(db.route("Z").unwrap().link, LinkId(1));
        assert!(db.upstream_of("V", LinkId(3)) && !db.upstream_of("V", LinkId(1)));
        assert!(db.upstream_of("X", LinkId(1)));
        assert!(!db.upstream_of("Nobody", LinkId(1)));
    }

    #[test]
    fn upstream_sets_work_for_agents_with_many_peers() {
        // 100 direct peers, each listing A and Z: all 100 are upstream of Z.
        let peers: Vec<String> = (0..100).map(|i| format!("p{i}")).collect();
        let mut db = Lsdb::new("A", 1, 1000);
        db.originate(peers.iter().map(String::as_str), [], []);
        for p in &peers {
            db.receive(p, 1, 1, ["A", "Z"], [], []).unwrap();
        }
        db.receive("Z", 1, 1, peers.iter().map(String::as_str), [], [])
            .unwrap();
        let d: Vec<Direct<'_>> = peers
            .iter()
            .enumerate()
            .map(|(i, p)| Direct {
                name: p,
                link: LinkId(i),
                v2: true,
                synced: true,
            })
            .collect();
        db.shortest_paths(&d, 0);
        assert!((0..100).all(|i| db.upstream_of("Z", LinkId(i))));
        assert_eq!(db.route("Z").unwrap().hops, Some(2));
    }

    #[test]
    fn an_edge_needs_both_ends_to_list_it() {
        // C still lists B (stale), but B no longer lists C: C is unreachable.
        let mut db = graph("A", &[("A", &["B"]), ("B", &["A"]), ("C", &["B"])]);
        assert_eq!(hop(&mut db, &[("B", 1)], "C"), None);
        // A v1 agent describes nothing: B's word is enough.
        let mut db = graph("A", &[("A", &["B"]), ("B", &["A"])]);
        db.receive("B", 1, 2, ["A"], ["Old"], []).unwrap();
        assert_eq!(hop(&mut db, &[("B", 1)], "Old"), Some((1, 2)));
        assert!(!db.route("Old").unwrap().confirmed);
        // A v2 agent whose description has not arrived yet is not reached, nor taken for a v1
        // agent (traffic to it would go unconfirmed): it counts once it lists B back.
        db.receive("B", 1, 3, ["A", "New"], ["Old"], []).unwrap();
        assert_eq!(hop(&mut db, &[("B", 1)], "New"), None);
        db.receive("New", 1, 1, ["B"], [], []).unwrap();
        assert_eq!(hop(&mut db, &[("B", 1)], "New"), Some((1, 2)));
        assert!(db.route("New").unwrap().confirmed);
    }

    #[test]
    fn names_behind_v1_peers_count_two_hops_and_are_not_confirmed() {
        let mut db = Lsdb::new("A", 1, 100);
        db.receive("B", 1, 1, ["A"], [], ["Node1"]).unwrap();
        db.shortest_paths(&direct(&[("B", 3)]), 0);
        assert_eq!(
            db.route("Node1"),
            Some(Route {
                link: LinkId(3),
                hops: Some(3),
                confirmed: false
            })
        );
        assert!(db.route("B").unwrap().confirmed);
    }

    #[test]
    fn a_new_description_asks_for_a_search_only_when_an_edge_that_counts_changes() {
        let mut db = graph("A", &[("A", &["B"]), ("B", &["A"])]);
        let d = direct(&[("B", 1)]);
        db.shortest_paths(&d, 0);
        assert!(!db.graph_changed());
        // B lists C, which does not list B yet: no edge counts, nothing to search.
        db.receive("B", 1, 2, ["A", "C"], [], []).unwrap();
        assert!(!db.graph_changed());
        // C describes itself without B: still nothing (C alone is unreachable either way)...
        db.receive("C", 1, 1, [], [], []).unwrap();
        assert!(db.graph_changed(), "a new description is new to the search");
        db.shortest_paths(&d, 0);
        assert_eq!(db.route("C"), None);
        // ...until it lists B back.
        db.receive("C", 1, 2, ["B"], [], []).unwrap();
        assert!(db.graph_changed());
        db.shortest_paths(&d, 0);
        assert_eq!(hop(&mut db, &[("B", 1)], "C"), Some((1, 2)));
        // A new version that changes nothing that counts, and a v1 peer added.
        db.receive("C", 1, 3, ["B", "Gone"], [], []).unwrap();
        assert!(!db.graph_changed());
        db.receive("C", 1, 4, ["B", "Gone"], ["Old"], []).unwrap();
        assert!(db.graph_changed());
        db.shortest_paths(&d, 0);
        // B drops C: the edge stops counting.
        db.receive("B", 1, 3, ["A"], [], []).unwrap();
        assert!(db.graph_changed());
        db.shortest_paths(&d, 0);
        assert_eq!(db.route("C"), None);
        // C drops B afterwards: that edge no longer counted.
        db.receive("C", 1, 5, ["Gone"], ["Old"], []).unwrap();
        assert!(!db.graph_changed());
    }

    #[test]
    fn an_edge_between_agents_as_far_away_asks_for_no_search() {
        // A square A-B-D-C-A: B and C are both one hop away, D two.
        let mut db = graph(
            "A",
            &[
                ("A", &["B", "C"]),
                ("B", &["A", "D"]),
                ("C", &["A", "D"]),
                ("D", &["B", "C"]),
            ],
        );
        let d = direct(&[("B", 1), ("C", 2)]);
        db.shortest_paths(&d, 0);
        let ways_in = |db: &Lsdb| {
            [
                db.upstream_of("D", LinkId(1)),
                db.upstream_of("D", LinkId(2)),
            ]
        };
        assert_eq!(ways_in(&db), [true, true]);
        // B-C joins two agents one hop away: on no shortest path, and the search agrees.
        db.receive("B", 1, 2, ["A", "C", "D"], [], []).unwrap();
        db.receive("C", 1, 2, ["A", "B", "D"], [], []).unwrap();
        assert!(!db.graph_changed());
        assert_eq!(db.shortest_paths(&d, 0), 0);
        assert_eq!(ways_in(&db), [true, true]);
        // B-D goes: D is one hop further than B, so it matters (D has one way in left).
        db.receive("B", 1, 3, ["A", "C"], [], []).unwrap();
        assert!(db.graph_changed());
        db.shortest_paths(&d, 0);
        assert_eq!(ways_in(&db), [false, true]);
        assert_eq!(hop(&mut db, &[("B", 1), ("C", 2)], "D"), Some((2, 2)));
    }

    #[test]
    fn only_changed_routes_are_reported() {
        let mut db = graph("A", &[("A", &["B"]), ("B", &["A", "C"]), ("C", &["B"])]);
        let d = direct(&[("B", 1)]);
        assert_eq!(db.shortest_paths(&d, 0), 2);
        assert_eq!(db.shortest_paths(&d, 0), 0);
        db.receive("C", 1, 2, ["B", "D"], [], []).unwrap();
        db.receive("D", 1, 1, ["C"], [], []).unwrap();
        assert_eq!(db.shortest_paths(&d, 0), 1);
        let changed: Vec<_> = db.changed().collect();
        assert_eq!(changed, [("D", db.route("D"))]);
    }
}
