//! v2 database exchange: summaries, then only what the other side lacks.

use crate::node::flooding::OWN_GATHER;

use super::*;

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
    s.advance(100);
    s.sent(0);
    let own = s.node.lsdb().own().seq;

    // The new peer gets the answer and a summary, not the database.
    hello_v2(&mut s, 1, "B");
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
    // and A, and nothing else. Me's description is about to change (B is new), and B holds
    // none of it: the new version follows, to every link, once the exchange is complete and
    // the rest of a burst of links had time to come.
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
    // B listed Z, which this agent lacks: until it arrives, B is not described (nor routed
    // through).
    s.advance(100);
    assert_eq!(s.sent(1), Vec::<String>::new(), "no version listing B yet");
    s.recv(1, r#"{"c":"lsa","o":"Z","i":1,"s":1,"n":[],"x":[]}"#);
    s.advance(OWN_GATHER);
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

/// The lists of `origin`'s description as this agent holds it, as (neighbors, seq).
fn held(s: &Script, origin: &str) -> Option<(Vec<String>, u64)> {
    let v = s.node.lsdb().get(origin)?;
    Some((v.neighbors().map(str::to_owned).collect(), v.seq))
}

#[test]
fn the_far_side_of_a_new_link_is_reached_once_the_exchange_brought_it_up_to_date() {
    // Me learns a line A-B-Z through A, then loses A: B and Z are kept, unreachable.
    let mut s = Script::new("Me");
    accept_v2(&mut s, 0, "A");
    s.recv(
        0,
        r#"{"c":"lsa","o":"A","i":1,"s":1,"n":["B","Me"],"x":[]}"#,
    );
    s.recv(0, r#"{"c":"lsa","o":"B","i":1,"s":1,"n":["A","Z"],"x":[]}"#);
    s.recv(0, r#"{"c":"lsa","o":"Z","i":1,"s":1,"n":["B"],"x":[]}"#);
    s.advance(100);
    assert!(s.node.route("Z").is_some());
    let now = s.now();
    s.node
        .handle_link_down(LinkId(0), LinkDownReason::PeerClosed, now);
    assert!(s.node.route("Z").is_none() && held(&s, "Z").is_some());
    s.events();

    // Meanwhile Z vanished. B links to Me directly: what Me holds says Z is behind B, but
    // Me was cut off from that side; until B's summary and the newer descriptions it lists
    // have arrived, B is reached and nothing through it.
    hello_v2(&mut s, 1, "B");
    s.advance(100);
    assert_eq!(s.events()[1..], [meet("B")]);
    assert!(s.node.route("Z").is_none(), "Z met on a stale picture");
    s.recv(1, r#"{"c":"sum","d":[["B",1,2],["Z",1,2]],"e":true}"#);
    s.recv(1, r#"{"c":"lsa","o":"B","i":1,"s":2,"n":[],"x":[]}"#);
    s.advance(100);
    assert!(s.node.route("Z").is_none());
    s.recv(1, r#"{"c":"lsa","o":"Z","i":1,"s":2,"n":[],"x":[]}"#);
    s.advance(100);
    assert_eq!(held(&s, "Z"), Some((vec![], 2)));
    assert!(s.node.route("Z").is_none());
    assert!(
        !s.events().contains(&meet("Z")),
        "Z, lost, is not met again"
    );
    // Now complete, the exchange counts: Me's description lists B, and what B's side
    // says is routed through it.
    assert_eq!(held(&s, "Me").map(|h| h.0), Some(vec!["B".to_owned()]));
    s.recv(
        1,
        r#"{"c":"lsa","o":"B","i":1,"s":3,"n":["Me","Y"],"x":[]}"#,
    );
    s.recv(1, r#"{"c":"lsa","o":"Y","i":1,"s":1,"n":["B"],"x":[]}"#);
    s.advance(100);
    assert_eq!(s.node.route("Y").and_then(|r| r.hops), Some(2));
}

#[test]
fn descriptions_a_summary_listed_and_that_never_come_are_given_up_on() {
    let mut s = Script::new("Me");
    hello_v2(&mut s, 0, "B");
    s.recv(0, r#"{"c":"sum","d":[["B",1,1],["Gone",1,1]],"e":true}"#);
    s.recv(0, r#"{"c":"lsa","o":"B","i":1,"s":1,"n":["Me"],"x":[]}"#);
    let hello_timeout = ms(s.node.options().hello_timeout);
    s.advance(hello_timeout - 1);
    assert!(held(&s, "Me").is_some_and(|h| h.0.is_empty()), "not yet");
    s.advance(1);
    s.advance(OWN_GATHER);
    assert_eq!(held(&s, "Me").map(|h| h.0), Some(vec!["B".to_owned()]));
}

#[test]
fn a_summary_awaiting_more_names_than_the_limit_closes_the_link() {
    let opts = Options {
        max_known_names: 3,
        ..Options::default()
    };
    let mut s = Script::with("Me", opts);
    hello_v2(&mut s, 0, "B");
    s.recv(0, r#"{"c":"sum","d":[["B",1,1],["C",1,1],["D",1,1]]}"#);
    assert!(s.node.has_link(LinkId(0)));
    s.recv(0, r#"{"c":"sum","d":[["E",1,1],["F",1,1]],"e":true}"#);
    assert!(!s.node.has_link(LinkId(0)));
}

#[test]
fn a_peer_holding_an_older_version_of_this_agents_description_gets_the_one_held() {
    // A new version is coming (B is new), but B holds an older one and awaits this one before
    // it counts the link: it is not withheld, or each end could wait for the other.
    let mut s = Script::new("Me");
    hello_v2(&mut s, 0, "B");
    s.sent(0);
    let own = s.node.lsdb().own();
    let (inc, seq) = (own.inc, own.seq);
    s.recv(
        0,
        &format!(r#"{{"c":"sum","d":[["Me",{inc},0]],"e":true}}"#),
    );
    let sent = s.sent(0);
    let mine = format!(r#"{{"c":"lsa","o":"Me","i":{inc},"s":{seq},"n":[]"#);
    assert!(sent.iter().any(|f| f.starts_with(&mine)), "{sent:?}");
}

#[test]
fn the_largest_hello_timeout_arms_the_exchange_timer_at_any_time() {
    // The exchange's timer is set hello_timeout after the hello: with Duration::MAX it must
    // saturate, whenever the hello comes (not only at tick 0).
    let opts = Options {
        hello_timeout: Duration::MAX,
        ..Options::default()
    };
    let mut s = Script::with("Me", opts);
    s.advance(5);
    hello_v2(&mut s, 0, "A");
    s.advance(1000);
    assert!(s.node.has_link(LinkId(0)));
    assert!(s.events().contains(&meet("A")));
}
