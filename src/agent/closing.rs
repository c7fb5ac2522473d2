//! Closing a link's socket cleanly, once the core has closed the link.
//!
//! A peer sees a reset, not an end of stream, when a socket is closed with unread bytes in
//! its receive buffer: the kernel then discards what it still had to send, and the peer may
//! lose the last frames (a refusal's reason, confirmations). So a closed link is not dropped
//! at once: what the core still owed the peer is written, the socket is half-closed (FIN),
//! and whatever the peer still sends is read and dropped until its own FIN, which ends it.
//! A peer that neither reads nor closes is given [`CLOSE_WAIT`], then dropped.
//!
//! This module owns that last stretch of a socket's life and its deadline queue. The core has
//! forgotten the link: its slab key stays taken until the socket is gone, so that no new link
//! gets the id meanwhile.

use std::io::{ErrorKind, Read, Write};
use std::net::Shutdown;
use std::time::{Duration, Instant};

use crate::LinkId;

use super::Agent;
use super::shell::Source;

/// How long a closed link waits for its peer's FIN (or for the peer to take the last bytes).
pub(super) const CLOSE_WAIT: Duration = Duration::from_secs(1);

/// Most sockets closing at once; past it a socket is closed without waiting (its peer may see
/// a reset), so that a flood of connections refused on arrival holds no more descriptors than
/// this.
const MAX_CLOSING: usize = 1024;

/// The state of a socket being closed.
#[derive(Debug)]
pub(crate) struct Closing {
    /// Bytes the core still owed the peer.
    unsent: Vec<u8>,
    /// The FIN was sent.
    fin: bool,
    /// When it is dropped anyway.
    until: Instant,
}

/// What became of a closing socket after some progress.
enum Progress {
    /// Waiting for the socket: writable, or the peer's FIN.
    Waiting,
    /// Over: drop it.
    Done,
}

impl Agent {
    /// The core closed `link`: writes `flush` and closes the socket cleanly (see the module
    /// docs).
    pub(super) fn close(&mut self, link: LinkId, flush: Vec<u8>, now: Instant) {
        let Some(Source::Link(c)) = self.sources.get_mut(link.0) else {
            return;
        };
        if c.connecting.is_some() || c.closing.is_some() {
            // Nothing was ever said on it, or it is closing already.
            self.remove_conn(link.0);
            return;
        }
        if self.closings >= MAX_CLOSING {
            let _ = c.stream.write(&flush);
            let _ = c.stream.shutdown(Shutdown::Write);
            self.remove_conn(link.0);
            return;
        }
        let until = now + CLOSE_WAIT;
        c.closing = Some(Closing {
            unsent: flush,
            fin: false,
            until,
        });
        self.closings += 1;
        self.closing_queue.push_back((until, link.0));
        self.progress_close(link.0);
    }

    /// Moves a closing socket on as far as it goes now: writes what is owed, half-closes, and
    /// reads (dropping it) what the peer still sends, up to its FIN.
    pub(super) fn progress_close(&mut self, key: usize) {
        if let Progress::Done = self.step_close(key) {
            self.remove_conn(key);
        }
    }

    fn step_close(&mut self, key: usize) -> Progress {
        let Some(Source::Link(c)) = self.sources.get_mut(key) else {
            return Progress::Waiting;
        };
        let Some(closing) = c.closing.as_mut() else {
            return Progress::Waiting;
        };
        while !closing.unsent.is_empty() {
            match c.stream.write(&closing.unsent) {
                Ok(0) => return Progress::Done,
                Ok(n) => drop(closing.unsent.drain(..n)),
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => return Progress::Done,
            }
        }
        if closing.unsent.is_empty() && !closing.fin {
            closing.fin = true;
            if c.stream.shutdown(Shutdown::Write).is_err() {
                return Progress::Done;
            }
        }
        // Read to the peer's FIN, within the budget of a poll; a peer that sends more is read
        // on at the next poll.
        let mut total = 0;
        loop {
            match c.stream.read(&mut self.read_buf) {
                // The peer is done too: once the last bytes are out, nothing is left to wait for.
                Ok(0) if closing.fin => return Progress::Done,
                Ok(0) => return Progress::Waiting,
                Ok(n) => {
                    total += n;
                    if total >= super::READ_BUDGET {
                        self.backlog.push(LinkId(key));
                        return Progress::Waiting;
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Progress::Waiting,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => return Progress::Done,
            }
        }
    }

    /// Drops the closing sockets whose wait is over (reading what they hold first, so that
    /// the peer is not reset for bytes merely unread).
    pub(super) fn expire_closings(&mut self, now: Instant) {
        while let Some(&(until, key)) = self.closing_queue.front() {
            if until > now {
                return;
            }
            self.closing_queue.pop_front();
            let current = match self.sources.get(key) {
                Some(Source::Link(c)) => c.closing.as_ref().is_some_and(|cl| cl.until == until),
                _ => false,
            };
            if current {
                self.progress_close(key);
                self.remove_conn(key);
            }
        }
    }

    /// When the next closing socket is dropped anyway, if one is closing.
    pub(super) fn next_close_deadline(&self) -> Option<Instant> {
        if self.closings == 0 {
            return None;
        }
        self.closing_queue.front().map(|&(until, _)| until)
    }
}
