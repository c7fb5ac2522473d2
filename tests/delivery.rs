//! v2 routing and delivery over loopback: shortest paths as links come and go, silent
//! failures, vanished agents, restarted senders, deadlines, and the proxy's faults as the
//! agents see them.

mod support;

use std::time::{Duration, Instant};

use secretagent::{Event, LinkDownReason, Options, UndeliverableReason};
use serde_json::json;
use support::proxy::Route;
use support::{Cluster, LIMIT, fast};

fn quick() -> Options {
    let mut o = fast();
    o.ping_after = Duration::from_millis(200);
    o.ping_timeout = Duration::from_millis(300);
    o.trace_relays = true;
    o
}

fn link_down_reasons(c: &Cluster, i: usize) -> Vec<LinkDownReason> {
    c.log[i]
        .iter()
        .filter_map(|e| match e {
            Event::LinkDown { reason, .. } => Some(reason.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn the_proxys_faults_look_to_agents_as_they_should() {
    let mut c = Cluster::new();
    let (b, b_addr) = c.add_listening("B", quick());
    let a = c.add("A", quick());
    let route = Route::new(b_addr);
    c.agents[a].connect(route.addr).unwrap();
    c.run_until("linked", LIMIT, |c| c.reaches(a, "B") && c.reaches(b, "A"));

    route.cut();
    c.run_until("a clean close, then a re-dial", LIMIT, |c| {
        link_down_reasons(c, a).contains(&LinkDownReason::PeerClosed)
            && c.log[a]
                .iter()
                .filter(|e| matches!(e, Event::LinkUp { .. }))
                .count()
                == 2
    });

    route.reset();
    c.run_until("a reset", LIMIT, |c| {
        link_down_reasons(c, a).iter().any(|r| {
            matches!(
                r,
                LinkDownReason::Io {
                    kind: std::io::ErrorKind::ConnectionReset,
                    ..
                }
            )
        })
    });
    c.run_until("back", LIMIT, |c| c.agents[a].direct_member("B").is_some());

    route.blackhole();
    c.run_until("silence detected by the keepalive", LIMIT, |c| {
        link_down_reasons(c, a).contains(&LinkDownReason::PingTimeout)
            && link_down_reasons(c, b).contains(&LinkDownReason::PingTimeout)
    });
    route.heal();
    c.run_until("back after healing", LIMIT, |c| {
        c.agents[a].direct_member("B").is_some()
    });
    route.stop();
}

#[test]
fn a_silently_dead_link_is_routed_around_without_loss() {
    // A–B through the proxy, and A–C–B as the other way.
    let mut c = Cluster::new();
    let (b, b_addr) = c.add_listening("B", quick());
    let (cc, c_addr) = c.add_listening("C", quick());
    let a = c.add("A", quick());
    let route = Route::new(b_addr);
    c.agents[a].connect(route.addr).unwrap();
    c.agents[a].connect(c_addr).unwrap();
    c.agents[cc].connect(b_addr).unwrap();
    c.run_until("a triangle", LIMIT, |c| {
        c.converged() && c.agents[a].route_via("B") == Some("B")
    });

    let total = 400u64;
    let mut sent = 0u64;
    let mut blackholed_at = None;
    let mut first_after = None;
    let deadline = Instant::now() + Duration::from_secs(20);
    while c.received(b).len() < total as usize {
        assert!(Instant::now() < deadline, "not all arrived\n{}", c.dump());
        if sent < total {
            c.agents[a].send_message("B", &json!({"n": sent})).unwrap();
            sent += 1;
        }
        if sent == 100 && blackholed_at.is_none() {
            route.blackhole();
            blackholed_at = Some((Instant::now(), c.received(b).len()));
        }
        c.step(Duration::from_millis(2));
        if let (Some((_, before)), None) = (blackholed_at, first_after) {
            let through_c = c
                .relayed(cc)
                .iter()
                .any(|(f, t, _, _)| f == "A" && t == "B");
            if through_c && c.received(b).len() > before {
                first_after = Some(Instant::now());
            }
        }
    }
    let got: Vec<u64> = c
        .received(b)
        .iter()
        .map(|(_, _, body)| {
            serde_json::from_str::<serde_json::Value>(body).unwrap()["n"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(
        got,
        (0..total).collect::<Vec<_>>(),
        "lost, repeated or reordered"
    );
    assert!(link_down_reasons(&c, a).contains(&LinkDownReason::PingTimeout));
    assert_eq!(c.agents[a].route_via("B"), Some("C"));
    c.run_until("every message confirmed", LIMIT, |c| {
        c.log[a]
            .iter()
            .filter(|e| matches!(e, Event::Delivered { .. }))
            .count()
            == total as usize
    });
    let (at, _) = blackholed_at.unwrap();
    eprintln!(
        "blackhole to first delivery through C: {} ms (ping_after 200 ms, ping_timeout 300 ms)",
        first_after.map_or(0, |t| (t - at).as_millis())
    );
    route.stop();
}

/// Sends a uniquely numbered message from `from` to `to` and returns the path it took.
fn path(c: &mut Cluster, from: usize, to: usize, n: u64) -> Vec<String> {
    let (f, t) = (
        c.agents[from].name().to_owned(),
        c.agents[to].name().to_owned(),
    );
    c.agents[from]
        .send_message(&t, &json!({"probe": n}))
        .unwrap();
    let body = json!({"probe": n}).to_string();
    c.run_until("the probe arrives", LIMIT, |c| {
        c.received(to).iter().any(|(_, _, b)| *b == body)
    });
    c.path_of(&f, &t, &body)
}

#[test]
fn the_shortest_way_is_taken_when_a_shortcut_appears_and_left_when_it_goes() {
    // A line L0-L1-L2-L3-L4.
    let mut c = Cluster::new();
    let mut addr = Vec::new();
    for i in 0..5 {
        addr.push(c.add_listening(&format!("L{i}"), quick()).1);
    }
    for i in 0..4 {
        c.agents[i].connect(addr[i + 1]).unwrap();
    }
    c.run_until("the line converges", LIMIT, |c| {
        c.converged() && c.agents[0].route("L4").unwrap().hops == Some(4)
    });
    assert_eq!(path(&mut c, 0, 4, 1), ["L0", "L1", "L2", "L3", "L4"]);

    let shortcut = c.agents[0].connect(addr[3]).unwrap();
    c.run_until("the shortcut is used", LIMIT, |c| {
        c.agents[0].route("L4").unwrap().hops == Some(2)
    });
    assert_eq!(path(&mut c, 0, 4, 2), ["L0", "L3", "L4"]);
    // Every agent sees the shorter way, not just its ends.
    assert_eq!(c.agents[1].route("L4").unwrap().hops, Some(3));

    c.agents[0].disconnect(shortcut).unwrap();
    c.run_until("back to the line", LIMIT, |c| {
        c.agents[0].route("L4").unwrap().hops == Some(4)
    });
    assert_eq!(path(&mut c, 0, 4, 3), ["L0", "L1", "L2", "L3", "L4"]);
}

#[test]
fn a_vanished_agent_is_withdrawn_everywhere_and_messages_for_it_wait_without_looping() {
    // A ring A-B-C-D-A: the classic setting for counting to infinity.
    let mut c = Cluster::new();
    let names = ["A", "B", "C", "D"];
    let mut addr = Vec::new();
    for n in names {
        addr.push(c.add_listening(n, quick()).1);
    }
    for i in 0..4 {
        c.agents[i].connect(addr[(i + 1) % 4]).unwrap();
    }
    c.run_until("the ring converges", LIMIT, |c| c.converged());
    let frames_before: u64 = c.agents[..3].iter().map(|a| a.stats().control_frames).sum();

    // D vanishes at once, taking its sockets with it.
    drop(c.agents.remove(3));
    c.log.remove(3);
    c.run_until("everybody loses D", LIMIT, |c| {
        (0..3).all(|i| !c.reaches(i, "D"))
    });
    let frames: u64 = c
        .agents
        .iter()
        .map(|a| a.stats().control_frames)
        .sum::<u64>()
        - frames_before;
    // Each survivor changes its own description at most once or twice (its link to D went),
    // and each description crosses each link at most once per direction: a handful of frames,
    // not a count to infinity.
    assert!(
        frames <= 24,
        "{frames} control frames to withdraw one agent\n{}",
        c.dump()
    );
    for i in 0..3 {
        assert!(c.log[i].contains(&Event::Lose { name: "D".into() }));
    }

    // A message for D stays in A's queue; no relay passes it around.
    c.agents[0]
        .send_message("D", &json!("are you there?"))
        .unwrap();
    // That it never travels, however long it waits, is checked in virtual time:
    // `src/sim/never.rs`, `a_message_for_a_vanished_agent_waits_without_travelling`.
    assert_eq!(c.agents[0].node().queued_for("D"), 1);

    // D comes back: the message goes out.
    let (d, _) = c.add_listening("D", quick());
    c.agents[d].connect(addr[0]).unwrap();
    c.run_until("D gets the message", LIMIT, |c| !c.received(d).is_empty());
}

#[test]
fn a_restarted_sender_is_not_mistaken_for_a_duplicate() {
    let mut c = Cluster::new();
    let (_, b_addr) = c.add_listening("B", quick());
    let a = c.add("A", quick());
    c.agents[a].connect(b_addr).unwrap();
    c.run_until("linked", LIMIT, |c| c.reaches(a, "B"));
    for n in 0..3 {
        c.agents[a].send_message("B", &json!(n)).unwrap();
    }
    c.run_until("three confirmed", LIMIT, |c| {
        c.log[a]
            .iter()
            .filter(|e| matches!(e, Event::Delivered { .. }))
            .count()
            == 3
    });

    // A restarts: its new messages are numbered from scratch, in a new incarnation.
    drop(c.agents.remove(a));
    c.log.remove(a);
    let a = c.add("A", quick());
    c.agents[a].connect(b_addr).unwrap();
    for n in 3..6 {
        c.agents[a].send_message("B", &json!(n)).unwrap();
    }
    let b = c.index("B");
    c.run_until("all six handed over", LIMIT, |c| c.received(b).len() == 6);
    let got: Vec<String> = c.received(b).into_iter().map(|(_, _, b)| b).collect();
    assert_eq!(got, ["0", "1", "2", "3", "4", "5"]);
}

#[test]
fn a_message_not_confirmed_in_time_is_given_up_with_an_event() {
    let mut c = Cluster::new();
    let a = c.add("A", quick());
    let id = c.agents[a]
        .send_message_within("Nobody", &json!("hello?"), Duration::from_millis(100))
        .unwrap();
    let mut opts = quick();
    opts.delivery_timeout = Some(Duration::from_millis(150));
    let b = c.add("B", opts);
    let id2 = c.agents[b].send_message("Nobody", &json!(1)).unwrap();
    c.run_until("both given up", LIMIT, |c| {
        c.log[a].contains(&Event::Undeliverable {
            to: "Nobody".into(),
            id,
            reason: UndeliverableReason::Expired,
        }) && c.log[b]
            .iter()
            .any(|e| matches!(e, Event::Undeliverable { id, .. } if *id == id2))
    });
    assert_eq!(c.agents[a].stats().queued_messages, 0);
}

#[test]
fn confirmations_come_back_for_every_message_in_order() {
    let mut c = Cluster::new();
    let (_, a_addr) = c.add_listening("A", quick());
    let (b, b_addr) = c.add_listening("B", quick());
    let cc = c.add("C", quick());
    c.agents[b].connect(a_addr).unwrap();
    c.agents[cc].connect(b_addr).unwrap();
    c.run_until("a line A-B-C", LIMIT, |c| c.converged());
    let ids: Vec<_> = (0..3000)
        .map(|n| c.agents[cc].send_message("A", &json!(n)).unwrap())
        .collect();
    c.run_until("all confirmed", Duration::from_secs(30), |c| {
        c.log[cc]
            .iter()
            .filter(|e| matches!(e, Event::Delivered { .. }))
            .count()
            == ids.len()
    });
    let confirmed: Vec<_> = c.log[cc]
        .iter()
        .filter_map(|e| match e {
            Event::Delivered { to, id } if to == "A" => Some(*id),
            _ => None,
        })
        .collect();
    assert_eq!(confirmed, ids);
    assert_eq!(c.agents[cc].stats().queued_messages, 0);
}
