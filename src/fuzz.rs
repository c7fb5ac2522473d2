//! Bodies of the fuzz targets, kept in the crate so that `cargo test` on stable can replay the
//! committed corpus through exactly the code the fuzzer runs (`tests/fuzz_corpus.rs`); the
//! targets in `fuzz/` are one-line shims. Not part of the public API.
//!
//! Each body asserts properties, not just "no panic": chunking never changes what the frame
//! decoder yields, and whatever the wire parser accepts re-emits to the same value.

use crate::frame::{self, FeedError, FrameDecoder, FrameError};
use crate::wire::{self, Wire};

/// Frames, leftover byte count, and error, from decoding `chunks` in order.
fn decode_all(max: u32, chunks: &[&[u8]]) -> (Vec<Vec<u8>>, usize, Option<FrameError>) {
    let mut dec = FrameDecoder::new(max);
    let mut frames = Vec::new();
    for chunk in chunks {
        let r = dec.feed(chunk, |f| {
            frames.push(f.to_vec());
            Ok::<(), ()>(())
        });
        match r {
            Ok(()) => {}
            Err(FeedError::Frame(e)) => return (frames, 0, Some(e)),
            Err(FeedError::Handler(())) => unreachable!("the handler never fails"),
        }
    }
    (frames, dec.buffered(), None)
}

/// The frame decoder: byte 0 sets the length limit, byte 1 the chunk size, the rest is the
/// stream. One-shot and chunked decoding must agree, and decoded frames must re-encode to a
/// stream that decodes the same.
pub fn frame(data: &[u8]) {
    let [limit, step, input @ ..] = data else {
        return;
    };
    let max = u32::from(*limit) * 4;
    let whole = decode_all(max, &[input]);
    let chunks: Vec<&[u8]> = input.chunks(usize::from(*step).max(1)).collect();
    let split = decode_all(max, &chunks);
    assert_eq!(whole, split, "chunking changed the outcome");
    let bytes: Vec<&[u8]> = input.chunks(1).collect();
    assert_eq!(
        whole,
        decode_all(max, &bytes),
        "byte-at-a-time changed the outcome"
    );
    if whole.2.is_none() {
        let mut again = Vec::new();
        for f in &whole.0 {
            frame::encode(&mut again, f);
        }
        assert_eq!(decode_all(max, &[&again]).0, whole.0);
    }
}

/// The wire parser: anything it accepts, emitted again, parses to the same value.
pub fn wire(data: &[u8]) {
    let Ok(parsed) = wire::parse(data, 64) else {
        return;
    };
    let mut out = Vec::new();
    match &parsed {
        Wire::Hello(h) => wire::emit_hello(
            &mut out,
            h.answer,
            &h.name,
            h.iknow.iter().map(|n| &**n),
            h.version,
        ),
        Wire::Ping => wire::emit_ping(&mut out),
        Wire::Pong => wire::emit_pong(&mut out),
        Wire::Reach { add, who } => wire::emit_reach(&mut out, *add, who.iter().map(|n| &**n)),
        Wire::Msg(m) => wire::emit_msg(&mut out, &m.from, &m.to, m.body.get(), m.hops, m.seq),
        Wire::Lsa(l) => wire::emit_lsa(
            &mut out,
            &l.origin,
            l.inc,
            l.seq,
            l.neighbors.iter().map(|n| &**n),
            l.externals.iter().map(|n| &**n),
        ),
        Wire::Ack(a) => match a.hops {
            Some(h) => wire::emit_ack(&mut out, &a.from, &a.to, a.inc, a.seq, h),
            None => return,
        },
        Wire::Unknown => return,
    }
    let again = wire::parse(&out[frame::HEADER_LEN..], 64).expect("an emitted frame parses");
    assert_eq!(again, parsed, "emit and parse disagree");
}
