//! An agent living inside a mio event loop that the application owns, next to the
//! application's own socket and its own timer.
//!
//! The application registers the agent's poll descriptor (`AsRawFd`) in its own `mio::Poll`,
//! wakes for whichever comes first (its timer, its socket, the agent's sockets, the agent's
//! next timer), and calls `agent.poll(Some(Duration::ZERO))` when the agent's descriptor is
//! ready or its timer is due. Here the application also serves a tiny status port of its own,
//! and every 200 ms its timer sends a tick to a peer agent, which answers it.
//!
//! A command (here `send_message`) takes effect at once: its bytes are written, or
//! `next_timeout()` says "now", so the loop polls the agent right away instead of sleeping
//! until some unrelated timer. Each tick's answer comes back within a millisecond or so on
//! loopback, and the example prints how long each took.
//!
//! `cargo run --example embed`

use std::io::{ErrorKind, Read, Write};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use mio::net::{TcpListener, TcpStream};
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};
use secretagent::{Agent, Event, Options};

const AGENT: Token = Token(0);
const PEER: Token = Token(1);
const STATUS: Token = Token(2);
const CLIENT: Token = Token(3);
const TICK: Duration = Duration::from_millis(200);

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut poll = Poll::new()?;
    let mut events = Events::with_capacity(64);

    // The embedded agent, and a peer for it to talk to (in the same loop, to keep the example
    // self-contained; it could as well be another process).
    let mut agent = Agent::new("Embedded", Options::default())?;
    let mut peer = Agent::new("Peer", Options::default())?;
    let peer_addr = peer.listen("127.0.0.1:0")?;
    agent.connect(peer_addr)?;
    poll.registry()
        .register(&mut SourceFd(&agent.as_raw_fd()), AGENT, Interest::READABLE)?;
    poll.registry()
        .register(&mut SourceFd(&peer.as_raw_fd()), PEER, Interest::READABLE)?;

    // The application's own socket: a status port that writes one line and closes.
    let mut status = TcpListener::bind("127.0.0.1:0".parse()?)?;
    let status_addr = status.local_addr()?;
    poll.registry()
        .register(&mut status, STATUS, Interest::READABLE)?;
    let mut client: Option<TcpStream> = None;

    // The application's own timer.
    let mut next_tick = Instant::now() + TICK;
    let mut ticks_sent = 0;
    let mut ticks_seen = 0;
    let mut sent_at = Instant::now();
    let mut status_line = String::new();

    while ticks_seen < 3 || status_line.is_empty() {
        let now = Instant::now();
        let mut deadline = next_tick;
        for a in [&agent, &peer] {
            if let Some(t) = a.next_timeout() {
                deadline = deadline.min(t);
            }
        }
        poll.poll(&mut events, Some(deadline.saturating_duration_since(now)))?;

        for ev in events.iter() {
            match ev.token() {
                STATUS => loop {
                    match status.accept() {
                        Ok((mut conn, _)) => {
                            let members: Vec<String> =
                                agent.everybody().into_iter().map(|p| p.name).collect();
                            let _ = writeln!(conn, "members of {}: {members:?}", agent.name());
                        }
                        Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                        Err(e) => return Err(e.into()),
                    }
                },
                CLIENT => {
                    if let Some(c) = client.as_mut() {
                        let mut buf = [0u8; 256];
                        match c.read(&mut buf) {
                            Ok(n) if n > 0 => {
                                status_line.push_str(String::from_utf8_lossy(&buf[..n]).trim())
                            }
                            _ => {}
                        }
                    }
                }
                // AGENT and PEER: handled below, every round, since their timers matter too.
                _ => {}
            }
        }

        // The agents: poll without blocking, then drain their events.
        for a in [&mut agent, &mut peer] {
            a.poll(Some(Duration::ZERO))?;
        }
        for e in agent.events() {
            match e {
                Event::Meet { name } => {
                    println!("[Embedded] meets {name}; asking the status port who is linked");
                    let mut c = TcpStream::connect(status_addr)?;
                    poll.registry()
                        .register(&mut c, CLIENT, Interest::READABLE)?;
                    client = Some(c);
                }
                Event::Message { from, body, .. } => {
                    ticks_seen += 1;
                    let ms = sent_at.elapsed().as_secs_f64() * 1e3;
                    println!("[Embedded] {from} answered {body} {ms:.2} ms after the tick");
                }
                _ => {}
            }
        }
        // The peer answers while going through its events: the iterator borrows nothing.
        for e in peer.events() {
            if let Event::Message { from, body, .. } = e {
                println!("[Peer] from {from}: {body}");
                peer.send_raw(&from, body.raw())?;
            }
        }

        // The application's timer.
        if Instant::now() >= next_tick {
            next_tick += TICK;
            if agent.route("Peer").is_some() {
                ticks_sent += 1;
                sent_at = Instant::now();
                agent.send_message("Peer", &serde_json::json!({"tick": ticks_sent}))?;
            }
        }
    }
    println!("[status port] {status_line}");
    Ok(())
}
