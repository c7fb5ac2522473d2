//! Time inside the core: the node's clock (ticks of a millisecond since its start, from the
//! instants the caller passes in) and its timers, one wheel for every concern.
//!
//! This module owns the [`Clock`], the [`Timer`] payloads and the [`Timers`] wheel, and
//! dispatches a fired timer to the concern that armed it. Timers are cancelled lazily: each
//! payload carries what its concern needs to recognise a stale one (a link's serial, a dial's
//! attempt, an outbox's serial, a throttle's tick), and the concern decides. It never reads
//! the system clock, and it must not decide what a timer means: that is the arming concern's.

use std::time::{Duration, Instant};

use crate::timer::TimerWheel;
use crate::{ConnectId, LinkId};

use super::Node;

/// What [`Clock::instant`] gives for a tick too far off for an `Instant`: about a century.
const FAR: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// Ticks (ms) in a duration, at most `u64::MAX`: an option of `Duration::MAX` means "never",
/// and every deadline made from one saturates rather than wraps.
pub(super) fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// The node's clock: the latest instant seen, as ticks since the node's start. It never goes
/// back, even if the caller's instants do.
#[derive(Debug)]
pub(super) struct Clock {
    epoch: Instant,
    now: u64,
}

impl Clock {
    /// A clock starting at `epoch`.
    pub(super) fn new(epoch: Instant) -> Clock {
        Clock { epoch, now: 0 }
    }

    /// Moves the clock to `now` (unless it is earlier than what was seen) and returns the tick.
    pub(super) fn tick(&mut self, now: Instant) -> u64 {
        let t = self.ticks(now);
        self.now = self.now.max(t);
        self.now
    }

    /// The latest tick seen.
    pub(super) fn now(&self) -> u64 {
        self.now
    }

    /// `at` as ticks since the start, without moving the clock (a deadline, say).
    pub(super) fn ticks(&self, at: Instant) -> u64 {
        ms(at.saturating_duration_since(self.epoch))
    }

    /// The instant of tick `t`; past what the platform's `Instant` holds (a timer armed from a
    /// `Duration::MAX` option), the farthest instant it does hold within a century or so.
    pub(super) fn instant(&self, t: u64) -> Instant {
        self.epoch
            .checked_add(Duration::from_millis(t))
            .or_else(|| self.epoch.checked_add(FAR))
            .unwrap_or(self.epoch)
    }
}

/// What a timer is for, and how its concern tells whether it is stale.
#[derive(Debug, Clone, Copy)]
pub(super) enum Timer {
    /// The link must have said hello by now.
    Hello { link: LinkId, serial: u64 },
    /// The link's database exchange counts as complete by now.
    Sync { link: LinkId, serial: u64 },
    /// The link's keepalive: ping after silence, close after an unanswered ping.
    Ping { link: LinkId, serial: u64 },
    /// A scheduled reconnection.
    Reconnect { connect: ConnectId, attempt: u64 },
    /// An outbox's next resend or deadline.
    Outbox { slot: usize, serial: u64 },
    /// Descriptions of agents nobody reaches may be forgotten.
    Purge,
    /// Descriptions nobody superseded within their lifetime may be forgotten.
    Expire,
    /// This agent's own description is due for a refresh, or (outranked) a re-flood, at this
    /// tick.
    Refresh { at: u64 },
    /// The hold-down or gathering time before the next shortest-path computation ends at this
    /// tick.
    Paths { at: u64 },
    /// The hold-down or gathering time of this agent's own description ends at this tick.
    Own { at: u64 },
    /// A shutdown's deadline.
    Shutdown,
}

/// Every timer the node armed, live or stale.
#[derive(Debug)]
pub(super) struct Timers {
    wheel: TimerWheel<Timer>,
    /// Reused to hand out what fell due.
    fired: Vec<Timer>,
}

impl Timers {
    pub(super) fn new() -> Timers {
        Timers {
            wheel: TimerWheel::new(256, 0),
            fired: Vec::new(),
        }
    }

    /// Arms `timer` for tick `at`.
    pub(super) fn insert(&mut self, at: u64, timer: Timer) {
        self.wheel.insert(at, timer);
    }

    /// Timers armed, live or stale.
    pub(super) fn len(&self) -> usize {
        self.wheel.len()
    }

    /// The earliest tick a timer is armed for.
    pub(super) fn next_deadline(&self) -> Option<u64> {
        self.wheel.next_deadline()
    }

    /// Everything due by tick `t`, earliest first. Hand the list back with
    /// [`recycle`](Self::recycle) to keep its capacity.
    pub(super) fn expire(&mut self, t: u64) -> Vec<Timer> {
        let mut fired = std::mem::take(&mut self.fired);
        self.wheel.expire(t, &mut fired);
        fired
    }

    /// Takes back the list [`expire`](Self::expire) handed out, drained.
    pub(super) fn recycle(&mut self, fired: Vec<Timer>) {
        self.fired = fired;
    }
}

impl Node {
    /// A timer fired at tick `t`: hands it to its concern, which ignores it if it is stale.
    pub(super) fn on_timer(&mut self, timer: Timer, t: u64) {
        match timer {
            Timer::Hello { link, serial } => self.hello_due(link, serial),
            Timer::Sync { link, serial } => self.sync_due(link, serial),
            Timer::Ping { link, serial } => {
                if self.links.serial(link) == Some(serial) {
                    self.ping_check(link, t);
                }
            }
            Timer::Reconnect { connect, attempt } => self.reconnect_due(connect, attempt),
            Timer::Outbox { slot, serial } => {
                if self.outboxes.get(slot).is_some_and(|o| o.serial == serial) {
                    self.outbox_due(slot, t);
                }
            }
            // The hold-down is over; the commit that follows recomputes.
            Timer::Paths { at } => self.paths.timer_fired(at),
            Timer::Own { at } => self.flooding.own_timer_fired(at),
            Timer::Purge => self.purge_due(t),
            // The commit that follows closes everything.
            Timer::Shutdown => {}
            Timer::Expire => self.expire_due(t),
            Timer::Refresh { at } => self.refresh_fired(at, t),
        }
    }
}
