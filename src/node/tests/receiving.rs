//! Messages for this agent: handed to the application with the direct sender.

use super::*;

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

/// Me – B – W: Me reaches W through B, whose description lists it; W is in incarnation 5.
fn behind_b() -> Script {
    let mut s = Script::new("Me");
    accept_v2(&mut s, 0, "B");
    s.recv(
        0,
        r#"{"c":"lsa","o":"B","i":1,"s":1,"n":["Me","W"],"p":["Old"],"x":[]}"#,
    );
    s.recv(0, r#"{"c":"lsa","o":"W","i":5,"s":1,"n":["B"],"x":[]}"#);
    s.advance(100);
    assert_eq!(s.node.route("W").map(|r| r.link), Some(LinkId(0)));
    s.events();
    s
}

fn bodies(s: &mut Script) -> Vec<String> {
    s.events()
        .into_iter()
        .filter_map(|e| match e {
            Event::Message { body, .. } => Some(body.get().to_owned()),
            _ => None,
        })
        .collect()
}

#[test]
fn a_relayed_numbered_message_above_its_origins_described_incarnation_is_refused() {
    let mut s = behind_b();
    let msg = |i: u64, seq: u64, m: &str| {
        format!(r#"{{"c":"msg","f":"W","t":"Me","m":"{m}","h":2,"i":{i},"s":{seq},"b":1}}"#)
    };
    s.recv(0, &msg(5, 1, "one"));
    assert_eq!(bodies(&mut s), ["\"one\""]);
    // A later run of W that W's description does not state, far above or just above.
    s.recv(0, &msg(crate::wire::MAX_NUMBER, 1, "forged"));
    s.recv(0, &msg(6, 1, "forged"));
    assert_eq!(bodies(&mut s), Vec::<String>::new());
    assert_eq!(s.node.stats().rejected, 2);
    // W's own stream was not made stale.
    s.recv(0, &msg(5, 2, "two"));
    assert_eq!(bodies(&mut s), ["\"two\""]);
    // Once W describes a new run, its messages are taken.
    s.recv(0, r#"{"c":"lsa","o":"W","i":6,"s":1,"n":["B"],"x":[]}"#);
    s.recv(0, &msg(6, 1, "new run"));
    assert_eq!(bodies(&mut s), ["\"new run\""]);
}

#[test]
fn a_relayed_numbered_message_from_an_origin_that_describes_nothing_is_refused_and_a_direct_one_is_not()
 {
    let mut s = behind_b();
    s.recv(
        0,
        r#"{"c":"msg","f":"B","t":"Me","m":1,"h":1,"i":99,"s":1,"b":1}"#,
    );
    assert_eq!(
        bodies(&mut s),
        ["1"],
        "B speaks for itself, whatever its description says"
    );
    // Old is a v1 peer of B: reached through B, and describing nothing, so it numbers nothing.
    assert!(s.node.route("Old").is_some());
    s.recv(
        0,
        r#"{"c":"msg","f":"Old","t":"Me","m":2,"h":2,"i":1,"s":1,"b":1}"#,
    );
    assert_eq!(bodies(&mut s), Vec::<String>::new());
    assert_eq!(s.node.stats().rejected, 1);
}
