//! Links: bad bytes close only their link; accepted links waiting for their hello are limited.

use super::*;

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
