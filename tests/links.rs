//! Link lifecycle over loopback: queueing for late agents, reconnection, deliberate disconnects.

mod support;

use std::time::Duration;

use secretagent::{Event, LinkDownReason, Options, READ_BUDGET};
use serde_json::json;
use support::{Cluster, LIMIT, Raw, fast};

#[test]
fn a_message_waits_for_an_addressee_that_joins_later() {
    let mut c = Cluster::new();
    let (wolf, wolf_addr) = c.add_listening("Wolf", fast());
    c.agents[wolf]
        .send_message("Late", &json!({"n": 1}))
        .unwrap();
    c.agents[wolf]
        .send_message("Late", &json!({"n": 2}))
        .unwrap();
    assert_eq!(c.agents[wolf].stats().queued_messages, 2);
    c.step(Duration::from_millis(20));
    assert!(c.received(wolf).is_empty());

    let late = c.add("Late", fast());
    c.agents[late].connect(wolf_addr).unwrap();
    c.run_until("Late gets both, in order", LIMIT, |c| {
        c.received(late).len() == 2
    });
    let bodies: Vec<String> = c.received(late).into_iter().map(|(_, _, b)| b).collect();
    assert_eq!(bodies, [r#"{"n":1}"#, r#"{"n":2}"#]);
    // Both confirmed, and nothing left held for Late.
    c.run_until("Wolf sees both confirmed", LIMIT, |c| {
        c.log[wolf]
            .iter()
            .filter(|e| matches!(e, Event::Delivered { .. }))
            .count()
            == 2
    });
    assert_eq!(c.agents[wolf].stats().queued_messages, 0);
}

#[test]
fn a_message_waits_for_a_name_two_hops_away() {
    let mut c = Cluster::new();
    let (a, a_addr) = c.add_listening("A", fast());
    let b = c.add("B", fast());
    c.agents[b].connect(a_addr).unwrap();
    c.run_until("A and B linked", LIMIT, |c| c.reaches(a, "B"));
    c.agents[a].send_message("C", &json!("hello C")).unwrap();
    let (cc, c_addr) = c.add_listening("C", fast());
    c.agents[b].connect(c_addr).unwrap();
    c.run_until("C gets it through B", LIMIT, |c| !c.received(cc).is_empty());
    assert_eq!(
        c.received(cc)[0],
        ("A".into(), "B".into(), r#""hello C""#.into())
    );
}

#[test]
fn a_dialled_link_comes_back_when_the_peers_listener_returns() {
    let mut c = Cluster::new();
    let (wolf, wolf_addr) = c.add_listening("Wolf", fast());
    let ames = c.add("Ames", fast());
    c.agents[ames].connect(wolf_addr).unwrap();
    c.run_until("linked", LIMIT, |c| c.reaches(ames, "Wolf"));

    // Wolf goes away entirely; Ames keeps trying.
    drop(c.agents.remove(wolf));
    c.log.remove(wolf);
    let ames = c.index("Ames");
    c.run_until("Ames loses Wolf and fails to re-dial", LIMIT, |c| {
        c.log[ames].contains(&Event::Lose {
            name: "Wolf".into(),
        }) && c.log[ames]
            .iter()
            .filter(|e| matches!(e, Event::ConnectFailed { .. }))
            .count()
            >= 2
    });

    // A new Wolf on the same port: Ames reconnects by itself, and messages flow again.
    let wolf2 = c.add("Wolf", fast());
    c.agents[wolf2].listen(wolf_addr).unwrap();
    c.run_until("Ames back with Wolf", LIMIT, |c| {
        c.agents[ames].direct_member("Wolf").is_some()
    });
    c.agents[ames]
        .send_message("Wolf", &json!("again"))
        .unwrap();
    c.run_until("Wolf gets it", LIMIT, |c| !c.received(wolf2).is_empty());
}

#[test]
fn a_disconnected_link_is_not_redialled() {
    let mut c = Cluster::new();
    let (wolf, wolf_addr) = c.add_listening("Wolf", fast());
    let ames = c.add("Ames", fast());
    let id = c.agents[ames].connect(wolf_addr).unwrap();
    c.run_until("linked", LIMIT, |c| {
        c.reaches(ames, "Wolf") && c.reaches(wolf, "Ames")
    });
    c.agents[ames].disconnect(id).unwrap();
    c.run_until("both see the link gone", LIMIT, |c| {
        !c.reaches(ames, "Wolf") && !c.reaches(wolf, "Ames")
    });
    assert!(c.log[ames].iter().any(|e| matches!(
        e,
        Event::LinkDown {
            reason: LinkDownReason::Disconnected,
            ..
        }
    )));
    // That they stay apart, past every re-dial and keepalive timer, is checked in virtual
    // time: `src/sim/never.rs`, `a_disconnected_link_is_not_redialled`.

    // Disconnecting again, or someone unknown, is an error that says so.
    let err = c.agents[ames].disconnect("Wolf").unwrap_err();
    assert!(err.to_string().contains("not a direct peer"), "{err}");
}

#[test]
fn disconnect_by_name_stops_the_redial_too() {
    let mut c = Cluster::new();
    let (wolf, wolf_addr) = c.add_listening("Wolf", fast());
    let ames = c.add("Ames", fast());
    c.agents[ames].connect(wolf_addr).unwrap();
    c.run_until("linked", LIMIT, |c| c.reaches(ames, "Wolf"));
    c.agents[ames].disconnect("Wolf").unwrap();
    c.run_until("both see the link gone", LIMIT, |c| {
        !c.reaches(ames, "Wolf") && !c.reaches(wolf, "Ames")
    });
    // That Ames never re-dials is checked in virtual time: `src/sim/never.rs`,
    // `disconnect_by_name_stops_the_redial_too`.
}

#[test]
fn dialling_the_same_agent_twice_keeps_one_link() {
    let mut c = Cluster::new();
    let (wolf, wolf_addr) = c.add_listening("Wolf", fast());
    let ames = c.add("Ames", fast());
    c.agents[ames].connect(wolf_addr).unwrap();
    c.run_until("linked", LIMIT, |c| c.reaches(ames, "Wolf"));
    c.agents[ames].connect(wolf_addr).unwrap();
    c.run_until("the second link refused", LIMIT, |c| {
        c.log[ames].iter().any(|e| {
            matches!(
                e,
                Event::LinkDown {
                    reason: LinkDownReason::Duplicate { .. },
                    ..
                }
            )
        })
    });
    // That the pair never loses each other afterwards is checked in virtual time:
    // `src/sim/never.rs`, `dialling_the_same_agent_twice_keeps_one_link`.
    assert!(c.reaches(ames, "Wolf") && c.reaches(wolf, "Ames"));
    assert_eq!(c.agents[ames].everybody().len(), 1);
    assert_eq!(c.agents[wolf].everybody().len(), 1);
}

#[test]
fn two_agents_dialling_each_other_end_up_linked_once() {
    for _ in 0..5 {
        let mut c = Cluster::new();
        let (a, a_addr) = c.add_listening("A", fast());
        let (b, b_addr) = c.add_listening("B", fast());
        c.agents[a].connect(b_addr).unwrap();
        c.agents[b].connect(a_addr).unwrap();
        c.run_until("linked exactly once, both sides agreeing", LIMIT, |c| {
            c.agents[a].everybody().len() == 1
                && c.agents[b].everybody().len() == 1
                && c.agents[a].stats().links == 1
                && c.agents[b].stats().links == 1
        });
        c.agents[a].send_message("B", &json!(1)).unwrap();
        c.run_until("message through", LIMIT, |c| !c.received(b).is_empty());
    }
}

#[test]
fn a_burst_longer_than_a_polls_read_budget_arrives_whole_and_in_order() {
    // Default options: the next timer (a ping) is seconds away, and the caller waits on the
    // agent's readiness and `next_timeout` alone, as an embedding event loop does: bytes a
    // poll leaves unread must make `next_timeout` say "now".
    let mut c = Cluster::new();
    let (v, addr) = c.add_listening("V", Options::default());
    let mut raw = Raw::connect(addr);
    raw.send(&mut c, r#"{"c":"hi!","mynameis":"R","iknow":[]}"#);
    let answer = raw.recv(&mut c);
    assert!(answer.starts_with(r#"{"a":"hi!""#), "{answer}");
    let n = 40_000;
    let mut burst = Vec::new();
    for i in 0..n {
        let payload = format!(r#"{{"c":"msg","f":"R","t":"V","m":{i}}}"#);
        support::codec::encode(&mut burst, payload.as_bytes());
    }
    assert!(burst.len() > 8 * READ_BUDGET);
    raw.send_bytes(&mut c, &burst);
    // Every step waits on readiness and `next_timeout` only.
    let deadline = std::time::Instant::now() + LIMIT;
    while c.received(v).len() < n {
        assert!(
            std::time::Instant::now() < deadline,
            "{} of {n} messages read",
            c.received(v).len()
        );
        c.step(LIMIT);
    }
    let bodies: Vec<String> = c.received(v).into_iter().map(|(_, _, b)| b).collect();
    let expected: Vec<String> = (0..n).map(|i| i.to_string()).collect();
    assert!(bodies == expected, "out of order or duplicated");
}

/// The `ConnectFailed` events agent `i` reported.
fn connect_failures(
    c: &Cluster,
    i: usize,
) -> Vec<(secretagent::ConnectId, String, Option<Duration>)> {
    c.log[i]
        .iter()
        .filter_map(|e| match e {
            Event::ConnectFailed {
                connect,
                error,
                retry_in,
            } => Some((*connect, error.clone(), *retry_in)),
            _ => None,
        })
        .collect()
}

#[test]
fn an_agent_that_dials_its_own_address_says_so_once_and_does_not_retry() {
    let mut c = Cluster::new();
    // Once by the address it listens on, once through a listener on every interface.
    let (me, addr) = c.add_listening("Narcissus", fast());
    let port = c.agents[me].listen("0.0.0.0:0").unwrap().port();
    let wildcard = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let first = c.agents[me].connect(addr).unwrap();
    let second = c.agents[me].connect(wildcard).unwrap();
    c.run_until("both dials reported", LIMIT, |c| {
        connect_failures(c, me).len() == 2
    });
    for (id, to) in [(first, addr), (second, wildcard)] {
        let (_, error, retry_in) = connect_failures(&c, me)
            .into_iter()
            .find(|f| f.0 == id)
            .expect("reported");
        assert_eq!(retry_in, None, "not retried: {error}");
        assert!(
            error.contains(&to.to_string()) && error.contains("dialled its own address"),
            "{error}"
        );
    }
    // Neither end took the other for an impostor claiming its name, and no link came up.
    assert!(
        !c.log[me].iter().any(|e| matches!(
            e,
            Event::LinkDown {
                reason: LinkDownReason::OwnName,
                ..
            } | Event::LinkUp { .. }
        )),
        "{}",
        c.dump()
    );
    assert_eq!(c.agents[me].stats().links, 0);
}
