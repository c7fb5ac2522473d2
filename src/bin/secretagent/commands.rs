//! One stdin line into a [`Command`], with every error said in the user's terms: what was
//! wrong with the line, never the name of a type that reads it.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::value::RawValue;

use crate::args::MAX_MS;

#[derive(Debug)]
pub enum Command {
    Send {
        to: String,
        msg: Box<RawValue>,
        within: Option<Duration>,
    },
    Connect {
        addr: String,
    },
    Disconnect {
        who: Who,
    },
    Listen {
        addr: String,
    },
    Members,
    Graph,
    Reload,
    Quit,
}

/// What `disconnect` closes.
#[derive(Debug, PartialEq)]
pub enum Who {
    Name(String),
    Connect(u64),
}

const COMMANDS: &str = "send, connect, disconnect, listen, members, graph, reload, quit";

/// The fields each command takes, besides `cmd`.
fn fields_of(cmd: &str) -> Option<&'static [&'static str]> {
    Some(match cmd {
        "send" => &["to", "msg", "within", "id"],
        "connect" | "listen" => &["addr", "id"],
        "disconnect" => &["who", "id"],
        "members" | "graph" | "reload" | "quit" => &["id"],
        _ => return None,
    })
}

type Fields<'a> = BTreeMap<String, &'a RawValue>;

/// Reads one line: the command's `"id"` if it has one (kept even when the rest is wrong, so
/// that the error can carry it), and the command or what is wrong with it.
pub fn parse(line: &str) -> (Option<Box<RawValue>>, Result<Command, String>) {
    let mut fields = match object(line) {
        Ok(f) => f,
        Err(e) => return (None, Err(e)),
    };
    let id = fields.remove("id").map(RawValue::to_owned);
    (id, command(fields))
}

fn object(line: &str) -> Result<Fields<'_>, String> {
    let value: &RawValue = serde_json::from_str(line).map_err(not_json)?;
    let kind = match value.get().as_bytes().first() {
        Some(b'{') => None,
        Some(b'[') => Some("an array"),
        Some(b'"') => Some("a string"),
        Some(b't' | b'f') => Some("a boolean"),
        Some(b'n') => Some("null"),
        _ => Some("a number"),
    };
    if let Some(kind) = kind {
        return Err(format!(
            "a command is a JSON object such as {{\"cmd\":\"members\"}}, not {kind}"
        ));
    }
    // Valid JSON and an object: its keys are strings, so this cannot fail.
    serde_json::from_str(value.get()).map_err(|e| format!("cannot read the command: {e}"))
}

/// serde_json's message without its position, which is always line 1 of a single line.
fn not_json(e: serde_json::Error) -> String {
    let text = e.to_string();
    let position = format!(" at line {} column {}", e.line(), e.column());
    let what = match text.strip_suffix(&position).unwrap_or(&text) {
        // A word that is not true, false or null.
        "expected ident" => "unexpected word",
        what => what,
    };
    format!("not JSON: {what} at column {}", e.column())
}

fn command(mut fields: Fields<'_>) -> Result<Command, String> {
    let Some(cmd) = fields.remove("cmd") else {
        return Err(format!(
            "no \"cmd\": a command says what to do, as in {{\"cmd\":\"members\"}} ({COMMANDS})"
        ));
    };
    let cmd: String = serde_json::from_str(cmd.get())
        .map_err(|_| format!("\"cmd\" must be a string ({COMMANDS}), not {}", shown(cmd)))?;
    let takes = fields_of(&cmd).ok_or_else(|| format!("unknown command \"{cmd}\" ({COMMANDS})"))?;
    if let Some(extra) = fields.keys().find(|k| !takes.contains(&k.as_str())) {
        return Err(format!(
            "\"{cmd}\" takes no \"{extra}\" (it takes {})",
            takes.join(", ")
        ));
    }
    let mut need = |key: &str| {
        fields
            .remove(key)
            .ok_or_else(|| format!("\"{cmd}\" needs \"{key}\" ({})", meaning(key)))
    };
    Ok(match cmd.as_str() {
        "send" => {
            let to = text("to", need("to")?)?;
            let msg = need("msg")?.to_owned();
            let within = fields.remove("within").map(within).transpose()?;
            Command::Send { to, msg, within }
        }
        "connect" => Command::Connect {
            addr: text("addr", need("addr")?)?,
        },
        "listen" => Command::Listen {
            addr: text("addr", need("addr")?)?,
        },
        "disconnect" => Command::Disconnect {
            who: who(need("who")?)?,
        },
        "members" => Command::Members,
        "graph" => Command::Graph,
        "reload" => Command::Reload,
        _ => Command::Quit,
    })
}

fn meaning(key: &str) -> &'static str {
    match key {
        "to" => "the destination's name",
        "msg" => "the message, any JSON",
        "addr" => "an address such as 127.0.0.1:8124, or a bare port",
        "who" => "a peer's name, or a number from a connecting event",
        _ => "a value",
    }
}

fn text(key: &str, raw: &RawValue) -> Result<String, String> {
    serde_json::from_str(raw.get()).map_err(|_| {
        format!(
            "\"{key}\" must be a string ({}), not {}",
            meaning(key),
            shown(raw)
        )
    })
}

fn within(raw: &RawValue) -> Result<Duration, String> {
    serde_json::from_str::<u64>(raw.get())
        .ok()
        .filter(|n| (1..=MAX_MS).contains(n))
        .map(Duration::from_millis)
        .ok_or_else(|| {
            format!(
                "\"within\" must be milliseconds from 1 to {MAX_MS}, not {}",
                shown(raw)
            )
        })
}

fn who(raw: &RawValue) -> Result<Who, String> {
    if let Ok(name) = serde_json::from_str::<String>(raw.get()) {
        return Ok(Who::Name(name));
    }
    serde_json::from_str::<u64>(raw.get())
        .map(Who::Connect)
        .map_err(|_| format!("\"who\" must be {}, not {}", meaning("who"), shown(raw)))
}

/// A value as the user wrote it, cut short if long.
fn shown(raw: &RawValue) -> String {
    const MAX: usize = 40;
    let text = raw.get();
    match text.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(line: &str) -> Command {
        parse(line).1.unwrap_or_else(|e| panic!("{line}: {e}"))
    }

    fn err(line: &str) -> String {
        match parse(line).1 {
            Ok(c) => panic!("{line}: accepted as {c:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn commands_parse() {
        let c = ok(r#"{"cmd":"send","to":"B","msg":{"x":[1]}}"#);
        assert!(
            matches!(c, Command::Send { ref to, ref msg, within: None } if to == "B" && msg.get() == r#"{"x":[1]}"#)
        );
        assert!(matches!(
            ok(r#"{"cmd":"send","to":"B","msg":null,"within":250}"#),
            Command::Send { within: Some(d), .. } if d == Duration::from_millis(250)
        ));
        assert!(matches!(ok(r#" {"cmd":"members"} "#), Command::Members));
        assert!(matches!(ok(r#"{"cmd":"graph","id":1}"#), Command::Graph));
        assert!(matches!(ok(r#"{"cmd":"quit"}"#), Command::Quit));
        assert!(matches!(ok(r#"{"cmd":"reload","id":2}"#), Command::Reload));
        assert!(matches!(
            ok(r#"{"cmd":"disconnect","who":3}"#),
            Command::Disconnect {
                who: Who::Connect(3)
            }
        ));
        assert!(matches!(
            ok(r#"{"cmd":"disconnect","who":"W"}"#),
            Command::Disconnect { who: Who::Name(ref n) } if n == "W"
        ));
    }

    #[test]
    fn the_id_is_kept_as_written_even_when_the_command_is_wrong() {
        let (id, c) = parse(r#"{"id":{"n":[1, 2]},"cmd":"quit"}"#);
        assert_eq!(id.unwrap().get(), r#"{"n":[1, 2]}"#);
        assert!(matches!(c, Ok(Command::Quit)));
        let (id, c) = parse(r#"{"cmd":"fly","id":"x7"}"#);
        assert_eq!(id.unwrap().get(), r#""x7""#);
        assert!(c.is_err());
        assert_eq!(
            parse(r#"{"cmd":"quit","id":null}"#).0.unwrap().get(),
            "null"
        );
        assert!(parse(r#"{"cmd":"quit"}"#).0.is_none());
    }

    #[test]
    fn errors_say_what_is_wrong_in_the_users_terms() {
        for (line, says) in [
            ("garbage", "not JSON: expected value at column 1"),
            ("nonsense", "not JSON: unexpected word at column 2"),
            (
                r#"{"cmd":"send""#,
                "not JSON: EOF while parsing an object at column 13",
            ),
            (
                "[1,2,3,4,5]",
                "a command is a JSON object such as {\"cmd\":\"members\"}, not an array",
            ),
            ("5", "not a number"),
            (r#""send""#, "not a string"),
            (r#"{"to":"B"}"#, "no \"cmd\""),
            (r#"{"cmd":5}"#, "\"cmd\" must be a string (send, connect"),
            (r#"{"cmd":"fly"}"#, "unknown command \"fly\" (send, connect"),
            (r#"{"cmd":"send","to":"X"}"#, "\"send\" needs \"msg\""),
            (
                r#"{"cmd":"send","msg":1}"#,
                "\"send\" needs \"to\" (the destination's name)",
            ),
            (
                r#"{"cmd":"send","to":5,"msg":1}"#,
                "\"to\" must be a string (the destination's name), not 5",
            ),
            (
                r#"{"cmd":"send","to":"B","msg":1,"whithin":5}"#,
                "\"send\" takes no \"whithin\" (it takes to, msg, within, id)",
            ),
            (
                r#"{"cmd":"send","to":"B","msg":1,"within":"soon"}"#,
                "\"within\" must be milliseconds from 1 to",
            ),
            (
                r#"{"cmd":"send","to":"B","msg":1,"within":0}"#,
                "\"within\" must be milliseconds",
            ),
            (
                r#"{"cmd":"send","to":"B","msg":1,"within":-1}"#,
                "\"within\" must be milliseconds",
            ),
            (
                r#"{"cmd":"disconnect","who":[1]}"#,
                "\"who\" must be a peer's name, or a number from a connecting event, not [1]",
            ),
            (r#"{"cmd":"disconnect","who":-1}"#, "not -1"),
            (
                r#"{"cmd":"members","to":"B"}"#,
                "\"members\" takes no \"to\" (it takes id)",
            ),
            (
                r#"{"cmd":"graph","format":"svg"}"#,
                "\"graph\" takes no \"format\" (it takes id)",
            ),
            (
                r#"{"cmd":"connect","addr":["aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"]}"#,
                "not [\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...",
            ),
        ] {
            let e = err(line);
            assert!(e.contains(says), "{line}: {e}");
            for leak in [
                "struct",
                "Line",
                "map",
                "RawValue",
                "u64",
                "invalid type",
                "ident",
            ] {
                assert!(!e.contains(leak), "{line}: {e} says {leak}");
            }
        }
    }
}
