//! The routing table: which names are reachable, and through which direct link.
//!
//! This module owns the reachability state and the choice of next hop. It is pure: it never
//! sees bytes, sockets or time, and it does not decide what to announce to whom (the core does
//! that from the [`Change`]s that [`Routing::commit`] returns).
//!
//! Inputs mark names dirty; `commit` recomputes the route of each dirty name and reports what
//! changed. Because the outcome is computed from state rather than from the order of inputs, a
//! link that is replaced by another one to the same peer within a single input shows up as a
//! route change, not as a lose-then-meet.
//!
//! A name's route comes from three sources, in this order of preference:
//! 1. a direct link to it;
//! 2. the shortest path over the v2 link-state database (set by [`Routing::set_path`]);
//! 3. v1 announcements: every direct peer that announced the name with `imcon4` and has not
//!    withdrawn it with `im!con4`; the oldest announcement still standing wins, as in the
//!    original. Hop counts are unknown for such names.

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;

use crate::LinkId;

/// The chosen way to a name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    /// The direct link messages for this name leave on.
    pub link: LinkId,
    /// Hops to the name: 1 for a direct peer; `None` when unknown (learned from a v1 peer).
    pub hops: Option<u32>,
    /// Whether deliveries on this route are confirmed end to end: the way is all v2 and so is
    /// the destination.
    pub confirmed: bool,
}

/// A name whose route changed at a commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Change {
    /// The name.
    pub(crate) name: Box<str>,
    /// Its route before.
    pub(crate) old: Option<Route>,
    /// Its route now.
    pub(crate) new: Option<Route>,
}

#[derive(Debug, Default)]
struct NameEntry {
    /// The link to this name when it is a direct peer, and whether it speaks v2.
    direct: Option<(LinkId, bool)>,
    /// The shortest path over the link-state database.
    path: Option<Route>,
    /// Links whose peers announced this name, oldest first.
    vias: Vec<LinkId>,
    /// The route as of the last commit.
    route: Option<Route>,
    dirty: bool,
}

impl NameEntry {
    fn select(&self) -> Option<Route> {
        if let Some((link, v2)) = self.direct {
            return Some(Route {
                link,
                hops: Some(1),
                confirmed: v2,
            });
        }
        if self.path.is_some() {
            return self.path;
        }
        self.vias.first().map(|&link| Route {
            link,
            hops: None,
            confirmed: false,
        })
    }

    fn is_empty(&self) -> bool {
        self.direct.is_none() && self.path.is_none() && self.vias.is_empty() && self.route.is_none()
    }
}

/// Refused: accepting the name would pass the table's limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TableFull {
    /// The limit (`Options::max_known_names`).
    pub(crate) max: usize,
}

/// The routing table.
#[derive(Debug)]
pub(crate) struct Routing {
    names: BTreeMap<Box<str>, NameEntry>,
    dirty: Vec<Box<str>>,
    max_names: usize,
}

impl Routing {
    /// An empty table holding at most `max_names` names.
    pub(crate) fn new(max_names: usize) -> Routing {
        Routing {
            names: BTreeMap::new(),
            dirty: Vec::new(),
            max_names,
        }
    }

    /// Names in the table, reachable or not yet committed.
    pub(crate) fn len(&self) -> usize {
        self.names.len()
    }

    /// Whether the table is empty.
    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    fn entry(&mut self, name: &str) -> Result<&mut NameEntry, TableFull> {
        // Look up by &str first so the common case does not allocate.
        if !self.names.contains_key(name) {
            if self.names.len() >= self.max_names {
                return Err(TableFull {
                    max: self.max_names,
                });
            }
            self.names.insert(name.into(), NameEntry::default());
        }
        let e = self.names.get_mut(name).ok_or(TableFull {
            max: self.max_names,
        })?;
        if !e.dirty {
            e.dirty = true;
            self.dirty.push(name.into());
        }
        Ok(e)
    }

    /// `name` is a direct peer on `link`, which speaks v2 or not.
    pub(crate) fn add_direct(
        &mut self,
        name: &str,
        link: LinkId,
        v2: bool,
    ) -> Result<(), TableFull> {
        self.entry(name)?.direct = Some((link, v2));
        Ok(())
    }

    /// `name` is no longer a direct peer on `link`.
    pub(crate) fn remove_direct(&mut self, name: &str, link: LinkId) {
        let linked = self
            .names
            .get(name)
            .is_some_and(|e| e.direct.is_some_and(|(l, _)| l == link));
        if linked {
            if let Ok(e) = self.entry(name) {
                e.direct = None;
            }
        }
    }

    /// Sets the shortest path to `name` (`None`: the database reaches it no more). Names the
    /// table has no room for are left out (the database has its own limit, so this only
    /// happens under attack).
    pub(crate) fn set_path(&mut self, name: &str, route: Option<Route>) {
        if route.is_none() && !self.names.contains_key(name) {
            return;
        }
        if let Ok(e) = self.entry(name) {
            e.path = route;
        }
    }

    /// Whether `link` is the direct link to `name`.
    #[cfg(test)]
    pub(crate) fn is_direct(&self, name: &str, link: LinkId) -> bool {
        self.names
            .get(name)
            .is_some_and(|e| e.direct.is_some_and(|(l, _)| l == link))
    }

    /// Names reached only through v1 announcements (not direct peers), in name order.
    pub(crate) fn v1_only(&self) -> impl Iterator<Item = &str> {
        self.names
            .iter()
            .filter(|(_, e)| e.direct.is_none() && !e.vias.is_empty())
            .map(|(n, _)| &**n)
    }

    /// The peer on `link` announced `name` (v1 `imcon4` or `iknow`).
    pub(crate) fn add_via(&mut self, name: &str, link: LinkId) -> Result<(), TableFull> {
        let e = self.entry(name)?;
        if !e.vias.contains(&link) {
            e.vias.push(link);
        }
        Ok(())
    }

    /// The peer on `link` withdrew `name` (v1 `im!con4`), or the link went down.
    pub(crate) fn remove_via(&mut self, name: &str, link: LinkId) {
        let has = self.names.get(name).is_some_and(|e| e.vias.contains(&link));
        if has {
            if let Ok(e) = self.entry(name) {
                e.vias.retain(|&l| l != link);
            }
        }
    }

    /// The committed route to `name`.
    pub(crate) fn route(&self, name: &str) -> Option<Route> {
        self.names.get(name).and_then(|e| e.route)
    }

    /// Every reachable name with its committed route, in name order.
    pub(crate) fn routes(&self) -> impl Iterator<Item = (&str, Route)> {
        self.names
            .iter()
            .filter_map(|(n, e)| e.route.map(|r| (&**n, r)))
    }

    /// Recomputes the route of every name touched since the last commit and returns the ones
    /// that changed, in the order they were first touched.
    pub(crate) fn commit(&mut self) -> Vec<Change> {
        let mut changes = Vec::new();
        for name in std::mem::take(&mut self.dirty) {
            let Entry::Occupied(mut slot) = self.names.entry(name) else {
                continue;
            };
            let e = slot.get_mut();
            e.dirty = false;
            let new = e.select();
            let old = std::mem::replace(&mut e.route, new);
            let empty = e.is_empty();
            if empty {
                let (name, _) = slot.remove_entry();
                if old.is_some() {
                    changes.push(Change { name, old, new });
                }
            } else if old != new {
                changes.push(Change {
                    name: slot.key().clone(),
                    old,
                    new,
                });
            }
        }
        changes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn l(n: usize) -> LinkId {
        LinkId(n)
    }

    fn via(n: usize) -> Route {
        Route {
            link: l(n),
            hops: None,
            confirmed: false,
        }
    }

    #[test]
    fn a_shortest_path_beats_a_v1_announcement_but_not_a_direct_link() {
        let mut r = Routing::new(100);
        r.add_via("D", l(1)).unwrap();
        r.commit();
        let path = Route {
            link: l(2),
            hops: Some(3),
            confirmed: true,
        };
        r.set_path("D", Some(path));
        assert_eq!(r.commit()[0].new, Some(path));
        assert_eq!(r.v1_only().collect::<Vec<_>>(), ["D"]);
        r.add_direct("D", l(4), false).unwrap();
        assert_eq!(r.commit()[0].new.unwrap().link, l(4));
        assert!(r.is_direct("D", l(4)) && !r.is_direct("D", l(2)));
        r.remove_direct("D", l(4));
        r.set_path("D", None);
        assert_eq!(r.commit()[0].new, Some(via(1)));
        r.set_path("Unknown", None);
        assert!(r.commit().is_empty());
    }

    #[test]
    fn direct_wins_then_oldest_announcement() {
        let mut r = Routing::new(100);
        r.add_via("C", l(2)).unwrap();
        r.add_via("C", l(1)).unwrap();
        let ch = r.commit();
        assert_eq!(ch.len(), 1);
        assert_eq!(ch[0].new, Some(via(2)));
        r.add_direct("C", l(3), true).unwrap();
        let ch = r.commit();
        let direct = Route {
            link: l(3),
            hops: Some(1),
            confirmed: true,
        };
        assert_eq!(ch[0].new, Some(direct));
        r.remove_direct("C", l(3));
        r.remove_via("C", l(2));
        let ch = r.commit();
        assert_eq!(ch[0].new, Some(via(1)));
        r.remove_via("C", l(1));
        let ch = r.commit();
        assert_eq!(ch[0].new, None);
        assert!(r.is_empty());
    }

    #[test]
    fn swapping_a_link_within_one_commit_is_a_route_change_not_a_loss() {
        let mut r = Routing::new(100);
        r.add_direct("B", l(1), false).unwrap();
        r.commit();
        r.remove_direct("B", l(1));
        r.add_direct("B", l(2), false).unwrap();
        let ch = r.commit();
        assert_eq!(ch.len(), 1);
        assert!(ch[0].old.is_some() && ch[0].new.is_some());
        // Nothing changed at all: no change reported.
        r.add_via("B", l(3)).unwrap();
        assert!(r.commit().is_empty());
    }

    #[test]
    fn removing_what_is_not_there_is_harmless() {
        let mut r = Routing::new(100);
        r.remove_direct("X", l(1));
        r.remove_via("X", l(1));
        assert!(r.commit().is_empty());
        assert!(r.is_empty());
    }

    #[test]
    fn the_name_limit_holds() {
        let mut r = Routing::new(3);
        for n in ["a", "b", "c"] {
            r.add_via(n, l(1)).unwrap();
        }
        assert_eq!(r.add_via("d", l(1)), Err(TableFull { max: 3 }));
        r.add_via("a", l(2)).unwrap();
        assert_eq!(r.commit().len(), 3);
        assert_eq!(r.len(), 3);
    }
}
