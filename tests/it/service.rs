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

/// billing, orders that declares a read of billing, and an observer of everything.
const READERS: &str = r#"version = 1
[database]
name = "app"
[services.billing]
roles.billing_rw = { access = "readwrite" }
[services.orders]
roles.orders_rw = { access = "readwrite" }
reads = [{ schema = "billing", reason = "invoice totals" }]
[observers.warehouse]
reads = ["*"]
reason = "nightly export"
"#;

#[tokio::test(flavor = "multi_thread")]
async fn service_on_a_fresh_cluster_creates_the_readers_its_grants_need_and_nothing_more() {
    let cluster = TestCluster::start("app");
    let dir = crate::support::TempDir::new("service-readers");
    let manifest = dir.path().join("services.toml");
    std::fs::write(&manifest, READERS).expect("write the manifest");
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_dbsplit"))
            .arg("-m")
            .arg(&manifest)
            .args(args)
            .env(
                "DATABASE_URL",
                cluster.server.connection_string("postgres", "app"),
            )
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .output()
            .expect("dbsplit runs")
    };

    // The grants to orders_rw and warehouse on schema billing need those roles.
    let applied = run(&["apply", "--service", "billing", "--yes"]);
    assert_eq!(code(&applied), Some(0), "{}", stderr(&applied));
    let again = run(&["plan", "--service", "billing", "--exit-code"]);
    assert_eq!(code(&again), Some(0), "{}", stdout(&again));

    let client = cluster.superuser("app").await;
    let row = client
        .query_one(
            "SELECT count(*) FILTER (WHERE rolname = 'orders_rw'),
                    count(*) FILTER (WHERE rolname = 'warehouse'),
                    (SELECT count(*) FROM pg_namespace WHERE nspname = 'orders'),
                    (SELECT count(*) FROM pg_db_role_setting s JOIN pg_roles r ON r.oid = s.setrole
                      WHERE r.rolname = 'orders_rw')
               FROM pg_roles",
            &[],
        )
        .await
        .expect("read roles");
    let counts: Vec<i64> = (0..4).map(|i| row.get(i)).collect();
    assert_eq!(
        counts,
        [1, 1, 0, 0],
        "orders_rw and warehouse exist; orders' schema and orders_rw's settings are orders' own"
    );

    // The declared read works, and only the read.
    client
        .batch_execute(
            "SET ROLE billing_owner; CREATE TABLE billing.invoices (id bigint PRIMARY KEY);
             INSERT INTO billing.invoices VALUES (1); RESET ROLE;",
        )
        .await
        .expect("billing creates a table");
    client
        .batch_execute("SET ROLE orders_rw; SELECT * FROM billing.invoices; RESET ROLE")
        .await
        .expect("orders reads billing");
    let write = client
        .batch_execute("SET ROLE orders_rw; INSERT INTO billing.invoices VALUES (2)")
        .await
        .expect_err("orders cannot write billing");
    assert_eq!(
        write.code(),
        Some(&tokio_postgres::error::SqlState::INSUFFICIENT_PRIVILEGE),
        "{write}"
    );
    client.batch_execute("RESET ROLE").await.expect("reset");

    // orders is still to do; a full apply converges the rest.
    let orders = run(&["plan", "--service", "orders", "--exit-code"]);
    assert_eq!(code(&orders), Some(1), "{}", stdout(&orders));
    let all = run(&["apply", "--yes"]);
    assert_eq!(code(&all), Some(0), "{}", stderr(&all));
    let done = run(&["plan", "--exit-code"]);
    assert_eq!(code(&done), Some(0), "{}", stdout(&done));
}
