//! The link-state database of v2 routing, and the shortest paths computed over it.
//!
//! This module owns what every v2 agent has said about its own links (one description per
//! agent: its direct peers, and the names it reaches only through v1 peers), which of two
//! descriptions is newer, and the shortest-path computation with its results. It is pure: no
//! links, no bytes, no clock (ages are in the caller's ticks). It does not flood anything; the
//! core decides whom to tell.
//!
//! Why link state: every agent computes its routes from the same picture of the graph, so at
//! convergence next hops strictly shorten the distance to the destination and no loop can
//! survive; a vanished agent disappears as soon as its neighbours' descriptions stop listing it
//! (no count-to-infinity); and links here are TCP, so flooding needs no acknowledgement of its
//! own. An edge A–B between v2 agents counts only when both A and B list each other, so a stale
//! description of a dead agent cannot create a route, and a v2 agent whose description has not
//! arrived yet is not taken for a v1 agent (which would make traffic to it unconfirmed). v1
//! agents describe nothing: the v2 agents linked to them list them apart, as v1 peers.
//!
//! Names are interned to small integers when descriptions arrive, so the shortest-path search
//! (which runs after every burst of changes) works on integers and reuses its buffers, and only
//! the names whose route changed are reported.
//!
//! # Layout
//! - `lsdb/mod.rs`, the database: names and their ids (within the limit), which of two
//!   versions of a description wins, what a peer's summary listed, views for the core, and
//!   forgetting the descriptions and names no longer needed. It decides what is held; it
//!   holds no list itself, and must not reach into the pool's layout or the search's
//!   buffers (it goes through their methods).
//! - `lsdb/descriptions.rs`: each description held once (its version, and its lists where
//!   the search reads them), who lists whom, and which edges count. Ids only, no names.
//! - `lsdb/search.rs`: the shortest-path search and its results (routes, ways in, what
//!   changed, since when a description is unreachable), and whether the graph changed enough
//!   to ask for a new search. It reads the descriptions and changes none.

mod descriptions;
mod search;

use std::collections::HashMap;

use crate::LinkId;
use crate::routing::{Route, TableFull};
use descriptions::{Descriptions, Lists, MUTUAL};
use search::Search;

/// A description as read from the database.
#[derive(Debug, Clone, Copy)]
pub struct View<'a> {
    db: &'a Lsdb,
    /// The agent described.
    pub origin: &'a str,
    /// Its incarnation.
    pub inc: u64,
    /// The description's version within the incarnation.
    pub seq: u64,
    lists: Lists<'a>,
}

impl<'a> View<'a> {
    /// Its direct v2 peers.
    pub fn neighbors(&self) -> impl Iterator<Item = &'a str> + 'a {
        let db = self.db;
        self.lists.neighbor_ids().map(move |i| db.name(i))
    }

    /// Its direct v2 peers that list it back: its edges that count (see the module
    /// documentation).
    pub fn linked(&self) -> impl Iterator<Item = &'a str> + 'a {
        let db = self.db;
        self.lists
            .neighbors
            .iter()
            .filter(|&&w| w & MUTUAL != 0)
            .map(move |&w| db.name(w & !MUTUAL))
    }

    /// Its direct peers that speak only v1.
    pub fn v1_peers(&self) -> impl Iterator<Item = &'a str> + 'a {
        let db = self.db;
        self.lists.v1_peers.iter().map(move |&i| db.name(i))
    }

    /// Names it reaches only through v1 peers.
    pub fn externals(&self) -> impl Iterator<Item = &'a str> + 'a {
        let db = self.db;
        self.lists.externals.iter().map(move |&i| db.name(i))
    }
}

/// What became of a received description.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Received {
    /// Newer than what was held: stored. Pass it on.
    Newer,
    /// Already held.
    Same,
    /// Older than what is held: the sender is behind. Nothing to do: it gets the newer one
    /// the way this agent got it, by flooding or the database exchange of a new link.
    Older,
    /// A description of this agent newer than its own (left over from an earlier run): this
    /// agent's own description was renumbered above it and must be sent out.
    OwnRenumbered,
}

/// The descriptions a peer listed in the summary of its database, one bit per id, while that
/// summary is being read.
#[derive(Debug, Default)]
pub struct Listed(Vec<u64>);

impl Listed {
    fn set(&mut self, id: u32) {
        let (w, b) = (id as usize / 64, id % 64);
        if self.0.len() <= w {
            self.0.resize(w + 1, 0);
        }
        self.0[w] |= 1 << b;
    }

    fn has(&self, id: u32) -> bool {
        self.0
            .get(id as usize / 64)
            .is_some_and(|w| w & (1 << (id % 64)) != 0)
    }
}

/// A direct peer, as the search needs it.
#[derive(Debug, Clone, Copy)]
pub struct Direct<'a> {
    /// Its name.
    pub name: &'a str,
    /// The link to it.
    pub link: LinkId,
    /// Whether the link speaks v2 (the peer confirms deliveries).
    pub v2: bool,
    /// Whether the database exchange over the link is complete. Until it is, what this
    /// database holds about the peer's side of the mesh may be stale (this agent may have
    /// been cut off from it), so the peer is reached and nothing through it. A v1 peer
    /// describes nothing and has no exchange: always `true`.
    pub synced: bool,
}

/// The database. Holds this agent's own description too.
#[derive(Debug)]
pub struct Lsdb {
    me: u32,
    ids: HashMap<Box<str>, u32>,
    /// Per id: its name (empty once freed).
    names: Vec<Box<str>>,
    free: Vec<u32>,
    /// Most names held (descriptions and the names they list).
    max: usize,
    descriptions: Descriptions,
    search: Search,
    /// What [`newest`](Self::newest) returns.
    newest: u32,
    /// Reused by `receive` and `originate`: the three lists of a description, as ids.
    lists: [Vec<u32>; 3],
}

impl Lsdb {
    /// A database for agent `me` in incarnation `inc`, holding at most `max` names.
    pub fn new(me: &str, inc: u64, max: usize) -> Lsdb {
        let mut db = Lsdb {
            me: 0,
            ids: HashMap::new(),
            names: Vec::new(),
            free: Vec::new(),
            max: max.max(2),
            descriptions: Descriptions::new(),
            search: Search::new(0),
            newest: 0,
            lists: Default::default(),
        };
        // The first name interned: id 0, as the search was told.
        db.me = db.intern_own(me);
        debug_assert_eq!(db.me, 0);
        db.descriptions
            .set_lists(db.me, [&[], &[], &[]], &mut db.search);
        db.descriptions.set_version(db.me, (inc, 1));
        db
    }

    /// Interns a name a peer's description brings, within the limit.
    fn intern(&mut self, name: &str) -> Result<u32, TableFull> {
        if let Some(&id) = self.ids.get(name) {
            return Ok(id);
        }
        if self.ids.len() >= self.max {
            return Err(TableFull { max: self.max });
        }
        Ok(self.insert_name(name))
    }

    /// Interns a name of this agent's own making: its own, its direct peers', and those it
    /// reaches through v1 peers. Those are bounded by its links and its routing table, not by
    /// what descriptions claim, so they are never refused: a database filled by descriptions
    /// must not stop this agent from describing its links or computing its routes.
    fn intern_own(&mut self, name: &str) -> u32 {
        match self.ids.get(name) {
            Some(&id) => id,
            None => self.insert_name(name),
        }
    }

    /// Gives a name not held yet an id.
    fn insert_name(&mut self, name: &str) -> u32 {
        let id = match self.free.pop() {
            Some(id) => {
                self.names[id as usize] = name.into();
                id
            }
            None => {
                self.names.push(name.into());
                (self.names.len() - 1) as u32
            }
        };
        self.descriptions.open(id);
        self.search.open(id);
        self.ids.insert(name.into(), id);
        id
    }

    fn name(&self, id: u32) -> &str {
        &self.names[id as usize]
    }

    fn view(&self, id: u32) -> Option<View<'_>> {
        let (inc, seq) = self.descriptions.version(id)?;
        Some(View {
            db: self,
            origin: &self.names[id as usize],
            inc,
            seq,
            lists: self.descriptions.lists(id)?,
        })
    }

    /// This agent's own description.
    pub fn own(&self) -> View<'_> {
        self.view(self.me)
            .expect("the own description is never removed")
    }

    /// Descriptions held, this agent's own included.
    pub fn len(&self) -> usize {
        self.descriptions.count()
    }

    /// Whether only this agent's own description is held.
    pub fn is_empty(&self) -> bool {
        self.descriptions.count() <= 1
    }

    /// Names held: described agents and the names their descriptions list.
    pub fn names(&self) -> usize {
        self.ids.len()
    }

    /// The description of `origin`.
    pub fn get(&self, origin: &str) -> Option<View<'_>> {
        self.view(*self.ids.get(origin)?)
    }

    /// Every description, in the order their names were first held.
    pub fn iter(&self) -> impl Iterator<Item = View<'_>> {
        (0..self.names.len() as u32).filter_map(|id| self.view(id))
    }

    /// Reads one entry of a peer's database summary: records that the peer holds `origin`'s
    /// description at version `(inc, seq)`, and returns ours when it is newer, for the peer
    /// (once per summary, however often the peer lists it).
    /// When the peer's is newer, the peer sends it on reading this agent's own summary.
    pub fn newer_than(
        &self,
        origin: &str,
        inc: u64,
        seq: u64,
        listed: &mut Listed,
    ) -> Option<View<'_>> {
        let id = *self.ids.get(origin)?;
        if listed.has(id) {
            // Listed twice: answered already, whatever the peer claims now.
            return None;
        }
        listed.set(id);
        self.view(id).filter(|v| (v.inc, v.seq) > (inc, seq))
    }

    /// The descriptions a peer's whole summary did not list: the peer holds none of them.
    pub fn unlisted<'a>(&'a self, listed: &'a Listed) -> impl Iterator<Item = View<'a>> + 'a {
        (0..self.names.len() as u32)
            .filter(|&id| !listed.has(id))
            .filter_map(|id| self.view(id))
    }

    /// Interns `names` (within the limit) into `ids`, sorted and deduplicated.
    fn ids_of<'n>(
        &mut self,
        names: impl IntoIterator<Item = &'n str>,
        ids: &mut Vec<u32>,
    ) -> Result<(), TableFull> {
        ids.clear();
        for n in names {
            ids.push(self.intern(n)?);
        }
        ids.sort_unstable();
        ids.dedup();
        Ok(())
    }

    /// As [`ids_of`](Self::ids_of), for names of this agent's own making (never refused).
    fn own_ids_of<'n>(&mut self, names: impl IntoIterator<Item = &'n str>, ids: &mut Vec<u32>) {
        ids.clear();
        ids.extend(names.into_iter().map(|n| self.intern_own(n)));
        ids.sort_unstable();
        ids.dedup();
    }

    /// Sets this agent's own v2 peers, v1 peers and v1-only names; returns whether the
    /// description changed (and so was renumbered and must be flooded).
    pub fn originate<'n>(
        &mut self,
        neighbors: impl IntoIterator<Item = &'n str>,
        v1_peers: impl IntoIterator<Item = &'n str>,
        externals: impl IntoIterator<Item = &'n str>,
    ) -> bool {
        let [mut n, mut p, mut x] = std::mem::take(&mut self.lists);
        self.own_ids_of(neighbors, &mut n);
        self.own_ids_of(v1_peers, &mut p);
        self.own_ids_of(externals, &mut x);
        let me = self.me;
        let own = self.descriptions.lists(me).expect("own");
        let same = own.neighbor_ids().eq(n.iter().copied())
            && own.v1_peers == p.as_slice()
            && own.externals == x.as_slice();
        if !same {
            self.descriptions
                .set_lists(me, [&n, &p, &x], &mut self.search);
            let (inc, seq) = self.descriptions.version(me).expect("own");
            self.descriptions.set_version(me, (inc, seq + 1));
        }
        self.lists = [n, p, x];
        !same
    }

    /// Offers a description received from a peer: `origin`'s v2 peers, v1 peers and v1-only
    /// names at version `(inc, seq)`.
    pub fn receive<'n>(
        &mut self,
        origin: &str,
        inc: u64,
        seq: u64,
        neighbors: impl IntoIterator<Item = &'n str>,
        v1_peers: impl IntoIterator<Item = &'n str>,
        externals: impl IntoIterator<Item = &'n str>,
    ) -> Result<Received, TableFull> {
        let got = (inc, seq);
        // One lookup serves every question about the origin: most descriptions that arrive
        // are already held (flooding brings each version once per link), and with thousands
        // of names each lookup is a cache miss or two.
        let known = self.ids.get(origin).copied();
        if known == Some(self.me) {
            let own = self.descriptions.version(self.me).expect("own");
            return Ok(match got.cmp(&own) {
                std::cmp::Ordering::Greater => {
                    // An earlier run of this agent got further; carry on above it.
                    self.descriptions.set_version(self.me, (inc, seq + 1));
                    Received::OwnRenumbered
                }
                std::cmp::Ordering::Equal => Received::Same,
                std::cmp::Ordering::Less => Received::Older,
            });
        }
        let held = known.and_then(|id| self.descriptions.version(id));
        match held.map(|h| got.cmp(&h)) {
            Some(std::cmp::Ordering::Equal) => return Ok(Received::Same),
            Some(std::cmp::Ordering::Less) => return Ok(Received::Older),
            _ => {}
        }
        let id = match known {
            Some(id) => id,
            None => self.intern(origin)?,
        };
        let [mut n, mut p, mut x] = std::mem::take(&mut self.lists);
        let interned = self
            .ids_of(neighbors, &mut n)
            .and_then(|()| self.ids_of(v1_peers, &mut p))
            .and_then(|()| self.ids_of(externals, &mut x));
        if interned.is_ok() {
            self.descriptions
                .set_lists(id, [&n, &p, &x], &mut self.search);
            self.descriptions.set_version(id, got);
            self.newest = id;
        }
        self.lists = [n, p, x];
        interned.map(|()| Received::Newer)
    }

    /// The description the last [`receive`](Self::receive) that returned
    /// [`Received::Newer`] stored (this agent's own before any).
    pub fn newest(&self) -> Option<View<'_>> {
        self.view(self.newest)
    }

    /// Recomputes shortest paths from this agent: fewest hops, ties broken by the smaller
    /// name of the first hop, so that every agent decides the same way. `direct` are this
    /// agent's identified peers. A route is `confirmed` when its first link speaks v2 and the
    /// destination is a v2 agent (it describes itself, or it is that v2 peer). v1 peers of
    /// other agents count one hop past them, names behind those two. Returns how
    /// many names' routes changed; [`changed`](Self::changed) lists them.
    ///
    /// Also records, per name, the first-hop links of every shortest path
    /// ([`upstream_of`](Self::upstream_of)), and when each description became unreachable.
    pub fn shortest_paths(&mut self, direct: &[Direct<'_>], now: u64) -> usize {
        let mut peers = self.search.take_direct();
        for d in direct {
            let id = self.intern_own(d.name);
            peers.push(search::Peer {
                id,
                link: d.link,
                v2: d.v2,
                synced: d.synced,
            });
        }
        // Ties go to the first hop with the smaller name; sorting once lets the search compare
        // indices instead of names.
        let names = &self.names;
        peers.sort_unstable_by(|a, b| names[a.id as usize].cmp(&names[b.id as usize]));
        self.search.run(&self.descriptions, peers, now)
    }

    /// Whether what the search reads changed since the last search: a new description that
    /// changes none of the edges that count (its peer does not list it back yet, or no longer
    /// did) needs no new search.
    pub fn graph_changed(&self) -> bool {
        self.search.graph_changed()
    }

    /// The names whose route the last search changed, with their new route.
    pub fn changed(&self) -> impl Iterator<Item = (&str, Option<Route>)> {
        self.search
            .changed()
            .map(|(id, route)| (self.name(id), route))
    }

    /// The route the last search found to `name`.
    pub fn route(&self, name: &str) -> Option<Route> {
        self.search.route(*self.ids.get(name)?)
    }

    /// Whether `link` is the first hop of a shortest path to `name`, as of the last search:
    /// the way traffic from `name` arrives when it is genuine and routes agree.
    pub fn upstream_of(&self, name: &str, link: LinkId) -> bool {
        self.ids
            .get(name)
            .is_some_and(|&id| self.search.upstream_of(id, link))
    }

    /// Forgets descriptions unreachable since before `before`, and names nothing refers to
    /// any more; returns how many descriptions went.
    pub fn purge(&mut self, before: u64) -> usize {
        let mut gone = 0;
        for id in 0..self.names.len() as u32 {
            if self.descriptions.is_described(id)
                && self
                    .search
                    .unreachable_since(id)
                    .is_some_and(|since| since < before)
            {
                self.descriptions.remove(id, &mut self.search);
                self.search.forget(id);
                gone += 1;
            }
        }
        let in_direct: Vec<u32> = self.search.direct_ids().collect();
        for id in 0..self.names.len() as u32 {
            let unused = id != self.me
                && !self.descriptions.is_described(id)
                && !self.descriptions.is_listed(id)
                && self.search.route(id).is_none()
                && !in_direct.contains(&id)
                && self.ids.contains_key(&self.names[id as usize]);
            if unused {
                let name = std::mem::take(&mut self.names[id as usize]);
                self.ids.remove(&name);
                self.free.push(id);
            }
        }
        gone
    }

    /// The earliest time a description was found unreachable, if one is.
    pub fn oldest_unreachable(&self) -> Option<u64> {
        (0..self.names.len() as u32)
            .filter(|&id| self.descriptions.is_described(id))
            .filter_map(|id| self.search.unreachable_since(id))
            .min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A database for `me` holding the given descriptions (each agent lists its peers).
    pub(super) fn graph(me: &str, edges: &[(&str, &[&str])]) -> Lsdb {
        let mut db = Lsdb::new(me, 1, 100);
        for &(origin, peers) in edges {
            if origin == me {
                db.originate(peers.iter().copied(), [], []);
            } else {
                db.receive(origin, 1, 1, peers.iter().copied(), [], [])
                    .unwrap();
            }
        }
        db
    }

    /// Direct peers, each over a v2 link.
    pub(super) fn direct(list: &[(&'static str, usize)]) -> Vec<Direct<'static>> {
        list.iter()
            .map(|&(name, l)| Direct {
                name,
                link: LinkId(l),
                v2: true,
                synced: true,
            })
            .collect()
    }
    #[test]
    fn newer_wins_and_an_agents_own_old_description_renumbers_it() {
        let mut db = Lsdb::new("A", 5, 100);
        assert_eq!(db.receive("B", 1, 3, ["A"], [], []), Ok(Received::Newer));
        assert_eq!(db.receive("B", 1, 3, ["A"], [], []), Ok(Received::Same));
        assert_eq!(db.receive("B", 1, 2, [], [], []), Ok(Received::Older));
        assert_eq!(
            db.receive("B", 2, 1, [], [], []),
            Ok(Received::Newer),
            "a new incarnation"
        );
        assert_eq!(db.get("B").unwrap().neighbors().count(), 0);
        // A's own description from an earlier run with a later clock.
        assert_eq!(
            db.receive("A", 9, 4, [], [], []),
            Ok(Received::OwnRenumbered)
        );
        assert_eq!((db.own().inc, db.own().seq), (9, 5));
        assert_eq!(db.receive("A", 9, 1, [], [], []), Ok(Received::Older));
    }

    #[test]
    fn unreachable_descriptions_and_unused_names_are_purged_after_a_while() {
        let mut db = graph("A", &[("A", &["B"]), ("B", &["A"]), ("Gone", &["Ghost"])]);
        let d = direct(&[("B", 1)]);
        db.shortest_paths(&d, 100);
        assert_eq!(db.oldest_unreachable(), Some(100));
        db.shortest_paths(&d, 200);
        assert_eq!(db.purge(100), 0, "not yet");
        assert_eq!(db.purge(101), 1);
        assert!(db.get("Gone").is_none() && db.get("B").is_some());
        assert_eq!(db.names(), 2, "Gone and Ghost are forgotten");
    }

    #[test]
    fn the_limit_holds() {
        let mut db = Lsdb::new("A", 1, 3);
        db.receive("B", 1, 1, [], [], []).unwrap();
        db.receive("C", 1, 1, [], [], []).unwrap();
        assert_eq!(db.receive("D", 1, 1, [], [], []), Err(TableFull { max: 3 }));
        assert_eq!(
            db.receive("C", 1, 2, [], [], []),
            Ok(Received::Newer),
            "updates still fit"
        );
        assert_eq!(
            db.receive("C", 1, 3, ["X"], [], []),
            Err(TableFull { max: 3 }),
            "so do the names listed"
        );
    }

    #[test]
    fn a_full_table_still_takes_this_agents_own_peers() {
        let mut db = Lsdb::new("A", 1, 3);
        db.receive("B", 1, 1, ["A"], [], []).unwrap();
        db.receive("C", 1, 1, [], [], []).unwrap();
        assert!(
            db.receive("D", 1, 1, [], [], []).is_err(),
            "full for descriptions"
        );
        assert!(
            db.originate(["B", "E"], [], []),
            "a new peer is described all the same"
        );
        db.shortest_paths(&direct(&[("B", 1), ("E", 2)]), 0);
        assert_eq!(db.route("E").map(|r| r.link), Some(LinkId(2)));
        assert_eq!(db.route("B").map(|r| r.link), Some(LinkId(1)));
    }
}
