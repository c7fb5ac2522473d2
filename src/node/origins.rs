//! Origins on secure links: a member of the mesh that relays cannot speak for another agent.
//! Descriptions are signed by their origin, and numbered messages and confirmations that go
//! through relays carry an end-to-end tag only their two ends can make. The byte formats are
//! `secure::origin`'s, their JSON fields `wire`'s (`lsa.rs`, `msg.rs`, `ack.rs`); this module
//! says when they are written and checked. On a plain node every check here passes and
//! nothing is written.
//!
//! # Descriptions
//! An agent signs every version of its own description it makes (each change, each refresh,
//! each re-announcement above a description of itself it did not make), with its identity,
//! and sends the signature and its public key with the description (`"g"`, `"k"`). A
//! description that arrives is checked only when it would be taken: newer than the one held
//! of its origin (or none is held), or a description of this agent that it did not make
//! (`Lsdb::would_take`). Copies of what is held already, which flooding brings once per link,
//! cost nothing. It is the origin's when `"k"` is a key the trust file allows for the
//! origin's name and `"g"` is that key's signature of the description's canonical bytes.
//! Otherwise it is forged: dropped, counted ([`Stats::forged_descriptions`]), neither stored
//! nor passed on; the link stays up (the sender may hold an older trust file). A description
//! taken is kept with its signature and key, and passed on (as it came, or written again with
//! them) in floods and database exchanges. The key it names is the origin's current key.
//!
//! A description that would be taken and lists v1 peers or names behind them (`"p"`, `"x"`)
//! is forged too, whoever signed it. No agent of a secure mesh has a v1 peer (a secure link
//! carries only v2: `security.rs` closes one whose hello offers 1), so such lists are a
//! member's claim, and a route to a name taken from one is not confirmed: what goes on it is
//! neither numbered, tagged nor sealed, and would reach the member in clear. The whole
//! description is refused rather than taken without those lists, which keeps one rule: what
//! is held is exactly what its origin signed, and is passed on as it came (a description
//! stored without its lists could not be passed on with a signature that verifies).
//!
//! # Revocation
//! A new trust list (`Node::set_trust`) forgets every description held whose key it no longer
//! allows for its origin, with the pair keys made from such keys: the revoked agent is no
//! longer reached through others' descriptions, and its tags are not checked against a key
//! kept from before. A tag in the name of an agent the list allows no key at all is forged
//! (nobody may speak for that name); one whose name has a key but no description here yet
//! cannot be judged.
//!
//! # Messages and confirmations
//! - A numbered message or a confirmation that goes through relays carries the end-to-end
//!   tag of its origin (for a confirmation, of the agent that confirms) for its destination,
//!   under the key both derive from their own secret and the other's current key (see
//!   `secure::PairKey`). The origin leaves it out when the first hop is the destination
//!   itself. A message's tag covers, besides, the destination's incarnation as the
//!   destination's description held states it, written beside the tag (`"d"`) from the
//!   description held each time the message is written, resends included.
//! - This agent's own messages go only on a route where they are numbered, and tagged through
//!   relays (`Node::route_for_own`, `Node::can_tag_for`): with no such route they wait, or
//!   are unreachable, as for a name nobody reaches. Every route of a secure mesh is one, once the destination's
//!   description is held; the check keeps a route that is not from ever carrying a message
//!   in clear.
//! - A relay does no cryptography per message: it passes on a message for another agent only
//!   when it is numbered and tagged, and a confirmation only when it is tagged, as they came.
//!   Anything else is forged (an unnumbered message cannot be authenticated, and an honest
//!   agent on secure links sends none through relays: every route of a secure mesh is
//!   confirmed, since every agent speaks v2 and describes itself).
//! - At the destination, what comes straight from its origin over the direct link to it needs
//!   no tag: the link is authenticated (the Noise handshake proved the peer holds a key the
//!   trust file allows for the name its hello claimed), so whatever arrives on it under the
//!   peer's own name is the peer's. Skipping the tag there keeps one-hop traffic free of
//!   per-message cryptography. Anything else must be numbered (messages) and carry a valid
//!   tag; the tag is checked before anything else is done with it, so a forgery changes no
//!   stream and confirms nothing.
//! - A tag that does not verify, or is missing, makes the message or confirmation forged:
//!   dropped and counted ([`Stats::forged_messages`], [`Stats::forged_confirmations`]), never
//!   passed on or handed over. One whose origin's key is not known here (its description has
//!   not arrived) cannot be judged: it is refused as [`Stats::rejected`], and the origin
//!   resends.
//! - A message whose tag verifies but names another run of this agent than its current one
//!   (`"d"`) was meant for an earlier run: a restart raced it, or a relay that kept it replays
//!   it. It is dropped before it touches any stream and counted as [`Stats::rejected`], not
//!   as forged; its origin, if it is still waiting for it, resends it for this run once this
//!   agent's new description reaches it. Without this, a destination that restarted would
//!   start the stream afresh at the message's base and hand a replay over again.
//!
//! One pair key per agent is kept ([`Origins`]): deriving one costs a Diffie-Hellman (about
//! 90 µs), checking a tag with it well under a microsecond.
//!
//! # Sealed bodies
//! With `SecureConfig::with_sealed_bodies`, an own numbered message's body is sealed for its
//! destination each time it is written (a resend draws a fresh nonce), when the destination's
//! key is known; it is not known only before the destination's description arrived, and then
//! the route is the direct link (a route through relays needs that description), which no
//! relay sees. A sealed body that does not open at its destination is forged.
//!
//! # What a member can still do
//! Lie about itself (its description is its own to sign): claim links (an edge counts only
//! when both ends list each other, so not to an honest agent), hide its links; drop, delay or
//! replay what it relays (a replay is a duplicate, and suppressed; after the destination
//! restarted, it is for an earlier run; but a destination that forgot the stream, past
//! `Options::max_known_names` origins, starts it afresh at a replayed message's base and
//! hands the replays from there over again); list versions it does not hold in a database
//! summary (the new link then counts only after `Options::hello_timeout`); read bodies that
//! are not sealed.
//!
//! This module owns the [`Origins`] state (pair keys, scratch buffers; nonces come from the
//! node's generator)
//! and the checks and stamps above. It must not decide what is stored, relayed or handed over
//! beyond refusing forgeries: flooding, relay and receiving call in.
//!
//! [`Stats::forged_descriptions`]: super::Stats::forged_descriptions
//! [`Stats::forged_messages`]: super::Stats::forged_messages
//! [`Stats::forged_confirmations`]: super::Stats::forged_confirmations
//! [`Stats::rejected`]: super::Stats::rejected

#[cfg(feature = "secure")]
use std::collections::HashMap;

#[cfg(feature = "secure")]
use serde_json::value::RawValue;

use crate::LinkId;
#[cfg(feature = "secure")]
use crate::lsdb::{Lsdb, Signature};
use crate::routing::Route;
#[cfg(feature = "secure")]
use crate::secure::{
    Identity, MessageFields, NONCE_LEN, PairKey, PublicKey, SEAL_OVERHEAD, signed_description,
};
use crate::wire::{Ack, Lsa, Msg};
#[cfg(feature = "secure")]
use crate::wire::{Seq, Stamp, emit_ack, emit_msg};

use super::Node;
#[cfg(feature = "secure")]
use super::security::Security;

/// Base64 characters of a 16-byte tag.
#[cfg(feature = "secure")]
const TAG_TEXT: usize = 24;

/// What a secure node keeps to authenticate origins.
#[cfg(feature = "secure")]
#[derive(Debug)]
pub(crate) struct Origins {
    /// Pair keys by agent, with the key of that agent each was derived from.
    pairs: HashMap<Box<str>, Pair>,
    /// Most pair keys kept (`Options::max_known_names`): past it, all are dropped and derived
    /// again as needed.
    cap: usize,
    /// The canonical bytes of a description being signed or checked.
    signed: Vec<u8>,
    /// A body being sealed or opened.
    body: Vec<u8>,
    /// A sealed body's JSON string, being written.
    text: Vec<u8>,
}

/// A pair key and the agent's key it was derived from.
#[cfg(feature = "secure")]
#[derive(Debug)]
struct Pair {
    key: [u8; 32],
    pair: PairKey,
}

#[cfg(feature = "secure")]
impl Origins {
    /// Keeping at most `cap` pair keys.
    pub(crate) fn new(cap: usize) -> Origins {
        Origins {
            pairs: HashMap::new(),
            cap: cap.max(1),
            signed: Vec::new(),
            body: Vec::new(),
            text: Vec::new(),
        }
    }

    /// Agents whose pair key is kept.
    #[cfg(test)]
    pub(crate) fn pair_keys(&self) -> impl Iterator<Item = &str> {
        self.pairs.keys().map(|n| &**n)
    }

    /// The pair key with `name`, from the key its description held names; `None` when no
    /// signed description of it is held.
    fn pair(&mut self, identity: &Identity, lsdb: &Lsdb, name: &str) -> Option<&PairKey> {
        let key = lsdb.get(name)?.signature?.key;
        // Two lookups on a hit: returning the first one's borrow from a branch is what the
        // borrow checker does not allow yet.
        if self.pairs.get(name).is_none_or(|p| p.key != key) {
            let pair = PairKey::derive(identity, &PublicKey::from_bytes(&key).ok()?).ok()?;
            if self.pairs.len() >= self.cap {
                self.pairs.clear();
            }
            self.pairs.insert(name.into(), Pair { key, pair });
        }
        self.pairs.get(name).map(|p| &p.pair)
    }
}

/// What checking a description found.
pub(super) enum Checked {
    /// Nothing to check: a plain node, or a description that would not be taken.
    Unchecked,
    /// Its origin's: store it with this signature.
    #[cfg(feature = "secure")]
    Signed(Signature),
    /// Forged (counted): drop it.
    #[cfg_attr(not(feature = "secure"), allow(dead_code))]
    Forged,
}

/// Whether a message or confirmation may be used.
#[cfg(feature = "secure")]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Authentic,
    /// Not from its claimed origin: counted as forged.
    Forged,
    /// Its origin's key is not known here: counted as rejected.
    Unknown,
    /// Authentic, but meant for an earlier run of this agent (a restart raced it, or a relay
    /// replays it): counted as rejected, and dropped before it touches any stream.
    Stale,
}

/// The verdict on a tag from `name` whose key is not known here: it cannot be judged while
/// the trust list allows `name` some key (its description has not arrived, and the origin
/// resends), and it is forged when the list allows `name` none: nobody may speak for it.
#[cfg(feature = "secure")]
fn unknown_key(sec: &Security, name: &str) -> Verdict {
    if sec.config.trust().keys_of(name).next().is_some() {
        Verdict::Unknown
    } else {
        Verdict::Forged
    }
}

impl Node {
    /// Writes `payload` as one frame on `link`, after what the core wrote there, as if the
    /// core had written it: how the simulator and the tests make a member of the mesh lie. It
    /// goes through the link as any frame does (encrypted on a secure link). Nothing else
    /// changes: the core does not read it. Built for the crate's tests and the simulator only.
    #[cfg(any(test, feature = "sim"))]
    #[doc(hidden)]
    pub fn write_forged(&mut self, link: LinkId, payload: &[u8]) {
        self.links.control(link, &mut self.stats, |out| {
            crate::frame::encode(out, payload)
        });
    }

    /// Signs this agent's own description as it is now (on a secure node): after every
    /// change of its version or lists.
    pub(super) fn sign_own(&mut self) {
        #[cfg(feature = "secure")]
        if let Some(sec) = &mut self.security {
            let buf = &mut sec.origins.signed;
            buf.clear();
            {
                let own = self.lsdb.own();
                let (mut n, mut p, mut x) = (own.neighbors(), own.v1_peers(), own.externals());
                signed_description(buf, own.origin, own.inc, own.seq, [&mut n, &mut p, &mut x]);
            }
            let identity = sec.config.identity();
            let signature = Signature {
                key: identity.public().to_bytes(),
                sig: identity.sign(buf),
            };
            self.lsdb.sign_own(signature);
        }
    }

    /// Checks a description that arrived, on a secure node, when it would be taken (see the
    /// module documentation); counts a forgery.
    pub(super) fn check_description(&mut self, lsa: &Lsa<'_>) -> Checked {
        #[cfg(feature = "secure")]
        if let Some(sec) = &mut self.security {
            fn lists<'l>(l: &'l [std::borrow::Cow<'_, str>]) -> impl Iterator<Item = &'l str> {
                l.iter().map(|n| &**n)
            }
            let version = (lsa.inc, lsa.seq);
            let (n, p, x) = (&lsa.neighbors, &lsa.v1_peers, &lsa.externals);
            if !self
                .lsdb
                .would_take(&lsa.origin, version, lists(n), lists(p), lists(x))
            {
                return Checked::Unchecked;
            }
            if !p.is_empty() || !x.is_empty() {
                // No agent of a secure mesh has a v1 peer (see the module documentation):
                // such lists are not the mesh's, whoever signed them.
                self.stats.forged_descriptions += 1;
                return Checked::Forged;
            }
            let buf = &mut sec.origins.signed;
            buf.clear();
            let (mut n, mut p, mut x) = (lists(n), lists(p), lists(x));
            signed_description(buf, &lsa.origin, lsa.inc, lsa.seq, [&mut n, &mut p, &mut x]);
            let signature = lsa.signed.as_ref().and_then(|s| {
                Some(Signature {
                    key: crate::secure::decode_exact::<32>(&s.key).ok()?,
                    sig: crate::secure::decode_exact::<64>(&s.sig).ok()?,
                })
            });
            let trust = sec.config.trust();
            let genuine = signature.filter(|s| {
                trust
                    .keys_of(&lsa.origin)
                    .any(|k| k.to_bytes() == s.key && k.verify(buf, &s.sig))
            });
            return match genuine {
                Some(s) => Checked::Signed(s),
                None => {
                    self.stats.forged_descriptions += 1;
                    Checked::Forged
                }
            };
        }
        let _ = lsa;
        Checked::Unchecked
    }

    /// Whether a message that arrived on `link` may be used (see the module documentation);
    /// counts what may not. Always on a plain node, and for a message claiming this agent as
    /// its origin (which the believability check refuses).
    pub(super) fn authentic_msg(&mut self, link: LinkId, m: &Msg<'_>) -> bool {
        #[cfg(feature = "secure")]
        if self.security.is_some() && *m.from != *self.name {
            let verdict = self.judge_msg(link, m);
            return self.count(verdict, false);
        }
        let _ = (link, m);
        true
    }

    /// Whether a confirmation that arrived on `link` may be used; as
    /// [`authentic_msg`](Self::authentic_msg).
    pub(super) fn authentic_ack(&mut self, link: LinkId, a: &Ack<'_>) -> bool {
        #[cfg(feature = "secure")]
        if self.security.is_some() && *a.from != *self.name {
            let verdict = self.judge_ack(link, a);
            return self.count(verdict, true);
        }
        let _ = (link, a);
        true
    }

    /// Counts a verdict; whether it is authentic.
    #[cfg(feature = "secure")]
    fn count(&mut self, verdict: Verdict, ack: bool) -> bool {
        match verdict {
            Verdict::Authentic => return true,
            Verdict::Forged if ack => self.stats.forged_confirmations += 1,
            Verdict::Forged => self.stats.forged_messages += 1,
            Verdict::Unknown | Verdict::Stale => self.stats.rejected += 1,
        }
        false
    }

    #[cfg(feature = "secure")]
    fn judge_msg(&mut self, link: LinkId, m: &Msg<'_>) -> Verdict {
        let for_me = *m.to == *self.name;
        let (Some(seq), Some(tag)) = (m.seq, m.tag.as_deref()) else {
            // Unnumbered or untagged: only good straight from its origin, for this agent (a
            // sealed body must be numbered too: `open_body` sees to that).
            let direct = for_me && self.links.peer(link) == Some(&*m.from);
            return if direct {
                Verdict::Authentic
            } else {
                Verdict::Forged
            };
        };
        if !for_me || self.links.peer(link) == Some(&*m.from) {
            return Verdict::Authentic;
        }
        // A tag always comes with the run of this agent it is for.
        let (Ok(tag), Some(to_inc)) = (crate::secure::decode_exact::<16>(tag), m.to_inc) else {
            return Verdict::Forged;
        };
        let this_run = self.is_this_run(to_inc);
        let Some(sec) = &mut self.security else {
            return Verdict::Authentic;
        };
        let identity = sec.config.identity();
        let Some(pair) = sec.origins.pair(identity, &self.lsdb, &m.from) else {
            return unknown_key(sec, &m.from);
        };
        let fields = MessageFields {
            from: &m.from,
            to: &m.to,
            inc: seq.inc,
            seq: seq.seq,
            base: seq.base,
            to_inc,
            sealed: m.sealed,
            body: m.body.get(),
        };
        match (pair.verify_message(&fields, &tag), this_run) {
            (false, _) => Verdict::Forged,
            (true, true) => Verdict::Authentic,
            (true, false) => Verdict::Stale,
        }
    }

    /// Whether `inc` is an incarnation of this agent's current run: the one its description
    /// states, or the one before it renumbered above a description of itself it did not make
    /// (its streams live on across that).
    #[cfg(feature = "secure")]
    fn is_this_run(&self, inc: u64) -> bool {
        inc == self.lsdb.own().inc || inc == self.inc || Some(inc) == self.prev_inc
    }

    #[cfg(feature = "secure")]
    fn judge_ack(&mut self, link: LinkId, a: &Ack<'_>) -> Verdict {
        let Some(tag) = a.tag.as_deref() else {
            let direct = *a.to == *self.name && self.links.peer(link) == Some(&*a.from);
            return if direct {
                Verdict::Authentic
            } else {
                Verdict::Forged
            };
        };
        if *a.to != *self.name || self.links.peer(link) == Some(&*a.from) {
            return Verdict::Authentic;
        }
        let Ok(tag) = crate::secure::decode_exact::<16>(tag) else {
            return Verdict::Forged;
        };
        let Some(sec) = &mut self.security else {
            return Verdict::Authentic;
        };
        let identity = sec.config.identity();
        let Some(pair) = sec.origins.pair(identity, &self.lsdb, &a.from) else {
            return unknown_key(sec, &a.from);
        };
        if pair.verify_confirmation(&a.from, &a.to, a.inc, a.seq, &tag) {
            Verdict::Authentic
        } else {
            Verdict::Forged
        }
    }

    /// The body of a sealed message for this agent, opened: `Ok(None)` when it is not sealed
    /// (or the node is plain), `Err` when it does not open (counted as forged; a body whose
    /// origin's key is unknown here as rejected).
    #[cfg(feature = "secure")]
    pub(super) fn open_body(&mut self, m: &Msg<'_>) -> Result<Option<Box<RawValue>>, ()> {
        let Some(sec) = self.security.as_mut().filter(|_| m.sealed) else {
            return Ok(None);
        };
        let Some(seq) = m.seq else {
            self.stats.forged_messages += 1;
            return Err(());
        };
        // Taken out while the pair key borrows the state; put back after.
        let mut buf = std::mem::take(&mut sec.origins.body);
        let identity = sec.config.identity();
        let Some(pair) = sec.origins.pair(identity, &self.lsdb, &m.from) else {
            sec.origins.body = buf;
            let verdict = unknown_key(sec, &m.from);
            self.count(verdict, false);
            return Err(());
        };
        let opened = m
            .body
            .get()
            .strip_prefix('"')
            .and_then(|t| t.strip_suffix('"'))
            .is_some_and(|text| crate::secure::decode_into(text, &mut buf).is_ok())
            && pair.open(&m.from, &m.to, seq.inc, seq.seq, &mut buf);
        // One allocation, of the body's exact size: the one handing over a body costs anyway.
        let body = opened
            .then(|| std::str::from_utf8(&buf).ok())
            .flatten()
            .and_then(|text| RawValue::from_string(text.to_owned()).ok());
        sec.origins.body = buf;
        match body {
            Some(body) => Ok(Some(body)),
            None => {
                self.stats.forged_messages += 1;
                Err(())
            }
        }
    }

    /// The route this agent's own messages for `to` may take: on a secure node only a
    /// confirmed one, where they go numbered (every route of a secure mesh is, as no agent of
    /// it has a v1 peer; this guards the rule). On another they would go unnumbered, untagged
    /// and unsealed to whoever claims the name: they wait instead, as for a name with no
    /// route. On a plain node, the route. Cheap: asked at every send.
    pub(super) fn route_for_own(&self, to: &str) -> Option<Route> {
        let route = self.routing.route(to)?;
        #[cfg(feature = "secure")]
        if self.security.is_some() && !route.confirmed {
            return None;
        }
        Some(route)
    }

    /// Whether own messages for `to` can be written on `route` now: on a secure node, when
    /// its first hop is not `to`, only once `to`'s key is known, for their tag (a route
    /// through relays needs `to`'s description, which names the key; this guards that). On a
    /// plain node, always.
    pub(super) fn can_tag_for(&mut self, to: &str, route: Route) -> bool {
        #[cfg(feature = "secure")]
        if let Some(sec) = &mut self.security {
            let direct = self.links.peer(route.link) == Some(to);
            let identity = sec.config.identity();
            return direct || sec.origins.pair(identity, &self.lsdb, to).is_some();
        }
        let _ = (to, route);
        true
    }

    /// After the trust list changed: forgets every description held whose signing key the
    /// list no longer allows for its origin, as descriptions nobody reaches are forgotten
    /// (the routes through them go at the next computation of shortest paths, with a `Lose`
    /// for every name no longer reached), and every pair key made from such a key. From then
    /// on that key's tags are forgeries here.
    #[cfg(feature = "secure")]
    pub(super) fn forget_untrusted(&mut self) {
        let Some(sec) = &mut self.security else {
            return;
        };
        let trust = sec.config.trust();
        let allowed =
            |name: &str, key: &[u8; 32]| trust.keys_of(name).any(|k| k.to_bytes() == *key);
        sec.origins.pairs.retain(|name, p| allowed(name, &p.key));
        self.lsdb
            .forget(|origin, signature| signature.is_none_or(|s| !allowed(origin, &s.key)));
        if self.lsdb.graph_changed() {
            self.paths.changed();
        }
    }

    /// How long `body` (JSON text) is once sealed, when this node seals bodies: `None` when
    /// it does not.
    pub(super) fn sealed_len(&self, body: usize) -> Option<usize> {
        #[cfg(feature = "secure")]
        if self
            .security
            .as_ref()
            .is_some_and(|s| s.config.seals_bodies())
        {
            return Some((body + SEAL_OVERHEAD).div_ceil(3) * 4 + 2);
        }
        let _ = body;
        None
    }
}

/// Writes an own numbered message from `from` to `to`, whose first hop is the destination
/// itself when `direct`: on a secure node, its body sealed when asked and possible, and its
/// tag when it goes through relays.
#[cfg(feature = "secure")]
#[allow(clippy::too_many_arguments)]
pub(super) fn emit_numbered(
    out: &mut Vec<u8>,
    security: &mut Option<Security>,
    lsdb: &Lsdb,
    from: &str,
    to: &str,
    body: &str,
    seq: Seq,
    direct: bool,
) {
    let Some(sec) = security
        .as_mut()
        .filter(|s| s.config.seals_bodies() || !direct)
    else {
        // Straight to the destination, unsealed: nothing to look up.
        emit_msg(out, from, to, body, Some(1), Some(seq), Stamp::default());
        return;
    };
    let seal = sec.config.seals_bodies();
    let identity = sec.config.identity();
    // The pair key borrows the whole state: the buffers are taken out for the while, and
    // the nonce drawn first.
    let mut sealed = std::mem::take(&mut sec.origins.body);
    let mut text = std::mem::take(&mut sec.origins.text);
    let mut nonce = [0u8; NONCE_LEN];
    if seal {
        sec.rng.fill(&mut nonce);
    }
    let mut tag_text = [0u8; TAG_TEXT];
    let mut stamp = Stamp::default();
    let mut body = body;
    if let Some(pair) = sec.origins.pair(identity, lsdb, to) {
        if seal {
            sealed.clear();
            pair.seal(
                &nonce,
                from,
                to,
                seq.inc,
                seq.seq,
                body.as_bytes(),
                &mut sealed,
            );
            text.clear();
            text.push(b'"');
            let start = text.len();
            text.resize(start + sealed.len().div_ceil(3) * 4, 0);
            crate::secure::encode_into(&sealed, &mut text[start..]);
            text.push(b'"');
            body = std::str::from_utf8(&text).unwrap_or_default();
            stamp.sealed = true;
        }
        // The pair key comes from `to`'s description: its incarnation is there too.
        if let Some(to_inc) = (!direct).then(|| lsdb.incarnation_of(to)).flatten() {
            let fields = MessageFields {
                from,
                to,
                inc: seq.inc,
                seq: seq.seq,
                base: seq.base,
                to_inc,
                sealed: stamp.sealed,
                body,
            };
            let tag = pair.tag_message(&fields);
            stamp.to_inc = Some(to_inc);
            stamp.tag = Some(crate::secure::encode_into(&tag, &mut tag_text));
        }
    }
    emit_msg(out, from, to, body, Some(1), Some(seq), stamp);
    sec.origins.body = sealed;
    sec.origins.text = text;
}

/// Writes a confirmation from `from` (this agent) to `to` of incarnation `inc` up to `seq`,
/// with its tag on a secure node when its first hop is not `to` itself (`direct`).
#[cfg(feature = "secure")]
#[allow(clippy::too_many_arguments)]
pub(super) fn emit_confirmation(
    out: &mut Vec<u8>,
    security: &mut Option<Security>,
    lsdb: &Lsdb,
    from: &str,
    to: &str,
    inc: u64,
    seq: u64,
    direct: bool,
) {
    let mut tag_text = [0u8; TAG_TEXT];
    let mut tag = None;
    if let Some(sec) = security.as_mut().filter(|_| !direct) {
        let identity = sec.config.identity();
        if let Some(pair) = sec.origins.pair(identity, lsdb, to) {
            let t = pair.tag_confirmation(from, to, inc, seq);
            tag = Some(crate::secure::encode_into(&t, &mut tag_text));
        }
    }
    emit_ack(out, from, to, inc, seq, 1, tag);
}

/// A description's signature and key as base64, for writing it: `(key, signature)` texts in
/// the buffers given.
#[cfg(feature = "secure")]
pub(super) fn signature_text<'b>(
    s: &Signature,
    key: &'b mut [u8; 44],
    sig: &'b mut [u8; 88],
) -> (&'b str, &'b str) {
    (
        crate::secure::encode_into(&s.key, key),
        crate::secure::encode_into(&s.sig, sig),
    )
}
