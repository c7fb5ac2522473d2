//! What the secure layer costs: handshake CPU time per side (XX and XXpsk0), sealing and
//! opening records (64 KiB, and per 120-byte frame batched or not), the cost of refusing a
//! wrong PSK, signatures and end-to-end tags, and the heap an idle secure link keeps; and,
//! per message through three cores (sender, relay, destination), what authenticating origins
//! costs each of them, in CPU time and in allocations, plain against secure (and with sealed
//! bodies).
//!
//! Run it in release mode on a quiet machine:
//! `cargo run --release --features secure --example secure_cost [runs]`.
//! Each figure is the median of `runs` runs (default 7), each run timing many operations; times
//! are CPU time of the measuring thread (`CLOCK_THREAD_CPUTIME_ID`), so that other work on a
//! shared machine does not inflate them.

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering::Relaxed};

use std::time::{Duration, Instant};

use secretagent::node::{Action, LinkOrigin, Node};
use secretagent::secure::{
    Csprng, Identity, MAX_RECORD_DATA, MessageFields, PairKey, Psk, SecureConfig, SecureError,
    Session, Trust,
};
use secretagent::{Event, LinkId, Options};

/// The system allocator, counting live heap bytes.
struct Counting;

static LIVE: AtomicI64 = AtomicI64::new(0);
/// Allocations made, of any size.
static ALLOCS: AtomicI64 = AtomicI64::new(0);

// SAFETY: every call is passed unchanged to `System`, which upholds the `GlobalAlloc`
// contract; the counter only reads the layouts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as i64, Relaxed);
        ALLOCS.fetch_add(1, Relaxed);
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as i64, Relaxed);
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(new_size as i64 - layout.size() as i64, Relaxed);
        ALLOCS.fetch_add(1, Relaxed);
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

fn config(seed: u8, psk: Option<u8>) -> Arc<SecureConfig> {
    let mut trust = Trust::new();
    trust.insert("Ames", *Identity::from_seed([1; 32]).public());
    trust.insert("Rosenberg", *Identity::from_seed([2; 32]).public());
    let mut cfg = SecureConfig::new(Identity::from_seed([seed; 32]), trust);
    if let Some(p) = psk {
        cfg = cfg.with_psk(Psk::from_bytes([p; 32]));
    }
    Arc::new(cfg)
}

/// CPU time this thread has run, in nanoseconds, so that other processes on a shared machine
/// do not count.
fn cpu_ns() -> u64 {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `t` is a valid, writable timespec for the duration of the call.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) };
    assert_eq!(rc, 0, "no thread CPU clock");
    t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64
}

/// Runs `f` and returns its result and the CPU microseconds it took.
fn timed<T>(f: impl FnOnce() -> T) -> (T, f64) {
    let start = cpu_ns();
    let out = f();
    (out, (cpu_ns() - start) as f64 / 1000.0)
}

/// A handshake, untimed.
fn handshake(a: &Arc<SecureConfig>, b: &Arc<SecureConfig>, rng: &mut Csprng) -> (Session, Session) {
    let (mut f1, mut f2, mut f3, mut plain) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut dialler = Session::initiator(a, rng, &mut f1).unwrap();
    let mut acceptor = Session::responder(b, rng);
    acceptor.read(&f1, &mut plain, &mut f2, 0).unwrap();
    dialler.read(&f2, &mut plain, &mut f3, 0).unwrap();
    acceptor.read(&f3, &mut plain, &mut Vec::new(), 0).unwrap();
    assert!(dialler.is_established() && acceptor.is_established());
    (dialler, acceptor)
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

/// Median over `runs` of the mean CPU time of `f` over `n` calls, in microseconds.
fn per_call(runs: usize, n: usize, mut f: impl FnMut()) -> f64 {
    median(
        (0..runs)
            .map(|_| {
                timed(|| {
                    for _ in 0..n {
                        f();
                    }
                })
                .1 / n as f64
            })
            .collect(),
    )
}

/// `n` handshakes run message by message across all of them, each step timed as a batch:
/// the CPU microseconds per handshake of the dialler and of the acceptor.
fn handshake_batch(a: &Arc<SecureConfig>, b: &Arc<SecureConfig>, n: usize) -> (f64, f64) {
    let mut rng = Csprng::from_seed([9; 32]);
    let mut plain = Vec::new();
    let ((mut diallers, f1), d1) = timed(|| {
        let mut f1 = vec![Vec::new(); n];
        let s: Vec<Session> = f1
            .iter_mut()
            .map(|out| Session::initiator(a, &mut rng, out).unwrap())
            .collect();
        (s, f1)
    });
    let mut acceptors: Vec<Session> = (0..n).map(|_| Session::responder(b, &mut rng)).collect();
    let mut f2 = vec![Vec::new(); n];
    let ((), r1) = timed(|| {
        for ((s, input), out) in acceptors.iter_mut().zip(&f1).zip(&mut f2) {
            s.read(input, &mut plain, out, 0).unwrap();
        }
    });
    let mut f3 = vec![Vec::new(); n];
    let ((), d2) = timed(|| {
        for ((s, input), out) in diallers.iter_mut().zip(&f2).zip(&mut f3) {
            s.read(input, &mut plain, out, 0).unwrap();
        }
    });
    let ((), r2) = timed(|| {
        for (s, input) in acceptors.iter_mut().zip(&f3) {
            s.read(input, &mut plain, &mut Vec::new(), 0).unwrap();
        }
    });
    assert!(acceptors.iter().all(Session::is_established));
    ((d1 + d2) / n as f64, (r1 + r2) / n as f64)
}

fn handshakes(runs: usize) {
    for (label, psk) in [("XX", None), ("XXpsk0", Some(7))] {
        let (a, b) = (config(1, psk), config(2, psk));
        let (dialler, acceptor): (Vec<f64>, Vec<f64>) =
            (0..runs).map(|_| handshake_batch(&a, &b, 200)).unzip();
        println!(
            "handshake {label:<7} CPU per side: dialler {:7.1} µs, acceptor {:7.1} µs",
            median(dialler),
            median(acceptor)
        );
    }
}

fn wrong_psk(runs: usize) {
    let (a, b) = (config(1, Some(1)), config(2, Some(2)));
    let mut rng = Csprng::from_seed([3; 32]);
    let mut f1 = Vec::new();
    Session::initiator(&a, &mut rng, &mut f1).unwrap();
    let us = per_call(runs, 2000, || {
        let mut s = Session::responder(&b, &mut rng);
        let r = s.read(&f1, &mut Vec::new(), &mut Vec::new(), 0);
        assert_eq!(r, Err(SecureError::BadPsk));
    });
    println!("refusing a wrong PSK (responder, from accept to refusal): {us:7.2} µs");
}

fn records(runs: usize) {
    let (a, b) = (config(1, None), config(2, None));
    let mut rng = Csprng::from_seed([4; 32]);
    let (mut tx, mut rx) = handshake(&a, &b, &mut rng);
    let mut scratch = Vec::new();
    let frame = [b'x'; 120];
    for (label, batch) in [
        ("64 KiB record", MAX_RECORD_DATA / 120),
        ("16 frames per record", 16),
        ("1 frame per record", 1),
    ] {
        let data: Vec<u8> = frame.iter().copied().cycle().take(batch * 120).collect();
        let n = (50_000 / batch).clamp(200, 20_000);
        let (mut seal, mut open) = (Vec::new(), Vec::new());
        let mut wires = vec![Vec::with_capacity(data.len() + 64); n];
        let mut plain = Vec::with_capacity(data.len());
        for _ in 0..runs {
            wires.iter_mut().for_each(Vec::clear);
            let ((), s) = timed(|| {
                for wire in &mut wires {
                    tx.write(&data, wire, &mut scratch, 0).unwrap();
                }
            });
            let ((), o) = timed(|| {
                for wire in &wires {
                    plain.clear();
                    rx.read(wire, &mut plain, &mut Vec::new(), 0).unwrap();
                    black_box(&plain);
                }
            });
            seal.push(s / n as f64);
            open.push(o / n as f64);
        }
        let (s, o) = (median(seal), median(open));
        println!(
            "{label:<21} ({:5} B): seal {s:7.2} µs + open {o:7.2} µs per record = {:6.3} µs per 120-byte frame",
            data.len(),
            (s + o) / batch as f64
        );
    }
}

fn origins(runs: usize) {
    let (ames, rosenberg) = (Identity::from_seed([1; 32]), Identity::from_seed([2; 32]));
    let msg = [b'd'; 200];
    let sig = ames.sign(&msg);
    let sign = per_call(runs, 2000, || {
        black_box(ames.sign(black_box(&msg)));
    });
    let verify = per_call(runs, 2000, || {
        assert!(ames.public().verify(black_box(&msg), &sig));
    });
    let derive = per_call(runs, 2000, || {
        black_box(PairKey::derive(&ames, rosenberg.public()).unwrap());
    });
    let key = PairKey::derive(&ames, rosenberg.public()).unwrap();
    let body = format!(r#"{{"pad":"{}"}}"#, "m".repeat(110));
    let fields = MessageFields {
        from: "Ames",
        to: "Rosenberg",
        inc: 1_700_000_000_000,
        seq: 12345,
        base: 12000,
        to_inc: 1_700_000_000_001,
        sealed: false,
        body: &body,
    };
    let tag = per_call(runs, 200_000, || {
        black_box(key.tag_message(black_box(&fields)));
    });
    let t = key.tag_message(&fields);
    let check = per_call(runs, 200_000, || {
        assert!(key.verify_message(black_box(&fields), &t));
    });
    let mut sealed = Vec::with_capacity(body.len() + 64);
    let seal = per_call(runs, 100_000, || {
        sealed.clear();
        key.seal(
            &[7; 24],
            "Ames",
            "Rosenberg",
            1,
            2,
            body.as_bytes(),
            &mut sealed,
        );
        black_box(&sealed);
    });
    let mut opened = Vec::with_capacity(sealed.len());
    let open = per_call(runs, 100_000, || {
        opened.clear();
        opened.extend_from_slice(&sealed);
        assert!(key.open("Ames", "Rosenberg", 1, 2, &mut opened));
    });
    println!("ed25519 sign {sign:6.1} µs, verify {verify:6.1} µs (200-byte message)");
    println!(
        "pair key derivation {derive:6.1} µs (once per peer); a 120-byte message's tag {tag:6.3} µs, checking it {check:6.3} µs; sealing its body {seal:6.3} µs, opening it {open:6.3} µs"
    );
}

/// Three cores wired by hand, A – R – B, and a clock; the shell carries bytes between them.
struct Line {
    nodes: [Node; 3],
    t0: Instant,
    now: Duration,
    /// CPU ns each core spent handling bytes.
    cpu: [u64; 3],
    /// Allocations made while each core handled bytes.
    allocs: [i64; 3],
}

/// Link ids: A's link to R is 0 at both ends; B's link to R is 1 at R and 0 at B.
const WIRES: [((usize, usize), (usize, usize)); 2] = [((0, 0), (1, 0)), ((2, 0), (1, 1))];

impl Line {
    fn new(secure: Option<bool>) -> Line {
        let names = ["A", "R", "B"];
        let ids: Vec<Identity> = (1..=3u8).map(|s| Identity::from_seed([s; 32])).collect();
        let mut trust = Trust::new();
        for (n, id) in names.iter().zip(&ids) {
            trust.insert(n, *id.public());
        }
        let t0 = Instant::now();
        let opts = Options::default();
        let nodes = std::array::from_fn(|i| match secure {
            None => Node::new(names[i], opts.clone(), 1 + i as u64, t0).unwrap(),
            Some(seal) => {
                let config =
                    SecureConfig::new(ids[i].clone(), trust.clone()).with_sealed_bodies(seal);
                let rng = Csprng::from_seed([i as u8; 32]);
                Node::new_secure(names[i], opts.clone(), 1 + i as u64, t0, config, rng).unwrap()
            }
        });
        let mut line = Line {
            nodes,
            t0,
            now: Duration::ZERO,
            cpu: [0; 3],
            allocs: [0; 3],
        };
        let at = line.t0;
        for ((dialler, dl), (acceptor, al)) in WIRES {
            let c = line.nodes[dialler].connect();
            assert_eq!(line.nodes[dialler].poll_action(), Some(Action::Dial(c)));
            line.nodes[dialler].handle_link_up(LinkId(dl), LinkOrigin::Dialed(c), at);
            line.nodes[acceptor].handle_link_up(LinkId(al), LinkOrigin::Accepted, at);
        }
        for _ in 0..20 {
            line.shuttle();
            line.now += Duration::from_millis(50);
            let now = line.t0 + line.now;
            line.nodes.iter_mut().for_each(|n| n.handle_timeout(now));
        }
        line.shuttle();
        assert!(line.nodes[0].route("B").is_some_and(|r| r.confirmed));
        line
    }

    /// The other end of `link` of core `i`.
    fn peer(i: usize, link: LinkId) -> (usize, LinkId) {
        for ((a, al), (b, bl)) in WIRES {
            if (a, al) == (i, link.0) {
                return (b, LinkId(bl));
            }
            if (b, bl) == (i, link.0) {
                return (a, LinkId(al));
            }
        }
        unreachable!("no such link")
    }

    /// Carries bytes until no core has any to write; drops events.
    fn shuttle(&mut self) {
        let now = self.t0 + self.now;
        let mut bytes = Vec::new();
        loop {
            let mut moved = false;
            for i in 0..3 {
                while let Some(link) = self.nodes[i].poll_transmit() {
                    bytes.clear();
                    bytes.extend_from_slice(self.nodes[i].outbound(link));
                    self.nodes[i].consume_outbound(link, bytes.len(), now);
                    let (j, peer_link) = Line::peer(i, link);
                    let (c, a) = (cpu_ns(), ALLOCS.load(Relaxed));
                    self.nodes[j].handle_bytes(peer_link, &bytes, now);
                    self.cpu[j] += cpu_ns() - c;
                    self.allocs[j] += ALLOCS.load(Relaxed) - a;
                    moved = true;
                }
                while let Some(e) = self.nodes[i].poll_event() {
                    black_box(&e);
                    if let Event::Message { .. } = e {
                        black_box(());
                    }
                }
            }
            if !moved {
                return;
            }
        }
    }

    /// A sends `n` messages to `to` in batches of `batch`, each carried to the end; returns
    /// the CPU ns and allocations of A's sends.
    fn send(
        &mut self,
        to: &str,
        n: usize,
        batch: usize,
        body: &serde_json::value::RawValue,
    ) -> (u64, i64) {
        let (mut cpu, mut allocs) = (0, 0);
        for _ in 0..n / batch {
            let now = self.t0 + self.now;
            let (c, a) = (cpu_ns(), ALLOCS.load(Relaxed));
            for _ in 0..batch {
                self.nodes[0].send_message(to, body, now).unwrap();
            }
            cpu += cpu_ns() - c;
            allocs += ALLOCS.load(Relaxed) - a;
            self.shuttle();
        }
        (cpu, allocs)
    }
}

/// Per message from A to B through R, and from A to R (one hop), plain and secure: CPU time
/// and allocations of the sender (its sends, and the confirmations it reads), the relay and
/// the destination.
fn line(runs: usize) {
    let body =
        serde_json::value::RawValue::from_string(format!(r#"{{"pad":"{}"}}"#, "m".repeat(110)))
            .unwrap();
    let n = 20_000;
    for (label, secure, to) in [
        ("plain, A → R → B", None, "B"),
        ("secure, A → R → B", Some(false), "B"),
        ("sealed, A → R → B", Some(true), "B"),
        ("plain, A → R", None, "R"),
        ("secure, A → R", Some(false), "R"),
        ("sealed, A → R", Some(true), "R"),
    ] {
        let mut rows = Vec::new();
        for _ in 0..runs {
            let mut line = Line::new(secure);
            // Warm up: buffers, outboxes and pair keys reach their steady size.
            line.send(to, 2_000, 64, &body);
            line.cpu = [0; 3];
            line.allocs = [0; 3];
            let (send_cpu, send_allocs) = line.send(to, n, 64, &body);
            let s = line.nodes[2].stats();
            assert_eq!(s.forged_messages + s.forged_confirmations, 0);
            let per = |x: u64| x as f64 / n as f64 / 1000.0;
            let allocs = |x: i64| x as f64 / n as f64;
            rows.push([
                per(send_cpu + line.cpu[0]),
                per(line.cpu[1]),
                per(line.cpu[2]),
                allocs(send_allocs + line.allocs[0]),
                allocs(line.allocs[1]),
                allocs(line.allocs[2]),
            ]);
        }
        let col = |k: usize| median(rows.iter().map(|r| r[k]).collect());
        println!(
            "{label:<18}: CPU per message A {:6.3} µs, R {:6.3} µs, B {:6.3} µs; allocations per message A {:4.2}, R {:4.2}, B {:4.2}",
            col(0),
            col(1),
            col(2),
            col(3),
            col(4),
            col(5)
        );
    }
}

fn heap() {
    let (a, b) = (config(1, None), config(2, None));
    let mut rng = Csprng::from_seed([5; 32]);
    let n = 1000;
    // Established and idle, after a 64 KiB record each way cut by a read boundary, so that any
    // buffer a session might keep would be there.
    let big = vec![7u8; MAX_RECORD_DATA];
    let mut scratch = Vec::new();
    let before = LIVE.load(Relaxed);
    let mut sessions = Vec::with_capacity(2 * n);
    for _ in 0..n {
        let (mut d, mut r) = handshake(&a, &b, &mut rng);
        let mut wire = Vec::new();
        d.write(&big, &mut wire, &mut scratch, 0).unwrap();
        let (first, rest) = wire.split_at(1000);
        let mut plain = Vec::new();
        r.read(first, &mut plain, &mut Vec::new(), 0).unwrap();
        r.read(rest, &mut plain, &mut Vec::new(), 0).unwrap();
        assert_eq!(plain.len(), big.len());
        sessions.push(d);
        sessions.push(r);
    }
    let per = (LIVE.load(Relaxed) - before) as f64 / (2 * n) as f64;
    println!(
        "heap per idle established session: {per:.0} bytes (of which {} bytes are the Session value itself)",
        size_of::<Session>()
    );
    drop(sessions);
    // Handshaking: an acceptor that has answered message 1 and waits for message 3.
    let before = LIVE.load(Relaxed);
    let mut pending = Vec::with_capacity(n);
    for _ in 0..n {
        let mut f1 = Vec::new();
        Session::initiator(&a, &mut rng, &mut f1).unwrap();
        let mut s = Session::responder(&b, &mut rng);
        s.read(&f1, &mut Vec::new(), &mut Vec::new(), 0).unwrap();
        pending.push(s);
    }
    let per = (LIVE.load(Relaxed) - before) as f64 / n as f64;
    println!("heap per handshaking acceptor (waiting for message 3): {per:.0} bytes");
}

fn main() {
    let runs = std::env::args()
        .nth(1)
        .and_then(|r| r.parse().ok())
        .unwrap_or(7);
    if std::env::var_os("ONLY_PSK").is_some() {
        for _ in 0..20 {
            wrong_psk(runs);
        }
        return;
    }
    println!("secure layer costs: medians of {runs} runs");
    handshakes(runs);
    wrong_psk(runs);
    records(runs);
    origins(runs);
    line(runs);
    heap();
}
