//! The general parser's envelope: every field this version reads, kept raw, and the readers
//! that turn a raw field into a name, a number or a list of names under the rules every
//! command shares (a missing field, a mistyped one, a name outside the naming rules).
//!
//! The envelope knows no command: each frame kind's file reads the fields its command has,
//! with these readers. Nothing here looks at bytes outside the one payload it is given.

use std::borrow::Cow;

use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;

use super::bounded::read_list;
use super::json::{CowStr, read_u64, string_field};
use super::{ABOVE_MAX_NUMBER, MAX_NUMBER, WireError, name_is_valid};

/// Every field this version reads, each kept raw until the command says what it should be.
/// Keeping them raw is what lets an unknown command reuse a known key with another type.
#[derive(Deserialize, Default)]
pub(super) struct Envelope<'a> {
    #[serde(borrow, default, deserialize_with = "present")]
    pub(super) c: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    pub(super) a: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    pub(super) mynameis: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    pub(super) iknow: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    pub(super) who: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    pub(super) f: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    pub(super) t: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    pub(super) m: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    pub(super) v: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    pub(super) h: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    pub(super) i: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    pub(super) s: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    pub(super) b: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    pub(super) o: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    pub(super) n: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    pub(super) x: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    pub(super) p: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    pub(super) d: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    pub(super) e: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    pub(super) k: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    pub(super) g: Option<&'a RawValue>,
}

impl<'a> Envelope<'a> {
    /// Reads every field of one payload; a frame that is not a JSON object of unique keys is
    /// an error here, before any command is looked at. Inlined so the envelope is built in
    /// its caller's frame, not copied out of this one (it is 21 fields wide).
    #[inline]
    pub(super) fn read(text: &'a str) -> Result<Self, WireError> {
        serde_json::from_str(text).map_err(|e| WireError::Json(e.to_string()))
    }
}

/// A present field is `Some`, even when it holds `null` (plain `Option` would fold `null` into
/// absent, and a `null` body is a real body).
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<&'de RawValue>, D::Error> {
    <&'de RawValue>::deserialize(d).map(Some)
}

static NULL: &str = "null";

/// A number field that may be absent; present, it must be a non-negative integer no larger
/// than [`MAX_NUMBER`].
#[inline]
pub(super) fn optional_u64(
    raw: Option<&RawValue>,
    command: &'static str,
    field: &'static str,
) -> Result<Option<u64>, WireError> {
    raw.map(|raw| {
        let n = read_u64(raw.get()).ok_or(WireError::Field {
            command,
            field,
            problem: "is not a non-negative integer",
        })?;
        check_number(n, command, field)
    })
    .transpose()
}

/// The number space of the protocol: `n` itself, or an error naming the field when it is
/// above [`MAX_NUMBER`].
#[inline]
pub(super) fn check_number(
    n: u64,
    command: &'static str,
    field: &'static str,
) -> Result<u64, WireError> {
    if n <= MAX_NUMBER {
        Ok(n)
    } else {
        Err(WireError::Field {
            command,
            field,
            problem: ABOVE_MAX_NUMBER,
        })
    }
}

/// A number field the command cannot do without.
#[inline]
pub(super) fn required_u64(
    raw: Option<&RawValue>,
    command: &'static str,
    field: &'static str,
) -> Result<u64, WireError> {
    optional_u64(raw, command, field)?.ok_or(WireError::Field {
        command,
        field,
        problem: "is missing",
    })
}

/// A name field the command cannot do without, within the naming rules.
#[inline]
pub(super) fn required_name<'a>(
    raw: Option<&'a RawValue>,
    command: &'static str,
    field: &'static str,
) -> Result<Cow<'a, str>, WireError> {
    let raw = raw.ok_or(WireError::Field {
        command,
        field,
        problem: "is missing",
    })?;
    let name = string_field(raw).ok_or(WireError::Field {
        command,
        field,
        problem: "is not a string",
    })?;
    check_name(&name, field)?;
    Ok(name)
}

/// The naming rules, as an error naming the field that broke them.
#[inline]
pub(super) fn check_name(name: &str, field: &'static str) -> Result<(), WireError> {
    if name_is_valid(name) {
        Ok(())
    } else {
        Err(WireError::BadName {
            field,
            len: name.len(),
        })
    }
}

/// A string field that may be absent (a key, a signature or a tag: any string; what it
/// holds is for the core to judge).
#[inline]
pub(super) fn optional_str<'a>(
    raw: Option<&'a RawValue>,
    command: &'static str,
    field: &'static str,
) -> Result<Option<Cow<'a, str>>, WireError> {
    raw.map(|raw| {
        string_field(raw).ok_or(WireError::Field {
            command,
            field,
            problem: "is not a string",
        })
    })
    .transpose()
}

/// A boolean field that may be absent, read as `false` then.
#[inline]
pub(super) fn optional_bool(
    raw: Option<&RawValue>,
    command: &'static str,
    field: &'static str,
) -> Result<bool, WireError> {
    match raw.map(RawValue::get) {
        None | Some("false") => Ok(false),
        Some("true") => Ok(true),
        Some(_) => Err(WireError::Field {
            command,
            field,
            problem: "is not a boolean",
        }),
    }
}

/// A list of names the command cannot do without: at most `max`, each within the naming
/// rules.
pub(super) fn names<'a>(
    raw: Option<&'a RawValue>,
    command: &'static str,
    field: &'static str,
    max: usize,
) -> Result<Vec<Cow<'a, str>>, WireError> {
    let raw = raw.ok_or(WireError::Field {
        command,
        field,
        problem: "is missing",
    })?;
    let out = read_list(raw, max, |name: CowStr<'a>| name.0)
        .map_err(|e| e.wire_error(command, field, max, "is not an array of strings"))?;
    for name in &out {
        check_name(name, field)?;
    }
    Ok(out)
}

/// A list of names that may be absent or `null`, both read as empty.
pub(super) fn optional_names<'a>(
    raw: Option<&'a RawValue>,
    command: &'static str,
    field: &'static str,
    max: usize,
) -> Result<Vec<Cow<'a, str>>, WireError> {
    match raw {
        Some(raw) if raw.get() != NULL => names(Some(raw), command, field, max),
        _ => Ok(Vec::new()),
    }
}
