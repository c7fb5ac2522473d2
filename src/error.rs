//! Errors returned by calls on an agent. Failures of a link are not errors of a call: they are
//! reported as [`Event::LinkDown`](crate::Event::LinkDown).
//!
//! This module owns the error types and their messages only.

use std::fmt;
use std::io;

/// Why `send_message` refused a message. Nothing already accepted is affected.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SendError {
    /// The name is not reachable and `Options::queue_messages` is off.
    Unreachable {
        /// The destination.
        to: String,
    },
    /// The destination already has `Options::max_queued_per_destination` messages waiting.
    QueueFull {
        /// The destination.
        to: String,
        /// The limit.
        limit: usize,
    },
    /// The framed message would be longer than `Options::max_frame_len`.
    TooLarge {
        /// Its length in bytes.
        len: usize,
        /// The limit.
        max: u32,
    },
    /// The destination is not a valid agent name (empty, or over 255 bytes).
    InvalidName {
        /// The length of the name given.
        len: usize,
    },
    /// The body could not be turned into JSON.
    Serialize(String),
    /// The agent is shutting down (or has shut down) and takes no new messages.
    ShuttingDown,
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendError::Unreachable { to } => write!(
                f,
                "\"{to}\" is not reachable and queueing is off (Options::queue_messages)"
            ),
            SendError::QueueFull { to, limit } => write!(
                f,
                "{limit} messages for \"{to}\" are already waiting (Options::max_queued_per_destination); \
                 poll the agent until some are sent or confirmed, then retry"
            ),
            SendError::TooLarge { len, max } => write!(
                f,
                "message of {len} bytes exceeds the frame limit of {max} bytes (Options::max_frame_len)"
            ),
            SendError::InvalidName { len: 0 } => f.write_str("destination name is empty"),
            SendError::InvalidName { len } => {
                write!(
                    f,
                    "destination name is {len} bytes long (names are at most 255 bytes)"
                )
            }
            SendError::Serialize(e) => write!(f, "message body cannot be serialized to JSON: {e}"),
            SendError::ShuttingDown => f.write_str(
                "the agent is shutting down and takes no new messages (create a new agent to send more)",
            ),
        }
    }
}

impl std::error::Error for SendError {}

/// Errors of agent calls. A [`SendError`] converts into it, and it converts into an
/// [`io::Error`], so that `?` works across the crate's calls and in functions that return
/// either.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// A socket or poll operation failed.
    Io(io::Error),
    /// A message was refused (from [`SendError`], through `?`).
    Send(SendError),
    /// The agent's own name breaks the naming rules (empty, or over 255 bytes).
    InvalidName {
        /// The length of the name given.
        len: usize,
    },
    /// The configuration cannot work: the text says what is wrong and what to change.
    Config(String),
    /// `disconnect` named a peer that is not directly linked, or a connect number never issued.
    NotFound(String),
    /// The agent is shutting down (or has shut down) and takes no new links.
    ShuttingDown,
    /// The agent has shut down: it holds no socket and no timer, and there is nothing left to
    /// poll.
    ShutDown,
    /// Events were left undrained past `Options::max_undrained_events`: the agent stopped
    /// reading from its links until they are drained.
    EventsNotDrained {
        /// Events waiting.
        pending: usize,
        /// The limit.
        limit: usize,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io(e) => write!(f, "{e}"),
            Error::InvalidName { len: 0 } => f.write_str("agent name is empty"),
            Error::InvalidName { len } => {
                write!(
                    f,
                    "agent name is {len} bytes long (names are at most 255 bytes)"
                )
            }
            Error::NotFound(what) => write!(f, "{what}"),
            Error::Config(what) => write!(f, "{what}"),
            Error::Send(e) => write!(f, "{e}"),
            Error::ShuttingDown => f.write_str(
                "the agent is shutting down and takes no new links (create a new agent to start again)",
            ),
            Error::ShutDown => f.write_str(
                "the agent has shut down: nothing is left to poll (create a new agent to start again)",
            ),
            Error::EventsNotDrained { pending, limit } => write!(
                f,
                "{pending} events wait undrained (more than Options::max_undrained_events, {limit}), \
                 so the agent stopped reading from its links: drain them with next_event() or \
                 events() after every poll"
            ),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io(e) => Some(e),
            Error::Send(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Error {
        Error::Io(e)
    }
}

impl From<SendError> for Error {
    fn from(e: SendError) -> Error {
        Error::Send(e)
    }
}

/// An I/O error stays itself; any other becomes an [`io::Error`] of kind `Other` that carries
/// it (`get_ref()` and `downcast` give it back).
impl From<Error> for io::Error {
    fn from(e: Error) -> io::Error {
        match e {
            Error::Io(e) => e,
            other => io::Error::other(other),
        }
    }
}

/// A refusal as an [`io::Error`] of kind `Other` that carries it.
impl From<SendError> for io::Error {
    fn from(e: SendError) -> io::Error {
        io::Error::other(e)
    }
}
