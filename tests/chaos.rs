//! Chaos over real sockets: six agents (a ring plus two chords), every link through the
//! fault-injecting proxy, four sender→receiver pairs each sending 5 000 numbered messages while
//! random faults of every kind hit the links (never disconnecting the mesh). Every message must
//! arrive exactly once, in order per pair, and every sender must see it confirmed.
//!
//! Seeded: the seed is printed first; `SEED=<n> cargo test --test chaos` replays its choices
//! (the network's timing still varies).

mod support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use secretagent::{Event, MessageId, Options};
use serde_json::json;
use support::Cluster;
use support::proxy::{Route, seed};
use support::rng::Rng;

const NAMES: [&str; 6] = ["A", "B", "C", "D", "E", "F"];
/// The ring A-B-C-D-E-F-A and the chords A-D, B-E.
const LINKS: [(usize, usize); 8] = [
    (0, 1),
    (1, 2),
    (2, 3),
    (3, 4),
    (4, 5),
    (5, 0),
    (0, 3),
    (1, 4),
];
const PAIRS: [(usize, usize); 4] = [(0, 3), (1, 5), (2, 4), (5, 2)];
const MESSAGES: u64 = 5_000;
const MIN_FAULTS: usize = 20;
/// How long the senders spread their messages over, so that faults hit traffic in flight.
const SEND_SPAN: Duration = Duration::from_secs(8);

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Cut,
    Reset,
    Blackhole,
    Delay,
    Refuse,
}

fn options() -> Options {
    Options {
        ping_after: Duration::from_millis(200),
        ping_timeout: Duration::from_millis(300),
        auto_reconnect_interval: Duration::from_millis(100),
        hello_timeout: Duration::from_secs(1),
        ..Options::default()
    }
}

/// Whether the agents stay connected without the links in `down`.
fn connected_without(down: &[usize]) -> bool {
    let mut seen = [false; 6];
    let mut stack = vec![0];
    seen[0] = true;
    while let Some(a) = stack.pop() {
        for (i, &(x, y)) in LINKS.iter().enumerate() {
            if down.contains(&i) {
                continue;
            }
            for (p, q) in [(x, y), (y, x)] {
                if p == a && !seen[q] {
                    seen[q] = true;
                    stack.push(q);
                }
            }
        }
    }
    seen.iter().all(|&s| s)
}

#[derive(Default)]
struct Pair {
    sent: u64,
    ids: Vec<MessageId>,
    /// The next number the receiver must see.
    next: u64,
    confirmed: Vec<MessageId>,
    last_arrival: Option<Instant>,
    longest_gap: Duration,
}

#[test]
fn chaos_every_message_exactly_once_in_order_despite_faults() {
    let seed = seed();
    eprintln!("chaos seed {seed}; replay with: SEED={seed} cargo test --test chaos");
    let mut rng = Rng::new(seed);
    let mut c = Cluster::new();
    let mut addrs = Vec::new();
    for n in NAMES {
        addrs.push(c.add_listening(n, options()).1);
    }
    let routes: Vec<Arc<Route>> = LINKS
        .iter()
        .map(|&(a, b)| {
            let r = Route::new(addrs[b]);
            c.agents[a].connect(r.addr).unwrap();
            r
        })
        .collect();
    c.run_until("the mesh converges", Duration::from_secs(20), |c| {
        c.converged()
            && c.agents
                .iter()
                .all(|a| a.route(NAMES[0]).is_none_or(|r| r.confirmed))
    });

    let mut pairs: Vec<Pair> = PAIRS.iter().map(|_| Pair::default()).collect();
    let mut cursors = vec![0usize; NAMES.len()];
    // Faults in force: link index → when it heals.
    let mut active: BTreeMap<usize, Instant> = BTreeMap::new();
    let mut faults: BTreeMap<Kind, usize> = BTreeMap::new();
    let first_kind = rng.below(5) as usize;
    let start = Instant::now();
    let mut next_fault = start + Duration::from_millis(200);
    let deadline = start + Duration::from_secs(90);

    loop {
        let now = Instant::now();
        assert!(
            now < deadline,
            "seed {seed}: not done after 90 s\n{}",
            c.dump()
        );
        // Senders: spread over SEND_SPAN.
        let due = ((now - start).as_secs_f64() / SEND_SPAN.as_secs_f64() * MESSAGES as f64)
            .min(MESSAGES as f64) as u64;
        for (p, &(s, d)) in pairs.iter_mut().zip(&PAIRS) {
            while p.sent < due {
                match c.agents[s].send_message(NAMES[d], &json!({"n": p.sent})) {
                    Ok(id) => {
                        p.ids.push(id);
                        p.sent += 1;
                    }
                    Err(secretagent::SendError::QueueFull { .. }) => break,
                    Err(e) => panic!("seed {seed}: send failed: {e}"),
                }
            }
        }
        // Faults: heal what is due, then maybe inject a new one.
        active.retain(|&i, heal_at| {
            if now >= *heal_at {
                routes[i].heal();
                false
            } else {
                true
            }
        });
        let sending = pairs.iter().any(|p| p.sent < MESSAGES);
        let injected: usize = faults.values().sum();
        if now >= next_fault && (sending || injected < MIN_FAULTS) {
            let i = rng.below(LINKS.len() as u64) as usize;
            let mut down: Vec<usize> = active.keys().copied().collect();
            down.push(i);
            if !active.contains_key(&i) && connected_without(&down) {
                let kinds = [
                    Kind::Cut,
                    Kind::Reset,
                    Kind::Blackhole,
                    Kind::Delay,
                    Kind::Refuse,
                ];
                // The first five faults are one of each kind, from a random start; the rest
                // are drawn at random. Every run sees every kind.
                let kind = if injected < kinds.len() {
                    kinds[(first_kind + injected) % kinds.len()]
                } else {
                    kinds[rng.below(5) as usize]
                };
                let lasts = Duration::from_millis(200 + rng.below(1300));
                match kind {
                    Kind::Cut => routes[i].cut(),
                    Kind::Reset => routes[i].reset(),
                    Kind::Blackhole => routes[i].blackhole(),
                    Kind::Delay => routes[i].delay(Duration::from_millis(20 + rng.below(400))),
                    Kind::Refuse => routes[i].refuse(),
                }
                // A cut or reset link is down until its agents re-dial: count it as faulted
                // for a while, so the mesh stays connected meanwhile.
                active.insert(i, now + lasts);
                *faults.entry(kind).or_default() += 1;
            }
            next_fault = now + Duration::from_millis(100 + rng.below(300));
        }
        c.step(Duration::from_millis(5));
        // Check every new event: order and uniqueness at receivers, confirmations at senders.
        for a in 0..NAMES.len() {
            let new = &c.log[a][cursors[a]..];
            cursors[a] = c.log[a].len();
            for e in new {
                match e {
                    Event::Message { from, body, .. } => {
                        let k = PAIRS
                            .iter()
                            .position(|&(s, d)| NAMES[s] == from && d == a)
                            .unwrap_or_else(|| panic!("seed {seed}: unexpected message {e:?}"));
                        let n = body.parse::<serde_json::Value>().unwrap()["n"]
                            .as_u64()
                            .unwrap();
                        let p = &mut pairs[k];
                        assert_eq!(
                            n, p.next,
                            "seed {seed}: {from}→{}: got message {n}, expected {} (a loss, a duplicate or a reordering)",
                            NAMES[a], p.next
                        );
                        p.next += 1;
                        let now = Instant::now();
                        if let Some(last) = p.last_arrival {
                            p.longest_gap = p.longest_gap.max(now - last);
                        }
                        p.last_arrival = Some(now);
                    }
                    Event::Delivered { to, id } => {
                        let k = PAIRS
                            .iter()
                            .position(|&(s, d)| s == a && NAMES[d] == to)
                            .unwrap_or_else(|| {
                                panic!("seed {seed}: unexpected confirmation {e:?}")
                            });
                        pairs[k].confirmed.push(*id);
                    }
                    Event::Undeliverable { .. } => {
                        panic!("seed {seed}: gave up on a message: {e:?}")
                    }
                    _ => {}
                }
            }
        }
        let done = pairs
            .iter()
            .all(|p| p.next == MESSAGES && p.confirmed.len() as u64 == MESSAGES);
        if done && faults.values().sum::<usize>() >= MIN_FAULTS {
            break;
        }
        if !sending && faults.values().sum::<usize>() >= MIN_FAULTS {
            // Traffic is out and enough faults were injected: heal everything, let it finish.
            for &i in active.keys() {
                routes[i].heal();
            }
            active.clear();
        }
    }

    for (p, &(s, d)) in pairs.iter().zip(&PAIRS) {
        assert_eq!(
            p.confirmed, p.ids,
            "seed {seed}: {}→{} confirmations differ from the ids sent",
            NAMES[s], NAMES[d]
        );
    }
    let stats: Vec<_> = c.agents.iter().map(|a| a.stats()).collect();
    let resent: u64 = stats.iter().map(|s| s.resent).sum();
    let duplicates: u64 = stats.iter().map(|s| s.duplicates).sum();
    let longest = pairs
        .iter()
        .map(|p| p.longest_gap)
        .max()
        .unwrap_or_default();
    eprintln!(
        "chaos seed {seed}: {} messages in {:.1} s, {} faults {:?}; lost 0, duplicates delivered 0, \
         order violations 0; resent {resent}, duplicates dropped at destinations {duplicates}; \
         longest gap between deliveries {} ms",
        MESSAGES * PAIRS.len() as u64,
        start.elapsed().as_secs_f64(),
        faults.values().sum::<usize>(),
        faults,
        longest.as_millis()
    );
    assert!(
        faults.len() == 5,
        "seed {seed}: not every kind of fault was injected: {faults:?}"
    );
    for r in &routes {
        r.stop();
    }
}
