//! Secure mode on the command line: the flags `--key`, `--trust` and `--psk` and their help, a
//! secure agent made from those files, and `{"cmd":"reload"}`. `keygen` has a file of its own.
//! A build without the `secure` feature keeps the flags known, so that giving one says what is
//! missing rather than "unknown option"; its agents are plain, and `reload` answers that there
//! is no trust file.

use std::path::PathBuf;

use secretagent::Error;

use crate::args::{Config, Flag, flag_lines, option_line};

/// What a secure flag, `keygen` or `reload` is told by a build without the `secure` feature,
/// after its own name.
#[cfg(not(feature = "secure"))]
pub const NO_SECURE: &str = "needs secure links, and this secretagent was built without them \
    (the `secure` feature): install one with `cargo install secretagent --features secure`, or \
    build one from its source with `cargo build --features secure`";

/// The secure flags as given.
#[derive(Debug, Default)]
pub struct Args {
    /// `--key`: this agent's secret key file.
    pub key: Option<PathBuf>,
    /// `--trust`: the trust file, which `reload` reads again.
    pub trust: Option<PathBuf>,
    /// `--psk`: the mesh's pre-shared key file.
    pub psk: Option<PathBuf>,
    /// `--sealed-bodies`: message bodies sealed end to end.
    pub sealed_bodies: bool,
}

/// The flags of a secure agent.
pub const FLAGS: &[Flag] = &[
    Flag {
        name: "--key",
        value: "FILE",
        help: "this agent's secret key, made by \"secretagent keygen NAME\": every link is \
               then a Noise handshake and encrypted records, and only peers whose keys the \
               --trust file allows for their names are let in. Needs --trust",
        set: |c, v| set_file(&mut c.secure.key, v),
        default: None,
    },
    Flag {
        name: "--trust",
        value: "FILE",
        help: "the trust file: lines \"NAME KEY\" (as keygen prints them; # starts a \
               comment), the public keys allowed to use each name. {\"cmd\":\"reload\"} \
               reads it again. Needs --key",
        set: |c, v| set_file(&mut c.secure.trust, v),
        default: None,
    },
    Flag {
        name: "--psk",
        value: "FILE",
        help: "the mesh's pre-shared key, made by \"secretagent keygen --psk FILE\", the \
               same file for every agent of the mesh: a connection without it is refused \
               before any public-key work. Needs --key and --trust",
        set: |c, v| set_file(&mut c.secure.psk, v),
        default: None,
    },
    Flag {
        name: "--sealed-bodies",
        value: "",
        help: "seal the body of every message this agent sends end to end, for its \
               destination alone, so that the agents relaying it cannot read it (links are \
               encrypted either way); costs an encryption per message and a third more bytes. \
               Any secure agent opens sealed bodies. Needs --key and --trust",
        set: |c, _| set_sealed(&mut c.secure.sealed_bodies),
        default: None,
    },
];

#[cfg(not(feature = "secure"))]
fn set_file(_: &mut Option<PathBuf>, _: &str) -> Result<(), String> {
    Err(NO_SECURE.to_owned())
}

#[cfg(not(feature = "secure"))]
fn set_sealed(_: &mut bool) -> Result<(), String> {
    Err(NO_SECURE.to_owned())
}

#[cfg(feature = "secure")]
fn set_sealed(on: &mut bool) -> Result<(), String> {
    *on = true;
    Ok(())
}

/// Sets a secure agent's file, once.
#[cfg(feature = "secure")]
fn set_file(slot: &mut Option<PathBuf>, v: &str) -> Result<(), String> {
    if slot.is_some() {
        return Err("is given once".to_owned());
    }
    if v.is_empty() {
        return Err("takes a file name, not \"\"".to_owned());
    }
    *slot = Some(PathBuf::from(v));
    Ok(())
}

/// A secure agent needs its key and whom to trust; a PSK alone makes no secure link.
pub fn check(a: &Args) -> Result<(), String> {
    match (&a.key, &a.trust, &a.psk) {
        (Some(_), None, _) => Err("--key needs --trust FILE (the trust file: which public \
                                   keys may use which names)"
            .into()),
        (None, Some(_), _) => Err("--trust needs --key FILE (this agent's secret key, made \
                                   by \"secretagent keygen NAME\")"
            .into()),
        (None, None, Some(_)) => Err("--psk needs --key and --trust (a pre-shared key is \
                                      added to the keys of a secure agent, not used instead)"
            .into()),
        (None, None, None) if a.sealed_bodies => Err("--sealed-bodies needs --key and --trust \
                                                      (bodies are sealed between secure \
                                                      agents)"
            .into()),
        _ => Ok(()),
    }
}

/// After the usage in `--help`: what this build lacks, if anything.
#[cfg(feature = "secure")]
pub const NOTE: &str = "";
#[cfg(not(feature = "secure"))]
pub const NOTE: &str = "
This build has no secure links (the `secure` feature): keygen, --key, --trust, --psk,
--sealed-bodies and {\"cmd\":\"reload\"} need them. Install a build that has them with
`cargo install secretagent --features secure`, or build one with `cargo build --features secure`.
";

#[cfg(feature = "secure")]
const HEAD: &str = "
Secure links (--key and --trust together; every link is then authenticated and encrypted):
";
#[cfg(not(feature = "secure"))]
const HEAD: &str = "
Secure links (not in this build, see above; --key and --trust together):
";

/// `keygen`'s forms and flags: (left column, text).
const KEYGEN: &[(&str, &str)] = &[
    (
        "secretagent keygen NAME",
        "write NAME.key, a new secret key for the agent NAME (mode 0600, never over an \
         existing file), and print on stdout its line for the trust file of every agent \
         that should trust NAME",
    ),
    ("  --dir DIR", "write DIR/NAME.key instead"),
    ("  -- NAME", "a NAME that begins with \"-\""),
    (
        "secretagent keygen --psk FILE",
        "write FILE, a new pre-shared key for a mesh (mode 0600, never over an existing \
         file); give every agent of the mesh a copy, with --psk FILE",
    ),
];

/// The secure flags and `keygen`, for `--help`.
pub fn help(s: &mut String) {
    s.push_str(HEAD);
    flag_lines(s, FLAGS);
    s.push_str("\nMaking keys:\n");
    for (left, text) in KEYGEN {
        option_line(s, left, text);
    }
}

/// Why the agent could not be made.
pub enum Startup {
    /// A key, trust or PSK file could not be read or parsed: the text names the file, the
    /// flag that gave it (and the line).
    #[cfg_attr(not(feature = "secure"), allow(dead_code))]
    Files(String),
    /// The library refused the name or the options.
    Agent(Error),
}

/// What a successful reload did.
pub struct Reloaded {
    /// Name-key pairs the file now trusts.
    pub trusted: usize,
    /// Links closed because their key is no longer allowed.
    pub closed: usize,
}

/// The agent the command line asks for, and the trust file to reload: without the feature,
/// a plain agent and none.
#[cfg(not(feature = "secure"))]
pub fn agent(config: &Config) -> Result<(secretagent::Agent, Option<PathBuf>), Startup> {
    let agent =
        secretagent::Agent::new(&config.name, config.opts.clone()).map_err(Startup::Agent)?;
    Ok((agent, None))
}

/// `{"cmd":"reload"}` without the feature: there is nothing to reload.
#[cfg(not(feature = "secure"))]
pub fn reload(_: &mut secretagent::Agent, _: Option<&PathBuf>) -> Result<Reloaded, String> {
    Err(format!(
        "there is no trust file to reload: this agent has no secure links; reload {NO_SECURE}"
    ))
}

#[cfg(feature = "secure")]
pub use with_feature::*;

#[cfg(feature = "secure")]
mod with_feature {
    use std::path::{Path, PathBuf};

    use secretagent::Agent;
    use secretagent::secure::{FileError, Identity, Psk, SecureConfig, Trust};

    use super::{Config, Reloaded, Startup};

    /// A file of a secure agent that cannot be used, named with its flag.
    fn file_error(what: &str, flag: &str, e: FileError) -> Startup {
        Startup::Files(match e {
            FileError::Io { path, error } => {
                format!("cannot read {what} {} ({flag}): {error}", path.display())
            }
            other => format!("{what} ({flag}) cannot be used: {other}"),
        })
    }

    /// The agent the command line asks for, secure when it gave `--key` and `--trust` (the
    /// parser made sure they come together), and the trust file to reload.
    pub fn agent(config: &Config) -> Result<(Agent, Option<PathBuf>), Startup> {
        let opts = config.opts.clone();
        let (Some(key), Some(trust_file)) = (&config.secure.key, &config.secure.trust) else {
            let agent = Agent::new(&config.name, opts).map_err(Startup::Agent)?;
            return Ok((agent, None));
        };
        let identity = Identity::load(key).map_err(|e| file_error("the secret key", "--key", e))?;
        let trust =
            Trust::load(trust_file).map_err(|e| file_error("the trust file", "--trust", e))?;
        if let Some(warning) =
            not_trusted_as_itself(&config.name, &identity, &trust, key, trust_file)
        {
            eprintln!("secretagent: warning: {warning}");
        }
        let mut secure =
            SecureConfig::new(identity, trust).with_sealed_bodies(config.secure.sealed_bodies);
        if let Some(psk) = &config.secure.psk {
            let psk = Psk::load(psk).map_err(|e| file_error("the pre-shared key", "--psk", e))?;
            secure = secure.with_psk(psk);
        }
        let agent = Agent::new_secure(&config.name, opts, secure).map_err(Startup::Agent)?;
        Ok((agent, Some(trust_file.clone())))
    }

    /// What is surely a mistake in the trust file, said at once rather than by every link
    /// refused: it trusts nobody, or it lists this agent's name with other keys only (a mesh
    /// that shares it will refuse this agent).
    fn not_trusted_as_itself(
        name: &str,
        identity: &Identity,
        trust: &Trust,
        key: &Path,
        trust_file: &Path,
    ) -> Option<String> {
        if trust.is_empty() {
            return Some(format!(
                "{} trusts no key, so every link will be refused; add the lines that \
                 \"secretagent keygen NAME\" printed for the agents of the mesh",
                trust_file.display()
            ));
        }
        let mut keys = trust.keys_of(name).peekable();
        keys.peek()?;
        if keys.any(|k| k == identity.public()) {
            return None;
        }
        Some(format!(
            "{} trusts other keys than {}'s for {name:?}: agents that use this trust file will \
             refuse this one; if {} is {name:?}'s new key, add the line `{}`",
            trust_file.display(),
            key.display(),
            key.display(),
            Trust::line(name, identity.public())
        ))
    }

    /// `{"cmd":"reload"}`: reads the trust file again and hands it to the agent, which closes
    /// the links it no longer allows. A file that cannot be read or parsed changes nothing.
    pub fn reload(agent: &mut Agent, trust_file: Option<&PathBuf>) -> Result<Reloaded, String> {
        let Some(path) = trust_file else {
            return Err(
                "there is no trust file to reload: this agent has no secure links \
                        (start it with --key and --trust)"
                    .into(),
            );
        };
        let trust = Trust::load(path).map_err(|e| {
            format!("cannot reload the trust file: {e}; the trust read before stays in force")
        })?;
        let trusted = trust.len();
        let closed = agent
            .reload_trust(trust)
            .map_err(|e| format!("cannot reload the trust file {}: {e}", path.display()))?;
        Ok(Reloaded { trusted, closed })
    }
}

#[cfg(test)]
mod tests {
    use crate::args::Parsed;
    use crate::args::tests::parse;

    #[cfg(feature = "secure")]
    #[test]
    fn a_secure_agent_names_its_key_and_trust_files_together() {
        use std::path::PathBuf;
        let run = |s| match parse(s) {
            Ok(Parsed::Run(c)) => c.secure,
            _ => panic!("{s}: not an agent"),
        };
        let a = run("W --key w.key --trust=mesh.trust --psk mesh.psk --sealed-bodies");
        assert_eq!(a.key, Some(PathBuf::from("w.key")));
        assert_eq!(a.trust, Some(PathBuf::from("mesh.trust")));
        assert_eq!(a.psk, Some(PathBuf::from("mesh.psk")));
        assert!(a.sealed_bodies);
        let plain = run("W");
        assert!(plain.key.is_none() && !plain.sealed_bodies);
        assert!(!run("W --key k --trust t").sealed_bodies);
        crate::args::tests::assert_refused([
            ("W --key w.key", "--key needs --trust FILE"),
            ("W --trust t", "--trust needs --key FILE"),
            ("W --psk p", "--psk needs --key and --trust"),
            ("W --key a --key b --trust t", "--key is given once"),
            (
                "W --key --trust t",
                "--key needs a value (FILE), not the option --trust",
            ),
            ("W --key= --trust t", "--key takes a file name"),
            (
                "W --sealed-bodies",
                "--sealed-bodies needs --key and --trust",
            ),
            (
                "W --sealed-bodies=yes --key k --trust t",
                "--sealed-bodies takes no value",
            ),
        ]);
    }

    #[cfg(not(feature = "secure"))]
    #[test]
    fn without_the_feature_secure_flags_and_keygen_say_how_to_get_it() {
        for (args, flag) in [
            ("W --key k --trust t", "--key"),
            ("--trust=t W", "--trust"),
            ("W --psk p", "--psk"),
            ("W --sealed-bodies", "--sealed-bodies"),
            ("keygen W", "keygen"),
            ("keygen", "keygen"),
        ] {
            let e = parse(args)
                .err()
                .unwrap_or_else(|| panic!("accepted: {args}"));
            assert!(
                e.starts_with(&format!("{flag} needs secure links"))
                    && e.contains("cargo install secretagent --features secure")
                    && e.contains("cargo build --features secure"),
                "{args}: {e}"
            );
        }
        // An agent named keygen is still possible.
        match parse("-- keygen") {
            Ok(Parsed::Run(c)) => assert_eq!(c.name, "keygen"),
            _ => panic!("-- keygen: not an agent"),
        }
        assert!(crate::args::help().contains("This build has no secure links"));
    }
}
