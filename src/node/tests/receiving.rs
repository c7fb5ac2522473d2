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
