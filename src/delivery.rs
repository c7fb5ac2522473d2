//! End-to-end delivery (v2): what a sender keeps until the destination confirms it, and what
//! a destination remembers to hand messages over exactly once and in order.
//!
//! This module owns the per-destination stream of this agent's own messages ([`Outbox`]) and
//! the per-origin expectation of a destination ([`Inbox`]). It is pure: it never chooses a
//! route, never writes a frame, never reads a clock (time is the caller's tick, in ms).
//!
//! The scheme, in short: a message gets its number in its (origin, destination) stream when it
//! is first sent on a confirmed route. It stays in the outbox until a cumulative
//! acknowledgement covers it. Each transmission carries the origin's incarnation and the lowest
//! number not yet confirmed (the base), so a destination that has no memory of the stream
//! (it just started) begins there. The destination hands over only the next number it expects
//! (and acknowledges everything else it sees), so delivery is in order and exactly once per
//! destination incarnation. On a retransmission timeout, or when the route changes, the sender
//! goes back and resends everything unconfirmed, over whatever route is current.

use std::collections::VecDeque;

use crate::MessageId;
use crate::wire::Seq;

/// Shortest retransmission timeout, ms: below this a loaded machine would resend for nothing.
pub(crate) const MIN_RTO: u64 = 100;
/// Longest retransmission timeout, ms, after backing off.
pub(crate) const MAX_RTO: u64 = 5_000;
/// Retransmission timeout before any round trip was measured, ms.
pub(crate) const INITIAL_RTO: u64 = 500;

/// A message of this agent's, waiting for its confirmation. Its body is kept, for
/// retransmission, in its outbox ([`Outbox::body`]).
#[derive(Debug)]
pub(crate) struct Pending {
    /// The id `send_message` returned.
    pub(crate) id: MessageId,
    /// Where the body is in the outbox's store: offset since the outbox began, and length.
    at: u64,
    len: usize,
    /// Its number in the stream, once sent on a confirmed route (0 before).
    pub(crate) seq: u64,
    /// When it was last sent.
    pub(crate) sent_at: u64,
    /// Sent more than once: its confirmation says nothing about the round trip (Karn).
    pub(crate) resent: bool,
    /// When the sender gives up on it.
    pub(crate) deadline: Option<u64>,
}

impl Pending {
    /// A message not sent yet, held since `sent_at`; its body is given to [`Outbox::push`].
    pub(crate) fn new(id: MessageId, sent_at: u64, deadline: Option<u64>) -> Pending {
        Pending {
            id,
            at: 0,
            len: 0,
            seq: 0,
            sent_at,
            resent: false,
            deadline,
        }
    }
}

/// This agent's messages for one destination: confirmed-mode messages in flight (numbered, at
/// the front, in number order), then messages not sent yet.
#[derive(Debug)]
pub(crate) struct Outbox {
    /// The destination.
    pub(crate) to: Box<str>,
    queue: VecDeque<Pending>,
    /// The bodies of the messages in `queue`, back to back in queue order, possibly after some
    /// of messages already gone. One buffer for every body, reused as the stream flows, rather
    /// than one allocation per message.
    bodies: String,
    /// Offset, since the outbox began, of the first byte of `bodies`.
    bodies_at: u64,
    /// Messages at the front that carry a number.
    numbered: usize,
    /// Of those, how many were sent since the last go-back.
    sent: usize,
    next_seq: u64,
    srtt: Option<u64>,
    rttvar: u64,
    /// The current retransmission timeout, ms.
    pub(crate) rto: u64,
    /// When unconfirmed messages are resent, if any are in flight.
    pub(crate) rto_at: Option<u64>,
    /// The deadline of the timer armed for this outbox, if one is.
    pub(crate) timer_at: Option<u64>,
    /// Tells this outbox apart from earlier ones in the same slot, for stale timers.
    pub(crate) serial: u64,
}

impl Outbox {
    /// An empty outbox for `to`, numbering from `first`. Within one incarnation, a new stream
    /// to a destination must start above every number an earlier one used: the destination
    /// may still remember the earlier stream, and the base of the first message tells it to
    /// skip ahead (safe, since an outbox is only dropped once everything in it is confirmed).
    pub(crate) fn new(to: &str, serial: u64, first: u64) -> Outbox {
        Outbox {
            to: to.into(),
            queue: VecDeque::new(),
            bodies: String::new(),
            bodies_at: 0,
            numbered: 0,
            sent: 0,
            next_seq: first.max(1),
            srtt: None,
            rttvar: 0,
            rto: INITIAL_RTO,
            rto_at: None,
            timer_at: None,
            serial,
        }
    }

    /// Messages held, sent or not.
    pub(crate) fn len(&self) -> usize {
        self.queue.len()
    }

    /// Whether nothing is held.
    pub(crate) fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Messages sent on a confirmed route and not confirmed yet.
    pub(crate) fn in_flight(&self) -> usize {
        self.numbered
    }

    /// Whether every message held has been sent since the last go-back.
    pub(crate) fn all_sent(&self) -> bool {
        self.sent == self.queue.len()
    }

    /// The number the next new message will get.
    pub(crate) fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Adds a message at the back, with its body (valid JSON).
    pub(crate) fn push(&mut self, mut p: Pending, body: &str) {
        // Drop the bodies of messages gone from the front once they are at least half the
        // store: each byte is moved at most once on average, and the store stays within twice
        // what is held.
        let live = self
            .queue
            .front()
            .map_or(self.bodies.len(), |f| (f.at - self.bodies_at) as usize);
        if live > 0 && live >= self.bodies.len() / 2 {
            self.bodies.drain(..live);
            self.bodies_at += live as u64;
        }
        p.at = self.bodies_at + self.bodies.len() as u64;
        p.len = body.len();
        self.bodies.push_str(body);
        self.queue.push_back(p);
    }

    /// The body of `p`, a message of this outbox.
    pub(crate) fn body(&self, p: &Pending) -> &str {
        let start = p.at.saturating_sub(self.bodies_at) as usize;
        self.bodies.get(start..start + p.len).unwrap_or_default()
    }

    /// The lowest number not confirmed: what a destination without memory starts from.
    pub(crate) fn base(&self) -> u64 {
        self.queue
            .front()
            .filter(|p| p.seq != 0)
            .map_or(self.next_seq, |p| p.seq)
    }

    /// The next message to send on a confirmed route, if the window allows one: first those to
    /// resend after a go-back, then new ones (numbered now). Marks it sent at `now`.
    pub(crate) fn next_confirmed(
        &mut self,
        window: usize,
        now: u64,
    ) -> Option<(&Pending, &str, u64)> {
        let i = if self.sent < self.numbered {
            self.sent
        } else if self.numbered < self.queue.len() && self.numbered < window {
            let p = &mut self.queue[self.numbered];
            p.seq = self.next_seq;
            self.next_seq += 1;
            self.numbered += 1;
            self.numbered - 1
        } else {
            return None;
        };
        self.sent += 1;
        if self.rto_at.is_none() {
            self.rto_at = Some(now + self.rto);
        }
        let p = &mut self.queue[i];
        p.sent_at = now;
        let p = &self.queue[i];
        Some((p, self.body(p), p.seq))
    }

    /// Takes the front message to send without confirmation (over a route that cannot
    /// confirm). Only when nothing numbered is in flight, which keeps the order.
    pub(crate) fn pop_unconfirmed(&mut self) -> Option<(Pending, &str)> {
        if self.numbered > 0 {
            return None;
        }
        let p = self.queue.pop_front()?;
        self.sent = self.sent.saturating_sub(1);
        // The body stays in the store until a later push drops it.
        let body = self.body(&p);
        Some((p, body))
    }

    /// Applies a cumulative confirmation of every number up to `upto`; appends the ids newly
    /// confirmed to `done`, in order.
    pub(crate) fn confirm(&mut self, upto: u64, now: u64, done: &mut Vec<MessageId>) {
        let mut sample = None;
        while self.numbered > 0 && self.queue.front().is_some_and(|p| p.seq <= upto) {
            let Some(p) = self.queue.pop_front() else {
                break;
            };
            self.numbered -= 1;
            self.sent = self.sent.saturating_sub(1);
            if !p.resent {
                sample = Some(now.saturating_sub(p.sent_at));
            }
            done.push(p.id);
        }
        if done.is_empty() {
            return;
        }
        if let Some(rtt) = sample {
            // Jacobson/Karels, in whole milliseconds.
            match self.srtt {
                None => {
                    self.srtt = Some(rtt);
                    self.rttvar = rtt / 2;
                }
                Some(srtt) => {
                    self.rttvar = (3 * self.rttvar + srtt.abs_diff(rtt)) / 4;
                    self.srtt = Some((7 * srtt + rtt) / 8);
                }
            }
        }
        self.rto = self
            .srtt
            .map_or(INITIAL_RTO, |s| s + 4 * self.rttvar)
            .clamp(MIN_RTO, MAX_RTO);
        self.rto_at = (self.numbered > 0).then_some(now + self.rto);
    }

    /// Resends everything unconfirmed from the front, at the next sends.
    pub(crate) fn go_back(&mut self) {
        self.sent = 0;
        for p in self.queue.iter_mut().take(self.numbered) {
            p.resent = true;
        }
    }

    /// The retransmission timer fired at `now`: go back, and back off.
    pub(crate) fn timed_out(&mut self, now: u64) {
        self.go_back();
        self.rto = (self.rto * 2).min(MAX_RTO);
        self.rto_at = (self.numbered > 0).then_some(now + self.rto);
    }

    /// Gives up on messages at the front whose deadline has passed; appends their ids to
    /// `expired`. Only from the front, so that what remains is still a contiguous stream.
    pub(crate) fn expire(&mut self, now: u64, expired: &mut Vec<MessageId>) {
        while self
            .queue
            .front()
            .is_some_and(|p| p.deadline.is_some_and(|d| d <= now))
        {
            let Some(p) = self.queue.pop_front() else {
                break;
            };
            if p.seq != 0 {
                self.numbered -= 1;
            }
            self.sent = self.sent.saturating_sub(1);
            expired.push(p.id);
        }
        if self.numbered == 0 {
            self.rto_at = None;
        }
    }

    /// Gives up on every message held (the agent is shutting down); appends their ids to
    /// `gone`, in the order they were sent.
    pub(crate) fn clear(&mut self, gone: &mut Vec<MessageId>) {
        gone.extend(self.queue.drain(..).map(|p| p.id));
        self.bodies.clear();
        self.numbered = 0;
        self.sent = 0;
        self.rto_at = None;
    }

    /// The next time this outbox needs attention: a resend, or a deadline at the front.
    pub(crate) fn due(&self) -> Option<u64> {
        let deadline = self.queue.front().and_then(|p| p.deadline);
        match (self.rto_at, deadline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

/// What a destination does with a numbered message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// The next one expected: hand it over.
    Deliver,
    /// Already handed over: drop it, but confirm again (the confirmation may have been lost).
    Duplicate,
    /// Ahead of the next one expected (an earlier one is missing): drop it; the sender will
    /// resend both in order.
    Ahead,
    /// From an earlier incarnation of the origin: drop it silently.
    Stale,
}

/// A destination's memory of one origin's stream.
///
/// The origin's incarnation comes with each message, from whoever relayed it: a relay could
/// claim a later one than the origin's and make the origin's real stream look stale. The core
/// refuses a relayed message whose incarnation is above the one the origin's description
/// states; and because that description could itself have been forged (at the top of the
/// number space, where it lasts until it is forgotten), a stream whose incarnation a
/// description stated is given up for a lower one once the origin's description states the
/// lower one: the one that stated it is gone, and the origin never said it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Inbox {
    /// The origin's incarnation.
    pub(crate) inc: u64,
    /// The next number expected.
    pub(crate) next: u64,
    /// Last used, for evicting the least recently used when the table is full.
    pub(crate) used: u64,
    /// A confirmation is owed.
    pub(crate) ack_due: bool,
    /// The origin's description stated an incarnation at least `inc` while this stream was
    /// in it.
    pub(crate) vouched: bool,
}

impl Inbox {
    /// Memory of a stream first seen with `seq`; `described` is the incarnation the origin's
    /// description states, if one is held.
    pub(crate) fn new(seq: Seq, now: u64, described: Option<u64>) -> Inbox {
        Inbox {
            inc: seq.inc,
            next: seq.base.max(1),
            used: now,
            ack_due: false,
            vouched: described.is_some_and(|d| seq.inc <= d),
        }
    }

    /// Decides what to do with a message numbered `seq`. `described` gives the incarnation
    /// the origin's description states, if one is held; it is asked only when it matters
    /// (not for the next message of a stream already vouched for).
    pub(crate) fn accept(
        &mut self,
        seq: Seq,
        now: u64,
        described: impl Fn() -> Option<u64>,
    ) -> Verdict {
        self.used = now;
        if seq.inc < self.inc {
            // A stream in an incarnation its origin's description once stated, and no
            // longer does, was never the origin's: the lower one is.
            let disowned = self.vouched && described().is_some_and(|d| d < self.inc);
            if !disowned {
                return Verdict::Stale;
            }
            *self = Inbox::new(seq, now, described());
        } else if seq.inc > self.inc {
            // The origin restarted: a new stream.
            *self = Inbox::new(seq, now, described());
        } else if !self.vouched {
            self.vouched = described().is_some_and(|d| self.inc <= d);
        }
        // Everything below the base is settled at the origin; waiting for it would be forever.
        self.next = self.next.max(seq.base);
        self.ack_due = true;
        if seq.seq == self.next {
            // A stream at the end of the number space takes nothing more (the wire refuses
            // numbers above 2^53, so this never happens between agents).
            match self.next.checked_add(1) {
                Some(next) => self.next = next,
                None => return Verdict::Ahead,
            }
            Verdict::Deliver
        } else if seq.seq < self.next {
            Verdict::Duplicate
        } else {
            Verdict::Ahead
        }
    }

    /// The cumulative confirmation to send: every number up to this one was handed over.
    pub(crate) fn confirmed(&self) -> u64 {
        self.next.saturating_sub(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outbox_with(n: u64) -> Outbox {
        let mut o = Outbox::new("B", 0, 1);
        for i in 0..n {
            o.push(Pending::new(MessageId(i), 0, None), &i.to_string());
        }
        o
    }

    fn send_all(o: &mut Outbox, window: usize, now: u64) -> Vec<u64> {
        std::iter::from_fn(|| o.next_confirmed(window, now).map(|(_, _, s)| s)).collect()
    }

    #[test]
    fn bodies_share_one_store_that_stays_proportionate() {
        let mut o = Outbox::new("B", 0, 1);
        let mut done = Vec::new();
        for i in 0..10_000u64 {
            let body = format!("[{i},\"{}\"]", "x".repeat((i % 7) as usize));
            o.push(Pending::new(MessageId(i), 0, None), &body);
            let (p, sent, _) = o.next_confirmed(16, i).unwrap();
            assert_eq!((p.id, sent), (MessageId(i), &*body));
            if i % 5 == 4 {
                // Everything held is still there, in order.
                let held: Vec<String> = o.queue.iter().map(|p| o.body(p).to_owned()).collect();
                for (k, b) in held.iter().enumerate() {
                    let n = i + 1 - held.len() as u64 + k as u64;
                    assert!(b.starts_with(&format!("[{n},")), "{b} for {n}");
                }
                o.confirm(o.next_seq() - 1, i, &mut done);
            }
            assert!(o.bodies.len() <= 2 * 5 * 15 + 15, "{}", o.bodies.len());
        }
        assert_eq!(done.len(), 10_000);
        o.push(Pending::new(MessageId(0), 0, None), "null");
        assert_eq!(
            o.pop_unconfirmed().map(|(p, b)| (p.id, b)),
            Some((MessageId(0), "null"))
        );
    }

    #[test]
    fn numbers_within_the_window_and_confirms_cumulatively() {
        let mut o = outbox_with(5);
        assert_eq!(send_all(&mut o, 3, 10), [1, 2, 3]);
        assert_eq!((o.in_flight(), o.base()), (3, 1));
        let mut done = Vec::new();
        o.confirm(2, 30, &mut done);
        assert_eq!(done, [MessageId(0), MessageId(1)]);
        assert_eq!(o.base(), 3);
        assert_eq!(send_all(&mut o, 3, 31), [4, 5]);
        done.clear();
        o.confirm(99, 40, &mut done);
        assert_eq!(done.len(), 3);
        assert!(o.is_empty() && o.rto_at.is_none());
        assert_eq!(o.base(), 6);
    }

    #[test]
    fn going_back_resends_the_same_numbers_in_order() {
        let mut o = outbox_with(4);
        assert_eq!(send_all(&mut o, 10, 0), [1, 2, 3, 4]);
        let mut done = Vec::new();
        o.confirm(1, 5, &mut done);
        o.go_back();
        assert_eq!(send_all(&mut o, 10, 6), [2, 3, 4]);
        assert!(o.all_sent());
    }

    #[test]
    fn timeouts_back_off_and_measured_round_trips_bring_them_down() {
        let mut o = outbox_with(3);
        send_all(&mut o, 1, 0);
        assert_eq!(o.rto_at, Some(INITIAL_RTO));
        o.timed_out(INITIAL_RTO);
        assert_eq!(o.rto, 2 * INITIAL_RTO);
        // The resent message's confirmation is no sample (Karn): the timeout keeps its floor.
        assert_eq!(send_all(&mut o, 1, 600), [1]);
        let mut done = Vec::new();
        o.confirm(1, 610, &mut done);
        assert_eq!(o.rto, INITIAL_RTO, "no sample yet: the initial value");
        send_all(&mut o, 1, 700);
        o.confirm(2, 702, &mut done);
        assert_eq!(o.rto, MIN_RTO, "a 2 ms round trip: the floor");
    }

    #[test]
    fn a_later_stream_to_the_same_destination_is_not_taken_for_the_earlier_one() {
        let mut first = outbox_with(3);
        send_all(&mut first, 10, 0);
        let mut done = Vec::new();
        first.confirm(3, 1, &mut done);
        let mut dest = Inbox::new(seq(7, 1, 1), 0, None);
        for s in 1..=3 {
            assert_eq!(dest.accept(seq(7, s, 1), 0, || None), Verdict::Deliver);
        }
        // The first outbox emptied and was dropped; the next one starts above its numbers.
        let mut second = Outbox::new("B", 1, first.next_seq());
        second.push(Pending::new(MessageId(9), 0, None), "1");
        let base = second.base();
        let (_, _, s) = second.next_confirmed(10, 2).unwrap();
        assert_eq!((s, base), (4, 4));
        assert_eq!(dest.accept(seq(7, s, base), 2, || None), Verdict::Deliver);
    }

    #[test]
    fn unconfirmed_sends_wait_behind_numbered_ones() {
        let mut o = outbox_with(3);
        send_all(&mut o, 1, 0);
        assert!(o.pop_unconfirmed().is_none());
        let mut done = Vec::new();
        o.confirm(1, 1, &mut done);
        assert_eq!(
            o.pop_unconfirmed().map(|(p, body)| (p.id, body)),
            Some((MessageId(1), "1"))
        );
    }

    #[test]
    fn deadlines_expire_from_the_front_only() {
        let mut o = outbox_with(0);
        for (i, d) in [(0, 50), (1, 10), (2, 10)] {
            o.push(Pending::new(MessageId(i), 0, Some(d)), "1");
        }
        let mut gone = Vec::new();
        o.expire(20, &mut gone);
        assert!(gone.is_empty(), "the front is not due yet");
        o.expire(50, &mut gone);
        assert_eq!(gone, [MessageId(0), MessageId(1), MessageId(2)]);
    }

    fn seq(inc: u64, seq: u64, base: u64) -> Seq {
        Seq { inc, seq, base }
    }

    #[test]
    fn a_destination_hands_over_in_order_exactly_once() {
        let mut i = Inbox::new(seq(7, 1, 1), 0, None);
        assert_eq!(i.accept(seq(7, 1, 1), 0, || None), Verdict::Deliver);
        assert_eq!(i.accept(seq(7, 3, 1), 0, || None), Verdict::Ahead);
        assert_eq!(i.accept(seq(7, 1, 1), 0, || None), Verdict::Duplicate);
        assert_eq!(i.accept(seq(7, 2, 1), 0, || None), Verdict::Deliver);
        assert_eq!(i.accept(seq(7, 3, 1), 0, || None), Verdict::Deliver);
        assert_eq!(i.confirmed(), 3);
    }

    #[test]
    fn a_fresh_destination_starts_at_the_base_and_a_restarted_origin_starts_over() {
        let mut i = Inbox::new(seq(7, 40, 38), 0, None);
        assert_eq!(i.accept(seq(7, 40, 38), 0, || None), Verdict::Ahead);
        assert_eq!(i.accept(seq(7, 38, 38), 0, || None), Verdict::Deliver);
        assert_eq!(
            i.accept(seq(8, 1, 1), 0, || None),
            Verdict::Deliver,
            "new incarnation"
        );
        assert_eq!(i.accept(seq(7, 39, 38), 0, || None), Verdict::Stale);
        assert_eq!(i.confirmed(), 1);
    }

    #[test]
    fn a_stream_at_the_end_of_the_number_space_takes_nothing_more() {
        let top = crate::wire::MAX_NUMBER;
        let mut i = Inbox::new(seq(7, top, top), 0, None);
        assert_eq!(i.accept(seq(7, top, top), 0, || None), Verdict::Deliver);
        assert_eq!(i.confirmed(), top);
        // Numbers the wire refuses, met all the same: no overflow, nothing handed over.
        let mut i = Inbox::new(seq(7, u64::MAX, u64::MAX), 0, None);
        assert_eq!(
            i.accept(seq(7, u64::MAX, u64::MAX), 0, || None),
            Verdict::Ahead
        );
        assert_eq!(i.accept(seq(7, 1, 0), 0, || None), Verdict::Duplicate);
        assert_eq!(i.confirmed(), u64::MAX - 1);
    }

    #[test]
    fn a_stream_in_an_incarnation_no_description_states_any_more_gives_way_to_the_origins() {
        let top = crate::wire::MAX_NUMBER;
        // A forged description states the top incarnation, and a relay puts a message there.
        let mut i = Inbox::new(seq(top, top, top), 0, Some(top));
        assert_eq!(
            i.accept(seq(top, top, top), 0, || Some(top)),
            Verdict::Deliver
        );
        // The origin's own stream is stale while that description is held...
        assert_eq!(i.accept(seq(7, 1, 1), 1, || Some(top)), Verdict::Stale);
        // ...and takes over once the origin's own description is back.
        assert_eq!(i.accept(seq(7, 1, 1), 2, || Some(7)), Verdict::Deliver);
        assert_eq!((i.inc, i.confirmed()), (7, 1));
        assert_eq!(
            i.accept(seq(top, top, top), 3, || Some(7)),
            Verdict::Deliver,
            "a new incarnation as ever (the core refuses it: above the description)"
        );
    }

    #[test]
    fn a_stream_no_description_stated_is_not_given_up_for_a_lower_incarnation() {
        // A restarted origin's first messages, straight from it, before its new description.
        let mut i = Inbox::new(seq(9, 1, 1), 0, Some(5));
        assert!(!i.vouched);
        assert_eq!(i.accept(seq(9, 1, 1), 0, || Some(5)), Verdict::Deliver);
        // A late message of its previous run is stale, as it always was.
        assert_eq!(i.accept(seq(5, 40, 40), 1, || Some(5)), Verdict::Stale);
        // Once the new description is in, the stream is vouched for.
        assert_eq!(i.accept(seq(9, 2, 1), 2, || Some(9)), Verdict::Deliver);
        assert!(i.vouched);
    }
}
