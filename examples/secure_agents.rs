//! What secure links cost whole agents, set against plain links in the same run: heap per idle
//! link, one-hop and relay throughput, one-hop latency.
//!
//! Run it in release mode: `cargo run --release --features secure --example secure_agents
//! [runs] [heap|one-hop|relay|latency]...` (all four by default). Each agent runs on a thread of its own, blocking in `Agent::poll`; every figure is
//! the median of `runs` runs (default 3), plain and secure taking turns. A figure, not a test:
//! it asserts nothing.
//!
//! - Heap per idle link: one agent (on its own thread, whose allocations alone are counted)
//!   with 0 and then 100 established, idle links to peers that each link only to it; the
//!   difference over 100. The peers run on the main thread.
//! - Throughput: the sender keeps its window full (it sends until `SendError::QueueFull`, then
//!   polls); the rate is taken at the receiver, from the first message to the last, and the
//!   sender sees every message confirmed. Relay: sender, relay and receiver in a line.
//! - Latency: one message in flight, echoed by the peer; the round trip's median.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::net::SocketAddr;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::thread;
use std::time::{Duration, Instant};

use secretagent::secure::{Identity, SecureConfig, Trust};
use secretagent::{Agent, Event, Options, SendError};
use serde_json::value::RawValue;

/// The system allocator, counting each thread's live heap bytes on that thread.
struct Counting;

thread_local! {
    static LIVE: Cell<i64> = const { Cell::new(0) };
}

fn count(bytes: i64) {
    // During a thread's teardown the counter may be gone: nothing is measured then.
    let _ = LIVE.try_with(|c| c.set(c.get() + bytes));
}

// SAFETY: every call is passed unchanged to `System`, which upholds the `GlobalAlloc`
// contract; the counter only reads the layouts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(layout.size() as i64);
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count(layout.size() as i64);
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        count(-(layout.size() as i64));
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count(new_size as i64 - layout.size() as i64);
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Idle links of the heap measurement.
const PEERS: usize = 100;
/// Messages per throughput run.
const MESSAGES: u64 = 500_000;
/// Round trips per latency run, after as many unmeasured.
const ROUND_TRIPS: usize = 5_000;

/// The agents' identities: a fixed seed per name (names are at most 32 bytes here).
fn identity(name: &str) -> Identity {
    let mut seed = [0u8; 32];
    seed[..name.len()].copy_from_slice(name.as_bytes());
    Identity::from_seed(seed)
}

/// Every agent of the run, each trusted under its own name.
fn trust() -> Trust {
    let mut trust = Trust::new();
    let names = ["Wolf", "Ames", "Rosenberg", "Center"].map(str::to_owned);
    for name in names.into_iter().chain((0..PEERS).map(peer)) {
        trust.insert(&name, *identity(&name).public());
    }
    trust
}

fn peer(i: usize) -> String {
    format!("peer{i:03}")
}

fn agent(name: &str, secure: Option<&Trust>) -> Agent {
    let opts = Options::default();
    match secure {
        Some(trust) => {
            let cfg = SecureConfig::new(identity(name), trust.clone());
            Agent::new_secure(name, opts, cfg).expect("secure agent")
        }
        None => Agent::new(name, opts).expect("agent"),
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let runs: usize = args
        .first()
        .map_or(3, |a| a.parse().expect("runs: a number"));
    // Measurements named after the runs (heap, one-hop, relay, latency): those only.
    let only = &args[args.len().min(1)..];
    let wanted = |name: &str| only.is_empty() || only.iter().any(|o| o == name);
    let trust = trust();
    let modes = [None, Some(&trust)];
    let measure = |f: &dyn Fn(Option<&Trust>) -> f64| {
        let mut samples = [Vec::new(), Vec::new()];
        for _ in 0..runs {
            for (i, mode) in modes.iter().enumerate() {
                samples[i].push(f(*mode));
            }
        }
        let [plain, secure] = samples;
        (median(plain), median(secure))
    };
    let kib = |x: f64| format!("{:.1} KiB", x / 1024.0);
    let rate = |x: f64| format!("{:.2} M msgs/s", x / 1e6);
    let micros = |x: f64| format!("{x:.1} µs");
    println!("| measurement | plain | secure | secure ÷ plain |");
    println!("|---|---:|---:|---:|");
    let row = |what: &str, (plain, secure): (f64, f64), show: &dyn Fn(f64) -> String| {
        let ratio = secure / plain;
        println!(
            "| {what} | {} | {} | {ratio:.2} |",
            show(plain),
            show(secure)
        );
    };
    if wanted("heap") {
        row("heap per idle link", measure(&heap_per_link), &kib);
    }
    if wanted("one-hop") {
        let m = measure(&|m| throughput(m, false));
        row("throughput, one hop", m, &rate);
    }
    if wanted("relay") {
        let m = measure(&|m| throughput(m, true));
        row("throughput through a relay", m, &rate);
    }
    if wanted("latency") {
        row(
            "latency, one hop, p50 round trip",
            measure(&latency),
            &micros,
        );
    }
}

/// What the measured agent's thread is asked.
enum Ask {
    /// Report its heap once it has this many links and nothing changed for 300 ms.
    Heap(usize),
    Quit,
}

/// The heap per idle link of an agent with `PEERS` links.
fn heap_per_link(secure: Option<&Trust>) -> f64 {
    let (ask_tx, ask_rx) = channel::<Ask>();
    let (heap_tx, heap_rx) = channel::<i64>();
    let (addr_tx, addr_rx) = channel::<SocketAddr>();
    let trust = secure.cloned();
    let center = thread::spawn(move || center(trust.as_ref(), &ask_rx, &heap_tx, &addr_tx));
    let addr = addr_rx.recv().expect("address");
    let mut peers: Vec<Agent> = Vec::new();
    let heap = |peers: &mut Vec<Agent>, links: usize| {
        ask_tx.send(Ask::Heap(links)).expect("ask");
        loop {
            for p in peers.iter_mut() {
                p.poll(Some(Duration::ZERO)).expect("poll");
                p.events().for_each(drop);
            }
            if let Ok(bytes) = heap_rx.try_recv() {
                return bytes;
            }
            thread::sleep(Duration::from_millis(1));
        }
    };
    let zero = heap(&mut peers, 0);
    for i in 0..PEERS {
        let mut p = agent(&peer(i), secure);
        p.connect(addr).expect("connect");
        peers.push(p);
    }
    let full = heap(&mut peers, PEERS);
    ask_tx.send(Ask::Quit).expect("quit");
    center.join().expect("center");
    (full - zero) as f64 / PEERS as f64
}

/// The measured agent's thread.
fn center(
    secure: Option<&Trust>,
    asks: &Receiver<Ask>,
    heap: &Sender<i64>,
    addr: &Sender<SocketAddr>,
) {
    let mut a = agent("Center", secure);
    addr.send(a.listen("127.0.0.1:0").expect("listen"))
        .expect("address");
    let mut want = None;
    let mut stable = (usize::MAX, Instant::now());
    loop {
        a.poll(Some(Duration::from_millis(10))).expect("poll");
        let changed = a.events().count() > 0;
        let links = a.everybody().len();
        if changed || links != stable.0 {
            stable = (links, Instant::now());
        }
        match asks.try_recv() {
            Ok(Ask::Heap(n)) => want = Some(n),
            Ok(Ask::Quit) => return,
            Err(_) => {}
        }
        if want == Some(links) && stable.1.elapsed() >= Duration::from_millis(300) {
            want = None;
            heap.send(LIVE.with(Cell::get)).expect("heap");
        }
    }
}

/// The benchmark's body: 116 bytes of JSON framed, as in `cargo bench`.
fn body() -> Box<RawValue> {
    let pad = "x".repeat(50);
    RawValue::from_string(format!(r#"{{"seq":123456,"pad":"{pad}"}}"#)).expect("JSON")
}

/// Messages per second at the receiver, one hop or through a relay.
fn throughput(secure: Option<&Trust>, relay: bool) -> f64 {
    let mut rx = agent("Rosenberg", secure);
    let addr = rx.listen("127.0.0.1:0").expect("listen");
    let mut middle = relay.then(|| agent("Ames", secure));
    let first_hop = match &mut middle {
        Some(m) => {
            m.connect(addr).expect("connect");
            m.listen("127.0.0.1:0").expect("listen")
        }
        None => addr,
    };
    let mut tx = agent("Wolf", secure);
    tx.connect(first_hop).expect("connect");
    let receiver = thread::spawn(move || {
        let mut got = 0u64;
        let mut first = None;
        loop {
            rx.poll(Some(Duration::from_secs(1))).expect("poll");
            for e in rx.events() {
                if let Event::Message { .. } = e {
                    got += 1;
                    first.get_or_insert_with(Instant::now);
                }
            }
            if got == MESSAGES {
                let elapsed = first.expect("first").elapsed();
                // Let the last confirmations go out.
                let end = Instant::now() + Duration::from_millis(200);
                while Instant::now() < end {
                    rx.poll(Some(Duration::from_millis(10))).expect("poll");
                    rx.events().for_each(drop);
                }
                return (MESSAGES - 1) as f64 / elapsed.as_secs_f64();
            }
        }
    });
    let (stop_tx, stop_rx) = channel::<()>();
    let relay_thread = middle.map(|mut m| {
        thread::spawn(move || {
            while stop_rx.try_recv().is_err() {
                m.poll(Some(Duration::from_millis(50))).expect("poll");
                m.events().for_each(drop);
            }
        })
    });
    let hops = if relay { 2 } else { 1 };
    while tx.route("Rosenberg").is_none_or(|r| r.hops != Some(hops)) {
        tx.poll(Some(Duration::from_millis(10))).expect("poll");
        tx.events().for_each(drop);
    }
    let body = body();
    let (mut sent, mut confirmed) = (0, 0);
    while confirmed < MESSAGES {
        while sent < MESSAGES {
            match tx.send_raw("Rosenberg", &body) {
                Ok(_) => sent += 1,
                Err(SendError::QueueFull { .. }) => break,
                Err(e) => panic!("send: {e}"),
            }
        }
        tx.poll(Some(Duration::from_secs(1))).expect("poll");
        for e in tx.events() {
            if let Event::Delivered { .. } = e {
                confirmed += 1;
            }
        }
    }
    let rate = receiver.join().expect("receiver");
    let _ = stop_tx.send(());
    if let Some(t) = relay_thread {
        t.join().expect("relay");
    }
    rate
}

/// The median round trip of one message echoed back, in microseconds.
fn latency(secure: Option<&Trust>) -> f64 {
    let mut echo = agent("Rosenberg", secure);
    let addr = echo.listen("127.0.0.1:0").expect("listen");
    let mut a = agent("Wolf", secure);
    a.connect(addr).expect("connect");
    let (stop_tx, stop_rx) = channel::<()>();
    let echoer = thread::spawn(move || {
        while stop_rx.try_recv().is_err() {
            echo.poll(Some(Duration::from_millis(50))).expect("poll");
            while let Some(e) = echo.next_event() {
                if let Event::Message { from, body, .. } = e {
                    echo.send_raw(&from, body.raw()).expect("echo");
                }
            }
        }
    });
    while a.route("Rosenberg").is_none() {
        a.poll(Some(Duration::from_millis(10))).expect("poll");
        a.events().for_each(drop);
    }
    let body = body();
    let mut samples = Vec::with_capacity(ROUND_TRIPS);
    for i in 0..2 * ROUND_TRIPS {
        let start = Instant::now();
        a.send_raw("Rosenberg", &body).expect("send");
        let mut answered = false;
        while !answered {
            a.poll(Some(Duration::from_secs(1))).expect("poll");
            while let Some(e) = a.next_event() {
                answered |= matches!(e, Event::Message { .. });
            }
        }
        if i >= ROUND_TRIPS {
            samples.push(start.elapsed().as_secs_f64() * 1e6);
        }
    }
    let _ = stop_tx.send(());
    echoer.join().expect("echo");
    median(samples)
}
