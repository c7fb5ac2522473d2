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
//! - `lsdb/descriptions.rs`: each description held once (its version, its origin's
//!   signature in secure mode, and its lists where the search reads them), who lists whom,
//!   and which edges count. Ids only, no names.
//! - `lsdb/search.rs`: the shortest-path search and its results (routes, ways in, what
//!   changed, since when a description is unreachable), and whether the graph changed enough
//!   to ask for a new search. It reads the descriptions and changes none.
//! - `lsdb/versions.rs`: the number space of versions, and the version this agent
//!   re-announces at above a description of itself it did not make (or `None`, at the top).
//!
//! # Descriptions nobody made
//! Plain links let any peer send a description of any agent, at any version up to 2^53. The
//! database bounds what such a description can do:
//! - A description of this agent that it did not make, at or above its own version, makes it
//!   re-announce above it ([`Received::OwnRenumbered`], see `versions.rs`); flooding takes the
//!   new version everywhere the forged one went.
//! - At the top of the number space nothing can be put above ([`Received::OwnOutranked`]).
//!   Then time does it: a description of an agent nobody reaches through edges that count is
//!   forgotten after a while ([`purge`](Lsdb::purge); a direct peer whose description does not
//!   list this agent back counts as not reached, so the peers of an agent described as having
//!   none forget it too), and every description not superseded within a lifetime is forgotten
//!   ([`expire`](Lsdb::expire)). The outranked agent then floods everything it holds again.

mod descriptions;
mod search;
mod versions;

#[cfg(any(test, fuzzing))]
pub(crate) use versions::TOP_INCARNATION;

use std::collections::HashMap;

use crate::LinkId;
use crate::routing::{Route, TableFull};
use descriptions::{Descriptions, Lists, MUTUAL};

#[cfg(feature = "secure")]
pub(crate) use descriptions::Signature;
use search::Search;

/// A description as read from the database.
#[derive(Debug, Clone, Copy)]
pub(crate) struct View<'a> {
    db: &'a Lsdb,
    /// The agent described.
    pub(crate) origin: &'a str,
    /// Its incarnation.
    pub(crate) inc: u64,
    /// The description's version within the incarnation.
    pub(crate) seq: u64,
    /// Its origin's signature of this version, when it is signed (secure mode).
    #[cfg(feature = "secure")]
    pub(crate) signature: Option<&'a Signature>,
    lists: Lists<'a>,
}

impl<'a> View<'a> {
    /// Its direct v2 peers.
    pub(crate) fn neighbors(&self) -> impl Iterator<Item = &'a str> + 'a {
        let db = self.db;
        self.lists.neighbor_ids().map(move |i| db.name(i))
    }

    /// Its direct v2 peers that list it back: its edges that count (see the module
    /// documentation).
    pub(crate) fn linked(&self) -> impl Iterator<Item = &'a str> + 'a {
        let db = self.db;
        self.lists
            .neighbors
            .iter()
            .filter(|&&w| w & MUTUAL != 0)
            .map(move |&w| db.name(w & !MUTUAL))
    }

    /// Its direct peers that speak only v1.
    pub(crate) fn v1_peers(&self) -> impl Iterator<Item = &'a str> + 'a {
        let db = self.db;
        self.lists.v1_peers.iter().map(move |&i| db.name(i))
    }

    /// Names it reaches only through v1 peers.
    pub(crate) fn externals(&self) -> impl Iterator<Item = &'a str> + 'a {
        let db = self.db;
        self.lists.externals.iter().map(move |&i| db.name(i))
    }
}

/// What became of a received description.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Received {
    /// Newer than what was held: stored. Pass it on.
    Newer,
    /// Already held.
    Same,
    /// Older than what is held: the sender is behind. Nothing to do: it gets the newer one
    /// the way this agent got it, by flooding or the database exchange of a new link.
    Older,
    /// A description of this agent that it did not make, newer than its own (left over from
    /// an earlier run, or forged), or at its own version with other lists: this agent's own
    /// description was renumbered above it and must be sent out at once.
    OwnRenumbered,
    /// A description of this agent that it did not make, at the top of the number space: no
    /// version can be put above it, so this agent's own descriptions are older than it
    /// wherever it is held, until it is forgotten there.
    OwnOutranked,
}

/// The descriptions a peer listed in the summary of its database, one bit per id, while that
/// summary is being read.
#[derive(Debug, Default)]
pub(crate) struct Listed(Vec<u64>);

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
pub(crate) struct Direct<'a> {
    /// Its name.
    pub(crate) name: &'a str,
    /// The link to it.
    pub(crate) link: LinkId,
    /// Whether the link speaks v2 (the peer confirms deliveries).
    pub(crate) v2: bool,
    /// Whether the database exchange over the link is complete. Until it is, what this
    /// database holds about the peer's side of the mesh may be stale (this agent may have
    /// been cut off from it), so the peer is reached and nothing through it. A v1 peer
    /// describes nothing and has no exchange: always `true`.
    pub(crate) synced: bool,
}

/// The database. Holds this agent's own description too.
#[derive(Debug)]
pub(crate) struct Lsdb {
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
    /// Per id: when the description held was stored (the caller's tick).
    stored: Vec<u64>,
    /// Reused by `receive` and `originate`: the three lists of a description, as ids.
    lists: [Vec<u32>; 3],
}

impl Lsdb {
    /// A database for agent `me` in incarnation `inc`, holding at most `max` names.
    pub(crate) fn new(me: &str, inc: u64, max: usize) -> Lsdb {
        let mut db = Lsdb {
            me: 0,
            ids: HashMap::new(),
            names: Vec::new(),
            free: Vec::new(),
            max: max.max(2),
            descriptions: Descriptions::new(),
            search: Search::new(0),
            newest: 0,
            stored: Vec::new(),
            lists: Default::default(),
        };
        // The first name interned: id 0, as the search was told.
        db.me = db.intern_own(me);
        debug_assert_eq!(db.me, 0);
        db.descriptions
            .set_lists(db.me, [&[], &[], &[]], &mut db.search);
        db.descriptions
            .set_version(db.me, (versions::first_incarnation(inc), 1));
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
                self.stored.push(0);
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
            #[cfg(feature = "secure")]
            signature: self.descriptions.signature(id),
            lists: self.descriptions.lists(id)?,
        })
    }

    /// This agent's own description.
    pub(crate) fn own(&self) -> View<'_> {
        self.view(self.me)
            .expect("the own description is never removed")
    }

    /// Descriptions held, this agent's own included.
    pub(crate) fn len(&self) -> usize {
        self.descriptions.count()
    }

    /// Names held: described agents and the names their descriptions list.
    #[cfg(test)]
    pub(crate) fn names(&self) -> usize {
        self.ids.len()
    }

    /// The description of `origin`.
    pub(crate) fn get(&self, origin: &str) -> Option<View<'_>> {
        self.view(*self.ids.get(origin)?)
    }

    /// The incarnation `origin`'s description states, if one is held.
    pub(crate) fn incarnation_of(&self, origin: &str) -> Option<u64> {
        let (inc, _) = self.descriptions.version(*self.ids.get(origin)?)?;
        Some(inc)
    }

    /// Every description, in the order their names were first held.
    pub(crate) fn iter(&self) -> impl Iterator<Item = View<'_>> {
        (0..self.names.len() as u32).filter_map(|id| self.view(id))
    }

    /// Reads one entry of a peer's database summary: records that the peer holds `origin`'s
    /// description at version `(inc, seq)`, and returns ours when it is newer, for the peer
    /// (once per summary, however often the peer lists it).
    /// When the peer's is newer, the peer sends it on reading this agent's own summary.
    pub(crate) fn newer_than(
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
    pub(crate) fn unlisted<'a>(
        &'a self,
        listed: &'a Listed,
    ) -> impl Iterator<Item = View<'a>> + 'a {
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
    pub(crate) fn originate<'n>(
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
            self.renew();
        }
        self.lists = [n, p, x];
        !same
    }

    /// Gives this agent's own description the next version, lists unchanged: what it floods
    /// to refresh its description before the lifetime of the one held elsewhere runs out.
    /// Returns whether there was room for a next version (there always is, short of 2^52
    /// changes after a forgery pushed this agent to the last incarnation below the top; then
    /// the version stays, and the lists changed under it reach only agents that forgot it).
    pub(crate) fn renew(&mut self) -> bool {
        let own = self.descriptions.version(self.me).expect("own");
        match versions::next(own) {
            Some(v) => {
                self.descriptions.set_version(self.me, v);
                true
            }
            None => false,
        }
    }

    /// Whether [`receive_at`](Self::receive_at) would do anything with this description: it
    /// is newer than the one held of `origin` (or none is held), or it is a description of
    /// this agent that it did not make (see [`Received`]). What would not be taken needs no
    /// checking: a secure agent verifies signatures only of what this says yes to.
    #[cfg(feature = "secure")]
    pub(crate) fn would_take<'n>(
        &mut self,
        origin: &str,
        version: (u64, u64),
        neighbors: impl IntoIterator<Item = &'n str>,
        v1_peers: impl IntoIterator<Item = &'n str>,
        externals: impl IntoIterator<Item = &'n str>,
    ) -> bool {
        let known = self.ids.get(origin).copied();
        let held = known.and_then(|id| self.descriptions.version(id));
        if known != Some(self.me) {
            return held.is_none_or(|h| version > h);
        }
        match held.map(|own| version.cmp(&own)) {
            Some(std::cmp::Ordering::Less) => false,
            Some(std::cmp::Ordering::Equal) => !self.is_own(neighbors, v1_peers, externals),
            _ => true,
        }
    }

    /// Records the origin's signature of the description the last
    /// [`receive_at`](Self::receive_at) that returned [`Received::Newer`] stored.
    #[cfg(feature = "secure")]
    pub(crate) fn sign_newest(&mut self, signature: Signature) {
        self.descriptions.set_signature(self.newest, signature);
    }

    /// Records this agent's signature of its own description, as it is now. Every change of
    /// the own description's version or lists drops the signature held: sign again after
    /// each.
    #[cfg(feature = "secure")]
    pub(crate) fn sign_own(&mut self, signature: Signature) {
        self.descriptions.set_signature(self.me, signature);
    }

    /// As [`receive_at`](Self::receive_at), at tick 0.
    #[cfg(test)]
    pub(crate) fn receive<'n>(
        &mut self,
        origin: &str,
        inc: u64,
        seq: u64,
        neighbors: impl IntoIterator<Item = &'n str>,
        v1_peers: impl IntoIterator<Item = &'n str>,
        externals: impl IntoIterator<Item = &'n str>,
    ) -> Result<Received, TableFull> {
        self.receive_at(origin, inc, seq, neighbors, v1_peers, externals, 0)
    }

    /// Offers a description received from a peer at tick `now`: `origin`'s v2 peers, v1
    /// peers and v1-only names at version `(inc, seq)`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn receive_at<'n>(
        &mut self,
        origin: &str,
        inc: u64,
        seq: u64,
        neighbors: impl IntoIterator<Item = &'n str>,
        v1_peers: impl IntoIterator<Item = &'n str>,
        externals: impl IntoIterator<Item = &'n str>,
        now: u64,
    ) -> Result<Received, TableFull> {
        let got = (inc, seq);
        // One lookup serves every question about the origin: most descriptions that arrive
        // are already held (flooding brings each version once per link), and with thousands
        // of names each lookup is a cache miss or two.
        let known = self.ids.get(origin).copied();
        if known == Some(self.me) {
            return Ok(self.receive_own(got, neighbors, v1_peers, externals));
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
            self.stored[id as usize] = now;
            self.newest = id;
        }
        self.lists = [n, p, x];
        interned.map(|()| Received::Newer)
    }

    /// A description of this agent, at version `got`, that came from a peer: older, the same,
    /// or made by somebody else (an earlier run, or a forger) when it is newer than its own or
    /// as new with other lists. Then this agent re-announces above it, unless it is at the
    /// top of the number space.
    fn receive_own<'n>(
        &mut self,
        got: (u64, u64),
        neighbors: impl IntoIterator<Item = &'n str>,
        v1_peers: impl IntoIterator<Item = &'n str>,
        externals: impl IntoIterator<Item = &'n str>,
    ) -> Received {
        let own = self.descriptions.version(self.me).expect("own");
        let made_elsewhere = match got.cmp(&own) {
            std::cmp::Ordering::Less => return Received::Older,
            std::cmp::Ordering::Greater => true,
            std::cmp::Ordering::Equal => !self.is_own(neighbors, v1_peers, externals),
        };
        if !made_elsewhere {
            return Received::Same;
        }
        match versions::above(own, got) {
            Some(v) => {
                self.descriptions.set_version(self.me, v);
                Received::OwnRenumbered
            }
            None => Received::OwnOutranked,
        }
    }

    /// Whether these are this agent's own lists (v2 peers, v1 peers, names behind them).
    fn is_own<'n>(
        &mut self,
        neighbors: impl IntoIterator<Item = &'n str>,
        v1_peers: impl IntoIterator<Item = &'n str>,
        externals: impl IntoIterator<Item = &'n str>,
    ) -> bool {
        let [mut n, mut p, mut x] = std::mem::take(&mut self.lists);
        let own = self.descriptions.lists(self.me).expect("own");
        let same = known_ids(&self.ids, neighbors, &mut n)
            && known_ids(&self.ids, v1_peers, &mut p)
            && known_ids(&self.ids, externals, &mut x)
            && own.neighbor_ids().eq(n.iter().copied())
            && own.v1_peers == p.as_slice()
            && own.externals == x.as_slice();
        self.lists = [n, p, x];
        same
    }

    /// The description the last [`receive_at`](Self::receive_at) that returned
    /// [`Received::Newer`] stored (this agent's own before any).
    pub(crate) fn newest(&self) -> Option<View<'_>> {
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
    pub(crate) fn shortest_paths(&mut self, direct: &[Direct<'_>], now: u64) -> usize {
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
    pub(crate) fn graph_changed(&self) -> bool {
        self.search.graph_changed()
    }

    /// The names whose route the last search changed, with their new route.
    pub(crate) fn changed(&self) -> impl Iterator<Item = (&str, Option<Route>)> {
        self.search
            .changed()
            .map(|(id, route)| (self.name(id), route))
    }

    /// The route the last search found to `name`.
    #[cfg(test)]
    pub(crate) fn route(&self, name: &str) -> Option<Route> {
        self.search.route(*self.ids.get(name)?)
    }

    /// Whether `link` is the first hop of a shortest path to `name`, as of the last search:
    /// the way traffic from `name` arrives when it is genuine and routes agree.
    pub(crate) fn upstream_of(&self, name: &str, link: LinkId) -> bool {
        self.ids
            .get(name)
            .is_some_and(|&id| self.search.upstream_of(id, link))
    }

    /// Forgets descriptions unreachable since before `before`, and names nothing refers to
    /// any more; returns how many descriptions went.
    pub(crate) fn purge(&mut self, before: u64) -> usize {
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

    /// Forgets the descriptions stored before `before` and not superseded since (never this
    /// agent's own): the lifetime of a description. Every agent refreshes its own well within
    /// it, so only one that nobody can supersede goes, a forged one at the top of the number
    /// space. Returns how many went.
    pub(crate) fn expire(&mut self, before: u64) -> usize {
        let mut gone = 0;
        for id in 0..self.names.len() as u32 {
            if id != self.me
                && self.descriptions.is_described(id)
                && self.stored[id as usize] < before
            {
                self.descriptions.remove(id, &mut self.search);
                self.search.forget(id);
                gone += 1;
            }
        }
        gone
    }

    /// Forgets every description but this agent's own for which `drop` holds, given its
    /// origin and signature, as [`expire`](Self::expire) forgets: a secure agent's reload of
    /// its trust list drops what the new list no longer allows. Returns how many went.
    #[cfg(feature = "secure")]
    pub(crate) fn forget(
        &mut self,
        mut drop: impl FnMut(&str, Option<&Signature>) -> bool,
    ) -> usize {
        let mut gone = 0;
        for id in 0..self.names.len() as u32 {
            if id != self.me
                && self.descriptions.is_described(id)
                && drop(&self.names[id as usize], self.descriptions.signature(id))
            {
                self.descriptions.remove(id, &mut self.search);
                self.search.forget(id);
                gone += 1;
            }
        }
        gone
    }

    /// When the oldest description held (other than this agent's own) was stored, if one is.
    pub(crate) fn oldest_stored(&self) -> Option<u64> {
        (0..self.names.len() as u32)
            .filter(|&id| id != self.me && self.descriptions.is_described(id))
            .map(|id| self.stored[id as usize])
            .min()
    }

    /// The earliest time a description was found unreachable, if one is.
    pub(crate) fn oldest_unreachable(&self) -> Option<u64> {
        (0..self.names.len() as u32)
            .filter(|&id| self.descriptions.is_described(id))
            .filter_map(|id| self.search.unreachable_since(id))
            .min()
    }
}

/// The ids of `names` into `ids`, sorted and deduplicated, without interning: `false` as soon
/// as one is not held.
fn known_ids<'n>(
    held: &HashMap<Box<str>, u32>,
    names: impl IntoIterator<Item = &'n str>,
    ids: &mut Vec<u32>,
) -> bool {
    ids.clear();
    for name in names {
        match held.get(name) {
            Some(&id) => ids.push(id),
            None => return false,
        }
    }
    ids.sort_unstable();
    ids.dedup();
    true
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
        // A's own description from an earlier run with a later clock: A carries on in the
        // incarnation after it.
        assert_eq!(
            db.receive("A", 9, 4, [], [], []),
            Ok(Received::OwnRenumbered)
        );
        assert_eq!((db.own().inc, db.own().seq), (10, 1));
        assert_eq!(db.receive("A", 9, 1, [], [], []), Ok(Received::Older));
        assert_eq!(db.receive("A", 10, 1, [], [], []), Ok(Received::Same));
    }

    #[test]
    fn a_description_of_this_agent_it_did_not_make_is_answered_from_above_or_outranks_it() {
        let mut db = Lsdb::new("A", 5, 100);
        assert!(db.originate(["B"], [], []));
        assert_eq!((db.own().inc, db.own().seq), (5, 2));
        // Its own version with other lists: renumbered within its incarnation.
        assert_eq!(db.receive("A", 5, 2, ["B"], [], []), Ok(Received::Same));
        assert_eq!(
            db.receive("A", 5, 2, ["C"], [], []),
            Ok(Received::OwnRenumbered)
        );
        assert_eq!((db.own().inc, db.own().seq), (5, 3));
        assert_eq!(
            db.receive("A", 5, 3, ["B"], ["C"], []),
            Ok(Received::OwnRenumbered)
        );
        assert_eq!((db.own().inc, db.own().seq), (5, 4));
        // A later version in its incarnation, and in a later one.
        assert_eq!(
            db.receive("A", 5, 1 << 40, [], [], []),
            Ok(Received::OwnRenumbered)
        );
        assert_eq!((db.own().inc, db.own().seq), (5, (1 << 40) + 1));
        let max = crate::wire::MAX_NUMBER;
        assert_eq!(
            db.receive("A", 5, max, [], [], []),
            Ok(Received::OwnRenumbered)
        );
        assert_eq!((db.own().inc, db.own().seq), (6, 1));
        // At the top, nothing can go above: the own description stays as it is.
        for inc in [TOP_INCARNATION, max] {
            assert_eq!(
                db.receive("A", inc, max, [], [], []),
                Ok(Received::OwnOutranked)
            );
        }
        assert_eq!((db.own().inc, db.own().seq), (6, 1));
        assert_eq!(db.own().neighbors().collect::<Vec<_>>(), ["B"]);
        assert_eq!(db.incarnation_of("A"), Some(6));
        // Its changes still take the next version.
        assert!(db.originate(["B", "C"], [], []));
        assert_eq!((db.own().inc, db.own().seq), (6, 2));
        assert!(db.renew());
        assert_eq!((db.own().inc, db.own().seq), (6, 3));
    }

    #[test]
    fn an_agent_never_takes_an_incarnation_at_the_top() {
        let db = Lsdb::new("A", u64::MAX, 100);
        assert_eq!(db.own().inc, TOP_INCARNATION - 1);
    }

    #[test]
    fn descriptions_not_superseded_within_their_lifetime_expire() {
        let mut db = Lsdb::new("A", 1, 100);
        db.receive_at("B", 1, 1, ["A"], [], [], 100).unwrap();
        db.receive_at("C", 1, 1, ["A"], [], [], 200).unwrap();
        assert_eq!(db.oldest_stored(), Some(100));
        db.receive_at("B", 1, 2, ["A"], [], [], 300).unwrap();
        assert_eq!(db.oldest_stored(), Some(200), "superseded: stored anew");
        assert_eq!(db.expire(200), 0);
        assert_eq!(db.expire(201), 1);
        assert!(db.get("C").is_none() && db.get("B").is_some());
        assert_eq!(db.expire(u64::MAX), 1, "never this agent's own");
        assert_eq!((db.len(), db.own().origin), (1, "A"));
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
    fn a_direct_peers_description_that_does_not_list_this_agent_counts_as_unreached() {
        // B is linked to A, but the description of B held lists nobody (a forgery nothing
        // can supersede): A reaches B over the link, not through that description.
        let mut db = graph("A", &[("A", &["B"]), ("B", &[])]);
        let d = direct(&[("B", 1)]);
        db.shortest_paths(&d, 100);
        assert!(db.route("B").is_some(), "the link still reaches B");
        assert_eq!(db.oldest_unreachable(), Some(100));
        assert_eq!(db.purge(101), 1);
        assert!(db.get("B").is_none());
        // An honest description lists the link back: in use.
        db.receive("B", 1, 2, ["A"], [], []).unwrap();
        db.shortest_paths(&d, 200);
        assert_eq!(db.oldest_unreachable(), None);
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
