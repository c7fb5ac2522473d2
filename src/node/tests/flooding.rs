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
