//! Bodies of the fuzz targets, kept in the crate so that `cargo test` on stable can replay the
//! committed corpus through exactly the code the fuzzer runs (the unit tests beside this file);
//! the targets in `fuzz/` are one-line shims. Not part of the public API: this module is built
//! only for the crate's own tests and under `--cfg fuzzing`, which cargo-fuzz sets for every
//! crate it builds.
//!
//! It owns nothing and only drives the public surfaces of [`frame`], [`wire`] and
//! [`Node`]; it must not reach into their internals beyond the reference parser
//! (`wire::parse_general`) that the fast path is checked against.
//!
//! Each body asserts properties, not just "no panic": chunking never changes what the frame
//! decoder yields, the wire parser's fast path agrees with its general path, whatever the
//! wire parser accepts re-emits to the same value, and every numeric field of it takes every
//! value at the edges of the number space as the protocol says (`boundary.rs`, whose frames
//! the `core` target sends too).

use std::time::{Duration, Instant};

use serde_json::value::RawValue;

use crate::frame::{self, FeedError, FrameDecoder, FrameError};
use crate::node::{Action, LinkOrigin, Node};
use crate::wire;
use crate::{ConnectId, LinkId, Options};

mod boundary;
#[cfg(test)]
mod tests;

/// Frames, leftover byte count, and error, from decoding `chunks` in order.
fn decode_all(max: u32, chunks: &[&[u8]]) -> (Vec<Vec<u8>>, usize, Option<FrameError>) {
    let mut dec = FrameDecoder::new(max);
    let mut frames = Vec::new();
    for chunk in chunks {
        let r = dec.feed(chunk, |f| {
            frames.push(f.to_vec());
            Ok::<(), ()>(())
        });
        match r {
            Ok(()) => {}
            Err(FeedError::Frame(e)) => return (frames, 0, Some(e)),
            Err(FeedError::Handler(())) => unreachable!("the handler never fails"),
        }
    }
    (frames, dec.buffered(), None)
}

/// The frame decoder: byte 0 sets the length limit, byte 1 the chunk size, the rest is the
/// stream. One-shot and chunked decoding must agree, and decoded frames must re-encode to a
/// stream that decodes the same.
pub fn frame(data: &[u8]) {
    let [limit, step, input @ ..] = data else {
        return;
    };
    let max = u32::from(*limit) * 4;
    let whole = decode_all(max, &[input]);
    let chunks: Vec<&[u8]> = input.chunks(usize::from(*step).max(1)).collect();
    let split = decode_all(max, &chunks);
    assert_eq!(whole, split, "chunking changed the outcome");
    let bytes: Vec<&[u8]> = input.chunks(1).collect();
    assert_eq!(
        whole,
        decode_all(max, &bytes),
        "byte-at-a-time changed the outcome"
    );
    if whole.2.is_none() {
        let mut again = Vec::new();
        for f in &whole.0 {
            frame::encode(&mut again, f);
        }
        assert_eq!(decode_all(max, &[&again]).0, whole.0);
    }
}

/// The wire parser: it agrees with the general parser (the message fast path changes no
/// outcome, accepted or refused), and anything it accepts, emitted again, parses to the same
/// value.
pub fn wire(data: &[u8]) {
    let result = wire::parse(data, 64);
    assert_eq!(
        result,
        wire::parse_general(data, 64),
        "the fast path and the general parser disagree"
    );
    let Ok(parsed) = result else {
        return;
    };
    let mut out = Vec::new();
    if !boundary::emit(&parsed, &mut out) {
        return;
    }
    let again = wire::parse(&out[frame::HEADER_LEN..], 64).expect("an emitted frame parses");
    assert_eq!(again, parsed, "emit and parse disagree");
    boundary::check_numbers(&parsed);
}

/// The whole sans-IO core, driven by a sequence of operations decoded from `data`: links come
/// up and go down, raw bytes and well-formed frames (with fuzzer-chosen names and numbers)
/// arrive, time passes, the application sends, dials and disconnects. After every operation
/// the core's invariants are checked: its limits hold, every route leaves through an open
/// identified link, timers stay proportionate to what they serve, and it never panics.
///
/// Each operation is four bytes (kind, link, name, number), and some kinds take more bytes
/// after them; the committed corpus depends on this layout, so it must not change. Kind bytes
/// 240 to 255 send a frame with numbers at the edges of the number space (`boundary.rs`),
/// one byte after the four per number; below 240, the kind is the byte modulo 12.
pub fn core(data: &[u8]) {
    let Some(mut run) = CoreRun::new() else {
        return;
    };
    let mut input = data;
    while !input.is_empty() {
        let op = byte(&mut input);
        let link = LinkId(usize::from(byte(&mut input)) % CoreRun::LINKS);
        let name = CoreRun::NAMES[usize::from(byte(&mut input)) % CoreRun::NAMES.len()];
        let n = u64::from(byte(&mut input));
        run.apply(op, link, name, n, &mut input);
        run.act_as_shell();
        check(&run.node, &run.opts);
    }
}

/// The next byte of `input`, or 0 once it is used up.
fn byte(input: &mut &[u8]) -> u8 {
    let (&b, rest) = input.split_first().unwrap_or((&0, &[]));
    *input = rest;
    b
}

/// One `Node` under the `core` target, and what its shell would know: which links are up and
/// which `connect` calls were made.
struct CoreRun {
    node: Node,
    opts: Options,
    now: Instant,
    up: [bool; CoreRun::LINKS],
    dials: Vec<ConnectId>,
}

impl CoreRun {
    const LINKS: usize = 6;
    const NAMES: [&'static str; 6] = ["Me", "A", "B", "C", "D", "E"];

    /// Small limits and short timers, so that a short input reaches them.
    fn new() -> Option<CoreRun> {
        let opts = Options {
            max_known_names: 32,
            max_pending_links: 3,
            max_queued_per_destination: 8,
            max_in_flight: 4,
            max_link_buffer: 4096,
            max_frame_len: 1 << 16,
            ping_after: Duration::from_millis(50),
            ping_timeout: Duration::from_millis(30),
            hello_timeout: Duration::from_millis(100),
            auto_reconnect_interval: Duration::from_millis(20),
            // The shortest, so that short inputs reach expiry, refreshes and the re-floods of
            // an agent outranked at the top of the number space.
            description_lifetime: Duration::from_secs(1),
            ..Options::default()
        };
        let now = Instant::now();
        let node = Node::new("Me", opts.clone(), 1, now).ok()?;
        Some(CoreRun {
            node,
            opts,
            now,
            up: [false; CoreRun::LINKS],
            dials: Vec::new(),
        })
    }

    /// Carries out one operation. A guarded kind whose guard fails (a link already up, or not
    /// up) falls through to the last arm, as it always has: the corpus relies on it.
    fn apply(&mut self, op: u8, link: LinkId, name: &str, n: u64, input: &mut &[u8]) {
        let (node, now) = (&mut self.node, self.now);
        if op >= 240 {
            let mut bytes = Vec::new();
            frame::encode(&mut bytes, boundary::frame(name, n, input).as_bytes());
            node.handle_bytes(link, &bytes, now);
            return;
        }
        match op % 12 {
            0 | 1 if !self.up[link.0] => {
                let origin = if op.is_multiple_of(12) {
                    LinkOrigin::Accepted
                } else {
                    let c = node.connect();
                    self.dials.push(c);
                    LinkOrigin::Dialed(c)
                };
                node.handle_link_up(link, origin, now);
                self.up[link.0] = node.has_link(link);
            }
            2 => {
                let len = usize::from(byte(input)).min(input.len());
                let (bytes, rest) = input.split_at(len);
                node.handle_bytes(link, bytes, now);
                *input = rest;
            }
            3 => {
                let mut bytes = Vec::new();
                frame::encode(&mut bytes, well_formed(name, n).as_bytes());
                node.handle_bytes(link, &bytes, now);
            }
            4 if self.up[link.0] => {
                node.handle_link_down(link, crate::LinkDownReason::PeerClosed, now);
            }
            5 => {
                self.now += Duration::from_millis(n * 4);
                node.handle_timeout(self.now);
            }
            6 => {
                let body = RawValue::from_string(n.to_string()).unwrap_or_else(|_| unreachable!());
                let _ = node.send_message(name, &body, now);
            }
            7 => {
                let pending = node.outbound(link).len();
                node.consume_outbound(link, pending.min(usize::from(byte(input)) * 16), now);
            }
            8 => {
                if let Some(&c) = self.dials.get((n as usize) % self.dials.len().max(1)) {
                    node.handle_connect_failed(c, "refused".into(), now);
                }
            }
            9 => {
                let _ = node.disconnect_name(name, now);
            }
            10 => {
                if let Some(&c) = self.dials.get((n as usize) % self.dials.len().max(1)) {
                    let _ = node.disconnect_connect(c, now);
                }
            }
            _ => {
                let body = RawValue::from_string("null".into()).unwrap_or_else(|_| unreachable!());
                let _ = node.send_message_by(name, &body, now + Duration::from_millis(n), now);
            }
        }
    }

    /// Acts as the shell would: closes what the core closed, drains events and transmissions.
    fn act_as_shell(&mut self) {
        let node = &mut self.node;
        while let Some(action) = node.poll_action() {
            if let Action::Close { link, .. } = action {
                self.up[link.0] = false;
            }
        }
        while node.poll_event().is_some() {}
        while node.poll_transmit().is_some() {}
        for (i, u) in self.up.iter_mut().enumerate() {
            *u = node.has_link(LinkId(i));
        }
    }
}

/// A frame of each kind the core handles, with `name` and numbers from `n`, picked by `n`.
fn well_formed(name: &str, n: u64) -> String {
    let other = CoreRun::NAMES[(n % 6) as usize];
    match n % 10 {
        0 => format!(
            r#"{{"c":"hi!","mynameis":"{name}","iknow":["C","D"],"v":{}}}"#,
            n / 10 % 3
        ),
        1 => format!(r#"{{"a":"hi!","mynameis":"{name}","iknow":["E"],"v":2}}"#),
        2 => format!(r#"{{"c":"imcon4","who":["{name}","X{n}"]}}"#),
        3 => format!(r#"{{"c":"im!con4","who":["{name}"]}}"#),
        4 => format!(
            r#"{{"c":"lsa","o":"{name}","i":{},"s":{n},"n":["Me","A","{other}"],"x":["Y{n}"]}}"#,
            n % 3
        ),
        5 => format!(
            r#"{{"c":"msg","f":"{name}","t":"{other}","m":{n},"h":{}}}"#,
            n % 40
        ),
        6 => format!(
            r#"{{"c":"msg","f":"{name}","t":"Me","m":1,"i":{},"s":{},"b":{},"h":1}}"#,
            n % 2,
            n % 7,
            n % 5
        ),
        7 => format!(r#"{{"c":"ack","f":"{name}","t":"Me","i":1,"s":{n},"h":1}}"#),
        8 => format!(
            r#"{{"c":"sum","d":[["{name}",{},{n}],["Me",0,{}]],"e":{}}}"#,
            n % 3,
            n % 4,
            n.is_multiple_of(2)
        ),
        _ => r#"{"c":"ping"}"#.to_owned(),
    }
}

/// The core's invariants after any operation.
fn check(node: &Node, opts: &Options) {
    let s = node.stats();
    assert!(s.pending_links <= opts.max_pending_links, "{s:?}");
    assert!(s.known_names <= opts.max_known_names, "{s:?}");
    assert!(s.descriptions <= opts.max_known_names, "{s:?}");
    assert!(s.held_messages <= opts.max_queued_per_destination, "{s:?}");
    assert!(s.streams <= opts.max_known_names, "{s:?}");
    for (name, route) in node.routes() {
        assert!(
            node.has_link(route.link),
            "route to {name} through a closed {}",
            route.link
        );
        assert!(
            node.link_peer(route.link).is_some(),
            "route to {name} through an unidentified link"
        );
        assert_ne!(name, node.name(), "a route to itself");
    }
    for p in node.peers() {
        assert_eq!(
            node.route(&p.name).map(|r| r.link),
            Some(p.link),
            "a direct peer routed elsewhere"
        );
    }
    // This agent's own version stays below the top, whatever it was told; its streams are
    // numbered in its description's incarnation.
    let own = node.lsdb().own();
    assert!(
        own.inc < crate::lsdb::TOP_INCARNATION && own.seq <= crate::wire::MAX_NUMBER,
        "{:?}",
        (own.inc, own.seq)
    );
    assert_eq!(node.incarnation(), own.inc);
    // Every live timer serves a link, a dial, a destination (an outbox, emptied lately or not)
    // or the purge; stale ones are few.
    let budget = 8 * (s.links + node.dial_count() + s.queued_messages + s.outboxes + 4);
    assert!(s.timers <= budget, "{} timers for {s:?}", s.timers);
}
