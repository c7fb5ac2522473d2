//! A fault-injecting TCP proxy: each route listens on its own loopback port and forwards every
//! connection to a target, and the test can break it on command.
//!
//! Faults: `cut` (a clean close: FIN both ways), `reset` (RST both ways), `blackhole` (bytes
//! are read and dropped, both sockets stay open: nobody is told anything), `delay` (every chunk
//! is held back), `refuse` (cut, and new connections are closed on arrival), and `heal` (back to
//! forwarding). A route stays usable after a fault: agents re-dial through it.
//!
//! Threads, one pair per connection, blocking sockets: simple, and independent of the agents'
//! event loops. The delay is the proxy's behaviour, not a test waiting for anything.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Pass,
    Blackhole,
    Delay(Duration),
    Refuse,
}

/// One live connection through a route: the agent-facing and target-facing sockets.
struct Pair {
    id: u64,
    client: TcpStream,
    upstream: TcpStream,
    /// Set by `cut` and `reset`: stop forwarding, do not propagate anything more.
    done: Arc<AtomicBool>,
}

struct State {
    mode: Mode,
    pairs: Vec<Pair>,
    next_id: u64,
    stopped: bool,
}

pub struct Route {
    /// Where agents should dial instead of the target.
    pub addr: SocketAddr,
    pub target: SocketAddr,
    state: Mutex<State>,
}

impl Route {
    /// Starts a route forwarding to `target`.
    pub fn new(target: SocketAddr) -> Arc<Route> {
        let listener = TcpListener::bind("127.0.0.1:0").expect("proxy listen");
        let route = Arc::new(Route {
            addr: listener.local_addr().expect("proxy addr"),
            target,
            state: Mutex::new(State {
                mode: Mode::Pass,
                pairs: Vec::new(),
                next_id: 0,
                stopped: false,
            }),
        });
        let r = route.clone();
        std::thread::spawn(move || r.accept_loop(listener));
        route
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn accept_loop(self: Arc<Route>, listener: TcpListener) {
        for client in listener.incoming() {
            let Ok(client) = client else { continue };
            let mode = {
                let s = self.lock();
                if s.stopped {
                    return;
                }
                s.mode
            };
            if mode == Mode::Refuse {
                continue;
            }
            let Ok(upstream) = TcpStream::connect(self.target) else {
                continue;
            };
            let _ = client.set_nodelay(true);
            let _ = upstream.set_nodelay(true);
            let done = Arc::new(AtomicBool::new(false));
            let (Ok(c2), Ok(u2), Ok(c3), Ok(u3)) = (
                client.try_clone(),
                upstream.try_clone(),
                client.try_clone(),
                upstream.try_clone(),
            ) else {
                continue;
            };
            {
                let mut s = self.lock();
                let id = s.next_id;
                s.next_id += 1;
                s.pairs.push(Pair {
                    id,
                    client,
                    upstream,
                    done: done.clone(),
                });
                let (r1, r2) = (self.clone(), self.clone());
                let (d1, d2) = (done.clone(), done);
                std::thread::spawn(move || r1.pump(c2, u2, d1, id));
                std::thread::spawn(move || r2.pump(u3, c3, d2, id));
            }
        }
    }

    fn pump(&self, mut from: TcpStream, mut to: TcpStream, done: Arc<AtomicBool>, id: u64) {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            if done.load(Ordering::SeqCst) {
                continue;
            }
            match self.lock().mode {
                Mode::Blackhole => continue,
                Mode::Delay(d) => std::thread::sleep(d),
                Mode::Pass | Mode::Refuse => {}
            }
            if done.load(Ordering::SeqCst) || to.write_all(&buf[..n]).is_err() {
                if done.load(Ordering::SeqCst) {
                    continue;
                }
                break;
            }
        }
        // A peer closed: pass the close on, as a network would, unless the network is
        // swallowing everything (the other side must find out by itself).
        if !done.load(Ordering::SeqCst) && self.lock().mode != Mode::Blackhole {
            let _ = to.shutdown(Shutdown::Write);
        }
        let mut s = self.lock();
        s.pairs
            .retain(|p| p.id != id || !p.done.load(Ordering::SeqCst));
    }

    fn take_pairs(&self) -> Vec<Pair> {
        let mut s = self.lock();
        std::mem::take(&mut s.pairs)
    }

    /// Closes every connection cleanly in both directions; re-dials get through.
    pub fn cut(&self) {
        for p in self.take_pairs() {
            p.done.store(true, Ordering::SeqCst);
            let _ = p.client.shutdown(Shutdown::Write);
            let _ = p.upstream.shutdown(Shutdown::Write);
        }
    }

    /// Resets every connection in both directions; re-dials get through.
    pub fn reset(&self) {
        for p in self.take_pairs() {
            p.done.store(true, Ordering::SeqCst);
            for s in [&p.client, &p.upstream] {
                let _ = socket2::SockRef::from(s).set_linger(Some(Duration::ZERO));
                // Wakes the pumps without sending anything; the last close then sends RST.
                let _ = s.shutdown(Shutdown::Read);
            }
        }
    }

    /// Stops forwarding without telling anybody; sockets stay open.
    pub fn blackhole(&self) {
        self.lock().mode = Mode::Blackhole;
    }

    /// Holds every chunk back by `d`.
    pub fn delay(&self, d: Duration) {
        self.lock().mode = Mode::Delay(d);
    }

    /// Cuts every connection, and refuses new ones until `heal`.
    pub fn refuse(&self) {
        self.lock().mode = Mode::Refuse;
        self.cut();
    }

    /// Forwards again.
    pub fn heal(&self) {
        self.lock().mode = Mode::Pass;
    }

    pub fn mode(&self) -> Mode {
        self.lock().mode
    }

    /// Live connections through this route.
    pub fn connections(&self) -> usize {
        self.lock().pairs.len()
    }

    /// Stops accepting and resets everything (used at the end of a test).
    pub fn stop(&self) {
        self.lock().stopped = true;
        // Wake the acceptor so it sees `stopped`.
        let _ = TcpStream::connect(self.addr);
        self.reset();
    }
}

/// The seed for a randomised test: `SEED` from the environment to replay, else the clock.
pub fn seed() -> u64 {
    std::env::var("SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
        })
}
