//! v1 announcements: `{"c":"imcon4","who":[...]}` says the sender now reaches these names,
//! `{"c":"im!con4","who":[...]}` that it no longer does. Read into
//! [`Wire::Reach`] by the general parser (there is no fast path: v2 agents
//! do not send them to each other); this file holds the reader and the emitter.

use super::envelope::{Envelope, names};
use super::json::write_names;
use super::{Wire, WireError};
use crate::frame;

/// The general parser's reader for an announcement: `add` for `imcon4`, not for `im!con4`.
/// `max_names` caps `who`.
pub(super) fn parse_reach<'a>(
    env: &Envelope<'a>,
    add: bool,
    max_names: usize,
) -> Result<Wire<'a>, WireError> {
    let command = if add { "imcon4" } else { "im!con4" };
    Ok(Wire::Reach {
        add,
        who: names(env.who, command, "who", max_names)?,
    })
}

/// Appends `{"c":"imcon4","who":[...]}` (`add`) or `{"c":"im!con4","who":[...]}`.
pub(crate) fn emit_reach<'n>(out: &mut Vec<u8>, add: bool, who: impl IntoIterator<Item = &'n str>) {
    frame::encode_with(out, |b| {
        b.extend_from_slice(if add {
            b"{\"c\":\"imcon4\",\"who\":"
        } else {
            b"{\"c\":\"im!con4\",\"who\":"
        });
        write_names(b, who);
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
        emit_reach(&mut out, true, ["Rosenberg"]);
        assert_eq!(payload(&out), br#"{"c":"imcon4","who":["Rosenberg"]}"#);
        out.clear();
        emit_reach(&mut out, false, ["Wolf"]);
        assert_eq!(payload(&out), br#"{"c":"im!con4","who":["Wolf"]}"#);
    }

    #[test]
    fn parses_every_v1_frame() {
        assert_eq!(
            parse(br#"{"c":"im!con4","who":["a","b"]}"#, 10).unwrap(),
            Wire::Reach {
                add: false,
                who: vec!["a".into(), "b".into()]
            }
        );
    }

    #[test]
    fn a_huge_name_list_is_refused_at_the_cap() {
        let mut s = String::from(r#"{"c":"imcon4","who":["#);
        for i in 0..10_000 {
            if i > 0 {
                s.push(',');
            }
            s.push_str(&format!("\"n{i}\""));
        }
        s.push_str("]}");
        assert_eq!(
            parse(s.as_bytes(), 100).unwrap_err(),
            WireError::TooManyNames {
                field: "who",
                max: 100
            }
        );
        assert!(matches!(
            parse(s.as_bytes(), 10_000).unwrap(),
            Wire::Reach { .. }
        ));
    }
}
