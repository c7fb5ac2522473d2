//! Test support: several agents in one thread, driven until a condition holds.
//!
//! The cluster waits on every agent's poll descriptor at once (an outer mio loop, the same way
//! an application embeds an agent), so tests never sleep: they poll until what they expect is
//! seen, or fail at a deadline with everything each agent reported.
#![allow(dead_code)]

pub mod codec;
pub mod proxy;
pub mod rng;

use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};
use secretagent::{Agent, Event, Options};

/// How long any single expectation may take before a test fails.
pub const LIMIT: Duration = Duration::from_secs(10);

/// Options for tests: fast reconnection, unchanged otherwise.
pub fn fast() -> Options {
    Options {
        auto_reconnect_interval: Duration::from_millis(50),
        ..Options::default()
    }
}

pub struct Cluster {
    pub agents: Vec<Agent>,
    /// Every event each agent reported, in order.
    pub log: Vec<Vec<Event>>,
    outer: Poll,
    events: Events,
}

impl Cluster {
    pub fn new() -> Cluster {
        Cluster {
            agents: Vec::new(),
            log: Vec::new(),
            outer: Poll::new().expect("poll"),
            events: Events::with_capacity(64),
        }
    }

    /// Adds an agent; returns its index.
    pub fn add(&mut self, name: &str, opts: Options) -> usize {
        self.insert(Agent::new(name, opts).expect("agent"))
    }

    /// Adds an agent made elsewhere (a secure one, say); returns its index.
    pub fn insert(&mut self, agent: Agent) -> usize {
        let i = self.agents.len();
        let fd = agent.as_raw_fd();
        self.outer
            .registry()
            .register(&mut SourceFd(&fd), Token(i), Interest::READABLE)
            .expect("register agent fd");
        self.agents.push(agent);
        self.log.push(Vec::new());
        i
    }

    /// Adds an agent listening on a free loopback port; returns its index and address.
    pub fn add_listening(&mut self, name: &str, opts: Options) -> (usize, SocketAddr) {
        let i = self.add(name, opts);
        let addr = self.agents[i].listen("127.0.0.1:0").expect("listen");
        (i, addr)
    }

    pub fn index(&self, name: &str) -> usize {
        self.agents
            .iter()
            .position(|a| a.name() == name)
            .unwrap_or_else(|| panic!("no agent {name}"))
    }

    /// One round: wait (bounded) for any agent's IO or timer, then poll every agent once.
    pub fn step(&mut self, max_wait: Duration) {
        let now = Instant::now();
        let mut wait = max_wait;
        for a in &self.agents {
            if let Some(at) = a.next_timeout() {
                wait = wait.min(at.saturating_duration_since(now));
            }
        }
        match self.outer.poll(&mut self.events, Some(wait)) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => panic!("outer poll: {e}"),
        }
        for (i, a) in self.agents.iter_mut().enumerate() {
            a.poll(Some(Duration::ZERO)).expect("agent poll");
            self.log[i].extend(a.events());
        }
    }

    /// Steps until `done` holds; panics after `limit` with `what` and every agent's events.
    pub fn run_until(
        &mut self,
        what: &str,
        limit: Duration,
        mut done: impl FnMut(&Cluster) -> bool,
    ) {
        let deadline = Instant::now() + limit;
        loop {
            if done(self) {
                return;
            }
            if Instant::now() >= deadline {
                panic!(
                    "timed out after {limit:?} waiting for: {what}\n{}",
                    self.dump()
                );
            }
            self.step(Duration::from_millis(20));
        }
    }

    pub fn dump(&self) -> String {
        let mut s = String::new();
        for (a, log) in self.agents.iter().zip(&self.log) {
            s.push_str(&format!("--- {} ({} events)\n", a.name(), log.len()));
            for e in log.iter().rev().take(40).rev() {
                s.push_str(&format!("    {e:?}\n"));
            }
        }
        s
    }

    /// Whether agent `i` can reach `name` now.
    pub fn reaches(&self, i: usize, name: &str) -> bool {
        self.agents[i].route(name).is_some()
    }

    /// Whether every agent reaches every other.
    pub fn converged(&self) -> bool {
        self.agents.iter().all(|a| {
            self.agents
                .iter()
                .all(|b| a.name() == b.name() || a.route(b.name()).is_some())
        })
    }

    /// Messages agent `i` received, as (from, via, body text).
    pub fn received(&self, i: usize) -> Vec<(String, String, String)> {
        self.log[i]
            .iter()
            .filter_map(|e| match e {
                Event::Message {
                    from, via, body, ..
                } => Some((from.to_string(), via.to_string(), body.get().to_owned())),
                _ => None,
            })
            .collect()
    }

    /// Relays agent `i` reported (needs `trace_relays`), as (from, to, prev, next).
    pub fn relayed(&self, i: usize) -> Vec<(String, String, String, String)> {
        self.log[i]
            .iter()
            .filter_map(|e| match e {
                Event::Relayed {
                    from,
                    to,
                    prev,
                    next,
                } => Some((
                    from.to_string(),
                    to.to_string(),
                    prev.to_string(),
                    next.to_string(),
                )),
                _ => None,
            })
            .collect()
    }

    /// The path a message took, from the relay traces and the receiver's `via`: the body must
    /// be unique among messages `to` received.
    pub fn path_of(&self, from: &str, to: &str, body: &str) -> Vec<String> {
        let dst = self.index(to);
        let Some((_, via, _)) = self
            .received(dst)
            .into_iter()
            .find(|(f, _, b)| f == from && b == body)
        else {
            return Vec::new();
        };
        // Walk backwards from the receiver through the relays that forwarded `from`→`to`.
        let mut path = vec![to.to_owned()];
        let mut prev = via;
        for _ in 0..self.agents.len() {
            if prev == from {
                break;
            }
            path.push(prev.clone());
            let i = self.index(&prev);
            let hop = self
                .relayed(i)
                .into_iter()
                .rev()
                .find(|(f, t, _, _)| f == from && t == to);
            match hop {
                Some((_, _, p, _)) => prev = p,
                None => break,
            }
        }
        path.push(from.to_owned());
        path.reverse();
        path
    }
}

/// Reads `{"key": value}` lines from a child process's stdout on a thread, so a test can wait
/// for a line with a deadline.
pub mod lines {
    use std::io::{BufRead, BufReader};
    use std::process::ChildStdout;
    use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
    use std::time::{Duration, Instant};

    pub struct Lines {
        rx: Receiver<String>,
        /// Every line, for diagnostics.
        pub seen: Vec<String>,
        /// Lines not yet matched by a `wait`.
        unmatched: Vec<serde_json::Value>,
    }

    impl Lines {
        pub fn new(out: ChildStdout) -> Lines {
            let (tx, rx) = channel();
            std::thread::spawn(move || {
                for line in BufReader::new(out).lines() {
                    let Ok(line) = line else { break };
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
            Lines {
                rx,
                seen: Vec::new(),
                unmatched: Vec::new(),
            }
        }

        /// Reads everything left, once the process has exited (its stdout closed).
        pub fn drain(&mut self, limit: Duration) {
            let deadline = Instant::now() + limit;
            loop {
                let left = deadline.saturating_duration_since(Instant::now());
                match self.rx.recv_timeout(left) {
                    Ok(line) => {
                        if let Ok(v) = serde_json::from_str(&line) {
                            self.unmatched.push(v);
                        }
                        self.seen.push(line);
                    }
                    Err(RecvTimeoutError::Disconnected) => return,
                    Err(RecvTimeoutError::Timeout) => panic!("stdout still open after {limit:?}"),
                }
            }
        }

        /// Waits for a line not matched before that parses as JSON and satisfies `pred`, and
        /// returns it. Every stdout line must be JSON.
        pub fn wait(
            &mut self,
            what: &str,
            limit: Duration,
            pred: impl Fn(&serde_json::Value) -> bool,
        ) -> serde_json::Value {
            let deadline = Instant::now() + limit;
            if let Some(i) = self.unmatched.iter().position(&pred) {
                return self.unmatched.remove(i);
            }
            loop {
                let left = deadline.saturating_duration_since(Instant::now());
                match self.rx.recv_timeout(left) {
                    Ok(line) => {
                        self.seen.push(line.clone());
                        let v: serde_json::Value = serde_json::from_str(&line)
                            .unwrap_or_else(|e| panic!("stdout line is not JSON ({e}): {line}"));
                        if pred(&v) {
                            return v;
                        }
                        self.unmatched.push(v);
                    }
                    Err(RecvTimeoutError::Timeout) => {
                        panic!(
                            "timed out after {limit:?} waiting for {what}; saw:\n{}",
                            self.seen.join("\n")
                        )
                    }
                    Err(RecvTimeoutError::Disconnected) => {
                        panic!(
                            "stdout closed while waiting for {what}; saw:\n{}",
                            self.seen.join("\n")
                        )
                    }
                }
            }
        }
    }
}

/// A hand-driven peer on a raw socket: writes frames it is given, reads frames the agent sends,
/// stepping the cluster while it waits.
pub struct Raw {
    pub stream: std::net::TcpStream,
    decoder: codec::Decoder,
    frames: std::collections::VecDeque<Vec<u8>>,
    closed: bool,
}

impl Raw {
    pub fn new(stream: std::net::TcpStream) -> Raw {
        stream.set_nonblocking(true).expect("nonblocking");
        let _ = stream.set_nodelay(true);
        Raw {
            stream,
            decoder: codec::Decoder::default(),
            frames: Default::default(),
            closed: false,
        }
    }

    pub fn connect(addr: SocketAddr) -> Raw {
        Raw::new(std::net::TcpStream::connect(addr).expect("raw connect"))
    }

    /// Accepts one connection on `listener`, stepping the cluster meanwhile.
    pub fn accept(listener: &std::net::TcpListener, c: &mut Cluster) -> Raw {
        listener.set_nonblocking(true).expect("nonblocking");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match listener.accept() {
                Ok((s, _)) => return Raw::new(s),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) => panic!("accept: {e}"),
            }
            assert!(
                Instant::now() < deadline,
                "nobody dialled the raw listener\n{}",
                c.dump()
            );
            c.step(Duration::from_millis(2));
        }
    }

    /// Writes raw bytes, stepping the cluster whenever the socket is full.
    pub fn send_bytes(&mut self, c: &mut Cluster, mut bytes: &[u8]) {
        use std::io::Write;
        let deadline = Instant::now() + Duration::from_secs(30);
        while !bytes.is_empty() {
            match self.stream.write(bytes) {
                Ok(n) => bytes = &bytes[n..],
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    assert!(Instant::now() < deadline, "raw peer could not write");
                    c.step(Duration::from_millis(1));
                }
                Err(e) => panic!("raw write: {e}"),
            }
        }
    }

    /// Writes raw bytes until done or until the agent closes the connection (for floods that
    /// the agent is expected to cut short). Returns whether everything was written.
    pub fn flood(&mut self, c: &mut Cluster, mut bytes: &[u8]) -> bool {
        use std::io::Write;
        let deadline = Instant::now() + Duration::from_secs(30);
        while !bytes.is_empty() {
            match self.stream.write(bytes) {
                Ok(n) => bytes = &bytes[n..],
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    assert!(Instant::now() < deadline, "raw peer could not write");
                    c.step(Duration::from_millis(1));
                }
                Err(_) => return false,
            }
        }
        true
    }

    /// Frames and writes one JSON payload.
    pub fn send(&mut self, c: &mut Cluster, json: &str) {
        let mut bytes = Vec::new();
        codec::encode(&mut bytes, json.as_bytes());
        self.send_bytes(c, &bytes);
    }

    fn pump(&mut self) {
        use std::io::Read;
        let mut buf = [0u8; 65536];
        loop {
            match self.stream.read(&mut buf) {
                Ok(0) => {
                    self.closed = true;
                    return;
                }
                Ok(n) => {
                    let frames = &mut self.frames;
                    self.decoder
                        .feed(&buf[..n], |f| frames.push_back(f.to_vec()));
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
                Err(_) => {
                    self.closed = true;
                    return;
                }
            }
        }
    }

    /// The next frame the agent sent, as text.
    pub fn recv(&mut self, c: &mut Cluster) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            self.pump();
            if let Some(f) = self.frames.pop_front() {
                return String::from_utf8(f).expect("agent sent non-UTF-8");
            }
            assert!(
                !self.closed,
                "the agent closed the raw peer's link\n{}",
                c.dump()
            );
            assert!(
                Instant::now() < deadline,
                "no frame from the agent\n{}",
                c.dump()
            );
            c.step(Duration::from_millis(1));
        }
    }

    /// Asserts the next frame is exactly `json`.
    pub fn expect(&mut self, c: &mut Cluster, json: &str) {
        let got = self.recv(c);
        assert_eq!(got, json, "\n{}", c.dump());
    }

    /// Sends a ping and returns every frame the agent sent before the answer: since frames on a
    /// link are ordered, this is "everything the agent had to say up to now".
    pub fn fence(&mut self, c: &mut Cluster) -> Vec<String> {
        self.send(c, r#"{"c":"ping"}"#);
        let mut before = Vec::new();
        loop {
            let f = self.recv(c);
            if f == r#"{"a":"ping"}"# {
                return before;
            }
            before.push(f);
        }
    }

    /// Steps the cluster until the agent closes this connection.
    pub fn wait_closed(&mut self, c: &mut Cluster) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            self.pump();
            self.frames.clear();
            if self.closed {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the agent did not close the link\n{}",
                c.dump()
            );
            c.step(Duration::from_millis(1));
        }
    }
}

/// Runs `cmd` with no stdin to the end, within `limit`: its status and all it wrote.
pub fn output(cmd: &mut std::process::Command, limit: Duration) -> std::process::Output {
    use std::io::Read;
    use std::process::Stdio;
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the command");
    let mut stdout = child.stdout.take().expect("stdout");
    let mut stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let _ = stdout.read_to_end(&mut out);
        let _ = stderr.read_to_end(&mut err);
        let _ = tx.send((out, err));
    });
    let Ok((stdout, stderr)) = rx.recv_timeout(limit) else {
        let _ = child.kill();
        let _ = child.wait();
        panic!("{cmd:?} still running after {limit:?}");
    };
    let status = child.wait().expect("wait");
    std::process::Output {
        status,
        stdout,
        stderr,
    }
}

/// What a process wrote, as text.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).expect("output is UTF-8")
}

/// A `secretagent` process: stdin for commands, stdout read line by line. Killed on drop.
pub struct Proc {
    pub child: std::process::Child,
    pub stdin: Option<std::process::ChildStdin>,
    pub out: lines::Lines,
    pub name: String,
}

impl Proc {
    pub fn spawn(name: &str, args: &[&str]) -> Proc {
        let mut all = vec![name];
        all.extend_from_slice(args);
        Proc::with_args(name, &all)
    }

    /// Starts an agent with exactly `args` (its name wherever they put it), called `label` in
    /// failures.
    pub fn with_args(label: &str, args: &[&str]) -> Proc {
        use std::process::{Command, Stdio};
        let mut child = Command::new(env!("CARGO_BIN_EXE_secretagent"))
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start secretagent");
        let stdin = child.stdin.take();
        let out = lines::Lines::new(child.stdout.take().expect("stdout"));
        Proc {
            child,
            stdin,
            out,
            name: label.to_owned(),
        }
    }

    /// Starts an agent listening on a free port; returns it and the port's address.
    pub fn listening(name: &str, args: &[&str]) -> (Proc, String) {
        let mut all = vec!["--listen", "127.0.0.1:0"];
        all.extend_from_slice(args);
        let mut p = Proc::spawn(name, &all);
        let line = p.wait("listening", |v| v["event"] == "listening");
        let addr = line["addr"].as_str().expect("addr").to_owned();
        (p, addr)
    }

    pub fn cmd(&mut self, line: &str) {
        use std::io::Write;
        let stdin = self.stdin.as_mut().expect("stdin closed");
        writeln!(stdin, "{line}").expect("write to secretagent");
        stdin.flush().expect("flush");
    }

    pub fn wait(
        &mut self,
        what: &str,
        pred: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let what = format!("{}: {what}", self.name);
        self.out.wait(&what, LIMIT, pred)
    }

    /// Waits for `meet` of `name`.
    pub fn met(&mut self, name: &str) {
        self.wait(&format!("meet {name}"), |v| {
            v["event"] == "meet" && v["name"] == name
        });
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
