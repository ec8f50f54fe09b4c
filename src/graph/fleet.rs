//! The graph of a fleet: one [`Graph`] per target (`cluster/database`), drawn grouped by
//! cluster and, inside it, by database (Mermaid subgraphs, Graphviz clusters), with node ids
//! per target, so that an observer on two clusters is two nodes. Couplings never cross a
//! target: PostgreSQL cannot reach across databases.

use std::io::{self, Write};

use serde::Serialize;

use super::render::{dot_text, mermaid_text};
use super::{Edge, Graph, Node, NodeKind};

/// The graph of one target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placed {
    pub cluster: String,
    pub database: String,
    pub graph: Graph,
}

/// The targets in the manifest's order (clusters, then their databases).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fleet {
    pub targets: Vec<Placed>,
}

impl Fleet {
    /// The clusters in order of first appearance, each with its targets' indexes.
    fn clusters(&self) -> Vec<(&str, Vec<usize>)> {
        let mut clusters: Vec<(&str, Vec<usize>)> = Vec::new();
        for (index, placed) in self.targets.iter().enumerate() {
            match clusters.iter_mut().find(|(c, _)| *c == placed.cluster) {
                Some((_, list)) => list.push(index),
                None => clusters.push((&placed.cluster, vec![index])),
            }
        }
        clusters
    }
}

/// The Mermaid id of `name` in target `t`: `t<t>n<index>`.
fn mermaid_id(graph: &Graph, t: usize, name: &str) -> String {
    match graph.nodes.iter().position(|n| n.name == name) {
        Some(i) => format!("t{t}n{i}"),
        None => format!("t{t}x{}", mermaid_text(name)),
    }
}

/// `flowchart LR` with a subgraph per cluster holding a subgraph per database, its nodes
/// inside; then every target's edges, violations red.
pub fn mermaid(fleet: &Fleet, out: &mut impl Write) -> io::Result<()> {
    writeln!(out, "flowchart LR")?;
    for (c, (cluster, targets)) in fleet.clusters().into_iter().enumerate() {
        writeln!(
            out,
            "    subgraph c{c}[\"cluster {}\"]",
            mermaid_text(cluster)
        )?;
        for t in targets {
            let placed = &fleet.targets[t];
            writeln!(
                out,
                "        subgraph t{t}[\"{}\"]",
                mermaid_text(&format!("{}/{}", placed.cluster, placed.database))
            )?;
            for (i, node) in placed.graph.nodes.iter().enumerate() {
                let label = mermaid_text(&node.name);
                match node.kind {
                    NodeKind::Service => writeln!(out, "            t{t}n{i}[\"{label}\"]")?,
                    NodeKind::Shared => {
                        writeln!(out, "            t{t}n{i}[(\"{label} (shared)\")]")?;
                    }
                    NodeKind::Observer => {
                        writeln!(out, "            t{t}n{i}([\"{label} (observer)\"])")?;
                    }
                }
            }
            writeln!(out, "        end")?;
        }
        writeln!(out, "    end")?;
    }
    let mut red = Vec::new();
    let mut index = 0;
    for (t, placed) in fleet.targets.iter().enumerate() {
        for edge in &placed.graph.edges {
            let arrow = if edge.violation { "-->" } else { "-.->" };
            writeln!(
                out,
                "    {} {arrow}|\"{}\"| {}",
                mermaid_id(&placed.graph, t, &edge.from),
                mermaid_text(&edge.label()),
                mermaid_id(&placed.graph, t, &edge.to)
            )?;
            if edge.violation {
                red.push(index.to_string());
            }
            index += 1;
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

/// A DOT node id: the node's name inside its target.
fn dot_id(placed: &Placed, name: &str) -> String {
    dot_text(&format!("{}/{}/{name}", placed.cluster, placed.database))
}

/// `digraph dbsplit { ... }` with a Graphviz cluster per cluster and, inside it, one per
/// database.
pub fn dot(fleet: &Fleet, out: &mut impl Write) -> io::Result<()> {
    writeln!(out, "digraph dbsplit {{")?;
    writeln!(out, "    rankdir=LR;")?;
    writeln!(out, "    node [shape=box, fontname=\"Helvetica\"];")?;
    writeln!(out, "    edge [fontname=\"Helvetica\", fontsize=10];")?;
    for (cluster, targets) in fleet.clusters() {
        writeln!(
            out,
            "    subgraph {} {{",
            dot_text(&format!("cluster {cluster}"))
        )?;
        writeln!(
            out,
            "        label={};",
            dot_text(&format!("cluster {cluster}"))
        )?;
        for t in targets {
            let placed = &fleet.targets[t];
            writeln!(
                out,
                "        subgraph {} {{",
                dot_text(&format!("cluster {cluster}/{}", placed.database))
            )?;
            writeln!(out, "            label={};", dot_text(&placed.database))?;
            for node in &placed.graph.nodes {
                let (label, shape) = match node.kind {
                    NodeKind::Service => (node.name.clone(), "box"),
                    NodeKind::Shared => (format!("{} (shared)", node.name), "cylinder"),
                    NodeKind::Observer => (format!("{} (observer)", node.name), "ellipse"),
                };
                writeln!(
                    out,
                    "            {} [label={}, shape={shape}];",
                    dot_id(placed, &node.name),
                    dot_text(&label)
                )?;
            }
            writeln!(out, "        }}")?;
        }
        writeln!(out, "    }}")?;
    }
    for placed in &fleet.targets {
        for edge in &placed.graph.edges {
            let style = if edge.violation {
                "color=red, fontcolor=red"
            } else {
                "style=dashed"
            };
            writeln!(
                out,
                "    {} -> {} [label={}, {style}];",
                dot_id(placed, &edge.from),
                dot_id(placed, &edge.to),
                dot_text(&edge.label())
            )?;
        }
    }
    writeln!(out, "}}")
}

/// `{"nodes":[{"name","kind","cluster","database"}],"edges":[{"from","to","kind","count",
/// "calls","violation","label","cluster","database"}]}`: the v1 document, each node and edge
/// with its target.
pub fn json(fleet: &Fleet, out: &mut impl Write) -> io::Result<()> {
    #[derive(Serialize)]
    struct JsonNode<'a> {
        #[serde(flatten)]
        node: &'a Node,
        cluster: &'a str,
        database: &'a str,
    }
    #[derive(Serialize)]
    struct JsonEdge<'a> {
        #[serde(flatten)]
        edge: &'a Edge,
        label: String,
        cluster: &'a str,
        database: &'a str,
    }
    #[derive(Serialize)]
    struct Json<'a> {
        nodes: Vec<JsonNode<'a>>,
        edges: Vec<JsonEdge<'a>>,
    }
    let json = Json {
        nodes: fleet
            .targets
            .iter()
            .flat_map(|p| {
                p.graph.nodes.iter().map(|node| JsonNode {
                    node,
                    cluster: &p.cluster,
                    database: &p.database,
                })
            })
            .collect(),
        edges: fleet
            .targets
            .iter()
            .flat_map(|p| {
                p.graph.edges.iter().map(|edge| JsonEdge {
                    edge,
                    label: edge.label(),
                    cluster: &p.cluster,
                    database: &p.database,
                })
            })
            .collect(),
    };
    serde_json::to_writer_pretty(&mut *out, &json)?;
    writeln!(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::EdgeKind;

    fn node(name: &str, kind: NodeKind) -> Node {
        Node {
            name: name.into(),
            kind,
        }
    }

    fn edge(from: &str, to: &str, kind: EdgeKind, violation: bool) -> Edge {
        Edge {
            from: from.into(),
            to: to.into(),
            kind,
            count: 2,
            calls: (kind == EdgeKind::Runtime).then_some(7),
            violation,
        }
    }

    /// main/app (monolith, orders, reference, the observer), main/reports (analytics, the
    /// observer) and billing/billing (billing, ledger, the observer).
    fn fleet() -> Fleet {
        let placed = |cluster: &str, database: &str, nodes, edges| Placed {
            cluster: cluster.into(),
            database: database.into(),
            graph: Graph { nodes, edges },
        };
        Fleet {
            targets: vec![
                placed(
                    "main",
                    "app",
                    vec![
                        node("monolith", NodeKind::Service),
                        node("orders", NodeKind::Service),
                        node("reference", NodeKind::Shared),
                        node("warehouse", NodeKind::Observer),
                    ],
                    vec![
                        edge("orders", "monolith", EdgeKind::ForeignKey, true),
                        edge("orders", "monolith", EdgeKind::Runtime, true),
                        edge("orders", "reference", EdgeKind::DeclaredRead, false),
                        edge("warehouse", "monolith", EdgeKind::DeclaredRead, false),
                    ],
                ),
                placed(
                    "main",
                    "reports",
                    vec![
                        node("analytics", NodeKind::Service),
                        node("warehouse", NodeKind::Observer),
                    ],
                    vec![edge(
                        "warehouse",
                        "analytics",
                        EdgeKind::DeclaredRead,
                        false,
                    )],
                ),
                placed(
                    "billing",
                    "billing",
                    vec![
                        node("billing", NodeKind::Service),
                        node("ledger", NodeKind::Service),
                        node("warehouse", NodeKind::Observer),
                    ],
                    vec![
                        edge("ledger", "billing", EdgeKind::Grant, true),
                        edge("warehouse", "billing", EdgeKind::DeclaredRead, false),
                    ],
                ),
            ],
        }
    }

    fn rendered(render: fn(&Fleet, &mut Vec<u8>) -> io::Result<()>) -> String {
        let mut out = Vec::new();
        render(&fleet(), &mut out).expect("rendering into memory cannot fail");
        String::from_utf8(out).expect("UTF-8")
    }

    #[test]
    fn fleet_mermaid() {
        insta::assert_snapshot!(rendered(mermaid));
    }

    #[test]
    fn fleet_dot() {
        insta::assert_snapshot!(rendered(dot));
    }

    #[test]
    fn fleet_json() {
        insta::assert_snapshot!(rendered(json));
    }
}
