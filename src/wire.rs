//! Protocol messages: parsing one frame's JSON payload into a [`Wire`] value, and emitting
//! frames with exactly the bytes the original Node agents produce.
//!
//! This module owns the JSON shapes of the protocol and nothing else: it never sees a socket,
//! a link or a clock, and it makes no routing decision.
//!
//! Parsing borrows from the frame: names are `Cow<str>` (borrowed unless they hold escapes) and a
//! message body stays a `&RawValue` that is never decoded, so a relay can forward it untouched.
//! Every peer-supplied list is read against a caller-given cap, so an announcement of a million
//! names is refused without first building a million-entry vector.
//!
//! Unknown commands and unknown fields are ignored (that is what makes the v2 extensions safe
//! next to original agents); a known command with a missing or mistyped field is an error.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;

use crate::frame;

/// Longest agent name, in bytes of UTF-8.
pub const MAX_NAME_LEN: usize = 255;

/// A parsed protocol frame. Borrowed from the frame's bytes.
#[derive(Debug, PartialEq)]
pub enum Wire<'a> {
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
    /// `{"c":"msg","f":FROM,"t":TO,"m":BODY}`.
    Msg(Msg<'a>),
    /// v2: `{"c":"lsa","o":ORIGIN,"i":INC,"s":SEQ,"n":[...],"p":[...],"x":[...]}`, one
    /// agent's links.
    Lsa(Lsa<'a>),
    /// v2: `{"c":"ack","f":DEST,"t":ORIGIN,"i":INC,"s":SEQ,"h":HOPS}`, routed like a message.
    Ack(Ack<'a>),
    /// v2: `{"c":"sum","d":[[ORIGIN,INC,SEQ],...],"e":true}`, part of the summary of a peer's
    /// link-state database sent when a link comes up; `"e":true` marks its last part.
    Summary(Summary<'a>),
    /// A command or answer this version does not know; ignored by design.
    Unknown,
}

impl PartialEq for Msg<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.from == other.from
            && self.to == other.to
            && self.body.get() == other.body.get()
            && self.hops == other.hops
            && self.seq == other.seq
    }
}

/// The hello, in either direction.
#[derive(Debug, PartialEq)]
pub struct Hello<'a> {
    /// `true` for the accepting side's answer (`"a":"hi!"`).
    pub answer: bool,
    /// `mynameis`.
    pub name: Cow<'a, str>,
    /// `iknow`: names the sender can reach. Absent is read as empty.
    pub iknow: Vec<Cow<'a, str>>,
    /// `v`: the highest protocol version the sender speaks; 1 when absent.
    pub version: u64,
}

/// A user message, for this agent or to be relayed.
#[derive(Debug)]
pub struct Msg<'a> {
    /// `f`: the origin agent.
    pub from: Cow<'a, str>,
    /// `t`: the destination agent.
    pub to: Cow<'a, str>,
    /// `m`: the body, undecoded. An absent `m` (what an original agent sends for `undefined`)
    /// reads as `null`.
    pub body: &'a RawValue,
    /// `h`: hops travelled so far, when the sender counts them (v2).
    pub hops: Option<u64>,
    /// `i`, `s`, `b`: the end-to-end identity of a message sent for confirmed delivery (v2).
    pub seq: Option<Seq>,
    /// Where the digits of `h` sit in the frame, when the frame is exactly what
    /// [`emit_msg`] writes: a relay then copies the frame around a new hop count.
    pub(crate) hops_at: Option<(usize, usize)>,
}

/// Where a confirmed message sits in its (origin, destination) stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seq {
    /// `i`: the origin's incarnation, chosen when it started.
    pub inc: u64,
    /// `s`: the message's number in the stream, from 1.
    pub seq: u64,
    /// `b`: the lowest number the origin has not seen confirmed; everything below it was
    /// delivered, so a destination with no memory of the stream starts there.
    pub base: u64,
}

/// One agent's view of its own links, flooded to every v2 agent (v2).
#[derive(Debug)]
pub struct Lsa<'a> {
    /// `o`: the agent described.
    pub origin: Cow<'a, str>,
    /// `i`: its incarnation.
    pub inc: u64,
    /// `s`: the version of this description within the incarnation.
    pub seq: u64,
    /// `n`: its direct v2 peers.
    pub neighbors: Vec<Cow<'a, str>>,
    /// `p`: its direct peers that speak only v1. Absent is read as empty.
    pub v1_peers: Vec<Cow<'a, str>>,
    /// `x`: names it reaches only through v1 peers, which describe nothing themselves.
    pub externals: Vec<Cow<'a, str>>,
    /// The frame is in the form [`emit_lsa`] writes (its lists in any order): passing it on
    /// as it came says the same as writing it again.
    pub(crate) as_emitted: bool,
}

impl PartialEq for Lsa<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.origin == other.origin
            && self.inc == other.inc
            && self.seq == other.seq
            && self.neighbors == other.neighbors
            && self.v1_peers == other.v1_peers
            && self.externals == other.externals
    }
}

/// Part of a peer's database summary: which version of each description it holds (v2).
#[derive(Debug, PartialEq)]
pub struct Summary<'a> {
    /// `d`: (origin, incarnation, version) of descriptions held.
    pub entries: Vec<(Cow<'a, str>, u64, u64)>,
    /// `e`: this is the last part; what it did not list, the peer does not hold.
    pub end: bool,
}

/// A cumulative delivery confirmation, travelling from destination back to origin (v2).
#[derive(Debug)]
pub struct Ack<'a> {
    /// `f`: the destination that confirms.
    pub from: Cow<'a, str>,
    /// `t`: the origin the confirmation is for.
    pub to: Cow<'a, str>,
    /// `i`: the origin's incarnation the numbers belong to.
    pub inc: u64,
    /// `s`: every message numbered up to this one was delivered, in order.
    pub seq: u64,
    /// `h`: hops travelled so far.
    pub hops: Option<u64>,
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
    }
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
    /// A name that breaks the naming rules (empty or longer than [`MAX_NAME_LEN`] bytes).
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
pub fn name_is_valid(name: &str) -> bool {
    !name.is_empty() && name.len() <= MAX_NAME_LEN
}

/// Every field this version reads, each kept raw until the command says what it should be.
/// Keeping them raw is what lets an unknown command reuse a known key with another type.
#[derive(Deserialize, Default)]
struct Envelope<'a> {
    #[serde(borrow, default, deserialize_with = "present")]
    c: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    a: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    mynameis: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    iknow: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    who: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    f: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    t: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    m: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    v: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    h: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    i: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    s: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    b: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    o: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    n: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    x: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    p: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    d: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    e: Option<&'a RawValue>,
}

/// A present field is `Some`, even when it holds `null` (plain `Option` would fold `null` into
/// absent, and a `null` body is a real body).
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<&'de RawValue>, D::Error> {
    <&'de RawValue>::deserialize(d).map(Some)
}

static NULL: &str = "null";

/// Parses one frame payload. `max_names` caps every name list (`iknow`, `who`).
pub fn parse(payload: &[u8], max_names: usize) -> Result<Wire<'_>, WireError> {
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
        if let Some(m) = fast_msg(text) {
            return Ok(Wire::Msg(m));
        }
        if let Some(a) = fast_ack(text) {
            return Ok(Wire::Ack(a));
        }
        if let Some(l) = fast_lsa(text, max_names) {
            return Ok(Wire::Lsa(l));
        }
    }
    parse_envelope(text, max_names)
}

/// The general parser, for any frame: every field read into the envelope, then checked against
/// the command. `text` is the whole payload, already checked to be UTF-8 starting with `{`
/// after whitespace.
fn parse_envelope(text: &str, max_names: usize) -> Result<Wire<'_>, WireError> {
    let env: Envelope<'_> =
        serde_json::from_str(text).map_err(|e| WireError::Json(e.to_string()))?;

    if let Some(c) = env.c {
        let cmd = string_field(c).ok_or(WireError::Field {
            command: "?",
            field: "c",
            problem: "is not a string",
        })?;
        return match &*cmd {
            "hi!" => parse_hello(&env, false, max_names),
            "ping" => Ok(Wire::Ping),
            "imcon4" => Ok(Wire::Reach {
                add: true,
                who: names(env.who, "imcon4", "who", max_names)?,
            }),
            "im!con4" => Ok(Wire::Reach {
                add: false,
                who: names(env.who, "im!con4", "who", max_names)?,
            }),
            "msg" => parse_msg(&env).map(Wire::Msg),
            "lsa" => parse_lsa(&env, max_names).map(Wire::Lsa),
            "ack" => parse_ack(&env).map(Wire::Ack),
            "sum" => parse_summary(&env, max_names).map(Wire::Summary),
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
            "hi!" => parse_hello(&env, true, max_names),
            "ping" => Ok(Wire::Pong),
            _ => Ok(Wire::Unknown),
        };
    }
    Ok(Wire::Unknown)
}

/// The message frame exactly as this crate emits it, read without the envelope:
/// `{"c":"msg","f":F,"t":T,"m":BODY}`, then optionally `,"h":H`, then optionally
/// `,"i":I,"s":S,"b":B`, then `}` as the last byte; no whitespace outside the body (but
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
fn fast_msg(text: &str) -> Option<Msg<'_>> {
    let mut cur = Cursor { text, at: 0 };
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
    cur.close()?;
    Some(Msg {
        from: Cow::Borrowed(from),
        to: Cow::Borrowed(to),
        body,
        hops,
        seq,
        hops_at,
    })
}

/// The confirmation fast path: `{"c":"ack","f":F,"t":T,"i":I,"s":S}`, optionally with `,"h":H`
/// before the closing brace, exactly as [`emit_ack`] writes it, with the same rules for names
/// and numbers as [`fast_msg`]. A message that is answered at once travels with a confirmation
/// the other way, so on a request/response exchange every other frame is one of these.
fn fast_ack(text: &str) -> Option<Ack<'_>> {
    let mut cur = Cursor { text, at: 0 };
    cur.eat(b"{\"c\":\"ack\",\"f\":\"")?;
    let from = cur.name()?;
    cur.eat(b",\"t\":\"")?;
    let to = cur.name()?;
    cur.eat(b",\"i\":")?;
    let inc = cur.number()?;
    cur.eat(b",\"s\":")?;
    let seq = cur.number()?;
    let (hops, hops_at) = cur.hops()?.unzip();
    cur.close()?;
    Some(Ack {
        from: Cow::Borrowed(from),
        to: Cow::Borrowed(to),
        inc,
        seq,
        hops,
        hops_at,
    })
}

/// The description fast path, as [`fast_msg`] is the message one: a description exactly as
/// [`emit_lsa`] writes it (every name plain, every list within `max_names`) is read in place,
/// with no envelope. Flooding brings every description once per link, so most frames an agent
/// reads in a large mesh are these; anything else goes to the general parser.
fn fast_lsa(text: &str, max_names: usize) -> Option<Lsa<'_>> {
    let mut cur = Cursor { text, at: 0 };
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
    cur.close()?;
    Some(Lsa {
        origin: Cow::Borrowed(origin),
        inc,
        seq,
        neighbors,
        v1_peers,
        externals,
        as_emitted: true,
    })
}

/// A read position in a frame, for [`fast_msg`], [`fast_ack`] and [`fast_lsa`]. Every method
/// returns `None` when the text does not have the expected shape, which sends the frame to the
/// general parser.
struct Cursor<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> Cursor<'a> {
    fn rest(&self) -> &'a [u8] {
        self.text.as_bytes().get(self.at..).unwrap_or_default()
    }

    /// `,"h":H` if it comes next: the hop count, and where its digits sit (for a relay that
    /// copies the frame around a new one); `Some(None)` when the frame has no hop count.
    fn hops(&mut self) -> Option<Option<(u64, (usize, usize))>> {
        if self.eat(b",\"h\":").is_none() {
            return Some(None);
        }
        let start = self.at;
        let h = self.number()?;
        Some(Some((h, (start, self.at))))
    }

    /// The closing brace, as the frame's last byte.
    fn close(&mut self) -> Option<()> {
        self.eat(b"}")?;
        (self.at == self.text.len()).then_some(())
    }

    /// Consumes `lit` exactly.
    fn eat(&mut self, lit: &[u8]) -> Option<()> {
        if self.rest().starts_with(lit) {
            self.at += lit.len();
            Some(())
        } else {
            None
        }
    }

    /// A name after its opening quote, through its closing quote: no escape, no control
    /// character (those are for the general parser), within the naming rules.
    fn name(&mut self) -> Option<&'a str> {
        let len = self
            .rest()
            .iter()
            .position(|&b| b == b'"' || b == b'\\' || b < 0x20)?;
        if self.rest()[len] != b'"' {
            return None;
        }
        // Slicing at ASCII bytes of a `str` always falls on character boundaries.
        let name = self.text.get(self.at..self.at + len)?;
        self.at += len + 1;
        name_is_valid(name).then_some(name)
    }

    /// `[` plain names `]`, at most `max` of them, as [`emit_lsa`] writes a list.
    fn names(&mut self, max: usize) -> Option<Vec<Cow<'a, str>>> {
        self.eat(b"[")?;
        let mut out = Vec::new();
        if self.eat(b"]").is_some() {
            return Some(out);
        }
        loop {
            self.eat(b"\"")?;
            let name = self.name()?;
            if out.len() >= max {
                return None;
            }
            out.push(Cow::Borrowed(name));
            if self.eat(b",").is_none() {
                self.eat(b"]")?;
                return Some(out);
            }
        }
    }

    /// A JSON number of plain digits that fits a `u64`, as the general parser reads it: JSON
    /// allows no leading zero, and a fraction or an exponent is not an integer here.
    fn number(&mut self) -> Option<u64> {
        let bytes = self.text.as_bytes();
        let start = self.at;
        let mut end = start;
        let mut n: u64 = 0;
        // Up to 19 digits stay below 10^19, which a u64 holds: no step can overflow.
        while let Some(&d) = bytes.get(end).filter(|d| d.is_ascii_digit()) {
            if end - start >= 19 {
                n = n.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
            } else {
                n = n * 10 + u64::from(d - b'0');
            }
            end += 1;
        }
        let digits = end - start;
        if digits == 0 || (digits > 1 && bytes[start] == b'0') {
            return None;
        }
        self.at = end;
        Some(n)
    }

    /// One JSON value, skipped without decoding by serde_json's raw-value reader: the reader
    /// the envelope uses for every field, so a body is valid here exactly when it is there.
    fn value(&mut self) -> Option<&'a RawValue> {
        let rest = self.text.get(self.at..)?;
        let mut de = serde_json::Deserializer::from_str(rest);
        let raw = <&RawValue>::deserialize(&mut de).ok()?;
        // The value borrows from `rest`: its end is where the frame continues. (It starts
        // after any whitespace, which the envelope would skip too.)
        let start = (raw.get().as_ptr() as usize).checked_sub(rest.as_ptr() as usize)?;
        self.at += start + raw.get().len();
        Some(raw)
    }
}

fn parse_hello<'a>(
    env: &Envelope<'a>,
    answer: bool,
    max_names: usize,
) -> Result<Wire<'a>, WireError> {
    let command = "hi!";
    let raw = env.mynameis.ok_or(WireError::Field {
        command,
        field: "mynameis",
        problem: "is missing",
    })?;
    let name = string_field(raw).ok_or(WireError::Field {
        command,
        field: "mynameis",
        problem: "is not a string",
    })?;
    check_name(&name, "mynameis")?;
    let iknow = match env.iknow {
        Some(raw) if raw.get() != NULL => names(Some(raw), command, "iknow", max_names)?,
        _ => Vec::new(),
    };
    // Every agent speaks at least v1, whatever it claims.
    let version = optional_u64(env.v, command, "v")?.unwrap_or(1).max(1);
    Ok(Wire::Hello(Hello {
        answer,
        name,
        iknow,
        version,
    }))
}

fn parse_msg<'a>(env: &Envelope<'a>) -> Result<Msg<'a>, WireError> {
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
        hops_at: None,
    })
}

fn parse_lsa<'a>(env: &Envelope<'a>, max_names: usize) -> Result<Lsa<'a>, WireError> {
    let command = "lsa";
    let neighbors = names(env.n, command, "n", max_names)?;
    let optional = |raw: Option<&'a RawValue>, field| match raw {
        Some(raw) if raw.get() != NULL => names(Some(raw), command, field, max_names),
        _ => Ok(Vec::new()),
    };
    Ok(Lsa {
        origin: required_name(env.o, command, "o")?,
        inc: required_u64(env.i, command, "i")?,
        seq: required_u64(env.s, command, "s")?,
        neighbors,
        v1_peers: optional(env.p, "p")?,
        externals: optional(env.x, "x")?,
        as_emitted: false,
    })
}

fn parse_summary<'a>(env: &Envelope<'a>, max: usize) -> Result<Summary<'a>, WireError> {
    let (command, field) = ("sum", "d");
    let raw = env.d.ok_or(WireError::Field {
        command,
        field,
        problem: "is missing",
    })?;
    let mut entries = Vec::new();
    let mut de = serde_json::Deserializer::from_str(raw.get());
    if let Err(e) = (SummaryList {
        out: &mut entries,
        max,
    })
    .deserialize(&mut de)
    {
        return Err(if e.to_string().starts_with(TOO_MANY) {
            WireError::TooManyNames { field, max }
        } else {
            WireError::Field {
                command,
                field,
                problem: "is not an array of [name, incarnation, version]",
            }
        });
    }
    for (name, _, _) in &entries {
        check_name(name, field)?;
    }
    let end = match env.e.map(RawValue::get) {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => {
            return Err(WireError::Field {
                command,
                field: "e",
                problem: "is not a boolean",
            });
        }
    };
    Ok(Summary { entries, end })
}

fn parse_ack<'a>(env: &Envelope<'a>) -> Result<Ack<'a>, WireError> {
    let command = "ack";
    Ok(Ack {
        from: required_name(env.f, command, "f")?,
        to: required_name(env.t, command, "t")?,
        inc: required_u64(env.i, command, "i")?,
        seq: required_u64(env.s, command, "s")?,
        hops: optional_u64(env.h, command, "h")?,
        hops_at: None,
    })
}

fn optional_u64(
    raw: Option<&RawValue>,
    command: &'static str,
    field: &'static str,
) -> Result<Option<u64>, WireError> {
    raw.map(|raw| {
        let text = raw.get();
        // The common case without a second parser: the envelope already checked that this is
        // one JSON value, so plain digits are a non-negative integer (too large fails below).
        if text.bytes().all(|b| b.is_ascii_digit()) {
            if let Ok(n) = text.parse::<u64>() {
                return Ok(n);
            }
        }
        serde_json::from_str::<u64>(text).map_err(|_| WireError::Field {
            command,
            field,
            problem: "is not a non-negative integer",
        })
    })
    .transpose()
}

fn required_u64(
    raw: Option<&RawValue>,
    command: &'static str,
    field: &'static str,
) -> Result<u64, WireError> {
    optional_u64(raw, command, field)?.ok_or(WireError::Field {
        command,
        field,
        problem: "is missing",
    })
}

fn required_name<'a>(
    raw: Option<&'a RawValue>,
    command: &'static str,
    field: &'static str,
) -> Result<Cow<'a, str>, WireError> {
    let raw = raw.ok_or(WireError::Field {
        command,
        field,
        problem: "is missing",
    })?;
    let name = string_field(raw).ok_or(WireError::Field {
        command,
        field,
        problem: "is not a string",
    })?;
    check_name(&name, field)?;
    Ok(name)
}

fn check_name(name: &str, field: &'static str) -> Result<(), WireError> {
    if name_is_valid(name) {
        Ok(())
    } else {
        Err(WireError::BadName {
            field,
            len: name.len(),
        })
    }
}

/// A JSON string, borrowed when it holds no escapes.
struct CowStr<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for CowStr<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = CowStr<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(CowStr(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(CowStr(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(CowStr(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

fn string_field(raw: &RawValue) -> Option<Cow<'_, str>> {
    // The common case without a second parser: the envelope already checked that this is one
    // valid JSON value, so a quoted text without a backslash is the string itself.
    let text = raw.get();
    if let Some(inner) = text.strip_prefix('"').and_then(|t| t.strip_suffix('"')) {
        if !inner.contains('\\') {
            return Some(Cow::Borrowed(inner));
        }
    }
    serde_json::from_str::<CowStr<'_>>(text).ok().map(|s| s.0)
}

/// Reads a JSON array of names into a vector, refusing it as soon as it passes `max` entries.
struct NameList<'o, 'a> {
    out: &'o mut Vec<Cow<'a, str>>,
    max: usize,
}

/// Set when the list was refused for its length rather than its shape.
const TOO_MANY: &str = "\u{0}too many names";

impl<'de> DeserializeSeed<'de> for NameList<'_, 'de> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for NameList<'_, 'de> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of names")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(name) = seq.next_element::<CowStr<'de>>()? {
            if self.out.len() >= self.max {
                return Err(de::Error::custom(TOO_MANY));
            }
            self.out.push(name.0);
        }
        Ok(())
    }
}

/// Reads a summary's `[[name, incarnation, version], ...]`, refusing it past `max` entries.
struct SummaryList<'o, 'a> {
    out: &'o mut Vec<(Cow<'a, str>, u64, u64)>,
    max: usize,
}

impl<'de> DeserializeSeed<'de> for SummaryList<'_, 'de> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for SummaryList<'_, 'de> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of [name, incarnation, version]")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some((name, inc, version)) = seq.next_element::<(CowStr<'de>, u64, u64)>()? {
            if self.out.len() >= self.max {
                return Err(de::Error::custom(TOO_MANY));
            }
            self.out.push((name.0, inc, version));
        }
        Ok(())
    }
}

fn names<'a>(
    raw: Option<&'a RawValue>,
    command: &'static str,
    field: &'static str,
    max: usize,
) -> Result<Vec<Cow<'a, str>>, WireError> {
    let raw = raw.ok_or(WireError::Field {
        command,
        field,
        problem: "is missing",
    })?;
    let mut out = Vec::new();
    let mut de = serde_json::Deserializer::from_str(raw.get());
    if let Err(e) = (NameList { out: &mut out, max }).deserialize(&mut de) {
        return Err(if e.to_string().starts_with(TOO_MANY) {
            WireError::TooManyNames { field, max }
        } else {
            WireError::Field {
                command,
                field,
                problem: "is not an array of strings",
            }
        });
    }
    for name in &out {
        check_name(name, field)?;
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Emitting. Key order and spacing match the original agents byte for byte.

/// Appends a JSON string literal, escaped the way `JSON.stringify` escapes it.
pub fn write_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let bytes = s.as_bytes();
    // Names and most strings need no escape: one scan, one copy.
    if !bytes.iter().any(|&b| b < 0x20 || b == b'"' || b == b'\\') {
        out.extend_from_slice(bytes);
        out.push(b'"');
        return;
    }
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let esc: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0..=0x1f => {
                out.extend_from_slice(&bytes[start..i]);
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.extend_from_slice(b"\\u00");
                out.push(HEX[(b >> 4) as usize]);
                out.push(HEX[(b & 0xf) as usize]);
                start = i + 1;
                continue;
            }
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        out.extend_from_slice(esc);
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

fn write_names<'n>(out: &mut Vec<u8>, names: impl IntoIterator<Item = &'n str>) {
    out.push(b'[');
    for (i, n) in names.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_str(out, n);
    }
    out.push(b']');
}

/// Appends a hello frame: `{"c":"hi!",...}` or, for the answer, `{"a":"hi!",...}`. A `version`
/// above 1 adds `"v":version`, which original agents ignore.
pub fn emit_hello<'n>(
    out: &mut Vec<u8>,
    answer: bool,
    name: &str,
    iknow: impl IntoIterator<Item = &'n str>,
    version: u64,
) {
    frame::encode_with(out, |b| {
        b.extend_from_slice(if answer {
            b"{\"a\":\"hi!\",\"mynameis\":"
        } else {
            b"{\"c\":\"hi!\",\"mynameis\":"
        });
        write_str(b, name);
        b.extend_from_slice(b",\"iknow\":");
        write_names(b, iknow);
        if version > 1 {
            b.extend_from_slice(b",\"v\":");
            b.extend_from_slice(version.to_string().as_bytes());
        }
        b.push(b'}');
    });
}

/// Appends `{"c":"ping"}`.
pub fn emit_ping(out: &mut Vec<u8>) {
    frame::encode(out, b"{\"c\":\"ping\"}");
}

/// Appends `{"a":"ping"}`.
pub fn emit_pong(out: &mut Vec<u8>) {
    frame::encode(out, b"{\"a\":\"ping\"}");
}

/// Appends `{"c":"imcon4","who":[...]}` (`add`) or `{"c":"im!con4","who":[...]}`.
pub fn emit_reach<'n>(out: &mut Vec<u8>, add: bool, who: impl IntoIterator<Item = &'n str>) {
    frame::encode_with(out, |b| {
        b.extend_from_slice(if add {
            b"{\"c\":\"imcon4\",\"who\":"
        } else {
            b"{\"c\":\"im!con4\",\"who\":"
        });
        write_names(b, who);
        b.push(b'}');
    });
}

/// Appends `{"c":"msg","f":FROM,"t":TO,"m":BODY}`, with `,"h":HOPS` when `hops` is given and
/// `,"i":INC,"s":SEQ,"b":BASE` for a confirmed message. `body` is raw JSON, copied as is.
pub fn emit_msg(
    out: &mut Vec<u8>,
    from: &str,
    to: &str,
    body: &str,
    hops: Option<u64>,
    seq: Option<Seq>,
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
        b.push(b'}');
    });
}

/// Appends `{"c":"lsa","o":ORIGIN,"i":INC,"s":SEQ,"n":[...],"p":[...],"x":[...]}`, without
/// `"p"` when there are no v1 peers.
pub fn emit_lsa<'n>(
    out: &mut Vec<u8>,
    origin: &str,
    inc: u64,
    seq: u64,
    neighbors: impl IntoIterator<Item = &'n str>,
    v1_peers: impl IntoIterator<Item = &'n str>,
    externals: impl IntoIterator<Item = &'n str>,
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
        b.push(b'}');
    });
}

/// Appends `{"c":"sum","d":[[ORIGIN,INC,SEQ],...]}`, with `,"e":true` when `end`.
pub fn emit_summary<'n>(
    out: &mut Vec<u8>,
    entries: impl IntoIterator<Item = (&'n str, u64, u64)>,
    end: bool,
) {
    frame::encode_with(out, |b| {
        b.extend_from_slice(b"{\"c\":\"sum\",\"d\":[");
        for (k, (origin, inc, seq)) in entries.into_iter().enumerate() {
            if k > 0 {
                b.push(b',');
            }
            b.push(b'[');
            write_str(b, origin);
            b.push(b',');
            write_u64(b, inc);
            b.push(b',');
            write_u64(b, seq);
            b.push(b']');
        }
        b.push(b']');
        if end {
            b.extend_from_slice(b",\"e\":true");
        }
        b.push(b'}');
    });
}

/// Appends `{"c":"ack","f":DEST,"t":ORIGIN,"i":INC,"s":SEQ,"h":HOPS}`.
pub fn emit_ack(out: &mut Vec<u8>, from: &str, to: &str, inc: u64, seq: u64, hops: u64) {
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
        b.push(b'}');
    });
}

/// Appends a frame read by a fast path, `before` and `after` its hop count's digits, with the
/// hop count `hops` between them: how a relay passes a message or a confirmation on.
pub fn emit_around(out: &mut Vec<u8>, before: &[u8], hops: u64, after: &[u8]) {
    frame::encode_with(out, |b| {
        b.extend_from_slice(before);
        write_u64(b, hops);
        b.extend_from_slice(after);
    });
}

/// Appends the decimal digits of `n` without allocating.
pub fn write_u64(out: &mut Vec<u8>, mut n: u64) {
    // Two digits per division: numbers on the message path run to 13 digits (incarnations).
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    while n >= 100 {
        let pair = 2 * (n % 100) as usize;
        n /= 100;
        i -= 2;
        digits[i..i + 2].copy_from_slice(&DIGIT_PAIRS[pair..pair + 2]);
    }
    if n >= 10 {
        let pair = 2 * n as usize;
        i -= 2;
        digits[i..i + 2].copy_from_slice(&DIGIT_PAIRS[pair..pair + 2]);
    } else {
        i -= 1;
        digits[i] = b'0' + n as u8;
    }
    out.extend_from_slice(&digits[i..]);
}

/// "00", "01", ... "99", back to back.
const DIGIT_PAIRS: [u8; 200] = {
    let mut t = [0u8; 200];
    let mut i = 0;
    while i < 100 {
        t[2 * i] = b'0' + (i / 10) as u8;
        t[2 * i + 1] = b'0' + (i % 10) as u8;
        i += 1;
    }
    t
};

#[cfg(test)]
mod tests {
    use super::*;

    fn payload(frame: &[u8]) -> &[u8] {
        assert_eq!(
            u32::from_be_bytes(frame[..4].try_into().unwrap()) as usize,
            frame.len() - 4
        );
        &frame[4..]
    }

    #[test]
    fn emits_the_originals_bytes() {
        let mut out = Vec::new();
        emit_hello(&mut out, false, "Ames", [], 1);
        assert_eq!(
            payload(&out),
            br#"{"c":"hi!","mynameis":"Ames","iknow":[]}"#
        );
        out.clear();
        emit_hello(&mut out, true, "Rosenberg", ["Ames", "Wolf"], 1);
        assert_eq!(
            payload(&out),
            br#"{"a":"hi!","mynameis":"Rosenberg","iknow":["Ames","Wolf"]}"#
        );
        out.clear();
        emit_reach(&mut out, true, ["Rosenberg"]);
        assert_eq!(payload(&out), br#"{"c":"imcon4","who":["Rosenberg"]}"#);
        out.clear();
        emit_reach(&mut out, false, ["Wolf"]);
        assert_eq!(payload(&out), br#"{"c":"im!con4","who":["Wolf"]}"#);
        out.clear();
        emit_msg(
            &mut out,
            "Wolf",
            "Rosenberg",
            r#"{"subject":"Meeting"}"#,
            None,
            None,
        );
        assert_eq!(
            payload(&out),
            br#"{"c":"msg","f":"Wolf","t":"Rosenberg","m":{"subject":"Meeting"}}"#
        );
        out.clear();
        emit_ping(&mut out);
        emit_pong(&mut out);
        assert_eq!(&out[4..16], br#"{"c":"ping"}"#);
        assert_eq!(&out[20..], br#"{"a":"ping"}"#);
    }

    #[test]
    fn escapes_like_json_stringify() {
        let mut out = Vec::new();
        write_str(&mut out, "a\"b\\c\nd\u{1}é\u{7f}");
        assert_eq!(
            String::from_utf8(out.clone()).unwrap(),
            "\"a\\\"b\\\\c\\nd\\u0001é\u{7f}\""
        );
        let back: String = serde_json::from_slice(&out).unwrap();
        assert_eq!(back, "a\"b\\c\nd\u{1}é\u{7f}");
    }

    #[test]
    fn parses_every_v1_frame() {
        let w = parse(br#"{"c":"hi!","mynameis":"Ames","iknow":["Wolf"]}"#, 10).unwrap();
        assert_eq!(
            w,
            Wire::Hello(Hello {
                answer: false,
                name: "Ames".into(),
                iknow: vec!["Wolf".into()],
                version: 1
            })
        );
        let w = parse(
            br#"{"a":"hi!","mynameis":"W\u006flf","iknow":[],"v":2}"#,
            10,
        )
        .unwrap();
        assert_eq!(
            w,
            Wire::Hello(Hello {
                answer: true,
                name: "Wolf".into(),
                iknow: vec![],
                version: 2
            })
        );
        assert_eq!(parse(br#"{"c":"ping"}"#, 10).unwrap(), Wire::Ping);
        assert_eq!(parse(br#"{"a":"ping"}"#, 10).unwrap(), Wire::Pong);
        assert_eq!(
            parse(br#"{"c":"im!con4","who":["a","b"]}"#, 10).unwrap(),
            Wire::Reach {
                add: false,
                who: vec!["a".into(), "b".into()]
            }
        );
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

    #[test]
    fn bad_shapes_are_errors() {
        let cases: &[(&[u8], &str)] = &[
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
        for (frame, needle) in cases {
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

    #[test]
    fn a_huge_name_list_is_refused_at_the_cap() {
        let mut s = String::from(r#"{"c":"imcon4","who":["#);
        for i in 0..10_000 {
            if i > 0 {
                s.push(',');
            }
            s.push_str(&format!("\"n{i}\""));
        }
        s.push_str("]}");
        assert_eq!(
            parse(s.as_bytes(), 100).unwrap_err(),
            WireError::TooManyNames {
                field: "who",
                max: 100
            }
        );
        assert!(matches!(
            parse(s.as_bytes(), 10_000).unwrap(),
            Wire::Reach { .. }
        ));
    }

    #[test]
    fn a_summary_round_trips_and_its_shape_is_checked() {
        let mut out = Vec::new();
        emit_summary(&mut out, [("A", 1, 2), ("B\"b", 3, u64::MAX)], true);
        assert_eq!(
            &out[4..],
            br#"{"c":"sum","d":[["A",1,2],["B\"b",3,18446744073709551615]],"e":true}"#
        );
        let Wire::Summary(s) = parse(&out[4..], 10).unwrap() else {
            panic!()
        };
        assert!(s.end);
        assert_eq!(
            s.entries,
            vec![("A".into(), 1, 2), ("B\"b".into(), 3, u64::MAX)]
        );
        out.clear();
        emit_summary(&mut out, [], false);
        assert_eq!(
            parse(&out[4..], 10).unwrap(),
            Wire::Summary(Summary {
                entries: vec![],
                end: false
            })
        );
        for (frame, says) in [
            (r#"{"c":"sum"}"#, r#"field "d" is missing"#),
            (
                r#"{"c":"sum","d":[["A",1]]}"#,
                "[name, incarnation, version]",
            ),
            (
                r#"{"c":"sum","d":[["A",1,-2]]}"#,
                "[name, incarnation, version]",
            ),
            (r#"{"c":"sum","d":{"A":1}}"#, "[name, incarnation, version]"),
            (r#"{"c":"sum","d":[["",1,2]]}"#, "empty name"),
            (
                r#"{"c":"sum","d":[],"e":1}"#,
                r#"field "e" is not a boolean"#,
            ),
            (
                r#"{"c":"sum","d":[["A",1,2],["B",1,2],["C",1,2]]}"#,
                "more than 2",
            ),
        ] {
            let err = parse(frame.as_bytes(), 2).unwrap_err().to_string();
            assert!(err.contains(says), "{frame}: {err}");
        }
    }

    #[test]
    fn plain_names_and_numbers_are_read_in_place_and_the_rest_as_before() {
        let frame =
            br#"{"c":"msg","f":"Wolf","t":"Ro\u0073enberg","m":{},"h":18446744073709551615}"#;
        let Wire::Msg(m) = parse(frame, 1).unwrap() else {
            panic!()
        };
        assert!(matches!(m.from, Cow::Borrowed("Wolf")));
        assert_eq!(&*m.to, "Rosenberg");
        assert_eq!(m.hops, Some(u64::MAX));
        for bad in ["18446744073709551616", "1.5", "1e2", "-1", "\"1\""] {
            let frame = format!(r#"{{"c":"msg","f":"A","t":"B","h":{bad}}}"#);
            let err = parse(frame.as_bytes(), 1).unwrap_err();
            assert!(
                err.to_string().contains("not a non-negative integer"),
                "{bad}: {err}"
            );
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
            seq: u64::MAX,
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
            emit_msg(&mut out, "Wolf", "Rosenberg", body, hops, seq);
            assert!(agree(&out[4..]), "{body}");
            let Ok(Wire::Msg(m)) = parse(&out[4..], 1) else {
                panic!("{body}")
            };
            assert_eq!((m.body.get(), m.hops, m.seq), (body, hops, seq));
        }
        out.clear();
        emit_msg(&mut out, "Fr\"ance", "CCCP", "1", None, None);
        assert!(!agree(&out[4..]), "an escaped name goes the general way");
    }

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
        let mut cases: Vec<&[u8]> = vec![
            // Taken by the fast path.
            br#"{"c":"msg","f":"A","t":"B","m":1}"#,
            br#"{"c":"msg","f":"A","t":"B","m": 1,"h":0}"#,
            br#"{"c":"msg","f":"A","t":"B","m":"}\"{","i":1,"s":2,"b":3}"#,
            r#"{"c":"msg","f":"Zoë","t":"B","m":{"a":"\ud800"},"h":5,"i":0,"s":0,"b":0}"#
                .as_bytes(),
            br#"{"c":"msg","f":"A","t":"B","m":{"a":{"b":[true,false,null,-0,0.5,1E9]}}}"#,
            br#"{"c":"msg","f":"A","t":"B","m":1,"h":18446744073709551615}"#,
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
                u64::MAX,
                n.iter().copied(),
                p.iter().copied(),
                x.iter().copied(),
            );
            assert!(agree_lsa(&out[4..], 4), "{n:?} {p:?} {x:?}");
            let Ok(Wire::Lsa(l)) = parse(&out[4..], 4) else {
                panic!("{n:?}")
            };
            assert!(l.as_emitted);
            assert_eq!((&*l.origin, l.inc, l.seq), ("Me", 7, u64::MAX));
            assert_eq!(
                (l.neighbors.len(), l.v1_peers.len(), l.externals.len()),
                (n.len(), p.len(), x.len())
            );
        }
        let general: [&[u8]; 16] = [
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
            ("Zoë", "B", 0, u64::MAX, 31),
        ] {
            out.clear();
            emit_ack(&mut out, from, to, inc, seq, hops);
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
        emit_ack(&mut out, "Fr\"ance", "B", 1, 2, 1);
        assert!(
            !agree_ack(&out[4..]),
            "an escaped name goes the general way"
        );
        assert!(agree_ack(br#"{"c":"ack","f":"A","t":"B","i":1,"s":2}"#));
        let general: [&[u8]; 12] = [
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
        out.clear();
        emit_lsa(&mut out, "A", 9, 2, ["B", "C"], [], ["D"]);
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
        emit_lsa(&mut out, "A", 9, 3, ["B"], ["Old"], []);
        assert_eq!(
            &out[4..],
            br#"{"c":"lsa","o":"A","i":9,"s":3,"n":["B"],"p":["Old"],"x":[]}"#
        );
        let Wire::Lsa(l) = parse(&out[4..], 5).unwrap() else {
            panic!()
        };
        assert_eq!(l.v1_peers, ["Old"]);
        out.clear();
        emit_ack(&mut out, "B", "A", 9, 41, 1);
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
        let mut n = Vec::new();
        for v in [
            0,
            9,
            10,
            99,
            100,
            101,
            1000,
            1234567890123,
            u64::MAX / 10,
            u64::MAX,
        ] {
            n.clear();
            write_u64(&mut n, v);
            assert_eq!(n, v.to_string().as_bytes());
        }
    }
}
