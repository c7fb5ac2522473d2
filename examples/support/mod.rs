//! A few agents in one thread, for the examples: an outer mio loop waits on every agent's poll
//! descriptor and on the nearest agent timer, then polls each agent without blocking.
#![allow(dead_code)]

use std::error::Error;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};
use secretagent::{Agent, Event};

pub struct Mesh {
    pub agents: Vec<Agent>,
    /// Events not yet taken, with the name of the agent that reported each.
    pub log: Vec<(String, Event)>,
    outer: Poll,
    events: Events,
}

impl Mesh {
    pub fn new(agents: Vec<Agent>) -> Result<Mesh, Box<dyn Error>> {
        let outer = Poll::new()?;
        for (i, a) in agents.iter().enumerate() {
            outer.registry().register(
                &mut SourceFd(&a.as_raw_fd()),
                Token(i),
                Interest::READABLE,
            )?;
        }
        Ok(Mesh {
            agents,
            log: Vec::new(),
            outer,
            events: Events::with_capacity(16),
        })
    }

    pub fn get(&mut self, name: &str) -> &mut Agent {
        self.agents
            .iter_mut()
            .find(|a| a.name() == name)
            .expect("no such agent")
    }

    /// Takes the events logged so far.
    pub fn take_log(&mut self) -> Vec<(String, Event)> {
        std::mem::take(&mut self.log)
    }

    /// Runs until `done` is true, logging every event; gives up after `limit`.
    pub fn run_until(
        &mut self,
        limit: Duration,
        mut done: impl FnMut(&Mesh) -> bool,
    ) -> Result<(), Box<dyn Error>> {
        let deadline = Instant::now() + limit;
        while !done(self) {
            let now = Instant::now();
            if now >= deadline {
                return Err("the mesh did not get there in time".into());
            }
            let mut wait = deadline - now;
            for a in &self.agents {
                if let Some(at) = a.next_timeout() {
                    wait = wait.min(at.saturating_duration_since(now));
                }
            }
            self.outer.poll(&mut self.events, Some(wait))?;
            for a in &mut self.agents {
                a.poll(Some(Duration::ZERO))?;
                let name = a.name().to_owned();
                self.log.extend(a.events().map(|e| (name.clone(), e)));
            }
        }
        Ok(())
    }
}
