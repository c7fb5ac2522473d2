//! The command-line agent, as separate processes talking JSON lines.

mod support;

use std::io::Write;
use std::net::SocketAddr;
use std::process::{Command, Output};

use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use secretagent::{Agent, Event, LinkDownReason, Options};
use serde_json::{Value, json};
use support::{LIMIT, Proc, text};

/// Runs the binary with `args` and no stdin to the end, within the test's time limit: for the
/// runs that must not start an agent at all.
fn run(args: &[&str]) -> Output {
    support::output(
        Command::new(env!("CARGO_BIN_EXE_secretagent")).args(args),
        LIMIT,
    )
}

/// Waits (bounded) for the process to exit after its stdout closes; returns its status.
fn exit_status(p: &mut Proc) -> std::process::ExitStatus {
    p.out.drain(LIMIT);
    p.child.wait().expect("wait")
}

fn is_error(v: &Value) -> bool {
    v["event"] == "error"
}

#[test]
fn two_processes_exchange_a_message_and_a_third_relays() {
    let (mut a, a_addr) = Proc::listening("Alpha", &[]);
    let (mut b, b_addr) = Proc::listening("Bravo", &["--connect", &a_addr]);
    a.met("Bravo");
    b.met("Alpha");

    b.cmd(r#"{"cmd":"send","to":"Alpha","msg":{"text":"hello","n":[1,2,3]}}"#);
    b.wait("sent", |v| v["event"] == "sent" && v["to"] == "Alpha");
    let m = a.wait("message", |v| v["event"] == "message");
    assert_eq!(
        m,
        json!({"event":"message","from":"Bravo","to":"Alpha","via":"Bravo","msg":{"text":"hello","n":[1,2,3]}})
    );

    // Charlie links to Bravo only; Alpha reaches it through Bravo.
    let mut c = Proc::spawn("Charlie", &["--connect", &b_addr]);
    a.met("Charlie");
    c.met("Alpha");
    a.cmd(r#"{"cmd":"send","to":"Charlie","msg":"via bravo"}"#);
    let m = c.wait("relayed message", |v| v["event"] == "message");
    assert_eq!(
        m,
        json!({"event":"message","from":"Alpha","to":"Charlie","via":"Bravo","msg":"via bravo"})
    );

    a.cmd(r#"{"cmd":"members"}"#);
    let m = a.wait("members", |v| v["event"] == "members");
    assert_eq!(m["direct"], json!(["Bravo"]));
    assert_eq!(m["routes"]["Bravo"], json!({"via":"Bravo","hops":1}));
    assert_eq!(m["routes"]["Charlie"]["via"], "Bravo");
}

#[test]
fn bad_lines_get_an_error_and_the_agent_carries_on() {
    let (mut a, _) = Proc::listening("Alpha", &[]);
    for bad in [
        "not json",
        r#"{"cmd":"fly"}"#,
        r#"{"cmd":"send","to":"X"}"#,
        r#"{"cmd":"send","to":"","msg":1}"#,
        r#"{"cmd":"disconnect","who":"Nobody"}"#,
        r#"{"cmd":"disconnect","who":[1]}"#,
        r#"{"cmd":"connect","addr":"not an address"}"#,
        "[1,2,3,4,5]",
        r#"{"cmd":"send","to":"X","msg":1,"whithin":5}"#,
    ] {
        a.cmd(bad);
        let e = a.wait(&format!("error for {bad}"), is_error);
        let t = e["error"].as_str().unwrap_or_default();
        assert!(t.starts_with("line "), "{e}");
        // What the user wrote was wrong, in the user's terms: no type that reads it.
        for leak in ["struct", "Line", "RawValue", "invalid type", "Options::"] {
            assert!(!t.contains(leak), "{bad}: {t}");
        }
        assert!(e.get("cmd_id").is_none(), "{e}");
    }
    a.cmd(r#"{"cmd":"send","to":"Alpha","msg":"still here"}"#);
    a.wait("message to itself", |v| {
        v["event"] == "message" && v["msg"] == "still here"
    });
}

#[test]
fn end_of_stdin_does_not_stop_the_agent() {
    let (mut a, a_addr) = Proc::listening("Alpha", &[]);
    drop(a.stdin.take());
    let (mut b, _) = Proc::listening("Bravo", &["--connect", &a_addr]);
    a.met("Bravo");
    b.cmd(r#"{"cmd":"send","to":"Alpha","msg":42}"#);
    a.wait("message after stdin closed", |v| {
        v["event"] == "message" && v["msg"] == 42
    });
    assert!(a.child.try_wait().unwrap().is_none(), "Alpha exited");
}

#[test]
fn connect_listen_disconnect_and_quit_by_command() {
    let (mut a, _) = Proc::listening("Alpha", &[]);
    let mut b = Proc::spawn("Bravo", &["--reconnect-interval", "50"]);
    b.cmd(r#"{"cmd":"listen","addr":"127.0.0.1:0"}"#);
    let l = b.wait("listening", |v| v["event"] == "listening");
    let b_addr = l["addr"].as_str().unwrap().to_owned();
    a.cmd(&format!(r#"{{"cmd":"connect","addr":"{b_addr}"}}"#));
    let c = a.wait("connecting", |v| v["event"] == "connecting");
    assert_eq!(c["number"], 0);
    a.met("Bravo");
    // By connect number: the link goes, and stays gone.
    a.cmd(r#"{"cmd":"disconnect","who":0}"#);
    a.wait("lose Bravo", |v| {
        v["event"] == "lose" && v["name"] == "Bravo"
    });
    a.cmd(r#"{"cmd":"members"}"#);
    let m = a.wait("members", |v| v["event"] == "members");
    assert_eq!(m["direct"], json!([]));
    b.cmd(r#"{"cmd":"quit"}"#);
    let status = exit_status(&mut b);
    assert!(status.success(), "{status}");
}

#[test]
fn usage_errors_go_to_stderr_with_status_2_and_a_hint() {
    for (args, says) in [
        (
            &["Alpha", "--ping-after", "soon"][..],
            "--ping-after takes milliseconds",
        ),
        (&["Alpha", "--frobnicate"], "unknown option --frobnicate"),
        (&["--frobnicate=1", "Alpha"], "unknown option --frobnicate"),
        (&["--no-queue=yes", "Alpha"], "--no-queue takes no value"),
        (&[], "NAME is missing"),
        (&["Alpha", "Bravo"], "unexpected argument \"Bravo\""),
    ] {
        let out = run(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(out.stdout.is_empty(), "{args:?}");
        let err = text(&out.stderr);
        let lines: Vec<&str> = err.lines().collect();
        assert_eq!(lines.len(), 2, "{args:?}: {err}");
        assert!(
            lines[0].starts_with("secretagent: ") && lines[0].contains(says),
            "{err}"
        );
        assert!(lines[1].contains("secretagent --help"), "{err}");
    }
}

#[test]
fn help_lists_every_flag_command_and_event_on_stdout() {
    let out = run(&["--help"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(out.stderr.is_empty(), "{}", text(&out.stderr));
    let help = text(&out.stdout);
    for flag in [
        "--listen ADDR",
        "--connect ADDR",
        "--ping-after MS",
        "--ping-timeout MS",
        "--reconnect-interval MS",
        "--reconnect-max MS",
        "--description-lifetime MS",
        "--no-reconnect",
        "--no-queue",
        "--max-hops N",
        "--delivery-timeout MS",
        "--linger MS",
        "--max-frame-len BYTES",
        "--hello-timeout MS",
        "--max-queued-per-destination N",
        "--max-in-flight N",
        "--max-known-names N",
        "--max-pending-links N",
        "--max-link-buffer BYTES",
        "--protocol-version 1|2",
        "--route-delay MS",
        "--trace-relays",
        "-h, --help",
        "-V, --version",
        "--flag=VALUE",
        "-- NAME",
        "--key FILE",
        "--trust FILE",
        "--psk FILE",
        "--sealed-bodies",
        "secretagent keygen NAME",
        "secretagent keygen --psk FILE",
        "--dir DIR",
    ] {
        assert!(help.contains(flag), "--help lacks {flag}");
    }
    for cmd in [
        "send",
        "connect",
        "disconnect",
        "listen",
        "members",
        "graph",
        "reload",
        "quit",
    ] {
        assert!(
            help.contains(&format!(r#"{{"cmd":"{cmd}""#)),
            "--help lacks {cmd}"
        );
    }
    assert!(help.contains(r#""within":MS"#) && help.contains(r#""id":ANY"#));
    for event in [
        "listening",
        "connecting",
        "sent",
        "meet",
        "lose",
        "message",
        "delivered",
        "undeliverable",
        "members",
        "graph",
        "quit",
        "relayed",
        "reloaded",
        "error",
    ] {
        assert!(
            help.contains(&format!(r#"{{"event":"{event}""#)),
            "--help lacks {event}"
        );
    }
    assert_eq!(text(&run(&["-h"]).stdout), help);
    assert_eq!(text(&run(&["Alpha", "--listen", "0", "-h"]).stdout), help);
}

/// A build without the `secure` feature knows the secure flags, `keygen` and `reload`, and
/// says what they need instead of taking them for an unknown option, a NAME or a bad command.
#[cfg(not(feature = "secure"))]
#[test]
fn without_the_secure_feature_its_flags_keygen_and_reload_say_what_is_needed() {
    let needed = |text: &str| {
        text.contains("needs secure links")
            && text.contains("the `secure` feature")
            && text.contains("cargo install secretagent --features secure")
    };
    for (args, flag) in [
        (&["Alpha", "--key", "a.key", "--trust", "t"][..], "--key"),
        (&["--trust=t", "Alpha"], "--trust"),
        (&["Alpha", "--psk", "p"], "--psk"),
        (&["Alpha", "--sealed-bodies"], "--sealed-bodies"),
        (&["keygen", "Alpha"], "keygen"),
        (&["keygen", "--psk", "p"], "keygen"),
    ] {
        let out = run(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(out.stdout.is_empty(), "{args:?}");
        let err = text(&out.stderr);
        assert!(
            err.starts_with(&format!("secretagent: {flag} needs")) && needed(&err),
            "{args:?}: {err}"
        );
    }
    assert!(!std::path::Path::new("Alpha.key").exists());
    let (mut a, _) = Proc::listening("Alpha", &[]);
    a.cmd(r#"{"cmd":"reload","id":"r"}"#);
    let e = a.wait("error", is_error);
    assert_eq!(e["cmd_id"], "r", "{e}");
    assert!(needed(e["error"].as_str().unwrap_or_default()), "{e}");
}

#[test]
fn version_prints_the_name_and_version() {
    let want = format!("secretagent {}\n", env!("CARGO_PKG_VERSION"));
    for flag in ["--version", "-V"] {
        let out = run(&[flag]);
        assert_eq!(out.status.code(), Some(0), "{flag}");
        assert_eq!(text(&out.stdout), want, "{flag}");
        assert!(out.stderr.is_empty(), "{flag}");
    }
}

#[test]
fn a_name_beginning_with_a_dash_is_refused_unless_after_double_dash() {
    let out = run(&["-v"]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains("unknown option -v") && err.contains("-- -v"),
        "{err}"
    );

    let mut a = Proc::with_args("-v", &["--listen", "127.0.0.1:0", "--", "-v"]);
    a.wait("listening", |v| v["event"] == "listening");
    a.cmd(r#"{"cmd":"send","to":"-v","msg":"to myself"}"#);
    let m = a.wait("message", |v| v["event"] == "message");
    assert_eq!(m["to"], "-v");
}

#[test]
fn flags_take_their_value_after_an_equals_sign() {
    let mut a = Proc::with_args(
        "Alpha",
        &["--listen=127.0.0.1:0", "Alpha", "--ping-after=100"],
    );
    let l = a.wait("listening", |v| v["event"] == "listening");
    let addr = l["addr"].as_str().unwrap();
    let connect = format!("--connect={addr}");
    let mut b = Proc::with_args("Bravo", &[&connect, "Bravo"]);
    let c = b.wait("connecting", |v| v["event"] == "connecting");
    assert_eq!(c["addr"], addr);
    b.met("Alpha");
    a.met("Bravo");
}

#[test]
fn a_line_that_is_not_utf8_is_an_error_and_the_reader_goes_on() {
    let (mut a, _) = Proc::listening("Alpha", &[]);
    let stdin = a.stdin.as_mut().unwrap();
    stdin
        .write_all(b"{\"cmd\":\"members\",\"id\":\"\xff\"}\n")
        .unwrap();
    stdin
        .write_all(b"\xc3\x28\r\n{\"cmd\":\"members\",\"id\":7}\n")
        .unwrap();
    stdin.flush().unwrap();
    let e = a.wait("error for line 1", is_error);
    assert!(
        e["error"]
            .as_str()
            .unwrap()
            .starts_with("line 1: not UTF-8"),
        "{e}"
    );
    let e = a.wait("error for line 2", is_error);
    assert!(
        e["error"]
            .as_str()
            .unwrap()
            .starts_with("line 2: not UTF-8"),
        "{e}"
    );
    let m = a.wait("members", |v| v["event"] == "members");
    assert_eq!(m["cmd_id"], 7);
    // The reader is still there for quit.
    a.cmd(r#"{"cmd":"quit"}"#);
    assert!(exit_status(&mut a).success());
}

#[test]
fn a_commands_id_comes_back_on_its_answer_or_its_error() {
    let (mut a, _) = Proc::listening("Alpha", &[]);
    a.cmd(r#"{"cmd":"send","to":"Bravo","msg":1,"id":"s1"}"#);
    let s = a.wait("sent", |v| v["event"] == "sent");
    assert_eq!(s, json!({"event":"sent","to":"Bravo","id":0,"cmd_id":"s1"}));
    a.cmd(r#"{"id":{"k":[1]},"cmd":"fly"}"#);
    let e = a.wait("error", is_error);
    assert_eq!(e["cmd_id"], json!({"k":[1]}), "{e}");
    assert!(
        e["error"]
            .as_str()
            .unwrap()
            .contains("unknown command \"fly\""),
        "{e}"
    );
    // An error in carrying the command out, not in reading it.
    a.cmd(r#"{"cmd":"disconnect","who":"Nobody","id":3}"#);
    let e = a.wait("error", is_error);
    assert_eq!(e["cmd_id"], 3, "{e}");
    a.cmd(r#"{"cmd":"connect","addr":"127.0.0.1:1","id":null}"#);
    let c = a.wait("connecting", |v| v["event"] == "connecting");
    assert_eq!(c.get("cmd_id"), Some(&Value::Null), "{c}");
    a.cmd(r#"{"cmd":"send","to":"Bravo","msg":2}"#);
    let s = a.wait("sent", |v| v["event"] == "sent");
    assert_eq!(s, json!({"event":"sent","to":"Bravo","id":1}));
}

/// Sends to a name nobody has (so it waits in the queue) and expects it given up.
fn given_up(args: &[&str], send: &str) {
    let (mut a, _) = Proc::listening("Alpha", args);
    a.cmd(send);
    let s = a.wait("sent", |v| v["event"] == "sent");
    let u = a.wait("undeliverable", |v| v["event"] == "undeliverable");
    assert_eq!(u["to"], "Nobody");
    assert_eq!(u["id"], s["id"]);
    assert!(u["reason"].as_str().is_some_and(|r| !r.is_empty()), "{u}");
}

#[test]
fn a_send_within_a_deadline_is_given_up_as_undeliverable() {
    given_up(&[], r#"{"cmd":"send","to":"Nobody","msg":1,"within":50}"#);
}

#[test]
fn the_delivery_timeout_flag_gives_up_as_undeliverable() {
    given_up(
        &["--delivery-timeout", "50"],
        r#"{"cmd":"send","to":"Nobody","msg":1}"#,
    );
}

#[test]
fn quit_reports_each_message_the_linger_left_unconfirmed_then_a_last_line() {
    let (mut a, _) = Proc::listening("Alpha", &["--linger=20"]);
    a.cmd(r#"{"cmd":"send","to":"Nobody","msg":1}"#);
    let sent = a.wait("sent", |v| v["event"] == "sent");
    a.cmd(r#"{"cmd":"quit","id":"q"}"#);
    // Read after the quit: never run.
    a.cmd(r#"{"cmd":"members"}"#);
    assert!(exit_status(&mut a).success());
    let last: Vec<Value> = a.out.seen[a.out.seen.len() - 2..]
        .iter()
        .map(|l| serde_json::from_str(l).expect("JSON"))
        .collect();
    assert_eq!(
        last,
        [
            json!({"event":"undeliverable","to":"Nobody","id":sent["id"],
                   "reason":"not confirmed when the agent quit (--linger 20 ms)"}),
            json!({"event":"quit","unconfirmed":1,"cmd_id":"q"}),
        ],
        "{:#?}",
        a.out.seen
    );
}

#[test]
fn graph_draws_the_mesh_as_the_agent_sees_it() {
    let (mut a, a_addr) = Proc::listening("Alpha", &[]);
    let (mut b, b_addr) = Proc::listening("Bravo", &["--connect", &a_addr]);
    let mut c = Proc::spawn("Charlie", &["--connect", &b_addr]);
    let mut old = Proc::spawn("Old", &["--connect", &a_addr, "--protocol-version", "1"]);
    for name in ["Bravo", "Charlie", "Old"] {
        a.met(name);
    }
    b.met("Old");
    c.met("Alpha");
    old.met("Alpha");
    a.cmd(r#"{"cmd":"graph","id":"g"}"#);
    let g = a.wait("graph", |v| v["event"] == "graph");
    assert_eq!(g["cmd_id"], "g", "{g}");
    let dot = g["dot"].as_str().expect("dot is a string");
    assert!(
        dot.starts_with("graph \"Alpha\" {\n") && dot.ends_with("}\n"),
        "{dot}"
    );
    for line in [
        r#""Alpha" [label = "Alpha", style = filled, fillcolor = palegreen];"#,
        r#""Bravo" [label = "Bravo"];"#,
        r#""Charlie" [label = "Charlie"];"#,
        r#""Old" [label = "Old", shape = box];"#,
        r#""Alpha" -- "Bravo" [label = "v2", penwidth = 2];"#,
        r#""Alpha" -- "Old" [label = "v1", penwidth = 2];"#,
        r#""Bravo" -- "Charlie";"#,
    ] {
        assert!(dot.lines().any(|l| l.trim() == line), "no {line} in\n{dot}");
    }
    assert!(!dot.contains("red"), "{dot}");
    // Charlie leaves: Alpha no longer reaches it, and draws what it still knows of it in red.
    c.cmd(r#"{"cmd":"quit"}"#);
    a.wait("lose Charlie", |v| {
        v["event"] == "lose" && v["name"] == "Charlie"
    });
    a.cmd(r#"{"cmd":"graph"}"#);
    let g = a.wait("graph", |v| v["event"] == "graph");
    let dot = g["dot"].as_str().expect("dot is a string");
    let red: Vec<&str> = dot.lines().filter(|l| l.contains("red")).collect();
    assert_eq!(
        red,
        [r#"  "Charlie" [label = "Charlie", color = red, fontcolor = red];"#],
        "{dot}"
    );
    assert!(g.get("cmd_id").is_none(), "{g}");
}

/// A loopback address nothing listens on (a port just freed).
fn dead_addr() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").to_string()
}

#[test]
fn a_failed_dial_says_how_the_agent_backs_off() {
    let addr = dead_addr();
    let args = [
        "--connect",
        &addr,
        "--reconnect-interval=50",
        "--reconnect-max=400",
    ];
    let mut a = Proc::spawn("Alpha", &args);
    let e = a.wait("error", is_error);
    let text = e["error"].as_str().expect("text");
    let (head, tail) = text
        .split_once("; dialling again in ")
        .unwrap_or_else(|| panic!("{text}"));
    assert!(head.starts_with("connection #0 failed: "), "{text}");
    let (ms, rest) = tail.split_once(" ms").unwrap_or_else(|| panic!("{text}"));
    let ms: u64 = ms.parse().unwrap_or_else(|_| panic!("{text}"));
    assert!((50..=400).contains(&ms), "{text}");
    assert_eq!(
        rest,
        ", then less and less often, up to every 400 ms (--reconnect-max), reporting no \
         further failure until it links"
    );

    let mut b = Proc::spawn("Bravo", &["--connect", &addr, "--no-reconnect"]);
    let e = b.wait("error", is_error);
    let text = e["error"].as_str().expect("text");
    assert!(
        text.ends_with("; not dialling again (--no-reconnect)"),
        "{text}"
    );
}

#[test]
fn a_dial_of_the_agents_own_address_is_reported_once_as_such() {
    let (mut a, addr) = Proc::listening("Alpha", &["--reconnect-interval=50"]);
    a.cmd(&format!(
        r#"{{"cmd":"connect","addr":"{addr}","id":"self"}}"#
    ));
    a.wait("connecting", |v| v["event"] == "connecting");
    let e = a.wait("error", is_error);
    let text = e["error"].as_str().expect("text");
    assert!(
        text.starts_with("connection #0 failed: ")
            && text.contains("reached this agent itself")
            && !text.contains("dialling again"),
        "{text}"
    );
}

/// An in-test agent in a thread of its own, polling until its first link goes down; returns
/// the numbers it received, in order, and why the link went (a reset is an I/O error, a clean
/// close `PeerClosed`).
fn receiver(name: &'static str) -> (SocketAddr, JoinHandle<(Vec<u64>, LinkDownReason)>) {
    let mut r = Agent::new(name, Options::default()).expect("agent");
    let addr = r.listen("127.0.0.1:0").expect("listen");
    let handle = thread::spawn(move || {
        let deadline = Instant::now() + LIMIT;
        let mut got = Vec::new();
        loop {
            assert!(
                Instant::now() < deadline,
                "{name}: the sender's link never closed; {} messages arrived",
                got.len()
            );
            r.poll(Some(Duration::from_millis(100))).expect("poll");
            for ev in r.events() {
                match ev {
                    Event::Message { body, .. } => got.push(body.parse().expect("a number")),
                    Event::LinkDown { reason, .. } => return (got, reason),
                    _ => {}
                }
            }
        }
    });
    (addr, handle)
}

#[test]
fn quit_right_after_a_thousand_sends_delivers_them_all_and_closes_cleanly() {
    for round in 0..4 {
        let (addr, r) = receiver("Receiver");
        let mut s = Proc::spawn("Sender", &["--connect", &addr.to_string()]);
        // Every other round sends before the link is even up: the messages wait in the queue,
        // and quit still sends them once the dial completes.
        if round % 2 == 0 {
            s.met("Receiver");
        }
        let mut lines = String::new();
        for n in 0..1000 {
            lines.push_str(&format!(
                "{{\"cmd\":\"send\",\"to\":\"Receiver\",\"msg\":{n}}}\n"
            ));
        }
        lines.push_str("{\"cmd\":\"quit\",\"id\":\"q\"}\n");
        let stdin = s.stdin.as_mut().expect("stdin");
        stdin.write_all(lines.as_bytes()).expect("write commands");
        stdin.flush().expect("flush");
        let q = s.wait("quit", |v| v["event"] == "quit");
        assert_eq!(
            q,
            json!({"event":"quit","unconfirmed":0,"cmd_id":"q"}),
            "round {round}"
        );
        let status = exit_status(&mut s);
        assert!(status.success(), "round {round}: {status}");
        let count = |event: &str| {
            s.out
                .seen
                .iter()
                .filter(|l| l.starts_with(&format!("{{\"event\":\"{event}\"")))
                .count()
        };
        assert_eq!(
            (count("sent"), count("delivered")),
            (1000, 1000),
            "round {round}"
        );
        assert_eq!(
            (count("error"), count("undeliverable")),
            (0, 0),
            "round {round}"
        );
        let (got, reason) = r.join().expect("receiver");
        assert_eq!(got, (0..1000).collect::<Vec<_>>(), "round {round}");
        assert_eq!(reason, LinkDownReason::PeerClosed, "round {round}");
    }
}
