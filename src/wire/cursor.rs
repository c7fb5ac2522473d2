//! The fast paths' reader: a read position in a frame that takes exactly the bytes this
//! crate's emitters write (fixed key order, no whitespace, plain names and numbers) and
//! nothing else.
//!
//! Every method returns `None` when the text does not have the expected shape, which sends the
//! frame to the general parser; so a fast path can only ever be a shortcut to the result the
//! general parser gives, never a second opinion. Every index is checked: no input panics.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;

use super::{MAX_NUMBER, name_is_valid};

/// A read position in a frame, for the message, confirmation and description fast paths.
pub(super) struct Cursor<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> Cursor<'a> {
    /// A cursor at the start of `text`, one whole payload.
    #[inline]
    pub(super) fn new(text: &'a str) -> Self {
        Cursor { text, at: 0 }
    }

    #[inline]
    fn rest(&self) -> &'a [u8] {
        self.text.as_bytes().get(self.at..).unwrap_or_default()
    }

    /// `,"h":H` if it comes next: the hop count, and where its digits sit (for a relay that
    /// copies the frame around a new one); `Some(None)` when the frame has no hop count.
    #[inline]
    pub(super) fn hops(&mut self) -> Option<Option<(u64, (usize, usize))>> {
        if self.eat(b",\"h\":").is_none() {
            return Some(None);
        }
        let start = self.at;
        let h = self.number()?;
        Some(Some((h, (start, self.at))))
    }

    /// The closing brace, as the frame's last byte.
    #[inline]
    pub(super) fn close(&mut self) -> Option<()> {
        self.eat(b"}")?;
        (self.at == self.text.len()).then_some(())
    }

    /// Consumes `lit` exactly.
    #[inline]
    pub(super) fn eat(&mut self, lit: &[u8]) -> Option<()> {
        if self.rest().starts_with(lit) {
            self.at += lit.len();
            Some(())
        } else {
            None
        }
    }

    /// A name after its opening quote, through its closing quote: no escape, no control
    /// character (those are for the general parser), within the naming rules.
    #[inline]
    pub(super) fn name(&mut self) -> Option<&'a str> {
        self.plain().filter(|name| name_is_valid(name))
    }

    /// A string after its opening quote, through its closing quote, with no escape and no
    /// control character: a key, a signature or a tag in base64, as the emitters write them.
    /// Any length, the empty string included (the general parser reads these fields as any
    /// string, and what they hold is the core's to judge).
    #[inline]
    pub(super) fn plain(&mut self) -> Option<&'a str> {
        let len = self
            .rest()
            .iter()
            .position(|&b| b == b'"' || b == b'\\' || b < 0x20)?;
        if self.rest()[len] != b'"' {
            return None;
        }
        // Slicing at ASCII bytes of a `str` always falls on character boundaries.
        let text = self.text.get(self.at..self.at + len)?;
        self.at += len + 1;
        Some(text)
    }

    /// `,"g":"TAG"` if it comes next: a message's or a confirmation's authenticator;
    /// `Some(None)` when the frame has none.
    #[inline]
    pub(super) fn tag(&mut self) -> Option<Option<&'a str>> {
        if self.eat(b",\"g\":\"").is_none() {
            return Some(None);
        }
        self.plain().map(Some)
    }

    /// `[` plain names `]`, at most `max` of them, as `emit_lsa` writes a list.
    #[inline]
    pub(super) fn names(&mut self, max: usize) -> Option<Vec<Cow<'a, str>>> {
        self.eat(b"[")?;
        let mut out = Vec::new();
        if self.eat(b"]").is_some() {
            return Some(out);
        }
        loop {
            self.eat(b"\"")?;
            let name = self.name()?;
            if out.len() >= max {
                return None;
            }
            out.push(Cow::Borrowed(name));
            if self.eat(b",").is_none() {
                self.eat(b"]")?;
                return Some(out);
            }
        }
    }

    /// A JSON number of plain digits no larger than [`MAX_NUMBER`], as the general parser
    /// reads it: JSON allows no leading zero, and a fraction or an exponent is not an integer
    /// here. A larger one goes to the general parser, which says what is wrong with it.
    #[inline]
    pub(super) fn number(&mut self) -> Option<u64> {
        let bytes = self.text.as_bytes();
        let start = self.at;
        let mut end = start;
        let mut n: u64 = 0;
        // Up to 19 digits stay below 10^19, which a u64 holds: no step can overflow.
        while let Some(&d) = bytes.get(end).filter(|d| d.is_ascii_digit()) {
            if end - start >= 19 {
                n = n.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
            } else {
                n = n * 10 + u64::from(d - b'0');
            }
            end += 1;
        }
        let digits = end - start;
        if digits == 0 || (digits > 1 && bytes[start] == b'0') || n > MAX_NUMBER {
            return None;
        }
        self.at = end;
        Some(n)
    }

    /// One JSON value, skipped without decoding by serde_json's raw-value reader: the reader
    /// the envelope uses for every field, so a body is valid here exactly when it is there.
    #[inline]
    pub(super) fn value(&mut self) -> Option<&'a RawValue> {
        let rest = self.text.get(self.at..)?;
        let mut de = serde_json::Deserializer::from_str(rest);
        let raw = <&RawValue>::deserialize(&mut de).ok()?;
        // The value borrows from `rest`: its end is where the frame continues. (It starts
        // after any whitespace, which the envelope would skip too.)
        let start = (raw.get().as_ptr() as usize).checked_sub(rest.as_ptr() as usize)?;
        self.at += start + raw.get().len();
        Some(raw)
    }
}
