//! [`Options`]: every tunable of an agent, with the original's defaults where it had one.
//!
//! This module owns configuration values and their documentation only.

use std::time::Duration;

/// Settings of an agent: public fields, each documenting its default. Name the fields you
/// change and take the rest from [`Options::default()`]:
///
/// ```
/// use std::time::Duration;
/// use secretagent::Options;
///
/// let opts = Options {
///     ping_after: Duration::from_millis(200),
///     ping_timeout: Duration::from_millis(300),
///     ..Options::default()
/// };
/// assert!(opts.auto_reconnect);
/// ```
///
/// Plain fields rather than builder methods: one place documents each setting, the settings
/// in force read back the same way (`node.options().ping_after`), and there is no second
/// surface to keep in step with the first. The struct is not `#[non_exhaustive]`, so that the
/// form above compiles outside the crate; the price is that a field added later breaks code
/// that lists every field without `..Options::default()`. Write the `..Options::default()`
/// (as above) and new fields come in with their defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// Re-dial a connection made with `connect` when it fails or drops (never one dropped with
    /// `disconnect`). Default `true` (the original's `autoReconnect`).
    pub auto_reconnect: bool,
    /// Wait before re-dialling a connection that dropped after its hello, and the least wait
    /// between reconnection attempts. Default 1000 ms (`autoReconnectInterval`).
    pub auto_reconnect_interval: Duration,
    /// The most a reconnection waits. Each attempt in a row that fails (refused, or closed
    /// before its hello) doubles the wait from `auto_reconnect_interval` up to this, drawn
    /// from the upper half of the doubled wait so that agents that lost the same peer do not
    /// all retry at once; a link that completes its hello starts again from the interval.
    /// Default 30 s: a dead address costs one attempt per half minute instead of one a
    /// second, and an agent back from a long outage is linked again within half a minute.
    /// At or below `auto_reconnect_interval`, every attempt waits the interval.
    pub auto_reconnect_max_interval: Duration,
    /// Keep messages for names not reachable yet, and send them once the name is met. When
    /// `false`, sending to an unreachable name is an error. Default `true` (`queueMessages`).
    pub queue_messages: bool,
    /// After a ping, how long a peer has to show a sign of life before its link is closed.
    /// Default 1500 ms (`pingTimeout`).
    pub ping_timeout: Duration,
    /// Silence from a direct peer after which it is pinged. Zero disables keepalive.
    /// Default 5000 ms (`pingAfter`).
    pub ping_after: Duration,
    /// Longest frame payload accepted from a peer, in bytes; a longer one closes that link.
    /// Also the largest message this agent sends. Default 16 MiB.
    pub max_frame_len: u32,
    /// A connection that has not said hello within this time is closed. Default 5 s.
    pub hello_timeout: Duration,
    /// Messages kept per destination (queued, or in flight awaiting confirmation); past it,
    /// sending to that name is an error and nothing already accepted is dropped.
    /// Default 10 000.
    pub max_queued_per_destination: usize,
    /// Names this agent will track; announcements past it close the announcing link.
    /// Default 100 000.
    pub max_known_names: usize,
    /// Connections allowed to be open without having said hello; more are closed on arrival.
    /// Default 64.
    pub max_pending_links: usize,
    /// Bytes waiting to be written on one link above which new messages wait in their queue
    /// (own messages) or are dropped (relayed ones). Control frames are never held back.
    /// Default 1 MiB.
    pub max_link_buffer: usize,
    /// Events an [`Agent`](crate::Agent) lets wait undrained. Past it, the agent stops reading
    /// from its links (peers' TCP buffers fill, and they hold their messages back) and
    /// [`Agent::poll`](crate::Agent::poll) returns
    /// [`Error::EventsNotDrained`](crate::Error::EventsNotDrained) until the caller drains
    /// them. One poll may overshoot it by what a read brings. Not used by a bare
    /// [`Node`](crate::Node), whose caller feeds it. Default 100 000.
    pub max_undrained_events: usize,
    /// The highest protocol version this agent offers. 2 (the default) adds shortest paths,
    /// loop-free routing and confirmed, ordered, exactly-once delivery on links where both sides
    /// speak it; 1 behaves exactly as an original agent.
    pub protocol_version: u8,
    /// Messages per destination sent on a confirmed route and not confirmed yet; more wait in
    /// the queue. Default 4096: enough to keep a fast link busy while confirmations travel
    /// back (they go out once per batch read), and all of it within
    /// `max_queued_per_destination`, which bounds the memory.
    pub max_in_flight: usize,
    /// Give up on a message not confirmed within this time, reporting
    /// [`Event::Undeliverable`](crate::Event::Undeliverable). `None` (the default) never gives up.
    pub delivery_timeout: Option<Duration>,
    /// Hops a message may travel: a relay drops a message that has already made this many
    /// (counted on v2 links; v1 frames carry no count). Default 32.
    pub max_hops: u8,
    /// Report every message relayed through this agent as [`Event::Relayed`](crate::Event::Relayed).
    /// Off by default; meant for debugging and demonstrations.
    pub trace_relays: bool,
    /// How long a routing change from afar waits for the rest of its burst before routes are
    /// recomputed (v2). A changed link is described by both its ends, and the two
    /// descriptions arrive as far apart as the paths they took differ: within a millisecond
    /// on a LAN, tens of milliseconds across sites. A longer wait takes more changes into
    /// one computation (each is a search over the whole mesh) and reacts that much later.
    /// A change of this agent's own links never waits. Default 10 ms.
    pub route_delay: Duration,
    /// How long a description of an agent's links is kept when nothing newer replaces it
    /// (v2). Every agent sends a new version of its own every half of this, so only a
    /// description its agent cannot replace is ever forgotten this way: a forged one at the
    /// top of the number space, which would otherwise freeze the picture of its agent for
    /// good (see the README, "Forged or stale origins"). Shorter bounds that, longer costs
    /// fewer refreshes: every agent's refresh crosses every link of the mesh. Use the same
    /// value on every agent: one that forgets sooner than another refreshes loses sight of it
    /// in between. At least 1 s (shorter counts as 1 s). Default 10 minutes.
    pub description_lifetime: Duration,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            auto_reconnect: true,
            auto_reconnect_interval: Duration::from_millis(1000),
            auto_reconnect_max_interval: Duration::from_secs(30),
            queue_messages: true,
            ping_timeout: Duration::from_millis(1500),
            ping_after: Duration::from_millis(5000),
            max_frame_len: 16 * 1024 * 1024,
            hello_timeout: Duration::from_secs(5),
            max_queued_per_destination: 10_000,
            max_known_names: 100_000,
            max_pending_links: 64,
            max_link_buffer: 1024 * 1024,
            max_undrained_events: 100_000,
            protocol_version: 2,
            max_in_flight: 4096,
            delivery_timeout: None,
            max_hops: 32,
            trace_relays: false,
            route_delay: Duration::from_millis(10),
            description_lifetime: Duration::from_secs(600),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn defaults_are_the_originals() {
        let o = super::Options::default();
        assert!(o.auto_reconnect);
        assert_eq!(o.auto_reconnect_interval.as_millis(), 1000);
        assert!(o.queue_messages);
        assert_eq!(o.ping_timeout.as_millis(), 1500);
        assert_eq!(o.ping_after.as_millis(), 5000);
        assert_eq!(o.max_frame_len, 16 << 20);
        assert_eq!(o.hello_timeout.as_secs(), 5);
        assert_eq!(o.max_queued_per_destination, 10_000);
        assert_eq!(o.auto_reconnect_max_interval.as_secs(), 30);
    }
}
