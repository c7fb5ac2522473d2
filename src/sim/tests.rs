//! The deterministic simulator over many seeds: small meshes, every kind of fault, every
//! invariant. A failing seed prints the command that replays it. `SIM_SEEDS=n` runs `n` seeds
//! (200 by default) and `SIM_FIRST_SEED=s` starts at `s` (1 by default).

use super::{Config, Sim};

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

#[test]
fn two_hundred_seeds_on_twenty_agents() {
    let count = env("SIM_SEEDS", 200);
    let first = env("SIM_FIRST_SEED", 1);
    let mut faults = 0;
    let mut messages = 0;
    for seed in first..first + count {
        let cfg = Config::small(seed);
        let replay = cfg.replay();
        // A panic inside an agent must still name the seed that caused it.
        match std::panic::catch_unwind(|| Sim::new(cfg).run()) {
            Ok(Ok(r)) => {
                faults += r.faults.values().sum::<usize>();
                messages += r.messages;
            }
            Ok(Err(e)) => panic!("{e}"),
            Err(_) => panic!("seed {seed} panicked (see above)\nreplay: {replay}"),
        }
    }
    eprintln!("{count} seeds: {faults} faults, {messages} messages, every invariant held");
}

#[test]
fn the_same_seed_replays_byte_for_byte() {
    let a = Sim::new(Config::small(4242)).run().unwrap();
    let b = Sim::new(Config::small(4242)).run().unwrap();
    let c = Sim::new(Config::small(4243)).run().unwrap();
    assert_eq!(
        (a.digest, a.events, a.virtual_ms),
        (b.digest, b.events, b.virtual_ms)
    );
    assert_ne!(a.digest, c.digest);
}

/// The seeds of the 200 that run in secure mode with a forging member: every fifth.
#[cfg(feature = "secure")]
fn secure_share(seed: u64) -> bool {
    seed.is_multiple_of(5)
}

/// A run of seed `seed` on secure links with a forging member (plain when not `secure`).
fn forged(seed: u64, secure: bool) -> Config {
    Config {
        secure,
        forger: Some((seed % 20) as usize),
        ..Config::small(seed)
    }
}

#[cfg(feature = "secure")]
#[test]
fn a_share_of_the_seeds_on_secure_links_with_a_forging_member() {
    let count = env("SIM_SEEDS", 200);
    let first = env("SIM_FIRST_SEED", 1);
    let (mut runs, mut forgeries, mut counted) = (0, 0, 0);
    for seed in (first..first + count).filter(|&s| secure_share(s)) {
        let cfg = forged(seed, true);
        let replay = cfg.replay();
        match std::panic::catch_unwind(|| Sim::new(cfg).run()) {
            Ok(Ok(r)) => {
                runs += 1;
                forgeries += r.forgeries;
                counted += r.forgeries_counted;
            }
            Ok(Err(e)) => panic!("{e}"),
            Err(_) => panic!("seed {seed} panicked (see above)\nreplay: {replay}"),
        }
    }
    // Each run compared what reached every core with what it counted; a run whose forger
    // never got a word in would prove nothing.
    assert!(
        runs == 0 || forgeries >= 20 * runs,
        "{forgeries} forgeries in {runs} runs"
    );
    eprintln!(
        "{runs} seeds on secure links: {forgeries} forgeries written, {counted} counted as forged by the cores up at the end, every invariant held"
    );
}

#[cfg(feature = "secure")]
#[test]
fn the_same_seed_replays_byte_for_byte_on_secure_links() {
    let a = Sim::new(forged(4245, true)).run().unwrap();
    let b = Sim::new(forged(4245, true)).run().unwrap();
    let plain = Sim::new(Config::small(4245)).run().unwrap();
    assert_eq!(
        (a.digest, a.events, a.virtual_ms, a.forgeries),
        (b.digest, b.events, b.virtual_ms, b.forgeries)
    );
    assert!(a.forgeries > 0);
    assert_ne!(a.digest, plain.digest, "signatures are on the wire");
}

/// What a forging member does to a plain mesh: the same forgeries are believed, and the runs
/// fail. Printed, so that the output shows what broke.
#[test]
fn a_forging_member_breaks_a_plain_mesh() {
    let mut in_others_names = 0;
    for seed in [5, 10, 15] {
        let err = match Sim::new(forged(seed, false)).run() {
            Ok(r) => panic!(
                "seed {seed}: {} forgeries and every invariant held",
                r.forgeries
            ),
            Err(e) => e,
        };
        eprintln!("plain links, seed {seed}, with a forging member:\n{err}");
        // Messages handed over in others' names, and routes bent by descriptions at the top
        // of the number space.
        if err.contains("arrived at") || err.contains("got message") {
            in_others_names += 1;
        }
    }
    assert!(
        in_others_names > 0,
        "no message in another's name was handed over"
    );
}
