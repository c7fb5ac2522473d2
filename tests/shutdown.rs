//! Graceful shutdown over real sockets: everything accepted is delivered and confirmed before
//! the links close, and peers see a clean end of stream, never a reset.

mod support;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use secretagent::{Agent, Error, Event, LinkDownReason, Options, SendError};
use support::{LIMIT, codec};

/// A receiver in a thread of its own, polling until its link to the sender goes down;
/// returns the numbers it received, in order, and why the link went.
fn receiver(
    name: &'static str,
) -> (
    std::net::SocketAddr,
    thread::JoinHandle<(Vec<u64>, LinkDownReason)>,
) {
    let mut r = Agent::new(name, Options::default()).unwrap();
    let addr = r.listen("127.0.0.1:0").unwrap();
    let handle = thread::spawn(move || {
        let deadline = Instant::now() + LIMIT;
        let mut got = Vec::new();
        loop {
            assert!(
                Instant::now() < deadline,
                "{name}: the sender's link never closed; {} messages arrived",
                got.len()
            );
            r.poll(Some(Duration::from_millis(100))).unwrap();
            for ev in r.events() {
                match ev {
                    Event::Message { body, .. } => got.push(body.parse().unwrap()),
                    Event::LinkDown { reason, .. } => return (got, reason),
                    _ => {}
                }
            }
        }
    });
    (addr, handle)
}

#[test]
fn a_thousand_messages_then_shutdown_are_all_delivered_and_the_peer_sees_no_reset() {
    for round in 0..3 {
        let (addr, r) = receiver("Receiver");
        let mut s = Agent::new("Sender", Options::default()).unwrap();
        s.connect(addr).unwrap();
        let deadline = Instant::now() + LIMIT;
        while s.route("Receiver").is_none_or(|r| !r.confirmed) {
            assert!(Instant::now() < deadline, "round {round}: never linked");
            s.poll(Some(Duration::from_millis(50))).unwrap();
            s.events().for_each(drop);
        }
        for n in 0..1000u64 {
            s.send_message("Receiver", &n).unwrap();
        }
        let started = Instant::now();
        let report = s.shutdown(Duration::from_secs(5)).unwrap();
        assert!(
            report.unconfirmed.is_empty(),
            "round {round}: {:?}",
            report.unconfirmed
        );
        let delivered = report
            .events
            .iter()
            .filter(|e| matches!(e, Event::Delivered { .. }))
            .count();
        assert_eq!(delivered, 1000, "round {round}");
        assert!(started.elapsed() < LIMIT);
        // Done: nothing more to poll, nothing more taken.
        assert!(matches!(s.poll(None), Err(Error::ShutDown)));
        assert_eq!(s.send_message("Receiver", &0), Err(SendError::ShuttingDown));
        assert!(matches!(s.connect(addr), Err(Error::ShuttingDown)));
        let (got, reason) = r.join().unwrap();
        assert_eq!(got, (0..1000).collect::<Vec<_>>(), "round {round}");
        assert_eq!(reason, LinkDownReason::PeerClosed, "round {round}");
    }
}

#[test]
fn begin_shutdown_lets_an_embedder_poll_on_until_the_last_event() {
    let (addr, r) = receiver("Receiver");
    let mut s = Agent::new("Sender", Options::default()).unwrap();
    s.connect(addr).unwrap();
    // Queued before the link is up, sent once it is.
    for n in 0..100u64 {
        s.send_message("Receiver", &n).unwrap();
    }
    s.begin_shutdown(Duration::from_secs(5));
    assert!(matches!(s.listen("127.0.0.1:0"), Err(Error::ShuttingDown)));
    let deadline = Instant::now() + LIMIT;
    let last = 'done: loop {
        assert!(Instant::now() < deadline, "the shutdown never completed");
        s.poll(Some(Duration::from_millis(100))).unwrap();
        for ev in s.events() {
            if let Event::ShutdownComplete { unconfirmed } = ev {
                break 'done unconfirmed;
            }
        }
    };
    assert!(last.is_empty(), "{last:?}");
    assert_eq!(s.next_timeout(), None);
    let (got, reason) = r.join().unwrap();
    assert_eq!(got, (0..100).collect::<Vec<_>>());
    assert_eq!(reason, LinkDownReason::PeerClosed);
}

#[test]
fn a_peer_that_keeps_talking_while_the_agent_closes_sees_an_end_of_stream() {
    let mut s = Agent::new("Sender", Options::default()).unwrap();
    let addr = s.listen("127.0.0.1:0").unwrap();
    let mut peer = TcpStream::connect(addr).unwrap();
    let mut hello = Vec::new();
    codec::encode(&mut hello, br#"{"c":"hi!","mynameis":"Talker","iknow":[]}"#);
    peer.write_all(&hello).unwrap();
    let deadline = Instant::now() + LIMIT;
    while s.direct_member("Talker").is_none() {
        assert!(Instant::now() < deadline, "the raw peer never linked");
        s.poll(Some(Duration::from_millis(50))).unwrap();
        s.events().for_each(drop);
    }
    // Bytes the agent has not read when it shuts down: closing over them would reset.
    let mut pings = Vec::new();
    for _ in 0..1000 {
        codec::encode(&mut pings, br#"{"c":"ping"}"#);
    }
    peer.write_all(&pings).unwrap();
    // The peer reads everything the agent sends, to the end, in a thread of its own; then it
    // says one thing more and closes its side. An agent that had closed its socket instead of
    // reading to the peer's end answers that with a reset, which the next read reports.
    let (tx, rx) = mpsc::channel();
    let mut reader = peer.try_clone().unwrap();
    thread::spawn(move || {
        reader.set_read_timeout(Some(LIMIT)).unwrap();
        let outcome = read_to_end(&mut reader).and_then(|()| {
            let mut last = Vec::new();
            codec::encode(&mut last, br#"{"c":"ping"}"#);
            reader.write_all(&last)?;
            reader.shutdown(std::net::Shutdown::Write)?;
            read_to_end(&mut reader)
        });
        tx.send(outcome).unwrap();
    });
    let report = s.shutdown(Duration::from_secs(1)).unwrap();
    assert!(report.unconfirmed.is_empty());
    let outcome = rx
        .recv_timeout(LIMIT)
        .expect("the peer's reader never ended");
    assert!(
        outcome.is_ok(),
        "the peer saw {outcome:?}, not an end of stream"
    );
}

/// Reads and drops until the end of the stream.
fn read_to_end(stream: &mut TcpStream) -> std::io::Result<()> {
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}
