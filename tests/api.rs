//! The rows of the original's API not exercised by the scenario tests: adopting listeners and
//! streams, dialling a list, the defaults, and waking a blocked poll.

mod support;

use std::time::Duration;

use secretagent::{Agent, DEFAULT_ADDR, DEFAULT_PORT, Event, MessageId, Name, Options, SendError};
use serde_json::json;
use support::{Cluster, LIMIT, fast};

#[test]
fn add_listener_adopts_a_listener_bound_elsewhere() {
    let mut c = Cluster::new();
    let wolf = c.add("Wolf", fast());
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = c.agents[wolf].add_listener(listener).unwrap();
    let ames = c.add("Ames", fast());
    c.agents[ames].connect(addr).unwrap();
    c.run_until("linked through the adopted listener", LIMIT, |c| {
        c.agents[wolf]
            .direct_member("Ames")
            .is_some_and(|p| p.inbound)
    });
}

#[test]
fn add_stream_adopts_a_connected_socket_and_says_hello_on_it() {
    let mut c = Cluster::new();
    let (wolf, addr) = c.add_listening("Wolf", fast());
    let ames = c.add("Ames", fast());
    let stream = std::net::TcpStream::connect(addr).unwrap();
    let id = c.agents[ames].add_stream(stream).unwrap();
    c.run_until("linked through the adopted stream", LIMIT, |c| {
        c.reaches(ames, "Wolf") && c.reaches(wolf, "Ames")
    });
    let peer = c.agents[ames].direct_member("Wolf").unwrap();
    assert_eq!(
        (peer.inbound, peer.connect, peer.addr),
        (false, Some(id), Some(addr))
    );
    // It is a connection like any other: disconnect by its number.
    c.agents[ames].disconnect(id).unwrap();
    c.run_until("unlinked", LIMIT, |c| !c.reaches(wolf, "Ames"));
}

#[test]
fn an_adopted_stream_is_redialled_at_its_peer_address() {
    let mut c = Cluster::new();
    let (wolf, addr) = c.add_listening("Wolf", fast());
    let ames = c.add("Ames", fast());
    c.agents[ames]
        .add_stream(std::net::TcpStream::connect(addr).unwrap())
        .unwrap();
    c.run_until("linked", LIMIT, |c| c.reaches(ames, "Wolf"));
    c.agents[wolf].disconnect("Ames").unwrap();
    c.run_until("Ames re-dials and links again", LIMIT, |c| {
        c.log[ames]
            .iter()
            .filter(|e| matches!(e, Event::LinkUp { .. }))
            .count()
            == 2
    });
}

#[test]
fn connect_all_dials_every_address_of_a_list() {
    let mut c = Cluster::new();
    let (_, a1) = c.add_listening("B1", fast());
    let (_, a2) = c.add_listening("B2", fast());
    let (_, a3) = c.add_listening("B3", fast());
    let hub = c.add("Hub", fast());
    let ids = c.agents[hub].connect_all([a1, a2, a3]).unwrap();
    assert_eq!(ids.len(), 3);
    c.run_until("the hub links all three", LIMIT, |c| {
        c.agents[hub].everybody().len() == 3
    });
    let mut names: Vec<String> = c.agents[hub]
        .everybody()
        .into_iter()
        .map(|p| p.name)
        .collect();
    names.sort();
    assert_eq!(names, ["B1", "B2", "B3"]);
}

#[test]
fn the_originals_default_address() {
    assert_eq!(DEFAULT_PORT, 8124);
    assert_eq!(
        DEFAULT_ADDR.parse::<std::net::SocketAddr>().unwrap(),
        ([127, 0, 0, 1], 8124).into()
    );
}

#[test]
fn invalid_names_are_refused() {
    assert!(Agent::new("", Options::default()).is_err());
    assert!(Agent::new(&"x".repeat(256), Options::default()).is_err());
    let mut a = Agent::new(&"x".repeat(255), Options::default()).unwrap();
    let err = a.send_message("", &1).unwrap_err();
    assert!(err.to_string().contains("empty"), "{err}");
}

#[test]
fn a_waker_ends_a_blocked_poll_from_another_thread() {
    let mut a = Agent::new("Sleeper", Options::default()).unwrap();
    let waker = a.waker().unwrap();
    let t = std::thread::spawn(move || waker.wake().unwrap());
    // Without the wake this would block forever: no links, no timers.
    assert_eq!(a.next_timeout(), None);
    a.poll(None).unwrap();
    t.join().unwrap();
}

#[test]
fn a_message_to_oneself_and_next_timeout() {
    let mut c = Cluster::new();
    let (wolf, addr) = c.add_listening("Wolf", fast());
    c.agents[wolf]
        .send_message("Wolf", &json!({"note": "self"}))
        .unwrap();
    c.step(Duration::ZERO);
    assert_eq!(
        c.received(wolf),
        [("Wolf".into(), "Wolf".into(), r#"{"note":"self"}"#.into())]
    );
    // Linking arms the keepalive: the agent says when it next needs a poll.
    let ames = c.add("Ames", fast());
    c.agents[ames].connect(addr).unwrap();
    c.run_until("linked", LIMIT, |c| c.reaches(wolf, "Ames"));
    let due = c.agents[wolf].next_timeout().expect("a keepalive timer");
    let now = std::time::Instant::now();
    assert!(
        due > now && due <= now + Duration::from_secs(5),
        "{due:?} vs {now:?}"
    );
}

#[test]
fn a_polls_output_leaves_once_its_events_are_drained_with_the_callers_answer() {
    let mut c = Cluster::new();
    let (wolf, addr) = c.add_listening("Wolf", fast());
    let ames = c.add("Ames", fast());
    c.agents[ames].connect(addr).unwrap();
    c.run_until("linked", LIMIT, |c| {
        c.reaches(wolf, "Ames") && c.reaches(ames, "Wolf")
    });
    c.agents[ames]
        .send_message("Wolf", &json!({"ping": 1}))
        .unwrap();
    // Wolf's poll that receives the message leaves its confirmation unsent while the event
    // waits, and says it needs a poll now.
    let deadline = std::time::Instant::now() + LIMIT;
    let event = 'found: loop {
        assert!(
            std::time::Instant::now() < deadline,
            "the message never came"
        );
        c.agents[ames].poll(Some(Duration::ZERO)).unwrap();
        c.log[ames].extend(c.agents[ames].events());
        c.agents[wolf].poll(Some(Duration::from_millis(5))).unwrap();
        if c.agents[wolf].next_timeout() <= Some(std::time::Instant::now()) {
            while let Some(e) = c.agents[wolf].next_event() {
                if matches!(&e, Event::Message { .. }) {
                    break 'found e;
                }
                c.log[wolf].push(e);
            }
        }
    };
    assert!(
        matches!(&event, Event::Message { from, .. } if from == "Ames"),
        "{event:?}"
    );
    // The answer, sent while draining, leaves with the confirmation when the drain ends.
    c.agents[wolf]
        .send_message("Ames", &json!({"pong": 1}))
        .unwrap();
    while let Some(e) = c.agents[wolf].next_event() {
        c.log[wolf].push(e);
    }
    assert!(
        c.agents[wolf].next_timeout() > Some(std::time::Instant::now()),
        "nothing should be left to send once the events are drained"
    );
    c.run_until("Ames has the answer and the confirmation", LIMIT, |c| {
        let log = &c.log[ames];
        log.iter()
            .any(|e| matches!(e, Event::Message { from, .. } if from == "Wolf"))
            && log
                .iter()
                .any(|e| matches!(e, Event::Delivered { to, .. } if to == "Wolf"))
    });
}

#[test]
fn errors_convert_so_that_question_marks_work_across_calls() {
    fn with_the_crates_error(a: &mut Agent) -> Result<MessageId, secretagent::Error> {
        a.poll(Some(Duration::ZERO))?;
        Ok(a.send_message("", &1)?)
    }
    fn with_io_errors(a: &mut Agent) -> std::io::Result<MessageId> {
        a.poll(Some(Duration::ZERO))?;
        a.connect("127.0.0.1:1")?;
        Ok(a.send_message("", &1)?)
    }
    let mut a = Agent::new("Asker", Options::default()).unwrap();
    let err = with_the_crates_error(&mut a).unwrap_err();
    assert!(
        matches!(
            &err,
            secretagent::Error::Send(SendError::InvalidName { len: 0 })
        ),
        "{err:?}"
    );
    assert_eq!(err.to_string(), "destination name is empty");
    let io = with_io_errors(&mut a).unwrap_err();
    assert_eq!(io.kind(), std::io::ErrorKind::Other);
    assert_eq!(io.to_string(), "destination name is empty");
    // An I/O error stays itself through both conversions.
    let original = std::io::Error::new(std::io::ErrorKind::AddrInUse, "taken");
    let back: std::io::Error = secretagent::Error::from(original).into();
    assert_eq!(back.kind(), std::io::ErrorKind::AddrInUse);
}

#[test]
fn the_poll_descriptor_is_the_same_through_as_fd_and_as_raw_fd() {
    use std::os::fd::{AsFd, AsRawFd};
    let a = Agent::new("Fd", Options::default()).unwrap();
    assert_eq!(a.as_fd().as_raw_fd(), a.as_raw_fd());
}

#[test]
fn every_event_names_agents_with_one_type() {
    let mut c = Cluster::new();
    let (wolf, addr) = c.add_listening("Wolf", fast());
    let ames = c.add("Ames", fast());
    c.agents[ames].connect(addr).unwrap();
    c.run_until("linked", LIMIT, |c| c.reaches(wolf, "Ames"));
    c.agents[ames].disconnect("Wolf").unwrap();
    c.run_until("unlinked", LIMIT, |c| !c.reaches(wolf, "Ames"));
    let names: Vec<&Name> = c.log[wolf]
        .iter()
        .filter_map(|e| match e {
            Event::Meet { name } | Event::Lose { name } => Some(name),
            Event::LinkUp { peer, .. } => Some(peer),
            Event::LinkDown { peer, .. } => peer.as_ref(),
            _ => None,
        })
        .collect();
    assert_eq!(names, ["Ames"; 4], "{}", c.dump());
}
