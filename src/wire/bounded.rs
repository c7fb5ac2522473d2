//! The one reader for every list a peer sends to the general parser (names in a hello, an
//! announcement or a description; entries in a summary): a JSON array read element by
//! element, refused as soon as it passes its cap.
//!
//! It never allocates for a length the input claims (a deserializer's size hint is a peer's
//! word), only for the elements it has read, so a list of a million entries never holds more
//! than its cap in memory. Why a list was refused is a typed [`ListError`], recorded by the reader itself, never
//! recognised from an error's text.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, Deserialize, DeserializeSeed, Deserializer, SeqAccess, Visitor};
use serde_json::value::RawValue;

use super::WireError;

/// Why a list was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ListError {
    /// It has more elements than its cap.
    TooLong,
    /// It is not an array, or one of its elements is not of the element's shape.
    Shape,
}

impl ListError {
    /// The error a command reports for its list `field`: too long is
    /// [`WireError::TooManyNames`], a bad shape is a [`WireError::Field`] saying `shape`.
    pub(super) fn wire_error(
        self,
        command: &'static str,
        field: &'static str,
        max: usize,
        shape: &'static str,
    ) -> WireError {
        match self {
            ListError::TooLong => WireError::TooManyNames { field, max },
            ListError::Shape => WireError::Field {
                command,
                field,
                problem: shape,
            },
        }
    }
}

/// Reads `raw` as a JSON array of at most `max` elements, each read as an `R` and kept as
/// `keep` makes it.
pub(super) fn read_list<'de, R, T>(
    raw: &'de RawValue,
    max: usize,
    keep: impl Fn(R) -> T,
) -> Result<Vec<T>, ListError>
where
    R: Deserialize<'de>,
{
    let mut out = Vec::new();
    let mut too_long = false;
    let mut de = serde_json::Deserializer::from_str(raw.get());
    let read = BoundedList::new(&mut out, max, &mut too_long, keep).deserialize(&mut de);
    match read {
        Ok(()) => Ok(out),
        Err(_) if too_long => Err(ListError::TooLong),
        Err(_) => Err(ListError::Shape),
    }
}

/// A serde seed that reads a sequence into `out`, each element read as an `R` and kept as
/// `keep` makes it, and refuses it at the element past `max`, setting `too_long` so the
/// caller knows why without reading the error.
struct BoundedList<'o, T, R, K> {
    out: &'o mut Vec<T>,
    max: usize,
    too_long: &'o mut bool,
    keep: K,
    read: PhantomData<fn() -> R>,
}

impl<'o, T, R, K: Fn(R) -> T> BoundedList<'o, T, R, K> {
    /// A reader appending to `out`, which sets `too_long` when it refuses a list for its
    /// length.
    fn new(out: &'o mut Vec<T>, max: usize, too_long: &'o mut bool, keep: K) -> Self {
        BoundedList {
            out,
            max,
            too_long,
            keep,
            read: PhantomData,
        }
    }
}

impl<'de, T, R, K> DeserializeSeed<'de> for BoundedList<'_, T, R, K>
where
    R: Deserialize<'de>,
    K: Fn(R) -> T,
{
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de, T, R, K> Visitor<'de> for BoundedList<'_, T, R, K>
where
    R: Deserialize<'de>,
    K: Fn(R) -> T,
{
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "an array of at most {} elements", self.max)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        // Each element is read before the cap is checked, so an ill-formed element just past
        // the cap is a shape error, as it always was; `seq.size_hint()` is never consulted.
        while let Some(item) = seq.next_element::<R>()? {
            if self.out.len() >= self.max {
                *self.too_long = true;
                return Err(de::Error::custom("list longer than its cap"));
            }
            self.out.push((self.keep)(item));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use serde::de::value::{Error as ValueError, SeqDeserializer};

    use super::*;
    use crate::wire::json::CowStr;

    fn names(text: &str, max: usize) -> Result<Vec<Cow<'_, str>>, ListError> {
        let raw: &RawValue = serde_json::from_str(text).expect("one JSON value");
        read_list(raw, max, |n: CowStr<'_>| n.0)
    }

    /// `n` names, as a JSON array.
    fn list(n: usize) -> String {
        let items: Vec<String> = (0..n).map(|i| format!("\"n{i}\"")).collect();
        format!("[{}]", items.join(","))
    }

    #[test]
    fn an_empty_list_is_read_whatever_the_cap() {
        assert_eq!(names("[]", 3), Ok(vec![]));
        assert_eq!(names("[ ]", 0), Ok(vec![]));
    }

    #[test]
    fn a_list_of_exactly_the_cap_is_read() {
        let text = list(3);
        let got = names(&text, 3).expect("three names under a cap of three");
        assert_eq!(got, ["n0", "n1", "n2"]);
        assert!(got.iter().all(|n| matches!(n, Cow::Borrowed(_))));
        assert_eq!(names(r#"["a\u0041"]"#, 1), Ok(vec![Cow::from("aA")]));
    }

    #[test]
    fn one_past_the_cap_is_too_long() {
        assert_eq!(names(&list(4), 3), Err(ListError::TooLong));
        assert_eq!(names(&list(1), 0), Err(ListError::TooLong));
    }

    #[test]
    fn a_bad_shape_is_not_too_long() {
        for text in [r#"{"a":1}"#, r#""a""#, "null", "[1]", r#"["a",[]]"#] {
            assert_eq!(names(text, 3), Err(ListError::Shape), "{text}");
        }
        // The element past the cap is read before the cap is checked.
        assert_eq!(names(r#"["a","b",1]"#, 2), Err(ListError::Shape));
        assert_eq!(names(r#"["a","b","c",1]"#, 2), Err(ListError::TooLong));
    }

    #[test]
    fn any_element_reader_can_be_bounded() {
        let raw: &RawValue = serde_json::from_str(r#"[["A",1,2],["B",3,4]]"#).unwrap();
        fn keep((n, i, s): (CowStr<'_>, u64, u64)) -> (Cow<'_, str>, u64, u64) {
            (n.0, i, s)
        }
        assert_eq!(
            read_list(raw, 2, keep),
            Ok(vec![("A".into(), 1, 2), ("B".into(), 3, 4)])
        );
        assert_eq!(read_list(raw, 1, keep), Err(ListError::TooLong));
        assert_eq!(read_list(raw, 2, |n: u64| n), Err(ListError::Shape));
    }

    #[test]
    fn a_huge_list_is_refused_at_the_cap_without_allocating_for_it() {
        // An endless sequence that claims `usize::MAX` elements: a reader that trusted the
        // claim would try to allocate it, and one without a cap would never return.
        let endless = SeqDeserializer::<_, ValueError>::new(std::iter::repeat("n"));
        let mut out: Vec<String> = Vec::new();
        let mut too_long = false;
        let read = BoundedList::new(&mut out, 5, &mut too_long, |n: String| n);
        assert!(read.deserialize(endless).is_err());
        assert!(too_long);
        assert_eq!(out.len(), 5);
        assert!(out.capacity() < 64, "{}", out.capacity());
        // And through the JSON reader, a hundred thousand names against a cap of ten.
        assert_eq!(names(&list(100_000), 10), Err(ListError::TooLong));
    }

    #[test]
    fn the_error_a_command_reports() {
        assert_eq!(
            ListError::TooLong.wire_error("imcon4", "who", 7, "is not an array of strings"),
            WireError::TooManyNames {
                field: "who",
                max: 7
            }
        );
        assert_eq!(
            ListError::Shape.wire_error("imcon4", "who", 7, "is not an array of strings"),
            WireError::Field {
                command: "imcon4",
                field: "who",
                problem: "is not an array of strings"
            }
        );
    }
}
