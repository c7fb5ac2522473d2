//! The original README's scenario: Wolf, Ames and Rosenberg in a ring. Wolf disconnects
//! Rosenberg, and Wolf's next message still reaches Rosenberg, through Ames.
//!
//! `cargo run --example spies`

mod support;

use std::time::Duration;

use secretagent::{Agent, Event, Options};
use serde_json::json;
use support::Mesh;

const LIMIT: Duration = Duration::from_secs(10);

fn messages(m: &Mesh) -> usize {
    m.log
        .iter()
        .filter(|(_, e)| matches!(e, Event::Message { .. }))
        .count()
}

fn print(mesh: &mut Mesh) {
    for (agent, e) in mesh.take_log() {
        match e {
            Event::Meet { name } => println!("[{agent}] meets {name}"),
            Event::Lose { name } => println!("[{agent}] loses {name}"),
            Event::Message {
                from, via, body, ..
            } => {
                println!("[{agent}] message from {from}, handed over by {via}: {body}")
            }
            Event::Relayed { from, to, .. } => {
                println!("[{agent}] relays a message from {from} to {to}")
            }
            _ => {}
        }
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let opts = Options {
        trace_relays: true,
        ..Options::default()
    };
    let mut wolf = Agent::new("Wolf", opts.clone())?;
    let mut ames = Agent::new("Ames", opts.clone())?;
    let mut rosenberg = Agent::new("Rosenberg", opts)?;
    let wolf_addr = wolf.listen("127.0.0.1:0")?;
    let ames_addr = ames.listen("127.0.0.1:0")?;
    let rosenberg_addr = rosenberg.listen("127.0.0.1:0")?;
    // Ames dials Wolf, Rosenberg dials Ames, Wolf dials Rosenberg.
    ames.connect(wolf_addr)?;
    rosenberg.connect(ames_addr)?;
    wolf.connect(rosenberg_addr)?;
    let mut mesh = Mesh::new(vec![wolf, ames, rosenberg])?;
    mesh.run_until(LIMIT, |m| m.agents.iter().all(|a| a.everybody().len() == 2))?;
    print(&mut mesh);

    println!("-- Rosenberg writes to Wolf");
    let meeting = json!({"subject": "Meeting", "content": "KGB meeting in Moscow - 1st February"});
    mesh.get("Rosenberg").send_message("Wolf", &meeting)?;
    mesh.run_until(LIMIT, |m| messages(m) == 1)?;
    print(&mut mesh);

    println!("-- Wolf disconnects Rosenberg");
    mesh.get("Wolf").disconnect("Rosenberg")?;
    mesh.run_until(LIMIT, |m| {
        m.agents[0].route_via("Rosenberg") == Some("Ames")
            && m.agents[2].route_via("Wolf") == Some("Ames")
    })?;
    print(&mut mesh);

    println!("-- Wolf writes to Rosenberg");
    let reply = json!({"subject": "Meeting", "content": "Understood. I'll be there."});
    mesh.get("Wolf").send_message("Rosenberg", &reply)?;
    mesh.run_until(LIMIT, |m| messages(m) == 1)?;
    print(&mut mesh);
    Ok(())
}
