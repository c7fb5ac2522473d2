//! The trust file: which public keys may use which agent names.
//!
//! This module owns the file's format and the queries on it. It does not open links or read
//! hellos: the session asks whether a remote key is trusted at all, and the layer above asks
//! whether it is trusted for the name the peer claims.
//!
//! # Format
//! Plain text, one `NAME KEY` per line, so a person can edit it and review it as a diff:
//! ```text
//! # the spies' mesh
//! Ames        Zr5+Myx6RTMyvZ0Kf32wVfXF7xoGraZtmLOftoEMRzo=
//! Rosenberg   C1E62bSSQBXKCQLtB5BE06xdvsIwbwaUjBDajrbjny0=
//! Rosenberg   kaKKC3Q4FZOk2UaVeSCJJq/IrYLIg5t2RDWbnrqaSzo=   # new key, during rotation
//! "Mata Hari" C+71qeZ55qPhNP4ng3v/MsfLX11E6gm8sOVCutakwMw=
//! ```
//! - `KEY` is the base64 of the agent's 32-byte ed25519 public key (44 characters).
//! - A name listed on two lines has two allowed keys: that is how a key is rotated.
//! - A name that contains whitespace, or starts with `"` or `#`, is a JSON string literal.
//! - `#` starts a comment, on a line of its own or after the key; blank lines are ignored.
//! - A repeated `NAME KEY` pair is an error, so that a merge mistake shows.

use std::collections::BTreeMap;
use std::path::Path;

use super::keys::PublicKey;
use super::text;
use super::{FileError, SecureError};

/// The longest agent name, as in the rest of the crate.
const MAX_NAME: usize = 255;

/// A parsed trust file, with each key's X25519 form computed once.
#[derive(Clone, Debug, Default)]
pub struct Trust {
    /// Every `(name, key)` pair, in file order.
    entries: Vec<(String, PublicKey)>,
    /// Entry indices by the key's X25519 form: what a Noise handshake shows.
    by_x25519: BTreeMap<[u8; 32], Vec<usize>>,
    /// Entry indices by name.
    by_name: BTreeMap<String, Vec<usize>>,
}

impl Trust {
    /// An empty trust list: no peer is trusted.
    pub fn new() -> Trust {
        Trust::default()
    }

    /// The trust file line for `name` and `key`, quoting the name when it needs it.
    pub fn line(name: &str, key: &PublicKey) -> String {
        format!("{} {key}", text::quote_name(name))
    }

    /// Parses a trust file's text; `file` names it in errors, which give the line number and
    /// what is wrong.
    pub fn parse(text: &str, file: &str) -> Result<Trust, FileError> {
        let mut trust = Trust::new();
        let mut seen: BTreeMap<(String, [u8; 32]), usize> = BTreeMap::new();
        for (i, raw) in text.lines().enumerate() {
            let err = |what: String| FileError::Parse {
                file: file.to_owned(),
                line: i + 1,
                what,
            };
            let Some((name, key)) = parse_line(raw).map_err(err)? else {
                continue;
            };
            if let Some(first) = seen.insert((name.clone(), key.to_bytes()), i + 1) {
                return Err(err(format!(
                    "line {first} already trusts this key for {name:?}"
                )));
            }
            trust.insert(&name, key);
        }
        Ok(trust)
    }

    /// Reads and parses a trust file.
    pub fn load(path: &Path) -> Result<Trust, FileError> {
        let text = std::fs::read_to_string(path).map_err(|error| FileError::Io {
            path: path.to_owned(),
            error,
        })?;
        Trust::parse(&text, &path.display().to_string())
    }

    /// Trusts `key` for `name` (for callers that build the list in code, such as a simulator).
    /// Returns false if the pair was already there.
    pub fn insert(&mut self, name: &str, key: PublicKey) -> bool {
        if self.keys_of(name).any(|k| *k == key) {
            return false;
        }
        let at = self.entries.len();
        self.entries.push((name.to_owned(), key));
        self.by_x25519.entry(*key.x25519()).or_default().push(at);
        self.by_name.entry(name.to_owned()).or_default().push(at);
        true
    }

    /// The file text: one line per pair, in order.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        for (name, key) in &self.entries {
            out.push_str(&Trust::line(name, key));
            out.push('\n');
        }
        out
    }

    /// Number of `(name, key)` pairs.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no key is trusted.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Every `(name, key)` pair, in file order.
    pub fn entries(&self) -> impl Iterator<Item = (&str, &PublicKey)> {
        self.entries.iter().map(|(n, k)| (n.as_str(), k))
    }

    /// The names that trust the key whose X25519 form is `x25519` (a Noise remote static
    /// key), in file order. None means an unknown key.
    pub fn names_for(&self, x25519: &[u8; 32]) -> impl Iterator<Item = &str> {
        self.by_x25519
            .get(x25519)
            .into_iter()
            .flatten()
            .map(|&i| self.entries[i].0.as_str())
    }

    /// Whether any name trusts the key whose X25519 form is `x25519`.
    pub fn is_known(&self, x25519: &[u8; 32]) -> bool {
        self.by_x25519.contains_key(x25519)
    }

    /// The trusted key whose X25519 form is `x25519`, if any (the first in file order).
    pub(crate) fn key_for(&self, x25519: &[u8; 32]) -> Option<&PublicKey> {
        let i = *self.by_x25519.get(x25519)?.first()?;
        Some(&self.entries[i].1)
    }

    /// The keys allowed for `name`, in file order (two during a rotation); for checking its
    /// signatures.
    pub fn keys_of(&self, name: &str) -> impl Iterator<Item = &PublicKey> {
        self.by_name
            .get(name)
            .into_iter()
            .flatten()
            .map(|&i| &self.entries[i].1)
    }

    /// Whether `key` may use `name`. The refusal says why: the key is unknown, or it is
    /// trusted only for other names (named).
    pub fn check(&self, name: &str, key: &PublicKey) -> Result<(), SecureError> {
        if self.keys_of(name).any(|k| k.x25519() == key.x25519()) {
            return Ok(());
        }
        let trusted_for: Vec<String> = self.names_for(key.x25519()).map(str::to_owned).collect();
        if trusted_for.is_empty() {
            return Err(SecureError::UnknownKey {
                key: key.to_string(),
            });
        }
        Err(SecureError::KeyNotAllowed {
            name: name.to_owned(),
            key: key.to_string(),
            trusted_for,
        })
    }

    /// Whether `signature` over `msg` was made by one of `name`'s trusted keys.
    pub fn verify(&self, name: &str, msg: &[u8], signature: &[u8; 64]) -> bool {
        self.keys_of(name).any(|k| k.verify(msg, signature))
    }
}

/// One line: `None` for a blank or comment line, else the name and key.
fn parse_line(raw: &str) -> Result<Option<(String, PublicKey)>, String> {
    let line = raw.trim_start();
    if line.is_empty() || line.starts_with('#') {
        return Ok(None);
    }
    let (name, rest) = text::split_name(line)?;
    if name.is_empty() {
        return Err("the name is empty".into());
    }
    if name.len() > MAX_NAME {
        return Err(format!(
            "the name is {} bytes long (names are at most {MAX_NAME} bytes)",
            name.len()
        ));
    }
    if !rest.is_empty() && !rest.starts_with(char::is_whitespace) {
        return Err("expected a space between the name and the key".into());
    }
    let rest = rest.trim_start();
    let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
    let (key_text, after) = rest.split_at(end);
    if key_text.is_empty() {
        return Err(format!(
            "{name:?} has no key: each line is `NAME KEY` (base64 of 32 bytes)"
        ));
    }
    let key = PublicKey::parse(key_text)?;
    let after = after.trim();
    if !after.is_empty() && !after.starts_with('#') {
        return Err(format!(
            "unexpected text after the key: {after:?} (a comment starts with '#')"
        ));
    }
    Ok(Some((name, key)))
}

#[cfg(test)]
mod tests {
    use super::super::Identity;
    use super::*;

    fn key(n: u8) -> PublicKey {
        *Identity::from_seed([n; 32]).public()
    }

    #[test]
    fn parses_names_keys_comments_and_rotations() {
        let text = format!(
            "# mesh\n\n  Ames {}\nRosenberg {}  # old\nRosenberg {}\n\"Mata Hari\" {}\n",
            key(1),
            key(2),
            key(3),
            key(4)
        );
        let trust = Trust::parse(&text, "trust").unwrap();
        assert_eq!(trust.len(), 4);
        assert_eq!(trust.keys_of("Rosenberg").count(), 2);
        assert_eq!(
            trust.names_for(key(4).x25519()).collect::<Vec<_>>(),
            ["Mata Hari"]
        );
        assert!(trust.is_known(key(1).x25519()));
        assert!(!trust.is_known(key(9).x25519()));
        let again = Trust::parse(&trust.to_text(), "again").unwrap();
        assert_eq!(again.to_text(), trust.to_text());
    }

    #[test]
    fn the_documented_example_parses() {
        let doc = include_str!("trust.rs");
        let text: String = doc
            .lines()
            .skip_while(|l| *l != "//! ```text")
            .skip(1)
            .take_while(|l| *l != "//! ```")
            .map(|l| format!("{}\n", &l[4..]))
            .collect();
        let trust = Trust::parse(&text, "example").unwrap();
        assert_eq!(trust.len(), 4);
        assert_eq!(trust.keys_of("Rosenberg").count(), 2);
        assert_eq!(trust.keys_of("Mata Hari").next(), Some(&key(14)));
        assert_eq!(trust.keys_of("Ames").next(), Some(&key(11)));
    }

    #[test]
    fn check_names_the_problem() {
        let mut trust = Trust::new();
        trust.insert("Ames", key(1));
        trust.insert("Wolf", key(2));
        trust.insert("Spy", key(2));
        assert_eq!(trust.check("Ames", &key(1)), Ok(()));
        assert!(matches!(
            trust.check("Ames", &key(9)),
            Err(SecureError::UnknownKey { .. })
        ));
        match trust.check("Ames", &key(2)) {
            Err(SecureError::KeyNotAllowed {
                name, trusted_for, ..
            }) => {
                assert_eq!(name, "Ames");
                assert_eq!(trusted_for, ["Wolf", "Spy"]);
            }
            other => panic!("{other:?}"),
        }
        let message = trust.check("Ames", &key(2)).unwrap_err().to_string();
        assert!(
            message.contains("trusted only for \"Wolf\", \"Spy\""),
            "{message}"
        );
    }

    #[test]
    fn signatures_check_against_every_key_of_the_name() {
        let (old, new) = (Identity::from_seed([1; 32]), Identity::from_seed([2; 32]));
        let mut trust = Trust::new();
        trust.insert("Ames", *old.public());
        trust.insert("Ames", *new.public());
        assert!(trust.verify("Ames", b"m", &old.sign(b"m")));
        assert!(trust.verify("Ames", b"m", &new.sign(b"m")));
        assert!(!trust.verify("Wolf", b"m", &new.sign(b"m")));
        assert!(!trust.verify("Ames", b"n", &new.sign(b"m")));
    }

    #[test]
    fn parse_errors_give_file_line_and_reason() {
        let good = key(1).to_string();
        let cases = [
            (
                format!("# c\nAmes {good}\nAmes\n"),
                "trust:3:",
                "has no key",
            ),
            (
                format!("Ames {good} extra\n"),
                "trust:1:",
                "unexpected text",
            ),
            (
                "\n\nAmes AAAA\n".to_owned(),
                "trust:3:",
                "the key is 4 characters",
            ),
            (
                format!("\"Ames {good}\n"),
                "trust:1:",
                "not a valid JSON string",
            ),
            (format!("\"\" {good}\n"), "trust:1:", "the name is empty"),
            (format!("\"A\"{good}\n"), "trust:1:", "expected a space"),
            (
                format!("A {good}\nB {good}\nA {good}\n"),
                "trust:3:",
                "line 1 already",
            ),
            (
                format!("{} {good}\n", "n".repeat(256)),
                "trust:1:",
                "256 bytes",
            ),
        ];
        for (text, at, what) in cases {
            let err = Trust::parse(&text, "trust").unwrap_err().to_string();
            assert!(
                err.starts_with(at) && err.contains(what),
                "{text:?} gave {err}"
            );
        }
    }
}
