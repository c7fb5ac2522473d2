//! What the core holds for secure links (feature `secure`): the agent's identity and whom it
//! trusts ([`SecureConfig`]), and the randomness its handshakes and signatures draw
//! ([`Csprng`], given by the caller so that a simulator replays a secure mesh exactly).
//!
//! This file owns that state and the constructor that takes it. It must not touch a link's bytes (`stream.rs` runs each link's session) nor the
//! signatures and end-to-end tags of origins (their concern files do, reading the identity
//! and trust here).

use std::sync::Arc;
use std::time::Instant;

use super::Node;
use super::origins::Origins;
use crate::secure::{Csprng, SecureConfig};
use crate::{Error, Options};

/// A node's secure-links state.
#[derive(Debug)]
pub(crate) struct Security {
    /// Identity, trust, PSK and rekey schedule, shared with every link's session.
    pub(crate) config: Arc<SecureConfig>,
    /// Randomness for handshakes (each session forks its own) and the nonces of sealed
    /// bodies.
    pub(crate) rng: Csprng,
    /// Pair keys and what authenticating origins needs (`origins.rs`).
    pub(crate) origins: Origins,
}

impl Node {
    /// A node whose every link is secure (feature `secure`): a Noise handshake with the keys of
    /// `config` before anything else, then encrypted records; peers whose key the trust file
    /// does not allow for the name they claim are refused. `rng` is where the node's
    /// randomness comes from: [`Csprng::from_os`] for a real agent, a seeded one in a
    /// simulation. The rest as [`Node::new`].
    ///
    /// Secure links exist only between agents of this crate: `opts.protocol_version` must be
    /// 2 (an original agent speaks only plaintext v1).
    pub fn new_secure(
        name: &str,
        opts: Options,
        incarnation: u64,
        now: Instant,
        config: SecureConfig,
        rng: Csprng,
    ) -> Result<Node, Error> {
        if opts.protocol_version < 2 {
            return Err(Error::Config(format!(
                "secure links need protocol version 2 (Options::protocol_version is {}): \
                 original agents speak only plaintext v1",
                opts.protocol_version
            )));
        }
        let mut node = Node::new(name, opts, incarnation, now)?;
        let origins = Origins::new(node.opts.max_known_names);
        node.security = Some(Security {
            config: Arc::new(config),
            rng,
            origins,
        });
        node.sign_own();
        Ok(node)
    }

    /// Whether this node's links are secure.
    pub fn is_secure(&self) -> bool {
        self.security.is_some()
    }
}
