//! Numbers at the ends of their range given to the public API: every `Duration` option at
//! `Duration::MAX` means "never" and overflows nothing, over real sockets.

mod support;

use std::time::Duration;

use secretagent::Options;
use serde_json::json;
use support::{Cluster, LIMIT};

#[test]
fn every_duration_option_at_its_largest_means_never() {
    let o = Options {
        auto_reconnect_interval: Duration::MAX,
        ping_timeout: Duration::MAX,
        ping_after: Duration::MAX,
        hello_timeout: Duration::MAX,
        delivery_timeout: Some(Duration::MAX),
        route_delay: Duration::MAX,
        description_lifetime: Duration::MAX,
        ..Options::default()
    };
    let mut c = Cluster::new();
    let (a, addr) = c.add_listening("A", o.clone());
    let b = c.add("B", o);
    c.agents[b].connect(addr).unwrap();
    c.run_until("linked", LIMIT, |c| c.reaches(a, "B") && c.reaches(b, "A"));
    c.agents[a].send_message("B", &json!(1)).unwrap();
    c.agents[a]
        .send_message_within("B", &json!(2), Duration::MAX)
        .unwrap();
    c.run_until("both arrive", LIMIT, |c| c.received(b).len() == 2);
    assert!(c.agents[a].next_timeout().is_some());
    c.agents[a].poll(Some(Duration::ZERO)).unwrap();
}
