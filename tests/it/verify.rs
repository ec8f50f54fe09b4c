//! `verify` on real servers: a converged cluster holds; a planted cross-service grant and a
//! readonly role that may update are found, and no row changes anywhere; a login that cannot
//! SET ROLE is told so per role.

use std::process::{Command, Output, Stdio};

use crate::support::pg::TestCluster;
use crate::support::{root, stderr, stdout};

/// Runs dbsplit with the example manifest against `cluster`, logged in as `user`.
fn run_as(cluster: &TestCluster, user: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dbsplit"))
        .arg("-m")
        .arg(root().join("services.toml.example"))
        .args(args)
        .env(
            "DATABASE_URL",
            cluster.server.connection_string(user, "app"),
        )
        .env("NO_COLOR", "1")
        .env_remove("PGPASSWORD")
        .stdin(Stdio::null())
        .output()
        .expect("dbsplit runs")
}

fn run(cluster: &TestCluster, args: &[&str]) -> Output {
    run_as(cluster, "postgres", args)
}

/// Tables with rows in every schema of the example, as their owners.
const TABLES: &str = "
SET ROLE monolith_owner;
CREATE TABLE monolith.customers (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, name text NOT NULL);
INSERT INTO monolith.customers (name) VALUES ('Ada'), ('Grace');
SET ROLE billing_owner;
CREATE TABLE billing.invoices (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, amount numeric NOT NULL);
INSERT INTO billing.invoices (amount) VALUES (42), (7), (1);
SET ROLE notifications_owner;
CREATE TABLE notifications.outbox (id bigserial PRIMARY KEY, body text NOT NULL);
INSERT INTO notifications.outbox (body) VALUES ('hello');
SET ROLE reference_owner;
CREATE TABLE reference.currencies (code text PRIMARY KEY);
INSERT INTO reference.currencies VALUES ('EUR'), ('USD');
RESET ROLE;
";

/// A converged example cluster with a table and rows per schema.
fn converged() -> TestCluster {
    let cluster = TestCluster::start("app");
    let applied = Command::new(env!("CARGO_BIN_EXE_dbsplit"))
        .arg("-m")
        .arg(root().join("services.toml.example"))
        .args(["apply", "--yes"])
        .env(
            "DATABASE_URL",
            cluster.server.connection_string("postgres", "app"),
        )
        .env_remove("MONOLITH_DB_PASSWORD")
        .env_remove("BILLING_DB_PASSWORD")
        .stdin(Stdio::null())
        .output()
        .expect("dbsplit runs");
    assert_eq!(applied.status.code(), Some(0), "{}", stderr(&applied));
    cluster.psql_ok("app", TABLES);
    cluster
}

/// Every table of the cluster outside the system schemas with its row count, and whether a
/// probe table was left anywhere.
async fn rows(cluster: &TestCluster) -> Vec<(String, i64)> {
    let client = cluster.superuser("app").await;
    let tables = client
        .query(
            "SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c
             JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE c.relkind IN ('r', 'p')
               AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
             ORDER BY 1",
            &[],
        )
        .await
        .expect("list tables");
    let mut counts = Vec::new();
    for table in tables {
        let name: String = table.get(0);
        let count: i64 = client
            .query_one(&format!("SELECT count(*) FROM {name}"), &[])
            .await
            .expect("count rows")
            .get(0);
        counts.push((name, count));
    }
    counts
}

fn json(output: &Output) -> serde_json::Value {
    serde_json::from_str(&stdout(output))
        .unwrap_or_else(|e| panic!("verify --format json: {e}\n{}", stdout(output)))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_converged_cluster_holds_and_nothing_is_written() {
    let cluster = converged();
    let before = rows(&cluster).await;
    let output = run(&cluster, &["verify"]);
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(0), "{text}{}", stderr(&output));
    assert!(text.contains("The boundary holds"), "{text}");
    for role in [
        "monolith_rw",
        "billing_rw",
        "billing_ro",
        "billing_migrator",
        "notifications_rw",
    ] {
        assert!(text.contains(role), "{role} is verified: {text}");
    }

    let output = run(&cluster, &["verify", "--format", "json"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let report = json(&output);
    assert_eq!(report["holds"], true, "{report:#}");
    assert_eq!(report["holes"].as_array().map(Vec::len), Some(0));
    let roles = report["roles"].as_array().expect("roles");
    assert_eq!(roles.len(), 5, "{report:#}");
    let rw = roles
        .iter()
        .find(|r| r["role"] == "billing_rw")
        .expect("billing_rw");
    let got = |schema: &str, kind: &str| {
        rw["checks"]
            .as_array()
            .expect("checks")
            .iter()
            .find(|c| c["schema"] == schema && c["kind"] == kind)
            .map(|c| (c["got"].clone(), c["sqlstate"].clone()))
            .unwrap_or_else(|| panic!("no {kind} probe of {schema}: {rw:#}"))
    };
    // The server itself said so: own schema written, another refused with 42501, reads read.
    assert_eq!(got("billing", "insert").0, "allowed");
    assert_eq!(got("monolith", "select"), ("denied".into(), "42501".into()));
    assert_eq!(got("reference", "select").0, "allowed");
    assert_eq!(got("reference", "update").0, "denied");
    assert_eq!(got("public", "create").0, "denied");

    assert_eq!(
        rows(&cluster).await,
        before,
        "verify changed rows or tables"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_planted_cross_service_insert_grant_is_a_hole_and_no_row_changes() {
    let cluster = converged();
    // INSERT alone does not open the table: without USAGE on billing the server still refuses
    // (audit reports the grant; verify proves what runs).
    cluster.psql_ok(
        "app",
        "GRANT INSERT ON billing.invoices TO notifications_rw;",
    );
    let output = run(&cluster, &["verify", "--format", "json"]);
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
    cluster.psql_ok("app", "GRANT USAGE ON SCHEMA billing TO notifications_rw;");
    let before = rows(&cluster).await;

    let output = run(&cluster, &["verify"]);
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(1), "{text}{}", stderr(&output));
    assert!(text.contains("1 hole in the boundary"), "{text}");
    let hole = text
        .lines()
        .find(|l| l.contains(r#"INSERT INTO "billing"."invoices" SELECT WHERE false"#))
        .unwrap_or_else(|| panic!("the hole is named: {text}"));
    assert!(hole.contains("notifications_rw"), "{hole}");
    assert!(
        hole.contains("denied") && hole.contains("allowed"),
        "{hole}"
    );

    let output = run(&cluster, &["verify", "--format", "json"]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let report = json(&output);
    assert_eq!(report["holds"], false);
    let holes = report["holes"].as_array().expect("holes");
    assert_eq!(holes.len(), 1, "{report:#}");
    assert_eq!(holes[0]["role"], "notifications_rw");
    assert_eq!(holes[0]["schema"], "billing");
    assert_eq!(holes[0]["kind"], "insert");
    assert_eq!(holes[0]["expected"], "denied");
    assert_eq!(holes[0]["got"], "allowed");

    assert_eq!(
        rows(&cluster).await,
        before,
        "verify changed rows or tables"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_readonly_role_granted_update_is_found() {
    let cluster = converged();
    cluster.psql_ok("app", "GRANT UPDATE ON billing.invoices TO billing_ro;");
    let before = rows(&cluster).await;
    let output = run(&cluster, &["verify", "--service", "billing"]);
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(1), "{text}{}", stderr(&output));
    let hole = text
        .lines()
        .find(|l| l.contains(r#"UPDATE "billing"."invoices" SET "id" = DEFAULT WHERE false"#))
        .unwrap_or_else(|| panic!("the hole is named: {text}"));
    assert!(hole.contains("billing_ro"), "{hole}");
    assert!(
        !text.contains("monolith_rw"),
        "--service billing verifies billing's roles only: {text}"
    );
    assert_eq!(
        rows(&cluster).await,
        before,
        "verify changed rows or tables"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_login_that_cannot_set_role_is_told_so_per_role() {
    let cluster = converged();
    cluster.psql_ok(
        "app",
        "CREATE ROLE auditor LOGIN;
         GRANT CONNECT ON DATABASE app TO auditor;
         GRANT billing_rw, billing_ro, billing_migrator TO auditor;",
    );
    // Member of billing's roles only: billing verifies, the others cannot.
    let billing = run_as(&cluster, "auditor", &["verify", "--service", "billing"]);
    assert_eq!(
        billing.status.code(),
        Some(0),
        "{}{}",
        stdout(&billing),
        stderr(&billing)
    );

    let output = run_as(&cluster, "auditor", &["verify"]);
    let (text, errors) = (stdout(&output), stderr(&output));
    assert_eq!(output.status.code(), Some(2), "{text}{errors}");
    for role in ["monolith_rw", "notifications_rw"] {
        assert!(
            errors.contains(&format!("cannot SET ROLE to {role} as auditor")),
            "{errors}"
        );
    }
    assert!(!errors.contains("SET ROLE to billing_rw"), "{errors}");
    assert!(errors.contains("verify needs a superuser"), "{errors}");
    assert!(text.contains("not verified"), "{text}");

    // The probes run in the manifest's database or not at all.
    let elsewhere = Command::new(env!("CARGO_BIN_EXE_dbsplit"))
        .arg("-m")
        .arg(root().join("services.toml.example"))
        .args(["verify", "--database-url"])
        .arg(cluster.server.connection_string("postgres", "postgres"))
        .output()
        .expect("dbsplit runs");
    assert_eq!(elsewhere.status.code(), Some(2), "{}", stdout(&elsewhere));
    assert!(
        stderr(&elsewhere)
            .contains("connected to database postgres, but the manifest manages database app"),
        "{}",
        stderr(&elsewhere)
    );

    let unknown = run(&cluster, &["verify", "--service", "payments"]);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(
        stderr(&unknown).contains("service `payments` is not in the manifest"),
        "{}",
        stderr(&unknown)
    );
}

#[test]
fn the_demo_ends_with_verify() {
    let cache = crate::support::TempDir::new("verify-demo");
    let output = Command::new(env!("CARGO_BIN_EXE_dbsplit"))
        .arg("demo")
        .env("NO_COLOR", "1")
        .env("XDG_CACHE_HOME", cache.path())
        .output()
        .expect("dbsplit runs");
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(0), "{text}{}", stderr(&output));
    let verify = text
        .split("8. Verified the boundary live")
        .nth(1)
        .unwrap_or_else(|| panic!("the demo verifies: {text}"));
    assert!(verify.contains("notifications_rw"), "{verify}");
    // The demo's SELECT grant lacks USAGE on schema monolith: audit reports it, yet the server
    // still refuses the read.
    assert!(
        verify.contains("The boundary holds") && verify.contains("Stopped the server"),
        "{verify}"
    );
}
