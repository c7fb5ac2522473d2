//! v2 database exchange: when a v2 link comes up, each side sends a summary of its link-state
//! database (which version of each description it holds, `sum`), and the other answers with
//! what it holds newer or the first lacks, as OSPF's database description exchange does. A
//! link coming back between two agents that agree costs a summary rather than the whole
//! database.
//!
//! The exchange is also what makes a new link count, as OSPF advertises an adjacency only
//! once it is full: until the descriptions the peer's summary listed newer than this agent's
//! have arrived, what this agent holds about the peer's side of the mesh may be stale (it may
//! have been cut off from it: a partition, a lone link that dropped, a restart of the peer),
//! and a stale picture of that side can hold agents that have vanished meanwhile. So until
//! then the peer is reached directly and nothing beyond it is, and this agent's own
//! description does not list it. Once the exchange is complete, the new descriptions have
//! been flooded on (before the new version of this agent's description that lists the peer),
//! so the rest of the mesh learns what changed on the peer's side before it learns the way
//! there. A new version of this agent's description waits for every exchange in progress
//! (one version for a burst of links; a lost link does not wait). An exchange still
//! incomplete `Options::hello_timeout` after the hello counts as complete all the same (a
//! peer that never sends its summary, or lists a description and then forgets it).
//!
//! Neither side waits for the other: what a side awaits never includes its own description,
//! nor the peer's when it holds none of the peer's (nothing stale to replace), and its own
//! description is withheld (a new version is coming) only from a peer that holds none of it
//! and so does not await it.
//!
//! This module owns each link's [`DbSync`] state and the summaries' parts. It reads the
//! database and writes descriptions to the one link being synchronised; it must not change
//! the database (descriptions that arrive are flooding's) nor write to other links.

use std::collections::HashMap;

use crate::lsdb::{Listed, View};
use crate::wire::{self, Summary};
use crate::{LinkDownReason, LinkId};

use super::Node;
use super::flooding::emit_description;
use super::timers::{Timer, ms};

/// Bytes of a database summary's part, about: small enough for any sensible `max_frame_len`,
/// large enough that a thousand descriptions take a few frames.
const SUMMARY_PART: usize = 16 * 1024;

/// One link's database exchange.
#[derive(Debug, Default)]
pub(super) struct DbSync {
    /// Send the summary of the database at the next commit.
    due: bool,
    /// The descriptions the peer's summary listed so far, while it is being read.
    listed: Option<Listed>,
    /// The peer's summary was read to its end; another one is ignored.
    read: bool,
    /// The descriptions the peer's summary listed newer than this agent held them (or that
    /// it did not hold), with the version listed: the peer sends them on reading this agent's
    /// summary, and they may come by flooding too.
    awaited: HashMap<Box<str>, (u64, u64)>,
    /// The exchange is complete: the peer's side of the database is as new here as the
    /// peer's summary said.
    synced: bool,
}

impl DbSync {
    /// The link said hello as v2: this side's summary goes out at the next commit.
    pub(super) fn start(&mut self) {
        self.due = true;
    }

    /// Whether the exchange is complete (see the [module documentation](self)).
    pub(super) fn is_synced(&self) -> bool {
        self.synced
    }

    /// A description of `origin` is held at `held` now: it is no longer awaited if that is
    /// as new as the peer's. Returns whether the exchange just completed.
    fn received(&mut self, origin: &str, held: (u64, u64)) -> bool {
        if self.awaited.get(origin).is_some_and(|&want| held >= want) {
            self.awaited.remove(origin);
        }
        self.read && self.awaited.is_empty() && !self.synced
    }
}

/// Whether this agent (`me`), reading the summary of `peer`, awaits `origin`'s description
/// at `listed`, holding it at `held`: when the peer holds it newer, except this agent's own
/// (it is the one to renumber it) and the peer's own when none is held here. A peer's own
/// description matters only to replace a stale one, which would list its neighbours of
/// another time; where none is held, nothing is reached through the peer until it comes.
/// Awaiting it then would stall both ends of a new link, each withholding its own
/// description until the new version that lists the other.
fn awaits(
    me: &str,
    peer: Option<&str>,
    origin: &str,
    held: Option<(u64, u64)>,
    listed: (u64, u64),
) -> bool {
    held < Some(listed) && origin != me && (held.is_some() || peer != Some(origin))
}

impl Node {
    /// Reads part of a new peer's database summary, and sends the peer every description this
    /// agent holds newer than what it listed; after the last part, every description it did
    /// not list. Whatever the peer holds newer, it sends on reading this agent's summary. Only
    /// the first summary of a link is read, so a peer cannot have the database sent again
    /// and again. What the peer listed newer is awaited; a peer that lists more of those
    /// than `Options::max_known_names` is refused.
    pub(super) fn on_summary(
        &mut self,
        link: LinkId,
        d: Summary<'_>,
    ) -> Result<(), LinkDownReason> {
        let max = self.opts.max_known_names;
        let Some((l, tx)) = self.links.get_tx(link) else {
            return Ok(());
        };
        if l.sync.read {
            return Ok(());
        }
        let mut listed = l.sync.listed.take().unwrap_or_default();
        // A version of this agent's own description is on its way to every link (a link came
        // or went): a peer that holds none of its versions would flood the one held now
        // through the mesh for nothing, so it waits for the new one (and does not await it,
        // see `awaits`). A peer holding an older one is sent this one: it replaces news that
        // is staler still, and the peer awaits it.
        let withhold = self.flooding.own_waiting();
        let mine = |v: &View<'_>| withhold && v.origin == &*self.name;
        for (origin, inc, seq) in &d.entries {
            let held = self.lsdb.get(origin).map(|v| (v.inc, v.seq));
            if awaits(&self.name, l.peer.as_deref(), origin, held, (*inc, *seq)) {
                let want = l.sync.awaited.entry((**origin).into()).or_default();
                *want = (*want).max((*inc, *seq));
                if l.sync.awaited.len() > max {
                    return Err(LinkDownReason::TooManyNames { max });
                }
            }
            if let Some(view) = self.lsdb.newer_than(origin, *inc, *seq, &mut listed) {
                l.push_control(tx, &mut self.stats, |out| emit_description(out, view));
                self.stats.descriptions_sent += 1;
            }
        }
        if !d.end {
            l.sync.listed = Some(listed);
            return Ok(());
        }
        l.sync.read = true;
        for view in self.lsdb.unlisted(&listed) {
            if mine(&view) {
                self.flooding.withhold_own();
                continue;
            }
            l.push_control(tx, &mut self.stats, |out| emit_description(out, view));
            self.stats.descriptions_sent += 1;
        }
        if l.sync.awaited.is_empty() {
            self.synced(link);
        }
        Ok(())
    }

    /// A description of `origin` arrived (whether it was new here or not): exchanges that
    /// awaited it may be complete.
    pub(super) fn sync_received(&mut self, origin: &str) {
        let Some(held) = self.lsdb.get(origin).map(|v| (v.inc, v.seq)) else {
            return;
        };
        let mut done = Vec::new();
        for l in self.links.iter_mut() {
            if !l.sync.awaited.is_empty() && l.sync.received(origin, held) {
                done.push(l.id);
            }
        }
        for link in done {
            self.synced(link);
        }
    }

    /// Whether a v2 link that said hello has its database exchange in progress.
    pub(super) fn exchanges_pending(&self) -> bool {
        self.links
            .iter()
            .any(|l| l.peer.is_some() && l.is_v2() && !l.sync.synced)
    }

    /// Arms the timer by which the exchange over `link`, whose hello just came, counts as
    /// complete.
    pub(super) fn arm_sync(&mut self, link: LinkId, serial: u64) {
        let by = self.clock.now().saturating_add(ms(self.opts.hello_timeout));
        self.timers.insert(by, Timer::Sync { link, serial });
    }

    /// The exchange timer of `link` fired: an exchange still incomplete counts as complete.
    pub(super) fn sync_due(&mut self, link: LinkId, serial: u64) {
        if self.links.serial(link) == Some(serial)
            && self.links.get(link).is_some_and(|l| !l.sync.synced)
        {
            self.synced(link);
        }
    }

    /// The exchange over `link` is complete: this agent's description lists the peer (after
    /// gathering the rest of a burst, as any new link), and paths go through it at once.
    fn synced(&mut self, link: LinkId) {
        let Some(l) = self.links.get_mut(link) else {
            return;
        };
        l.sync.synced = true;
        l.sync.awaited = HashMap::new();
        self.flooding.own_changed();
        self.paths.changed();
    }

    /// Sends the summary of the database on v2 links that just said hello: which version of
    /// each description this agent holds, in parts of about [`SUMMARY_PART`] bytes.
    pub(super) fn send_summaries(&mut self) {
        let mut part: Vec<(&str, u64, u64)> = Vec::new();
        let (links, tx) = self.links.iter_tx();
        for l in links {
            if !l.sync.due {
                continue;
            }
            l.sync.due = false;
            let mut views = self.lsdb.iter().peekable();
            loop {
                part.clear();
                let mut bytes = 0;
                while bytes < SUMMARY_PART {
                    let Some(v) = views.next() else { break };
                    bytes += v.origin.len() + 44;
                    part.push((v.origin, v.inc, v.seq));
                }
                let end = views.peek().is_none();
                l.push_control(tx, &mut self.stats, |out| {
                    wire::emit_summary(out, part.iter().copied(), end)
                });
                if end {
                    break;
                }
            }
        }
    }
}
