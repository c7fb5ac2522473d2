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

/// Fails dial `c` (connecting now) and returns the wait it reported, after checking that the
/// re-dial comes exactly then.
fn fail_and_wait(s: &mut Script, c: ConnectId) -> u64 {
    let now = s.now();
    s.node.handle_connect_failed(c, "refused".into(), now);
    let wait = match &s.events()[..] {
        [
            Event::ConnectFailed {
                retry_in: Some(d), ..
            },
        ] => d.as_millis() as u64,
        other => panic!("{other:?}"),
    };
    s.advance(wait - 1);
    assert!(s.actions().is_empty(), "not before the wait it reported");
    s.advance(1);
    assert_eq!(s.actions(), vec![Action::Dial(c)]);
    wait
}

#[test]
fn a_dead_address_is_retried_ever_less_often_up_to_the_cap() {
    let mut s = Script::new("Ames");
    let c = s.node.connect();
    s.actions();
    let waits: Vec<u64> = (0..9).map(|_| fail_and_wait(&mut s, c)).collect();
    assert_eq!(
        waits[0], 1000,
        "the first retry waits the interval: {waits:?}"
    );
    for (k, &w) in waits.iter().enumerate().skip(1) {
        let doubled = (1000u64 << k).min(30_000);
        assert!(
            (doubled / 2).max(1000) <= w && w <= doubled,
            "retry {k} waited {w} ms: {waits:?}"
        );
    }
    assert!(waits[6..].iter().all(|&w| w >= 15_000), "{waits:?}");
}

#[test]
fn an_address_that_accepts_and_drops_at_once_backs_off_and_a_hello_starts_again() {
    let mut s = Script::new("Ames");
    let c = s.node.connect();
    s.actions();
    // Each time, the connection is accepted and closed before any hello.
    let mut waits = Vec::new();
    for _ in 0..5 {
        s.up(0, LinkOrigin::Dialed(c));
        let now = s.now();
        s.node
            .handle_link_down(LinkId(0), LinkDownReason::PeerClosed, now);
        let start = s.now();
        while !s.actions().contains(&Action::Dial(c)) {
            s.advance(1);
        }
        waits.push((s.now() - start).as_millis() as u64);
    }
    assert_eq!(waits[0], 1000);
    assert!(waits[4] >= 8000, "doubling: {waits:?}");
    // A link that says hello is a success: when it drops, the next wait is the interval.
    s.up(0, LinkOrigin::Dialed(c));
    s.recv(0, r#"{"a":"hi!","mynameis":"Wolf","iknow":[]}"#);
    let now = s.now();
    s.node
        .handle_link_down(LinkId(0), LinkDownReason::PeerClosed, now);
    s.advance(999);
    assert!(s.actions().is_empty());
    s.advance(1);
    assert_eq!(s.actions(), vec![Action::Dial(c)]);
    // The count started again: a failure now is the second in a row, not the seventh.
    s.events();
    let w = fail_and_wait(&mut s, c);
    assert!((1000..=2000).contains(&w), "{w}");
}

#[test]
fn the_jitter_is_the_incarnations_and_a_cap_below_the_interval_means_no_back_off() {
    let waits = |inc: u64, opts: Options| -> Vec<u64> {
        let mut s = Script::with("Ames", opts);
        s.node = Node::new("Ames", s.node.options().clone(), inc, s.now()).unwrap();
        let c = s.node.connect();
        s.actions();
        (0..6).map(|_| fail_and_wait(&mut s, c)).collect()
    };
    let o = Options::default();
    assert_eq!(
        waits(7, o.clone()),
        waits(7, o.clone()),
        "same seed, same waits"
    );
    assert_ne!(
        waits(7, o.clone()),
        waits(8, o.clone()),
        "another run, other waits"
    );
    let flat = Options {
        auto_reconnect_max_interval: Duration::from_millis(10),
        ..Options::default()
    };
    assert_eq!(waits(7, flat), vec![1000; 6]);
}

#[test]
fn a_dial_that_reached_this_agent_itself_is_reported_once_and_never_retried() {
    let mut s = Script::new("Ames");
    // Still connecting when the shell recognises it.
    let c = s.node.connect();
    s.actions();
    let now = s.now();
    s.node.handle_self_dial(c, "reached itself".into(), now);
    assert_eq!(
        s.events(),
        vec![Event::ConnectFailed {
            connect: c,
            error: "reached itself".into(),
            retry_in: None
        }]
    );
    // Already reported up (and saying hello to itself): the link is closed too.
    let d = s.node.connect();
    s.actions();
    s.up(0, LinkOrigin::Dialed(d));
    let now = s.now();
    s.node.handle_self_dial(d, "reached itself".into(), now);
    assert!(matches!(
        s.actions()[..],
        [Action::Close {
            link: LinkId(0),
            ..
        }]
    ));
    let events = s.events();
    assert!(matches!(
        events[..],
        [
            Event::LinkDown {
                peer: None,
                reason: LinkDownReason::Disconnected,
                ..
            },
            Event::ConnectFailed { retry_in: None, .. }
        ]
    ));
    // Neither is dialled again, however long the agent runs, nor reported again.
    s.advance(600_000);
    assert!(s.actions().is_empty());
    let now = s.now();
    s.node.handle_self_dial(c, "reached itself".into(), now);
    assert!(s.events().is_empty());
    // A dial disconnected meanwhile stays disconnected, silently.
    let e = s.node.connect();
    s.actions();
    s.node.disconnect_connect(e, now).unwrap();
    s.node.handle_self_dial(e, "reached itself".into(), now);
    assert!(s.events().is_empty());
}
