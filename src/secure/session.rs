//! One secure link: the Noise handshake, then sealed records, as a sans-IO state machine.
//!
//! This module owns the per-link state (waiting for the preamble, handshaking, established,
//! failed) and the wire format of the preamble, the handshake messages and the records. It
//! knows nothing of what the plaintext stream carries: frames, names in hellos and routing
//! belong to the layers above. It reads no clock (time is an argument) and draws no randomness
//! of its own (the caller's [`Csprng`] is forked per link). The call order is on [`Session`].

use std::sync::Arc;

use snow::{Builder, HandshakeState, TransportState};

use super::framing::{BadLength, Head, Reassembler, looks_like_plaintext_frame};
use super::keys::PublicKey;
use super::resolver::Resolver;
use super::{Csprng, SecureConfig, SecureError, Trust};

/// The initiator's first bytes: `0xFF 's' 'a'` then [`MODE_XX`] or [`MODE_XX_PSK0`].
pub const PREAMBLE_MAGIC: [u8; 3] = [0xFF, b's', b'a'];
/// Mode byte: `Noise_XX_25519_ChaChaPoly_BLAKE2s`.
pub const MODE_XX: u8 = 1;
/// Mode byte: `Noise_XXpsk0_25519_ChaChaPoly_BLAKE2s` (a mesh-wide PSK is configured).
pub const MODE_XX_PSK0: u8 = 2;
/// The largest handshake message accepted (the largest sent is 128 bytes).
pub const MAX_HANDSHAKE_MSG: usize = 256;
/// The largest record (a Noise transport message: ciphertext and tag).
pub const MAX_RECORD: usize = 65_535;
/// Bytes of the authentication tag at the end of every record.
pub const TAG_LEN: usize = 16;
/// The most stream bytes one record carries: the record, less the tag and the type byte.
pub const MAX_RECORD_DATA: usize = MAX_RECORD - TAG_LEN - 1;
/// Record type (last plaintext byte): stream bytes.
pub const RECORD_DATA: u8 = 0;
/// Record type: the sender re-keyed its sending key after this record; no data.
pub const RECORD_REKEY: u8 = 1;
/// The Noise prologue, followed by the 4 preamble bytes: binds the protocol and its version
/// (and the mode) into the handshake, so a downgrade or a cross-protocol replay fails.
pub const PROLOGUE: &[u8] = b"secretagent secure v1\0";

const PATTERN_XX: &str = "Noise_XX_25519_ChaChaPoly_BLAKE2s";
const PATTERN_XX_PSK0: &str = "Noise_XXpsk0_25519_ChaChaPoly_BLAKE2s";

/// What a call to [`Session::read`] achieved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// The handshake is still going.
    Handshaking,
    /// The handshake finished in this call.
    JustEstablished,
    /// The session was already established.
    Established,
}

/// The state of one secure link: waiting for the preamble, handshaking, established, or failed.
///
/// # Call order
/// 1. Make the session: [`Session::initiator`] on the dialling side (it appends the preamble
///    and the first handshake message to the outgoing bytes), [`Session::responder`] on the
///    accepting side.
/// 2. Feed every byte read from the socket to [`Session::read`], which appends handshake
///    replies to `to_peer` and decrypted stream bytes to `plain`. [`Progress::JustEstablished`]
///    says the handshake finished in this call: check the peer's key against the name it
///    claims ([`Session::remote_key`], [`Trust::check`](super::Trust::check)) when its hello
///    arrives.
/// 3. Once established, seal outgoing stream bytes with [`Session::write`], as many at a time
///    as are ready: they become as few records as the 65 535-byte limit allows.
/// 4. On EOF, [`Session::eof_reason`] tells whether the peer hung up during the handshake.
///
/// Any error leaves the session failed: every later call returns the same error, and the
/// caller closes the link.
pub struct Session {
    config: Arc<SecureConfig>,
    initiator: bool,
    state: State,
    /// A handshake message or record cut by a read boundary.
    inbox: Reassembler,
}

enum State {
    /// Responder: the initiator's preamble has not fully arrived.
    Preamble {
        head: Head,
        rng: Box<Csprng>,
    },
    Handshake(Box<Handshake>),
    Established(Box<Established>),
    Failed(SecureError),
}

struct Handshake {
    noise: HandshakeState,
    /// Handshake messages read so far.
    received: u8,
}

struct Established {
    noise: TransportState,
    remote: PublicKey,
    /// Records sealed since the sending key was last changed.
    sealed: u64,
    /// When the sending key was last changed (the handshake, or the last rekey).
    rekeyed_at: u64,
}

impl Session {
    /// The dialling side's session. Appends the preamble and the first handshake message to
    /// `to_peer`; `rng` is forked, so the link's randomness does not depend on other links'.
    pub fn initiator(
        config: &Arc<SecureConfig>,
        rng: &mut Csprng,
        to_peer: &mut Vec<u8>,
    ) -> Result<Session, SecureError> {
        let mode = config.mode();
        let mut noise = build(config, mode, rng.fork(), true)?;
        to_peer.extend_from_slice(&preamble(mode));
        write_handshake(&mut noise, &[], to_peer)?;
        Ok(Session {
            config: Arc::clone(config),
            initiator: true,
            state: State::Handshake(Box::new(Handshake { noise, received: 0 })),
            inbox: Reassembler::default(),
        })
    }

    /// The accepting side's session. It holds no Noise state, and does no key work, until a
    /// valid preamble has arrived.
    pub fn responder(config: &Arc<SecureConfig>, rng: &mut Csprng) -> Session {
        Session {
            config: Arc::clone(config),
            initiator: false,
            state: State::Preamble {
                head: Head::default(),
                rng: Box::new(rng.fork()),
            },
            inbox: Reassembler::default(),
        }
    }

    /// Feeds bytes read from the socket (all of `input` is consumed). Handshake replies are
    /// appended to `to_peer`, decrypted stream bytes to `plain`.
    ///
    /// On an error, `plain` keeps the bytes of the records that authenticated before it, and
    /// nothing of the record that failed.
    pub fn read(
        &mut self,
        input: &[u8],
        plain: &mut Vec<u8>,
        to_peer: &mut Vec<u8>,
        now: u64,
    ) -> Result<Progress, SecureError> {
        let was = self.is_established();
        match self.read_inner(input, plain, to_peer, now) {
            Ok(()) if self.is_established() && was => Ok(Progress::Established),
            Ok(()) if self.is_established() => Ok(Progress::JustEstablished),
            Ok(()) => Ok(Progress::Handshaking),
            Err(e) => Err(self.fail(e)),
        }
    }

    fn read_inner(
        &mut self,
        mut input: &[u8],
        plain: &mut Vec<u8>,
        to_peer: &mut Vec<u8>,
        now: u64,
    ) -> Result<(), SecureError> {
        loop {
            let remote = match &mut self.state {
                State::Preamble { head, .. } => match read_preamble(head, &mut input)? {
                    None => return Ok(()),
                    Some(mode) => {
                        self.start_responder(mode)?;
                        continue;
                    }
                },
                State::Handshake(hs) => {
                    let piece = match self.inbox.next(&mut input, 1, MAX_HANDSHAKE_MSG) {
                        Ok(Some(piece)) => piece,
                        Ok(None) => return Ok(()),
                        Err(BadLength::Long(len)) => {
                            return Err(SecureError::HandshakeTooLarge {
                                len,
                                max: MAX_HANDSHAKE_MSG,
                            });
                        }
                        Err(BadLength::Short(_)) => {
                            return Err(SecureError::Garbage {
                                detail: "an empty handshake message",
                            });
                        }
                    };
                    match handshake_step(&self.config, hs, piece.bytes(), to_peer)? {
                        None => continue,
                        Some(remote) => remote,
                    }
                }
                State::Established(est) => return read_records(est, &mut self.inbox, input, plain),
                State::Failed(e) => return Err(e.clone()),
            };
            self.establish(remote, now)?;
        }
    }

    /// Seals `plain` (stream bytes, any split of frames) into records appended to `to_peer`:
    /// as few records as the 65 535-byte limit allows, preceded by a rekey record when the
    /// schedule says so. `scratch` is the caller's reusable buffer (one per agent is enough).
    pub fn write(
        &mut self,
        plain: &[u8],
        to_peer: &mut Vec<u8>,
        scratch: &mut Vec<u8>,
        now: u64,
    ) -> Result<(), SecureError> {
        self.check_established()?;
        scratch.clear();
        scratch.extend_from_slice(plain);
        self.seal_records(scratch, to_peer, now)
    }

    /// As [`write`](Self::write), for stream bytes at the end of `buf`, from `from` on: they
    /// are replaced by their records. A link's frames can so wait in its outgoing buffer,
    /// behind what is sealed already, instead of in a buffer of their own.
    pub fn write_tail(
        &mut self,
        buf: &mut Vec<u8>,
        from: usize,
        scratch: &mut Vec<u8>,
        now: u64,
    ) -> Result<(), SecureError> {
        self.check_established()?;
        scratch.clear();
        scratch.extend_from_slice(buf.get(from..).unwrap_or_default());
        buf.truncate(from);
        self.seal_records(scratch, buf, now)
    }

    /// `Ok` if records can be sealed now.
    fn check_established(&self) -> Result<(), SecureError> {
        match &self.state {
            State::Established(_) => Ok(()),
            State::Failed(e) => Err(e.clone()),
            _ => Err(SecureError::NotEstablished),
        }
    }

    /// Seals all of `data` into records appended to `to_peer`. Each record's plaintext (its
    /// data, then its type byte) must be contiguous for the cipher: the type byte is written
    /// over the byte after the record's data, which is put back after sealing, so that `data`
    /// is not copied again.
    fn seal_records(
        &mut self,
        data: &mut Vec<u8>,
        to_peer: &mut Vec<u8>,
        now: u64,
    ) -> Result<(), SecureError> {
        let State::Established(est) = &mut self.state else {
            return Err(SecureError::NotEstablished);
        };
        let total = data.len();
        data.push(RECORD_DATA);
        let (mut at, mut result) = (0, Ok(()));
        while at < total && result.is_ok() {
            let end = (at + MAX_RECORD_DATA).min(total);
            let kept = std::mem::replace(&mut data[end], RECORD_DATA);
            result = est
                .rekey_if_due(&self.config, to_peer, now)
                .and_then(|()| est.seal(&data[at..=end], to_peer));
            data[end] = kept;
            at = end;
        }
        data.truncate(total);
        result.map_err(|e| self.fail(e))
    }

    /// Whether the handshake has finished (and the peer's key is trusted for some name).
    pub fn is_established(&self) -> bool {
        matches!(self.state, State::Established(_))
    }

    /// Whether this side dialled.
    pub fn is_initiator(&self) -> bool {
        self.initiator
    }

    /// The peer's X25519 static key, once established.
    pub fn remote_static(&self) -> Option<&[u8; 32]> {
        self.remote_key().map(PublicKey::x25519)
    }

    /// The peer's public key, once established: the key it proved it holds in the handshake,
    /// for [`Trust::check`](super::Trust::check) against the name it claims.
    pub fn remote_key(&self) -> Option<&PublicKey> {
        match &self.state {
            State::Established(est) => Some(&est.remote),
            _ => None,
        }
    }

    /// The error the session failed with, if it did.
    pub fn error(&self) -> Option<&SecureError> {
        match &self.state {
            State::Failed(e) => Some(e),
            _ => None,
        }
    }

    /// Bytes held for a handshake message or record that has not fully arrived.
    pub fn buffered(&self) -> usize {
        let head = match &self.state {
            State::Preamble { head, .. } => head.bytes().len(),
            _ => 0,
        };
        head + self.inbox.held()
    }

    /// Heap bytes held by the partial-message buffer (the rest of a session's heap is small
    /// and fixed).
    pub fn buffer_capacity(&self) -> usize {
        self.inbox.capacity()
    }

    /// What to report when the peer closed the connection: `Some` if the handshake had not
    /// finished (the peer refused us, or does not speak the secure protocol).
    pub fn eof_reason(&self) -> Option<SecureError> {
        match &self.state {
            State::Preamble { .. } | State::Handshake(_) => {
                Some(SecureError::ClosedDuringHandshake)
            }
            State::Established(_) | State::Failed(_) => None,
        }
    }

    /// Records `e` as the session's end and frees what it held.
    fn fail(&mut self, e: SecureError) -> SecureError {
        self.state = State::Failed(e.clone());
        self.inbox.release();
        e
    }

    /// The preamble named `mode`: checks it against the configuration, then builds the
    /// responder's Noise state.
    fn start_responder(&mut self, mode: u8) -> Result<(), SecureError> {
        match (mode, self.config.has_psk()) {
            (MODE_XX, false) | (MODE_XX_PSK0, true) => {}
            (MODE_XX, true) => return Err(SecureError::PskMissingOnPeer),
            (MODE_XX_PSK0, false) => return Err(SecureError::PskMissingHere),
            (mode, _) => return Err(SecureError::UnsupportedMode { mode }),
        }
        let placeholder = State::Failed(SecureError::Internal("interrupted".into()));
        let State::Preamble { rng, .. } = std::mem::replace(&mut self.state, placeholder) else {
            return Err(SecureError::Internal("no preamble state".into()));
        };
        let noise = build(&self.config, mode, *rng, false)?;
        self.state = State::Handshake(Box::new(Handshake { noise, received: 0 }));
        Ok(())
    }

    /// The handshake finished with a peer holding `remote`: switch to records.
    fn establish(&mut self, remote: PublicKey, now: u64) -> Result<(), SecureError> {
        let placeholder = State::Failed(SecureError::Internal("interrupted".into()));
        let State::Handshake(hs) = std::mem::replace(&mut self.state, placeholder) else {
            return Err(SecureError::Internal("no handshake state".into()));
        };
        let noise = hs.noise.into_transport_mode().map_err(internal)?;
        self.state = State::Established(Box::new(Established {
            noise,
            remote,
            sealed: 0,
            rekeyed_at: now,
        }));
        Ok(())
    }
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = match &self.state {
            State::Preamble { .. } => "preamble".to_owned(),
            State::Handshake(_) => "handshake".to_owned(),
            State::Established(est) => format!("established with {}", est.remote),
            State::Failed(e) => format!("failed: {e}"),
        };
        f.debug_struct("Session")
            .field("initiator", &self.initiator)
            .field("state", &state)
            .finish()
    }
}

impl Established {
    /// Seals one record onto `to_peer`: `plain` is its data followed by its type byte. (The
    /// type goes last, so that a receiver decrypting in place into its stream buffer drops it
    /// by truncating instead of moving the data.)
    fn seal(&mut self, plain: &[u8], to_peer: &mut Vec<u8>) -> Result<(), SecureError> {
        let len = plain.len() + TAG_LEN;
        let prefix = u16::try_from(len).map_err(|_| internal("record too long"))?;
        let at = to_peer.len();
        to_peer.extend_from_slice(&prefix.to_be_bytes());
        to_peer.resize(at + 2 + len, 0);
        match self.noise.write_message(plain, &mut to_peer[at + 2..]) {
            Ok(n) if n == len => {
                self.sealed = self.sealed.saturating_add(1);
                Ok(())
            }
            other => {
                to_peer.truncate(at);
                Err(internal(format!("sealing a record gave {other:?}")))
            }
        }
    }

    /// Sends a rekey record and changes the sending key, if the time or record count since the
    /// last change has reached the configured limit.
    fn rekey_if_due(
        &mut self,
        config: &SecureConfig,
        to_peer: &mut Vec<u8>,
        now: u64,
    ) -> Result<(), SecureError> {
        let (after_ms, after_records) = config.rekey_after();
        let due = now.saturating_sub(self.rekeyed_at) >= after_ms || self.sealed >= after_records;
        if due {
            self.seal(&[RECORD_REKEY], to_peer)?;
            self.noise.rekey_outgoing();
            self.sealed = 0;
            self.rekeyed_at = now;
        }
        Ok(())
    }

    /// Opens one record, appending its stream bytes to `plain`.
    fn open(&mut self, record: &[u8], plain: &mut Vec<u8>) -> Result<(), SecureError> {
        let start = plain.len();
        // The inbox guarantees a record holds at least a tag and a type byte.
        plain.resize(start + record.len() - TAG_LEN, 0);
        let n = match self.noise.read_message(record, &mut plain[start..]) {
            Ok(n) if n >= 1 => n,
            _ => {
                plain.truncate(start);
                return Err(SecureError::Tampered);
            }
        };
        let kind = plain[start + n - 1];
        plain.truncate(start + n - 1);
        match kind {
            RECORD_DATA => Ok(()),
            RECORD_REKEY if n == 1 => {
                self.noise.rekey_incoming();
                Ok(())
            }
            RECORD_REKEY => {
                plain.truncate(start);
                Err(SecureError::Garbage {
                    detail: "a rekey record carries data",
                })
            }
            kind => {
                plain.truncate(start);
                Err(SecureError::UnknownRecordType { kind })
            }
        }
    }
}

/// Opens every complete record in `input`.
fn read_records(
    est: &mut Established,
    inbox: &mut Reassembler,
    mut input: &[u8],
    plain: &mut Vec<u8>,
) -> Result<(), SecureError> {
    loop {
        match inbox.next(&mut input, TAG_LEN + 1, MAX_RECORD) {
            Ok(Some(record)) => est.open(record.bytes(), plain)?,
            Ok(None) => return Ok(()),
            Err(BadLength::Short(len) | BadLength::Long(len)) => {
                return Err(SecureError::BadRecordLength { len });
            }
        }
    }
}

/// The 4 preamble bytes for `mode`.
fn preamble(mode: u8) -> [u8; 4] {
    [
        PREAMBLE_MAGIC[0],
        PREAMBLE_MAGIC[1],
        PREAMBLE_MAGIC[2],
        mode,
    ]
}

/// Classifies a connection's first bytes: the preamble's mode byte once it has arrived, or why
/// the bytes are not a secure handshake.
fn read_preamble(head: &mut Head, input: &mut &[u8]) -> Result<Option<u8>, SecureError> {
    if !head.fill(input, 1) {
        return Ok(None);
    }
    match head.bytes()[0] {
        0xFF => {
            if !head.fill(input, 4) {
                return Ok(None);
            }
            let b = head.bytes();
            if b[..3] != PREAMBLE_MAGIC {
                return Err(SecureError::Garbage {
                    detail: "the first bytes are not the secure preamble",
                });
            }
            Ok(Some(b[3]))
        }
        0 => {
            if !head.fill(input, 5) {
                return Ok(None);
            }
            if looks_like_plaintext_frame(head.bytes()) {
                Err(SecureError::PlaintextPeer)
            } else {
                Err(SecureError::Garbage {
                    detail: "the first bytes are not the secure preamble",
                })
            }
        }
        _ => Err(SecureError::Garbage {
            detail: "the first bytes are not the secure preamble",
        }),
    }
}

/// A Noise handshake state for `mode`, drawing its ephemeral key from `rng`.
fn build(
    config: &Arc<SecureConfig>,
    mode: u8,
    rng: Csprng,
    initiator: bool,
) -> Result<HandshakeState, SecureError> {
    let pattern = if mode == MODE_XX_PSK0 {
        PATTERN_XX_PSK0
    } else {
        PATTERN_XX
    };
    let mut prologue = [0u8; PROLOGUE.len() + 4];
    prologue[..PROLOGUE.len()].copy_from_slice(PROLOGUE);
    prologue[PROLOGUE.len()..].copy_from_slice(&preamble(mode));
    let resolver = Box::new(Resolver::new(rng, Arc::clone(config)));
    let mut builder = Builder::with_resolver(pattern.parse().map_err(internal)?, resolver)
        .local_private_key(config.identity().x25519_secret())
        .and_then(|b| b.prologue(&prologue))
        .map_err(internal)?;
    if let Some(psk) = config.psk() {
        builder = builder.psk(0, psk.bytes()).map_err(internal)?;
    }
    let built = if initiator {
        builder.build_initiator()
    } else {
        builder.build_responder()
    };
    built.map_err(internal)
}

/// Reads one handshake message and appends the reply, if any. Returns the peer's key once the
/// handshake is complete.
fn handshake_step(
    config: &SecureConfig,
    hs: &mut Handshake,
    msg: &[u8],
    to_peer: &mut Vec<u8>,
) -> Result<Option<PublicKey>, SecureError> {
    let first = hs.received == 0;
    hs.received = hs.received.saturating_add(1);
    let mut payload = [0u8; MAX_HANDSHAKE_MSG];
    let n = hs
        .noise
        .read_message(msg, &mut payload)
        .map_err(|e| match e {
            // Only the responder's first message can fail on the PSK alone; with psk0 it is the
            // first thing the PSK protects, and no Diffie-Hellman has been computed yet.
            snow::Error::Decrypt if first && !hs.noise.is_initiator() => SecureError::BadPsk,
            snow::Error::Decrypt => SecureError::HandshakeTampered,
            _ => SecureError::Garbage {
                detail: "a malformed handshake message",
            },
        })?;
    let payload = &payload[..n];
    let own = config.identity().public().to_bytes();
    if hs.noise.is_initiator() {
        // Message 2 (e, ee, s, es): the responder has shown its key; ours goes out only if we
        // trust it.
        let remote = remote_key(config.trust(), hs.noise.get_remote_static(), payload)?;
        write_handshake(&mut hs.noise, &own, to_peer)?;
        Ok(Some(remote))
    } else if first {
        // Message 1 (e, or psk and e): nothing to check but its form.
        if !payload.is_empty() {
            return Err(SecureError::Garbage {
                detail: "the first handshake message carries a payload",
            });
        }
        write_handshake(&mut hs.noise, &own, to_peer)?;
        Ok(None)
    } else {
        // Message 3 (s, se).
        remote_key(config.trust(), hs.noise.get_remote_static(), payload).map(Some)
    }
}

/// The peer's public key from its handshake payload, which must be the ed25519 key whose
/// X25519 form is the static key the handshake authenticated, and trusted for some name.
fn remote_key(
    trust: &Trust,
    remote_static: Option<&[u8]>,
    payload: &[u8],
) -> Result<PublicKey, SecureError> {
    let x: [u8; 32] = remote_static
        .and_then(|s| s.try_into().ok())
        .ok_or_else(|| internal("no remote static key after the handshake"))?;
    let claimed: [u8; 32] = payload.try_into().map_err(|_| SecureError::Garbage {
        detail: "the handshake payload is not a 32-byte public key",
    })?;
    // Fast path: the trust list already holds this key, decompressed.
    if let Some(known) = trust.key_for(&x) {
        if known.to_bytes() == claimed {
            return Ok(*known);
        }
    }
    let key = PublicKey::from_bytes(&claimed).map_err(|_| SecureError::Garbage {
        detail: "the handshake payload is not a public key",
    })?;
    if *key.x25519() != x {
        return Err(SecureError::Garbage {
            detail: "the public key in the handshake is not the one that made it",
        });
    }
    if !trust.is_known(&x) {
        return Err(SecureError::UnknownKey {
            key: key.to_string(),
        });
    }
    Ok(key)
}

/// Writes the next handshake message, carrying `payload`, length-prefixed onto `to_peer`.
fn write_handshake(
    noise: &mut HandshakeState,
    payload: &[u8],
    to_peer: &mut Vec<u8>,
) -> Result<(), SecureError> {
    let mut msg = [0u8; MAX_HANDSHAKE_MSG];
    let n = noise.write_message(payload, &mut msg).map_err(internal)?;
    let prefix = u16::try_from(n).map_err(internal)?;
    to_peer.extend_from_slice(&prefix.to_be_bytes());
    to_peer.extend_from_slice(&msg[..n]);
    Ok(())
}

fn internal(e: impl std::fmt::Display) -> SecureError {
    SecureError::Internal(e.to_string())
}
