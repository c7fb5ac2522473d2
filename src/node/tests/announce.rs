//! v1 announcements: split horizon, withdrawals, names told again when their route changes.

use super::*;

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
