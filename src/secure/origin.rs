//! End-to-end authentication between an origin and a destination, which relays can pass on
//! but not make.
//!
//! This module owns the pairwise key and its MAC. It knows nothing of which fields a message
//! or confirmation has: the layer above passes them in. Signatures of descriptions are
//! [`Identity::sign`] and [`Trust::verify`](super::Trust::verify).
//!
//! # Construction
//! `key = BLAKE2s-256(LABEL || lo || hi || X25519(own secret, peer public))`, where `lo` and
//! `hi` are the two X25519 public keys in byte order, so both ends derive the same key without
//! agreeing on roles (libsodium's `crypto_kx` hashes the same inputs). The static-static DH
//! is known only to the two ends; a relay in between holds neither secret. An all-zero DH
//! output (a small-order peer key) is refused. The MAC is keyed BLAKE2s with a 16-byte output
//! over the caller's fields, each preceded by its length so that no two field lists collide.

use blake2::digest::consts::U16;
use blake2::digest::{KeyInit, Mac};
use blake2::{Blake2s256, Blake2sMac, Digest};
use zeroize::Zeroizing;

use super::SecureError;
use super::keys::{Identity, PublicKey};

const LABEL: &[u8] = b"secretagent end-to-end key v1\0";

/// The authentication tag of one message or confirmation.
pub type Tag = [u8; 16];

/// A key shared by exactly two agents, for tags that relays cannot forge. Wiped when dropped.
#[derive(Clone)]
pub struct PairKey(Zeroizing<[u8; 32]>);

impl PairKey {
    /// The key between `own` and the agent whose public key is `peer`. Refuses a peer key whose
    /// Diffie-Hellman output is all zeros.
    pub fn derive(own: &Identity, peer: &PublicKey) -> Result<PairKey, SecureError> {
        PairKey::from_x25519(own, peer.x25519()).ok_or_else(|| {
            SecureError::Internal(format!(
                "the key {peer} gives an all-zero shared secret and cannot authenticate anything"
            ))
        })
    }

    fn from_x25519(own: &Identity, peer: &[u8; 32]) -> Option<PairKey> {
        let shared = own.diffie_hellman(peer);
        if *shared == [0u8; 32] {
            return None;
        }
        let a = own.public().x25519();
        let (lo, hi) = if a <= peer { (a, peer) } else { (peer, a) };
        let mut key = Zeroizing::new([0u8; 32]);
        let digest = Blake2s256::new()
            .chain_update(LABEL)
            .chain_update(lo)
            .chain_update(hi)
            .chain_update(&shared[..])
            .finalize();
        key.copy_from_slice(&digest);
        Some(PairKey(key))
    }

    fn mac(&self, fields: &[&[u8]]) -> Blake2sMac<U16> {
        let mut mac = <Blake2sMac<U16> as KeyInit>::new(&(*self.0).into());
        for field in fields {
            Mac::update(&mut mac, &(field.len() as u64).to_be_bytes());
            Mac::update(&mut mac, field);
        }
        mac
    }

    /// The tag of `fields` (for example origin, destination, incarnation, sequence number and
    /// body). Include both names: the key is the same in both directions.
    pub fn tag(&self, fields: &[&[u8]]) -> Tag {
        self.mac(fields).finalize().into_bytes().into()
    }

    /// Whether `tag` is the tag of `fields`, compared in constant time.
    pub fn verify(&self, fields: &[&[u8]], tag: &Tag) -> bool {
        self.mac(fields).verify_slice(tag).is_ok()
    }
}

impl std::fmt::Debug for PairKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PairKey(hidden)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_ends_derive_the_same_key_and_a_relay_does_not() {
        let (ames, rosenberg, relay) = (
            Identity::from_seed([1; 32]),
            Identity::from_seed([2; 32]),
            Identity::from_seed([3; 32]),
        );
        let here = PairKey::derive(&ames, rosenberg.public()).unwrap();
        let there = PairKey::derive(&rosenberg, ames.public()).unwrap();
        let fields: [&[u8]; 3] = [b"Ames", b"Rosenberg", b"7"];
        let tag = here.tag(&fields);
        assert!(there.verify(&fields, &tag));
        // The relay holds keys with both ends, but neither is theirs.
        for relay_key in [
            PairKey::derive(&relay, ames.public()).unwrap(),
            PairKey::derive(&relay, rosenberg.public()).unwrap(),
        ] {
            assert_ne!(relay_key.tag(&fields), tag);
            assert!(!there.verify(&fields, &relay_key.tag(&fields)));
        }
    }

    #[test]
    fn tags_bind_every_field_and_its_boundaries() {
        let key = PairKey::derive(
            &Identity::from_seed([1; 32]),
            Identity::from_seed([2; 32]).public(),
        )
        .unwrap();
        let tag = key.tag(&[b"ab", b"c"]);
        assert!(key.verify(&[b"ab", b"c"], &tag));
        assert!(!key.verify(&[b"a", b"bc"], &tag));
        assert!(!key.verify(&[b"ab", b"d"], &tag));
        assert!(!key.verify(&[b"ab", b"c", b""], &tag));
        let mut flipped = tag;
        flipped[0] ^= 1;
        assert!(!key.verify(&[b"ab", b"c"], &flipped));
    }

    #[test]
    fn a_small_order_peer_key_is_refused() {
        // Parsing refuses weak ed25519 keys, so no `PublicKey` has one; the X25519 step must
        // refuse small-order points all the same (0 and 1 are two of them).
        let own = Identity::from_seed([1; 32]);
        let mut one = [0u8; 32];
        one[0] = 1;
        assert!(PairKey::from_x25519(&own, &[0u8; 32]).is_none());
        assert!(PairKey::from_x25519(&own, &one).is_none());
    }
}
