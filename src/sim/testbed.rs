//! A few named cores wired by hand over in-memory connections, under a virtual clock: the
//! harness for checks that something never happens. On real sockets such a check can only
//! watch the wall clock for a while, and on a loaded machine that while may pass before any
//! timer that could cause the forbidden thing has fired. Here time moves only when the testbed
//! moves it, so a check covers exactly the virtual span it names, whatever the machine does.
//!
//! [`Testbed::step`] jumps to the earliest thing due (a delivery, or a core's timer) and does
//! everything due then; [`Testbed::drive_until`] steps until a condition holds;
//! [`Testbed::settle`] steps until only keepalive is left;
//! [`Testbed::drive_checking`] steps through a virtual span and checks a condition never
//! holds at any step. Every drive is bounded in steps, so a livelock fails instead of hanging.
//!
//! Cores are driven only through their public surface, as a shell would: every connection
//! takes [`LATENCY`] each way, a dial succeeds when its target is up and fails otherwise, a
//! close delivers what the closing core still owed and then the close.
//! Built for the crate's tests only.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use crate::node::{Action, LinkOrigin, Node};
use crate::{ConnectId, Event, LinkDownReason, LinkId, Options};

/// One way across any connection.
const LATENCY: Duration = Duration::from_millis(1);

/// How far off every core's next timer must be for the mesh to count as settled: longer than
/// any gathering, hold-down or route delay, shorter than a keepalive round.
const QUIET: Duration = Duration::from_secs(1);

/// The most steps any one drive may take: far more than any test here needs, few enough to
/// fail fast on a livelock.
const MAX_STEPS: usize = 1_000_000;

/// A core and what its shell knows.
struct Station {
    /// `None` once it vanished.
    node: Option<Node>,
    /// Its link ids in use → the connection each belongs to.
    links: BTreeMap<usize, usize>,
    /// Its `connect` calls → the station each dials.
    targets: BTreeMap<ConnectId, usize>,
    /// Dials it carried out (every `Action::Dial`, first ones and re-dials).
    dials: usize,
}

/// A connection: (station, link id) at each end, end 0 dialled.
struct Conn {
    ends: [(usize, LinkId); 2],
    dialled: ConnectId,
}

/// Something due at a virtual instant.
enum Delivery {
    Up {
        conn: usize,
        end: usize,
    },
    Bytes {
        conn: usize,
        end: usize,
        bytes: Vec<u8>,
    },
    Down {
        conn: usize,
        end: usize,
        reason: LinkDownReason,
    },
    Refused {
        station: usize,
        connect: ConnectId,
    },
}

/// The cores, their connections and the virtual clock.
pub(super) struct Testbed {
    t0: Instant,
    now: Instant,
    stations: Vec<Station>,
    conns: Vec<Conn>,
    /// Deliveries by (due, order scheduled).
    queue: BTreeMap<(Instant, u64), Delivery>,
    scheduled: u64,
    /// Every event each station's core reported, in order.
    log: Vec<Vec<Event>>,
}

impl Testbed {
    pub(super) fn new() -> Testbed {
        let t0 = Instant::now();
        Testbed {
            t0,
            now: t0,
            stations: Vec::new(),
            conns: Vec::new(),
            queue: BTreeMap::new(),
            scheduled: 0,
            log: Vec::new(),
        }
    }

    /// Starts a core named `name`, listening; returns its station.
    pub(super) fn add(&mut self, name: &str, opts: Options) -> usize {
        self.add_with(|incarnation, now| Node::new(name, opts, incarnation, now))
    }

    /// Starts the core `make` makes from an incarnation and the current instant (a secure one,
    /// say), listening; returns its station.
    pub(super) fn add_with(
        &mut self,
        make: impl FnOnce(u64, Instant) -> Result<Node, crate::Error>,
    ) -> usize {
        let i = self.stations.len();
        let node = make(1 + i as u64, self.now).expect("a valid core");
        self.stations.push(Station {
            node: Some(node),
            links: BTreeMap::new(),
            targets: BTreeMap::new(),
            dials: 0,
        });
        self.log.push(Vec::new());
        i
    }

    /// Station `from` dials station `to` (a `connect` call); returns the call's id.
    pub(super) fn connect(&mut self, from: usize, to: usize) -> ConnectId {
        let c = self.node_mut(from).connect();
        self.stations[from].targets.insert(c, to);
        self.drain(from);
        c
    }

    /// Runs a command on station `i`'s core at the current virtual time, then carries out what
    /// it asked for.
    pub(super) fn command<R>(&mut self, i: usize, f: impl FnOnce(&mut Node, Instant) -> R) -> R {
        let now = self.now;
        let r = f(self.node_mut(i), now);
        self.drain(i);
        r
    }

    /// Station `i` vanishes at once, as a process that is killed: its peers see their links
    /// close, and dials to it fail from now on.
    pub(super) fn vanish(&mut self, i: usize) {
        self.stations[i].node = None;
        let links = std::mem::take(&mut self.stations[i].links);
        for (_, conn) in links {
            let end = usize::from(self.conns[conn].ends[1].0 == i);
            self.schedule(Delivery::Down {
                conn,
                end: 1 - end,
                reason: LinkDownReason::PeerClosed,
            });
        }
    }

    /// Station `i`'s core; panics if it vanished.
    pub(super) fn node(&self, i: usize) -> &Node {
        self.stations[i].node.as_ref().expect("the station is up")
    }

    fn node_mut(&mut self, i: usize) -> &mut Node {
        self.stations[i].node.as_mut().expect("the station is up")
    }

    /// Writes one frame holding `payload` on the connection from station `from` to station
    /// `to`, as if `from`'s core had written it: how a test makes a member of the mesh lie.
    /// Panics if the two are not linked.
    pub(super) fn inject(&mut self, from: usize, to: usize, payload: &str) {
        let conn = self.stations[from]
            .links
            .values()
            .copied()
            .find(|&c| self.conns[c].ends.iter().any(|&(s, _)| s == to))
            .expect("the stations are linked");
        let mut bytes = Vec::new();
        crate::frame::encode(&mut bytes, payload.as_bytes());
        let end = self.other_end(conn, from);
        self.schedule(Delivery::Bytes { conn, end, bytes });
    }

    /// Has station `from`'s core write one frame holding `payload` on its link to station
    /// `to`, after what it wrote there: a member lying through its own core, so that the frame
    /// crosses the link as any of its frames does (encrypted, on a secure link). Panics if the
    /// two are not linked.
    #[cfg(feature = "secure")]
    pub(super) fn forge(&mut self, from: usize, to: usize, payload: &str) {
        let link = self.stations[from]
            .links
            .iter()
            .find(|&(_, &c)| self.conns[c].ends.iter().any(|&(s, _)| s == to))
            .map(|(&l, _)| LinkId(l))
            .expect("the stations are linked");
        self.node_mut(from).write_forged(link, payload.as_bytes());
        self.drain(from);
    }

    /// Every event station `i`'s core reported.
    pub(super) fn log(&self, i: usize) -> &[Event] {
        &self.log[i]
    }

    /// Dials station `i` carried out so far.
    pub(super) fn dials(&self, i: usize) -> usize {
        self.stations[i].dials
    }

    /// Whether station `i` has a route to `name`.
    pub(super) fn reaches(&self, i: usize, name: &str) -> bool {
        self.node(i).route(name).is_some()
    }

    /// Whether `name` is a direct peer of station `i`.
    pub(super) fn direct(&self, i: usize, name: &str) -> bool {
        self.node(i).peers().iter().any(|p| p.name == name)
    }

    /// Virtual time since the testbed started.
    pub(super) fn elapsed(&self) -> Duration {
        self.now - self.t0
    }

    /// Moves to the earliest thing due and does everything due then. Returns `false` when
    /// nothing at all is due (no delivery, no timer).
    pub(super) fn step(&mut self) -> bool {
        let Some(next) = self.next_due() else {
            return false;
        };
        self.now = self.now.max(next);
        while let Some(entry) = self.queue.first_entry() {
            if entry.key().0 > self.now {
                break;
            }
            let delivery = entry.remove();
            self.deliver(delivery);
        }
        for i in 0..self.stations.len() {
            let now = self.now;
            let Some(node) = self.stations[i].node.as_mut() else {
                continue;
            };
            if node.next_timeout().is_some_and(|t| t <= now) {
                node.handle_timeout(now);
                self.drain(i);
            }
        }
        true
    }

    /// Steps until `done` holds; panics with `what` and every core's events if it does not
    /// within `limit` of virtual time.
    pub(super) fn drive_until(
        &mut self,
        what: &str,
        limit: Duration,
        mut done: impl FnMut(&Testbed) -> bool,
    ) {
        let deadline = self.now + limit;
        for _ in 0..MAX_STEPS {
            if done(self) {
                return;
            }
            if self.now >= deadline || !self.step() {
                panic!(
                    "not within {limit:?} of virtual time: {what}\n{}",
                    self.dump()
                );
            }
        }
        panic!("livelock while waiting for: {what}\n{}", self.dump());
    }

    /// Steps until nothing is in flight and no core has a timer due within [`QUIET`]: what is
    /// left then is keepalive. Panics if that does not happen within `limit` of virtual time.
    pub(super) fn settle(&mut self, limit: Duration) {
        self.drive_until("the mesh settles", limit, |t| {
            t.queue.is_empty()
                && t.stations
                    .iter()
                    .filter_map(|s| s.node.as_ref()?.next_timeout())
                    .all(|due| due >= t.now + QUIET)
        });
    }

    /// Steps through `span` of virtual time and panics, naming `what`, if `never` holds at any
    /// step. Time runs to the end of the span even when nothing is due.
    pub(super) fn drive_checking(
        &mut self,
        span: Duration,
        what: &str,
        mut never: impl FnMut(&Testbed) -> bool,
    ) {
        let end = self.now + span;
        for _ in 0..MAX_STEPS {
            if never(self) {
                panic!(
                    "at {:?} of virtual time, saw what must not happen: {what}\n{}",
                    self.elapsed(),
                    self.dump()
                );
            }
            if self.now >= end {
                return;
            }
            let next_due = self.next_due();
            if next_due.is_none_or(|t| t > end) {
                self.now = end;
            } else {
                self.step();
            }
        }
        panic!("livelock while checking: {what}\n{}", self.dump());
    }

    /// The earliest delivery or core timer.
    fn next_due(&self) -> Option<Instant> {
        let delivery = self.queue.first_key_value().map(|(&(t, _), _)| t);
        let timer = self
            .stations
            .iter()
            .filter_map(|s| s.node.as_ref()?.next_timeout())
            .min();
        delivery.into_iter().chain(timer).min()
    }

    /// Every core's last events, for a failure.
    pub(super) fn dump(&self) -> String {
        let mut s = String::new();
        for (i, log) in self.log.iter().enumerate() {
            let name = self.stations[i]
                .node
                .as_ref()
                .map_or("(vanished)", Node::name);
            let _ = writeln!(s, "--- station {i} {name} ({} events)", log.len());
            for e in log.iter().rev().take(40).rev() {
                let _ = writeln!(s, "    {e:?}");
            }
        }
        s
    }

    fn schedule(&mut self, delivery: Delivery) {
        self.scheduled += 1;
        self.queue
            .insert((self.now + LATENCY, self.scheduled), delivery);
    }

    /// Carries out what station `i`'s core asked for: dials, closes, writes; logs its events.
    fn drain(&mut self, i: usize) {
        while let Some(action) = self.stations[i].node.as_mut().and_then(Node::poll_action) {
            match action {
                Action::Dial(c) => self.dial(i, c),
                Action::Close { link, flush } => self.close(i, link, flush),
            }
        }
        loop {
            let now = self.now;
            let Some(node) = self.stations[i].node.as_mut() else {
                return;
            };
            let Some(link) = node.poll_transmit() else {
                break;
            };
            let bytes = node.outbound(link).to_vec();
            node.consume_outbound(link, bytes.len(), now);
            if let Some(&conn) = self.stations[i].links.get(&link.0) {
                let end = self.other_end(conn, i);
                self.schedule(Delivery::Bytes { conn, end, bytes });
            }
        }
        while let Some(e) = self.stations[i].node.as_mut().and_then(Node::poll_event) {
            self.log[i].push(e);
        }
    }

    /// The end of `conn` that is not station `i`'s.
    fn other_end(&self, conn: usize, i: usize) -> usize {
        usize::from(self.conns[conn].ends[0].0 == i)
    }

    fn dial(&mut self, i: usize, c: ConnectId) {
        self.stations[i].dials += 1;
        let Some(&to) = self.stations[i].targets.get(&c) else {
            return;
        };
        if self.stations[to].node.is_none() {
            self.schedule(Delivery::Refused {
                station: i,
                connect: c,
            });
            return;
        }
        let conn = self.conns.len();
        let ends = [(i, self.free_link(i)), (to, self.free_link(to))];
        self.conns.push(Conn { ends, dialled: c });
        for (station, link) in ends {
            self.stations[station].links.insert(link.0, conn);
        }
        self.schedule(Delivery::Up { conn, end: 1 });
        self.schedule(Delivery::Up { conn, end: 0 });
    }

    /// The lowest link id station `i` is not using: ids are reused, as a shell's slab would.
    fn free_link(&self, i: usize) -> LinkId {
        let used = &self.stations[i].links;
        LinkId((0..).find(|k| !used.contains_key(k)).unwrap_or(0))
    }

    /// The core closed `link`: the peer gets what it was still owed, then the close.
    fn close(&mut self, i: usize, link: LinkId, flush: Vec<u8>) {
        let Some(conn) = self.stations[i].links.remove(&link.0) else {
            return;
        };
        let end = self.other_end(conn, i);
        if !flush.is_empty() {
            self.schedule(Delivery::Bytes {
                conn,
                end,
                bytes: flush,
            });
        }
        self.schedule(Delivery::Down {
            conn,
            end,
            reason: LinkDownReason::PeerClosed,
        });
    }

    /// Whether end `end` of `conn` is still a link its station knows.
    fn live(&self, conn: usize, end: usize) -> Option<(usize, LinkId)> {
        let (station, link) = self.conns[conn].ends[end];
        let known = self.stations[station].links.get(&link.0) == Some(&conn);
        (known && self.stations[station].node.is_some()).then_some((station, link))
    }

    fn deliver(&mut self, delivery: Delivery) {
        let now = self.now;
        let station = match delivery {
            Delivery::Up { conn, end } => {
                let Some((station, link)) = self.live(conn, end) else {
                    return;
                };
                let origin = match end {
                    0 => LinkOrigin::Dialed(self.conns[conn].dialled),
                    _ => LinkOrigin::Accepted,
                };
                self.node_mut(station).handle_link_up(link, origin, now);
                station
            }
            Delivery::Bytes { conn, end, bytes } => {
                let Some((station, link)) = self.live(conn, end) else {
                    return;
                };
                self.node_mut(station).handle_bytes(link, &bytes, now);
                station
            }
            Delivery::Down { conn, end, reason } => {
                let Some((station, link)) = self.live(conn, end) else {
                    return;
                };
                self.stations[station].links.remove(&link.0);
                self.node_mut(station).handle_link_down(link, reason, now);
                station
            }
            Delivery::Refused { station, connect } => {
                let Some(node) = self.stations[station].node.as_mut() else {
                    return;
                };
                node.handle_connect_failed(connect, "refused".into(), now);
                station
            }
        };
        self.drain(station);
    }
}
