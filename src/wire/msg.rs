//! User messages, `{"c":"msg","f":FROM,"t":TO,"m":BODY}` with an optional hop count and an
//! optional end-to-end identity for confirmed delivery: the type, the fast path that reads a
//! message exactly as [`emit_msg`] writes it, the general parser's reader, and the emitter.
//!
//! The body is never decoded, only checked to be one JSON value and kept as a `&RawValue`, so
//! a relay passes it on byte for byte. Nearly every frame on a busy link is one of these.
//!
//! # Authenticated and sealed messages (secure mode)
//! Three fields serve agents on secure links (`node/origins.rs` says when they are written
//! and checked; a plain agent never writes them and ignores them, and a relay passes them on
//! as they came):
//! - `"d":INC`, after the numbers: the destination's incarnation, as the origin knew it from
//!   the destination's description when it wrote the message. A destination in another run
//!   drops the message (it was meant for an earlier run, or replayed), and the origin resends
//!   it with the value of the description it learns.
//! - `"e":true`: the body is sealed for the destination. `m` is then a JSON string, the
//!   standard padded base64 of a 24-byte random nonce followed by the XChaCha20-Poly1305
//!   ciphertext of the original body's JSON text and its 16-byte tag (`secure::PairKey`
//!   says with which key and associated data). Absent, or `false`, means a plain body.
//! - `"g":TAG`: the end-to-end tag, the standard padded base64 (24 characters) of the
//!   16-byte keyed BLAKE2s that only the origin and the destination can make, over the
//!   origin, the destination, the incarnation, the number, the base, the destination's
//!   incarnation, whether the body is sealed and the body's JSON text without surrounding
//!   whitespace
//!   (`secure::PairKey::tag_message`). Not the hop count: relays change it.
use std::borrow::Cow;

use serde_json::value::RawValue;

use super::WireError;
use super::cursor::Cursor;
use super::envelope::{
    Envelope, optional_bool, optional_str, optional_u64, required_name, required_u64,
};
use super::json::{write_str, write_u64};
use crate::frame;

/// A user message, for this agent or to be relayed.
#[derive(Debug)]
pub(crate) struct Msg<'a> {
    /// `f`: the origin agent.
    pub(crate) from: Cow<'a, str>,
    /// `t`: the destination agent.
    pub(crate) to: Cow<'a, str>,
    /// `m`: the body, undecoded. An absent `m` (what an original agent sends for `undefined`)
    /// reads as `null`.
    pub(crate) body: &'a RawValue,
    /// `h`: hops travelled so far, when the sender counts them (v2).
    pub(crate) hops: Option<u64>,
    /// `i`, `s`, `b`: the end-to-end identity of a message sent for confirmed delivery (v2).
    pub(crate) seq: Option<Seq>,
    /// `d`: the destination's incarnation the origin addressed (secure mode).
    pub(crate) to_inc: Option<u64>,
    /// `e`: the body is sealed for the destination (secure mode).
    pub(crate) sealed: bool,
    /// `g`: the end-to-end tag, in base64 (secure mode).
    pub(crate) tag: Option<Cow<'a, str>>,
    /// Where the digits of `h` sit in the frame, when the frame is exactly what
    /// [`emit_msg`] writes: a relay then copies the frame around a new hop count.
    pub(crate) hops_at: Option<(usize, usize)>,
}

/// What an own message carries to show its origin (secure mode): the destination's
/// incarnation it is meant for, whether its body is sealed, and its end-to-end tag in base64.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Stamp<'a> {
    /// Write `"d":INC`.
    pub(crate) to_inc: Option<u64>,
    /// Write `"e":true`.
    pub(crate) sealed: bool,
    /// Write `"g":TAG`.
    pub(crate) tag: Option<&'a str>,
}

impl PartialEq for Msg<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.from == other.from
            && self.to == other.to
            && self.body.get() == other.body.get()
            && self.hops == other.hops
            && self.seq == other.seq
            && self.to_inc == other.to_inc
            && self.sealed == other.sealed
            && self.tag == other.tag
    }
}

/// Where a confirmed message sits in its (origin, destination) stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Seq {
    /// `i`: the origin's incarnation, chosen when it started.
    pub(crate) inc: u64,
    /// `s`: the message's number in the stream, from 1.
    pub(crate) seq: u64,
    /// `b`: the lowest number the origin has not seen confirmed; everything below it was
    /// delivered, so a destination with no memory of the stream starts there.
    pub(crate) base: u64,
}

/// The message frame exactly as this crate emits it, read without the envelope:
/// `{"c":"msg","f":F,"t":T,"m":BODY}`, then optionally `,"h":H`, then optionally
/// `,"i":I,"s":S,"b":B`, then optionally `,"d":D`, then optionally `,"e":true`, then
/// optionally `,"g":"TAG"`, then `}`
/// as the last byte; no whitespace outside the body (but
/// before it, which the envelope skips too); names
/// without escapes or control characters, within the naming rules; numbers as plain digits
/// that fit a `u64`. That is nearly every frame on a busy link, and reading it this way costs a
/// fraction of the envelope's map machinery.
///
/// Anything else (another key order, escapes, unknown or duplicate fields, another command, a
/// bad name or number, trailing whitespace) returns `None`, and the frame goes through the
/// general parser, so that what is accepted and every error stay exactly the general parser's.
/// Whatever this accepts, the general parser accepts too, with an equal result: the body is
/// read by serde_json's own raw-value reader (the one the envelope uses), and the remaining
/// shapes are ones the envelope reads field by field with the same rules.
#[inline]
pub(super) fn fast_msg(text: &str) -> Option<Msg<'_>> {
    let mut cur = Cursor::new(text);
    cur.eat(b"{\"c\":\"msg\",\"f\":\"")?;
    let from = cur.name()?;
    cur.eat(b",\"t\":\"")?;
    let to = cur.name()?;
    cur.eat(b",\"m\":")?;
    let body = cur.value()?;
    let (hops, hops_at) = cur.hops()?.unzip();
    let seq = match cur.eat(b",\"i\":") {
        Some(()) => {
            let inc = cur.number()?;
            cur.eat(b",\"s\":")?;
            let seq = cur.number()?;
            cur.eat(b",\"b\":")?;
            let base = cur.number()?;
            Some(Seq { inc, seq, base })
        }
        None => None,
    };
    let to_inc = match cur.eat(b",\"d\":") {
        Some(()) => Some(cur.number()?),
        None => None,
    };
    let sealed = cur.eat(b",\"e\":true").is_some();
    let tag = cur.tag()?;
    cur.close()?;
    Some(Msg {
        from: Cow::Borrowed(from),
        to: Cow::Borrowed(to),
        body,
        hops,
        seq,
        to_inc,
        sealed,
        tag: tag.map(Cow::Borrowed),
        hops_at,
    })
}

/// The general parser's reader for a message.
pub(super) fn parse_msg<'a>(env: &Envelope<'a>) -> Result<Msg<'a>, WireError> {
    let command = "msg";
    let from = required_name(env.f, command, "f")?;
    let to = required_name(env.t, command, "t")?;
    let body = env.m.unwrap_or(RawValue::NULL);
    let hops = optional_u64(env.h, command, "h")?;
    let seq = match env.s {
        None => None,
        Some(_) => Some(Seq {
            inc: required_u64(env.i, command, "i")?,
            seq: required_u64(env.s, command, "s")?,
            base: required_u64(env.b, command, "b")?,
        }),
    };
    Ok(Msg {
        from,
        to,
        body,
        hops,
        seq,
        to_inc: optional_u64(env.d, command, "d")?,
        sealed: optional_bool(env.e, command, "e")?,
        tag: optional_str(env.g, command, "g")?,
        hops_at: None,
    })
}

/// Appends `{"c":"msg","f":FROM,"t":TO,"m":BODY}`, with `,"h":HOPS` when `hops` is given,
/// `,"i":INC,"s":SEQ,"b":BASE` for a confirmed message, and what `stamp` says (`,"d":INC`,
/// `,"e":true`, `,"g":TAG`). `body` is raw JSON, copied as is.
pub(crate) fn emit_msg(
    out: &mut Vec<u8>,
    from: &str,
    to: &str,
    body: &str,
    hops: Option<u64>,
    seq: Option<Seq>,
    stamp: Stamp<'_>,
) {
    frame::encode_with(out, |b| {
        b.extend_from_slice(b"{\"c\":\"msg\",\"f\":");
        write_str(b, from);
        b.extend_from_slice(b",\"t\":");
        write_str(b, to);
        b.extend_from_slice(b",\"m\":");
        b.extend_from_slice(body.as_bytes());
        if let Some(h) = hops {
            b.extend_from_slice(b",\"h\":");
            write_u64(b, h);
        }
        if let Some(q) = seq {
            b.extend_from_slice(b",\"i\":");
            write_u64(b, q.inc);
            b.extend_from_slice(b",\"s\":");
            write_u64(b, q.seq);
            b.extend_from_slice(b",\"b\":");
            write_u64(b, q.base);
        }
        if let Some(d) = stamp.to_inc {
            b.extend_from_slice(b",\"d\":");
            write_u64(b, d);
        }
        if stamp.sealed {
            b.extend_from_slice(b",\"e\":true");
        }
        if let Some(tag) = stamp.tag {
            b.extend_from_slice(b",\"g\":");
            write_str(b, tag);
        }
        b.push(b'}');
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::tests::payload;
    use crate::wire::{Wire, parse, parse_general};

    #[test]
    fn emits_the_originals_bytes() {
        let mut out = Vec::new();
        emit_msg(
            &mut out,
            "Wolf",
            "Rosenberg",
            r#"{"subject":"Meeting"}"#,
            None,
            None,
            Stamp::default(),
        );
        assert_eq!(
            payload(&out),
            br#"{"c":"msg","f":"Wolf","t":"Rosenberg","m":{"subject":"Meeting"}}"#
        );
    }

    #[test]
    fn parses_every_v1_frame() {
        let Wire::Msg(m) = parse(
            br#"{"t":"B","m":{"x":[1,2]},"f":"A","c":"msg","extra":true}"#,
            10,
        )
        .unwrap() else {
            panic!()
        };
        assert_eq!(
            (&*m.from, &*m.to, m.body.get(), m.hops),
            ("A", "B", r#"{"x":[1,2]}"#, None)
        );
    }

    #[test]
    fn msg_body_null_false_and_absent() {
        for (frame, body) in [
            (&br#"{"c":"msg","f":"A","t":"B","m":null}"#[..], "null"),
            (br#"{"c":"msg","f":"A","t":"B","m":false}"#, "false"),
            (br#"{"c":"msg","f":"A","t":"B","m":0}"#, "0"),
            (br#"{"c":"msg","f":"A","t":"B"}"#, "null"),
        ] {
            let Wire::Msg(m) = parse(frame, 1).unwrap() else {
                panic!()
            };
            assert_eq!(m.body.get(), body);
        }
    }

    /// Both paths on one input: equal results, and whether the fast path took it.
    fn agree(frame: &[u8]) -> bool {
        let fast = parse(frame, 4);
        let general = parse_general(frame, 4);
        assert_eq!(fast, general, "{}", String::from_utf8_lossy(frame));
        std::str::from_utf8(frame).is_ok_and(|t| fast_msg(t).is_some())
    }

    #[test]
    fn the_fast_path_takes_emitted_messages() {
        let seq = Some(Seq {
            inc: 1_700_000_000_000,
            seq: crate::wire::MAX_NUMBER,
            base: 0,
        });
        let mut out = Vec::new();
        for (body, hops, seq) in [
            (r#"{"seq":123456,"pad":"xxxx"}"#, Some(1), seq),
            ("null", None, None),
            ("0", Some(0), None),
            ("-1.5e+3", None, seq),
            (r#""a\"b\\c\u00e9\n""#, Some(31), seq),
            (r#"[1,{"}":"{","]":["\"",[]]},"é"]"#, None, seq),
            ("{ \"a\" : [ 1 , 2 ] }", Some(2), None),
        ] {
            out.clear();
            emit_msg(
                &mut out,
                "Wolf",
                "Rosenberg",
                body,
                hops,
                seq,
                Stamp::default(),
            );
            assert!(agree(&out[4..]), "{body}");
            let Ok(Wire::Msg(m)) = parse(&out[4..], 1) else {
                panic!("{body}")
            };
            assert_eq!((m.body.get(), m.hops, m.seq), (body, hops, seq));
        }
        out.clear();
        emit_msg(
            &mut out,
            "Fr\"ance",
            "CCCP",
            "1",
            None,
            None,
            Stamp::default(),
        );
        assert!(!agree(&out[4..]), "an escaped name goes the general way");
    }

    /// Messages for both paths: the first six are taken by the fast path, the rest left to the
    /// general parser (other orders, spacing, fields and escapes; bad numbers, bodies and names;
    /// truncations).
    const AGREEMENT_CASES: &[&[u8]] = &[
        // Taken by the fast path.
        br#"{"c":"msg","f":"A","t":"B","m":1}"#,
        br#"{"c":"msg","f":"A","t":"B","m": 1,"h":0}"#,
        br#"{"c":"msg","f":"A","t":"B","m":"}\"{","i":1,"s":2,"b":3}"#,
        r#"{"c":"msg","f":"Zoë","t":"B","m":{"a":"\ud800"},"h":5,"i":0,"s":0,"b":0}"#.as_bytes(),
        br#"{"c":"msg","f":"A","t":"B","m":{"a":{"b":[true,false,null,-0,0.5,1E9]}}}"#,
        br#"{"c":"msg","f":"A","t":"B","m":1,"h":9007199254740992}"#,
        // Left to the general parser: other orders, spacing, fields and escapes.
        br#"{"c":"msg","t":"B","f":"A","m":1}"#,
        br#"{"f":"A","c":"msg","t":"B","m":1}"#,
        br#" {"c":"msg","f":"A","t":"B","m":1}"#,
        br#"{"c":"msg","f":"A","t":"B","m":1} "#,
        br#"{"c":"msg","f":"A","t":"B","m":1 }"#,
        br#"{"c":"msg","f":"A","t":"B","m":1
}"#,
        br#"{"c":"msg", "f":"A","t":"B","m":1}"#,
        br#"{"c":"msg","f":"A","t":"B","m":1,"x":2}"#,
        br#"{"c":"msg","f":"A","t":"B","m":1,"h":1,"h":2}"#,
        br#"{"c":"msg","f":"A","t":"B","m":1,"m":2}"#,
        br#"{"c":"msg","f":"A","t":"B","m":1,"i":1,"s":2}"#,
        br#"{"c":"msg","f":"A","t":"B","m":1,"s":2,"i":1,"b":3}"#,
        br#"{"c":"msg","f":"A","t":"B","m":1,"i":1,"s":2,"b":3,"h":1}"#,
        br#"{"c":"msg","f":"A","t":"B"}"#,
        br#"{"c":"msg","f":"A","t":"B","m":1}}"#,
        br#"{"c":"msg","f":"A","t":"B","m":1,}"#,
        br#"{"c":"msg","f":"A\u0041","t":"B","m":1}"#,
        br#"{"c":"ms\u0067","f":"A","t":"B","m":1}"#,
        br#"{"\u0063":"msg","f":"A","t":"B","m":1}"#,
        b"{\"c\":\"msg\",\"f\":\"A\tB\",\"t\":\"B\",\"m\":1}",
        br#"{"c":"msg","f":"","t":"B","m":1}"#,
        br#"{"c":"msg","f":"A","t":"","m":1}"#,
        br#"{"c":"ack","f":"A","t":"B","i":1,"s":2,"h":1}"#,
        br#"{"c":"msgs","f":"A","t":"B","m":1}"#,
        // Bad numbers.
        br#"{"c":"msg","f":"A","t":"B","m":1,"h":01}"#,
        br#"{"c":"msg","f":"A","t":"B","m":1,"h":-1}"#,
        br#"{"c":"msg","f":"A","t":"B","m":1,"h":1.0}"#,
        br#"{"c":"msg","f":"A","t":"B","m":1,"h":1e2}"#,
        br#"{"c":"msg","f":"A","t":"B","m":1,"h":9007199254740993}"#,
        br#"{"c":"msg","f":"A","t":"B","m":1,"h":18446744073709551615}"#,
        br#"{"c":"msg","f":"A","t":"B","m":1,"i":9007199254740993,"s":1,"b":1}"#,
        br#"{"c":"msg","f":"A","t":"B","m":1,"i":1,"s":18446744073709551614,"b":1}"#,
        br#"{"c":"msg","f":"A","t":"B","m":1,"i":1,"s":1,"b":18446744073709551615}"#,
        br#"{"c":"msg","f":"A","t":"B","m":1,"h":18446744073709551616}"#,
        br#"{"c":"msg","f":"A","t":"B","m":1,"h":100000000000000000000}"#,
        br#"{"c":"msg","f":"A","t":"B","m":1,"h":99999999999999999999999}"#,
        br#"{"c":"msg","f":"A","t":"B","m":1,"h":"1"}"#,
        br#"{"c":"msg","f":"A","t":"B","m":1,"h":null}"#,
        br#"{"c":"msg","f":"A","t":"B","m":1,"i":1,"s":2,"b":}"#,
        br#"{"c":"msg","f":"A","t":"B","m":01}"#,
        br#"{"c":"msg","f":"A","t":"B","m":-}"#,
        br#"{"c":"msg","f":"A","t":"B","m":1.}"#,
        br#"{"c":"msg","f":"A","t":"B","m":1e}"#,
        br#"{"c":"msg","f":"A","t":"B","m":.5}"#,
        br#"{"c":"msg","f":"A","t":"B","m":+1}"#,
        // Bad bodies.
        br#"{"c":"msg","f":"A","t":"B","m":}"#,
        br#"{"c":"msg","f":"A","t":"B","m":nul}"#,
        br#"{"c":"msg","f":"A","t":"B","m":tru}"#,
        br#"{"c":"msg","f":"A","t":"B","m":[1,]}"#,
        br#"{"c":"msg","f":"A","t":"B","m":{"a":1,}}"#,
        br#"{"c":"msg","f":"A","t":"B","m":{"a"}}"#,
        br#"{"c":"msg","f":"A","t":"B","m":{1:2}}"#,
        br#"{"c":"msg","f":"A","t":"B","m":[1 2]}"#,
        br#"{"c":"msg","f":"A","t":"B","m":"\x"}"#,
        br#"{"c":"msg","f":"A","t":"B","m":"\u12"}"#,
        br#"{"c":"msg","f":"A","t":"B","m":"\u12G4"}"#,
        b"{\"c\":\"msg\",\"f\":\"A\",\"t\":\"B\",\"m\":\"a\nb\"}",
        b"{\"c\":\"msg\",\"f\":\"A\",\"t\":\"B\",\"m\":\"\xff\"}",
        br#"{"c":"msg","f":"A","t":"B","m":NaN}"#,
        br#"{"c":"msg","f":"A","t":"B","m":'a'}"#,
        // Truncated.
        br#"{"c":"msg","f":"A","t":"B","m":{"a":[1,2"#,
        br#"{"c":"msg","f":"A","t":"B","m":"abc"#,
        br#"{"c":"msg","f":"A","t":"B","m":"#,
        br#"{"c":"msg","f":"A","t":"B","m":1,"h":"#,
        br#"{"c":"msg","f":"A","t":"B","m":1,"h":1"#,
        br#"{"c":"msg","f":"A","t":"B","m":1"#,
        br#"{"c":"msg","f":"A"#,
        br#"{"c":"msg""#,
        b"{",
    ];

    #[test]
    fn the_fast_path_and_the_general_parser_agree() {
        let long = "n".repeat(256);
        let deep = format!("{}{}", "[".repeat(500), "]".repeat(500));
        let owned = [
            format!(r#"{{"c":"msg","f":"{long}","t":"B","m":1}}"#),
            format!(r#"{{"c":"msg","f":"A","t":"{}","m":1}}"#, &long[..255]),
            format!(r#"{{"c":"msg","f":"A","t":"B","m":{deep}}}"#),
            format!(r#"{{"c":"msg","f":"A","t":"B","m":{}}}"#, &deep[..999]),
        ];
        let mut cases: Vec<&[u8]> = AGREEMENT_CASES.to_vec();
        cases.extend(owned.iter().map(|s| s.as_bytes()));
        let taken: Vec<bool> = cases.iter().map(|c| agree(c)).collect();
        // The first six, the 255-byte name and the deep body.
        let expected: Vec<usize> = (0..6).chain([cases.len() - 3, cases.len() - 2]).collect();
        let got: Vec<usize> = (0..cases.len()).filter(|&i| taken[i]).collect();
        assert_eq!(got, expected);
        // Every prefix of a message the fast path takes, and every single-byte change of it.
        let base = br#"{"c":"msg","f":"A","t":"B","m":{"k":["v",1]},"h":1,"i":2,"s":3,"b":4}"#;
        assert!(agree(base));
        for n in 0..base.len() {
            agree(&base[..n]);
            for b in [b' ', b'"', b'\\', b'0', b'}', b']', b',', b':', 0x01, 0xc3] {
                let mut c = base.to_vec();
                c[n] = b;
                agree(&c);
            }
        }
    }

    #[test]
    fn round_trips_through_emit_and_parse() {
        let mut out = Vec::new();
        let seq = Some(Seq {
            inc: 1_700_000_000_000,
            seq: 5,
            base: 3,
        });
        emit_msg(
            &mut out,
            "Fr\"ance",
            "C\nCCP",
            "[1,\"two\",{\"3\":null}]",
            Some(7),
            seq,
            Stamp::default(),
        );
        let Wire::Msg(m) = parse(&out[4..], 1).unwrap() else {
            panic!()
        };
        assert_eq!(
            (&*m.from, &*m.to, m.body.get(), m.hops, m.seq),
            (
                "Fr\"ance",
                "C\nCCP",
                "[1,\"two\",{\"3\":null}]",
                Some(7),
                seq
            )
        );
    }

    #[test]
    fn sealed_and_tagged_messages_round_trip_and_take_the_fast_path() {
        let seq = Some(Seq {
            inc: 9,
            seq: 4,
            base: 2,
        });
        let tag = "AAECAwQFBgcICQoLDA0ODw==";
        let mut out = Vec::new();
        let top = Some(crate::wire::MAX_NUMBER);
        for (hops, seq, to_inc, sealed, tag) in [
            (Some(1), seq, Some(7), true, Some(tag)),
            (Some(3), seq, top, false, Some(tag)),
            (Some(3), seq, None, false, Some(tag)),
            (None, seq, Some(0), true, None),
            (None, None, Some(5), false, None),
            (None, None, None, false, Some("")),
        ] {
            out.clear();
            let stamp = Stamp {
                to_inc,
                sealed,
                tag,
            };
            emit_msg(&mut out, "A", "B", r#""c2VhbGVk""#, hops, seq, stamp);
            assert!(agree(&out[4..]), "{}", String::from_utf8_lossy(&out));
            let Ok(Wire::Msg(m)) = parse(&out[4..], 1) else {
                panic!()
            };
            assert_eq!(
                (m.hops, m.seq, m.to_inc, m.sealed, m.tag.as_deref()),
                (hops, seq, to_inc, sealed, tag)
            );
        }
        assert_eq!(
            &out[4..],
            br#"{"c":"msg","f":"A","t":"B","m":"c2VhbGVk","g":""}"#
        );
        // Every prefix and single-byte change of a sealed, tagged one, on both paths.
        let base = br#"{"c":"msg","f":"A","t":"B","m":"x","h":2,"i":1,"s":2,"b":1,"d":30,"e":true,"g":"q+/="}"#;
        assert!(agree(base));
        for n in 0..base.len() {
            agree(&base[..n]);
            for b in [b' ', b'"', b'\\', b'0', b'}', b',', b'f', 0x01] {
                let mut c = base.to_vec();
                c[n] = b;
                agree(&c);
            }
        }
        // Left to the general parser, which agrees; or malformed.
        for frame in [
            &br#"{"c":"msg","f":"A","t":"B","m":1,"g":"t","e":true}"#[..],
            br#"{"c":"msg","f":"A","t":"B","m":1,"e":false}"#,
            br#"{"c":"msg","f":"A","t":"B","m":1,"g":"a\/b"}"#,
            br#"{"c":"msg","f":"A","t":"B","m":1,"d":1,"i":1,"s":2,"b":3}"#,
            br#"{"c":"msg","f":"A","t":"B","m":1,"i":1,"s":2,"b":3,"g":"t","d":1}"#,
        ] {
            assert!(!agree(frame), "{}", String::from_utf8_lossy(frame));
            assert!(parse(frame, 1).is_ok());
        }
        for (frame, needle) in [
            (
                &br#"{"c":"msg","f":"A","t":"B","m":1,"e":1}"#[..],
                "\"e\" is not a boolean",
            ),
            (
                br#"{"c":"msg","f":"A","t":"B","m":1,"g":[1]}"#,
                "\"g\" is not a string",
            ),
            (
                br#"{"c":"msg","f":"A","t":"B","m":1,"d":"1"}"#,
                "\"d\" is not a non-negative integer",
            ),
            (
                br#"{"c":"msg","f":"A","t":"B","m":1,"i":1,"s":1,"b":1,"d":9007199254740993}"#,
                "\"d\"",
            ),
        ] {
            assert!(!agree(frame));
            let err = parse(frame, 1).unwrap_err().to_string();
            assert!(err.contains(needle), "{err}");
        }
    }
}
