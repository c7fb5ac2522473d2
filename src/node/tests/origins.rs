//! Origins on secure links: signed descriptions taken and passed on as they came, forged ones
//! dropped and counted; tags on what goes through relays, forged messages and confirmations
//! dropped and counted; sealed bodies that round-trip and that a relay cannot read.
//!
//! The agent under test is "Me", linked over v2 to A (link 0) and B (link 1); C is behind A,
//! D is known to the trust file only, and Mallory is a member who forges. Links here carry
//! plaintext frames (the script writes them), so what is checked is the origins layer alone.

use serde_json::value::RawValue;

use super::*;
use crate::secure::{
    Csprng, Identity, MessageFields, NONCE_LEN, PairKey, SecureConfig, Trust, signed_description,
};

/// Every agent of the mesh and the seed of its key.
const AGENTS: [(&str, u8); 6] = [
    ("Me", 1),
    ("A", 2),
    ("B", 3),
    ("C", 4),
    ("D", 5),
    ("Mallory", 9),
];

fn id(name: &str) -> Identity {
    let seed = AGENTS.iter().find(|(n, _)| *n == name).expect("an agent").1;
    Identity::from_seed([seed; 32])
}

fn b64(bytes: &[u8]) -> String {
    crate::secure::encode(bytes)
}

fn pair(own: &str, peer: &str) -> PairKey {
    PairKey::derive(&id(own), id(peer).public()).unwrap()
}

/// "Me", on secure links, trusting every agent; sealing its bodies when `seal`. Every other
/// agent may bring up a link to it, over a session of its own keys.
fn secure(seal: bool) -> Script {
    let mut trust = Trust::new();
    for (name, _) in AGENTS {
        trust.insert(name, *id(name).public());
    }
    let config = SecureConfig::new(id("Me"), trust.clone()).with_sealed_bodies(seal);
    let t0 = Instant::now();
    let node = Node::new_secure(
        "Me",
        Options::default(),
        7,
        t0,
        config,
        Csprng::from_seed([7; 32]),
    )
    .unwrap();
    let mut s = Script::over(node, t0);
    for (name, _) in AGENTS {
        s.ends
            .add_peer(name, SecureConfig::new(id(name), trust.clone()));
    }
    s
}

/// A description of `origin` (incarnation 1, version `seq`) listing `n`, signed by `signer`
/// naming `key` as the key that signed; unsigned when `signer` is `None`.
fn lsa(origin: &str, seq: u64, n: &[&str], signer: Option<(&str, &str)>) -> String {
    lsa_lists(origin, (1, seq), [n, &[], &[]], signer)
}

/// A description of `origin` at `(inc, seq)` with the lists `n`, `p` and `x`, signed as
/// [`lsa`] signs.
fn lsa_lists(
    origin: &str,
    (inc, seq): (u64, u64),
    [n, p, x]: [&[&str]; 3],
    signer: Option<(&str, &str)>,
) -> String {
    let [ln, lp, lx] = [n, p, x].map(|l| serde_json::to_string(l).unwrap());
    // As this crate writes one: "p" only when it lists something.
    let lp = if p.is_empty() {
        String::new()
    } else {
        format!(r#","p":{lp}"#)
    };
    let plain = format!(r#"{{"c":"lsa","o":"{origin}","i":{inc},"s":{seq},"n":{ln}{lp},"x":{lx}"#);
    let Some((signer, key)) = signer else {
        return format!("{plain}}}");
    };
    let mut bytes = Vec::new();
    let [mut ns, mut ps, mut xs] = [n, p, x].map(|l| l.iter().copied());
    signed_description(&mut bytes, origin, inc, seq, [&mut ns, &mut ps, &mut xs]);
    let (key, sig) = (id(key).public().to_bytes(), id(signer).sign(&bytes));
    format!(r#"{plain},"k":"{}","g":"{}"}}"#, b64(&key), b64(&sig))
}

/// A description signed by its own origin.
fn genuine(origin: &str, seq: u64, n: &[&str]) -> String {
    lsa(origin, seq, n, Some((origin, origin)))
}

/// Me linked to A (link 0) and B (link 1), C behind A, everyone's description held and
/// routes computed; what was written so far taken away.
fn mesh(seal: bool) -> Script {
    let mut s = secure(seal);
    accept_v2(&mut s, 0, "A");
    accept_v2(&mut s, 1, "B");
    s.recv(0, &genuine("A", 1, &["Me", "C"]));
    s.recv(0, &genuine("C", 1, &["A"]));
    s.recv(1, &genuine("B", 1, &["Me"]));
    s.advance(1000);
    assert_eq!(
        s.node.route("C").map(|r| (r.link, r.hops)),
        Some((LinkId(0), Some(2)))
    );
    s.sent(0);
    s.sent(1);
    s.events();
    assert_eq!(s.node.stats().forged_descriptions, 0);
    s
}

/// Whether `frame` is a description whose signature verifies under `origin`'s key.
fn verifies(frame: &str, origin: &str) -> bool {
    let Ok(crate::wire::Wire::Lsa(l)) = crate::wire::parse(frame.as_bytes(), 100) else {
        return false;
    };
    let Some(signed) = l.signed else {
        return false;
    };
    let mut bytes = Vec::new();
    let names =
        |v: &[std::borrow::Cow<'_, str>]| v.iter().map(|n| n.to_string()).collect::<Vec<_>>();
    let (n, p, x) = (names(&l.neighbors), names(&l.v1_peers), names(&l.externals));
    let (mut n, mut p, mut x) = (
        n.iter().map(String::as_str),
        p.iter().map(String::as_str),
        x.iter().map(String::as_str),
    );
    signed_description(
        &mut bytes,
        &l.origin,
        l.inc,
        l.seq,
        [&mut n, &mut p, &mut x],
    );
    let key = crate::secure::decode_exact::<32>(&signed.key).unwrap();
    let sig = crate::secure::decode_exact::<64>(&signed.sig).unwrap();
    key == id(origin).public().to_bytes() && id(origin).public().verify(&bytes, &sig)
}

#[test]
fn own_descriptions_are_signed_every_version() {
    let mut s = secure(false);
    accept_v2(&mut s, 0, "A");
    s.advance(100);
    s.recv(0, &genuine("A", 1, &["Me"]));
    accept_v2(&mut s, 1, "B");
    s.advance(100);
    let own: Vec<String> = s
        .sent(0)
        .into_iter()
        .filter(|f| f.contains(r#""o":"Me""#))
        .collect();
    assert!(own.len() >= 2, "{own:?}");
    for frame in &own {
        assert!(verifies(frame, "Me"), "{frame}");
    }
}

#[test]
fn a_signed_description_is_taken_and_passed_on_as_it_came() {
    let mut s = mesh(false);
    let frame = genuine("C", 2, &["A", "D"]);
    s.recv(0, &frame);
    assert_eq!(
        s.sent(1),
        std::slice::from_ref(&frame),
        "passed on byte for byte"
    );
    assert_eq!(s.node.lsdb().get("C").map(|v| v.seq), Some(2));
    assert_eq!(s.node.stats().descriptions_applied, 4);
    // In another key order it goes through the general parser, and is written again with
    // its signature, which still verifies: formatting is not signed.
    let reordered =
        genuine("C", 3, &["A"]).replacen(r#""c":"lsa","o":"C","#, r#""o":"C","c":"lsa","#, 1);
    s.recv(0, &reordered);
    let out = s.sent(1);
    assert_eq!(out.len(), 1);
    assert_ne!(out[0], reordered);
    assert!(verifies(&out[0], "C"), "{}", out[0]);
    // The database exchange of a new link sends it with its signature too.
    hello_v2(&mut s, 2, "D");
    s.recv(2, r#"{"c":"sum","d":[],"e":true}"#);
    let sent = s.sent(2);
    let c = sent.iter().find(|f| f.contains(r#""o":"C""#));
    assert!(c.is_some_and(|f| verifies(f, "C")), "{sent:?}");
    assert_eq!(s.node.stats().forged_descriptions, 0);
}

#[test]
fn forged_descriptions_are_dropped_counted_and_not_passed_on() {
    let mut s = mesh(false);
    let top = crate::wire::MAX_NUMBER;
    let flipped = {
        let good = genuine("C", 5, &["A"]);
        let at = good.find(r#""g":""#).unwrap() + 6;
        let mut bytes = good.into_bytes();
        bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
        String::from_utf8(bytes).unwrap()
    };
    let cases = [
        ("unsigned", lsa("C", 5, &["A", "Mallory"], None)),
        ("a bad signature", flipped),
        (
            "another agent's key",
            lsa("C", 5, &["Mallory"], Some(("Mallory", "Mallory"))),
        ),
        (
            "another agent's signature under the origin's key",
            lsa("C", 5, &["Mallory"], Some(("Mallory", "C"))),
        ),
        (
            "a valid one replayed under another origin",
            genuine("D", 5, &["A"]).replace(r#""o":"D""#, r#""o":"C""#),
        ),
        (
            "a valid one with other lists",
            genuine("C", 5, &["A"]).replace(r#""n":["A"]"#, r#""n":["A","Mallory"]"#),
        ),
        (
            "a valid one at another version",
            genuine("C", 5, &["A"]).replace(r#""s":5"#, &format!(r#""s":{top}"#)),
        ),
        (
            "a key and signature that are not base64",
            lsa("C", 5, &["A"], None).replace("}", r#","k":"not a key","g":"nor this"}"#),
        ),
        (
            "this agent at the top of the number space",
            lsa("Me", top, &[], Some(("Mallory", "Mallory")))
                .replace(r#""i":1"#, &format!(r#""i":{top}"#)),
        ),
        (
            "a name nobody trusts",
            genuine("C", 5, &["A"]).replace(r#""o":"C""#, r#""o":"Eve""#),
        ),
    ];
    for (k, (what, frame)) in cases.iter().enumerate() {
        s.recv(0, frame);
        assert_eq!(s.node.stats().forged_descriptions, k as u64 + 1, "{what}");
        assert_eq!(s.sent(1), Vec::<String>::new(), "{what}: not passed on");
        assert!(s.actions().is_empty(), "{what}: the link stays");
    }
    assert_eq!(
        s.node.lsdb().get("C").map(|v| v.seq),
        Some(1),
        "nothing stored"
    );
    assert!(s.node.lsdb().get("Eve").is_none());
    assert_eq!(s.node.stats().own_overtaken, 0);
    assert!(!s.node.stats().outranked);
    s.advance(1000);
    assert_eq!(s.node.route("C").map(|r| r.hops), Some(Some(2)));
    assert!(s.node.route("Mallory").is_none());
}

#[test]
fn copies_of_what_is_held_are_not_checked() {
    let mut s = mesh(false);
    // Flooding brings each version once per link: a copy at the version held is neither
    // checked nor counted, whatever it carries, and goes nowhere.
    s.recv(1, &lsa("C", 1, &["A"], None));
    s.recv(
        1,
        &lsa("C", 1, &["A", "Mallory"], Some(("Mallory", "Mallory"))),
    );
    assert_eq!(s.node.stats().forged_descriptions, 0);
    assert_eq!(s.sent(0), Vec::<String>::new());
    // Nor is an older one.
    s.recv(1, &lsa("A", 0, &[], None));
    assert_eq!(s.node.stats().forged_descriptions, 0);
}

/// Me's incarnation.
const ME_INC: u64 = 7;

/// A numbered message from `from` to `to`, with `tag` (base64) when given, and then for Me's
/// run.
fn msg(from: &str, to: &str, seq: u64, body: &str, tag: Option<&str>) -> String {
    let tag = tag.map_or(String::new(), |t| format!(r#","d":{ME_INC},"g":"{t}""#));
    format!(r#"{{"c":"msg","f":"{from}","t":"{to}","m":{body},"h":2,"i":1,"s":{seq},"b":1{tag}}}"#)
}

/// The tag `key` gives a numbered message of `from`'s incarnation 1, for Me's run.
fn tag(key: &PairKey, from: &str, to: &str, seq: u64, body: &str) -> String {
    tag_for_run(key, from, to, seq, body, ME_INC, false)
}

/// The tag `key` gives a numbered message of `from`'s incarnation 1 (base 1) for run `to_inc`
/// of `to`, whose body is sealed or not.
fn tag_for_run(
    key: &PairKey,
    from: &str,
    to: &str,
    seq: u64,
    body: &str,
    to_inc: u64,
    sealed: bool,
) -> String {
    b64(&key.tag_message(&MessageFields {
        from,
        to,
        inc: 1,
        seq,
        base: 1,
        to_inc,
        sealed,
        body,
    }))
}

fn handed_over(s: &mut Script) -> Vec<(String, String)> {
    s.events()
        .into_iter()
        .filter_map(|e| match e {
            Event::Message { from, body, .. } => Some((from.to_string(), body.get().to_owned())),
            _ => None,
        })
        .collect()
}

#[test]
fn a_relayed_message_needs_its_origins_tag_and_a_direct_one_does_not() {
    let mut s = mesh(false);
    let good = tag(&pair("C", "Me"), "C", "Me", 1, r#"{"n":1}"#);
    s.recv(0, &msg("C", "Me", 1, r#"{"n":1}"#, Some(&good)));
    assert_eq!(handed_over(&mut s), [("C".into(), r#"{"n":1}"#.into())]);
    // Its confirmation goes back through A with C's tag.
    let ack = s.sent(0);
    assert_eq!(ack.len(), 1, "{ack:?}");
    let Ok(crate::wire::Wire::Ack(a)) = crate::wire::parse(ack[0].as_bytes(), 10) else {
        panic!("{ack:?}")
    };
    let t = crate::secure::decode_exact::<16>(a.tag.as_deref().unwrap()).unwrap();
    assert!(pair("C", "Me").verify_confirmation("Me", "C", 1, 1, &t));

    let relay_made = tag(&pair("A", "Me"), "C", "Me", 2, r#"{"n":2}"#);
    let mut flipped = tag(&pair("C", "Me"), "C", "Me", 2, r#"{"n":2}"#).into_bytes();
    flipped[0] = if flipped[0] == b'A' { b'B' } else { b'A' };
    let flipped = String::from_utf8(flipped).unwrap();
    let other_body = tag(&pair("C", "Me"), "C", "Me", 2, r#"{"n":3}"#);
    let forged = [
        ("no tag", msg("C", "Me", 2, r#"{"n":2}"#, None)),
        (
            "a flipped tag",
            msg("C", "Me", 2, r#"{"n":2}"#, Some(&flipped)),
        ),
        (
            "the relay's own key",
            msg("C", "Me", 2, r#"{"n":2}"#, Some(&relay_made)),
        ),
        (
            "another body",
            msg("C", "Me", 2, r#"{"n":2}"#, Some(&other_body)),
        ),
        ("not base64", msg("C", "Me", 2, r#"{"n":2}"#, Some("tag"))),
        (
            "unnumbered",
            r#"{"c":"msg","f":"C","t":"Me","m":{"n":2},"h":2}"#.to_owned(),
        ),
    ];
    for (k, (what, frame)) in forged.iter().enumerate() {
        s.recv(0, frame);
        assert_eq!(s.node.stats().forged_messages, k as u64 + 1, "{what}");
        assert_eq!(handed_over(&mut s), [], "{what}");
    }
    assert_eq!(s.sent(0), Vec::<String>::new(), "nothing confirmed");
    // The stream was not touched: the genuine second message is next.
    let good = tag(&pair("C", "Me"), "C", "Me", 2, r#"{"n":2}"#);
    s.recv(0, &msg("C", "Me", 2, r#"{"n":2}"#, Some(&good)));
    assert_eq!(handed_over(&mut s), [("C".into(), r#"{"n":2}"#.into())]);
    // Straight from its origin over the direct link: no tag needed, numbered or not.
    s.recv(0, &msg("A", "Me", 1, r#""hi""#, None));
    s.recv(0, r#"{"c":"msg","f":"A","t":"Me","m":"best effort","h":1}"#);
    assert_eq!(
        handed_over(&mut s),
        [
            ("A".into(), r#""hi""#.into()),
            ("A".into(), r#""best effort""#.into())
        ]
    );
    assert_eq!(s.node.stats().forged_messages, 6);
}

#[test]
fn a_relay_passes_on_only_what_is_numbered_and_tagged_and_checks_no_tag() {
    let mut s = mesh(false);
    let any = "AAAAAAAAAAAAAAAAAAAAAA==";
    // Relays do no cryptography per message: a wrong tag goes on, for B to judge.
    let tagged = msg("C", "B", 1, "1", Some(any));
    s.recv(0, &tagged);
    assert_eq!(s.sent(1), [tagged.replace(r#""h":2"#, r#""h":3"#)]);
    let ack = format!(r#"{{"c":"ack","f":"C","t":"B","i":1,"s":1,"h":2,"g":"{any}"}}"#);
    s.recv(0, &ack);
    assert_eq!(s.sent(1), [ack.replace(r#""h":2"#, r#""h":3"#)]);
    // What carries no tag cannot be authenticated anywhere: dropped here.
    s.recv(0, &msg("C", "B", 2, "1", None));
    s.recv(0, r#"{"c":"msg","f":"C","t":"B","m":1,"h":2}"#);
    s.recv(0, r#"{"c":"ack","f":"C","t":"B","i":1,"s":1,"h":2}"#);
    // Even from the origin itself: its first hop is not its destination.
    s.recv(0, &msg("A", "B", 1, "1", None));
    assert_eq!(s.sent(1), Vec::<String>::new());
    let stats = s.node.stats();
    assert_eq!((stats.forged_messages, stats.forged_confirmations), (3, 1));
    assert_eq!(stats.relayed, 1);
}

#[test]
fn own_messages_are_tagged_through_relays_and_only_a_genuine_confirmation_counts() {
    let mut s = mesh(false);
    let now = s.now();
    let body = RawValue::from_string(r#"{"q":1}"#.into()).unwrap();
    let to_c = s.node.send_message("C", &body, now).unwrap();
    let to_a = s.node.send_message("A", &body, now).unwrap();
    let out = s.sent(0);
    assert_eq!(out.len(), 2, "{out:?}");
    let parse = |f: &str| match crate::wire::parse(f.as_bytes(), 10) {
        Ok(crate::wire::Wire::Msg(m)) => (m.tag.map(|t| t.to_string()), m.seq, m.to_inc),
        other => panic!("{other:?}"),
    };
    let (tag_c, seq_c, to_inc) = parse(&out[0]);
    assert_eq!(to_inc, Some(1), "C's run, from its description");
    let seq_c = seq_c.unwrap();
    let t = crate::secure::decode_exact::<16>(&tag_c.expect("tagged through A")).unwrap();
    let fields = MessageFields {
        from: "Me",
        to: "C",
        inc: seq_c.inc,
        seq: seq_c.seq,
        base: seq_c.base,
        to_inc: 1,
        sealed: false,
        body: r#"{"q":1}"#,
    };
    assert!(pair("C", "Me").verify_message(&fields, &t));
    assert_eq!(parse(&out[1]).0, None, "no tag straight to A");
    assert_eq!(parse(&out[1]).2, None, "nor a run");

    let ack = |from: &str, seq: u64, tag: Option<String>| {
        let tag = tag.map_or(String::new(), |t| format!(r#","g":"{t}""#));
        format!(r#"{{"c":"ack","f":"{from}","t":"Me","i":7,"s":{seq},"h":2{tag}}}"#)
    };
    let delivered = |s: &mut Script| -> Vec<MessageId> {
        s.events()
            .into_iter()
            .filter_map(|e| match e {
                Event::Delivered { id, .. } => Some(id),
                _ => None,
            })
            .collect()
    };
    // A confirmation of C's by A (the relay), untagged or with A's own key: forged.
    s.recv(0, &ack("C", seq_c.seq, None));
    let by_relay = pair("A", "Me").tag_confirmation("C", "Me", 7, seq_c.seq);
    s.recv(0, &ack("C", seq_c.seq, Some(b64(&by_relay))));
    assert_eq!(delivered(&mut s), []);
    assert_eq!(s.node.stats().forged_confirmations, 2);
    assert_eq!(s.node.queued_for("C"), 1);
    let genuine = pair("C", "Me").tag_confirmation("C", "Me", 7, seq_c.seq);
    s.recv(0, &ack("C", seq_c.seq, Some(b64(&genuine))));
    assert_eq!(delivered(&mut s), [to_c]);
    // A confirms its own straight over its link: no tag needed.
    let seq_a = parse(&out[1]).1.unwrap().seq;
    s.recv(0, &ack("A", seq_a, None));
    assert_eq!(delivered(&mut s), [to_a]);
    assert_eq!(s.node.stats().forged_confirmations, 2);
}

#[test]
fn sealed_bodies_round_trip_and_a_relay_cannot_read_them() {
    let mut s = mesh(true);
    let now = s.now();
    let secret = r#"{"subject":"Meeting","content":"KGB meeting in Moscow"}"#;
    let body = RawValue::from_string(secret.into()).unwrap();
    s.node.send_message("C", &body, now).unwrap();
    let out = s.sent(0);
    assert!(!out[0].contains("Moscow"), "{}", out[0]);
    let Ok(crate::wire::Wire::Msg(m)) = crate::wire::parse(out[0].as_bytes(), 10) else {
        panic!("{out:?}")
    };
    assert!(m.sealed && m.tag.is_some());
    let seq = m.seq.unwrap();
    // C, and only C, opens it.
    let text = m.body.get().trim_matches('"');
    let mut sealed = Vec::new();
    crate::secure::decode_into(text, &mut sealed).unwrap();
    let mut by_a = sealed.clone();
    assert!(!pair("A", "Me").open("Me", "C", seq.inc, seq.seq, &mut by_a));
    assert!(pair("C", "Me").open("Me", "C", seq.inc, seq.seq, &mut sealed));
    assert_eq!(sealed, secret.as_bytes());

    // The other way: C's sealed message through A is handed over as C wrote it.
    let seal = |seq: u64, flip: bool| {
        let mut sealed = Vec::new();
        pair("C", "Me").seal(
            &[seq as u8; NONCE_LEN],
            "C",
            "Me",
            1,
            seq,
            secret.as_bytes(),
            &mut sealed,
        );
        if flip {
            sealed[NONCE_LEN] ^= 1;
        }
        let body = format!(r#""{}""#, b64(&sealed));
        let t = tag_for_run(&pair("C", "Me"), "C", "Me", seq, &body, ME_INC, true);
        format!(
            r#"{{"c":"msg","f":"C","t":"Me","m":{body},"h":2,"i":1,"s":{seq},"b":1,"d":{ME_INC},"e":true,"g":"{t}"}}"#
        )
    };
    s.recv(0, &seal(1, true));
    assert_eq!(handed_over(&mut s), []);
    assert_eq!(s.node.stats().forged_messages, 1, "does not open");
    s.recv(0, &seal(1, false));
    assert_eq!(handed_over(&mut s), [("C".into(), secret.into())]);
    // As a relay (C to B through Me), it passes on what it cannot read, as it came.
    let through = seal(2, false).replace(r#""t":"Me""#, r#""t":"B""#);
    s.recv(0, &through);
    let passed = s.sent(1);
    assert_eq!(passed, [through.replace(r#""h":2"#, r#""h":3"#)]);
    assert!(!passed[0].contains("Moscow"));
}

#[test]
fn a_sealed_body_too_large_once_sealed_is_refused_when_sent() {
    let mut s = mesh(true);
    let opts = s.node.options().clone();
    let max = opts.max_frame_len as usize;
    // Fits as plain text, not as base64 of its ciphertext.
    let text = format!(r#""{}""#, "x".repeat(max - 1024));
    let body = RawValue::from_string(text).unwrap();
    let now = s.now();
    assert!(matches!(
        s.node.send_message("C", &body, now),
        Err(SendError::TooLarge { .. })
    ));
}

/// Whether "Me" keeps a pair key with `name`.
fn keeps_pair_with(s: &Script, name: &str) -> bool {
    let sec = s.node.security.as_ref().expect("a secure node");
    sec.origins.pair_keys().any(|n| n == name)
}

#[test]
fn a_description_listing_v1_peers_or_names_behind_them_is_forged_however_it_is_signed() {
    let mut s = mesh(true);
    // No agent of a secure mesh has a v1 peer: a member's genuinely signed claim of one, or
    // of a name behind one, would draw traffic for that name on a route that is not
    // confirmed, where nothing is numbered, tagged or sealed.
    let cases = [
        (
            "a name behind a v1 peer, of a new member",
            lsa_lists(
                "Mallory",
                (1, 1),
                [&["A"], &[], &["Victor"]],
                Some(("Mallory", "Mallory")),
            ),
        ),
        (
            "a v1 peer, of a known agent",
            lsa_lists("C", (1, 2), [&["A"], &["Victor"], &[]], Some(("C", "C"))),
        ),
        (
            "both, naming a trusted agent",
            lsa_lists("C", (1, 3), [&["A"], &["Old"], &["D"]], Some(("C", "C"))),
        ),
    ];
    for (k, (what, frame)) in cases.iter().enumerate() {
        s.recv(0, frame);
        assert_eq!(s.node.stats().forged_descriptions, k as u64 + 1, "{what}");
        assert_eq!(s.sent(1), Vec::<String>::new(), "{what}: not passed on");
        assert!(s.actions().is_empty(), "{what}: the link stays");
    }
    assert!(s.node.lsdb().get("Mallory").is_none());
    assert_eq!(s.node.lsdb().get("C").map(|v| v.seq), Some(1));
    s.advance(1000);
    for name in ["Victor", "Old", "D", "Mallory"] {
        assert_eq!(s.node.route(name), None, "{name}");
    }
    // A message for the claimed name waits, as for any name nobody reaches.
    let now = s.now();
    let body = RawValue::from_string(r#""for Victor only""#.into()).unwrap();
    s.node.send_message("Victor", &body, now).unwrap();
    assert_eq!(s.sent(0), Vec::<String>::new());
    assert_eq!(s.node.queued_for("Victor"), 1);
}

#[test]
fn a_hello_offering_only_version_1_on_a_secure_link_is_refused() {
    let mut s = mesh(false);
    s.up(2, LinkOrigin::Accepted);
    s.handshake(2, "D");
    s.recv(2, r#"{"c":"hi!","mynameis":"D","iknow":["Victor"]}"#);
    let actions = s.actions();
    assert!(
        actions
            .iter()
            .any(|a| matches!(a, Action::Close { link, .. } if *link == LinkId(2))),
        "{actions:?}"
    );
    let events = s.events();
    let reason = events.iter().find_map(|e| match e {
        Event::LinkDown { reason, .. } => Some(reason.to_string()),
        _ => None,
    });
    assert!(
        reason
            .as_deref()
            .is_some_and(|r| r.contains("\"D\" offers only protocol version 1")),
        "{events:?}"
    );
    assert!(!events.iter().any(|e| matches!(e, Event::LinkUp { .. })));
    assert_eq!(s.node.stats().secure_refused, 1);
    s.advance(1000);
    assert_eq!(s.node.route("Victor"), None);
    assert!(s.node.lsdb().own().v1_peers().next().is_none());
}

#[test]
fn own_messages_never_go_unnumbered_untagged_or_unsealed_through_others() {
    let mut s = mesh(true);
    let now = s.now();
    let body = RawValue::from_string(r#""for D only""#.into()).unwrap();
    // Routes that no input makes on a secure node (the two tests above), made by hand: a name
    // announced over A as over a v1 link, and a name described without a signature.
    s.node.routing.add_via("Victor", LinkId(0)).unwrap();
    let t = s.node.clock.now();
    s.node
        .lsdb
        .receive_at("A", 1, 5, ["Me", "C", "D"], [], [], t)
        .unwrap();
    s.node.lsdb.receive_at("D", 1, 1, ["A"], [], [], t).unwrap();
    s.node.paths.direct_changed();
    s.advance(1000);
    let victor = s.node.route("Victor").expect("the hand-made route");
    let d = s.node.route("D").expect("the hand-made route");
    assert!(!victor.confirmed && d.confirmed && d.hops == Some(2));
    s.events();
    for to in ["Victor", "D"] {
        s.node.send_message(to, &body, now).unwrap();
        assert_eq!(s.sent(0), Vec::<String>::new(), "nothing for {to} leaves");
        assert_eq!(s.node.queued_for(to), 1, "it waits");
    }
    assert!(!keeps_pair_with(&s, "D"));
    // Without queueing, such a name is unreachable.
    s.node.opts.queue_messages = false;
    assert!(matches!(
        s.node.send_message("Victor", &body, now),
        Err(SendError::Unreachable { .. })
    ));
}

/// The trust list of [`secure`] without `name`, or with `name` under another agent's key.
fn trust_without(name: &str, rotated_to: Option<&str>) -> Trust {
    let mut trust = Trust::new();
    for (n, _) in AGENTS.iter().filter(|(n, _)| *n != name) {
        trust.insert(n, *id(n).public());
    }
    if let Some(other) = rotated_to {
        trust.insert(name, *id(other).public());
    }
    trust
}

#[test]
fn a_reload_forgets_what_a_revoked_key_signed_and_its_tags_are_forgeries() {
    let mut s = mesh(false);
    // C (behind A) talks with Me: a pair key is made.
    let good = tag(&pair("C", "Me"), "C", "Me", 1, "1");
    s.recv(0, &msg("C", "Me", 1, "1", Some(&good)));
    assert_eq!(handed_over(&mut s), [("C".into(), "1".into())]);
    assert!(keeps_pair_with(&s, "C"));
    s.sent(0);
    let now = s.now();
    assert_eq!(s.node.set_trust(trust_without("C", None), now).unwrap(), 0);
    assert!(s.node.lsdb().get("C").is_none(), "forgotten at once");
    assert!(!keeps_pair_with(&s, "C"));
    s.advance(1000);
    assert_eq!(s.node.route("C"), None);
    assert!(s.events().contains(&lose("C")));
    // C's genuine tags, through A (which has not reloaded): forgeries now, not unjudgeable.
    let good = tag(&pair("C", "Me"), "C", "Me", 2, "2");
    s.recv(0, &msg("C", "Me", 2, "2", Some(&good)));
    let ack = pair("C", "Me").tag_confirmation("C", "Me", ME_INC, 1);
    s.recv(
        0,
        &format!(
            r#"{{"c":"ack","f":"C","t":"Me","i":{ME_INC},"s":1,"h":2,"g":"{}"}}"#,
            b64(&ack)
        ),
    );
    assert_eq!(handed_over(&mut s), []);
    let stats = s.node.stats();
    assert_eq!(
        (
            stats.forged_messages,
            stats.forged_confirmations,
            stats.rejected
        ),
        (1, 1, 0)
    );
    // What A floods of C from now on is refused too.
    s.recv(0, &genuine("C", 2, &["A"]));
    assert_eq!(s.node.stats().forged_descriptions, 1);
    assert!(s.node.lsdb().get("C").is_none());
    // The others are untouched.
    assert_eq!(s.node.route("B").map(|r| r.hops), Some(Some(1)));
    assert!(s.node.lsdb().get("A").is_some());
}

#[test]
fn a_rotation_forgets_the_old_keys_descriptions_and_waits_for_the_new_ones() {
    let mut s = mesh(false);
    // C's line now holds another key (D's, standing in for C's new one): what C's old key
    // signed goes, and C's messages cannot be judged until its new description comes.
    let now = s.now();
    s.node
        .set_trust(trust_without("C", Some("D")), now)
        .unwrap();
    assert!(s.node.lsdb().get("C").is_none());
    let good = tag(&pair("C", "Me"), "C", "Me", 1, "1");
    s.recv(0, &msg("C", "Me", 1, "1", Some(&good)));
    assert_eq!(handed_over(&mut s), []);
    let stats = s.node.stats();
    assert_eq!((stats.forged_messages, stats.rejected), (0, 1));
    // C's description under its new key is taken, and its tags with it.
    s.recv(0, &lsa("C", 2, &["A"], Some(("D", "D"))));
    assert_eq!(s.node.lsdb().get("C").map(|v| v.seq), Some(2));
    s.advance(1000);
    let new = tag(&pair("D", "Me"), "C", "Me", 1, "1");
    s.recv(0, &msg("C", "Me", 1, "1", Some(&new)));
    assert_eq!(handed_over(&mut s), [("C".into(), "1".into())]);
}

#[test]
fn a_tagged_message_for_another_run_of_its_destination_is_dropped_as_stale() {
    let mut s = mesh(false);
    let tagged_for = |run: u64, seq: u64, body: &str| {
        let t = tag_for_run(&pair("C", "Me"), "C", "Me", seq, body, run, false);
        msg("C", "Me", seq, body, Some(&t))
            .replace(&format!(r#""d":{ME_INC}"#), &format!(r#""d":{run}"#))
    };
    // Kept by a relay from an earlier run of Me (incarnation 6), and replayed: genuine, but
    // not for this run. Nothing is handed over or confirmed, and the stream is untouched.
    s.recv(0, &tagged_for(ME_INC - 1, 1, "1"));
    s.recv(0, &tagged_for(ME_INC + 1, 1, "1"));
    assert_eq!(handed_over(&mut s), []);
    assert_eq!(s.sent(0), Vec::<String>::new(), "nothing confirmed");
    let stats = s.node.stats();
    assert_eq!((stats.forged_messages, stats.rejected), (0, 2));
    // The run is covered by the tag: another value under the same tag is a forgery, and so
    // is a tag without a run.
    let moved = tagged_for(ME_INC - 1, 1, "1").replace(
        &format!(r#""d":{}"#, ME_INC - 1),
        &format!(r#""d":{ME_INC}"#),
    );
    s.recv(0, &moved);
    let bare = tagged_for(ME_INC, 1, "1").replace(&format!(r#","d":{ME_INC}"#), "");
    s.recv(0, &bare);
    assert_eq!(handed_over(&mut s), []);
    assert_eq!(s.node.stats().forged_messages, 2);
    // For this run, it is handed over.
    s.recv(0, &tagged_for(ME_INC, 1, "1"));
    assert_eq!(handed_over(&mut s), [("C".into(), "1".into())]);
}

#[test]
fn a_resend_names_the_run_of_its_destination_it_knows_then() {
    let mut s = mesh(false);
    let now = s.now();
    let body = RawValue::from_string("1".into()).unwrap();
    s.node.send_message("C", &body, now).unwrap();
    let run_of = |frames: Vec<String>| -> Vec<Option<u64>> {
        frames
            .iter()
            .map(|f| match crate::wire::parse(f.as_bytes(), 10) {
                Ok(crate::wire::Wire::Msg(m)) => m.to_inc,
                other => panic!("{other:?}"),
            })
            .collect()
    };
    assert_eq!(run_of(s.sent(0)), [Some(1)]);
    // C restarted, in incarnation 2; its confirmation never came. The resend is for that run.
    s.recv(
        0,
        &lsa_lists("C", (2, 1), [&["A"], &[], &[]], Some(("C", "C"))),
    );
    s.sent(1);
    let mut resent = Vec::new();
    for _ in 0..100 {
        s.advance(100);
        resent = s.sent(0);
        if !resent.is_empty() {
            break;
        }
    }
    assert_eq!(run_of(resent), [Some(2)]);
}
