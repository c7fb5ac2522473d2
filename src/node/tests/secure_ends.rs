//! The far ends of a secure node's links in script tests. A script writes and reads frames in
//! plaintext; on a secure node each link's peer holds a real [`Session`], made when the
//! script's hello helpers bring the link up: it shakes hands with the node, seals the frames
//! the script writes into records and opens the records the node writes. A script over a
//! plain node has no ends, and its bytes pass unchanged.

use std::collections::HashMap;
use std::sync::Arc;

use super::*;
use crate::secure::{Csprng, SecureConfig, Session};

/// The peers a secure script's links may come from, and their sessions.
#[derive(Default)]
pub(super) struct Ends {
    /// Each peer's keys and trust, by the name it claims.
    peers: HashMap<String, Arc<SecureConfig>>,
    /// The peer's session on each link whose handshake is done.
    sessions: HashMap<usize, Session>,
    scratch: Vec<u8>,
}

fn ms(now: Duration) -> u64 {
    u64::try_from(now.as_millis()).expect("a test's time fits")
}

impl Ends {
    /// `name` may bring up links, with the keys and trust of `config`.
    pub(super) fn add_peer(&mut self, name: &str, config: SecureConfig) {
        self.peers.insert(name.to_owned(), Arc::new(config));
    }

    /// `plain` stream bytes as the peer on `link` writes them: sealed when it has a session.
    pub(super) fn seal(&mut self, link: usize, plain: Vec<u8>, now: Duration) -> Vec<u8> {
        let Some(session) = self.sessions.get_mut(&link) else {
            return plain;
        };
        let mut records = Vec::new();
        session
            .write(&plain, &mut records, &mut self.scratch, ms(now))
            .expect("the peer seals");
        records
    }

    /// What the node wrote on `link`, as the stream bytes the peer reads from it.
    pub(super) fn open(&mut self, link: usize, bytes: &[u8], now: Duration) -> Vec<u8> {
        let Some(session) = self.sessions.get_mut(&link) else {
            return bytes.to_vec();
        };
        let (mut plain, mut reply) = (Vec::new(), Vec::new());
        session
            .read(bytes, &mut plain, &mut reply, ms(now))
            .expect("the node's records open");
        assert!(
            reply.is_empty(),
            "the peer answers nothing after its handshake"
        );
        plain
    }
}

impl Script {
    /// On a secure node, `peer` shakes hands on `link` (which the node has just accepted),
    /// dialling with the keys it was added with. Nothing on a plain node.
    pub(super) fn handshake(&mut self, link: usize, peer: &str) {
        if !self.node.is_secure() {
            return;
        }
        let config = Arc::clone(self.ends.peers.get(peer).expect("the peer's keys"));
        let seed = u8::try_from(link).expect("a small link number");
        let mut to_node = Vec::new();
        let mut session =
            Session::initiator(&config, &mut Csprng::from_seed([seed; 32]), &mut to_node)
                .expect("the peer's first handshake message");
        while !to_node.is_empty() {
            let now = self.now();
            self.node.handle_bytes(LinkId(link), &to_node, now);
            to_node.clear();
            while self.node.poll_transmit().is_some() {}
            let answer = self.node.outbound(LinkId(link)).to_vec();
            self.node.consume_outbound(LinkId(link), answer.len(), now);
            let mut plain = Vec::new();
            session
                .read(&answer, &mut plain, &mut to_node, ms(self.now))
                .expect("the node's handshake messages");
            assert!(plain.is_empty(), "no data before the hello");
        }
        assert!(
            session.is_established(),
            "{peer}'s handshake on link {link}"
        );
        self.ends.sessions.insert(link, session);
    }
}
