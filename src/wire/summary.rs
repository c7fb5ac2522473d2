//! v2 database summaries, `{"c":"sum","d":[[ORIGIN,INC,SEQ],...],"e":true}`: which version
//! of each description a peer holds, sent in parts when a link comes up. The type, the general
//! parser's reader (there is no fast path: a summary comes once per link) and the emitter.

use std::borrow::Cow;

use super::WireError;
use super::bounded::read_list;
use super::envelope::{Envelope, check_name, check_number, optional_bool};
use super::json::{CowStr, write_str, write_u64};
use crate::frame;

/// Part of a peer's database summary: which version of each description it holds (v2).
#[derive(Debug, PartialEq)]
pub(crate) struct Summary<'a> {
    /// `d`: (origin, incarnation, version) of descriptions held.
    pub(crate) entries: Vec<(Cow<'a, str>, u64, u64)>,
    /// `e`: this is the last part; what it did not list, the peer does not hold.
    pub(crate) end: bool,
}

/// The general parser's reader for a summary; `max` caps its entries.
pub(super) fn parse_summary<'a>(env: &Envelope<'a>, max: usize) -> Result<Summary<'a>, WireError> {
    let (command, field) = ("sum", "d");
    let raw = env.d.ok_or(WireError::Field {
        command,
        field,
        problem: "is missing",
    })?;
    let entries = read_list(raw, max, |(name, inc, version): (CowStr<'a>, u64, u64)| {
        (name.0, inc, version)
    })
    .map_err(|e| {
        e.wire_error(
            command,
            field,
            max,
            "is not an array of [name, incarnation, version]",
        )
    })?;
    for (name, inc, version) in &entries {
        check_name(name, field)?;
        check_number(*inc, command, field)?;
        check_number(*version, command, field)?;
    }
    let end = optional_bool(env.e, command, "e")?;
    Ok(Summary { entries, end })
}

/// Appends `{"c":"sum","d":[[ORIGIN,INC,SEQ],...]}`, with `,"e":true` when `end`.
pub(crate) fn emit_summary<'n>(
    out: &mut Vec<u8>,
    entries: impl IntoIterator<Item = (&'n str, u64, u64)>,
    end: bool,
) {
    frame::encode_with(out, |b| {
        b.extend_from_slice(b"{\"c\":\"sum\",\"d\":[");
        for (k, (origin, inc, seq)) in entries.into_iter().enumerate() {
            if k > 0 {
                b.push(b',');
            }
            b.push(b'[');
            write_str(b, origin);
            b.push(b',');
            write_u64(b, inc);
            b.push(b',');
            write_u64(b, seq);
            b.push(b']');
        }
        b.push(b']');
        if end {
            b.extend_from_slice(b",\"e\":true");
        }
        b.push(b'}');
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{MAX_NUMBER, Wire, parse};

    #[test]
    fn a_summary_round_trips_and_its_shape_is_checked() {
        let mut out = Vec::new();
        emit_summary(&mut out, [("A", 1, 2), ("B\"b", 3, MAX_NUMBER)], true);
        assert_eq!(
            &out[4..],
            br#"{"c":"sum","d":[["A",1,2],["B\"b",3,9007199254740992]],"e":true}"#
        );
        let Wire::Summary(s) = parse(&out[4..], 10).unwrap() else {
            panic!()
        };
        assert!(s.end);
        assert_eq!(
            s.entries,
            vec![("A".into(), 1, 2), ("B\"b".into(), 3, MAX_NUMBER)]
        );
        out.clear();
        emit_summary(&mut out, [], false);
        assert_eq!(
            parse(&out[4..], 10).unwrap(),
            Wire::Summary(Summary {
                entries: vec![],
                end: false
            })
        );
        for (frame, says) in [
            (r#"{"c":"sum"}"#, r#"field "d" is missing"#),
            (
                r#"{"c":"sum","d":[["A",1]]}"#,
                "[name, incarnation, version]",
            ),
            (
                r#"{"c":"sum","d":[["A",1,-2]]}"#,
                "[name, incarnation, version]",
            ),
            (r#"{"c":"sum","d":{"A":1}}"#, "[name, incarnation, version]"),
            (r#"{"c":"sum","d":[["",1,2]]}"#, "empty name"),
            (
                r#"{"c":"sum","d":[["A",9007199254740993,2]]}"#,
                "above 9007199254740992",
            ),
            (
                r#"{"c":"sum","d":[["A",1,18446744073709551615]]}"#,
                "above 9007199254740992",
            ),
            (
                r#"{"c":"sum","d":[],"e":1}"#,
                r#"field "e" is not a boolean"#,
            ),
            (
                r#"{"c":"sum","d":[["A",1,2],["B",1,2],["C",1,2]]}"#,
                "more than 2",
            ),
        ] {
            let err = parse(frame.as_bytes(), 2).unwrap_err().to_string();
            assert!(err.contains(says), "{frame}: {err}");
        }
    }
}
