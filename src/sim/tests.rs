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
