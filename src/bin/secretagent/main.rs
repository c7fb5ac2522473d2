//! `secretagent`: an agent driven by JSON lines on stdin, reporting JSON lines on stdout, so
//! that any language or shell script can use the mesh. `secretagent --help` lists every flag,
//! command and event; the README's "The command-line agent" says the same.
//!
//! This file is the event loop: it runs commands and prints events. `args` reads the command
//! line, `commands` a stdin line, `stdin` splits stdin into lines on a thread of its own,
//! `secure` does what secure mode adds (the key and trust files, `reload`), `keygen` makes
//! their keys.

mod args;
mod commands;
mod keygen;
mod secure;
mod stdin;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Write};
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::mpsc::TryRecvError;
use std::time::Duration;

use args::{Config, Parsed};
use commands::{Command, Who};
use secretagent::{Agent, ConnectId, Error, Event, MessageId, Name, SendError, Target};
use serde_json::value::RawValue;
use stdin::Input;

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
/// contract's order; `serde_json::Value` would sort them), then `"cmd_id"` when the line
/// answers a command that carried an `"id"`. A closed stdout ends the process.
fn emit(
    out: &mut impl Write,
    event: &str,
    fields: &[(&str, &dyn erased::Json)],
    cmd_id: Option<&RawValue>,
) {
    let mut line = Vec::with_capacity(128);
    line.extend_from_slice(b"{\"event\":");
    erased::Json::write(&event, &mut line);
    let cmd_id = cmd_id
        .as_ref()
        .map(|id| ("cmd_id", id as &dyn erased::Json));
    for (key, value) in fields.iter().copied().chain(cmd_id) {
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

/// Values that can be written as JSON without naming their type at the call site (so that
/// events print the same whether a name is a `String` or a `secretagent::Name`).
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

/// Whom an answer or an error is for: a stdin line (its number, and the `"id"` it carried), or
/// the command line.
#[derive(Clone, Copy, Default)]
struct Reply<'a> {
    line: Option<u64>,
    id: Option<&'a RawValue>,
}

impl Reply<'_> {
    fn answer(&self, out: &mut impl Write, event: &str, fields: &[(&str, &dyn erased::Json)]) {
        emit(out, event, fields, self.id);
    }

    fn error(&self, out: &mut impl Write, text: impl std::fmt::Display) {
        let text = match self.line {
            Some(n) => format!("line {n}: {text}"),
            None => text.to_string(),
        };
        emit(out, "error", &[("error", &text)], self.id);
    }
}

/// A send refused, in the terms of this command line rather than of the library's options.
fn refused(to: &str, e: &SendError) -> String {
    let why = match e {
        SendError::Unreachable { .. } => "it is not reachable now, and --no-queue is on".to_owned(),
        SendError::QueueFull { limit, .. } => format!(
            "{limit} messages for it are already held (--max-queued-per-destination); \
             send again once some are delivered"
        ),
        SendError::TooLarge { len, max } => format!(
            "the message makes a frame of {len} bytes, over the limit of {max} (--max-frame-len)"
        ),
        other => other.to_string(),
    };
    format!("cannot send to \"{to}\": {why}")
}

/// A route in the `members` event; a struct so that `via` comes before `hops`.
#[derive(serde::Serialize)]
struct RouteOut<'a> {
    via: &'a str,
    hops: Option<u32>,
}

/// How the agent re-dials, as the command line set it: for the text of a failed dial.
struct Redial {
    on: bool,
    interval: Duration,
    max: Duration,
}

impl Redial {
    /// What follows a failed dial of a run of failures, the first of which is the only one
    /// reported: the next attempt, and the back-off after it.
    fn after(&self, retry_in: Option<Duration>) -> String {
        let Some(next) = retry_in else {
            return if self.on {
                String::new()
            } else {
                "; not dialling again (--no-reconnect)".to_owned()
            };
        };
        let next = next.as_millis();
        if self.max <= self.interval {
            return format!(
                "; dialling again in {next} ms, then every {} ms, reporting no further failure \
                 until it links",
                self.interval.as_millis()
            );
        }
        format!(
            "; dialling again in {next} ms, then less and less often, up to every {} ms \
             (--reconnect-max), reporting no further failure until it links",
            self.max.as_millis()
        )
    }
}

struct Cli {
    agent: Agent,
    /// How long `quit` waits for confirmations (`--linger`).
    linger: Duration,
    redial: Redial,
    /// Connects whose failures were already reported since they last succeeded.
    failing: BTreeSet<ConnectId>,
    /// What `Event::ShutdownComplete` left unconfirmed, once it came.
    shut_down: Option<Vec<(Name, MessageId)>>,
    /// `--trust`, which `reload` reads again; none for a plain agent.
    trust_file: Option<PathBuf>,
}

impl Cli {
    fn listen(&mut self, out: &mut impl Write, reply: Reply<'_>, addr: &str) {
        match self.agent.listen(listen_addr(addr)) {
            Ok(a) => reply.answer(out, "listening", &[("addr", &a.to_string())]),
            Err(e) => reply.error(out, format!("cannot listen on {addr}: {e}")),
        }
    }

    fn connect(&mut self, out: &mut impl Write, reply: Reply<'_>, addr: &str) {
        match self.agent.connect(dial_addr(addr)) {
            Ok(id) => reply.answer(out, "connecting", &[("addr", &addr), ("number", &id.0)]),
            Err(e) => reply.error(out, format!("cannot connect to {addr}: {e}")),
        }
    }

    /// Runs stdin line `number`; breaks with the exit status once the agent is gone.
    fn command(&mut self, out: &mut impl Write, number: u64, line: &str) -> ControlFlow<ExitCode> {
        if line.trim().is_empty() {
            return ControlFlow::Continue(());
        }
        let (id, parsed) = commands::parse(line);
        let reply = Reply {
            line: Some(number),
            id: id.as_deref(),
        };
        let cmd = match parsed {
            Ok(c) => c,
            Err(e) => {
                reply.error(out, e);
                return ControlFlow::Continue(());
            }
        };
        match cmd {
            Command::Send { to, msg, within } => {
                let sent = match within {
                    Some(d) => self.agent.send_message_within(&to, &*msg, d),
                    None => self.agent.send_raw(&to, &msg),
                };
                match sent {
                    Ok(id) => reply.answer(out, "sent", &[("to", &to), ("id", &id.0)]),
                    Err(e) => reply.error(out, refused(&to, &e)),
                }
            }
            Command::Connect { addr } => self.connect(out, reply, &addr),
            Command::Listen { addr } => self.listen(out, reply, &addr),
            Command::Disconnect { who } => {
                let result = match &who {
                    Who::Name(name) => self.agent.disconnect(Target::Name(name)),
                    Who::Connect(n) => self.agent.disconnect(ConnectId(*n)),
                };
                if let Err(e) = result {
                    reply.error(out, format!("cannot disconnect: {e}"));
                }
            }
            Command::Members => self.members(out, reply),
            Command::Graph => reply.answer(out, "graph", &[("dot", &self.agent.graph())]),
            Command::Reload => match secure::reload(&mut self.agent, self.trust_file.as_ref()) {
                Ok(r) => reply.answer(
                    out,
                    "reloaded",
                    &[("trusted", &r.trusted), ("closed", &r.closed)],
                ),
                Err(e) => reply.error(out, e),
            },
            Command::Quit => return ControlFlow::Break(self.quit(out, reply)),
        }
        ControlFlow::Continue(())
    }

    fn members(&mut self, out: &mut impl Write, reply: Reply<'_>) {
        let direct: Vec<String> = self.agent.everybody().into_iter().map(|p| p.name).collect();
        let node = self.agent.node();
        let routes: BTreeMap<&str, RouteOut<'_>> = node
            .routes()
            .map(|(name, r)| {
                let via = node.link_peer(r.link).unwrap_or_default();
                (name, RouteOut { via, hops: r.hops })
            })
            .collect();
        reply.answer(out, "members", &[("direct", &direct), ("routes", &routes)]);
    }

    /// `quit`: the library's graceful shutdown. New work is refused, what is queued goes
    /// out, confirmations are awaited up to `--linger`, and every link is closed cleanly (a
    /// FIN, and the peer's last bytes read), the events meanwhile printed as ever. Each
    /// message left unconfirmed gets an `undeliverable` line, then a `quit` line answers the
    /// command: the last line of the agent. Lines after the quit are not read.
    fn quit(&mut self, out: &mut impl Write, reply: Reply<'_>) -> ExitCode {
        self.agent.begin_shutdown(self.linger);
        loop {
            self.drain_events(out);
            if let Some(unconfirmed) = self.shut_down.take() {
                let reason = format!(
                    "not confirmed when the agent quit (--linger {} ms)",
                    self.linger.as_millis()
                );
                for (to, id) in &unconfirmed {
                    let fields: [(&str, &dyn erased::Json); 3] =
                        [("to", to), ("id", &id.0), ("reason", &reason)];
                    emit(out, "undeliverable", &fields, None);
                }
                reply.answer(out, "quit", &[("unconfirmed", &unconfirmed.len())]);
                return ExitCode::SUCCESS;
            }
            if let Err(e) = self.poll(out, None) {
                return fail(out, "its poll failed while quitting", &e);
            }
        }
    }

    /// Polls the agent. The loop drains every event after each poll and command, so none
    /// are ever left undrained; were some left, they are drained here and the loop goes on.
    /// Any other error ends the agent: its poll failed ([`Error::Io`]), or it is gone.
    fn poll(&mut self, out: &mut impl Write, timeout: Option<Duration>) -> Result<(), Error> {
        match self.agent.poll(timeout) {
            Err(Error::EventsNotDrained { .. }) => {
                self.drain_events(out);
                Ok(())
            }
            other => other,
        }
    }

    fn drain_events(&mut self, out: &mut impl Write) {
        while let Some(e) = self.agent.next_event() {
            self.event(out, e);
        }
    }

    fn event(&mut self, out: &mut impl Write, e: Event) {
        let print = |out: &mut _, event, fields: &[(&str, &dyn erased::Json)]| {
            emit(out, event, fields, None);
        };
        match e {
            Event::Meet { name } => print(out, "meet", &[("name", &name)]),
            Event::Lose { name } => print(out, "lose", &[("name", &name)]),
            Event::Message {
                from,
                to,
                via,
                body,
            } => print(
                out,
                "message",
                &[
                    ("from", &from),
                    ("to", &to),
                    ("via", &via),
                    ("msg", &body.raw()),
                ],
            ),
            Event::Delivered { to, id } => print(out, "delivered", &[("to", &to), ("id", &id.0)]),
            Event::Undeliverable { to, id, reason } => print(
                out,
                "undeliverable",
                &[("to", &to), ("id", &id.0), ("reason", &reason.to_string())],
            ),
            Event::Relayed {
                from,
                to,
                prev,
                next,
            } => print(
                out,
                "relayed",
                &[
                    ("from", &from),
                    ("to", &to),
                    ("prev", &prev),
                    ("next", &next),
                ],
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
                Reply::default().error(out, format!("{who} closed: {reason}"));
            }
            Event::ConnectFailed {
                connect,
                error: text,
                retry_in,
            } => {
                // Reported once per run of failures, not at every retry.
                if !self.failing.insert(connect) {
                    return;
                }
                let after = self.redial.after(retry_in);
                Reply::default().error(out, format!("{connect} failed: {text}{after}"));
            }
            Event::ShutdownComplete { unconfirmed } => self.shut_down = Some(unconfirmed),
            _ => {}
        }
    }
}

fn main() -> ExitCode {
    let config = match args::parse_args(std::env::args_os().skip(1)) {
        Ok(Parsed::Run(c)) => *c,
        #[cfg(feature = "secure")]
        Ok(Parsed::Keygen(made)) => return keygen::run(&made),
        Ok(Parsed::Help) => return print_and_exit(&args::help()),
        Ok(Parsed::Version) => return print_and_exit(&format!("{}\n", args::version())),
        Err(e) => {
            eprintln!("secretagent: {e}\n{}", args::HINT);
            return ExitCode::from(2);
        }
    };
    run(config)
}

/// The agent cannot go on: says why, on stdout as an `error` line and on stderr, and gives the
/// exit status for a failed agent.
fn fail(out: &mut impl Write, what: &str, e: &Error) -> ExitCode {
    let text = format!("the agent stops: {what}: {e}");
    Reply::default().error(out, &text);
    eprintln!("secretagent: {text}");
    ExitCode::FAILURE
}

fn print_and_exit(text: &str) -> ExitCode {
    let mut out = io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("secretagent: cannot write to stdout: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(config: Config) -> ExitCode {
    let (agent, trust_file) = match secure::agent(&config) {
        Ok(made) => made,
        Err(secure::Startup::Files(e)) => {
            eprintln!("secretagent: {e}");
            return ExitCode::from(2);
        }
        Err(secure::Startup::Agent(e)) => {
            eprintln!("secretagent: {e}\n{}", args::HINT);
            return ExitCode::from(2);
        }
    };
    let opts = agent.node().options();
    let redial = Redial {
        on: opts.auto_reconnect,
        interval: opts.auto_reconnect_interval,
        max: opts.auto_reconnect_max_interval,
    };
    let mut cli = Cli {
        agent,
        linger: config.linger,
        redial,
        failing: BTreeSet::new(),
        shut_down: None,
        trust_file,
    };
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    for addr in &config.listen {
        cli.listen(&mut out, Reply::default(), addr);
    }
    for addr in &config.connect {
        cli.connect(&mut out, Reply::default(), addr);
    }
    let lines = match stdin::spawn(&mut cli.agent) {
        Ok(rx) => rx,
        Err(e) => {
            eprintln!("secretagent: cannot watch stdin: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut stdin_open = true;
    loop {
        if let Err(e) = cli.poll(&mut out, None) {
            return fail(&mut out, "its poll failed", &e);
        }
        cli.drain_events(&mut out);
        while stdin_open {
            let input = match lines.try_recv() {
                Ok(input) => input,
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => {
                    stdin_open = false;
                    break;
                }
            };
            let next = match input {
                Input::Line { number, text } => cli.command(&mut out, number, &text),
                Input::NotUtf8 { number, problem } => {
                    let reply = Reply {
                        line: Some(number),
                        id: None,
                    };
                    reply.error(&mut out, problem);
                    ControlFlow::Continue(())
                }
                Input::Failed(text) => {
                    Reply::default().error(&mut out, text);
                    ControlFlow::Continue(())
                }
            };
            if let ControlFlow::Break(status) = next {
                return status;
            }
            cli.drain_events(&mut out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_ports() {
        assert_eq!(listen_addr("8124"), "0.0.0.0:8124");
        assert_eq!(dial_addr("8124"), "127.0.0.1:8124");
        assert_eq!(dial_addr("[::1]:5"), "[::1]:5");
    }

    #[test]
    fn answers_echo_the_commands_id_last_and_keep_the_field_order() {
        let id = RawValue::from_string(r#"{"k": [1]}"#.to_owned()).unwrap();
        let mut out = Vec::new();
        let reply = Reply {
            line: Some(4),
            id: Some(&id),
        };
        reply.answer(&mut out, "sent", &[("to", &"B"), ("id", &7)]);
        reply.error(&mut out, "no");
        Reply::default().error(&mut out, "plain");
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"event\":\"sent\",\"to\":\"B\",\"id\":7,\"cmd_id\":{\"k\": [1]}}\n\
             {\"event\":\"error\",\"error\":\"line 4: no\",\"cmd_id\":{\"k\": [1]}}\n\
             {\"event\":\"error\",\"error\":\"plain\"}\n"
        );
    }
}
