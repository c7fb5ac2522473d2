//! Dialling and reconnection: each `connect` call is a [`Dial`] that lives as long as the node,
//! through its connections, failures, waits and reconnections.
//!
//! This module owns the dials, their states, the count of failures in a row that the
//! [`Backoff`] turns into a wait, the reconnection timers, and the generator behind the jitter
//! that keeps agents from re-dialling in step (seeded by the incarnation: the core has no
//! other randomness, and a simulated run replays). A failure is a connection refused or one
//! that closed before its hello; a link that completes its hello is a success and starts the
//! count again. It never opens a connection itself (it asks the caller, [`Action::Dial`]) and
//! must not touch a link's state: it only learns that a link of its dial came up, said hello,
//! or went down.

use std::time::Duration;

use crate::{ConnectId, Event, LinkDownReason, LinkId};

use super::backoff::Backoff;
use super::timers::{Timer, Timers};
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
    /// It reached this agent itself: dialling it again would only reach it again.
    ReachedSelf,
}

/// One `connect` call.
#[derive(Debug)]
struct Dial {
    state: DialState,
    /// Counts scheduled reconnections, so a stale timer can be recognised.
    attempt: u64,
    /// Attempts in a row that failed (refused, or closed before the hello) since the last
    /// link that said hello.
    failures: u32,
}

/// Why a reconnection is scheduled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Retry {
    /// An attempt failed, or the link went down: the back-off decides.
    Failed,
    /// The dial slept while its peer was linked by another connection, and that link went:
    /// the interval, plus up to half of it more, so that two agents whose duplicate links
    /// both closed do not re-dial in step.
    Woken,
}

/// Every `connect` call made, by id.
#[derive(Debug)]
pub(super) struct Dialler {
    dials: Vec<Dial>,
    backoff: Backoff,
    /// The reconnection jitter's xorshift state.
    rng: u64,
}

impl Dialler {
    /// No dials yet; waits follow `backoff`, and the jitter is seeded from `incarnation`.
    pub(super) fn new(incarnation: u64, backoff: Backoff) -> Dialler {
        Dialler {
            dials: Vec::new(),
            backoff,
            rng: incarnation.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1,
        }
    }

    /// A new dial, connecting.
    pub(super) fn add(&mut self) -> ConnectId {
        let id = ConnectId(self.dials.len() as u64);
        self.dials.push(Dial {
            state: DialState::Connecting,
            attempt: 0,
            failures: 0,
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

    /// The dial's link said hello: the address works, and the next failure waits the
    /// interval again.
    pub(super) fn succeeded(&mut self, connect: ConnectId) {
        if let Some(d) = self.get_mut(connect) {
            d.failures = 0;
        }
    }

    /// The dial reached `name`, which is linked already: it sleeps until that link goes.
    pub(super) fn dormant(&mut self, connect: ConnectId, name: &str) {
        if let Some(d) = self.get_mut(connect) {
            d.state = DialState::Dormant(name.into());
            d.failures = 0;
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

    /// The dial reached this agent itself: it stops for good. Returns `None` unless it was
    /// connecting or linked (a dial cancelled or stopped meanwhile stays so), else the link it
    /// had, if any.
    fn reached_self(&mut self, connect: ConnectId) -> Option<Option<LinkId>> {
        let d = self.get_mut(connect)?;
        let link = match d.state {
            DialState::Connecting => None,
            DialState::Linked(link) => Some(link),
            _ => return None,
        };
        d.state = DialState::ReachedSelf;
        Some(link)
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

    /// Schedules a reconnection after tick `t`; returns the wait, in ticks.
    fn schedule(&mut self, connect: ConnectId, t: u64, retry: Retry, timers: &mut Timers) -> u64 {
        let random = self.random();
        let backoff = self.backoff;
        let Some(d) = self.get_mut(connect) else {
            return 0;
        };
        let wait = match retry {
            Retry::Failed => {
                d.failures = d.failures.saturating_add(1);
                backoff.wait(d.failures, random)
            }
            Retry::Woken => {
                let interval = backoff.wait(1, random);
                interval.saturating_add(random % (interval / 2 + 1))
            }
        };
        d.state = DialState::Waiting;
        d.attempt += 1;
        let attempt = d.attempt;
        timers.insert(
            t.saturating_add(wait),
            Timer::Reconnect { connect, attempt },
        );
        wait
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
    /// A connection attempt for `connect` failed at tick `t`: retried after the back-off, if
    /// reconnecting is on, and reported with the wait.
    pub(super) fn connect_failed(&mut self, connect: ConnectId, error: String, t: u64) {
        if !self.dialler.is_connecting(connect) {
            return;
        }
        let retry_in = self.retry_after_failure(connect, t);
        self.events.push_back(Event::ConnectFailed {
            connect,
            error,
            retry_in,
        });
    }

    /// Dial `connect` failed at tick `t`: the wait before it is tried again after the
    /// back-off, or none (it stops) if reconnecting is off.
    fn retry_after_failure(&mut self, connect: ConnectId, t: u64) -> Option<Duration> {
        if !self.opts.auto_reconnect {
            self.dialler.stop(connect);
            return None;
        }
        let wait = self
            .dialler
            .schedule(connect, t, Retry::Failed, &mut self.timers);
        Some(Duration::from_millis(wait))
    }

    /// Dial `connect` reached this agent itself (its caller saw the connection arrive): it
    /// stops for good, its link (if it was reported up) closes, and it is reported once, with
    /// `error` and no retry.
    pub(super) fn dialled_self(&mut self, connect: ConnectId, error: String) {
        let Some(link) = self.dialler.reached_self(connect) else {
            return;
        };
        if let Some(link) = link {
            self.close_link(link, LinkDownReason::Disconnected);
        }
        self.events.push_back(Event::ConnectFailed {
            connect,
            error,
            retry_in: None,
        });
    }

    /// The link of dial `connect` went down: reconnect after the back-off (the interval, if
    /// the link had said hello), or stop if reconnecting is off. A dial that moved on
    /// (cancelled, or gone dormant on a duplicate) stays as it is.
    ///
    /// A link that went down before its hello (`before_hello` says why) is a failed
    /// attempt, and the [`Event::ConnectFailed`] that reports it is returned, for the caller
    /// to push after the link's own `LinkDown`: without it, an agent whose peer turns it away
    /// before any hello (a secure agent refusing a plain one, say) would see its dial fail and
    /// back off in silence.
    pub(super) fn dialled_link_down(
        &mut self,
        connect: ConnectId,
        link: LinkId,
        before_hello: Option<&LinkDownReason>,
    ) -> Option<Event> {
        let t = self.clock.now();
        if !self.dialler.is_linked(connect, link) {
            return None;
        }
        let retry_in = self.retry_after_failure(connect, t);
        let error = |reason: &LinkDownReason| {
            if reason.is_error() {
                format!("the link failed before its hello: {reason}")
            } else {
                format!(
                    "the connection closed before its hello ({reason}): the peer may have \
                     turned this agent away (a secure agent refuses plain ones, and says why in \
                     its own log), or not be a secretagent agent"
                )
            }
        };
        before_hello.map(|reason| Event::ConnectFailed {
            connect,
            error: error(reason),
            retry_in,
        })
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
            self.dialler.schedule(c, t, Retry::Woken, &mut self.timers);
        }
    }
}
