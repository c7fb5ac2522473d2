//! Keys: an agent's identity (one ed25519 secret), public keys, the mesh's pre-shared key, and
//! their files.
//!
//! This module owns key material, its text forms and the files that hold it. It does not
//! decide whom to trust (`trust`) or how keys are used on a link (`session`).
//!
//! # One key for signing and for the Noise handshake
//! An agent has one ed25519 secret (a 32-byte seed). Its X25519 form, the first half of
//! SHA-512(seed) (`SigningKey::to_scalar_bytes`) as the secret and the Montgomery form of the
//! ed25519 public key (`VerifyingKey::to_montgomery`) as the public key, is the agent's Noise
//! static key. This is libsodium's `crypto_sign_ed25519_sk_to_curve25519` conversion, also
//! used by age and by Signal's XEdDSA in the other direction. Using one key pair for both
//! ed25519 signatures and X25519 key agreement is proven sound (Thormarker, "On using the same
//! key pair for Ed25519 and an X25519 based KEM", 2021, eprint 2021/509): neither use helps an
//! attacker against the other. So a person manages one key per agent, and the trust file lists
//! one key per name.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use curve25519_dalek::montgomery::MontgomeryPoint;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use zeroize::{Zeroize, Zeroizing};

use super::text;
use super::{Csprng, FileError};

/// Prefixed to every signed message, so that a signature made here means nothing to any other
/// protocol that might use the same key.
const SIGN_LABEL: &[u8] = b"secretagent signature v1\0";

/// A public key: an ed25519 verifying key together with its X25519 form, which is what the
/// Noise handshake shows of the peer.
///
/// Its text form is the standard base64 of the 32-byte ed25519 key (44 characters, padded).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct PublicKey {
    ed: VerifyingKey,
    x: [u8; 32],
}

impl PublicKey {
    /// The key whose ed25519 encoding is `bytes`. Refuses bytes that are not a point of the
    /// curve, and weak (small-order) keys, for which any signature would verify.
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<PublicKey, String> {
        let ed = VerifyingKey::from_bytes(bytes)
            .map_err(|_| "is not an ed25519 public key (not a point of the curve)".to_owned())?;
        if ed.is_weak() {
            return Err("is a weak ed25519 key (small order): no agent can own it".into());
        }
        Ok(PublicKey {
            ed,
            x: ed.to_montgomery().to_bytes(),
        })
    }

    /// Parses the base64 text form, strictly.
    pub fn parse(text: &str) -> Result<PublicKey, String> {
        let bytes = text::decode_exact::<32>(text).map_err(|e| format!("the key {e}"))?;
        PublicKey::from_bytes(&bytes).map_err(|e| format!("the key {e}"))
    }

    /// The 32-byte ed25519 encoding.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.ed.to_bytes()
    }

    /// The X25519 public key: the Noise static key of the agent that owns this key.
    pub fn x25519(&self) -> &[u8; 32] {
        &self.x
    }

    /// Whether `signature` is this key's signature of `msg` (made by [`Identity::sign`]).
    /// Strict ed25519 verification: no malleable or small-order signatures.
    pub fn verify(&self, msg: &[u8], signature: &[u8; 64]) -> bool {
        let mut labelled = Vec::with_capacity(SIGN_LABEL.len() + msg.len());
        labelled.extend_from_slice(SIGN_LABEL);
        labelled.extend_from_slice(msg);
        self.ed
            .verify_strict(&labelled, &Signature::from_bytes(signature))
            .is_ok()
    }
}

impl std::fmt::Display for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&text::encode(self.ed.as_bytes()))
    }
}

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PublicKey({self})")
    }
}

/// An agent's identity: its ed25519 secret key and the X25519 secret derived from it.
/// Secrets are wiped from memory when it is dropped.
#[derive(Clone)]
pub struct Identity {
    signing: SigningKey,
    x_secret: Zeroizing<[u8; 32]>,
    public: PublicKey,
}

impl Identity {
    /// The identity whose ed25519 seed is `seed`.
    pub fn from_seed(mut seed: [u8; 32]) -> Identity {
        let signing = SigningKey::from_bytes(&seed);
        seed.zeroize();
        let ed = signing.verifying_key();
        Identity {
            x_secret: Zeroizing::new(signing.to_scalar_bytes()),
            public: PublicKey {
                ed,
                x: ed.to_montgomery().to_bytes(),
            },
            signing,
        }
    }

    /// A new identity drawn from `rng`.
    pub fn generate(rng: &mut Csprng) -> Identity {
        let mut seed = Zeroizing::new([0u8; 32]);
        rng.fill(&mut seed[..]);
        Identity::from_seed(*seed)
    }

    /// The public half, to give to the agents that should trust this one.
    pub fn public(&self) -> &PublicKey {
        &self.public
    }

    /// The ed25519 signature of `msg` (under a fixed label, see [`PublicKey::verify`]).
    pub fn sign(&self, msg: &[u8]) -> [u8; 64] {
        let mut labelled = Vec::with_capacity(SIGN_LABEL.len() + msg.len());
        labelled.extend_from_slice(SIGN_LABEL);
        labelled.extend_from_slice(msg);
        self.signing.sign(&labelled).to_bytes()
    }

    /// The X25519 secret (the Noise static private key).
    pub(crate) fn x25519_secret(&self) -> &[u8; 32] {
        &self.x_secret
    }

    /// X25519 of this identity's secret with the X25519 public key `peer`.
    pub(crate) fn diffie_hellman(&self, peer: &[u8; 32]) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(
            MontgomeryPoint(*peer)
                .mul_clamped(*self.x_secret)
                .to_bytes(),
        )
    }

    /// The key file's text: a comment line saying what the file is, then the base64 seed.
    pub fn to_file_text(&self, name: &str) -> Zeroizing<String> {
        Zeroizing::new(format!(
            "# secretagent secret key of the agent {name:?} (ed25519 seed, base64). Keep it \
             private: whoever holds it can be {name:?}.\n{}\n",
            text::encode(self.signing.as_bytes())
        ))
    }

    /// Parses a key file's text; `file` names it in errors.
    pub fn parse(text: &str, file: &str) -> Result<Identity, FileError> {
        let seed = Zeroizing::new(single_value::<32>(text, file, "secret key")?);
        Ok(Identity::from_seed(*seed))
    }

    /// Reads a key file.
    pub fn load(path: &Path) -> Result<Identity, FileError> {
        let text = Zeroizing::new(read(path)?);
        Identity::parse(&text, &path.display().to_string())
    }

    /// Writes the key file for `name` at `path`: mode 0600, and never over an existing file.
    pub fn write_new(&self, path: &Path, name: &str) -> Result<(), FileError> {
        write_new(path, &self.to_file_text(name))
    }
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Identity({}, secret hidden)", self.public)
    }
}

/// The mesh-wide pre-shared key: 32 secret bytes every agent of the mesh holds. Wiped from
/// memory when dropped.
#[derive(Clone)]
pub struct Psk(Zeroizing<[u8; 32]>);

impl Psk {
    /// The PSK made of `bytes`.
    pub fn from_bytes(bytes: [u8; 32]) -> Psk {
        Psk(Zeroizing::new(bytes))
    }

    /// A new PSK drawn from `rng`.
    pub fn generate(rng: &mut Csprng) -> Psk {
        let mut psk = Psk::from_bytes([0; 32]);
        rng.fill(&mut psk.0[..]);
        psk
    }

    pub(crate) fn bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The PSK file's text: a comment line, then the base64 of the 32 bytes.
    pub fn to_file_text(&self) -> Zeroizing<String> {
        Zeroizing::new(format!(
            "# secretagent mesh pre-shared key (base64 of 32 bytes). Every agent of the mesh \
             holds the same one; keep it private.\n{}\n",
            text::encode(&self.0[..])
        ))
    }

    /// Parses a PSK file's text; `file` names it in errors.
    pub fn parse(text: &str, file: &str) -> Result<Psk, FileError> {
        Ok(Psk::from_bytes(single_value::<32>(
            text,
            file,
            "pre-shared key",
        )?))
    }

    /// Reads a PSK file.
    pub fn load(path: &Path) -> Result<Psk, FileError> {
        let text = Zeroizing::new(read(path)?);
        Psk::parse(&text, &path.display().to_string())
    }

    /// Writes a PSK file: mode 0600, and never over an existing file.
    pub fn write_new(&self, path: &Path) -> Result<(), FileError> {
        write_new(path, &self.to_file_text())
    }
}

impl std::fmt::Debug for Psk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Psk(hidden)")
    }
}

/// Makes a new identity for `name` from the OS's randomness, writes it to `DIR/NAME.key` (mode
/// 0600, never overwriting), and returns the line to add to the trust files of the agents that
/// should trust it.
pub fn keygen(name: &str, dir: &Path) -> Result<String, FileError> {
    let mut rng = Csprng::from_os().map_err(|e| FileError::Io {
        path: dir.to_owned(),
        error: io::Error::other(e.to_string()),
    })?;
    keygen_with(name, dir, &mut rng)
}

/// [`keygen`] with the randomness given.
pub fn keygen_with(name: &str, dir: &Path, rng: &mut Csprng) -> Result<String, FileError> {
    let path = key_path(name, dir)?;
    let identity = Identity::generate(rng);
    identity.write_new(&path, name)?;
    Ok(super::trust::Trust::line(name, identity.public()))
}

/// `DIR/NAME.key`, for a name that is safe as a file name.
pub fn key_path(name: &str, dir: &Path) -> Result<PathBuf, FileError> {
    let why = if name.is_empty() {
        Some("is empty")
    } else if name.len() > 255 {
        Some("is over 255 bytes")
    } else if name.contains(['/', '\\', '\0']) || name == "." || name == ".." {
        Some("cannot be used as a file name")
    } else {
        None
    };
    match why {
        Some(why) => Err(FileError::BadName {
            name: name.to_owned(),
            why,
        }),
        None => Ok(dir.join(format!("{name}.key"))),
    }
}

/// The one base64 value of `N` bytes in a key or PSK file: comment (`#`) and blank lines
/// around it are allowed, anything else is an error naming the line.
fn single_value<const N: usize>(text: &str, file: &str, what: &str) -> Result<[u8; N], FileError> {
    let mut found = None;
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let err = |what: String| FileError::Parse {
            file: file.to_owned(),
            line: i + 1,
            what,
        };
        if found.is_some() {
            return Err(err(format!("unexpected text after the {what}")));
        }
        found = Some(text::decode_exact::<N>(line).map_err(|e| err(format!("the {what} {e}")))?);
    }
    found.ok_or_else(|| FileError::Parse {
        file: file.to_owned(),
        line: text.lines().count().max(1),
        what: format!("no {what} in the file"),
    })
}

fn read(path: &Path) -> Result<String, FileError> {
    fs::read_to_string(path).map_err(|error| FileError::Io {
        path: path.to_owned(),
        error,
    })
}

fn write_new(path: &Path, text: &str) -> Result<(), FileError> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let io_err = |error: io::Error| FileError::Io {
        path: path.to_owned(),
        error,
    };
    let mut file = options.open(path).map_err(|error| {
        if error.kind() == io::ErrorKind::AlreadyExists {
            FileError::Exists {
                path: path.to_owned(),
            }
        } else {
            io_err(error)
        }
    })?;
    file.write_all(text.as_bytes()).map_err(io_err)?;
    file.sync_all().map_err(io_err)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(tag: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("secretagent-keys-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn x25519_form_matches_the_derived_secret() {
        let id = Identity::from_seed([5; 32]);
        let derived = MontgomeryPoint::mul_base_clamped(*id.x25519_secret()).to_bytes();
        assert_eq!(&derived, id.public().x25519());
    }

    #[test]
    fn public_key_text_round_trips_and_refuses_bad_keys() {
        let id = Identity::from_seed([6; 32]);
        let text = id.public().to_string();
        assert_eq!(text.len(), 44);
        assert_eq!(PublicKey::parse(&text).unwrap(), *id.public());
        // The identity point is small-order: refused as weak.
        let mut identity_point = [0u8; 32];
        identity_point[0] = 1;
        let weak = text::encode(&identity_point);
        assert!(PublicKey::parse(&weak).unwrap_err().contains("weak"));
        // y = 2 is not on the curve.
        let mut off_curve = [0u8; 32];
        off_curve[0] = 2;
        let err = PublicKey::parse(&text::encode(&off_curve)).unwrap_err();
        assert!(err.contains("not an ed25519 public key"), "{err}");
        assert!(
            PublicKey::parse("short")
                .unwrap_err()
                .contains("44 characters")
        );
    }

    #[test]
    fn signatures_verify_only_for_their_key_and_message() {
        let (a, b) = (Identity::from_seed([1; 32]), Identity::from_seed([2; 32]));
        let sig = a.sign(b"description 7");
        assert!(a.public().verify(b"description 7", &sig));
        assert!(!a.public().verify(b"description 8", &sig));
        assert!(!b.public().verify(b"description 7", &sig));
        let mut flipped = sig;
        flipped[10] ^= 1;
        assert!(!a.public().verify(b"description 7", &flipped));
    }

    #[test]
    fn key_file_round_trips_is_private_and_never_overwritten() {
        let dir = temp_dir("file");
        let mut rng = Csprng::from_seed([8; 32]);
        let line = keygen_with("Ames", &dir, &mut rng).unwrap();
        let path = dir.join("Ames.key");
        let id = Identity::load(&path).unwrap();
        assert_eq!(line, format!("Ames {}", id.public()));
        let text = fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("# secretagent secret key of the agent \"Ames\""));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let err = keygen_with("Ames", &dir, &mut rng).unwrap_err();
        assert!(matches!(err, FileError::Exists { .. }), "{err}");
        assert!(err.to_string().contains("refusing to overwrite"));
        assert_eq!(
            fs::read_to_string(&path).unwrap(),
            text,
            "the old key is untouched"
        );
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn key_names_that_are_not_file_names_are_refused() {
        let dir = Path::new("/nonexistent");
        for name in ["", "a/b", "..", "."] {
            assert!(matches!(
                key_path(name, dir),
                Err(FileError::BadName { .. })
            ));
        }
        assert_eq!(
            key_path("two words", dir).unwrap(),
            dir.join("two words.key")
        );
    }

    #[test]
    fn key_and_psk_files_refuse_bad_text_with_line_numbers() {
        let err = Identity::parse("# comment\n\nnot base64!\n", "a.key").unwrap_err();
        assert!(
            err.to_string().starts_with("a.key:3: the secret key"),
            "{err}"
        );
        let err = Identity::parse("# only a comment\n", "a.key").unwrap_err();
        assert!(err.to_string().contains("no secret key"), "{err}");
        let id = Identity::from_seed([4; 32]);
        let twice = format!("{}{}", *id.to_file_text("x"), *id.to_file_text("x"));
        let err = Identity::parse(&twice, "a.key").unwrap_err();
        assert!(
            err.to_string().starts_with("a.key:4: unexpected text"),
            "{err}"
        );
        let psk = Psk::from_bytes([3; 32]);
        let back = Psk::parse(&psk.to_file_text(), "mesh.psk").unwrap();
        assert_eq!(back.bytes(), psk.bytes());
        let err = Psk::parse("AAAA\n", "mesh.psk").unwrap_err();
        assert!(
            err.to_string()
                .starts_with("mesh.psk:1: the pre-shared key is 4"),
            "{err}"
        );
    }
}
