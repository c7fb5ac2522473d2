//! The sans-IO protocol core: one agent's whole protocol state, driven by the caller.
//!
//! This module holds [`Node`] and its surface: inputs (`handle_*`), commands, outputs
//! (`poll_*`) and getters, the dispatch of each frame to the concern it belongs to, and the
//! commit that turns a step's state changes into descriptions, routes, events, announcements
//! and sends. Each concern's state and work live in a file of its own, on a sub-struct of
//! `Node` where the state is its own; this module must not grow their logic back. The core
//! never touches a socket and never reads a clock: every input carries `now`, and every output
//! is data for the caller to act on. That is what lets the same code run over real sockets
//! ([`Agent`](crate::Agent)), over any other byte stream, or inside a deterministic simulator.
//!
//! | file | concern |
//! |---|---|
//! | `links.rs` | the table of links, opening and dropping one, the transmission list |
//! | `stream.rs` | a link's bytes: frame decoder, outbound buffer, a secure link's session (handshake, sealing, opening) |
//! | `security.rs` | (feature `secure`) identity, trust, randomness and scratch buffers; a new link's session, the peer's key against the name in its hello, revocation |
//! | `keepalive.rs` | pings after silence, closing after an unanswered one |
//! | `dial.rs` | `connect` calls, reconnection and its jitter |
//! | `backoff.rs` | how long a dial waits after failures in a row (pure) |
//! | `hello.rs` | the hello, version negotiation, refusing duplicates |
//! | `announce.rs` | v1 announcements: what each original peer was told and told us |
//! | `flooding.rs` | v2: this agent's own description, flooding, purging the database |
//! | `db_sync.rs` | v2: database summaries exchanged when a link comes up |
//! | `routes.rs` | shortest paths applied to the routing table, `Meet` and `Lose` |
//! | `graph.rs` | the mesh as this agent sees it, in Graphviz DOT ([`Node::graph`]) |
//! | `relay.rs` | messages and confirmations that arrive: believability, relaying, holding |
//! | `origins.rs` | secure links: signed descriptions, end-to-end tags, sealed bodies, forgeries refused |
//! | `sending.rs` | this agent's own messages: outboxes, numbering, resends, confirmations |
//! | `receiving.rs` | messages for this agent: inboxes, order, duplicates, acks owed |
//! | `throttle.rs` | the hold-down rule shared by own descriptions and shortest paths (pure) |
//! | `timers.rs` | the clock, the timer payloads and wheel, dispatch of fired timers |
//! | `stats.rs` | [`Stats`] |
//! | `shutdown.rs` | graceful shutdown: refusing new work, draining, closing every link |
//!
//! # Driving a `Node`
//! Inputs (`handle_*`) and commands may be called in any order; after any of them, drain the
//! outputs:
//! 1. [`Node::poll_action`] until `None`: dial a connection, or close a link.
//! 2. [`Node::poll_transmit`] until `None`: for each link returned, write
//!    [`Node::outbound`] to its byte stream and report what was written with
//!    [`Node::consume_outbound`].
//! 3. [`Node::poll_event`] until `None`: hand events to the application.
//! 4. Call [`Node::handle_timeout`] no later than [`Node::next_timeout`].
//!
//! To stop, call [`Node::shutdown`] and keep driving the node until
//! [`Event::ShutdownComplete`]; after it the node does nothing more.
//!
//! # Versions on a link
//! Each hello carries the highest version its sender speaks (`"v":2`; absent means 1). A link
//! speaks the lower of the two. On a v1 link this agent behaves exactly as an original agent
//! (`imcon4`/`im!con4` announcements, plain `msg` frames). On a v2 link, the two agents
//! exchange summaries of their link-state databases (`sum`) and then what the other lacks, and
//! flood changes (`lsa`); messages carry a hop count and,
//! when the whole way is v2, an end-to-end number that the destination confirms (`ack`).

use std::collections::VecDeque;
use std::time::Instant;

use serde_json::value::RawValue;

use crate::event::NameCache;
use crate::frame::FeedError;
use crate::lsdb::Lsdb;
use crate::routing::{Route, Routing};
use crate::wire::{self, Wire};
use crate::{ConnectId, Error, Event, LinkDownReason, LinkId, MessageId, Options, SendError};

mod announce;
mod backoff;
mod db_sync;
mod dial;
mod flooding;
mod graph;
mod hello;
mod keepalive;
mod links;
mod origins;
mod receiving;
mod relay;
mod routes;
#[cfg(feature = "secure")]
mod security;
mod sending;
mod shutdown;
mod stats;
mod stream;
mod throttle;
mod timers;

pub(crate) use sending::Json;
pub use stats::Stats;

use backoff::Backoff;
use dial::Dialler;
use flooding::Flooding;
use links::Links;
use receiving::Inboxes;
use relay::Relay;
use routes::Paths;
use sending::Outboxes;
use shutdown::Phase;
use timers::{Clock, Timers, ms};

/// The highest protocol version this implementation speaks.
pub const PROTOCOL_VERSION: u8 = 2;

/// Something the caller must do on the core's behalf.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Open a connection for this `connect` call, then report `handle_link_up` or
    /// `handle_connect_failed`.
    Dial(ConnectId),
    /// Close this link's connection after writing `flush` (best effort). The core has already
    /// forgotten the link; do not report it down.
    Close {
        /// The link.
        link: LinkId,
        /// Bytes still owed to the peer (a refusal's reason, the last frames).
        flush: Vec<u8>,
    },
}

/// How a link came to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkOrigin {
    /// This agent dialled it for a `connect` call; this side says hello first.
    Dialed(ConnectId),
    /// A peer dialled this agent; this side answers the hello.
    Accepted,
}

/// A direct peer, as reported by [`Node::peers`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerInfo {
    /// The peer's name.
    pub name: String,
    /// The link to it.
    pub link: LinkId,
    /// `true` if the peer dialled this agent.
    pub inbound: bool,
    /// The `connect` call behind an outbound link.
    pub connect: Option<ConnectId>,
    /// The protocol version spoken on the link.
    pub version: u8,
    /// The peer's address, when the transport knows it (the core does not: it is filled in by
    /// [`Agent`](crate::Agent)).
    pub addr: Option<std::net::SocketAddr>,
}

/// The sans-IO core of one agent. See the [module documentation](self) for how to drive it.
#[derive(Debug)]
pub struct Node {
    name: Box<str>,
    opts: Options,
    clock: Clock,
    /// This run's incarnation: numbers this agent's streams and its description.
    inc: u64,
    /// The incarnation before the last one this run took (above a description of itself it
    /// did not make): confirmations of messages numbered in it still count.
    prev_inc: Option<u64>,
    links: Links,
    dialler: Dialler,
    routing: Routing,
    lsdb: Lsdb,
    flooding: Flooding,
    paths: Paths,
    outboxes: Outboxes,
    inboxes: Inboxes,
    relay: Relay,
    timers: Timers,
    /// Names shared by the events that carry them.
    names: NameCache,
    events: VecDeque<Event>,
    actions: VecDeque<Action>,
    stats: Stats,
    phase: Phase,
    /// Identity, trust and randomness, when the links are secure.
    #[cfg(feature = "secure")]
    security: Option<security::Security>,
}

impl Node {
    /// A node named `name`. `incarnation` tells this run of the agent from earlier ones: it must
    /// grow from run to run (the agent uses its start time in ms since the Unix epoch), and
    /// stay below 2^53 − 2, the top of the protocol's number space (a larger one is taken as
    /// the highest below it); it also seeds the reconnection jitter. `now` is the start of the
    /// node's clock.
    pub fn new(name: &str, opts: Options, incarnation: u64, now: Instant) -> Result<Node, Error> {
        if !wire::name_is_valid(name) {
            return Err(Error::InvalidName { len: name.len() });
        }
        let lsdb = Lsdb::new(name, incarnation, opts.max_known_names);
        let backoff = Backoff::new(
            ms(opts.auto_reconnect_interval),
            ms(opts.auto_reconnect_max_interval),
        );
        Ok(Node {
            name: name.into(),
            routing: Routing::new(opts.max_known_names),
            // Below the top of the number space, where the database put it.
            inc: lsdb.own().inc,
            prev_inc: None,
            lsdb,
            paths: Paths::new(ms(opts.route_delay)),
            flooding: Flooding::new(ms(opts.description_lifetime)),
            opts,
            clock: Clock::new(now),
            links: Links::default(),
            dialler: Dialler::new(incarnation, backoff),
            outboxes: Outboxes::new(),
            inboxes: Inboxes::default(),
            relay: Relay::default(),
            timers: Timers::new(),
            names: NameCache::default(),
            events: VecDeque::new(),
            actions: VecDeque::new(),
            stats: Stats::default(),
            phase: Phase::Running,
            #[cfg(feature = "secure")]
            security: None,
        })
    }

    /// This agent's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// This run's incarnation (it may have been raised above a description of this agent it
    /// did not make: an earlier run's, or a forged one).
    pub fn incarnation(&self) -> u64 {
        self.inc
    }

    /// This run now numbers its streams in incarnation `inc` (the one its description took);
    /// confirmations in the one before still count.
    fn incarnation_is(&mut self, inc: u64) {
        if inc != self.inc {
            self.prev_inc = Some(self.inc);
            self.inc = inc;
        }
    }

    /// The options in force.
    pub fn options(&self) -> &Options {
        &self.opts
    }

    fn tick(&mut self, now: Instant) -> u64 {
        self.clock.tick(now)
    }

    // -----------------------------------------------------------------------------------------
    // Inputs

    /// A connection is established: dialled for a `connect` call, or accepted.
    ///
    /// # Panics
    /// If `link` is already up (the caller must report each link down before reusing its id).
    pub fn handle_link_up(&mut self, link: LinkId, origin: LinkOrigin, now: Instant) {
        let t = self.tick(now);
        if self.refuse_link_after_shutdown(link) {
            return;
        }
        self.open_link(link, origin, t);
    }

    /// Bytes arrived on `link`.
    pub fn handle_bytes(&mut self, link: LinkId, bytes: &[u8], now: Instant) {
        let t = self.tick(now);
        let Some(l) = self.links.get_mut(link) else {
            return;
        };
        l.keepalive.heard(t);
        #[cfg(feature = "secure")]
        if l.stream.is_secure() {
            self.handle_secure_bytes(link, bytes, t);
            self.commit();
            return;
        }
        self.feed(link, bytes);
        self.commit();
    }

    /// Hands the stream bytes of `link` to its frame decoder, and each frame to its concern;
    /// closes the link if the framing or a frame is bad.
    fn feed(&mut self, link: LinkId, bytes: &[u8]) {
        let Some(l) = self.links.get_mut(link) else {
            return;
        };
        let mut reader = l.stream.take_reader();
        let result = reader.feed(bytes, |frame| self.handle_frame(link, frame));
        match result {
            Ok(()) => {
                if let Some(l) = self.links.get_mut(link) {
                    l.stream.restore_reader(reader);
                }
            }
            Err(FeedError::Frame(e)) => self.close_link(link, LinkDownReason::Frame(e)),
            Err(FeedError::Handler(reason)) => self.close_link(link, reason),
        }
    }

    /// The connection of `link` closed or failed (not on the core's own request). On a secure
    /// link whose peer had not said hello, a clean close is reported as the peer's refusal
    /// (`SecureError::ClosedDuringHandshake`).
    pub fn handle_link_down(&mut self, link: LinkId, reason: LinkDownReason, now: Instant) {
        self.tick(now);
        #[cfg(feature = "secure")]
        let reason = self.secure_close_reason(link, reason);
        self.drop_link(link, reason, false);
        self.commit();
    }

    /// A connection attempt for `connect` failed.
    pub fn handle_connect_failed(&mut self, connect: ConnectId, error: String, now: Instant) {
        let t = self.tick(now);
        self.connect_failed(connect, error, t);
    }

    /// A dial for `connect` reached this agent itself: the caller saw a connection arrive on
    /// one of this agent's listeners from that dial's own socket (the accepted connection's
    /// two ends are the dialling socket's two ends). The dial stops for good and is reported
    /// once, as [`Event::ConnectFailed`] with `error` and no retry; its link, if reported up,
    /// is closed. Hand the accepted connection to no one: it is the same connection.
    pub fn handle_self_dial(&mut self, connect: ConnectId, error: String, now: Instant) {
        self.tick(now);
        self.dialled_self(connect, error);
        self.commit();
    }

    /// Time has passed: fires due timers (keepalive, handshake limits, reconnections,
    /// retransmissions, deadlines, forgetting).
    pub fn handle_timeout(&mut self, now: Instant) {
        let t = self.tick(now);
        if self.is_shut_down() {
            return;
        }
        let mut fired = self.timers.expire(t);
        for timer in fired.drain(..) {
            self.on_timer(timer, t);
        }
        self.timers.recycle(fired);
        self.commit();
    }

    // -----------------------------------------------------------------------------------------
    // Commands

    /// Registers a `connect` call and asks the caller to dial it ([`Action::Dial`]). While
    /// shutting down, nothing is dialled: the call fails at once ([`Event::ConnectFailed`]).
    pub fn connect(&mut self) -> ConnectId {
        let id = self.dialler.add();
        if self.is_shutting_down() {
            self.dialler.cancel(id);
            self.events.push_back(Event::ConnectFailed {
                connect: id,
                error: "the agent is shutting down and dials nothing".into(),
                retry_in: None,
            });
        } else {
            self.actions.push_back(Action::Dial(id));
        }
        id
    }

    /// Registers a connection the caller already holds (the original's `addClient`); report it
    /// with `handle_link_up(link, LinkOrigin::Dialed(id), now)` right away.
    pub fn adopt(&mut self) -> ConnectId {
        self.dialler.add()
    }

    /// Drops the direct link to `name` and never re-dials it.
    pub fn disconnect_name(&mut self, name: &str, now: Instant) -> Result<(), Error> {
        self.tick(now);
        let link = self.links.to(name).ok_or_else(|| {
            Error::NotFound(format!(
                "\"{name}\" is not a direct peer of \"{}\"",
                self.name
            ))
        })?;
        self.dialler.cancel_peer(link, name);
        self.close_link(link, LinkDownReason::Disconnected);
        self.commit();
        Ok(())
    }

    /// Drops the link made by `connect` call `id`, if any, and stops re-dialling it.
    pub fn disconnect_connect(&mut self, id: ConnectId, now: Instant) -> Result<(), Error> {
        self.tick(now);
        let linked = self
            .dialler
            .cancel(id)
            .ok_or_else(|| Error::NotFound(format!("no {id} was ever made")))?;
        if let Some(link) = linked {
            self.close_link(link, LinkDownReason::Disconnected);
            self.commit();
        }
        Ok(())
    }

    /// Sends `body` (valid JSON) to the agent `to`, directly or through others. Messages to a
    /// v2 agent over a v2 way are confirmed ([`Event::Delivered`]); others are sent best effort.
    /// On secure links every message is confirmed: a route that is not confirmed counts as
    /// none, and the message waits (or, without `Options::queue_messages`, is
    /// [`SendError::Unreachable`]) rather than travel unauthenticated.
    pub fn send_message(
        &mut self,
        to: &str,
        body: &RawValue,
        now: Instant,
    ) -> Result<MessageId, SendError> {
        // A timeout too long for an `Instant` is no deadline at all.
        let deadline = self.opts.delivery_timeout.and_then(|d| now.checked_add(d));
        self.send_json(to, Json::Raw(body), deadline, now)
    }

    /// As [`send_message`](Self::send_message), giving up at `deadline` if not confirmed by then
    /// ([`Event::Undeliverable`]).
    pub fn send_message_by(
        &mut self,
        to: &str,
        body: &RawValue,
        deadline: Instant,
        now: Instant,
    ) -> Result<MessageId, SendError> {
        self.send_json(to, Json::Raw(body), Some(deadline), now)
    }

    /// As `send_message`, for a body already known to be valid JSON.
    pub(crate) fn send_json(
        &mut self,
        to: &str,
        json: Json<'_>,
        deadline: Option<Instant>,
        now: Instant,
    ) -> Result<MessageId, SendError> {
        self.check_taking_work()?;
        let t = self.tick(now);
        self.send(to, json, deadline, t)
    }

    // -----------------------------------------------------------------------------------------
    // Outputs

    /// The next event for the application.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Whether events are waiting.
    pub fn has_events(&self) -> bool {
        !self.events.is_empty()
    }

    /// Events waiting.
    pub fn pending_events(&self) -> usize {
        self.events.len()
    }

    /// Takes every waiting event at once.
    pub(crate) fn take_events(&mut self) -> VecDeque<Event> {
        std::mem::take(&mut self.events)
    }

    /// Whether actions or transmissions wait for the caller ([`poll_action`](Self::poll_action),
    /// [`poll_transmit`](Self::poll_transmit)): a command made some, and they should be
    /// carried out now rather than at the next timer.
    pub fn has_output(&self) -> bool {
        !self.actions.is_empty() || self.links.has_transmit()
    }

    /// The next action for the caller.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// The next link with bytes to write. A link comes back once per batch of new bytes; if the
    /// stream cannot take them all now, write the rest when it becomes writable. On a secure
    /// link, the frames pushed since it last came back are sealed now, into as few records
    /// as they fit.
    pub fn poll_transmit(&mut self) -> Option<LinkId> {
        loop {
            let l = self.links.next_listed()?;
            #[cfg(feature = "secure")]
            if let Err(e) = self
                .security
                .as_mut()
                .map_or(Ok(()), |sec| sec.seal(&mut l.stream, self.clock.now()))
            {
                let link = l.id;
                self.close_link(link, LinkDownReason::Secure(e));
                self.commit();
                continue;
            }
            if !l.stream.outbound().is_empty() {
                return Some(l.id);
            }
        }
    }

    /// Bytes waiting to be written on `link` (empty for an unknown link).
    pub fn outbound(&self, link: LinkId) -> &[u8] {
        match self.links.get(link) {
            Some(l) => l.stream.outbound(),
            None => &[],
        }
    }

    /// `n` bytes of [`outbound`](Self::outbound) were written.
    pub fn consume_outbound(&mut self, link: LinkId, n: usize, now: Instant) {
        self.tick(now);
        let max = self.opts.max_link_buffer;
        let Some(l) = self.links.get_mut(link) else {
            return;
        };
        l.stream.consume(n, max);
        let pending = l.pending();
        if pending < max / 2 && !self.links.blocked.is_empty() {
            for name in std::mem::take(&mut self.links.blocked) {
                self.pump(&name);
                self.pump_held(&name);
            }
        }
    }

    /// When [`handle_timeout`](Self::handle_timeout) is next due.
    pub fn next_timeout(&self) -> Option<Instant> {
        if self.is_shut_down() {
            return None;
        }
        self.timers.next_deadline().map(|t| self.clock.instant(t))
    }

    // -----------------------------------------------------------------------------------------
    // Getters

    /// The link to a direct peer.
    pub fn link_to(&self, name: &str) -> Option<LinkId> {
        self.links.to(name)
    }

    /// Whether `link` is open as far as the core knows.
    pub fn has_link(&self, link: LinkId) -> bool {
        self.links.is_open(link)
    }

    /// The `connect` call behind `link`, if this agent dialled it (whether it said hello or
    /// not).
    pub fn link_dial(&self, link: LinkId) -> Option<ConnectId> {
        match self.links.get(link)?.origin {
            LinkOrigin::Dialed(c) => Some(c),
            LinkOrigin::Accepted => None,
        }
    }

    /// The name of the peer on `link`, once it has said hello.
    pub fn link_peer(&self, link: LinkId) -> Option<&str> {
        self.links.peer(link)
    }

    /// Every direct peer that has said hello, in link order.
    pub fn peers(&self) -> Vec<PeerInfo> {
        self.links
            .iter()
            .filter_map(|l| {
                Some(PeerInfo {
                    name: l.peer.as_deref()?.to_owned(),
                    link: l.id,
                    inbound: !l.is_dialer(),
                    connect: match l.origin {
                        LinkOrigin::Dialed(c) => Some(c),
                        LinkOrigin::Accepted => None,
                    },
                    version: l.version,
                    addr: None,
                })
            })
            .collect()
    }

    /// The route to `name`, if it is reachable.
    pub fn route(&self, name: &str) -> Option<Route> {
        self.routing.route(name)
    }

    /// Every reachable name and its route, in name order.
    pub fn routes(&self) -> impl Iterator<Item = (&str, Route)> {
        self.routing.routes()
    }

    /// Routing updates so far: descriptions applied plus shortest-path computations. Cheaper
    /// than [`stats`](Self::stats) (which walks every link): a caller waiting for routes to
    /// settle can watch this stop moving, and [`Stats::paths_pending`] turn false.
    pub fn routing_updates(&self) -> u64 {
        self.stats.descriptions_applied + self.stats.paths_computed
    }

    /// Own messages held for `name`: queued, or sent and not confirmed.
    pub fn queued_for(&self, name: &str) -> usize {
        self.outboxes.queued_for(name)
    }

    /// `connect` calls made so far (the next connect number).
    pub fn dial_count(&self) -> usize {
        self.dialler.count()
    }

    /// The link-state database (v2).
    #[cfg(any(test, fuzzing))]
    pub(crate) fn lsdb(&self) -> &Lsdb {
        &self.lsdb
    }

    /// The agent's own accounting.
    pub fn stats(&self) -> Stats {
        Stats {
            links: self.links.count(),
            pending_links: self.links.awaiting_hello,
            known_names: self.routing.len(),
            descriptions: self.lsdb.len(),
            queued_messages: self.outboxes.queued(),
            outboxes: self.outboxes.len(),
            held_messages: self.relay.len(),
            streams: self.inboxes.len(),
            buffered_bytes: self.links.buffered(),
            timers: self.timers.len(),
            paths_pending: self.paths.pending() && self.opts.protocol_version >= 2,
            outranked: self.flooding.outranked(),
            ..self.stats.clone()
        }
    }

    // -----------------------------------------------------------------------------------------
    // Frames and commits

    /// One frame from `link`, handed to its concern. A frame the link's state or version does
    /// not use is ignored; one that cannot be parsed closes the link.
    fn handle_frame(&mut self, link: LinkId, frame: &[u8]) -> Result<(), LinkDownReason> {
        let msg = wire::parse(frame, self.opts.max_known_names).map_err(LinkDownReason::Wire)?;
        let Some(l) = self.links.get(link) else {
            return Ok(());
        };
        let (identified, v2) = (l.peer.is_some(), l.is_v2());
        match msg {
            Wire::Ping => self.links.control(link, &mut self.stats, wire::emit_pong),
            Wire::Pong | Wire::Unknown => {}
            Wire::Hello(h) if !identified => self.on_hello(link, h)?,
            Wire::Reach { add, who } if identified && !v2 => self.on_reach(link, add, &who)?,
            Wire::Msg(m) if identified => self.on_msg(link, m, frame),
            Wire::Lsa(lsa) if identified && v2 => self.on_lsa(link, lsa, frame)?,
            Wire::Ack(a) if identified && v2 => self.on_ack(link, a, frame),
            Wire::Summary(d) if identified && v2 => self.on_summary(link, d)?,
            // A second hello, or a frame the link's version does not use: ignored.
            _ => {}
        }
        Ok(())
    }

    /// Turns the state changes of an input into their consequences, in this order: a new
    /// version of this agent's description (flooded), database summaries for new v2 links,
    /// shortest paths, the routing table's changes (events, dials woken, resends), v1
    /// announcements, queues pumped towards names now reachable, and confirmations owed.
    fn commit(&mut self) {
        let v2 = self.opts.protocol_version >= 2;
        self.originate_if_due(v2);
        if v2 {
            self.send_summaries();
        }
        self.compute_paths_if_due(v2);
        let changes = self.apply_route_changes();
        self.announce();
        for ch in changes {
            if ch.new.is_some() {
                self.pump(&ch.name);
                self.pump_held(&ch.name);
            }
        }
        self.send_acks();
        self.shutdown_if_done();
    }
}

#[cfg(test)]
mod tests;
