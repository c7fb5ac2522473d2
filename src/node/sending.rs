//! This agent's own messages: sending them, and, over a confirmed route, numbering,
//! retransmitting and confirming them.
//!
//! A message goes straight out when it can (best effort, nothing queued ahead, room on the
//! link); otherwise it waits in its destination's outbox until a route exists, the window and
//! the link's buffer allow, and (on a confirmed route) the destination confirms it, the
//! deadline passes or a retransmission timeout resends it. On secure links only a route on
//! which messages go numbered, and tagged through relays, counts (`origins.rs`,
//! `Node::route_for_own`): an unconfirmed one is as none.
//!
//! This module owns the [`Outboxes`]: one per destination, the numbering of messages and
//! streams, and each outbox's timer. It must not touch messages of other agents (relay) nor
//! the streams this agent receives (receiving).

use std::collections::BTreeMap;
use std::time::Instant;

use serde_json::value::RawValue;
use slab::Slab;

use crate::delivery::{MAX_RTO, Outbox, Pending};
use crate::event::NameCache;
use crate::wire::{self, Seq, Stamp};
use crate::{Body, Event, MessageId, Name, SendError, UndeliverableReason};

use super::Node;
#[cfg(feature = "secure")]
use super::origins;
use super::timers::{Timer, Timers};

/// Room for the envelope around a body when checking a message against the frame limit.
const ENVELOPE_SLACK: usize = 128;

/// A message body on its way into the core.
#[derive(Clone, Copy)]
pub(crate) enum Json<'a> {
    /// Already a `RawValue`: validated when it was made, so it is copied, never parsed again.
    Raw(&'a RawValue),
    /// Text serde_json just serialised from a value.
    Text(&'a str),
}

impl Json<'_> {
    fn text(&self) -> &str {
        match self {
            Json::Raw(raw) => raw.get(),
            Json::Text(text) => text,
        }
    }

    /// An owned copy, for a body kept until it is confirmed.
    fn to_boxed(self) -> Result<Box<RawValue>, SendError> {
        match self {
            Json::Raw(raw) => Ok(raw.to_owned()),
            // serde_json offers no unchecked way from text to a `RawValue`.
            Json::Text(text) => RawValue::from_string(text.to_owned())
                .map_err(|e| SendError::Serialize(e.to_string())),
        }
    }
}

/// This agent's outboxes, by destination.
#[derive(Debug)]
pub(super) struct Outboxes {
    slab: Slab<Outbox>,
    by_name: BTreeMap<Box<str>, usize>,
    /// Above every number any stream of this incarnation has used: a new stream to a
    /// destination starts here, so that it can never be mistaken for an earlier one.
    seq_floor: u64,
    /// Messages held, over all outboxes.
    queued: usize,
    /// The id of the next message.
    next_message: u64,
    /// Distinguishes an outbox from earlier ones in the same slot, for stale timers.
    next_serial: u64,
    /// Reused for the ids a confirmation or a deadline settles.
    ids: Vec<MessageId>,
}

impl Outboxes {
    pub(super) fn new() -> Outboxes {
        Outboxes {
            slab: Slab::new(),
            by_name: BTreeMap::new(),
            seq_floor: 1,
            queued: 0,
            next_message: 0,
            next_serial: 0,
            ids: Vec::new(),
        }
    }

    /// Outboxes, holding messages or emptied lately.
    pub(super) fn len(&self) -> usize {
        self.slab.len()
    }

    /// Messages held, over all outboxes.
    pub(super) fn queued(&self) -> usize {
        self.queued
    }

    /// Messages held for `name`.
    pub(super) fn queued_for(&self, name: &str) -> usize {
        self.by_name.get(name).map_or(0, |&s| self.slab[s].len())
    }

    /// The outbox in `slot`, if any.
    pub(super) fn get(&self, slot: usize) -> Option<&Outbox> {
        self.slab.get(slot)
    }

    fn next_id(&mut self) -> MessageId {
        let id = MessageId(self.next_message);
        self.next_message += 1;
        id
    }

    /// A new outbox for `to`.
    fn open(&mut self, to: &str) -> usize {
        self.next_serial += 1;
        let slot = self
            .slab
            .insert(Outbox::new(to, self.next_serial, self.seq_floor));
        self.by_name.insert(to.into(), slot);
        slot
    }

    /// Gives up on every message held, queued or unconfirmed, for a shutdown: each with its
    /// destination, by destination name and then in the order they were sent.
    pub(super) fn clear(&mut self, names: &mut NameCache) -> Vec<(Name, MessageId)> {
        let mut gone = Vec::with_capacity(self.queued);
        let mut ids = std::mem::take(&mut self.ids);
        for (to, &slot) in &self.by_name {
            self.slab[slot].clear(&mut ids);
            let to = names.get(to);
            gone.extend(ids.drain(..).map(|id| (to.clone(), id)));
        }
        self.ids = ids;
        self.queued = 0;
        gone
    }

    /// The route to `name` changed: whatever was in flight went the old way, and is resent
    /// the new way.
    pub(super) fn route_changed(&mut self, name: &str) {
        if let Some(&slot) = self.by_name.get(name) {
            let ob = &mut self.slab[slot];
            if ob.in_flight() > 0 {
                ob.go_back();
            }
        }
    }

    /// Arms the outbox's timer for its next resend or deadline, unless one is armed earlier.
    fn arm(&mut self, slot: usize, timers: &mut Timers) {
        let ob = &mut self.slab[slot];
        if let Some(due) = ob.due() {
            if ob.timer_at.is_none_or(|t| due < t) {
                ob.timer_at = Some(due);
                let serial = ob.serial;
                timers.insert(due, Timer::Outbox { slot, serial });
            }
        }
    }
}

impl Node {
    /// Sends `json` to `to` at tick `t` (see [`Node::send_message`]).
    pub(super) fn send(
        &mut self,
        to: &str,
        json: Json<'_>,
        deadline: Option<Instant>,
        t: u64,
    ) -> Result<MessageId, SendError> {
        let body = json.text();
        if !wire::name_is_valid(to) {
            return Err(SendError::InvalidName { len: to.len() });
        }
        // A sealed body travels as the base64 of its ciphertext: a third longer and more.
        let travels = self.sealed_len(body.len()).unwrap_or(body.len());
        let len = travels + to.len() + self.name.len() + ENVELOPE_SLACK;
        if len > self.opts.max_frame_len as usize {
            return Err(SendError::TooLarge {
                len,
                max: self.opts.max_frame_len,
            });
        }
        if *to == *self.name {
            return self.send_to_self(json);
        }
        let route = self.route_for_own(to);
        let slot = self.outboxes.by_name.get(to).copied();
        let waiting = slot.is_some_and(|s| !self.outboxes.slab[s].is_empty());
        // Best effort with nothing waiting ahead and room on the link: straight out, no copy.
        if let (false, Some(r)) = (waiting, route) {
            if !r.confirmed && self.room_on(r.link) {
                let id = self.outboxes.next_id();
                if let Some((l, tx)) = self.links.get_tx(r.link) {
                    let hops = l.first_hop();
                    l.push(tx, |out| {
                        wire::emit_msg(out, &self.name, to, body, hops, None, Stamp::default())
                    });
                }
                return Ok(id);
            }
        }
        if route.is_none() && !self.opts.queue_messages {
            return Err(SendError::Unreachable { to: to.to_owned() });
        }
        let held = slot.map_or(0, |s| self.outboxes.slab[s].len());
        if held >= self.opts.max_queued_per_destination {
            return Err(SendError::QueueFull {
                to: to.to_owned(),
                limit: self.opts.max_queued_per_destination,
            });
        }
        let id = self.outboxes.next_id();
        let slot = match slot {
            Some(s) => s,
            None => self.outboxes.open(to),
        };
        let deadline = deadline.map(|d| self.clock.ticks(d));
        self.outboxes.slab[slot].push(Pending::new(id, t, deadline), json.text());
        self.outboxes.queued += 1;
        self.pump(to);
        Ok(id)
    }

    /// A message to this agent itself: handed over at once.
    fn send_to_self(&mut self, json: Json<'_>) -> Result<MessageId, SendError> {
        let body = json.to_boxed()?;
        let id = self.outboxes.next_id();
        let me = self.names.get(&self.name);
        self.events.push_back(Event::Message {
            from: me.clone(),
            to: me.clone(),
            via: me,
            body: Body::new(body),
        });
        Ok(id)
    }

    /// Sends what the window and the link's buffer allow from this agent's messages for `to`.
    pub(super) fn pump(&mut self, to: &str) {
        let Some(&slot) = self.outboxes.by_name.get(to) else {
            return;
        };
        let route = self.route_for_own(to);
        if let Some(route) = route.filter(|&r| self.can_tag_for(to, r)) {
            let ob = &mut self.outboxes.slab[slot];
            let Some((l, tx)) = self.links.get_tx(route.link) else {
                return;
            };
            let max = self.opts.max_link_buffer;
            let now = self.clock.now();
            if route.confirmed {
                // On secure links, a message whose first hop is not its destination carries
                // its tag (`origins.rs`).
                #[cfg(feature = "secure")]
                let direct = l.peer.as_deref() == Some(to);
                while l.pending() < max {
                    let base = ob.base();
                    let Some((p, body, seq)) = ob.next_confirmed(self.opts.max_in_flight, now)
                    else {
                        break;
                    };
                    if p.resent {
                        self.stats.resent += 1;
                    }
                    let seq = Seq {
                        inc: self.inc,
                        seq,
                        base,
                    };
                    #[cfg(feature = "secure")]
                    l.push(tx, |out| {
                        let sec = &mut self.security;
                        let (me, lsdb) = (&*self.name, &self.lsdb);
                        origins::emit_numbered(out, sec, lsdb, me, to, body, seq, direct)
                    });
                    #[cfg(not(feature = "secure"))]
                    l.push(tx, |out| {
                        wire::emit_msg(
                            out,
                            &self.name,
                            to,
                            body,
                            Some(1),
                            Some(seq),
                            Stamp::default(),
                        )
                    });
                }
            } else {
                let hops = l.first_hop();
                while l.pending() < max {
                    let Some((_, body)) = ob.pop_unconfirmed() else {
                        break;
                    };
                    self.outboxes.queued -= 1;
                    l.push(tx, |out| {
                        wire::emit_msg(out, &self.name, to, body, hops, None, Stamp::default())
                    });
                }
            }
            self.outboxes.seq_floor = self.outboxes.seq_floor.max(ob.next_seq());
            if l.pending() >= max && !ob.all_sent() {
                self.links.blocked.insert(to.into());
            }
        }
        self.keep_or_drop_outbox(slot, to);
    }

    /// After a pump: an outbox with work left has its timer armed; an empty one goes.
    fn keep_or_drop_outbox(&mut self, slot: usize, to: &str) {
        let ob = &self.outboxes.slab[slot];
        // An emptied outbox stays until the timer armed for it fires, if that is within a
        // retransmission timeout: an application that answers and is answered sends its next
        // message to the same destination within a round trip, and reusing the outbox keeps
        // its round-trip estimate and its one timer instead of making both afresh (and a stale
        // timer entry) per message. A timer further off (a message's deadline) is not waited
        // for: it finds a newer outbox, or none, and is ignored.
        let linger = ob
            .timer_at
            .is_some_and(|at| at <= self.clock.now().saturating_add(MAX_RTO));
        if ob.is_empty() && !linger {
            self.outboxes.slab.remove(slot);
            self.outboxes.by_name.remove(to);
        } else {
            self.outboxes.arm(slot, &mut self.timers);
        }
    }

    /// An outbox's timer fired: give up on what is past its deadline, resend after a timeout.
    pub(super) fn outbox_due(&mut self, slot: usize, t: u64) {
        let ob = &mut self.outboxes.slab[slot];
        ob.timer_at = None;
        let mut ids = std::mem::take(&mut self.outboxes.ids);
        ob.expire(t, &mut ids);
        self.outboxes.queued -= ids.len();
        for id in ids.drain(..) {
            self.events.push_back(Event::Undeliverable {
                to: self.names.get(&ob.to),
                id,
                reason: UndeliverableReason::Expired,
            });
        }
        self.outboxes.ids = ids;
        if ob.in_flight() > 0 && ob.rto_at.is_some_and(|at| at <= t) {
            ob.timed_out(t);
            self.stats.timeouts += 1;
        }
        let to = ob.to.clone();
        self.pump(&to);
    }

    /// The destination `from` confirmed this agent's messages up to `seq`.
    pub(super) fn confirmed(&mut self, from: &str, seq: u64) {
        let Some(&slot) = self.outboxes.by_name.get(from) else {
            return;
        };
        let mut ids = std::mem::take(&mut self.outboxes.ids);
        self.outboxes.slab[slot].confirm(seq, self.clock.now(), &mut ids);
        self.outboxes.queued -= ids.len();
        self.stats.confirmed += ids.len() as u64;
        if !ids.is_empty() {
            let to = self.names.get(from);
            for id in ids.drain(..) {
                self.events
                    .push_back(Event::Delivered { to: to.clone(), id });
            }
        }
        self.outboxes.ids = ids;
        self.pump(from);
    }
}
