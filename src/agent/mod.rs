//! [`Agent`]: the IO shell around the protocol core, and the public API.
//!
//! This module holds the agent's public surface: commands, state, the run loop's calls
//! (`poll`, `next_event`, `events`, `next_timeout`), shutdown, and the poll descriptor for
//! other event loops. The sockets and the work of a poll are [`shell`]'s; closing a socket
//! cleanly is [`closing`]'s.
//!
//! # Embedding contract
//! - After any command (`send_message`, `connect`, `disconnect`, ...), its bytes are written
//!   or [`Agent::next_timeout`] returns now: a caller woken only by the descriptor's readiness
//!   and `next_timeout` sees the same latency as one calling `poll` in a loop. Sends are not
//!   written one system call each: a burst of sends goes out in one write at the next poll.
//! - Events left undrained do not make `poll` return at once (no busy loop); past
//!   [`Options::max_undrained_events`](crate::Options::max_undrained_events) the agent stops
//!   reading and `poll` fails with [`Error::EventsNotDrained`].

mod closing;
mod shell;

use std::collections::VecDeque;
use std::io::{self, ErrorKind};
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Poll};
use serde::Serialize;
use serde_json::value::RawValue;
use slab::Slab;

use crate::node::{Json, LinkOrigin, Node, PeerInfo, Stats};
use crate::routing::Route;
use crate::{ConnectId, Error, Event, LinkId, MessageId, Name, Options, SendError};

use shell::{DialTarget, READ_BUF, Ready, Source, WAKER};

/// The original's default port.
pub const DEFAULT_PORT: u16 = 8124;

/// The original's default address to dial: `127.0.0.1:8124`.
pub const DEFAULT_ADDR: &str = "127.0.0.1:8124";

/// Most bytes read from one link in one poll (two read buffers). Confirmations wait until the
/// caller has drained the messages they confirm, so the budget sets how often a stream is
/// confirmed. At 512 KiB a sender's whole window (4 096 messages of 120 bytes) was read in
/// one poll and confirmed in one piece, and sender and receiver took turns instead of working
/// together: one hop 2.5–3.0 M messages/s, against 3.6–4.2 M at 128 KiB. At 64 KiB the
/// extra confirmations and wake-ups cost about a tenth of that back.
pub const READ_BUDGET: usize = 2 * READ_BUF;

/// Which link `disconnect` drops: a direct peer by name, or the link of a `connect` call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target<'a> {
    /// The direct peer with this name.
    Name(&'a str),
    /// The link made by this `connect` call (the original's connect number).
    Connect(ConnectId),
}

impl<'a> From<&'a str> for Target<'a> {
    fn from(name: &'a str) -> Target<'a> {
        Target::Name(name)
    }
}

impl<'a> From<&'a String> for Target<'a> {
    fn from(name: &'a String) -> Target<'a> {
        Target::Name(name)
    }
}

impl<'a> From<&'a Name> for Target<'a> {
    fn from(name: &'a Name) -> Target<'a> {
        Target::Name(name)
    }
}

impl From<ConnectId> for Target<'_> {
    fn from(id: ConnectId) -> Self {
        Target::Connect(id)
    }
}

/// A direct peer, as returned by [`Agent::everybody`] and [`Agent::direct_member`].
pub type Peer = PeerInfo;

/// Makes a blocked [`Agent::poll`] return, from any thread: the way to hand an agent work
/// from elsewhere (queue it where the agent's thread will find it, then wake). Cheap to
/// clone; every clone wakes the same agent.
#[derive(Debug, Clone)]
pub struct Waker(Arc<mio::Waker>);

impl Waker {
    /// Wakes the agent: its current or next `poll` returns without waiting. Wakes coalesce.
    pub fn wake(&self) -> io::Result<()> {
        self.0.wake()
    }
}

/// What [`Agent::shutdown`] reports.
#[derive(Debug, Clone, PartialEq)]
pub struct ShutdownReport {
    /// The messages this agent accepted and gave up on, as in
    /// [`Event::ShutdownComplete`].
    pub unconfirmed: Vec<(Name, MessageId)>,
    /// Every event that was not drained when the shutdown began, or came during it, in order
    /// (messages that arrived meanwhile among them), up to the last, which is not repeated.
    pub events: Vec<Event>,
}

/// A named agent: links to other agents over TCP, and a message router.
///
/// # Run loop
/// Call [`poll`](Agent::poll) in a loop, and after each call drain events with
/// [`next_event`](Agent::next_event) or [`events`](Agent::events). Commands (`connect`,
/// `send_message`, `disconnect`, ...) may be called at any time, also while draining; what
/// they send leaves at the next poll (right away if it is due: see
/// [`next_timeout`](Agent::next_timeout)) or, when they are called while a poll's events are
/// drained with `next_event`, together with that poll's own output once the events are
/// drained.
///
/// ```no_run
/// use secretagent::{Agent, Event, Options};
/// use std::time::Duration;
///
/// let mut agent = Agent::new("Wolf", Options::default())?;
/// agent.listen("127.0.0.1:8124")?;
/// agent.send_message("Rosenberg", &serde_json::json!({"subject": "Meeting"}))?;
/// loop {
///     agent.poll(Some(Duration::from_secs(1)))?;
///     for event in agent.events() {
///         if let Event::Message { from, body, .. } = event {
///             println!("{from} says {body}");
///             agent.send_message(&from, &"thanks")?; // answering while draining
///         }
///     }
/// }
/// # Ok::<(), secretagent::Error>(())
/// ```
///
/// # Events not drained
/// Events wait for the caller without limit of time, but not of number: a `poll` neither
/// returns early nor spins because events wait, and once more than
/// [`Options::max_undrained_events`] wait, the agent stops reading from its links and `poll`
/// returns [`Error::EventsNotDrained`] until they are drained.
///
/// # Shutting down
/// [`begin_shutdown`](Agent::begin_shutdown) stops taking new work and lets the caller go on
/// polling until [`Event::ShutdownComplete`]; [`shutdown`](Agent::shutdown) does the same
/// and blocks until then. Dropping an agent closes its sockets at once instead.
#[derive(Debug)]
pub struct Agent {
    node: Node,
    poll: Poll,
    events: Events,
    ready: Vec<Ready>,
    sources: Slab<Source>,
    dials: Vec<Option<DialTarget>>,
    read_buf: Box<[u8]>,
    /// Links that hit their read budget and may hold more data.
    backlog: Vec<LinkId>,
    /// The other backlog list, empty, kept for its capacity.
    spare: Vec<LinkId>,
    /// The last poll filled mio's event list: the selector may hold more readiness.
    more_ready: bool,
    waker: Option<Waker>,
    scratch: Vec<u8>,
    /// The last poll left its output (writes, dials, closes) until the caller has drained its
    /// events, so that what the caller sends while draining them leaves in the same write as
    /// the confirmations and frames the poll produced.
    deferred: bool,
    /// Events left waiting when the last poll ended (or fewer, as they are drained): more
    /// waiting than this were made by commands since, and are due at once.
    left: usize,
    /// Sockets being closed cleanly.
    closings: usize,
    /// When each closing socket is dropped anyway, in order (some may be gone already).
    closing_queue: VecDeque<(Instant, usize)>,
    /// [`Event::ShutdownComplete`], held back until the last socket is closed.
    held: Option<Event>,
    /// The shutdown is over and its event was handed out.
    finished: bool,
}

impl Agent {
    /// An agent named `name` (non-empty, at most 255 bytes), with no links yet.
    pub fn new(name: &str, options: Options) -> Result<Agent, Error> {
        Agent::with_node(Node::new(name, options, incarnation(), Instant::now())?)
    }

    /// An agent whose every link is secure (feature `secure`): see [`Node::new_secure`]. Its
    /// randomness comes from the operating system.
    #[cfg(feature = "secure")]
    pub fn new_secure(
        name: &str,
        options: Options,
        config: crate::secure::SecureConfig,
    ) -> Result<Agent, Error> {
        let rng = crate::secure::Csprng::from_os()
            .map_err(|e| Error::Config(format!("no randomness for secure links: {e}")))?;
        let node = Node::new_secure(name, options, incarnation(), Instant::now(), config, rng)?;
        Agent::with_node(node)
    }

    /// Replaces the trust list of a secure agent (a reload of its trust file): handshakes
    /// from now on use `trust`, and every link whose peer's key `trust` no longer allows for
    /// the peer's name is closed at once, reported as
    /// [`LinkDownReason::Secure`](crate::LinkDownReason::Secure) with
    /// [`SecureError::Revoked`](crate::secure::SecureError::Revoked). Returns how many links
    /// were closed. See [`Node::set_trust`].
    #[cfg(feature = "secure")]
    pub fn reload_trust(&mut self, trust: crate::secure::Trust) -> Result<usize, Error> {
        let now = Instant::now();
        let closed = self.node.set_trust(trust, now)?;
        self.drive(now);
        Ok(closed)
    }

    fn with_node(node: Node) -> Result<Agent, Error> {
        Ok(Agent {
            node,
            poll: Poll::new()?,
            events: Events::with_capacity(256),
            ready: Vec::new(),
            sources: Slab::new(),
            dials: Vec::new(),
            read_buf: vec![0; READ_BUF].into_boxed_slice(),
            backlog: Vec::new(),
            spare: Vec::new(),
            more_ready: false,
            waker: None,
            scratch: Vec::new(),
            deferred: false,
            left: 0,
            closings: 0,
            closing_queue: VecDeque::new(),
            held: None,
            finished: false,
        })
    }

    /// This agent's name.
    pub fn name(&self) -> &str {
        self.node.name()
    }

    /// The protocol core, for inspection.
    pub fn node(&self) -> &Node {
        &self.node
    }

    // -----------------------------------------------------------------------------------------
    // Links

    /// Listens on `addr` (the original's `createServer`); returns the bound address, which
    /// tells the port when `addr` asked for port 0.
    pub fn listen(&mut self, addr: impl ToSocketAddrs) -> Result<SocketAddr, Error> {
        self.check_taking_work()?;
        let mut last = io::Error::new(ErrorKind::InvalidInput, "no address to listen on");
        for a in addr.to_socket_addrs()? {
            match TcpListener::bind(a) {
                Ok(l) => return Ok(self.register_listener(l)?),
                Err(e) => last = e,
            }
        }
        Err(last.into())
    }

    /// Adopts a listener bound elsewhere (the original's `addServer`).
    pub fn add_listener(&mut self, listener: std::net::TcpListener) -> Result<SocketAddr, Error> {
        self.check_taking_work()?;
        listener.set_nonblocking(true)?;
        Ok(self.register_listener(TcpListener::from_std(listener))?)
    }

    /// Dials `addr` (the original's `connect`; [`DEFAULT_ADDR`] is its default), and re-dials
    /// it whenever the link fails, until [`disconnect`](Agent::disconnect). A name that
    /// resolves to several addresses is tried address after address. The connection is made
    /// in the background: this returns at once, and a failure is reported as
    /// [`Event::ConnectFailed`].
    pub fn connect(&mut self, addr: impl ToSocketAddrs) -> Result<ConnectId, Error> {
        self.check_taking_work()?;
        let addrs: Vec<SocketAddr> = addr.to_socket_addrs()?.collect();
        if addrs.is_empty() {
            let e = io::Error::new(ErrorKind::InvalidInput, "address resolved to nothing");
            return Err(e.into());
        }
        let id = self.node.connect();
        self.set_target(id, DialTarget { addrs, tries: 0 });
        self.drive(Instant::now());
        Ok(id)
    }

    /// Dials every address of a list (the original's `connect([...])`).
    pub fn connect_all<A: ToSocketAddrs>(
        &mut self,
        addrs: impl IntoIterator<Item = A>,
    ) -> Result<Vec<ConnectId>, Error> {
        addrs.into_iter().map(|a| self.connect(a)).collect()
    }

    /// Adopts an already connected stream (the original's `addClient`): this agent says hello
    /// on it, and re-dials its peer address if it drops.
    pub fn add_stream(&mut self, stream: std::net::TcpStream) -> Result<ConnectId, Error> {
        self.check_taking_work()?;
        stream.set_nonblocking(true)?;
        let addr = stream.peer_addr().ok();
        let id = self.node.adopt();
        let addrs = addr.into_iter().collect();
        self.set_target(id, DialTarget { addrs, tries: 0 });
        let now = Instant::now();
        match self.insert_conn(TcpStream::from_std(stream), None, addr) {
            Ok(key) => self
                .node
                .handle_link_up(LinkId(key), LinkOrigin::Dialed(id), now),
            Err(e) => self.node.handle_connect_failed(id, e.to_string(), now),
        }
        self.drive(now);
        Ok(id)
    }

    /// Drops a direct link on purpose, by peer name or by `connect` number, and never re-dials
    /// it. (A peer that dialled this agent may dial again.)
    pub fn disconnect<'a>(&mut self, target: impl Into<Target<'a>>) -> Result<(), Error> {
        let now = Instant::now();
        let result = match target.into() {
            Target::Name(name) => self.node.disconnect_name(name, now),
            Target::Connect(id) => self.node.disconnect_connect(id, now),
        };
        self.drive(now);
        result
    }

    fn check_taking_work(&self) -> Result<(), Error> {
        if self.node.is_shutting_down() {
            return Err(Error::ShuttingDown);
        }
        Ok(())
    }

    // -----------------------------------------------------------------------------------------
    // Messages

    /// Sends `body`, serialized to JSON, to the agent named `to`: directly if it is a direct
    /// peer, else through the agents that reach it. A name not reachable yet is queued until it
    /// is met (`Options::queue_messages`). Returns the message's id.
    ///
    /// The bytes leave at the next [`poll`](Agent::poll), which [`next_timeout`](Agent::next_timeout)
    /// asks for at once: a burst of sends costs one write.
    pub fn send_message<T: Serialize + ?Sized>(
        &mut self,
        to: &str,
        body: &T,
    ) -> Result<MessageId, SendError> {
        let now = Instant::now();
        let deadline = self
            .node
            .options()
            .delivery_timeout
            .and_then(|d| now.checked_add(d));
        self.send_serialized(to, body, deadline, now)
    }

    /// As [`send_message`](Agent::send_message), giving up if the destination has not confirmed
    /// the message within `within` ([`Event::Undeliverable`]).
    pub fn send_message_within<T: Serialize + ?Sized>(
        &mut self,
        to: &str,
        body: &T,
        within: Duration,
    ) -> Result<MessageId, SendError> {
        let now = Instant::now();
        self.send_serialized(to, body, now.checked_add(within), now)
    }

    fn send_serialized<T: Serialize + ?Sized>(
        &mut self,
        to: &str,
        body: &T,
        deadline: Option<Instant>,
        now: Instant,
    ) -> Result<MessageId, SendError> {
        self.scratch.clear();
        serde_json::to_writer(&mut self.scratch, body)
            .map_err(|e| SendError::Serialize(e.to_string()))?;
        let text =
            std::str::from_utf8(&self.scratch).map_err(|e| SendError::Serialize(e.to_string()))?;
        self.node.send_json(to, Json::Text(text), deadline, now)
    }

    /// Sends a body that is already JSON (`RawValue` is serde_json's, deliberately: bodies
    /// travel as raw JSON).
    pub fn send_raw(&mut self, to: &str, body: &RawValue) -> Result<MessageId, SendError> {
        self.node.send_message(to, body, Instant::now())
    }

    // -----------------------------------------------------------------------------------------
    // State

    /// The direct peer called `name`, if linked (the original's `directMember`).
    pub fn direct_member(&self, name: &str) -> Option<Peer> {
        self.everybody().into_iter().find(|p| p.name == name)
    }

    /// Every direct peer that has said hello (the original's `everybody`).
    pub fn everybody(&self) -> Vec<Peer> {
        let mut peers = self.node.peers();
        for p in &mut peers {
            if let Some(Source::Link(c)) = self.sources.get(p.link.0) {
                p.addr = c.addr;
            }
        }
        peers
    }

    /// The route to `name`, if reachable.
    pub fn route(&self, name: &str) -> Option<Route> {
        self.node.route(name)
    }

    /// The name of the direct peer a route leaves through.
    pub fn route_via(&self, name: &str) -> Option<&str> {
        self.node.link_peer(self.node.route(name)?.link)
    }

    /// The mesh as this agent sees it, in Graphviz DOT, as `tinc dump graph` prints it: see
    /// [`Node::graph`] for what is drawn and how.
    pub fn graph(&self) -> String {
        self.node.graph()
    }

    /// The agent's own accounting.
    pub fn stats(&self) -> Stats {
        self.node.stats()
    }

    // -----------------------------------------------------------------------------------------
    // Driving

    /// The next event, if any. Drain after every `poll` and after commands.
    ///
    /// Once the events are drained (this returns `None`), what the last poll left to send goes
    /// out, together with whatever the caller sent while draining.
    pub fn next_event(&mut self) -> Option<Event> {
        loop {
            if let Some(event) = self.node.poll_event() {
                self.left = self.left.min(self.node.pending_events());
                match self.hold_last(event) {
                    Some(event) => return Some(event),
                    None => continue,
                }
            }
            if self.last_event_ready() {
                self.finished = true;
                return self.held.take();
            }
            if !self.deferred {
                return None;
            }
            self.deferred = false;
            self.drive(Instant::now());
            // Writing can fail a link, which is an event too; output made while handling it
            // waits for the end of the drain again.
            if !self.node.has_events() {
                return None;
            }
            self.deferred = true;
        }
    }

    /// Takes every waiting event at once, as an iterator that does not borrow the agent: the
    /// caller may answer (send, connect, ...) while going through them.
    ///
    /// ```no_run
    /// # let mut agent = secretagent::Agent::new("Echo", Default::default())?;
    /// for event in agent.events() {
    ///     if let secretagent::Event::Message { from, body, .. } = event {
    ///         agent.send_raw(&from, body.raw())?;
    ///     }
    /// }
    /// # Ok::<(), secretagent::Error>(())
    /// ```
    ///
    /// What the last poll left to send goes out now, as the events are taken; what the caller
    /// sends while going through them leaves at the next poll, which
    /// [`next_timeout`](Agent::next_timeout) asks for at once. (Draining with
    /// [`next_event`](Agent::next_event) instead sends both in one write.)
    pub fn events(&mut self) -> impl Iterator<Item = Event> + use<> {
        if self.deferred {
            self.deferred = false;
            // Writing can fail a link: its event joins the batch.
            self.drive(Instant::now());
        }
        let mut batch = self.node.take_events();
        self.left = 0;
        let last = batch
            .iter()
            .position(|e| matches!(e, Event::ShutdownComplete { .. }));
        if last.is_some() {
            // The links' closes must have begun before the sockets are counted.
            self.drive(Instant::now());
        }
        match last {
            Some(i) if self.closings > 0 => self.held = batch.remove(i),
            Some(_) => self.finished = true,
            None if self.last_event_ready() => {
                self.finished = true;
                batch.extend(self.held.take());
            }
            None => {}
        }
        batch.into_iter()
    }

    /// [`Event::ShutdownComplete`] waits until the last socket is closed; anything else passes.
    fn hold_last(&mut self, event: Event) -> Option<Event> {
        if !matches!(event, Event::ShutdownComplete { .. }) {
            return Some(event);
        }
        // The links' closes must have begun before the sockets are counted.
        self.drive(Instant::now());
        if self.closings == 0 {
            self.finished = true;
            return Some(event);
        }
        self.held = Some(event);
        None
    }

    fn last_event_ready(&self) -> bool {
        self.held.is_some() && self.closings == 0
    }

    /// When [`poll`](Agent::poll) must next be called: now, when a command left bytes to
    /// write or events to report, when a poll's output waits for its events to be drained,
    /// when a link has more to read than one poll takes (see [`READ_BUDGET`]), or when events
    /// went undrained past their limit (the poll then says so); otherwise the next timer (a
    /// ping, a reconnection, a resend, a closing socket's wait). `None`: nothing is due
    /// without network activity.
    ///
    /// A caller with its own event loop waits for the agent's descriptor
    /// ([`AsFd`](std::os::fd::AsFd)) to be readable or for this instant, whichever comes
    /// first, then calls `poll(Some(Duration::ZERO))`. No readiness is reported for work
    /// this asks for.
    pub fn next_timeout(&self) -> Option<Instant> {
        if self.finished {
            return None;
        }
        if self.due_now() {
            return Some(Instant::now());
        }
        self.next_deadline()
    }

    fn due_now(&self) -> bool {
        let pending = self.node.pending_events();
        self.deferred
            || !self.backlog.is_empty()
            || self.more_ready
            || self.node.has_output()
            || pending > self.left
            || pending >= self.node.options().max_undrained_events
            || self.last_event_ready()
    }

    fn next_deadline(&self) -> Option<Instant> {
        match (self.node.next_timeout(), self.next_close_deadline()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// A waker that makes a blocked [`poll`](Agent::poll) return, for use from another thread.
    pub fn waker(&mut self) -> Result<Waker, Error> {
        if let Some(w) = &self.waker {
            return Ok(w.clone());
        }
        let w = Waker(Arc::new(mio::Waker::new(self.poll.registry(), WAKER)?));
        self.waker = Some(w.clone());
        Ok(w)
    }

    /// Waits up to `timeout` (forever for `None`) for network activity or the next timer, and
    /// does all the work that is due. `Some(Duration::ZERO)` never blocks. It does not wait
    /// when work is due at once (see [`next_timeout`](Agent::next_timeout)).
    ///
    /// When the poll leaves events for the caller, what the poll itself has to send
    /// (confirmations, relayed frames) waits until the caller has drained them with
    /// [`next_event`](Agent::next_event), and then goes out together with whatever the caller
    /// sent meanwhile (an answer, say): one write and one wake-up of the peer instead of two.
    /// Otherwise it goes out at the next poll.
    ///
    /// Network failures are not errors here (they are events). An error means the poll itself
    /// failed ([`Error::Io`]), the caller left more than
    /// [`Options::max_undrained_events`] events undrained ([`Error::EventsNotDrained`]: this
    /// poll read nothing), or the agent has shut down ([`Error::ShutDown`]).
    pub fn poll(&mut self, timeout: Option<Duration>) -> Result<(), Error> {
        if self.finished {
            return Err(Error::ShutDown);
        }
        let start = Instant::now();
        let pending = self.node.pending_events();
        self.deferred = false;
        self.drive(start);
        let limit = self.node.options().max_undrained_events;
        if pending >= limit {
            return Err(Error::EventsNotDrained { pending, limit });
        }
        let mut wait = timeout;
        if let Some(at) = self.next_deadline() {
            let until = at.saturating_duration_since(start);
            wait = Some(wait.map_or(until, |w| w.min(until)));
        }
        if pending > self.left
            || !self.backlog.is_empty()
            || self.more_ready
            || self.last_event_ready()
        {
            wait = Some(Duration::ZERO);
        }
        self.poll_io(wait)?;
        // A caller that drained before this poll gets its output with its answers; one that
        // did not is not waited for.
        if pending == 0 && self.node.has_events() {
            self.deferred = true;
        } else {
            self.drive(Instant::now());
        }
        self.left = self.node.pending_events();
        Ok(())
    }

    // -----------------------------------------------------------------------------------------
    // Shutdown

    /// Begins a graceful shutdown, and returns at once: listeners close, sends and new links
    /// are refused ([`SendError::ShuttingDown`], [`Error::ShuttingDown`]), and what is queued
    /// goes out as routes allow (connections dialled earlier still come up, and links that
    /// drop are re-dialled, for what is queued may need them). Once every message this agent
    /// sent is confirmed, or `linger` has
    /// passed, every link is closed cleanly: the last bytes written, then a FIN, then what the
    /// peer still sends read up to its own FIN (for at most a second), so that peers see an
    /// end of stream, never a reset. Then comes [`Event::ShutdownComplete`], which lists the
    /// messages left unconfirmed, and the agent does nothing more (`poll` returns
    /// [`Error::ShutDown`]).
    ///
    /// Keep polling and draining meanwhile: messages that arrive before the links close are
    /// still handed over (and confirmed). Calling it again changes nothing.
    pub fn begin_shutdown(&mut self, linger: Duration) {
        if self.node.is_shutting_down() {
            return;
        }
        let now = Instant::now();
        self.close_listeners();
        self.node.shutdown(now + linger, now);
        self.drive(now);
    }

    /// Shuts down gracefully and waits until it is done: [`begin_shutdown`](Agent::begin_shutdown),
    /// then polls until [`Event::ShutdownComplete`]. Takes at most `linger` plus a second.
    /// Returns the messages left unconfirmed and every other event drained meanwhile.
    pub fn shutdown(&mut self, linger: Duration) -> Result<ShutdownReport, Error> {
        self.begin_shutdown(linger);
        let mut events = Vec::new();
        loop {
            while let Some(event) = self.next_event() {
                match event {
                    Event::ShutdownComplete { unconfirmed } => {
                        return Ok(ShutdownReport {
                            unconfirmed,
                            events,
                        });
                    }
                    other => events.push(other),
                }
            }
            self.poll(None)?;
        }
    }
}

/// A new incarnation: the wall clock in ms, so that it grows from run to run, and strictly
/// above any issued before in this process, so that an agent re-created in the same
/// millisecond is still a new run.
fn incarnation() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static LAST: AtomicU64 = AtomicU64::new(0);
    let clock = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_millis() as u64);
    let mut last = LAST.load(Ordering::Relaxed);
    loop {
        let next = clock.max(last + 1);
        match LAST.compare_exchange_weak(last, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return next,
            Err(seen) => last = seen,
        }
    }
}

/// The poll descriptor: readable when the agent has network work to do, so that another event
/// loop (mio, epoll, tokio's `AsyncFd`) can wait on it and call [`Agent::poll`] with a zero
/// timeout. Timers, and work that commands leave, are not signalled through it: honour
/// [`Agent::next_timeout`] as well.
#[cfg(unix)]
impl std::os::fd::AsFd for Agent {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.poll.registry().as_fd()
    }
}

/// The poll descriptor, as for [`AsFd`](std::os::fd::AsFd).
#[cfg(unix)]
impl std::os::fd::AsRawFd for Agent {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.poll.as_raw_fd()
    }
}
