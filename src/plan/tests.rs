//! Snapshots of offline plans: the SQL, the human summary and the JSON, for the example manifest
//! and for a tricky one (quoted names, an attempted injection, a readonly-only service, 20
//! services).

use std::path::Path;

use crate::desired::desired_state;
use crate::manifest::Manifest;
use crate::report;

use super::bootstrap::bootstrap;
use super::{Action, Plan};

fn plan_of(path: &str) -> Plan {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let manifest = Manifest::load(&root.join(path)).unwrap_or_else(|e| panic!("{e}"));
    bootstrap(&manifest, &desired_state(&manifest))
}

fn render(plan: &Plan, f: fn(&Plan, &mut Vec<u8>) -> std::io::Result<()>) -> String {
    let mut out = Vec::new();
    f(plan, &mut out).expect("rendering to memory cannot fail");
    String::from_utf8(out).expect("utf-8")
}

#[test]
fn example_sql() {
    let plan = plan_of("services.toml.example");
    insta::assert_snapshot!(render(&plan, report::plan::sql));
}

#[test]
fn example_human() {
    let plan = plan_of("services.toml.example");
    insta::assert_snapshot!(render(&plan, |p, o| report::plan::human(
        p,
        &report::plan::Owners::default(),
        false,
        o
    )));
}

#[test]
fn example_json() {
    let plan = plan_of("services.toml.example");
    let json: serde_json::Value = serde_json::from_str(&render(&plan, |p, o| {
        report::plan::json(p, &report::plan::Owners::default(), o)
    }))
    .expect("JSON");
    insta::assert_json_snapshot!(json);
}

#[test]
fn tricky_sql() {
    let plan = plan_of("tests/fixtures/tricky.toml");
    insta::assert_snapshot!(render(&plan, report::plan::sql));
}

#[test]
fn tricky_human() {
    let plan = plan_of("tests/fixtures/tricky.toml");
    insta::assert_snapshot!(render(&plan, |p, o| report::plan::human(
        p,
        &report::plan::Owners::default(),
        false,
        o
    )));
}

#[test]
fn changes_come_in_phase_order() {
    let plan = plan_of("tests/fixtures/tricky.toml");
    let phases: Vec<_> = plan.changes.iter().map(|c| c.action.phase()).collect();
    let mut sorted = phases.clone();
    sorted.sort();
    assert_eq!(phases, sorted);
    assert!(matches!(plan.changes[0].action, Action::CreateRole { .. }));
    assert!(matches!(
        plan.changes.last().map(|c| &c.action),
        Some(Action::Revoke { .. })
    ));
}

#[test]
fn a_readonly_only_service_gets_select_and_nothing_more() {
    let plan = plan_of("tests/fixtures/tricky.toml");
    let sql: Vec<String> = plan
        .changes
        .iter()
        .filter(|c| c.scope.service() == Some("analytics"))
        .flat_map(|c| super::sql::statements(&c.action))
        .collect();
    let grants: Vec<&String> = sql.iter().filter(|s| s.contains("GRANT")).collect();
    assert!(
        grants
            .iter()
            .all(|s| !s.contains("INSERT") && !s.contains("EXECUTE")),
        "{grants:#?}"
    );
    assert!(
        grants
            .iter()
            .any(|s| s.contains("GRANT SELECT ON TABLES TO \"analytics_ro\""))
    );
}
