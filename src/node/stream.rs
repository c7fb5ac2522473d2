//! The byte stream of one link: frames in from the bytes the caller hands over, frames out as
//! bytes for the caller to write.
//!
//! This module owns a link's framing state: the frame decoder for what arrives, and the
//! outbound buffer (what is written, how much of it the caller has taken, whether the link is
//! listed for transmission). It does not know what a frame means (the node parses frames and
//! writes them) and must not: everything above it deals in whole frames, everything below it
//! in bytes.
//!
//! # Where a secure layer goes
//! A secure transport (a Noise handshake, then encrypted records of at most 65 535 bytes, one
//! record per write) is a per-link stage between the byte stream and the frame codec, and it
//! belongs here, as a state of [`Stream`] (handshaking, established) that knows nothing of the
//! protocol above:
//! - inbound, [`Reader::feed`] is the one way from the bytes given to
//!   [`Node::handle_bytes`](super::Node::handle_bytes) to the frame decoder: it would first
//!   open records (or answer the handshake, which never reaches the frame handler) and feed
//!   the plaintext to the decoder;
//! - outbound, [`Stream::push`] is the one way frames enter the buffer, and
//!   [`Stream::outbound`] the one way bytes leave it: frames pushed would wait as plaintext
//!   and be sealed into records when the link is listed for transmission, so that `outbound`
//!   hands the caller whole records.
//!
//! The node above would not change: it would still hand bytes over, push frames, and report
//! what was written.

use crate::frame::{FeedError, FrameDecoder};

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

    /// Appends frames with `write`. Returns the bytes appended, and whether the link must be
    /// listed for transmission (it was not listed yet).
    pub(super) fn push(&mut self, write: impl FnOnce(&mut Vec<u8>)) -> (usize, bool) {
        let before = self.out.len();
        write(&mut self.out);
        let list = !self.listed;
        self.listed = true;
        (self.out.len() - before, list)
    }

    /// Taken off the transmission list: the next push lists the link again.
    pub(super) fn unlist(&mut self) {
        self.listed = false;
    }

    /// Bytes waiting to be written.
    pub(super) fn pending(&self) -> usize {
        self.out.len() - self.head
    }

    /// The bytes waiting to be written.
    pub(super) fn outbound(&self) -> &[u8] {
        &self.out[self.head..]
    }

    /// `n` bytes of [`outbound`](Self::outbound) were written. An emptied buffer that grew
    /// past `max_buffer` (or 64 KiB) is released; a buffer mostly written is compacted.
    pub(super) fn consume(&mut self, n: usize, max_buffer: usize) {
        self.head = (self.head + n).min(self.out.len());
        if self.head == self.out.len() {
            self.out.clear();
            self.head = 0;
            if self.out.capacity() > max_buffer.max(64 * 1024) {
                self.out = Vec::new();
            }
        } else if self.head >= 64 * 1024 && self.head * 2 >= self.out.len() {
            self.out.drain(..self.head);
            self.head = 0;
        }
    }

    /// What was never written, for a last flush before the connection closes.
    pub(super) fn take_unsent(&mut self) -> Vec<u8> {
        if self.head == 0 {
            std::mem::take(&mut self.out)
        } else {
            self.out[self.head..].to_vec()
        }
    }
}
