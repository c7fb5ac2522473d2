//! Several agents in one thread, on real loopback sockets: for the benchmarks that need many
//! agents (convergence, the peers of the footprint), that inject faults between agents
//! (failover), or that attribute allocations to one agent at a time.
//!
//! One outer `mio::Poll` waits on every agent's poll descriptor at once (the way an application
//! embeds an agent in its own loop), bounded by the earliest agent timer; then every agent is
//! polled without blocking and its events are handed to the caller.

use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};
use secretagent::{Agent, Event, Options};

use super::{Context, Result};

/// Agents sharing a thread.
pub struct Mesh {
    /// The agents, in the order they were added.
    pub agents: Vec<Agent>,
    outer: Poll,
    events: Events,
}

impl Mesh {
    /// An empty mesh.
    pub fn new() -> Result<Mesh> {
        Ok(Mesh {
            agents: Vec::new(),
            outer: Poll::new().context("creating the outer poll")?,
            events: Events::with_capacity(256),
        })
    }

    /// Adds a plain agent listening on a free loopback port; returns its index and address.
    pub fn add(&mut self, name: &str, opts: Options) -> Result<(usize, SocketAddr)> {
        let agent = Agent::new(name, opts).context(format_args!("creating agent {name}"))?;
        self.add_agent(agent)
    }

    /// Adds `agent` (plain or secure), listening on a free loopback port; returns its index
    /// and address.
    pub fn add_agent(&mut self, mut agent: Agent) -> Result<(usize, SocketAddr)> {
        let name = agent.name().to_owned();
        let addr = agent.listen("127.0.0.1:0").context(format_args!(
            "{name} listening (raise `ulimit -n` if out of files)"
        ))?;
        let i = self.agents.len();
        self.outer
            .registry()
            .register(
                &mut SourceFd(&agent.as_raw_fd()),
                Token(i),
                Interest::READABLE,
            )
            .context("registering an agent with the outer poll")?;
        self.agents.push(agent);
        Ok((i, addr))
    }

    /// Waits up to `max` for any agent's network activity or timer.
    pub fn wait(&mut self, max: Duration) -> Result<()> {
        let now = Instant::now();
        let wait = self
            .agents
            .iter()
            .filter_map(Agent::next_timeout)
            .map(|at| at.saturating_duration_since(now))
            .fold(max, Duration::min);
        match self.outer.poll(&mut self.events, Some(wait)) {
            Err(e) if e.kind() != std::io::ErrorKind::Interrupted => {
                Err(format!("outer poll: {e}"))
            }
            _ => Ok(()),
        }
    }

    /// Polls agent `i` without blocking and hands it each event.
    pub fn poll_one(&mut self, i: usize, mut on_event: impl FnMut(Event)) -> Result<()> {
        let agent = &mut self.agents[i];
        agent
            .poll(Some(Duration::ZERO))
            .context(format_args!("polling {}", agent.name()))?;
        while let Some(event) = agent.next_event() {
            on_event(event);
        }
        Ok(())
    }

    /// One round: [`wait`](Self::wait) up to `max`, then poll every agent, handing each event
    /// to `on_event` with the agent's index.
    pub fn step(&mut self, max: Duration, mut on_event: impl FnMut(usize, Event)) -> Result<()> {
        self.wait(max)?;
        for i in 0..self.agents.len() {
            self.poll_one(i, |e| on_event(i, e))?;
        }
        Ok(())
    }

    /// Steps until `done` holds, failing after `within` with `what`. Events are dropped.
    pub fn run_until(
        &mut self,
        what: &str,
        within: Duration,
        mut done: impl FnMut(&Mesh) -> bool,
    ) -> Result<()> {
        let deadline = Instant::now() + within;
        while !done(self) {
            if Instant::now() >= deadline {
                return Err(format!("timed out after {within:?} waiting until {what}"));
            }
            self.step(Duration::from_millis(5), |_, _| {})?;
        }
        Ok(())
    }

    /// Keeps every agent running for `span`, dropping events.
    pub fn run_for(&mut self, span: Duration) -> Result<()> {
        let end = Instant::now() + span;
        while Instant::now() < end {
            self.step(end.saturating_duration_since(Instant::now()), |_, _| {})?;
        }
        Ok(())
    }

    /// Whether agent `i` has a confirmed route of `hops` hops to `name`.
    pub fn routes(&self, i: usize, name: &str, hops: u32) -> bool {
        self.agents[i]
            .route(name)
            .is_some_and(|r| r.confirmed && r.hops == Some(hops))
    }
}
