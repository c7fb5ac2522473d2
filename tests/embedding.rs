//! An agent inside an event loop it does not own: woken only by its descriptor's readiness and
//! by `next_timeout()`, it must see commands take effect at once, and a caller that does not
//! drain its events must find out (no busy loop, no unbounded growth).

mod support;

use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};
use secretagent::{Agent, Error, Event, Options};
use serde_json::json;
use support::LIMIT;

/// Options with every timer that could move an exchange along pushed out of reach: no
/// keepalive, no reconnection. Only readiness and "now" remain to move things.
fn quiet() -> Options {
    Options {
        ping_after: Duration::ZERO,
        auto_reconnect: false,
        ..Options::default()
    }
}

/// Agents in one application's mio loop.
struct Embedder {
    outer: Poll,
    events: Events,
    agents: Vec<Agent>,
}

impl Embedder {
    fn new(agents: Vec<Agent>) -> Embedder {
        let outer = Poll::new().unwrap();
        for (i, a) in agents.iter().enumerate() {
            outer
                .registry()
                .register(&mut SourceFd(&a.as_raw_fd()), Token(i), Interest::READABLE)
                .unwrap();
        }
        Embedder {
            outer,
            events: Events::with_capacity(16),
            agents,
        }
    }

    /// One turn of the application's loop: waits for readiness or the earliest
    /// `next_timeout()`, then polls the agents. With `timers` false, a deadline still in the
    /// future is not waited for: only readiness, or a deadline that is already due, wakes
    /// the loop (and a wait of `cap` fails the test). The caller drains the events.
    fn turn(&mut self, timers: bool, cap: Duration) {
        let due = self.agents.iter().filter_map(Agent::next_timeout).min();
        let now = Instant::now();
        let wait = match due {
            Some(at) if at <= now => Duration::ZERO,
            Some(at) if timers => at - now,
            _ => cap,
        };
        let started = Instant::now();
        self.outer.poll(&mut self.events, Some(wait)).unwrap();
        assert!(
            wait.is_zero() || !self.events.is_empty() || started.elapsed() < cap,
            "the loop waited {cap:?} with no readiness and nothing due: a command's bytes were \
             left for a timer"
        );
        for a in &mut self.agents {
            a.poll(Some(Duration::ZERO)).unwrap();
        }
    }
}

/// Two agents linked, with their descriptions settled; B has options `b`.
fn linked_pair(b: Options) -> Embedder {
    let mut b = Agent::new("B", b).unwrap();
    let addr = b.listen("127.0.0.1:0").unwrap();
    let mut a = Agent::new("A", quiet()).unwrap();
    a.connect(addr).unwrap();
    let mut e = Embedder::new(vec![a, b]);
    let deadline = Instant::now() + LIMIT;
    while !e.agents.iter().all(|a| {
        let s = a.stats();
        s.links == 1 && s.descriptions == 2 && !s.paths_pending
    }) {
        assert!(Instant::now() < deadline, "A and B never linked");
        e.turn(true, Duration::from_millis(50));
        for a in &mut e.agents {
            a.events().for_each(drop);
        }
    }
    e
}

#[test]
fn an_exchange_through_an_embedding_loop_never_waits_for_a_timer() {
    let mut e = linked_pair(quiet());
    for n in 0..200 {
        e.agents[0].send_message("B", &json!({ "ask": n })).unwrap();
        assert!(
            e.agents[0].next_timeout() <= Some(Instant::now()),
            "after a send, the agent must ask for a poll at once"
        );
        let question = json!({ "ask": n }).to_string();
        let answer = json!({ "answer": n }).to_string();
        let mut answered = false;
        let deadline = Instant::now() + LIMIT;
        while !answered {
            assert!(Instant::now() < deadline, "exchange {n} never completed");
            e.turn(false, Duration::from_secs(5));
            // B answers while going through its events: the iterator does not borrow it.
            let b = &mut e.agents[1];
            for ev in b.events() {
                if let Event::Message { from, body, .. } = ev {
                    assert_eq!(body.get(), question);
                    b.send_message(&from, &json!({ "answer": n })).unwrap();
                }
            }
            for ev in e.agents[0].events() {
                answered |= matches!(ev, Event::Message { body, .. } if body.get() == answer);
            }
        }
    }
}

#[test]
fn undrained_events_neither_spin_the_loop_nor_grow_without_bound() {
    let limit = 40;
    let mut e = linked_pair(Options {
        max_undrained_events: limit,
        ..quiet()
    });
    let deadline = Instant::now() + LIMIT;
    // B's caller leaves an event waiting: that must not make the agent ask for a poll now,
    // nor make a poll return before its time.
    let b = &mut e.agents[1];
    b.send_message("B", &"to myself").unwrap();
    b.poll(Some(Duration::ZERO)).unwrap();
    assert!(b.node().pending_events() > 0);
    let quiet_for = Duration::from_millis(30);
    let before = Instant::now();
    b.poll(Some(quiet_for)).unwrap();
    assert!(
        before.elapsed() >= quiet_for,
        "a poll returned at once because events waited: a loop around it would spin"
    );
    assert!(
        b.next_timeout().is_none_or(|t| t > Instant::now()),
        "waiting events made the agent ask for a poll now"
    );

    // Past the limit the agent stops reading, and the poll says so. The messages are more
    // than a poll reads from a link.
    let total = 2000;
    let pad = "x".repeat(1000);
    for n in 0..total {
        e.agents[0].send_message("B", &(n, &pad)).unwrap();
    }
    let refused = loop {
        assert!(Instant::now() < deadline, "B's poll never complained");
        e.agents[0].poll(Some(Duration::ZERO)).unwrap();
        e.agents[0].events().for_each(drop);
        match e.agents[1].poll(Some(Duration::from_millis(5))) {
            Ok(()) => {}
            Err(err) => break err,
        }
    };
    let pending = e.agents[1].node().pending_events();
    assert!(
        matches!(refused, Error::EventsNotDrained { limit: l, .. } if l == limit),
        "{refused}"
    );
    assert!(refused.to_string().contains("drain them"), "{refused}");
    // A poll's reads may overshoot the limit, never by everything sent.
    assert!(pending < total / 4, "{pending} events held");
    assert!(e.agents[1].next_timeout() <= Some(Instant::now()));
    let err = e.agents[1].poll(Some(Duration::ZERO)).unwrap_err();
    assert_eq!(e.agents[1].node().pending_events(), pending, "{err}");

    // Drained, it reads on, and nothing was lost.
    let mut got = Vec::new();
    loop {
        for ev in e.agents[1].events() {
            if let Event::Message { from, body, .. } = ev {
                if from == "A" {
                    got.push(body.parse::<(usize, String)>().unwrap().0);
                }
            }
        }
        if got.len() >= total {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "only {} of {total} arrived",
            got.len()
        );
        e.turn(true, Duration::from_millis(20));
        e.agents[0].events().for_each(drop);
    }
    assert_eq!(got, (0..total).collect::<Vec<_>>());
}
