//! `graph`: the services and what couples them, as data. Pure: built from the audit of the live
//! cluster (its findings and the service map, the manifest's or inferred), the declared reads
//! and observers, and, when `pg_stat_statements` is there, what roles really ran (`usage`).
//! Rendering (Mermaid, DOT, JSON) is in `render`.

pub mod fleet;
pub mod render;

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::audit::{Report, Services};
use crate::finding::{Finding, RuleId};
use crate::usage::Usage;

/// What a node stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum NodeKind {
    Service,
    Shared,
    Observer,
}

/// A service, a shared schema or an observer.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Node {
    /// The service's name, the shared schema's, or the observer role's.
    pub name: String,
    pub kind: NodeKind,
}

/// What an edge stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum EdgeKind {
    /// A `reads` of the manifest, or an observer's.
    DeclaredRead,
    ForeignKey,
    Grant,
    View,
    /// A table the source's roles can write in the target's schema.
    SharedWriter,
    /// Statements the source's roles ran against the target's relations.
    Runtime,
}

impl EdgeKind {
    /// `1 foreign key`, `3 grants`: the edge's label for `count` of it.
    pub fn label(self, count: u64) -> String {
        let (one, many) = match self {
            EdgeKind::DeclaredRead => return "declared read".to_string(),
            EdgeKind::ForeignKey => ("foreign key", "foreign keys"),
            EdgeKind::Grant => ("grant", "grants"),
            EdgeKind::View => ("view", "views"),
            EdgeKind::SharedWriter => ("shared table", "shared tables"),
            EdgeKind::Runtime => ("statement", "statements"),
        };
        format!("{count} {}", if count == 1 { one } else { many })
    }
}

/// A coupling from one node to another: the source depends on (reads, writes, references)
/// the target.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Edge {
    pub from: String,
    pub to: String,
    pub kind: EdgeKind,
    /// How many objects (foreign keys, grants, views, tables) or statements it stands for.
    pub count: u64,
    /// For runtime edges: the statements' calls.
    pub calls: Option<i64>,
    /// Whether it is a finding (drawn red); declared ones are drawn dashed.
    pub violation: bool,
}

impl Edge {
    pub fn label(&self) -> String {
        let label = self.kind.label(self.count);
        match (self.kind, self.calls) {
            (EdgeKind::Runtime, Some(calls)) => {
                format!(
                    "runtime: {label}, {calls} call{}",
                    crate::text::plural(calls)
                )
            }
            _ => label,
        }
    }
}

/// Nodes and edges, sorted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Graph {
    pub nodes: Vec<Node>,
    pub edges: Vec<Edge>,
}

/// The node name of a service or shared schema: `shared reference` is the shared schema
/// `reference`'s service name in the map, drawn as `reference`.
fn node_name(service: &str) -> String {
    service
        .strip_prefix("shared ")
        .unwrap_or(service)
        .to_string()
}

/// From, to, kind, violation: what edges are summed by (count, calls).
type EdgeKey = (String, String, EdgeKind, bool);

/// The graph of one audited database, with what roles ran when `usage` is given.
pub fn build(services: &Services, report: &Report, usage: Option<&Usage>) -> Graph {
    let mut nodes: BTreeSet<Node> = BTreeSet::new();
    for service in services.schema_service.values() {
        let kind = if service.starts_with("shared ") {
            NodeKind::Shared
        } else {
            NodeKind::Service
        };
        nodes.insert(Node {
            name: node_name(service),
            kind,
        });
    }
    for observer in services.observers.keys() {
        nodes.insert(Node {
            name: observer.clone(),
            kind: NodeKind::Observer,
        });
    }
    let mut edges: BTreeMap<EdgeKey, (u64, Option<i64>)> = BTreeMap::new();
    let mut add =
        |from: &str, to: &str, kind: EdgeKind, violation: bool, count: u64, calls: Option<i64>| {
            if from == to {
                return;
            }
            let entry = edges
                .entry((from.to_string(), to.to_string(), kind, violation))
                .or_default();
            entry.0 += count;
            if let Some(calls) = calls {
                entry.1 = Some(entry.1.unwrap_or(0) + calls);
            }
        };
    for (service, schema) in services.reads.keys() {
        if let Some(target) = services.of_schema(schema) {
            add(
                service,
                &node_name(target),
                EdgeKind::DeclaredRead,
                false,
                1,
                None,
            );
        }
    }
    for (observer, (schemas, _)) in &services.observers {
        let targets: BTreeSet<String> = schemas
            .iter()
            .filter_map(|s| services.of_schema(s))
            .map(node_name)
            .collect();
        for target in targets {
            add(observer, &target, EdgeKind::DeclaredRead, false, 1, None);
        }
    }
    for finding in &report.findings {
        let Some(kind) = edge_kind(finding.rule) else {
            continue;
        };
        if let Some((from, to)) = ends(services, finding) {
            add(&from, &to, kind, true, 1, None);
        }
    }
    for role in usage.map(|u| u.roles.as_slice()).unwrap_or_default() {
        let from = match (&role.service, role.observer) {
            (Some(service), _) => node_name(service),
            (None, true) => role.role.clone(),
            (None, false) => continue,
        };
        for touch in &role.touches {
            let violation = touch.declared.is_none();
            let to = node_name(&touch.service);
            add(
                &from,
                &to,
                EdgeKind::Runtime,
                violation,
                touch.statements,
                Some(touch.calls),
            );
        }
    }
    Graph {
        nodes: nodes.into_iter().collect(),
        edges: edges
            .into_iter()
            .map(|((from, to, kind, violation), (count, calls))| Edge {
                from,
                to,
                kind,
                count,
                calls,
                violation,
            })
            .collect(),
    }
}

/// The edge a finding of `rule` draws, if any.
fn edge_kind(rule: RuleId) -> Option<EdgeKind> {
    match rule {
        RuleId::CrossSchemaFk => Some(EdgeKind::ForeignKey),
        RuleId::CrossSchemaGrant => Some(EdgeKind::Grant),
        RuleId::CrossSchemaView => Some(EdgeKind::View),
        RuleId::SharedWriter => Some(EdgeKind::SharedWriter),
        _ => None,
    }
}

/// The nodes a finding couples: the depending side (the role's service, an observer, the
/// schema that references) and the side it reaches into.
fn ends(services: &Services, finding: &Finding) -> Option<(String, String)> {
    let role_side = || {
        let role = finding.role.as_deref()?;
        match services.of_role(role) {
            Some(service) => Some(node_name(service)),
            None => services
                .observers
                .contains_key(role)
                .then(|| role.to_string()),
        }
    };
    if finding.rule == RuleId::SharedWriter {
        // The table's schema is `schema`; `role` is a writer of another service.
        let to = node_name(services.of_schema(finding.schema.as_deref()?)?);
        return Some((role_side()?, to));
    }
    let from = match finding.schema.as_deref() {
        Some(schema) => node_name(services.of_schema(schema)?),
        None => role_side()?,
    };
    let to = node_name(services.of_schema(finding.target_schema.as_deref()?)?);
    Some((from, to))
}

#[cfg(test)]
mod tests;
