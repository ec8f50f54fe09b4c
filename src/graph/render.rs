//! The graph as Mermaid (renders in a pull request or a README), Graphviz DOT, or JSON. Declared
//! edges are dashed, violations red; shared schemas are cylinders, observers rounded.

use std::io::{self, Write};

use super::{Graph, NodeKind};

/// A Mermaid node id: `n` and the node's index (names may hold anything).
fn id(graph: &Graph, name: &str) -> String {
    let index = graph.nodes.iter().position(|n| n.name == name);
    match index {
        Some(i) => format!("n{i}"),
        None => format!("x{}", mermaid_text(name)),
    }
}

/// Text inside a Mermaid `"..."` label: quotes and the characters Mermaid reads as markup
/// as entity codes.
pub(super) fn mermaid_text(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        match c {
            '"' => out.push_str("#quot;"),
            '<' => out.push_str("#lt;"),
            '>' => out.push_str("#gt;"),
            '#' => out.push_str("#35;"),
            '|' => out.push_str("#124;"),
            c => out.push(c),
        }
    }
    out
}

/// `flowchart LR` with a node per service, shared schema and observer, and an edge per kind
/// of coupling; `linkStyle` colours the violations red.
pub fn mermaid(graph: &Graph, out: &mut impl Write) -> io::Result<()> {
    writeln!(out, "flowchart LR")?;
    for (i, node) in graph.nodes.iter().enumerate() {
        let label = mermaid_text(&node.name);
        match node.kind {
            NodeKind::Service => writeln!(out, "    n{i}[\"{label}\"]")?,
            NodeKind::Shared => writeln!(out, "    n{i}[(\"{label} (shared)\")]")?,
            NodeKind::Observer => writeln!(out, "    n{i}([\"{label} (observer)\"])")?,
        }
    }
    let mut red = Vec::new();
    for (i, edge) in graph.edges.iter().enumerate() {
        let arrow = if edge.violation { "-->" } else { "-.->" };
        writeln!(
            out,
            "    {} {arrow}|\"{}\"| {}",
            id(graph, &edge.from),
            mermaid_text(&edge.label()),
            id(graph, &edge.to)
        )?;
        if edge.violation {
            red.push(i.to_string());
        }
    }
    if !red.is_empty() {
        writeln!(
            out,
            "    linkStyle {} stroke:#d00,color:#d00",
            red.join(",")
        )?;
    }
    Ok(())
}

/// A DOT string: quotes and backslashes escaped.
pub(super) fn dot_text(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

/// `digraph dbsplit { ... }` for Graphviz (`dot -Tsvg`).
pub fn dot(graph: &Graph, out: &mut impl Write) -> io::Result<()> {
    writeln!(out, "digraph dbsplit {{")?;
    writeln!(out, "    rankdir=LR;")?;
    writeln!(out, "    node [shape=box, fontname=\"Helvetica\"];")?;
    writeln!(out, "    edge [fontname=\"Helvetica\", fontsize=10];")?;
    for node in &graph.nodes {
        let (label, shape) = match node.kind {
            NodeKind::Service => (node.name.clone(), "box"),
            NodeKind::Shared => (format!("{} (shared)", node.name), "cylinder"),
            NodeKind::Observer => (format!("{} (observer)", node.name), "ellipse"),
        };
        writeln!(
            out,
            "    {} [label={}, shape={shape}];",
            dot_text(&node.name),
            dot_text(&label)
        )?;
    }
    for edge in &graph.edges {
        let style = if edge.violation {
            "color=red, fontcolor=red"
        } else {
            "style=dashed"
        };
        writeln!(
            out,
            "    {} -> {} [label={}, {style}];",
            dot_text(&edge.from),
            dot_text(&edge.to),
            dot_text(&edge.label())
        )?;
    }
    writeln!(out, "}}")
}

/// `{"nodes":[{"name","kind"}],"edges":[{"from","to","kind","count","calls","violation","label"}]}`.
pub fn json(graph: &Graph, out: &mut impl Write) -> io::Result<()> {
    #[derive(serde::Serialize)]
    struct JsonEdge<'a> {
        #[serde(flatten)]
        edge: &'a super::Edge,
        label: String,
    }
    #[derive(serde::Serialize)]
    struct Json<'a> {
        nodes: &'a [super::Node],
        edges: Vec<JsonEdge<'a>>,
    }
    let json = Json {
        nodes: &graph.nodes,
        edges: graph
            .edges
            .iter()
            .map(|edge| JsonEdge {
                edge,
                label: edge.label(),
            })
            .collect(),
    };
    serde_json::to_writer_pretty(&mut *out, &json)?;
    writeln!(out)
}
