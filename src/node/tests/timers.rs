//! Time at the ends of its range: options of `Duration::MAX` mean "never", and no deadline
//! made from one overflows.

use super::*;

#[test]
fn every_duration_option_at_its_largest_means_never_and_overflows_nothing() {
    let opts = Options {
        auto_reconnect_interval: Duration::MAX,
        ping_timeout: Duration::MAX,
        ping_after: Duration::MAX,
        hello_timeout: Duration::MAX,
        delivery_timeout: Some(Duration::MAX),
        route_delay: Duration::MAX,
        description_lifetime: Duration::MAX,
        ..Options::default()
    };
    let mut s = Script::with("Me", opts);
    // A dial that fails waits "forever" for its next attempt; a link that never says hello
    // is never closed for it.
    let c = s.node.connect();
    s.actions();
    let now = s.now();
    s.node.handle_connect_failed(c, "refused".into(), now);
    s.up(1, LinkOrigin::Accepted);
    accept_v2(&mut s, 0, "A");
    s.recv(0, r#"{"c":"lsa","o":"A","i":3,"s":1,"n":["Me"],"x":[]}"#);
    s.recv(0, r#"{"c":"lsa","o":"B","i":3,"s":1,"n":["A"],"x":[]}"#);
    let body = RawValue::from_string("1".into()).unwrap();
    let now = s.now();
    s.node
        .send_message_by("B", &body, now + Duration::from_secs(1), now)
        .unwrap();
    s.node.send_message("B", &body, now).unwrap();
    assert!(s.node.next_timeout().is_some_and(|t| t >= now));
    for _ in 0..10 {
        s.advance(3_600_000);
    }
    assert!(s.node.has_link(LinkId(1)), "no hello deadline");
    assert!(s.node.has_link(LinkId(0)), "no keepalive");
    assert_eq!(
        s.node.queued_for("B"),
        1,
        "the one with a deadline expired, not the other"
    );
    assert!(s.node.lsdb().get("A").is_some(), "no lifetime");
    assert_eq!(s.node.dial_count(), 1);
    assert!(s.actions().is_empty(), "no re-dial");
}
