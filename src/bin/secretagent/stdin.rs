//! The stdin reader: a thread that splits stdin into lines and hands them to the event loop,
//! waking it through the agent's waker.
//!
//! A thread rather than registering fd 0, because stdin may be a regular file, which epoll
//! refuses. Lines are split as bytes and each is checked for UTF-8 on its own, so that one bad
//! line is reported and skipped instead of ending the reader (and with it `quit`).

use std::io::{self, BufRead};
use std::sync::mpsc::{Receiver, channel};

use secretagent::Agent;

/// One thing read from stdin; lines are numbered from 1.
#[derive(Debug, PartialEq)]
pub enum Input {
    Line {
        number: u64,
        text: String,
    },
    NotUtf8 {
        number: u64,
        problem: String,
    },
    /// Reading failed; nothing more will be read.
    Failed(String),
}

/// Starts the reader. The channel closes at the end of stdin (after a `Failed`, if any).
pub fn spawn(agent: &mut Agent) -> io::Result<Receiver<Input>> {
    let waker = agent.waker()?;
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        read_lines(io::stdin().lock(), |input| {
            let open = tx.send(input).is_ok();
            let _ = waker.wake();
            open
        });
        // End of stdin: dropping `tx` tells the loop; the agent keeps running.
        drop(tx);
        let _ = waker.wake();
    });
    Ok(rx)
}

/// Hands each line of `r` to `each` (without its `\n` or `\r\n`) until the end, a read error,
/// or `each` returns `false`.
pub fn read_lines(mut r: impl BufRead, mut each: impl FnMut(Input) -> bool) {
    let mut bytes = Vec::new();
    let mut number = 0u64;
    loop {
        bytes.clear();
        match r.read_until(b'\n', &mut bytes) {
            Ok(0) => return,
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                each(Input::Failed(format!(
                    "reading stdin failed after line {number}: {e}; no more commands are read"
                )));
                return;
            }
        }
        number += 1;
        let line = bytes.strip_suffix(b"\n").unwrap_or(&bytes);
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let input = match std::str::from_utf8(line) {
            Ok(text) => Input::Line {
                number,
                text: text.to_owned(),
            },
            Err(e) => {
                let at = e.valid_up_to();
                let byte = line.get(at).copied().unwrap_or_default();
                Input::NotUtf8 {
                    number,
                    problem: format!(
                        "not UTF-8 (byte 0x{byte:02X} at offset {at}); the line is skipped"
                    ),
                }
            }
        };
        if !each(input) {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(bytes: &[u8]) -> Vec<Input> {
        let mut got = Vec::new();
        read_lines(bytes, |i| {
            got.push(i);
            true
        });
        got
    }

    fn line(number: u64, text: &str) -> Input {
        Input::Line {
            number,
            text: text.to_owned(),
        }
    }

    #[test]
    fn a_line_that_is_not_utf8_is_reported_and_the_next_is_read() {
        let got = all(b"one\n\xffbad\r\nt\xc3\xa9\r\nab\xe2\x82\nlast");
        assert_eq!(got[0], line(1, "one"));
        assert_eq!(
            got[1],
            Input::NotUtf8 {
                number: 2,
                problem: "not UTF-8 (byte 0xFF at offset 0); the line is skipped".into()
            }
        );
        assert_eq!(got[2], line(3, "té"));
        assert!(
            matches!(&got[3], Input::NotUtf8 { number: 4, problem } if problem.contains("0xE2 at offset 2"))
        );
        assert_eq!(got[4], line(5, "last"));
        assert_eq!(got.len(), 5);
    }

    #[test]
    fn empty_lines_count() {
        assert_eq!(all(b"\n\nx\n"), [line(1, ""), line(2, ""), line(3, "x")]);
    }
}
