//! The mesh as this agent sees it, drawn in Graphviz DOT as `tinc dump graph` draws a tinc
//! mesh: [`Node::graph`], which says what is drawn and how.
//!
//! This module owns the drawing only: which agents and edges it shows, how each looks, and how
//! a name is written so that no name can break out of its quotes. It reads the links, the
//! routing table and the link-state database, and changes nothing.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use super::Node;

/// What a name is, as drawn; a name that is several is drawn as the first in this order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    /// This agent.
    Me,
    /// An agent that describes itself (v2).
    Agent,
    /// An agent that speaks only v1.
    V1,
    /// A name reached only through v1 peers.
    Behind,
}

/// An edge, as drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Edge {
    /// A direct link of this agent, speaking this version.
    Direct(u8),
    /// Both ends list each other.
    Counts,
    /// The first end lists the second as a v1 peer.
    V1Peer,
    /// The first end reaches the second through v1 peers.
    Behind,
}

/// What [`Node::graph`] draws: every name with what it is, every edge.
struct Drawing<'a> {
    nodes: BTreeMap<&'a str, Kind>,
    edges: BTreeSet<(&'a str, &'a str, Edge)>,
}

impl Node {
    /// The mesh as this agent sees it, in Graphviz DOT (`dot -Tsvg` draws it), as
    /// `tinc dump graph` draws a tinc mesh:
    /// - **this agent**, filled;
    /// - **agents that describe themselves** (v2), as ellipses;
    /// - **agents that speak only v1** (this agent's v1 peers, and those other agents list
    ///   as their v1 peers), as boxes, and the **names behind them** (reached only through
    ///   v1 peers, the way unknown), as dashed boxes;
    /// - in red, **names this agent has no route to** (a description is kept for a while
    ///   after its agent became unreachable, and what it lists with it);
    /// - **this agent's direct links**, bold, labelled with the version they speak (`v1`,
    ///   `v2`), as they are now;
    /// - **the edges that count** between other agents: both ends list each other, as the
    ///   shortest-path search requires;
    /// - an agent's **v1 peers** by its word alone (a v1 agent describes nothing), dashed,
    ///   and the names it reaches **through v1 peers**, dotted.
    ///
    /// Names are quoted as DOT requires (a quote as `\"`, a backslash as `\\`, a line end as
    /// `\n`, other control characters as `\xHH`, any other UTF-8 as it is), so no name
    /// can end its string early, and two names never share one. The text depends only on
    /// the state, not on the order things happened in: names and edges are sorted.
    ///
    /// ```text
    /// graph "Me" {
    ///   "A" [label = "A"];
    ///   "Me" [label = "Me", style = filled, fillcolor = palegreen];
    ///   "Old" [label = "Old", shape = box];
    ///   "Me" -- "A" [label = "v2", penwidth = 2];
    ///   "Me" -- "Old" [label = "v1", penwidth = 2];
    /// }
    /// ```
    pub fn graph(&self) -> String {
        let Drawing { nodes, edges } = self.drawing();
        let mut out = String::from("graph ");
        quoted(&mut out, &self.name);
        out.push_str(" {\n");
        for (&name, &kind) in &nodes {
            out.push_str("  ");
            quoted(&mut out, name);
            out.push_str(" [label = ");
            quoted(&mut out, name);
            out.push_str(match kind {
                Kind::Me => ", style = filled, fillcolor = palegreen",
                Kind::Agent => "",
                Kind::V1 => ", shape = box",
                Kind::Behind => ", shape = box, style = dashed",
            });
            if kind != Kind::Me && self.routing.route(name).is_none() {
                out.push_str(", color = red, fontcolor = red");
            }
            out.push_str("];\n");
        }
        for &(a, b, edge) in &edges {
            out.push_str("  ");
            quoted(&mut out, a);
            out.push_str(" -- ");
            quoted(&mut out, b);
            match edge {
                Edge::Direct(v) => {
                    let _ = write!(out, " [label = \"v{v}\", penwidth = 2]");
                }
                Edge::Counts => {}
                Edge::V1Peer => out.push_str(" [style = dashed]"),
                Edge::Behind => out.push_str(" [style = dotted]"),
            }
            out.push_str(";\n");
        }
        out.push_str("}\n");
        out
    }

    /// The names and edges [`graph`](Self::graph) draws. This agent's own links come from
    /// its links and routing table as they are now, not from its description, which lags
    /// them (a new link is described once its database exchange is complete).
    fn drawing(&self) -> Drawing<'_> {
        let me: &str = &self.name;
        let mut nodes = BTreeMap::from([(me, Kind::Me)]);
        let mut edges = BTreeSet::new();
        for l in self.links.iter() {
            if let Some(peer) = l.peer.as_deref() {
                add(
                    &mut nodes,
                    peer,
                    if l.is_v2() { Kind::Agent } else { Kind::V1 },
                );
                edges.insert((me, peer, Edge::Direct(l.version)));
            }
        }
        for name in self.routing.v1_only() {
            add(&mut nodes, name, Kind::Behind);
            edges.insert((me, name, Edge::Behind));
        }
        for v in self.lsdb.iter().filter(|v| v.origin != me) {
            add(&mut nodes, v.origin, Kind::Agent);
            for n in v.linked().filter(|&n| n != me) {
                edges.insert((v.origin.min(n), v.origin.max(n), Edge::Counts));
            }
            for p in v.v1_peers() {
                add(&mut nodes, p, Kind::V1);
                edges.insert((v.origin, p, Edge::V1Peer));
            }
            for x in v.externals() {
                add(&mut nodes, x, Kind::Behind);
                edges.insert((v.origin, x, Edge::Behind));
            }
        }
        Drawing { nodes, edges }
    }
}

/// Records `name` as `kind`, unless it is something drawn first already.
fn add<'a>(nodes: &mut BTreeMap<&'a str, Kind>, name: &'a str, kind: Kind) {
    let k = nodes.entry(name).or_insert(kind);
    *k = (*k).min(kind);
}

/// Writes `name` as a DOT quoted string. Inside quotes DOT gives meaning to two pairs only,
/// `\"` (a quote) and `\\` (kept as it is), and to a backslash before a line end (both
/// dropped). So a quote becomes `\"` and a backslash `\\`: no name can end the string early
/// or swallow a line end, and Graphviz's labels, which read `\\` as one backslash, show the
/// name as it is. A line end becomes `\n` (a line break in a label), and other control
/// characters `\xHH`, so that each statement stays on one line. Every other character, any
/// UTF-8, is written as it is (DOT files are UTF-8). Two names never give the same string.
pub(crate) fn quoted(out: &mut String, name: &str) {
    out.push('"');
    for c in name.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if c.is_control() => {
                let _ = write!(out, "\\x{:02x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}
