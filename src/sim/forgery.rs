//! Forged descriptions on the testbed, in virtual time: a member of the mesh (Mallory) sends a
//! description of another agent at the most extreme versions a peer can send, and the victim
//! must be back on the mesh, carrying messages, within the bounds `node/flooding.rs` states:
//! - a version above what the wire carries (2^64 − 1) closes Mallory's link and changes
//!   nothing;
//! - a forged description at the top of the number space (2^53) that takes every edge of the
//!   victim away is forgotten everywhere after the minute a description nobody reaches is
//!   kept, and the victim floods its own again a margin later;
//! - one that keeps the victim reachable with a frozen picture is forgotten after its
//!   lifetime, and the victim floods its own again a margin later;
//! - below the top, the victim re-announces above it as soon as it reaches it, by flooding
//!   or in the database exchange when the victim comes back.
//!
//! The mesh is A – R – B, with Mallory linked to A only: a forgery enters at A and reaches
//! the victim (R, one hop on; B, two) the way any description does.
//!
//! On secure links (feature `secure`) the same forgeries, and messages and confirmations in
//! others' names, change nothing: A counts each as forged and passes none on; and a sealed
//! body crosses R and arrives as it was written.

use std::time::Duration;

use serde_json::value::RawValue;

use super::testbed::Testbed;
use crate::wire::MAX_NUMBER;
use crate::{Event, LinkDownReason, Options};

/// How long a description nobody reaches is kept (`node/flooding.rs`).
const KEEP: Duration = Duration::from_secs(60);

/// What an outranked victim waits beyond the keep or the lifetime before flooding its own
/// description again (`node/flooding.rs`).
const MARGIN: Duration = Duration::from_secs(5);

/// Time for a flood and a route computation to settle after the bound: a few hops of 1 ms and
/// the hold-downs, with room.
const SETTLE: Duration = Duration::from_millis(500);

/// Quick reconnection, so that Mallory comes back soon after a link closed on her.
fn opts() -> Options {
    Options {
        auto_reconnect_interval: Duration::from_millis(50),
        ..Options::default()
    }
}

/// The mesh A – R – B with Mallory linked to A, settled: (A, R, B, Mallory) and B's call to R.
fn mesh() -> (Testbed, [usize; 4], crate::ConnectId) {
    let mut t = Testbed::new();
    let [a, r, b, m] = ["A", "R", "B", "Mallory"].map(|n| t.add(n, opts()));
    t.connect(a, r);
    let b_to_r = t.connect(b, r);
    t.connect(m, a);
    t.drive_until("A and B reach each other", Duration::from_secs(10), |t| {
        t.reaches(a, "B") && t.reaches(b, "A") && t.reaches(a, "Mallory")
    });
    t.settle(Duration::from_secs(10));
    (t, [a, r, b, m], b_to_r)
}

/// Mallory sends A a description of `origin` at `(inc, seq)` listing `peers`.
fn forge(
    t: &mut Testbed,
    [a, _, _, m]: [usize; 4],
    origin: &str,
    inc: u64,
    seq: u64,
    peers: &[&str],
) {
    let n = serde_json::to_string(peers).expect("names");
    let lsa = format!(r#"{{"c":"lsa","o":"{origin}","i":{inc},"s":{seq},"n":{n},"x":[]}}"#);
    t.inject(m, a, &lsa);
}

/// Mallory tries the largest numbers there are: A closes her link, saying why, and the
/// description goes nowhere; she dials again.
fn forge_beyond_the_wire(t: &mut Testbed, s: [usize; 4], origin: &str) {
    let [a, _, _, m] = s;
    let before = link_downs(t, a);
    forge(t, s, origin, u64::MAX, u64::MAX, &[]);
    t.drive_until("A closes Mallory's link", Duration::from_secs(1), |t| {
        link_downs(t, a) > before
    });
    let said = t.log(a).iter().rev().find_map(|e| match e {
        Event::LinkDown { reason, .. } => Some(reason.to_string()),
        _ => None,
    });
    assert!(
        said.as_deref().is_some_and(|r| r.contains("2^53")),
        "the reason names the limit: {said:?}"
    );
    t.drive_until("Mallory is back", Duration::from_secs(5), |t| {
        t.direct(a, "Mallory") && t.direct(m, "A")
    });
    for (i, name) in [(0, "A"), (1, "R"), (2, "B")] {
        let own = t.node(s[i]).lsdb().own();
        assert!(
            own.inc < MAX_NUMBER && own.seq < MAX_NUMBER,
            "{name}: {own:?}"
        );
    }
}

fn link_downs(t: &Testbed, i: usize) -> usize {
    t.log(i)
        .iter()
        .filter(|e| {
            matches!(
                e,
                Event::LinkDown {
                    reason: LinkDownReason::Wire(_),
                    ..
                }
            )
        })
        .count()
}

/// A sends B a numbered message through R; waits until B has it and A has its confirmation.
pub(super) fn a_message_goes_through(t: &mut Testbed, [a, _, b, _]: [usize; 4], body: &str) {
    let raw = RawValue::from_string(body.to_owned()).expect("JSON");
    let id = t
        .command(a, |n, now| n.send_message("B", &raw, now))
        .expect("sent");
    t.drive_until("the message is delivered and confirmed", SETTLE, |t| {
        let got = t.log(b).iter().any(|e| {
            matches!(e, Event::Message { from, body: got, .. } if from == "A" && got.get() == body)
        });
        let confirmed = t
            .log(a)
            .iter()
            .any(|e| matches!(e, Event::Delivered { id: d, .. } if *d == id));
        got && confirmed
    });
}

/// Drives until A reaches B again and returns how long after `since` (virtual) that was;
/// panics if not within `bound`.
fn back_within(
    t: &mut Testbed,
    [a, _, b, _]: [usize; 4],
    since: Duration,
    bound: Duration,
) -> Duration {
    let left = (since + bound).saturating_sub(t.elapsed());
    t.drive_until("A and B reach each other again", left, |t| {
        t.reaches(a, "B") && t.reaches(b, "A")
    });
    t.elapsed() - since
}

#[test]
fn a_forged_top_description_taking_a_relay_off_the_mesh_lasts_a_minute_and_a_margin() {
    let (mut t, s, _) = mesh();
    let [a, r, _, _] = s;
    a_message_goes_through(&mut t, s, "1");
    forge_beyond_the_wire(&mut t, s, "R");
    a_message_goes_through(&mut t, s, "2");

    // R described with no links, at the top: nobody reaches B through R any more.
    let since = t.elapsed();
    forge(&mut t, s, "R", MAX_NUMBER, MAX_NUMBER, &[]);
    t.drive_until("the forgery takes effect", SETTLE, |t| !t.reaches(a, "B"));
    assert!(t.node(r).stats().outranked, "R knows it is outranked");
    let took = back_within(&mut t, s, since, KEEP + MARGIN + SETTLE);
    assert!(took >= KEEP, "not before A forgot the forgery: {took:?}");
    a_message_goes_through(&mut t, s, "3");
}

#[test]
fn a_forged_top_description_freezing_a_relays_picture_lasts_a_lifetime_and_a_margin() {
    let (mut t, s, _) = mesh();
    let [a, r, _, _] = s;
    forge_beyond_the_wire(&mut t, s, "R");

    // R described as linked to A only, at the top: A still reaches R, but not B behind it.
    let since = t.elapsed();
    forge(&mut t, s, "R", MAX_NUMBER, MAX_NUMBER, &["A"]);
    t.drive_until("the forgery takes effect", SETTLE, |t| !t.reaches(a, "B"));
    assert!(t.reaches(a, "R"));
    assert!(t.node(r).stats().outranked, "R knows it is outranked");
    let lifetime = opts().description_lifetime;
    let took = back_within(&mut t, s, since, lifetime + MARGIN + SETTLE);
    assert!(
        took >= lifetime,
        "not before A forgot the forgery: {took:?}"
    );
    a_message_goes_through(&mut t, s, "1");
}

#[test]
fn a_forged_top_description_of_an_agent_further_away_reaches_it_and_lasts_a_minute_and_a_margin() {
    let (mut t, s, _) = mesh();
    let [a, r, b, _] = s;
    forge_beyond_the_wire(&mut t, s, "B");

    // B, two hops from where the forgery enters, described with no links at the top. R, its
    // peer, holds the forgery too, and must forget it as A does.
    let since = t.elapsed();
    forge(&mut t, s, "B", MAX_NUMBER, MAX_NUMBER, &[]);
    t.drive_until("the forgery reaches B", SETTLE, |t| {
        t.node(b).stats().outranked && !t.reaches(a, "B")
    });
    assert!(
        t.node(r)
            .lsdb()
            .get("B")
            .is_some_and(|d| d.inc == MAX_NUMBER)
    );
    let took = back_within(&mut t, s, since, KEEP + MARGIN + SETTLE);
    assert!(
        took >= KEEP,
        "not before the forgery was forgotten: {took:?}"
    );
    a_message_goes_through(&mut t, s, "1");
}

#[test]
fn a_forged_description_of_an_agent_away_reaches_it_when_it_comes_back_and_it_answers_from_above() {
    let (mut t, s, b_to_r) = mesh();
    let [a, r, b, _] = s;
    // B leaves; A and R still hold its description (kept a minute).
    t.command(b, |n, now| n.disconnect_connect(b_to_r, now))
        .expect("B's call");
    t.drive_until("B is gone", SETTLE, |t| {
        !t.reaches(a, "B") && !t.direct(r, "B")
    });
    forge_beyond_the_wire(&mut t, s, "B");

    // A forged description of B, far above its own but below the top, listing R.
    forge(&mut t, s, "B", MAX_NUMBER - 5, MAX_NUMBER, &["R"]);
    t.drive_until("R holds the forgery", SETTLE, |t| {
        t.node(r)
            .lsdb()
            .get("B")
            .is_some_and(|d| d.inc == MAX_NUMBER - 5)
    });
    // B comes back: the database exchange with R brings it the forgery, and it answers
    // from above at once.
    t.connect(b, r);
    let since = t.elapsed();
    back_within(&mut t, s, since, SETTLE);
    let own = t.node(b).lsdb().own();
    assert_eq!(
        own.inc,
        MAX_NUMBER - 4,
        "the incarnation after the forged one"
    );
    for i in [a, r] {
        let held = t.node(i).lsdb().get("B").map(|d| (d.inc, d.seq));
        assert_eq!(held, Some((own.inc, own.seq)));
    }
    assert!(!t.node(b).stats().outranked);
    assert_eq!(t.node(b).stats().own_overtaken, 1);
    a_message_goes_through(&mut t, s, "1");
}

/// The agents of the secure mesh, in the order of their stations.
#[cfg(feature = "secure")]
pub(super) const SECURE_NAMES: [&str; 4] = ["A", "R", "B", "Mallory"];

/// The key of agent `i` of [`SECURE_NAMES`].
#[cfg(feature = "secure")]
pub(super) fn secure_identity(i: usize) -> crate::secure::Identity {
    crate::secure::Identity::from_seed([i as u8 + 1; 32])
}

/// A trust list allowing each of `names` (of [`SECURE_NAMES`]) its key.
#[cfg(feature = "secure")]
pub(super) fn secure_trust(names: &[&str]) -> crate::secure::Trust {
    let mut trust = crate::secure::Trust::new();
    for (i, n) in SECURE_NAMES.iter().enumerate() {
        if names.contains(n) {
            trust.insert(n, *secure_identity(i).public());
        }
    }
    trust
}

/// Starts agent `i` of [`SECURE_NAMES`] on secure links, trusting them all, sealing its
/// bodies when `seal`; its randomness comes from `seed`. Returns its station.
#[cfg(feature = "secure")]
pub(super) fn secure_station(t: &mut Testbed, i: usize, seal: bool, seed: u8) -> usize {
    use crate::node::Node;
    use crate::secure::{Csprng, SecureConfig};
    let trust = secure_trust(&SECURE_NAMES);
    let config = SecureConfig::new(secure_identity(i), trust).with_sealed_bodies(seal);
    t.add_with(|inc, now| {
        let rng = Csprng::from_seed([seed; 32]);
        Node::new_secure(SECURE_NAMES[i], opts(), inc, now, config, rng)
    })
}

/// The same mesh on secure links: every agent trusts every other's key, and Mallory is one of
/// them. Her forgeries go through her own core, inside its link to A.
#[cfg(feature = "secure")]
pub(super) fn secure_mesh(seal: bool) -> (Testbed, [usize; 4]) {
    let mut t = Testbed::new();
    let s = [0, 1, 2, 3].map(|i| secure_station(&mut t, i, seal, i as u8));
    let [a, r, b, m] = s;
    t.connect(a, r);
    t.connect(b, r);
    t.connect(m, a);
    t.drive_until("A and B reach each other", Duration::from_secs(10), |t| {
        t.reaches(a, "B") && t.reaches(b, "A") && t.reaches(a, "Mallory")
    });
    t.settle(Duration::from_secs(10));
    (t, s)
}

#[cfg(feature = "secure")]
#[test]
fn on_secure_links_forgeries_at_the_top_change_nothing_and_are_counted() {
    let (mut t, s) = secure_mesh(false);
    let [a, r, b, m] = s;
    a_message_goes_through(&mut t, s, "1");
    // Descriptions of R and of B at the top taking their links away, and of A itself; a
    // message and a confirmation in B's name.
    let top = MAX_NUMBER;
    for origin in ["R", "B", "A"] {
        let lsa = format!(r#"{{"c":"lsa","o":"{origin}","i":{top},"s":{top},"n":[],"x":[]}}"#);
        t.forge(m, a, &lsa);
    }
    t.forge(
        m,
        a,
        r#"{"c":"msg","f":"B","t":"A","m":"forged","h":2,"i":3,"s":1,"b":1}"#,
    );
    t.forge(m, a, r#"{"c":"ack","f":"B","t":"A","i":1,"s":1000,"h":2}"#);
    t.drive_checking(SETTLE, "the forgeries took effect", |t| {
        !t.reaches(a, "B") || t.node(r).stats().outranked || t.node(b).stats().outranked
    });
    let stats = t.node(a).stats();
    assert_eq!(
        (
            stats.forged_descriptions,
            stats.forged_messages,
            stats.forged_confirmations
        ),
        (3, 1, 1)
    );
    assert_eq!(stats.own_overtaken, 0);
    for i in [r, b] {
        assert_eq!(t.node(i).stats().forged_descriptions, 0, "never passed on");
    }
    assert!(!t.log(a).iter().any(|e| matches!(
        e,
        Event::Message { body, .. } if body.get() == r#""forged""#
    )));
    a_message_goes_through(&mut t, s, "2");
}

#[cfg(feature = "secure")]
#[test]
fn on_secure_links_a_sealed_body_crosses_a_relay_and_arrives_as_written() {
    let (mut t, s) = secure_mesh(true);
    let secret = r#"{"subject":"Meeting","content":"KGB meeting in Moscow"}"#;
    a_message_goes_through(&mut t, s, secret);
    let [_, r, b, _] = s;
    assert!(t.node(r).stats().relayed > 0, "it went through R");
    let stats = t.node(b).stats();
    assert_eq!(stats.forged_messages + stats.rejected, 0);
}
