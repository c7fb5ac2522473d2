//! # secretagent
//!
//! JSON messaging between named agents over plain TCP that keeps messages flowing when links
//! break, by relaying through other agents. Wire-compatible with the original Node.js
//! `secretagent` agents.
//!
//! Single-threaded and poll-driven: the caller runs [`Agent::poll`] and drains
//! [`Agent::events`] (or [`Agent::next_event`]). No threads, no async runtime; several agents
//! can share a thread, and an agent can live inside another event loop (its poll descriptor
//! is exposed through `AsFd` and `AsRawFd`, and [`Agent::next_timeout`] says when it next
//! needs a poll).
//!
//! ## What is public
//! | item | for |
//! |---|---|
//! | [`Agent`] | an agent over real sockets: commands, the run loop, shutdown |
//! | [`Event`] and what it carries ([`Name`], [`Body`], [`LinkDownReason`], ...) | what happened |
//! | [`Options`] | every setting, with its default |
//! | [`Error`], [`SendError`] | what a call refused, converting into each other and into `io::Error` |
//! | [`node`] ([`Node`], [`Stats`], [`Route`]) | the sans-IO core, to run over any byte stream |
//! | `secure` (feature `secure`) | keys, the trust file and the per-link Noise session of secure links |
//!
//! Inside, not exported: the frame codec, the wire's JSON frames, the routing table, the
//! link-state database, end-to-end delivery and the timer wheel (the error types a
//! [`LinkDownReason`] carries, [`FrameError`] and [`WireError`], are re-exported). The
//! deterministic simulator (`sim`) is built only with the `sim` feature.
//!
//! Dependencies in the public API, deliberately: `serde` (bodies are any `Serialize`) and
//! `serde_json` (bodies travel as raw JSON, `RawValue`). `mio` is not: [`Waker`] wraps its
//! waker, and the poll descriptor is a plain file descriptor.
//!
//! ## Layers
//! The modules inside, from the bytes up (the README's "How it is built" lists every file):
//!
//! | module | owns |
//! |---|---|
//! | `frame` | the 4-byte length-prefixed codec |
//! | `secure` | (feature `secure`) a link's Noise handshake and encrypted records, keys, the trust file |
//! | `wire` | the protocol's JSON frames, one file per kind: parsing (bodies stay raw) and emitting |
//! | `routing` | which names are reachable, through which link |
//! | `lsdb` | the v2 link-state database (descriptions held once) and, apart, the shortest-path search |
//! | `delivery` | v2 end-to-end delivery: numbered streams, confirmations, retransmission |
//! | `timer` | the hashed timer wheel |
//! | [`node`] | the sans-IO core, a file per concern (links and their bytes, keepalive, dialling, hello, v1 announcements, flooding, database sync, routes, relaying, sending, receiving, shutdown); time is an argument |
//! | [`Agent`] | the only IO: mio, sockets, the clock, closing sockets cleanly |
//!
//! ## Run loop
//! ```no_run
//! use secretagent::{Agent, Event, Options};
//!
//! let mut ames = Agent::new("Ames", Options::default())?;
//! ames.listen("127.0.0.1:0")?;
//! ames.connect("127.0.0.1:8124")?;
//! loop {
//!     ames.poll(None)?;
//!     // Invariant: after every poll (and after commands), drain the events.
//!     for event in ames.events() {
//!         match event {
//!             Event::Meet { name } => println!("can reach {name}"),
//!             // The iterator does not borrow the agent: answer as you go.
//!             Event::Message { from, body, .. } => {
//!                 ames.send_message(&from, &format!("got {body}"))?;
//!             }
//!             _ => {}
//!         }
//!     }
//! }
//! # Ok::<(), secretagent::Error>(())
//! ```
//!
//! Inside another event loop, wait for the agent's descriptor to be readable or for
//! [`Agent::next_timeout`], whichever comes first, then call `poll(Some(Duration::ZERO))` and
//! drain. Commands take effect at once: after any of them, its bytes are written or
//! `next_timeout()` returns now. The README has recipes for a mio loop, for tokio
//! (`examples/tokio.rs`) and for several agents on one thread.
//!
//! Events not drained are not lost and do not make `poll` spin; past
//! [`Options::max_undrained_events`] the agent stops reading and `poll` returns
//! [`Error::EventsNotDrained`].
//!
//! ## Guarantees
//! - Bad input from a peer closes that link with [`Event::LinkDown`] and a reason; it never
//!   panics, hangs, or allocates what a peer merely claims. Other links are untouched.
//! - Every limit ([`Options`]) has a default and is enforced: frame length, names tracked,
//!   messages queued per destination, connections waiting for their hello.
//! - [`Agent::shutdown`] (or [`Agent::begin_shutdown`]) stops taking work, waits up to a
//!   deadline for what was sent to be confirmed, closes every link with a FIN (peers see an
//!   end of stream, not a reset), and reports what was left unconfirmed.

#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![warn(unreachable_pub)]

mod agent;
mod error;
mod event;
mod id;
mod options;

/// Bodies of the fuzz targets: built for the crate's tests and under `--cfg fuzzing` only.
#[cfg(any(test, fuzzing))]
#[doc(hidden)]
pub mod fuzz;

mod delivery;
mod frame;
mod lsdb;
pub mod node;
mod routing;
#[cfg(feature = "secure")]
pub mod secure;
#[cfg(any(test, feature = "sim"))]
pub mod sim;
mod timer;
mod wire;

/// The README's examples, compiled as doctests so they stay true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

pub use agent::{
    Agent, DEFAULT_ADDR, DEFAULT_PORT, Peer, READ_BUDGET, ShutdownReport, Target, Waker,
};
pub use error::{Error, SendError};
pub use event::{Body, Event, LinkDownReason, Name, UndeliverableReason};
pub use frame::FrameError;
pub use id::{ConnectId, LinkId, MessageId};
pub use node::{Node, Stats};
pub use options::Options;
pub use routing::Route;
pub use wire::WireError;
