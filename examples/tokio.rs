//! Agents in tokio tasks: tokio's reactor waits on each agent's poll descriptor through
//! `AsyncFd`, and a tokio timer on the agent's `next_timeout()`. Each wake-up polls the agent
//! without blocking and drains its events. No `unsafe`.
//!
//! About `AsyncFd::with_interest`: since tokio 1.54 it is deprecated in favour of the `unsafe`
//! `AsyncFd::register_with_interest`, because a type in general might close or swap the
//! descriptor it reports while tokio still watches it. An `Agent` cannot: it owns its poll
//! descriptor from `Agent::new` to its drop, always reports the same one, and the `AsyncFd`
//! owns the agent. That is the whole of `register_with_interest`'s contract, so the safe
//! (deprecated) form is used here; code that prefers the `unsafe` one can cite the same.
//!
//! Here two agents share one current-thread runtime: "Asker" asks "Answerer" three questions,
//! one after the other, each answer bringing the next, then shuts down gracefully.
//!
//! `cargo run --example tokio`

use std::time::Duration;

use secretagent::{Agent, Error, Event, Options};
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;
use tokio::time::{Instant, sleep_until};

/// Drives `agent` in the current task until `handle` returns `false` or `until` passes:
/// waits for the agent's descriptor to be readable or for its next deadline, polls it without
/// blocking, and hands every event to `handle`, which may answer through the agent. Gives the
/// agent back, with the number of wake-ups.
pub async fn drive(
    agent: Agent,
    until: Option<Instant>,
    mut handle: impl FnMut(&mut Agent, Event) -> bool,
) -> Result<(Agent, u64), Error> {
    // Sound for an `Agent`: see the module docs.
    #[allow(deprecated)]
    let mut fd = AsyncFd::with_interest(agent, Interest::READABLE)?;
    let mut wakes = 0;
    loop {
        // `None`: nothing is due without network activity.
        let due = fd.get_ref().next_timeout().map(Instant::from_std);
        let wake_at = match (due, until) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        tokio::select! {
            ready = fd.readable_mut() => {
                // Cleared before polling: readiness that comes during the poll wakes us again.
                ready?.clear_ready();
            }
            () = sleep_until(wake_at.unwrap_or_else(Instant::now)), if wake_at.is_some() => {}
        }
        if until.is_some_and(|u| Instant::now() >= u) {
            return Ok((fd.into_inner(), wakes));
        }
        wakes += 1;
        let agent = fd.get_mut();
        agent.poll(Some(Duration::ZERO))?;
        for event in agent.events() {
            if !handle(agent, event) {
                return Ok((fd.into_inner(), wakes));
            }
        }
    }
}

/// The asker's side: a question on meeting the answerer, the next on each answer, and a
/// graceful shutdown after the last. Returns the answers.
pub fn asker(questions: usize) -> impl FnMut(&mut Agent, Event) -> bool {
    let mut answers = 0;
    move |agent, event| {
        match event {
            Event::Meet { name } if name == "Answerer" => {
                agent.send_message(&name, &"question 1").expect("asking");
            }
            Event::Message { from, body, .. } => {
                println!("[Asker] {from} says {body}");
                answers += 1;
                if answers < questions {
                    let q = format!("question {}", answers + 1);
                    agent.send_message(&from, &q).expect("asking");
                } else {
                    agent.begin_shutdown(Duration::from_secs(1));
                }
            }
            Event::ShutdownComplete { unconfirmed } => {
                println!("[Asker] shut down, {} unconfirmed", unconfirmed.len());
                return false;
            }
            _ => {}
        }
        true
    }
}

/// The answerer's side: answers every question, until its peer goes.
pub fn answerer() -> impl FnMut(&mut Agent, Event) -> bool {
    |agent, event| match event {
        Event::Message { from, body, .. } => {
            println!("[Answerer] {from} asks {body}");
            let answer = format!("answer to {}", body.parse::<String>().unwrap_or_default());
            agent.send_message(&from, &answer).expect("answering");
            true
        }
        Event::Lose { .. } => false,
        _ => true,
    }
}

#[allow(dead_code)] // The test includes this file and runs the pieces itself.
fn main() -> Result<(), Error> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let mut answerer_agent = Agent::new("Answerer", Options::default())?;
        let addr = answerer_agent.listen("127.0.0.1:0")?;
        let mut asker_agent = Agent::new("Asker", Options::default())?;
        asker_agent.connect(addr)?;
        // Two tasks on this one thread; `tokio::spawn` would do as well.
        let (a, b) = tokio::join!(
            drive(asker_agent, None, asker(3)),
            drive(answerer_agent, None, answerer()),
        );
        let ((_, wakes_a), (_, wakes_b)) = (a?, b?);
        println!("wake-ups: Asker {wakes_a}, Answerer {wakes_b}");
        Ok(())
    })
}
