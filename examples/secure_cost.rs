//! What the secure layer costs: handshake CPU time per side (XX and XXpsk0), sealing and
//! opening records (64 KiB, and per 120-byte frame batched or not), the cost of refusing a
//! wrong PSK, signatures and end-to-end tags, and the heap an idle secure link keeps.
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

use secretagent::secure::{
    Csprng, Identity, MAX_RECORD_DATA, PairKey, Psk, SecureConfig, SecureError, Session, Trust,
};

/// The system allocator, counting live heap bytes.
struct Counting;

static LIVE: AtomicI64 = AtomicI64::new(0);

// SAFETY: every call is passed unchanged to `System`, which upholds the `GlobalAlloc`
// contract; the counter only reads the layouts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as i64, Relaxed);
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
    let body = [b'm'; 120];
    let fields: [&[u8]; 4] = [b"Ames", b"Rosenberg", b"12345", &body];
    let tag = per_call(runs, 200_000, || {
        black_box(key.tag(black_box(&fields)));
    });
    println!("ed25519 sign {sign:6.1} µs, verify {verify:6.1} µs (200-byte message)");
    println!(
        "pair key derivation {derive:6.1} µs (once per peer), tag of a 120-byte message {tag:6.3} µs"
    );
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
    heap();
}
