//! Script tests of the core: hand-written frames in, exact frames and events out, virtual time.
//!
//! This file holds the harness ([`Script`]) and the helpers several concerns share; the tests
//! sit in a file per concern, named as the core's files are.

use std::time::{Duration, Instant};

use super::*;
use crate::frame;

mod announce;
mod db_sync;
mod dial;
mod flooding;
mod graph;
mod hello;
mod keepalive;
mod links;
#[cfg(feature = "secure")]
mod origins;
mod receiving;
mod relay;
#[cfg(feature = "secure")]
mod secure;
#[cfg(feature = "secure")]
mod secure_ends;
mod sending;
mod shutdown;
mod timers;

struct Script {
    node: Node,
    t0: Instant,
    now: Duration,
    /// On a secure node, the peers' ends of its links (`secure_ends.rs`): frames the script
    /// writes are sealed by them, and what the node writes is opened by them.
    #[cfg(feature = "secure")]
    ends: secure_ends::Ends,
}

impl Script {
    fn new(name: &str) -> Script {
        Script::with(name, Options::default())
    }

    fn with(name: &str, opts: Options) -> Script {
        let t0 = Instant::now();
        Script::over(Node::new(name, opts, 7, t0).unwrap(), t0)
    }

    /// A script over `node`, made at `t0`.
    fn over(node: Node, t0: Instant) -> Script {
        Script {
            node,
            t0,
            now: Duration::ZERO,
            #[cfg(feature = "secure")]
            ends: secure_ends::Ends::default(),
        }
    }

    fn now(&self) -> Instant {
        self.t0 + self.now
    }

    fn up(&mut self, link: usize, origin: LinkOrigin) {
        let now = self.now();
        self.node.handle_link_up(LinkId(link), origin, now);
    }

    fn recv(&mut self, link: usize, json: &str) {
        let mut bytes = Vec::new();
        frame::encode(&mut bytes, json.as_bytes());
        #[cfg(feature = "secure")]
        let bytes = self.ends.seal(link, bytes, self.now);
        let now = self.now();
        self.node.handle_bytes(LinkId(link), &bytes, now);
    }

    /// Everything written on `link` since the last call, as frame payloads.
    fn sent(&mut self, link: usize) -> Vec<String> {
        #[cfg(feature = "secure")]
        while self.node.poll_transmit().is_some() {}
        let bytes = self.node.outbound(LinkId(link)).to_vec();
        let now = self.now();
        self.node.consume_outbound(LinkId(link), bytes.len(), now);
        #[cfg(feature = "secure")]
        let bytes = self.ends.open(link, &bytes, self.now);
        let mut dec = frame::FrameDecoder::new(u32::MAX);
        let mut out = Vec::new();
        dec.feed(&bytes, |f| {
            out.push(String::from_utf8(f.to_vec()).unwrap());
            Ok::<(), ()>(())
        })
        .unwrap();
        out
    }

    fn events(&mut self) -> Vec<Event> {
        std::iter::from_fn(|| self.node.poll_event()).collect()
    }

    fn actions(&mut self) -> Vec<Action> {
        std::iter::from_fn(|| self.node.poll_action()).collect()
    }

    fn advance(&mut self, ms: u64) {
        self.now += Duration::from_millis(ms);
        let now = self.now();
        self.node.handle_timeout(now);
    }

    /// An accepted link from `peer`, hello done.
    fn accept_peer(&mut self, link: usize, peer: &str, iknow: &[&str]) {
        self.up(link, LinkOrigin::Accepted);
        let iknow = serde_json::to_string(iknow).unwrap();
        self.recv(
            link,
            &format!(r#"{{"c":"hi!","mynameis":"{peer}","iknow":{iknow}}}"#),
        );
    }
}

fn meet(n: &str) -> Event {
    Event::Meet { name: n.into() }
}

fn lose(n: &str) -> Event {
    Event::Lose { name: n.into() }
}

/// An accepted v2 link from `peer`, hello done, and the database exchange complete: the
/// peer's summary lists every description this agent holds, as it holds it.
fn accept_v2(s: &mut Script, link: usize, peer: &str) {
    hello_v2(s, link, peer);
    let held: Vec<(String, u64, u64)> = s
        .node
        .lsdb()
        .iter()
        .map(|v| (v.origin.to_owned(), v.inc, v.seq))
        .collect();
    let summary = serde_json::json!({"c": "sum", "d": held, "e": true});
    s.recv(link, &summary.to_string());
}

/// An accepted v2 link from `peer`, hello done, its database summary not sent yet.
fn hello_v2(s: &mut Script, link: usize, peer: &str) {
    s.up(link, LinkOrigin::Accepted);
    #[cfg(feature = "secure")]
    s.handshake(link, peer);
    s.recv(
        link,
        &format!(r#"{{"c":"hi!","mynameis":"{peer}","iknow":[],"v":2}}"#),
    );
}
