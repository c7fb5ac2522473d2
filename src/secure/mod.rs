//! Secure links (cargo feature `secure`): a Noise handshake on every link, then the unchanged
//! frame stream in encrypted records; plus the keys, the trust file and the end-to-end
//! authenticators that the layers above need.
//!
//! # What this module owns, and what it must not touch
//! It sits between the TCP byte stream and the frame codec, one [`Session`] per link: bytes
//! from the socket go in, plaintext stream bytes for the unchanged frame decoder (`frame.rs`)
//! come out; plaintext stream bytes go in, bytes for the socket come out. It is sans-IO: no
//! sockets, no clock (time is a `u64` of milliseconds passed in), and no randomness of its own
//! (the caller's seeded [`Csprng`], so a simulator runs secure meshes byte for byte
//! reproducibly).
//!
//! It knows nothing of frames, names in hellos, routing or delivery. The session only refuses
//! a peer whose key is trusted for no name at all; whether the key may use the name the peer
//! claims in its (encrypted) hello is for the layer above to ask, with [`Trust::check`].
//!
//! | file | owns |
//! |---|---|
//! | `session.rs` | the per-link state machine and the wire format below |
//! | `framing.rs` | cutting the byte stream into length-prefixed messages; sniffing first bytes |
//! | `keys.rs` | [`Identity`], [`PublicKey`], [`Psk`], their files, [`keygen`] |
//! | `trust.rs` | the trust file and its queries |
//! | `origin.rs` | [`PairKey`]: end-to-end tags and sealed bodies between origin and destination; the bytes of a description that its origin signs ([`signed_description`]) |
//! | `rng.rs` | [`Csprng`] |
//! | `resolver.rs` | what snow computes with: its primitives, the caller's randomness |
//! | `cipher.rs` | ChaChaPoly for snow, from one of two implementations picked by length |
//! | `text.rs` | base64 and the quoting of names |
//! | `error.rs` | [`SecureError`], [`FileError`] |
//!
//! # Example
//! Two secure agents on loopback, with keys made in memory (`secretagent keygen` and
//! [`keygen`] write them to files, which [`Identity::load`], [`Trust::load`] and
//! [`Psk::load`] read), one message between them:
//! ```
//! use std::time::{Duration, Instant};
//! use secretagent::secure::{Csprng, Identity, Psk, SecureConfig, Trust};
//! use secretagent::{Agent, Event, Options};
//!
//! let mut rng = Csprng::from_os()?;
//! let (ames, wolf) = (Identity::generate(&mut rng), Identity::generate(&mut rng));
//! let psk = Psk::generate(&mut rng);
//! // The trust file every agent of the mesh holds: which key may use which name.
//! let lines = [Trust::line("Ames", ames.public()), Trust::line("Wolf", wolf.public())];
//! let trust = Trust::parse(&lines.join("\n"), "mesh.trust")?;
//! let config = |id| SecureConfig::new(id, trust.clone()).with_psk(psk.clone());
//!
//! let mut wolf = Agent::new_secure("Wolf", Options::default(), config(wolf))?;
//! let mut ames = Agent::new_secure("Ames", Options::default(), config(ames))?;
//! let addr = wolf.listen("127.0.0.1:0")?;
//! ames.connect(addr)?;
//! ames.send_message("Wolf", "meet at noon")?; // queued until Ames meets Wolf
//!
//! let deadline = Instant::now() + Duration::from_secs(30);
//! let mut seen = Vec::new();
//! let body = loop {
//!     ames.poll(Some(Duration::from_millis(5)))?;
//!     wolf.poll(Some(Duration::from_millis(5)))?;
//!     seen.extend(ames.events());
//!     let got = wolf.events().find_map(|e| match e {
//!         Event::Message { from, body, .. } if from == "Ames" => Some(body),
//!         other => { seen.push(other); None }
//!     });
//!     if let Some(body) = got {
//!         break body;
//!     }
//!     assert!(Instant::now() < deadline, "no message after 30 s; events: {seen:?}");
//! };
//! assert_eq!(body.get(), r#""meet at noon""#);
//! assert_eq!(wolf.stats().handshakes, 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Wire format
//! The README's "Secure links" section has this and the formats of origins (`origin.rs`'s),
//! with sizes, test vectors and the threat model; `tests/secure_spec.rs` implements them again
//! from the primitives and runs them against this module.
//!
//! All integers are big-endian.
//!
//! **Preamble.** The dialler (the Noise initiator) first sends 4 bytes: `FF 73 61 MM` (`0xFF`,
//! `'s'`, `'a'`, mode). `MM` is `01` for `Noise_XX_25519_ChaChaPoly_BLAKE2s` and `02` for
//! `Noise_XXpsk0_25519_ChaChaPoly_BLAKE2s` (a mesh-wide PSK is configured). A plaintext agent
//! reads these bytes as a frame length of over 4 GB, far past any limit, and closes at once. A
//! secure responder recognises a plaintext hello instead (`00` as first byte and `{` as fifth:
//! [`SecureError::PlaintextPeer`]), a mode that does not match its own configuration
//! ([`SecureError::PskMissingOnPeer`], [`SecureError::PskMissingHere`]), a mode it does not
//! know ([`SecureError::UnsupportedMode`]), and anything else ([`SecureError::Garbage`]). It
//! builds no Noise state before a valid preamble.
//!
//! **Handshake.** Noise XX (or XXpsk0) with the prologue `"secretagent secure v1\0"` followed
//! by the 4 preamble bytes. Each handshake message travels as a 2-byte length and the Noise
//! message; a length over 256 is refused before any byte of it is buffered, and 0 is refused.
//!
//! | message | direction | tokens | payload | bytes (XX / XXpsk0) |
//! |---|---|---|---|---|
//! | 1 | dialler → acceptor | (psk,) e | empty | 32 / 48 |
//! | 2 | acceptor → dialler | e, ee, s, es | acceptor's ed25519 public key | 128 / 128 |
//! | 3 | dialler → acceptor | s, se | dialler's ed25519 public key | 96 / 96 |
//!
//! With XXpsk0, a dialler without the right PSK fails at message 1, whose (empty) payload is
//! the first thing encrypted under a key mixed from the PSK: the acceptor refuses it
//! ([`SecureError::BadPsk`]) before it computes any Diffie-Hellman. Each side checks, on
//! receiving the other's static key (messages 2 and 3), that the payload is the ed25519 key
//! whose X25519 form is that static key, and that the trust file knows it; the dialler checks
//! before it sends message 3, so an untrusted acceptor never learns who dialled.
//!
//! **Records.** After the handshake, both directions carry records: a 2-byte length `L`
//! (17 ≤ `L` ≤ 65 535), then a Noise transport message of `L` bytes: ChaCha20-Poly1305 of the
//! record plaintext (empty associated data) with the 16-byte tag at its end, nonces counting
//! from 0 in each direction, on through rekeys.
//! The record plaintext is the data followed by one type byte:
//! - `00` data: plaintext stream bytes, any split of frames (many frames per record; a frame
//!   may span records). At most 65 518 data bytes per record.
//! - `01` rekey, no data: the sender changes its sending key (Noise `REKEY`, §11.3) right
//!   after sealing this record; the receiver changes its receiving key right after opening it.
//!   A sender rekeys before sealing a record once [`SecureConfig::rekey_after`] milliseconds
//!   (default 120 000, as WireGuard) or records (default 2^20) have passed since its last
//!   rekey, whichever comes first.
//!
//! A record that fails to decrypt is [`SecureError::Tampered`]; a length under 17 is
//! [`SecureError::BadRecordLength`]; any other type byte is [`SecureError::UnknownRecordType`];
//! a rekey record that carries data is [`SecureError::Garbage`].
//! There is no recovery inside a stream: the link closes.
//!
//! # Where this departs from the first design, and why
//! - The handshake payloads carry the ed25519 public keys (32 bytes each). The Noise static
//!   key alone is an X25519 key, from which the ed25519 key (what a trust file lists) cannot be
//!   recovered: an "unknown key" error could not tell the operator which line to add. The
//!   payload is authenticated by the handshake and checked against the static key.
//! - The record type is the last plaintext byte, not the first (TLS 1.3 does the same): a
//!   receiver decrypting in place into its stream buffer drops it by truncating, without
//!   moving 64 KiB of data per record.
//! - snow's X25519 is replaced by the same curve25519-dalek calls with one difference: the
//!   public half of the agent's static key, known from its identity, is not recomputed for
//!   every connection. That fixed-base multiplication was three quarters of the cost of
//!   refusing a connection without the PSK (about 40 µs of 54 µs; 13 µs without it).
//! - [`Session::initiator`] appends the first bytes at once (there is no separate
//!   `take_initial`), and [`Session::write`] takes the caller's scratch buffer: the record
//!   plaintext (data and type) must be contiguous for the cipher, and one scratch per agent
//!   spares a buffer per link.
//!
//! # Before authentication
//! A responder that has not seen a valid preamble holds at most 5 bytes; a handshaking link
//! holds at most one handshake message (258 bytes) besides snow's fixed state; nothing is
//! allocated by a length a peer claims. After a record cut by a read boundary is consumed,
//! its buffer is freed: an idle established session keeps no record buffer.

mod cipher;
mod error;
mod framing;
mod keys;
mod origin;
mod resolver;
mod rng;
mod session;
mod text;
mod trust;

#[cfg(any(test, fuzzing))]
#[doc(hidden)]
pub mod fuzz;
#[cfg(test)]
mod tests;

pub use error::{FileError, SecureError};
pub use keys::{Identity, Psk, PublicKey, key_path, keygen, keygen_with};
pub use origin::{MessageFields, NONCE_LEN, PairKey, SEAL_OVERHEAD, Tag, signed_description};
pub use rng::Csprng;
pub use session::{
    MAX_HANDSHAKE_MSG, MAX_RECORD, MAX_RECORD_DATA, MODE_XX, MODE_XX_PSK0, PREAMBLE_MAGIC,
    PROLOGUE, Progress, RECORD_DATA, RECORD_REKEY, Session, TAG_LEN,
};
pub use trust::Trust;

#[cfg(any(test, feature = "sim"))]
pub(crate) use text::encode;
pub(crate) use text::{decode_exact, decode_into, encode_into};

/// Default time between rekeys of a sending key: 120 s, as WireGuard.
pub const DEFAULT_REKEY_AFTER_MS: u64 = 120_000;
/// Default number of records between rekeys of a sending key.
pub const DEFAULT_REKEY_AFTER_RECORDS: u64 = 1 << 20;

/// What every secure session of an agent shares: its identity, whom it trusts, the mesh's PSK
/// (if any) and the rekey schedule. Sessions hold it through an `Arc`; to reload the trust
/// file, make a new one with [`with_trust`](SecureConfig::with_trust) for new sessions and
/// re-check the keys of the established ones.
#[derive(Clone, Debug)]
pub struct SecureConfig {
    identity: Identity,
    trust: Trust,
    psk: Option<Psk>,
    rekey_after_ms: u64,
    rekey_after_records: u64,
    seal_bodies: bool,
}

impl SecureConfig {
    /// A configuration without PSK and with the default rekey schedule.
    pub fn new(identity: Identity, trust: Trust) -> SecureConfig {
        SecureConfig {
            identity,
            trust,
            psk: None,
            rekey_after_ms: DEFAULT_REKEY_AFTER_MS,
            rekey_after_records: DEFAULT_REKEY_AFTER_RECORDS,
            seal_bodies: false,
        }
    }

    /// Requires the mesh-wide pre-shared key on every link (Noise XXpsk0).
    pub fn with_psk(mut self, psk: Psk) -> SecureConfig {
        self.psk = Some(psk);
        self
    }

    /// Rekeys a sending key after `ms` milliseconds or `records` records, whichever comes
    /// first (defaults: [`DEFAULT_REKEY_AFTER_MS`], [`DEFAULT_REKEY_AFTER_RECORDS`]).
    pub fn with_rekey_after(mut self, ms: u64, records: u64) -> SecureConfig {
        self.rekey_after_ms = ms;
        self.rekey_after_records = records;
        self
    }

    /// Seals the bodies of this agent's messages end to end (default: off), so that relays,
    /// members of the mesh too, cannot read them: each body travels encrypted for its
    /// destination alone (XChaCha20-Poly1305 under a key only the two ends can derive, see
    /// [`PairKey::seal`]), and the destination hands the original JSON to its application.
    /// Links are encrypted either way; this keeps a body from the agents that relay it. It
    /// costs a random nonce and an encryption per message sent (and per resend), a decryption
    /// per message received, and a third more bytes on the wire (base64). A message sent
    /// straight to a direct peer whose description has not arrived yet is not sealed: no
    /// relay sees it. Any agent opens sealed bodies, whatever its own setting.
    pub fn with_sealed_bodies(mut self, seal: bool) -> SecureConfig {
        self.seal_bodies = seal;
        self
    }

    /// Whether this agent seals the bodies of its messages ([`with_sealed_bodies`](Self::with_sealed_bodies)).
    pub fn seals_bodies(&self) -> bool {
        self.seal_bodies
    }

    /// The same configuration with another trust list (a reload).
    pub fn with_trust(&self, trust: Trust) -> SecureConfig {
        SecureConfig {
            trust,
            ..self.clone()
        }
    }

    /// This agent's identity.
    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    /// The trusted keys.
    pub fn trust(&self) -> &Trust {
        &self.trust
    }

    /// Whether a PSK is configured.
    pub fn has_psk(&self) -> bool {
        self.psk.is_some()
    }

    pub(crate) fn psk(&self) -> Option<&Psk> {
        self.psk.as_ref()
    }

    /// The rekey schedule: milliseconds and records.
    pub fn rekey_after(&self) -> (u64, u64) {
        (self.rekey_after_ms, self.rekey_after_records)
    }

    /// The preamble's mode byte for this configuration.
    pub(crate) fn mode(&self) -> u8 {
        if self.has_psk() {
            MODE_XX_PSK0
        } else {
            MODE_XX
        }
    }
}
