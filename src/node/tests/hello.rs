//! The hello: who speaks first, what the answer says, refusals, the hello timeout.

use super::*;

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
