//! The original README's scenarios over real loopback sockets, asserting the path each message
//! took (relays report themselves with `trace_relays`).

mod support;

use serde_json::json;
use support::{Cluster, LIMIT, fast};

fn traced() -> secretagent::Options {
    let mut o = fast();
    o.trace_relays = true;
    o
}

#[test]
fn spies_wolf_reaches_rosenberg_through_ames_after_disconnecting_him() {
    let mut c = Cluster::new();
    let (wolf, wolf_addr) = c.add_listening("Wolf", traced());
    let (ames, ames_addr) = c.add_listening("Ames", traced());
    let (ros, ros_addr) = c.add_listening("Rosenberg", traced());
    // Ames dials Wolf, Rosenberg dials Ames, Wolf dials Rosenberg: a ring of three.
    c.agents[ames].connect(wolf_addr).unwrap();
    c.agents[ros].connect(ames_addr).unwrap();
    c.agents[wolf].connect(ros_addr).unwrap();
    // Every description known everywhere: a link dropped before the others' descriptions
    // arrived would leave no other way known, and Rosenberg would be lost for a moment.
    c.run_until("a ring of three", LIMIT, |c| {
        c.converged()
            && c.agents.iter().all(|a| {
                let s = a.stats();
                a.everybody().len() == 2 && s.descriptions == 3 && !s.paths_pending
            })
    });
    // Every agent knows the link between its two peers (each has described it, once its
    // database exchange was complete), so a link that fails next fails over at once.
    let names = ["Ames", "Rosenberg", "Wolf"];
    c.run_until("every agent knows the whole ring", LIMIT, |c| {
        c.agents.iter().all(|a| {
            let others: Vec<&str> = names.into_iter().filter(|n| *n != a.name()).collect();
            a.graph()
                .contains(&format!("\"{}\" -- \"{}\";", others[0], others[1]))
        })
    });

    let meeting = json!({"subject": "Meeting", "content": "KGB meeting in Moscow - 1st February"});
    c.agents[ros].send_message("Wolf", &meeting).unwrap();
    c.run_until("Wolf gets the meeting", LIMIT, |c| {
        !c.received(wolf).is_empty()
    });
    assert_eq!(
        c.received(wolf)[0],
        ("Rosenberg".into(), "Rosenberg".into(), meeting.to_string())
    );

    c.agents[wolf].disconnect("Rosenberg").unwrap();
    c.run_until(
        "Wolf and Rosenberg unlinked, still reachable through Ames",
        LIMIT,
        |c| {
            c.agents[wolf].direct_member("Rosenberg").is_none()
                && c.agents[ros].direct_member("Wolf").is_none()
                && c.agents[wolf].route_via("Rosenberg") == Some("Ames")
                && c.agents[ros].route_via("Wolf") == Some("Ames")
        },
    );

    let reply = json!({"subject": "Meeting", "content": "Understood. I'll be there."});
    c.agents[wolf].send_message("Rosenberg", &reply).unwrap();
    c.run_until("Rosenberg gets the reply", LIMIT, |c| {
        !c.received(ros).is_empty()
    });
    assert_eq!(
        c.received(ros)[0],
        ("Wolf".into(), "Ames".into(), reply.to_string())
    );
    assert_eq!(
        c.path_of("Wolf", "Rosenberg", &reply.to_string()),
        ["Wolf", "Ames", "Rosenberg"]
    );
    // Nobody lost anybody. That Wolf never re-dials Rosenberg, and nobody loses anybody later,
    // is checked in virtual time: `src/sim/never.rs`,
    // `spies_wolf_never_relinks_to_rosenberg_after_disconnecting_him`.
    assert!(
        !c.log
            .iter()
            .flatten()
            .any(|e| matches!(e, secretagent::Event::Lose { .. })),
        "{}",
        c.dump()
    );
}

/// France, America, Britain and CCCP in a full mesh; France–CCCP breaks, then America–CCCP.
/// Returns the path of France's message to CCCP before the cuts, after one, after both;
/// `france_settles_on` is where France's route to CCCP ends up after both cuts.
fn four_nations(opts: secretagent::Options, france_settles_on: &str) -> [Vec<String>; 3] {
    let mut c = Cluster::new();
    let names = ["France", "America", "Britain", "CCCP"];
    let mut addr = Vec::new();
    for n in names {
        addr.push(c.add_listening(n, opts.clone()).1);
    }
    let (fr, am, br, cc) = (0, 1, 2, 3);
    // Links come up one at a time, so that which announcement is oldest (the v1 tie-break) is
    // the same on every run: France–America, France–Britain, America–Britain, America–CCCP,
    // Britain–CCCP, France–CCCP.
    let plan = [(fr, am), (fr, br), (am, br), (am, cc), (br, cc), (fr, cc)];
    let mut france_to_cccp = None;
    let mut linked: Vec<usize> = Vec::new();
    for (k, &(a, b)) in plan.iter().enumerate() {
        let id = c.agents[a].connect(addr[b]).unwrap();
        if (a, b) == (fr, cc) {
            france_to_cccp = Some(id);
        }
        for x in [a, b] {
            if !linked.contains(&x) {
                linked.push(x);
            }
        }
        let bname = names[b];
        c.run_until(
            &format!("link {k} up and known to all linked so far"),
            LIMIT,
            |c| {
                c.agents[a].direct_member(bname).is_some()
                    && linked
                        .iter()
                        .all(|&x| linked.iter().all(|&y| x == y || c.reaches(x, names[y])))
            },
        );
    }
    c.run_until("full mesh", LIMIT, |c| {
        c.agents.iter().all(|a| a.everybody().len() == 3)
    });

    let send = |c: &mut Cluster, text: &str| {
        c.agents[fr].send_message("CCCP", &json!(text)).unwrap();
        let body = json!(text).to_string();
        c.run_until(&format!("CCCP gets {text}"), LIMIT, |c| {
            c.received(cc).iter().any(|(_, _, b)| *b == body)
        });
        c.path_of("France", "CCCP", &body)
    };

    let direct = send(&mut c, "direct");

    // The France–CCCP link breaks: France's messages go through America.
    c.agents[fr].disconnect(france_to_cccp.unwrap()).unwrap();
    c.run_until("France reroutes", LIMIT, |c| {
        c.agents[fr].direct_member("CCCP").is_none() && c.agents[fr].route_via("CCCP").is_some()
    });
    let one_cut = send(&mut c, "one cut");

    // The America–CCCP link breaks too.
    c.agents[am].disconnect("CCCP").unwrap();
    c.run_until("America and France reroute", LIMIT, |c| {
        c.agents[am].direct_member("CCCP").is_none()
            && c.agents[am].route_via("CCCP") == Some("Britain")
            && c.agents[fr].route_via("CCCP") == Some(france_settles_on)
    });
    let two_cuts = send(&mut c, "two cuts");
    let _ = br;
    [direct, one_cut, two_cuts]
}

#[test]
fn four_nations_take_the_shortest_way_around_two_broken_links() {
    let [direct, one_cut, two_cuts] = four_nations(traced(), "Britain");
    assert_eq!(direct, ["France", "CCCP"]);
    // Two ways of two hops: the tie goes to the smaller name.
    assert_eq!(one_cut, ["France", "America", "CCCP"]);
    // America no longer reaches CCCP directly: Britain's two hops beat America's three.
    assert_eq!(two_cuts, ["France", "Britain", "CCCP"]);
}

#[test]
fn four_nations_speaking_v1_take_the_originals_way() {
    let mut opts = traced();
    opts.protocol_version = 1;
    let [direct, one_cut, two_cuts] = four_nations(opts, "America");
    assert_eq!(direct, ["France", "CCCP"]);
    assert_eq!(one_cut, ["France", "America", "CCCP"]);
    // The original keeps the oldest announcement still standing: America's.
    assert_eq!(two_cuts, ["France", "America", "Britain", "CCCP"]);
}
