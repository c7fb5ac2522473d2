//! The command-line agent, as separate processes talking JSON lines.

mod support;

use serde_json::json;
use support::Proc;

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
    ] {
        a.cmd(bad);
        let e = a.wait(&format!("error for {bad}"), |v| v["event"] == "error");
        assert!(e["error"].as_str().is_some_and(|t| !t.is_empty()), "{e}");
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
    let status = b.child.wait().unwrap();
    assert!(status.success(), "{status}");
}

#[test]
fn bad_arguments_are_refused_with_usage() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_secretagent"))
        .args(["Alpha", "--ping-after", "soon"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--ping-after takes milliseconds") && err.contains("usage:"),
        "{err}"
    );
}
