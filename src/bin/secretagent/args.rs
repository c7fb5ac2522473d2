//! The command line: one table of flags that both parses and documents them, so that `--help`
//! cannot leave a flag out or show a default the library does not have.

use std::ffi::OsString;
use std::fmt::Write as _;
use std::time::Duration;

use secretagent::Options;

/// The longest span any MS value may give: a year. Far beyond any useful timeout, and far
/// enough below what `Instant` arithmetic can hold that no deadline overflows.
pub const MAX_MS: u64 = 365 * 24 * 3600 * 1000;

/// How long `quit` waits for confirmations unless `--linger` says otherwise. Long enough for
/// a message whose link just dropped to go out again on the re-dialled link (one default
/// reconnection interval, 1 s, then a hello and the database exchange, a few round trips),
/// and for confirmations to cross a mesh; short enough that a quit with a destination that
/// is gone for good ends within 3 s (the linger, then at most a second to close the links).
/// A quit with everything confirmed does not wait for it.
const DEFAULT_LINGER: Duration = Duration::from_millis(2000);

/// What the command line asks for.
pub struct Config {
    pub name: String,
    pub listen: Vec<String>,
    pub connect: Vec<String>,
    pub opts: Options,
    /// How long `quit` waits for what was sent to be confirmed.
    pub linger: Duration,
    /// What makes the agent secure: `--key`, `--trust`, ...
    pub secure: crate::secure::Args,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            name: String::new(),
            listen: Vec::new(),
            connect: Vec::new(),
            opts: Options::default(),
            linger: DEFAULT_LINGER,
            secure: crate::secure::Args::default(),
        }
    }
}

pub enum Parsed {
    Run(Box<Config>),
    /// `secretagent keygen ...`.
    #[cfg(feature = "secure")]
    Keygen(crate::keygen::Keygen),
    Help,
    Version,
}

/// One flag. `value` names its argument in the help ("" for a switch); `set` applies it and
/// says what was wrong in words that follow the flag's name ("takes ..., not ...");
/// `default` shows its default, read from [`Config::default`].
pub struct Flag {
    pub name: &'static str,
    pub value: &'static str,
    pub help: &'static str,
    pub set: fn(&mut Config, &str) -> Result<(), String>,
    pub default: Option<fn(&Config) -> String>,
}

fn millis(v: &str, min: u64) -> Result<Duration, String> {
    v.parse::<u64>()
        .ok()
        .filter(|n| (min..=MAX_MS).contains(n))
        .map(Duration::from_millis)
        .ok_or_else(|| format!("takes milliseconds from {min} to {MAX_MS}, not \"{v}\""))
}

fn number<T: TryFrom<u64>>(v: &str, min: u64, max: u64) -> Result<T, String> {
    v.parse::<u64>()
        .ok()
        .filter(|n| (min..=max).contains(n))
        .and_then(|n| T::try_from(n).ok())
        .ok_or_else(|| format!("takes a number from {min} to {max}, not \"{v}\""))
}

fn ms_of(d: Duration) -> String {
    d.as_millis().to_string()
}

const FLAGS: &[Flag] = &[
    Flag {
        name: "--listen",
        value: "ADDR",
        help: "accept links on ADDR (HOST:PORT; a bare PORT listens on every interface; \
               port 0 picks a free one, which the listening event tells); repeatable",
        set: |c, v| {
            c.listen.push(v.to_owned());
            Ok(())
        },
        default: None,
    },
    Flag {
        name: "--connect",
        value: "ADDR",
        help: "link to the agent at ADDR (HOST:PORT; a bare PORT dials 127.0.0.1), dialling \
               again whenever the link fails; repeatable",
        set: |c, v| {
            c.connect.push(v.to_owned());
            Ok(())
        },
        default: None,
    },
    Flag {
        name: "--ping-after",
        value: "MS",
        help: "ping a direct peer that has been silent this long; 0 turns keepalive off",
        set: |c, v| {
            c.opts.ping_after = millis(v, 0)?;
            Ok(())
        },
        default: Some(|c| ms_of(c.opts.ping_after)),
    },
    Flag {
        name: "--ping-timeout",
        value: "MS",
        help: "close a link whose peer shows no sign of life this long after a ping",
        set: |c, v| {
            c.opts.ping_timeout = millis(v, 1)?;
            Ok(())
        },
        default: Some(|c| ms_of(c.opts.ping_timeout)),
    },
    Flag {
        name: "--reconnect-interval",
        value: "MS",
        help: "wait before dialling a --connect or connect address again after its link \
               dropped, and the least wait between attempts",
        set: |c, v| {
            c.opts.auto_reconnect_interval = millis(v, 1)?;
            Ok(())
        },
        default: Some(|c| ms_of(c.opts.auto_reconnect_interval)),
    },
    Flag {
        name: "--reconnect-max",
        value: "MS",
        help: "the longest wait between attempts: each failed attempt in a row doubles the \
               wait, with jitter, up to MS, and a link that says hello starts again from \
               --reconnect-interval; at or below it, every attempt waits --reconnect-interval",
        set: |c, v| {
            c.opts.auto_reconnect_max_interval = millis(v, 0)?;
            Ok(())
        },
        default: Some(|c| ms_of(c.opts.auto_reconnect_max_interval)),
    },
    Flag {
        name: "--no-reconnect",
        value: "",
        help: "dial each address once: a failed or broken link stays down",
        set: |c, _| {
            c.opts.auto_reconnect = false;
            Ok(())
        },
        default: None,
    },
    Flag {
        name: "--no-queue",
        value: "",
        help: "sending to a name that is not reachable now is an error (by default the \
               message waits until the name is met)",
        set: |c, _| {
            c.opts.queue_messages = false;
            Ok(())
        },
        default: None,
    },
    Flag {
        name: "--delivery-timeout",
        value: "MS",
        help: "give up on a message its destination has not confirmed within MS, with an \
               undeliverable event; 0 never gives up; a send's \"within\" overrides it",
        set: |c, v| {
            c.opts.delivery_timeout = Some(millis(v, 0)?).filter(|d| !d.is_zero());
            Ok(())
        },
        default: Some(|c| {
            c.opts
                .delivery_timeout
                .map_or_else(|| "0".to_owned(), ms_of)
        }),
    },
    Flag {
        name: "--linger",
        value: "MS",
        help: "on quit, wait until every message sent is confirmed, but at most MS, then close \
               the links; each message left unconfirmed gets an undeliverable event",
        set: |c, v| {
            c.linger = millis(v, 0)?;
            Ok(())
        },
        default: Some(|c| ms_of(c.linger)),
    },
    Flag {
        name: "--max-hops",
        value: "N",
        help: "drop a message passing through this agent after N hops",
        set: |c, v| {
            c.opts.max_hops = number(v, 1, 255)?;
            Ok(())
        },
        default: Some(|c| c.opts.max_hops.to_string()),
    },
    Flag {
        name: "--max-frame-len",
        value: "BYTES",
        help: "longest frame accepted from a peer (a longer one closes its link), and the \
               largest message sent",
        set: |c, v| {
            c.opts.max_frame_len = number(v, 1024, u32::MAX.into())?;
            Ok(())
        },
        default: Some(|c| c.opts.max_frame_len.to_string()),
    },
    Flag {
        name: "--hello-timeout",
        value: "MS",
        help: "close a connection that has not said its name within MS",
        set: |c, v| {
            c.opts.hello_timeout = millis(v, 1)?;
            Ok(())
        },
        default: Some(|c| ms_of(c.opts.hello_timeout)),
    },
    Flag {
        name: "--max-queued-per-destination",
        value: "N",
        help: "messages held per destination, waiting or not confirmed yet; past it a send \
               is an error",
        set: |c, v| {
            c.opts.max_queued_per_destination = number(v, 1, u32::MAX.into())?;
            Ok(())
        },
        default: Some(|c| c.opts.max_queued_per_destination.to_string()),
    },
    Flag {
        name: "--max-in-flight",
        value: "N",
        help: "messages per destination sent and not confirmed yet; more wait their turn",
        set: |c, v| {
            c.opts.max_in_flight = number(v, 1, u32::MAX.into())?;
            Ok(())
        },
        default: Some(|c| c.opts.max_in_flight.to_string()),
    },
    Flag {
        name: "--max-known-names",
        value: "N",
        help: "names this agent tracks; a peer announcing more is disconnected",
        set: |c, v| {
            c.opts.max_known_names = number(v, 1, u32::MAX.into())?;
            Ok(())
        },
        default: Some(|c| c.opts.max_known_names.to_string()),
    },
    Flag {
        name: "--max-pending-links",
        value: "N",
        help: "accepted connections allowed before they say hello; more are closed at once",
        set: |c, v| {
            c.opts.max_pending_links = number(v, 1, u32::MAX.into())?;
            Ok(())
        },
        default: Some(|c| c.opts.max_pending_links.to_string()),
    },
    Flag {
        name: "--max-link-buffer",
        value: "BYTES",
        help: "bytes waiting on one link above which this agent's messages wait their turn \
               and messages relayed for others are dropped",
        set: |c, v| {
            c.opts.max_link_buffer = number(v, 1, u32::MAX.into())?;
            Ok(())
        },
        default: Some(|c| c.opts.max_link_buffer.to_string()),
    },
    Flag {
        name: "--protocol-version",
        value: "1|2",
        help: "highest protocol offered: 2 adds shortest paths and confirmed, ordered, \
               exactly-once delivery where both ends speak it; 1 behaves as an original agent",
        set: |c, v| {
            c.opts.protocol_version = number(v, 1, 2)?;
            Ok(())
        },
        default: Some(|c| c.opts.protocol_version.to_string()),
    },
    Flag {
        name: "--route-delay",
        value: "MS",
        help: "how long a routing change from afar waits for the rest of its burst before \
               routes are recomputed",
        set: |c, v| {
            c.opts.route_delay = millis(v, 0)?;
            Ok(())
        },
        default: Some(|c| ms_of(c.opts.route_delay)),
    },
    Flag {
        name: "--description-lifetime",
        value: "MS",
        help: "forget a description of an agent's links that nothing newer replaced within \
               MS; each agent renews its own every half of it. Give every agent the same",
        set: |c, v| {
            c.opts.description_lifetime = millis(v, 1000)?;
            Ok(())
        },
        default: Some(|c| ms_of(c.opts.description_lifetime)),
    },
    Flag {
        name: "--trace-relays",
        value: "",
        help: "print a relayed event for every message passing through this agent",
        set: |c, _| {
            c.opts.trace_relays = true;
            Ok(())
        },
        default: None,
    },
];

/// Splits `--flag=value` (only a long flag has an inline value).
pub fn split_flag(arg: &str) -> (&str, Option<&str>) {
    match arg.split_once('=') {
        Some((flag, value)) if flag.starts_with("--") => (flag, Some(value)),
        _ => (arg, None),
    }
}

/// One argument of a command line.
pub enum Arg {
    /// Not an option: a name (anything after `--` is one).
    Name(String),
    /// An option as written: `-h`, `--flag` or `--flag=VALUE` (see [`split_flag`]).
    Option(String),
}

/// Walks the arguments of a command line (the agent's or `keygen`'s): UTF-8 only, `--` ends
/// the options, and an option's value is the next argument unless written inline.
pub struct Walker<I> {
    args: I,
    only_names: bool,
}

impl<I: Iterator<Item = OsString>> Walker<I> {
    /// Walks `args`, which come after the program's name (and after `keygen`).
    pub fn new(args: I) -> Walker<I> {
        Walker {
            args,
            only_names: false,
        }
    }

    /// The next argument, `None` past the last. The first `--` is not returned: it makes every
    /// argument after it a name.
    pub fn next_arg(&mut self) -> Result<Option<Arg>, String> {
        for arg in self.args.by_ref() {
            let arg = utf8(arg)?;
            if self.only_names || !arg.starts_with('-') {
                return Ok(Some(Arg::Name(arg)));
            }
            if arg == "--" {
                self.only_names = true;
                continue;
            }
            return Ok(Some(Arg::Option(arg)));
        }
        Ok(None)
    }

    /// The value of `flag`: `inline` (after `=`) or the next argument, which must not be an
    /// option. `what` names the value in errors.
    pub fn value(
        &mut self,
        flag: &str,
        what: &str,
        inline: Option<&str>,
    ) -> Result<String, String> {
        if let Some(v) = inline {
            return Ok(v.to_owned());
        }
        match self.args.next().map(utf8).transpose()? {
            Some(v) if !v.starts_with("--") => Ok(v),
            Some(v) => Err(format!("{flag} needs a value ({what}), not the option {v}")),
            None => Err(format!("{flag} needs a value ({what})")),
        }
    }
}

/// Reads the arguments (without the program's name).
pub fn parse_args(args: impl IntoIterator<Item = OsString>) -> Result<Parsed, String> {
    let mut args = args.into_iter().peekable();
    if args.peek().is_some_and(|a| a == "keygen") {
        args.next();
        return crate::keygen::parse(args);
    }
    let mut config = Config::default();
    let mut name = None;
    let mut args = Walker::new(args);
    while let Some(arg) = args.next_arg()? {
        let arg = match arg {
            Arg::Name(arg) if name.is_some() => {
                return Err(format!(
                    "unexpected argument \"{arg}\" (the NAME is given once)"
                ));
            }
            Arg::Name(arg) => {
                name = Some(arg);
                continue;
            }
            Arg::Option(arg) => arg,
        };
        let (flag, inline) = split_flag(&arg);
        let special = match flag {
            "-h" | "--help" => Some(Parsed::Help),
            "-V" | "--version" => Some(Parsed::Version),
            _ => None,
        };
        if let Some(parsed) = special {
            if inline.is_some() {
                return Err(format!("{flag} takes no value"));
            }
            return Ok(parsed);
        }
        let f = FLAGS
            .iter()
            .chain(crate::secure::FLAGS)
            .find(|f| f.name == flag)
            .ok_or_else(|| unknown(flag))?;
        let value = match (f.value, inline) {
            ("", None) => String::new(),
            ("", Some(_)) => return Err(format!("{flag} takes no value")),
            (what, inline) => args.value(flag, what, inline)?,
        };
        (f.set)(&mut config, &value).map_err(|e| format!("{flag} {e}"))?;
    }
    config.name = name.ok_or("the agent's NAME is missing")?;
    crate::secure::check(&config.secure)?;
    Ok(Parsed::Run(Box::new(config)))
}

pub fn utf8(arg: OsString) -> Result<String, String> {
    arg.into_string()
        .map_err(|a| format!("argument \"{}\" is not UTF-8", a.to_string_lossy()))
}

fn unknown(flag: &str) -> String {
    if flag.starts_with("--") {
        format!("unknown option {flag}")
    } else {
        format!(
            "unknown option {flag}; an agent NAME that begins with \"-\" goes after \"--\" \
             (secretagent [OPTIONS] -- {flag})"
        )
    }
}

/// `--version`.
pub fn version() -> String {
    format!("{} {}", env!("CARGO_PKG_NAME"), env!("CARGO_PKG_VERSION"))
}

/// The one-line hint after a usage error.
pub const HINT: &str = "Try \"secretagent --help\" for the options, commands and events.";

const HEAD: &str = "\
An agent of a secretagent mesh: JSON messaging between named agents over TCP that keeps
messages flowing when links break, by relaying through other agents. Commands are read as
JSON lines on stdin; events are printed as JSON lines on stdout, one per line, flushed.

Usage: secretagent [OPTIONS] NAME
       secretagent [OPTIONS] -- NAME          (a NAME that begins with \"-\")
       secretagent keygen [--dir DIR] NAME    make an agent's secret key (see Making keys)
       secretagent keygen --psk FILE          make a mesh's pre-shared key
";

const OPTIONS_HEAD: &str = "
Options (\"--flag VALUE\" or \"--flag=VALUE\"; MS is milliseconds):
";

const TAIL: &str = r#"
Commands on stdin, one JSON object per line:
  {"cmd":"send","to":NAME,"msg":ANY}      send ANY (any JSON) to NAME; answer: sent
     ...,"within":MS}                     give up if not confirmed within MS (undeliverable)
  {"cmd":"connect","addr":ADDR}           link to ADDR as --connect does; answer: connecting
  {"cmd":"disconnect","who":NAME}         close the link to the direct peer NAME
  {"cmd":"disconnect","who":NUMBER}       close the link of connect NUMBER and stop dialling it
  {"cmd":"listen","addr":ADDR}            accept links on ADDR as --listen does; answer: listening
  {"cmd":"members"}                       answer: members
  {"cmd":"graph"}                         answer: graph, the mesh as this agent sees it
  {"cmd":"reload"}                        read the --trust file again: links whose key it no
                                          longer allows for their name close; answer: reloaded.
                                          A file that does not parse is an error, and the
                                          trust read before stays in force
  {"cmd":"quit"}                          leave: take no new work, send what is queued, wait
                                          for confirmations (at most --linger), close every
                                          link cleanly; answer: quit. Lines after it are not
                                          read. End of stdin does not stop the agent
  Any command may carry "id":ANY; its answer, or the error it causes, echoes it as
  "cmd_id":ANY. A line that is not a command (bad JSON, not UTF-8, an unknown command or
  field) gets an error event naming its line number, and the agent carries on.

Events on stdout:
  {"event":"listening","addr":ADDR}                       accepting links on ADDR
  {"event":"connecting","addr":ADDR,"number":NUMBER}      a connect began; NUMBER is for
                                                          disconnect and error texts
  {"event":"sent","to":NAME,"id":ID}                      a send was accepted as message ID
  {"event":"meet","name":NAME}                            NAME became reachable
  {"event":"lose","name":NAME}                            NAME is no longer reachable
  {"event":"message","from":NAME,"to":NAME,"via":NAME,"msg":ANY}
                                                          a message for this agent; via is
                                                          the direct peer it came through
  {"event":"delivered","to":NAME,"id":ID}                 NAME confirmed message ID (on
                                                          routes where all speak version 2)
  {"event":"undeliverable","to":NAME,"id":ID,"reason":TEXT}
                                                          message ID was not confirmed in
                                                          time, or before quit closed the links
  {"event":"members","direct":[NAME,...],"routes":{NAME:{"via":NAME,"hops":N},...}}
                                                          direct peers and routes (hops null
                                                          where unknown)
  {"event":"graph","dot":TEXT}                            the mesh in Graphviz DOT: this agent
                                                          filled, v1 agents boxed, its links
                                                          bold, what it cannot reach in red
                                                          (jq -r .dot | dot -Tsvg draws it)
  {"event":"reloaded","trusted":N,"closed":M}             the trust file was read again: it
                                                          trusts N name-key pairs; M links
                                                          whose key it no longer allows closed
  {"event":"quit","unconfirmed":N}                        every link is closed, N messages were
                                                          left unconfirmed (each had its
                                                          undeliverable line); the last line
  {"event":"relayed","from":NAME,"to":NAME,"prev":NAME,"next":NAME}
                                                          a message passed through (with
                                                          --trace-relays)
  {"event":"error","error":TEXT}                          a bad command, a failed dial (once
                                                          per run of failures), a link closed
                                                          by an error (a secure link refused:
                                                          unknown key, bad PSK, ...), or the
                                                          agent failing
  Answers to a command that carried an "id" end with "cmd_id":ANY.

Exit status: 0 after quit, or when stdout is closed; 1 when the agent itself fails; 2 for a
usage error or a key, trust or PSK file that cannot be read. keygen: 0 once the file is
written; 1 when it cannot be (it exists, say); 2 for a usage error.
"#;

/// `--help`: generated from the flag table, then the commands and events.
pub fn help() -> String {
    let mut s = format!("{}\n{HEAD}", version());
    s.push_str(crate::secure::NOTE);
    s.push_str(OPTIONS_HEAD);
    flag_lines(&mut s, FLAGS);
    option_line(&mut s, "-h, --help", "print this help and exit");
    option_line(
        &mut s,
        "-V, --version",
        "print the name and version and exit",
    );
    crate::secure::help(&mut s);
    s.push_str(TAIL);
    s
}

pub fn flag_lines(s: &mut String, flags: &[Flag]) {
    let defaults = Config::default();
    for f in flags {
        let mut left = f.name.to_owned();
        if !f.value.is_empty() {
            left = format!("{left} {}", f.value);
        }
        let mut text = f.help.to_owned();
        if let Some(default) = f.default {
            let _ = write!(text, " (default {})", default(&defaults));
        }
        option_line(s, &left, &text);
    }
}

/// `  LEFT   TEXT`, TEXT wrapped to 96 columns under itself.
pub fn option_line(s: &mut String, left: &str, text: &str) {
    const COLUMN: usize = 32;
    const WIDTH: usize = 96;
    let _ = write!(s, "  {left:<w$}", w = COLUMN - 2);
    let mut col = COLUMN;
    if left.len() + 4 > COLUMN {
        s.truncate(s.trim_end_matches(' ').len());
        s.push('\n');
        s.push_str(&" ".repeat(COLUMN));
        col = COLUMN;
    }
    let mut first = true;
    for word in text.split_whitespace() {
        if !first && col + 1 + word.len() > WIDTH {
            s.push('\n');
            s.push_str(&" ".repeat(COLUMN));
            col = COLUMN;
            first = true;
        }
        if !first {
            s.push(' ');
            col += 1;
        }
        s.push_str(word);
        col += word.len();
        first = false;
    }
    s.push('\n');
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// `s`, split at whitespace, as the arguments after the program's name.
    pub(crate) fn parse(s: &str) -> Result<Parsed, String> {
        parse_args(s.split_whitespace().map(OsString::from))
    }

    /// Every command line of `cases` is refused, with an error that contains its text.
    pub(crate) fn assert_refused<S: AsRef<str>>(
        cases: impl IntoIterator<Item = (S, &'static str)>,
    ) {
        for (bad, says) in cases {
            let bad = bad.as_ref();
            let e = parse(bad)
                .err()
                .unwrap_or_else(|| panic!("accepted: {bad}"));
            assert!(e.contains(says), "{bad}: {e}");
        }
    }

    fn run(s: &str) -> Config {
        match parse(s) {
            Ok(Parsed::Run(c)) => *c,
            Ok(_) => panic!("{s}: help or version"),
            Err(e) => panic!("{s}: {e}"),
        }
    }

    #[test]
    fn parses_the_whole_command_line() {
        let c = run(
            "Wolf --listen 127.0.0.1:0 --listen 9000 --connect a:1 --ping-after 200 \
             --ping-timeout 300 --reconnect-interval 50 --no-reconnect --no-queue --max-hops 7 \
             --delivery-timeout 900 --linger 10 --max-frame-len 2048 --hello-timeout 70 \
             --max-queued-per-destination 5 --max-in-flight 3 --max-known-names 9 \
             --max-pending-links 2 --max-link-buffer 4096 --protocol-version 1 \
             --route-delay 0 --trace-relays --reconnect-max 800 \
             --description-lifetime 5000",
        );
        let ms = Duration::from_millis;
        assert_eq!(c.name, "Wolf");
        assert_eq!(c.listen, ["127.0.0.1:0", "9000"]);
        assert_eq!(c.connect, ["a:1"]);
        let o = &c.opts;
        assert_eq!((o.ping_after, o.ping_timeout), (ms(200), ms(300)));
        assert_eq!(o.auto_reconnect_interval, ms(50));
        assert!(!o.auto_reconnect && !o.queue_messages && o.trace_relays);
        assert_eq!((o.max_hops, o.protocol_version), (7, 1));
        assert_eq!((o.delivery_timeout, c.linger), (Some(ms(900)), ms(10)));
        assert_eq!((o.max_frame_len, o.hello_timeout), (2048, ms(70)));
        assert_eq!((o.max_queued_per_destination, o.max_in_flight), (5, 3));
        assert_eq!((o.max_known_names, o.max_pending_links), (9, 2));
        assert_eq!((o.max_link_buffer, o.route_delay), (4096, ms(0)));
        assert_eq!(o.auto_reconnect_max_interval, ms(800));
        assert_eq!(o.description_lifetime, ms(5000));
    }

    #[test]
    fn values_may_follow_an_equals_sign_and_options_the_name() {
        let c = run("--listen=127.0.0.1:0 --ping-after=250 Wolf --connect=a:1");
        assert_eq!(c.name, "Wolf");
        assert_eq!(c.listen, ["127.0.0.1:0"]);
        assert_eq!(c.connect, ["a:1"]);
        assert_eq!(c.opts.ping_after, Duration::from_millis(250));
        // Only the first "=" splits: the value keeps the rest.
        assert_eq!(run("W --listen==x=").listen, ["=x="]);
    }

    #[test]
    fn a_delivery_timeout_of_zero_never_gives_up() {
        assert_eq!(run("W --delivery-timeout 0").opts.delivery_timeout, None);
        assert_eq!(run("W").opts.delivery_timeout, None);
    }

    #[test]
    fn a_name_beginning_with_a_dash_is_refused_unless_after_double_dash() {
        let e = parse("-v").err().unwrap();
        assert!(
            e.contains("unknown option -v") && e.contains("-- -v"),
            "{e}"
        );
        assert!(parse("Wolf -v").is_err());
        assert_eq!(run("--listen 1 -- -v").name, "-v");
        assert_eq!(run("-- --help").name, "--help");
        assert_eq!(run("-- -").name, "-");
    }

    #[test]
    fn an_argument_that_is_not_utf8_is_refused_not_a_panic() {
        use std::os::unix::ffi::OsStringExt;
        let bad = OsString::from_vec(b"W\xffx".to_vec());
        let e = parse_args([OsString::from("--listen"), bad]).err().unwrap();
        assert!(e.contains("is not UTF-8"), "{e}");
    }

    #[test]
    fn help_and_version_win_wherever_they_are() {
        assert!(matches!(parse("--help"), Ok(Parsed::Help)));
        assert!(matches!(parse("Wolf -h"), Ok(Parsed::Help)));
        assert!(matches!(parse("-V"), Ok(Parsed::Version)));
        assert!(matches!(parse("--version Wolf"), Ok(Parsed::Version)));
        assert!(parse("--help=yes").is_err());
    }

    #[test]
    fn refuses_what_it_does_not_understand() {
        assert_refused([
            ("", "NAME is missing"),
            ("--listen", "--listen needs a value (ADDR)"),
            ("W --listen --no-queue", "not the option --no-queue"),
            ("Wolf --frobnicate", "unknown option --frobnicate"),
            ("Wolf Ames", "unexpected argument \"Ames\""),
            ("Wolf --ping-after soon", "--ping-after takes milliseconds"),
            ("Wolf --ping-after -5", "--ping-after takes milliseconds"),
            (
                "Wolf --ping-after 99999999999999",
                "--ping-after takes milliseconds",
            ),
            (
                "Wolf --max-hops 0",
                "--max-hops takes a number from 1 to 255",
            ),
            (
                "Wolf --max-hops 256",
                "--max-hops takes a number from 1 to 255",
            ),
            (
                "Wolf --protocol-version 3",
                "--protocol-version takes a number from 1 to 2",
            ),
            ("Wolf --max-in-flight 0", "--max-in-flight takes a number"),
            ("Wolf --no-queue=yes", "--no-queue takes no value"),
            (
                "Wolf --description-lifetime 999",
                "--description-lifetime takes milliseconds from 1000 to",
            ),
            (
                "Wolf --reconnect-max -1",
                "--reconnect-max takes milliseconds",
            ),
        ]);
    }

    #[test]
    fn help_lists_every_flag_with_the_librarys_defaults() {
        let h = help();
        for f in FLAGS.iter().chain(crate::secure::FLAGS) {
            assert!(h.contains(&format!("  {} ", f.name)), "{} missing", f.name);
        }
        assert!(h.contains("(default 5000)") && h.contains("(default 16777216)"));
        assert!(h.contains("(default 30000)") && h.contains("(default 600000)"));
        assert!(h.lines().all(|l| l.len() <= 100), "a help line is too long");
        assert!(
            h.lines().all(|l| l == l.trim_end()),
            "a help line ends in spaces"
        );
    }
}
