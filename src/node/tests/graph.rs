//! The mesh drawn in Graphviz DOT: what is drawn, how, and names that try to break out.

use super::*;
use crate::node::graph::quoted;

/// A name with a quote, a backslash, a line end, non-ASCII text and a backslash at the end:
/// written as it is, it would end its string early and carry on as DOT statements.
const HOSTILE: &str = "Eve\" -- \"Me\\\n\u{3a9} ];\\";

/// Its DOT form.
const HOSTILE_DOT: &str = r#""Eve\" -- \"Me\\\nΩ ];\\""#;

/// A description frame.
fn lsa(origin: &str, n: &[&str], p: &[&str], x: &[&str]) -> String {
    serde_json::json!({"c": "lsa", "o": origin, "i": 1, "s": 1, "n": n, "p": p, "x": x}).to_string()
}

/// Me with a v2 peer A and a v1 peer Old (which reaches Hidden), and through A a line
/// A–B–C–HOSTILE; B also has a v1 peer and reaches a name through it; Gone describes itself
/// as linked to A, which does not list it back; B lists Q, which never described itself.
fn small_mesh() -> Script {
    let mut s = Script::new("Me");
    accept_v2(&mut s, 0, "A");
    s.accept_peer(1, "Old", &["Hidden"]);
    s.recv(0, &lsa("A", &["Me", "B"], &[], &[]));
    s.recv(0, &lsa("B", &["A", "C", "Q"], &["V1b"], &["Far\u{7}"]));
    s.recv(0, &lsa("C", &["B", HOSTILE], &[], &[]));
    s.recv(0, &lsa(HOSTILE, &["C"], &[], &[]));
    s.recv(0, &lsa("Gone", &["A"], &[], &[]));
    s.advance(100);
    s
}

#[test]
fn the_graph_shows_every_agent_known_and_the_edges_that_count() {
    let s = small_mesh();
    let expected = [
        r#"graph "Me" {"#.to_owned(),
        r#"  "A" [label = "A"];"#.into(),
        r#"  "B" [label = "B"];"#.into(),
        r#"  "C" [label = "C"];"#.into(),
        format!(r#"  {HOSTILE_DOT} [label = {HOSTILE_DOT}];"#),
        r#"  "Far\x07" [label = "Far\x07", shape = box, style = dashed];"#.into(),
        r#"  "Gone" [label = "Gone", color = red, fontcolor = red];"#.into(),
        r#"  "Hidden" [label = "Hidden", shape = box, style = dashed];"#.into(),
        r#"  "Me" [label = "Me", style = filled, fillcolor = palegreen];"#.into(),
        r#"  "Old" [label = "Old", shape = box];"#.into(),
        r#"  "V1b" [label = "V1b", shape = box];"#.into(),
        r#"  "A" -- "B";"#.into(),
        r#"  "B" -- "C";"#.into(),
        r#"  "B" -- "Far\x07" [style = dotted];"#.into(),
        r#"  "B" -- "V1b" [style = dashed];"#.into(),
        format!(r#"  "C" -- {HOSTILE_DOT};"#),
        r#"  "Me" -- "A" [label = "v2", penwidth = 2];"#.into(),
        r#"  "Me" -- "Hidden" [style = dotted];"#.into(),
        r#"  "Me" -- "Old" [label = "v1", penwidth = 2];"#.into(),
        "}".into(),
    ];
    let graph = s.node.graph();
    assert_eq!(graph.lines().collect::<Vec<_>>(), expected, "{graph}");
    assert!(graph.ends_with("}\n"));
}

#[test]
fn the_graph_is_the_same_whatever_order_things_happened_in() {
    let mut s = Script::new("Me");
    s.accept_peer(1, "Old", &["Hidden"]);
    accept_v2(&mut s, 0, "A");
    s.recv(0, &lsa("Gone", &["A"], &[], &[]));
    s.recv(0, &lsa(HOSTILE, &["C"], &[], &[]));
    s.recv(0, &lsa("C", &["B", HOSTILE], &[], &[]));
    s.recv(0, &lsa("B", &["Q", "C", "A"], &["V1b"], &["Far\u{7}"]));
    s.recv(0, &lsa("A", &["B", "Me"], &[], &[]));
    s.advance(100);
    assert_eq!(s.node.graph(), small_mesh().node.graph());
}

#[test]
fn names_out_of_reach_are_drawn_in_red() {
    let mut s = small_mesh();
    // A goes: everything behind it is unreachable, and so drawn.
    let now = s.now();
    s.node
        .handle_link_down(LinkId(0), LinkDownReason::PeerClosed, now);
    let graph = s.node.graph();
    for name in ["A", "B", "C", "V1b"] {
        assert!(
            graph.contains(&format!(
                r#"  "{name}" [label = "{name}"{}, color = red, fontcolor = red];"#,
                if name == "V1b" { ", shape = box" } else { "" }
            )),
            "{name} unreachable: {graph}"
        );
    }
    assert!(!graph.contains(r#""Me" -- "A""#), "{graph}");
    assert!(
        graph.contains(r#""A" -- "B";"#),
        "the edges A and B still list: {graph}"
    );
}

/// DOT read as Graphviz reads it: quoted strings (where `\"` is a quote and `\\` stays two
/// backslashes), `--`, punctuation and bare words. Returns the tokens, quoted strings
/// decoded back into names (undoing `\\`, `\"`, `\n` and `\xHH`) and marked with a leading
/// `"`.
fn tokens(dot: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut chars = dot.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                let mut raw = String::new();
                loop {
                    match chars.next().expect("a quoted string ends") {
                        '"' => break,
                        '\\' if matches!(chars.peek(), Some('"' | '\\')) => {
                            raw.push('\\');
                            raw.push(chars.next().unwrap());
                        }
                        c => raw.push(c),
                    }
                }
                out.push(format!("\"{}", decode(&raw)));
            }
            '-' => {
                assert_eq!(chars.next(), Some('-'), "an edge operator");
                out.push("--".into());
            }
            c if c.is_whitespace() => {}
            c if c.is_alphanumeric() || c == '_' => {
                let mut word = c.to_string();
                while let Some(&c) = chars.peek().filter(|c| c.is_alphanumeric() || **c == '_') {
                    word.push(c);
                    chars.next();
                }
                out.push(word);
            }
            c => out.push(c.to_string()),
        }
    }
    out
}

/// A quoted string's text back into the name it was written from.
fn decode(raw: &str) -> String {
    let mut name = String::new();
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            name.push(c);
            continue;
        }
        match chars.next().expect("an escape is complete") {
            'n' => name.push('\n'),
            'x' => {
                let hex: String = chars.by_ref().take(2).collect();
                name.push(char::from_u32(u32::from_str_radix(&hex, 16).unwrap()).unwrap());
            }
            c => name.push(c),
        }
    }
    name
}

#[test]
fn hostile_names_stay_inside_their_quotes() {
    let s = small_mesh();
    let t = tokens(&s.node.graph());
    // The header, the statements, the end: nothing a name wrote became syntax.
    assert_eq!(t[..3], ["graph", "\"Me", "{"]);
    assert_eq!(t.last().map(String::as_str), Some("}"));
    let statements: Vec<&[String]> = t[3..t.len() - 1].split(|t| t == ";").collect();
    let mut nodes = Vec::new();
    let mut edges = Vec::new();
    for st in statements.iter().filter(|st| !st.is_empty()) {
        let name = |i: usize| {
            st[i]
                .strip_prefix('"')
                .unwrap_or_else(|| panic!("a name in {st:?}"))
        };
        if st.get(1).map(String::as_str) == Some("--") {
            edges.push((name(0).to_owned(), name(2).to_owned()));
        } else {
            assert_eq!(st[1..4], ["[", "label", "="], "{st:?}");
            assert_eq!(name(0), name(4), "a node is labelled with its name");
            nodes.push(name(0).to_owned());
        }
    }
    let expected: Vec<&str> = vec![
        "A", "B", "C", HOSTILE, "Far\u{7}", "Gone", "Hidden", "Me", "Old", "V1b",
    ];
    assert_eq!(nodes, expected);
    assert!(
        edges.contains(&("C".to_owned(), HOSTILE.to_owned())),
        "{edges:?}"
    );
    assert_eq!(edges.len(), 8, "{edges:?}");
}

#[test]
fn every_name_has_its_own_quoted_form() {
    let names = [
        "", "a", "\"", "\\", "\\\"", "\"\\", "a\\", "a\\\\", "\n", "\\n", "\u{7}", "\\x07", "Ω",
        "名前", "a b",
    ];
    let mut forms = std::collections::BTreeSet::new();
    for name in names {
        let mut q = String::new();
        quoted(&mut q, name);
        let t = tokens(&q);
        assert_eq!(t, [format!("\"{name}")], "{name:?} as {q}");
        assert!(!q.contains('\n'), "{q}");
        forms.insert(q);
    }
    assert_eq!(forms.len(), names.len());
}
