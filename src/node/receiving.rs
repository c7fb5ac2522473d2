//! Messages for this agent: handing them to the application, in order and once for numbered
//! streams, and confirming what was handed over.
//!
//! This module owns the [`Inboxes`]: one per origin whose numbered stream this agent receives
//! (at most `Options::max_known_names`, the least recently used forgotten first), and the
//! origins owed a confirmation since the last commit, which get one cumulative `ack` each. It
//! must not touch this agent's own messages (sending) nor relay anything (relay).

use std::collections::BTreeMap;

use crate::delivery::{Inbox, Verdict};
use crate::event::Name;
#[cfg(not(feature = "secure"))]
use crate::wire;
use crate::wire::{Msg, Seq};
use crate::{Body, Event};

use super::Node;

/// The streams this agent receives, by origin.
#[derive(Debug, Default)]
pub(super) struct Inboxes {
    by_origin: BTreeMap<Box<str>, Inbox>,
    /// Origins owed a confirmation at the next commit.
    acks_due: Vec<Name>,
}

impl Inboxes {
    /// Origins whose streams are remembered.
    pub(super) fn len(&self) -> usize {
        self.by_origin.len()
    }
}

impl Node {
    /// Hands a message for this agent, which came from the direct peer `via`, to the
    /// application, unless it is out of its stream's order or a duplicate.
    pub(super) fn deliver(&mut self, m: Msg<'_>, via: Name) {
        // A sealed body is opened before its number is taken: one that does not open must
        // not use up its place in the stream.
        #[cfg(feature = "secure")]
        let Ok(opened) = self.open_body(&m) else {
            return;
        };
        if let Some(seq) = m.seq {
            let direct = *via == *m.from;
            if !self.receive_numbered(&m.from, seq, direct) {
                return;
            }
        }
        #[cfg(feature = "secure")]
        let body = opened.unwrap_or_else(|| m.body.to_owned());
        #[cfg(not(feature = "secure"))]
        let body = m.body.to_owned();
        self.events.push_back(Event::Message {
            from: self.names.get(&m.from),
            to: self.names.get(&m.to),
            via,
            body: Body::new(body),
        });
    }

    /// Applies a numbered message's place in its stream; returns whether to hand it over.
    /// `direct`: it came from its origin itself, over the link to it.
    ///
    /// A relayed message in an incarnation above the one its origin's description states is
    /// refused: a relay cannot make the origin's real stream look stale by claiming a later
    /// run of it. (The origin itself, directly linked, speaks for itself: a restarted agent's
    /// first messages may come before its new description.)
    fn receive_numbered(&mut self, from: &str, seq: Seq, direct: bool) -> bool {
        let now = self.clock.now();
        let lsdb = &self.lsdb;
        let described = || lsdb.incarnation_of(from);
        if !direct && described().is_none_or(|d| seq.inc > d) {
            self.stats.rejected += 1;
            return false;
        }
        let inboxes = &mut self.inboxes.by_origin;
        if !inboxes.contains_key(from) {
            if inboxes.len() >= self.opts.max_known_names {
                // Forget the stream least recently used; its origin's base restarts it safely.
                let oldest = inboxes
                    .iter()
                    .min_by_key(|(_, i)| i.used)
                    .map(|(n, _)| n.clone());
                if let Some(n) = oldest {
                    inboxes.remove(&n);
                }
            }
            inboxes.insert(from.into(), Inbox::new(seq, now, described()));
        }
        let Some(inbox) = inboxes.get_mut(from) else {
            return false;
        };
        let was_due = inbox.ack_due;
        let verdict = inbox.accept(seq, now, described);
        if inbox.ack_due && !was_due {
            self.inboxes.acks_due.push(self.names.get(from));
        }
        match verdict {
            Verdict::Deliver => true,
            Verdict::Duplicate => {
                self.stats.duplicates += 1;
                false
            }
            Verdict::Ahead | Verdict::Stale => false,
        }
    }

    /// Confirms what was handed over since the last commit, one cumulative ack per origin.
    pub(super) fn send_acks(&mut self) {
        // The list is handed back afterwards, keeping its capacity for the next round.
        let mut due = std::mem::take(&mut self.inboxes.acks_due);
        for origin in due.drain(..) {
            let Some(inbox) = self.inboxes.by_origin.get_mut(&*origin) else {
                continue;
            };
            inbox.ack_due = false;
            let (inc, upto) = (inbox.inc, inbox.confirmed());
            match self.routing.route(&origin) {
                Some(r) if self.links.is_v2(r.link) => {
                    let me = self.names.get(&self.name);
                    #[cfg(feature = "secure")]
                    let (security, lsdb) = (&mut self.security, &self.lsdb);
                    #[cfg(feature = "secure")]
                    let direct = self.links.peer(r.link) == Some(&*origin);
                    self.links.control(r.link, &mut self.stats, |out| {
                        #[cfg(feature = "secure")]
                        super::origins::emit_confirmation(
                            out, security, lsdb, &me, &origin, inc, upto, direct,
                        );
                        #[cfg(not(feature = "secure"))]
                        wire::emit_ack(out, &me, &origin, inc, upto, 1, None);
                    });
                }
                // No way back yet: the origin resends, and the duplicate is confirmed then.
                _ => {}
            }
        }
        self.inboxes.acks_due = due;
    }
}
