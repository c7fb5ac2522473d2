//! The benchmark message, the same everywhere: 116 bytes of JSON,
//! `{"c":"msg","f":"Wolf","t":"Rosenberg","m":{"seq":123456,"pad":"xxx…"}}` with 50 x's,
//! between agents named Wolf (sender), Ames (relay) and Rosenberg (receiver).
//!
//! The floors send exactly these bytes; agents send the body `m` and frame it themselves (v2
//! adds a hop count and the delivery numbers, so their frames are longer).

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::{Context, Result};

/// The sending agent.
pub const SENDER: &str = "Wolf";
/// The relay in the middle.
pub const RELAY: &str = "Ames";
/// The receiving agent.
pub const RECEIVER: &str = "Rosenberg";

/// Peers of the measured agent in the footprint benchmarks, named by [`peer`].
pub const PEERS: usize = 100;

/// The name of peer `i` (`peer000`, `peer001`, ...).
pub fn peer(i: usize) -> String {
    format!("peer{i:03}")
}

/// Length of the whole message, in bytes.
pub const MESSAGE_LEN: usize = 116;

/// The sequence number of the fixed message; the floors vary it within six digits.
pub const SEQ: u64 = 123_456;

/// 50 x's.
const PAD: &str = "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx";

/// The message as a typed frame, for the serde_json floor (no `serde_json::Value`).
#[derive(Serialize, Deserialize)]
pub struct Frame<'a> {
    /// The command, `msg`.
    pub c: &'a str,
    /// From.
    pub f: &'a str,
    /// To.
    pub t: &'a str,
    /// The body.
    #[serde(borrow)]
    pub m: Payload<'a>,
}

/// The body of the message.
#[derive(Serialize, Deserialize)]
pub struct Payload<'a> {
    /// A number that changes from message to message where the benchmark checks order.
    pub seq: u64,
    /// Filler to the message's size.
    pub pad: &'a str,
}

/// The typed message with sequence number `seq`.
pub fn frame(seq: u64) -> Frame<'static> {
    Frame {
        c: "msg",
        f: SENDER,
        t: RECEIVER,
        m: payload(seq),
    }
}

/// The body with sequence number `seq`.
pub fn payload(seq: u64) -> Payload<'static> {
    Payload { seq, pad: PAD }
}

/// The whole message's bytes, with the fixed sequence number, checked to be 116 bytes.
pub fn message_bytes() -> Result<Vec<u8>> {
    let bytes = serde_json::to_vec(&frame(SEQ)).context("serialising the message")?;
    if bytes.len() != MESSAGE_LEN {
        return Err(format!(
            "the message is {} bytes, not {MESSAGE_LEN}",
            bytes.len()
        ));
    }
    Ok(bytes)
}

/// The body an agent sends, as raw JSON built once.
pub fn body(seq: u64) -> Result<Box<RawValue>> {
    let text = serde_json::to_string(&payload(seq)).context("serialising the body")?;
    RawValue::from_string(text).context("wrapping the body")
}

/// The sequence number of a body received by an agent.
pub fn seq_of(body: &str) -> Result<u64> {
    serde_json::from_str::<Payload<'_>>(body)
        .map(|p| p.seq)
        .context(format_args!("reading a received body {body}"))
}
