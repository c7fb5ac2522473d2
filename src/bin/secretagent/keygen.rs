//! `secretagent keygen`: its arguments, and the secret key or pre-shared key file it writes.
//! A build without the `secure` feature has only the error that says how to get one.

#[cfg(not(feature = "secure"))]
use std::ffi::OsString;

#[cfg(not(feature = "secure"))]
use crate::args::Parsed;

/// `keygen` without the feature.
#[cfg(not(feature = "secure"))]
pub fn parse(_: impl Iterator<Item = OsString>) -> Result<Parsed, String> {
    Err(format!("keygen {}", crate::secure::NO_SECURE))
}

#[cfg(feature = "secure")]
pub use with_feature::*;

#[cfg(feature = "secure")]
mod with_feature {
    use std::ffi::OsString;
    use std::io::{self, Write};
    use std::path::{Path, PathBuf};
    use std::process::ExitCode;

    use secretagent::secure::{Csprng, Psk, key_path, keygen};

    use crate::args::{Arg, Parsed, Walker, split_flag};

    /// What `secretagent keygen` makes.
    #[derive(Debug, PartialEq)]
    pub enum Keygen {
        /// `keygen [--dir DIR] NAME`: the secret key file `DIR/NAME.key`.
        Key { name: String, dir: PathBuf },
        /// `keygen --psk FILE`: a mesh's pre-shared key.
        Psk { path: PathBuf },
    }

    const PSK_NOT_IN_DIR: &str =
        "keygen --psk writes the FILE it is given; --dir is for the key file of a NAME";
    const NOT_BOTH: &str = "keygen makes an agent's key (NAME) or a pre-shared key (--psk FILE), \
                            not both at once: run it twice";
    const NOTHING: &str =
        "keygen needs the agent's NAME (keygen NAME), or --psk FILE for a pre-shared key";

    /// Reads the arguments after `keygen`.
    pub fn parse(args: impl Iterator<Item = OsString>) -> Result<Parsed, String> {
        let (mut name, mut dir, mut psk) = (None, None, None);
        let mut args = Walker::new(args);
        while let Some(arg) = args.next_arg()? {
            let arg = match arg {
                Arg::Name(arg) if name.is_some() => {
                    return Err(format!(
                        "unexpected argument \"{arg}\" (keygen makes one key at a time)"
                    ));
                }
                Arg::Name(arg) => {
                    name = Some(arg);
                    continue;
                }
                Arg::Option(arg) => arg,
            };
            let (flag, inline) = split_flag(&arg);
            let (slot, what) = match flag {
                "-h" | "--help" if inline.is_none() => return Ok(Parsed::Help),
                "--dir" => (&mut dir, "DIR"),
                "--psk" => (&mut psk, "FILE"),
                _ => return Err(unknown(flag)),
            };
            let value = args.value(flag, what, inline)?;
            if slot.replace(PathBuf::from(value)).is_some() {
                return Err(format!("keygen {flag} is given once"));
            }
        }
        let made = match (name, psk, dir) {
            (Some(name), None, dir) => {
                let dir = dir.unwrap_or_default();
                key_path(&name, &dir).map_err(|e| format!("keygen: {e}"))?;
                Keygen::Key { name, dir }
            }
            (None, Some(path), None) => Keygen::Psk { path },
            (None, Some(_), Some(_)) => return Err(PSK_NOT_IN_DIR.into()),
            (Some(_), Some(_), _) => return Err(NOT_BOTH.into()),
            (None, None, _) => return Err(NOTHING.into()),
        };
        Ok(Parsed::Keygen(made))
    }

    fn unknown(flag: &str) -> String {
        let mut text =
            format!("unknown option {flag} for keygen (it takes NAME, --dir DIR, --psk FILE)");
        if !flag.starts_with("--") {
            text.push_str(&format!(
                "; a NAME that begins with \"-\" goes after \"--\" (secretagent keygen -- {flag})"
            ));
        }
        text
    }

    /// Runs `keygen`: writes the file, and for a key prints its trust file line on stdout.
    /// What was written, and what to do with it, goes to stderr.
    pub fn run(made: &Keygen) -> ExitCode {
        let done = match made {
            Keygen::Key { name, dir } => keygen(name, dir).map_err(|e| e.to_string()).map(|line| {
                let path = key_path(name, dir).unwrap_or_default();
                let note = format!(
                    "wrote {} (keep it private: whoever holds it can be {name:?}); the line on \
                     stdout goes in the trust file of every agent that should trust {name:?}",
                    path.display()
                );
                (Some(line), note)
            }),
            Keygen::Psk { path } => write_psk(path).map(|()| {
                let note = format!(
                    "wrote {} (keep it private); give every agent of the mesh a copy, with \
                     --psk {}",
                    path.display(),
                    path.display()
                );
                (None, note)
            }),
        };
        let (line, note) = match done {
            Ok(done) => done,
            Err(e) => {
                eprintln!("secretagent: {e}");
                return ExitCode::FAILURE;
            }
        };
        if let Some(line) = line {
            let mut out = io::stdout().lock();
            if let Err(e) = writeln!(out, "{line}").and_then(|()| out.flush()) {
                eprintln!(
                    "secretagent: the key is written, but its trust file line could not be \
                     printed ({e}): {line}"
                );
                return ExitCode::FAILURE;
            }
        }
        eprintln!("secretagent: {note}");
        ExitCode::SUCCESS
    }

    fn write_psk(path: &Path) -> Result<(), String> {
        let mut rng = Csprng::from_os()
            .map_err(|e| format!("cannot make a pre-shared key for {}: {e}", path.display()))?;
        Psk::generate(&mut rng)
            .write_new(path)
            .map_err(|e| e.to_string())
    }
}

#[cfg(all(test, feature = "secure"))]
mod tests {
    use std::ffi::OsString;

    use super::*;
    use crate::args::Parsed;

    fn parse(s: &str) -> Result<Keygen, String> {
        let args = std::iter::once("keygen").chain(s.split_whitespace());
        match crate::args::parse_args(args.map(OsString::from))? {
            Parsed::Keygen(k) => Ok(k),
            _ => Err("help".into()),
        }
    }

    #[test]
    fn keygen_takes_a_name_a_dir_or_a_psk_file() {
        let key = |name: &str, dir: &str| Keygen::Key {
            name: name.into(),
            dir: dir.into(),
        };
        assert_eq!(parse("Ames"), Ok(key("Ames", "")));
        assert_eq!(parse("--dir keys Ames"), Ok(key("Ames", "keys")));
        assert_eq!(parse("Ames --dir=keys"), Ok(key("Ames", "keys")));
        assert_eq!(parse("--dir k -- -v"), Ok(key("-v", "k")));
        assert_eq!(
            parse("--psk mesh.psk"),
            Ok(Keygen::Psk {
                path: "mesh.psk".into()
            })
        );
        assert!(matches!(
            crate::args::parse_args(["keygen", "-h"].map(OsString::from)),
            Ok(Parsed::Help)
        ));
    }

    #[test]
    fn keygen_refuses_what_it_cannot_do() {
        let cases = [
            ("", "keygen needs the agent's NAME"),
            (
                "Ames Wolf",
                "unexpected argument \"Wolf\" (keygen makes one key",
            ),
            ("Ames --psk p", "not both at once"),
            ("--psk p --dir d", "--dir is for the key file of a NAME"),
            ("-v", "secretagent keygen -- -v"),
            ("Ames --listen 0", "unknown option --listen for keygen"),
            ("Ames --dir", "--dir needs a value (DIR)"),
            ("Ames --dir a --dir b", "keygen --dir is given once"),
            (
                "a/b",
                "keygen: agent name \"a/b\": cannot be used as a file name",
            ),
            ("..", "cannot be used as a file name"),
        ];
        // After the word that makes it keygen's.
        crate::args::tests::assert_refused(
            cases.map(|(bad, says)| (format!("keygen {bad}"), says)),
        );
    }
}
