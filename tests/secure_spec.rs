//! The README's wire format of secure links, implemented a second time from the primitives
//! (snow with its own default resolver, curve25519-dalek, ed25519-dalek, BLAKE2s,
//! XChaCha20-Poly1305) exactly as the README states it, and run against the crate: a
//! handshake in each role, records each way (a rekey included), the end-to-end pair key and
//! its tags, a sealed body, a description's signed bytes. The test vectors the README prints
//! are checked here, and must appear in the README as written.
#![cfg(feature = "secure")]

mod support;

use std::sync::Arc;

use support::codec::base64;

use blake2::digest::consts::{U16, U32};
use blake2::digest::{KeyInit, Mac};
use blake2::{Blake2s256, Blake2sMac, Digest};
use chacha20poly1305::aead::AeadInPlace;
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use curve25519_dalek::montgomery::MontgomeryPoint;
use ed25519_dalek::{Signer, SigningKey};
use secretagent::secure::{
    Csprng, Identity, MessageFields, PairKey, Progress, Psk, SecureConfig, Session, Trust,
    signed_description,
};

const README: &str = include_str!("../README.md");

/// Ames's and Rosenberg's ed25519 seeds in the README's vectors.
const AMES_SEED: [u8; 32] = [1; 32];
const ROSENBERG_SEED: [u8; 32] = [2; 32];
const PSK: [u8; 32] = [7; 32];

/// The Noise static key pair of the ed25519 seed `seed`, as the README derives it: the secret
/// is the first half of SHA-512(seed), the public key the Montgomery form of the ed25519 key.
fn static_keys(seed: [u8; 32]) -> ([u8; 32], [u8; 32]) {
    let signing = SigningKey::from_bytes(&seed);
    let secret = signing.to_scalar_bytes();
    let public = signing.verifying_key().to_montgomery().to_bytes();
    assert_eq!(
        public,
        MontgomeryPoint::mul_base_clamped(secret).to_bytes(),
        "the two halves agree"
    );
    (secret, public)
}

fn ed_public(seed: [u8; 32]) -> [u8; 32] {
    SigningKey::from_bytes(&seed).verifying_key().to_bytes()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The crate's configuration for an agent of `seed`, trusting Ames and Rosenberg.
fn crate_config(seed: [u8; 32], psk: bool) -> Arc<SecureConfig> {
    let mut trust = Trust::new();
    trust.insert("Ames", *Identity::from_seed(AMES_SEED).public());
    trust.insert("Rosenberg", *Identity::from_seed(ROSENBERG_SEED).public());
    let config = SecureConfig::new(Identity::from_seed(seed), trust);
    Arc::new(if psk {
        config.with_psk(Psk::from_bytes(PSK))
    } else {
        config
    })
}

/// The README's Noise state for one side: protocol name by mode, prologue
/// `"secretagent secure v1\0"` and the 4 preamble bytes, the static key from the seed, the
/// PSK at position 0 in mode 2.
fn noise(seed: [u8; 32], psk: bool, initiator: bool) -> snow::HandshakeState {
    let (name, mode) = if psk {
        ("Noise_XXpsk0_25519_ChaChaPoly_BLAKE2s", 2)
    } else {
        ("Noise_XX_25519_ChaChaPoly_BLAKE2s", 1)
    };
    let mut prologue = b"secretagent secure v1\0".to_vec();
    prologue.extend_from_slice(&[0xFF, b's', b'a', mode]);
    let (secret, _) = static_keys(seed);
    let mut builder = snow::Builder::new(name.parse().unwrap())
        .local_private_key(&secret)
        .unwrap()
        .prologue(&prologue)
        .unwrap();
    if psk {
        builder = builder.psk(0, &PSK).unwrap();
    }
    if initiator {
        builder.build_initiator().unwrap()
    } else {
        builder.build_responder().unwrap()
    }
}

/// A handshake message with its 2-byte big-endian length.
fn framed(msg: &[u8]) -> Vec<u8> {
    let mut out = (msg.len() as u16).to_be_bytes().to_vec();
    out.extend_from_slice(msg);
    out
}

/// Splits one 2-byte-length-prefixed message off the front of `bytes`.
fn unframe(bytes: &[u8]) -> (&[u8], &[u8]) {
    let len = usize::from(u16::from_be_bytes([bytes[0], bytes[1]]));
    (&bytes[2..2 + len], &bytes[2 + len..])
}

/// One record as the README states it: the data and a type byte, sealed, length-prefixed.
fn seal_record(t: &mut snow::TransportState, data: &[u8], kind: u8) -> Vec<u8> {
    let mut plain = data.to_vec();
    plain.push(kind);
    let mut out = vec![0u8; plain.len() + 16];
    let n = t.write_message(&plain, &mut out).unwrap();
    assert_eq!(n, plain.len() + 16);
    framed(&out)
}

/// Opens one record: its data, its type.
fn open_record(t: &mut snow::TransportState, record: &[u8]) -> (Vec<u8>, u8) {
    let mut out = vec![0u8; record.len()];
    let n = t.read_message(record, &mut out).unwrap();
    let kind = out[n - 1];
    out.truncate(n - 1);
    (out, kind)
}

/// A plaintext frame: 4-byte big-endian length and the JSON.
fn frame(json: &str) -> Vec<u8> {
    let mut out = (json.len() as u32).to_be_bytes().to_vec();
    out.extend_from_slice(json.as_bytes());
    out
}

#[test]
fn a_second_implementation_dials_the_crate() {
    for psk in [false, true] {
        let mut acceptor = Session::responder(
            &crate_config(ROSENBERG_SEED, psk),
            &mut Csprng::from_seed([5; 32]),
        );
        let mut ours = noise(AMES_SEED, psk, true);
        let mut buf = [0u8; 256];
        let mode = if psk { 2 } else { 1 };
        let mut first = vec![0xFF, b's', b'a', mode];
        let n = ours.write_message(&[], &mut buf).unwrap();
        assert_eq!(n, if psk { 48 } else { 32 }, "message 1");
        first.extend_from_slice(&framed(&buf[..n]));
        let (mut plain, mut reply) = (Vec::new(), Vec::new());
        let progress = acceptor.read(&first, &mut plain, &mut reply, 0).unwrap();
        assert_eq!(progress, Progress::Handshaking);
        let (msg2, rest) = unframe(&reply);
        assert!(rest.is_empty());
        assert_eq!(msg2.len(), 128, "message 2");
        let mut payload = [0u8; 256];
        let n = ours.read_message(msg2, &mut payload).unwrap();
        assert_eq!(
            &payload[..n],
            ed_public(ROSENBERG_SEED),
            "the acceptor's ed25519 key"
        );
        assert_eq!(
            ours.get_remote_static().unwrap(),
            static_keys(ROSENBERG_SEED).1,
            "its X25519 form is the static key"
        );
        let n = ours.write_message(&ed_public(AMES_SEED), &mut buf).unwrap();
        assert_eq!(n, 96, "message 3");
        let mut third = framed(&buf[..n]);
        let mut t = ours.into_transport_mode().unwrap();
        // The first record in the same write as message 3: the dialler's hello.
        let hello = frame(r#"{"c":"hi!","mynameis":"Ames","iknow":[],"v":2}"#);
        third.extend_from_slice(&seal_record(&mut t, &hello, 0));
        reply.clear();
        let progress = acceptor.read(&third, &mut plain, &mut reply, 0).unwrap();
        assert_eq!(progress, Progress::JustEstablished);
        assert!(reply.is_empty());
        assert_eq!(plain, hello);
        assert_eq!(
            acceptor.remote_key().unwrap().to_bytes(),
            ed_public(AMES_SEED)
        );
        // A rekey record (no data), then data under the next key; the nonce keeps counting.
        let mut wire = seal_record(&mut t, &[], 1);
        t.rekey_outgoing();
        let more = frame(r#"{"c":"ping"}"#);
        wire.extend_from_slice(&seal_record(&mut t, &more, 0));
        plain.clear();
        acceptor.read(&wire, &mut plain, &mut reply, 1).unwrap();
        assert_eq!(plain, more);
        // The crate's records open here: 2-byte length, ciphertext, type byte last.
        let answer = frame(r#"{"a":"hi!","mynameis":"Rosenberg","iknow":[],"v":2}"#);
        let (mut records, mut scratch) = (Vec::new(), Vec::new());
        acceptor
            .write(&answer, &mut records, &mut scratch, 2)
            .unwrap();
        let (record, rest) = unframe(&records);
        assert!(rest.is_empty());
        assert_eq!(record.len(), answer.len() + 1 + 16);
        assert_eq!(open_record(&mut t, record), (answer, 0));
    }
}

#[test]
fn the_crate_dials_a_second_implementation() {
    for psk in [false, true] {
        let config = crate_config(AMES_SEED, psk);
        let mut to_peer = Vec::new();
        let mut dialler =
            Session::initiator(&config, &mut Csprng::from_seed([6; 32]), &mut to_peer).unwrap();
        let mode = if psk { 2 } else { 1 };
        assert_eq!(to_peer[..4], [0xFF, b's', b'a', mode], "the preamble");
        let mut ours = noise(ROSENBERG_SEED, psk, false);
        let mut payload = [0u8; 256];
        let (msg1, rest) = unframe(&to_peer[4..]);
        assert!(rest.is_empty());
        assert_eq!(ours.read_message(msg1, &mut payload).unwrap(), 0, "empty");
        let mut buf = [0u8; 256];
        let n = ours
            .write_message(&ed_public(ROSENBERG_SEED), &mut buf)
            .unwrap();
        let (mut plain, mut reply) = (Vec::new(), Vec::new());
        let progress = dialler
            .read(&framed(&buf[..n]), &mut plain, &mut reply, 0)
            .unwrap();
        assert_eq!(progress, Progress::JustEstablished, "after message 2");
        let (msg3, rest) = unframe(&reply);
        assert!(rest.is_empty());
        let n = ours.read_message(msg3, &mut payload).unwrap();
        assert_eq!(&payload[..n], ed_public(AMES_SEED));
        let mut t = ours.into_transport_mode().unwrap();
        // The crate rekeys before a record once the interval has passed.
        let hello = frame(r#"{"c":"hi!","mynameis":"Ames","iknow":[],"v":2}"#);
        let (mut records, mut scratch) = (Vec::new(), Vec::new());
        dialler
            .write(&hello, &mut records, &mut scratch, 120_000)
            .unwrap();
        let (rekey, rest) = unframe(&records);
        assert_eq!(open_record(&mut t, rekey), (Vec::new(), 1));
        t.rekey_incoming();
        let (record, rest) = unframe(rest);
        assert!(rest.is_empty());
        assert_eq!(open_record(&mut t, record), (hello, 0));
    }
}

/// The README's pair key: BLAKE2s-256 of the label, the two X25519 public keys in byte order
/// and their Diffie-Hellman.
fn pair_key(own_seed: [u8; 32], peer_seed: [u8; 32]) -> [u8; 32] {
    let (secret, public) = static_keys(own_seed);
    let (_, peer) = static_keys(peer_seed);
    let shared = MontgomeryPoint(peer).mul_clamped(secret).to_bytes();
    let (lo, hi) = if public <= peer {
        (public, peer)
    } else {
        (peer, public)
    };
    Blake2s256::new()
        .chain_update(b"secretagent end-to-end key v1\0")
        .chain_update(lo)
        .chain_update(hi)
        .chain_update(shared)
        .finalize()
        .into()
}

/// The README's tag: keyed BLAKE2s with a 16-byte digest over the fields, each after its
/// length as 8 bytes big-endian.
fn tag(key: &[u8; 32], fields: &[&[u8]]) -> [u8; 16] {
    let mut mac = <Blake2sMac<U16> as KeyInit>::new(key.into());
    for f in fields {
        Mac::update(&mut mac, &(f.len() as u64).to_be_bytes());
        Mac::update(&mut mac, f);
    }
    mac.finalize().into_bytes().into()
}

const INC: u64 = 1_700_000_000_000;
/// Rosenberg's incarnation, as its description held by Ames states it.
const TO_INC: u64 = 1_700_000_000_001;
const BODY: &str = r#"{"subject":"Meeting"}"#;

#[test]
fn end_to_end_tags_and_sealed_bodies_follow_the_readme() {
    let key = pair_key(AMES_SEED, ROSENBERG_SEED);
    assert_eq!(key, pair_key(ROSENBERG_SEED, AMES_SEED), "both ends agree");
    let (ames, rosenberg) = (
        Identity::from_seed(AMES_SEED),
        Identity::from_seed(ROSENBERG_SEED),
    );
    let theirs = PairKey::derive(&ames, rosenberg.public()).unwrap();
    let (inc, one, to_inc) = (INC.to_be_bytes(), 1u64.to_be_bytes(), TO_INC.to_be_bytes());
    let msg_tag = tag(
        &key,
        &[
            b"msg",
            b"Ames",
            b"Rosenberg",
            &inc,
            &one,
            &one,
            &to_inc,
            BODY.as_bytes(),
        ],
    );
    let fields = MessageFields {
        from: "Ames",
        to: "Rosenberg",
        inc: INC,
        seq: 1,
        base: 1,
        to_inc: TO_INC,
        sealed: false,
        body: BODY,
    };
    assert_eq!(theirs.tag_message(&fields), msg_tag);
    let ack_tag = tag(&key, &[b"ack", b"Rosenberg", b"Ames", &inc, &one]);
    assert_eq!(
        theirs.tag_confirmation("Rosenberg", "Ames", INC, 1),
        ack_tag
    );
    // The sealed body: XChaCha20-Poly1305 under keyed BLAKE2s-256 of the label, with the
    // 16-byte tag of where it belongs as associated data.
    let mut kdf = <Blake2sMac<U32> as KeyInit>::new(&key.into());
    Mac::update(&mut kdf, b"secretagent sealed body key v1");
    let seal_key: [u8; 32] = kdf.finalize().into_bytes().into();
    let ad = tag(&key, &[b"sealed body", b"Ames", b"Rosenberg", &inc, &one]);
    let nonce = [9u8; 24];
    let mut sealed = BODY.as_bytes().to_vec();
    let aead_tag = XChaCha20Poly1305::new(&seal_key.into())
        .encrypt_in_place_detached(XNonce::from_slice(&nonce), &ad, &mut sealed)
        .unwrap();
    let mut ours = nonce.to_vec();
    ours.extend_from_slice(&sealed);
    ours.extend_from_slice(&aead_tag);
    let mut crates = Vec::new();
    theirs.seal(
        &nonce,
        "Ames",
        "Rosenberg",
        INC,
        1,
        BODY.as_bytes(),
        &mut crates,
    );
    assert_eq!(crates, ours);
    let m = format!("\"{}\"", base64(&ours));
    assert_eq!(m.len(), 86);
    let sealed_fields = MessageFields {
        sealed: true,
        body: &m,
        ..fields
    };
    let sealed_tag = tag(
        &key,
        &[
            b"msg sealed",
            b"Ames",
            b"Rosenberg",
            &inc,
            &one,
            &one,
            &to_inc,
            m.as_bytes(),
        ],
    );
    assert_eq!(theirs.tag_message(&sealed_fields), sealed_tag);
    let mut opened = ours.clone();
    let there = PairKey::derive(&rosenberg, ames.public()).unwrap();
    assert!(there.open("Ames", "Rosenberg", INC, 1, &mut opened));
    assert_eq!(opened, BODY.as_bytes());

    // The README's vectors.
    let vectors = [
        base64(&ed_public(AMES_SEED)),
        base64(&ed_public(ROSENBERG_SEED)),
        hex(&static_keys(AMES_SEED).1),
        hex(&static_keys(ROSENBERG_SEED).1),
        hex(&key),
        base64(&msg_tag),
        base64(&ack_tag),
        m.clone(),
        base64(&sealed_tag),
    ];
    for v in &vectors {
        assert!(README.contains(v.as_str()), "the README shows {v}");
    }
    // The worked frame: the destination's incarnation and the tag after the numbers.
    let example = format!(
        r#"{{"c":"msg","f":"Ames","t":"Rosenberg","m":{BODY},"h":1,"i":{INC},"s":1,"b":1,"d":{TO_INC},"g":"{}"}}"#,
        base64(&msg_tag)
    );
    assert!(README.contains(&example), "the README shows {example}");
    let sizes = format!(
        "frame of {} bytes, `{example}`, is {} stream bytes",
        example.len(),
        example.len() + 4
    );
    let text = README.replace('\n', " ");
    assert!(text.contains(&sizes), "the README says {sizes}");
}

#[test]
fn a_descriptions_signed_bytes_follow_the_readme() {
    let mut want = b"secretagent description v1\0".to_vec();
    want.extend_from_slice(&4u32.to_be_bytes());
    want.extend_from_slice(b"Ames");
    want.extend_from_slice(&INC.to_be_bytes());
    want.extend_from_slice(&3u64.to_be_bytes());
    // n: sorted by bytes, one of each.
    want.extend_from_slice(&2u32.to_be_bytes());
    for name in ["Rosenberg", "Wolf"] {
        want.extend_from_slice(&(name.len() as u32).to_be_bytes());
        want.extend_from_slice(name.as_bytes());
    }
    want.extend_from_slice(&0u32.to_be_bytes());
    want.extend_from_slice(&0u32.to_be_bytes());
    let mut got = Vec::new();
    let (mut n, mut p, mut x) = (
        ["Wolf", "Rosenberg", "Wolf"].into_iter(),
        [].into_iter(),
        [].into_iter(),
    );
    signed_description(&mut got, "Ames", INC, 3, [&mut n, &mut p, &mut x]);
    assert_eq!(got, want);
    assert_eq!(got.len(), 84);
    let mut labelled = b"secretagent signature v1\0".to_vec();
    labelled.extend_from_slice(&want);
    let ours = SigningKey::from_bytes(&AMES_SEED)
        .sign(&labelled)
        .to_bytes();
    let ames = Identity::from_seed(AMES_SEED);
    assert_eq!(ames.sign(&want), ours);
    assert!(ames.public().verify(&want, &ours));
    // The README shows them field by field.
    let shown = [
        "7365637265746167656e74206465736372697074696f6e20763100",
        "00000004 416d6573",
        "0000018bcfe56800",
        "0000000000000003",
        "00000002 00000009 526f73656e62657267 00000004 576f6c66",
        "00000000",
    ];
    let mut joined: String = shown.concat().replace(' ', "");
    joined.push_str("00000000");
    assert_eq!(joined, hex(&want));
    for piece in shown {
        assert!(README.contains(piece), "the README shows {piece}");
    }
    assert!(README.contains(&base64(&ours)), "and the signature");
}

#[test]
fn the_readmes_trust_file_parses() {
    let section = README
        .split("### The trust file")
        .nth(1)
        .expect("the section");
    let text: String = section
        .lines()
        .skip_while(|l| *l != "```text")
        .skip(1)
        .take_while(|l| *l != "```")
        .map(|l| format!("{l}\n"))
        .collect();
    let trust = Trust::parse(&text, "README").unwrap();
    assert_eq!(trust.len(), 4);
    assert_eq!(trust.keys_of("Rosenberg").count(), 2);
    assert_eq!(
        trust.keys_of("Ames").next(),
        Some(Identity::from_seed(AMES_SEED).public())
    );
    assert_eq!(trust.keys_of("Mata Hari").count(), 1);
}
