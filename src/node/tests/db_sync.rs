//! v2 database exchange: summaries, then only what the other side lacks.

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
