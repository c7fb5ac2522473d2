//! Cutting the incoming byte stream into 2-byte-length-prefixed messages (handshake messages
//! and records), and sniffing the first bytes of a connection.
//!
//! This module owns byte bookkeeping only: no cryptography, no protocol state. Complete
//! messages that arrive within one read are handed out as slices of that read; only a message
//! cut by a read boundary is copied, into a buffer that grows by what arrived (never by what a
//! length claims) and is released after a large message, so an idle link holds no big buffer.

/// Bytes in a message's length prefix.
pub(crate) const LEN_PREFIX: usize = 2;

/// A partial buffer larger than this is freed once its message is consumed, rather than kept
/// for the next one: idle links must stay small.
const KEEP_CAPACITY: usize = 512;

/// A claimed length outside the caller's bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BadLength {
    /// Under the minimum.
    Short(usize),
    /// Over the maximum.
    Long(usize),
}

/// A complete message, borrowed from the reassembly buffer or straight from the input.
pub(crate) enum Piece<'s, 'i> {
    /// Cut by a read boundary and reassembled.
    Buffered(&'s [u8]),
    /// Whole within the input.
    Input(&'i [u8]),
}

impl Piece<'_, '_> {
    /// The message body (without its length prefix).
    pub(crate) fn bytes(&self) -> &[u8] {
        match self {
            Piece::Buffered(b) | Piece::Input(b) => b,
        }
    }
}

/// Reassembles length-prefixed messages across reads.
#[derive(Debug, Default)]
pub(crate) struct Reassembler {
    /// A message cut by a read boundary, prefix included; empty between messages.
    buf: Vec<u8>,
    /// `buf` holds a message already handed out, to be dropped on the next call.
    handed_out: bool,
}

impl Reassembler {
    /// The next complete message body whose length is within `min..=max`, advancing `input`
    /// past what was taken. `Ok(None)`: all of `input` was taken and more is needed.
    pub(crate) fn next<'s, 'i>(
        &'s mut self,
        input: &mut &'i [u8],
        min: usize,
        max: usize,
    ) -> Result<Option<Piece<'s, 'i>>, BadLength> {
        if self.handed_out {
            self.handed_out = false;
            self.buf.clear();
            if self.buf.capacity() > KEEP_CAPACITY {
                self.buf = Vec::new();
            }
        }
        if self.buf.is_empty() && input.len() >= LEN_PREFIX {
            let len = check(input, min, max)?;
            if input.len() >= LEN_PREFIX + len {
                let (msg, rest) = input.split_at(LEN_PREFIX + len);
                *input = rest;
                return Ok(Some(Piece::Input(&msg[LEN_PREFIX..])));
            }
        }
        if self.buf.len() < LEN_PREFIX {
            let want = LEN_PREFIX - self.buf.len();
            take(&mut self.buf, input, want);
            if self.buf.len() < LEN_PREFIX {
                return Ok(None);
            }
        }
        let len = check(&self.buf, min, max)?;
        let want = LEN_PREFIX + len - self.buf.len();
        take(&mut self.buf, input, want);
        if self.buf.len() < LEN_PREFIX + len {
            return Ok(None);
        }
        self.handed_out = true;
        Ok(Some(Piece::Buffered(&self.buf[LEN_PREFIX..])))
    }

    /// Bytes of an incomplete message held.
    pub(crate) fn held(&self) -> usize {
        if self.handed_out { 0 } else { self.buf.len() }
    }

    /// Heap bytes held.
    pub(crate) fn capacity(&self) -> usize {
        self.buf.capacity()
    }

    /// Frees everything (after an error: the stream cannot be resynchronised).
    pub(crate) fn release(&mut self) {
        *self = Reassembler::default();
    }
}

/// The length a 2-byte prefix claims, if within `min..=max`.
fn check(prefix: &[u8], min: usize, max: usize) -> Result<usize, BadLength> {
    let len = usize::from(u16::from_be_bytes([prefix[0], prefix[1]]));
    if len < min {
        Err(BadLength::Short(len))
    } else if len > max {
        Err(BadLength::Long(len))
    } else {
        Ok(len)
    }
}

/// Moves up to `n` bytes from the front of `input` to `buf`.
fn take(buf: &mut Vec<u8>, input: &mut &[u8], n: usize) {
    let n = n.min(input.len());
    buf.extend_from_slice(&input[..n]);
    *input = &input[n..];
}

/// The first few bytes of a connection, gathered until they can be classified.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Head {
    bytes: [u8; 5],
    len: usize,
}

impl Head {
    /// Takes bytes from `input` until `want` (at most 5) are held; whether they are.
    pub(crate) fn fill(&mut self, input: &mut &[u8], want: usize) -> bool {
        let n = want.saturating_sub(self.len).min(input.len());
        self.bytes[self.len..self.len + n].copy_from_slice(&input[..n]);
        self.len += n;
        *input = &input[n..];
        self.len >= want
    }

    /// The bytes held.
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

/// Whether the first five bytes of a stream look like a plaintext secretagent frame: a 4-byte
/// big-endian length (small enough for a hello) and the `{` of a JSON object.
pub(crate) fn looks_like_plaintext_frame(head: &[u8]) -> bool {
    head.len() >= 5 && head[0] == 0 && head[4] == b'{'
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream(bodies: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        for b in bodies {
            out.extend_from_slice(&(b.len() as u16).to_be_bytes());
            out.extend_from_slice(b);
        }
        out
    }

    fn all(r: &mut Reassembler, mut input: &[u8]) -> Result<Vec<Vec<u8>>, BadLength> {
        let mut out = Vec::new();
        while let Some(p) = r.next(&mut input, 1, 300)? {
            out.push(p.bytes().to_vec());
        }
        assert!(input.is_empty());
        Ok(out)
    }

    #[test]
    fn any_split_yields_the_same_messages() {
        let bodies: [&[u8]; 3] = [b"a", &[7; 300], b"xyz"];
        let s = stream(&bodies);
        for cut in 0..=s.len() {
            let mut r = Reassembler::default();
            let mut got = all(&mut r, &s[..cut]).unwrap();
            got.extend(all(&mut r, &s[cut..]).unwrap());
            assert_eq!(got, bodies, "cut at {cut}");
            assert_eq!(r.held(), 0);
        }
        let mut r = Reassembler::default();
        let mut got = Vec::new();
        for b in &s {
            got.extend(all(&mut r, std::slice::from_ref(b)).unwrap());
        }
        assert_eq!(got, bodies);
    }

    #[test]
    fn lengths_out_of_bounds_are_refused_before_buffering() {
        let mut r = Reassembler::default();
        assert_eq!(all(&mut r, &[0x01, 0x2D]), Err(BadLength::Long(301)));
        let mut r = Reassembler::default();
        assert_eq!(all(&mut r, &[0x01]), Ok(vec![]));
        assert_eq!(all(&mut r, &[0x2D]), Err(BadLength::Long(301)));
        assert!(r.capacity() <= 16);
        let mut r = Reassembler::default();
        assert_eq!(all(&mut r, &[0, 0]), Err(BadLength::Short(0)));
    }

    #[test]
    fn a_large_buffer_is_released_once_consumed() {
        let s = stream(&[&[1; 2000]]);
        let mut r = Reassembler::default();
        let mut input = &s[..100];
        assert!(r.next(&mut input, 1, 3000).unwrap().is_none());
        let mut input = &s[100..];
        assert_eq!(
            r.next(&mut input, 1, 3000).unwrap().unwrap().bytes(),
            [1; 2000]
        );
        assert!(r.capacity() >= 2000);
        assert!(r.next(&mut input, 1, 3000).unwrap().is_none());
        assert_eq!(r.capacity(), 0);
    }

    #[test]
    fn head_fills_up_to_what_is_wanted() {
        let mut h = Head::default();
        let mut input: &[u8] = &[1, 2, 3];
        assert!(!h.fill(&mut input, 4));
        assert!(input.is_empty());
        let mut input: &[u8] = &[4, 5, 6];
        assert!(h.fill(&mut input, 4));
        assert_eq!(h.bytes(), [1, 2, 3, 4]);
        assert_eq!(input, [5, 6]);
        assert!(looks_like_plaintext_frame(&[0, 0, 0, 9, b'{']));
        assert!(!looks_like_plaintext_frame(&[0, 0, 0, 9, b'[']));
    }
}
