//! The sans-IO protocol core: one agent's whole protocol state, driven by the caller.
//!
//! This module owns the per-link protocol state (handshake, keepalive, what each peer was told),
//! the connection-attempt bookkeeping, the message queues, and the timers, and ties the routing
//! table to them. It never touches a socket and never reads a clock: every input carries `now`,
//! and every output is data for the caller to act on. That is what lets the same code run over
//! real sockets ([`Agent`](crate::Agent)), over any other byte stream, or inside a deterministic
//! simulator.
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

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::{Duration, Instant};

use serde_json::value::RawValue;

use crate::frame::{FeedError, FrameDecoder};
use crate::routing::{Route, Routing};
use crate::timer::TimerWheel;
use crate::wire::{self, Hello, Msg, Wire};
use crate::{Body, ConnectId, Error, Event, LinkDownReason, LinkId, MessageId, Options, SendError};

/// The protocol version this implementation speaks.
pub const PROTOCOL_VERSION: u8 = 1;

/// Room for the envelope around a body when checking a message against the frame limit.
const ENVELOPE_SLACK: usize = 64;

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

/// The agent's own accounting, for monitoring and for checking that limits hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Open links, identified or not.
    pub links: usize,
    /// Links that have not completed their hello.
    pub pending_links: usize,
    /// Names in the routing table.
    pub known_names: usize,
    /// Messages waiting in queues, for all destinations.
    pub queued_messages: usize,
    /// Bytes waiting to be written, over all links.
    pub buffered_bytes: usize,
    /// Armed timers (live or stale).
    pub timers: usize,
    /// Messages relayed for other agents.
    pub relayed: u64,
    /// Messages for other agents that were dropped: no route, a full queue, a full link buffer,
    /// or a route pointing back where the message came from.
    pub relay_dropped: u64,
}

#[derive(Debug)]
struct Link {
    /// Distinguishes this link from earlier ones that had the same id, for stale timers.
    serial: u64,
    origin: LinkOrigin,
    peer: Option<Box<str>>,
    version: u8,
    decoder: FrameDecoder,
    out: Vec<u8>,
    /// Bytes of `out` already written.
    head: usize,
    /// Listed in `transmit`.
    dirty: bool,
    /// v1: names this agent told the peer it reaches (`iknow` / `imcon4`, not withdrawn).
    told: BTreeSet<Box<str>>,
    /// v1: names the peer told this agent it reaches.
    heard: BTreeSet<Box<str>>,
    /// Compare `told` against the whole table at the next commit.
    resync: bool,
    /// Announcements gathered during a commit, sent together.
    tell_add: Vec<Box<str>>,
    tell_del: Vec<Box<str>>,
    last_rx: u64,
    ping_sent: Option<u64>,
}

impl Link {
    fn pending(&self) -> usize {
        self.out.len() - self.head
    }

    fn is_dialer(&self) -> bool {
        matches!(self.origin, LinkOrigin::Dialed(_))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum DialState {
    /// The caller is connecting.
    Connecting,
    /// Connected; the link may still be in its hello.
    Linked(LinkId),
    /// A reconnection is scheduled.
    Waiting,
    /// The peer turned out to be linked already by another connection; wake when that link
    /// goes down.
    Dormant(Box<str>),
    /// `disconnect` was called for it.
    Cancelled,
    /// Failed with auto-reconnect off.
    Stopped,
}

#[derive(Debug)]
struct Dial {
    state: DialState,
    /// Counts scheduled reconnections, so a stale timer can be recognised.
    attempt: u64,
}

#[derive(Debug, Clone, Copy)]
enum Timer {
    Hello { link: LinkId, serial: u64 },
    Ping { link: LinkId, serial: u64 },
    Reconnect { connect: ConnectId, attempt: u64 },
}

#[derive(Debug)]
struct Queued {
    /// `None` for this agent's own messages; the origin for relayed ones held for later.
    from: Option<Box<str>>,
    body: Box<RawValue>,
}

/// The sans-IO core of one agent. See the [module documentation](self) for how to drive it.
#[derive(Debug)]
pub struct Node {
    name: Box<str>,
    opts: Options,
    epoch: Instant,
    links: Vec<Option<Link>>,
    pending_links: usize,
    routing: Routing,
    outboxes: BTreeMap<Box<str>, VecDeque<Queued>>,
    queued_total: usize,
    /// Destinations with queued messages waiting for room in their link's buffer.
    blocked: BTreeSet<Box<str>>,
    dials: Vec<Dial>,
    timers: TimerWheel<Timer>,
    fired: Vec<Timer>,
    events: VecDeque<Event>,
    actions: VecDeque<Action>,
    transmit: VecDeque<LinkId>,
    next_serial: u64,
    next_message: u64,
    rng: u64,
    stats: Stats,
}

impl Node {
    /// A node named `name`. `seed` varies reconnection jitter between agents (any value will
    /// do; the agent uses its start time); `now` is the start of the node's clock.
    pub fn new(name: &str, opts: Options, seed: u64, now: Instant) -> Result<Node, Error> {
        if !wire::name_is_valid(name) {
            return Err(Error::InvalidName { len: name.len() });
        }
        Ok(Node {
            name: name.into(),
            routing: Routing::new(opts.max_known_names),
            opts,
            epoch: now,
            links: Vec::new(),
            pending_links: 0,
            outboxes: BTreeMap::new(),
            queued_total: 0,
            blocked: BTreeSet::new(),
            dials: Vec::new(),
            timers: TimerWheel::new(256, 0),
            fired: Vec::new(),
            events: VecDeque::new(),
            actions: VecDeque::new(),
            transmit: VecDeque::new(),
            next_serial: 0,
            next_message: 0,
            rng: seed | 1,
            stats: Stats::default(),
        })
    }

    /// This agent's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The options in force.
    pub fn options(&self) -> &Options {
        &self.opts
    }

    fn tick(&self, now: Instant) -> u64 {
        now.saturating_duration_since(self.epoch).as_millis() as u64
    }

    fn ms(d: Duration) -> u64 {
        d.as_millis() as u64
    }

    // -----------------------------------------------------------------------------------------
    // Inputs

    /// A connection is established: dialled for a `connect` call, or accepted.
    ///
    /// # Panics
    /// If `link` is already up (the caller must report each link down before reusing its id).
    pub fn handle_link_up(&mut self, link: LinkId, origin: LinkOrigin, now: Instant) {
        let t = self.tick(now);
        if self.links.len() <= link.0 {
            self.links.resize_with(link.0 + 1, || None);
        }
        assert!(self.links[link.0].is_none(), "{link} reported up twice");
        if origin == LinkOrigin::Accepted && self.pending_links >= self.opts.max_pending_links {
            let max = self.opts.max_pending_links;
            self.events.push_back(Event::LinkDown {
                link,
                peer: None,
                reason: LinkDownReason::TooManyPending { max },
            });
            self.actions.push_back(Action::Close {
                link,
                flush: Vec::new(),
            });
            return;
        }
        let serial = self.next_serial;
        self.next_serial += 1;
        let mut l = Link {
            serial,
            origin,
            peer: None,
            version: 1,
            decoder: FrameDecoder::new(self.opts.max_frame_len),
            out: Vec::new(),
            head: 0,
            dirty: false,
            told: BTreeSet::new(),
            heard: BTreeSet::new(),
            resync: false,
            tell_add: Vec::new(),
            tell_del: Vec::new(),
            last_rx: t,
            ping_sent: None,
        };
        if let LinkOrigin::Dialed(c) = origin {
            if let Some(d) = self.dials.get_mut(c.0 as usize) {
                d.state = DialState::Linked(link);
            }
            // The dialling side speaks first, telling everything it can reach.
            let names = self.routing.routes().map(|(n, _)| n);
            push_frame(&mut l, link, &mut self.transmit, |out| {
                wire::emit_hello(out, false, &self.name, names, u64::from(PROTOCOL_VERSION))
            });
            l.told = self.routing.routes().map(|(n, _)| n.into()).collect();
        }
        self.links[link.0] = Some(l);
        self.pending_links += 1;
        let hello_by = t + Self::ms(self.opts.hello_timeout);
        self.timers.insert(hello_by, Timer::Hello { link, serial });
    }

    /// Bytes arrived on `link`.
    pub fn handle_bytes(&mut self, link: LinkId, bytes: &[u8], now: Instant) {
        let t = self.tick(now);
        let Some(l) = self.link_mut(link) else { return };
        l.last_rx = t;
        let mut decoder = std::mem::replace(&mut l.decoder, FrameDecoder::new(0));
        let result = decoder.feed(bytes, |frame| self.handle_frame(link, frame, t));
        match result {
            Ok(()) => {
                if let Some(l) = self.link_mut(link) {
                    l.decoder = decoder;
                }
            }
            Err(FeedError::Frame(e)) => self.close_link(link, LinkDownReason::Frame(e)),
            Err(FeedError::Handler(reason)) => self.close_link(link, reason),
        }
        self.commit();
    }

    /// The connection of `link` closed or failed (not on the core's own request).
    pub fn handle_link_down(&mut self, link: LinkId, reason: LinkDownReason, now: Instant) {
        let _ = now;
        self.drop_link(link, reason, false);
        self.commit();
    }

    /// A connection attempt for `connect` failed.
    pub fn handle_connect_failed(&mut self, connect: ConnectId, error: String, now: Instant) {
        let t = self.tick(now);
        let Some(d) = self.dials.get_mut(connect.0 as usize) else {
            return;
        };
        if d.state != DialState::Connecting {
            return;
        }
        let retry_in = if self.opts.auto_reconnect {
            Some(self.opts.auto_reconnect_interval)
        } else {
            None
        };
        if retry_in.is_some() {
            self.schedule_reconnect(connect, t, false);
        } else if let Some(d) = self.dials.get_mut(connect.0 as usize) {
            d.state = DialState::Stopped;
        }
        self.events.push_back(Event::ConnectFailed {
            connect,
            error,
            retry_in,
        });
    }

    /// Time has passed: fires due timers (keepalive, handshake limits, reconnections).
    pub fn handle_timeout(&mut self, now: Instant) {
        let t = self.tick(now);
        let mut fired = std::mem::take(&mut self.fired);
        self.timers.expire(t, &mut fired);
        for timer in fired.drain(..) {
            match timer {
                Timer::Hello { link, serial } => {
                    if self.link_serial(link) == Some(serial) && self.link_peer(link).is_none() {
                        self.close_link(link, LinkDownReason::HelloTimeout);
                    }
                }
                Timer::Ping { link, serial } => {
                    if self.link_serial(link) == Some(serial) {
                        self.ping_check(link, t);
                    }
                }
                Timer::Reconnect { connect, attempt } => {
                    if let Some(d) = self.dials.get_mut(connect.0 as usize) {
                        if d.state == DialState::Waiting && d.attempt == attempt {
                            d.state = DialState::Connecting;
                            self.actions.push_back(Action::Dial(connect));
                        }
                    }
                }
            }
        }
        self.fired = fired;
        self.commit();
    }

    // -----------------------------------------------------------------------------------------
    // Commands

    /// Registers a `connect` call and asks the caller to dial it ([`Action::Dial`]).
    pub fn connect(&mut self) -> ConnectId {
        let id = self.new_dial();
        self.actions.push_back(Action::Dial(id));
        id
    }

    /// Registers a connection the caller already holds (the original's `addClient`); report it
    /// with `handle_link_up(link, LinkOrigin::Dialed(id), now)` right away.
    pub fn adopt(&mut self) -> ConnectId {
        self.new_dial()
    }

    fn new_dial(&mut self) -> ConnectId {
        let id = ConnectId(self.dials.len() as u64);
        self.dials.push(Dial {
            state: DialState::Connecting,
            attempt: 0,
        });
        id
    }

    /// Drops the direct link to `name` and never re-dials it.
    pub fn disconnect_name(&mut self, name: &str, now: Instant) -> Result<(), Error> {
        let _ = now;
        let link = self.link_to(name).ok_or_else(|| {
            Error::NotFound(format!(
                "\"{name}\" is not a direct peer of \"{}\"",
                self.name
            ))
        })?;
        for d in &mut self.dials {
            match &d.state {
                DialState::Linked(l) if *l == link => d.state = DialState::Cancelled,
                DialState::Dormant(n) if **n == *name => d.state = DialState::Cancelled,
                _ => {}
            }
        }
        self.close_link(link, LinkDownReason::Disconnected);
        self.commit();
        Ok(())
    }

    /// Drops the link made by `connect` call `id`, if any, and stops re-dialling it.
    pub fn disconnect_connect(&mut self, id: ConnectId, now: Instant) -> Result<(), Error> {
        let _ = now;
        let d = self
            .dials
            .get_mut(id.0 as usize)
            .ok_or_else(|| Error::NotFound(format!("no {id} was ever made")))?;
        let old = std::mem::replace(&mut d.state, DialState::Cancelled);
        if let DialState::Linked(link) = old {
            self.close_link(link, LinkDownReason::Disconnected);
            self.commit();
        }
        Ok(())
    }

    /// Sends `body` (valid JSON) to the agent `to`, directly or through others.
    pub fn send_message(
        &mut self,
        to: &str,
        body: &RawValue,
        now: Instant,
    ) -> Result<MessageId, SendError> {
        self.send_json(to, body.get(), now)
    }

    /// As `send_message`, for a body the caller guarantees is valid JSON.
    pub(crate) fn send_json(
        &mut self,
        to: &str,
        body: &str,
        now: Instant,
    ) -> Result<MessageId, SendError> {
        let _ = now;
        if !wire::name_is_valid(to) {
            return Err(SendError::InvalidName { len: to.len() });
        }
        let len = body.len() + to.len() + self.name.len() + ENVELOPE_SLACK;
        if len > self.opts.max_frame_len as usize {
            return Err(SendError::TooLarge {
                len,
                max: self.opts.max_frame_len,
            });
        }
        let id = MessageId(self.next_message);
        if *to == *self.name {
            self.next_message += 1;
            let body = RawValue::from_string(body.to_owned())
                .map_err(|e| SendError::Serialize(e.to_string()))?;
            self.events.push_back(Event::Message {
                from: self.name.to_string(),
                to: self.name.to_string(),
                via: self.name.to_string(),
                body: Body::new(body),
            });
            return Ok(id);
        }
        let route = self.routing.route(to);
        let queued = self.outboxes.get(to).map_or(0, VecDeque::len);
        // Fast path: nothing waiting ahead of it and room on the link.
        if queued == 0 {
            if let Some(r) = route {
                if self.room_on(r.link) {
                    self.next_message += 1;
                    if let Some(Some(l)) = self.links.get_mut(r.link.0) {
                        let hops = first_hop(l);
                        push_frame(l, r.link, &mut self.transmit, |out| {
                            wire::emit_msg(out, &self.name, to, body, hops)
                        });
                    }
                    return Ok(id);
                }
            }
        }
        if route.is_none() && !self.opts.queue_messages {
            return Err(SendError::Unreachable { to: to.to_owned() });
        }
        if queued >= self.opts.max_queued_per_destination {
            return Err(SendError::QueueFull {
                to: to.to_owned(),
                limit: self.opts.max_queued_per_destination,
            });
        }
        let body = RawValue::from_string(body.to_owned())
            .map_err(|e| SendError::Serialize(e.to_string()))?;
        self.next_message += 1;
        self.enqueue(to, Queued { from: None, body });
        if route.is_some() {
            self.blocked.insert(to.into());
        }
        Ok(id)
    }

    fn enqueue(&mut self, to: &str, q: Queued) {
        if let Some(queue) = self.outboxes.get_mut(to) {
            queue.push_back(q);
        } else {
            self.outboxes.insert(to.into(), VecDeque::from([q]));
        }
        self.queued_total += 1;
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

    /// The next action for the caller.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// The next link with bytes to write. A link comes back once per batch of new bytes; if the
    /// stream cannot take them all now, write the rest when it becomes writable.
    pub fn poll_transmit(&mut self) -> Option<LinkId> {
        while let Some(link) = self.transmit.pop_front() {
            if let Some(l) = self.link_mut(link) {
                l.dirty = false;
                if l.pending() > 0 {
                    return Some(link);
                }
            }
        }
        None
    }

    /// Bytes waiting to be written on `link` (empty for an unknown link).
    pub fn outbound(&self, link: LinkId) -> &[u8] {
        match self.links.get(link.0) {
            Some(Some(l)) => &l.out[l.head..],
            _ => &[],
        }
    }

    /// `n` bytes of [`outbound`](Self::outbound) were written.
    pub fn consume_outbound(&mut self, link: LinkId, n: usize, now: Instant) {
        let _ = now;
        let max = self.opts.max_link_buffer;
        let Some(l) = self.link_mut(link) else { return };
        l.head = (l.head + n).min(l.out.len());
        if l.head == l.out.len() {
            l.out.clear();
            l.head = 0;
            if l.out.capacity() > max.max(64 * 1024) {
                l.out = Vec::new();
            }
        } else if l.head >= 64 * 1024 && l.head * 2 >= l.out.len() {
            l.out.drain(..l.head);
            l.head = 0;
        }
        let pending = l.pending();
        if pending < max / 2 && !self.blocked.is_empty() {
            for name in std::mem::take(&mut self.blocked) {
                self.pump(&name);
            }
        }
    }

    /// When [`handle_timeout`](Self::handle_timeout) is next due.
    pub fn next_timeout(&self) -> Option<Instant> {
        self.timers
            .next_deadline()
            .map(|t| self.epoch + Duration::from_millis(t))
    }

    // -----------------------------------------------------------------------------------------
    // Getters

    /// The link to a direct peer.
    pub fn link_to(&self, name: &str) -> Option<LinkId> {
        self.links
            .iter()
            .enumerate()
            .find(|(_, l)| l.as_ref().and_then(|l| l.peer.as_deref()) == Some(name))
            .map(|(i, _)| LinkId(i))
    }

    /// Whether `link` is open as far as the core knows.
    pub fn has_link(&self, link: LinkId) -> bool {
        matches!(self.links.get(link.0), Some(Some(_)))
    }

    /// The name of the peer on `link`, once it has said hello.
    pub fn link_peer(&self, link: LinkId) -> Option<&str> {
        self.links.get(link.0)?.as_ref()?.peer.as_deref()
    }

    /// Every direct peer that has said hello, in link order.
    pub fn peers(&self) -> Vec<PeerInfo> {
        self.links
            .iter()
            .enumerate()
            .filter_map(|(i, l)| {
                let l = l.as_ref()?;
                Some(PeerInfo {
                    name: l.peer.as_deref()?.to_owned(),
                    link: LinkId(i),
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

    /// Messages waiting for `name`.
    pub fn queued_for(&self, name: &str) -> usize {
        self.outboxes.get(name).map_or(0, VecDeque::len)
    }

    /// The agent's own accounting.
    pub fn stats(&self) -> Stats {
        let open = self.links.iter().flatten();
        Stats {
            links: open.clone().count(),
            pending_links: self.pending_links,
            known_names: self.routing.len(),
            queued_messages: self.queued_total,
            buffered_bytes: open.map(Link::pending).sum(),
            timers: self.timers.len(),
            ..self.stats.clone()
        }
    }

    // -----------------------------------------------------------------------------------------
    // Frames

    fn handle_frame(&mut self, link: LinkId, frame: &[u8], t: u64) -> Result<(), LinkDownReason> {
        let msg = wire::parse(frame, self.opts.max_known_names).map_err(LinkDownReason::Wire)?;
        let identified = self.link_peer(link).is_some();
        match msg {
            Wire::Ping => self.with_out(link, wire::emit_pong),
            Wire::Pong | Wire::Unknown => {}
            Wire::Hello(h) => {
                if !identified {
                    self.on_hello(link, h, t)?;
                }
            }
            Wire::Reach { add, who } => {
                if identified {
                    self.on_reach(link, add, &who)?;
                }
            }
            Wire::Msg(m) => {
                if identified {
                    self.on_msg(link, m);
                }
            }
        }
        Ok(())
    }

    fn on_hello(&mut self, link: LinkId, h: Hello<'_>, t: u64) -> Result<(), LinkDownReason> {
        let Some(l) = self.link_mut(link) else {
            return Ok(());
        };
        let dialer = l.is_dialer();
        if h.answer != dialer {
            // A hello going the wrong way (both sides dialled, or a confused peer): not ours.
            return Ok(());
        }
        let origin = l.origin;
        if *h.name == *self.name {
            return Err(LinkDownReason::OwnName);
        }
        if self.link_to(&h.name).is_some() {
            if let LinkOrigin::Dialed(c) = origin {
                if let Some(d) = self.dials.get_mut(c.0 as usize) {
                    d.state = DialState::Dormant((*h.name).into());
                }
            } else {
                // Answer before closing, so the dialler learns who it reached and stops.
                let name = self.name.clone();
                self.with_out(link, |out| {
                    wire::emit_hello(out, true, &name, [], u64::from(PROTOCOL_VERSION))
                });
            }
            return Err(LinkDownReason::Duplicate {
                name: h.name.into_owned(),
            });
        }
        if !dialer {
            let name = self.name.clone();
            let told: BTreeSet<Box<str>> = self.routing.routes().map(|(n, _)| n.into()).collect();
            self.with_out(link, |out| {
                wire::emit_hello(
                    out,
                    true,
                    &name,
                    told.iter().map(|n| &**n),
                    u64::from(PROTOCOL_VERSION),
                )
            });
            if let Some(l) = self.link_mut(link) {
                l.told = told;
            }
        }
        let peer: Box<str> = (*h.name).into();
        self.routing
            .add_direct(&peer, link)
            .map_err(|e| LinkDownReason::TooManyNames { max: e.max })?;
        let version = PROTOCOL_VERSION.min(u8::try_from(h.version).unwrap_or(u8::MAX));
        self.pending_links -= 1;
        let ping_after = Self::ms(self.opts.ping_after);
        let Some(l) = self.link_mut(link) else {
            return Ok(());
        };
        l.peer = Some(peer.clone());
        l.version = version;
        l.told.remove(&peer);
        l.resync = true;
        let serial = l.serial;
        if ping_after > 0 {
            self.timers
                .insert(t + ping_after, Timer::Ping { link, serial });
        }
        self.events.push_back(Event::LinkUp {
            link,
            peer: peer.to_string(),
            inbound: !dialer,
            version,
        });
        self.on_reach(link, true, &h.iknow)
    }

    fn on_reach(
        &mut self,
        link: LinkId,
        add: bool,
        who: &[std::borrow::Cow<'_, str>],
    ) -> Result<(), LinkDownReason> {
        let Some(Some(l)) = self.links.get_mut(link.0) else {
            return Ok(());
        };
        let Some(peer) = l.peer.as_deref() else {
            return Ok(());
        };
        for name in who {
            if **name == *self.name || **name == *peer {
                continue;
            }
            if add {
                self.routing
                    .add_via(name, link)
                    .map_err(|e| LinkDownReason::TooManyNames { max: e.max })?;
                if !l.heard.contains(&**name) {
                    l.heard.insert((**name).into());
                }
            } else {
                self.routing.remove_via(name, link);
                l.heard.remove(&**name);
            }
        }
        Ok(())
    }

    fn on_msg(&mut self, link: LinkId, m: Msg<'_>) {
        let Some(prev) = self.link_peer(link) else {
            return;
        };
        if *m.to == *self.name {
            let via = prev.to_owned();
            self.events.push_back(Event::Message {
                from: m.from.into_owned(),
                to: m.to.into_owned(),
                via,
                body: Body::new(m.body.to_owned()),
            });
            return;
        }
        if m.hops.is_some_and(|h| h >= u64::from(self.opts.max_hops)) {
            // Travelled too far: a transient loop, or a peer that does not count.
            self.stats.relay_dropped += 1;
            return;
        }
        match self.routing.route(&m.to) {
            Some(r) if r.link != link && self.room_on(r.link) => {
                if self.opts.trace_relays {
                    let prev = prev.to_owned();
                    let next = self.link_peer(r.link).unwrap_or_default().to_owned();
                    self.events.push_back(Event::Relayed {
                        from: m.from.to_string(),
                        to: m.to.to_string(),
                        prev,
                        next,
                    });
                }
                self.stats.relayed += 1;
                self.relay_msg(r.link, &m.from, &m.to, m.body.get(), m.hops);
            }
            None if self.opts.queue_messages
                && self.queued_for(&m.to) < self.opts.max_queued_per_destination =>
            {
                // The original queues what it cannot forward yet; so does a v1 relay here.
                self.stats.relayed += 1;
                self.enqueue(
                    &m.to,
                    Queued {
                        from: Some((*m.from).into()),
                        body: m.body.to_owned(),
                    },
                );
            }
            _ => self.stats.relay_dropped += 1,
        }
    }

    // -----------------------------------------------------------------------------------------
    // Links

    fn link_mut(&mut self, link: LinkId) -> Option<&mut Link> {
        self.links.get_mut(link.0)?.as_mut()
    }

    fn link_serial(&self, link: LinkId) -> Option<u64> {
        Some(self.links.get(link.0)?.as_ref()?.serial)
    }

    fn room_on(&self, link: LinkId) -> bool {
        matches!(self.links.get(link.0), Some(Some(l)) if l.pending() < self.opts.max_link_buffer)
    }

    /// Appends to a link's outbound bytes and lists it for transmission.
    fn with_out(&mut self, link: LinkId, write: impl FnOnce(&mut Vec<u8>)) {
        if let Some(Some(l)) = self.links.get_mut(link.0) {
            push_frame(l, link, &mut self.transmit, write);
        }
    }

    /// Forwards a message that arrived having travelled `hops` hops.
    fn relay_msg(&mut self, link: LinkId, from: &str, to: &str, body: &str, hops: Option<u64>) {
        let Some(Some(l)) = self.links.get_mut(link.0) else {
            return;
        };
        // v1 links carry pure v1 frames.
        let hops = if l.version >= 2 {
            Some(hops.unwrap_or(1) + 1)
        } else {
            None
        };
        push_frame(l, link, &mut self.transmit, |out| {
            wire::emit_msg(out, from, to, body, hops)
        });
    }

    /// Closes a link on the core's own decision and tells the caller to close the connection.
    fn close_link(&mut self, link: LinkId, reason: LinkDownReason) {
        self.drop_link(link, reason, true);
    }

    fn drop_link(&mut self, link: LinkId, reason: LinkDownReason, tell_caller: bool) {
        let Some(mut l) = self.links.get_mut(link.0).and_then(Option::take) else {
            return;
        };
        if let Some(peer) = &l.peer {
            self.routing.remove_direct(peer, link);
            for name in &l.heard {
                self.routing.remove_via(name, link);
            }
        } else {
            self.pending_links -= 1;
        }
        if let LinkOrigin::Dialed(c) = l.origin {
            let t = self.timers.now();
            if let Some(d) = self.dials.get(c.0 as usize) {
                if d.state == DialState::Linked(link) {
                    if self.opts.auto_reconnect {
                        self.schedule_reconnect(c, t, false);
                    } else if let Some(d) = self.dials.get_mut(c.0 as usize) {
                        d.state = DialState::Stopped;
                    }
                }
            }
        }
        self.events.push_back(Event::LinkDown {
            link,
            peer: l.peer.as_deref().map(str::to_owned),
            reason,
        });
        if tell_caller {
            let flush = if l.head == 0 {
                std::mem::take(&mut l.out)
            } else {
                l.out[l.head..].to_vec()
            };
            self.actions.push_back(Action::Close { link, flush });
        }
    }

    fn schedule_reconnect(&mut self, connect: ConnectId, t: u64, jitter: bool) {
        let mut delay = Self::ms(self.opts.auto_reconnect_interval);
        if jitter {
            // Two agents whose duplicate links both closed would otherwise re-dial in step.
            delay += self.random() % (delay / 2 + 1);
        }
        let Some(d) = self.dials.get_mut(connect.0 as usize) else {
            return;
        };
        d.state = DialState::Waiting;
        d.attempt += 1;
        let attempt = d.attempt;
        self.timers
            .insert(t + delay, Timer::Reconnect { connect, attempt });
    }

    fn random(&mut self) -> u64 {
        // xorshift64: reconnection jitter needs no more, and stays reproducible from the seed.
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        self.rng
    }

    fn ping_check(&mut self, link: LinkId, t: u64) {
        let ping_after = Self::ms(self.opts.ping_after);
        let ping_timeout = Self::ms(self.opts.ping_timeout);
        let Some(l) = self.link_mut(link) else { return };
        let serial = l.serial;
        if let Some(sent) = l.ping_sent {
            if l.last_rx >= sent {
                l.ping_sent = None;
            } else if t >= sent + ping_timeout {
                self.close_link(link, LinkDownReason::PingTimeout);
                return;
            } else {
                self.timers
                    .insert(sent + ping_timeout, Timer::Ping { link, serial });
                return;
            }
        }
        if t >= l.last_rx + ping_after {
            l.ping_sent = Some(t);
            self.with_out(link, wire::emit_ping);
            self.timers
                .insert(t + ping_timeout, Timer::Ping { link, serial });
        } else {
            let at = l.last_rx + ping_after;
            self.timers.insert(at, Timer::Ping { link, serial });
        }
    }

    // -----------------------------------------------------------------------------------------
    // Commit: turn routing changes into events, announcements and sends.

    fn commit(&mut self) {
        let changes = self.routing.commit();
        for ch in &changes {
            match (ch.old, ch.new) {
                (None, Some(_)) => self.events.push_back(Event::Meet {
                    name: ch.name.to_string(),
                }),
                (Some(_), None) => self.events.push_back(Event::Lose {
                    name: ch.name.to_string(),
                }),
                _ => {}
            }
            let was_direct = ch.old.is_some_and(|r| r.hops == Some(1));
            let is_direct = ch.new.is_some_and(|r| r.hops == Some(1));
            if was_direct && !is_direct {
                self.wake_dormant(&ch.name);
            }
            for (i, slot) in self.links.iter_mut().enumerate() {
                let Some(l) = slot else { continue };
                if l.peer.is_some() && !l.resync {
                    tell(l, LinkId(i), &ch.name, ch.new);
                }
            }
        }
        for (i, slot) in self.links.iter_mut().enumerate() {
            let Some(l) = slot else { continue };
            if l.resync {
                l.resync = false;
                let link = LinkId(i);
                let told: Vec<Box<str>> = l.told.iter().cloned().collect();
                for name in told {
                    tell(l, link, &name, self.routing.route(&name));
                }
                for (name, route) in self.routing.routes() {
                    if !l.told.contains(name) {
                        tell(l, link, name, Some(route));
                    }
                }
            }
            if !l.tell_del.is_empty() || !l.tell_add.is_empty() {
                let del = std::mem::take(&mut l.tell_del);
                let add = std::mem::take(&mut l.tell_add);
                push_frame(l, LinkId(i), &mut self.transmit, |out| {
                    if !del.is_empty() {
                        wire::emit_reach(out, false, del.iter().map(|n| &**n));
                    }
                    if !add.is_empty() {
                        wire::emit_reach(out, true, add.iter().map(|n| &**n));
                    }
                });
            }
        }
        for ch in changes {
            if ch.new.is_some() {
                self.pump(&ch.name);
            }
        }
    }

    fn wake_dormant(&mut self, name: &str) {
        let t = self.timers.now();
        let sleeping: Vec<ConnectId> = self
            .dials
            .iter()
            .enumerate()
            .filter(|(_, d)| matches!(&d.state, DialState::Dormant(n) if **n == *name))
            .map(|(i, _)| ConnectId(i as u64))
            .collect();
        for c in sleeping {
            self.schedule_reconnect(c, t, true);
        }
    }

    /// Moves queued messages for `to` onto its link while the link has room.
    fn pump(&mut self, to: &str) {
        let Some(route) = self.routing.route(to) else {
            return;
        };
        let Some(queue) = self.outboxes.get_mut(to) else {
            return;
        };
        let Some(Some(l)) = self.links.get_mut(route.link.0) else {
            return;
        };
        let hops = first_hop(l);
        while l.pending() < self.opts.max_link_buffer {
            let Some(q) = queue.pop_front() else { break };
            self.queued_total -= 1;
            let from = q.from.as_deref().unwrap_or(&self.name);
            push_frame(l, route.link, &mut self.transmit, |out| {
                wire::emit_msg(out, from, to, q.body.get(), hops)
            });
        }
        if queue.is_empty() {
            self.outboxes.remove(to);
        } else {
            self.blocked.insert(to.into());
        }
    }
}

/// Appends to a link's outbound bytes and lists the link for transmission.
fn push_frame(
    l: &mut Link,
    link: LinkId,
    transmit: &mut VecDeque<LinkId>,
    write: impl FnOnce(&mut Vec<u8>),
) {
    write(&mut l.out);
    if !l.dirty {
        l.dirty = true;
        transmit.push_back(link);
    }
}

/// The hop count an own message carries on `l`: none on a v1 link, which carries pure v1 frames.
fn first_hop(l: &Link) -> Option<u64> {
    if l.version >= 2 { Some(1) } else { None }
}

/// Brings what `l` was told about `name` in line with `route`, gathering the announcement.
/// v1 rule: tell a peer every name reachable other than through itself (split horizon), and
/// never its own name.
fn tell(l: &mut Link, link: LinkId, name: &str, route: Option<Route>) {
    if l.version >= 2 {
        return;
    }
    let should = route.is_some_and(|r| r.link != link) && l.peer.as_deref() != Some(name);
    let told = l.told.contains(name);
    if should && !told {
        l.told.insert(name.into());
        l.tell_add.push(name.into());
    } else if !should && told {
        l.told.remove(name);
        if l.peer.as_deref() != Some(name) {
            l.tell_del.push(name.into());
        }
    }
}

#[cfg(test)]
mod tests;
