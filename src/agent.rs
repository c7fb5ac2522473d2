//! [`Agent`]: the IO shell around the protocol core, and the public API.
//!
//! This module owns every socket and the clock: one `mio::Poll`, one `Slab` holding listeners
//! and links (a link's slab key is its [`LinkId`] and its poll token), the addresses behind each
//! `connect` call, and a reusable read buffer. It makes no protocol decision; it feeds bytes,
//! link events and time to the [`Node`] and carries out what the node asks (dial, close, write).
//!
//! mio's contract is kept: writes are drained until `WouldBlock`, `Interrupted` is retried, a
//! zero-length read is end of stream, events for a vacant or reused slot are ignored. Reads are
//! drained until `WouldBlock` too, except that on the edge-triggered selectors (epoll, kqueue)
//! a read that fills less than the buffer ends the reading, as in tokio: the socket was empty
//! then, and bytes arriving later raise a new event. That saves a system call per wake-up.
//!
//! Each link is read at most [`READ_BUDGET`] bytes per poll, and a link that hit it is read
//! again on the next poll without waiting. One busy peer cannot starve the rest, and a stream
//! flows as a pipeline: what a poll's frames produce (confirmations, relayed frames) leaves at
//! the end of that poll, once the caller has drained its events, so that the sender refills
//! its window and the next hop works while this agent reads on.

use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token, Waker};
use serde::Serialize;
use serde_json::value::RawValue;
use slab::Slab;

use crate::node::{Action, Json, LinkOrigin, Node, PeerInfo, Stats};
use crate::routing::Route;
use crate::{ConnectId, Error, Event, LinkDownReason, LinkId, MessageId, Options, SendError};

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

const READ_BUF: usize = 64 * 1024;

/// Whether mio's selector here is edge-triggered and reports every arrival of bytes (epoll,
/// kqueue), so that a short read may end the reading of a socket. Elsewhere reads go on to
/// `WouldBlock`.
const EDGE_TRIGGERED: bool = cfg!(any(
    target_os = "linux",
    target_os = "android",
    target_os = "illumos",
    target_os = "redox",
    target_os = "macos",
    target_os = "ios",
    target_os = "freebsd",
    target_os = "netbsd",
    target_os = "openbsd",
    target_os = "dragonfly",
));

/// One readiness event, copied out of mio's list so that handling it may borrow the agent.
#[derive(Debug, Clone, Copy)]
struct Ready {
    key: usize,
    readable: bool,
    writable: bool,
    /// Read until `WouldBlock`, even after a short read.
    drain: bool,
}
const WAKER: Token = Token(usize::MAX);

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

impl From<ConnectId> for Target<'_> {
    fn from(id: ConnectId) -> Self {
        Target::Connect(id)
    }
}

/// A direct peer, as returned by [`Agent::everybody`] and [`Agent::direct_member`].
pub type Peer = PeerInfo;

#[derive(Debug)]
enum Source {
    Listener(TcpListener),
    Link(Conn),
}

#[derive(Debug)]
struct Conn {
    stream: TcpStream,
    /// Set while a non-blocking connect is in progress.
    connecting: Option<ConnectId>,
    addr: Option<SocketAddr>,
}

#[derive(Debug)]
struct DialTarget {
    addrs: Vec<SocketAddr>,
    /// Attempts so far; successive attempts rotate through `addrs`.
    tries: usize,
}

/// A named agent: links to other agents over TCP, and a message router.
///
/// # Run loop
/// Call [`poll`](Agent::poll) in a loop, and after each call drain events with
/// [`next_event`](Agent::next_event). Commands (`connect`, `send_message`, `disconnect`, ...)
/// may be called at any time between polls; what they send is written at the next poll or,
/// when they are called while a poll's events are being drained, together with that poll's
/// own output once the events are drained.
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
///     while let Some(event) = agent.next_event() {
///         if let Event::Message { from, body, .. } = event {
///             println!("{from} says {body}");
///         }
///     }
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
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
    waker: Option<Arc<Waker>>,
    scratch: Vec<u8>,
    /// The last poll left its output (writes, dials, closes) until the caller has drained its
    /// events, so that what the caller sends while draining them leaves in the same write as
    /// the confirmations and frames the poll produced.
    deferred: bool,
}

impl Agent {
    /// An agent named `name` (non-empty, at most 255 bytes), with no links yet.
    pub fn new(name: &str, options: Options) -> Result<Agent, Error> {
        let now = Instant::now();
        Ok(Agent {
            node: Node::new(name, options, incarnation(), now)?,
            poll: Poll::new()?,
            events: Events::with_capacity(256),
            ready: Vec::new(),
            sources: Slab::new(),
            dials: Vec::new(),
            read_buf: vec![0; READ_BUF].into_boxed_slice(),
            backlog: Vec::new(),
            spare: Vec::new(),
            waker: None,
            scratch: Vec::new(),
            deferred: false,
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
    pub fn listen(&mut self, addr: impl ToSocketAddrs) -> io::Result<SocketAddr> {
        let mut last = io::Error::new(ErrorKind::InvalidInput, "no address to listen on");
        for a in addr.to_socket_addrs()? {
            match TcpListener::bind(a) {
                Ok(l) => return self.register_listener(l),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// Adopts a listener bound elsewhere (the original's `addServer`).
    pub fn add_listener(&mut self, listener: std::net::TcpListener) -> io::Result<SocketAddr> {
        listener.set_nonblocking(true)?;
        self.register_listener(TcpListener::from_std(listener))
    }

    fn register_listener(&mut self, mut listener: TcpListener) -> io::Result<SocketAddr> {
        let addr = listener.local_addr()?;
        let entry = self.sources.vacant_entry();
        self.poll
            .registry()
            .register(&mut listener, Token(entry.key()), Interest::READABLE)?;
        entry.insert(Source::Listener(listener));
        Ok(addr)
    }

    /// Dials `addr` (the original's `connect`; [`DEFAULT_ADDR`] is its default), and re-dials
    /// it whenever the link fails, until [`disconnect`](Agent::disconnect). A name that
    /// resolves to several addresses is tried address after address. The connection is made
    /// in the background: this returns at once, and a failure is reported as
    /// [`Event::ConnectFailed`].
    pub fn connect(&mut self, addr: impl ToSocketAddrs) -> io::Result<ConnectId> {
        let addrs: Vec<SocketAddr> = addr.to_socket_addrs()?.collect();
        if addrs.is_empty() {
            return Err(io::Error::new(
                ErrorKind::InvalidInput,
                "address resolved to nothing",
            ));
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
    ) -> io::Result<Vec<ConnectId>> {
        addrs.into_iter().map(|a| self.connect(a)).collect()
    }

    /// Adopts an already connected stream (the original's `addClient`): this agent says hello
    /// on it, and re-dials its peer address if it drops.
    pub fn add_stream(&mut self, stream: std::net::TcpStream) -> io::Result<ConnectId> {
        stream.set_nonblocking(true)?;
        let addr = stream.peer_addr().ok();
        let id = self.node.adopt();
        self.set_target(
            id,
            DialTarget {
                addrs: addr.into_iter().collect(),
                tries: 0,
            },
        );
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

    fn set_target(&mut self, id: ConnectId, target: DialTarget) {
        let i = id.0 as usize;
        if self.dials.len() <= i {
            self.dials.resize_with(i + 1, || None);
        }
        self.dials[i] = Some(target);
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

    // -----------------------------------------------------------------------------------------
    // Messages

    /// Sends `body`, serialized to JSON, to the agent named `to`: directly if it is a direct
    /// peer, else through the agents that reach it. A name not reachable yet is queued until it
    /// is met (`Options::queue_messages`). Returns the message's id.
    pub fn send_message<T: Serialize + ?Sized>(
        &mut self,
        to: &str,
        body: &T,
    ) -> Result<MessageId, SendError> {
        self.scratch.clear();
        serde_json::to_writer(&mut self.scratch, body)
            .map_err(|e| SendError::Serialize(e.to_string()))?;
        let text =
            std::str::from_utf8(&self.scratch).map_err(|e| SendError::Serialize(e.to_string()))?;
        let now = Instant::now();
        let deadline = self.node.options().delivery_timeout.map(|d| now + d);
        self.node.send_json(to, Json::Text(text), deadline, now)
    }

    /// As [`send_message`](Agent::send_message), giving up if the destination has not confirmed
    /// the message within `within` ([`Event::Undeliverable`]).
    pub fn send_message_within<T: Serialize + ?Sized>(
        &mut self,
        to: &str,
        body: &T,
        within: Duration,
    ) -> Result<MessageId, SendError> {
        self.scratch.clear();
        serde_json::to_writer(&mut self.scratch, body)
            .map_err(|e| SendError::Serialize(e.to_string()))?;
        let text =
            std::str::from_utf8(&self.scratch).map_err(|e| SendError::Serialize(e.to_string()))?;
        let now = Instant::now();
        self.node
            .send_json(to, Json::Text(text), Some(now + within), now)
    }

    /// Sends a body that is already JSON.
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
        if let Some(event) = self.node.poll_event() {
            return Some(event);
        }
        if !self.deferred {
            return None;
        }
        self.deferred = false;
        self.drive(Instant::now());
        // Writing can fail a link, which is an event too; output made while handling it waits
        // for the end of the drain again.
        let event = self.node.poll_event();
        self.deferred = event.is_some();
        event
    }

    /// Drains every pending event (see [`next_event`](Agent::next_event)).
    pub fn events(&mut self) -> impl Iterator<Item = Event> + '_ {
        std::iter::from_fn(|| self.next_event())
    }

    /// When the agent next has work to do (a ping, a reconnection, ...; or now, when output
    /// waits for events to be drained, or a link has more to read than one poll takes, see
    /// [`READ_BUDGET`]): a caller with its own event loop must call [`poll`](Agent::poll) by
    /// then. No readiness is reported for bytes a poll left unread.
    pub fn next_timeout(&self) -> Option<Instant> {
        if self.deferred || !self.backlog.is_empty() {
            return Some(Instant::now());
        }
        self.node.next_timeout()
    }

    /// A waker that makes a blocked [`poll`](Agent::poll) return, for use from another thread.
    pub fn waker(&mut self) -> io::Result<Arc<Waker>> {
        if let Some(w) = &self.waker {
            return Ok(w.clone());
        }
        let w = Arc::new(Waker::new(self.poll.registry(), WAKER)?);
        self.waker = Some(w.clone());
        Ok(w)
    }

    /// Waits up to `timeout` (forever for `None`) for network activity or the next timer, and
    /// does all the work that is due. `Some(Duration::ZERO)` never blocks. Returns early, without
    /// blocking, while events are waiting to be drained.
    ///
    /// When the poll leaves events for the caller, what the poll itself has to send
    /// (confirmations, relayed frames) waits until the caller has drained them, and then goes
    /// out together with whatever the caller sent meanwhile (an answer, say): one write and one
    /// wake-up of the peer instead of two. A caller that polls again without draining sends it
    /// then.
    ///
    /// Network failures are not errors here (they are events); an error means the poll itself
    /// failed.
    pub fn poll(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        let start = Instant::now();
        self.deferred = false;
        self.drive(start);
        let mut wait = timeout;
        if let Some(at) = self.node.next_timeout() {
            let until = at.saturating_duration_since(start);
            wait = Some(wait.map_or(until, |w| w.min(until)));
        }
        if !self.backlog.is_empty() || self.node.has_events() {
            wait = Some(Duration::ZERO);
        }
        match self.poll.poll(&mut self.events, wait) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
        self.ready.clear();
        for ev in self.events.iter() {
            let closed = ev.is_read_closed() || ev.is_error();
            self.ready.push(Ready {
                key: ev.token().0,
                readable: ev.is_readable() || closed,
                writable: ev.is_writable() || ev.is_write_closed() || ev.is_error(),
                // The end of the stream (or an error) must be read even after a short read.
                drain: closed,
            });
        }
        let now = Instant::now();
        // Links left over from the last poll; those that hit the budget again in this one go
        // into the (emptied) spare list, so that neither list is allocated anew per poll.
        let mut again = std::mem::replace(&mut self.backlog, std::mem::take(&mut self.spare));
        for i in 0..self.ready.len() {
            let ready = self.ready[i];
            self.on_ready(ready, now);
        }
        for &link in &again {
            // Read once per poll: a link that was readable this time was read above.
            if !self.ready.iter().any(|r| r.key == link.0 && r.readable) {
                // No event tells whether the peer closed meanwhile: read to the end.
                self.read_link(link, true, now);
            }
        }
        again.clear();
        self.spare = again;
        self.node.handle_timeout(Instant::now());
        if self.node.has_events() {
            self.deferred = true;
        } else {
            self.drive(Instant::now());
        }
        Ok(())
    }

    fn on_ready(&mut self, ready: Ready, now: Instant) {
        let Ready {
            key,
            readable,
            writable,
            drain,
        } = ready;
        match self.sources.get(key) {
            Some(Source::Listener(_)) => self.accept(key, now),
            // Any readiness of a connecting socket may mean the connect finished or failed.
            Some(Source::Link(c)) if c.connecting.is_some() => self.finish_connect(key, now),
            Some(Source::Link(_)) => {
                if writable {
                    self.flush_link(LinkId(key), now);
                }
                if readable {
                    self.read_link(LinkId(key), drain, now);
                }
            }
            // A stale event for a slot closed earlier in this poll.
            None => {}
        }
    }

    fn accept(&mut self, key: usize, now: Instant) {
        loop {
            let Some(Source::Listener(listener)) = self.sources.get(key) else {
                return;
            };
            match listener.accept() {
                Ok((stream, addr)) => {
                    if self.dialled_self(&stream, addr, now) {
                        continue;
                    }
                    if let Ok(k) = self.insert_conn(stream, None, Some(addr)) {
                        self.node
                            .handle_link_up(LinkId(k), LinkOrigin::Accepted, now);
                    }
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                // WouldBlock: drained. Anything else (out of descriptors, ...): the listener is
                // retried on its next readiness.
                Err(_) => return,
            }
        }
    }

    /// Whether `stream`, just accepted from `peer`, is one of this agent's own dials come
    /// back to it: its two ends are those of a dialling socket, swapped. If so the core is
    /// told (the dial stops, reported once), and the caller drops `stream`; the dialling
    /// socket goes too (the core closes it if it was reported up).
    fn dialled_self(&mut self, stream: &TcpStream, peer: SocketAddr, now: Instant) -> bool {
        let here = stream.local_addr().ok();
        let found = self.sources.iter().find_map(|(key, s)| match s {
            Source::Link(c)
                if c.addr.is_some()
                    && c.addr == here
                    && c.stream.local_addr().is_ok_and(|a| a == peer) =>
            {
                Some((key, c.connecting))
            }
            _ => None,
        });
        let Some((key, connecting)) = found else {
            return false;
        };
        let Some(connect) = connecting.or_else(|| self.node.link_dial(LinkId(key))) else {
            return false;
        };
        if connecting.is_some() {
            // Never reported up: the core knows only the dial.
            self.remove_conn(key);
        }
        let to = here.map_or_else(String::new, |a| format!("{a} "));
        let error = format!(
            "connecting to {to}reached this agent itself (\"{}\" dialled its own address); \
             it is not dialled again",
            self.node.name()
        );
        self.node.handle_self_dial(connect, error, now);
        true
    }

    fn insert_conn(
        &mut self,
        mut stream: TcpStream,
        connecting: Option<ConnectId>,
        addr: Option<SocketAddr>,
    ) -> io::Result<usize> {
        let entry = self.sources.vacant_entry();
        self.poll.registry().register(
            &mut stream,
            Token(entry.key()),
            Interest::READABLE | Interest::WRITABLE,
        )?;
        // Small frames must not wait for Nagle's algorithm; a failure only costs latency.
        let _ = stream.set_nodelay(true);
        let key = entry.key();
        entry.insert(Source::Link(Conn {
            stream,
            connecting,
            addr,
        }));
        Ok(key)
    }

    fn start_dial(&mut self, id: ConnectId, now: Instant) {
        let Some(Some(target)) = self.dials.get_mut(id.0 as usize) else {
            self.node
                .handle_connect_failed(id, "no address to dial".into(), now);
            return;
        };
        if target.addrs.is_empty() {
            self.node.handle_connect_failed(
                id,
                "the adopted connection's peer address is unknown".into(),
                now,
            );
            return;
        }
        let addr = target.addrs[target.tries % target.addrs.len()];
        target.tries += 1;
        let result =
            TcpStream::connect(addr).and_then(|s| self.insert_conn(s, Some(id), Some(addr)));
        if let Err(e) = result {
            self.node
                .handle_connect_failed(id, format!("connecting to {addr}: {e}"), now);
        }
    }

    fn finish_connect(&mut self, key: usize, now: Instant) {
        let Some(Source::Link(c)) = self.sources.get(key) else {
            return;
        };
        let Some(id) = c.connecting else { return };
        let outcome = match c.stream.take_error() {
            Ok(Some(e)) | Err(e) => Err(e),
            Ok(None) => match c.stream.peer_addr() {
                Ok(_) => Ok(()),
                Err(e) if e.kind() == ErrorKind::NotConnected => return,
                Err(e) => Err(e),
            },
        };
        match outcome {
            Ok(()) => {
                // A dial that reached this agent's own listener is recognised when that side
                // accepts it: accept what waits before reporting the link.
                let listeners: Vec<usize> = (self.sources.iter())
                    .filter_map(|(k, s)| matches!(s, Source::Listener(_)).then_some(k))
                    .collect();
                for k in listeners {
                    self.accept(k, now);
                }
                match self.sources.get_mut(key) {
                    Some(Source::Link(c)) if c.connecting == Some(id) => c.connecting = None,
                    _ => return,
                }
                self.node
                    .handle_link_up(LinkId(key), LinkOrigin::Dialed(id), now);
            }
            Err(e) => {
                let addr = c
                    .addr
                    .map_or_else(String::new, |a| format!("connecting to {a}: "));
                self.remove_conn(key);
                self.node
                    .handle_connect_failed(id, format!("{addr}{e}"), now);
            }
        }
    }

    /// Reads what `link` has, up to the budget. Unless `drain`, a short read ends it (see the
    /// module docs).
    fn read_link(&mut self, link: LinkId, drain: bool, now: Instant) {
        let mut total = 0;
        loop {
            let Some(Source::Link(c)) = self.sources.get_mut(link.0) else {
                return;
            };
            if c.connecting.is_some() {
                return;
            }
            match c.stream.read(&mut self.read_buf) {
                Ok(0) => {
                    self.link_failed(link, LinkDownReason::PeerClosed, now);
                    return;
                }
                Ok(n) => {
                    self.node.handle_bytes(link, &self.read_buf[..n], now);
                    if self.node.has_link(link) {
                        total += n;
                        if total >= READ_BUDGET {
                            self.backlog.push(link);
                            return;
                        }
                        if n < self.read_buf.len() && !drain && EDGE_TRIGGERED {
                            return;
                        }
                    } else {
                        // The core closed it; the Close action removes the socket.
                        return;
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => {
                    self.link_failed(link, LinkDownReason::io(&e), now);
                    return;
                }
            }
        }
    }

    fn flush_link(&mut self, link: LinkId, now: Instant) {
        loop {
            let Some(Source::Link(c)) = self.sources.get_mut(link.0) else {
                return;
            };
            if c.connecting.is_some() {
                return;
            }
            let data = self.node.outbound(link);
            if data.is_empty() {
                return;
            }
            match c.stream.write(data) {
                Ok(0) => {
                    let e = io::Error::new(
                        ErrorKind::WriteZero,
                        "the connection accepts no more bytes",
                    );
                    self.link_failed(link, LinkDownReason::io(&e), now);
                    return;
                }
                Ok(n) => self.node.consume_outbound(link, n, now),
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => {
                    self.link_failed(link, LinkDownReason::io(&e), now);
                    return;
                }
            }
        }
    }

    fn link_failed(&mut self, link: LinkId, reason: LinkDownReason, now: Instant) {
        self.remove_conn(link.0);
        self.node.handle_link_down(link, reason, now);
    }

    fn remove_conn(&mut self, key: usize) {
        if let Some(Source::Link(mut c)) = self.sources.try_remove(key) {
            let _ = self.poll.registry().deregister(&mut c.stream);
        }
    }

    /// Carries out what the core asked for, until it asks for nothing more.
    fn drive(&mut self, now: Instant) {
        loop {
            let mut busy = false;
            while let Some(action) = self.node.poll_action() {
                busy = true;
                match action {
                    Action::Dial(id) => self.start_dial(id, now),
                    Action::Close { link, flush } => {
                        if let Some(Source::Link(c)) = self.sources.get_mut(link.0) {
                            // Best effort: the peer should see why, if the socket takes it now.
                            if !flush.is_empty() && c.connecting.is_none() {
                                let _ = c.stream.write(&flush);
                            }
                            let _ = c.stream.shutdown(Shutdown::Write);
                        }
                        self.remove_conn(link.0);
                    }
                }
            }
            while let Some(link) = self.node.poll_transmit() {
                busy = true;
                self.flush_link(link, now);
            }
            if !busy {
                return;
            }
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

#[cfg(unix)]
impl std::os::fd::AsRawFd for Agent {
    /// The poll descriptor: readable when the agent has network work to do, so that another
    /// event loop can wait on it and call [`Agent::poll`] with a zero timeout. Timers are not
    /// signalled through it; honour [`Agent::next_timeout`] as well.
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.poll.as_raw_fd()
    }
}
