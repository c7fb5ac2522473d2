//! Child processes and their line protocol. The benchmark runs itself again
//! (`std::env::current_exe()`) with `--role ROLE ...`, so that each agent measured for speed has
//! a process, an allocator and a scheduler slot of its own, as it would in production.
//!
//! Parent side: [`Child`] starts a process, reads its stdout lines on a thread, and waits for an
//! expected line with a deadline, failing with the lines it saw. Dropping a `Child` kills and
//! reaps the process, so children never outlive a benchmark, whether it succeeds or fails.
//!
//! Child side: [`commands`] reads stdin lines on a thread and ends the process when stdin
//! closes (the parent is gone); [`say`] prints one line for the parent; [`watchdog`] ends a
//! child that runs far longer than any benchmark could need.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{self, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, TryRecvError, channel};
use std::time::{Duration, Instant};

use super::{Context, Result};

/// Lines of a child's output kept for error messages.
const KEEP_LINES: usize = 20;

/// A running child process, killed and reaped when dropped.
pub struct Child {
    label: String,
    process: process::Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    seen: Vec<String>,
}

impl Child {
    /// Starts this benchmark binary again as `--role role args...`; `label` names the child in
    /// error messages.
    pub fn role(label: &str, role: &str, args: &[&str]) -> Result<Child> {
        let exe = std::env::current_exe().context("finding the benchmark's own executable")?;
        let mut all = vec!["--role", role];
        all.extend_from_slice(args);
        Child::program(label, &exe, &all)
    }

    /// Starts `program` with `args`, stdin and stdout piped, stderr passed through.
    pub fn program(label: &str, program: &Path, args: &[&str]) -> Result<Child> {
        let mut process = Command::new(program)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context(format_args!("starting {label} ({})", program.display()))?;
        let stdout = process.stdout.take().ok_or("child has no stdout")?;
        let stdin = process.stdin.take();
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Ok(Child {
            label: label.to_owned(),
            process,
            stdin,
            lines,
            seen: Vec::new(),
        })
    }

    /// The child's process id.
    pub fn pid(&self) -> u32 {
        self.process.id()
    }

    /// Sends one command line.
    pub fn send(&mut self, line: &str) -> Result<()> {
        let stdin = self.stdin.as_mut().ok_or("stdin already closed")?;
        writeln!(stdin, "{line}")
            .and_then(|()| stdin.flush())
            .context(format_args!("sending \"{line}\" to {}", self.label))
    }

    /// Waits up to `within` for a line whose first word is `word`; returns the other words.
    /// Other lines are kept for error messages; a line starting with `error` fails at once.
    pub fn expect(&mut self, word: &str, within: Duration) -> Result<Vec<String>> {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = match self.lines.recv_timeout(left) {
                Ok(line) => line,
                Err(RecvTimeoutError::Timeout) => {
                    return Err(format!(
                        "timed out after {within:?} waiting for \"{word}\" from {}; {}",
                        self.label,
                        self.history()
                    ));
                }
                Err(RecvTimeoutError::Disconnected) => return Err(self.ended(word)),
            };
            if let Some(words) = self.check(line, word)? {
                return Ok(words);
            }
        }
    }

    /// The next line, if one is waiting; fails if the child has ended.
    pub fn try_line(&mut self) -> Result<Option<String>> {
        match self.lines.try_recv() {
            Ok(line) => {
                self.remember(&line);
                Ok(Some(line))
            }
            Err(TryRecvError::Empty) => Ok(None),
            Err(TryRecvError::Disconnected) => Err(self.ended("more output")),
        }
    }

    /// The next line, waiting up to `within` for one (`None` if none came); fails if the
    /// child has ended.
    pub fn next_line(&mut self, within: Duration) -> Result<Option<String>> {
        match self.lines.recv_timeout(within) {
            Ok(line) => {
                self.remember(&line);
                Ok(Some(line))
            }
            Err(RecvTimeoutError::Timeout) => Ok(None),
            Err(RecvTimeoutError::Disconnected) => Err(self.ended("more output")),
        }
    }

    /// As [`try_line`](Self::try_line), for a line whose first word is `word`.
    pub fn try_expect(&mut self, word: &str) -> Result<Option<Vec<String>>> {
        loop {
            match self.lines.try_recv() {
                Ok(line) => {
                    if let Some(words) = self.check(line, word)? {
                        return Ok(Some(words));
                    }
                }
                Err(TryRecvError::Empty) => return Ok(None),
                Err(TryRecvError::Disconnected) => return Err(self.ended(word)),
            }
        }
    }

    fn check(&mut self, line: String, word: &str) -> Result<Option<Vec<String>>> {
        self.remember(&line);
        let mut words = line.split_whitespace();
        match words.next() {
            Some(w) if w == word => Ok(Some(words.map(str::to_owned).collect())),
            Some("error") => Err(format!("{} failed: {line}", self.label)),
            _ => Ok(None),
        }
    }

    fn remember(&mut self, line: &str) {
        if self.seen.len() == KEEP_LINES {
            self.seen.remove(0);
        }
        self.seen.push(line.to_owned());
    }

    fn history(&self) -> String {
        if self.seen.is_empty() {
            "it printed nothing".to_owned()
        } else {
            format!("its last lines: {:?}", self.seen)
        }
    }

    fn ended(&mut self, waiting_for: &str) -> String {
        let how = match self.process.try_wait() {
            Ok(Some(status)) => format!("exited ({status})"),
            _ => "closed its output".to_owned(),
        };
        format!(
            "{} {how} before \"{waiting_for}\"; {}",
            self.label,
            self.history()
        )
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        // Killing an exited child fails harmlessly; waiting reaps it either way.
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

/// Child side: prints one line for the parent. A parent that stopped listening is gone, and so
/// is the reason to run: the child exits.
pub fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    if writeln!(out, "{line}").and_then(|()| out.flush()).is_err() {
        process::exit(0);
    }
}

/// Child side: the parent's command lines, read on a thread that calls `on_line` after each
/// (to wake the child's event loop) and ends the process when stdin closes.
pub fn commands(on_line: impl Fn() + Send + 'static) -> Receiver<String> {
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                return;
            }
            on_line();
        }
        process::exit(0);
    });
    rx
}

/// Child side: ends the process after `limit`, in case its parent can neither finish nor kill
/// it.
pub fn watchdog(limit: Duration) {
    std::thread::spawn(move || {
        std::thread::sleep(limit);
        eprintln!("benchmark child still running after {limit:?}: giving up");
        process::exit(3);
    });
}
