//! v2 link state: this agent's own description, and flooding descriptions to every v2 link.
//!
//! Each agent describes its links in a description (`lsa`: its v2 neighbours, v1 peers and
//! the names reached only through those); a new version of it is flooded to every v2 link, and
//! a description newer than the one held is stored and passed on to every v2 link but the one
//! it came on. Descriptions of agents nobody reaches are forgotten after [`LSA_KEEP`].
//!
//! This module owns the [`Flooding`] state: whether the own description must change and when
//! it may ([`OWN_THROTTLE`]), a description withheld from a database exchange, the purge
//! timer, and the buffer a flooded description is encoded in once. It writes the database
//! (through `Lsdb::originate`, `receive` and `purge`) and marks shortest paths for
//! recomputation; it must not compute them, nor touch routes.

use crate::LinkDownReason;
use crate::LinkId;
use crate::lsdb::{Received, View};
use crate::wire::{self, Lsa};

use super::Node;
use super::throttle::{Arming, Due, Policy, Throttle, Urgency};
use super::timers::Timer;

/// The most time between two versions of this agent's own description, ms, while its links
/// keep changing.
const OWN_HOLD_DOWN: u64 = 10;

/// How long a new link waits before this agent's description says so, ms: links come up in
/// bursts (start-up, a restart, a partition healing), and every version is flooded to every
/// agent, so the rest of the burst goes in the same version. A lost link does not wait.
pub(super) const OWN_GATHER: u64 = 20;

/// When this agent's own description is renumbered: a new link waits [`OWN_GATHER`], a lost
/// one does not, but both wait out a hold-down that starts at none and grows while versions
/// follow each other closely (within twice the hold-down and 2 ms more, so that versions a
/// millisecond apart count as close), up to [`OWN_HOLD_DOWN`]; an urgent change re-arms the
/// timer earlier.
const OWN_THROTTLE: Policy = Policy {
    gather: OWN_GATHER,
    min_hold: 0,
    max_hold: OWN_HOLD_DOWN,
    grace: 2,
    urgency: Urgency::SkipsGathering,
    arming: Arming::Earlier,
};

/// How long the description of an agent nobody reaches is kept, ms: long enough to ride out a
/// flapping link without re-learning, short enough to forget agents that are gone.
const LSA_KEEP: u64 = 60_000;

/// What [`Node::flood`] sends.
enum Flooded<'f> {
    /// This agent's own description.
    Own,
    /// The description the last `Lsdb::receive` stored, and its frame when that came in the
    /// form this agent writes (it is passed on as it came).
    Received(Option<&'f [u8]>),
}

/// The own description's timing and the flooding buffers.
#[derive(Debug)]
pub(super) struct Flooding {
    /// This agent's own description may have changed.
    own_dirty: bool,
    /// When it may be renumbered; urged when something it lists is gone (tell at once,
    /// however recent the change is: a lost link is what failover waits for).
    own_throttle: Throttle,
    /// A peer's summary asked for this agent's own description while a new version was
    /// waiting, and got nothing: the new version (or, if nothing changed, this one) must go
    /// to every link.
    own_withheld: bool,
    /// Something the description lists is gone since the last version: the next one may not
    /// wait for database exchanges in progress.
    own_lost: bool,
    /// The purge timer is armed.
    purge_armed: bool,
    /// A flooded description, encoded once for all links.
    buf: Vec<u8>,
}

impl Flooding {
    pub(super) fn new() -> Flooding {
        Flooding {
            own_dirty: false,
            own_throttle: Throttle::new(OWN_THROTTLE),
            own_withheld: false,
            own_lost: false,
            purge_armed: false,
            buf: Vec::new(),
        }
    }

    /// Something this agent's description lists may have come.
    pub(super) fn own_changed(&mut self) {
        self.own_dirty = true;
    }

    /// Something this agent's description lists is gone: it changes without gathering.
    pub(super) fn own_lost(&mut self) {
        self.own_dirty = true;
        self.own_lost = true;
        self.own_throttle.urge();
    }

    /// A new version of this agent's description waits to be made.
    pub(super) fn own_waiting(&self) -> bool {
        self.own_dirty
    }

    /// The description held was not sent to a peer that asked, for the new version coming.
    pub(super) fn withhold_own(&mut self) {
        self.own_withheld = true;
    }

    /// The timer armed for tick `at` fired.
    pub(super) fn own_timer_fired(&mut self, at: u64) {
        self.own_throttle.fired(at);
    }
}

impl Node {
    /// Makes a new version of this agent's own description, if it may have changed and its
    /// throttle allows, and floods it (on a v2 node; then shortest paths change too).
    pub(super) fn originate_if_due(&mut self, v2: bool) {
        if !(self.flooding.own_dirty && self.own_due()) {
            return;
        }
        if !self.flooding.own_lost && self.exchanges_pending() {
            // A v2 peer counts once the database exchange with it is complete (see
            // `db_sync`), and the links of a burst complete theirs one after another: one
            // version for them all, when the last is done (or given up on).
            return;
        }
        let withheld = std::mem::take(&mut self.flooding.own_withheld);
        self.flooding.own_dirty = false;
        self.flooding.own_lost = false;
        self.flooding.own_throttle.settle();
        let peers = |v2: bool| {
            self.links
                .iter()
                .filter(move |l| l.is_v2() == v2 && (!v2 || l.sync.is_synced()))
                .filter_map(|l| l.peer.as_deref())
        };
        if self
            .lsdb
            .originate(peers(true), peers(false), self.routing.v1_only())
        {
            self.flooding.own_throttle.ran(self.clock.now());
            self.stats.descriptions_originated += 1;
            if v2 {
                self.flood(Flooded::Own, None);
                self.paths.changed();
            }
        } else if withheld && v2 {
            // Nothing changed after all (a second link to a peer already linked): send
            // what was withheld.
            self.flood(Flooded::Own, None);
        }
    }

    /// Whether this agent's own description may be renumbered now (see [`OWN_THROTTLE`]);
    /// arms the timer when it must wait.
    fn own_due(&mut self) -> bool {
        match self.flooding.own_throttle.check(self.clock.now()) {
            Due::Now => true,
            Due::Wait => false,
            Due::Arm(at) => {
                self.timers.insert(at, Timer::Own { at });
                false
            }
        }
    }

    /// A description frame `frame`, parsed as `lsa`.
    pub(super) fn on_lsa(
        &mut self,
        link: LinkId,
        lsa: Lsa<'_>,
        frame: &[u8],
    ) -> Result<(), LinkDownReason> {
        let received = self
            .lsdb
            .receive(
                &lsa.origin,
                lsa.inc,
                lsa.seq,
                lsa.neighbors.iter().map(|n| &**n),
                lsa.v1_peers.iter().map(|n| &**n),
                lsa.externals.iter().map(|n| &**n),
            )
            .map_err(|e| LinkDownReason::TooManyNames { max: e.max })?;
        self.sync_received(&lsa.origin);
        match received {
            Received::Newer => {
                if self.lsdb.graph_changed() {
                    self.paths.changed();
                }
                self.stats.descriptions_applied += 1;
                let frame = lsa.as_emitted.then_some(frame);
                self.flood(Flooded::Received(frame), Some(link));
            }
            Received::Same | Received::Older => {}
            Received::OwnRenumbered => {
                self.inc = self.lsdb.own().inc;
                self.flood(Flooded::Own, None);
            }
        }
        Ok(())
    }

    /// Sends a description on every v2 link but `except`.
    fn flood(&mut self, what: Flooded<'_>, except: Option<LinkId>) {
        // Encoded once, copied to every link: a flood reaches every link of every agent.
        let mut payload = std::mem::take(&mut self.flooding.buf);
        payload.clear();
        match what {
            Flooded::Own => emit_description(&mut payload, self.lsdb.own()),
            Flooded::Received(Some(frame)) => crate::frame::encode(&mut payload, frame),
            Flooded::Received(None) => {
                if let Some(lsa) = self.lsdb.newest() {
                    emit_description(&mut payload, lsa);
                }
            }
        }
        let (links, tx) = self.links.iter_tx();
        for l in links {
            if payload.is_empty() {
                break;
            }
            if l.peer.is_none() || !l.is_v2() || Some(l.id) == except {
                continue;
            }
            l.push_control(tx, &mut self.stats, |out| out.extend_from_slice(&payload));
            self.stats.descriptions_sent += 1;
        }
        self.flooding.buf = payload;
    }

    /// Arms the purge timer for the oldest description nobody reaches, unless it is armed.
    pub(super) fn arm_purge(&mut self) {
        if !self.flooding.purge_armed {
            if let Some(since) = self.lsdb.oldest_unreachable() {
                self.flooding.purge_armed = true;
                self.timers.insert(since + LSA_KEEP + 1, Timer::Purge);
            }
        }
    }

    /// The purge timer fired: forget descriptions of agents nobody reached for long.
    pub(super) fn purge_due(&mut self, t: u64) {
        self.flooding.purge_armed = false;
        self.lsdb.purge(t.saturating_sub(LSA_KEEP));
        if self.lsdb.graph_changed() {
            self.paths.changed();
        }
        self.arm_purge();
    }
}

/// Writes a description frame.
pub(super) fn emit_description(out: &mut Vec<u8>, d: View<'_>) {
    wire::emit_lsa(
        out,
        d.origin,
        d.inc,
        d.seq,
        d.neighbors(),
        d.v1_peers(),
        d.externals(),
    )
}
