//! The sans-IO protocol core: one agent's whole protocol state, driven by the caller.
//!
//! This module owns the per-link protocol state (handshake, keepalive, what each peer was told),
//! the connection-attempt bookkeeping, the queues and streams of messages, the timers, and ties
//! the routing table, the link-state database and the delivery streams together. It never
//! touches a socket and never reads a clock: every input carries `now`, and every output is data
//! for the caller to act on. That is what lets the same code run over real sockets
//! ([`Agent`](crate::Agent)), over any other byte stream, or inside a deterministic simulator.
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
//! # Versions on a link
//! Each hello carries the highest version its sender speaks (`"v":2`; absent means 1). A link
//! speaks the lower of the two. On a v1 link this agent behaves exactly as an original agent
//! (`imcon4`/`im!con4` announcements, plain `msg` frames). On a v2 link, the two agents
//! exchange summaries of their link-state databases (`sum`) and then what the other lacks, and
//! flood changes (`lsa`); messages carry a hop count and,
//! when the whole way is v2, an end-to-end number that the destination confirms (`ack`).

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Instant;

use serde_json::value::RawValue;
use slab::Slab;

use crate::delivery::{Inbox, MAX_RTO, Outbox, Pending, Verdict};
use crate::event::{Name, NameCache};
use crate::frame::{FeedError, FrameDecoder};
use crate::lsdb::{Direct, Listed, Lsdb, Received};
use crate::routing::{Route, Routing};
use crate::wire::{self, Ack, Hello, Lsa, Msg, Seq, Summary, Wire};
use crate::{
    Body, ConnectId, Error, Event, LinkDownReason, LinkId, MessageId, Options, SendError,
    UndeliverableReason,
};

/// The highest protocol version this implementation speaks.
pub const PROTOCOL_VERSION: u8 = 2;

/// Room for the envelope around a body when checking a message against the frame limit.
const ENVELOPE_SLACK: usize = 128;

/// Least time between two shortest-path computations triggered from afar, ms.
const PATHS_HOLD_DOWN: u64 = 5;

/// The most the hold-down between computations grows to while changes keep coming, ms.
const PATHS_HOLD_DOWN_MAX: u64 = 40;

/// When shortest paths are recomputed (the gathering time is `Options::route_delay`): a change
/// of this agent's own links is applied at once; after a computation the next waits out a
/// hold-down that doubles while computations follow each other closely (within twice the
/// hold-down), and the timer armed for it stays armed until it fires.
const PATHS_THROTTLE: Policy = Policy {
    gather: 0,
    min_hold: PATHS_HOLD_DOWN,
    max_hold: PATHS_HOLD_DOWN_MAX,
    grace: 0,
    urgency: Urgency::SkipsAll,
    arming: Arming::Once,
};

/// The most time between two versions of this agent's own description, ms, while its links
/// keep changing.
const OWN_HOLD_DOWN: u64 = 10;

/// How long a new link waits before this agent's description says so, ms: links come up in
/// bursts (start-up, a restart, a partition healing), and every version is flooded to every
/// agent, so the rest of the burst goes in the same version. A lost link does not wait.
const OWN_GATHER: u64 = 20;

/// When this agent's own description is renumbered: a new link waits [`OWN_GATHER`], a lost
/// one does not, but both wait out a hold-down that starts at none, and grows while versions
/// follow each other closely (within twice the hold-down and 2 ms more, so that versions a
/// millisecond apart count as close); an urgent change re-arms the timer earlier.
const OWN_THROTTLE: Policy = Policy {
    gather: OWN_GATHER,
    min_hold: 0,
    max_hold: OWN_HOLD_DOWN,
    grace: 2,
    urgency: Urgency::SkipsGathering,
    arming: Arming::Earlier,
};

/// Bytes of a database summary's part, about: small enough for any sensible `max_frame_len`,
/// large enough that a thousand descriptions take a few frames.
const SUMMARY_PART: usize = 16 * 1024;

/// How long the description of an agent nobody reaches is kept, ms: long enough to ride out a
/// flapping link without re-learning, short enough to forget agents that are gone.
const LSA_KEEP: u64 = 60_000;

/// What [`Node::flood`] sends.
enum Flooded<'f> {
    /// This agent's own description.
    Own,
    /// The description the last `Lsdb::receive` stored, and its frame when that came in the
    /// form this agent writes (it is passed on as it came).
    Received(Option<&'f [u8]>),
}

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
    /// v1: compare `told` against the whole table at the next commit.
    resync: bool,
    /// v2: send the summary of the link-state database at the next commit.
    db_sync: bool,
    /// v2: the descriptions the peer's summary listed so far, while it is being read.
    listed: Option<Listed>,
    /// v2: the peer's summary was read to its end; another one is ignored.
    summary_read: bool,
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

    fn is_v2(&self) -> bool {
        self.version >= 2
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

/// A message relayed for another agent, held until its destination is reachable (the v1
/// behaviour; numbered v2 messages are never held by relays, their origin resends them).
#[derive(Debug)]
struct Held {
    from: Box<str>,
    body: Box<RawValue>,
}

/// The sans-IO core of one agent. See the [module documentation](self) for how to drive it.
#[derive(Debug)]
pub struct Node {
    name: Box<str>,
    opts: Options,
    clock: Clock,
    inc: u64,
    links: Vec<Option<Link>>,
    pending_links: usize,
    routing: Routing,
    lsdb: Lsdb,
    /// This agent's own description may have changed.
    own_dirty: bool,
    /// Shortest paths must be recomputed.
    paths_dirty: bool,
    /// When shortest paths may be recomputed; urged when a direct link changed (recompute
    /// now, whatever the hold-down).
    paths_throttle: Throttle,
    /// When this agent's own description may be renumbered; urged when something it lists is
    /// gone (tell at once, however recent the change is: a lost link is what failover waits
    /// for).
    own_throttle: Throttle,
    /// A peer's summary asked for this agent's own description while a new version was
    /// waiting, and got nothing: the new version (or, if nothing changed, this one) must go
    /// to every link.
    own_withheld: bool,

    purge_armed: bool,
    /// A flooded description, encoded once for all links.
    flood_buf: Vec<u8>,
    outboxes: Slab<Outbox>,
    outbox_of: BTreeMap<Box<str>, usize>,
    /// Above every number any stream of this incarnation has used: a new stream to a
    /// destination starts here, so that it can never be mistaken for an earlier one.
    seq_floor: u64,
    queued_total: usize,
    held: BTreeMap<Box<str>, VecDeque<Held>>,
    held_total: usize,
    inboxes: BTreeMap<Box<str>, Inbox>,
    acks_due: Vec<Name>,
    /// Destinations with messages waiting for room in their link's buffer.
    blocked: BTreeSet<Box<str>>,
    dials: Vec<Dial>,
    timers: Timers,
    ids: Vec<MessageId>,
    names: NameCache,
    events: VecDeque<Event>,
    actions: VecDeque<Action>,
    transmit: VecDeque<LinkId>,
    next_serial: u64,
    next_message: u64,
    rng: u64,
    stats: Stats,
}

/// A message body on its way into the core.
#[derive(Clone, Copy)]
pub(crate) enum Json<'a> {
    /// Already a `RawValue`: validated when it was made, so it is copied, never parsed again.
    Raw(&'a RawValue),
    /// Text serde_json just serialised from a value.
    Text(&'a str),
}

impl Json<'_> {
    fn text(&self) -> &str {
        match self {
            Json::Raw(raw) => raw.get(),
            Json::Text(text) => text,
        }
    }

    /// An owned copy, for a body kept until it is confirmed.
    fn to_boxed(self) -> Result<Box<RawValue>, SendError> {
        match self {
            Json::Raw(raw) => Ok(raw.to_owned()),
            // serde_json offers no unchecked way from text to a `RawValue`.
            Json::Text(text) => RawValue::from_string(text.to_owned())
                .map_err(|e| SendError::Serialize(e.to_string())),
        }
    }
}

impl Node {
    /// A node named `name`. `incarnation` tells this run of the agent from earlier ones: it must
    /// grow from run to run (the agent uses its start time in ms since the Unix epoch); it also
    /// seeds the reconnection jitter. `now` is the start of the node's clock.
    pub fn new(name: &str, opts: Options, incarnation: u64, now: Instant) -> Result<Node, Error> {
        if !wire::name_is_valid(name) {
            return Err(Error::InvalidName { len: name.len() });
        }
        let paths_policy = Policy {
            gather: ms(opts.route_delay),
            ..PATHS_THROTTLE
        };
        Ok(Node {
            name: name.into(),
            routing: Routing::new(opts.max_known_names),
            lsdb: Lsdb::new(name, incarnation, opts.max_known_names),
            opts,
            clock: Clock::new(now),
            inc: incarnation,
            links: Vec::new(),
            pending_links: 0,
            own_dirty: false,
            paths_dirty: false,
            paths_throttle: Throttle::new(paths_policy),
            own_throttle: Throttle::new(OWN_THROTTLE),
            own_withheld: false,
            purge_armed: false,
            flood_buf: Vec::new(),
            outboxes: Slab::new(),
            outbox_of: BTreeMap::new(),
            seq_floor: 1,
            queued_total: 0,
            held: BTreeMap::new(),
            held_total: 0,
            inboxes: BTreeMap::new(),
            acks_due: Vec::new(),
            blocked: BTreeSet::new(),
            dials: Vec::new(),
            timers: Timers::new(),
            ids: Vec::new(),
            names: NameCache::default(),
            events: VecDeque::new(),
            actions: VecDeque::new(),
            transmit: VecDeque::new(),
            next_serial: 0,
            next_message: 0,
            rng: incarnation.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1,
            stats: Stats::default(),
        })
    }

    /// This agent's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// This run's incarnation (it may have been raised above an earlier run's).
    pub fn incarnation(&self) -> u64 {
        self.inc
    }

    /// The options in force.
    pub fn options(&self) -> &Options {
        &self.opts
    }

    fn tick(&mut self, now: Instant) -> u64 {
        self.clock.tick(now)
    }

    fn serial(&mut self) -> u64 {
        self.next_serial += 1;
        self.next_serial
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
        let serial = self.serial();
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
            db_sync: false,
            listed: None,
            summary_read: false,
            tell_add: Vec::new(),
            tell_del: Vec::new(),
            last_rx: t,
            ping_sent: None,
        };
        if let LinkOrigin::Dialed(c) = origin {
            if let Some(d) = self.dials.get_mut(c.0 as usize) {
                d.state = DialState::Linked(link);
            }
            // The dialling side speaks first, telling everything it can reach: the peer may be
            // an original agent, which learns names only this way.
            let names = self.routing.routes().map(|(n, _)| n);
            let version = u64::from(self.opts.protocol_version);
            let stats = &mut self.stats;
            push_control(&mut l, link, &mut self.transmit, stats, |out| {
                wire::emit_hello(out, false, &self.name, names, version)
            });
            l.told = self.routing.routes().map(|(n, _)| n.into()).collect();
        }
        self.links[link.0] = Some(l);
        if origin == LinkOrigin::Accepted {
            self.pending_links += 1;
        }
        let hello_by = t + ms(self.opts.hello_timeout);
        self.timers.insert(hello_by, Timer::Hello { link, serial });
    }

    /// Bytes arrived on `link`.
    pub fn handle_bytes(&mut self, link: LinkId, bytes: &[u8], now: Instant) {
        let t = self.tick(now);
        let Some(l) = self.link_mut(link) else { return };
        l.last_rx = t;
        let mut decoder = std::mem::replace(&mut l.decoder, FrameDecoder::new(0));
        let result = decoder.feed(bytes, |frame| self.handle_frame(link, frame));
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
        self.tick(now);
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
        let retry_in = self
            .opts
            .auto_reconnect
            .then_some(self.opts.auto_reconnect_interval);
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

    /// Time has passed: fires due timers (keepalive, handshake limits, reconnections,
    /// retransmissions, deadlines, forgetting).
    pub fn handle_timeout(&mut self, now: Instant) {
        let t = self.tick(now);
        let mut fired = self.timers.expire(t);
        for timer in fired.drain(..) {
            self.on_timer(timer, t);
        }
        self.timers.recycle(fired);
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
        self.tick(now);
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
        self.tick(now);
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

    /// Sends `body` (valid JSON) to the agent `to`, directly or through others. Messages to a
    /// v2 agent over a v2 way are confirmed ([`Event::Delivered`]); others are sent best effort.
    pub fn send_message(
        &mut self,
        to: &str,
        body: &RawValue,
        now: Instant,
    ) -> Result<MessageId, SendError> {
        let deadline = self.opts.delivery_timeout.map(|d| now + d);
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
        let body = json.text();
        let t = self.tick(now);
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
            let body = json.to_boxed()?;
            self.next_message += 1;
            let me = self.names.get(&self.name);
            self.events.push_back(Event::Message {
                from: me.clone(),
                to: me.clone(),
                via: me,
                body: Body::new(body),
            });
            return Ok(id);
        }
        let route = self.routing.route(to);
        let slot = self.outbox_of.get(to).copied();
        let waiting = slot.is_some_and(|s| !self.outboxes[s].is_empty());
        // Best effort with nothing waiting ahead and room on the link: straight out, no copy.
        if let (false, Some(r)) = (waiting, route) {
            if !r.confirmed && self.room_on(r.link) {
                self.next_message += 1;
                if let Some(Some(l)) = self.links.get_mut(r.link.0) {
                    let hops = first_hop(l);
                    push_frame(l, r.link, &mut self.transmit, |out| {
                        wire::emit_msg(out, &self.name, to, body, hops, None)
                    });
                }
                return Ok(id);
            }
        }
        if route.is_none() && !self.opts.queue_messages {
            return Err(SendError::Unreachable { to: to.to_owned() });
        }
        let held = slot.map_or(0, |s| self.outboxes[s].len());
        if held >= self.opts.max_queued_per_destination {
            return Err(SendError::QueueFull {
                to: to.to_owned(),
                limit: self.opts.max_queued_per_destination,
            });
        }
        self.next_message += 1;
        let slot = match slot {
            Some(s) => s,
            None => {
                let serial = self.serial();
                let s = self
                    .outboxes
                    .insert(Outbox::new(to, serial, self.seq_floor));
                self.outbox_of.insert(to.into(), s);
                s
            }
        };
        let deadline = deadline.map(|d| self.clock.ticks(d));
        self.outboxes[slot].push(Pending::new(id, t, deadline), json.text());
        self.queued_total += 1;
        self.pump(to);
        Ok(id)
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
        self.tick(now);
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
                self.pump_held(&name);
            }
        }
    }

    /// When [`handle_timeout`](Self::handle_timeout) is next due.
    pub fn next_timeout(&self) -> Option<Instant> {
        self.timers
            .next_deadline()
            .map(|t| self.clock.instant(t))
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

    /// Routing updates so far: descriptions applied plus shortest-path computations. Cheaper
    /// than [`stats`](Self::stats) (which walks every link): a caller waiting for routes to
    /// settle can watch this stop moving, and [`Stats::paths_pending`] turn false.
    pub fn routing_updates(&self) -> u64 {
        self.stats.descriptions_applied + self.stats.paths_computed
    }

    /// Own messages held for `name`: queued, or sent and not confirmed.
    pub fn queued_for(&self, name: &str) -> usize {
        self.outbox_of
            .get(name)
            .map_or(0, |&s| self.outboxes[s].len())
    }

    /// `connect` calls made so far (the next connect number).
    pub fn dial_count(&self) -> usize {
        self.dials.len()
    }

    /// The link-state database (v2).
    pub fn lsdb(&self) -> &Lsdb {
        &self.lsdb
    }

    /// The agent's own accounting.
    pub fn stats(&self) -> Stats {
        let open = self.links.iter().flatten();
        Stats {
            links: open.clone().count(),
            pending_links: self.pending_links,
            known_names: self.routing.len(),
            descriptions: self.lsdb.len(),
            queued_messages: self.queued_total,
            outboxes: self.outboxes.len(),
            held_messages: self.held_total,
            streams: self.inboxes.len(),
            buffered_bytes: open.map(Link::pending).sum(),
            timers: self.timers.len(),
            paths_pending: self.paths_dirty && self.opts.protocol_version >= 2,
            ..self.stats.clone()
        }
    }

    // -----------------------------------------------------------------------------------------
    // Frames

    fn handle_frame(&mut self, link: LinkId, frame: &[u8]) -> Result<(), LinkDownReason> {
        let msg = wire::parse(frame, self.opts.max_known_names).map_err(LinkDownReason::Wire)?;
        let Some(l) = self.links.get(link.0).and_then(Option::as_ref) else {
            return Ok(());
        };
        let (identified, v2) = (l.peer.is_some(), l.is_v2());
        match msg {
            Wire::Ping => self.with_control(link, wire::emit_pong),
            Wire::Pong | Wire::Unknown => {}
            Wire::Hello(h) if !identified => self.on_hello(link, h)?,
            Wire::Reach { add, who } if identified && !v2 => self.on_reach(link, add, &who)?,
            Wire::Msg(m) if identified => self.on_msg(link, m, frame),
            Wire::Lsa(lsa) if identified && v2 => self.on_lsa(link, lsa, frame)?,
            Wire::Ack(a) if identified && v2 => self.on_ack(link, a, frame),
            Wire::Summary(d) if identified && v2 => self.on_summary(link, d),
            // A second hello, or a frame the link's version does not use: ignored.
            _ => {}
        }
        Ok(())
    }

    fn on_hello(&mut self, link: LinkId, h: Hello<'_>) -> Result<(), LinkDownReason> {
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
        let offered = u64::from(self.opts.protocol_version);
        if self.link_to(&h.name).is_some() {
            if let LinkOrigin::Dialed(c) = origin {
                if let Some(d) = self.dials.get_mut(c.0 as usize) {
                    d.state = DialState::Dormant((*h.name).into());
                }
            } else {
                // Answer before closing, so the dialler learns who it reached and stops.
                let name = self.name.clone();
                let answer_version = h.version.min(offered);
                self.with_control(link, |out| {
                    wire::emit_hello(out, true, &name, [], answer_version)
                });
            }
            return Err(LinkDownReason::Duplicate {
                name: h.name.into_owned(),
            });
        }
        let version = u8::try_from(h.version.min(offered)).unwrap_or(1);
        if !dialer {
            // A v2 peer learns names from the database; an original one from this answer.
            let told: BTreeSet<Box<str>> = if version >= 2 {
                BTreeSet::new()
            } else {
                self.routing.routes().map(|(n, _)| n.into()).collect()
            };
            // An original peer gets a pure v1 answer; a v2 peer learns this side speaks v2.
            let name = self.name.clone();
            let answer_version = u64::from(version);
            self.with_control(link, |out| {
                wire::emit_hello(out, true, &name, told.iter().map(|n| &**n), answer_version)
            });
            if let Some(l) = self.link_mut(link) {
                l.told = told;
            }
        }
        let peer: Box<str> = (*h.name).into();
        self.routing
            .add_direct(&peer, link, version >= 2)
            .map_err(|e| LinkDownReason::TooManyNames { max: e.max })?;
        if !dialer {
            self.pending_links -= 1;
        }
        self.own_dirty = true;
        self.paths_dirty = true;
        self.paths_throttle.urge();
        let ping_after = ms(self.opts.ping_after);
        let t = self.clock.now();
        let Some(l) = self.link_mut(link) else {
            return Ok(());
        };
        l.peer = Some(peer.clone());
        l.version = version;
        if version >= 2 {
            l.told.clear();
            l.db_sync = true;
        } else {
            l.told.remove(&peer);
            l.resync = true;
        }
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
        if version >= 2 {
            Ok(())
        } else {
            self.on_reach(link, true, &h.iknow)
        }
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
                    self.own_dirty = true;
                }
            } else {
                self.routing.remove_via(name, link);
                if l.heard.remove(&**name) {
                    self.own_dirty = true;
                    self.own_throttle.urge();
                }
            }
        }
        Ok(())
    }

    /// A description frame `frame`, parsed as `lsa`.
    fn on_lsa(&mut self, link: LinkId, lsa: Lsa<'_>, frame: &[u8]) -> Result<(), LinkDownReason> {
        let received = self
            .lsdb
            .receive(
                &lsa.origin,
                lsa.inc,
                lsa.seq,
                lsa.neighbors.iter().map(|n| &**n),
                lsa.v1_peers.iter().map(|n| &**n),
                lsa.externals.iter().map(|n| &**n),
            )
            .map_err(|e| LinkDownReason::TooManyNames { max: e.max })?;
        match received {
            Received::Newer => {
                self.paths_dirty |= self.lsdb.graph_changed();
                self.stats.descriptions_applied += 1;
                let frame = lsa.as_emitted.then_some(frame);
                self.flood(Flooded::Received(frame), Some(link));
            }
            Received::Same | Received::Older => {}
            Received::OwnRenumbered => {
                self.inc = self.lsdb.own().inc;
                self.flood(Flooded::Own, None);
            }
        }
        Ok(())
    }

    /// Reads part of a new peer's database summary, and sends the peer every description this
    /// agent holds newer than what it listed; after the last part, every description it did
    /// not list. Whatever the peer holds newer, it sends on reading this agent's summary. Only
    /// the first summary of a link is read, so a peer cannot have the database sent again
    /// and again.
    fn on_summary(&mut self, link: LinkId, d: Summary<'_>) {
        let Some(Some(l)) = self.links.get_mut(link.0) else {
            return;
        };
        if l.summary_read {
            return;
        }
        let mut listed = l.listed.take().unwrap_or_default();
        // A version of this agent's own description is on its way to every link (this one's
        // hello made it): the one held now would be flooded through the mesh for nothing.
        let withhold = self.own_dirty;
        let mine = |v: &crate::lsdb::View<'_>| withhold && v.origin == &*self.name;
        for (origin, inc, seq) in &d.entries {
            if let Some(view) = self.lsdb.newer_than(origin, *inc, *seq, &mut listed) {
                if mine(&view) {
                    self.own_withheld = true;
                    continue;
                }
                push_control(l, link, &mut self.transmit, &mut self.stats, |out| {
                    emit_description(out, view)
                });
                self.stats.descriptions_sent += 1;
            }
        }
        if !d.end {
            l.listed = Some(listed);
            return;
        }
        l.summary_read = true;
        for view in self.lsdb.unlisted(&listed) {
            if mine(&view) {
                self.own_withheld = true;
                continue;
            }
            push_control(l, link, &mut self.transmit, &mut self.stats, |out| {
                emit_description(out, view)
            });
            self.stats.descriptions_sent += 1;
        }
    }

    /// Whether traffic claiming to come from `from` is believable on `link`. Nothing claims
    /// this agent as its origin legitimately (it is a loop, or a forgery); numbered messages
    /// and confirmations must come through a first hop of a shortest path to their origin, so
    /// that a peer cannot confirm, skip or reorder a stream it would not relay anyway. Genuine
    /// traffic caught by a route change is resent by its origin.
    fn believable(&mut self, from: &str, link: LinkId, numbered: bool) -> bool {
        // The link's own peer first: that is the direct link to `from` (a name is linked at
        // most once), and it costs no lookup on the hot path of a one-hop stream.
        let ok = from != &*self.name
            && (!numbered
                || self.link_peer(link) == Some(from)
                || self.lsdb.upstream_of(from, link));
        if !ok {
            self.stats.rejected += 1;
        }
        ok
    }

    /// A message frame `raw`, parsed as `m`.
    fn on_msg(&mut self, link: LinkId, m: Msg<'_>, raw: &[u8]) {
        if !self.believable(&m.from, link, m.seq.is_some()) {
            return;
        }
        // The link's fields directly rather than `link_peer`, to borrow the name cache beside.
        let Some(prev) = self
            .links
            .get(link.0)
            .and_then(Option::as_ref)
            .and_then(|l| l.peer.as_deref())
        else {
            return;
        };
        if *m.to == *self.name {
            // Names come from the cache: the same few, message after message.
            let via = self.names.get(prev);
            if let Some(seq) = m.seq {
                if !self.receive_numbered(&m.from, seq) {
                    return;
                }
            }
            self.events.push_back(Event::Message {
                from: self.names.get(&m.from),
                to: self.names.get(&m.to),
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
        let route = self.routing.route(&m.to);
        let next = match route {
            Some(r) if r.link != link && self.room_on(r.link) => r.link,
            None if m.seq.is_none()
                && self.opts.queue_messages
                && self.held_total < self.opts.max_queued_per_destination =>
            {
                // The original holds what it cannot forward yet; so does a relay here, for
                // unnumbered messages. Numbered ones are resent by their origin instead.
                self.stats.relayed += 1;
                self.held
                    .entry((*m.to).into())
                    .or_default()
                    .push_back(Held {
                        from: (*m.from).into(),
                        body: m.body.to_owned(),
                    });
                self.held_total += 1;
                return;
            }
            _ => {
                self.stats.relay_dropped += 1;
                return;
            }
        };
        let Some(Some(l)) = self.links.get_mut(next.0) else {
            return;
        };
        if m.seq.is_some() && !l.is_v2() {
            // A numbered message must not lose its number on a v1 link: its origin will resend
            // it once a v2 way exists.
            self.stats.relay_dropped += 1;
            return;
        }
        let hops = l.is_v2().then(|| m.hops.unwrap_or(1) + 1);
        let around = m
            .hops_at
            .and_then(|(start, end)| Some((raw.get(..start)?, raw.get(end..)?)));
        match (around, hops) {
            // The frame is exactly what `emit_msg` writes: copy it around the new hop count.
            (Some((before, after)), Some(h)) => {
                push_frame(l, next, &mut self.transmit, |out| {
                    wire::emit_around(out, before, h, after)
                });
            }
            _ => push_frame(l, next, &mut self.transmit, |out| {
                wire::emit_msg(out, &m.from, &m.to, m.body.get(), hops, m.seq)
            }),
        }
        self.stats.relayed += 1;
        if self.opts.trace_relays {
            let prev = self.link_peer(link).unwrap_or_default().to_owned();
            let next = self.link_peer(next).unwrap_or_default().to_owned();
            self.events.push_back(Event::Relayed {
                from: m.from.into_owned(),
                to: m.to.into_owned(),
                prev,
                next,
            });
        }
    }

    /// Applies a numbered message's place in its stream; returns whether to hand it over.
    fn receive_numbered(&mut self, from: &str, seq: Seq) -> bool {
        let now = self.clock.now();
        if !self.inboxes.contains_key(from) {
            if self.inboxes.len() >= self.opts.max_known_names {
                // Forget the stream least recently used; its origin's base restarts it safely.
                let oldest = self
                    .inboxes
                    .iter()
                    .min_by_key(|(_, i)| i.used)
                    .map(|(n, _)| n.clone());
                if let Some(n) = oldest {
                    self.inboxes.remove(&n);
                }
            }
            self.inboxes.insert(from.into(), Inbox::new(seq, now));
        }
        let Some(inbox) = self.inboxes.get_mut(from) else {
            return false;
        };
        let was_due = inbox.ack_due;
        let verdict = inbox.accept(seq, now);
        if inbox.ack_due && !was_due {
            self.acks_due.push(self.names.get(from));
        }
        match verdict {
            Verdict::Deliver => true,
            Verdict::Duplicate => {
                self.stats.duplicates += 1;
                false
            }
            Verdict::Ahead | Verdict::Stale => false,
        }
    }

    fn on_ack(&mut self, link: LinkId, a: Ack<'_>, raw: &[u8]) {
        if !self.believable(&a.from, link, true) {
            return;
        }
        if *a.to != *self.name {
            if a.hops.is_some_and(|h| h >= u64::from(self.opts.max_hops)) {
                self.stats.relay_dropped += 1;
                return;
            }
            match self.routing.route(&a.to) {
                Some(r) if r.link != link && self.room_on(r.link) && self.link_is_v2(r.link) => {
                    let hops = a.hops.unwrap_or(1) + 1;
                    let around = a
                        .hops_at
                        .and_then(|(start, end)| Some((raw.get(..start)?, raw.get(end..)?)));
                    self.with_control(r.link, |out| match around {
                        // Exactly what `emit_ack` writes: copied around the new hop count.
                        Some((before, after)) => wire::emit_around(out, before, hops, after),
                        None => wire::emit_ack(out, &a.from, &a.to, a.inc, a.seq, hops),
                    });
                }
                _ => self.stats.relay_dropped += 1,
            }
            return;
        }
        if a.inc != self.inc {
            return;
        }
        let Some(&slot) = self.outbox_of.get(&*a.from) else {
            return;
        };
        let mut ids = std::mem::take(&mut self.ids);
        self.outboxes[slot].confirm(a.seq, self.clock.now(), &mut ids);
        self.queued_total -= ids.len();
        self.stats.confirmed += ids.len() as u64;
        if !ids.is_empty() {
            let to = self.names.get(&a.from);
            for id in ids.drain(..) {
                self.events
                    .push_back(Event::Delivered { to: to.clone(), id });
            }
        }
        self.ids = ids;
        self.pump(&a.from);
    }

    // -----------------------------------------------------------------------------------------
    // Links

    fn link_mut(&mut self, link: LinkId) -> Option<&mut Link> {
        self.links.get_mut(link.0)?.as_mut()
    }

    fn link_serial(&self, link: LinkId) -> Option<u64> {
        Some(self.links.get(link.0)?.as_ref()?.serial)
    }

    fn link_is_v2(&self, link: LinkId) -> bool {
        matches!(self.links.get(link.0), Some(Some(l)) if l.is_v2())
    }

    fn room_on(&self, link: LinkId) -> bool {
        matches!(self.links.get(link.0), Some(Some(l)) if l.pending() < self.opts.max_link_buffer)
    }

    /// Appends a control frame to a link's outbound bytes and lists it for transmission.
    fn with_control(&mut self, link: LinkId, write: impl FnOnce(&mut Vec<u8>)) {
        if let Some(Some(l)) = self.links.get_mut(link.0) {
            push_control(l, link, &mut self.transmit, &mut self.stats, write);
        }
    }

    /// Sends a description on every v2 link but `except`.
    fn flood(&mut self, what: Flooded<'_>, except: Option<LinkId>) {
        // Encoded once, copied to every link: a flood reaches every link of every agent.
        let mut payload = std::mem::take(&mut self.flood_buf);
        payload.clear();
        match what {
            Flooded::Own => emit_description(&mut payload, self.lsdb.own()),
            Flooded::Received(Some(frame)) => crate::frame::encode(&mut payload, frame),
            Flooded::Received(None) => {
                if let Some(lsa) = self.lsdb.newest() {
                    emit_description(&mut payload, lsa);
                }
            }
        }
        for (i, slot) in self.links.iter_mut().enumerate() {
            if payload.is_empty() {
                break;
            }
            let Some(l) = slot else { continue };
            if l.peer.is_none() || !l.is_v2() || Some(LinkId(i)) == except {
                continue;
            }
            push_control(l, LinkId(i), &mut self.transmit, &mut self.stats, |out| {
                out.extend_from_slice(&payload)
            });
            self.stats.descriptions_sent += 1;
        }
        self.flood_buf = payload;
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
            self.own_dirty = true;
            self.own_throttle.urge();
            self.paths_dirty = true;
            self.paths_throttle.urge();
        } else if !l.is_dialer() {
            self.pending_links -= 1;
        }
        if let LinkOrigin::Dialed(c) = l.origin {
            let t = self.clock.now();
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

    /// The hello timer of `link` fired: a link still unnamed is closed.
    fn hello_due(&mut self, link: LinkId, serial: u64) {
        if self.link_serial(link) == Some(serial) && self.link_peer(link).is_none() {
            self.close_link(link, LinkDownReason::HelloTimeout);
        }
    }

    /// A reconnection timer fired: dial again, unless the dial moved on since it was armed.
    fn reconnect_due(&mut self, connect: ConnectId, attempt: u64) {
        if let Some(d) = self.dials.get_mut(connect.0 as usize) {
            if d.state == DialState::Waiting && d.attempt == attempt {
                d.state = DialState::Connecting;
                self.actions.push_back(Action::Dial(connect));
            }
        }
    }

    /// The purge timer fired: forget descriptions of agents nobody reached for long.
    fn purge_due(&mut self, t: u64) {
        self.purge_armed = false;
        self.lsdb.purge(t.saturating_sub(LSA_KEEP));
        self.paths_dirty |= self.lsdb.graph_changed();
        self.arm_purge();
    }

    fn schedule_reconnect(&mut self, connect: ConnectId, t: u64, jitter: bool) {
        let mut delay = ms(self.opts.auto_reconnect_interval);
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
        let ping_after = ms(self.opts.ping_after);
        let ping_timeout = ms(self.opts.ping_timeout);
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
            self.with_control(link, wire::emit_ping);
            self.timers
                .insert(t + ping_timeout, Timer::Ping { link, serial });
        } else {
            let at = l.last_rx + ping_after;
            self.timers.insert(at, Timer::Ping { link, serial });
        }
    }

    fn arm_purge(&mut self) {
        if !self.purge_armed {
            if let Some(since) = self.lsdb.oldest_unreachable() {
                self.purge_armed = true;
                self.timers.insert(since + LSA_KEEP + 1, Timer::Purge);
            }
        }
    }

    // -----------------------------------------------------------------------------------------
    // Commit: turn state changes into descriptions, routes, events, announcements and sends.

    fn commit(&mut self) {
        let v2 = self.opts.protocol_version >= 2;
        if self.own_dirty && self.own_due() {
            self.own_dirty = false;
            self.own_throttle.settle();
            let peers = |v2: bool| {
                self.links
                    .iter()
                    .flatten()
                    .filter(move |l| l.is_v2() == v2)
                    .filter_map(|l| l.peer.as_deref())
            };
            let withheld = std::mem::take(&mut self.own_withheld);
            if self
                .lsdb
                .originate(peers(true), peers(false), self.routing.v1_only())
            {
                self.own_throttle.ran(self.clock.now());
                self.stats.descriptions_originated += 1;
                if v2 {
                    self.flood(Flooded::Own, None);
                    self.paths_dirty = true;
                }
            } else if withheld && v2 {
                // Nothing changed after all (a second link to a peer already linked): send
                // what was withheld.
                self.flood(Flooded::Own, None);
            }
        }
        if v2 {
            self.send_summaries();
        }
        if self.paths_dirty && v2 && self.paths_due() {
            self.paths_dirty = false;
            self.paths_throttle.settle();
            // Back-to-back computations mean a storm of changes (a partition, a restart
            // wave): wait longer between them until it calms down.
            self.paths_throttle.ran(self.clock.now());
            self.stats.paths_computed += 1;
            let direct: Vec<Direct<'_>> = self
                .links
                .iter()
                .enumerate()
                .filter_map(|(i, l)| {
                    let l = l.as_ref()?;
                    Some(Direct {
                        name: l.peer.as_deref()?,
                        link: LinkId(i),
                        v2: l.is_v2(),
                    })
                })
                .collect();
            self.lsdb.shortest_paths(&direct, self.clock.now());
            for (name, route) in self.lsdb.changed() {
                self.routing.set_path(name, route);
            }
            self.arm_purge();
        }
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
            // Whatever was in flight went the old way: resend it the new way.
            if let Some(&slot) = self.outbox_of.get(&ch.name) {
                let ob = &mut self.outboxes[slot];
                if ob.in_flight() > 0 {
                    ob.go_back();
                }
            }
            for (i, slot) in self.links.iter_mut().enumerate() {
                let Some(l) = slot else { continue };
                if l.peer.is_some() && !l.resync {
                    tell(l, LinkId(i), &ch.name, ch.new);
                }
            }
        }
        self.announce();
        for ch in changes {
            if ch.new.is_some() {
                self.pump(&ch.name);
                self.pump_held(&ch.name);
            }
        }
        self.send_acks();
    }

    /// Whether shortest paths may be recomputed now. A change of this agent's own links is
    /// applied at once; descriptions from afar arrive in bursts (a flood, a database exchange),
    /// so a change waits `Options::route_delay` for the rest of its burst, and after a computation the
    /// next one waits out a hold-down: a burst costs one computation rather than one per
    /// description. The hold-down starts short, so that an isolated change is acted on
    /// quickly, and doubles while computations follow each other closely, as OSPF throttles
    /// its SPF runs. Arms the timer when it must wait.
    fn paths_due(&mut self) -> bool {
        match self.paths_throttle.check(self.clock.now()) {
            Due::Now => true,
            Due::Wait => false,
            Due::Arm(at) => {
                self.timers.insert(at, Timer::Paths { at });
                false
            }
        }
    }

    /// Whether this agent's own description may be renumbered now. Links tend to come and go in
    /// bursts (start-up, a flapping peer) and every version is flooded to every agent, so a
    /// new link waits [`OWN_GATHER`] for the rest of its burst, and while versions follow each
    /// other closely the next one waits out a hold-down that doubles up to [`OWN_HOLD_DOWN`].
    /// A lost link skips the gathering: traffic waits for it to be known.
    fn own_due(&mut self) -> bool {
        match self.own_throttle.check(self.clock.now()) {
            Due::Now => true,
            Due::Wait => false,
            Due::Arm(at) => {
                self.timers.insert(at, Timer::Own { at });
                false
            }
        }
    }

    /// Sends the summary of the database on v2 links that just said hello: which version of
    /// each description this agent holds, in parts of about [`SUMMARY_PART`] bytes. The peer
    /// answers with what it holds newer or this agent lacks, as OSPF's database description
    /// exchange does, so a link coming back between two agents that agree costs a summary
    /// rather than the whole database.
    fn send_summaries(&mut self) {
        let mut part: Vec<(&str, u64, u64)> = Vec::new();
        for (i, slot) in self.links.iter_mut().enumerate() {
            let Some(l) = slot else { continue };
            if !l.db_sync {
                continue;
            }
            l.db_sync = false;
            let mut views = self.lsdb.iter().peekable();
            loop {
                part.clear();
                let mut bytes = 0;
                while bytes < SUMMARY_PART {
                    let Some(v) = views.next() else { break };
                    bytes += v.origin.len() + 44;
                    part.push((v.origin, v.inc, v.seq));
                }
                let end = views.peek().is_none();
                push_control(l, LinkId(i), &mut self.transmit, &mut self.stats, |out| {
                    wire::emit_summary(out, part.iter().copied(), end)
                });
                if end {
                    break;
                }
            }
        }
    }

    /// Brings every v1 peer's picture up to date: full comparisons for new links, then the
    /// announcements gathered, sent together.
    fn announce(&mut self) {
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
                push_control(l, LinkId(i), &mut self.transmit, &mut self.stats, |out| {
                    if !del.is_empty() {
                        wire::emit_reach(out, false, del.iter().map(|n| &**n));
                    }
                    if !add.is_empty() {
                        wire::emit_reach(out, true, add.iter().map(|n| &**n));
                    }
                });
            }
        }
    }

    /// Confirms what was handed over since the last commit, one cumulative ack per origin.
    fn send_acks(&mut self) {
        // The list is handed back afterwards, keeping its capacity for the next round.
        let mut due = std::mem::take(&mut self.acks_due);
        for origin in due.drain(..) {
            let Some(inbox) = self.inboxes.get_mut(&*origin) else {
                continue;
            };
            inbox.ack_due = false;
            let (inc, upto) = (inbox.inc, inbox.confirmed());
            match self.routing.route(&origin) {
                Some(r) if self.link_is_v2(r.link) => {
                    let me = self.names.get(&self.name);
                    self.with_control(r.link, |out| {
                        wire::emit_ack(out, &me, &origin, inc, upto, 1)
                    });
                }
                // No way back yet: the origin resends, and the duplicate is confirmed then.
                _ => {}
            }
        }
        self.acks_due = due;
    }

    fn wake_dormant(&mut self, name: &str) {
        let t = self.clock.now();
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

    /// Sends what the window and the link's buffer allow from this agent's messages for `to`.
    fn pump(&mut self, to: &str) {
        let Some(&slot) = self.outbox_of.get(to) else {
            return;
        };
        if let Some(route) = self.routing.route(to) {
            let ob = &mut self.outboxes[slot];
            let Some(Some(l)) = self.links.get_mut(route.link.0) else {
                return;
            };
            let max = self.opts.max_link_buffer;
            if route.confirmed {
                while l.pending() < max {
                    let base = ob.base();
                    let Some((p, body, seq)) = ob.next_confirmed(self.opts.max_in_flight, self.clock.now())
                    else {
                        break;
                    };
                    if p.resent {
                        self.stats.resent += 1;
                    }
                    let seq = Seq {
                        inc: self.inc,
                        seq,
                        base,
                    };
                    push_frame(l, route.link, &mut self.transmit, |out| {
                        wire::emit_msg(out, &self.name, to, body, Some(1), Some(seq))
                    });
                }
            } else {
                let hops = first_hop(l);
                while l.pending() < max {
                    let Some((_, body)) = ob.pop_unconfirmed() else {
                        break;
                    };
                    self.queued_total -= 1;
                    push_frame(l, route.link, &mut self.transmit, |out| {
                        wire::emit_msg(out, &self.name, to, body, hops, None)
                    });
                }
            }
            self.seq_floor = self.seq_floor.max(ob.next_seq());
            if l.pending() >= max && !ob.all_sent() {
                self.blocked.insert(to.into());
            }
        }
        let ob = &self.outboxes[slot];
        // An emptied outbox stays until the timer armed for it fires, if that is within a
        // retransmission timeout: an application that answers and is answered sends its next
        // message to the same destination within a round trip, and reusing the outbox keeps
        // its round-trip estimate and its one timer instead of making both afresh (and a stale
        // timer entry) per message. A timer further off (a message's deadline) is not waited
        // for: it finds a newer outbox, or none, and is ignored.
        let linger = ob.timer_at.is_some_and(|at| at <= self.clock.now() + MAX_RTO);
        if ob.is_empty() && !linger {
            self.outboxes.remove(slot);
            self.outbox_of.remove(to);
        } else {
            self.arm_outbox(slot);
        }
    }

    /// Arms the outbox's timer for its next resend or deadline, unless one is armed earlier.
    fn arm_outbox(&mut self, slot: usize) {
        let ob = &mut self.outboxes[slot];
        if let Some(due) = ob.due() {
            if ob.timer_at.is_none_or(|t| due < t) {
                ob.timer_at = Some(due);
                let serial = ob.serial;
                self.timers.insert(due, Timer::Outbox { slot, serial });
            }
        }
    }

    /// An outbox's timer fired: give up on what is past its deadline, resend after a timeout.
    fn outbox_due(&mut self, slot: usize, t: u64) {
        let ob = &mut self.outboxes[slot];
        ob.timer_at = None;
        let mut ids = std::mem::take(&mut self.ids);
        ob.expire(t, &mut ids);
        self.queued_total -= ids.len();
        for id in ids.drain(..) {
            self.events.push_back(Event::Undeliverable {
                to: self.names.get(&ob.to),
                id,
                reason: UndeliverableReason::Expired,
            });
        }
        self.ids = ids;
        if ob.in_flight() > 0 && ob.rto_at.is_some_and(|at| at <= t) {
            ob.timed_out(t);
            self.stats.timeouts += 1;
        }
        let to = ob.to.clone();
        self.pump(&to);
    }

    /// Forwards held relayed messages for `to` while its link has room.
    fn pump_held(&mut self, to: &str) {
        let Some(route) = self.routing.route(to) else {
            return;
        };
        let Some(queue) = self.held.get_mut(to) else {
            return;
        };
        let Some(Some(l)) = self.links.get_mut(route.link.0) else {
            return;
        };
        let hops = first_hop(l);
        while l.pending() < self.opts.max_link_buffer {
            let Some(h) = queue.pop_front() else { break };
            self.held_total -= 1;
            push_frame(l, route.link, &mut self.transmit, |out| {
                wire::emit_msg(out, &h.from, to, h.body.get(), hops, None)
            });
        }
        if queue.is_empty() {
            self.held.remove(to);
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

/// As [`push_frame`], counting the bytes as control traffic.
fn push_control(
    l: &mut Link,
    link: LinkId,
    transmit: &mut VecDeque<LinkId>,
    stats: &mut Stats,
    write: impl FnOnce(&mut Vec<u8>),
) {
    let before = l.out.len();
    push_frame(l, link, transmit, write);
    stats.control_frames += 1;
    stats.control_bytes += (l.out.len() - before) as u64;
}

fn emit_description(out: &mut Vec<u8>, d: crate::lsdb::View<'_>) {
    wire::emit_lsa(
        out,
        d.origin,
        d.inc,
        d.seq,
        d.neighbors(),
        d.v1_peers(),
        d.externals(),
    )
}

/// The hop count an own message carries on `l`: none on a v1 link, which carries pure v1 frames.
fn first_hop(l: &Link) -> Option<u64> {
    l.is_v2().then_some(1)
}

/// Brings what `l` was told about `name` in line with `route`, gathering the announcement.
/// v1 rule: tell a peer every name reachable other than through itself (split horizon), and
/// never its own name. v2 links learn from descriptions instead.
fn tell(l: &mut Link, link: LinkId, name: &str, route: Option<Route>) {
    if l.is_v2() {
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

mod stats;
mod throttle;
mod timers;

pub use stats::Stats;
use timers::{Clock, Timer, Timers, ms};

use throttle::{Arming, Due, Policy, Throttle, Urgency};

#[cfg(test)]
mod tests;
