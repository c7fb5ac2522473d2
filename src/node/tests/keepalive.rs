//! Keepalive: pings answered, silence pinged, an unanswered ping closing the link.

use super::*;

#[test]
fn ping_is_answered_before_and_after_hello() {
    let mut s = Script::new("Wolf");
    s.up(3, LinkOrigin::Accepted);
    s.recv(3, r#"{"c":"ping"}"#);
    assert_eq!(s.sent(3), vec![r#"{"a":"ping"}"#]);
    s.recv(3, r#"{"c":"hi!","mynameis":"Ames","iknow":[]}"#);
    s.sent(3);
    s.recv(3, r#"{"c":"ping"}"#);
    assert_eq!(s.sent(3), vec![r#"{"a":"ping"}"#]);
}

#[test]
fn silence_brings_a_ping_and_no_answer_closes_the_link() {
    let mut s = Script::new("Wolf");
    s.accept_peer(0, "Ames", &[]);
    s.sent(0);
    s.events();
    s.advance(4999);
    assert!(s.sent(0).is_empty());
    s.advance(1);
    assert_eq!(s.sent(0), vec![r#"{"c":"ping"}"#]);
    s.advance(1499);
    assert!(s.events().is_empty());
    s.advance(1);
    assert_eq!(
        s.events(),
        vec![
            Event::LinkDown {
                link: LinkId(0),
                peer: Some("Ames".into()),
                reason: LinkDownReason::PingTimeout
            },
            lose("Ames")
        ]
    );
    assert!(matches!(
        s.actions()[..],
        [Action::Close {
            link: LinkId(0),
            ..
        }]
    ));
}

#[test]
fn any_frame_counts_as_a_sign_of_life() {
    let mut s = Script::new("Wolf");
    s.accept_peer(0, "Ames", &[]);
    s.sent(0);
    s.advance(5000);
    assert_eq!(s.sent(0), vec![r#"{"c":"ping"}"#]);
    s.advance(700);
    s.recv(0, r#"{"a":"ping"}"#);
    s.advance(10_000);
    // Pinged again after a new silence, never closed.
    assert!(
        !s.events()
            .iter()
            .any(|e| matches!(e, Event::LinkDown { .. }))
    );
    assert!(s.node.has_link(LinkId(0)));
}
