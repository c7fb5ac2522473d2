//! Checks that something never happens, in virtual time: the twins of the loopback tests
//! (`tests/links.rs`, `tests/scenarios.rs`, `tests/delivery.rs`) whose "never" part used to
//! watch the wall clock for a few hundred milliseconds. Each builds the same mesh with the same
//! options on the [`Testbed`], reaches the same state, then runs virtual time well past every
//! timer that could bring the forbidden thing about (re-dials with their jitter, keepalive
//! rounds, hello deadlines, and where it matters the minute a description is kept), checking
//! at every step. The loopback tests keep their positive assertions.

use std::time::Duration;

use serde_json::value::RawValue;

use super::testbed::Testbed;
use crate::{Event, LinkDownReason, Options};

/// Virtual time in which a test must reach each state it waits for.
const LIMIT: Duration = Duration::from_secs(10);

/// The loopback tests' options: fast reconnection, unchanged otherwise.
fn fast() -> Options {
    Options {
        auto_reconnect_interval: Duration::from_millis(50),
        ..Options::default()
    }
}

/// Options of `tests/delivery.rs`: fast keepalive too, and relays report themselves.
fn quick() -> Options {
    Options {
        ping_after: Duration::from_millis(200),
        ping_timeout: Duration::from_millis(300),
        trace_relays: true,
        ..fast()
    }
}

/// Options of `tests/scenarios.rs`: relays report themselves.
fn traced() -> Options {
    Options {
        trace_relays: true,
        ..fast()
    }
}

/// Virtual time past every timer that could undo a settled state under `o`: ten reconnection
/// intervals with their jitter (up to half an interval more), two keepalive rounds (silence,
/// a ping, its timeout), and the hello deadline.
fn past_every_timer(o: &Options) -> Duration {
    10 * (o.auto_reconnect_interval * 3 / 2) + 2 * (o.ping_after + o.ping_timeout) + o.hello_timeout
}

fn json(text: &str) -> Box<RawValue> {
    RawValue::from_string(text.to_owned()).expect("valid JSON")
}

/// How many times station `i` met `name`.
fn meetings(t: &Testbed, i: usize, name: &str) -> usize {
    t.log(i)
        .iter()
        .filter(|e| matches!(e, Event::Meet { name: n } if n == name))
        .count()
}

/// Messages station `i` was handed, as (from, via, body).
fn received(t: &Testbed, i: usize) -> Vec<(String, String, String)> {
    t.log(i)
        .iter()
        .filter_map(|e| match e {
            Event::Message {
                from, via, body, ..
            } => Some((from.to_string(), via.to_string(), body.get().to_owned())),
            _ => None,
        })
        .collect()
}

/// Twin of `tests/links.rs` `a_disconnected_link_is_not_redialled`.
#[test]
fn a_disconnected_link_is_not_redialled() {
    let mut t = Testbed::new();
    let wolf = t.add("Wolf", fast());
    let ames = t.add("Ames", fast());
    let id = t.connect(ames, wolf);
    t.drive_until("linked", LIMIT, |t| {
        t.reaches(ames, "Wolf") && t.reaches(wolf, "Ames")
    });
    t.command(ames, |n, now| n.disconnect_connect(id, now))
        .expect("a connect call Ames made");
    t.drive_until("both see the link gone", LIMIT, |t| {
        !t.reaches(ames, "Wolf") && !t.reaches(wolf, "Ames")
    });
    assert!(t.log(ames).iter().any(|e| matches!(
        e,
        Event::LinkDown {
            reason: LinkDownReason::Disconnected,
            ..
        }
    )));
    let dials = t.dials(ames);
    t.drive_checking(past_every_timer(&fast()), "Ames re-dialled Wolf", |t| {
        t.direct(ames, "Wolf") || t.direct(wolf, "Ames") || t.dials(ames) != dials
    });
}

/// Twin of `tests/links.rs` `disconnect_by_name_stops_the_redial_too`.
#[test]
fn disconnect_by_name_stops_the_redial_too() {
    let mut t = Testbed::new();
    let wolf = t.add("Wolf", fast());
    let ames = t.add("Ames", fast());
    t.connect(ames, wolf);
    t.drive_until("linked", LIMIT, |t| t.reaches(ames, "Wolf"));
    t.command(ames, |n, now| n.disconnect_name("Wolf", now))
        .expect("Wolf is a direct peer");
    t.drive_until("both see the link gone", LIMIT, |t| {
        !t.reaches(ames, "Wolf") && !t.reaches(wolf, "Ames")
    });
    let dials = t.dials(ames);
    t.drive_checking(past_every_timer(&fast()), "Ames re-dialled Wolf", |t| {
        t.direct(wolf, "Ames") || t.node(ames).stats().links > 0 || t.dials(ames) != dials
    });
}

/// Twin of `tests/links.rs` `dialling_the_same_agent_twice_keeps_one_link`.
#[test]
fn dialling_the_same_agent_twice_keeps_one_link() {
    let mut t = Testbed::new();
    let wolf = t.add("Wolf", fast());
    let ames = t.add("Ames", fast());
    t.connect(ames, wolf);
    t.drive_until("linked", LIMIT, |t| t.reaches(ames, "Wolf"));
    t.connect(ames, wolf);
    t.drive_until("the second link refused", LIMIT, |t| {
        t.log(ames).iter().any(|e| {
            matches!(
                e,
                Event::LinkDown {
                    reason: LinkDownReason::Duplicate { .. },
                    ..
                }
            )
        })
    });
    t.drive_checking(past_every_timer(&fast()), "the pair lost each other", |t| {
        !t.reaches(ames, "Wolf") || !t.reaches(wolf, "Ames")
    });
    assert_eq!(t.node(ames).peers().len(), 1);
    assert_eq!(t.node(wolf).peers().len(), 1);
}

/// Twin of `tests/scenarios.rs` `spies_wolf_reaches_rosenberg_through_ames_after_disconnecting_him`.
#[test]
fn spies_wolf_never_relinks_to_rosenberg_after_disconnecting_him() {
    let mut t = Testbed::new();
    let wolf = t.add("Wolf", traced());
    let ames = t.add("Ames", traced());
    let ros = t.add("Rosenberg", traced());
    // Ames dials Wolf, Rosenberg dials Ames, Wolf dials Rosenberg: a ring of three.
    t.connect(ames, wolf);
    t.connect(ros, ames);
    t.connect(wolf, ros);
    t.drive_until("a ring of three", LIMIT, |t| {
        (0..3).all(|i| t.node(i).peers().len() == 2 && t.node(i).routes().count() == 2)
    });
    // Every agent's description lists both its links before Wolf disconnects (a new link is
    // described once its database exchange is complete and the rest of its burst had 20 ms
    // to come; the loopback test waits until every agent's graph shows the whole ring).
    t.settle(LIMIT);
    let meeting = r#"{"subject":"Meeting","content":"KGB meeting in Moscow - 1st February"}"#;
    t.command(ros, |n, now| n.send_message("Wolf", &json(meeting), now))
        .expect("Wolf is a direct peer");
    t.drive_until("Wolf gets the meeting", LIMIT, |t| {
        !received(t, wolf).is_empty()
    });
    assert_eq!(
        received(&t, wolf)[0],
        ("Rosenberg".into(), "Rosenberg".into(), meeting.into())
    );
    t.command(wolf, |n, now| n.disconnect_name("Rosenberg", now))
        .expect("Rosenberg is a direct peer");
    let via = |t: &Testbed, i: usize, to: &str| {
        let n = t.node(i);
        n.route(to)
            .and_then(|r| n.link_peer(r.link))
            .map(str::to_owned)
    };
    t.drive_until(
        "Wolf and Rosenberg unlinked, still reachable through Ames",
        LIMIT,
        |t| {
            !t.direct(wolf, "Rosenberg")
                && !t.direct(ros, "Wolf")
                && via(t, wolf, "Rosenberg").as_deref() == Some("Ames")
                && via(t, ros, "Wolf").as_deref() == Some("Ames")
        },
    );
    let reply = r#"{"subject":"Meeting","content":"Understood. I'll be there."}"#;
    t.command(wolf, |n, now| {
        n.send_message("Rosenberg", &json(reply), now)
    })
    .expect("Rosenberg is reachable");
    t.drive_until("Rosenberg gets the reply", LIMIT, |t| {
        !received(t, ros).is_empty()
    });
    assert_eq!(
        received(&t, ros)[0],
        ("Wolf".into(), "Ames".into(), reply.into())
    );
    // Nobody loses anybody, and Wolf never re-dials Rosenberg.
    let lost =
        |t: &Testbed| (0..3).any(|i| t.log(i).iter().any(|e| matches!(e, Event::Lose { .. })));
    t.drive_checking(
        past_every_timer(&traced()),
        "Wolf re-linked to Rosenberg, or someone lost someone",
        |t| t.direct(wolf, "Rosenberg") || lost(t),
    );
    assert!(!lost(&t), "{}", t.dump());
}

/// Twin of `tests/delivery.rs`
/// `a_vanished_agent_is_withdrawn_everywhere_and_messages_for_it_wait_without_looping`.
#[test]
fn a_message_for_a_vanished_agent_waits_without_travelling() {
    // A ring A-B-C-D-A: the classic setting for counting to infinity.
    let mut t = Testbed::new();
    let names = ["A", "B", "C", "D"];
    for n in names {
        t.add(n, quick());
    }
    for i in 0..4 {
        t.connect(i, (i + 1) % 4);
    }
    t.drive_until("the ring converges", LIMIT, |t| {
        (0..4).all(|i| names.iter().all(|n| *n == names[i] || t.reaches(i, n)))
    });
    // D vanishes at once, taking its connections with it. While its removal spreads, the
    // stale descriptions of D and of its neighbours still list each other: nobody may meet
    // D again through them.
    let met_d = |t: &Testbed| -> Vec<usize> { (0..3).map(|i| meetings(t, i, "D")).collect() };
    let met = met_d(&t);
    t.vanish(3);
    t.drive_checking(Duration::from_secs(1), "D met again", |t| met_d(t) != met);
    for i in 0..3 {
        assert!(!t.reaches(i, "D"), "{}", t.dump());
        assert!(t.log(i).contains(&Event::Lose { name: "D".into() }));
    }

    // A message for D stays in A's queue; no relay passes it around, however long it waits:
    // past the minute a description of an agent nobody reaches is kept, too.
    t.command(0, |n, now| {
        n.send_message("D", &json(r#""are you there?""#), now)
    })
    .expect("queued for D");
    let relays = |t: &Testbed| -> Vec<u64> {
        (0..3)
            .map(|i| t.node(i).stats().relayed + t.node(i).stats().relay_dropped)
            .collect()
    };
    let before = relays(&t);
    let span = past_every_timer(&quick()).max(Duration::from_secs(150));
    t.drive_checking(span, "a message for D travelled, or D was met", |t| {
        relays(t) != before || met_d(t) != met
    });
    assert_eq!(t.node(0).queued_for("D"), 1);

    // D comes back (a new process, dialling A): the message goes out.
    let d = t.add("D", quick());
    t.connect(d, 0);
    t.drive_until("D gets the message", LIMIT, |t| !received(t, d).is_empty());
}

/// An agent cut off from the mesh keeps what it knew of it; when it links again, that may
/// be stale. It must not meet, on its old picture, an agent that vanished meanwhile.
#[test]
fn an_agent_that_links_again_does_not_meet_one_that_vanished_while_it_was_cut_off() {
    // A line A-B-C-D; A is cut off and re-dials B while D vanishes.
    let mut t = Testbed::new();
    let names = ["A", "B", "C", "D"];
    for n in names {
        t.add(n, fast());
    }
    for i in 0..3 {
        t.connect(i, i + 1);
    }
    t.drive_until("the line converges", LIMIT, |t| {
        (0..4).all(|i| names.iter().all(|n| *n == names[i] || t.reaches(i, n)))
    });
    t.settle(LIMIT);
    t.command(1, |n, now| n.disconnect_name("A", now))
        .expect("A is a direct peer of B");
    t.vanish(3);
    t.drive_until("A is cut off", LIMIT, |t| !t.reaches(0, "B"));
    let met = meetings(&t, 0, "D");
    t.drive_until("A re-dialled B", LIMIT, |t| t.reaches(0, "C"));
    t.drive_checking(past_every_timer(&fast()), "A met D again", |t| {
        meetings(t, 0, "D") != met || t.reaches(0, "D")
    });
}
