//! The agent's own accounting: counters kept as things happen, and figures read off the state
//! when asked.
//!
//! This module owns the [`Stats`] type only. The counters are bumped by whichever concern
//! does the counted thing; [`Node::stats`](super::Node::stats) fills in the figures that are
//! read off the state (links, queues, timers). Nothing here changes what the node does.

/// The agent's own accounting, for monitoring and for checking that limits hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Open links, identified or not.
    pub links: usize,
    /// Accepted connections that have not completed their hello (at most
    /// `Options::max_pending_links`; this agent's own dials are not counted).
    pub pending_links: usize,
    /// Names in the routing table.
    pub known_names: usize,
    /// Descriptions in the link-state database, this agent's own included.
    pub descriptions: usize,
    /// This agent's own messages held: queued, or sent and not confirmed yet.
    pub queued_messages: usize,
    /// Destinations with an outbox: holding messages, or emptied lately (an emptied outbox is
    /// kept for at most a retransmission timeout, for the next message to the same place).
    pub outboxes: usize,
    /// Messages relayed for others that wait for a route (v1 semantics), for all destinations
    /// together; at most `Options::max_queued_per_destination`.
    pub held_messages: usize,
    /// Origins whose streams this agent remembers.
    pub streams: usize,
    /// Bytes waiting to be written, over all links.
    pub buffered_bytes: usize,
    /// Armed timers (live or stale).
    pub timers: usize,
    /// Messages relayed for other agents.
    pub relayed: u64,
    /// Messages or confirmations for other agents that were dropped: no usable route, a full
    /// queue, a full link buffer, a route pointing back where they came from, or too many hops.
    pub relay_dropped: u64,
    /// Own messages confirmed by their destination.
    pub confirmed: u64,
    /// Own messages sent again after a timeout or a route change.
    pub resent: u64,
    /// Retransmission timeouts.
    pub timeouts: u64,
    /// Numbered messages received again after being handed over (and dropped).
    pub duplicates: u64,
    /// Messages and confirmations refused because their claimed origin could not have sent
    /// them through the link they came on (this agent's own name, or a numbered one off every
    /// shortest path from its origin), or, relayed and numbered, in an incarnation above the
    /// one their origin's description states (or from an origin that describes nothing); on
    /// secure links also those that came through relays from an origin whose key is not known
    /// here yet (its description has not arrived), which cannot be judged, and messages whose
    /// tag verifies but that were meant for an earlier run of this agent (a restart raced
    /// them, or a relay replays them).
    pub rejected: u64,
    /// Secure links: descriptions refused as forged, not signed by a key the trust file allows
    /// for their origin (unsigned, a bad signature, another agent's key, lists or a name that
    /// are not what was signed), or listing v1 peers or names behind them, which no agent of
    /// a secure mesh has. Each was dropped: neither stored nor passed on.
    pub forged_descriptions: u64,
    /// Secure links: messages refused as forged: through a relay without a valid end-to-end
    /// tag of their claimed origin (or unnumbered, or tagged without the run they are for, or
    /// from a name the trust file allows no key), or sealed and not opening. Each was
    /// dropped: neither passed on nor handed over. A relay checks only that a tag is there;
    /// the destination checks it.
    pub forged_messages: u64,
    /// Secure links: confirmations refused as forged: through a relay without a valid
    /// end-to-end tag of the agent they claim confirms. Each was dropped: neither passed on
    /// nor applied.
    pub forged_confirmations: u64,
    /// Descriptions (v2 link state) written, this agent's own and passed on.
    pub descriptions_sent: u64,
    /// Descriptions received that were newer than the one held (routing updates applied).
    pub descriptions_applied: u64,
    /// Versions of this agent's own description made (each one is flooded to every agent).
    pub descriptions_originated: u64,
    /// Descriptions of this agent that it did not make (an earlier run's, or forged), at or
    /// above its own version: each made it re-announce above them at once, or, at the top of
    /// the number space, wait them out.
    pub own_overtaken: u64,
    /// A description of this agent at the top of the number space, which it did not make, is
    /// being waited out: other agents may ignore its own until they forget that one (see
    /// `Options::description_lifetime`).
    pub outranked: bool,
    /// Shortest-path computations.
    pub paths_computed: u64,
    /// A change waits for the next shortest-path computation (its hold-down is running):
    /// routes are not final yet.
    pub paths_pending: bool,
    /// Control frames (hello, keepalive, announcements, descriptions, confirmations) written.
    pub control_frames: u64,
    /// Bytes of those frames.
    pub control_bytes: u64,
    /// Secure handshakes completed (feature `secure`; 0 otherwise).
    pub handshakes: u64,
    /// Secure links this agent refused or closed for a security reason it found: a failed
    /// handshake (unknown key, bad or missing PSK, garbage, a plaintext peer), a key not
    /// allowed for the name its hello claims, a hello offering only protocol version 1, a
    /// tampered or malformed record. Not counted: a
    /// peer closing during the handshake (its own count has it), revocations.
    pub secure_refused: u64,
    /// Secure links closed because a new trust list no longer allowed their peer's key for
    /// its name (`Node::set_trust`, `Agent::reload_trust`).
    pub revoked: u64,
}
