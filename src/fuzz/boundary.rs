//! Numbers at the edges of the number space, for the `wire` and `core` targets: the values
//! (0, 1, 2^52, 2^53 - 2 ... 2^53 + 1, 2^64 - 2, 2^64 - 1), a frame of every kind that carries
//! numbers with each of them drawn from the fuzzer's bytes, and the check that every numeric
//! field of a frame the parser accepts takes each of them as the protocol says: kept exactly up
//! to 2^53, refused above with the error that names the limit.
//!
//! The fuzzer alone finds small numbers; these are what a forger would try.

use crate::wire::{self, MAX_NUMBER, Seq, Wire, WireError};

use super::{CoreRun, byte};

/// The values every numeric field is tried with.
const VALUES: [u64; 10] = [
    0,
    1,
    2,
    1 << 52,
    MAX_NUMBER - 2,
    MAX_NUMBER - 1,
    MAX_NUMBER,
    MAX_NUMBER + 1,
    u64::MAX - 1,
    u64::MAX,
];

/// A number from one fuzzer byte: one of [`VALUES`] for ten of every sixteen bytes, else the
/// byte itself (small numbers, where streams start).
fn value(b: u8) -> u64 {
    VALUES
        .get(usize::from(b % 16))
        .copied()
        .unwrap_or(u64::from(b))
}

/// A frame with numbers, of the kind `n` picks, from `name`, every number drawn from `input`
/// by [`value`]: a description (of any agent, "Me" included), a numbered message for this
/// agent or for another, a confirmation, a summary, a hello.
pub(super) fn frame(name: &str, n: u64, input: &mut &[u8]) -> String {
    let other = CoreRun::NAMES[(n / 6 % 6) as usize];
    let mut num = || value(byte(input));
    match n % 6 {
        0 => format!(
            r#"{{"c":"lsa","o":"{name}","i":{},"s":{},"n":["Me","A","{other}"],"x":[]}}"#,
            num(),
            num()
        ),
        1 => format!(
            r#"{{"c":"msg","f":"{name}","t":"Me","m":1,"h":{},"i":{},"s":{},"b":{},"d":{}}}"#,
            num(),
            num(),
            num(),
            num(),
            num()
        ),
        2 => format!(
            r#"{{"c":"msg","f":"{name}","t":"{other}","m":2,"h":{},"i":{},"s":{},"b":{}}}"#,
            num(),
            num(),
            num(),
            num()
        ),
        3 => format!(
            r#"{{"c":"ack","f":"{name}","t":"{other}","i":{},"s":{},"h":{}}}"#,
            num(),
            num(),
            num()
        ),
        4 => format!(
            r#"{{"c":"sum","d":[["{name}",{},{}],["Me",{},{}]],"e":true}}"#,
            num(),
            num(),
            num(),
            num()
        ),
        _ => format!(
            r#"{{"c":"hi!","mynameis":"{name}","iknow":["{other}"],"v":{}}}"#,
            num()
        ),
    }
}

/// Appends `w` as this crate writes it; `false` for what it never writes (an unknown frame, a
/// confirmation without a hop count).
pub(super) fn emit(w: &Wire<'_>, out: &mut Vec<u8>) -> bool {
    emit_with(w, usize::MAX, 0, out)
}

/// Appends `w` with its numeric field `k` (in the order the frame writes them) set to `v`;
/// `false` when it has no field `k` (with `k` = `usize::MAX`, as it is) or is never written.
fn emit_with(w: &Wire<'_>, k: usize, v: u64, out: &mut Vec<u8>) -> bool {
    let at = |i: usize, x: u64| if i == k { v } else { x };
    let names = |list: &[std::borrow::Cow<'_, str>]| -> Vec<String> {
        list.iter().map(|n| n.to_string()).collect()
    };
    match w {
        Wire::Hello(h) if k == 0 || k == usize::MAX => {
            let iknow = names(&h.iknow);
            wire::emit_hello(
                out,
                h.answer,
                &h.name,
                iknow.iter().map(String::as_str),
                at(0, h.version),
            );
        }
        Wire::Ping if k == usize::MAX => wire::emit_ping(out),
        Wire::Pong if k == usize::MAX => wire::emit_pong(out),
        Wire::Reach { add, who } if k == usize::MAX => {
            wire::emit_reach(out, *add, who.iter().map(|n| &**n));
        }
        Wire::Msg(m) => {
            let hops = usize::from(m.hops.is_some());
            let numbers = hops + if m.seq.is_some() { 3 } else { 0 };
            let fields = numbers + usize::from(m.to_inc.is_some());
            if k != usize::MAX && k >= fields {
                return false;
            }
            let seq = m.seq.map(|q| Seq {
                inc: at(hops, q.inc),
                seq: at(hops + 1, q.seq),
                base: at(hops + 2, q.base),
            });
            let h = m.hops.map(|h| at(0, h));
            let stamp = wire::Stamp {
                to_inc: m.to_inc.map(|d| at(numbers, d)),
                sealed: m.sealed,
                tag: m.tag.as_deref(),
            };
            wire::emit_msg(out, &m.from, &m.to, m.body.get(), h, seq, stamp);
        }
        Wire::Lsa(l) if k < 2 || k == usize::MAX => wire::emit_lsa(
            out,
            &l.origin,
            at(0, l.inc),
            at(1, l.seq),
            l.neighbors.iter().map(|n| &**n),
            l.v1_peers.iter().map(|n| &**n),
            l.externals.iter().map(|n| &**n),
            l.signed.as_ref().map(|s| (&*s.key, &*s.sig)),
        ),
        Wire::Ack(a) if k < 3 || k == usize::MAX => {
            let Some(h) = a.hops else { return false };
            let tag = a.tag.as_deref();
            wire::emit_ack(
                out,
                &a.from,
                &a.to,
                at(0, a.inc),
                at(1, a.seq),
                at(2, h),
                tag,
            );
        }
        // The first four entries' numbers: enough to meet every place a summary's numbers go.
        Wire::Summary(d) if k < 2 * d.entries.len().min(4) || k == usize::MAX => {
            wire::emit_summary(
                out,
                d.entries
                    .iter()
                    .enumerate()
                    .map(|(j, (o, i, s))| (&**o, at(2 * j, *i), at(2 * j + 1, *s))),
                d.end,
            );
        }
        _ => return false,
    }
    true
}

/// Every numeric field of `w` (a frame the parser accepted) at every one of [`VALUES`]: up to
/// 2^53 it parses and is written back byte for byte; above, it is refused, naming the limit.
pub(super) fn check_numbers(w: &Wire<'_>) {
    let mut out = Vec::new();
    let mut again = Vec::new();
    for k in 0.. {
        for (n, &v) in VALUES.iter().enumerate() {
            out.clear();
            if !emit_with(w, k, v, &mut out) {
                assert_eq!(n, 0, "field {k} exists for some values only");
                return;
            }
            let parsed = wire::parse(&out[crate::frame::HEADER_LEN..], 64);
            if v <= MAX_NUMBER {
                let parsed = parsed.unwrap_or_else(|e| panic!("field {k} at {v}: {e}"));
                again.clear();
                assert!(emit(&parsed, &mut again), "field {k} at {v}");
                assert_eq!(again, out, "field {k} at {v} is not kept exactly");
            } else {
                assert!(
                    matches!(&parsed, Err(WireError::Field { problem, .. }) if problem.contains("2^53")),
                    "field {k} at {v}: {parsed:?}"
                );
            }
        }
    }
}
