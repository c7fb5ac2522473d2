//! Small handles: links, connection attempts, messages.
//!
//! This module owns the handle types and nothing else. Handles are plain numbers; link numbers
//! are reused once a link is gone, so code that must survive reconnections should key its state
//! by agent name, not by [`LinkId`].

use std::fmt;

/// A direct link (one TCP connection). Reused after the link closes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LinkId(pub usize);

/// The sequence number of a `connect` call: the original's "connect number", valid for
/// `disconnect` for as long as the agent lives, across reconnections.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnectId(pub u64);

/// Identifies a message sent by this agent, unique for the agent's lifetime.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MessageId(pub u64);

impl fmt::Display for LinkId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "link {}", self.0)
    }
}

impl fmt::Display for ConnectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "connection #{}", self.0)
    }
}

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "message {}", self.0)
    }
}
