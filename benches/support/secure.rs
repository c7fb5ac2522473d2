//! Agents with secure links (feature `secure`), for the benchmarks that set them against plain
//! ones. Children need no key files: an agent's key is derived from a mesh number, which the
//! parent passes on the command line (`--secure MESH`), and its name; every agent trusts every
//! name the benchmarks use under that mesh number.
//!
//! In a build without the feature, asking for a secure agent fails with a sentence that says
//! how to build it.

use secretagent::{Agent, Options};

use super::Result;

/// The mesh number every benchmark passes: the keys are the same from run to run.
pub const MESH: u64 = 1;

/// Whether this build has secure links.
pub const AVAILABLE: bool = cfg!(feature = "secure");

/// Why a secure benchmark did not run in this build.
pub const NEEDS_FEATURE: &str =
    "needs the `secure` feature: cargo bench --features secure (-- secure for these rows only)";

/// An agent named `name`: plain, or with secure links under mesh number `secure`.
pub fn agent(name: &str, opts: Options, secure: Option<u64>) -> Result<Agent> {
    let agent = match secure {
        None => Agent::new(name, opts),
        Some(mesh) => return with_keys::agent(name, opts, mesh),
    };
    agent.map_err(|e| format!("creating agent {name}: {e}"))
}

#[cfg(feature = "secure")]
mod with_keys {
    use secretagent::secure::{Identity, SecureConfig, Trust};
    use secretagent::{Agent, Options};

    use crate::support::Result;
    use crate::support::message::{PEERS, RECEIVER, RELAY, SENDER, peer};

    /// The secure agent `name` of mesh `mesh`.
    pub fn agent(name: &str, opts: Options, mesh: u64) -> Result<Agent> {
        let cfg = SecureConfig::new(identity(mesh, name)?, trust(mesh)?);
        Agent::new_secure(name, opts, cfg).map_err(|e| format!("creating secure agent {name}: {e}"))
    }

    /// The key of `name` in mesh `mesh`: its seed is the mesh number (8 bytes, big-endian)
    /// followed by the name, zero-padded.
    pub fn identity(mesh: u64, name: &str) -> Result<Identity> {
        let mut seed = [0u8; 32];
        seed[..8].copy_from_slice(&mesh.to_be_bytes());
        let room = &mut seed[8..];
        if name.len() > room.len() {
            return Err(format!(
                "the benchmark's key derivation takes names of at most {} bytes, not \"{name}\"",
                room.len()
            ));
        }
        room[..name.len()].copy_from_slice(name.as_bytes());
        Ok(Identity::from_seed(seed))
    }

    /// Every name the benchmarks use, each trusted with its own key.
    pub fn trust(mesh: u64) -> Result<Trust> {
        let mut trust = Trust::new();
        let fixed = [SENDER, RELAY, RECEIVER].map(str::to_owned);
        for name in fixed.into_iter().chain((0..PEERS).map(peer)) {
            trust.insert(&name, *identity(mesh, &name)?.public());
        }
        Ok(trust)
    }
}

#[cfg(not(feature = "secure"))]
mod with_keys {
    use secretagent::{Agent, Options};

    use crate::support::Result;

    pub fn agent(name: &str, _: Options, _: u64) -> Result<Agent> {
        Err(format!(
            "agent {name} should have secure links, and this build has none: it {}",
            super::NEEDS_FEATURE
        ))
    }
}

#[cfg(feature = "secure")]
pub use with_keys::{identity, trust};
