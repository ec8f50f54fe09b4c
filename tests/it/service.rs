//! `--service NAME` on real servers: with two services drifted, `plan --service` shows only the
//! named service's changes and `apply --service` fixes only those, leaving the other service
//! and what belongs to the whole database (PUBLIC's CONNECT) for a plan without it; `audit
//! --service` keeps the findings about the named service; an unknown name exits 2.

use std::process::{Command, Output, Stdio};

use crate::support::pg::TestCluster;
use crate::support::{root, stderr, stdout};

/// Runs dbsplit with the example manifest against `cluster`.
fn run(cluster: &TestCluster, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dbsplit"))
        .arg("-m")
        .arg(root().join("services.toml.example"))
        .args(args)
        .env(
            "DATABASE_URL",
            cluster.server.connection_string("postgres", "app"),
        )
        .env("NO_COLOR", "1")
        .env_remove("MONOLITH_DB_PASSWORD")
        .env_remove("BILLING_DB_PASSWORD")
        .stdin(Stdio::null())
        .output()
        .expect("dbsplit runs")
}

fn code(output: &Output) -> Option<i32> {
    output.status.code()
}

/// Drift in monolith and in billing (a grant to another service's role on each), and in the
/// database (PUBLIC may connect again).
const DRIFT: &str = "
SET ROLE monolith_owner;
CREATE TABLE monolith.customers (id bigint PRIMARY KEY);
SET ROLE billing_owner;
CREATE TABLE billing.invoices (id bigint PRIMARY KEY);
RESET ROLE;
GRANT SELECT ON monolith.customers TO notifications_rw;
GRANT INSERT ON billing.invoices TO monolith_rw;
GRANT CONNECT ON DATABASE app TO PUBLIC;
";

#[test]
fn service_narrows_plan_apply_and_audit_to_the_named_services() {
    let cluster = TestCluster::start("app");
    let applied = run(&cluster, &["apply", "--yes"]);
    assert_eq!(code(&applied), Some(0), "{}", stderr(&applied));
    cluster.psql_ok("app", DRIFT);

    let plan = run(
        &cluster,
        &["plan", "--service", "billing", "--format", "sql"],
    );
    let sql = stdout(&plan);
    assert_eq!(code(&plan), Some(0), "{}", stderr(&plan));
    assert!(
        sql.contains(r#"REVOKE INSERT ON TABLE "billing"."invoices" FROM "monolith_rw""#),
        "{sql}"
    );
    assert!(
        !sql.contains("customers"),
        "monolith's drift is not billing's: {sql}"
    );
    assert!(
        !sql.contains("DATABASE"),
        "PUBLIC's CONNECT is database-wide: {sql}"
    );

    let applied = run(&cluster, &["apply", "--service", "billing", "--yes"]);
    assert_eq!(code(&applied), Some(0), "{}", stderr(&applied));
    let again = run(&cluster, &["plan", "--service", "billing", "--exit-code"]);
    assert_eq!(
        code(&again),
        Some(0),
        "billing converged: {}",
        stdout(&again)
    );

    // The rest is still there for a plan of everything.
    let all = run(&cluster, &["plan", "--format", "sql"]);
    let sql = stdout(&all);
    assert!(
        sql.contains(r#"REVOKE SELECT ON TABLE "monolith"."customers" FROM "notifications_rw""#),
        "{sql}"
    );
    assert!(sql.contains(r#"REVOKE CONNECT"#), "{sql}");
    assert!(!sql.contains("invoices"), "{sql}");

    let audit = |service: &str| {
        let output = run(
            &cluster,
            &["audit", "--service", service, "--format", "json"],
        );
        let json: serde_json::Value = serde_json::from_str(&stdout(&output))
            .unwrap_or_else(|e| panic!("audit json: {e}\n{}", stdout(&output)));
        json["findings"]
            .as_array()
            .expect("findings")
            .iter()
            .map(|f| f["message"].as_str().unwrap_or_default().to_string())
            .collect::<Vec<_>>()
    };
    let monolith = audit("monolith");
    assert!(
        monolith.iter().any(|m| m.contains("customers")),
        "{monolith:?}"
    );
    let notifications = audit("notifications");
    assert!(
        notifications.iter().any(|m| m.contains("customers")),
        "the grant names notifications_rw: {notifications:?}"
    );
    let billing = audit("billing");
    assert!(
        billing.iter().all(|m| !m.contains("customers")),
        "{billing:?}"
    );
}

#[test]
fn an_unknown_service_is_a_usage_error() {
    for args in [
        &["plan", "--service", "biling"][..],
        &["apply", "--service", "biling", "--yes"],
        &["audit", "--service", "biling"],
    ] {
        let output = crate::support::dbsplit(
            &[
                &["-m", root().join("services.toml.example").to_str().unwrap()][..],
                &["--database-url", "postgres://nobody@127.0.0.1:1/app"],
                args,
            ]
            .concat(),
        );
        assert_eq!(code(&output), Some(2), "{args:?}");
        assert!(
            stderr(&output).contains(
                "unknown service `biling`; the manifest declares monolith, billing, notifications"
            ),
            "{args:?}: {}",
            stderr(&output)
        );
    }
}
