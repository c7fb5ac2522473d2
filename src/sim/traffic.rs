//! The numbered traffic of the chaos phase: sender→receiver pairs, each sending messages
//! `{"k": pair, "n": number}` in bursts. It owns what each pair sent and what came of it; the
//! judging of what arrives is in `checks.rs`.

use serde_json::value::RawValue;

use super::{Sim, name};
use crate::MessageId;

/// One sender→receiver pair and its account.
#[derive(Default)]
pub(super) struct Pair {
    pub(super) from: usize,
    pub(super) to: usize,
    /// Messages accepted by the sender's core.
    pub(super) sent: u64,
    /// Their ids, to recognise their confirmations.
    pub(super) ids: Vec<MessageId>,
    /// The number the receiver should hand over next.
    pub(super) next: u64,
    pub(super) confirmed: u64,
    /// One end crashed: its messages are no longer promised.
    pub(super) excused: bool,
}

impl Sim {
    /// Draws `Config::pairs` pairs of distinct agents.
    pub(super) fn draw_pairs(&mut self) {
        let n = self.hosts.len() as u64;
        for _ in 0..self.cfg.pairs {
            let from = self.rng.below(n) as usize;
            let mut to = self.rng.below(n) as usize;
            if to == from {
                to = (to + 1) % self.hosts.len();
            }
            self.pairs.push(Pair {
                from,
                to,
                ..Pair::default()
            });
        }
    }

    /// Pair `k` sends up to `count` more messages, stopping at `Config::messages`, when excused,
    /// or when its sender's core refuses one.
    pub(super) fn send(&mut self, k: usize, count: u64) {
        for _ in 0..count {
            let p = &self.pairs[k];
            if p.sent >= self.cfg.messages || p.excused {
                return;
            }
            let (from, to, n) = (p.from, p.to, p.sent);
            let body = format!(r#"{{"k":{k},"n":{n}}}"#);
            let raw = RawValue::from_string(body).expect("json");
            let at = self.at(self.now);
            let Some(node) = self.hosts[from].node.as_mut() else {
                return;
            };
            match node.send_message(&name(to), &raw, at) {
                Ok(id) => {
                    let p = &mut self.pairs[k];
                    p.ids.push(id);
                    p.sent += 1;
                }
                Err(_) => return,
            }
            self.drain(from);
        }
    }
}
