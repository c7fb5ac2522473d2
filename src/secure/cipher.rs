//! ChaCha20-Poly1305 (RFC 8439), for snow's ChaChaPoly (handshake messages and records) and,
//! with 24-byte nonces (XChaCha20-Poly1305), for sealed bodies: from two well-kept
//! implementations of that one standard, picked by length.
//!
//! This module owns that choice and nothing else: the arithmetic is the crates', the nonce
//! layout of records is the Noise specification's (4 zero bytes, then the 64-bit counter
//! little-endian), and what is sealed, when, is `session.rs`'s and `origin.rs`'s.
//!
//! # Why two
//! RustCrypto's `chacha20poly1305` picks its Poly1305 backend at run time. On x86 and x86-64
//! builds that do not enable AVX2 at compile time (the default: `x86-64` targets assume only
//! SSE2), it reaches its AVX2 backend through functions the compiler cannot inline into, and
//! every Poly1305 then has a fixed cost of about 1.5 µs, whatever the length: sealing a
//! 120-byte record measured 2.1 µs, against 0.15 µs for Poly1305 with that backend disabled.
//! One small message each way is four such operations per round trip, which showed in
//! latency. For long inputs its SIMD ChaCha20 and Poly1305 win by about three to one per byte.
//!
//! So on those builds, inputs up to [`short::SHORT`] bytes go through `orion` (pure Rust,
//! itself free of `unsafe`, Poly1305 on fiat-crypto's verified field arithmetic, no run-time
//! dispatch), and longer ones through RustCrypto. Both compute exactly RFC 8439, so the
//! choice never shows on the wire: the tests seal with each and open with the other, at
//! every length around the threshold. Elsewhere, RustCrypto's backends have no such set-up
//! cost and do everything: on other architectures orion is not built, and with
//! `-C target-feature=+avx2` it is not used.

use chacha20poly1305::aead::{AeadInPlace, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, XChaCha20Poly1305};
use snow::types::Cipher;
use zeroize::Zeroizing;

/// Bytes of a Poly1305 tag.
const TAG: usize = 16;

/// The nonce of one of the two constructions.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Nonce {
    /// ChaCha20-Poly1305's 12 bytes.
    Ietf([u8; 12]),
    /// XChaCha20-Poly1305's 24 bytes (sealed bodies).
    Extended([u8; 24]),
}

impl Nonce {
    /// The nonce Noise's ChaChaPoly makes of a counter.
    fn noise(n: u64) -> Nonce {
        let mut bytes = [0u8; 12];
        bytes[4..].copy_from_slice(&n.to_le_bytes());
        Nonce::Ietf(bytes)
    }
}

/// Encrypts `buf` in place under `key` and returns the tag of it and `ad`.
pub(crate) fn seal(key: &[u8; 32], nonce: Nonce, ad: &[u8], buf: &mut [u8]) -> [u8; TAG] {
    if let Some(tag) = short::seal(key, nonce, ad, buf) {
        return tag;
    }
    // Fails only past 256 GiB; snow hands over at most 65 535 bytes, and bodies are smaller.
    match nonce {
        Nonce::Ietf(n) => {
            ChaCha20Poly1305::new(key.into()).encrypt_in_place_detached(&n.into(), ad, buf)
        }
        Nonce::Extended(n) => {
            XChaCha20Poly1305::new(key.into()).encrypt_in_place_detached(&n.into(), ad, buf)
        }
    }
    .map_or([0; TAG], Into::into)
}

/// Decrypts `buf` in place if `tag` authenticates it and `ad` under `key`; leaves it as it was
/// otherwise.
pub(crate) fn open(
    key: &[u8; 32],
    nonce: Nonce,
    ad: &[u8],
    buf: &mut [u8],
    tag: &[u8; TAG],
) -> bool {
    if let Some(opened) = short::open(key, nonce, ad, buf, tag) {
        return opened;
    }
    match nonce {
        Nonce::Ietf(n) => ChaCha20Poly1305::new(key.into()).decrypt_in_place_detached(
            &n.into(),
            ad,
            buf,
            tag.into(),
        ),
        Nonce::Extended(n) => XChaCha20Poly1305::new(key.into()).decrypt_in_place_detached(
            &n.into(),
            ad,
            buf,
            tag.into(),
        ),
    }
    .is_ok()
}

/// ChaChaPoly under one key, as snow's `Cipher`.
#[derive(Default)]
pub(crate) struct ChaChaPoly {
    key: Zeroizing<[u8; 32]>,
}

impl Cipher for ChaChaPoly {
    fn name(&self) -> &'static str {
        "ChaChaPoly"
    }

    fn set(&mut self, key: &[u8; 32]) {
        self.key.copy_from_slice(key);
    }

    fn encrypt(&self, nonce: u64, authtext: &[u8], plaintext: &[u8], out: &mut [u8]) -> usize {
        let len = plaintext.len();
        // snow sizes `out` for the tag; a shorter one is its bug, answered with nothing.
        let Some((body, tag)) = out.get_mut(..len + TAG).map(|o| o.split_at_mut(len)) else {
            return 0;
        };
        body.copy_from_slice(plaintext);
        tag.copy_from_slice(&seal(&self.key, Nonce::noise(nonce), authtext, body));
        len + TAG
    }

    fn decrypt(
        &self,
        nonce: u64,
        authtext: &[u8],
        ciphertext: &[u8],
        out: &mut [u8],
    ) -> Result<usize, snow::Error> {
        let Some(len) = ciphertext.len().checked_sub(TAG) else {
            return Err(snow::Error::Decrypt);
        };
        let (body, tag) = ciphertext.split_at(len);
        let (Some(out), Ok(tag)) = (out.get_mut(..len), <&[u8; TAG]>::try_from(tag)) else {
            return Err(snow::Error::Decrypt);
        };
        out.copy_from_slice(body);
        if open(&self.key, Nonce::noise(nonce), authtext, out, tag) {
            Ok(len)
        } else {
            out.fill(0);
            Err(snow::Error::Decrypt)
        }
    }
}

/// The portable implementation, for records up to [`short::SHORT`] bytes: `None` for longer
/// ones.
#[cfg(all(
    any(target_arch = "x86", target_arch = "x86_64"),
    not(target_feature = "avx2")
))]
pub(crate) mod short {
    use orion::hazardous::aead::chacha20poly1305::{SecretKey, Tag};
    use orion::hazardous::aead::{chacha20poly1305, xchacha20poly1305};

    use super::{Nonce, TAG};

    /// Longest plaintext sealed (or ciphertext opened, tag excluded) here. About where the two
    /// cross on x86-64: RustCrypto's fixed cost is orion's per-byte cost over some 500 bytes.
    pub(crate) const SHORT: usize = 512;

    pub(super) fn seal(
        key: &[u8; 32],
        nonce: Nonce,
        ad: &[u8],
        buf: &mut [u8],
    ) -> Option<[u8; TAG]> {
        if buf.len() > SHORT {
            return None;
        }
        let key = SecretKey::from(*key);
        // Fails only past 256 GiB; the caller then tries RustCrypto, which would fail too.
        let tag = match nonce {
            Nonce::Ietf(n) => {
                chacha20poly1305::ChaCha20Poly1305::seal_inplace(&key, &n.into(), Some(ad), buf)
            }
            Nonce::Extended(n) => {
                xchacha20poly1305::XChaCha20Poly1305::seal_inplace(&key, &n.into(), Some(ad), buf)
            }
        }
        .ok()?;
        let mut out = [0; TAG];
        out.copy_from_slice(tag.unprotected_as_ref());
        Some(out)
    }

    pub(super) fn open(
        key: &[u8; 32],
        nonce: Nonce,
        ad: &[u8],
        buf: &mut [u8],
        tag: &[u8; TAG],
    ) -> Option<bool> {
        if buf.len() > SHORT {
            return None;
        }
        let (key, tag) = (SecretKey::from(*key), Tag::from(*tag));
        let opened = match nonce {
            Nonce::Ietf(n) => chacha20poly1305::ChaCha20Poly1305::open_inplace(
                &key,
                &n.into(),
                &tag,
                Some(ad),
                buf,
            ),
            Nonce::Extended(n) => xchacha20poly1305::XChaCha20Poly1305::open_inplace(
                &key,
                &n.into(),
                &tag,
                Some(ad),
                buf,
            ),
        };
        Some(opened.is_ok())
    }
}

/// Builds where RustCrypto does everything.
#[cfg(not(all(
    any(target_arch = "x86", target_arch = "x86_64"),
    not(target_feature = "avx2")
)))]
pub(crate) mod short {
    use super::{Nonce, TAG};

    pub(super) fn seal(_: &[u8; 32], _: Nonce, _: &[u8], _: &mut [u8]) -> Option<[u8; TAG]> {
        None
    }

    pub(super) fn open(
        _: &[u8; 32],
        _: Nonce,
        _: &[u8],
        _: &mut [u8],
        _: &[u8; TAG],
    ) -> Option<bool> {
        None
    }
}

#[cfg(test)]
mod tests {
    use snow::params::CipherChoice;
    use snow::resolvers::{CryptoResolver, DefaultResolver};

    use super::*;

    /// Lengths on both sides of the threshold, and at the ends.
    const LENGTHS: [usize; 14] = [
        0, 1, 15, 16, 17, 63, 64, 65, 511, 512, 513, 528, 4_000, 65_519,
    ];

    fn pair(key: [u8; 32]) -> (ChaChaPoly, Box<dyn Cipher>) {
        let mut ours = ChaChaPoly::default();
        ours.set(&key);
        let mut snows = DefaultResolver
            .resolve_cipher(&CipherChoice::ChaChaPoly)
            .unwrap();
        snows.set(&key);
        (ours, snows)
    }

    fn sealed(c: &dyn Cipher, n: u64, ad: &[u8], plain: &[u8]) -> Vec<u8> {
        let mut out = vec![0; plain.len() + TAG];
        assert_eq!(c.encrypt(n, ad, plain, &mut out), out.len());
        out
    }

    #[test]
    fn seals_as_snows_own_and_each_opens_the_other() {
        let (ours, snows) = pair([0x42; 32]);
        for len in LENGTHS {
            let plain: Vec<u8> = (0..len).map(|i| (i * 7 + len) as u8).collect();
            for (n, ad) in [(0, &b""[..]), (1, b"hash"), (u64::MAX - 1, b"h")] {
                let a = sealed(&ours, n, ad, &plain);
                assert_eq!(a, sealed(&*snows, n, ad, &plain), "length {len}, nonce {n}");
                let mut back = vec![0; len];
                assert_eq!(snows.decrypt(n, ad, &a, &mut back).unwrap(), len);
                assert_eq!(back, plain);
                back.fill(0);
                assert_eq!(ours.decrypt(n, ad, &a, &mut back).unwrap(), len);
                assert_eq!(back, plain, "length {len}");
            }
        }
    }

    #[test]
    fn refuses_any_flipped_bit_wrong_nonce_or_data_and_keeps_nothing() {
        let (ours, _) = pair([7; 32]);
        for len in LENGTHS {
            let plain = vec![0xA5; len];
            let good = sealed(&ours, 9, b"ad", &plain);
            let mut out = vec![0; len];
            for at in [0, good.len() / 2, good.len() - 1] {
                let mut bad = good.clone();
                bad[at] ^= 0x01;
                out.fill(0xEE);
                assert!(
                    ours.decrypt(9, b"ad", &bad, &mut out).is_err(),
                    "{len} {at}"
                );
                assert!(out.iter().all(|&b| b == 0), "plaintext left behind: {len}");
            }
            assert!(ours.decrypt(8, b"ad", &good, &mut out).is_err());
            assert!(ours.decrypt(9, b"ae", &good, &mut out).is_err());
            assert!(ours.decrypt(9, b"ad", &good[..TAG - 1], &mut out).is_err());
            assert!(ours.decrypt(9, b"ad", &good, &mut []).is_err() || len == 0);
        }
    }

    #[test]
    fn extended_nonces_seal_as_rustcrypto_and_each_opens_the_other() {
        let key = [0x17; 32];
        let rustcrypto = XChaCha20Poly1305::new(&key.into());
        for len in LENGTHS {
            let plain: Vec<u8> = (0..len).map(|i| (i * 3 + 1) as u8).collect();
            let n: [u8; 24] = std::array::from_fn(|i| i as u8 ^ len as u8);
            let mut ours = plain.clone();
            let tag = seal(&key, Nonce::Extended(n), b"where", &mut ours);
            let mut theirs = plain.clone();
            let their_tag = rustcrypto
                .encrypt_in_place_detached(&n.into(), b"where", &mut theirs)
                .unwrap();
            assert_eq!((&ours, tag), (&theirs, their_tag.into()), "length {len}");
            assert!(open(&key, Nonce::Extended(n), b"where", &mut theirs, &tag));
            assert_eq!(theirs, plain);
            rustcrypto
                .decrypt_in_place_detached(&n.into(), b"where", &mut ours, &tag.into())
                .unwrap();
            assert_eq!(ours, plain);
            let mut bad = tag;
            bad[0] ^= 1;
            let mut copy = plain.clone();
            seal(&key, Nonce::Extended(n), b"where", &mut copy);
            assert!(!open(&key, Nonce::Extended(n), b"where", &mut copy, &bad));
            assert!(!open(&key, Nonce::Extended(n), b"there", &mut copy, &tag));
        }
    }

    #[test]
    fn rekeys_as_snows_own() {
        let (mut ours, mut snows) = pair([3; 32]);
        ours.rekey();
        snows.rekey();
        assert_eq!(
            sealed(&ours, 5, b"", b"after a rekey"),
            sealed(&*snows, 5, b"", b"after a rekey")
        );
    }

    /// RFC 8439 §2.8.2, whose nonce is not of Noise's layout: through the short path
    /// directly, where there is one.
    #[test]
    #[cfg(all(
        any(target_arch = "x86", target_arch = "x86_64"),
        not(target_feature = "avx2")
    ))]
    fn short_path_meets_rfc_8439() {
        let key: [u8; 32] = std::array::from_fn(|i| 0x80 + i as u8);
        let nonce = [
            0x07, 0, 0, 0, 0x40, 0x41, 0x42, 0x43, 0x44, 0x45, 0x46, 0x47,
        ];
        let ad = [
            0x50, 0x51, 0x52, 0x53, 0xc0, 0xc1, 0xc2, 0xc3, 0xc4, 0xc5, 0xc6, 0xc7,
        ];
        let plain = b"Ladies and Gentlemen of the class of '99: If I could offer you only one \
                      tip for the future, sunscreen would be it.";
        let mut buf = plain.to_vec();
        let tag = short::seal(&key, Nonce::Ietf(nonce), &ad, &mut buf).unwrap();
        assert_eq!(
            tag,
            *b"\x1a\xe1\x0b\x59\x4f\x09\xe2\x6a\x7e\x90\x2e\xcb\xd0\x60\x06\x91"
        );
        assert_eq!(&buf[..4], [0xd3, 0x1a, 0x8d, 0x34]);
        assert_eq!(
            short::open(&key, Nonce::Ietf(nonce), &ad, &mut buf, &tag),
            Some(true)
        );
        assert_eq!(buf, plain);
        let mut long = vec![0; short::SHORT + 1];
        assert_eq!(short::seal(&key, Nonce::Ietf(nonce), &ad, &mut long), None);
    }
}
