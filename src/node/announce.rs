//! v1 announcements: what an original agent learns and tells, name by name.
//!
//! An original agent learns names from its peers' hellos (`iknow`) and announcements (`imcon4`
//! adds, `im!con4` withdraws), and tells each peer every name it reaches other than through
//! that peer (split horizon), never the peer's own name. On a v1 link this agent does exactly
//! that; v2 links learn from descriptions instead, and are told nothing here.
//!
//! This module owns each link's [`Announcements`] (what the peer was told, what it told) and
//! the announcements gathered during a commit, sent together. It reads the routing table and
//! adds or removes names reached through a v1 peer; it must not decide routes, nor write to a
//! v2 link.

use std::borrow::Cow;
use std::collections::BTreeSet;

use crate::routing::Route;
use crate::wire;
use crate::{LinkDownReason, LinkId};

use super::Node;
use super::links::{Link, Links};

/// What a v1 peer was told and told this agent.
#[derive(Debug, Default)]
pub(super) struct Announcements {
    /// Names this agent told the peer it reaches (`iknow` / `imcon4`, not withdrawn).
    pub(super) told: BTreeSet<Box<str>>,
    /// Names the peer told this agent it reaches.
    pub(super) heard: BTreeSet<Box<str>>,
    /// Compare `told` against the whole table at the next commit.
    pub(super) resync: bool,
    /// Announcements gathered during a commit, sent together.
    add: Vec<Box<str>>,
    del: Vec<Box<str>>,
}

impl Link {
    /// Brings what the peer was told about `name` in line with `route`, gathering the
    /// announcement. v1 rule: tell a peer every name reachable other than through itself
    /// (split horizon), and never its own name. v2 links learn from descriptions instead.
    fn tell(&mut self, name: &str, route: Option<Route>) {
        if self.is_v2() {
            return;
        }
        let should = route.is_some_and(|r| r.link != self.id) && self.peer.as_deref() != Some(name);
        let told = self.v1.told.contains(name);
        if should && !told {
            self.v1.told.insert(name.into());
            self.v1.add.push(name.into());
        } else if !should && told {
            self.v1.told.remove(name);
            if self.peer.as_deref() != Some(name) {
                self.v1.del.push(name.into());
            }
        }
    }
}

impl Links {
    /// The route to `name` changed: every named peer not waiting for a full comparison is
    /// told, at the next [`Node::announce`].
    pub(super) fn tell_change(&mut self, name: &str, route: Option<Route>) {
        for l in self.iter_mut() {
            if l.peer.is_some() && !l.v1.resync {
                l.tell(name, route);
            }
        }
    }
}

impl Node {
    /// A v1 peer on `link` reaches the names `who` (`add`), or no longer does.
    pub(super) fn on_reach(
        &mut self,
        link: LinkId,
        add: bool,
        who: &[Cow<'_, str>],
    ) -> Result<(), LinkDownReason> {
        let Some(l) = self.links.get_mut(link) else {
            return Ok(());
        };
        let Some(peer) = l.peer.as_deref() else {
            return Ok(());
        };
        for name in who {
            if **name == *self.name || **name == *peer {
                continue;
            }
            if add {
                self.routing
                    .add_via(name, link)
                    .map_err(|e| LinkDownReason::TooManyNames { max: e.max })?;
                if !l.v1.heard.contains(&**name) {
                    l.v1.heard.insert((**name).into());
                    self.flooding.own_changed();
                }
            } else {
                self.routing.remove_via(name, link);
                if l.v1.heard.remove(&**name) {
                    self.flooding.own_lost();
                }
            }
        }
        Ok(())
    }

    /// Brings every v1 peer's picture up to date: full comparisons for new links, then the
    /// announcements gathered, sent together.
    pub(super) fn announce(&mut self) {
        let (links, tx) = self.links.iter_tx();
        for l in links {
            if l.v1.resync {
                l.v1.resync = false;
                let told: Vec<Box<str>> = l.v1.told.iter().cloned().collect();
                for name in told {
                    l.tell(&name, self.routing.route(&name));
                }
                for (name, route) in self.routing.routes() {
                    if !l.v1.told.contains(name) {
                        l.tell(name, Some(route));
                    }
                }
            }
            if !l.v1.del.is_empty() || !l.v1.add.is_empty() {
                let del = std::mem::take(&mut l.v1.del);
                let add = std::mem::take(&mut l.v1.add);
                l.push_control(tx, &mut self.stats, |out| {
                    if !del.is_empty() {
                        wire::emit_reach(out, false, del.iter().map(|n| &**n));
                    }
                    if !add.is_empty() {
                        wire::emit_reach(out, true, add.iter().map(|n| &**n));
                    }
                });
            }
        }
    }
}
