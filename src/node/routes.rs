//! Route computation: shortest paths from the link-state database applied to the routing
//! table, and what follows a route change (`Meet` and `Lose` events, dials woken, messages in
//! flight resent the new way, v1 peers told).
//!
//! This module owns the [`Paths`] state: whether shortest paths must be recomputed, and when
//! they may be ([`PATHS_THROTTLE`]). It reads the database and writes the routing table; it
//! must not change the database, nor write frames itself (route changes are handed to the
//! concerns that act on them).

use crate::Event;
use crate::lsdb::Direct;
use crate::routing::Change;

use super::Node;
use super::throttle::{Arming, Due, Policy, Throttle, Urgency};
use super::timers::Timer;

/// Least time between two shortest-path computations triggered from afar, ms.
const PATHS_HOLD_DOWN: u64 = 5;

/// The most the hold-down between computations grows to while changes keep coming, ms.
const PATHS_HOLD_DOWN_MAX: u64 = 40;

/// When shortest paths are recomputed. A change of this agent's own links is applied at once;
/// descriptions from afar arrive in bursts (a flood, a database exchange), so a change waits
/// `Options::route_delay` (the gathering time, filled in from the options) for the rest of
/// its burst, and after a computation the next one waits out a hold-down: a burst costs one
/// computation rather than one per description. The hold-down starts short, so that an
/// isolated change is acted on quickly, and doubles while computations follow each other
/// closely (within twice the hold-down), as OSPF throttles its SPF runs. The timer armed for
/// it stays armed until it fires.
const PATHS_THROTTLE: Policy = Policy {
    gather: 0,
    min_hold: PATHS_HOLD_DOWN,
    max_hold: PATHS_HOLD_DOWN_MAX,
    grace: 0,
    urgency: Urgency::SkipsAll,
    arming: Arming::Once,
};

/// Whether and when shortest paths are recomputed.
#[derive(Debug)]
pub(super) struct Paths {
    /// Shortest paths must be recomputed.
    dirty: bool,
    /// When they may be; urged when a direct link changed (recompute now, whatever the
    /// hold-down).
    throttle: Throttle,
}

impl Paths {
    /// Gathering changes from afar for `route_delay` ticks.
    pub(super) fn new(route_delay: u64) -> Paths {
        Paths {
            dirty: false,
            throttle: Throttle::new(Policy {
                gather: route_delay,
                ..PATHS_THROTTLE
            }),
        }
    }

    /// The graph changed afar.
    pub(super) fn changed(&mut self) {
        self.dirty = true;
    }

    /// A direct link changed: recompute at the next commit.
    pub(super) fn direct_changed(&mut self) {
        self.dirty = true;
        self.throttle.urge();
    }

    /// A change waits for the next computation.
    pub(super) fn pending(&self) -> bool {
        self.dirty
    }

    /// The timer armed for tick `at` fired.
    pub(super) fn timer_fired(&mut self, at: u64) {
        self.throttle.fired(at);
    }
}

impl Node {
    /// Recomputes shortest paths (on a v2 node) if something changed and the throttle allows,
    /// and applies them to the routing table.
    pub(super) fn compute_paths_if_due(&mut self, v2: bool) {
        if !(self.paths.dirty && v2 && self.paths_due()) {
            return;
        }
        let now = self.clock.now();
        self.paths.dirty = false;
        self.paths.throttle.settle();
        // Back-to-back computations mean a storm of changes (a partition, a restart
        // wave): wait longer between them until it calms down.
        self.paths.throttle.ran(now);
        self.stats.paths_computed += 1;
        let direct: Vec<Direct<'_>> = self
            .links
            .iter()
            .filter_map(|l| {
                Some(Direct {
                    name: l.peer.as_deref()?,
                    link: l.id,
                    v2: l.is_v2(),
                    synced: !l.is_v2() || l.sync.is_synced(),
                })
            })
            .collect();
        self.lsdb.shortest_paths(&direct, now);
        for (name, route) in self.lsdb.changed() {
            self.routing.set_path(name, route);
        }
        self.arm_purge();
    }

    /// Whether shortest paths may be recomputed now (see [`PATHS_THROTTLE`]); arms the timer
    /// when they must wait.
    fn paths_due(&mut self) -> bool {
        match self.paths.throttle.check(self.clock.now()) {
            Due::Now => true,
            Due::Wait => false,
            Due::Arm(at) => {
                self.timers.insert(at, Timer::Paths { at });
                false
            }
        }
    }

    /// Settles the routing table's changes since the last commit and acts on each: the
    /// application meets or loses names, dials asleep on a direct peer that is no longer
    /// direct wake, own messages in flight go the new way, v1 peers are told (at the next
    /// [`announce`](Node::announce)). Returns the changes, for the queues to be pumped once
    /// the peers were told.
    pub(super) fn apply_route_changes(&mut self) -> Vec<Change> {
        let changes = self.routing.commit();
        for ch in &changes {
            match (ch.old, ch.new) {
                (None, Some(_)) => self.events.push_back(Event::Meet {
                    name: ch.name[..].into(),
                }),
                (Some(_), None) => self.events.push_back(Event::Lose {
                    name: ch.name[..].into(),
                }),
                _ => {}
            }
            let was_direct = ch.old.is_some_and(|r| r.hops == Some(1));
            let is_direct = ch.new.is_some_and(|r| r.hops == Some(1));
            if was_direct && !is_direct {
                self.wake_dormant(&ch.name);
            }
            // Whatever was in flight went the old way: resend it the new way.
            self.outboxes.route_changed(&ch.name);
            self.links.tell_change(&ch.name, ch.new);
        }
        changes
    }
}
