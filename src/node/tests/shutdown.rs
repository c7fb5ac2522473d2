//! Graceful shutdown: new work refused, confirmations awaited up to the deadline, every link
//! closed, what was left unconfirmed reported.

use super::*;

/// A v2 peer "A" on link 0, settled.
fn with_peer() -> Script {
    let mut s = Script::new("Me");
    accept_v2(&mut s, 0, "A");
    s.advance(100);
    s.sent(0);
    s.events();
    s
}

/// The sequence numbers of the numbered messages among `frames`.
fn numbers(frames: &[String]) -> Vec<u64> {
    frames
        .iter()
        .filter_map(|f| serde_json::from_str::<serde_json::Value>(f).ok())
        .filter(|v| v["c"] == "msg")
        .filter_map(|v| v["s"].as_u64())
        .collect()
}

fn send(s: &mut Script, to: &str) -> Result<MessageId, SendError> {
    let now = s.now();
    s.node.send_message(to, RawValue::NULL, now)
}

#[test]
fn shutdown_waits_for_the_confirmations_then_closes_every_link() {
    let mut s = with_peer();
    send(&mut s, "A").unwrap();
    send(&mut s, "A").unwrap();
    let seq = numbers(&s.sent(0));
    assert_eq!(seq.len(), 2);
    let now = s.now();
    s.node.shutdown(now + Duration::from_secs(5), now);
    assert!(s.node.is_shutting_down() && !s.node.is_shut_down());
    assert_eq!(send(&mut s, "A"), Err(SendError::ShuttingDown));
    assert!(s.actions().is_empty(), "closed before the confirmation");
    s.advance(50);
    assert!(s.actions().is_empty());
    // Messages that arrive meanwhile are still handed over.
    s.recv(0, r#"{"c":"msg","f":"A","t":"Me","m":7,"h":1}"#);
    assert!(matches!(&s.events()[..], [Event::Message { .. }]));
    s.recv(
        0,
        &format!(r#"{{"c":"ack","f":"A","t":"Me","i":7,"s":{}}}"#, seq[1]),
    );
    let events = s.events();
    assert_eq!(
        events,
        [
            Event::Delivered {
                to: "A".into(),
                id: MessageId(0)
            },
            Event::Delivered {
                to: "A".into(),
                id: MessageId(1)
            },
            Event::LinkDown {
                link: LinkId(0),
                peer: Some("A".into()),
                reason: LinkDownReason::Disconnected
            },
            lose("A"),
            Event::ShutdownComplete {
                unconfirmed: vec![]
            },
        ]
    );
    assert!(matches!(
        &s.actions()[..],
        [Action::Close {
            link: LinkId(0),
            ..
        }]
    ));
    assert!(s.node.is_shut_down());
    assert_eq!(s.node.next_timeout(), None);
    // A connection that comes up now is closed at once, unreported.
    s.up(1, LinkOrigin::Accepted);
    assert!(matches!(
        &s.actions()[..],
        [Action::Close {
            link: LinkId(1),
            ..
        }]
    ));
    assert!(s.events().is_empty());
}

#[test]
fn at_the_deadline_what_is_unconfirmed_is_reported() {
    let mut s = with_peer();
    send(&mut s, "A").unwrap();
    send(&mut s, "Nobody").unwrap();
    send(&mut s, "A").unwrap();
    s.sent(0);
    let now = s.now();
    s.node.shutdown(now + Duration::from_secs(1), now);
    s.advance(999);
    assert!(!s.node.is_shut_down(), "{:?}", s.events());
    s.advance(1);
    let events = s.events();
    assert_eq!(
        events.last(),
        Some(&Event::ShutdownComplete {
            unconfirmed: vec![
                ("A".into(), MessageId(0)),
                ("A".into(), MessageId(2)),
                ("Nobody".into(), MessageId(1)),
            ]
        }),
        "{events:?}"
    );
    assert_eq!(s.node.stats().queued_messages, 0);
}

#[test]
fn nothing_is_dialled_while_shutting_down() {
    let mut s = with_peer();
    let c = s.node.connect();
    assert_eq!(s.actions(), [Action::Dial(c)]);
    // With nothing held, the shutdown is over at once.
    let now = s.now();
    s.node.shutdown(now + Duration::from_secs(5), now);
    assert!(s.node.is_shut_down());
    assert!(matches!(
        s.events().last(),
        Some(Event::ShutdownComplete { unconfirmed }) if unconfirmed.is_empty()
    ));
    s.actions();
    // The dial in progress completes: closed at once, and never re-dialled.
    s.up(1, LinkOrigin::Dialed(c));
    assert!(matches!(&s.actions()[..], [Action::Close { .. }]));
    s.advance(10_000);
    assert!(s.actions().is_empty());
    // A new connect fails at once.
    let c2 = s.node.connect();
    assert!(s.actions().is_empty());
    assert!(matches!(
        &s.events()[..],
        [Event::ConnectFailed { connect, retry_in: None, .. }] if *connect == c2
    ));
}
