//! The graph of a hand-built audit report and usage, and its three renderings (insta).

use super::*;
use crate::finding::Location;
use crate::usage::{Access, RoleUsage, Touch};

fn services() -> Services {
    let mut services = Services::default();
    for (schema, service) in [
        ("orders", "orders"),
        ("billing", "billing"),
        ("reference", "shared reference"),
    ] {
        services
            .schema_service
            .insert(schema.into(), service.into());
    }
    services.shared.insert("reference".into());
    services
        .role_service
        .insert("orders_rw".into(), "orders".into());
    services
        .role_service
        .insert("billing_rw".into(), "billing".into());
    services.reads.insert(
        ("orders".into(), "reference".into()),
        "currency codes".into(),
    );
    services.observers.insert(
        "bi \"team\"".into(),
        (
            ["orders".to_string(), "billing".to_string()].into(),
            "export".into(),
        ),
    );
    services
}

fn finding(rule: RuleId, object: &str) -> Finding {
    Finding::new(
        rule,
        Location::Object {
            object: object.into(),
        },
        "m",
    )
}

fn report() -> Report {
    Report {
        findings: vec![
            finding(RuleId::CrossSchemaFk, "orders.orders.fk1")
                .schema("orders")
                .target_schema("billing"),
            finding(RuleId::CrossSchemaFk, "orders.orders.fk2")
                .schema("orders")
                .target_schema("billing"),
            finding(RuleId::CrossSchemaGrant, "billing.invoices")
                .schema("orders")
                .target_schema("billing")
                .role("orders_rw"),
            finding(RuleId::CrossSchemaView, "billing.v")
                .schema("billing")
                .target_schema("orders"),
            finding(RuleId::SharedWriter, "billing.invoices")
                .schema("billing")
                .role("orders_rw"),
            finding(RuleId::PublicGrant, "billing.invoices").schema("billing"),
        ],
        ..Report::default()
    }
}

fn usage() -> Usage {
    let touch = |schema: &str, service: &str, access, declared: Option<&str>| Touch {
        schema: schema.into(),
        relation: "t".into(),
        service: service.into(),
        access,
        statements: 2,
        calls: 1500,
        rows: 10,
        declared: declared.map(str::to_string),
    };
    Usage {
        roles: vec![RoleUsage {
            role: "orders_rw".into(),
            service: Some("orders".into()),
            observer: false,
            search_path: vec!["orders".into()],
            statements: 9,
            calls: 4000,
            touches: vec![
                touch("billing", "billing", Access::Read, None),
                touch("billing", "billing", Access::Write, None),
                touch(
                    "reference",
                    "shared reference",
                    Access::Read,
                    Some("declared"),
                ),
            ],
        }],
        ..Usage::default()
    }
}

fn graph() -> Graph {
    build(&services(), &report(), Some(&usage()))
}

#[test]
fn findings_declared_reads_and_runtime_statements_become_counted_edges() {
    let graph = graph();
    let edges: Vec<String> = graph
        .edges
        .iter()
        .map(|e| {
            format!(
                "{} -> {} {}{}",
                e.from,
                e.to,
                e.label(),
                if e.violation { " (violation)" } else { "" }
            )
        })
        .collect();
    assert_eq!(
        edges,
        [
            "bi \"team\" -> billing declared read",
            "bi \"team\" -> orders declared read",
            "billing -> orders 1 view (violation)",
            "orders -> billing 2 foreign keys (violation)",
            "orders -> billing 1 grant (violation)",
            "orders -> billing 1 shared table (violation)",
            "orders -> billing runtime: 4 statements, 3000 calls (violation)",
            "orders -> reference declared read",
            "orders -> reference runtime: 2 statements, 1500 calls",
        ]
    );
    let kinds: Vec<_> = graph
        .nodes
        .iter()
        .map(|n| (n.name.as_str(), n.kind))
        .collect();
    assert_eq!(
        kinds,
        [
            ("bi \"team\"", NodeKind::Observer),
            ("billing", NodeKind::Service),
            ("orders", NodeKind::Service),
            ("reference", NodeKind::Shared),
        ]
    );
    // Without usage: no runtime edges.
    let without = build(&services(), &report(), None);
    assert!(without.edges.iter().all(|e| e.kind != EdgeKind::Runtime));
}

#[test]
fn mermaid() {
    let mut out = Vec::new();
    render::mermaid(&graph(), &mut out).unwrap();
    insta::assert_snapshot!(String::from_utf8(out).unwrap());
}

#[test]
fn dot() {
    let mut out = Vec::new();
    render::dot(&graph(), &mut out).unwrap();
    insta::assert_snapshot!(String::from_utf8(out).unwrap());
}

#[test]
fn json() {
    let mut out = Vec::new();
    render::json(&graph(), &mut out).unwrap();
    insta::assert_snapshot!(String::from_utf8(out).unwrap());
}
