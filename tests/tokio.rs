//! `examples/tokio.rs`, run as a test: two agents in tokio tasks exchange messages both ways,
//! and an idle agent driven that way does not wake more than a few times a second.

#[path = "../examples/tokio.rs"]
mod example;

mod support;

use std::time::Duration;

use secretagent::{Agent, Options};
use support::LIMIT;
use tokio::time::{Instant, timeout};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn agents_in_tokio_tasks_exchange_messages_both_ways_and_sleep_when_idle() {
    runtime().block_on(async {
        let mut answerer = Agent::new("Answerer", Options::default()).unwrap();
        let addr = answerer.listen("127.0.0.1:0").unwrap();
        let mut asker = Agent::new("Asker", Options::default()).unwrap();
        asker.connect(addr).unwrap();

        // Questions one way, answers the other, each answer bringing the next question.
        let (mut asked, mut answered) = (Vec::new(), Vec::new());
        let (asked_log, answered_log) = (&mut asked, &mut answered);
        let on_asker = {
            let mut ask = example::asker(usize::MAX);
            move |agent: &mut Agent, event| {
                if let secretagent::Event::Message { body, .. } = &event {
                    answered_log.push(body.parse::<String>().unwrap());
                    if answered_log.len() == 5 {
                        return false;
                    }
                }
                ask(agent, event)
            }
        };
        let on_answerer = {
            let mut answer = example::answerer();
            let mut confirmed = 0;
            move |agent: &mut Agent, event| {
                match &event {
                    secretagent::Event::Message { body, .. } => {
                        asked_log.push(body.parse::<String>().unwrap());
                    }
                    // Done once the fifth answer is confirmed: its bytes are out by then.
                    secretagent::Event::Delivered { .. } => confirmed += 1,
                    _ => {}
                }
                answer(agent, event) && confirmed < 5
            }
        };
        let (a, b) = timeout(LIMIT, async {
            tokio::join!(
                example::drive(asker, None, on_asker),
                example::drive(answerer, None, on_answerer),
            )
        })
        .await
        .expect("the exchange never finished");
        let (asker, _) = a.unwrap();
        let (answerer, _) = b.unwrap();
        let questions: Vec<String> = (1..=5).map(|n| format!("question {n}")).collect();
        let answers: Vec<String> = questions.iter().map(|q| format!("answer to {q}")).collect();
        assert_eq!(asked, questions);
        assert_eq!(answered, answers);
        assert_eq!(asker.route("Answerer").map(|r| r.hops), Some(Some(1)));

        // Idle: linked, nothing to say. A second of it costs a few wake-ups at most (timers
        // of the exchange just over), not a busy loop.
        let idle = Duration::from_secs(1);
        let until = Some(Instant::now() + idle);
        let (a, b) = tokio::join!(
            example::drive(asker, until, |_, _| true),
            example::drive(answerer, until, |_, _| true),
        );
        let ((_, wakes_a), (_, wakes_b)) = (a.unwrap(), b.unwrap());
        assert!(
            wakes_a <= 5 && wakes_b <= 5,
            "idle for {idle:?}, the asker woke {wakes_a} times and the answerer {wakes_b}"
        );
    });
}
