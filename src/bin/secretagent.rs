//! `secretagent`: an agent driven by JSON lines on stdin, reporting JSON lines on stdout, so
//! that any language or shell script can use the mesh.
//!
//! ```text
//! secretagent NAME [--listen ADDR]... [--connect ADDR]... [--ping-after MS] [--ping-timeout MS]
//!                  [--reconnect-interval MS] [--no-reconnect] [--no-queue] [--max-hops N]
//! ```
//! stdin commands: `{"cmd":"send","to":NAME,"msg":ANY}`, `{"cmd":"connect","addr":ADDR}`,
//! `{"cmd":"disconnect","who":NAME_OR_NUMBER}`, `{"cmd":"listen","addr":ADDR}`,
//! `{"cmd":"members"}`, `{"cmd":"quit"}`. End of stdin does not stop the agent.
//!
//! stdout events (one object per line, flushed per line): `listening`, `meet`, `lose`,
//! `message`, `delivered`, `undeliverable`, `members`, `error`; and, beyond the contract,
//! `sent` (the id given to a send) and `connecting` (the number given to a connect), which
//! consumers that do not need them may ignore.
//!
//! Stdin is read by a thread that hands lines to the event loop and wakes it through the
//! agent's `mio::Waker`: a thread rather than registering fd 0, because stdin may be a regular
//! file, which epoll refuses.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, BufRead, Write};
use std::process::ExitCode;
use std::sync::mpsc::{Receiver, TryRecvError, channel};
use std::time::Duration;

use secretagent::{Agent, ConnectId, Event, Options, Target};
use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;

const USAGE: &str = "usage: secretagent NAME [--listen ADDR]... [--connect ADDR]... [--ping-after MS] \
[--ping-timeout MS] [--reconnect-interval MS] [--no-reconnect] [--no-queue] [--max-hops N]";

struct Config {
    name: String,
    listen: Vec<String>,
    connect: Vec<String>,
    opts: Options,
}

fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Config, String> {
    let mut args = args.into_iter();
    let mut name = None;
    let mut listen = Vec::new();
    let mut connect = Vec::new();
    let mut opts = Options::default();
    while let Some(arg) = args.next() {
        let mut value = |flag: &str| args.next().ok_or_else(|| format!("{flag} needs a value"));
        let ms = |flag: &str, v: String| {
            v.parse::<u64>()
                .map(Duration::from_millis)
                .map_err(|_| format!("{flag} takes milliseconds, not \"{v}\""))
        };
        match arg.as_str() {
            "--listen" => listen.push(value("--listen")?),
            "--connect" => connect.push(value("--connect")?),
            "--ping-after" => opts.ping_after = ms("--ping-after", value("--ping-after")?)?,
            "--ping-timeout" => opts.ping_timeout = ms("--ping-timeout", value("--ping-timeout")?)?,
            "--reconnect-interval" => {
                opts.auto_reconnect_interval =
                    ms("--reconnect-interval", value("--reconnect-interval")?)?
            }
            "--no-reconnect" => opts.auto_reconnect = false,
            "--no-queue" => opts.queue_messages = false,
            "--max-hops" => {
                let v = value("--max-hops")?;
                opts.max_hops = v.parse().ok().filter(|&n| n > 0).ok_or_else(|| {
                    format!("--max-hops takes a number from 1 to 255, not \"{v}\"")
                })?;
            }
            "-h" | "--help" => return Err(String::new()),
            flag if flag.starts_with("--") => return Err(format!("unknown option {flag}")),
            _ if name.is_none() => name = Some(arg),
            _ => return Err(format!("unexpected argument \"{arg}\"")),
        }
    }
    let name = name.ok_or("the agent's NAME is missing")?;
    Ok(Config {
        name,
        listen,
        connect,
        opts,
    })
}

/// A bare port means every interface when listening (as the original's `createServer(port)`)
/// and this machine when dialling.
fn listen_addr(addr: &str) -> String {
    if addr.parse::<u16>().is_ok() {
        format!("0.0.0.0:{addr}")
    } else {
        addr.to_owned()
    }
}

fn dial_addr(addr: &str) -> String {
    if addr.parse::<u16>().is_ok() {
        format!("127.0.0.1:{addr}")
    } else {
        addr.to_owned()
    }
}

/// Writes `{"event":EVENT,...fields}` as one line and flushes it, keys in the order given (the
/// contract's order; `serde_json::Value` would sort them). A closed stdout ends the process.
fn emit(out: &mut impl Write, event: &str, fields: &[(&str, &dyn erased::Json)]) {
    let mut line = Vec::with_capacity(128);
    line.extend_from_slice(b"{\"event\":");
    erased::Json::write(&event, &mut line);
    for (key, value) in fields {
        line.push(b',');
        erased::Json::write(key, &mut line);
        line.push(b':');
        value.write(&mut line);
    }
    line.extend_from_slice(b"}\n");
    if out.write_all(&line).and_then(|()| out.flush()).is_err() {
        std::process::exit(0);
    }
}

/// Values that can be written as JSON without naming their type at the call site.
mod erased {
    pub trait Json {
        fn write(&self, out: &mut Vec<u8>);
    }
    impl<T: serde::Serialize + ?Sized> Json for T {
        fn write(&self, out: &mut Vec<u8>) {
            // Serializing plain data into a Vec cannot fail.
            let _ = serde_json::to_writer(out, self);
        }
    }
}

fn error(out: &mut impl Write, text: impl std::fmt::Display) {
    emit(out, "error", &[("error", &text.to_string())]);
}

/// One stdin line. Flat rather than a tagged enum: a raw `msg` cannot pass through serde's
/// buffering of tagged enums.
#[derive(Deserialize)]
struct Line {
    cmd: String,
    to: Option<String>,
    #[serde(default, deserialize_with = "present")]
    msg: Option<Box<RawValue>>,
    addr: Option<String>,
    who: Option<Value>,
}

/// Keeps `"msg":null` as a body (plain `Option` would read it as absent).
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Box<RawValue>>, D::Error> {
    Box::<RawValue>::deserialize(d).map(Some)
}

#[derive(Debug)]
enum Command {
    Send { to: String, msg: Box<RawValue> },
    Connect { addr: String },
    Disconnect { who: Value },
    Listen { addr: String },
    Members,
    Quit,
}

fn parse_command(line: &str) -> Result<Command, String> {
    let l: Line = serde_json::from_str(line).map_err(|e| e.to_string())?;
    let need = |field: &str| format!("\"{}\" needs \"{field}\"", l.cmd);
    Ok(match l.cmd.as_str() {
        "send" => Command::Send {
            to: l.to.ok_or_else(|| need("to"))?,
            msg: l.msg.ok_or_else(|| need("msg"))?,
        },
        "connect" => Command::Connect {
            addr: l.addr.ok_or_else(|| need("addr"))?,
        },
        "listen" => Command::Listen {
            addr: l.addr.ok_or_else(|| need("addr"))?,
        },
        "disconnect" => Command::Disconnect {
            who: l.who.ok_or_else(|| need("who"))?,
        },
        "members" => Command::Members,
        "quit" => Command::Quit,
        other => {
            return Err(format!(
                "unknown command \"{other}\" (send, connect, disconnect, listen, members, quit)"
            ));
        }
    })
}

/// A route in the `members` event; a struct so that `via` comes before `hops`.
#[derive(serde::Serialize)]
struct RouteOut<'a> {
    via: &'a str,
    hops: Option<u32>,
}

struct Cli {
    agent: Agent,
    /// Connects whose failures were already reported since they last succeeded.
    failing: BTreeSet<ConnectId>,
}

impl Cli {
    fn listen(&mut self, out: &mut impl Write, addr: &str) {
        match self.agent.listen(listen_addr(addr)) {
            Ok(a) => emit(out, "listening", &[("addr", &a.to_string())]),
            Err(e) => error(out, format!("cannot listen on {addr}: {e}")),
        }
    }

    fn connect(&mut self, out: &mut impl Write, addr: &str) {
        match self.agent.connect(dial_addr(addr)) {
            Ok(id) => emit(out, "connecting", &[("addr", &addr), ("number", &id.0)]),
            Err(e) => error(out, format!("cannot connect to {addr}: {e}")),
        }
    }

    /// Runs one stdin line; returns `false` on quit.
    fn command(&mut self, out: &mut impl Write, line: &str) -> bool {
        if line.trim().is_empty() {
            return true;
        }
        let cmd = match parse_command(line) {
            Ok(c) => c,
            Err(e) => {
                error(out, format!("bad command {line:?}: {e}"));
                return true;
            }
        };
        match cmd {
            Command::Send { to, msg } => match self.agent.send_raw(&to, &msg) {
                Ok(id) => emit(out, "sent", &[("to", &to), ("id", &id.0)]),
                Err(e) => error(out, format!("cannot send to \"{to}\": {e}")),
            },
            Command::Connect { addr } => self.connect(out, &addr),
            Command::Listen { addr } => self.listen(out, &addr),
            Command::Disconnect { who } => {
                let result = match &who {
                    Value::String(name) => self.agent.disconnect(Target::Name(name)),
                    Value::Number(n) if n.as_u64().is_some() => self
                        .agent
                        .disconnect(ConnectId(n.as_u64().unwrap_or_default())),
                    _ => {
                        error(
                            out,
                            format!("\"who\" must be a name or a connect number, not {who}"),
                        );
                        return true;
                    }
                };
                if let Err(e) = result {
                    error(out, format!("cannot disconnect {who}: {e}"));
                }
            }
            Command::Members => {
                let direct: Vec<String> =
                    self.agent.everybody().into_iter().map(|p| p.name).collect();
                let node = self.agent.node();
                let routes: BTreeMap<&str, RouteOut<'_>> = node
                    .routes()
                    .map(|(name, r)| {
                        let via = node.link_peer(r.link).unwrap_or_default();
                        (name, RouteOut { via, hops: r.hops })
                    })
                    .collect();
                emit(out, "members", &[("direct", &direct), ("routes", &routes)]);
            }
            Command::Quit => return false,
        }
        true
    }

    fn drain_events(&mut self, out: &mut impl Write) {
        while let Some(e) = self.agent.next_event() {
            self.event(out, e);
        }
    }

    fn event(&mut self, out: &mut impl Write, e: Event) {
        match e {
            Event::Meet { name } => emit(out, "meet", &[("name", &name)]),
            Event::Lose { name } => emit(out, "lose", &[("name", &name)]),
            Event::Message {
                from,
                to,
                via,
                body,
            } => emit(
                out,
                "message",
                &[
                    ("from", &from),
                    ("to", &to),
                    ("via", &via),
                    ("msg", &body.raw()),
                ],
            ),
            Event::Delivered { to, id } => emit(out, "delivered", &[("to", &to), ("id", &id.0)]),
            Event::Undeliverable { to, id, reason } => emit(
                out,
                "undeliverable",
                &[("to", &to), ("id", &id.0), ("reason", &reason.to_string())],
            ),
            Event::LinkUp {
                peer,
                inbound: false,
                ..
            } => {
                if let Some(c) = self.agent.direct_member(&peer).and_then(|p| p.connect) {
                    self.failing.remove(&c);
                }
            }
            Event::LinkDown { link, peer, reason } if reason.is_error() => {
                let who = peer.map_or_else(|| link.to_string(), |p| format!("{link} (\"{p}\")"));
                error(out, format!("{who} closed: {reason}"));
            }
            Event::ConnectFailed {
                connect,
                error: text,
                retry_in,
            } => {
                // Reported once per run of failures, not at every retry.
                let first = self.failing.insert(connect);
                if first {
                    let retry = retry_in.map_or_else(
                        || "; not retrying (--no-reconnect)".to_owned(),
                        |d| format!("; retrying every {} ms", d.as_millis()),
                    );
                    error(out, format!("{connect} failed: {text}{retry}"));
                }
            }
            _ => {}
        }
    }
}

fn main() -> ExitCode {
    let config = match parse_args(std::env::args().skip(1)) {
        Ok(c) => c,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("secretagent: {e}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let agent = match Agent::new(&config.name, config.opts) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("secretagent: {e}");
            return ExitCode::from(2);
        }
    };
    let mut cli = Cli {
        agent,
        failing: BTreeSet::new(),
    };
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    for addr in &config.listen {
        cli.listen(&mut out, addr);
    }
    for addr in &config.connect {
        cli.connect(&mut out, addr);
    }
    let lines = match spawn_stdin_reader(&mut cli.agent) {
        Ok(rx) => rx,
        Err(e) => {
            eprintln!("secretagent: cannot watch stdin: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut stdin_open = true;
    loop {
        if let Err(e) = cli.agent.poll(None) {
            eprintln!("secretagent: poll failed: {e}");
            return ExitCode::FAILURE;
        }
        cli.drain_events(&mut out);
        while stdin_open {
            match lines.try_recv() {
                Ok(line) => {
                    let go_on = cli.command(&mut out, &line);
                    cli.drain_events(&mut out);
                    if !go_on {
                        // Let what is buffered reach the sockets before leaving.
                        let _ = cli.agent.poll(Some(Duration::ZERO));
                        cli.drain_events(&mut out);
                        return ExitCode::SUCCESS;
                    }
                }
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => stdin_open = false,
            }
        }
    }
}

fn spawn_stdin_reader(agent: &mut Agent) -> io::Result<Receiver<String>> {
    let waker = agent.waker()?;
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        for line in io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                return;
            }
            let _ = waker.wake();
        }
        // End of stdin: dropping `tx` tells the loop; the agent keeps running.
        drop(tx);
        let _ = waker.wake();
    });
    Ok(rx)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn parses_the_whole_command_line() {
        let c = parse_args(args(
            "Wolf --listen 127.0.0.1:0 --listen 9000 --connect a:1 --ping-after 200 --ping-timeout 300 \
             --reconnect-interval 50 --no-reconnect --no-queue --max-hops 7",
        ))
        .unwrap();
        assert_eq!(c.name, "Wolf");
        assert_eq!(c.listen, ["127.0.0.1:0", "9000"]);
        assert_eq!(c.connect, ["a:1"]);
        assert_eq!(c.opts.ping_after, Duration::from_millis(200));
        assert_eq!(c.opts.ping_timeout, Duration::from_millis(300));
        assert_eq!(c.opts.auto_reconnect_interval, Duration::from_millis(50));
        assert!(!c.opts.auto_reconnect && !c.opts.queue_messages);
        assert_eq!(c.opts.max_hops, 7);
    }

    #[test]
    fn refuses_what_it_does_not_understand() {
        for bad in [
            "",
            "--listen",
            "Wolf --frobnicate",
            "Wolf Ames",
            "Wolf --ping-after soon",
            "Wolf --max-hops 0",
        ] {
            assert!(parse_args(args(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn bare_ports() {
        assert_eq!(listen_addr("8124"), "0.0.0.0:8124");
        assert_eq!(dial_addr("8124"), "127.0.0.1:8124");
        assert_eq!(dial_addr("[::1]:5"), "[::1]:5");
    }

    #[test]
    fn commands_parse() {
        let c = parse_command(r#"{"cmd":"send","to":"B","msg":{"x":[1]}}"#).unwrap();
        assert!(
            matches!(c, Command::Send { ref to, ref msg } if to == "B" && msg.get() == r#"{"x":[1]}"#)
        );
        assert!(matches!(
            parse_command(r#"{"cmd":"send","to":"B","msg":null}"#),
            Ok(Command::Send { .. })
        ));
        assert!(
            parse_command(r#"{"cmd":"explode"}"#)
                .unwrap_err()
                .contains("unknown command")
        );
        assert!(
            parse_command(r#"{"cmd":"send","to":"B"}"#)
                .unwrap_err()
                .contains("needs \"msg\"")
        );
        assert!(parse_command("nonsense").is_err());
        assert!(matches!(
            parse_command(r#"{"cmd":"members"}"#),
            Ok(Command::Members)
        ));
    }
}
