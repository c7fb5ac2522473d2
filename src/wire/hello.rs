//! The hello, `{"c":"hi!","mynameis":NAME,"iknow":[...],"v":VERSION}` from the dialling side
//! and `{"a":"hi!",...}` back: the type, the general parser's reader (there is no fast path: a
//! hello comes once per link) and the emitter.

use std::borrow::Cow;

use super::envelope::{Envelope, check_name, optional_names, optional_u64};
use super::json::{string_field, write_names, write_str};
use super::{Wire, WireError};
use crate::frame;

/// The hello, in either direction.
#[derive(Debug, PartialEq)]
pub(crate) struct Hello<'a> {
    /// `true` for the accepting side's answer (`"a":"hi!"`).
    pub(crate) answer: bool,
    /// `mynameis`.
    pub(crate) name: Cow<'a, str>,
    /// `iknow`: names the sender can reach. Absent is read as empty.
    pub(crate) iknow: Vec<Cow<'a, str>>,
    /// `v`: the highest protocol version the sender speaks; 1 when absent.
    pub(crate) version: u64,
}

/// The general parser's reader for a hello; `answer` when it came as `"a"`.
pub(super) fn parse_hello<'a>(
    env: &Envelope<'a>,
    answer: bool,
    max_names: usize,
) -> Result<Wire<'a>, WireError> {
    let command = "hi!";
    let raw = env.mynameis.ok_or(WireError::Field {
        command,
        field: "mynameis",
        problem: "is missing",
    })?;
    let name = string_field(raw).ok_or(WireError::Field {
        command,
        field: "mynameis",
        problem: "is not a string",
    })?;
    check_name(&name, "mynameis")?;
    let iknow = optional_names(env.iknow, command, "iknow", max_names)?;
    // Every agent speaks at least v1, whatever it claims.
    let version = optional_u64(env.v, command, "v")?.unwrap_or(1).max(1);
    Ok(Wire::Hello(Hello {
        answer,
        name,
        iknow,
        version,
    }))
}

/// Appends a hello frame: `{"c":"hi!",...}` or, for the answer, `{"a":"hi!",...}`. A `version`
/// above 1 adds `"v":version`, which original agents ignore.
pub(crate) fn emit_hello<'n>(
    out: &mut Vec<u8>,
    answer: bool,
    name: &str,
    iknow: impl IntoIterator<Item = &'n str>,
    version: u64,
) {
    frame::encode_with(out, |b| {
        b.extend_from_slice(if answer {
            b"{\"a\":\"hi!\",\"mynameis\":"
        } else {
            b"{\"c\":\"hi!\",\"mynameis\":"
        });
        write_str(b, name);
        b.extend_from_slice(b",\"iknow\":");
        write_names(b, iknow);
        if version > 1 {
            b.extend_from_slice(b",\"v\":");
            b.extend_from_slice(version.to_string().as_bytes());
        }
        b.push(b'}');
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::parse;
    use crate::wire::tests::payload;

    #[test]
    fn emits_the_originals_bytes() {
        let mut out = Vec::new();
        emit_hello(&mut out, false, "Ames", [], 1);
        assert_eq!(
            payload(&out),
            br#"{"c":"hi!","mynameis":"Ames","iknow":[]}"#
        );
        out.clear();
        emit_hello(&mut out, true, "Rosenberg", ["Ames", "Wolf"], 1);
        assert_eq!(
            payload(&out),
            br#"{"a":"hi!","mynameis":"Rosenberg","iknow":["Ames","Wolf"]}"#
        );
    }

    #[test]
    fn parses_every_v1_frame() {
        let w = parse(br#"{"c":"hi!","mynameis":"Ames","iknow":["Wolf"]}"#, 10).unwrap();
        assert_eq!(
            w,
            Wire::Hello(Hello {
                answer: false,
                name: "Ames".into(),
                iknow: vec!["Wolf".into()],
                version: 1
            })
        );
        let w = parse(
            br#"{"a":"hi!","mynameis":"W\u006flf","iknow":[],"v":2}"#,
            10,
        )
        .unwrap();
        assert_eq!(
            w,
            Wire::Hello(Hello {
                answer: true,
                name: "Wolf".into(),
                iknow: vec![],
                version: 2
            })
        );
    }
}
