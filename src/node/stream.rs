//! The byte stream of one link: frames in from the bytes the caller hands over, frames out as
//! bytes for the caller to write; on a secure node, the link's secure session between the two.
//!
//! This module owns a link's framing state: the frame decoder for what arrives, the outbound
//! buffer (what is written, how much of it the caller has taken, whether the link is listed
//! for transmission) and, on a secure link, its [`Session`] and where the frames waiting to be
//! sealed begin. It does not know what a frame means (the node parses frames and writes them) and
//! must not: everything above it deals in whole frames, everything below it in bytes.
//!
//! # The secure stage (feature `secure`)
//! A secure link's session is a state of [`Stream`] (handshaking, established) that knows
//! nothing of the protocol above:
//! - inbound, [`Stream::open`] takes the bytes given to
//!   [`Node::handle_bytes`](super::Node::handle_bytes): handshake messages are answered (the
//!   answer goes to the outbound buffer, never to the frame handler) and records are opened
//!   into plaintext, which the node then feeds to the unchanged frame decoder ([`Reader`]);
//! - outbound, [`Stream::push`] appends frames to the outbound buffer, behind what is sealed,
//!   and [`Stream::seal`] turns them into records there (as few as the 65 535-byte limit
//!   allows, many frames each) when the link is handed out for transmission, so that one
//!   write carries one batch of records, not a record per frame. Only the sealed part is ever
//!   handed out ([`Stream::outbound`], [`Stream::take_unsent`]): frames pushed before the
//!   handshake is done wait behind it, and are dropped with the link if it never completes.
//!   Handshake bytes are put where the sealed part ends, ahead of any frame waiting. One
//!   buffer per link, not a second one for plaintext: an idle link keeps one buffer's
//!   capacity, as a plain link does.
//!
//! [`Stream::pending`] counts sealed and unsealed bytes, so that `Options::max_link_buffer`
//! and `Stats::buffered_bytes` hold for both alike. The scratch buffers that opening and
//! sealing need are the node's, one for all links.

use crate::frame::{FeedError, FrameDecoder};
#[cfg(feature = "secure")]
use crate::secure::{Progress, PublicKey, SecureError, Session};

/// An emptied buffer whose capacity is above this (or above the link buffer limit, if larger)
/// is released, so that an idle link does not keep what a burst made it grow to.
const KEEP_CAPACITY: usize = 64 * 1024;

/// The framing state of one link. See the [module documentation](self).
#[derive(Debug)]
pub(super) struct Stream {
    reader: Reader,
    /// Bytes to write, from `head` on.
    out: Vec<u8>,
    /// Bytes of `out` already written.
    head: usize,
    /// Listed for transmission.
    listed: bool,
    /// The secure stage, on a secure node's link.
    #[cfg(feature = "secure")]
    secure: Option<Secure>,
}

/// A secure link's session, and where its frames waiting to be sealed begin.
#[cfg(feature = "secure")]
#[derive(Debug)]
struct Secure {
    session: Session,
    /// The end of what may be written of the outbound buffer (handshake messages and
    /// records); frames pushed since the link was last handed out follow, as plaintext.
    sealed: usize,
}

/// What [`Stream::open`] did with bytes that arrived.
#[cfg(feature = "secure")]
#[derive(Debug, Clone, Copy)]
pub(super) struct Opened {
    /// Where the handshake stands.
    pub(super) progress: Progress,
    /// Bytes for the peer were written (a handshake message): list the link for transmission.
    pub(super) answered: bool,
}

/// The inbound half of a [`Stream`]: bytes in, frames out.
#[derive(Debug)]
pub(super) struct Reader {
    decoder: FrameDecoder,
}

impl Reader {
    /// Feeds bytes that arrived and hands each complete frame to `on_frame`, in order. An
    /// error (from the framing or from `on_frame`) leaves the reader failed: close the link.
    pub(super) fn feed<E>(
        &mut self,
        bytes: &[u8],
        on_frame: impl FnMut(&[u8]) -> Result<(), E>,
    ) -> Result<(), FeedError<E>> {
        self.decoder.feed(bytes, on_frame)
    }
}

impl Stream {
    /// A stream whose frames are at most `max_frame_len` bytes.
    pub(super) fn new(max_frame_len: u32) -> Stream {
        Stream {
            reader: Reader {
                decoder: FrameDecoder::new(max_frame_len),
            },
            out: Vec::new(),
            head: 0,
            listed: false,
            #[cfg(feature = "secure")]
            secure: None,
        }
    }

    /// Detaches the reader while its frames are handled (handling them needs the whole node,
    /// this stream included). Put it back with [`restore_reader`](Self::restore_reader) unless
    /// the link is closed.
    pub(super) fn take_reader(&mut self) -> Reader {
        let idle = Reader {
            decoder: FrameDecoder::new(0),
        };
        std::mem::replace(&mut self.reader, idle)
    }

    /// Puts back what [`take_reader`](Self::take_reader) took.
    pub(super) fn restore_reader(&mut self, reader: Reader) {
        self.reader = reader;
    }

    /// Appends frames with `write`; returns the bytes appended. List the link for
    /// transmission after.
    pub(super) fn push(&mut self, write: impl FnOnce(&mut Vec<u8>)) -> usize {
        let before = self.out.len();
        write(&mut self.out);
        self.out.len() - before
    }

    /// Marks the link listed for transmission; whether it must be put on the list (it was not
    /// listed yet).
    pub(super) fn list(&mut self) -> bool {
        !std::mem::replace(&mut self.listed, true)
    }

    /// Taken off the transmission list: the next push lists the link again.
    pub(super) fn unlist(&mut self) {
        self.listed = false;
    }

    /// Bytes waiting to be written: ready for the caller, or (on a secure link) plaintext
    /// not sealed yet.
    pub(super) fn pending(&self) -> usize {
        self.out.len() - self.head
    }

    /// The end of what may be written: everything on a plain link, the sealed part on a
    /// secure one.
    fn ready(&self) -> usize {
        #[cfg(feature = "secure")]
        if let Some(sec) = &self.secure {
            return sec.sealed;
        }
        self.out.len()
    }

    /// The bytes waiting to be written.
    pub(super) fn outbound(&self) -> &[u8] {
        &self.out[self.head..self.ready()]
    }

    /// `n` bytes of [`outbound`](Self::outbound) were written. An emptied buffer that grew
    /// past `max_buffer` (or 64 KiB) is released; a buffer mostly written is compacted.
    pub(super) fn consume(&mut self, n: usize, max_buffer: usize) {
        self.head = (self.head + n).min(self.ready());
        if self.head == self.out.len() {
            self.out.clear();
            self.moved(self.head);
            self.head = 0;
            if self.out.capacity() > max_buffer.max(KEEP_CAPACITY) {
                self.out = Vec::new();
            }
        } else if self.head >= KEEP_CAPACITY && self.head * 2 >= self.out.len() {
            self.out.drain(..self.head);
            self.moved(self.head);
            self.head = 0;
        }
    }

    /// The first `n` bytes of the outbound buffer were removed.
    fn moved(&mut self, n: usize) {
        #[cfg(feature = "secure")]
        if let Some(sec) = &mut self.secure {
            sec.sealed -= n;
        }
        let _ = n;
    }

    /// What was never written, for a last flush before the connection closes. On a secure
    /// link, only what was sealed: [`seal`](Self::seal) first to include the last frames.
    pub(super) fn take_unsent(&mut self) -> Vec<u8> {
        let ready = self.ready();
        if self.head == 0 && ready == self.out.len() {
            std::mem::take(&mut self.out)
        } else {
            self.out[self.head..ready].to_vec()
        }
    }
}

#[cfg(feature = "secure")]
impl Stream {
    /// A secure link's stream, its session made, with `first` to write: the dialler's first
    /// handshake bytes (the acceptor has none).
    pub(super) fn secure(max_frame_len: u32, session: Session, first: Vec<u8>) -> Stream {
        Stream {
            secure: Some(Secure {
                session,
                sealed: first.len(),
            }),
            out: first,
            ..Stream::new(max_frame_len)
        }
    }

    /// Whether the link is secure.
    pub(super) fn is_secure(&self) -> bool {
        self.secure.is_some()
    }

    /// The peer's key, once a secure link's handshake is done.
    pub(super) fn remote_key(&self) -> Option<&PublicKey> {
        self.secure.as_ref()?.session.remote_key()
    }

    /// Bytes that arrived on a secure link: handshake messages are answered into the outbound
    /// buffer, records opened into `opened` (appended; on an error, it keeps what the records
    /// before the failed one carried). A plain link's bytes are copied as they are.
    pub(super) fn open(
        &mut self,
        bytes: &[u8],
        opened: &mut Vec<u8>,
        now: u64,
    ) -> Result<Opened, SecureError> {
        let Some(sec) = &mut self.secure else {
            opened.extend_from_slice(bytes);
            return Ok(Opened {
                progress: Progress::Established,
                answered: false,
            });
        };
        if sec.session.is_established() {
            // Records only: nothing goes back to the peer.
            let progress = sec.session.read(bytes, opened, &mut Vec::new(), now)?;
            return Ok(Opened {
                progress,
                answered: false,
            });
        }
        // A handshake answer goes where the sealed part ends, ahead of frames waiting (the
        // dialler's hello); this happens a few times per link.
        let waiting = self.out.split_off(sec.sealed);
        let progress = sec.session.read(bytes, opened, &mut self.out, now);
        let answered = self.out.len() > sec.sealed;
        sec.sealed = self.out.len();
        self.out.extend_from_slice(&waiting);
        Ok(Opened {
            progress: progress?,
            answered,
        })
    }

    /// Seals the frames waiting into records, in place in the outbound buffer, once the
    /// handshake is done (before, they wait). `scratch` is the node's.
    pub(super) fn seal(&mut self, scratch: &mut Vec<u8>, now: u64) -> Result<(), SecureError> {
        let Some(sec) = &mut self.secure else {
            return Ok(());
        };
        if sec.sealed == self.out.len() || !sec.session.is_established() {
            return Ok(());
        }
        let result = sec
            .session
            .write_tail(&mut self.out, sec.sealed, scratch, now);
        // On an error the frames are gone and the records before the failing one stay:
        // the link closes.
        sec.sealed = self.out.len();
        result
    }

    /// Drops the frames not sealed yet (the link closes for a security reason: nothing more
    /// goes to that peer).
    pub(super) fn drop_unsealed(&mut self) {
        if let Some(sec) = &mut self.secure {
            self.out.truncate(sec.sealed);
        }
    }
}
