//! Graceful shutdown: stop taking work, send what is queued, wait (up to a deadline) for the
//! confirmations, then close every link and report what was left unconfirmed.
//!
//! This module owns the node's [`Phase`] and the steps from one phase to the next. While
//! draining, everything else works as usual (messages are read, relayed, confirmed and
//! resent, links dialled earlier come up and are re-dialled, since what is queued may need
//! them); only new work is refused: sends ([`SendError::ShuttingDown`]) and `connect` calls.
//! Once closed, every dial is cancelled and a connection that comes up is closed at once. It
//! must not close a socket itself: closing is an [`Action::Close`](super::Action::Close) for
//! the caller, who sends the last bytes and a FIN.

use std::time::Instant;

use crate::{ConnectId, Event, LinkDownReason, LinkId, SendError};

use super::timers::{Timer, Timers};
use super::{Action, Node};

/// Where the node stands in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Phase {
    /// Taking work.
    Running,
    /// Shutting down: no new work; closes every link once everything held is confirmed or at
    /// the deadline (a tick).
    Draining { deadline: u64 },
    /// Every link closed and [`Event::ShutdownComplete`] reported: the node does nothing more.
    Closed,
}

impl Node {
    /// Begins a graceful shutdown: from now on sends and `connect` calls are refused
    /// ([`SendError::ShuttingDown`], [`Event::ConnectFailed`]). What is queued is sent as
    /// routes allow (links dialled earlier still come up, and are re-dialled); once every
    /// message this agent holds is confirmed, or at `deadline`, every link is closed
    /// ([`Action::Close`], with a [`Event::LinkDown`] each) and
    /// [`Event::ShutdownComplete`] reports the messages left unconfirmed. Messages that arrive
    /// meanwhile are still handed over and confirmed. After that, nothing is dialled, and a
    /// connection reported up is closed at once. Calling it again changes nothing.
    ///
    /// Keep driving the node as before until the event comes (with nothing to wait for, it
    /// comes at once, from this call); close each link's byte stream cleanly when asked.
    pub fn shutdown(&mut self, deadline: Instant, now: Instant) {
        let t = self.tick(now);
        if self.phase != Phase::Running {
            return;
        }
        let deadline = self.clock.ticks(deadline).max(t);
        self.phase = Phase::Draining { deadline };
        self.timers.insert(deadline, Timer::Shutdown);
        self.commit();
    }

    /// Whether [`shutdown`](Self::shutdown) was called: new work is refused.
    pub fn is_shutting_down(&self) -> bool {
        self.phase != Phase::Running
    }

    /// Whether the shutdown is over: every link closed, [`Event::ShutdownComplete`] queued.
    pub fn is_shut_down(&self) -> bool {
        self.phase == Phase::Closed
    }

    /// Refuses a message while shutting down.
    pub(super) fn check_taking_work(&self) -> Result<(), SendError> {
        match self.phase {
            Phase::Running => Ok(()),
            _ => Err(SendError::ShuttingDown),
        }
    }

    /// A connection came up after the shutdown: it is closed at once, unreported (it never
    /// said hello). Returns whether it was.
    pub(super) fn refuse_link_after_shutdown(&mut self, link: LinkId) -> bool {
        if self.phase != Phase::Closed {
            return false;
        }
        self.actions.push_back(Action::Close {
            link,
            flush: Vec::new(),
        });
        true
    }

    /// The last step of a commit: while draining, closes everything once nothing this agent
    /// holds awaits confirmation, or the deadline has passed.
    pub(super) fn shutdown_if_done(&mut self) {
        let Phase::Draining { deadline } = self.phase else {
            return;
        };
        if self.outboxes.queued() == 0 || self.clock.now() >= deadline {
            self.finish_shutdown();
        }
    }

    /// Gives up on what is held, closes every link (the confirmations owed went out in the
    /// commit that called this, ahead of the close), and reports.
    fn finish_shutdown(&mut self) {
        self.phase = Phase::Closed;
        // Nothing is re-dialled: the links below go for good.
        for i in 0..self.dialler.count() {
            self.dialler.cancel(ConnectId(i as u64));
        }
        let unconfirmed = self.outboxes.clear(&mut self.names);
        let links: Vec<LinkId> = self.links.iter().map(|l| l.id).collect();
        for link in links {
            self.close_link(link, LinkDownReason::Disconnected);
        }
        // The routing table's changes become `Lose` events, ahead of the last one.
        self.commit();
        self.timers = Timers::new();
        self.events
            .push_back(Event::ShutdownComplete { unconfirmed });
    }
}
