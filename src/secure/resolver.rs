//! The primitives handed to snow: its own default hash (BLAKE2s), except that random bytes
//! come from the caller's [`Csprng`], that the X25519 keys reuse the public half of the
//! agent's static key instead of recomputing it for every handshake, and that ChaChaPoly is
//! `cipher.rs`'s (the same standard, faster on short records).
//!
//! This module owns that glue and nothing else: the curve arithmetic is curve25519-dalek's,
//! called exactly as snow's default resolver calls it. Knowing the static public key saves a
//! fixed-base scalar multiplication per connection, which is most of what refusing a stranger
//! without the PSK would otherwise cost.

use std::cell::RefCell;
use std::sync::Arc;

use curve25519_dalek::montgomery::MontgomeryPoint;
use snow::params::{CipherChoice, DHChoice, HashChoice};
use snow::resolvers::{CryptoResolver, DefaultResolver};
use snow::types::{Cipher, Dh, Hash, Random};
use zeroize::Zeroizing;

use super::cipher::ChaChaPoly;
use super::{Csprng, SecureConfig};

/// The resolver for one handshake.
pub(crate) struct Resolver {
    rng: RefCell<Csprng>,
    config: Arc<SecureConfig>,
    default: DefaultResolver,
}

impl Resolver {
    /// Randomness forked from `rng`; the static key of `config`'s identity.
    pub(crate) fn new(rng: Csprng, config: Arc<SecureConfig>) -> Resolver {
        Resolver {
            rng: RefCell::new(rng),
            config,
            default: DefaultResolver,
        }
    }
}

impl CryptoResolver for Resolver {
    fn resolve_rng(&self) -> Option<Box<dyn Random>> {
        // A fresh fork per request: two requests must never share a stream.
        Some(Box::new(self.rng.borrow_mut().fork()))
    }

    fn resolve_dh(&self, choice: &DHChoice) -> Option<Box<dyn Dh>> {
        match choice {
            DHChoice::Curve25519 => Some(Box::new(X25519 {
                config: Arc::clone(&self.config),
                secret: Zeroizing::new([0; 32]),
                public: [0; 32],
            })),
            _ => None,
        }
    }

    fn resolve_hash(&self, choice: &HashChoice) -> Option<Box<dyn Hash>> {
        self.default.resolve_hash(choice)
    }

    fn resolve_cipher(&self, choice: &CipherChoice) -> Option<Box<dyn Cipher>> {
        match choice {
            CipherChoice::ChaChaPoly => Some(Box::<ChaChaPoly>::default()),
            _ => None,
        }
    }
}

/// An X25519 key pair for snow, as its default one, that knows the agent's static key.
struct X25519 {
    config: Arc<SecureConfig>,
    secret: Zeroizing<[u8; 32]>,
    public: [u8; 32],
}

impl Dh for X25519 {
    fn name(&self) -> &'static str {
        "25519"
    }

    fn pub_len(&self) -> usize {
        32
    }

    fn priv_len(&self) -> usize {
        32
    }

    fn set(&mut self, secret: &[u8]) {
        let n = secret.len().min(32);
        self.secret.fill(0);
        self.secret[..n].copy_from_slice(&secret[..n]);
        let identity = self.config.identity();
        // Compares this agent's secret with itself (snow sets no other static key): the time
        // it takes tells a peer nothing.
        self.public = if *self.secret == *identity.x25519_secret() {
            *identity.public().x25519()
        } else {
            MontgomeryPoint::mul_base_clamped(*self.secret).to_bytes()
        };
    }

    fn generate(&mut self, rng: &mut dyn Random) -> Result<(), snow::Error> {
        rng.try_fill_bytes(&mut self.secret[..])?;
        self.public = MontgomeryPoint::mul_base_clamped(*self.secret).to_bytes();
        Ok(())
    }

    fn pubkey(&self) -> &[u8] {
        &self.public
    }

    fn privkey(&self) -> &[u8] {
        &self.secret[..]
    }

    fn dh(&self, public: &[u8], out: &mut [u8]) -> Result<(), snow::Error> {
        let (Ok(public), Some(out)) = (
            <[u8; 32]>::try_from(public.get(..32).unwrap_or(&[])),
            out.get_mut(..32),
        ) else {
            return Err(snow::Error::Dh);
        };
        out.copy_from_slice(&MontgomeryPoint(public).mul_clamped(*self.secret).to_bytes());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secure::{Identity, Trust};

    fn ours(config: &Arc<SecureConfig>) -> Box<dyn Dh> {
        Resolver::new(Csprng::from_seed([1; 32]), Arc::clone(config))
            .resolve_dh(&DHChoice::Curve25519)
            .unwrap()
    }

    #[test]
    fn agrees_with_snows_default_x25519() {
        let config = Arc::new(SecureConfig::new(
            Identity::from_seed([4; 32]),
            Trust::new(),
        ));
        let own = *config.identity().x25519_secret();
        for secret in [own, [9; 32], [0xFF; 32]] {
            let (mut a, mut b) = (
                ours(&config),
                DefaultResolver.resolve_dh(&DHChoice::Curve25519).unwrap(),
            );
            a.set(&secret);
            b.set(&secret);
            assert_eq!(a.pubkey(), b.pubkey());
            let peer = MontgomeryPoint::mul_base_clamped([7; 32]).to_bytes();
            let (mut x, mut y) = ([0u8; 32], [0u8; 32]);
            a.dh(&peer, &mut x).unwrap();
            b.dh(&peer, &mut y).unwrap();
            assert_eq!(x, y);
        }
        assert_eq!(
            ours(&config).pubkey().len(),
            32,
            "a fresh pair has a key of the right length"
        );
    }

    #[test]
    fn generated_keys_come_from_the_given_generator() {
        let config = Arc::new(SecureConfig::new(
            Identity::from_seed([4; 32]),
            Trust::new(),
        ));
        let mut a = ours(&config);
        let mut b = ours(&config);
        a.generate(&mut Csprng::from_seed([2; 32])).unwrap();
        b.generate(&mut Csprng::from_seed([2; 32])).unwrap();
        assert_eq!(a.pubkey(), b.pubkey());
        assert_eq!(
            a.pubkey(),
            MontgomeryPoint::mul_base_clamped(a.privkey().try_into().unwrap()).to_bytes()
        );
        assert!(
            a.dh(&[1; 31], &mut [0; 32]).is_err(),
            "a short key is refused"
        );
    }
}
