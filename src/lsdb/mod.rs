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

use std::collections::HashMap;

use crate::LinkId;
use crate::routing::{Route, TableFull};

/// One agent's description of itself, as held.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Description {
    inc: u64,
    seq: u64,
    /// Its direct v2 peers, as ids, sorted.
    neighbors: Vec<u32>,
    /// Its direct peers that speak only v1, as ids, sorted.
    v1_peers: Vec<u32>,
    /// Names it reaches only through v1 peers, as ids, sorted.
    externals: Vec<u32>,
}

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

#[derive(Debug)]
struct Entry {
    name: Box<str>,
    description: Option<Description>,
    /// The agents whose descriptions list this name.
    listed_by: Vec<u32>,
}

/// What the shortest-path search reads of one id, kept apart from the names and the
/// descriptions so that a search over thousands of agents stays within a few cache-friendly
/// arrays.
#[derive(Debug, Clone, Copy, Default)]
struct Adj {
    /// Where the id's lists start in `pool`: `neighbors` entries (each with [`MUTUAL`] set
    /// when the edge counts), then `v1` entries, then `externals` entries.
    start: u32,
    neighbors: u32,
    v1: u32,
    externals: u32,
    described: bool,
}

/// Set on a neighbor in `pool` when the edge counts.
const MUTUAL: u32 = 1 << 31;

/// Words before a description's lists in `pool`: how many neighbors, v1 peers and
/// externals follow. The search reads them there rather than in `adj`, so that visiting an
/// agent touches one place in memory, not two: with a thousand agents in one process (the
/// simulator), each search finds little of its database in the cache.
const HEADER: usize = 3;

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
    neighbors: &'a [u32],
    v1_peers: &'a [u32],
    externals: &'a [u32],
}

impl<'a> View<'a> {
    /// Its direct v2 peers.
    pub fn neighbors(&self) -> impl Iterator<Item = &'a str> + 'a {
        let db = self.db;
        self.neighbors.iter().map(move |&i| db.name(i))
    }

    /// Its direct peers that speak only v1.
    pub fn v1_peers(&self) -> impl Iterator<Item = &'a str> + 'a {
        let db = self.db;
        self.v1_peers.iter().map(move |&i| db.name(i))
    }

    /// Names it reaches only through v1 peers.
    pub fn externals(&self) -> impl Iterator<Item = &'a str> + 'a {
        let db = self.db;
        self.externals.iter().map(move |&i| db.name(i))
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
}

/// The database. Holds this agent's own description too.
#[derive(Debug)]
pub struct Lsdb {
    me: u32,
    ids: HashMap<Box<str>, u32>,
    entries: Vec<Entry>,
    free: Vec<u32>,
    /// Most names held (descriptions and the names they list).
    max: usize,
    described: usize,
    /// The direct peers of the last search, sorted by name: (id, link, v2).
    direct: Vec<(u32, LinkId, bool)>,
    /// Words per upstream bitset (one bit per direct peer of the last search).
    words: usize,
    /// Per id: the first-hop links of every shortest path, as a bitset over `direct`.
    upstream: Vec<u64>,
    /// Per id: its lists as the search reads them.
    adj: Vec<Adj>,
    /// The lists `adj` points into, each after its [`HEADER`]; `pool[..HEADER]` is the
    /// header of no lists. `garbage` entries of it are no longer pointed to.
    pool: Vec<u32>,
    /// Per id: where its header is in `pool` (0 when it is not described).
    heads: Vec<u32>,
    garbage: usize,
    /// Something the search reads changed since the last search.
    graph_changed: bool,
    /// Reused by `store_adj`.
    scratch: Vec<u32>,
    /// Per id: the route as of the last search.
    routes: Vec<Option<Route>>,
    /// Per id: when its description was found unreachable, if it is.
    unreachable_since: Vec<Option<u64>>,
    // Reused by every search.
    found: Vec<Found>,
    levels: Vec<Vec<u32>>,
    /// The headers of one level's agents: (agent, where its lists start, counts).
    visits: Vec<(u32, usize, [usize; 3])>,
    /// Reused by `set_lists`: the neighbors a new version added or dropped.
    turned: Vec<u32>,
    /// What [`newest`](Self::newest) returns.
    newest: u32,
    changed: Vec<u32>,
}

impl Lsdb {
    /// A database for agent `me` in incarnation `inc`, holding at most `max` names.
    pub fn new(me: &str, inc: u64, max: usize) -> Lsdb {
        let mut db = Lsdb {
            me: 0,
            ids: HashMap::new(),
            entries: Vec::new(),
            free: Vec::new(),
            max: max.max(2),
            described: 1,
            direct: Vec::new(),
            words: 0,
            upstream: Vec::new(),
            adj: Vec::new(),
            pool: vec![0; HEADER],
            heads: Vec::new(),
            garbage: 0,
            graph_changed: false,
            scratch: Vec::new(),
            routes: Vec::new(),
            unreachable_since: Vec::new(),
            found: Vec::new(),
            levels: Vec::new(),
            visits: Vec::new(),
            turned: Vec::new(),
            newest: 0,
            changed: Vec::new(),
        };
        db.me = db.intern_own(me);
        db.entries[db.me as usize].description = Some(Description {
            inc,
            seq: 1,
            neighbors: Vec::new(),
            v1_peers: Vec::new(),
            externals: Vec::new(),
        });
        db.store_adj(db.me);
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
        let entry = Entry {
            name: name.into(),
            description: None,
            listed_by: Vec::new(),
        };
        let id = match self.free.pop() {
            Some(id) => {
                self.entries[id as usize] = entry;
                self.adj[id as usize] = Adj::default();
                self.heads[id as usize] = 0;
                self.routes[id as usize] = None;
                self.unreachable_since[id as usize] = None;
                id
            }
            None => {
                self.entries.push(entry);
                self.adj.push(Adj::default());
                self.heads.push(0);
                self.routes.push(None);
                self.unreachable_since.push(None);
                (self.entries.len() - 1) as u32
            }
        };
        self.ids.insert(name.into(), id);
        id
    }

    fn name(&self, id: u32) -> &str {
        &self.entries[id as usize].name
    }

    fn view(&self, id: u32) -> Option<View<'_>> {
        let e = &self.entries[id as usize];
        let d = e.description.as_ref()?;
        Some(View {
            db: self,
            origin: &e.name,
            inc: d.inc,
            seq: d.seq,
            neighbors: &d.neighbors,
            v1_peers: &d.v1_peers,
            externals: &d.externals,
        })
    }

    /// This agent's own description.
    pub fn own(&self) -> View<'_> {
        self.view(self.me)
            .expect("the own description is never removed")
    }

    /// Descriptions held, this agent's own included.
    pub fn len(&self) -> usize {
        self.described
    }

    /// Whether only this agent's own description is held.
    pub fn is_empty(&self) -> bool {
        self.described <= 1
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
        (0..self.entries.len() as u32).filter_map(|id| self.view(id))
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
        (0..self.entries.len() as u32)
            .filter(|&id| !listed.has(id))
            .filter_map(|id| self.view(id))
    }

    /// Interns `names` (within the limit) as a sorted, deduplicated id list.
    fn ids_of<'n>(
        &mut self,
        names: impl IntoIterator<Item = &'n str>,
    ) -> Result<Vec<u32>, TableFull> {
        let mut ids = Vec::new();
        for n in names {
            ids.push(self.intern(n)?);
        }
        ids.sort_unstable();
        ids.dedup();
        Ok(ids)
    }

    /// As [`ids_of`](Self::ids_of), for names of this agent's own making (never refused).
    fn own_ids_of<'n>(&mut self, names: impl IntoIterator<Item = &'n str>) -> Vec<u32> {
        let mut ids: Vec<u32> = names.into_iter().map(|n| self.intern_own(n)).collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    /// Replaces a description's lists, keeping `listed_by` and the edges' [`MUTUAL`] bits right.
    fn set_lists(&mut self, id: u32, lists: [Vec<u32>; 3]) {
        // Taken out while the lists are indexed: a description may list its own origin.
        let mut d = self.entries[id as usize]
            .description
            .take()
            .expect("described");
        let [n, p, x] = lists;
        let old_n = std::mem::replace(&mut d.neighbors, n);
        let old_p = std::mem::replace(&mut d.v1_peers, p);
        let old_x = std::mem::replace(&mut d.externals, x);
        // Only the names that came or went are touched: a new version usually changes one
        // link of several, and every name touched is a cache miss in a large mesh.
        let entries = &mut self.entries;
        let mut listed = |i: u32, added: bool| {
            let by = &mut entries[i as usize].listed_by;
            if added {
                by.push(id);
            } else if let Some(k) = by.iter().position(|&b| b == id) {
                by.swap_remove(k);
            }
        };
        let mut turned = std::mem::take(&mut self.turned);
        turned.clear();
        diff(
            old_n.iter().copied(),
            d.neighbors.iter().copied(),
            |y, added| {
                listed(y, added);
                turned.push(y);
            },
        );
        diff(
            old_p.iter().copied(),
            d.v1_peers.iter().copied(),
            &mut listed,
        );
        diff(
            old_x.iter().copied(),
            d.externals.iter().copied(),
            &mut listed,
        );
        self.entries[id as usize].description = Some(d);
        // Whether `id` lists `y` changed only for those: the other edges' bits stand.
        self.store_adj(id);
        for &y in &turned {
            self.refresh_edge(y, id);
        }
        self.turned = turned;
    }

    /// Sets the [`MUTUAL`] bit of `id` in `y`'s neighbors, if `y` lists it: whether `id` lists
    /// `y` back.
    fn refresh_edge(&mut self, y: u32, id: u32) {
        let counts = self.lists(id, y);
        if let Some(d) = self.entries[y as usize].description.as_ref() {
            if let Ok(j) = d.neighbors.binary_search(&id) {
                let at = self.adj[y as usize].start as usize + j;
                let w = if counts { id | MUTUAL } else { id };
                if self.pool[at] != w && !self.graph_changed {
                    self.graph_changed = self.edge_matters(y, id);
                }
                self.pool[at] = w;
            }
        }
    }

    /// Recomputes the [`MUTUAL`] bits that depend on `id`'s description: its own edges', and
    /// those of every description listing it. Called whenever that description changes or goes.
    fn refresh_mutual(&mut self, id: u32) {
        self.store_adj(id);
        for k in 0..self.entries[id as usize].listed_by.len() {
            let y = self.entries[id as usize].listed_by[k];
            self.refresh_edge(y, id);
        }
    }

    /// Writes `id`'s lists into `pool` for the search: in place when they fit, else at the
    /// end; the pool is rebuilt when more than half of it is stale. Notes whether what the
    /// search reads changed: the edges that count, the v1 peers, the names behind them.
    fn store_adj(&mut self, id: u32) {
        let old = self.adj[id as usize];
        let old_len = (old.neighbors + old.v1 + old.externals) as usize;
        let old_segment = if old.described { HEADER + old_len } else { 0 };
        let Some(d) = self.entries[id as usize].description.as_ref() else {
            self.graph_changed |= old.described;
            self.adj[id as usize] = Adj::default();
            self.heads[id as usize] = 0;
            self.garbage += old_segment;
            return;
        };
        // An edge counts when the neighbor lists this agent back. The bits of neighbors listed
        // before still hold (`refresh_edge` keeps them as the neighbors' own descriptions
        // change): only a new neighbor's description is looked at.
        let mut new = std::mem::take(&mut self.scratch);
        new.clear();
        let was = if old.described {
            &self.pool[old.start as usize..old.start as usize + old.neighbors as usize]
        } else {
            &[]
        };
        let mut k = 0;
        for &v in &d.neighbors {
            while was.get(k).is_some_and(|&w| w & !MUTUAL < v) {
                k += 1;
            }
            new.push(match was.get(k) {
                Some(&w) if w & !MUTUAL == v => w,
                _ if self.lists(v, id) => v | MUTUAL,
                _ => v,
            });
        }
        new.extend_from_slice(&d.v1_peers);
        new.extend_from_slice(&d.externals);
        let (neighbors, v1) = (d.neighbors.len(), d.v1_peers.len());
        let was = &self.pool[old.start as usize..old.start as usize + old_len];
        let lists_same = old.described
            && old.v1 as usize == v1
            && was[old.neighbors as usize..] == new[neighbors..];
        if !lists_same {
            self.graph_changed = true;
        } else if !self.graph_changed {
            // Only edges came or went: does one of them matter to the search?
            let counted = |w: &u32| (w & MUTUAL != 0).then_some(w & !MUTUAL);
            let before = was[..old.neighbors as usize].iter().filter_map(counted);
            let after = new[..neighbors].iter().filter_map(counted);
            let mut matters = false;
            diff(before, after, |v, _| matters |= self.edge_matters(id, v));
            self.graph_changed = matters;
        }
        let len = new.len();
        let start = if old.described && len <= old_len {
            self.garbage += old_len - len;
            old.start as usize
        } else {
            self.garbage += old_segment;
            self.pool.resize(self.pool.len() + HEADER + len, 0);
            self.pool.len() - len
        };
        self.pool[start..start + len].copy_from_slice(&new);
        let a = Adj {
            start: start as u32,
            neighbors: neighbors as u32,
            v1: v1 as u32,
            externals: (len - neighbors - v1) as u32,
            described: true,
        };
        self.pool[start - HEADER..start].copy_from_slice(&[a.neighbors, a.v1, a.externals]);
        self.heads[id as usize] = (start - HEADER) as u32;
        self.adj[id as usize] = a;
        self.scratch = new;
        if self.garbage > 64 && self.garbage > self.pool.len() / 2 {
            self.compact_pool();
        }
    }

    /// Rebuilds `pool` without its stale entries.
    fn compact_pool(&mut self) {
        let mut pool = Vec::with_capacity(self.pool.len().saturating_sub(self.garbage));
        pool.resize(HEADER, 0);
        for (a, head) in self.adj.iter_mut().zip(&mut self.heads) {
            if !a.described {
                continue;
            }
            let (start, len) = (
                a.start as usize,
                (a.neighbors + a.v1 + a.externals) as usize,
            );
            *head = pool.len() as u32;
            pool.extend_from_slice(&self.pool[start - HEADER..start + len]);
            a.start = *head + HEADER as u32;
        }
        self.pool = pool;
        self.garbage = 0;
    }

    /// Sets this agent's own v2 peers, v1 peers and v1-only names; returns whether the
    /// description changed (and so was renumbered and must be flooded).
    pub fn originate<'n>(
        &mut self,
        neighbors: impl IntoIterator<Item = &'n str>,
        v1_peers: impl IntoIterator<Item = &'n str>,
        externals: impl IntoIterator<Item = &'n str>,
    ) -> bool {
        let n = self.own_ids_of(neighbors);
        let p = self.own_ids_of(v1_peers);
        let x = self.own_ids_of(externals);
        let me = self.me;
        let own = self.entries[me as usize].description.as_ref().expect("own");
        if own.neighbors == n && own.v1_peers == p && own.externals == x {
            return false;
        }
        self.set_lists(me, [n, p, x]);
        if let Some(d) = self.entries[me as usize].description.as_mut() {
            d.seq += 1;
        }
        true
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
            let me = self.me as usize;
            let own = self.entries[me].description.as_mut().expect("own");
            return Ok(match got.cmp(&(own.inc, own.seq)) {
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
        let held = known
            .and_then(|id| self.entries[id as usize].description.as_ref())
            .map(|d| (d.inc, d.seq));
        match held.map(|h| got.cmp(&h)) {
            Some(std::cmp::Ordering::Equal) => return Ok(Received::Same),
            Some(std::cmp::Ordering::Less) => return Ok(Received::Older),
            _ => {}
        }
        let id = match known {
            Some(id) => id,
            None => self.intern(origin)?,
        };
        let n = self.ids_of(neighbors)?;
        let p = self.ids_of(v1_peers)?;
        let x = self.ids_of(externals)?;
        let e = &mut self.entries[id as usize];
        if e.description.is_none() {
            self.described += 1;
            e.description = Some(Description {
                inc,
                seq,
                neighbors: Vec::new(),
                v1_peers: Vec::new(),
                externals: Vec::new(),
            });
        } else if let Some(d) = e.description.as_mut() {
            d.inc = inc;
            d.seq = seq;
        }
        self.set_lists(id, [n, p, x]);
        self.newest = id;
        Ok(Received::Newer)
    }

    /// The description the last [`receive`](Self::receive) that returned
    /// [`Received::Newer`] stored (this agent's own before any).
    pub fn newest(&self) -> Option<View<'_>> {
        self.view(self.newest)
    }

    /// Whether `a` lists `b` as a direct peer.
    fn lists(&self, a: u32, b: u32) -> bool {
        self.entries[a as usize]
            .description
            .as_ref()
            .is_some_and(|d| d.neighbors.binary_search(&b).is_ok())
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
        self.graph_changed = false;
        self.direct.clear();
        for d in direct {
            let id = self.intern_own(d.name);
            self.direct.push((id, d.link, d.v2));
        }
        // Ties go to the first hop with the smaller name; sorting once lets the search compare
        // indices instead of names.
        let entries = &self.entries;
        self.direct
            .sort_unstable_by(|a, b| entries[a.0 as usize].name.cmp(&entries[b.0 as usize].name));
        let n = self.entries.len();
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
        for (k, &(id, _, _)) in self.direct.iter().enumerate() {
            self.found[id as usize] = Found {
                hops: 1,
                via: k as u32,
            };
            self.upstream[id as usize * words + k / 64] |= 1 << (k % 64);
            self.levels[1].push(id);
        }
        let mut level = 1;
        while level < self.levels.len() {
            let nodes = std::mem::take(&mut self.levels[level]);
            // Every agent's header is read before any is visited: the reads do not depend on
            // each other, so the processor waits for their cache misses together rather than
            // one after another (with a thousand agents in one process, most are misses).
            let mut visits = std::mem::take(&mut self.visits);
            visits.clear();
            for &u in &nodes {
                let head = self.heads[u as usize] as usize;
                let counts = match self.pool.get(head..head + HEADER) {
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
                    let w = self.pool[start + j];
                    let (v, cost) = if j < neighbors {
                        if w & MUTUAL == 0 {
                            continue;
                        }
                        (w & !MUTUAL, 1)
                    } else {
                        // A name that describes itself is reached through its own edges instead.
                        if self.heads[w as usize] != 0 {
                            continue;
                        }
                        (w, if j < v1_end { 1 } else { 2 })
                    };
                    if v == self.me {
                        continue;
                    }
                    let hops = level as u32 + cost;
                    let merge = match self.found[v as usize].get() {
                        Some(f) if f.hops < hops => continue,
                        Some(f) if f.hops == hops => {
                            if here.via < f.via {
                                self.found[v as usize] = Found {
                                    hops,
                                    via: here.via,
                                };
                            }
                            true
                        }
                        _ => {
                            self.found[v as usize] = Found {
                                hops,
                                via: here.via,
                            };
                            if self.levels.len() <= hops as usize {
                                self.levels.resize_with(hops as usize + 1, Vec::new);
                            }
                            self.levels[hops as usize].push(v);
                            false
                        }
                    };
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
            }
            self.visits = visits;
            self.levels[level] = nodes;
            level += 1;
        }
        // Compare with the previous routes; record reachability for purging.
        self.changed.clear();
        for id in 0..n as u32 {
            let described = self.heads[id as usize] != 0;
            let route = self.found[id as usize].get().map(|f| {
                let (via, link, v2) = self.direct[f.via as usize];
                Route {
                    link,
                    hops: Some(f.hops),
                    confirmed: v2 && (described || id == via),
                }
            });
            if self.routes[id as usize] != route {
                self.routes[id as usize] = route;
                self.changed.push(id);
            }
            if described && id != self.me {
                let since = &mut self.unreachable_since[id as usize];
                *since = if route.is_some() {
                    None
                } else {
                    since.or(Some(now))
                };
            }
        }
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

    /// Whether what the search reads changed since the last search: a new description that
    /// changes none of the edges that count (its peer does not list it back yet, or no longer
    /// did) needs no new search.
    pub fn graph_changed(&self) -> bool {
        self.graph_changed
    }

    /// The names whose route the last search changed, with their new route.
    pub fn changed(&self) -> impl Iterator<Item = (&str, Option<Route>)> {
        self.changed
            .iter()
            .map(|&id| (self.name(id), self.routes[id as usize]))
    }

    /// The route the last search found to `name`.
    pub fn route(&self, name: &str) -> Option<Route> {
        self.routes[*self.ids.get(name)? as usize]
    }

    /// Whether `link` is the first hop of a shortest path to `name`, as of the last search:
    /// the way traffic from `name` arrives when it is genuine and routes agree.
    pub fn upstream_of(&self, name: &str, link: LinkId) -> bool {
        let (Some(&id), Some(k)) = (
            self.ids.get(name),
            self.direct.iter().position(|d| d.1 == link),
        ) else {
            return false;
        };
        self.routes[id as usize].is_some()
            && self
                .upstream
                .get(id as usize * self.words + k / 64)
                .is_some_and(|w| w & (1 << (k % 64)) != 0)
    }

    /// Forgets descriptions unreachable since before `before`, and names nothing refers to
    /// any more; returns how many descriptions went.
    pub fn purge(&mut self, before: u64) -> usize {
        let mut gone = 0;
        for id in 0..self.entries.len() as u32 {
            let e = &self.entries[id as usize];
            if e.description.is_some()
                && self.unreachable_since[id as usize].is_some_and(|since| since < before)
            {
                self.set_lists(id, Default::default());
                self.entries[id as usize].description = None;
                self.refresh_mutual(id);
                self.unreachable_since[id as usize] = None;
                self.described -= 1;
                gone += 1;
            }
        }
        let in_direct: Vec<u32> = self.direct.iter().map(|d| d.0).collect();
        for id in 0..self.entries.len() as u32 {
            let e = &self.entries[id as usize];
            let unused = id != self.me
                && e.description.is_none()
                && e.listed_by.is_empty()
                && self.routes[id as usize].is_none()
                && !in_direct.contains(&id)
                && self.ids.contains_key(&e.name);
            if unused {
                let name = std::mem::take(&mut self.entries[id as usize].name);
                self.ids.remove(&name);
                self.free.push(id);
            }
        }
        gone
    }

    /// The earliest time a description was found unreachable, if one is.
    pub fn oldest_unreachable(&self) -> Option<u64> {
        self.adj
            .iter()
            .zip(&self.unreachable_since)
            .filter(|(a, _)| a.described)
            .filter_map(|(_, &since)| since)
            .min()
    }
}

/// Calls `f(i, true)` for every id of `new` not in `old` and `f(i, false)` for every id of `old`
/// not in `new`; both ascending and free of repeats.
fn diff(
    old: impl IntoIterator<Item = u32>,
    new: impl IntoIterator<Item = u32>,
    mut f: impl FnMut(u32, bool),
) {
    let (mut old, mut new) = (old.into_iter().peekable(), new.into_iter().peekable());
    loop {
        match (old.peek().copied(), new.peek().copied()) {
            (Some(o), Some(n)) if o == n => {
                old.next();
                new.next();
            }
            (Some(o), Some(n)) if o < n => {
                f(o, false);
                old.next();
            }
            (Some(o), None) => {
                f(o, false);
                old.next();
            }
            (_, Some(n)) => {
                f(n, true);
                new.next();
            }
            (None, None) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A database for `me` holding the given descriptions (each agent lists its peers).
    fn graph(me: &str, edges: &[(&str, &[&str])]) -> Lsdb {
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

    fn direct(list: &[(&'static str, usize)]) -> Vec<Direct<'static>> {
        list.iter()
            .map(|&(name, l)| Direct {
                name,
                link: LinkId(l),
                v2: true,
            })
            .collect()
    }

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
