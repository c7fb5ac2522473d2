//! v1 conformance: hand-written frames of the original protocol over raw sockets, checked byte
//! for byte, and a replay of the frames three original Node agents exchanged
//! (`shared/vectors/v1-spies.jsonl`, copied to `tests/vectors/`).

mod support;

use std::net::TcpListener;

use support::{Cluster, Raw, fast};

#[test]
fn hello_from_the_dialling_side_is_answered_with_what_the_agent_knows() {
    let mut c = Cluster::new();
    let (wolf, addr) = c.add_listening("Wolf", fast());
    let mut ames = Raw::connect(addr);
    ames.send(&mut c, r#"{"c":"hi!","mynameis":"Ames","iknow":[]}"#);
    ames.expect(&mut c, r#"{"a":"hi!","mynameis":"Wolf","iknow":[]}"#);
    c.run_until("Wolf meets Ames", support::LIMIT, |c| {
        c.reaches(wolf, "Ames")
    });
    // A second raw peer hears of the first in the answer itself.
    let mut ros = Raw::connect(addr);
    ros.send(&mut c, r#"{"c":"hi!","mynameis":"Rosenberg","iknow":[]}"#);
    ros.expect(&mut c, r#"{"a":"hi!","mynameis":"Wolf","iknow":["Ames"]}"#);
    // ... and the first hears of the second.
    ames.expect(&mut c, r#"{"c":"imcon4","who":["Rosenberg"]}"#);
}

#[test]
fn the_agent_dialling_says_hello_first() {
    let mut c = Cluster::new();
    let ames = c.add("Ames", fast());
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    c.agents[ames]
        .connect(listener.local_addr().unwrap())
        .unwrap();
    let mut wolf = Raw::accept(&listener, &mut c);
    // The only v2 trace a v1 peer ever sees: the offer in the dialler's hello, which the
    // original ignores.
    wolf.expect(&mut c, r#"{"c":"hi!","mynameis":"Ames","iknow":[],"v":2}"#);
    wolf.send(&mut c, r#"{"a":"hi!","mynameis":"Wolf","iknow":["Fuchs"]}"#);
    c.run_until("Ames meets Wolf and Fuchs", support::LIMIT, |c| {
        c.reaches(ames, "Wolf") && c.reaches(ames, "Fuchs")
    });
    // Names learned from Wolf are never told back to Wolf.
    assert!(wolf.fence(&mut c).is_empty());
}

#[test]
fn ping_is_answered() {
    let mut c = Cluster::new();
    let (_, addr) = c.add_listening("Wolf", fast());
    let mut ames = Raw::connect(addr);
    ames.send(&mut c, r#"{"c":"hi!","mynameis":"Ames","iknow":[]}"#);
    ames.recv(&mut c);
    ames.send(&mut c, r#"{"c":"ping"}"#);
    ames.expect(&mut c, r#"{"a":"ping"}"#);
}

#[test]
fn imcon4_goes_to_the_other_peers_and_never_back_to_its_source() {
    let mut c = Cluster::new();
    let (ames, addr) = c.add_listening("Ames", fast());
    let mut wolf = Raw::connect(addr);
    wolf.send(&mut c, r#"{"c":"hi!","mynameis":"Wolf","iknow":[]}"#);
    wolf.recv(&mut c);
    let mut ros = Raw::connect(addr);
    ros.send(&mut c, r#"{"c":"hi!","mynameis":"Rosenberg","iknow":[]}"#);
    ros.expect(&mut c, r#"{"a":"hi!","mynameis":"Ames","iknow":["Wolf"]}"#);
    wolf.expect(&mut c, r#"{"c":"imcon4","who":["Rosenberg"]}"#);

    wolf.send(&mut c, r#"{"c":"imcon4","who":["Fuchs","Gold","Ames"]}"#);
    ros.expect(&mut c, r#"{"c":"imcon4","who":["Fuchs","Gold"]}"#);
    assert!(
        wolf.fence(&mut c).is_empty(),
        "told Wolf what it had just said"
    );
    assert!(c.reaches(ames, "Gold"));

    // Withdrawn the same way.
    wolf.send(&mut c, r#"{"c":"im!con4","who":["Gold"]}"#);
    ros.expect(&mut c, r#"{"c":"im!con4","who":["Gold"]}"#);
    assert!(wolf.fence(&mut c).is_empty());
    c.run_until("Ames loses Gold", support::LIMIT, |c| {
        !c.reaches(ames, "Gold")
    });
}

#[test]
fn a_msg_for_another_name_is_relayed_byte_for_byte() {
    let mut c = Cluster::new();
    let (_, addr) = c.add_listening("Ames", fast());
    let mut wolf = Raw::connect(addr);
    wolf.send(&mut c, r#"{"c":"hi!","mynameis":"Wolf","iknow":[]}"#);
    wolf.recv(&mut c);
    let mut ros = Raw::connect(addr);
    ros.send(&mut c, r#"{"c":"hi!","mynameis":"Rosenberg","iknow":[]}"#);
    ros.recv(&mut c);
    wolf.recv(&mut c);
    let msg = r#"{"c":"msg","f":"Wolf","t":"Rosenberg","m":{"subject":"Meeting","content":"Understood. I'll be there."}}"#;
    wolf.send(&mut c, msg);
    ros.expect(&mut c, msg);
    // Escapes and odd bodies pass untouched too.
    let odd = r#"{"c":"msg","f":"Wolf","t":"Rosenberg","m":"caf\u00e9 \"q\"\n"}"#;
    wolf.send(&mut c, odd);
    let got = ros.recv(&mut c);
    assert_eq!(
        got,
        r#"{"c":"msg","f":"Wolf","t":"Rosenberg","m":"caf\u00e9 \"q\"\n"}"#
    );
}

#[test]
fn a_msg_for_the_agent_is_delivered_with_its_direct_sender() {
    let mut c = Cluster::new();
    let (ros, addr) = c.add_listening("Rosenberg", fast());
    let mut ames = Raw::connect(addr);
    ames.send(&mut c, r#"{"c":"hi!","mynameis":"Ames","iknow":["Wolf"]}"#);
    ames.recv(&mut c);
    ames.send(
        &mut c,
        r#"{"c":"msg","f":"Wolf","t":"Rosenberg","m":{"subject":"Meeting"}}"#,
    );
    c.run_until("the message arrives", support::LIMIT, |c| {
        !c.received(ros).is_empty()
    });
    assert_eq!(
        c.received(ros),
        [(
            "Wolf".to_string(),
            "Ames".to_string(),
            r#"{"subject":"Meeting"}"#.to_string()
        )]
    );
}

/// One captured frame of `v1-spies.jsonl`.
struct Captured {
    from: String,
    to: String,
    json: String,
}

fn vectors() -> Vec<Captured> {
    let text = include_str!("vectors/v1-spies.jsonl");
    text.lines()
        .filter_map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            let json = v.get("json")?.as_str()?.to_owned();
            assert_eq!(v["len"].as_u64().unwrap() as usize, json.len());
            Some(Captured {
                from: v["from"].as_str()?.to_owned(),
                to: v["to"].as_str()?.to_owned(),
                json,
            })
        })
        .collect()
}

/// Replays the capture with this agent as Ames. `hello_suffix` is what this agent adds to the
/// captured dialler's hello (its version offer, when it offers v2).
fn replay_as_ames(opts: secretagent::Options, hello_suffix: &str) {
    let v = vectors();
    let frame = |from: &str, to: &str, nth: usize| -> String {
        v.iter()
            .filter(|f| f.from == from && f.to == to)
            .nth(nth)
            .unwrap_or_else(|| panic!("no frame {nth} {from}->{to}"))
            .json
            .clone()
    };
    let mut c = Cluster::new();
    let (ames, ames_addr) = c.add_listening("Ames", opts);
    // Ames dials Wolf.
    let wolf_listener = TcpListener::bind("127.0.0.1:0").unwrap();
    c.agents[ames]
        .connect(wolf_listener.local_addr().unwrap())
        .unwrap();
    let mut wolf = Raw::accept(&wolf_listener, &mut c);
    let hello = frame("Ames", "Wolf", 0);
    wolf.expect(
        &mut c,
        &format!("{}{hello_suffix}}}", &hello[..hello.len() - 1]),
    );
    // Rosenberg dials Ames; Ames answers before it has heard back from Wolf.
    let mut ros = Raw::connect(ames_addr);
    ros.send(&mut c, &frame("Rosenberg", "Ames", 0));
    ros.expect(&mut c, &frame("Ames", "Rosenberg", 0));
    // Wolf's answer: each side now hears of the other.
    wolf.send(&mut c, &frame("Wolf", "Ames", 0));
    wolf.expect(&mut c, &frame("Ames", "Wolf", 1));
    ros.expect(&mut c, &frame("Ames", "Rosenberg", 1));
    // Wolf and Rosenberg link directly and tell Ames so; Ames has nothing to add.
    wolf.send(&mut c, &frame("Wolf", "Ames", 1));
    ros.send(&mut c, &frame("Rosenberg", "Ames", 1));
    assert!(wolf.fence(&mut c).is_empty());
    assert!(ros.fence(&mut c).is_empty());
    // Wolf disconnects Rosenberg: both withdraw the other; Ames still links both directly.
    wolf.send(&mut c, &frame("Wolf", "Ames", 2));
    ros.send(&mut c, &frame("Rosenberg", "Ames", 2));
    assert!(wolf.fence(&mut c).is_empty());
    assert!(ros.fence(&mut c).is_empty());
    // Wolf's message for Rosenberg, relayed by Ames exactly as the original relayed it.
    wolf.send(&mut c, &frame("Wolf", "Ames", 3));
    ros.expect(&mut c, &frame("Ames", "Rosenberg", 2));
    // Every frame Ames sent in the capture was checked.
    assert_eq!(v.iter().filter(|f| f.from == "Ames").count(), 5);
    assert!(c.reaches(ames, "Wolf") && c.reaches(ames, "Rosenberg"));
}

#[test]
fn replay_of_the_original_agents_with_this_agent_as_ames_speaking_v1() {
    let mut opts = fast();
    opts.protocol_version = 1;
    replay_as_ames(opts, "");
}

#[test]
fn replay_of_the_original_agents_with_this_agent_as_ames_offering_v2() {
    replay_as_ames(fast(), r#","v":2"#);
}

/// Every key an original agent's frames use.
const V1_KEYS: [&str; 8] = ["c", "a", "mynameis", "iknow", "who", "f", "t", "m"];

#[test]
fn a_v1_peer_in_a_v2_mesh_gets_pure_v1_frames() {
    // Two v2 agents linked to each other, and a raw v1 peer linked to one of them.
    let mut c = Cluster::new();
    let (a, a_addr) = c.add_listening("A", fast());
    let b = c.add("B", fast());
    c.agents[b].connect(a_addr).unwrap();
    c.run_until("A and B linked over v2", support::LIMIT, |c| {
        c.agents[a]
            .direct_member("B")
            .is_some_and(|p| p.version == 2)
    });
    let mut old = Raw::connect(a_addr);
    old.send(&mut c, r#"{"c":"hi!","mynameis":"Old","iknow":["Older"]}"#);
    c.run_until("B reaches Old and Older through A", support::LIMIT, |c| {
        c.reaches(b, "Old") && c.reaches(b, "Older")
    });
    // Messages to it, through it, and from it through the v2 link.
    c.agents[b]
        .send_message("Old", &serde_json::json!({"to": "old"}))
        .unwrap();
    c.agents[b]
        .send_message("Older", &serde_json::json!(2))
        .unwrap();
    old.send(&mut c, r#"{"c":"msg","f":"Old","t":"B","m":"from old"}"#);
    c.run_until("B gets Old's message", support::LIMIT, |c| {
        !c.received(b).is_empty()
    });
    let mut frames = vec![old.recv(&mut c)];
    frames.extend(old.fence(&mut c));
    while !frames.iter().any(|f| f.contains(r#""t":"Older""#)) {
        frames.push(old.recv(&mut c));
    }
    assert!(
        frames.iter().any(|f| f.contains(r#""t":"Old""#)),
        "{frames:?}"
    );
    for f in &frames {
        let v: serde_json::Value = serde_json::from_str(f).unwrap();
        for key in v.as_object().unwrap().keys() {
            assert!(
                V1_KEYS.contains(&key.as_str()),
                "v1 peer got key {key:?} in {f}"
            );
        }
    }
    // Best effort: no confirmation is promised for it.
    assert!(
        !c.log[b]
            .iter()
            .any(|e| matches!(e, secretagent::Event::Delivered { .. }))
    );
}
