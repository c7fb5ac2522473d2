//! What the core holds and decides for secure links (feature `secure`): the agent's identity
//! and whom it trusts ([`SecureConfig`]), the randomness its handshakes and signatures draw
//! ([`Csprng`], given by the caller so that a simulator replays a secure mesh exactly), the
//! scratch buffers every link's session shares, and the decisions that need the whole node: a
//! new link's session, whether the key a peer proved in its handshake may use the name its
//! hello claims (in protocol version 2, the only one secure links carry), and which links
//! and descriptions a new trust list revokes.
//!
//! This file owns that state and those decisions. It must not touch a link's bytes
//! (`stream.rs` runs each link's session and holds its buffers) nor the signatures and
//! end-to-end tags of origins (their concern files do, reading the identity and trust here).

use std::sync::Arc;
use std::time::Instant;

use super::links::Link;
use super::origins::Origins;
use super::stream::Stream;
use super::{LinkOrigin, Node};
use crate::secure::{Csprng, Progress, PublicKey, SecureConfig, SecureError, Session, Trust};
use crate::{Error, LinkDownReason, LinkId, Options};

/// A node's secure-links state.
#[derive(Debug)]
pub(crate) struct Security {
    /// Identity, trust, PSK and rekey schedule, shared with every link's session.
    pub(crate) config: Arc<SecureConfig>,
    /// Randomness for handshakes (each session forks its own) and the nonces of sealed
    /// bodies.
    pub(crate) rng: Csprng,
    /// The frames of a link being sealed: one for every link of the node.
    sealing: Vec<u8>,
    /// The stream bytes opened from one read, on their way to the link's frame decoder.
    opened: Vec<u8>,
    /// Pair keys and what authenticating origins needs (`origins.rs`).
    pub(crate) origins: Origins,
}

impl Security {
    /// The stream of a new link, with its session: the dialler's writes its first handshake
    /// bytes at once; the acceptor's waits for them.
    pub(super) fn stream(
        &mut self,
        origin: LinkOrigin,
        max_frame_len: u32,
    ) -> Result<Stream, SecureError> {
        Ok(match origin {
            LinkOrigin::Dialed(_) => {
                let mut first = Vec::new();
                let session = Session::initiator(&self.config, &mut self.rng, &mut first)?;
                Stream::secure(max_frame_len, session, first)
            }
            LinkOrigin::Accepted => {
                let session = Session::responder(&self.config, &mut self.rng);
                Stream::secure(max_frame_len, session, Vec::new())
            }
        })
    }

    /// Seals the frames waiting on `stream` (a link handed out for transmission) at tick `now`.
    pub(super) fn seal(&mut self, stream: &mut Stream, now: u64) -> Result<(), SecureError> {
        stream.seal(&mut self.sealing, now)
    }
}

impl Node {
    /// A node whose every link is secure (feature `secure`): a Noise handshake with the keys of
    /// `config` before anything else, then encrypted records; peers whose key the trust file
    /// does not allow for the name they claim are refused. `rng` is where the node's
    /// randomness comes from: [`Csprng::from_os`] for a real agent, a seeded one in a
    /// simulation (the same seed and the same inputs give the same bytes). The rest as
    /// [`Node::new`].
    ///
    /// Secure links exist only between agents of this crate: `opts.protocol_version` must be
    /// 2 (an original agent speaks only plaintext v1).
    pub fn new_secure(
        name: &str,
        opts: Options,
        incarnation: u64,
        now: Instant,
        config: SecureConfig,
        rng: Csprng,
    ) -> Result<Node, Error> {
        if opts.protocol_version < 2 {
            return Err(Error::Config(format!(
                "secure links need protocol version 2 (Options::protocol_version is {}): \
                 original agents speak only plaintext v1",
                opts.protocol_version
            )));
        }
        let mut node = Node::new(name, opts, incarnation, now)?;
        let origins = Origins::new(node.opts.max_known_names);
        node.security = Some(Security {
            config: Arc::new(config),
            rng,
            sealing: Vec::new(),
            opened: Vec::new(),
            origins,
        });
        node.sign_own();
        Ok(node)
    }

    /// Whether this node's links are secure.
    pub fn is_secure(&self) -> bool {
        self.security.is_some()
    }

    /// The trust list in force, on a secure node.
    pub fn trust(&self) -> Option<&Trust> {
        Some(self.security.as_ref()?.config.trust())
    }

    /// The key the peer on `link` proved it holds, once the link's handshake is done (secure
    /// nodes only).
    pub fn peer_key(&self, link: LinkId) -> Option<&PublicKey> {
        self.links.get(link)?.stream.remote_key()
    }

    /// Replaces the trust list (a reload of the trust file) at `now`: handshakes from now on
    /// check keys against `trust`, and every link whose peer's key `trust` no longer allows
    /// for the peer's name is closed ([`SecureError::Revoked`]). A link whose handshake is
    /// done and whose hello has not come yet is checked against `trust` when it comes.
    /// Every description held that was signed by a key `trust` no longer allows for its
    /// origin is forgotten, with the end-to-end keys made from such keys: routes to agents
    /// known only through them go (`Event::Lose` once shortest paths are computed again), and
    /// their messages and confirmations through relays are forgeries from then on.
    /// Returns how many links were closed; refuses on a node that is not secure.
    pub fn set_trust(&mut self, trust: Trust, now: Instant) -> Result<usize, Error> {
        self.tick(now);
        let Some(sec) = self.security.as_mut() else {
            return Err(Error::Config(format!(
                "\"{}\" has no secure links, so no trust list to replace (make it with \
                 new_secure)",
                self.name
            )));
        };
        let revoked: Vec<(LinkId, SecureError)> = self
            .links
            .iter()
            .filter_map(|l| {
                let name = l.peer.as_deref()?;
                let key = l.stream.remote_key()?;
                trust.check(name, key).err().map(|_| {
                    let e = SecureError::Revoked {
                        name: name.to_owned(),
                        key: key.to_string(),
                    };
                    (l.id, e)
                })
            })
            .collect();
        sec.config = Arc::new(sec.config.with_trust(trust));
        let closed = revoked.len();
        for (link, e) in revoked {
            self.close_link(link, LinkDownReason::Secure(e));
        }
        self.forget_untrusted();
        self.commit();
        Ok(closed)
    }

    /// Bytes arrived on secure `link` at tick `t`: the session answers the handshake or opens
    /// records, and the frames these carry go on to the frame decoder. Frames of records that
    /// authenticated before a failing one are handed over before the link closes.
    pub(super) fn handle_secure_bytes(&mut self, link: LinkId, bytes: &[u8], t: u64) {
        let (Some(sec), Some((l, tx))) = (self.security.as_mut(), self.links.get_tx(link)) else {
            return;
        };
        let mut opened = std::mem::take(&mut sec.opened);
        let result = l.stream.open(bytes, &mut opened, t);
        if let Ok(o) = &result {
            let done = o.progress == Progress::JustEstablished;
            // The end of the handshake lets through the frames pushed meanwhile (the
            // dialler's hello).
            if o.answered || done {
                l.list(tx);
            }
            if done {
                self.stats.handshakes += 1;
            }
        }
        if !opened.is_empty() {
            self.feed(link, &opened);
        }
        if let Err(e) = result {
            self.close_link(link, LinkDownReason::Secure(e));
        }
        if let Some(sec) = self.security.as_mut() {
            opened.clear();
            sec.opened = opened;
        }
    }

    /// Whether the peer on `link` may use `name`, the name its hello claims, in protocol
    /// `version`, the one its hello offers: the key it proved in the handshake must be
    /// trusted for that name, and the version must be 2 or more. On a plain node, anything
    /// goes.
    ///
    /// A secure link at version 1 would let a member claim v1 peers and names behind them:
    /// routes to those are not confirmed, and what goes on them is neither numbered, tagged
    /// nor sealed. No agent of this crate offers 1 on a secure link (`Node::new_secure`
    /// refuses it), so the peer is not one.
    pub(super) fn check_peer_key(
        &self,
        link: LinkId,
        name: &str,
        version: u64,
    ) -> Result<(), LinkDownReason> {
        let Some(sec) = &self.security else {
            return Ok(());
        };
        // Frames reach the node only out of records, which exist only once the handshake
        // is done: a key is always there.
        let key = self
            .links
            .get(link)
            .and_then(|l| l.stream.remote_key())
            .ok_or(LinkDownReason::Secure(SecureError::NotEstablished))?;
        sec.config
            .trust()
            .check(name, key)
            .map_err(LinkDownReason::Secure)?;
        if version < 2 {
            return Err(LinkDownReason::Secure(SecureError::Version1 {
                name: name.to_owned(),
            }));
        }
        Ok(())
    }

    /// What to report for `link`, closed by the peer for `reason`: a clean close before the
    /// peer said hello is the peer refusing this agent (or not speaking the protocol). The
    /// dialler's handshake is done before the acceptor has checked its key (Noise XX shows
    /// the dialler's key last), so for the dialler the acceptor's refusal comes after it.
    pub(super) fn secure_close_reason(
        &self,
        link: LinkId,
        reason: LinkDownReason,
    ) -> LinkDownReason {
        let refused = self
            .links
            .get(link)
            .is_some_and(|l| l.stream.is_secure() && l.peer.is_none());
        match reason {
            LinkDownReason::PeerClosed if refused => {
                LinkDownReason::Secure(SecureError::ClosedDuringHandshake)
            }
            reason => reason,
        }
    }

    /// `l` is closing for `reason`: its last frames are sealed for the final flush (a
    /// duplicate's refusal, the last confirmations), unless it closes for a security reason,
    /// when nothing more goes to that peer; and the reason is counted.
    pub(super) fn secure_link_closed(&mut self, l: &mut Link, reason: &LinkDownReason) {
        let Some(sec) = self.security.as_mut() else {
            return;
        };
        match reason {
            LinkDownReason::Secure(SecureError::Revoked { .. }) => {
                self.stats.revoked += 1;
                l.stream.drop_unsealed();
            }
            LinkDownReason::Secure(SecureError::ClosedDuringHandshake) => {}
            LinkDownReason::Secure(_) => {
                self.stats.secure_refused += 1;
                l.stream.drop_unsealed();
            }
            _ => {
                // A session that failed seals nothing: what it held is dropped with it.
                let now = self.clock.now();
                let _ = sec.seal(&mut l.stream, now);
            }
        }
    }
}
