//! The body of the `secure` fuzz target, built only for tests and fuzzing (`cfg(fuzzing)`), so
//! that `cargo test` replays the committed corpus through exactly the code the fuzzer runs.
//!
//! Two properties, chosen by the first input byte:
//! - **Stranger** (even): a responder fed arbitrary bytes, optionally after a valid preamble
//!   and a genuine first handshake message, never panics, and until it is established never
//!   holds more than one capped handshake message; after an error it holds nothing.
//! - **Records** (odd): two established sessions; the sender's record stream is mutated at
//!   fuzzer-chosen points and delivered in fuzzer-chosen reads. The receiver yields a prefix
//!   of the original plaintext, and all of it when nothing was mutated: never a wrong byte.

use std::sync::{Arc, OnceLock};

use super::{Csprng, Identity, MAX_HANDSHAKE_MSG, Psk, SecureConfig, Session, Trust};

/// Reads the fuzz input as a sequence of small integers; zeros once exhausted.
struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn byte(&mut self) -> u8 {
        match self.0.split_first() {
            Some((&b, rest)) => {
                self.0 = rest;
                b
            }
            None => 0,
        }
    }

    fn u16(&mut self) -> u16 {
        u16::from_be_bytes([self.byte(), self.byte()])
    }

    fn u32(&mut self) -> u32 {
        u32::from(self.u16()) << 16 | u32::from(self.u16())
    }
}

/// The two agents' identities and the trust list naming them, made once: deriving public keys
/// costs more than the rest of a run.
fn agents() -> &'static (Identity, Identity, Trust) {
    static AGENTS: OnceLock<(Identity, Identity, Trust)> = OnceLock::new();
    AGENTS.get_or_init(|| {
        let (a, b) = (Identity::from_seed([1; 32]), Identity::from_seed([2; 32]));
        let mut trust = Trust::new();
        trust.insert("a", *a.public());
        trust.insert("b", *b.public());
        (a, b, trust)
    })
}

/// The configuration of agent `a` (dialler) or `b`.
fn config(dialler: bool, psk: bool, rekey_records: u64) -> Arc<SecureConfig> {
    let (a, b, trust) = agents();
    let identity = if dialler { a } else { b };
    let mut cfg =
        SecureConfig::new(identity.clone(), trust.clone()).with_rekey_after(1_000, rekey_records);
    if psk {
        cfg = cfg.with_psk(Psk::from_bytes([7; 32]));
    }
    Arc::new(cfg)
}

/// Runs one fuzz input.
pub fn secure(data: &[u8]) {
    match data.split_first() {
        Some((&which, rest)) if which % 2 == 0 => stranger(rest),
        Some((_, rest)) => records(rest),
        None => {}
    }
}

/// A responder fed arbitrary bytes. Flags: bit 0 PSK, bit 1 a valid preamble first, bit 2 a
/// genuine first handshake message after it; bits 3-7 the read size (0: all at once).
fn stranger(data: &[u8]) {
    let Some((&flags, bytes)) = data.split_first() else {
        return;
    };
    let psk = flags & 1 != 0;
    let cfg = config(false, psk, u64::MAX);
    let mut rng = Csprng::from_seed([3; 32]);
    let mut responder = Session::responder(&cfg, &mut rng);
    let mut input = Vec::new();
    if flags & 6 != 0 {
        let mut first = Vec::new();
        Session::initiator(&config(true, psk, u64::MAX), &mut rng, &mut first)
            .expect("a dialler can always start");
        let keep = if flags & 4 != 0 { first.len() } else { 4 };
        input.extend_from_slice(&first[..keep]);
    }
    input.extend_from_slice(bytes);
    let step = usize::from(flags >> 3).max(1);
    let step = if flags >> 3 == 0 {
        input.len().max(1)
    } else {
        step
    };
    let (mut plain, mut reply) = (Vec::new(), Vec::new());
    for chunk in input.chunks(step) {
        let result = responder.read(chunk, &mut plain, &mut reply, 0);
        assert!(plain.is_empty(), "a stranger produced plaintext");
        if result.is_err() {
            assert_eq!(
                responder.buffer_capacity(),
                0,
                "a failed session holds nothing"
            );
            return;
        }
        assert!(
            !responder.is_established(),
            "a stranger completed a handshake"
        );
        assert!(responder.buffered() <= 2 + MAX_HANDSHAKE_MSG);
        assert!(responder.buffer_capacity() <= 2 * (2 + MAX_HANDSHAKE_MSG));
    }
}

/// The most plaintext one `records` run sends.
const MAX_PLAIN: usize = 300_000;

/// Two established sessions, `a` dialled `b`.
fn pair(psk: bool, rekey_records: u64) -> (Session, Session) {
    let mut rng = Csprng::from_seed([5; 32]);
    let mut f1 = Vec::new();
    let mut a = Session::initiator(&config(true, psk, rekey_records), &mut rng, &mut f1)
        .expect("a dialler can always start");
    let mut b = Session::responder(&config(false, psk, rekey_records), &mut rng);
    let (mut f2, mut f3, mut plain) = (Vec::new(), Vec::new(), Vec::new());
    b.read(&f1, &mut plain, &mut f2, 0).expect("message 1");
    a.read(&f2, &mut plain, &mut f3, 0).expect("message 2");
    b.read(&f3, &mut plain, &mut Vec::new(), 0)
        .expect("message 3");
    (a, b)
}

/// Flags: bit 0 PSK, bit 1 rekey every 2 records, bit 2 time steps of 600 ms between writes
/// (a rekey every other write). Then up to 8 writes (a u16 count of bytes each, times 1..=4 by
/// the top bits of the flags), up to 4 mutations (position, operation) and a read size.
fn records(data: &[u8]) {
    let mut input = Input(data);
    let flags = input.byte();
    let rekey_records = if flags & 2 != 0 { 2 } else { u64::MAX };
    let (mut a, mut b) = pair(flags & 1 != 0, rekey_records);
    let scale = usize::from(flags >> 6) + 1;
    let (mut original, mut wire, mut scratch) = (Vec::new(), Vec::new(), Vec::new());
    let mut now = 0;
    for i in 0..input.byte() % 9 {
        // Bounded so that one run stays fast: four full records and then some.
        let len = (usize::from(input.u16()) * scale).min(MAX_PLAIN - original.len());
        let data: Vec<u8> = (0..len).map(|j| (j as u8).wrapping_mul(31) ^ i).collect();
        a.write(&data, &mut wire, &mut scratch, now)
            .expect("an established session can write");
        original.extend_from_slice(&data);
        if flags & 4 != 0 {
            now += 600;
        }
    }
    let mutations = input.byte() % 5;
    let mut mutated = false;
    for _ in 0..mutations {
        let at = input.u32() as usize;
        let op = input.byte();
        mutated |= mutate(&mut wire, at, op);
    }
    // At most about 2048 reads, so a long stream is not fed a byte at a time.
    let step = usize::from(input.u16()).max(wire.len() / 2048).max(1);
    let mut plain = Vec::new();
    let mut failed = false;
    for chunk in wire.chunks(step) {
        if b.read(chunk, &mut plain, &mut Vec::new(), now).is_err() {
            failed = true;
            break;
        }
    }
    assert!(
        original.starts_with(&plain),
        "the receiver yielded bytes that were never sent"
    );
    if !mutated {
        assert!(!failed, "an unmodified stream failed");
        assert_eq!(plain, original, "an unmodified stream lost bytes");
    }
    assert!(b.buffered() <= 2 + super::MAX_RECORD);
}

/// Changes `wire` at `at` (modulo its length) by `op`: flip a bit, insert a byte, delete a
/// byte, or cut the stream there. Whether it changed anything.
fn mutate(wire: &mut Vec<u8>, at: usize, op: u8) -> bool {
    if wire.is_empty() {
        return false;
    }
    let at = at % wire.len();
    match op % 4 {
        0 => wire[at] ^= 1 << (op >> 5),
        1 => wire.insert(at, op),
        2 => {
            wire.remove(at);
        }
        _ => wire.truncate(at),
    }
    true
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    #[test]
    fn committed_corpus_replays_clean() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/secure");
        let mut n = 0;
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.unwrap().path();
            let data = std::fs::read(&path).unwrap();
            let result = std::panic::catch_unwind(|| super::secure(&data));
            assert!(result.is_ok(), "corpus file {} fails", path.display());
            n += 1;
        }
        assert!(n >= 10, "only {n} corpus files");
    }

    #[test]
    fn each_property_holds_on_hand_made_inputs() {
        // Strangers: plain bytes, a valid preamble then junk, a genuine first message then a
        // bogus third, and with a PSK.
        super::secure(&[0, 0, 1, 2, 3]);
        super::secure(&[0, 0b10, 0, 40]);
        super::secure(&[0, 0b1111, 0, 96, 1, 2, 3]);
        // Records: two writes, unmodified, read a byte at a time; then mutated.
        super::secure(&[1, 0b110, 2, 0, 100, 1, 0, 0, 0, 1]);
        super::secure(&[1, 0b011, 2, 0, 100, 1, 0, 1, 0, 0, 0, 20, 8, 0, 7]);
        super::secure(&[1, 0xC0, 1, 0xFF, 0xFF, 1, 0, 1, 0, 0, 2, 0, 0xFF, 0xFF]);
    }
}
