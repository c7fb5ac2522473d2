//! v2 delivery confirmations, `{"c":"ack","f":DEST,"t":ORIGIN,"i":INC,"s":SEQ,"h":HOPS}`,
//! routed from a destination back to the origin like a message: the type, the fast path that
//! reads a confirmation exactly as [`emit_ack`] writes it, the general parser's reader, and the
//! emitter.
//!
//! On secure links a confirmation that goes through relays carries `"g":TAG` after the hop
//! count: the standard padded base64 (24 characters) of the 16-byte end-to-end tag over the
//! confirming agent, the origin, the incarnation and the number
//! (`secure::PairKey::tag_confirmation`), not the hop count. Relays pass it on as it came; a
//! plain agent ignores it.
use std::borrow::Cow;

use super::WireError;
use super::cursor::Cursor;
use super::envelope::{Envelope, optional_str, optional_u64, required_name, required_u64};
use super::json::{write_str, write_u64};
use crate::frame;

/// A cumulative delivery confirmation, travelling from destination back to origin (v2).
#[derive(Debug)]
pub(crate) struct Ack<'a> {
    /// `f`: the destination that confirms.
    pub(crate) from: Cow<'a, str>,
    /// `t`: the origin the confirmation is for.
    pub(crate) to: Cow<'a, str>,
    /// `i`: the origin's incarnation the numbers belong to.
    pub(crate) inc: u64,
    /// `s`: every message numbered up to this one was delivered, in order.
    pub(crate) seq: u64,
    /// `h`: hops travelled so far.
    pub(crate) hops: Option<u64>,
    /// `g`: the end-to-end tag, in base64 (secure mode).
    pub(crate) tag: Option<Cow<'a, str>>,
    /// Where the digits of `h` sit in the frame, when the frame is exactly what [`emit_ack`]
    /// writes: a relay then copies the frame around a new hop count, as it does a message.
    pub(crate) hops_at: Option<(usize, usize)>,
}

/// Equal when they say the same; where the hop count sits is how it was read, not what it says.
impl PartialEq for Ack<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.from == other.from
            && self.to == other.to
            && self.inc == other.inc
            && self.seq == other.seq
            && self.hops == other.hops
            && self.tag == other.tag
    }
}

/// The confirmation fast path: `{"c":"ack","f":F,"t":T,"i":I,"s":S}`, optionally with `,"h":H`
/// and then optionally `,"g":"TAG"` before the closing brace, exactly as [`emit_ack`] writes it, with the same rules for names
/// and numbers as [`fast_msg`](super::msg::fast_msg). A message that is answered at once
/// travels with a confirmation the other way, so on a request/response exchange every other
/// frame is one of these.
#[inline]
pub(super) fn fast_ack(text: &str) -> Option<Ack<'_>> {
    let mut cur = Cursor::new(text);
    cur.eat(b"{\"c\":\"ack\",\"f\":\"")?;
    let from = cur.name()?;
    cur.eat(b",\"t\":\"")?;
    let to = cur.name()?;
    cur.eat(b",\"i\":")?;
    let inc = cur.number()?;
    cur.eat(b",\"s\":")?;
    let seq = cur.number()?;
    let (hops, hops_at) = cur.hops()?.unzip();
    let tag = cur.tag()?;
    cur.close()?;
    Some(Ack {
        from: Cow::Borrowed(from),
        to: Cow::Borrowed(to),
        inc,
        seq,
        hops,
        tag: tag.map(Cow::Borrowed),
        hops_at,
    })
}

/// The general parser's reader for a confirmation.
pub(super) fn parse_ack<'a>(env: &Envelope<'a>) -> Result<Ack<'a>, WireError> {
    let command = "ack";
    Ok(Ack {
        from: required_name(env.f, command, "f")?,
        to: required_name(env.t, command, "t")?,
        inc: required_u64(env.i, command, "i")?,
        seq: required_u64(env.s, command, "s")?,
        hops: optional_u64(env.h, command, "h")?,
        tag: optional_str(env.g, command, "g")?,
        hops_at: None,
    })
}

/// Appends `{"c":"ack","f":DEST,"t":ORIGIN,"i":INC,"s":SEQ,"h":HOPS}`, with `,"g":TAG` before
/// the closing brace when `tag` (base64) is given.
pub(crate) fn emit_ack(
    out: &mut Vec<u8>,
    from: &str,
    to: &str,
    inc: u64,
    seq: u64,
    hops: u64,
    tag: Option<&str>,
) {
    frame::encode_with(out, |b| {
        b.extend_from_slice(b"{\"c\":\"ack\",\"f\":");
        write_str(b, from);
        b.extend_from_slice(b",\"t\":");
        write_str(b, to);
        b.extend_from_slice(b",\"i\":");
        write_u64(b, inc);
        b.extend_from_slice(b",\"s\":");
        write_u64(b, seq);
        b.extend_from_slice(b",\"h\":");
        write_u64(b, hops);
        if let Some(tag) = tag {
            b.extend_from_slice(b",\"g\":");
            write_str(b, tag);
        }
        b.push(b'}');
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{Wire, parse, parse_general};

    /// Both paths on one confirmation: equal results, and whether the fast path took it.
    fn agree_ack(frame: &[u8]) -> bool {
        assert_eq!(
            parse(frame, 1),
            parse_general(frame, 1),
            "{}",
            String::from_utf8_lossy(frame)
        );
        std::str::from_utf8(frame).is_ok_and(|t| fast_ack(t).is_some())
    }

    #[test]
    fn the_confirmation_fast_path_takes_emitted_confirmations_and_agrees_on_the_rest() {
        let mut out = Vec::new();
        for (from, to, inc, seq, hops) in [
            ("Rosenberg", "Wolf", 1_700_000_000_000, 1, 1),
            ("Zoë", "B", 0, crate::wire::MAX_NUMBER, 31),
        ] {
            out.clear();
            emit_ack(&mut out, from, to, inc, seq, hops, None);
            assert!(agree_ack(&out[4..]), "{from}");
            let Ok(Wire::Ack(a)) = parse(&out[4..], 1) else {
                panic!("{from}")
            };
            assert_eq!(
                (&*a.from, &*a.to, a.inc, a.seq, a.hops),
                (from, to, inc, seq, Some(hops))
            );
            let (start, end) = a.hops_at.expect("where the hop count is");
            assert_eq!(out[4..].get(start..end), Some(hops.to_string().as_bytes()));
        }
        out.clear();
        emit_ack(&mut out, "Fr\"ance", "B", 1, 2, 1, None);
        assert!(
            !agree_ack(&out[4..]),
            "an escaped name goes the general way"
        );
        assert!(agree_ack(br#"{"c":"ack","f":"A","t":"B","i":1,"s":2}"#));
        let general: [&[u8]; 15] = [
            br#"{"c":"ack","f":"A","t":"B","i":9007199254740993,"s":2}"#,
            br#"{"c":"ack","f":"A","t":"B","i":1,"s":18446744073709551615}"#,
            br#"{"c":"ack","f":"A","t":"B","i":1,"s":2,"h":9007199254740993}"#,
            br#"{"c":"ack","t":"B","f":"A","i":1,"s":2,"h":1}"#,
            br#"{"c":"ack","f":"A","t":"B","s":2,"i":1,"h":1}"#,
            br#"{"c":"ack","f":"A","t":"B","i":1,"s":2,"h":1,"x":0}"#,
            br#"{"c":"ack","f":"A","t":"B","i":1,"s":2,"h":1,"h":2}"#,
            br#"{"c":"ack","f":"A","t":"B","i":1,"s":2,"h":1} "#,
            br#"{"c":"ack", "f":"A","t":"B","i":1,"s":2}"#,
            br#"{"c":"ack","f":"A","t":"B","i":1,"h":1}"#,
            br#"{"c":"ack","f":"A","t":"B","i":01,"s":2}"#,
            br#"{"c":"ack","f":"A","t":"B","i":1,"s":2.0}"#,
            br#"{"c":"ack","f":"A","t":"B","i":1,"s":18446744073709551616}"#,
            br#"{"c":"ack","f":"","t":"B","i":1,"s":2}"#,
            br#"{"c":"ack","f":"A","t":"B","i":1,"s":2"#,
        ];
        for frame in general {
            assert!(!agree_ack(frame), "{}", String::from_utf8_lossy(frame));
        }
        // Every prefix of one the fast path takes, and every single-byte change of it.
        let base = br#"{"c":"ack","f":"A","t":"B","i":10,"s":20,"h":3}"#;
        assert!(agree_ack(base));
        for n in 0..base.len() {
            agree_ack(&base[..n]);
            for b in [
                b'"', b',', b'{', b'}', b'\\', b'0', b' ', b'x', b'-', 0x01, 0xc3,
            ] {
                let mut changed = base.to_vec();
                changed[n] = b;
                agree_ack(&changed);
            }
        }
    }

    #[test]
    fn round_trips_through_emit_and_parse() {
        let mut out = Vec::new();
        emit_ack(&mut out, "B", "A", 9, 41, 1, None);
        assert_eq!(
            &out[4..],
            br#"{"c":"ack","f":"B","t":"A","i":9,"s":41,"h":1}"#
        );
        let Wire::Ack(a) = parse(&out[4..], 5).unwrap() else {
            panic!()
        };
        assert_eq!(
            (&*a.from, &*a.to, a.inc, a.seq, a.hops),
            ("B", "A", 9, 41, Some(1))
        );
    }

    #[test]
    fn tagged_confirmations_round_trip_and_take_the_fast_path() {
        let tag = "AAECAwQFBgcICQoLDA0ODw==";
        let mut out = Vec::new();
        emit_ack(&mut out, "B", "A", 9, 41, 3, Some(tag));
        let text = format!(r#"{{"c":"ack","f":"B","t":"A","i":9,"s":41,"h":3,"g":"{tag}"}}"#);
        assert_eq!(&out[4..], text.as_bytes());
        assert!(agree_ack(&out[4..]));
        let Wire::Ack(a) = parse(&out[4..], 5).unwrap() else {
            panic!()
        };
        assert_eq!((a.hops, a.tag.as_deref()), (Some(3), Some(tag)));
        let (start, end) = a.hops_at.expect("where the hop count is");
        assert_eq!(&out[4..][start..end], b"3");
        let base = br#"{"c":"ack","f":"A","t":"B","i":10,"s":20,"h":3,"g":"x+/="}"#;
        assert!(agree_ack(base));
        for n in 0..base.len() {
            agree_ack(&base[..n]);
            for b in [b'"', b',', b'}', b'\\', b'0', b' ', 0x01] {
                let mut changed = base.to_vec();
                changed[n] = b;
                agree_ack(&changed);
            }
        }
        for frame in [
            &br#"{"c":"ack","f":"A","t":"B","i":1,"s":2,"g":"t","h":1}"#[..],
            br#"{"c":"ack","f":"A","t":"B","i":1,"s":2,"g":"a\/b"}"#,
        ] {
            assert!(!agree_ack(frame), "{}", String::from_utf8_lossy(frame));
            assert!(parse(frame, 1).is_ok());
        }
        let bad = br#"{"c":"ack","f":"A","t":"B","i":1,"s":2,"g":false}"#;
        assert!(!agree_ack(bad));
        let err = parse(bad, 1).unwrap_err().to_string();
        assert!(err.contains("\"g\" is not a string"), "{err}");
    }
}
