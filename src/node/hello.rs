//! The hello: who is on a link, and which version it speaks.
//!
//! The dialling side speaks first; the accepting side answers. Each hello carries the highest
//! version its sender speaks (`"v":2`; absent means 1), and the link speaks the lower of the
//! two. A hello naming this agent, or a peer linked already, is refused; a link that says
//! nothing within `Options::hello_timeout` is closed.
//!
//! This module owns the exchange and its outcome: the link's peer and version, its direct
//! route, and the start of what the version calls for (v1 announcements, or the v2 database
//! exchange; keepalive for both). It must not carry those on: each belongs to its own
//! concern.

use std::collections::BTreeSet;

use crate::wire::{self, Hello};
use crate::{Event, LinkDownReason, LinkId};

use super::links::Link;
use super::{LinkOrigin, Node};

impl Node {
    /// The dialling side speaks first, telling everything it can reach: the peer may be an
    /// original agent, which learns names only this way.
    pub(super) fn say_hello(&mut self, l: &mut Link) {
        let names = self.routing.routes().map(|(n, _)| n);
        let version = u64::from(self.opts.protocol_version);
        l.push_control(self.links.tx(), &mut self.stats, |out| {
            wire::emit_hello(out, false, &self.name, names, version)
        });
        l.v1.told = self.routing.routes().map(|(n, _)| n.into()).collect();
    }

    /// A hello on `link`: the peer is named, the version settled, and the link starts the
    /// protocol of that version.
    pub(super) fn on_hello(&mut self, link: LinkId, h: Hello<'_>) -> Result<(), LinkDownReason> {
        let Some(l) = self.links.get(link) else {
            return Ok(());
        };
        let dialer = l.is_dialer();
        if h.answer != dialer {
            // A hello going the wrong way (both sides dialled, or a confused peer): not ours.
            return Ok(());
        }
        let origin = l.origin;
        // On a secure link, before anything of the peer is believed or registered.
        #[cfg(feature = "secure")]
        self.check_peer_key(link, &h.name, h.version)?;
        if *h.name == *self.name {
            return Err(LinkDownReason::OwnName);
        }
        let offered = u64::from(self.opts.protocol_version);
        if self.links.to(&h.name).is_some() {
            return Err(self.refuse_duplicate(link, origin, h, offered));
        }
        let version = u8::try_from(h.version.min(offered)).unwrap_or(1);
        if !dialer {
            self.answer_hello(link, version);
        }
        let peer: Box<str> = (*h.name).into();
        self.routing
            .add_direct(&peer, link, version >= 2)
            .map_err(|e| LinkDownReason::TooManyNames { max: e.max })?;
        if let LinkOrigin::Dialed(c) = origin {
            self.dialler.succeeded(c);
        } else {
            self.links.awaiting_hello -= 1;
        }
        // A new version of this agent's description is coming (a v2 peer is in it once the
        // database exchange is complete): the exchange withholds the one held now.
        self.flooding.own_changed();
        self.paths.direct_changed();
        let Some(l) = self.links.get_mut(link) else {
            return Ok(());
        };
        l.peer = Some(peer.clone());
        l.version = version;
        if version >= 2 {
            l.v1.told.clear();
            l.sync.start();
        } else {
            l.v1.told.remove(&peer);
            l.v1.resync = true;
        }
        let serial = l.serial;
        self.start_keepalive(link, serial);
        if version >= 2 {
            self.arm_sync(link, serial);
        }

        self.events.push_back(Event::LinkUp {
            link,
            peer: self.names.get(&peer),
            inbound: !dialer,
            version,
        });
        if version >= 2 {
            Ok(())
        } else {
            self.on_reach(link, true, &h.iknow)
        }
    }

    /// `h` names a peer linked already: a dialler sleeps until that link goes; an accepted
    /// link is answered before it is closed, so that the dialler learns whom it reached and
    /// stops. Returns why the link closes.
    fn refuse_duplicate(
        &mut self,
        link: LinkId,
        origin: LinkOrigin,
        h: Hello<'_>,
        offered: u64,
    ) -> LinkDownReason {
        if let LinkOrigin::Dialed(c) = origin {
            self.dialler.dormant(c, &h.name);
        } else {
            let answer_version = h.version.min(offered);
            self.links.control(link, &mut self.stats, |out| {
                wire::emit_hello(out, true, &self.name, [], answer_version)
            });
        }
        LinkDownReason::Duplicate {
            name: h.name[..].into(),
        }
    }

    /// The accepting side's answer: a v2 peer learns names from the database, an original
    /// one from this answer. An original peer gets a pure v1 answer; a v2 peer learns this
    /// side speaks v2.
    fn answer_hello(&mut self, link: LinkId, version: u8) {
        let told: BTreeSet<Box<str>> = if version >= 2 {
            BTreeSet::new()
        } else {
            self.routing.routes().map(|(n, _)| n.into()).collect()
        };
        let answer_version = u64::from(version);
        let Some((l, tx)) = self.links.get_tx(link) else {
            return;
        };
        l.push_control(tx, &mut self.stats, |out| {
            wire::emit_hello(
                out,
                true,
                &self.name,
                told.iter().map(|n| &**n),
                answer_version,
            )
        });
        l.v1.told = told;
    }

    /// The hello timer of `link` fired: a link still unnamed is closed.
    pub(super) fn hello_due(&mut self, link: LinkId, serial: u64) {
        if self.links.serial(link) == Some(serial) && self.links.peer(link).is_none() {
            self.close_link(link, LinkDownReason::HelloTimeout);
        }
    }
}
