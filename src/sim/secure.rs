//! The simulator's secure mode (feature `secure`): every agent's key drawn from the seed, one
//! trust file for the whole mesh, and each start of an agent given its own generator, seeded
//! from the seed, the agent and its incarnation. Nothing here reads the OS's randomness, so a
//! seed replays a secure mesh byte for byte.
//!
//! It owns the keys and how a secure core is made; it draws nothing from the simulator's own
//! generator, so a seed's topology, faults and traffic are the same in both modes.

use std::time::Instant;

use super::name;
use super::rng::Rng;
use crate::node::Node;
use crate::secure::{Csprng, Identity, SecureConfig, Trust};
use crate::{Error, Options};

/// Salts the seed of the keys, so that they are unrelated to the simulator's other draws.
const KEYS: u64 = 0x6b65_7973_0000_0001;

/// Salts the seed of each start's generator.
const STARTS: u64 = 0x7374_6172_7473_0002;

/// Every agent's identity, and the trust file that lists them all.
pub(super) struct Keys {
    identities: Vec<Identity>,
    trust: Trust,
}

/// 32 bytes from `rng`.
fn bytes(rng: &mut Rng) -> [u8; 32] {
    let mut out = [0u8; 32];
    for chunk in out.chunks_mut(8) {
        chunk.copy_from_slice(&rng.next().to_le_bytes());
    }
    out
}

impl Keys {
    /// The keys of `n` agents for `seed`.
    pub(super) fn new(seed: u64, n: usize) -> Keys {
        let mut rng = Rng::new(seed ^ KEYS);
        let identities: Vec<Identity> = (0..n)
            .map(|_| Identity::from_seed(bytes(&mut rng)))
            .collect();
        let mut trust = Trust::new();
        for (i, id) in identities.iter().enumerate() {
            trust.insert(&name(i), *id.public());
        }
        Keys { identities, trust }
    }

    /// Agent `i`'s identity.
    pub(super) fn identity(&self, i: usize) -> &Identity {
        &self.identities[i]
    }

    /// Agent `i`'s secure core for a start in `incarnation` of a run of `seed`.
    pub(super) fn node(
        &self,
        seed: u64,
        i: usize,
        opts: Options,
        incarnation: u64,
        at: Instant,
    ) -> Result<Node, Error> {
        let config = SecureConfig::new(self.identities[i].clone(), self.trust.clone());
        let mut rng = Rng::new(seed ^ STARTS ^ (i as u64).rotate_left(32) ^ incarnation);
        let csprng = Csprng::from_seed(bytes(&mut rng));
        Node::new_secure(&name(i), opts, incarnation, at, config, csprng)
    }
}
