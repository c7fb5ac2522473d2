//! Every description held, each fact once: its version, its three lists, and who lists whom.
//!
//! This module owns, per id, whether it is described, its version, and its lists. The lists
//! and their counts live in one place only, the pool, laid out the way the shortest-path search
//! reads them: a [`HEADER`] of three counts, then the neighbors (each with [`MUTUAL`] set when
//! the edge counts), then the v1 peers, then the names behind them. Views, diffs and the search
//! all read that one copy; whether an id is described is whether it has a place in the pool.
//! Two indexes are derived from the lists and kept here alone, as descriptions come, change
//! and go: which descriptions list a name, and the [`MUTUAL`] bits. The search is told,
//! through [`Changes`], when something it reads changed.
//!
//! It must not touch names (it knows ids only), decide which of two versions is newer, or run
//! the search or read its results: whether a change matters to the search is the search's
//! call, made in its [`Changes`] implementation.

/// Set on a neighbor in the pool when the edge counts: the neighbor lists the agent back.
pub(super) const MUTUAL: u32 = 1 << 31;

/// Words before a description's lists in the pool: how many neighbors, v1 peers and externals
/// follow. The counts sit beside the lists (and nowhere else) so that visiting an agent
/// touches one place in memory, not two: with a thousand agents in one process (the
/// simulator), each search finds little of its database in the cache.
pub(super) const HEADER: usize = 3;

/// A description's version: its incarnation, then its sequence number within it.
pub(super) type Version = (u64, u64);

/// An origin's signature of one version of its description, with the key that made it
/// (secure mode). Plain bytes: what they prove is the core's to check, before it stores them.
#[cfg(feature = "secure")]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Signature {
    /// The ed25519 public key that signed.
    pub(crate) key: [u8; 32],
    /// The ed25519 signature.
    pub(crate) sig: [u8; 64],
}

/// What the search is told as descriptions change.
pub(super) trait Changes {
    /// Something beyond an edge that counts changed: a description came or went, or its v1
    /// peers or the names behind them did.
    fn lists_changed(&mut self);
    /// The edge between `a` and `b` started or stopped counting.
    fn edge_turned(&mut self, a: u32, b: u32);
}

/// One description's lists, as held: the neighbors carry their [`MUTUAL`] bits.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Lists<'a> {
    /// Its direct v2 peers, as ids (with [`MUTUAL`]), ascending.
    pub(super) neighbors: &'a [u32],
    /// Its direct v1 peers, as ids, ascending.
    pub(super) v1_peers: &'a [u32],
    /// The names it reaches only through v1 peers, as ids, ascending.
    pub(super) externals: &'a [u32],
}

impl<'a> Lists<'a> {
    /// Its direct v2 peers, as plain ids.
    pub(super) fn neighbor_ids(self) -> impl Iterator<Item = u32> + 'a {
        self.neighbors.iter().map(|&w| w & !MUTUAL)
    }
}

/// The descriptions, by id.
#[derive(Debug)]
pub(super) struct Descriptions {
    /// Per id: where its header is in `pool`; 0, the header of no lists, when it is not
    /// described. This is the one record of whether an id is described.
    heads: Vec<u32>,
    /// Per id: its version, when it is described (stale otherwise).
    versions: Vec<Version>,
    /// Per id: its origin's signature of the version and lists held, when it has one (secure
    /// mode; boxed, as most ids are names listed rather than described).
    #[cfg(feature = "secure")]
    signatures: Vec<Option<Box<Signature>>>,
    /// Per id: the descriptions that list it (once per list that does).
    listed_by: Vec<Vec<u32>>,
    /// Every description's header and lists; `garbage` words of it are no longer pointed to.
    pool: Vec<u32>,
    garbage: usize,
    /// How many ids are described.
    count: usize,
    /// Reused by `store`.
    scratch: Vec<u32>,
    /// Reused by `set_lists`: the neighbors a new version added or dropped.
    turned: Vec<u32>,
}

impl Descriptions {
    /// No ids, no descriptions.
    pub(super) fn new() -> Descriptions {
        Descriptions {
            heads: Vec::new(),
            versions: Vec::new(),
            #[cfg(feature = "secure")]
            signatures: Vec::new(),
            listed_by: Vec::new(),
            pool: vec![0; HEADER],
            garbage: 0,
            count: 0,
            scratch: Vec::new(),
            turned: Vec::new(),
        }
    }

    /// Makes room for a new id, `ids()` or a freed one, undescribed and listed by none.
    pub(super) fn open(&mut self, id: u32) {
        let i = id as usize;
        if i == self.heads.len() {
            self.heads.push(0);
            self.versions.push((0, 0));
            #[cfg(feature = "secure")]
            self.signatures.push(None);
            self.listed_by.push(Vec::new());
        } else {
            self.heads[i] = 0;
            #[cfg(feature = "secure")]
            {
                self.signatures[i] = None;
            }
            self.listed_by[i].clear();
        }
    }

    /// How many ids there are room for (described or not).
    pub(super) fn ids(&self) -> usize {
        self.heads.len()
    }

    /// How many ids are described.
    pub(super) fn count(&self) -> usize {
        self.count
    }

    /// Whether `id` is described.
    pub(super) fn is_described(&self, id: u32) -> bool {
        self.heads[id as usize] != 0
    }

    /// Whether some description lists `id`.
    pub(super) fn is_listed(&self, id: u32) -> bool {
        !self.listed_by[id as usize].is_empty()
    }

    /// `id`'s version, if it is described.
    pub(super) fn version(&self, id: u32) -> Option<Version> {
        self.is_described(id).then(|| self.versions[id as usize])
    }

    /// Sets the version of a described `id`. A signature held was of another version: it is
    /// dropped.
    pub(super) fn set_version(&mut self, id: u32, version: Version) {
        debug_assert!(self.is_described(id));
        self.versions[id as usize] = version;
        #[cfg(feature = "secure")]
        {
            self.signatures[id as usize] = None;
        }
    }

    /// `id`'s signature, if it is described and signed.
    #[cfg(feature = "secure")]
    pub(super) fn signature(&self, id: u32) -> Option<&Signature> {
        self.signatures.get(id as usize)?.as_deref()
    }

    /// Sets the signature of a described `id`'s version and lists.
    #[cfg(feature = "secure")]
    pub(super) fn set_signature(&mut self, id: u32, signature: Signature) {
        debug_assert!(self.is_described(id));
        self.signatures[id as usize] = Some(Box::new(signature));
    }

    /// `id`'s lists, if it is described.
    pub(super) fn lists(&self, id: u32) -> Option<Lists<'_>> {
        lists_in(&self.heads, &self.pool, id)
    }

    /// Per id, where its header is in [`pool`](Self::pool) (0 when not described): what the
    /// search reads, with the pool.
    pub(super) fn heads(&self) -> &[u32] {
        &self.heads
    }

    /// The headers and lists [`heads`](Self::heads) point into.
    pub(super) fn pool(&self) -> &[u32] {
        &self.pool
    }

    /// Whether `a` lists `b` as a direct peer.
    pub(super) fn lists_peer(&self, a: u32, b: u32) -> bool {
        self.lists(a).is_some_and(|l| {
            l.neighbors
                .binary_search_by_key(&b, |w| w & !MUTUAL)
                .is_ok()
        })
    }

    /// Replaces `id`'s lists (each ascending, without repeats), describing it if it was not:
    /// keeps who lists whom and the [`MUTUAL`] bits right.
    pub(super) fn set_lists(&mut self, id: u32, new: [&[u32]; 3], changes: &mut impl Changes) {
        // A signature was of the lists before.
        #[cfg(feature = "secure")]
        {
            self.signatures[id as usize] = None;
        }
        let mut turned = std::mem::take(&mut self.turned);
        turned.clear();
        let Descriptions {
            heads,
            pool,
            listed_by,
            ..
        } = self;
        let old = lists_in(heads, pool, id).unwrap_or_default();
        // Only the names that came or went are touched: a new version usually changes one
        // link of several, and every name touched is a cache miss in a large mesh.
        let mut listed = |i: u32, added: bool| {
            let by = &mut listed_by[i as usize];
            if added {
                by.push(id);
            } else if let Some(k) = by.iter().position(|&b| b == id) {
                by.swap_remove(k);
            }
        };
        diff(old.neighbor_ids(), new[0].iter().copied(), |y, added| {
            listed(y, added);
            turned.push(y);
        });
        diff(
            old.v1_peers.iter().copied(),
            new[1].iter().copied(),
            &mut listed,
        );
        diff(
            old.externals.iter().copied(),
            new[2].iter().copied(),
            &mut listed,
        );
        // Whether `id` lists `y` changed only for those: the other edges' bits stand.
        self.store(id, new, changes);
        for &y in &turned {
            self.refresh_edge(y, id, changes);
        }
        self.turned = turned;
    }

    /// Forgets the description of a described `id`; the id stays (names may still list it).
    pub(super) fn remove(&mut self, id: u32, changes: &mut impl Changes) {
        self.set_lists(id, [&[], &[], &[]], changes);
        let head = self.heads[id as usize] as usize;
        self.garbage += HEADER + segment_len(&self.pool, head);
        self.heads[id as usize] = 0;
        self.count -= 1;
        changes.lists_changed();
        // The edges of those that list it stop counting.
        for k in 0..self.listed_by[id as usize].len() {
            let y = self.listed_by[id as usize][k];
            self.refresh_edge(y, id, changes);
        }
    }

    /// Sets the [`MUTUAL`] bit of `id` in `y`'s neighbors, if `y` lists it: whether `id` lists
    /// `y` back.
    fn refresh_edge(&mut self, y: u32, id: u32, changes: &mut impl Changes) {
        let counts = self.lists_peer(id, y);
        let head = self.heads[y as usize] as usize;
        if head == 0 {
            return;
        }
        let start = head + HEADER;
        let neighbors = &self.pool[start..start + self.pool[head] as usize];
        if let Ok(j) = neighbors.binary_search_by_key(&id, |w| w & !MUTUAL) {
            let w = if counts { id | MUTUAL } else { id };
            if self.pool[start + j] != w {
                changes.edge_turned(y, id);
            }
            self.pool[start + j] = w;
        }
    }

    /// Writes `id`'s lists into the pool: in place when they fit, else at the end; the pool is
    /// rebuilt when more than half of it is stale. Tells `changes` whether what the search
    /// reads changed: the edges that count, the v1 peers, the names behind them.
    fn store(&mut self, id: u32, new: [&[u32]; 3], changes: &mut impl Changes) {
        let head = self.heads[id as usize] as usize;
        let described = head != 0;
        let old_start = head + HEADER;
        let [old_n, old_p, _] = counts(&self.pool, head);
        let old_len = segment_len(&self.pool, head);
        // An edge counts when the neighbor lists this agent back. The bits of neighbors listed
        // before still hold (`refresh_edge` keeps them as the neighbors' own descriptions
        // change): only a new neighbor's description is looked at. This agent listing itself
        // lists itself back: its new lists are not stored yet, so that one is not looked up.
        let mut words = std::mem::take(&mut self.scratch);
        words.clear();
        let was = &self.pool[old_start..old_start + old_n];
        let mut k = 0;
        for &v in new[0] {
            while was.get(k).is_some_and(|&w| w & !MUTUAL < v) {
                k += 1;
            }
            words.push(match was.get(k) {
                Some(&w) if w & !MUTUAL == v => w,
                _ if v == id || self.lists_peer(v, id) => v | MUTUAL,
                _ => v,
            });
        }
        words.extend_from_slice(new[1]);
        words.extend_from_slice(new[2]);
        let [n, p] = [new[0].len(), new[1].len()];
        let was = &self.pool[old_start..old_start + old_len];
        if !(described && old_p == p && was[old_n..] == words[n..]) {
            changes.lists_changed();
        } else {
            // Only edges came or went: does one of them matter to the search?
            let counted = |w: &u32| (w & MUTUAL != 0).then_some(w & !MUTUAL);
            let before = was[..old_n].iter().filter_map(counted);
            let after = words[..n].iter().filter_map(counted);
            diff(before, after, |v, _| changes.edge_turned(id, v));
        }
        let len = words.len();
        let start = if described && len <= old_len {
            self.garbage += old_len - len;
            old_start
        } else {
            if described {
                self.garbage += HEADER + old_len;
            } else {
                self.count += 1;
            }
            self.pool.resize(self.pool.len() + HEADER + len, 0);
            self.pool.len() - len
        };
        self.pool[start..start + len].copy_from_slice(&words);
        self.pool[start - HEADER..start].copy_from_slice(&[
            n as u32,
            p as u32,
            (len - n - p) as u32,
        ]);
        self.heads[id as usize] = (start - HEADER) as u32;
        self.scratch = words;
        if self.garbage > 64 && self.garbage > self.pool.len() / 2 {
            self.compact();
        }
    }

    /// Rebuilds the pool without its stale words.
    fn compact(&mut self) {
        let mut pool = Vec::with_capacity(self.pool.len().saturating_sub(self.garbage));
        pool.resize(HEADER, 0);
        for head in &mut self.heads {
            if *head == 0 {
                continue;
            }
            let at = *head as usize;
            *head = pool.len() as u32;
            pool.extend_from_slice(&self.pool[at..at + HEADER + segment_len(&self.pool, at)]);
        }
        self.pool = pool;
        self.garbage = 0;
    }
}

/// The counts in the header at `head`.
fn counts(pool: &[u32], head: usize) -> [usize; 3] {
    let [n, p, x] = [pool[head], pool[head + 1], pool[head + 2]];
    [n as usize, p as usize, x as usize]
}

/// How many words of lists follow the header at `head`.
fn segment_len(pool: &[u32], head: usize) -> usize {
    counts(pool, head).iter().sum()
}

/// The lists of `id`, if it is described.
fn lists_in<'a>(heads: &[u32], pool: &'a [u32], id: u32) -> Option<Lists<'a>> {
    let head = heads[id as usize] as usize;
    if head == 0 {
        return None;
    }
    let [n, p, x] = counts(pool, head);
    let (neighbors, rest) = pool[head + HEADER..].split_at(n);
    let (v1_peers, rest) = rest.split_at(p);
    Some(Lists {
        neighbors,
        v1_peers,
        externals: &rest[..x],
    })
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

    /// What the search would be told: `None` for lists, `Some((a, b))` for an edge.
    #[derive(Default)]
    struct Log(Vec<Option<(u32, u32)>>);

    impl Changes for Log {
        fn lists_changed(&mut self) {
            self.0.push(None);
        }

        fn edge_turned(&mut self, a: u32, b: u32) {
            self.0.push(Some((a, b)));
        }
    }

    fn held(d: &Descriptions, id: u32) -> Option<[Vec<u32>; 3]> {
        d.lists(id).map(|l| {
            [
                l.neighbor_ids().collect(),
                l.v1_peers.to_vec(),
                l.externals.to_vec(),
            ]
        })
    }

    fn with_ids(n: u32) -> Descriptions {
        let mut d = Descriptions::new();
        for id in 0..n {
            d.open(id);
        }
        d
    }

    #[test]
    fn lists_read_back_the_same_through_moves_and_compaction() {
        let mut d = with_ids(20);
        let mut log = Log::default();
        let mut want: Vec<Option<[Vec<u32>; 3]>> = vec![None; 20];
        // Lists that grow and shrink, so that some move to the end and the pool is rebuilt.
        for round in 0..40u32 {
            let id = round % 7;
            let len = (round * 5 % 11) as usize;
            let n: Vec<u32> = (8..20).filter(|v| (v + round) % 3 == 0).take(len).collect();
            let p: Vec<u32> = (8..20).filter(|v| v % 4 == round % 4).collect();
            let x = vec![19 - id];
            d.set_lists(id, [&n, &p, &x], &mut log);
            d.set_version(id, (1, u64::from(round)));
            want[id as usize] = Some([n, p, x]);
            for (i, w) in want.iter().enumerate() {
                assert_eq!(&held(&d, i as u32), w, "id {i} after round {round}");
            }
        }
        assert_eq!(d.count(), 7);
        let live: usize = (0..7)
            .map(|i| HEADER + segment_len(&d.pool, d.heads[i] as usize))
            .sum();
        assert!(d.pool.len() <= 2 * live + 64, "stale words are reclaimed");
        d.remove(3, &mut log);
        want[3] = None;
        assert_eq!(d.count(), 6);
        assert!((0..20).all(|i| held(&d, i) == want[i as usize]));
        assert_eq!(d.version(3), None);
        assert_eq!(d.version(4), Some((1, 39)));
    }

    #[test]
    fn an_edge_counts_while_both_ends_list_each_other() {
        let mut d = with_ids(3);
        let mut log = Log::default();
        let mutual = |d: &Descriptions, a: u32| d.lists(a).unwrap().neighbors.to_vec();
        d.set_lists(0, [&[1], &[], &[]], &mut log);
        assert_eq!(mutual(&d, 0), [1], "1 is not described yet");
        assert_eq!(log.0, [None]);
        d.set_lists(1, [&[0, 2], &[], &[]], &mut log);
        assert_eq!(mutual(&d, 0), [1 | MUTUAL]);
        assert_eq!(mutual(&d, 1), [MUTUAL, 2]);
        assert_eq!(log.0, [None, None, Some((0, 1))]);
        assert!(d.is_listed(0) && d.is_listed(2));
        // A new version of 1 without 0: the edge stops counting at both ends.
        log.0.clear();
        d.set_lists(1, [&[2], &[], &[]], &mut log);
        assert_eq!(mutual(&d, 0), [1]);
        assert_eq!(mutual(&d, 1), [2]);
        assert_eq!(log.0, [Some((1, 0)), Some((0, 1))]);
        // 1 lists 0 again, then goes: 0's edge stops counting, and nothing lists 2 any more.
        d.set_lists(1, [&[0, 2], &[], &[]], &mut log);
        assert_eq!(mutual(&d, 0), [1 | MUTUAL]);
        log.0.clear();
        d.remove(1, &mut log);
        assert_eq!(mutual(&d, 0), [1]);
        assert!(log.0.contains(&None) && log.0.contains(&Some((0, 1))));
        assert!(!d.is_listed(2) && d.is_listed(1));
    }
}
