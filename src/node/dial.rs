//! Dialling and reconnection: each `connect` call is a [`Dial`] that lives as long as the node,
//! through its connections, failures, waits and reconnections.
//!
//! This module owns the dials, their states, the reconnection timers and the jitter that keeps
//! two agents from re-dialling each other in step. It never opens a connection itself (it asks
//! the caller, [`Action::Dial`]) and must not touch a link's state: it only learns that a link
//! of its dial came up or went down.

use crate::{ConnectId, Event, LinkId};

use super::timers::{Timer, Timers, ms};
use super::{Action, Node};

#[derive(Debug, Clone, PartialEq, Eq)]
enum DialState {
    /// The caller is connecting.
    Connecting,
    /// Connected; the link may still be in its hello.
    Linked(LinkId),
    /// A reconnection is scheduled.
    Waiting,
    /// The peer turned out to be linked already by another connection; wake when that link
    /// goes down.
    Dormant(Box<str>),
    /// `disconnect` was called for it.
    Cancelled,
    /// Failed with auto-reconnect off.
    Stopped,
}

/// One `connect` call.
#[derive(Debug)]
struct Dial {
    state: DialState,
    /// Counts scheduled reconnections, so a stale timer can be recognised.
    attempt: u64,
}

/// Every `connect` call made, by id.
#[derive(Debug)]
pub(super) struct Dialler {
    dials: Vec<Dial>,
    /// The reconnection jitter's xorshift state.
    rng: u64,
}

impl Dialler {
    /// No dials yet; the jitter is seeded from `incarnation`.
    pub(super) fn new(incarnation: u64) -> Dialler {
        Dialler {
            dials: Vec::new(),
            rng: incarnation.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1,
        }
    }

    /// A new dial, connecting.
    pub(super) fn add(&mut self) -> ConnectId {
        let id = ConnectId(self.dials.len() as u64);
        self.dials.push(Dial {
            state: DialState::Connecting,
            attempt: 0,
        });
        id
    }

    /// Dials made so far.
    pub(super) fn count(&self) -> usize {
        self.dials.len()
    }

    fn get_mut(&mut self, connect: ConnectId) -> Option<&mut Dial> {
        self.dials.get_mut(connect.0 as usize)
    }

    /// The dial's connection is up as `link`.
    pub(super) fn linked(&mut self, connect: ConnectId, link: LinkId) {
        if let Some(d) = self.get_mut(connect) {
            d.state = DialState::Linked(link);
        }
    }

    /// The dial reached `name`, which is linked already: it sleeps until that link goes.
    pub(super) fn dormant(&mut self, connect: ConnectId, name: &str) {
        if let Some(d) = self.get_mut(connect) {
            d.state = DialState::Dormant(name.into());
        }
    }

    /// Gives up on the dial (auto-reconnect is off).
    fn stop(&mut self, connect: ConnectId) {
        if let Some(d) = self.get_mut(connect) {
            d.state = DialState::Stopped;
        }
    }

    fn is_connecting(&self, connect: ConnectId) -> bool {
        self.dials
            .get(connect.0 as usize)
            .is_some_and(|d| d.state == DialState::Connecting)
    }

    fn is_linked(&self, connect: ConnectId, link: LinkId) -> bool {
        self.dials
            .get(connect.0 as usize)
            .is_some_and(|d| d.state == DialState::Linked(link))
    }

    /// Cancels every dial behind `link` or asleep on `name`: `disconnect` was called for the
    /// peer.
    pub(super) fn cancel_peer(&mut self, link: LinkId, name: &str) {
        for d in &mut self.dials {
            match &d.state {
                DialState::Linked(l) if *l == link => d.state = DialState::Cancelled,
                DialState::Dormant(n) if **n == *name => d.state = DialState::Cancelled,
                _ => {}
            }
        }
    }

    /// Cancels the dial; returns the link it had, if it was linked, or `None` if no such dial
    /// was ever made.
    pub(super) fn cancel(&mut self, connect: ConnectId) -> Option<Option<LinkId>> {
        let d = self.get_mut(connect)?;
        let old = std::mem::replace(&mut d.state, DialState::Cancelled);
        Some(match old {
            DialState::Linked(link) => Some(link),
            _ => None,
        })
    }

    /// A reconnection timer fired: whether to dial again (the dial did not move on since).
    fn redial(&mut self, connect: ConnectId, attempt: u64) -> bool {
        match self.get_mut(connect) {
            Some(d) if d.state == DialState::Waiting && d.attempt == attempt => {
                d.state = DialState::Connecting;
                true
            }
            _ => false,
        }
    }

    /// Schedules a reconnection `interval` ticks after `t`, plus up to half of it more with
    /// `jitter`.
    fn schedule(
        &mut self,
        connect: ConnectId,
        t: u64,
        interval: u64,
        jitter: bool,
        timers: &mut Timers,
    ) {
        let mut delay = interval;
        if jitter {
            // Two agents whose duplicate links both closed would otherwise re-dial in step.
            delay = delay.saturating_add(self.random() % (delay / 2 + 1));
        }
        let Some(d) = self.get_mut(connect) else {
            return;
        };
        d.state = DialState::Waiting;
        d.attempt += 1;
        let attempt = d.attempt;
        timers.insert(
            t.saturating_add(delay),
            Timer::Reconnect { connect, attempt },
        );
    }

    /// The dials asleep on `name`.
    fn dormant_on(&self, name: &str) -> Vec<ConnectId> {
        self.dials
            .iter()
            .enumerate()
            .filter(|(_, d)| matches!(&d.state, DialState::Dormant(n) if **n == *name))
            .map(|(i, _)| ConnectId(i as u64))
            .collect()
    }

    fn random(&mut self) -> u64 {
        // xorshift64: reconnection jitter needs no more, and stays reproducible from the seed.
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        self.rng
    }
}

impl Node {
    /// A connection attempt for `connect` failed at tick `t`: retried after the interval, if
    /// reconnecting is on, and reported.
    pub(super) fn connect_failed(&mut self, connect: ConnectId, error: String, t: u64) {
        if !self.dialler.is_connecting(connect) {
            return;
        }
        let retry_in = self
            .opts
            .auto_reconnect
            .then_some(self.opts.auto_reconnect_interval);
        if retry_in.is_some() {
            self.schedule_reconnect(connect, t, false);
        } else {
            self.dialler.stop(connect);
        }
        self.events.push_back(Event::ConnectFailed {
            connect,
            error,
            retry_in,
        });
    }

    /// The link of dial `connect` went down: reconnect, or stop if reconnecting is off. A dial
    /// that moved on (cancelled, or gone dormant on a duplicate) stays as it is.
    pub(super) fn dialled_link_down(&mut self, connect: ConnectId, link: LinkId) {
        let t = self.clock.now();
        if self.dialler.is_linked(connect, link) {
            if self.opts.auto_reconnect {
                self.schedule_reconnect(connect, t, false);
            } else {
                self.dialler.stop(connect);
            }
        }
    }

    /// A reconnection timer fired: dial again, unless the dial moved on since it was armed.
    pub(super) fn reconnect_due(&mut self, connect: ConnectId, attempt: u64) {
        if self.dialler.redial(connect, attempt) {
            self.actions.push_back(Action::Dial(connect));
        }
    }

    /// The direct link to `name` is gone: dials that found it linked already wake, with
    /// jitter.
    pub(super) fn wake_dormant(&mut self, name: &str) {
        let t = self.clock.now();
        for c in self.dialler.dormant_on(name) {
            self.schedule_reconnect(c, t, true);
        }
    }

    fn schedule_reconnect(&mut self, connect: ConnectId, t: u64, jitter: bool) {
        let interval = ms(self.opts.auto_reconnect_interval);
        self.dialler
            .schedule(connect, t, interval, jitter, &mut self.timers);
    }
}
