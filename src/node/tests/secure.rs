//! Secure links (feature `secure`): two secure nodes joined in memory, in virtual time. The
//! handshake at every split of every flight, frames sealed many to a record when the link is
//! handed out, rekeys by time and by record count with traffic both ways, the same bytes from
//! the same seed, a duplicate's refusal sealed, revocation, and bounded accounting.

use super::*;
use crate::secure::{Csprng, Identity, Psk, SecureConfig, SecureError, Trust};

const AMES: u8 = 1;
const ROSENBERG: u8 = 2;

fn identity(seed: u8) -> Identity {
    Identity::from_seed([seed; 32])
}

/// Everyone trusted under their own name.
fn trust() -> Trust {
    let mut trust = Trust::new();
    trust.insert("Ames", *identity(AMES).public());
    trust.insert("Rosenberg", *identity(ROSENBERG).public());
    trust
}

fn config(seed: u8) -> SecureConfig {
    SecureConfig::new(identity(seed), trust())
}

/// How each flight of bytes is cut into reads.
#[derive(Clone, Copy, Debug)]
enum Split {
    Whole,
    At(usize),
    Bytes,
}

/// Ames (`a`) dials Rosenberg (`b`); link 0 on both sides. Every byte each side writes is
/// kept, in order.
struct Pair {
    a: Node,
    b: Node,
    t0: Instant,
    now: Duration,
    split: Split,
    /// Bytes written by `a`, by `b`.
    wire: [Vec<u8>; 2],
    events: [Vec<Event>; 2],
}

impl Pair {
    fn new(a_cfg: SecureConfig, b_cfg: SecureConfig, seed: u8, opts: Options) -> Pair {
        let t0 = Instant::now();
        let rng = |n: u8| Csprng::from_seed([seed.wrapping_add(n); 32]);
        Pair {
            a: Node::new_secure("Ames", opts.clone(), 7, t0, a_cfg, rng(0)).unwrap(),
            b: Node::new_secure("Rosenberg", opts, 7, t0, b_cfg, rng(1)).unwrap(),
            t0,
            now: Duration::ZERO,
            split: Split::Whole,
            wire: [Vec::new(), Vec::new()],
            events: [Vec::new(), Vec::new()],
        }
    }

    /// Both trusted, no PSK, default options; the link dialled and driven until quiet.
    fn linked(seed: u8, split: Split) -> Pair {
        let mut p = Pair::new(config(AMES), config(ROSENBERG), seed, Options::default());
        p.split = split;
        p.dial();
        p.drive();
        p
    }

    fn now(&self) -> Instant {
        self.t0 + self.now
    }

    fn node(&mut self, side: usize) -> &mut Node {
        if side == 0 { &mut self.a } else { &mut self.b }
    }

    fn dial(&mut self) {
        let now = self.now();
        let c = self.a.connect();
        assert_eq!(self.a.poll_action(), Some(Action::Dial(c)));
        self.a.handle_link_up(LinkId(0), LinkOrigin::Dialed(c), now);
        self.b.handle_link_up(LinkId(0), LinkOrigin::Accepted, now);
    }

    /// Moves what `side` has to write over to the other side; returns the bytes moved.
    fn flush(&mut self, side: usize) -> Vec<u8> {
        let now = self.now();
        let mut moved = Vec::new();
        while let Some(link) = self.node(side).poll_transmit() {
            let bytes = self.node(side).outbound(link).to_vec();
            self.node(side).consume_outbound(link, bytes.len(), now);
            moved.extend_from_slice(&bytes);
        }
        self.deliver(side, &moved);
        moved
    }

    /// Hands `bytes`, written by `side`, to the other side, cut as the pair's split says.
    fn deliver(&mut self, side: usize, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        self.wire[side].extend_from_slice(bytes);
        let now = self.now();
        let pieces: Vec<&[u8]> = match self.split {
            Split::Whole => vec![bytes],
            Split::At(k) => {
                let k = k.min(bytes.len());
                vec![&bytes[..k], &bytes[k..]]
            }
            Split::Bytes => bytes.chunks(1).collect(),
        };
        let other = self.node(1 - side);
        for piece in pieces {
            other.handle_bytes(LinkId(0), piece, now);
        }
    }

    /// Moves bytes both ways until neither side has any; closes are carried over (the last
    /// bytes, then the end of the stream).
    fn drive(&mut self) {
        for _ in 0..100 {
            let mut quiet = true;
            for side in 0..2 {
                quiet &= self.flush(side).is_empty();
                while let Some(action) = self.node(side).poll_action() {
                    quiet = false;
                    let now = self.now();
                    match action {
                        Action::Close { link, flush } => {
                            assert_eq!(link, LinkId(0));
                            self.deliver(side, &flush);
                            let other = self.node(1 - side);
                            if other.has_link(LinkId(0)) {
                                other.handle_link_down(LinkId(0), LinkDownReason::PeerClosed, now);
                            }
                        }
                        // Only Ames dials: a reconnection reaches Rosenberg on link 0 again.
                        Action::Dial(c) => {
                            self.a.handle_link_up(LinkId(0), LinkOrigin::Dialed(c), now);
                            self.b.handle_link_up(LinkId(0), LinkOrigin::Accepted, now);
                        }
                    }
                }
            }
            for side in 0..2 {
                let events: Vec<Event> =
                    std::iter::from_fn(|| self.node(side).poll_event()).collect();
                self.events[side].extend(events);
            }
            if quiet {
                return;
            }
        }
        panic!("the pair never went quiet");
    }

    fn advance(&mut self, ms: u64) {
        self.now += Duration::from_millis(ms);
        let now = self.now();
        self.a.handle_timeout(now);
        self.b.handle_timeout(now);
        self.drive();
    }

    fn send(&mut self, side: usize, n: usize) {
        let now = self.now();
        let to = if side == 0 { "Rosenberg" } else { "Ames" };
        for _ in 0..n {
            self.node(side)
                .send_message(to, RawValue::NULL, now)
                .unwrap();
        }
    }

    /// Messages `side` received.
    fn received(&self, side: usize) -> usize {
        let is_msg = |e: &&Event| matches!(e, Event::Message { .. });
        self.events[side].iter().filter(is_msg).count()
    }

    fn link_up(&self, side: usize) -> bool {
        let up = |e: &Event| matches!(e, Event::LinkUp { .. });
        self.events[side].iter().any(up)
    }

    fn link_down(&self, side: usize) -> Option<&LinkDownReason> {
        self.events[side].iter().find_map(|e| match e {
            Event::LinkDown { reason, .. } => Some(reason),
            _ => None,
        })
    }
}

/// The record lengths in what `side` wrote, after its handshake messages (two for the dialler,
/// side 0, past its 4-byte preamble; one for the acceptor).
fn records(p: &Pair, side: usize) -> Vec<usize> {
    let (mut at, mut skip) = if side == 0 { (4, 2) } else { (0, 1) };
    let wire = &p.wire[side];
    let mut lens = Vec::new();
    while at + 2 <= wire.len() {
        let len = usize::from(u16::from_be_bytes([wire[at], wire[at + 1]]));
        at += 2 + len;
        if skip > 0 {
            skip -= 1;
        } else {
            lens.push(len);
        }
    }
    assert_eq!(at, wire.len(), "the stream ends inside a record");
    lens
}

/// A rekey record: its type byte and tag, no data.
const REKEY_LEN: usize = 17;

fn rekeys(p: &Pair, side: usize) -> usize {
    records(p, side).iter().filter(|&&l| l == REKEY_LEN).count()
}

#[test]
fn the_handshake_and_hello_complete_at_every_split_point() {
    let whole = Pair::linked(1, Split::Whole);
    let longest = whole.wire[0].len().max(whole.wire[1].len());
    let mut splits: Vec<Split> = (0..=longest).map(Split::At).collect();
    splits.push(Split::Bytes);
    for split in splits {
        let mut p = Pair::linked(1, split);
        assert!(p.link_up(0) && p.link_up(1), "{split:?}: {:?}", p.events);
        // The same bytes, however they were cut.
        assert_eq!(p.wire, whole.wire, "{split:?}");
        p.send(0, 1);
        p.send(1, 1);
        p.drive();
        assert_eq!((p.received(0), p.received(1)), (1, 1), "{split:?}");
        assert_eq!(p.a.stats().handshakes, 1);
        assert_eq!(p.b.stats().handshakes, 1);
    }
}

#[test]
fn nothing_goes_out_in_plaintext() {
    let mut p = Pair::linked(2, Split::Whole);
    p.send(0, 3);
    p.send(1, 3);
    p.drive();
    assert_eq!((p.received(0), p.received(1)), (3, 3));
    for side in 0..2 {
        let wire = String::from_utf8_lossy(&p.wire[side]);
        for word in ["hi!", "mynameis", "Ames", "Rosenberg", "\"c\""] {
            assert!(!wire.contains(word), "side {side} wrote {word:?} in clear");
        }
    }
}

#[test]
fn frames_wait_for_the_handshake_and_count_as_buffered() {
    let mut p = Pair::new(config(AMES), config(ROSENBERG), 3, Options::default());
    p.dial();
    // The dialler's first handshake bytes, ready to go, and its hello, waiting to be sealed.
    let ready = p.a.outbound(LinkId(0)).len();
    assert_eq!(ready, 4 + 2 + 32);
    let buffered = p.a.stats().buffered_bytes;
    assert!(buffered > ready + 30, "{buffered} bytes buffered");
    p.flush(0);
    assert_eq!(p.a.stats().buffered_bytes, buffered - ready);
    // The acceptor's answer lets the hello through, sealed behind the last handshake message.
    p.flush(1);
    let third = p.flush(0);
    assert!(third.len() > 2 + 96 + 2 + 17 + 30, "{} bytes", third.len());
    assert_eq!(p.a.stats().buffered_bytes, 0);
    p.drive();
    assert!(p.link_up(0) && p.link_up(1));
}

#[test]
fn frames_pushed_together_travel_in_one_record() {
    let mut p = Pair::linked(4, Split::Whole);
    let before = records(&p, 0).len();
    p.send(0, 50);
    let moved = p.flush(0);
    assert_eq!(
        records(&p, 0).len(),
        before + 1,
        "{} bytes moved",
        moved.len()
    );
    p.drive();
    assert_eq!(p.received(1), 50);
}

#[test]
fn the_sending_key_changes_after_the_time_set_in_both_directions() {
    let cfg = |seed| config(seed).with_rekey_after(1000, u64::MAX);
    let mut p = Pair::new(cfg(AMES), cfg(ROSENBERG), 5, Options::default());
    p.dial();
    p.drive();
    for round in 1..=3 {
        p.send(0, 2);
        p.send(1, 2);
        p.drive();
        assert_eq!(rekeys(&p, 0), round - 1);
        assert_eq!(rekeys(&p, 1), round - 1);
        p.advance(1000);
    }
    // Each rekey was followed by records the other side opened under the new key.
    assert_eq!((p.received(0), p.received(1)), (6, 6));
    assert!(p.link_down(0).is_none() && p.link_down(1).is_none());
}

#[test]
fn the_sending_key_changes_after_the_records_set_in_both_directions() {
    let cfg = |seed| config(seed).with_rekey_after(u64::MAX, 4);
    let mut p = Pair::new(cfg(AMES), cfg(ROSENBERG), 6, Options::default());
    p.dial();
    p.drive();
    for _ in 0..20 {
        p.send(0, 1);
        p.send(1, 1);
        p.drive();
    }
    assert_eq!((p.received(0), p.received(1)), (20, 20));
    for side in 0..2 {
        let lens = records(&p, side);
        let data = lens.iter().filter(|&&l| l != REKEY_LEN).count();
        // Every fifth record changes the key: four data records, then a rekey.
        assert!(data >= 20, "side {side}: {data} data records");
        assert_eq!(rekeys(&p, side), (data - 1) / 4, "side {side}: {lens:?}");
    }
}

#[test]
fn the_same_seed_and_inputs_write_the_same_bytes() {
    let run = |seed| {
        let mut p = Pair::linked(seed, Split::Whole);
        p.send(0, 5);
        p.send(1, 5);
        p.advance(10);
        p.wire
    };
    assert_eq!(run(7), run(7));
    assert_ne!(run(7)[0], run(8)[0]);
    assert_ne!(run(7)[1], run(8)[1]);
}

#[test]
fn a_key_not_allowed_for_the_claimed_name_is_refused_by_either_side() {
    // Ames's key is trusted only as "Wolf".
    let mut wolf = Trust::new();
    wolf.insert("Wolf", *identity(AMES).public());
    wolf.insert("Rosenberg", *identity(ROSENBERG).public());
    let b_cfg = SecureConfig::new(identity(ROSENBERG), wolf.clone());
    let mut p = Pair::new(config(AMES), b_cfg, 9, Options::default());
    p.dial();
    p.drive();
    match p.link_down(1) {
        Some(LinkDownReason::Secure(SecureError::KeyNotAllowed {
            name, trusted_for, ..
        })) => {
            assert_eq!(name, "Ames");
            assert_eq!(trusted_for, &["Wolf"]);
        }
        other => panic!("{other:?}"),
    }
    assert!(!p.link_up(1), "Rosenberg registered a refused peer");
    assert_eq!(p.b.stats().secure_refused, 1);
    assert_eq!(p.b.stats().pending_links, 0);

    // The other way round: the dialler checks the name in the answer.
    let a_cfg = SecureConfig::new(identity(AMES), {
        let mut t = Trust::new();
        t.insert("Ames", *identity(AMES).public());
        t.insert("Wolf", *identity(ROSENBERG).public());
        t
    });
    let b_cfg = SecureConfig::new(identity(ROSENBERG), trust());
    let mut p = Pair::new(a_cfg, b_cfg, 9, Options::default());
    p.dial();
    p.drive();
    assert!(
        matches!(
            p.link_down(0),
            Some(LinkDownReason::Secure(SecureError::KeyNotAllowed { name, .. })) if name == "Rosenberg"
        ),
        "{:?}",
        p.events
    );
    assert!(!p.link_up(0));
}

#[test]
fn a_peer_closing_during_the_handshake_is_reported_as_such() {
    let mut p = Pair::new(
        config(AMES),
        config(ROSENBERG).with_psk(Psk::from_bytes([1; 32])),
        10,
        Options::default(),
    );
    p.dial();
    p.drive();
    assert_eq!(
        p.link_down(1),
        Some(&LinkDownReason::Secure(SecureError::PskMissingOnPeer))
    );
    assert_eq!(
        p.link_down(0),
        Some(&LinkDownReason::Secure(SecureError::ClosedDuringHandshake))
    );
    assert_eq!(p.b.stats().secure_refused, 1);
    assert_eq!(p.a.stats().secure_refused, 0);
}

#[test]
fn a_tampered_record_closes_the_link_after_the_records_before_it() {
    let mut p = Pair::linked(11, Split::Whole);
    p.send(0, 1);
    let now = p.now();
    let mut first = Vec::new();
    while let Some(link) = p.a.poll_transmit() {
        first.extend_from_slice(p.a.outbound(link));
        let n = p.a.outbound(link).len();
        p.a.consume_outbound(link, n, now);
    }
    p.send(0, 1);
    let mut second = Vec::new();
    while let Some(link) = p.a.poll_transmit() {
        second.extend_from_slice(p.a.outbound(link));
        let n = p.a.outbound(link).len();
        p.a.consume_outbound(link, n, now);
    }
    let last = second.len() - 1;
    second[last] ^= 1;
    first.extend_from_slice(&second);
    p.deliver(0, &first);
    p.drive();
    assert_eq!(
        p.received(1),
        1,
        "the record before the tampered one was lost"
    );
    assert_eq!(
        p.link_down(1),
        Some(&LinkDownReason::Secure(SecureError::Tampered))
    );
    assert_eq!(p.b.stats().secure_refused, 1);
}

#[test]
fn a_duplicates_refusal_is_sealed() {
    let mut p = Pair::linked(12, Split::Whole);
    // A second Ames, with the same key, dials Rosenberg on its link 1.
    let t0 = p.t0;
    let mut ames2 = Node::new_secure(
        "Ames",
        Options::default(),
        8,
        t0,
        config(AMES),
        Csprng::from_seed([99; 32]),
    )
    .unwrap();
    let now = p.now();
    let c = ames2.connect();
    ames2.handle_link_up(LinkId(0), LinkOrigin::Dialed(c), now);
    p.b.handle_link_up(LinkId(1), LinkOrigin::Accepted, now);
    let mut flush = None;
    for _ in 0..10 {
        while let Some(link) = ames2.poll_transmit() {
            let bytes = ames2.outbound(link).to_vec();
            ames2.consume_outbound(link, bytes.len(), now);
            p.b.handle_bytes(LinkId(1), &bytes, now);
        }
        while let Some(link) = p.b.poll_transmit() {
            let bytes = p.b.outbound(link).to_vec();
            p.b.consume_outbound(link, bytes.len(), now);
            if link == LinkId(1) {
                ames2.handle_bytes(LinkId(0), &bytes, now);
            }
        }
        while let Some(action) = p.b.poll_action() {
            if let Action::Close {
                link: LinkId(1),
                flush: f,
            } = action
            {
                flush = Some(f);
            }
        }
    }
    let flush = flush.expect("the duplicate was not closed");
    assert!(!flush.is_empty(), "no answer to the duplicate");
    assert!(
        !String::from_utf8_lossy(&flush).contains("hi!"),
        "the refusal went out in plaintext"
    );
    ames2.handle_bytes(LinkId(0), &flush, now);
    let events: Vec<Event> = std::iter::from_fn(|| ames2.poll_event()).collect();
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::LinkUp { peer, .. } if peer == "Rosenberg")),
        "the refused dialler did not learn whom it reached: {events:?}"
    );
    assert!(p.b.has_link(LinkId(0)), "the existing link was replaced");
    let events: Vec<Event> = std::iter::from_fn(|| p.b.poll_event()).collect();
    assert!(
        events.contains(&Event::LinkDown {
            link: LinkId(1),
            peer: None,
            reason: LinkDownReason::Duplicate {
                name: "Ames".into()
            }
        }),
        "{events:?}"
    );
}

#[test]
fn a_new_trust_list_closes_exactly_the_links_it_revokes() {
    let mut p = Pair::linked(13, Split::Whole);
    let now = p.now();
    // Still trusted: nothing closes.
    assert_eq!(p.b.set_trust(trust(), now).unwrap(), 0);
    let mut without_ames = Trust::new();
    without_ames.insert("Rosenberg", *identity(ROSENBERG).public());
    without_ames.insert("Wolf", *identity(AMES).public());
    assert_eq!(p.b.set_trust(without_ames, now).unwrap(), 1);
    p.drive();
    match p.link_down(1) {
        Some(LinkDownReason::Secure(SecureError::Revoked { name, key })) => {
            assert_eq!(name, "Ames");
            assert_eq!(*key, identity(AMES).public().to_string());
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(p.b.stats().revoked, 1);
    assert_eq!(p.b.stats().secure_refused, 0);
    // Ames dials again: its key is now trusted only as "Wolf".
    p.advance(60_000);
    let refused = p.events[1].iter().filter(|e| {
        matches!(
            e,
            Event::LinkDown {
                reason: LinkDownReason::Secure(SecureError::KeyNotAllowed { .. }),
                ..
            }
        )
    });
    assert!(refused.count() >= 1, "{:?}", p.events[1]);
    assert_eq!(p.b.stats().revoked, 1);
    assert!(p.b.stats().secure_refused >= 1);
}

#[test]
fn only_a_secure_node_has_a_trust_list_to_replace() {
    let now = Instant::now();
    let mut plain = Node::new("Plain", Options::default(), 7, now).unwrap();
    assert!(matches!(
        plain.set_trust(trust(), now),
        Err(Error::Config(_))
    ));
    assert!(plain.trust().is_none() && !plain.is_secure());
}

#[test]
fn the_last_frames_of_a_link_closed_on_purpose_go_out_sealed() {
    let mut p = Pair::linked(14, Split::Whole);
    p.send(1, 3);
    let now = p.now();
    p.b.disconnect_name("Ames", now).unwrap();
    p.drive();
    assert_eq!(p.received(0), 3, "{:?}", p.events[0]);
    assert_eq!(p.link_down(0), Some(&LinkDownReason::PeerClosed));
    assert_eq!(p.link_down(1), Some(&LinkDownReason::Disconnected));
}
