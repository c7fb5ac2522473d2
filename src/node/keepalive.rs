//! Keepalive: a link silent for `Options::ping_after` is pinged, and closed if nothing at all
//! arrives within `Options::ping_timeout` of the ping. Anything that arrives counts as a sign of life.
//!
//! This module owns each link's [`Keepalive`] state (when something last arrived, when a ping
//! went out) and the link's `Ping` timer. It answers nothing (a ping is answered where frames
//! are handled) and must not touch what the link carries.

use crate::wire;
use crate::{LinkDownReason, LinkId};

use super::Node;
use super::timers::{Timer, ms};

/// One link's keepalive state.
#[derive(Debug)]
pub(super) struct Keepalive {
    /// When something last arrived.
    last_rx: u64,
    /// When the unanswered ping went out, if one did.
    ping_sent: Option<u64>,
}

/// What a keepalive check asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    /// The ping went unanswered: close the link.
    Close,
    /// Send a ping now, and check again at this tick.
    Ping { check_at: u64 },
    /// Check again at this tick.
    Wait { check_at: u64 },
}

impl Keepalive {
    /// A link that opened at tick `t`.
    pub(super) fn new(t: u64) -> Keepalive {
        Keepalive {
            last_rx: t,
            ping_sent: None,
        }
    }

    /// Something arrived at tick `t`.
    pub(super) fn heard(&mut self, t: u64) {
        self.last_rx = t;
    }

    /// The check at tick `t`, with the options' silence before a ping and wait for an answer.
    fn check(&mut self, t: u64, ping_after: u64, ping_timeout: u64) -> Step {
        if let Some(sent) = self.ping_sent {
            if self.last_rx >= sent {
                self.ping_sent = None;
            } else if t >= sent.saturating_add(ping_timeout) {
                return Step::Close;
            } else {
                return Step::Wait {
                    check_at: sent.saturating_add(ping_timeout),
                };
            }
        }
        if t >= self.last_rx.saturating_add(ping_after) {
            self.ping_sent = Some(t);
            Step::Ping {
                check_at: t.saturating_add(ping_timeout),
            }
        } else {
            Step::Wait {
                check_at: self.last_rx.saturating_add(ping_after),
            }
        }
    }
}

impl Node {
    /// Arms the first keepalive check of a link that just said hello (none if pings are off).
    pub(super) fn start_keepalive(&mut self, link: LinkId, serial: u64) {
        let ping_after = ms(self.opts.ping_after);
        if ping_after > 0 {
            self.timers.insert(
                self.clock.now().saturating_add(ping_after),
                Timer::Ping { link, serial },
            );
        }
    }

    /// The keepalive timer of `link` fired at tick `t`.
    pub(super) fn ping_check(&mut self, link: LinkId, t: u64) {
        let ping_after = ms(self.opts.ping_after);
        let ping_timeout = ms(self.opts.ping_timeout);
        let Some(l) = self.links.get_mut(link) else {
            return;
        };
        let serial = l.serial;
        match l.keepalive.check(t, ping_after, ping_timeout) {
            Step::Close => self.close_link(link, LinkDownReason::PingTimeout),
            Step::Ping { check_at } => {
                self.links.control(link, &mut self.stats, wire::emit_ping);
                self.timers.insert(check_at, Timer::Ping { link, serial });
            }
            Step::Wait { check_at } => {
                self.timers.insert(check_at, Timer::Ping { link, serial });
            }
        }
    }
}
