//! Why a secure link or a key, trust or PSK file was refused.
//!
//! This module owns the error types and their messages only. Each message says what happened
//! and, where the user can do something about it, what.

use std::fmt;
use std::io;
use std::path::PathBuf;

/// Why a secure session failed. A session that returned one stays failed: the caller closes
/// the link and reports the message.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SecureError {
    /// The peer's static key is in no line of the trust file.
    UnknownKey {
        /// The peer's public key (ed25519, base64), as a trust file line would hold it.
        key: String,
    },
    /// The peer's key is trusted, but not for the name it claims.
    KeyNotAllowed {
        /// The name the peer claimed.
        name: String,
        /// The peer's public key (base64).
        key: String,
        /// The names this key is trusted for, in trust file order.
        trusted_for: Vec<String>,
    },
    /// The initiator's first handshake message failed to decrypt under this agent's PSK.
    BadPsk,
    /// The peer dialled without a PSK; this agent requires one.
    PskMissingOnPeer,
    /// The peer dialled with a PSK; this agent has none.
    PskMissingHere,
    /// The peer sent a plaintext hello: it is not running in secure mode.
    PlaintextPeer,
    /// The peer's hello, inside the secure link and under a trusted key, offers only protocol
    /// version 1, which secure links do not carry (no agent of this crate sends one there).
    Version1 {
        /// The name the peer claimed.
        name: String,
    },
    /// A handshake message claims more bytes than any handshake message may have.
    HandshakeTooLarge {
        /// The claimed length.
        len: usize,
        /// The fixed limit.
        max: usize,
    },
    /// A handshake message failed authentication.
    HandshakeTampered,
    /// The peer's bytes do not follow the secure protocol (before or after the handshake).
    Garbage {
        /// What was wrong.
        detail: &'static str,
    },
    /// The peer asked for a secure mode this version does not know.
    UnsupportedMode {
        /// The mode byte it sent.
        mode: u8,
    },
    /// A record failed to decrypt: the stream was altered on the way.
    Tampered,
    /// A record's length cannot be that of a sealed record.
    BadRecordLength {
        /// The claimed length.
        len: usize,
    },
    /// An authenticated record has a type this version does not know.
    UnknownRecordType {
        /// The type byte.
        kind: u8,
    },
    /// The peer closed the connection before the handshake finished; on an agent's link,
    /// before the peer's hello (the acceptor checks the dialler's key against its name only
    /// then).
    ClosedDuringHandshake,
    /// `write` was called before the handshake finished (a bug in the caller).
    NotEstablished,
    /// The Noise library refused an operation this layer expected to succeed.
    Internal(String),
    /// The trust list was replaced (a reload) and no longer allows the peer's key for the
    /// name it uses: the link is closed.
    Revoked {
        /// The peer's name.
        name: String,
        /// The peer's public key (base64).
        key: String,
    },
}

impl fmt::Display for SecureError {
    /// One message per variant, each saying what happened and what the operator can do: a
    /// table of texts, read best whole, next to each other.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecureError::UnknownKey { key } => write!(
                f,
                "unknown key: the peer's key {key} is in no line of the trust file; if the peer \
                 is one of yours, add the line `NAME {key}` to the trust file and reload it"
            ),
            SecureError::KeyNotAllowed {
                name,
                key,
                trusted_for,
            } => write!(
                f,
                "key not allowed for that name: the peer calls itself {name:?} but its key {key} \
                 is trusted only for {}; if it really is {name:?}, add `{} {key}` to the trust \
                 file and reload it",
                quote_list(trusted_for),
                super::text::quote_name(name)
            ),
            SecureError::BadPsk => f.write_str(
                "bad PSK: the peer's first handshake message does not decrypt with this agent's \
                 pre-shared key; give both agents the same PSK file (--psk)",
            ),
            SecureError::PskMissingOnPeer => f.write_str(
                "PSK on one side only: this agent requires a pre-shared key and the peer has \
                 none; start the peer with the mesh's PSK file (--psk)",
            ),
            SecureError::PskMissingHere => f.write_str(
                "PSK on one side only: the peer uses a pre-shared key and this agent has none; \
                 start this agent with the mesh's PSK file (--psk)",
            ),
            SecureError::PlaintextPeer => f.write_str(
                "the peer speaks plaintext: this agent accepts only secure links; start the \
                 peer with --key and --trust",
            ),
            SecureError::Version1 { name } => write!(
                f,
                "{name:?} offers only protocol version 1 on a secure link, which carries only \
                 version 2: its key is trusted, but what runs with it is not this crate's secure \
                 agent; check what holds that key, and revoke it if it is not yours"
            ),
            SecureError::HandshakeTooLarge { len, max } => write!(
                f,
                "handshake message too large: the peer claims {len} bytes, handshake messages \
                 have at most {max}; it is not a secretagent secure handshake"
            ),
            SecureError::HandshakeTampered => f.write_str(
                "a handshake message failed authentication: it was altered on the way, or the \
                 peer does not hold the key it presents",
            ),
            SecureError::Garbage { detail } => write!(
                f,
                "the peer does not follow the secretagent secure protocol ({detail})"
            ),
            SecureError::UnsupportedMode { mode } => write!(
                f,
                "the peer asks for secure mode {mode}, which this version does not know; \
                 upgrade this agent"
            ),
            SecureError::Tampered => f.write_str(
                "tampered record: a record failed authentication, so the stream was altered on \
                 the way; the link is closed",
            ),
            SecureError::BadRecordLength { len } => write!(
                f,
                "a record claims {len} bytes, too few to hold its type and tag: the stream is \
                 corrupt"
            ),
            SecureError::UnknownRecordType { kind } => write!(
                f,
                "the peer sent a record of type {kind}, which this version does not know; \
                 upgrade this agent"
            ),
            SecureError::ClosedDuringHandshake => f.write_str(
                "the peer closed the connection during the handshake: it may not trust this \
                 agent's key (or not for this agent's name), hold a different PSK, or not speak \
                 the secure protocol; its own log says which",
            ),
            SecureError::NotEstablished => {
                f.write_str("cannot send on a secure link before its handshake has finished")
            }
            SecureError::Internal(what) => write!(f, "Noise error: {what}"),
            SecureError::Revoked { name, key } => write!(
                f,
                "revoked: the reloaded trust file no longer allows the key {key} for {name:?}, \
                 so the link is closed; to let it back in, add `{} {key}` to the trust file \
                 and reload it",
                super::text::quote_name(name)
            ),
        }
    }
}

impl std::error::Error for SecureError {}

fn quote_list(names: &[String]) -> String {
    let quoted: Vec<String> = names.iter().map(|n| format!("{n:?}")).collect();
    quoted.join(", ")
}

/// Why a key, trust or PSK file could not be read or written.
#[derive(Debug)]
#[non_exhaustive]
pub enum FileError {
    /// The file system refused.
    Io {
        /// The file.
        path: PathBuf,
        /// What it said.
        error: io::Error,
    },
    /// Writing would replace an existing file.
    Exists {
        /// The file that exists.
        path: PathBuf,
    },
    /// The text is not in the expected format.
    Parse {
        /// The file (or the label given to the parser).
        file: String,
        /// The line, counting from 1.
        line: usize,
        /// What is wrong with it.
        what: String,
    },
    /// An agent name cannot be used as given.
    BadName {
        /// The name.
        name: String,
        /// Why not.
        why: &'static str,
    },
}

impl fmt::Display for FileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FileError::Io { path, error } => write!(f, "{}: {error}", path.display()),
            FileError::Exists { path } => write!(
                f,
                "{} already exists: refusing to overwrite a key; move it away first if you \
                 mean to replace it",
                path.display()
            ),
            FileError::Parse { file, line, what } => write!(f, "{file}:{line}: {what}"),
            FileError::BadName { name, why } => write!(f, "agent name {name:?}: {why}"),
        }
    }
}

impl std::error::Error for FileError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            FileError::Io { error, .. } => Some(error),
            _ => None,
        }
    }
}
