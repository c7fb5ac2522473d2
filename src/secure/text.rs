//! Text forms of keys and names: standard base64 (RFC 4648 alphabet, padded) and the quoting
//! of agent names in trust file lines.
//!
//! This module owns text encoding only; it knows nothing of what the bytes mean. Decoding is
//! strict: one canonical text per byte string, so a key has exactly one spelling and two trust
//! files that name the same keys diff clean.

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 of `bytes`, padded with `=`.
pub(crate) fn encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i)) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Standard base64 of `bytes`, padded, written into `out` (which must hold exactly
/// `4 * ceil(len / 3)` bytes), without allocating: for tags and signatures on the way out.
pub(crate) fn encode_into<'o>(bytes: &[u8], out: &'o mut [u8]) -> &'o str {
    debug_assert_eq!(out.len(), bytes.len().div_ceil(3) * 4);
    for (chunk, quad) in bytes.chunks(3).zip(out.chunks_mut(4)) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for (i, c) in quad.iter_mut().enumerate() {
            *c = if i <= chunk.len() {
                ALPHABET[(n >> (18 - 6 * i)) as usize & 63]
            } else {
                b'='
            };
        }
    }
    // Only ASCII was written.
    std::str::from_utf8(out).unwrap_or_default()
}

/// Decodes padded standard base64 of any length into `out` (cleared first), refusing any
/// other spelling; for sealed bodies, whose length varies. The error says what is wrong.
pub(crate) fn decode_into(text: &str, out: &mut Vec<u8>) -> Result<(), &'static str> {
    out.clear();
    let bytes = text.as_bytes();
    if !bytes.len().is_multiple_of(4) {
        return Err("is not a whole number of base64 quads");
    }
    out.reserve(bytes.len() / 4 * 3);
    let quads = bytes.len() / 4;
    for (q, quad) in bytes.chunks(4).enumerate() {
        let last = q + 1 == quads;
        let pad = if last {
            quad.iter().rev().take_while(|&&c| c == b'=').count()
        } else {
            0
        };
        if pad > 2 {
            return Err("has too much padding");
        }
        let mut n = 0u32;
        for &c in &quad[..4 - pad] {
            n = n << 6 | value(c).ok_or("is not base64")?;
        }
        n <<= 6 * pad as u32;
        let got = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        if got[3 - pad..].iter().any(|&b| b != 0) {
            return Err("is not canonical base64 (its last character has stray bits)");
        }
        out.extend_from_slice(&got[..3 - pad]);
    }
    Ok(())
}

/// Each byte's value in the alphabet, `NOT_BASE64` for bytes outside it: a lookup instead of
/// range tests, whose branches a CPU cannot predict on the random characters of a tag (they
/// made decoding a message's tag a few percent of a destination's time per message).
const VALUES: [u8; 256] = {
    let mut values = [NOT_BASE64; 256];
    let mut i = 0;
    while i < ALPHABET.len() {
        values[ALPHABET[i] as usize] = i as u8;
        i += 1;
    }
    values
};

/// Marks a byte outside the alphabet in [`VALUES`].
const NOT_BASE64: u8 = 0xFF;

fn value(c: u8) -> Option<u32> {
    match VALUES[usize::from(c)] {
        NOT_BASE64 => None,
        v => Some(u32::from(v)),
    }
}

/// Decodes exactly `N` bytes from padded standard base64, refusing any other spelling.
pub(crate) fn decode_exact<const N: usize>(text: &str) -> Result<[u8; N], String> {
    let want = N.div_ceil(3) * 4;
    let bytes = text.as_bytes();
    if bytes.len() != want {
        return Err(format!(
            "is {} characters long; it should be {want} characters of base64 ({N} bytes)",
            text.chars().count()
        ));
    }
    let pad = (3 - N % 3) % 3;
    let mut out = [0u8; N];
    let mut at = 0;
    for (q, quad) in bytes.chunks(4).enumerate() {
        let mut n = 0u32;
        for (i, &c) in quad.iter().enumerate() {
            let pos = q * 4 + i;
            let v = if pos >= want - pad {
                if c != b'=' {
                    return Err(format!("should end in {pad} '=' of padding"));
                }
                0
            } else {
                value(c).ok_or_else(|| match c {
                    b'=' => format!("has '=' at position {} before its end", pos + 1),
                    _ => format!(
                        "has {:?} at position {}, which is not base64",
                        text[pos..].chars().next().unwrap_or('?'),
                        pos + 1
                    ),
                })?
            };
            n = n << 6 | v;
        }
        for shift in [16, 8, 0] {
            if at < N {
                out[at] = (n >> shift) as u8;
                at += 1;
            } else if (n >> shift) & 0xFF != 0 {
                // The last character carries bits past the end: another text for the same key.
                return Err("is not canonical base64 (its last character has stray bits)".into());
            }
        }
    }
    Ok(out)
}

/// Whether a name must be written as a JSON string in a trust file line.
fn needs_quotes(name: &str) -> bool {
    name.is_empty()
        || name.starts_with('"')
        || name.starts_with('#')
        || name.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// The name as a trust file line holds it: bare, or a JSON string literal when bare would not
/// read back (whitespace, a leading `"` or `#`).
pub(crate) fn quote_name(name: &str) -> String {
    if needs_quotes(name) {
        serde_json::Value::String(name.to_owned()).to_string()
    } else {
        name.to_owned()
    }
}

/// Splits a name off the start of `line`: a JSON string literal if it starts with `"`, else
/// everything up to the first whitespace. Returns the name and the rest of the line.
pub(crate) fn split_name(line: &str) -> Result<(String, &str), String> {
    if line.starts_with('"') {
        let mut stream = serde_json::Deserializer::from_str(line).into_iter::<String>();
        match stream.next() {
            Some(Ok(name)) => {
                let end = stream.byte_offset();
                Ok((name, &line[end..]))
            }
            _ => Err("the name starts with '\"' but is not a valid JSON string".into()),
        }
    } else {
        let end = line.find(char::is_whitespace).unwrap_or(line.len());
        Ok((line[..end].to_owned(), &line[end..]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trips_and_matches_rfc4648() {
        assert_eq!(encode(b""), "");
        assert_eq!(encode(b"f"), "Zg==");
        assert_eq!(encode(b"fo"), "Zm8=");
        assert_eq!(encode(b"foo"), "Zm9v");
        assert_eq!(encode(b"foobar"), "Zm9vYmFy");
        assert_eq!(decode_exact::<3>("Zm9v"), Ok(*b"foo"));
        assert_eq!(decode_exact::<1>("Zg=="), Ok(*b"f"));
        for n in 0..=255u8 {
            let key = [n; 32];
            let text = encode(&key);
            assert_eq!(text.len(), 44);
            assert_eq!(decode_exact::<32>(&text), Ok(key));
        }
    }

    #[test]
    fn encoding_into_a_buffer_and_decoding_any_length_agree_with_the_rest() {
        for len in 0..40usize {
            let bytes: Vec<u8> = (0..len as u8).map(|b| b.wrapping_mul(37)).collect();
            let mut buf = vec![0u8; len.div_ceil(3) * 4];
            let text = encode_into(&bytes, &mut buf).to_owned();
            assert_eq!(text, encode(&bytes));
            let mut back = vec![1, 2, 3];
            assert_eq!(decode_into(&text, &mut back), Ok(()));
            assert_eq!(back, bytes);
        }
        let mut out = Vec::new();
        for bad in ["Zg=", "Zh==", "Z===", "Zg==Zg==", "Z-8=", "Zm9v\n"] {
            assert!(decode_into(bad, &mut out).is_err(), "{bad}");
        }
    }

    #[test]
    fn every_byte_has_its_place_in_the_alphabet_or_none() {
        for b in 0..=255u8 {
            let place = ALPHABET.iter().position(|&c| c == b);
            assert_eq!(value(b), place.map(|p| p as u32), "byte {b}");
        }
    }

    #[test]
    fn base64_refuses_other_spellings() {
        let good = encode(&[7u8; 32]);
        assert!(
            decode_exact::<32>(&good[..43])
                .unwrap_err()
                .contains("43 characters")
        );
        let no_pad = format!("{}A", &good[..43]);
        assert!(decode_exact::<32>(&no_pad).unwrap_err().contains("padding"));
        let bad_char = format!("{}-{}", &good[..5], &good[6..]);
        assert!(
            decode_exact::<32>(&bad_char)
                .unwrap_err()
                .contains("position 6")
        );
        let early_pad = format!("{}={}", &good[..5], &good[6..]);
        assert!(
            decode_exact::<32>(&early_pad)
                .unwrap_err()
                .contains("before its end")
        );
        // "Bx==" would decode to the same byte as "Bw==" if stray bits were ignored.
        assert!(decode_exact::<1>("Bx==").unwrap_err().contains("canonical"));
        assert!(decode_exact::<32>("é").is_err());
    }

    #[test]
    fn names_quote_only_when_needed_and_read_back() {
        for name in [
            "Ames",
            "a\"b",
            "#x",
            "\"x",
            "two words",
            "tab\there",
            "",
            "ünï",
        ] {
            let line = format!("{} rest", quote_name(name));
            let (back, rest) = split_name(&line).unwrap();
            assert_eq!(back, name);
            assert_eq!(rest, " rest");
        }
        assert_eq!(quote_name("Ames"), "Ames");
        assert_eq!(quote_name("two words"), "\"two words\"");
        assert!(split_name("\"unterminated key").is_err());
    }
}
