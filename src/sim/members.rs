//! What a trusted member of a secure mesh can no longer get, on the testbed in virtual time.
//! The mesh is `forgery.rs`'s, A – R – B with Mallory linked to A, every agent trusting every
//! other's key; Mallory's lies go through her own core, inside her link's encryption.
//! - **Traffic for a claimed name.** Mallory's own description, genuinely signed, claims a
//!   name behind a v1 peer: no agent takes it, nobody routes to the name, and what the
//!   others send to it waits instead of reaching her in clear.
//! - **Trust after revocation.** B reloads a trust file without Mallory's key while A and R,
//!   which link her to B, do not: B forgets her description at once, and her messages
//!   through them are forgeries there.
//! - **Replays to a restarted destination.** R replays to B a message it relayed from A: B
//!   takes it as a duplicate, and once B restarted, as a message for its earlier run; it is
//!   never handed over twice.

use std::time::Duration;

use serde_json::value::RawValue;

use super::forgery::{
    a_message_goes_through, secure_identity, secure_mesh, secure_station, secure_trust,
};
use super::testbed::Testbed;
use crate::Event;
use crate::secure::{MessageFields, PairKey, encode, signed_description};

/// Time for a flood and a route computation to settle: a few hops of 1 ms and the hold-downs.
const SETTLE: Duration = Duration::from_millis(500);

/// Long enough for several retransmissions of a message nobody confirms.
const WHILE: Duration = Duration::from_secs(10);

/// Whether station `i` handed over a message from `from` with `body`.
fn handed_over(t: &Testbed, i: usize, from: &str, body: &str) -> bool {
    t.log(i).iter().any(
        |e| matches!(e, Event::Message { from: f, body: b, .. } if f == from && b.get() == body),
    )
}

#[test]
fn a_member_claiming_a_name_behind_a_v1_peer_draws_no_traffic_for_it() {
    for seal in [false, true] {
        let (mut t, s) = secure_mesh(seal);
        let [a, r, _, m] = s;
        // Mallory's next version, signed with her own key, listing Victor behind a v1 peer.
        let own = t.node(m).lsdb().own();
        let (inc, seq) = (own.inc, own.seq + 100);
        let mut signed = Vec::new();
        let (mut n, mut p, mut x) = (["A"].into_iter(), [].into_iter(), ["Victor"].into_iter());
        signed_description(&mut signed, "Mallory", inc, seq, [&mut n, &mut p, &mut x]);
        let key = secure_identity(3);
        let lsa = format!(
            r#"{{"c":"lsa","o":"Mallory","i":{inc},"s":{seq},"n":["A"],"x":["Victor"],"k":"{}","g":"{}"}}"#,
            encode(&key.public().to_bytes()),
            encode(&key.sign(&signed))
        );
        t.forge(m, a, &lsa);
        t.drive_checking(SETTLE, "an agent routes to Victor", |t| {
            t.reaches(a, "Victor") || t.reaches(r, "Victor")
        });
        assert_eq!(t.node(a).stats().forged_descriptions, 1, "seal {seal}");
        let raw = RawValue::from_string(r#"{"secret":"for Victor only"}"#.to_owned()).unwrap();
        for i in [a, r] {
            t.command(i, |n, now| n.send_message("Victor", &raw, now))
                .expect("queued");
        }
        t.drive_checking(WHILE, "a message for Victor reached Mallory", |t| {
            let got = t.node(m).stats();
            got.forged_messages + got.relayed + got.relay_dropped > 0
        });
        for i in [a, r] {
            assert_eq!(t.node(i).queued_for("Victor"), 1, "it waits, seal {seal}");
        }
        assert_eq!(t.node(r).stats().forged_descriptions, 0, "never passed on");
        a_message_goes_through(&mut t, s, "1");
    }
}

#[test]
fn after_a_reload_a_revoked_members_messages_through_relays_are_forgeries() {
    let (mut t, s) = secure_mesh(false);
    let [a, r, b, m] = s;
    let raw = RawValue::from_string(r#""from Mallory""#.to_owned()).unwrap();
    t.command(m, |n, now| n.send_message("B", &raw, now))
        .expect("sent");
    t.drive_until("B takes Mallory's message", SETTLE, |t| {
        handed_over(t, b, "Mallory", r#""from Mallory""#)
    });
    // Only B reloads: Mallory's link is to A, which keeps it, and so does R.
    let trust = secure_trust(&["A", "R", "B"]);
    let closed = t
        .command(b, |n, now| n.set_trust(trust, now))
        .expect("a secure node");
    assert_eq!(closed, 0);
    assert!(
        t.node(b).lsdb().get("Mallory").is_none(),
        "forgotten at once"
    );
    t.drive_until("B loses Mallory", SETTLE, |t| !t.reaches(b, "Mallory"));
    assert!(
        t.log(b)
            .iter()
            .any(|e| matches!(e, Event::Lose { name } if name == "Mallory"))
    );
    assert!(t.reaches(a, "Mallory") && t.reaches(r, "Mallory"));
    let raw = RawValue::from_string(r#""from revoked Mallory""#.to_owned()).unwrap();
    t.command(m, |n, now| n.send_message("B", &raw, now))
        .expect("sent");
    t.drive_until("B counts Mallory's message as forged", SETTLE, |t| {
        t.node(b).stats().forged_messages > 0
    });
    t.drive_checking(WHILE, "B took a message of Mallory's", |t| {
        handed_over(t, b, "Mallory", r#""from revoked Mallory""#) || t.reaches(b, "Mallory")
    });
    let stats = t.node(b).stats();
    assert_eq!(stats.forged_confirmations, 0);
    a_message_goes_through(&mut t, s, "1");
}

#[test]
fn a_relay_replaying_a_message_to_its_restarted_destination_gets_it_handed_over_once() {
    let (mut t, s) = secure_mesh(false);
    let [a, r, b, m] = s;
    a_message_goes_through(&mut t, s, r#""once""#);
    // What R relayed: A's first message to B, for B's run. R replays it as A wrote it (the
    // frame made again here from the keys; R could as well have kept the bytes).
    let (inc_a, inc_b) = (t.node(a).incarnation(), t.node(b).lsdb().own().inc);
    let pair = PairKey::derive(&secure_identity(0), secure_identity(2).public()).unwrap();
    let tag = pair.tag_message(&MessageFields {
        from: "A",
        to: "B",
        inc: inc_a,
        seq: 1,
        base: 1,
        to_inc: inc_b,
        sealed: false,
        body: r#""once""#,
    });
    let replay = format!(
        r#"{{"c":"msg","f":"A","t":"B","m":"once","h":2,"i":{inc_a},"s":1,"b":1,"d":{inc_b},"g":"{}"}}"#,
        encode(&tag)
    );
    // To the same run: a genuine duplicate.
    t.forge(r, b, &replay);
    t.drive_until("B sees the duplicate", SETTLE, |t| {
        t.node(b).stats().duplicates == 1
    });
    // B restarts, in a new incarnation, and comes back to R.
    t.vanish(b);
    t.drive_until("B is gone", SETTLE, |t| !t.reaches(a, "B"));
    let b2 = secure_station(&mut t, 2, false, 9);
    t.connect(b2, r);
    t.drive_until("A and B reach each other again", SETTLE, |t| {
        t.reaches(a, "B") && t.reaches(b2, "A")
    });
    assert_ne!(t.node(b2).lsdb().own().inc, inc_b);
    t.forge(r, b2, &replay);
    t.drive_until("B drops the replay", SETTLE, |t| {
        t.node(b2).stats().rejected > 0
    });
    t.drive_checking(SETTLE, "B hands the replay over", |t| {
        handed_over(t, b2, "A", r#""once""#)
    });
    let stats = t.node(b2).stats();
    assert_eq!((stats.forged_messages, stats.rejected), (0, 1));
    a_message_goes_through(&mut t, [a, r, b2, m], r#""after""#);
}
