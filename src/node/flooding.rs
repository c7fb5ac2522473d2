//! v2 link state: this agent's own description, and flooding descriptions to every v2 link.
//!
//! Each agent describes its links in a description (`lsa`: its v2 neighbours, v1 peers and
//! the names reached only through those); a new version of it is flooded to every v2 link, and
//! a description newer than the one held is stored and passed on to every v2 link but the one
//! it came on. Descriptions of agents nobody reaches are forgotten after [`LSA_KEEP`], and
//! every description not superseded within `Options::description_lifetime` (the lifetime, L)
//! is forgotten too; every agent sends a new version of its own, same lists, every L/2.
//!
//! # Descriptions this agent did not make
//! On plain links any peer can send a description of any agent at any version up to 2^53.
//! What it can do is bounded as follows (the README states the bounds):
//! - **Below the top.** An agent that receives a description of itself it did not make, at or
//!   above its own version, re-announces above it at once, unthrottled (`lsdb/versions.rs`
//!   says at which version). Flooding carries the new version wherever the forged one went:
//!   the picture is right again after one flood from the victim. A forged description of
//!   another agent reaches that agent the same way (or in the database exchange when it comes
//!   back), so it reacts the same way.
//! - **At the top** ([`TOP_INCARNATION`](crate::lsdb::TOP_INCARNATION)) no version can be put
//!   above it: the victim is *outranked*, and every other agent keeps the forged description
//!   and ignores the victim's own as older. Plain links cannot tell the origin's word from a
//!   forger's, so the bound comes from time:
//!   - A forged description that takes every edge of the victim away (it lists none of its
//!     real peers) leaves the victim unreached everywhere: at its own peers too, where a
//!     peer's description that does not list this agent back counts as unreached. Every agent
//!     forgets it [`LSA_KEEP`] after it arrived there, and with it every description it
//!     reached only through the victim. The victim floods its own description and every
//!     description it holds (all that the others forgot) [`LSA_KEEP`] and a margin
//!     ([`OUTRANKED_MARGIN`]) after the forgery reached it, and again a lifetime and the
//!     margin after. So it is off the mesh for at most 60 s and the margin, wherever the
//!     forgery arrived within the margin of reaching the victim (elsewhere, until the second
//!     re-flood).
//!   - A forged description that keeps the victim reachable with a frozen picture (or leaves
//!     out only some of its peers) is forgotten a lifetime after it was stored, and the
//!     victim's second re-flood comes a lifetime and the margin after the forgery reached
//!     it: frozen for at most L and the margin. (With a lifetime under a minute, both cases
//!     end at the lifetime and the margin, in one re-flood.)
//!
//!   That is the best plain links allow: any ordered number space has a top a forger can
//!   claim; comparing versions with clocks would refuse honest agents on devices without a
//!   real-time clock and only moves the top; only a signature by the origin stops a forgery
//!   (secure mode).
//!
//! This module owns the [`Flooding`] state: whether the own description must change and when
//! it may ([`OWN_THROTTLE`]), a description withheld from a database exchange, the purge and
//! expiry timers, the refresh and outranked re-floods, and the buffer a flooded description is
//! encoded in once. It writes the database (through `Lsdb::originate`, `renew`, `receive_at`,
//! `purge` and `expire`) and marks shortest paths for recomputation; it must not compute
//! them, nor touch routes.

use crate::LinkDownReason;
use crate::LinkId;
use crate::lsdb::{Received, View};
use crate::wire::{self, Lsa};

use super::Node;
use super::origins::Checked;
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

/// The shortest lifetime of a description, ms (`Options::description_lifetime` below it counts
/// as this): every agent refreshes its own every half lifetime, and each refresh crosses every
/// link of the mesh.
const MIN_LIFETIME: u64 = 1_000;

/// How long an outranked agent waits, after the forgery's keep or lifetime would have ended
/// where it arrived with the victim, before flooding its own description again, ms: the
/// forgery takes a while to spread, and an agent that still holds it ignores the re-flood. At
/// most a quarter of the lifetime.
const OUTRANKED_MARGIN: u64 = 5_000;

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
    /// The expiry timer (descriptions past their lifetime) is armed.
    expire_armed: bool,
    /// The lifetime of a description, ticks.
    lifetime: u64,
    /// When this agent's own description last got a new version.
    own_made_at: u64,
    /// The tick the refresh timer is armed for, if it is.
    refresh_armed: Option<u64>,
    /// A description of this agent at the top of the number space was received: the next
    /// re-flood of its own, and the last one.
    outranked: Option<Outranked>,
    /// A flooded description, encoded once for all links.
    buf: Vec<u8>,
}

/// The re-floods of an outranked agent: after the keep and after the lifetime of the forgery,
/// each with the margin.
#[derive(Debug, Clone, Copy)]
struct Outranked {
    /// The next one.
    next: u64,
    /// The last one: a lifetime and the margin after the forgery last arrived.
    last: u64,
}

impl Flooding {
    /// Flooding with descriptions living `lifetime` ticks (at least [`MIN_LIFETIME`]).
    pub(super) fn new(lifetime: u64) -> Flooding {
        Flooding {
            own_dirty: false,
            own_throttle: Throttle::new(OWN_THROTTLE),
            own_withheld: false,
            own_lost: false,
            purge_armed: false,
            expire_armed: false,
            lifetime: lifetime.max(MIN_LIFETIME),
            own_made_at: 0,
            refresh_armed: None,
            outranked: None,
            buf: Vec::new(),
        }
    }

    /// Whether a description of this agent at the top of the number space is being waited
    /// out.
    pub(super) fn outranked(&self) -> bool {
        self.outranked.is_some()
    }

    /// A description of this agent at the top of the number space arrived at tick `t`: flood
    /// its own again once that one is forgotten where it arrived with this agent, and until
    /// it is forgotten everywhere it went.
    fn outranked_at(&mut self, t: u64) {
        let margin = OUTRANKED_MARGIN.min(self.lifetime / 4);
        let last = t.saturating_add(self.lifetime).saturating_add(margin);
        let first = t
            .saturating_add(LSA_KEEP.min(self.lifetime))
            .saturating_add(margin);
        self.outranked = Some(Outranked { next: first, last });
    }

    /// When the refresh timer must next fire: the next refresh of the own description, or the
    /// next re-flood of an outranked agent.
    fn refresh_due(&self) -> u64 {
        let refresh = self.own_made_at.saturating_add(self.lifetime / 2);
        self.outranked.map_or(refresh, |o| o.next.min(refresh))
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
            self.sign_own();
            self.flooding.own_throttle.ran(self.clock.now());
            self.stats.descriptions_originated += 1;
            if v2 {
                self.own_made();
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
        let now = self.clock.now();
        let checked = self.check_description(&lsa);
        if matches!(checked, Checked::Forged) {
            // Counted; the link stays (its peer may hold an older trust file).
            return Ok(());
        }
        let received = self
            .lsdb
            .receive_at(
                &lsa.origin,
                lsa.inc,
                lsa.seq,
                lsa.neighbors.iter().map(|n| &**n),
                lsa.v1_peers.iter().map(|n| &**n),
                lsa.externals.iter().map(|n| &**n),
                now,
            )
            .map_err(|e| LinkDownReason::TooManyNames { max: e.max })?;
        self.sync_received(&lsa.origin);
        match received {
            Received::Newer => {
                #[cfg(feature = "secure")]
                if let Checked::Signed(s) = checked {
                    self.lsdb.sign_newest(s);
                }
                if self.lsdb.graph_changed() {
                    self.paths.changed();
                }
                self.stats.descriptions_applied += 1;
                let frame = lsa.as_emitted.then_some(frame);
                self.flood(Flooded::Received(frame), Some(link));
                self.arm_expiry();
            }
            Received::Same | Received::Older => {}
            Received::OwnRenumbered => {
                // At once, not throttled: until it is out, every agent the description this
                // agent did not make reached takes it for this agent's word.
                self.stats.own_overtaken += 1;
                self.incarnation_is(self.lsdb.own().inc);
                self.sign_own();
                self.own_made();
                self.flood(Flooded::Own, None);
            }
            Received::OwnOutranked => {
                self.stats.own_overtaken += 1;
                self.flooding.outranked_at(now);
                self.arm_refresh();
            }
        }
        Ok(())
    }

    /// This agent's own description got a new version now: the next refresh is half a
    /// lifetime away.
    fn own_made(&mut self) {
        self.flooding.own_made_at = self.clock.now();
        self.arm_refresh();
    }

    /// Arms the refresh timer for its next due tick, unless it is armed for that or earlier.
    fn arm_refresh(&mut self) {
        let due = self.flooding.refresh_due();
        if self.flooding.refresh_armed.is_none_or(|at| due < at) {
            self.flooding.refresh_armed = Some(due);
            self.timers.insert(due, Timer::Refresh { at: due });
        }
    }

    /// The refresh timer armed for tick `at` fired at tick `t`: a new version of this agent's
    /// description when half a lifetime passed since the last, and the re-flood of an
    /// outranked agent when one is due.
    pub(super) fn refresh_fired(&mut self, at: u64, t: u64) {
        if self.flooding.refresh_armed != Some(at) {
            return;
        }
        self.flooding.refresh_armed = None;
        let lifetime = self.flooding.lifetime;
        let renewed =
            t >= self.flooding.own_made_at.saturating_add(lifetime / 2) && self.lsdb.renew();
        if renewed {
            // Same lists: nothing to recompute, here or anywhere it arrives.
            self.sign_own();
            self.stats.descriptions_originated += 1;
            self.flooding.own_made_at = t;
        }
        match self.flooding.outranked {
            Some(o) if t >= o.next => {
                // The database holds the own description, renewed or not.
                self.flood_database();
                self.flooding.outranked = (o.next < o.last).then_some(Outranked {
                    next: o.last,
                    last: o.last,
                });
            }
            _ if renewed => self.flood(Flooded::Own, None),
            _ => {}
        }
        self.arm_refresh();
    }

    /// Sends this agent's own description and every description it holds on every v2 link:
    /// an outranked agent's re-flood. Where the forgery took every edge of this agent away,
    /// the agents that held it forgot, with it, every description they reached only through
    /// this agent; this agent holds them all, and nothing else would bring them back before
    /// their agents' next refresh. A peer that holds one already takes it as the same and
    /// passes nothing on. The cost is the database crossing each of this agent's links, twice
    /// per forgery and never sooner than a minute after the last one arrived: about what one
    /// forged description of a new name costs the mesh when it is flooded.
    fn flood_database(&mut self) {
        // Encoded once, copied to every link.
        let mut payload = std::mem::take(&mut self.flooding.buf);
        payload.clear();
        let mut frames = 0;
        for view in self.lsdb.iter() {
            emit_description(&mut payload, view);
            frames += 1;
        }
        let (links, tx) = self.links.iter_tx();
        for l in links {
            if l.peer.is_none() || !l.is_v2() {
                continue;
            }
            let n = l.push(tx, |out| out.extend_from_slice(&payload));
            self.stats.control_frames += frames;
            self.stats.control_bytes += n as u64;
            self.stats.descriptions_sent += frames;
        }
        self.flooding.buf = payload;
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

    /// Arms the expiry timer for the description stored longest ago, unless it is armed
    /// (descriptions are stored as time goes on: the one armed for stays the oldest).
    pub(super) fn arm_expiry(&mut self) {
        if !self.flooding.expire_armed {
            if let Some(stored) = self.lsdb.oldest_stored() {
                self.flooding.expire_armed = true;
                let at = stored
                    .saturating_add(self.flooding.lifetime)
                    .saturating_add(1);
                self.timers.insert(at, Timer::Expire);
            }
        }
    }

    /// The expiry timer fired: forget descriptions nobody superseded within their lifetime.
    pub(super) fn expire_due(&mut self, t: u64) {
        self.flooding.expire_armed = false;
        self.lsdb.expire(t.saturating_sub(self.flooding.lifetime));
        if self.lsdb.graph_changed() {
            self.paths.changed();
        }
        self.arm_expiry();
    }
}

/// Writes a description frame, with its origin's signature when it has one.
pub(super) fn emit_description(out: &mut Vec<u8>, d: View<'_>) {
    #[cfg(feature = "secure")]
    let (mut key, mut sig) = ([0u8; 44], [0u8; 88]);
    #[cfg(feature = "secure")]
    let signed = d
        .signature
        .map(|s| super::origins::signature_text(s, &mut key, &mut sig));
    #[cfg(not(feature = "secure"))]
    let signed = None;
    wire::emit_lsa(
        out,
        d.origin,
        d.inc,
        d.seq,
        d.neighbors(),
        d.v1_peers(),
        d.externals(),
        signed,
    )
}
