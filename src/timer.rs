//! A hashed timer wheel over millisecond ticks, holding small `Copy` payloads.
//!
//! This module owns deadline bookkeeping only: it never reads a clock (the caller passes the
//! current tick) and it does not know what a payload means. Cancellation is lazy: whoever
//! armed a timer checks, when it fires, whether it still matters. The core keeps at most a
//! couple of live entries per link or destination, so stale entries stay few.
//!
//! Inserting is O(1); expiring visits only the slots of the ticks that passed (or each slot
//! once after a long sleep); the earliest deadline is cached and recomputed only after the
//! entry that held it fires.

use std::cell::Cell;

/// A hashed timer wheel. Ticks are whatever unit the caller counts in (the core uses ms).
#[derive(Debug)]
pub(crate) struct TimerWheel<T> {
    /// Each entry: deadline, insertion number (orders entries due at the same tick), payload.
    slots: Vec<Vec<(u64, u64, T)>>,
    /// Reused by `expire` to sort what fell due.
    due: Vec<(u64, u64, T)>,
    inserted: u64,
    /// The last tick `expire` processed; every entry is due strictly after it.
    now: u64,
    len: usize,
    /// The earliest deadline, when known; `None` with `len > 0` means "recompute". A `Cell` so
    /// that asking for the next deadline needs no `&mut`.
    earliest: Cell<Option<u64>>,
}

impl<T: Copy> TimerWheel<T> {
    /// A wheel of `slots` slots (rounded up to a power of two), starting at tick `now`.
    pub(crate) fn new(slots: usize, now: u64) -> TimerWheel<T> {
        let n = slots.max(1).next_power_of_two();
        TimerWheel {
            slots: (0..n).map(|_| Vec::new()).collect(),
            due: Vec::new(),
            inserted: 0,
            now,
            len: 0,
            earliest: Cell::new(None),
        }
    }

    /// Entries armed, live or stale.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing is armed.
    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Arms `item` to fire at tick `at`. A deadline already passed fires at the next `expire`.
    pub(crate) fn insert(&mut self, at: u64, item: T) {
        let at = at.max(self.now + 1);
        let mask = self.slots.len() as u64 - 1;
        self.slots[(at & mask) as usize].push((at, self.inserted, item));
        self.inserted += 1;
        self.earliest.set(match (self.len, self.earliest.get()) {
            (0, _) => Some(at),
            (_, Some(e)) => Some(e.min(at)),
            (_, None) => None,
        });
        self.len += 1;
    }

    /// Moves every entry due at or before `now` into `out`, earliest first (entries due at the
    /// same tick keep their insertion order).
    pub(crate) fn expire(&mut self, now: u64, out: &mut Vec<T>) {
        if now <= self.now {
            return;
        }
        if self.len > 0 && self.earliest.get().is_none_or(|e| e <= now) {
            let n = self.slots.len() as u64;
            let ticks = (now - self.now).min(n);
            let mask = n - 1;
            for i in 1..=ticks {
                let slot = &mut self.slots[((self.now + i) & mask) as usize];
                let mut j = 0;
                while j < slot.len() {
                    if slot[j].0 <= now {
                        self.due.push(slot.swap_remove(j));
                    } else {
                        j += 1;
                    }
                }
            }
            if !self.due.is_empty() {
                self.len -= self.due.len();
                self.due.sort_unstable_by_key(|&(at, seq, _)| (at, seq));
                out.extend(self.due.drain(..).map(|(_, _, item)| item));
                self.earliest.set(None);
            }
        }
        self.now = now;
    }

    /// The earliest deadline armed, if any.
    pub(crate) fn next_deadline(&self) -> Option<u64> {
        if self.len == 0 {
            return None;
        }
        if self.earliest.get().is_none() {
            self.earliest
                .set(self.slots.iter().flatten().map(|&(at, _, _)| at).min());
        }
        self.earliest.get()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fires_in_deadline_order_and_not_before() {
        let mut w = TimerWheel::new(8, 0);
        w.insert(5, 'a');
        w.insert(3, 'b');
        w.insert(20, 'c'); // wraps the 8-slot wheel twice
        w.insert(3, 'd');
        assert_eq!(w.next_deadline(), Some(3));
        let mut out = Vec::new();
        w.expire(2, &mut out);
        assert!(out.is_empty());
        w.expire(5, &mut out);
        assert_eq!(out, vec!['b', 'd', 'a']);
        assert_eq!(w.next_deadline(), Some(20));
        out.clear();
        w.expire(19, &mut out);
        assert!(out.is_empty());
        w.expire(1000, &mut out);
        assert_eq!(out, vec!['c']);
        assert!(w.is_empty());
        assert_eq!(w.next_deadline(), None);
    }

    #[test]
    fn past_deadlines_fire_on_the_next_expire() {
        let mut w = TimerWheel::new(4, 100);
        w.insert(50, 1);
        assert_eq!(w.next_deadline(), Some(101));
        let mut out = Vec::new();
        w.expire(101, &mut out);
        assert_eq!(out, vec![1]);
    }

    #[test]
    fn a_long_jump_visits_each_slot_once_and_keeps_later_entries() {
        let mut w = TimerWheel::new(16, 0);
        for i in 0..100u64 {
            w.insert(i * 37 + 1, i);
        }
        let mut out = Vec::new();
        w.expire(1850, &mut out);
        let expect: Vec<u64> = (0..100).filter(|i| i * 37 < 1850).collect();
        assert_eq!(out, expect);
        assert_eq!(w.len(), 100 - expect.len());
        assert_eq!(w.next_deadline(), Some(expect.len() as u64 * 37 + 1));
    }

    #[test]
    fn matches_a_sorted_reference_under_random_use() {
        // A small deterministic generator keeps the test free of dependencies.
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut rnd = move |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        let mut w = TimerWheel::new(32, 0);
        let mut reference: Vec<(u64, u32)> = Vec::new();
        let mut now = 0;
        for id in 0..5000u32 {
            let at = now + rnd(300);
            w.insert(at, id);
            reference.push((at.max(now + 1), id));
            if rnd(3) == 0 {
                now += rnd(100);
                let mut got = Vec::new();
                w.expire(now, &mut got);
                reference.sort_by_key(|&(at, _)| at);
                let split = reference.partition_point(|&(at, _)| at <= now);
                let want: Vec<u32> = reference.drain(..split).map(|(_, id)| id).collect();
                let (mut g, mut wv) = (got.clone(), want.clone());
                g.sort();
                wv.sort();
                assert_eq!(g, wv, "at tick {now}");
                assert_eq!(w.next_deadline(), reference.iter().map(|&(at, _)| at).min());
            }
        }
    }
}
