//! What the simulator measures: per change (a start, a link failure, a crash, the chaos
//! phase), how long until routing was quiet and what the control traffic cost, and for the
//! whole run the faults, the messages and the digest. It reads the cores' counters and the
//! clock; it must not change the network or the cores beyond letting virtual time run.

use std::collections::BTreeMap;
use std::time::Duration;

use super::Sim;
use super::net::ConnState;

/// Figures of one measured change.
#[derive(Debug, Clone, Default)]
pub struct Change {
    /// Virtual ms from the change until the last routing update anywhere.
    pub converged_ms: u64,
    /// `converged_ms` in units of the mean link latency.
    pub latencies: f64,
    /// Descriptions sent, all agents together.
    pub control_frames: u64,
    /// Bytes of control frames written, all agents together.
    pub control_bytes: u64,
    /// The most descriptions any one agent applied.
    pub max_updates: u64,
    /// Shortest-path computations, all agents together.
    pub computations: u64,
    /// Versions of their own descriptions the agents made (each is flooded everywhere).
    pub versions: u64,
}

/// What a run measured.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Links of the generated mesh.
    pub links: usize,
    /// Mean latency of the open connections after the initial convergence, virtual ms.
    pub mean_latency: f64,
    /// From the start until routing was quiet.
    pub initial: Change,
    /// One link failing cleanly, its dialler unable to re-dial.
    pub link_failure: Change,
    /// One agent crashing, and staying down.
    pub agent_crash: Change,
    /// The whole chaos phase, from the first fault to quiescence (counters of crashed agents
    /// start again, so this is a lower bound).
    pub chaos: Change,
    /// Faults injected, by kind.
    pub faults: BTreeMap<&'static str, usize>,
    /// Messages the pairs sent.
    pub messages: u64,
    /// Messages handed over on pairs whose ends stayed up.
    pub delivered: u64,
    /// Messages of such pairs never handed over.
    pub lost: u64,
    /// Messages handed over twice (not counted yet: always 0).
    pub duplicates: u64,
    /// Messages handed over out of order.
    pub reordered: u64,
    /// Pairs left out of the exactly-once count because one end crashed.
    pub pairs_with_crashes: usize,
    /// Virtual time the run took, ms.
    pub virtual_ms: u64,
    /// Events processed.
    pub events: u64,
    /// Wall-clock time the run took.
    pub wall: Duration,
    /// A digest of every byte delivered and when.
    pub digest: u64,
    /// Forgeries the forging member put on the wire (`Config::forger`).
    pub forgeries: u64,
    /// Forgeries the cores up at the end counted (on secure links, every one that reached
    /// them since they started).
    pub forgeries_counted: u64,
}

impl Sim {
    /// Per agent: descriptions sent, control bytes written, descriptions applied, paths
    /// computed, own versions made.
    pub(super) fn control(&self) -> Vec<[u64; 5]> {
        self.hosts
            .iter()
            .map(|a| {
                let s = a.node.as_ref().map(|n| n.stats()).unwrap_or_default();
                [
                    s.descriptions_sent,
                    s.control_bytes,
                    s.descriptions_applied,
                    s.paths_computed,
                    s.descriptions_originated,
                ]
            })
            .collect()
    }

    /// Runs until no routing update happened for a while; measures the change since `from`.
    pub(super) fn settle(&mut self, from: u64, before: Vec<[u64; 5]>) -> Change {
        self.last_update = self.now;
        let quiet = 4 * self.cfg.latency.1 + 50;
        loop {
            let step = self.now + quiet;
            self.run_until(step);
            let pending = self
                .hosts
                .iter()
                .any(|a| a.node.as_ref().is_some_and(|n| n.stats().paths_pending));
            if self.now >= self.last_update + quiet && !pending {
                break;
            }
        }
        // Per agent, so that a crashed agent (whose counters start again) counts for nothing.
        let after = self.control();
        let delta: Vec<[u64; 5]> = after
            .iter()
            .zip(before.iter().chain(std::iter::repeat(&[0; 5])))
            .map(|(a, b)| std::array::from_fn(|k| a[k].saturating_sub(b[k])))
            .collect();
        let converged = self.last_update.saturating_sub(from);
        Change {
            converged_ms: converged,
            latencies: converged as f64 / self.mean_latency(),
            control_frames: delta.iter().map(|d| d[0]).sum(),
            control_bytes: delta.iter().map(|d| d[1]).sum(),
            max_updates: delta.iter().map(|d| d[2]).max().unwrap_or(0),
            computations: delta.iter().map(|d| d[3]).sum(),
            versions: delta.iter().map(|d| d[4]).sum(),
        }
    }

    /// Mean latency of the open connections, ms (1 if none is open).
    pub(super) fn mean_latency(&self) -> f64 {
        let open = self.conns.iter().filter(|c| c.state == ConnState::Open);
        let (sum, n) = open.fold((0u64, 0u64), |(s, n), c| (s + c.latency, n + 1));
        if n == 0 { 1.0 } else { sum as f64 / n as f64 }
    }
}
