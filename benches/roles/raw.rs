//! The floors' processes: the benchmark message over plain blocking sockets with the same
//! 4-byte big-endian length prefix, and no agent — what any agent over TCP costs at least.
//!
//! - `raw-sink [--serde]`: prints `listening PORT`, takes one connection, reads frames until the
//!   peer closes, and prints `received COUNT NANOS` (from the first frame to the end). With
//!   `--serde` it parses every frame into the typed message with serde_json.
//! - `raw-source --port P --count N [--serde]`: sends N frames as fast as the socket takes them,
//!   then closes. With `--serde` it serialises the typed message anew for every frame.
//! - `raw-echo`: prints `listening PORT`, takes one connection, and sends every frame back.
//! - `raw-relay --port P`: prints `listening PORT`, takes one connection, dials P, and passes
//!   each frame on and its answer back, on one thread: the floor of a two-hop round trip.
//! - `raw-ping --port P --count N --warm W`: sends a frame and waits for its echo, W times
//!   unmeasured then N times measured, and prints `latency N P50 P99 MAX` (nanoseconds).

use std::hint::black_box;
use std::io::{BufReader, BufWriter, ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Instant;

use crate::support::args::Args;
use crate::support::child::{commands, say};
use crate::support::message::{self, Frame};
use crate::support::report::percentiles;
use crate::support::{Context, Result};

/// Socket buffers in user space: the same size as an agent's read buffer.
const BUF: usize = 64 * 1024;

/// Listens on a free loopback port, says which, and takes one connection.
fn accept_one() -> Result<TcpStream> {
    let _ = commands(|| {});
    let listener = TcpListener::bind("127.0.0.1:0").context("listening")?;
    let port = listener.local_addr().context("listener address")?.port();
    say(&format!("listening {port}"));
    let (stream, _) = listener.accept().context("accepting")?;
    stream.set_nodelay(true).context("setting TCP_NODELAY")?;
    Ok(stream)
}

/// Dials the port given with `--port`.
fn dial(args: &Args) -> Result<TcpStream> {
    let _ = commands(|| {});
    let port: u16 = args.number("--port")?;
    let stream = TcpStream::connect(("127.0.0.1", port)).context("connecting")?;
    stream.set_nodelay(true).context("setting TCP_NODELAY")?;
    Ok(stream)
}

/// Reads one frame into `buf` (cleared first); `false` at a clean end of stream.
fn read_frame(r: &mut impl Read, buf: &mut Vec<u8>) -> Result<bool> {
    let mut header = [0u8; 4];
    match r.read_exact(&mut header) {
        Ok(()) => {}
        Err(e) if e.kind() == ErrorKind::UnexpectedEof => return Ok(false),
        Err(e) => return Err(format!("reading a frame header: {e}")),
    }
    let len = u32::from_be_bytes(header) as usize;
    if len > message::MESSAGE_LEN * 4 {
        return Err(format!("frame of {len} bytes: the stream is out of step"));
    }
    buf.resize(len, 0);
    r.read_exact(buf).context("reading a frame")?;
    Ok(true)
}

/// The message with its length prefix.
fn framed_message() -> Result<Vec<u8>> {
    let body = message::message_bytes()?;
    let mut frame = (body.len() as u32).to_be_bytes().to_vec();
    frame.extend_from_slice(&body);
    Ok(frame)
}

/// `raw-sink`.
pub fn sink(args: &Args) -> Result<()> {
    let parse = args.has("--serde");
    let mut r = BufReader::with_capacity(BUF, accept_one()?);
    let mut buf = Vec::with_capacity(BUF);
    let mut count = 0u64;
    let mut first = None;
    let mut seqs = 0u64;
    while read_frame(&mut r, &mut buf)? {
        if first.is_none() {
            first = Some(Instant::now());
        }
        if parse {
            let frame: Frame<'_> = serde_json::from_slice(&buf).context("parsing a frame")?;
            seqs = seqs.wrapping_add(frame.m.seq);
        } else {
            black_box(&buf);
        }
        count += 1;
    }
    black_box(seqs);
    let nanos = first.map_or(0, |t| t.elapsed().as_nanos());
    say(&format!("received {count} {nanos}"));
    Ok(())
}

/// `raw-source`.
pub fn source(args: &Args) -> Result<()> {
    let count: u64 = args.number("--count")?;
    let serialise = args.has("--serde");
    let stream = dial(args)?;
    let mut w = BufWriter::with_capacity(BUF, &stream);
    let fixed = framed_message()?;
    let mut scratch = Vec::with_capacity(256);
    for i in 0..count {
        if serialise {
            // Six digits, like the fixed message, so every frame has the same length.
            let seq = 100_000 + i % 900_000;
            scratch.clear();
            serde_json::to_writer(&mut scratch, &message::frame(seq)).context("serialising")?;
            w.write_all(&(scratch.len() as u32).to_be_bytes())
                .and_then(|()| w.write_all(&scratch))
                .context("sending")?;
        } else {
            w.write_all(&fixed).context("sending")?;
        }
    }
    w.flush().context("sending the last frames")?;
    drop(w);
    stream
        .shutdown(std::net::Shutdown::Write)
        .context("closing")?;
    say(&format!("sent {count}"));
    Ok(())
}

/// `raw-echo`.
pub fn echo(_args: &Args) -> Result<()> {
    let stream = accept_one()?;
    let mut r = BufReader::with_capacity(BUF, &stream);
    let mut w = &stream;
    let mut buf = Vec::with_capacity(BUF);
    let mut out = Vec::with_capacity(BUF);
    while read_frame(&mut r, &mut buf)? {
        out.clear();
        out.extend_from_slice(&(buf.len() as u32).to_be_bytes());
        out.extend_from_slice(&buf);
        w.write_all(&out).context("echoing")?;
    }
    Ok(())
}

/// `raw-relay`: one thread, one message in flight: a frame from the near side to the far
/// side, then the answer back, until the near side ends. An agent relays on one thread too,
/// so both meet the same scheduling (three single-threaded processes on the cores).
pub fn relay(args: &Args) -> Result<()> {
    let near = accept_one()?;
    let far = dial(args)?;
    let mut from_near = BufReader::with_capacity(BUF, &near);
    let mut from_far = BufReader::with_capacity(BUF, &far);
    let (mut to_near, mut to_far) = (&near, &far);
    let mut buf = Vec::with_capacity(BUF);
    let mut out = Vec::with_capacity(BUF);
    loop {
        for (r, w) in [(&mut from_near, &mut to_far), (&mut from_far, &mut to_near)] {
            if !read_frame(r, &mut buf)? {
                let _ = far.shutdown(std::net::Shutdown::Write);
                return Ok(());
            }
            out.clear();
            out.extend_from_slice(&(buf.len() as u32).to_be_bytes());
            out.extend_from_slice(&buf);
            w.write_all(&out).context("passing a frame on")?;
        }
    }
}

/// `raw-ping`.
pub fn ping(args: &Args) -> Result<()> {
    let count: usize = args.number("--count")?;
    let warm: usize = args.number("--warm")?;
    let stream = dial(args)?;
    let mut r = BufReader::with_capacity(BUF, &stream);
    let mut w = &stream;
    let frame = framed_message()?;
    let mut buf = Vec::with_capacity(BUF);
    let mut samples = Vec::with_capacity(count);
    for i in 0..warm + count {
        let start = Instant::now();
        w.write_all(&frame).context("sending a ping")?;
        if !read_frame(&mut r, &mut buf)? {
            return Err("the echo closed the connection".into());
        }
        if i >= warm {
            samples.push(start.elapsed().as_nanos() as u64);
        }
    }
    let (p50, p99, max) = percentiles(&mut samples).ok_or("no samples")?;
    say(&format!("latency {count} {p50} {p99} {max}"));
    Ok(())
}
