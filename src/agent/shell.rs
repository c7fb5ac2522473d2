//! The IO shell's inside: the sockets behind an [`Agent`], one `mio::Poll` over them, and
//! carrying out what the core asks for.
//!
//! This module owns listeners and links (a link's slab key is its [`LinkId`] and its poll
//! token), dialling, reading and writing. It makes no protocol decision; it feeds bytes, link
//! events and time to the [`Node`](crate::Node) and carries out what the node asks (dial,
//! close, write). Closing a link cleanly is [`closing`](super::closing)'s.
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
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use mio::net::{TcpListener, TcpStream};
use mio::{Interest, Token};

use crate::node::{Action, LinkOrigin};
use crate::{ConnectId, LinkDownReason, LinkId};

use super::closing::Closing;
use super::{Agent, READ_BUDGET};

/// Bytes read from a socket at a time.
pub(super) const READ_BUF: usize = 64 * 1024;

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

/// The token of the waker, outside the slab's keys.
pub(super) const WAKER: Token = Token(usize::MAX);

/// One readiness event, copied out of mio's list so that handling it may borrow the agent.
#[derive(Debug, Clone, Copy)]
pub(super) struct Ready {
    key: usize,
    readable: bool,
    writable: bool,
    /// Read until `WouldBlock`, even after a short read.
    drain: bool,
}

#[derive(Debug)]
pub(super) enum Source {
    Listener(TcpListener),
    Link(Conn),
}

#[derive(Debug)]
pub(super) struct Conn {
    pub(super) stream: TcpStream,
    /// Set while a non-blocking connect is in progress.
    pub(super) connecting: Option<ConnectId>,
    pub(super) addr: Option<SocketAddr>,
    /// Set once the core has closed the link: the socket is being closed cleanly.
    pub(super) closing: Option<Closing>,
}

#[derive(Debug)]
pub(super) struct DialTarget {
    pub(super) addrs: Vec<SocketAddr>,
    /// Attempts so far; successive attempts rotate through `addrs`.
    pub(super) tries: usize,
}

impl Agent {
    pub(super) fn register_listener(
        &mut self,
        mut listener: TcpListener,
    ) -> io::Result<SocketAddr> {
        let addr = listener.local_addr()?;
        let entry = self.sources.vacant_entry();
        self.poll
            .registry()
            .register(&mut listener, Token(entry.key()), Interest::READABLE)?;
        entry.insert(Source::Listener(listener));
        Ok(addr)
    }

    /// Closes every listener: no new connection is accepted.
    pub(super) fn close_listeners(&mut self) {
        let keys: Vec<usize> = self
            .sources
            .iter()
            .filter(|(_, s)| matches!(s, Source::Listener(_)))
            .map(|(k, _)| k)
            .collect();
        for key in keys {
            if let Some(Source::Listener(mut l)) = self.sources.try_remove(key) {
                let _ = self.poll.registry().deregister(&mut l);
            }
        }
    }

    pub(super) fn set_target(&mut self, id: ConnectId, target: DialTarget) {
        let i = id.0 as usize;
        if self.dials.len() <= i {
            self.dials.resize_with(i + 1, || None);
        }
        self.dials[i] = Some(target);
    }

    /// Waits up to `wait` for readiness and handles it, with the links left over from the last
    /// poll, then the timers that fell due.
    pub(super) fn poll_io(&mut self, wait: Option<Duration>) -> io::Result<()> {
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
        // A full list may have left readiness in the selector, which an outer loop waiting on
        // this agent's descriptor would not hear of again: ask for another poll at once.
        self.more_ready = self.ready.len() >= self.events.capacity();
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
        let now = Instant::now();
        self.node.handle_timeout(now);
        self.expire_closings(now);
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
            Some(Source::Link(c)) if c.closing.is_some() => self.progress_close(key),
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

    pub(super) fn insert_conn(
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
            closing: None,
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
            if c.closing.is_some() {
                self.progress_close(link.0);
                return;
            }
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
                        // The core closed it; the Close action closes the socket.
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
            if c.connecting.is_some() || c.closing.is_some() {
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

    /// Drops a socket at once.
    pub(super) fn remove_conn(&mut self, key: usize) {
        if let Some(Source::Link(mut c)) = self.sources.try_remove(key) {
            if c.closing.is_some() {
                self.closings -= 1;
            }
            let _ = self.poll.registry().deregister(&mut c.stream);
        }
    }

    /// Carries out what the core asked for, until it asks for nothing more.
    pub(super) fn drive(&mut self, now: Instant) {
        loop {
            let mut busy = false;
            while let Some(action) = self.node.poll_action() {
                busy = true;
                match action {
                    Action::Dial(id) => self.start_dial(id, now),
                    Action::Close { link, flush } => self.close(link, flush, now),
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
