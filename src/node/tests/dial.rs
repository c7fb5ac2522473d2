//! Dialling: reconnection after a drop or a failure, none after `disconnect`, dormant dials.

use super::*;

#[test]
fn a_dropped_dialled_link_is_redialled_after_the_interval_but_not_after_disconnect() {
    let mut s = Script::new("Ames");
    let c = s.node.connect();
    s.actions();
    s.up(0, LinkOrigin::Dialed(c));
    s.recv(0, r#"{"a":"hi!","mynameis":"Wolf","iknow":[]}"#);
    let now = s.now();
    s.node
        .handle_link_down(LinkId(0), LinkDownReason::PeerClosed, now);
    s.advance(999);
    assert!(s.actions().is_empty());
    s.advance(1);
    assert_eq!(s.actions(), vec![Action::Dial(c)]);
    s.up(0, LinkOrigin::Dialed(c));
    s.recv(0, r#"{"a":"hi!","mynameis":"Wolf","iknow":[]}"#);
    s.node.disconnect_name("Wolf", now).unwrap();
    assert!(matches!(s.actions()[..], [Action::Close { .. }]));
    s.advance(10_000);
    assert!(s.actions().is_empty());
    assert!(s.node.disconnect_name("Wolf", now).is_err());
}

#[test]
fn a_failed_dial_is_retried_and_reported() {
    let mut s = Script::new("Ames");
    let c = s.node.connect();
    s.actions();
    let now = s.now();
    s.node.handle_connect_failed(c, "refused".into(), now);
    assert_eq!(
        s.events(),
        vec![Event::ConnectFailed {
            connect: c,
            error: "refused".into(),
            retry_in: Some(Duration::from_millis(1000))
        }]
    );
    s.advance(1000);
    assert_eq!(s.actions(), vec![Action::Dial(c)]);
    s.node.disconnect_connect(c, now).unwrap();
    s.node.handle_connect_failed(c, "refused".into(), now);
    s.advance(5000);
    assert!(s.actions().is_empty());
}

#[test]
fn a_dialler_that_reaches_an_already_linked_name_backs_off_until_that_link_goes() {
    let mut s = Script::new("Ames");
    s.accept_peer(0, "Wolf", &[]);
    let c = s.node.connect();
    s.actions();
    s.up(1, LinkOrigin::Dialed(c));
    s.recv(1, r#"{"a":"hi!","mynameis":"Wolf","iknow":[]}"#);
    assert!(!s.node.has_link(LinkId(1)));
    s.advance(60_000);
    assert!(!s.actions().iter().any(|a| matches!(a, Action::Dial(_))));
    let now = s.now();
    s.node
        .handle_link_down(LinkId(0), LinkDownReason::PeerClosed, now);
    s.advance(1500);
    assert_eq!(s.actions(), vec![Action::Dial(c)]);
}
