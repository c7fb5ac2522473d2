//! Secure links over real sockets (feature `secure`): secure agents exchanging and relaying
//! messages, and every way a link can be refused, each attacked over a raw socket that drives
//! its own secure session (or none) against a live agent, while a well-behaved secure peer
//! keeps exchanging messages with it. Keys come from fixed seeds; everything is on loopback,
//! port 0, polled to deadlines.
#![cfg(feature = "secure")]

mod support;

use std::collections::VecDeque;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use secretagent::secure::{Csprng, Identity, Psk, SecureConfig, SecureError, Session, Trust};
use secretagent::{Agent, Event, LinkDownReason, Options};
use serde_json::json;
use support::codec::base64;
use support::{Cluster, LIMIT, codec, fast};

const AMES: u8 = 1;
const ROSENBERG: u8 = 2;
const WOLF: u8 = 3;
/// Trusted, but only as "Spy".
const SPY: u8 = 4;
/// Trusted by nobody.
const MALLORY: u8 = 9;

fn identity(seed: u8) -> Identity {
    Identity::from_seed([seed; 32])
}

fn key(seed: u8) -> String {
    identity(seed).public().to_string()
}

/// Every member under its own name, and the spy.
fn everyone() -> Trust {
    trusting(&[
        ("Ames", AMES),
        ("Rosenberg", ROSENBERG),
        ("Wolf", WOLF),
        ("Spy", SPY),
    ])
}

fn trusting(entries: &[(&str, u8)]) -> Trust {
    let mut trust = Trust::new();
    for &(name, seed) in entries {
        trust.insert(name, *identity(seed).public());
    }
    trust
}

fn config(seed: u8, trust: Trust, psk: Option<u8>) -> SecureConfig {
    let cfg = SecureConfig::new(identity(seed), trust);
    match psk {
        Some(p) => cfg.with_psk(Psk::from_bytes([p; 32])),
        None => cfg,
    }
}

/// Adds a secure agent to the cluster.
fn secure(c: &mut Cluster, name: &str, cfg: SecureConfig, opts: Options) -> usize {
    c.insert(Agent::new_secure(name, opts, cfg).expect("secure agent"))
}

/// Adds a secure agent listening on a free loopback port.
fn secure_listening(
    c: &mut Cluster,
    name: &str,
    cfg: SecureConfig,
    opts: Options,
) -> (usize, SocketAddr) {
    let i = secure(c, name, cfg, opts);
    let addr = c.agents[i].listen("127.0.0.1:0").expect("listen");
    (i, addr)
}

/// The reason of the first link agent `i` reported down with an error, waiting for one.
fn first_error(c: &mut Cluster, i: usize, what: &str) -> LinkDownReason {
    let find = |c: &Cluster| {
        c.log[i].iter().find_map(|e| match e {
            Event::LinkDown { reason, .. } if reason.is_error() => Some(reason.clone()),
            _ => None,
        })
    };
    c.run_until(what, LIMIT, |c| find(c).is_some());
    find(c).expect("found")
}

/// A raw peer over a `TcpStream` that drives its own secure session, dialling the agent.
struct Client {
    stream: TcpStream,
    session: Session,
    scratch: Vec<u8>,
    /// Handshake bytes the session made, not written yet.
    reply: Vec<u8>,
    decoder: codec::Decoder,
    frames: VecDeque<String>,
    closed: bool,
    error: Option<SecureError>,
}

impl Client {
    /// Dials `addr` with the keys of `cfg`; returns the client and its first flight (the
    /// preamble and the first handshake message), not written yet.
    fn dial(addr: SocketAddr, cfg: SecureConfig, seed: u8) -> (Client, Vec<u8>) {
        let mut first = Vec::new();
        let mut rng = Csprng::from_seed([seed; 32]);
        let session = Session::initiator(&Arc::new(cfg), &mut rng, &mut first).expect("session");
        let stream = TcpStream::connect(addr).expect("connect");
        (Client::new(stream, session), first)
    }

    fn new(stream: TcpStream, session: Session) -> Client {
        stream.set_nonblocking(true).expect("nonblocking");
        let _ = stream.set_nodelay(true);
        Client {
            stream,
            session,
            scratch: Vec::new(),
            reply: Vec::new(),
            decoder: codec::Decoder::default(),
            frames: VecDeque::new(),
            closed: false,
            error: None,
        }
    }

    /// Writes `bytes`, stepping the cluster while the socket is full; false if the agent
    /// closed the connection meanwhile.
    fn write(&mut self, c: &mut Cluster, mut bytes: &[u8]) -> bool {
        let deadline = Instant::now() + LIMIT;
        while !bytes.is_empty() {
            match self.stream.write(bytes) {
                Ok(n) => bytes = &bytes[n..],
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    assert!(Instant::now() < deadline, "the client could not write");
                    c.step(Duration::from_millis(1));
                }
                Err(_) => return false,
            }
        }
        true
    }

    /// Writes `bytes` in the pieces `cuts` makes, letting the agent read each piece.
    fn write_in_pieces(&mut self, c: &mut Cluster, bytes: &[u8], cuts: &[usize]) {
        let mut at = 0;
        for &cut in cuts.iter().chain([bytes.len()].iter()) {
            assert!(self.write(c, &bytes[at..cut]), "closed\n{}", c.dump());
            c.step(Duration::from_millis(1));
            at = cut;
        }
    }

    /// Reads what arrived into the session, and the frames it opened into `frames`.
    fn pump(&mut self) {
        let mut buf = [0u8; 65536];
        loop {
            match self.stream.read(&mut buf) {
                Ok(0) => {
                    self.closed = true;
                    return;
                }
                Ok(n) if self.error.is_none() => {
                    let mut plain = Vec::new();
                    let read = self.session.read(&buf[..n], &mut plain, &mut self.reply, 0);
                    if let Err(e) = read {
                        self.error = Some(e);
                    }
                    let frames = &mut self.frames;
                    self.decoder.feed(&plain, |f| {
                        frames.push_back(String::from_utf8(f.to_vec()).expect("UTF-8"))
                    });
                }
                Ok(_) => {}
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(_) => {
                    self.closed = true;
                    return;
                }
            }
        }
    }

    /// Steps the cluster until the session is established; returns the last handshake
    /// message to write.
    fn established(&mut self, c: &mut Cluster) -> Vec<u8> {
        let deadline = Instant::now() + LIMIT;
        while !self.session.is_established() {
            self.pump();
            assert!(
                self.error.is_none() && !self.closed,
                "handshake failed: {:?}\n{}",
                self.error,
                c.dump()
            );
            assert!(Instant::now() < deadline, "no handshake\n{}", c.dump());
            c.step(Duration::from_millis(1));
        }
        std::mem::take(&mut self.reply)
    }

    /// `json` as a frame sealed into a record.
    fn seal(&mut self, json: &str) -> Vec<u8> {
        let mut frame = Vec::new();
        codec::encode(&mut frame, json.as_bytes());
        let mut out = Vec::new();
        self.session
            .write(&frame, &mut out, &mut self.scratch, 0)
            .expect("seal");
        out
    }

    /// The next frame the agent sent.
    fn recv(&mut self, c: &mut Cluster) -> String {
        let deadline = Instant::now() + LIMIT;
        loop {
            self.pump();
            if let Some(f) = self.frames.pop_front() {
                return f;
            }
            assert!(!self.closed, "the agent closed the link\n{}", c.dump());
            assert!(Instant::now() < deadline, "no frame\n{}", c.dump());
            c.step(Duration::from_millis(1));
        }
    }

    /// Steps the cluster until the agent closes the connection.
    fn wait_closed(&mut self, c: &mut Cluster) {
        let deadline = Instant::now() + LIMIT;
        while !self.closed {
            self.pump();
            assert!(Instant::now() < deadline, "not closed\n{}", c.dump());
            c.step(Duration::from_millis(1));
        }
    }
}

fn hello(name: &str) -> String {
    format!(r#"{{"c":"hi!","mynameis":"{name}","iknow":[],"v":2}}"#)
}

/// A client with key `seed` that completed its handshake and says hello as `name` (the
/// hello written, its answer not awaited).
fn authenticated(c: &mut Cluster, addr: SocketAddr, seed: u8, name: &str) -> Client {
    saying(c, addr, seed, &hello(name))
}

/// A client with key `seed` that completed its handshake and wrote `first_frame` (a hello of
/// its own making), its answer not awaited.
fn saying(c: &mut Cluster, addr: SocketAddr, seed: u8, first_frame: &str) -> Client {
    let (mut client, first) = Client::dial(addr, config(seed, everyone(), None), seed);
    assert!(client.write(c, &first));
    let mut last = client.established(c);
    last.extend(client.seal(first_frame));
    assert!(client.write(c, &last), "closed\n{}", c.dump());
    client
}

/// The victim "V" (secure, listening), and "W" linked to it, exchanging messages.
struct Victim {
    c: Cluster,
    v: usize,
    w: usize,
    addr: SocketAddr,
    rounds: u64,
}

impl Victim {
    fn new(opts: Options) -> Victim {
        let trust = || {
            let mut t = everyone();
            t.insert("V", *identity(ROSENBERG).public());
            t.insert("W", *identity(WOLF).public());
            t
        };
        let mut c = Cluster::new();
        let (v, addr) = secure_listening(&mut c, "V", config(ROSENBERG, trust(), None), opts);
        let w = secure(&mut c, "W", config(WOLF, trust(), None), fast());
        c.agents[w].connect(addr).unwrap();
        c.run_until("V and W linked", LIMIT, |c| {
            c.reaches(v, "W") && c.reaches(w, "V")
        });
        let mut victim = Victim {
            c,
            v,
            w,
            addr,
            rounds: 0,
        };
        victim.exchange();
        victim
    }

    /// V and W send each other a message and both arrive; their link never dropped.
    fn exchange(&mut self) {
        self.rounds += 1;
        let body = json!({ "round": self.rounds });
        let (v, w) = (self.v, self.w);
        self.c.agents[v].send_message("W", &body).unwrap();
        self.c.agents[w].send_message("V", &body).unwrap();
        let text = body.to_string();
        self.c.run_until("a round exchanged", LIMIT, |c| {
            c.received(v).iter().any(|(f, _, b)| f == "W" && *b == text)
                && c.received(w).iter().any(|(f, _, b)| f == "V" && *b == text)
        });
        let dropped = self.c.log[w]
            .iter()
            .any(|e| matches!(e, Event::LinkDown { .. }));
        assert!(!dropped, "the well-behaved link dropped\n{}", self.c.dump());
    }

    /// The reason V gave for closing an attacker's link: the first not consumed yet, waited
    /// for, then consumed.
    fn refused(&mut self) -> LinkDownReason {
        let v = self.v;
        first_error(&mut self.c, v, "V refuses the attacker");
        let at = self.c.log[v]
            .iter()
            .position(|e| matches!(e, Event::LinkDown { reason, .. } if reason.is_error()))
            .expect("found");
        match self.c.log[v].remove(at) {
            Event::LinkDown { reason, .. } => reason,
            _ => unreachable!(),
        }
    }
}

#[test]
fn three_secure_agents_exchange_and_relay_exactly_once_in_order_confirmed() {
    const N: usize = 300;
    let mut c = Cluster::new();
    let cfg = |seed| config(seed, everyone(), None);
    let (b, b_addr) = secure_listening(&mut c, "Rosenberg", cfg(ROSENBERG), fast());
    let a = secure(&mut c, "Ames", cfg(AMES), fast());
    let w = secure(&mut c, "Wolf", cfg(WOLF), fast());
    c.agents[a].connect(b_addr).unwrap();
    c.agents[w].connect(b_addr).unwrap();
    c.run_until("Ames and Wolf reach each other", LIMIT, |c| {
        c.reaches(a, "Wolf") && c.reaches(w, "Ames")
    });
    let mut ids = [Vec::new(), Vec::new()];
    for n in 0..N {
        ids[0].push(
            c.agents[a]
                .send_message("Wolf", &json!({ "n": n }))
                .unwrap(),
        );
        ids[1].push(
            c.agents[w]
                .send_message("Ames", &json!({ "n": n }))
                .unwrap(),
        );
    }
    let delivered = |c: &Cluster, i: usize| {
        c.log[i]
            .iter()
            .filter_map(|e| match e {
                Event::Delivered { id, .. } => Some(*id),
                _ => None,
            })
            .collect::<Vec<_>>()
    };
    c.run_until("every message confirmed both ways", LIMIT, |c| {
        delivered(c, a).len() >= N && delivered(c, w).len() >= N
    });
    let expected: Vec<String> = (0..N).map(|n| json!({ "n": n }).to_string()).collect();
    for (i, from) in [(w, "Ames"), (a, "Wolf")] {
        let got: Vec<String> = c
            .received(i)
            .into_iter()
            .map(|(f, via, b)| {
                assert_eq!((f.as_str(), via.as_str()), (from, "Rosenberg"));
                b
            })
            .collect();
        assert_eq!(got, expected, "{} received", c.agents[i].name());
    }
    assert_eq!(delivered(&c, a), ids[0]);
    assert_eq!(delivered(&c, w), ids[1]);
    let stats = c.agents[b].stats();
    assert!(stats.relayed >= 2 * N as u64, "{stats:?}");
    assert_eq!(stats.handshakes, 2);
    assert_eq!(stats.secure_refused, 0);
    for i in [a, b, w] {
        let errors = c.log[i]
            .iter()
            .filter(|e| matches!(e, Event::LinkDown { .. }));
        assert_eq!(errors.count(), 0, "\n{}", c.dump());
    }
}

#[test]
fn the_handshake_completes_at_every_split_point() {
    let mut t = Victim::new(fast());
    let (mut probe, first) = Client::dial(t.addr, config(AMES, everyone(), None), AMES);
    assert!(probe.write(&mut t.c, &first));
    let mut last = probe.established(&mut t.c);
    last.extend(probe.seal(&hello("Ames")));
    let (first_len, last_len) = (first.len(), last.len());
    drop(probe);
    // Each flight cut at every point, then both written a byte at a time.
    let mut cases: Vec<(Vec<usize>, Vec<usize>)> = Vec::new();
    cases.extend((1..first_len).map(|k| (vec![k], vec![])));
    cases.extend((1..last_len).map(|k| (vec![], vec![k])));
    cases.push(((1..first_len).collect(), (1..last_len).collect()));
    for (cut_first, cut_last) in cases {
        let (mut client, first) = Client::dial(t.addr, config(AMES, everyone(), None), AMES);
        client.write_in_pieces(&mut t.c, &first, &cut_first);
        let mut last = client.established(&mut t.c);
        last.extend(client.seal(&hello("Ames")));
        assert_eq!(last.len(), last_len);
        client.write_in_pieces(&mut t.c, &last, &cut_last);
        let answer = client.recv(&mut t.c);
        assert!(
            answer.starts_with(r#"{"a":"hi!","mynameis":"V""#),
            "{answer}"
        );
        drop(client);
        let v = t.v;
        t.c.run_until("V saw the client go", LIMIT, |c| {
            !c.agents[v].everybody().iter().any(|p| p.name == "Ames")
        });
    }
    t.exchange();
    let stats = t.c.agents[t.v].stats();
    assert_eq!(stats.secure_refused, 0, "{stats:?}");
    // W's, and one per case (the probe stopped before its last message).
    let cases = first_len - 1 + last_len - 1 + 1;
    assert_eq!(stats.handshakes as usize, 1 + cases);
}

#[test]
fn an_untrusted_key_is_refused_whichever_side_dials() {
    let mut t = Victim::new(fast());
    let mut client = authenticated(&mut t.c, t.addr, MALLORY, "Mallory");
    client.wait_closed(&mut t.c);
    assert_eq!(
        t.refused(),
        LinkDownReason::Secure(SecureError::UnknownKey { key: key(MALLORY) })
    );
    assert!(
        client.frames.is_empty(),
        "the agent answered an untrusted key"
    );
    t.exchange();

    // Two agents: Rosenberg does not know Ames's key.
    let mut c = Cluster::new();
    let trust = trusting(&[("Rosenberg", ROSENBERG)]);
    let (b, addr) = secure_listening(&mut c, "Rosenberg", config(ROSENBERG, trust, None), fast());
    let a = secure(&mut c, "Ames", config(AMES, everyone(), None), fast());
    c.agents[a].connect(addr).unwrap();
    let at_b = first_error(&mut c, b, "Rosenberg refuses Ames");
    assert_eq!(
        at_b,
        LinkDownReason::Secure(SecureError::UnknownKey { key: key(AMES) })
    );
    assert!(at_b.to_string().contains(&key(AMES)), "{at_b}");
    let at_a = first_error(&mut c, a, "Ames sees the refusal");
    assert_eq!(
        at_a,
        LinkDownReason::Secure(SecureError::ClosedDuringHandshake)
    );
    assert!(c.agents[b].stats().secure_refused >= 1);
}

#[test]
fn a_key_claiming_a_name_it_is_not_trusted_for_is_refused_before_it_is_registered() {
    let mut t = Victim::new(fast());
    for name in ["Ames", "Nobody"] {
        let mut client = authenticated(&mut t.c, t.addr, SPY, name);
        client.wait_closed(&mut t.c);
        let reason = t.refused();
        assert_eq!(
            reason,
            LinkDownReason::Secure(SecureError::KeyNotAllowed {
                name: name.into(),
                key: key(SPY),
                trusted_for: vec!["Spy".into()],
            })
        );
        let text = reason.to_string();
        assert!(text.contains(name) && text.contains("\"Spy\""), "{text}");
        // Nothing of it was registered: no link up, no route, no answer.
        assert!(client.frames.is_empty());
        assert!(!t.c.reaches(t.v, name));
        let up = t.c.log[t.v]
            .iter()
            .any(|e| matches!(e, Event::LinkUp { peer, .. } if peer == name));
        assert!(!up, "V took {name} in");
    }
    assert_eq!(t.c.agents[t.v].stats().secure_refused, 2);
    t.exchange();
}

#[test]
fn a_trusted_key_saying_hello_in_version_1_is_refused() {
    // Version 1 would let the member present names behind it, to which no route is confirmed:
    // what went there would travel unnumbered, untagged and unsealed.
    let mut t = Victim::new(fast());
    let v1_hello = r#"{"c":"hi!","mynameis":"Spy","iknow":["Victor"]}"#;
    let mut client = saying(&mut t.c, t.addr, SPY, v1_hello);
    client.wait_closed(&mut t.c);
    let reason = t.refused();
    assert_eq!(
        reason,
        LinkDownReason::Secure(SecureError::Version1 { name: "Spy".into() })
    );
    assert!(reason.to_string().contains("version 1"), "{reason}");
    assert!(!t.c.reaches(t.v, "Victor") && !t.c.reaches(t.v, "Spy"));
    assert_eq!(t.c.agents[t.v].stats().secure_refused, 1);
    t.exchange();
}

#[test]
fn the_dialler_checks_the_name_in_the_answer() {
    // A raw acceptor with Spy's key answers as "Rosenberg".
    let mut c = Cluster::new();
    let a = secure(&mut c, "Ames", config(AMES, everyone(), None), fast());
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    c.agents[a].connect(listener.local_addr().unwrap()).unwrap();
    let raw = support::Raw::accept(&listener, &mut c);
    let cfg = Arc::new(config(SPY, everyone(), None));
    let session = Session::responder(&cfg, &mut Csprng::from_seed([SPY; 32]));
    let mut client = Client::new(raw.stream, session);
    let deadline = Instant::now() + LIMIT;
    while !client.session.is_established() {
        client.pump();
        let reply = std::mem::take(&mut client.reply);
        assert!(client.write(&mut c, &reply));
        assert!(
            client.error.is_none() && Instant::now() < deadline,
            "{:?}",
            client.error
        );
        c.step(Duration::from_millis(1));
    }
    let their_hello = client.recv(&mut c);
    assert!(
        their_hello.contains(r#""mynameis":"Ames""#),
        "{their_hello}"
    );
    let answer = client.seal(r#"{"a":"hi!","mynameis":"Rosenberg","iknow":[],"v":2}"#);
    assert!(client.write(&mut c, &answer));
    client.wait_closed(&mut c);
    assert_eq!(
        first_error(&mut c, a, "Ames refuses the answer"),
        LinkDownReason::Secure(SecureError::KeyNotAllowed {
            name: "Rosenberg".into(),
            key: key(SPY),
            trusted_for: vec!["Spy".into()],
        })
    );
    assert!(!c.reaches(a, "Rosenberg"));
}

#[test]
fn a_bad_psk_and_a_psk_on_one_side_only_are_refused_and_named() {
    let cases = [
        (Some(1), Some(2), SecureError::BadPsk),
        (None, Some(2), SecureError::PskMissingOnPeer),
        (Some(1), None, SecureError::PskMissingHere),
    ];
    for (dialler_psk, acceptor_psk, expected) in cases {
        let mut c = Cluster::new();
        let (b, addr) = secure_listening(
            &mut c,
            "Rosenberg",
            config(ROSENBERG, everyone(), acceptor_psk),
            fast(),
        );
        let a = secure(
            &mut c,
            "Ames",
            config(AMES, everyone(), dialler_psk),
            fast(),
        );
        c.agents[a].connect(addr).unwrap();
        let at_b = first_error(&mut c, b, "Rosenberg refuses");
        assert_eq!(at_b, LinkDownReason::Secure(expected.clone()));
        assert!(at_b.to_string().contains("PSK"), "{at_b}");
        assert_eq!(
            first_error(&mut c, a, "Ames sees the refusal"),
            LinkDownReason::Secure(SecureError::ClosedDuringHandshake)
        );
        assert!(!c.reaches(a, "Rosenberg") && !c.reaches(b, "Ames"));
    }
    // The same PSK on both sides works.
    let mut c = Cluster::new();
    let (b, addr) = secure_listening(
        &mut c,
        "Rosenberg",
        config(ROSENBERG, everyone(), Some(5)),
        fast(),
    );
    let a = secure(&mut c, "Ames", config(AMES, everyone(), Some(5)), fast());
    c.agents[a].connect(addr).unwrap();
    c.run_until("linked with the PSK", LIMIT, |c| {
        c.reaches(a, "Rosenberg") && c.reaches(b, "Ames")
    });
}

#[test]
fn a_flipped_bit_in_a_record_closes_the_link() {
    let mut t = Victim::new(fast());
    let mut client = authenticated(&mut t.c, t.addr, AMES, "Ames");
    let answer = client.recv(&mut t.c);
    assert!(answer.starts_with(r#"{"a":"hi!""#), "{answer}");
    for bit in [0usize, 7, 100, 151] {
        let mut record = client.seal(r#"{"c":"ping"}"#);
        let at = 2 + (bit / 8) % (record.len() - 2);
        record[at] ^= 1 << (bit % 8);
        if client.write(&mut t.c, &record) {
            client.wait_closed(&mut t.c);
        }
        assert_eq!(t.refused(), LinkDownReason::Secure(SecureError::Tampered));
        t.exchange();
        client = authenticated(&mut t.c, t.addr, AMES, "Ames");
        client.recv(&mut t.c);
    }
    // The untampered record goes through.
    let ping = client.seal(r#"{"c":"ping"}"#);
    assert!(client.write(&mut t.c, &ping));
    let deadline = Instant::now() + LIMIT;
    while client.recv(&mut t.c) != r#"{"a":"ping"}"# {
        assert!(Instant::now() < deadline, "no answer to the ping");
    }
}

#[test]
fn garbage_before_the_handshake_is_refused_with_what_it_was() {
    let mut t = Victim::new(fast());
    let cases: [(&[u8], SecureError); 4] = [
        (
            b"\x16\x03\x01\x02\x00 TLS hello",
            SecureError::Garbage {
                detail: "the first bytes are not the secure preamble",
            },
        ),
        (
            b"GET / HTTP/1.1\r\n\r\n",
            SecureError::Garbage {
                detail: "the first bytes are not the secure preamble",
            },
        ),
        (
            b"\xffsa\x01\xff\xff",
            SecureError::HandshakeTooLarge {
                len: 65535,
                max: 256,
            },
        ),
        (b"\xffsa\x07", SecureError::UnsupportedMode { mode: 7 }),
    ];
    for (bytes, expected) in cases {
        let mut raw = support::Raw::connect(t.addr);
        raw.send_bytes(&mut t.c, bytes);
        raw.wait_closed(&mut t.c);
        assert_eq!(t.refused(), LinkDownReason::Secure(expected));
    }
    t.exchange();
    assert_eq!(t.c.agents[t.v].stats().secure_refused, 4);
}

#[test]
fn garbage_after_the_handshake_is_refused() {
    let mut t = Victim::new(fast());
    let mut bogus = vec![0, 40];
    bogus.extend((0..40u8).map(|i| i.wrapping_mul(37)));
    let cases: [(Vec<u8>, SecureError); 2] = [
        (bogus, SecureError::Tampered),
        (
            vec![0, 5, 1, 2, 3, 4, 5],
            SecureError::BadRecordLength { len: 5 },
        ),
    ];
    for (bytes, expected) in cases {
        let mut client = authenticated(&mut t.c, t.addr, AMES, "Ames");
        client.recv(&mut t.c);
        if client.write(&mut t.c, &bytes) {
            client.wait_closed(&mut t.c);
        }
        assert_eq!(t.refused(), LinkDownReason::Secure(expected));
        t.exchange();
    }
}

#[test]
fn a_plaintext_hello_is_refused_with_a_clear_reason() {
    let mut t = Victim::new(fast());
    for hello in [
        r#"{"c":"hi!","mynameis":"Original","iknow":[]}"#,
        r#"{"c":"hi!","mynameis":"W","iknow":[],"v":2}"#,
    ] {
        let mut raw = support::Raw::connect(t.addr);
        raw.send(&mut t.c, hello);
        raw.wait_closed(&mut t.c);
        let reason = t.refused();
        assert_eq!(reason, LinkDownReason::Secure(SecureError::PlaintextPeer));
        assert!(reason.to_string().contains("plaintext"), "{reason}");
    }
    // The existing link to W was not touched by a plaintext "W".
    t.exchange();
}

#[test]
fn a_stalled_handshake_is_closed_at_the_hello_timeout() {
    let opts = Options {
        hello_timeout: Duration::from_millis(300),
        ..fast()
    };
    let mut t = Victim::new(opts);
    // Stalled in the preamble, and after the first handshake message.
    let (mut stalled, first) = Client::dial(t.addr, config(AMES, everyone(), None), AMES);
    assert!(stalled.write(&mut t.c, &first[..2]));
    let (mut waiting, first) = Client::dial(t.addr, config(AMES, everyone(), None), AMES);
    assert!(waiting.write(&mut t.c, &first));
    waiting.established(&mut t.c);
    for client in [&mut stalled, &mut waiting] {
        client.wait_closed(&mut t.c);
        assert_eq!(t.refused(), LinkDownReason::HelloTimeout);
    }
    assert_eq!(t.c.agents[t.v].stats().pending_links, 0);
    t.exchange();
}

#[test]
fn handshakes_in_progress_count_against_max_pending_links() {
    let opts = Options {
        max_pending_links: 2,
        ..fast()
    };
    let mut t = Victim::new(opts);
    let mut pending = Vec::new();
    for _ in 0..2 {
        let (mut client, first) = Client::dial(t.addr, config(AMES, everyone(), None), AMES);
        assert!(client.write(&mut t.c, &first));
        // The client is done; the agent waits for its last message.
        let last = client.established(&mut t.c);
        pending.push((client, last));
    }
    let v = t.v;
    t.c.run_until("two handshakes pending", LIMIT, |c| {
        c.agents[v].stats().pending_links == 2
    });
    let (mut third, first) = Client::dial(t.addr, config(AMES, everyone(), None), AMES);
    third.write(&mut t.c, &first);
    third.wait_closed(&mut t.c);
    assert_eq!(t.refused(), LinkDownReason::TooManyPending { max: 2 });
    // One pending handshake finishes: there is room again.
    let (mut done, mut last) = pending.pop().unwrap();
    last.extend(done.seal(&hello("Ames")));
    assert!(done.write(&mut t.c, &last));
    done.recv(&mut t.c);
    let mut fourth = authenticated(&mut t.c, t.addr, SPY, "Spy");
    assert!(fourth.recv(&mut t.c).starts_with(r#"{"a":"hi!""#));
    t.exchange();
}

#[test]
fn an_unauthenticated_duplicate_never_replaces_the_existing_link() {
    let mut t = Victim::new(fast());
    // Plaintext, an unknown key and a key trusted for another name, each claiming to be W.
    let mut raw = support::Raw::connect(t.addr);
    raw.send(&mut t.c, &hello("W"));
    raw.wait_closed(&mut t.c);
    assert_eq!(
        t.refused(),
        LinkDownReason::Secure(SecureError::PlaintextPeer)
    );
    for seed in [MALLORY, SPY] {
        let mut client = authenticated(&mut t.c, t.addr, seed, "W");
        client.wait_closed(&mut t.c);
        assert!(matches!(t.refused(), LinkDownReason::Secure(_)));
        assert!(client.frames.is_empty());
        t.exchange();
    }
    // W's own key on a second connection: authenticated, refused as a duplicate, and the
    // refusal (V's answer) comes sealed, readable only inside the channel.
    let mut twin = authenticated(&mut t.c, t.addr, WOLF, "W");
    let answer = twin.recv(&mut t.c);
    assert!(
        answer.starts_with(r#"{"a":"hi!","mynameis":"V""#),
        "{answer}"
    );
    twin.wait_closed(&mut t.c);
    let v = t.v;
    t.c.run_until("V refuses the duplicate", LIMIT, |c| {
        c.log[v].iter().any(|e| {
            matches!(e, Event::LinkDown { reason: LinkDownReason::Duplicate { name }, .. } if name == "W")
        })
    });
    t.exchange();
}

#[test]
fn reloading_the_trust_closes_exactly_the_links_of_the_revoked_key() {
    let mut c = Cluster::new();
    let cfg = |seed| config(seed, everyone(), None);
    let (b, addr) = secure_listening(&mut c, "Rosenberg", cfg(ROSENBERG), fast());
    let a = secure(&mut c, "Ames", cfg(AMES), fast());
    let w = secure(&mut c, "Wolf", cfg(WOLF), fast());
    c.agents[a].connect(addr).unwrap();
    c.agents[w].connect(addr).unwrap();
    c.run_until("both linked to Rosenberg", LIMIT, |c| {
        c.reaches(b, "Ames") && c.reaches(b, "Wolf")
    });
    // Unchanged trust: nothing closes.
    assert_eq!(c.agents[b].reload_trust(everyone()).unwrap(), 0);
    let without_ames = trusting(&[("Rosenberg", ROSENBERG), ("Wolf", WOLF), ("Spy", SPY)]);
    assert_eq!(c.agents[b].reload_trust(without_ames).unwrap(), 1);
    let reason = first_error(&mut c, b, "Rosenberg closes Ames");
    assert_eq!(
        reason,
        LinkDownReason::Secure(SecureError::Revoked {
            name: "Ames".into(),
            key: key(AMES),
        })
    );
    assert!(reason.to_string().contains(&key(AMES)), "{reason}");
    let revoked: Vec<&Event> = c.log[b]
        .iter()
        .filter(|e| matches!(e, Event::LinkDown { .. }))
        .collect();
    assert!(
        matches!(revoked[..], [Event::LinkDown { peer: Some(p), .. }] if p == "Ames"),
        "{revoked:?}"
    );
    // Ames dials again and is refused: its key is unknown now.
    c.run_until("Ames's redial refused", LIMIT, |c| {
        c.log[b].iter().any(|e| {
            matches!(
                e,
                Event::LinkDown {
                    reason: LinkDownReason::Secure(SecureError::UnknownKey { .. }),
                    ..
                }
            )
        })
    });
    let stats = c.agents[b].stats();
    assert_eq!(stats.revoked, 1);
    assert!(c.reaches(b, "Wolf") && !c.reaches(b, "Ames"));
    c.agents[w]
        .send_message("Rosenberg", &"still here")
        .unwrap();
    c.run_until("Wolf's message arrives", LIMIT, |c| {
        c.received(b).iter().any(|(f, _, _)| f == "Wolf")
    });
    let wolf_down = c.log[w].iter().any(|e| matches!(e, Event::LinkDown { .. }));
    assert!(!wolf_down, "\n{}", c.dump());
}

#[test]
fn a_plain_agent_and_a_secure_agent_refuse_each_other_cleanly() {
    for secure_dials in [true, false] {
        let mut c = Cluster::new();
        let s = secure(&mut c, "Secure", config(AMES, everyone(), None), fast());
        let p = c.add("Plain", fast());
        let addr = c.agents[if secure_dials { p } else { s }]
            .listen("127.0.0.1:0")
            .unwrap();
        c.agents[if secure_dials { s } else { p }]
            .connect(addr)
            .unwrap();
        let at_s = first_error(&mut c, s, "the secure agent refuses");
        let at_p = if secure_dials {
            first_error(&mut c, p, "the plain agent refuses")
        } else {
            let find = |c: &Cluster| {
                c.log[p].iter().find_map(|e| match e {
                    Event::LinkDown { reason, .. } => Some(reason.clone()),
                    _ => None,
                })
            };
            c.run_until("the plain agent sees the close", LIMIT, |c| {
                find(c).is_some()
            });
            find(&c).unwrap()
        };
        if secure_dials {
            assert_eq!(
                at_s,
                LinkDownReason::Secure(SecureError::ClosedDuringHandshake)
            );
            assert!(matches!(at_p, LinkDownReason::Frame(_)), "{at_p:?}");
        } else {
            assert_eq!(at_s, LinkDownReason::Secure(SecureError::PlaintextPeer));
            assert_eq!(at_p, LinkDownReason::PeerClosed);
        }
        assert!(!c.reaches(s, "Plain") && !c.reaches(p, "Secure"));
        // Whichever dialled learns that its attempt failed, and when it tries again.
        let dialler = if secure_dials { s } else { p };
        let failed = |c: &Cluster| {
            c.log[dialler].iter().find_map(|e| match e {
                Event::ConnectFailed {
                    error, retry_in, ..
                } => Some((error.clone(), *retry_in)),
                _ => None,
            })
        };
        c.run_until("the dialler's attempt is reported failed", LIMIT, |c| {
            failed(c).is_some()
        });
        let (error, retry_in) = failed(&c).unwrap();
        assert!(error.contains("before its hello"), "{error}");
        if !secure_dials {
            assert!(
                error.contains("a secure agent refuses plain ones"),
                "{error}"
            );
        }
        assert!(retry_in.is_some(), "{error}");
    }
}

#[test]
fn a_secure_agent_shutting_down_delivers_everything_and_closes_cleanly() {
    let mut c = Cluster::new();
    let cfg = |seed| config(seed, everyone(), None);
    let (b, addr) = secure_listening(&mut c, "Rosenberg", cfg(ROSENBERG), fast());
    let a = secure(&mut c, "Ames", cfg(AMES), fast());
    c.agents[a].connect(addr).unwrap();
    c.run_until("linked", LIMIT, |c| {
        c.agents[a].route("Rosenberg").is_some_and(|r| r.confirmed)
    });
    for n in 0..1000u64 {
        c.agents[a].send_message("Rosenberg", &n).unwrap();
    }
    c.agents[a].begin_shutdown(Duration::from_secs(5));
    c.run_until("Ames shut down and Rosenberg saw the link go", LIMIT, |c| {
        let done = c.log[a].iter().any(
            |e| matches!(e, Event::ShutdownComplete { unconfirmed } if unconfirmed.is_empty()),
        );
        let down = c.log[b].iter().any(|e| matches!(e, Event::LinkDown { .. }));
        done && down
    });
    let got: Vec<String> = c.received(b).into_iter().map(|(_, _, body)| body).collect();
    let sent: Vec<String> = (0..1000u64).map(|n| n.to_string()).collect();
    assert_eq!(got, sent);
    let reason = c.log[b].iter().find_map(|e| match e {
        Event::LinkDown { reason, .. } => Some(reason.clone()),
        _ => None,
    });
    assert_eq!(reason, Some(LinkDownReason::PeerClosed), "\n{}", c.dump());
}

/// The incarnation in the first description of `origin` among `frames`.
fn incarnation_of(frames: &VecDeque<String>, origin: &str) -> Option<u64> {
    frames.iter().find_map(|f| {
        let v: serde_json::Value = serde_json::from_str(f).ok()?;
        (v["c"] == "lsa" && v["o"] == origin).then(|| v["i"].as_u64())?
    })
}

#[test]
fn a_trusted_member_forging_others_changes_nothing_and_every_forgery_is_counted() {
    use secretagent::secure::{MessageFields, PairKey, signed_description};
    let mut t = Victim::new(fast());
    let mut spy = authenticated(&mut t.c, t.addr, SPY, "Spy");
    // The spy holds no description: V hands it its database, where the incarnations of V and
    // W are read.
    let summary = spy.seal(r#"{"c":"sum","d":[],"e":true}"#);
    assert!(spy.write(&mut t.c, &summary), "closed\n{}", t.c.dump());
    let (v, w) = (t.v, t.w);
    let deadline = Instant::now() + LIMIT;
    while incarnation_of(&spy.frames, "V").is_none() || incarnation_of(&spy.frames, "W").is_none() {
        assert!(
            Instant::now() < deadline,
            "no database from V\n{}",
            t.c.dump()
        );
        spy.pump();
        t.c.step(Duration::from_millis(1));
    }
    let inc_v = incarnation_of(&spy.frames, "V").expect("V's incarnation");
    let inc_w = incarnation_of(&spy.frames, "W").expect("W's incarnation");
    let top = 1u64 << 53;
    // W's description at the top of the number space, listing only the spy: unsigned, and
    // signed with the spy's own key.
    let lists = r#""n":["Spy"],"x":[]"#;
    let unsigned = format!(r#"{{"c":"lsa","o":"W","i":{top},"s":{top},{lists}}}"#);
    let mut signed = Vec::new();
    let (mut n, mut p, mut x) = (["Spy"].into_iter(), std::iter::empty(), std::iter::empty());
    signed_description(&mut signed, "W", top, top, [&mut n, &mut p, &mut x]);
    let by_spy = format!(
        r#"{{"c":"lsa","o":"W","i":{top},"s":{top},{lists},"k":"{}","g":"{}"}}"#,
        base64(&identity(SPY).public().to_bytes()),
        base64(&identity(SPY).sign(&signed))
    );
    // A numbered message in W's name, untagged and tagged with the spy's own key for V.
    let body = r#""forged""#;
    let msg = |tag: &str| {
        format!(r#"{{"c":"msg","f":"W","t":"V","m":{body},"h":2,"i":{inc_w},"s":1,"b":1{tag}}}"#)
    };
    let spys_key = PairKey::derive(&identity(SPY), identity(ROSENBERG).public()).unwrap();
    let wrong_tag = spys_key.tag_message(&MessageFields {
        from: "W",
        to: "V",
        inc: inc_w,
        seq: 1,
        base: 1,
        to_inc: inc_v,
        sealed: false,
        body,
    });
    let tagged = msg(&format!(r#","d":{inc_v},"g":"{}""#, base64(&wrong_tag)));
    // W confirming everything V ever sends it.
    let ack = format!(r#"{{"c":"ack","f":"W","t":"V","i":{inc_v},"s":{top},"h":2}}"#);
    // Then a message of the spy's own, which V takes: the forgeries before it were read.
    let own = r#"{"c":"msg","f":"Spy","t":"V","m":"genuine","h":1}"#;
    let mut bytes = Vec::new();
    for frame in [&unsigned, &by_spy, &msg(""), &tagged, &ack, own] {
        bytes.extend(spy.seal(frame));
    }
    assert!(spy.write(&mut t.c, &bytes), "closed\n{}", t.c.dump());
    t.c.run_until("V takes the spy's own message", LIMIT, |c| {
        c.received(v)
            .iter()
            .any(|(f, _, b)| f == "Spy" && b == r#""genuine""#)
    });
    let stats = t.c.agents[v].stats();
    assert_eq!(
        (
            stats.forged_descriptions,
            stats.forged_messages,
            stats.forged_confirmations
        ),
        (2, 2, 1),
        "{stats:?}"
    );
    // Nothing changed: W is still V's neighbour and theirs is the only path, no forged body
    // reached V, and the spy's link stays up.
    assert_eq!(t.c.agents[v].route_via("W"), Some("W"));
    t.exchange();
    assert!(!t.c.received(v).iter().any(|(_, _, b)| b == body));
    let _ = w;
    spy.pump();
    assert!(!spy.closed && spy.error.is_none(), "the spy's link closed");
}
