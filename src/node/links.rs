//! The links: one per connection the caller reported up, from the first byte to the close.
//!
//! This module owns the table of open links ([`Links`]), each link's identity (who opened it,
//! which peer it reached, which version it speaks) and the transmission list (links with
//! bytes to write), and what happens when a link opens or goes: the hello timer is armed, and
//! a lost link is taken out of the routing table and its dial told. Each link's state beyond
//! that belongs to the concern that keeps it, as a sub-struct: its byte stream
//! ([`stream`](super::stream)), keepalive ([`keepalive`](super::keepalive)), v1 announcements
//! ([`announce`](super::announce)) and database exchange ([`db_sync`](super::db_sync)). It
//! must not parse frames nor decide what is sent; it only carries frames other concerns
//! write.

use std::collections::{BTreeSet, VecDeque};

use crate::{Event, LinkDownReason, LinkId};

use super::announce::Announcements;
use super::db_sync::DbSync;
use super::keepalive::Keepalive;
use super::stats::Stats;
use super::stream::Stream;
use super::timers::{Timer, ms};
use super::{Action, LinkOrigin, Node};

/// One open link.
#[derive(Debug)]
pub(super) struct Link {
    /// Its slot in the table.
    pub(super) id: LinkId,
    /// Distinguishes this link from earlier ones that had the same id, for stale timers.
    pub(super) serial: u64,
    pub(super) origin: LinkOrigin,
    /// The peer's name, once it said hello.
    pub(super) peer: Option<Box<str>>,
    /// The version spoken: 1 until the hello says otherwise.
    pub(super) version: u8,
    pub(super) stream: Stream,
    pub(super) keepalive: Keepalive,
    /// v1: what the peer was told and told this agent.
    pub(super) v1: Announcements,
    /// v2: the exchange of database summaries.
    pub(super) sync: DbSync,
}

impl Link {
    fn new(id: LinkId, serial: u64, origin: LinkOrigin, stream: Stream, t: u64) -> Link {
        Link {
            id,
            serial,
            origin,
            peer: None,
            version: 1,
            stream,
            keepalive: Keepalive::new(t),
            v1: Announcements::default(),
            sync: DbSync::default(),
        }
    }

    /// Bytes waiting to be written.
    pub(super) fn pending(&self) -> usize {
        self.stream.pending()
    }

    pub(super) fn is_dialer(&self) -> bool {
        matches!(self.origin, LinkOrigin::Dialed(_))
    }

    pub(super) fn is_v2(&self) -> bool {
        self.version >= 2
    }

    /// The hop count an own message carries here: none on a v1 link, which carries pure v1
    /// frames.
    pub(super) fn first_hop(&self) -> Option<u64> {
        self.is_v2().then_some(1)
    }

    /// Appends frames to the link's outbound bytes and lists it for transmission. Returns the
    /// bytes appended.
    pub(super) fn push(&mut self, tx: &mut Transmit, write: impl FnOnce(&mut Vec<u8>)) -> usize {
        let n = self.stream.push(write);
        self.list(tx);
        n
    }

    /// Lists the link for transmission, unless it is listed already: its stream has bytes
    /// the caller has not been told of (frames, a handshake message, or frames the end of a
    /// handshake lets through).
    pub(super) fn list(&mut self, tx: &mut Transmit) {
        if self.stream.list() {
            tx.0.push_back(self.id);
        }
    }

    /// As [`push`](Self::push), counting the bytes as control traffic.
    pub(super) fn push_control(
        &mut self,
        tx: &mut Transmit,
        stats: &mut Stats,
        write: impl FnOnce(&mut Vec<u8>),
    ) {
        let n = self.push(tx, write);
        stats.control_frames += 1;
        stats.control_bytes += n as u64;
    }
}

/// Links with new bytes to write, in the order they got them.
#[derive(Debug, Default)]
pub(super) struct Transmit(VecDeque<LinkId>);

/// Every open link, by id.
#[derive(Debug, Default)]
pub(super) struct Links {
    slots: Vec<Option<Link>>,
    tx: Transmit,
    /// Accepted links that have not said hello.
    pub(super) awaiting_hello: usize,
    /// Destinations whose traffic waits for room in its link's buffer: pumped again when a
    /// buffer drains.
    pub(super) blocked: BTreeSet<Box<str>>,
    next_serial: u64,
}

impl Links {
    pub(super) fn get(&self, link: LinkId) -> Option<&Link> {
        self.slots.get(link.0)?.as_ref()
    }

    pub(super) fn get_mut(&mut self, link: LinkId) -> Option<&mut Link> {
        self.slots.get_mut(link.0)?.as_mut()
    }

    /// A link with the transmission list, to push frames on it.
    pub(super) fn get_tx(&mut self, link: LinkId) -> Option<(&mut Link, &mut Transmit)> {
        let l = self.slots.get_mut(link.0)?.as_mut()?;
        Some((l, &mut self.tx))
    }

    /// The transmission list, to push frames on a link taken out of the table.
    pub(super) fn tx(&mut self) -> &mut Transmit {
        &mut self.tx
    }

    /// Every open link, in id order.
    pub(super) fn iter(&self) -> impl Iterator<Item = &Link> {
        self.slots.iter().flatten()
    }

    /// Every open link, in id order.
    pub(super) fn iter_mut(&mut self) -> impl Iterator<Item = &mut Link> {
        self.slots.iter_mut().flatten()
    }

    /// Every open link, in id order, with the transmission list, to push frames on them.
    pub(super) fn iter_tx(&mut self) -> (impl Iterator<Item = &mut Link>, &mut Transmit) {
        (self.slots.iter_mut().flatten(), &mut self.tx)
    }

    pub(super) fn is_open(&self, link: LinkId) -> bool {
        matches!(self.slots.get(link.0), Some(Some(_)))
    }

    pub(super) fn serial(&self, link: LinkId) -> Option<u64> {
        Some(self.get(link)?.serial)
    }

    pub(super) fn peer(&self, link: LinkId) -> Option<&str> {
        self.get(link)?.peer.as_deref()
    }

    pub(super) fn is_v2(&self, link: LinkId) -> bool {
        self.get(link).is_some_and(Link::is_v2)
    }

    /// The link to a direct peer.
    pub(super) fn to(&self, name: &str) -> Option<LinkId> {
        self.iter()
            .find(|l| l.peer.as_deref() == Some(name))
            .map(|l| l.id)
    }

    /// Whether `link` is open with fewer than `max` bytes waiting.
    pub(super) fn has_room(&self, link: LinkId, max: usize) -> bool {
        self.get(link).is_some_and(|l| l.pending() < max)
    }

    /// Open links.
    pub(super) fn count(&self) -> usize {
        self.iter().count()
    }

    /// Bytes waiting to be written, over all links.
    pub(super) fn buffered(&self) -> usize {
        self.iter().map(Link::pending).sum()
    }

    /// Appends a control frame to a link's outbound bytes and lists it for transmission.
    pub(super) fn control(
        &mut self,
        link: LinkId,
        stats: &mut Stats,
        write: impl FnOnce(&mut Vec<u8>),
    ) {
        if let Some((l, tx)) = self.get_tx(link) {
            l.push_control(tx, stats, write);
        }
    }

    /// Whether a link waits in the transmission list.
    pub(super) fn has_transmit(&self) -> bool {
        !self.tx.0.is_empty()
    }

    /// The next open link on the transmission list, taken off it (the next push lists it
    /// again).
    pub(super) fn next_listed(&mut self) -> Option<&mut Link> {
        while let Some(link) = self.tx.0.pop_front() {
            if let Some(Some(l)) = self.slots.get_mut(link.0) {
                l.stream.unlist();
                return self.slots[link.0].as_mut();
            }
        }
        None
    }

    fn insert(&mut self, l: Link) {
        let i = l.id.0;
        if self.slots.len() <= i {
            self.slots.resize_with(i + 1, || None);
        }
        self.slots[i] = Some(l);
    }

    fn remove(&mut self, link: LinkId) -> Option<Link> {
        self.slots.get_mut(link.0)?.take()
    }
}

impl Node {
    /// A connection is up at tick `t`: a link waiting for its hello, which the dialling side
    /// says first. An accepted connection over the limit of those waiting is turned away.
    pub(super) fn open_link(&mut self, link: LinkId, origin: LinkOrigin, t: u64) {
        assert!(!self.links.is_open(link), "{link} reported up twice");
        let accepted = origin == LinkOrigin::Accepted;
        if accepted && self.links.awaiting_hello >= self.opts.max_pending_links {
            let max = self.opts.max_pending_links;
            self.refuse_link(link, origin, LinkDownReason::TooManyPending { max });
            return;
        }
        let stream = match self.new_stream(origin) {
            Ok(stream) => stream,
            Err(reason) => {
                self.refuse_link(link, origin, reason);
                return;
            }
        };
        self.links.next_serial += 1;
        let serial = self.links.next_serial;
        let mut l = Link::new(link, serial, origin, stream, t);
        if let LinkOrigin::Dialed(c) = origin {
            self.dialler.linked(c, link);
            self.say_hello(&mut l);
        }
        self.links.insert(l);
        if accepted {
            self.links.awaiting_hello += 1;
        }
        let hello_by = t.saturating_add(ms(self.opts.hello_timeout));
        self.timers.insert(hello_by, Timer::Hello { link, serial });
    }

    /// Turns a connection away before it becomes a link: reported down, closed with nothing
    /// said, and its dial (if this agent dialled it) retried as after any failed attempt.
    fn refuse_link(&mut self, link: LinkId, origin: LinkOrigin, reason: LinkDownReason) {
        let failed = if let LinkOrigin::Dialed(c) = origin {
            self.dialler.linked(c, link);
            self.dialled_link_down(c, link, Some(&reason))
        } else {
            None
        };
        self.events.push_back(Event::LinkDown {
            link,
            peer: None,
            reason,
        });
        self.events.extend(failed);
        self.actions.push_back(Action::Close {
            link,
            flush: Vec::new(),
        });
    }

    /// A new link's byte stream: plain, or with a secure session on a secure node (the
    /// dialler's session writes its first handshake bytes at once).
    fn new_stream(&mut self, origin: LinkOrigin) -> Result<Stream, LinkDownReason> {
        #[cfg(feature = "secure")]
        if let Some(sec) = self.security.as_mut() {
            let max = self.opts.max_frame_len;
            return sec.stream(origin, max).map_err(LinkDownReason::Secure);
        }
        let _ = origin;
        Ok(Stream::new(self.opts.max_frame_len))
    }

    /// Whether `link` is open with room in its buffer.
    pub(super) fn room_on(&self, link: LinkId) -> bool {
        self.links.has_room(link, self.opts.max_link_buffer)
    }

    /// Closes a link on the core's own decision and tells the caller to close the connection.
    pub(super) fn close_link(&mut self, link: LinkId, reason: LinkDownReason) {
        self.drop_link(link, reason, true);
    }

    /// Forgets a link: its peer and what was reached through it leave the routing table (this
    /// agent's description and its paths change at once), and its dial reconnects.
    pub(super) fn drop_link(&mut self, link: LinkId, reason: LinkDownReason, tell_caller: bool) {
        let Some(mut l) = self.links.remove(link) else {
            return;
        };
        if let Some(peer) = &l.peer {
            self.routing.remove_direct(peer, link);
            for name in &l.v1.heard {
                self.routing.remove_via(name, link);
            }
            self.flooding.own_lost();
            self.paths.direct_changed();
        } else if !l.is_dialer() {
            self.links.awaiting_hello -= 1;
        }
        let failed = match l.origin {
            LinkOrigin::Dialed(c) => {
                let before_hello = l.peer.is_none().then_some(&reason);
                self.dialled_link_down(c, link, before_hello)
            }
            LinkOrigin::Accepted => None,
        };
        #[cfg(feature = "secure")]
        self.secure_link_closed(&mut l, &reason);
        let flush = tell_caller.then(|| l.stream.take_unsent());
        self.events.push_back(Event::LinkDown {
            link,
            peer: l.peer.as_deref().map(|p| self.names.get(p)),
            reason,
        });
        self.events.extend(failed);
        if let Some(flush) = flush {
            self.actions.push_back(Action::Close { link, flush });
        }
    }
}
