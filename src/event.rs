//! [`Event`]: what an agent reports to its caller, and the types events carry.
//!
//! This module owns the event vocabulary only; the core decides when each event happens.

use std::borrow::Borrow;
use std::fmt;
use std::ops::Deref;
use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde_json::value::RawValue;

use crate::frame::FrameError;
use crate::wire::WireError;
use crate::{ConnectId, LinkId, MessageId};

/// Something that happened, drained with `Agent::next_event` / `Agent::events`.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Event {
    /// `name` became reachable, directly or through other agents (the original's `meet`).
    Meet {
        /// The agent now reachable.
        name: Name,
    },
    /// `name` is no longer reachable by any way (the original's `loose`).
    Lose {
        /// The agent no longer reachable.
        name: Name,
    },
    /// A message for this agent (the original's `message(msg, from, to, directlyFrom)`).
    Message {
        /// The agent that sent it.
        from: Name,
        /// This agent's name.
        to: Name,
        /// The direct peer it arrived from (the sender itself, or the last relay).
        via: Name,
        /// The message, as raw JSON.
        body: Body,
    },
    /// The destination confirmed message `id` (v2 routes only): it was handed to the
    /// destination's application, after every earlier message this agent sent it.
    Delivered {
        /// The destination.
        to: Name,
        /// The id `send_message` returned.
        id: MessageId,
    },
    /// This agent gave up on message `id`: it was not confirmed in time. It may or may not
    /// have been delivered.
    Undeliverable {
        /// The destination.
        to: Name,
        /// The id `send_message` returned.
        id: MessageId,
        /// Why.
        reason: UndeliverableReason,
    },
    /// A direct link completed its hello.
    LinkUp {
        /// The link.
        link: LinkId,
        /// The peer's name.
        peer: Name,
        /// `true` if the peer dialled this agent.
        inbound: bool,
        /// The protocol version spoken on the link.
        version: u8,
    },
    /// A direct link closed. When `reason.is_error()`, the link was closed because of what the
    /// peer sent or did (or failed to do); every other link carries on.
    LinkDown {
        /// The link.
        link: LinkId,
        /// The peer's name, if it had said hello.
        peer: Option<Name>,
        /// Why.
        reason: LinkDownReason,
    },
    /// A connection attempt made by `connect` failed.
    ConnectFailed {
        /// Which `connect` call.
        connect: ConnectId,
        /// What the operating system said.
        error: String,
        /// When the next attempt is due, if one is.
        retry_in: Option<Duration>,
    },
    /// A message passed through this agent on its way (only with `Options::trace_relays`).
    Relayed {
        /// The agent that sent it.
        from: Name,
        /// The agent it is for.
        to: Name,
        /// The direct peer it came from.
        prev: Name,
        /// The direct peer it left to.
        next: Name,
    },
    /// The shutdown begun with `Agent::begin_shutdown` (or `Node::shutdown`) is over: every
    /// link is closed, and this agent does nothing more. The last event of an agent.
    ShutdownComplete {
        /// The messages this agent accepted and gave up on, each with its destination: not
        /// confirmed by the deadline, whether queued, sent or in flight. Empty when every
        /// message was confirmed (or, on ways through v1 agents, which confirm nothing, written
        /// to the link). By destination name, then in the order they were sent.
        unconfirmed: Vec<(Name, MessageId)>,
    },
}

/// Why a message was given up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum UndeliverableReason {
    /// Its deadline passed before a confirmation came (`Options::delivery_timeout`, or the
    /// deadline given to `send_message_within`).
    Expired,
}

impl fmt::Display for UndeliverableReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UndeliverableReason::Expired => f.write_str("not confirmed before its deadline"),
        }
    }
}

/// Why a link closed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum LinkDownReason {
    /// The peer closed the connection.
    PeerClosed,
    /// This agent closed it: `disconnect` was called, or the agent is shutting down.
    Disconnected,
    /// The peer is already linked to this agent by another connection, which stays.
    Duplicate {
        /// The peer's name.
        name: Name,
    },
    /// The peer said hello with this agent's own name.
    OwnName,
    /// No hello arrived within `Options::hello_timeout`.
    HelloTimeout,
    /// Nothing arrived within `Options::ping_timeout` of a ping.
    PingTimeout,
    /// Too many connections had not said hello yet (`Options::max_pending_links`).
    TooManyPending {
        /// The limit.
        max: usize,
    },
    /// The peer announced more names than `Options::max_known_names` allows.
    TooManyNames {
        /// The limit.
        max: usize,
    },
    /// The byte stream could not be framed.
    Frame(FrameError),
    /// A frame was not a valid protocol message.
    Wire(WireError),
    /// The connection failed.
    Io {
        /// The kind of failure.
        kind: std::io::ErrorKind,
        /// The operating system's description.
        message: String,
    },
    /// A secure link (feature `secure`) was refused or broken: the handshake failed, the
    /// peer's key is not trusted for the name it claims, a record was tampered with, the
    /// peer speaks plaintext, its key was revoked, ... The error says which, and what to do.
    #[cfg(feature = "secure")]
    Secure(crate::secure::SecureError),
}

impl LinkDownReason {
    /// Whether the link closed because something went wrong (rather than on purpose or by a
    /// clean close from the peer).
    pub fn is_error(&self) -> bool {
        !matches!(
            self,
            LinkDownReason::PeerClosed
                | LinkDownReason::Disconnected
                | LinkDownReason::Duplicate { .. }
        )
    }

    /// Builds the reason for an I/O error.
    pub fn io(e: &std::io::Error) -> LinkDownReason {
        LinkDownReason::Io {
            kind: e.kind(),
            message: e.to_string(),
        }
    }
}

impl fmt::Display for LinkDownReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LinkDownReason::PeerClosed => f.write_str("the peer closed the connection"),
            LinkDownReason::Disconnected => f.write_str("closed by this agent"),
            LinkDownReason::Duplicate { name } => {
                write!(
                    f,
                    "already linked to \"{name}\" by another connection, which stays"
                )
            }
            LinkDownReason::OwnName => f.write_str("the peer claims this agent's own name"),
            LinkDownReason::HelloTimeout => {
                f.write_str("no hello within the hello timeout (Options::hello_timeout)")
            }
            LinkDownReason::PingTimeout => {
                f.write_str("no answer to a ping within the ping timeout (Options::ping_timeout)")
            }
            LinkDownReason::TooManyPending { max } => write!(
                f,
                "more than {max} connections waiting for their hello (Options::max_pending_links)"
            ),
            LinkDownReason::TooManyNames { max } => write!(
                f,
                "the peer announced more names than this agent tracks ({max}, Options::max_known_names)"
            ),
            LinkDownReason::Frame(e) => write!(f, "bad framing: {e}"),
            LinkDownReason::Wire(e) => write!(f, "bad frame: {e}"),
            LinkDownReason::Io { message, .. } => write!(f, "connection error: {message}"),
            #[cfg(feature = "secure")]
            LinkDownReason::Secure(e) => write!(f, "secure link: {e}"),
        }
    }
}

/// A message body: raw JSON, decoded only when asked.
#[derive(Clone)]
pub struct Body(Box<RawValue>);

impl Body {
    /// Wraps raw JSON.
    pub fn new(raw: Box<RawValue>) -> Body {
        Body(raw)
    }

    /// The JSON text, exactly as it travelled.
    pub fn get(&self) -> &str {
        self.0.get()
    }

    /// The body as raw JSON.
    pub fn raw(&self) -> &RawValue {
        &self.0
    }

    /// Decodes the body into `T`.
    ///
    /// ```
    /// # use serde_json::value::RawValue;
    /// let body = secretagent::Body::new(RawValue::from_string(r#"{"n":7}"#.into()).unwrap());
    /// let v: serde_json::Value = body.parse().unwrap();
    /// assert_eq!(v["n"], 7);
    /// ```
    pub fn parse<T: DeserializeOwned>(&self) -> serde_json::Result<T> {
        serde_json::from_str(self.0.get())
    }

    /// Takes the raw JSON out.
    pub fn into_raw(self) -> Box<RawValue> {
        self.0
    }
}

impl PartialEq for Body {
    fn eq(&self, other: &Body) -> bool {
        self.get() == other.get()
    }
}

impl fmt::Debug for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.get())
    }
}

impl fmt::Display for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.get())
    }
}

/// An agent's name, as every event carries it: a shared string, so that reporting a message
/// copies no name. It reads as a `&str` (`Deref`, `AsRef`, `Borrow`, `Display`),
/// compares with `str`, `&str` and `String`, and converts into a `String`.
///
/// ```
/// let name = secretagent::Name::from("Wolf");
/// assert!(name == "Wolf" && name.len() == 4);
/// let owned: String = name.into();
/// assert_eq!(owned, "Wolf");
/// ```
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Name(Arc<str>);

impl Name {
    /// The name as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Deref for Name {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for Name {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl Borrow<str> for Name {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl From<&str> for Name {
    fn from(s: &str) -> Name {
        Name(s.into())
    }
}

impl From<String> for Name {
    fn from(s: String) -> Name {
        Name(s.into())
    }
}

impl From<Name> for String {
    fn from(n: Name) -> String {
        n.0.as_ref().to_owned()
    }
}

impl PartialEq<str> for Name {
    fn eq(&self, other: &str) -> bool {
        *self.0 == *other
    }
}

impl PartialEq<&str> for Name {
    fn eq(&self, other: &&str) -> bool {
        *self.0 == **other
    }
}

impl PartialEq<String> for Name {
    fn eq(&self, other: &String) -> bool {
        *self.0 == **other
    }
}

impl PartialEq<Name> for str {
    fn eq(&self, other: &Name) -> bool {
        *self == *other.0
    }
}

impl PartialEq<Name> for &str {
    fn eq(&self, other: &Name) -> bool {
        **self == *other.0
    }
}

impl PartialEq<Name> for String {
    fn eq(&self, other: &Name) -> bool {
        **self == *other.0
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl serde::Serialize for Name {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

/// The few names a busy agent reports again and again (its own, its peers', its busiest
/// correspondents), each made once and then shared by every event that carries it. Small and
/// bounded: a name not among the last few used is made afresh, which is what every name cost
/// before.
#[derive(Debug, Default)]
pub(crate) struct NameCache {
    slots: [Option<Name>; NameCache::SLOTS],
    next: usize,
}

impl NameCache {
    const SLOTS: usize = 8;

    /// `name` as a [`Name`], shared with earlier events when it was seen lately.
    pub(crate) fn get(&mut self, name: &str) -> Name {
        if let Some(n) = self.slots.iter().flatten().find(|n| **n == *name) {
            return n.clone();
        }
        let n = Name::from(name);
        self.slots[self.next] = Some(n.clone());
        self.next = (self.next + 1) % Self::SLOTS;
        n
    }
}
