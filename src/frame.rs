//! The length-prefixed frame codec: a 4-byte big-endian length `N`, then `N` bytes of payload.
//!
//! This module owns byte framing only. It knows nothing of JSON, links or sockets: the decoder
//! is fed whatever bytes a read returned and hands out complete payloads; the encoder appends
//! frames to a caller-supplied buffer.
//!
//! # Guarantees
//! - Correct for any split of the byte stream: one byte at a time, many frames in one read, a
//!   frame spread over many reads.
//! - Never panics on input, and never trusts a length: a claimed length over the limit is an
//!   error before a single byte of payload is stored, and a partial frame only ever holds the
//!   bytes that actually arrived.
//! - Complete frames that arrive within one read are handed out as slices of that read, with no
//!   copy; only a frame cut by a read boundary is copied into the decoder's own buffer, which is
//!   reused from frame to frame.
//! - After an error the decoder stays failed: there is no resynchronising inside a stream whose
//!   framing is lost.

use std::fmt;

/// Bytes in the length prefix.
pub(crate) const HEADER_LEN: usize = 4;

/// Why a byte stream cannot be framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameError {
    /// The length prefix claims more than the configured maximum.
    TooLong {
        /// The claimed payload length.
        len: u32,
        /// The configured maximum (`Options::max_frame_len`).
        max: u32,
    },
    /// The decoder failed earlier and cannot continue on this stream.
    Poisoned,
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::TooLong { len, max } => write!(
                f,
                "frame length {len} exceeds the limit of {max} bytes (raise Options::max_frame_len if the peer is trusted)"
            ),
            FrameError::Poisoned => {
                f.write_str("the stream's framing was lost by an earlier error")
            }
        }
    }
}

impl std::error::Error for FrameError {}

/// Incremental decoder for one byte stream.
#[derive(Debug)]
pub(crate) struct FrameDecoder {
    /// Bytes of a frame cut by a read boundary (header included); empty between frames.
    partial: Vec<u8>,
    max: u32,
    failed: bool,
}

/// Once a buffer has grown past this for one large frame, it is released rather than kept idle.
const KEEP_CAPACITY: usize = 64 * 1024;

impl FrameDecoder {
    /// A decoder that refuses payloads longer than `max_frame_len` bytes.
    pub(crate) fn new(max_frame_len: u32) -> FrameDecoder {
        FrameDecoder {
            partial: Vec::new(),
            max: max_frame_len,
            failed: false,
        }
    }

    /// Bytes held for a frame that has not fully arrived.
    #[cfg(any(test, fuzzing))]
    pub(crate) fn buffered(&self) -> usize {
        self.partial.len()
    }

    /// Heap bytes held by the decoder.
    #[cfg(test)]
    pub(crate) fn capacity(&self) -> usize {
        self.partial.capacity()
    }

    /// Feeds `input` and calls `on_frame` with each complete payload, in order.
    ///
    /// Stops at the first error, from the framing or from `on_frame`; either one leaves the
    /// decoder failed, since the caller is expected to close the stream.
    pub(crate) fn feed<E>(
        &mut self,
        mut input: &[u8],
        mut on_frame: impl FnMut(&[u8]) -> Result<(), E>,
    ) -> Result<(), FeedError<E>> {
        if self.failed {
            return Err(FeedError::Frame(FrameError::Poisoned));
        }
        let result = self.feed_inner(&mut input, &mut on_frame);
        if result.is_err() {
            self.failed = true;
            self.partial = Vec::new();
        }
        result
    }

    fn feed_inner<E>(
        &mut self,
        input: &mut &[u8],
        on_frame: &mut impl FnMut(&[u8]) -> Result<(), E>,
    ) -> Result<(), FeedError<E>> {
        // Finish a frame left over from an earlier read.
        if !self.partial.is_empty() {
            if self.partial.len() < HEADER_LEN {
                let take = (HEADER_LEN - self.partial.len()).min(input.len());
                self.partial.extend_from_slice(&input[..take]);
                *input = &input[take..];
                if self.partial.len() < HEADER_LEN {
                    return Ok(());
                }
            }
            let len = self.check_len(&self.partial[..HEADER_LEN])?;
            // `partial` holds the header and part of the payload: what is missing is within
            // `len`, whatever `usize` is.
            let need = len - (self.partial.len() - HEADER_LEN);
            let take = need.min(input.len());
            // Grows only by what arrived, never by what the header claims.
            self.partial.extend_from_slice(&input[..take]);
            *input = &input[take..];
            if take < need {
                return Ok(());
            }
            on_frame(&self.partial[HEADER_LEN..]).map_err(FeedError::Handler)?;
            self.partial.clear();
            if self.partial.capacity() > KEEP_CAPACITY {
                self.partial = Vec::new();
            }
        }
        // Whole frames straight from the input, without copying.
        loop {
            if input.len() < HEADER_LEN {
                self.partial.extend_from_slice(input);
                return Ok(());
            }
            let len = self.check_len(&input[..HEADER_LEN])?;
            if input.len() - HEADER_LEN < len {
                self.partial.extend_from_slice(input);
                return Ok(());
            }
            let (frame, rest) = input[HEADER_LEN..].split_at(len);
            *input = rest;
            on_frame(frame).map_err(FeedError::Handler)?;
        }
    }

    fn check_len<E>(&self, header: &[u8]) -> Result<usize, FeedError<E>> {
        let len = u32::from_be_bytes([header[0], header[1], header[2], header[3]]);
        if len > self.max {
            return Err(FeedError::Frame(FrameError::TooLong { len, max: self.max }));
        }
        Ok(len as usize)
    }
}

/// An error from [`FrameDecoder::feed`]: the framing itself, or the frame handler.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum FeedError<E> {
    /// The byte stream is not validly framed.
    Frame(FrameError),
    /// The handler refused a frame.
    Handler(E),
}

/// Appends one frame to `out`: reserves the length prefix, lets `write` append the payload, then
/// fills the prefix in. Returns the payload length.
///
/// The payload must stay under 4 GiB; callers bound what they write (bodies are checked against
/// `max_frame_len` before they are accepted).
pub(crate) fn encode_with(out: &mut Vec<u8>, write: impl FnOnce(&mut Vec<u8>)) -> usize {
    let start = out.len();
    out.extend_from_slice(&[0; HEADER_LEN]);
    write(out);
    let len = out.len() - start - HEADER_LEN;
    let prefix = u32::try_from(len).unwrap_or(u32::MAX).to_be_bytes();
    out[start..start + HEADER_LEN].copy_from_slice(&prefix);
    len
}

/// Appends one frame holding `payload` to `out`.
pub(crate) fn encode(out: &mut Vec<u8>, payload: &[u8]) {
    encode_with(out, |buf| buf.extend_from_slice(payload));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(
        dec: &mut FrameDecoder,
        input: &[u8],
        into: &mut Vec<Vec<u8>>,
    ) -> Result<(), FeedError<()>> {
        dec.feed(input, |f| {
            into.push(f.to_vec());
            Ok::<(), ()>(())
        })
    }

    fn stream(payloads: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        for p in payloads {
            encode(&mut out, p);
        }
        out
    }

    #[test]
    fn encodes_big_endian_length_prefix() {
        let mut out = Vec::new();
        encode(&mut out, b"{\"c\":\"ping\"}");
        assert_eq!(&out[..4], &[0, 0, 0, 12]);
        assert_eq!(&out[4..], b"{\"c\":\"ping\"}");
        let n = encode_with(&mut out, |b| b.extend_from_slice(&[7; 300]));
        assert_eq!(n, 300);
        assert_eq!(&out[16..20], &[0, 0, 1, 44]);
    }

    #[test]
    fn every_split_point_of_a_stream_decodes_the_same() {
        let payloads: Vec<&[u8]> = vec![b"a", b"", b"hello world", &[0xff; 70], b"{}"];
        let bytes = stream(&payloads);
        for cut in 0..=bytes.len() {
            for cut2 in cut..=bytes.len() {
                let mut dec = FrameDecoder::new(1000);
                let mut got = Vec::new();
                collect(&mut dec, &bytes[..cut], &mut got).unwrap();
                collect(&mut dec, &bytes[cut..cut2], &mut got).unwrap();
                collect(&mut dec, &bytes[cut2..], &mut got).unwrap();
                assert_eq!(got, payloads, "cuts at {cut} and {cut2}");
                assert_eq!(dec.buffered(), 0);
            }
        }
    }

    #[test]
    fn one_byte_at_a_time() {
        let payloads: Vec<&[u8]> = vec![b"x", b"yz", &[1; 1000]];
        let bytes = stream(&payloads);
        let mut dec = FrameDecoder::new(1000);
        let mut got = Vec::new();
        for b in &bytes {
            collect(&mut dec, std::slice::from_ref(b), &mut got).unwrap();
        }
        assert_eq!(got, payloads);
    }

    #[test]
    fn too_long_is_refused_before_any_payload_is_stored() {
        let mut dec = FrameDecoder::new(16);
        let mut got = Vec::new();
        let err = collect(&mut dec, &[0x7f, 0xff, 0xff, 0xff, 1, 2, 3], &mut got).unwrap_err();
        assert_eq!(
            err,
            FeedError::Frame(FrameError::TooLong {
                len: 0x7fff_ffff,
                max: 16
            })
        );
        assert_eq!(dec.capacity(), 0);
        // Split header: the check happens as soon as the fourth byte arrives.
        let mut dec = FrameDecoder::new(16);
        collect(&mut dec, &[0, 0], &mut got).unwrap();
        let err = collect(&mut dec, &[0, 17], &mut got).unwrap_err();
        assert!(matches!(
            err,
            FeedError::Frame(FrameError::TooLong { len: 17, .. })
        ));
        // And it stays failed.
        assert_eq!(
            collect(&mut dec, &[0, 0, 0, 1, 9], &mut got).unwrap_err(),
            FeedError::Frame(FrameError::Poisoned)
        );
        assert!(got.is_empty());
    }

    #[test]
    fn max_length_frame_is_accepted() {
        let bytes = stream(&[&[5; 16]]);
        let mut dec = FrameDecoder::new(16);
        let mut got = Vec::new();
        collect(&mut dec, &bytes, &mut got).unwrap();
        assert_eq!(got.len(), 1);
    }

    #[test]
    fn a_trickle_of_a_huge_claimed_frame_holds_only_what_arrived() {
        let mut dec = FrameDecoder::new(u32::MAX);
        let mut got = Vec::new();
        collect(&mut dec, &[0x7f, 0xff, 0xff, 0xff], &mut got).unwrap();
        collect(&mut dec, &[0; 100], &mut got).unwrap();
        assert_eq!(dec.buffered(), 104);
        assert!(dec.capacity() < 4096, "capacity {}", dec.capacity());
    }

    #[test]
    fn handler_error_stops_and_poisons() {
        let bytes = stream(&[b"1", b"2", b"3"]);
        let mut dec = FrameDecoder::new(10);
        let mut seen = 0;
        let err = dec
            .feed(&bytes, |f| {
                seen += 1;
                if f == b"2" { Err("bad") } else { Ok(()) }
            })
            .unwrap_err();
        assert_eq!(err, FeedError::Handler("bad"));
        assert_eq!(seen, 2);
        assert!(dec.feed(b"", |_| Ok::<(), ()>(())).is_err());
    }

    #[test]
    fn large_partial_buffer_is_released_after_use() {
        let big = vec![3u8; 200_000];
        let bytes = stream(&[&big, b"x"]);
        let mut dec = FrameDecoder::new(1 << 20);
        let mut got = Vec::new();
        collect(&mut dec, &bytes[..1000], &mut got).unwrap();
        collect(&mut dec, &bytes[1000..], &mut got).unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(dec.capacity(), 0);
    }
}
