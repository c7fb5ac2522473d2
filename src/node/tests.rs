//! Script tests of the core: hand-written frames in, exact frames and events out, virtual time.

use std::time::{Duration, Instant};

use super::flooding::OWN_GATHER;
use super::*;
use crate::frame;

struct Script {
    node: Node,
    t0: Instant,
    now: Duration,
}

impl Script {
    fn new(name: &str) -> Script {
        Script::with(name, Options::default())
    }

    fn with(name: &str, opts: Options) -> Script {
        let t0 = Instant::now();
        Script {
            node: Node::new(name, opts, 7, t0).unwrap(),
            t0,
            now: Duration::ZERO,
        }
    }

    fn now(&self) -> Instant {
        self.t0 + self.now
    }

    fn up(&mut self, link: usize, origin: LinkOrigin) {
        let now = self.now();
        self.node.handle_link_up(LinkId(link), origin, now);
    }

    fn recv(&mut self, link: usize, json: &str) {
        let mut bytes = Vec::new();
        frame::encode(&mut bytes, json.as_bytes());
        let now = self.now();
        self.node.handle_bytes(LinkId(link), &bytes, now);
    }

    /// Everything written on `link` since the last call, as frame payloads.
    fn sent(&mut self, link: usize) -> Vec<String> {
        let bytes = self.node.outbound(LinkId(link)).to_vec();
        let now = self.now();
        self.node.consume_outbound(LinkId(link), bytes.len(), now);
        let mut dec = frame::FrameDecoder::new(u32::MAX);
        let mut out = Vec::new();
        dec.feed(&bytes, |f| {
            out.push(String::from_utf8(f.to_vec()).unwrap());
            Ok::<(), ()>(())
        })
        .unwrap();
        out
    }

    fn events(&mut self) -> Vec<Event> {
        std::iter::from_fn(|| self.node.poll_event()).collect()
    }

    fn actions(&mut self) -> Vec<Action> {
        std::iter::from_fn(|| self.node.poll_action()).collect()
    }

    fn advance(&mut self, ms: u64) {
        self.now += Duration::from_millis(ms);
        let now = self.now();
        self.node.handle_timeout(now);
    }

    /// An accepted link from `peer`, hello done.
    fn accept_peer(&mut self, link: usize, peer: &str, iknow: &[&str]) {
        self.up(link, LinkOrigin::Accepted);
        let iknow = serde_json::to_string(iknow).unwrap();
        self.recv(
            link,
            &format!(r#"{{"c":"hi!","mynameis":"{peer}","iknow":{iknow}}}"#),
        );
    }
}

fn meet(n: &str) -> Event {
    Event::Meet { name: n.into() }
}

fn lose(n: &str) -> Event {
    Event::Lose { name: n.into() }
}

#[test]
fn dialler_says_hello_first_with_what_it_knows() {
    let mut s = Script::new("Ames");
    let c = s.node.connect();
    assert_eq!(s.actions(), vec![Action::Dial(c)]);
    s.up(0, LinkOrigin::Dialed(c));
    assert_eq!(
        s.sent(0),
        vec![r#"{"c":"hi!","mynameis":"Ames","iknow":[],"v":2}"#]
    );
    s.recv(0, r#"{"a":"hi!","mynameis":"Wolf","iknow":[]}"#);
    assert_eq!(
        s.events(),
        vec![
            Event::LinkUp {
                link: LinkId(0),
                peer: "Wolf".into(),
                inbound: false,
                version: 1
            },
            meet("Wolf")
        ]
    );
    // Nothing more to say to Wolf: it knows nothing new from us.
    assert!(s.sent(0).is_empty());
    assert_eq!(
        s.node.route("Wolf"),
        Some(Route {
            link: LinkId(0),
            hops: Some(1),
            confirmed: false
        })
    );
}

#[test]
fn accepting_side_answers_and_announces_the_newcomer_to_the_others() {
    let mut s = Script::new("Ames");
    s.accept_peer(0, "Wolf", &[]);
    assert_eq!(
        s.sent(0),
        vec![r#"{"a":"hi!","mynameis":"Ames","iknow":[]}"#]
    );
    s.accept_peer(1, "Rosenberg", &[]);
    // The answer lists what Ames knew before Rosenberg; Wolf hears of Rosenberg, and Rosenberg
    // of Wolf is already in its answer.
    assert_eq!(
        s.sent(1),
        vec![r#"{"a":"hi!","mynameis":"Ames","iknow":["Wolf"]}"#]
    );
    assert_eq!(s.sent(0), vec![r#"{"c":"imcon4","who":["Rosenberg"]}"#]);
    let ev = s.events();
    assert!(
        ev.contains(&meet("Wolf")) && ev.contains(&meet("Rosenberg")),
        "{ev:?}"
    );
}

#[test]
fn names_are_never_told_back_to_their_source_nor_a_peer_its_own_name() {
    let mut s = Script::new("Ames");
    s.accept_peer(0, "Wolf", &["Rosenberg", "Ames", "Wolf"]);
    s.sent(0);
    // Rosenberg is reached through Wolf: Wolf must not hear of it from us.
    assert_eq!(
        s.node.route("Rosenberg"),
        Some(Route {
            link: LinkId(0),
            hops: None,
            confirmed: false
        })
    );
    s.accept_peer(1, "Fuchs", &[]);
    assert_eq!(
        s.sent(1),
        vec![r#"{"a":"hi!","mynameis":"Ames","iknow":["Rosenberg","Wolf"]}"#]
    );
    assert_eq!(s.sent(0), vec![r#"{"c":"imcon4","who":["Fuchs"]}"#]);
    // Fuchs announces a name: Wolf hears it, Fuchs does not.
    s.recv(1, r#"{"c":"imcon4","who":["Gold"]}"#);
    assert_eq!(s.sent(0), vec![r#"{"c":"imcon4","who":["Gold"]}"#]);
    assert!(s.sent(1).is_empty());
}

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

#[test]
fn a_connection_that_never_says_hello_is_closed() {
    let mut s = Script::new("Wolf");
    s.up(0, LinkOrigin::Accepted);
    s.advance(4999);
    assert!(s.node.has_link(LinkId(0)));
    s.advance(1);
    assert!(!s.node.has_link(LinkId(0)));
    assert_eq!(
        s.events(),
        vec![Event::LinkDown {
            link: LinkId(0),
            peer: None,
            reason: LinkDownReason::HelloTimeout
        }]
    );
    assert_eq!(s.node.stats().pending_links, 0);
}

#[test]
fn a_msg_for_another_name_is_relayed_untouched() {
    let mut s = Script::new("Ames");
    s.accept_peer(0, "Wolf", &[]);
    s.accept_peer(1, "Rosenberg", &[]);
    s.sent(0);
    s.sent(1);
    let msg = r#"{"c":"msg","f":"Wolf","t":"Rosenberg","m":{"subject":"Meeting","content":"Understood. I'll be there."}}"#;
    s.recv(0, msg);
    assert_eq!(s.sent(1), vec![msg]);
    assert_eq!(s.node.stats().relayed, 1);
}

#[test]
fn a_msg_for_me_is_an_event_with_the_direct_sender() {
    let mut s = Script::new("Rosenberg");
    s.accept_peer(0, "Ames", &["Wolf"]);
    s.events();
    s.recv(0, r#"{"c":"msg","f":"Wolf","t":"Rosenberg","m":[1,"x"]}"#);
    let ev = s.events();
    let [
        Event::Message {
            from,
            to,
            via,
            body,
        },
    ] = &ev[..]
    else {
        panic!("{ev:?}")
    };
    assert_eq!(
        (&**from, &**to, &**via, body.get()),
        ("Wolf", "Rosenberg", "Ames", r#"[1,"x"]"#)
    );
}

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
fn losing_the_last_way_withdraws_the_name() {
    let mut s = Script::new("Ames");
    s.accept_peer(0, "Wolf", &[]);
    s.accept_peer(1, "Rosenberg", &["Gold"]);
    s.sent(0);
    s.sent(1);
    s.events();
    let now = s.now();
    s.node
        .handle_link_down(LinkId(1), LinkDownReason::PeerClosed, now);
    let ev = s.events();
    assert!(
        ev.contains(&lose("Rosenberg")) && ev.contains(&lose("Gold")),
        "{ev:?}"
    );
    assert_eq!(
        s.sent(0),
        vec![r#"{"c":"im!con4","who":["Rosenberg","Gold"]}"#]
    );
}

#[test]
fn a_route_through_a_peer_is_withdrawn_from_that_peer_and_told_to_it_again_when_it_changes() {
    // Ames reaches C directly and through Wolf. When the direct link goes, its only way is
    // Wolf: Wolf must hear that Ames is no longer a way to C (no two-agent loop).
    let mut s = Script::new("Ames");
    s.accept_peer(0, "Wolf", &[]);
    s.accept_peer(1, "C", &[]);
    s.recv(0, r#"{"c":"imcon4","who":["C"]}"#);
    s.sent(0);
    s.sent(1);
    let now = s.now();
    s.node
        .handle_link_down(LinkId(1), LinkDownReason::PeerClosed, now);
    assert_eq!(
        s.node.route("C"),
        Some(Route {
            link: LinkId(0),
            hops: None,
            confirmed: false
        })
    );
    assert_eq!(s.sent(0), vec![r#"{"c":"im!con4","who":["C"]}"#]);
    assert!(!s.events().contains(&lose("C")));
}

#[test]
fn hello_with_my_own_name_or_a_linked_name_is_refused() {
    let mut s = Script::new("Wolf");
    s.up(0, LinkOrigin::Accepted);
    s.recv(0, r#"{"c":"hi!","mynameis":"Wolf","iknow":[]}"#);
    assert!(!s.node.has_link(LinkId(0)));
    s.accept_peer(1, "Ames", &[]);
    s.sent(1);
    s.events();
    s.up(2, LinkOrigin::Accepted);
    s.recv(2, r#"{"c":"hi!","mynameis":"Ames","iknow":[]}"#);
    assert!(!s.node.has_link(LinkId(2)));
    assert!(s.node.has_link(LinkId(1)), "the existing link stays");
    let ev = s.events();
    assert_eq!(
        ev,
        vec![Event::LinkDown {
            link: LinkId(2),
            peer: None,
            reason: LinkDownReason::Duplicate {
                name: "Ames".into()
            }
        }]
    );
    // The refused dialler is answered first, so it learns whom it reached.
    let closes = s.actions();
    let Action::Close { flush, .. } = closes.last().unwrap() else {
        panic!()
    };
    assert_eq!(&flush[4..], br#"{"a":"hi!","mynameis":"Wolf","iknow":[]}"#);
}

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

#[test]
fn garbage_closes_only_that_link() {
    let mut s = Script::new("Ames");
    s.accept_peer(0, "Wolf", &[]);
    s.accept_peer(1, "Rosenberg", &[]);
    s.events();
    let now = s.now();
    s.node
        .handle_bytes(LinkId(1), &[0, 0, 0, 3, b'{', b'{', b'{'], now);
    let ev = s.events();
    assert!(
        matches!(
            &ev[0],
            Event::LinkDown {
                link: LinkId(1),
                reason: LinkDownReason::Wire(_),
                ..
            }
        ),
        "{ev:?}"
    );
    assert!(s.node.has_link(LinkId(0)));
    s.node
        .handle_bytes(LinkId(0), &[0x7f, 0xff, 0xff, 0xff, 1], now);
    let ev = s.events();
    assert!(
        matches!(
            &ev[0],
            Event::LinkDown {
                reason: LinkDownReason::Frame(_),
                ..
            }
        ),
        "{ev:?}"
    );
}

#[test]
fn too_many_pending_connections_are_turned_away() {
    let opts = Options {
        max_pending_links: 2,
        ..Options::default()
    };
    let mut s = Script::with("Wolf", opts);
    s.up(0, LinkOrigin::Accepted);
    s.up(1, LinkOrigin::Accepted);
    s.up(2, LinkOrigin::Accepted);
    assert!(!s.node.has_link(LinkId(2)));
    assert_eq!(s.node.stats().pending_links, 2);
    s.recv(0, r#"{"c":"hi!","mynameis":"Ames","iknow":[]}"#);
    s.up(2, LinkOrigin::Accepted);
    assert!(s.node.has_link(LinkId(2)));
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

/// An accepted v2 link from `peer`, hello done, everything sent on it so far discarded.
fn accept_v2(s: &mut Script, link: usize, peer: &str) {
    s.up(link, LinkOrigin::Accepted);
    s.recv(
        link,
        &format!(r#"{{"c":"hi!","mynameis":"{peer}","iknow":[],"v":2}}"#),
    );
}

#[test]
fn a_new_v2_link_exchanges_summaries_and_then_only_what_the_other_side_lacks() {
    let mut s = Script::new("Me");
    accept_v2(&mut s, 0, "A");
    s.recv(
        0,
        r#"{"c":"lsa","o":"A","i":1,"s":4,"n":["Me","X"],"x":[]}"#,
    );
    s.recv(0, r#"{"c":"lsa","o":"X","i":1,"s":3,"n":["A"],"x":[]}"#);
    s.recv(0, r#"{"c":"lsa","o":"Y","i":2,"s":5,"n":[],"x":[]}"#);
    s.sent(0);
    let own = s.node.lsdb().own().seq;

    // The new peer gets the answer and a summary, not the database.
    accept_v2(&mut s, 1, "B");
    let own = s.node.lsdb().own().seq.max(own);
    let sent = s.sent(1);
    assert_eq!(sent[0], r#"{"a":"hi!","mynameis":"Me","iknow":[],"v":2}"#);
    let summary =
        format!(r#"{{"c":"sum","d":[["Me",7,{own}],["A",1,4],["X",1,3],["Y",2,5]],"e":true}}"#);
    assert!(sent.contains(&summary), "{sent:?}");
    assert!(
        sent.iter().all(|f| !f.contains(r#""o":"X""#)),
        "no description sent before the peer's summary: {sent:?}"
    );

    // B holds X as it is, Y older, Z unknown here, and nothing of Me or A: it is sent Y
    // and A, and nothing else. Me's description is about to change (B is new): the new
    // version follows, to every link, once the rest of a burst of links had time to come.
    s.recv(1, r#"{"c":"sum","d":[["X",1,3],["Y",2,1]]}"#);
    let sent = s.sent(1);
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert!(
        sent[0].starts_with(r#"{"c":"lsa","o":"Y","i":2,"s":5"#),
        "{sent:?}"
    );
    // Listing Y again does not have it sent again.
    s.recv(1, r#"{"c":"sum","d":[["Y",0,0],["Y",1,1]]}"#);
    assert_eq!(s.sent(1), Vec::<String>::new());
    s.recv(1, r#"{"c":"sum","d":[["Z",1,1]],"e":true}"#);
    let mut origins: Vec<String> = s
        .sent(1)
        .iter()
        .map(|f| {
            let rest = f.strip_prefix(r#"{"c":"lsa","o":""#).expect(f);
            rest.split('"').next().unwrap().to_owned()
        })
        .collect();
    origins.sort();
    assert_eq!(origins, ["A"]);
    s.advance(100);
    let sent = s.sent(1);
    assert_eq!(sent.len(), 1, "{sent:?}");
    let next = own + 1;
    assert!(
        sent[0].starts_with(&format!(
            r#"{{"c":"lsa","o":"Me","i":7,"s":{next},"n":["A","B"]"#
        )),
        "{sent:?}"
    );

    // A second summary is not read: the database is not sent twice.
    s.recv(1, r#"{"c":"sum","d":[],"e":true}"#);
    assert_eq!(s.sent(1), Vec::<String>::new());
    // An older description is not answered: B gets the newer one by flooding.
    s.recv(1, r#"{"c":"lsa","o":"X","i":1,"s":2,"n":["A"],"x":[]}"#);
    assert_eq!(s.sent(1), Vec::<String>::new());
    assert!(s.node.has_link(LinkId(1)));
}

#[test]
fn a_malformed_summary_closes_the_link() {
    let mut s = Script::new("Me");
    accept_v2(&mut s, 0, "A");
    s.events();
    s.recv(0, r#"{"c":"sum","d":[["A",1]],"e":true}"#);
    assert!(!s.node.has_link(LinkId(0)));
    let down = s.events().into_iter().find_map(|e| match e {
        Event::LinkDown { reason, .. } => Some(reason.to_string()),
        _ => None,
    });
    assert!(
        down.as_deref()
            .is_some_and(|r| r.contains("\"sum\"") && r.contains("\"d\"")),
        "{down:?}"
    );
}

#[test]
fn a_v2_relay_copies_the_frame_with_the_next_hop_count() {
    let mut s = Script::new("Me");
    accept_v2(&mut s, 0, "A");
    accept_v2(&mut s, 1, "B");
    s.sent(0);
    s.sent(1);
    s.recv(0, r#"{"c":"msg","f":"A","t":"B","m":{"x":[1,"}"]},"h":9}"#);
    assert_eq!(
        s.sent(1),
        [r#"{"c":"msg","f":"A","t":"B","m":{"x":[1,"}"]},"h":10}"#]
    );
    // Another key order is read by the general parser and written afresh.
    s.recv(0, r#"{"c":"msg","h":1,"t":"B","f":"A","m":2}"#);
    assert_eq!(s.sent(1), [r#"{"c":"msg","f":"A","t":"B","m":2,"h":2}"#]);
    assert_eq!(s.node.stats().relayed, 2);
}

#[test]
fn a_v2_relay_copies_a_confirmation_with_the_next_hop_count() {
    let mut s = Script::new("Me");
    accept_v2(&mut s, 0, "A");
    accept_v2(&mut s, 1, "B");
    s.sent(0);
    s.sent(1);
    s.recv(0, r#"{"c":"ack","f":"A","t":"B","i":17,"s":5,"h":9}"#);
    assert_eq!(
        s.sent(1),
        [r#"{"c":"ack","f":"A","t":"B","i":17,"s":5,"h":10}"#]
    );
    // Without a hop count, or in another key order, it is written afresh.
    s.recv(0, r#"{"c":"ack","f":"A","t":"B","i":17,"s":6}"#);
    s.recv(0, r#"{"c":"ack","t":"B","f":"A","s":7,"i":17,"h":3}"#);
    assert_eq!(
        s.sent(1),
        [
            r#"{"c":"ack","f":"A","t":"B","i":17,"s":6,"h":2}"#,
            r#"{"c":"ack","f":"A","t":"B","i":17,"s":7,"h":4}"#
        ]
    );
}

/// The versions of `origin`'s description written on `link` since the last look, as
/// (seq, neighbors) pairs.
fn descriptions_of(s: &mut Script, link: usize, origin: &str) -> Vec<(u64, Vec<String>)> {
    s.sent(link)
        .iter()
        .filter_map(|f| {
            let v: serde_json::Value = serde_json::from_str(f).unwrap();
            (v["c"] == "lsa" && v["o"] == origin).then(|| {
                let n = v["n"].as_array().unwrap();
                let n = n.iter().map(|x| x.as_str().unwrap().to_owned()).collect();
                (v["s"].as_u64().unwrap(), n)
            })
        })
        .collect()
}

#[test]
fn new_links_of_a_burst_share_one_version_and_a_lost_link_is_told_at_once() {
    let mut s = Script::new("Me");
    let first = s.node.lsdb().own().seq;
    accept_v2(&mut s, 0, "A");
    s.advance(5);
    accept_v2(&mut s, 1, "B");
    s.advance(5);
    accept_v2(&mut s, 2, "C");
    assert_eq!(descriptions_of(&mut s, 0, "Me"), vec![], "too early");
    assert_eq!(s.node.lsdb().own().seq, first);

    // One version for the three links, once the first has waited its gathering time.
    s.advance(OWN_GATHER - 10 - 1);
    assert_eq!(descriptions_of(&mut s, 0, "Me"), vec![]);
    s.advance(1);
    let all = vec!["A".to_owned(), "B".into(), "C".into()];
    for link in 0..3 {
        assert_eq!(
            descriptions_of(&mut s, link, "Me"),
            vec![(first + 1, all.clone())],
            "link {link}"
        );
    }

    // A lost link does not wait for the rest of a burst.
    s.advance(1);
    let now = s.now();
    s.node
        .handle_link_down(LinkId(2), LinkDownReason::PeerClosed, now);
    let two = vec!["A".to_owned(), "B".into()];
    assert_eq!(descriptions_of(&mut s, 0, "Me"), vec![(first + 2, two)]);
}

#[test]
fn a_description_is_passed_on_as_it_came_when_it_is_in_the_written_form() {
    let mut s = Script::new("Me");
    accept_v2(&mut s, 0, "A");
    accept_v2(&mut s, 1, "B");
    s.advance(100);
    s.sent(0);
    s.sent(1);
    // The lists in an order this agent would not write them in: passed on byte for byte.
    let written = r#"{"c":"lsa","o":"X","i":1,"s":3,"n":["Z","A","Me"],"x":[]}"#;
    s.recv(0, written);
    assert_eq!(s.sent(1), vec![written.to_owned()]);
    assert_eq!(
        s.sent(0),
        Vec::<String>::new(),
        "not back where it came from"
    );
    // Another form says the same, and is written again in this agent's form.
    s.recv(0, r#"{"c":"lsa", "o":"X","i":1,"s":4,"n":["A"]}"#);
    assert_eq!(
        s.sent(1),
        vec![r#"{"c":"lsa","o":"X","i":1,"s":4,"n":["A"],"x":[]}"#.to_owned()]
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
        assert!(
            s.node.timers.len() <= 4,
            "one timer per outbox, not one per message: {}",
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
