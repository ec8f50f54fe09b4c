//! `analyze` over hand-built states: resolution through search_path, services, declared reads,
//! superusers and dbsplit's own statements, unparsable texts, roles without statements.

use std::collections::BTreeMap;

use super::*;
use crate::catalog::model::{ObjectKind, Role, Schema, SchemaObject};

fn table(name: &str) -> SchemaObject {
    SchemaObject {
        kind: ObjectKind::Table,
        name: name.to_string(),
        args: None,
        owner: String::new(),
        acl: BTreeMap::new(),
        grant_options: BTreeMap::new(),
        columns: BTreeMap::new(),
        linked: false,
    }
}

fn schema(tables: &[&str]) -> Schema {
    Schema {
        owner: String::new(),
        acl: BTreeMap::new(),
        grant_options: BTreeMap::new(),
        objects: tables.iter().map(|t| (t.to_string(), table(t))).collect(),
    }
}

/// Services orders and billing, shared reference; orders reads reference, orders_rw's
/// search_path is `orders, billing`.
fn cluster() -> (ClusterState, Services) {
    let mut state = ClusterState::default();
    let mut db = Database::default();
    db.schemas.insert("orders".into(), schema(&["orders"]));
    db.schemas
        .insert("billing".into(), schema(&["invoices", "ledger"]));
    db.schemas
        .insert("reference".into(), schema(&["currencies"]));
    state.databases.insert("app".into(), db);
    let mut orders_rw = Role::default();
    orders_rw.settings.insert(
        "app".into(),
        [("search_path".to_string(), "orders, billing".to_string())].into(),
    );
    state.roles.insert("orders_rw".into(), orders_rw);
    state.roles.insert("billing_rw".into(), Role::default());
    state.roles.insert("api".into(), Role::default());
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
    (state, services)
}

fn statement(role: &str, query: &str, calls: i64, rows: i64) -> Statement {
    Statement {
        role: role.into(),
        superuser: false,
        query: query.into(),
        calls,
        rows,
    }
}

fn stats(statements: Vec<Statement>) -> Stats {
    Stats {
        statements,
        default_search_path: "\"$user\", public".into(),
        ..Stats::default()
    }
}

#[test]
fn qualified_and_unqualified_reads_and_writes_of_another_service_are_findings() {
    let (state, services) = cluster();
    let usage = analyze(
        &stats(vec![
            statement(
                "orders_rw",
                "SELECT * FROM billing.invoices WHERE id = $1",
                10,
                10,
            ),
            statement(
                "orders_rw",
                "SELECT count(*) FROM invoices i JOIN orders o ON o.id = i.id",
                2,
                2,
            ),
            statement("orders_rw", "INSERT INTO ledger (x) VALUES ($1)", 5, 5),
            statement("orders_rw", "SELECT code FROM reference.currencies", 7, 14),
            statement("orders_rw", "SELECT * FROM orders", 100, 1000),
        ]),
        &state,
        "app",
        &services,
    );
    let orders = usage.roles.iter().find(|r| r.role == "orders_rw").unwrap();
    assert_eq!(orders.search_path, ["orders", "billing"]);
    assert_eq!(orders.statements, 5);
    let seen: Vec<_> = orders
        .touches
        .iter()
        .map(|t| {
            (
                t.qualified(),
                t.access,
                t.statements,
                t.calls,
                t.declared.is_some(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("billing.invoices".to_string(), Access::Read, 2, 12, false),
            ("billing.ledger".to_string(), Access::Write, 1, 5, false),
            ("reference.currencies".to_string(), Access::Read, 1, 7, true),
        ]
    );
    assert_eq!(usage.findings.len(), 2);
    assert!(
        usage
            .findings
            .iter()
            .all(|f| f.rule == RuleId::CrossSchemaQuery
                && f.schema.as_deref() == Some("orders")
                && f.role.as_deref() == Some("orders_rw"))
    );
    assert_eq!(
        usage.findings[0].message,
        "`orders_rw` (service orders) read `billing.invoices` of billing at runtime: 2 statements, 12 calls, 12 rows"
    );
    assert_eq!(usage.exceptions.len(), 1);
    // billing_rw ran nothing, and is listed all the same.
    let billing = usage.roles.iter().find(|r| r.role == "billing_rw").unwrap();
    assert_eq!((billing.statements, billing.touches.len()), (0, 0));
}

#[test]
fn superusers_dbsplit_ddl_and_hidden_texts_are_left_out_and_bad_sql_never_panics() {
    let (state, services) = cluster();
    let mut superuser = statement("postgres", "SELECT * FROM billing.invoices", 1, 1);
    superuser.superuser = true;
    let usage = analyze(
        &stats(vec![
            superuser,
            statement(
                "orders_rw",
                "/* dbsplit */ SELECT 1 FROM billing.invoices LIMIT $1",
                1,
                0,
            ),
            statement("orders_rw", "GRANT SELECT ON billing.invoices TO x", 1, 0),
            statement(
                "orders_rw",
                "SELECT FROM FROM billing.invoices ((( $1",
                3,
                0,
            ),
            statement("orders_rw", "SELECT * FROM no_such_table", 3, 0),
            statement("orders_rw", "", 1, 0),
            statement("orders_rw", "SELECT 'unterminated", 1, 0),
        ]),
        &state,
        "app",
        &services,
    );
    assert_eq!(usage.superuser_statements, 1);
    assert_eq!(usage.own_statements, 1);
    assert_eq!(usage.unparsed, 2);
    let orders = usage.roles.iter().find(|r| r.role == "orders_rw").unwrap();
    assert_eq!(orders.statements, 3);
    assert_eq!(orders.touches.len(), 1, "the unparsable read is still seen");
    assert!(usage.roles.iter().all(|r| r.role != "postgres"));
}

#[test]
fn roles_outside_every_service_are_listed_not_judged() {
    let (state, services) = cluster();
    let usage = analyze(
        &stats(vec![statement(
            "api",
            "UPDATE billing.invoices SET x = $1",
            4,
            8,
        )]),
        &state,
        "app",
        &services,
    );
    let api = usage.roles.iter().find(|r| r.role == "api").unwrap();
    assert_eq!(api.service, None);
    assert_eq!(api.search_path, ["api", "public"]);
    assert_eq!(api.touches[0].access, Access::Write);
    assert!(usage.findings.is_empty());
}

#[test]
fn search_path_prefers_the_database_setting_then_all_databases_then_the_default() {
    let (mut state, _) = cluster();
    let role = state.roles.get_mut("api").unwrap();
    role.settings.insert(
        "".into(),
        [("search_path".to_string(), "\"Odd\", billing".to_string())].into(),
    );
    assert_eq!(
        search_path(&state, "app", "api", "public"),
        ["Odd", "billing"]
    );
    assert_eq!(
        search_path(&state, "app", "orders_rw", "public"),
        ["orders", "billing"]
    );
    assert_eq!(
        search_path(&state, "app", "billing_rw", ""),
        Vec::<String>::new()
    );
}
