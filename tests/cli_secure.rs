//! The command-line agent in secure mode, as separate processes: `keygen`, agents started with
//! `--key`, `--trust` and `--psk`, refusals, `{"cmd":"reload"}`, and files that cannot be used.
#![cfg(feature = "secure")]

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::channel;

use secretagent::secure::{Psk, Trust};
use serde_json::{Value, json};
use support::{LIMIT, Proc, output, text};

/// A directory of its own for each test, under cargo's scratch space, removed at the end.
struct Dir(PathBuf);

impl Dir {
    fn new(test: &str) -> Dir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let path = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("cli_secure-{}-{n}-{test}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("make the test's directory");
        Dir(path)
    }

    /// A path in the directory, as a string for a command line.
    fn at(&self, file: &str) -> String {
        self.0.join(file).to_str().expect("UTF-8 path").to_owned()
    }

    fn write(&self, file: &str, text: &str) -> String {
        let path = self.at(file);
        std::fs::write(&path, text).expect("write a test file");
        path
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs the binary with `args` and no stdin to the end, within the test's time limit.
fn run(args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_secretagent"));
    output(cmd.args(args), LIMIT)
}

/// `keygen --dir DIR NAME`, which must succeed; returns its trust file line.
fn keygen(dir: &Dir, name: &str) -> String {
    let out = run(&["keygen", "--dir", &dir.at(""), "--", name]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let line = text(&out.stdout);
    assert!(line.ends_with('\n') && line.lines().count() == 1, "{line}");
    line.trim_end().to_owned()
}

/// Keys for `names` in `dir`, and a trust file `mesh.trust` listing them all; returns the
/// trust file's path and each name's line.
fn mesh(dir: &Dir, names: &[&str]) -> (String, Vec<String>) {
    let lines: Vec<String> = names.iter().map(|n| keygen(dir, n)).collect();
    let trust = dir.write("mesh.trust", &format!("{}\n", lines.join("\n")));
    (trust, lines)
}

/// The flags of the secure agent `name` of `dir`'s mesh, then `more`.
fn secure_args(dir: &Dir, name: &str, trust: &str, more: &[&str]) -> Vec<String> {
    let mut args = vec![
        "--key".to_owned(),
        dir.at(&format!("{name}.key")),
        "--trust".to_owned(),
        trust.to_owned(),
    ];
    args.extend(more.iter().map(|s| s.to_string()));
    args
}

fn strs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

fn is_error(v: &Value) -> bool {
    v["event"] == "error"
}

fn error_text(v: &Value) -> &str {
    v["error"].as_str().unwrap_or_default()
}

/// The direct peers of a `members` line, sorted.
fn direct(members: &Value) -> Vec<&str> {
    let list = members["direct"].as_array().expect("direct is a list");
    let mut names: Vec<&str> = list.iter().filter_map(Value::as_str).collect();
    names.sort_unstable();
    names
}

/// The public key (the second field) of a trust file line.
fn key_of(line: &str) -> &str {
    line.rsplit(' ').next().expect("a key")
}

#[test]
fn keygen_writes_a_private_key_once_and_prints_its_trust_line() {
    let dir = Dir::new("keygen");
    let line = keygen(&dir, "Ames");
    let key_file = dir.at("Ames.key");
    let mode = std::fs::metadata(&key_file)
        .expect("Ames.key")
        .permissions();
    assert_eq!(mode.mode() & 0o777, 0o600, "{key_file}");
    let before = std::fs::read(&key_file).expect("read Ames.key");

    let again = run(&["keygen", "--dir", &dir.at(""), "Ames"]);
    assert_eq!(again.status.code(), Some(1));
    assert!(again.stdout.is_empty(), "{}", text(&again.stdout));
    let err = text(&again.stderr);
    assert!(
        err.contains(&key_file) && err.contains("already exists"),
        "{err}"
    );
    assert_eq!(std::fs::read(&key_file).expect("read Ames.key"), before);

    // The printed lines are trust file lines, a name that needs quoting included.
    let spaced = keygen(&dir, "Mata Hari");
    assert!(
        std::fs::metadata(dir.at("Mata Hari.key")).is_ok(),
        "no key file"
    );
    let trust = Trust::parse(&format!("{line}\n{spaced}\n"), "printed").expect("parses");
    let names: Vec<&str> = trust.entries().map(|(n, _)| n).collect();
    assert_eq!(names, ["Ames", "Mata Hari"]);
    assert_eq!(
        trust.keys_of("Ames").next().unwrap().to_string(),
        key_of(&line)
    );
}

#[test]
fn keygen_psk_writes_a_private_pre_shared_key_once() {
    let dir = Dir::new("psk");
    let psk = dir.at("mesh.psk");
    let out = run(&["keygen", "--psk", &psk]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(out.stdout.is_empty(), "{}", text(&out.stdout));
    let mode = std::fs::metadata(&psk).expect("mesh.psk").permissions();
    assert_eq!(mode.mode() & 0o777, 0o600);
    Psk::load(Path::new(&psk)).expect("a PSK file");
    let before = std::fs::read(&psk).expect("read");

    let again = run(&["keygen", "--psk", &psk]);
    assert_eq!(again.status.code(), Some(1));
    assert!(text(&again.stderr).contains("already exists"));
    assert_eq!(std::fs::read(&psk).expect("read"), before);
}

/// Three secure agents, Alpha – Bravo – Charlie, each started with `more`: Alpha's message to
/// Charlie crosses Bravo and arrives as written.
fn relay(test: &str, more: &[&str]) {
    let dir = Dir::new(test);
    let (trust, _) = mesh(&dir, &["Alpha", "Bravo", "Charlie"]);
    let with = |name, extra: &[&str]| {
        let mut all: Vec<&str> = extra.to_vec();
        all.extend_from_slice(more);
        secure_args(&dir, name, &trust, &all)
    };
    let (mut b, b_addr) = Proc::listening("Bravo", &strs(&with("Bravo", &["--trace-relays"])));
    let mut a = Proc::spawn("Alpha", &strs(&with("Alpha", &["--connect", &b_addr])));
    let mut c = Proc::spawn("Charlie", &strs(&with("Charlie", &["--connect", &b_addr])));
    a.met("Charlie");
    c.met("Alpha");
    a.cmd(r#"{"cmd":"send","to":"Charlie","msg":{"text":"through Bravo","n":[1,2]}}"#);
    let m = c.wait("message", |v| v["event"] == "message");
    assert_eq!(
        m,
        json!({"event":"message","from":"Alpha","to":"Charlie","via":"Bravo",
               "msg":{"text":"through Bravo","n":[1,2]}})
    );
    b.wait("relayed", |v| {
        v == &json!({"event":"relayed","from":"Alpha","to":"Charlie","prev":"Alpha","next":"Charlie"})
    });
    a.wait("delivered", |v| {
        v["event"] == "delivered" && v["to"] == "Charlie"
    });
    for p in [&a, &b, &c] {
        let errors: Vec<&String> = (p.out.seen.iter())
            .filter(|l| l.starts_with(r#"{"event":"error""#))
            .collect();
        assert!(errors.is_empty(), "{}: {errors:?}", p.name);
    }
}

#[test]
fn three_secure_agents_relay_a_message() {
    relay("relay", &[]);
}

#[test]
fn three_secure_agents_with_a_psk_relay_a_message() {
    let dir = Dir::new("relay-psk-file");
    let psk = dir.at("mesh.psk");
    assert!(run(&["keygen", "--psk", &psk]).status.success());
    relay("relay-psk", &["--psk", &psk]);
}

#[test]
fn an_agent_without_the_psk_is_refused_by_one_that_has_it() {
    let dir = Dir::new("psk-missing");
    let (trust, _) = mesh(&dir, &["Alpha", "Bravo"]);
    let psk = dir.at("mesh.psk");
    assert!(run(&["keygen", "--psk", &psk]).status.success());
    let (mut b, b_addr) = Proc::listening(
        "Bravo",
        &strs(&secure_args(&dir, "Bravo", &trust, &["--psk", &psk])),
    );
    let _a = Proc::spawn(
        "Alpha",
        &strs(&secure_args(&dir, "Alpha", &trust, &["--connect", &b_addr])),
    );
    let e = b.wait("error", is_error);
    assert!(error_text(&e).contains("PSK"), "{e}");
}

#[test]
fn a_plaintext_agent_dialling_a_secure_one_is_refused() {
    let dir = Dir::new("plaintext");
    let (trust, _) = mesh(&dir, &["Secure"]);
    let (mut s, s_addr) =
        Proc::listening("Secure", &strs(&secure_args(&dir, "Secure", &trust, &[])));
    let mut p = Proc::spawn("Plain", &["--connect", &s_addr]);
    let e = s.wait("error", is_error);
    assert!(error_text(&e).contains("plaintext"), "{e}");
    s.cmd(r#"{"cmd":"members"}"#);
    let m = s.wait("members", |v| v["event"] == "members");
    assert_eq!(m["direct"], json!([]), "{m}");
    p.cmd(r#"{"cmd":"members"}"#);
    let m = p.wait("members", |v| v["event"] == "members");
    assert_eq!(m["direct"], json!([]), "{m}");
}

#[test]
fn an_agent_whose_key_is_not_trusted_is_refused_naming_the_key() {
    let dir = Dir::new("unknown-key");
    let (trust, lines) = mesh(&dir, &["Alpha", "Bravo"]);
    // Bravo trusts only itself.
    let bravo_trust = dir.write("bravo.trust", &format!("{}\n", lines[1]));
    let (mut b, b_addr) = Proc::listening(
        "Bravo",
        &strs(&secure_args(&dir, "Bravo", &bravo_trust, &[])),
    );
    let _a = Proc::spawn(
        "Alpha",
        &strs(&secure_args(&dir, "Alpha", &trust, &["--connect", &b_addr])),
    );
    let e = b.wait("error", is_error);
    let t = error_text(&e);
    assert!(
        t.contains("unknown key") && t.contains(key_of(&lines[0])),
        "{e}"
    );
}

#[test]
fn reload_revokes_a_removed_peer_and_keeps_the_old_trust_when_the_file_is_bad() {
    let dir = Dir::new("reload");
    let (trust, lines) = mesh(&dir, &["Alpha", "Bravo", "Charlie"]);
    let (mut b, b_addr) = Proc::listening("Bravo", &strs(&secure_args(&dir, "Bravo", &trust, &[])));
    let mut a = Proc::spawn(
        "Alpha",
        &strs(&secure_args(&dir, "Alpha", &trust, &["--connect", &b_addr])),
    );
    let mut c = Proc::spawn(
        "Charlie",
        &strs(&secure_args(
            &dir,
            "Charlie",
            &trust,
            &["--connect", &b_addr],
        )),
    );
    b.met("Alpha");
    b.met("Charlie");
    a.met("Charlie");

    // A file that does not parse changes nothing.
    std::fs::write(&trust, format!("{}\nCharlie not-a-key\n", lines[0])).expect("write");
    b.cmd(r#"{"cmd":"reload","id":"bad"}"#);
    let e = b.wait("error", is_error);
    let t = error_text(&e);
    assert_eq!(e["cmd_id"], "bad", "{e}");
    assert!(
        t.contains(&trust)
            && t.contains(":2:")
            && t.contains("the trust read before stays in force"),
        "{e}"
    );
    b.cmd(r#"{"cmd":"members"}"#);
    let m = b.wait("members", |v| v["event"] == "members");
    assert_eq!(direct(&m), ["Alpha", "Charlie"], "{m}");

    // Without Charlie's line: its link closes, and only its.
    std::fs::write(&trust, format!("{}\n{}\n", lines[0], lines[1])).expect("write");
    b.cmd(r#"{"cmd":"reload","id":7}"#);
    let r = b.wait("reloaded", |v| v["event"] == "reloaded");
    assert_eq!(
        r,
        json!({"event":"reloaded","trusted":2,"closed":1,"cmd_id":7})
    );
    let e = b.wait("error", is_error);
    assert!(
        error_text(&e).contains("Charlie") && error_text(&e).contains("revoked"),
        "{e}"
    );
    b.wait("lose Charlie", |v| {
        v["event"] == "lose" && v["name"] == "Charlie"
    });
    a.wait("lose Charlie", |v| {
        v["event"] == "lose" && v["name"] == "Charlie"
    });
    b.cmd(r#"{"cmd":"members"}"#);
    let m = b.wait("members", |v| v["event"] == "members");
    assert_eq!(m["direct"], json!(["Alpha"]), "{m}");
    a.cmd(r#"{"cmd":"send","to":"Bravo","msg":"still linked"}"#);
    b.wait("message", |v| {
        v["event"] == "message" && v["msg"] == "still linked"
    });
    drop(c.stdin.take());
}

#[test]
fn reload_in_a_plain_agent_is_an_error() {
    let (mut a, _) = Proc::listening("Alpha", &[]);
    a.cmd(r#"{"cmd":"reload","id":1}"#);
    let e = a.wait("error", is_error);
    assert_eq!(e["cmd_id"], 1);
    assert!(
        error_text(&e).contains("no trust file to reload") && error_text(&e).contains("--trust"),
        "{e}"
    );
}

#[test]
fn files_that_cannot_be_used_exit_2_naming_the_file_and_its_flag() {
    let dir = Dir::new("files");
    let (trust, _) = mesh(&dir, &["Alpha"]);
    let key = dir.at("Alpha.key");
    let psk = dir.at("mesh.psk");
    assert!(run(&["keygen", "--psk", &psk]).status.success());
    let missing = dir.at("missing");
    let directory = dir.at("");
    let bad = dir.write("bad", "not base64 at all\n");
    for (args, names) in [
        (
            vec!["--key", &missing, "--trust", &trust],
            vec![&missing, "--key"],
        ),
        (
            vec!["--key", &key, "--trust", &missing],
            vec![&missing, "--trust"],
        ),
        (
            vec!["--key", &key, "--trust", &trust, "--psk", &missing],
            vec![&missing, "--psk"],
        ),
        (
            vec!["--key", &directory, "--trust", &trust],
            vec!["--key", "cannot read"],
        ),
        (
            vec!["--key", &bad, "--trust", &trust],
            vec![&bad, "--key", ":1:"],
        ),
        (
            vec!["--key", &key, "--trust", &bad],
            vec![&bad, "--trust", ":1:"],
        ),
        (
            vec!["--key", &key, "--trust", &trust, "--psk", &bad],
            vec![&bad, "--psk", ":1:"],
        ),
    ] {
        let mut all = vec!["Alpha", "--listen", "127.0.0.1:0"];
        all.extend_from_slice(&args);
        let out = run(&all);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(out.stdout.is_empty(), "{args:?}: {}", text(&out.stdout));
        let err = text(&out.stderr);
        assert!(err.starts_with("secretagent: "), "{err}");
        for name in names {
            assert!(err.contains(name), "{args:?}: {name} not in {err}");
        }
    }
}

/// The README's how-to, as `docs/secure.sh` runs it: every command and output line the how-to
/// shows is in the script (with `$port` for 8124), and the script passes on a free port.
#[test]
fn the_readme_how_to_runs_as_written() {
    let readme = include_str!("../README.md");
    let script = include_str!("../docs/secure.sh");
    let start = readme
        .find("### Secure links: a how-to")
        .expect("the README has the how-to");
    let section = &readme[start..];
    let section = &section[..section[4..].find("\n#").map_or(section.len(), |i| i + 4)];
    let shown: Vec<String> = section
        .lines()
        .filter(|l| l.starts_with("secretagent ") || l.starts_with("{\""))
        .map(|l| l.replace("8124", "$port"))
        .collect();
    assert!(shown.len() >= 12, "{shown:#?}");
    for line in &shown {
        assert!(
            script.contains(line.as_str()),
            "docs/secure.sh does not run {line}"
        );
    }

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/secure.sh");
    let mut cmd = Command::new("bash");
    cmd.args([path, env!("CARGO_BIN_EXE_secretagent")])
        .env("PORT", port.to_string());
    let Output {
        status,
        stdout: out,
        stderr: err,
    } = output(&mut cmd, LIMIT * 6);
    assert!(
        status.success() && text(&out) == "ok\n",
        "docs/secure.sh: {status}\n{}{}",
        text(&out),
        text(&err)
    );
}

#[test]
fn sealed_bodies_cross_a_relay_and_arrive_as_written() {
    let dir = Dir::new("sealed");
    let (trust, _) = mesh(&dir, &["Alpha", "Bravo", "Charlie"]);
    let args = |name, more: &[&str]| secure_args(&dir, name, &trust, more);
    let (mut b, b_addr) = Proc::listening("Bravo", &strs(&args("Bravo", &["--trace-relays"])));
    let sealing = [
        "--sealed-bodies",
        "--max-frame-len",
        "4096",
        "--connect",
        &b_addr,
    ];
    let mut a = Proc::spawn("Alpha", &strs(&args("Alpha", &sealing)));
    let mut c = Proc::spawn("Charlie", &strs(&args("Charlie", &["--connect", &b_addr])));
    a.met("Charlie");
    c.met("Alpha");
    // Spacing, escapes, a number spelled 2.50: the destination prints the JSON as it was typed.
    let body =
        r#"{"to": "für \"Charlie\" \\ \ud83d\ude00", "n": [1, 2.50, -3e2], "x": {"y": null}}"#;
    a.cmd(&format!(r#"{{"cmd":"send","to":"Charlie","msg":{body}}}"#));
    c.wait("message", |v| v["event"] == "message");
    let line = c
        .out
        .seen
        .iter()
        .find(|l| l.contains(r#""event":"message""#));
    assert_eq!(
        line.map(String::as_str),
        Some(
            format!(
                r#"{{"event":"message","from":"Alpha","to":"Charlie","via":"Bravo","msg":{body}}}"#
            )
            .as_str()
        )
    );
    b.wait("relayed", |v| {
        v["event"] == "relayed" && v["from"] == "Alpha" && v["to"] == "Charlie"
    });
    a.wait("delivered", |v| v["event"] == "delivered");

    // The switch took effect: sealed, a body is a third larger, so one that fits Alpha's
    // frame limit as it is no longer does; unsealed, from Charlie, it crosses.
    let big = format!("\"{}\"", "x".repeat(3300));
    a.cmd(&format!(
        r#"{{"cmd":"send","to":"Charlie","msg":{big},"id":"big"}}"#
    ));
    let e = a.wait("error", is_error);
    assert_eq!(e["cmd_id"], "big", "{e}");
    assert!(
        error_text(&e).contains("over the limit of 4096 (--max-frame-len)"),
        "{e}"
    );
    c.cmd(&format!(r#"{{"cmd":"send","to":"Alpha","msg":{big}}}"#));
    let m = a.wait("message", |v| v["event"] == "message");
    assert_eq!(m["msg"].as_str().map(str::len), Some(3300));
    assert_eq!(m["via"], "Bravo");
}

/// The first line a secure agent started with `args` writes on stderr (it is killed then).
fn first_stderr_line(args: &[&str]) -> String {
    use std::io::{BufRead, BufReader};
    let mut child = Command::new(env!("CARGO_BIN_EXE_secretagent"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start secretagent");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stderr).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx.recv_timeout(LIMIT);
    let _ = child.kill();
    let _ = child.wait();
    line.unwrap_or_else(|_| panic!("{args:?}: nothing on stderr within {LIMIT:?}"))
}

#[test]
fn a_trust_file_that_trusts_nobody_or_not_this_key_is_warned_of_at_start() {
    let dir = Dir::new("warnings");
    let (_, lines) = mesh(&dir, &["Alpha", "Bravo"]);
    let key = dir.at("Alpha.key");
    let empty = dir.write("empty.trust", "# nobody yet\n");
    let warning = first_stderr_line(&["Alpha", "--key", &key, "--trust", &empty]);
    assert!(
        warning.starts_with("secretagent: warning: ") && warning.contains("trusts no key"),
        "{warning}"
    );
    // Alpha's name with Bravo's key only: the line to add is Alpha's own.
    let other = format!("Alpha {}\n", key_of(&lines[1]));
    let other = dir.write("other.trust", &other);
    let warning = first_stderr_line(&["Alpha", "--key", &key, "--trust", &other]);
    assert!(
        warning.contains("trusts other keys than") && warning.contains(lines[0].as_str()),
        "{warning}"
    );
}
