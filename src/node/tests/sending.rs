//! This agent's own messages: queued until a route exists, limits, to itself, outboxes kept.

use super::*;

#[test]
fn messages_for_an_unknown_name_wait_until_it_is_met() {
    let mut s = Script::new("Wolf");
    let body = RawValue::from_string("{\"n\":1}".into()).unwrap();
    let now = s.now();
    s.node.send_message("Rosenberg", &body, now).unwrap();
    s.node.send_message("Rosenberg", &body, now).unwrap();
    assert_eq!(s.node.queued_for("Rosenberg"), 2);
    s.accept_peer(0, "Ames", &[]);
    s.sent(0);
    s.recv(0, r#"{"c":"imcon4","who":["Rosenberg"]}"#);
    let m = r#"{"c":"msg","f":"Wolf","t":"Rosenberg","m":{"n":1}}"#;
    assert_eq!(s.sent(0), vec![m, m]);
    assert_eq!(s.node.stats().queued_messages, 0);
}

#[test]
fn without_queueing_an_unknown_name_is_an_error() {
    let opts = Options {
        queue_messages: false,
        ..Options::default()
    };
    let mut s = Script::with("Wolf", opts);
    let now = s.now();
    let err = s
        .node
        .send_message("Nobody", RawValue::NULL, now)
        .unwrap_err();
    assert_eq!(
        err,
        SendError::Unreachable {
            to: "Nobody".into()
        }
    );
}

#[test]
fn the_queue_limit_holds_and_keeps_what_it_has() {
    let opts = Options {
        max_queued_per_destination: 3,
        ..Options::default()
    };
    let mut s = Script::with("Wolf", opts);
    let now = s.now();
    for _ in 0..3 {
        s.node.send_message("X", RawValue::NULL, now).unwrap();
    }
    assert_eq!(
        s.node.send_message("X", RawValue::NULL, now),
        Err(SendError::QueueFull {
            to: "X".into(),
            limit: 3
        })
    );
    assert_eq!(s.node.queued_for("X"), 3);
}

#[test]
fn a_message_to_myself_is_delivered_at_once() {
    let mut s = Script::new("Wolf");
    let now = s.now();
    s.node.send_message("Wolf", RawValue::NULL, now).unwrap();
    let ev = s.events();
    assert!(
        matches!(&ev[..], [Event::Message { from, via, .. }] if from == "Wolf" && via == "Wolf")
    );
}

#[test]
fn a_request_response_exchange_keeps_its_outbox_and_round_trip_estimate() {
    let mut s = Script::new("Me");
    accept_v2(&mut s, 0, "A");
    s.advance(100);
    s.sent(0);
    s.events();
    let body = RawValue::from_string("1".into()).unwrap();
    let numbered = |frames: &[String]| -> Vec<u64> {
        frames
            .iter()
            .filter_map(|f| f.strip_prefix(r#"{"c":"msg","f":"Me","t":"A","m":1,"h":1,"i":7,"s":"#))
            .map(|rest| rest.split(',').next().unwrap().parse().unwrap())
            .collect()
    };
    // Request, answer 10 ms later: the outbox that held the request outlives it.
    for _ in 0..5 {
        let now = s.now();
        s.node.send_message("A", &body, now).unwrap();
        let seq = numbered(&s.sent(0));
        assert_eq!(seq.len(), 1);
        s.advance(10);
        s.recv(
            0,
            &format!(r#"{{"c":"ack","f":"A","t":"Me","i":7,"s":{}}}"#, seq[0]),
        );
        assert!(
            s.events()
                .iter()
                .any(|e| matches!(e, Event::Delivered { .. })),
            "confirmed"
        );
        assert_eq!(s.node.queued_for("A"), 0);
        assert_eq!(s.node.outboxes.len(), 1, "the emptied outbox is kept");
        // The outbox's, the link's keepalive, hello and database exchange, the description's
        // refresh, and a stale one: one timer per message would be five more by the end.
        assert!(
            s.node.timers.len() <= 6,
            "one timer per outbox (beside the link's and the description's), \
             not one per message: {}",
            s.node.timers.len()
        );
    }
    // A lost request is resent on the round-trip estimate of 10 ms (the 100 ms floor), not
    // on the 500 ms a destination without history gets.
    let now = s.now();
    s.node.send_message("A", &body, now).unwrap();
    let first = numbered(&s.sent(0));
    let mut waited = 0;
    while waited < 1000 && numbered(&s.sent(0)) != first {
        s.advance(10);
        waited += 10;
    }
    assert!(waited <= 200, "resent after {waited} ms");
    // Once nothing is held and its timer has fired, the outbox goes.
    s.recv(
        0,
        &format!(r#"{{"c":"ack","f":"A","t":"Me","i":7,"s":{}}}"#, first[0]),
    );
    s.advance(6_000);
    assert_eq!(s.node.outboxes.len(), 0);
}
