//! The agent process: one [`Agent`] with default options, in its own process, driven by command
//! lines on stdin and reporting lines on stdout.
//!
//! Started as `--role agent --name NAME [--secure MESH] [--connect PORT]... [--sink N] [--echo]
//! [--count-alloc] [--embed]`.
//! It listens on a free loopback port and prints `listening PORT` first. Then:
//! - `--secure MESH`: the agent's links are secure, its key and whom it trusts derived from the
//!   mesh number MESH (see `support::secure`); every agent of a benchmark gets the same number.
//! - `--sink N`: prints `received N NANOS` once N messages have arrived (from the first to the
//!   N-th `Event::Message`).
//! - `--echo`: sends every message back to its sender.
//! - `--count-alloc`: counts heap bytes from the start, for `report`.
//! - `--embed`: the agent lives in an application's own mio loop, which waits on the agent's
//!   descriptor and its `next_timeout()` and polls it without blocking, instead of blocking in
//!   `Agent::poll`.
//!
//! Commands, one a line:
//! - `wait NAME HOPS`: prints `reachable` once NAME has a confirmed route of HOPS hops.
//! - `stream TO N`: sends N messages to TO, keeping the window full: it sends until the agent
//!   refuses (`SendError::QueueFull`, at `Options::max_queued_per_destination`), polls, and goes
//!   on. Prints `streamed N NANOS` once all N are confirmed (`Event::Delivered`).
//! - `ping TO N WARM`: one message in flight: sends to TO, and sends the next as soon as the
//!   answer is drained (as an application answering in its event handler), WARM times
//!   unmeasured then N times measured; prints `latency N P50 P99 MAX` (nanoseconds, round trip).
//! - `report LINKS`: once LINKS peers are linked and known and nothing changed for 300 ms,
//!   prints `report LINKS HEAP_BYTES RSS_KIB`.
//! - `quit`.
//!
//! The loop blocks in `Agent::poll` until there is network work (a 1 s cap), never spinning; the
//! stdin thread wakes it through `Agent::waker` when a command arrives.

use std::sync::mpsc::TryRecvError;
use std::time::{Duration, Instant};

use secretagent::{Agent, Event, Options, SendError};
use serde_json::value::RawValue;

use crate::support::args::Args;
use crate::support::child::{commands, say};
use crate::support::message::{self, SEQ};
use crate::support::report::percentiles;
use crate::support::{Context, Result, alloc, secure};

/// How long a `report` waits without change before measuring: longer than the agent's
/// hold-downs, so that every description and route is in its final state.
const SETTLE: Duration = Duration::from_millis(300);

/// The longest a poll blocks when nothing is due.
const IDLE_POLL: Duration = Duration::from_secs(1);

/// `agent`.
pub fn run(args: &Args) -> Result<()> {
    if args.has("--count-alloc") {
        alloc::start();
    }
    let name = args.value("--name")?;
    let mesh = match args.opt("--secure") {
        Some(_) => Some(args.number("--secure")?),
        None => None,
    };
    let mut agent = secure::agent(name, Options::default(), mesh)?;
    let addr = agent.listen("127.0.0.1:0").context("listening")?;
    for port in args.all("--connect") {
        let port: u16 = port.parse().map_err(|_| format!("bad port \"{port}\""))?;
        agent
            .connect(("127.0.0.1", port))
            .context(format_args!("connecting to port {port}"))?;
    }
    let waker = agent.waker().context("creating a waker")?;
    let lines = commands(move || {
        let _ = waker.wake();
    });
    let mut waiter = if args.has("--embed") {
        Waiter::embedded(&agent)?
    } else {
        Waiter::Own
    };
    let mut me = Driver {
        body: message::body(SEQ)?,
        sink: match args.opt("--sink") {
            Some(_) => Some(Sink {
                want: args.number("--sink")?,
                got: 0,
                first: None,
            }),
            None => None,
        },
        echo: args.has("--echo"),
        task: Task::Idle,
    };
    say(&format!("listening {}", addr.port()));
    loop {
        loop {
            match lines.try_recv() {
                Ok(line) if line.trim() == "quit" => return Ok(()),
                Ok(line) => me.command(&line)?,
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => return Ok(()),
            }
        }
        me.send(&mut agent)?;
        waiter.poll(&mut agent, me.wait())?;
        while let Some(event) = agent.next_event() {
            me.on_event(&mut agent, event)?;
        }
        me.check(&agent);
    }
}

/// How the agent waits for work.
enum Waiter {
    /// Blocking in `Agent::poll`.
    Own,
    /// In an outer mio loop (`--embed`).
    Embedded {
        outer: mio::Poll,
        events: mio::Events,
    },
}

impl Waiter {
    fn embedded(agent: &Agent) -> Result<Waiter> {
        use std::os::fd::AsRawFd;
        let outer = mio::Poll::new().context("creating the outer poll")?;
        outer
            .registry()
            .register(
                &mut mio::unix::SourceFd(&agent.as_raw_fd()),
                mio::Token(0),
                mio::Interest::READABLE,
            )
            .context("registering the agent's descriptor")?;
        Ok(Waiter::Embedded {
            outer,
            events: mio::Events::with_capacity(8),
        })
    }

    /// Waits up to `max` for the agent's work, and does it.
    fn poll(&mut self, agent: &mut Agent, max: Duration) -> Result<()> {
        match self {
            Waiter::Own => agent.poll(Some(max)).context("polling"),
            Waiter::Embedded { outer, events } => {
                let due = agent.next_timeout();
                let now = Instant::now();
                let wait = due.map_or(max, |at| max.min(at.saturating_duration_since(now)));
                match outer.poll(events, Some(wait)) {
                    Err(e) if e.kind() != std::io::ErrorKind::Interrupted => {
                        return Err(format!("outer poll: {e}"));
                    }
                    _ => {}
                }
                agent.poll(Some(Duration::ZERO)).context("polling")
            }
        }
    }
}

/// Counting arrivals for `--sink`.
struct Sink {
    want: u64,
    got: u64,
    first: Option<Instant>,
}

/// The command being carried out.
enum Task {
    Idle,
    Wait {
        name: String,
        hops: u32,
    },
    Stream {
        to: String,
        total: u64,
        sent: u64,
        confirmed: u64,
        start: Instant,
    },
    Ping {
        to: String,
        count: usize,
        warm: usize,
        answered: usize,
        sent_at: Option<Instant>,
        samples: Vec<u64>,
    },
    Report {
        links: usize,
        stable_since: Option<Instant>,
    },
}

struct Driver {
    /// The message body, built once and sent as is.
    body: Box<RawValue>,
    sink: Option<Sink>,
    echo: bool,
    task: Task,
}

impl Driver {
    fn command(&mut self, line: &str) -> Result<()> {
        let words: Vec<&str> = line.split_whitespace().collect();
        let num = |i: usize| -> Result<u64> {
            words
                .get(i)
                .and_then(|w| w.parse().ok())
                .ok_or_else(|| format!("command \"{line}\": word {i} should be a number"))
        };
        let word = |i: usize| -> Result<String> {
            words
                .get(i)
                .map(|w| (*w).to_owned())
                .ok_or_else(|| format!("command \"{line}\": word {i} is missing"))
        };
        if !matches!(self.task, Task::Idle) {
            return Err(format!("command \"{line}\" while busy with another"));
        }
        self.task = match words.first().copied() {
            Some("wait") => Task::Wait {
                name: word(1)?,
                hops: num(2)? as u32,
            },
            Some("stream") => Task::Stream {
                to: word(1)?,
                total: num(2)?,
                sent: 0,
                confirmed: 0,
                start: Instant::now(),
            },
            Some("ping") => Task::Ping {
                to: word(1)?,
                count: num(2)? as usize,
                warm: num(3)? as usize,
                answered: 0,
                sent_at: None,
                samples: Vec::with_capacity(num(2)? as usize),
            },
            Some("report") => Task::Report {
                links: num(1)? as usize,
                stable_since: None,
            },
            _ => return Err(format!("unknown command \"{line}\"")),
        };
        Ok(())
    }

    /// Sends what the task has to send now.
    fn send(&mut self, agent: &mut Agent) -> Result<()> {
        match &mut self.task {
            Task::Stream {
                to, total, sent, ..
            } => {
                while *sent < *total {
                    match agent.send_raw(to, &self.body) {
                        Ok(_) => *sent += 1,
                        // The window is full: poll until confirmations make room.
                        Err(SendError::QueueFull { .. }) => break,
                        Err(e) => return Err(format!("sending message {sent}: {e}")),
                    }
                }
            }
            // The first ping; each answer sends the next (see `on_event`).
            Task::Ping {
                to,
                answered: 0,
                sent_at: at @ None,
                ..
            } => {
                *at = Some(Instant::now());
                agent.send_raw(to, &self.body).context("sending a ping")?;
            }
            _ => {}
        }
        Ok(())
    }

    /// How long the next poll may block.
    fn wait(&self) -> Duration {
        match &self.task {
            Task::Report {
                stable_since: Some(since),
                ..
            } => (*since + SETTLE).saturating_duration_since(Instant::now()),
            _ => IDLE_POLL,
        }
    }

    fn on_event(&mut self, agent: &mut Agent, event: Event) -> Result<()> {
        match event {
            Event::Message { from, body, .. } => {
                if let Some(s) = &mut self.sink {
                    s.got += 1;
                    if s.got == 1 {
                        s.first = Some(Instant::now());
                    }
                    if s.got == s.want {
                        let nanos = s.first.map_or(0, |t| t.elapsed().as_nanos());
                        say(&format!("received {} {nanos}", s.got));
                    }
                }
                if self.echo {
                    agent
                        .send_raw(&from, body.raw())
                        .context("echoing a message")?;
                }
                if let Task::Ping {
                    to,
                    count,
                    warm,
                    answered,
                    sent_at,
                    samples,
                } = &mut self.task
                {
                    if from == *to {
                        let rtt = sent_at.take().map_or(0, |t| t.elapsed().as_nanos() as u64);
                        *answered += 1;
                        if *answered > *warm {
                            samples.push(rtt);
                        }
                        if samples.len() == *count {
                            let (p50, p99, max) = percentiles(samples).ok_or("no samples")?;
                            say(&format!("latency {count} {p50} {p99} {max}"));
                            self.task = Task::Idle;
                        } else {
                            // At once, as an application answering in its event handler.
                            *sent_at = Some(Instant::now());
                            agent.send_raw(to, &self.body).context("sending a ping")?;
                        }
                    }
                }
            }
            Event::Delivered { .. } => {
                if let Task::Stream {
                    total,
                    confirmed,
                    start,
                    ..
                } = &mut self.task
                {
                    *confirmed += 1;
                    if *confirmed == *total {
                        say(&format!("streamed {total} {}", start.elapsed().as_nanos()));
                        self.task = Task::Idle;
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Completes a task that waits for a state rather than an event.
    fn check(&mut self, agent: &Agent) {
        match &mut self.task {
            Task::Wait { name, hops }
                if agent
                    .route(name)
                    .is_some_and(|r| r.confirmed && r.hops == Some(*hops)) =>
            {
                say("reachable");
                self.task = Task::Idle;
            }
            Task::Report {
                links,
                stable_since,
            } => {
                let s = agent.stats();
                if s.links != *links || s.known_names != *links || s.buffered_bytes != 0 {
                    *stable_since = None;
                    return;
                }
                let since = *stable_since.get_or_insert_with(Instant::now);
                if since.elapsed() >= SETTLE {
                    say(&format!(
                        "report {links} {} {}",
                        alloc::live_bytes(),
                        rss_kib(std::process::id()).unwrap_or(0)
                    ));
                    self.task = Task::Idle;
                }
            }
            _ => {}
        }
    }
}

/// The resident set of process `pid`, in KiB (`VmRSS` in `/proc/PID/status`).
pub fn rss_kib(pid: u32) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .context(format_args!("reading /proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| format!("no VmRSS in /proc/{pid}/status"))
}
