//! Protocol messages: parsing one frame's JSON payload into a [`Wire`] value, and emitting
//! frames with exactly the bytes the original Node agents produce.
//!
//! This module owns the JSON shapes of the protocol and nothing else: it never sees a socket,
//! a link or a clock, and it makes no routing decision. It must not reach into the core
//! (`node`), the databases or the delivery state; they call in, never the other way.
//!
//! Parsing borrows from the frame: names are `Cow<str>` (borrowed unless they hold escapes) and a
//! message body stays a `&RawValue` that is never decoded, so a relay can forward it untouched.
//! Every peer-supplied list is read against a caller-given cap, so an announcement of a million
//! names is refused without first building a million-entry vector.
//!
//! Unknown commands and unknown fields are ignored (that is what makes the v2 extensions safe
//! next to original agents); a known command with a missing or mistyped field is an error.
//!
//! ## No panics on input
//! [`parse`] never panics, whatever the bytes: every index into a frame is checked, every
//! number a peer sends is read with checked arithmetic, and every list stops at its cap. A
//! frame is either a [`Wire`] value or a [`WireError`]; after an error the caller drops the
//! link rather than trying to resynchronise. No number above [`MAX_NUMBER`] (2^53) is
//! accepted in any field, so whatever a peer sends leaves room for the core's `+ 1`. The emitters cannot fail: they append to a
//! caller-supplied buffer.
//!
//! ## Layout
//! One file per frame kind, each holding the kind's type, its fast path (where it has one),
//! its reader for the general parser, its emitter and its tests:
//!
//! | file | frames |
//! |---|---|
//! | `hello.rs` | `hi!`, both directions: [`Hello`], [`emit_hello`] |
//! | `keepalive.rs` | `ping` and its answer: [`emit_ping`], [`emit_pong`] |
//! | `reach.rs` | v1 announcements `imcon4` / `im!con4`: [`emit_reach`] |
//! | `msg.rs` | user messages: [`Msg`], [`Seq`], [`Stamp`], [`emit_msg`] (fast path) |
//! | `lsa.rs` | v2 link descriptions: [`Lsa`], [`Signed`], [`emit_lsa`] (fast path) |
//! | `summary.rs` | v2 database summaries: [`Summary`], [`emit_summary`] |
//! | `ack.rs` | v2 delivery confirmations: [`Ack`], [`emit_ack`] (fast path) |
//!
//! Secure links add fields to three kinds, which each kind's file describes exactly: a
//! description's signature and the key that made it (`"k"`, `"g"` in `lsa.rs`), and a
//! message's or confirmation's end-to-end tag (`"g"`) and sealed body (`"e"`, in `msg.rs`).
//! Every one comes after the fields a plain agent writes, so the fast paths read them as an
//! optional tail, and a plain agent ignores them.
//!
//! and the machinery they share: `cursor.rs` (the fast paths' reader), `envelope.rs` (the
//! general parser's envelope and its field readers), `bounded.rs` (the one reader for every
//! peer-supplied list, refusing it at its cap) and `json.rs` (string escaping, string and
//! number readers, digits, and [`emit_around`] for relays). This file holds [`Wire`],
//! [`WireError`], the naming rules and the dispatch from a frame to its kind.
//!
//! The small readers the parsers call from file to file (the cursor's steps, the fast paths,
//! the field readers) are `#[inline]`: the files are separate codegen units, and without the
//! hint the message path would pay for calls and copies it did not pay as one file.

use std::borrow::Cow;
use std::fmt;

use serde::de;

mod ack;
mod bounded;
mod cursor;
mod envelope;
mod hello;
mod json;
mod keepalive;
mod lsa;
mod msg;
mod reach;
mod summary;

pub(crate) use ack::{Ack, emit_ack};
pub(crate) use hello::{Hello, emit_hello};
pub(crate) use json::emit_around;
pub(crate) use keepalive::{emit_ping, emit_pong};
pub(crate) use lsa::{Lsa, emit_lsa};
pub(crate) use msg::{Msg, Seq, Stamp, emit_msg};
pub(crate) use reach::emit_reach;
pub(crate) use summary::{Summary, emit_summary};

use envelope::Envelope;
use json::string_field;

/// Longest agent name, in bytes of UTF-8.
pub(crate) const MAX_NAME_LEN: usize = 255;

/// The largest number any field of the protocol carries: 2^53 (9 007 199 254 740 992), the
/// largest integer that every JSON reader, JavaScript's included, reads exactly. A frame with
/// a number above it (a version, a sequence number, a hop count) is malformed: the link is
/// closed and nothing in the frame is used. Honest agents never come near it (an incarnation
/// is a clock in ms, about 2^41 today, and other numbers count events from there), and it
/// leaves room above every number a peer sends, so that `n + 1` never overflows. The
/// link-state database keeps the top of this space for itself: see `lsdb`.
pub(crate) const MAX_NUMBER: u64 = 1 << 53;

/// The problem a number field above [`MAX_NUMBER`] is reported with.
const ABOVE_MAX_NUMBER: &str =
    "is above 9007199254740992 (2^53), the largest number the protocol carries";

/// A parsed protocol frame. Borrowed from the frame's bytes.
#[derive(Debug, PartialEq)]
pub(crate) enum Wire<'a> {
    /// `{"c":"hi!",...}` from the dialling side, or `{"a":"hi!",...}` (the answer) back.
    Hello(Hello<'a>),
    /// `{"c":"ping"}`: the peer asks for a sign of life.
    Ping,
    /// `{"a":"ping"}`: the answer to a ping.
    Pong,
    /// `{"c":"imcon4","who":[...]}` (`add`) or `{"c":"im!con4","who":[...]}` (withdraw).
    Reach {
        /// `true` for `imcon4`, `false` for `im!con4`.
        add: bool,
        /// The names concerned.
        who: Vec<Cow<'a, str>>,
    },
    /// `{"c":"msg","f":FROM,"t":TO,"m":BODY}`; on secure links, with a sealed body (`"e"`)
    /// and an end-to-end tag (`"g"`).
    Msg(Msg<'a>),
    /// v2: `{"c":"lsa","o":ORIGIN,"i":INC,"s":SEQ,"n":[...],"p":[...],"x":[...]}`, one
    /// agent's links; signed by its origin on secure links (`"k"`, `"g"`).
    Lsa(Lsa<'a>),
    /// v2: `{"c":"ack","f":DEST,"t":ORIGIN,"i":INC,"s":SEQ,"h":HOPS}`, routed like a message;
    /// with an end-to-end tag (`"g"`) on secure links.
    Ack(Ack<'a>),
    /// v2: `{"c":"sum","d":[[ORIGIN,INC,SEQ],...],"e":true}`, part of the summary of a peer's
    /// link-state database sent when a link comes up; `"e":true` marks its last part.
    Summary(Summary<'a>),
    /// A command or answer this version does not know; ignored by design.
    Unknown,
}

/// Why a frame's payload is not a valid protocol message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WireError {
    /// Not JSON, or not UTF-8: the parser's own description.
    Json(String),
    /// Valid JSON whose top level is not an object.
    NotAnObject,
    /// A known command with a field missing or of the wrong type.
    Field {
        /// The command (`"hi!"`, `"msg"`, ...).
        command: &'static str,
        /// The field's key.
        field: &'static str,
        /// What is wrong with it.
        problem: &'static str,
    },
    /// A name that breaks the naming rules (empty or longer than 255 bytes).
    BadName {
        /// The field that held it.
        field: &'static str,
        /// Its length in bytes.
        len: usize,
    },
    /// A list with more names than this agent accepts in one frame.
    TooManyNames {
        /// The field that held it.
        field: &'static str,
        /// The limit (`Options::max_known_names`).
        max: usize,
    },
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WireError::Json(e) => write!(f, "frame is not valid JSON: {e}"),
            WireError::NotAnObject => f.write_str("frame is JSON but not an object"),
            WireError::Field {
                command,
                field,
                problem,
            } => {
                write!(f, "\"{command}\" frame: field \"{field}\" {problem}")
            }
            WireError::BadName { field, len: 0 } => {
                write!(f, "field \"{field}\" holds an empty name")
            }
            WireError::BadName { field, len } => write!(
                f,
                "field \"{field}\" holds a name of {len} bytes (names are at most {MAX_NAME_LEN} bytes)"
            ),
            WireError::TooManyNames { field, max } => {
                write!(
                    f,
                    "field \"{field}\" lists more than {max} names (Options::max_known_names)"
                )
            }
        }
    }
}

impl std::error::Error for WireError {}

/// Checks a name against the naming rules: non-empty, at most [`MAX_NAME_LEN`] bytes.
#[inline]
pub(crate) fn name_is_valid(name: &str) -> bool {
    !name.is_empty() && name.len() <= MAX_NAME_LEN
}

/// Parses one frame payload. `max_names` caps every name list (`iknow`, `who`).
pub(crate) fn parse(payload: &[u8], max_names: usize) -> Result<Wire<'_>, WireError> {
    parse_with(payload, max_names, true)
}

/// [`parse`] without the message fast path: the reference the fast path is checked against,
/// by the unit tests and the wire fuzz target (built only for them).
#[cfg(any(test, fuzzing))]
pub(crate) fn parse_general(payload: &[u8], max_names: usize) -> Result<Wire<'_>, WireError> {
    parse_with(payload, max_names, false)
}

fn parse_with(payload: &[u8], max_names: usize, fast: bool) -> Result<Wire<'_>, WireError> {
    match payload.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') => {}
        Some(_) => {
            // Distinguish "valid JSON of another shape" from "not JSON" for a clearer error.
            return Err(match serde_json::from_slice::<de::IgnoredAny>(payload) {
                Ok(_) => WireError::NotAnObject,
                Err(e) => WireError::Json(e.to_string()),
            });
        }
        None => return Err(WireError::Json("empty frame".into())),
    }
    // One UTF-8 check for the whole frame: parsing from `&str` then borrows every raw field
    // and string without checking each again.
    let text =
        std::str::from_utf8(payload).map_err(|e| WireError::Json(format!("invalid UTF-8: {e}")))?;
    if fast {
        if let Some(m) = msg::fast_msg(text) {
            return Ok(Wire::Msg(m));
        }
        if let Some(a) = ack::fast_ack(text) {
            return Ok(Wire::Ack(a));
        }
        if let Some(l) = lsa::fast_lsa(text, max_names) {
            return Ok(Wire::Lsa(l));
        }
    }
    parse_envelope(text, max_names)
}

/// The general parser, for any frame: every field read into the envelope, then checked against
/// the command. `text` is the whole payload, already checked to be UTF-8 starting with `{`
/// after whitespace.
fn parse_envelope(text: &str, max_names: usize) -> Result<Wire<'_>, WireError> {
    let env = Envelope::read(text)?;

    if let Some(c) = env.c {
        let cmd = string_field(c).ok_or(WireError::Field {
            command: "?",
            field: "c",
            problem: "is not a string",
        })?;
        return match &*cmd {
            "hi!" => hello::parse_hello(&env, false, max_names),
            "ping" => Ok(Wire::Ping),
            "imcon4" => reach::parse_reach(&env, true, max_names),
            "im!con4" => reach::parse_reach(&env, false, max_names),
            "msg" => msg::parse_msg(&env).map(Wire::Msg),
            "lsa" => lsa::parse_lsa(&env, max_names).map(Wire::Lsa),
            "ack" => ack::parse_ack(&env).map(Wire::Ack),
            "sum" => summary::parse_summary(&env, max_names).map(Wire::Summary),
            _ => Ok(Wire::Unknown),
        };
    }
    if let Some(a) = env.a {
        let ans = string_field(a).ok_or(WireError::Field {
            command: "?",
            field: "a",
            problem: "is not a string",
        })?;
        return match &*ans {
            "hi!" => hello::parse_hello(&env, true, max_names),
            "ping" => Ok(Wire::Pong),
            _ => Ok(Wire::Unknown),
        };
    }
    Ok(Wire::Unknown)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The payload of one emitted frame, after checking its length prefix.
    pub(super) fn payload(frame: &[u8]) -> &[u8] {
        assert_eq!(
            u32::from_be_bytes(frame[..4].try_into().unwrap()) as usize,
            frame.len() - 4
        );
        &frame[4..]
    }

    #[test]
    fn unknown_commands_and_fields_are_ignored() {
        assert_eq!(
            parse(br#"{"c":"futurething","who":5}"#, 1).unwrap(),
            Wire::Unknown
        );
        assert_eq!(parse(br#"{"a":"whatever"}"#, 1).unwrap(), Wire::Unknown);
        assert_eq!(parse(br#"{}"#, 1).unwrap(), Wire::Unknown);
        assert_eq!(
            parse(br#" {"zzz":[1,{"a":2}],"c":"ping"}"#, 1).unwrap(),
            Wire::Ping
        );
    }

    /// Frames that are not valid protocol messages, and a part of what their error says.
    const BAD_SHAPES: &[(&[u8], &str)] = &[
        (b"", "empty"),
        (b"not json", "not valid JSON"),
        (b"{\"c\":", "not valid JSON"),
        (b"[1,2]", "not an object"),
        (b"42", "not an object"),
        (b"\"hi\"", "not an object"),
        (br#"{"c":5}"#, "\"c\" is not a string"),
        (br#"{"c":"msg","t":"B"}"#, "field \"f\" is missing"),
        (br#"{"c":"msg","f":"A"}"#, "field \"t\" is missing"),
        (
            br#"{"c":"msg","f":1,"t":"B"}"#,
            "field \"f\" is not a string",
        ),
        (br#"{"c":"msg","f":"","t":"B"}"#, "empty name"),
        (
            br#"{"c":"msg","f":"A","t":"B","h":-1}"#,
            "\"h\" is not a non-negative integer",
        ),
        (
            br#"{"c":"msg","f":"A","t":"B","s":1,"i":2}"#,
            "\"b\" is missing",
        ),
        (
            br#"{"c":"msg","f":"A","t":"B","s":1.5,"i":2,"b":1}"#,
            "\"s\" is not a non-negative integer",
        ),
        (br#"{"c":"lsa","o":"A","i":1,"s":1}"#, "\"n\" is missing"),
        (br#"{"c":"lsa","o":"A","i":1,"n":[]}"#, "\"s\" is missing"),
        (
            br#"{"c":"lsa","o":"A","i":1,"s":1,"n":["a","b","c"]}"#,
            "more than 2 names",
        ),
        (br#"{"c":"ack","f":"A","t":"B","i":1}"#, "\"s\" is missing"),
        (
            br#"{"c":"ack","f":"A","t":"B","i":"1","s":1}"#,
            "\"i\" is not a non-negative integer",
        ),
        (br#"{"c":"hi!"}"#, "\"mynameis\" is missing"),
        (
            br#"{"c":"hi!","mynameis":"x","v":9007199254740993}"#,
            "\"v\" is above 9007199254740992 (2^53)",
        ),
        (
            br#"{"c":"hi!","mynameis":["x"]}"#,
            "\"mynameis\" is not a string",
        ),
        (
            br#"{"c":"hi!","mynameis":"x","iknow":"y"}"#,
            "\"iknow\" is not an array of strings",
        ),
        (
            br#"{"c":"hi!","mynameis":"x","iknow":[1]}"#,
            "\"iknow\" is not an array of strings",
        ),
        (br#"{"c":"imcon4"}"#, "\"who\" is missing"),
        (
            br#"{"c":"imcon4","who":{"a":1}}"#,
            "\"who\" is not an array of strings",
        ),
        (
            br#"{"c":"imcon4","who":["a","b","c"]}"#,
            "more than 2 names",
        ),
        (br#"{"c":"ping","c":"ping"}"#, "duplicate field"),
        (
            b"{\"c\":\"msg\",\"f\":\"A\xff\",\"t\":\"B\"}",
            "not valid JSON",
        ),
    ];

    #[test]
    fn bad_shapes_are_errors() {
        for (frame, needle) in BAD_SHAPES {
            let err = parse(frame, 2).expect_err(&String::from_utf8_lossy(frame));
            let text = err.to_string();
            assert!(
                text.contains(needle),
                "{:?}: {text}",
                String::from_utf8_lossy(frame)
            );
        }
        let long = format!(r#"{{"c":"hi!","mynameis":"{}"}}"#, "x".repeat(256));
        assert_eq!(
            parse(long.as_bytes(), 1).unwrap_err(),
            WireError::BadName {
                field: "mynameis",
                len: 256
            }
        );
    }
}
