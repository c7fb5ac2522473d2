//! End-to-end authentication between an origin and a destination, which relays can pass on
//! but not make: the pairwise key, the exact fields its tags cover, sealed bodies, and the
//! bytes an agent signs of its own description.
//!
//! This module owns these byte formats, so that a second implementation can follow them; it
//! does not decide when they are written or checked (the core's `node/origins.rs` does), nor
//! how they are spelled in JSON (`wire`). Signatures of descriptions are [`Identity::sign`]
//! over [`signed_description`], checked against the trust file's keys for the origin's name.
//!
//! # Construction
//! `key = BLAKE2s-256(LABEL || lo || hi || X25519(own secret, peer public))`, where `LABEL` is
//! `"secretagent end-to-end key v1\0"` and `lo` and `hi` are the two X25519 public keys in
//! byte order, so both ends derive the same key without agreeing on roles (libsodium's
//! `crypto_kx` hashes the same inputs). The static-static DH is known only to the two ends; a
//! relay in between holds neither secret. An all-zero DH output (a small-order peer key) is
//! refused. The MAC is keyed BLAKE2s with a 16-byte output over the caller's fields, each
//! preceded by its length as an 8-byte big-endian number, so that no two field lists collide.
//!
//! # What the tags cover
//! Numbers are 8-byte big-endian, names and bodies their UTF-8 bytes, each field length-
//! prefixed as above:
//! - a numbered message ([`PairKey::tag_message`]): `"msg"` (or `"msg sealed"` when its body
//!   is sealed), origin, destination, incarnation, number, base, the destination's
//!   incarnation, and the body's JSON text as it travels (for a sealed body, the JSON string
//!   of its base64, quotes included) without the whitespace around it. The destination's
//!   incarnation binds the message to one run of the destination: a copy kept by a relay
//!   cannot be handed over again after the destination restarted;
//! - a confirmation ([`PairKey::tag_confirmation`]): `"ack"`, the agent that confirms, the
//!   origin it confirms to, the incarnation and the number.
//!
//! Never the hop count, which every relay changes.
//!
//! # Sealed bodies
//! The sealing key is keyed BLAKE2s-256 under the pair key of the label
//! `"secretagent sealed body key v1"`. A sealed body is `nonce || ciphertext || tag`:
//! XChaCha20-Poly1305 under that key with a random 24-byte nonce, of the body's JSON text,
//! with as associated data the 16-byte MAC (as above) of `"sealed body"`, origin,
//! destination, incarnation and number, so that a body cannot be moved to another message.
use blake2::digest::consts::{U16, U32};
use blake2::digest::{KeyInit, Mac};
use blake2::{Blake2s256, Blake2sMac, Digest};
use zeroize::Zeroizing;

use super::SecureError;
use super::cipher::{self, Nonce};
use super::keys::{Identity, PublicKey};

const LABEL: &[u8] = b"secretagent end-to-end key v1\0";

/// What the sealing key is derived under, from the pair key.
const SEAL_LABEL: &[u8] = b"secretagent sealed body key v1";

/// What the canonical bytes of a description start with.
const DESCRIPTION_LABEL: &[u8] = b"secretagent description v1\0";

/// Bytes a sealed body adds to the JSON text it seals: the nonce and the AEAD tag.
pub const SEAL_OVERHEAD: usize = NONCE_LEN + 16;

/// Bytes of a sealed body's nonce.
pub const NONCE_LEN: usize = 24;

/// The authentication tag of one message or confirmation.
pub type Tag = [u8; 16];

/// A key shared by exactly two agents, for tags that relays cannot forge, and the key it
/// seals bodies with. The keys are wiped when dropped; the MAC states kept ready for each kind
/// of tag are not, since blake2 offers no way to, as no MAC state it makes
/// on the stack is.
#[derive(Clone)]
pub struct PairKey {
    mac: Zeroizing<[u8; 32]>,
    seal: Zeroizing<[u8; 32]>,
    prefixed: Prefixed,
}

/// The keyed MAC after the key block and the first field of each kind of tag (its label):
/// a tag starts from a copy of one, so that the key block, a quarter of a message tag's
/// compressions, is compressed once per pair key rather than once per message.
#[derive(Clone)]
struct Prefixed {
    msg: Blake2sMac<U16>,
    msg_sealed: Blake2sMac<U16>,
    ack: Blake2sMac<U16>,
    sealed_body: Blake2sMac<U16>,
}

/// The label that begins a message's tag.
const TAG_MSG: &[u8] = b"msg";
/// The label that begins the tag of a message whose body is sealed.
const TAG_MSG_SEALED: &[u8] = b"msg sealed";
/// The label that begins a confirmation's tag.
const TAG_ACK: &[u8] = b"ack";
/// The label that begins a sealed body's associated data.
const TAG_SEALED_BODY: &[u8] = b"sealed body";

/// The fields of a numbered message that its end-to-end tag covers (see the module
/// documentation).
#[derive(Debug, Clone, Copy)]
pub struct MessageFields<'a> {
    /// The origin.
    pub from: &'a str,
    /// The destination.
    pub to: &'a str,
    /// The origin's incarnation.
    pub inc: u64,
    /// The message's number in its stream.
    pub seq: u64,
    /// The lowest number the origin has not seen confirmed.
    pub base: u64,
    /// The destination's incarnation the origin addressed (from the destination's
    /// description it held).
    pub to_inc: u64,
    /// Whether the body is sealed.
    pub sealed: bool,
    /// The body's JSON text as it travels (whitespace around it is not covered).
    pub body: &'a str,
}

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
        let mut seal = Zeroizing::new([0u8; 32]);
        let mut kdf = <Blake2sMac<U32> as KeyInit>::new(&(*key).into());
        Mac::update(&mut kdf, SEAL_LABEL);
        seal.copy_from_slice(&kdf.finalize().into_bytes());
        let keyed = <Blake2sMac<U16> as KeyInit>::new(&(*key).into());
        let prefixed = Prefixed {
            msg: absorb(keyed.clone(), &[TAG_MSG]),
            msg_sealed: absorb(keyed.clone(), &[TAG_MSG_SEALED]),
            ack: absorb(keyed.clone(), &[TAG_ACK]),
            sealed_body: absorb(keyed, &[TAG_SEALED_BODY]),
        };
        Some(PairKey {
            mac: key,
            seal,
            prefixed,
        })
    }

    /// The MAC of `fields`, from the state kept for their label when there is one.
    fn mac(&self, fields: &[&[u8]]) -> Blake2sMac<U16> {
        let p = &self.prefixed;
        let (start, rest) = match fields.split_first() {
            Some((&TAG_MSG, rest)) => (p.msg.clone(), rest),
            Some((&TAG_MSG_SEALED, rest)) => (p.msg_sealed.clone(), rest),
            Some((&TAG_ACK, rest)) => (p.ack.clone(), rest),
            Some((&TAG_SEALED_BODY, rest)) => (p.sealed_body.clone(), rest),
            _ => (
                <Blake2sMac<U16> as KeyInit>::new(&(*self.mac).into()),
                fields,
            ),
        };
        absorb(start, rest)
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

    /// The end-to-end tag of a numbered message.
    pub fn tag_message(&self, m: &MessageFields<'_>) -> Tag {
        message_fields(m, |fields| self.tag(fields))
    }

    /// Whether `tag` is the end-to-end tag of a numbered message.
    pub fn verify_message(&self, m: &MessageFields<'_>, tag: &Tag) -> bool {
        message_fields(m, |fields| self.verify(fields, tag))
    }

    /// The end-to-end tag of a confirmation: `from` confirms to `to` every message of
    /// incarnation `inc` numbered up to `seq`.
    pub fn tag_confirmation(&self, from: &str, to: &str, inc: u64, seq: u64) -> Tag {
        let (inc, seq) = (inc.to_be_bytes(), seq.to_be_bytes());
        self.tag(&[TAG_ACK, from.as_bytes(), to.as_bytes(), &inc, &seq])
    }

    /// Whether `tag` is the end-to-end tag of a confirmation.
    pub fn verify_confirmation(&self, from: &str, to: &str, inc: u64, seq: u64, tag: &Tag) -> bool {
        let (inc, seq) = (inc.to_be_bytes(), seq.to_be_bytes());
        self.verify(&[TAG_ACK, from.as_bytes(), to.as_bytes(), &inc, &seq], tag)
    }

    /// The associated data of a sealed body: the MAC of where it belongs.
    fn seal_ad(&self, from: &str, to: &str, inc: u64, seq: u64) -> Tag {
        let (inc, seq) = (inc.to_be_bytes(), seq.to_be_bytes());
        self.tag(&[TAG_SEALED_BODY, from.as_bytes(), to.as_bytes(), &inc, &seq])
    }

    /// Seals `body` (JSON text) of message `seq` of incarnation `inc` from `from` to `to`:
    /// appends `nonce || ciphertext || tag` to `out`, [`SEAL_OVERHEAD`] bytes more than the
    /// body. The nonce must never repeat under this key: draw it at random.
    #[allow(clippy::too_many_arguments)]
    pub fn seal(
        &self,
        nonce: &[u8; NONCE_LEN],
        from: &str,
        to: &str,
        inc: u64,
        seq: u64,
        body: &[u8],
        out: &mut Vec<u8>,
    ) {
        let ad = self.seal_ad(from, to, inc, seq);
        out.extend_from_slice(nonce);
        let start = out.len();
        out.extend_from_slice(body);
        let tag = cipher::seal(&self.seal, Nonce::Extended(*nonce), &ad, &mut out[start..]);
        out.extend_from_slice(&tag);
    }

    /// Opens a sealed body in place: `sealed` holds `nonce || ciphertext || tag` and, when it
    /// opens under this key for that place, is left holding the body. `false` (and `sealed`
    /// unspecified) when it does not.
    pub fn open(&self, from: &str, to: &str, inc: u64, seq: u64, sealed: &mut Vec<u8>) -> bool {
        if sealed.len() < SEAL_OVERHEAD {
            return false;
        }
        let ad = self.seal_ad(from, to, inc, seq);
        let tag_at = sealed.len() - 16;
        let mut tag = [0u8; 16];
        tag.copy_from_slice(&sealed[tag_at..]);
        let mut nonce = [0u8; NONCE_LEN];
        nonce.copy_from_slice(&sealed[..NONCE_LEN]);
        let body = &mut sealed[NONCE_LEN..tag_at];
        if !cipher::open(&self.seal, Nonce::Extended(nonce), &ad, body, &tag) {
            return false;
        }
        sealed.truncate(tag_at);
        sealed.drain(..NONCE_LEN);
        true
    }
}

/// `mac` after `fields`, each preceded by its length as an 8-byte big-endian number.
fn absorb(mut mac: Blake2sMac<U16>, fields: &[&[u8]]) -> Blake2sMac<U16> {
    for field in fields {
        Mac::update(&mut mac, &(field.len() as u64).to_be_bytes());
        Mac::update(&mut mac, field);
    }
    mac
}

/// Calls `f` with the fields a message's tag covers.
fn message_fields<T>(m: &MessageFields<'_>, f: impl FnOnce(&[&[u8]]) -> T) -> T {
    let label: &[u8] = if m.sealed { TAG_MSG_SEALED } else { TAG_MSG };
    let (inc, seq, base, to_inc) = (
        m.inc.to_be_bytes(),
        m.seq.to_be_bytes(),
        m.base.to_be_bytes(),
        m.to_inc.to_be_bytes(),
    );
    let body = m.body.trim_matches([' ', '\t', '\n', '\r']);
    f(&[
        label,
        m.from.as_bytes(),
        m.to.as_bytes(),
        &inc,
        &seq,
        &base,
        &to_inc,
        body.as_bytes(),
    ])
}

/// Appends the bytes an agent signs of a description of `origin` at version `(inc, seq)`
/// with these lists of v2 peers, v1 peers and names behind those: the label, then every field
/// in order, numbers as 8-byte big-endian, names as a 4-byte big-endian length and their
/// UTF-8 bytes, each list as a 4-byte big-endian count and its names sorted by their bytes
/// without repeats. The same description gives the same bytes however its JSON was spelled.
pub fn signed_description(
    out: &mut Vec<u8>,
    origin: &str,
    inc: u64,
    seq: u64,
    lists: [&mut dyn Iterator<Item = &str>; 3],
) {
    let put = |out: &mut Vec<u8>, name: &str| {
        // Names are at most 255 bytes on the wire; a longer one still has one spelling here.
        out.extend_from_slice(&u32::try_from(name.len()).unwrap_or(u32::MAX).to_be_bytes());
        out.extend_from_slice(name.as_bytes());
    };
    out.extend_from_slice(DESCRIPTION_LABEL);
    put(out, origin);
    out.extend_from_slice(&inc.to_be_bytes());
    out.extend_from_slice(&seq.to_be_bytes());
    let mut names: Vec<&str> = Vec::new();
    for list in lists {
        names.clear();
        names.extend(list);
        names.sort_unstable();
        names.dedup();
        out.extend_from_slice(&u32::try_from(names.len()).unwrap_or(u32::MAX).to_be_bytes());
        for name in &names {
            put(out, name);
        }
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

    /// The tag as the module documentation defines it, computed from the key alone.
    fn from_scratch(key: &PairKey, fields: &[&[u8]]) -> Tag {
        let keyed = <Blake2sMac<U16> as KeyInit>::new(&(*key.mac).into());
        absorb(keyed, fields).finalize().into_bytes().into()
    }

    #[test]
    fn tags_started_from_a_kept_state_are_the_tags_from_the_key() {
        let (key, ..) = pair();
        let long = [b'b'; 200];
        for label in [
            TAG_MSG,
            TAG_MSG_SEALED,
            TAG_ACK,
            TAG_SEALED_BODY,
            b"other",
            b"",
        ] {
            for rest in [&[][..], &[&b"Ames"[..], &long[..]][..]] {
                let fields: Vec<&[u8]> =
                    std::iter::once(label).chain(rest.iter().copied()).collect();
                let tag = key.tag(&fields);
                assert_eq!(tag, from_scratch(&key, &fields), "label {label:?}");
                assert!(key.verify(&fields, &tag));
            }
        }
        let fields = MessageFields {
            from: "Ames",
            to: "Rosenberg",
            inc: 1,
            seq: 2,
            base: 1,
            to_inc: 3,
            sealed: false,
            body: "{}",
        };
        let (inc, seq, base) = (1u64.to_be_bytes(), 2u64.to_be_bytes(), 1u64.to_be_bytes());
        let to_inc = 3u64.to_be_bytes();
        let whole: [&[u8]; 8] = [
            b"msg",
            b"Ames",
            b"Rosenberg",
            &inc,
            &seq,
            &base,
            &to_inc,
            b"{}",
        ];
        assert_eq!(key.tag_message(&fields), from_scratch(&key, &whole));
        let ack: [&[u8]; 5] = [b"ack", b"Rosenberg", b"Ames", &inc, &seq];
        assert_eq!(
            key.tag_confirmation("Rosenberg", "Ames", 1, 2),
            from_scratch(&key, &ack)
        );
    }

    #[test]
    fn tags_bind_every_field_and_its_boundaries() {
        let (key, ..) = pair();
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

    fn pair() -> (PairKey, PairKey, PairKey) {
        let (ames, rosenberg, relay) = (
            Identity::from_seed([1; 32]),
            Identity::from_seed([2; 32]),
            Identity::from_seed([3; 32]),
        );
        (
            PairKey::derive(&ames, rosenberg.public()).unwrap(),
            PairKey::derive(&rosenberg, ames.public()).unwrap(),
            PairKey::derive(&relay, rosenberg.public()).unwrap(),
        )
    }

    const MSG: MessageFields<'static> = MessageFields {
        from: "Ames",
        to: "Rosenberg",
        inc: 7,
        seq: 3,
        base: 2,
        to_inc: 11,
        sealed: false,
        body: r#"{"a":1}"#,
    };

    #[test]
    fn message_tags_cover_every_field_but_the_whitespace_around_the_body() {
        let (here, there, relay) = pair();
        let tag = here.tag_message(&MSG);
        assert!(there.verify_message(&MSG, &tag));
        assert!(!relay.verify_message(&MSG, &tag));
        let spaced = MessageFields {
            body: " {\"a\":1}\n",
            ..MSG
        };
        assert!(
            there.verify_message(&spaced, &tag),
            "whitespace around is not covered"
        );
        for changed in [
            MessageFields {
                from: "Wolf",
                ..MSG
            },
            MessageFields { to: "Wolf", ..MSG },
            MessageFields { inc: 8, ..MSG },
            MessageFields { seq: 4, ..MSG },
            MessageFields { base: 1, ..MSG },
            MessageFields { to_inc: 12, ..MSG },
            MessageFields {
                sealed: true,
                ..MSG
            },
            MessageFields {
                body: r#"{"a":2}"#,
                ..MSG
            },
            MessageFields {
                body: r#"{"a": 1}"#,
                ..MSG
            },
        ] {
            assert!(!there.verify_message(&changed, &tag), "{changed:?}");
        }
        // A confirmation's tag is not a message's, even over the same names and numbers.
        let ack = here.tag_confirmation("Ames", "Rosenberg", 7, 3);
        assert!(there.verify_confirmation("Ames", "Rosenberg", 7, 3, &ack));
        assert!(!there.verify_confirmation("Rosenberg", "Ames", 7, 3, &ack));
        assert!(!there.verify_confirmation("Ames", "Rosenberg", 7, 4, &ack));
        assert!(!there.verify_confirmation("Ames", "Rosenberg", 8, 3, &ack));
        assert!(!relay.verify_confirmation("Ames", "Rosenberg", 7, 3, &ack));
        assert_ne!(ack, tag);
    }

    #[test]
    fn sealed_bodies_open_only_for_the_other_end_and_their_place() {
        let (here, there, relay) = pair();
        let body = br#"{"secret":"KGB meeting in Moscow"}"#;
        let mut sealed = Vec::new();
        here.seal(
            &[9; NONCE_LEN],
            "Ames",
            "Rosenberg",
            7,
            3,
            body,
            &mut sealed,
        );
        assert_eq!(sealed.len(), body.len() + SEAL_OVERHEAD);
        assert!(
            !sealed.windows(6).any(|w| w == b"Moscow"),
            "unreadable on the way"
        );
        let mut opened = sealed.clone();
        assert!(there.open("Ames", "Rosenberg", 7, 3, &mut opened));
        assert_eq!(opened, body);
        let mut by_relay = sealed.clone();
        assert!(!relay.open("Ames", "Rosenberg", 7, 3, &mut by_relay));
        for (from, to, inc, seq) in [
            ("Wolf", "Rosenberg", 7, 3),
            ("Ames", "Wolf", 7, 3),
            ("Ames", "Rosenberg", 8, 3),
            ("Ames", "Rosenberg", 7, 4),
        ] {
            let mut moved = sealed.clone();
            assert!(
                !there.open(from, to, inc, seq, &mut moved),
                "{from} {to} {inc} {seq}"
            );
        }
        for at in [0, NONCE_LEN, sealed.len() - 1] {
            let mut flipped = sealed.clone();
            flipped[at] ^= 1;
            assert!(
                !there.open("Ames", "Rosenberg", 7, 3, &mut flipped),
                "byte {at}"
            );
        }
        assert!(!there.open("Ames", "Rosenberg", 7, 3, &mut vec![0; SEAL_OVERHEAD - 1]));
    }

    fn description(lists: [&[&str]; 3]) -> Vec<u8> {
        let mut out = Vec::new();
        let [n, p, x] = lists.map(|l| l.iter().copied());
        let (mut n, mut p, mut x) = (n, p, x);
        signed_description(&mut out, "Ames", 7, 3, [&mut n, &mut p, &mut x]);
        out
    }

    #[test]
    fn a_description_has_one_spelling_to_sign() {
        let base = description([&["B", "A"], &["Old"], &[]]);
        assert_eq!(base, description([&["A", "B", "A"], &["Old"], &[]]));
        let mut want = b"secretagent description v1\0".to_vec();
        want.extend_from_slice(&[0, 0, 0, 4]);
        want.extend_from_slice(b"Ames");
        want.extend_from_slice(&7u64.to_be_bytes());
        want.extend_from_slice(&3u64.to_be_bytes());
        want.extend_from_slice(&[0, 0, 0, 2, 0, 0, 0, 1, b'A', 0, 0, 0, 1, b'B']);
        want.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 3, b'O', b'l', b'd']);
        want.extend_from_slice(&[0, 0, 0, 0]);
        assert_eq!(base, want);
        for other in [
            description([&["A", "B"], &[], &["Old"]]),
            description([&["A"], &["B", "Old"], &[]]),
            description([&["AB"], &["Old"], &[]]),
            description([&["A", "B"], &["Ol", "d"], &[]]),
        ] {
            assert_ne!(other, base);
        }
    }
}
