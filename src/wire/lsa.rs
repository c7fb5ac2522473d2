//! v2 link descriptions,
//! `{"c":"lsa","o":ORIGIN,"i":INC,"s":SEQ,"n":[...],"p":[...],"x":[...],"k":KEY,"g":SIG}`:
//! one agent's view of its own links, flooded to every v2 agent. The type, the fast path that
//! reads a description exactly as [`emit_lsa`] writes it, the general parser's reader, and the
//! emitter.
//!
//! Every list is read against the caller's cap, on both paths.
//!
//! # Signed descriptions (secure mode)
//! An agent on secure links signs each version of its own description, and the two fields
//! travel with it wherever it goes (floods and database exchanges), as the origin wrote them:
//! - `"k"`: the key that signed, the standard padded base64 of the origin's 32-byte ed25519
//!   public key (44 characters). The trust file may allow two keys for a name (a rotation):
//!   this says which one to check, and is the key end-to-end tags with the origin are derived
//!   from.
//! - `"g"`: the ed25519 signature, standard padded base64 of 64 bytes (88 characters), over
//!   the label `"secretagent signature v1\0"` followed by the canonical bytes of the
//!   description (`secure::signed_description`): `"secretagent description v1\0"`, the
//!   origin, the incarnation and the version as 8-byte big-endian numbers, then the three
//!   lists `n`, `p`, `x` in that order, each as a 4-byte big-endian count followed by its
//!   names sorted by their UTF-8 bytes with repeats removed. Every name (the origin's too) is
//!   its UTF-8 bytes after a 4-byte big-endian length. So the spelling of the JSON (escapes,
//!   the order of a list, a repeated name, an absent `"p"`) changes nothing that is signed.
//!
//! The two come together: a frame with one and not the other is malformed. This module reads
//! and writes them as text and judges nothing; a plain agent ignores them, and a secure one
//! checks them before it stores or passes on a newer version (`node/origins.rs`).
use std::borrow::Cow;

use super::WireError;
use super::cursor::Cursor;
use super::envelope::{Envelope, names, optional_names, optional_str, required_name, required_u64};
use super::json::{write_names, write_str, write_u64};
use crate::frame;

/// One agent's view of its own links, flooded to every v2 agent (v2).
#[derive(Debug)]
pub(crate) struct Lsa<'a> {
    /// `o`: the agent described.
    pub(crate) origin: Cow<'a, str>,
    /// `i`: its incarnation.
    pub(crate) inc: u64,
    /// `s`: the version of this description within the incarnation.
    pub(crate) seq: u64,
    /// `n`: its direct v2 peers.
    pub(crate) neighbors: Vec<Cow<'a, str>>,
    /// `p`: its direct peers that speak only v1. Absent is read as empty.
    pub(crate) v1_peers: Vec<Cow<'a, str>>,
    /// `x`: names it reaches only through v1 peers, which describe nothing themselves.
    pub(crate) externals: Vec<Cow<'a, str>>,
    /// `k` and `g`: the origin's key and signature, in base64 (see the module
    /// documentation), when the description is signed.
    pub(crate) signed: Option<Signed<'a>>,
    /// The frame is in the form [`emit_lsa`] writes (its lists in any order): passing it on
    /// as it came says the same as writing it again.
    pub(crate) as_emitted: bool,
}

/// The signature fields of a signed description, as text: what they hold is checked by the
/// core, not here.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Signed<'a> {
    /// `k`: base64 of the ed25519 public key that signed.
    pub(crate) key: Cow<'a, str>,
    /// `g`: base64 of the signature.
    pub(crate) sig: Cow<'a, str>,
}

impl PartialEq for Lsa<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.origin == other.origin
            && self.inc == other.inc
            && self.seq == other.seq
            && self.neighbors == other.neighbors
            && self.v1_peers == other.v1_peers
            && self.externals == other.externals
            && self.signed == other.signed
    }
}

/// The description fast path, as [`fast_msg`](super::msg::fast_msg) is the message one: a
/// description exactly as [`emit_lsa`] writes it (every name plain, every list within
/// `max_names`) is read in place, with no envelope. Flooding brings every description once per
/// link, so most frames an agent reads in a large mesh are these; anything else goes to the
/// general parser.
#[inline]
pub(super) fn fast_lsa(text: &str, max_names: usize) -> Option<Lsa<'_>> {
    let mut cur = Cursor::new(text);
    cur.eat(b"{\"c\":\"lsa\",\"o\":\"")?;
    let origin = cur.name()?;
    cur.eat(b",\"i\":")?;
    let inc = cur.number()?;
    cur.eat(b",\"s\":")?;
    let seq = cur.number()?;
    cur.eat(b",\"n\":")?;
    let neighbors = cur.names(max_names)?;
    let v1_peers = match cur.eat(b",\"p\":") {
        Some(()) => cur.names(max_names)?,
        None => Vec::new(),
    };
    cur.eat(b",\"x\":")?;
    let externals = cur.names(max_names)?;
    let signed = match cur.eat(b",\"k\":\"") {
        Some(()) => {
            let key = cur.plain()?;
            cur.eat(b",\"g\":\"")?;
            let sig = cur.plain()?;
            Some(Signed {
                key: Cow::Borrowed(key),
                sig: Cow::Borrowed(sig),
            })
        }
        None => None,
    };
    cur.close()?;
    Some(Lsa {
        origin: Cow::Borrowed(origin),
        inc,
        seq,
        neighbors,
        v1_peers,
        externals,
        signed,
        as_emitted: true,
    })
}

/// The general parser's reader for a description.
pub(super) fn parse_lsa<'a>(env: &Envelope<'a>, max_names: usize) -> Result<Lsa<'a>, WireError> {
    let command = "lsa";
    // `n` is checked before `o`, `i` and `s`, as it always was: which error a bad frame gets
    // does not change.
    let neighbors = names(env.n, command, "n", max_names)?;
    Ok(Lsa {
        origin: required_name(env.o, command, "o")?,
        inc: required_u64(env.i, command, "i")?,
        seq: required_u64(env.s, command, "s")?,
        neighbors,
        v1_peers: optional_names(env.p, command, "p", max_names)?,
        externals: optional_names(env.x, command, "x", max_names)?,
        signed: parse_signed(env)?,
        as_emitted: false,
    })
}

/// `k` and `g`, which come together.
fn parse_signed<'a>(env: &Envelope<'a>) -> Result<Option<Signed<'a>>, WireError> {
    let command = "lsa";
    let key = optional_str(env.k, command, "k")?;
    let sig = optional_str(env.g, command, "g")?;
    match (key, sig) {
        (Some(key), Some(sig)) => Ok(Some(Signed { key, sig })),
        (None, None) => Ok(None),
        (Some(_), None) => Err(WireError::Field {
            command,
            field: "g",
            problem: "is missing (a signed description has both \"k\" and \"g\")",
        }),
        (None, Some(_)) => Err(WireError::Field {
            command,
            field: "k",
            problem: "is missing (a signed description has both \"k\" and \"g\")",
        }),
    }
}

/// Appends `{"c":"lsa","o":ORIGIN,"i":INC,"s":SEQ,"n":[...],"p":[...],"x":[...]}`, without
/// `"p"` when there are no v1 peers, and with `,"k":KEY,"g":SIG` before the closing brace when
/// `signed` gives them (key and signature, in base64).
#[allow(clippy::too_many_arguments)]
pub(crate) fn emit_lsa<'n>(
    out: &mut Vec<u8>,
    origin: &str,
    inc: u64,
    seq: u64,
    neighbors: impl IntoIterator<Item = &'n str>,
    v1_peers: impl IntoIterator<Item = &'n str>,
    externals: impl IntoIterator<Item = &'n str>,
    signed: Option<(&str, &str)>,
) {
    let mut v1_peers = v1_peers.into_iter().peekable();
    frame::encode_with(out, |b| {
        b.extend_from_slice(b"{\"c\":\"lsa\",\"o\":");
        write_str(b, origin);
        b.extend_from_slice(b",\"i\":");
        write_u64(b, inc);
        b.extend_from_slice(b",\"s\":");
        write_u64(b, seq);
        b.extend_from_slice(b",\"n\":");
        write_names(b, neighbors);
        if v1_peers.peek().is_some() {
            b.extend_from_slice(b",\"p\":");
            write_names(b, v1_peers);
        }
        b.extend_from_slice(b",\"x\":");
        write_names(b, externals);
        if let Some((key, sig)) = signed {
            b.extend_from_slice(b",\"k\":");
            write_str(b, key);
            b.extend_from_slice(b",\"g\":");
            write_str(b, sig);
        }
        b.push(b'}');
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{Wire, parse, parse_general};

    /// Both paths on one description: equal results, and whether the fast path took it.
    fn agree_lsa(frame: &[u8], max: usize) -> bool {
        let fast = parse(frame, max);
        assert_eq!(
            fast,
            parse_general(frame, max),
            "{}",
            String::from_utf8_lossy(frame)
        );
        std::str::from_utf8(frame).is_ok_and(|t| fast_lsa(t, max).is_some())
    }

    #[test]
    fn the_description_fast_path_takes_emitted_descriptions_and_agrees_on_the_rest() {
        let mut out = Vec::new();
        let lists: [(&[&str], &[&str], &[&str]); 4] = [
            (&[], &[], &[]),
            (&["B", "Zoë", "A"], &[], &["X"]),
            (&["B"], &["Old", "Older"], &[]),
            (&["A", "A", "B"], &["C"], &["D", "E"]),
        ];
        for (n, p, x) in lists {
            out.clear();
            emit_lsa(
                &mut out,
                "Me",
                7,
                crate::wire::MAX_NUMBER,
                n.iter().copied(),
                p.iter().copied(),
                x.iter().copied(),
                None,
            );
            assert!(agree_lsa(&out[4..], 4), "{n:?} {p:?} {x:?}");
            let Ok(Wire::Lsa(l)) = parse(&out[4..], 4) else {
                panic!("{n:?}")
            };
            assert!(l.as_emitted);
            assert_eq!(
                (&*l.origin, l.inc, l.seq),
                ("Me", 7, crate::wire::MAX_NUMBER)
            );
            assert_eq!(
                (l.neighbors.len(), l.v1_peers.len(), l.externals.len()),
                (n.len(), p.len(), x.len())
            );
        }
        let general: [&[u8]; 18] = [
            br#"{"c":"lsa","o":"A","i":9007199254740993,"s":2,"n":[],"x":[]}"#,
            br#"{"c":"lsa","o":"A","i":1,"s":18446744073709551615,"n":[],"x":[]}"#,
            br#"{"c":"lsa","o":"A","i":1,"s":2,"n":["B","C","D"],"x":[]}"#,
            br#"{"c":"lsa","o":"A","i":1,"s":2,"n":["B"],"p":null,"x":[]}"#,
            br#"{"c":"lsa","o":"A","i":1,"s":2,"n":["B"]}"#,
            br#"{"c":"lsa","o":"A","i":1,"s":2,"x":[],"n":["B"]}"#,
            br#"{"c":"lsa","o":"A","i":1,"s":2,"n":["B"],"x":[],"p":["C"]}"#,
            br#"{"c":"lsa","o":"A","i":1,"s":2,"n":[ "B"],"x":[]}"#,
            br#"{"c":"lsa","o":"A","i":1,"s":2,"n":["B",],"x":[]}"#,
            br#"{"c":"lsa","o":"A","i":1,"s":2,"n":["\u0042"],"x":[]}"#,
            br#"{"c":"lsa","o":"A","i":1,"s":2,"n":[""],"x":[]}"#,
            br#"{"c":"lsa","o":"A","i":1,"s":2,"n":[1],"x":[]}"#,
            br#"{"c":"lsa","o":"A","i":01,"s":2,"n":[],"x":[]}"#,
            br#"{"c":"lsa","o":"A","i":1,"s":2,"n":[],"x":[]} "#,
            br#"{"c":"lsa","o":"A","i":1,"s":2,"n":[],"x":[],"x":[]}"#,
            br#"{"c":"lsa","o":"A","i":1,"s":2,"n":[],"x":[]"#,
            br#"{"c":"lsa","o":"A","i":1,"s":2,"n":["B","#,
            br#"{"c":"lsa","o":"A","i":1,"s":2,"n":["B"],"x":[],"q":0}"#,
        ];
        for frame in general {
            assert!(!agree_lsa(frame, 2), "{}", String::from_utf8_lossy(frame));
        }
        // Every prefix of one the fast path takes, and every single-byte change of it.
        let base = br#"{"c":"lsa","o":"A","i":1,"s":2,"n":["B","C"],"p":["D"],"x":["E"]}"#;
        assert!(agree_lsa(base, 2));
        for n in 0..base.len() {
            agree_lsa(&base[..n], 2);
            for b in [b'"', b',', b'[', b']', b'{', b'}', b'\\', b'0', b' ', b'x'] {
                let mut changed = base.to_vec();
                changed[n] = b;
                agree_lsa(&changed, 2);
            }
        }
    }

    #[test]
    fn round_trips_through_emit_and_parse() {
        let mut out = Vec::new();
        emit_lsa(&mut out, "A", 9, 2, ["B", "C"], [], ["D"], None);
        assert_eq!(
            &out[4..],
            br#"{"c":"lsa","o":"A","i":9,"s":2,"n":["B","C"],"x":["D"]}"#
        );
        let Wire::Lsa(l) = parse(&out[4..], 5).unwrap() else {
            panic!()
        };
        assert_eq!(
            (
                &*l.origin,
                l.inc,
                l.seq,
                l.neighbors.len(),
                l.v1_peers.len(),
                l.externals.len()
            ),
            ("A", 9, 2, 2, 0, 1)
        );
        out.clear();
        emit_lsa(&mut out, "A", 9, 3, ["B"], ["Old"], [], None);
        assert_eq!(
            &out[4..],
            br#"{"c":"lsa","o":"A","i":9,"s":3,"n":["B"],"p":["Old"],"x":[]}"#
        );
        let Wire::Lsa(l) = parse(&out[4..], 5).unwrap() else {
            panic!()
        };
        assert_eq!(l.v1_peers, ["Old"]);
    }

    /// 44 and 88 characters of base64, as a real key and signature take.
    const KEY: &str = "Zr5+Myx6RTMyvZ0Kf32wVfXF7xoGraZtmLOftoEMRzo=";
    const SIG: &str =
        "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4OTo7PD0+Pw==";

    #[test]
    fn signed_descriptions_round_trip_and_take_the_fast_path() {
        let mut out = Vec::new();
        emit_lsa(&mut out, "A", 9, 2, ["B"], ["Old"], ["D"], Some((KEY, SIG)));
        let text = format!(
            r#"{{"c":"lsa","o":"A","i":9,"s":2,"n":["B"],"p":["Old"],"x":["D"],"k":"{KEY}","g":"{SIG}"}}"#
        );
        assert_eq!(&out[4..], text.as_bytes());
        assert!(
            agree_lsa(&out[4..], 4),
            "the fast path takes the signed form"
        );
        let Ok(Wire::Lsa(l)) = parse(&out[4..], 4) else {
            panic!()
        };
        assert!(l.as_emitted);
        let signed = l.signed.expect("signed");
        assert_eq!((&*signed.key, &*signed.sig), (KEY, SIG));
        // Without "p", and every prefix and single-byte change of it, on both paths.
        let base =
            format!(r#"{{"c":"lsa","o":"A","i":1,"s":2,"n":["B"],"x":[],"k":"{KEY}","g":"a+/="}}"#);
        assert!(agree_lsa(base.as_bytes(), 2));
        for n in 0..base.len() {
            agree_lsa(&base.as_bytes()[..n], 2);
            for b in [b'"', b',', b'}', b'\\', b'0', b' ', 0x01] {
                let mut changed = base.clone().into_bytes();
                changed[n] = b;
                agree_lsa(&changed, 2);
            }
        }
        // Left to the general parser, which agrees: another order, an escape, an empty value.
        for frame in [
            format!(r#"{{"c":"lsa","o":"A","i":1,"s":2,"n":[],"x":[],"g":"{SIG}","k":"{KEY}"}}"#),
            format!(r#"{{"c":"lsa","o":"A","i":1,"s":2,"n":[],"x":[],"k":"a\/b","g":"{SIG}"}}"#),
            r#"{"c":"lsa","o":"A","i":1,"k":"","g":"","s":2,"n":[],"x":[]}"#.to_owned(),
        ] {
            assert!(!agree_lsa(frame.as_bytes(), 2), "{frame}");
            let Ok(Wire::Lsa(l)) = parse(frame.as_bytes(), 2) else {
                panic!("{frame}")
            };
            assert!(l.signed.is_some() && !l.as_emitted, "{frame}");
        }
    }

    #[test]
    fn a_key_without_a_signature_or_a_signature_that_is_no_string_is_malformed() {
        for (frame, needle) in [
            (
                format!(r#"{{"c":"lsa","o":"A","i":1,"s":2,"n":[],"x":[],"k":"{KEY}"}}"#),
                "field \"g\" is missing",
            ),
            (
                format!(r#"{{"c":"lsa","o":"A","i":1,"s":2,"n":[],"x":[],"g":"{SIG}"}}"#),
                "field \"k\" is missing",
            ),
            (
                format!(r#"{{"c":"lsa","o":"A","i":1,"s":2,"n":[],"x":[],"k":"{KEY}","g":7}}"#),
                "field \"g\" is not a string",
            ),
        ] {
            assert!(!agree_lsa(frame.as_bytes(), 2));
            let err = parse(frame.as_bytes(), 2).unwrap_err().to_string();
            assert!(err.contains(needle), "{frame}: {err}");
        }
    }
}
