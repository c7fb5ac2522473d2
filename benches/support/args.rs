//! The command line of a child role: `--flag value` pairs and bare `--flag`s, read by name.

use std::str::FromStr;

use super::Result;

/// A child role's arguments.
pub struct Args(Vec<String>);

impl Args {
    /// Wraps the arguments that follow `--role ROLE`.
    pub fn new(args: Vec<String>) -> Args {
        Args(args)
    }

    /// The value after `flag`, if given.
    pub fn opt(&self, flag: &str) -> Option<&str> {
        self.all(flag).into_iter().next()
    }

    /// Every value given after `flag` (a flag may repeat).
    pub fn all(&self, flag: &str) -> Vec<&str> {
        self.0
            .windows(2)
            .filter(|w| w[0] == flag)
            .map(|w| w[1].as_str())
            .collect()
    }

    /// Whether the bare `flag` was given.
    pub fn has(&self, flag: &str) -> bool {
        self.0.iter().any(|a| a == flag)
    }

    /// The value after `flag`, which must be there.
    pub fn value(&self, flag: &str) -> Result<&str> {
        self.opt(flag).ok_or_else(|| format!("missing {flag}"))
    }

    /// The value after `flag`, parsed; it must be there.
    pub fn number<T: FromStr>(&self, flag: &str) -> Result<T> {
        let v = self.value(flag)?;
        v.parse()
            .map_err(|_| format!("{flag} takes a number, not \"{v}\""))
    }
}
