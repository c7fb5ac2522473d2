//! # secretagent
//!
//! JSON messaging between named agents over plain TCP that keeps messages flowing when links
//! break, by relaying through other agents. Wire-compatible with the original Node.js
//! `secretagent` agents.
//!
//! Single-threaded and poll-driven: the caller runs [`Agent::poll`] and drains
//! [`Agent::next_event`]. No threads, no async runtime; several agents can share a thread,
//! and an agent can live inside another event loop (its poll descriptor is exposed through
//! `AsRawFd`, and [`Agent::next_timeout`] says when it next needs a poll).
//!
//! ## Layers
//! | module | owns |
//! |---|---|
//! | [`frame`] | the 4-byte length-prefixed codec |
//! | [`wire`] | the protocol's JSON frames: parsing (bodies stay raw) and emitting |
//! | [`routing`] | which names are reachable, through which link |
//! | [`lsdb`] | v2 link-state database and shortest paths |
//! | [`delivery`] | v2 end-to-end delivery: numbered streams, confirmations, retransmission |
//! | [`timer`] | the hashed timer wheel |
//! | [`node`] | the sans-IO core: links, hellos, keepalive, relaying, queues; time is an argument |
//! | [`Agent`] | the only IO: mio, sockets, the clock, and the public API |
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
//!     while let Some(event) = ames.next_event() {
//!         match event {
//!             Event::Meet { name } => println!("can reach {name}"),
//!             Event::Message { from, body, .. } => println!("{from}: {body}"),
//!             _ => {}
//!         }
//!     }
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Guarantees
//! - Bad input from a peer closes that link with [`Event::LinkDown`] and a reason; it never
//!   panics, hangs, or allocates what a peer merely claims. Other links are untouched.
//! - Every limit ([`Options`]) has a default and is enforced: frame length, names tracked,
//!   messages queued per destination, connections waiting for their hello.

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
#[cfg(any(test, feature = "sim"))]
pub mod sim;
mod timer;
#[allow(unreachable_pub)] // Its items still say `pub`; the crate does not export them.
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
