//! The caller-supplied source of randomness: a ChaCha20 keystream keyed by a 32-byte seed.
//!
//! This module owns where random bytes come from and nothing else. The secure layer draws no
//! randomness of its own: every ephemeral key comes from a [`Csprng`] the caller passed in, so
//! a simulator that seeds one generator replays a whole secure mesh byte for byte, and a real
//! agent seeds it once from the OS ([`Csprng::from_os`]).

use chacha20::ChaCha20;
use chacha20::cipher::{KeyIvInit, StreamCipher};
use snow::types::Random;
use zeroize::Zeroize;

use super::SecureError;

/// Output drawn between two re-keyings of the keystream, far below ChaCha20's 256 GiB counter
/// limit so that the cipher can never run out.
const CHUNK: usize = 1 << 20;

/// A deterministic cryptographically secure generator: the ChaCha20 keystream of its seed.
///
/// After each request it re-keys itself from its own keystream ("fast key erasure"), so the
/// state held after an ephemeral key was drawn cannot recompute that key. Two generators made
/// from the same seed yield the same bytes; [`fork`](Csprng::fork) derives an independent
/// generator for each link, so the bytes one link draws do not depend on how many another drew.
pub struct Csprng {
    stream: ChaCha20,
}

impl Csprng {
    /// A generator whose output is fixed by `seed`. A seed must be secret and unpredictable
    /// outside of tests and simulations.
    pub fn from_seed(mut seed: [u8; 32]) -> Csprng {
        let stream = ChaCha20::new(&seed.into(), &[0u8; 12].into());
        seed.zeroize();
        Csprng { stream }
    }

    /// A generator seeded from the operating system's randomness, for real agents.
    pub fn from_os() -> Result<Csprng, SecureError> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed)
            .map_err(|e| SecureError::Internal(format!("the OS gave no randomness: {e}")))?;
        Ok(Csprng::from_seed(seed))
    }

    /// Fills `dest` with random bytes.
    pub fn fill(&mut self, dest: &mut [u8]) {
        for chunk in dest.chunks_mut(CHUNK) {
            chunk.fill(0);
            self.stream.apply_keystream(chunk);
            self.rekey();
        }
    }

    /// An independent generator seeded from this one's output.
    pub fn fork(&mut self) -> Csprng {
        let mut seed = [0u8; 32];
        self.fill(&mut seed);
        Csprng::from_seed(seed)
    }

    fn rekey(&mut self) {
        let mut key = [0u8; 32];
        self.stream.apply_keystream(&mut key);
        self.stream = ChaCha20::new(&key.into(), &[0u8; 12].into());
        key.zeroize();
    }
}

impl std::fmt::Debug for Csprng {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Csprng(..)")
    }
}

impl Random for Csprng {
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), snow::Error> {
        self.fill(dest);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_bytes_other_seed_other_bytes() {
        let draw = |seed| {
            let mut rng = Csprng::from_seed(seed);
            let mut out = [0u8; 100];
            rng.fill(&mut out);
            out
        };
        assert_eq!(draw([1; 32]), draw([1; 32]));
        assert_ne!(draw([1; 32]), draw([2; 32]));
    }

    #[test]
    fn output_is_the_chacha20_keystream_of_the_seed() {
        let mut rng = Csprng::from_seed([9; 32]);
        let mut got = [0u8; 64];
        rng.fill(&mut got);
        let mut want = [0u8; 64];
        ChaCha20::new(&[9u8; 32].into(), &[0u8; 12].into()).apply_keystream(&mut want);
        assert_eq!(got, want);
    }

    #[test]
    fn forks_are_independent_and_reproducible() {
        let mut a = Csprng::from_seed([3; 32]);
        let mut b = Csprng::from_seed([3; 32]);
        let (mut fa, mut fb) = (a.fork(), b.fork());
        let (mut x, mut y) = ([0u8; 32], [0u8; 32]);
        fa.fill(&mut x);
        fb.fill(&mut y);
        assert_eq!(x, y);
        let mut parent = [0u8; 32];
        a.fill(&mut parent);
        assert_ne!(parent, x);
    }

    #[test]
    fn os_generator_works() {
        let mut rng = Csprng::from_os().unwrap();
        let mut out = [0u8; 32];
        rng.fill(&mut out);
        assert_ne!(out, [0u8; 32]);
    }
}
