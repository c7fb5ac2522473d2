//! JSON text shared by every frame kind: writing strings escaped as `JSON.stringify` escapes
//! them, writing numbers and name lists, reading a raw string or number field, and
//! [`emit_around`], how a relay passes a frame on with a new hop count.
//!
//! Writers append to a caller-supplied buffer and cannot fail; readers return `None` for
//! anything that is not what they read, and leave the error to their caller.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;

use crate::frame;

/// A JSON string, borrowed when it holds no escapes.
pub(super) struct CowStr<'a>(pub(super) Cow<'a, str>);

impl<'de> Deserialize<'de> for CowStr<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = CowStr<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(CowStr(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(CowStr(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(CowStr(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

/// A raw field as a string, or `None` when it holds another type.
#[inline]
pub(super) fn string_field(raw: &RawValue) -> Option<Cow<'_, str>> {
    // The common case without a second parser: the envelope already checked that this is one
    // valid JSON value, so a quoted text without a backslash is the string itself.
    let text = raw.get();
    if let Some(inner) = text.strip_prefix('"').and_then(|t| t.strip_suffix('"')) {
        if !inner.contains('\\') {
            return Some(Cow::Borrowed(inner));
        }
    }
    serde_json::from_str::<CowStr<'_>>(text).ok().map(|s| s.0)
}

/// One raw JSON value as a non-negative integer that fits a `u64`, or `None`.
#[inline]
pub(super) fn read_u64(text: &str) -> Option<u64> {
    // The common case without a second parser: the envelope already checked that this is
    // one JSON value, so plain digits are a non-negative integer (too large fails below).
    if text.bytes().all(|b| b.is_ascii_digit()) {
        if let Ok(n) = text.parse::<u64>() {
            return Some(n);
        }
    }
    serde_json::from_str::<u64>(text).ok()
}

// Emitting. Key order and spacing match the original agents byte for byte.

/// Appends a JSON string literal, escaped the way `JSON.stringify` escapes it.
pub(crate) fn write_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let bytes = s.as_bytes();
    // Names and most strings need no escape: one scan, one copy.
    if !bytes.iter().any(|&b| b < 0x20 || b == b'"' || b == b'\\') {
        out.extend_from_slice(bytes);
        out.push(b'"');
        return;
    }
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let esc: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0..=0x1f => {
                out.extend_from_slice(&bytes[start..i]);
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.extend_from_slice(b"\\u00");
                out.push(HEX[(b >> 4) as usize]);
                out.push(HEX[(b & 0xf) as usize]);
                start = i + 1;
                continue;
            }
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        out.extend_from_slice(esc);
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

/// Appends `["name",...]`.
pub(super) fn write_names<'n>(out: &mut Vec<u8>, names: impl IntoIterator<Item = &'n str>) {
    out.push(b'[');
    for (i, n) in names.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_str(out, n);
    }
    out.push(b']');
}

/// Appends a frame read by a fast path, `before` and `after` its hop count's digits, with the
/// hop count `hops` between them: how a relay passes a message or a confirmation on.
pub(crate) fn emit_around(out: &mut Vec<u8>, before: &[u8], hops: u64, after: &[u8]) {
    frame::encode_with(out, |b| {
        b.extend_from_slice(before);
        write_u64(b, hops);
        b.extend_from_slice(after);
    });
}

/// Appends the decimal digits of `n` without allocating.
pub(crate) fn write_u64(out: &mut Vec<u8>, mut n: u64) {
    // Two digits per division: numbers on the message path run to 13 digits (incarnations).
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    while n >= 100 {
        let pair = 2 * (n % 100) as usize;
        n /= 100;
        i -= 2;
        digits[i..i + 2].copy_from_slice(&DIGIT_PAIRS[pair..pair + 2]);
    }
    if n >= 10 {
        let pair = 2 * n as usize;
        i -= 2;
        digits[i..i + 2].copy_from_slice(&DIGIT_PAIRS[pair..pair + 2]);
    } else {
        i -= 1;
        digits[i] = b'0' + n as u8;
    }
    out.extend_from_slice(&digits[i..]);
}

/// "00", "01", ... "99", back to back.
const DIGIT_PAIRS: [u8; 200] = {
    let mut t = [0u8; 200];
    let mut i = 0;
    while i < 100 {
        t[2 * i] = b'0' + (i / 10) as u8;
        t[2 * i + 1] = b'0' + (i % 10) as u8;
        i += 1;
    }
    t
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{Wire, parse};

    #[test]
    fn escapes_like_json_stringify() {
        let mut out = Vec::new();
        write_str(&mut out, "a\"b\\c\nd\u{1}é\u{7f}");
        assert_eq!(
            String::from_utf8(out.clone()).unwrap(),
            "\"a\\\"b\\\\c\\nd\\u0001é\u{7f}\""
        );
        let back: String = serde_json::from_slice(&out).unwrap();
        assert_eq!(back, "a\"b\\c\nd\u{1}é\u{7f}");
    }

    #[test]
    fn plain_names_and_numbers_are_read_in_place_and_the_rest_as_before() {
        let frame = br#"{"c":"msg","f":"Wolf","t":"Ro\u0073enberg","m":{},"h":9007199254740992}"#;
        let Wire::Msg(m) = parse(frame, 1).unwrap() else {
            panic!()
        };
        assert!(matches!(m.from, Cow::Borrowed("Wolf")));
        assert_eq!(&*m.to, "Rosenberg");
        assert_eq!(m.hops, Some(crate::wire::MAX_NUMBER));
        for bad in ["18446744073709551616", "1.5", "1e2", "-1", "\"1\""] {
            let frame = format!(r#"{{"c":"msg","f":"A","t":"B","h":{bad}}}"#);
            let err = parse(frame.as_bytes(), 1).unwrap_err();
            assert!(
                err.to_string().contains("not a non-negative integer"),
                "{bad}: {err}"
            );
        }
        for above in [
            "9007199254740993",
            "18446744073709551614",
            "18446744073709551615",
        ] {
            let frame = format!(r#"{{"c":"msg","f":"A","t":"B","h":{above}}}"#);
            let err = parse(frame.as_bytes(), 1).unwrap_err();
            assert!(
                err.to_string().contains("above 9007199254740992"),
                "{above}: {err}"
            );
        }
    }

    /// Every digit count, and both ends of the range.
    #[test]
    fn writes_the_digits_of_every_u64() {
        let mut n = Vec::new();
        for v in [
            0,
            9,
            10,
            99,
            100,
            101,
            1000,
            1234567890123,
            u64::MAX / 10,
            u64::MAX,
        ] {
            n.clear();
            write_u64(&mut n, v);
            assert_eq!(n, v.to_string().as_bytes());
        }
    }
}
