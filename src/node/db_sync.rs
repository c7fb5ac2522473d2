//! v2 database exchange: when a v2 link comes up, each side sends a summary of its link-state
//! database (which version of each description it holds, `sum`), and the other answers with
//! what it holds newer or the first lacks, as OSPF's database description exchange does. A
//! link coming back between two agents that agree costs a summary rather than the whole
//! database.
//!
//! This module owns each link's [`DbSync`] state and the summaries' parts. It reads the
//! database and writes descriptions to the one link being synchronised; it must not change
//! the database (descriptions that arrive are flooding's) nor write to other links.

use crate::LinkId;
use crate::lsdb::{Listed, View};
use crate::wire::{self, Summary};

use super::Node;
use super::flooding::emit_description;

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
}

impl DbSync {
    /// The link said hello as v2: this side's summary goes out at the next commit.
    pub(super) fn start(&mut self) {
        self.due = true;
    }
}

impl Node {
    /// Reads part of a new peer's database summary, and sends the peer every description this
    /// agent holds newer than what it listed; after the last part, every description it did
    /// not list. Whatever the peer holds newer, it sends on reading this agent's summary. Only
    /// the first summary of a link is read, so a peer cannot have the database sent again
    /// and again.
    pub(super) fn on_summary(&mut self, link: LinkId, d: Summary<'_>) {
        let Some((l, tx)) = self.links.get_tx(link) else {
            return;
        };
        if l.sync.read {
            return;
        }
        let mut listed = l.sync.listed.take().unwrap_or_default();
        // A version of this agent's own description is on its way to every link (this one's
        // hello made it): the one held now would be flooded through the mesh for nothing.
        let withhold = self.flooding.own_waiting();
        let mine = |v: &View<'_>| withhold && v.origin == &*self.name;
        for (origin, inc, seq) in &d.entries {
            if let Some(view) = self.lsdb.newer_than(origin, *inc, *seq, &mut listed) {
                if mine(&view) {
                    self.flooding.withhold_own();
                    continue;
                }
                l.push_control(tx, &mut self.stats, |out| emit_description(out, view));
                self.stats.descriptions_sent += 1;
            }
        }
        if !d.end {
            l.sync.listed = Some(listed);
            return;
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
