//! The wire's framing, as a test peer needs it: a 4-byte big-endian length, then the payload;
//! and standard base64, as secure frames spell keys, signatures and tags. Written here rather
//! than borrowed from the crate, so that a raw peer checks the agent against an independent
//! reading of the format.

/// Standard base64 (RFC 4648 alphabet), padded with `=`.
pub fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for i in 0..4 {
            out.push(if i <= chunk.len() {
                char::from(ALPHABET[(n >> (18 - 6 * i)) as usize & 63])
            } else {
                '='
            });
        }
    }
    out
}

/// Appends `payload` as one frame.
pub fn encode(out: &mut Vec<u8>, payload: &[u8]) {
    let len = u32::try_from(payload.len()).expect("a test frame fits a 4-byte length");
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(payload);
}

/// Splits a byte stream into frames, whatever the reads' boundaries.
#[derive(Debug, Default)]
pub struct Decoder {
    buf: Vec<u8>,
}

impl Decoder {
    /// Takes the bytes of a read and calls `frame` with each payload completed by them.
    pub fn feed(&mut self, bytes: &[u8], mut frame: impl FnMut(&[u8])) {
        self.buf.extend_from_slice(bytes);
        let mut at = 0;
        while let Some(header) = self.buf.get(at..at + 4) {
            let len = u32::from_be_bytes(header.try_into().expect("four bytes")) as usize;
            let Some(payload) = self.buf.get(at + 4..at + 4 + len) else {
                break;
            };
            frame(payload);
            at += 4 + len;
        }
        self.buf.drain(..at);
    }
}
