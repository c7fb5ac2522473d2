//! Runs one deterministic simulation of a large mesh and prints what it measured.
//!
//! ```text
//! cargo run --release --features sim --example sim -- --agents 1000 --degree 4 --faults 200 --seed 7
//! ```
//! Options: `--agents N`, `--degree D` (average links per agent), `--faults F`, `--seed S`,
//! `--pairs P` (sender→receiver pairs), `--messages M` (per pair), `--region R` (most agents a
//! partition cuts off; a third of the agents, at most 20, by default), `--no-tables` (skip the
//! routing-table check at quiescence), `--secure` (secure links, keys from the seed; build
//! with `--features sim,secure`), `--forger N` (agent N forges others' descriptions, messages
//! and confirmations into its links). The same arguments always give the same run. The
//! simulator itself is `secretagent::sim`, built with the `sim` feature.

use secretagent::sim::{Change, Config, Report, Sim};

fn main() {
    let cfg = config();
    let replay = cfg.replay();
    let (agents, faults) = (cfg.agents, cfg.faults);
    match Sim::new(cfg).run() {
        Ok(r) => print(&r, agents, faults),
        Err(e) => {
            eprintln!("{e}");
            eprintln!("replay: {replay}");
            std::process::exit(1);
        }
    }
}

/// The run the command line asks for; exits on a bad argument.
fn config() -> Config {
    let mut cfg = Config {
        agents: 1000,
        degree: 4,
        faults: 200,
        seed: 7,
        latency: (1, 10),
        pairs: 50,
        messages: 100,
        check_tables: true,
        region: 0,
        secure: false,
        forger: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut num = |flag: &str| -> u64 {
            let v = args.next().unwrap_or_default();
            v.parse().unwrap_or_else(|_| {
                eprintln!("sim: {flag} takes a number, not {v:?}");
                std::process::exit(2)
            })
        };
        match a.as_str() {
            "--agents" => cfg.agents = num("--agents") as usize,
            "--degree" => cfg.degree = num("--degree") as usize,
            "--faults" => cfg.faults = num("--faults") as usize,
            "--seed" => cfg.seed = num("--seed"),
            "--pairs" => cfg.pairs = num("--pairs") as usize,
            "--messages" => cfg.messages = num("--messages"),
            "--region" => cfg.region = num("--region") as usize,
            "--no-tables" => cfg.check_tables = false,
            "--secure" => cfg.secure = true,
            "--forger" => cfg.forger = Some(num("--forger") as usize),
            other => {
                eprintln!(
                    "sim: unknown argument {other:?}\n(see the doc comment of examples/sim.rs)"
                );
                std::process::exit(2)
            }
        }
    }
    if cfg.region == 0 {
        cfg.region = Config::region_for(cfg.agents);
    }
    cfg
}

/// Prints what the run measured: a table of its changes, then its faults and messages.
fn print(r: &Report, agents: usize, faults: usize) {
    println!(
        "{agents} agents, {} links, mean latency {:.1} ms, {faults} faults",
        r.links, r.mean_latency
    );
    println!();
    println!(
        "| change | converged (virtual ms) | × latency | versions made | descriptions sent | control bytes | most updates, one agent | route computations |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    let row = |what: &str, c: &Change| {
        println!(
            "| {what} | {} | {:.1} | {} | {} | {} | {} | {} |",
            c.converged_ms,
            c.latencies,
            c.versions,
            c.control_frames,
            c.control_bytes,
            c.max_updates,
            c.computations
        )
    };
    row("initial convergence", &r.initial);
    row("one link fails", &r.link_failure);
    row("one agent crashes", &r.agent_crash);
    row("chaos phase, all faults", &r.chaos);
    println!();
    println!("faults injected: {:?}", r.faults);
    println!(
        "messages: {} sent, {} handed over on pairs whose ends stayed up, lost {}, reordered {} ({} pairs excused: an end crashed)",
        r.messages, r.delivered, r.lost, r.reordered, r.pairs_with_crashes
    );
    if r.forgeries > 0 {
        println!(
            "forgeries: {} put on the wire by the forging member, {} counted as forged by the cores up at the end",
            r.forgeries, r.forgeries_counted
        );
    }
    println!(
        "every invariant held; {} events over {:.1} virtual s; wall time {:.2} s; digest {:016x}",
        r.events,
        r.virtual_ms as f64 / 1000.0,
        r.wall.as_secs_f64(),
        r.digest
    );
}
