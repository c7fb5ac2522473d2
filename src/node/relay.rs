//! Messages and confirmations arriving on a link: whether they are believable, and then
//! handing them over (when they are for this agent) or relaying them towards their
//! destination.
//!
//! On secure links, forgeries are refused before anything else (`origins.rs`). A relay passes
//! a frame on as it came, with the next hop count on a v2 link, and holds
//! unnumbered messages it cannot forward yet until their destination is reachable, as an
//! original agent does (numbered v2 messages are never held: their origin resends them).
//!
//! This module owns the [`Relay`] state: the messages held for others. It reads routes and
//! writes to the next link; it must not touch this agent's own messages (sending) nor the
//! streams this agent receives (receiving), which it hands over to.

use std::collections::{BTreeMap, VecDeque};

use serde_json::value::RawValue;

use crate::wire::{self, Ack, Msg, Stamp};
use crate::{Event, LinkId};

use super::Node;

/// A message relayed for another agent, held until its destination is reachable (the v1
/// behaviour; numbered v2 messages are never held by relays, their origin resends them).
#[derive(Debug)]
struct Held {
    from: Box<str>,
    body: Box<RawValue>,
}

/// Messages held for others, by destination.
#[derive(Debug, Default)]
pub(super) struct Relay {
    held: BTreeMap<Box<str>, VecDeque<Held>>,
    /// Messages held, over all destinations.
    total: usize,
}

impl Relay {
    /// Messages held, over all destinations.
    pub(super) fn len(&self) -> usize {
        self.total
    }
}

impl Node {
    /// Whether traffic claiming to come from `from` is believable on `link`. Nothing claims
    /// this agent as its origin legitimately (it is a loop, or a forgery); numbered messages
    /// and confirmations must come through a first hop of a shortest path to their origin, so
    /// that a peer cannot confirm, skip or reorder a stream it would not relay anyway. Genuine
    /// traffic caught by a route change is resent by its origin.
    fn believable(&mut self, from: &str, link: LinkId, numbered: bool) -> bool {
        // The link's own peer first: that is the direct link to `from` (a name is linked at
        // most once), and it costs no lookup on the hot path of a one-hop stream.
        let ok = from != &*self.name
            && (!numbered
                || self.links.peer(link) == Some(from)
                || self.lsdb.upstream_of(from, link));
        if !ok {
            self.stats.rejected += 1;
        }
        ok
    }

    /// A message frame `raw`, parsed as `m`.
    pub(super) fn on_msg(&mut self, link: LinkId, m: Msg<'_>, raw: &[u8]) {
        // Forgeries first, so that each is counted as one whatever else is wrong with it.
        if !self.authentic_msg(link, &m) {
            return;
        }
        if !self.believable(&m.from, link, m.seq.is_some()) {
            return;
        }
        // The link's fields directly rather than through `Node::link_peer`, to borrow the name
        // cache beside.
        let Some(prev) = self.links.peer(link) else {
            return;
        };
        if *m.to == *self.name {
            // Names come from the cache: the same few, message after message.
            let via = self.names.get(prev);
            self.deliver(m, via);
            return;
        }
        self.forward_msg(link, m, raw);
    }

    /// Relays a message for another agent that came on `link`, or holds it, or drops it.
    fn forward_msg(&mut self, link: LinkId, m: Msg<'_>, raw: &[u8]) {
        if m.hops.is_some_and(|h| h >= u64::from(self.opts.max_hops)) {
            // Travelled too far: a transient loop, or a peer that does not count.
            self.stats.relay_dropped += 1;
            return;
        }
        let route = self.routing.route(&m.to);
        let next = match route {
            Some(r) if r.link != link && self.room_on(r.link) => r.link,
            None if m.seq.is_none()
                && self.opts.queue_messages
                && self.relay.total < self.opts.max_queued_per_destination =>
            {
                // The original holds what it cannot forward yet; so does a relay here, for
                // unnumbered messages. Numbered ones are resent by their origin instead.
                self.stats.relayed += 1;
                self.relay
                    .held
                    .entry((*m.to).into())
                    .or_default()
                    .push_back(Held {
                        from: (*m.from).into(),
                        body: m.body.to_owned(),
                    });
                self.relay.total += 1;
                return;
            }
            _ => {
                self.stats.relay_dropped += 1;
                return;
            }
        };
        let Some((l, tx)) = self.links.get_tx(next) else {
            return;
        };
        if m.seq.is_some() && !l.is_v2() {
            // A numbered message must not lose its number on a v1 link: its origin will resend
            // it once a v2 way exists.
            self.stats.relay_dropped += 1;
            return;
        }
        // Below `max_hops` (checked above), so the next count always fits; saturating all
        // the same, as every number a peer sends is met.
        let hops = l.is_v2().then(|| m.hops.unwrap_or(1).saturating_add(1));
        let around = m
            .hops_at
            .and_then(|(start, end)| Some((raw.get(..start)?, raw.get(end..)?)));
        match (around, hops) {
            // The frame is exactly what `emit_msg` writes: copy it around the new hop count.
            (Some((before, after)), Some(h)) => {
                l.push(tx, |out| wire::emit_around(out, before, h, after));
            }
            _ => {
                let stamp = Stamp {
                    to_inc: m.to_inc,
                    sealed: m.sealed,
                    tag: m.tag.as_deref(),
                };
                l.push(tx, |out| {
                    wire::emit_msg(out, &m.from, &m.to, m.body.get(), hops, m.seq, stamp)
                });
            }
        }
        self.stats.relayed += 1;
        if self.opts.trace_relays {
            let prev = self.names.get(self.links.peer(link).unwrap_or_default());
            let next = self.names.get(self.links.peer(next).unwrap_or_default());
            self.events.push_back(Event::Relayed {
                from: m.from[..].into(),
                to: m.to[..].into(),
                prev,
                next,
            });
        }
    }

    /// A confirmation frame `raw`, parsed as `a`: relayed towards its destination over v2
    /// links, or applied to this agent's messages.
    pub(super) fn on_ack(&mut self, link: LinkId, a: Ack<'_>, raw: &[u8]) {
        if !self.authentic_ack(link, &a) {
            return;
        }
        if !self.believable(&a.from, link, true) {
            return;
        }
        if *a.to != *self.name {
            self.forward_ack(link, a, raw);
            return;
        }
        // Messages numbered in the incarnation before this one (left above a description of
        // this agent it did not make) are confirmed in it.
        if a.inc != self.inc && Some(a.inc) != self.prev_inc {
            return;
        }
        self.confirmed(&a.from, a.seq);
    }

    /// Relays a confirmation for another agent that came on `link`, or drops it.
    fn forward_ack(&mut self, link: LinkId, a: Ack<'_>, raw: &[u8]) {
        if a.hops.is_some_and(|h| h >= u64::from(self.opts.max_hops)) {
            self.stats.relay_dropped += 1;
            return;
        }
        match self.routing.route(&a.to) {
            Some(r) if r.link != link && self.room_on(r.link) && self.links.is_v2(r.link) => {
                let hops = a.hops.unwrap_or(1).saturating_add(1);
                let around = a
                    .hops_at
                    .and_then(|(start, end)| Some((raw.get(..start)?, raw.get(end..)?)));
                self.links
                    .control(r.link, &mut self.stats, |out| match around {
                        // Exactly what `emit_ack` writes: copied around the new hop count.
                        Some((before, after)) => wire::emit_around(out, before, hops, after),
                        None => {
                            let tag = a.tag.as_deref();
                            wire::emit_ack(out, &a.from, &a.to, a.inc, a.seq, hops, tag)
                        }
                    });
            }
            _ => self.stats.relay_dropped += 1,
        }
    }

    /// Forwards held relayed messages for `to` while its link has room.
    pub(super) fn pump_held(&mut self, to: &str) {
        let Some(route) = self.routing.route(to) else {
            return;
        };
        let Some(queue) = self.relay.held.get_mut(to) else {
            return;
        };
        let Some((l, tx)) = self.links.get_tx(route.link) else {
            return;
        };
        let hops = l.first_hop();
        while l.pending() < self.opts.max_link_buffer {
            let Some(h) = queue.pop_front() else { break };
            self.relay.total -= 1;
            l.push(tx, |out| {
                wire::emit_msg(out, &h.from, to, h.body.get(), hops, None, Stamp::default())
            });
        }
        if queue.is_empty() {
            self.relay.held.remove(to);
        } else {
            self.links.blocked.insert(to.into());
        }
    }
}
