//! France, America, Britain and CCCP in a full mesh. The France–CCCP link breaks, then the
//! America–CCCP link: France's messages to CCCP keep arriving by the shortest way left, each
//! printed with the path it took (every relay reports itself, with `Options::trace_relays`)
//! and with CCCP's confirmation.
//!
//! `cargo run --example four_nations`

mod support;

use std::error::Error;
use std::time::Duration;

use secretagent::{Agent, Event, Options};
use support::Mesh;

const NAMES: [&str; 4] = ["France", "America", "Britain", "CCCP"];
const LIMIT: Duration = Duration::from_secs(10);

/// Sends `text` from France to CCCP and prints the path it took.
fn send(mesh: &mut Mesh, text: &str) -> Result<(), Box<dyn Error>> {
    let body = serde_json::to_string(text)?;
    let id = mesh.agents[0].send_message("CCCP", text)?;
    mesh.run_until(LIMIT, |m| {
        let arrived = m
            .log
            .iter()
            .any(|(_, e)| matches!(e, Event::Message { body: b, .. } if b.get() == body));
        let confirmed = m
            .log
            .iter()
            .any(|(_, e)| matches!(e, Event::Delivered { id: i, .. } if *i == id));
        arrived && confirmed
    })?;
    // Each relay reported who handed it the message: chain them from France.
    let relays: Vec<(String, String)> = mesh
        .take_log()
        .into_iter()
        .filter_map(|(agent, e)| match e {
            Event::Relayed { prev, .. } => Some((prev.into(), agent)),
            _ => None,
        })
        .collect();
    let mut path = vec!["France".to_owned()];
    while let Some((_, relay)) = relays.iter().find(|(prev, _)| Some(prev) == path.last()) {
        path.push(relay.clone());
    }
    path.push("CCCP".into());
    println!(
        "France -> CCCP {body:>10}: {}  (confirmed)",
        path.join(" → ")
    );
    Ok(())
}

fn main() -> Result<(), Box<dyn Error>> {
    let opts = Options {
        trace_relays: true,
        ..Options::default()
    };
    let mut agents = Vec::new();
    let mut addrs = Vec::new();
    for name in NAMES {
        let mut a = Agent::new(name, opts.clone())?;
        addrs.push(a.listen("127.0.0.1:0")?);
        agents.push(a);
    }
    let mut mesh = Mesh::new(agents)?;
    // Every pair linked once; each link waits until the agents linked so far all know each
    // other, so that the run is the same every time.
    let mut linked: Vec<usize> = Vec::new();
    for (i, j) in [(0, 1), (0, 2), (1, 2), (1, 3), (2, 3), (0, 3)] {
        mesh.agents[i].connect(addrs[j])?;
        for x in [i, j] {
            if !linked.contains(&x) {
                linked.push(x);
            }
        }
        mesh.run_until(LIMIT, |m| {
            m.agents[i].direct_member(NAMES[j]).is_some()
                && linked.iter().all(|&x| {
                    linked
                        .iter()
                        .all(|&y| x == y || m.agents[x].route(NAMES[y]).is_some())
                })
        })?;
    }
    mesh.take_log();
    println!("France, America, Britain and CCCP are linked in a full mesh.");
    send(&mut mesh, "direct")?;

    println!("-- the France–CCCP link breaks");
    mesh.agents[0].disconnect("CCCP")?;
    mesh.run_until(LIMIT, |m| {
        m.agents[0].direct_member("CCCP").is_none() && m.agents[0].route("CCCP").is_some()
    })?;
    send(&mut mesh, "one cut")?;

    println!("-- the America–CCCP link breaks");
    mesh.agents[1].disconnect("CCCP")?;
    // Wait until France has heard: its shortest way is now through Britain.
    mesh.run_until(LIMIT, |m| m.agents[0].route_via("CCCP") == Some("Britain"))?;
    send(&mut mesh, "two cuts")?;
    Ok(())
}
