//! Relaying: messages and confirmations for others passed on, with the next hop count on v2.

use super::*;

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

#[test]
fn hop_counts_at_the_top_of_the_number_space_are_dropped_and_above_it_close_the_link() {
    let mut s = Script::with(
        "Me",
        Options {
            max_hops: u8::MAX,
            ..Options::default()
        },
    );
    accept_v2(&mut s, 0, "A");
    accept_v2(&mut s, 1, "B");
    s.sent(0);
    s.sent(1);
    let top = crate::wire::MAX_NUMBER;
    s.recv(
        0,
        &format!(r#"{{"c":"msg","f":"A","t":"B","m":1,"h":{top}}}"#),
    );
    s.recv(
        0,
        &format!(r#"{{"c":"ack","f":"A","t":"B","i":1,"s":1,"h":{top}}}"#),
    );
    assert_eq!(s.sent(1), Vec::<String>::new());
    assert_eq!(s.node.stats().relay_dropped, 2);
    // The last count a relay passes on.
    s.recv(0, r#"{"c":"msg","f":"A","t":"B","m":1,"h":254}"#);
    assert_eq!(s.sent(1), [r#"{"c":"msg","f":"A","t":"B","m":1,"h":255}"#]);
    // Above the number space: malformed.
    s.recv(
        0,
        &format!(r#"{{"c":"msg","f":"A","t":"B","m":1,"h":{}}}"#, top + 1),
    );
    assert!(matches!(
        &s.actions()[..],
        [Action::Close {
            link: LinkId(0),
            ..
        }]
    ));
}
