//! v2 flooding: one version for a burst of links, a lost link told at once, descriptions passed on as they came.

use crate::node::flooding::OWN_GATHER;

use super::*;

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

/// Keepalive off: these tests run minutes of virtual time with peers that never answer.
fn quiet(lifetime: Duration) -> Options {
    Options {
        ping_after: Duration::ZERO,
        description_lifetime: lifetime,
        ..Options::default()
    }
}

/// `Me` linked to A over v2, its description out; returns its version.
fn linked(s: &mut Script) -> (u64, u64) {
    accept_v2(s, 0, "A");
    s.advance(OWN_GATHER);
    s.sent(0);
    let own = s.node.lsdb().own();
    (own.inc, own.seq)
}

/// The versions of `origin`'s description written on `link` since the last look.
fn versions_of(s: &mut Script, link: usize, origin: &str) -> Vec<(u64, u64)> {
    s.sent(link)
        .iter()
        .filter_map(|f| {
            let v: serde_json::Value = serde_json::from_str(f).unwrap();
            (v["c"] == "lsa" && v["o"] == origin)
                .then(|| (v["i"].as_u64().unwrap(), v["s"].as_u64().unwrap()))
        })
        .collect()
}

#[test]
fn a_description_of_this_agent_it_did_not_make_is_answered_from_above_at_once() {
    let mut s = Script::with("Me", quiet(Duration::from_secs(600)));
    let (inc, seq) = linked(&mut s);
    let forged =
        |i: u64, q: u64| format!(r#"{{"c":"lsa","o":"Me","i":{i},"s":{q},"n":[],"x":[]}}"#);
    // Its own version with other lists, then a later one: answered without any wait.
    s.recv(0, &forged(inc, seq));
    assert_eq!(versions_of(&mut s, 0, "Me"), [(inc, seq + 1)]);
    s.recv(0, &forged(inc, 1 << 40));
    assert_eq!(versions_of(&mut s, 0, "Me"), [(inc, (1 << 40) + 1)]);
    assert_eq!(descriptions_of(&mut s, 0, "Me"), vec![]);
    // A later incarnation: the one after it, for the streams too; confirmations of what was
    // numbered in the one before still count.
    let body = RawValue::from_string("1".into()).unwrap();
    let now = s.now();
    s.node.send_message("A", &body, now).unwrap();
    s.sent(0);
    s.recv(0, &forged(inc + 50, 1));
    assert_eq!(versions_of(&mut s, 0, "Me"), [(inc + 51, 1)]);
    assert_eq!(s.node.incarnation(), inc + 51);
    s.events();
    s.recv(
        0,
        &format!(r#"{{"c":"ack","f":"A","t":"Me","i":{inc},"s":1,"h":1}}"#),
    );
    assert!(
        s.events()
            .iter()
            .any(|e| matches!(e, Event::Delivered { .. }))
    );
    assert_eq!(s.node.stats().own_overtaken, 3);
    assert!(!s.node.stats().outranked);
}

#[test]
fn every_agent_refreshes_its_description_every_half_lifetime_and_forgets_what_nobody_refreshes() {
    let mut s = Script::with("Me", quiet(Duration::from_secs(10)));
    let (inc, seq) = linked(&mut s);
    s.recv(0, r#"{"c":"lsa","o":"A","i":3,"s":1,"n":["Me"],"x":[]}"#);
    s.advance(100);
    assert!(s.node.route("A").is_some_and(|r| r.confirmed));
    let computed = s.node.stats().paths_computed;
    s.advance(5_000 - 100 - 1);
    assert_eq!(versions_of(&mut s, 0, "Me"), []);
    s.advance(1);
    assert_eq!(
        versions_of(&mut s, 0, "Me"),
        [(inc, seq + 1)],
        "half a lifetime on"
    );
    s.advance(5_000);
    assert_eq!(versions_of(&mut s, 0, "Me"), [(inc, seq + 2)]);
    assert_eq!(
        s.node.stats().paths_computed,
        computed,
        "same lists: nothing to compute"
    );
    // A's description was stored 10 s ago and never superseded: forgotten.
    s.advance(1);
    assert!(s.node.lsdb().get("A").is_none());
    // A refreshed one is kept.
    s.recv(0, r#"{"c":"lsa","o":"A","i":3,"s":2,"n":["Me"],"x":[]}"#);
    s.advance(9_000);
    s.recv(0, r#"{"c":"lsa","o":"A","i":3,"s":3,"n":["Me"],"x":[]}"#);
    s.advance(9_000);
    assert!(s.node.lsdb().get("A").is_some());
}

#[test]
fn an_outranked_agent_floods_what_it_holds_after_the_keep_and_after_the_lifetime() {
    let mut s = Script::with("Me", quiet(Duration::from_secs(600)));
    let (inc, seq) = linked(&mut s);
    s.recv(0, r#"{"c":"lsa","o":"A","i":3,"s":1,"n":["Me"],"x":[]}"#);
    s.advance(100);
    s.sent(0);
    let top = crate::wire::MAX_NUMBER;
    s.recv(
        0,
        &format!(r#"{{"c":"lsa","o":"Me","i":{top},"s":{top},"n":[],"x":[]}}"#),
    );
    assert!(s.node.stats().outranked);
    assert_eq!(s.node.lsdb().own().seq, seq, "nothing above the top");
    let mut seen = Vec::new();
    for k in 1..700 {
        if k % 200 == 0 {
            // A refreshes its description, as every agent does.
            s.recv(
                0,
                &format!(r#"{{"c":"lsa","o":"A","i":3,"s":{},"n":["Me"],"x":[]}}"#, k),
            );
        }
        s.advance(1_000);
        let written = s.sent(0);
        let lsa = |o: &str| written.iter().any(|f| f.contains(&format!(r#""o":"{o}""#)));
        if lsa("Me") {
            seen.push((s.now - Duration::from_millis(OWN_GATHER + 100), lsa("A")));
        }
    }
    // After the minute a description nobody reaches is kept and the margin, and after the
    // lifetime and the margin, everything it holds; between, its refreshes (own only).
    let secs: Vec<(u64, bool)> = seen.iter().map(|&(t, all)| (t.as_secs(), all)).collect();
    assert_eq!(secs, [(65, true), (300, false), (600, false), (605, true)]);
    assert!(!s.node.stats().outranked);
    assert_eq!(s.node.lsdb().own().inc, inc);
}
