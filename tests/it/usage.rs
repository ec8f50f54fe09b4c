//! `usage` and `audit --runtime` on real servers with `pg_stat_statements` loaded: what an
//! application role really ran across services, with counts; a login that sees only its own
//! statements is told so; a server without the extension says how to enable it.

use std::process::{Command, Output, Stdio};

use crate::support::pg::TestCluster;
use crate::support::{root, stderr, stdout};

#[tokio::test(flavor = "multi_thread")]
async fn the_harness_starts_a_server_that_records_statements() {
    let cluster = TestCluster::start_with_statements("app");
    cluster.psql_ok(
        "app",
        "CREATE TABLE counted (id int); INSERT INTO counted VALUES (1), (2), (3);",
    );
    let client = cluster.superuser("app").await;
    let row = client
        .query_one(
            "SELECT calls, rows FROM pg_stat_statements
             WHERE query LIKE 'INSERT INTO counted%'",
            &[],
        )
        .await
        .expect("pg_stat_statements is readable");
    assert_eq!(row.get::<_, i64>(0), 1);
    assert_eq!(row.get::<_, i64>(1), 3);
}

/// Runs dbsplit with the example manifest against `cluster`, logged in as `user`.
pub fn run_as(cluster: &TestCluster, user: &str, args: &[&str]) -> Output {
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
        .env_remove("MONOLITH_DB_PASSWORD")
        .env_remove("BILLING_DB_PASSWORD")
        .stdin(Stdio::null())
        .output()
        .expect("dbsplit runs")
}

/// The example applied, a table per schema, and billing_rw given SELECT and INSERT on
/// monolith.customers with monolith on its search_path (the legacy coupling usage must find).
pub fn coupled(cluster: &TestCluster) {
    let applied = run_as(cluster, "postgres", &["apply", "--yes"]);
    assert_eq!(applied.status.code(), Some(0), "{}", stderr(&applied));
    cluster.psql_ok(
        "app",
        "
SET ROLE monolith_owner;
CREATE TABLE monolith.customers (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, name text NOT NULL);
INSERT INTO monolith.customers (name) VALUES ('Ada'), ('Grace');
SET ROLE billing_owner;
CREATE TABLE billing.invoices (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, amount numeric NOT NULL);
SET ROLE reference_owner;
CREATE TABLE reference.currencies (code text PRIMARY KEY);
INSERT INTO reference.currencies VALUES ('EUR'), ('USD');
RESET ROLE;
GRANT USAGE ON SCHEMA monolith TO billing_rw;
GRANT SELECT, INSERT ON monolith.customers TO billing_rw;
ALTER ROLE billing_rw IN DATABASE app SET search_path = billing, monolith;
",
    );
}

/// What billing_rw runs: qualified and unqualified reads of monolith, an insert into it, its
/// own table, a declared read; and a superuser's read of everything.
pub async fn traffic(cluster: &TestCluster) {
    let app = cluster.connect("billing_rw", "app").await;
    for id in 1..=3i64 {
        app.query("SELECT name FROM monolith.customers WHERE id = $1", &[&id])
            .await
            .expect("the granted qualified read runs");
    }
    for _ in 0..2 {
        app.query("SELECT c.name FROM customers c ORDER BY c.id", &[])
            .await
            .expect("the unqualified read resolves through search_path");
    }
    app.execute(
        "INSERT INTO monolith.customers (name) VALUES ($1)",
        &[&"Linus"],
    )
    .await
    .expect("the granted insert runs");
    app.execute("INSERT INTO invoices (amount) VALUES (42)", &[])
        .await
        .expect("its own table");
    app.query("SELECT code FROM reference.currencies", &[])
        .await
        .expect("the declared read");
    let admin = cluster.superuser("app").await;
    admin
        .query("SELECT * FROM monolith.customers, billing.invoices", &[])
        .await
        .expect("a superuser reads everything");
}

fn json(output: &Output) -> serde_json::Value {
    serde_json::from_str(&stdout(output))
        .unwrap_or_else(|e| panic!("usage --format json: {e}\n{}", stdout(output)))
}

#[tokio::test(flavor = "multi_thread")]
async fn usage_reports_an_application_roles_runtime_cross_service_reads_and_writes() {
    let cluster = TestCluster::start_with_statements("app");
    coupled(&cluster);
    traffic(&cluster).await;

    let output = run_as(&cluster, "postgres", &["usage", "--format", "json"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let report = json(&output);
    let roles = report["roles"].as_array().expect("roles");
    let role = |name: &str| {
        roles
            .iter()
            .find(|r| r["role"] == name)
            .unwrap_or_else(|| panic!("{name} is listed: {report:#}"))
    };
    let billing = role("billing_rw");
    assert_eq!(billing["service"], "billing");
    assert_eq!(
        billing["search_path"],
        serde_json::json!(["billing", "monolith"])
    );
    let relations = billing["relations"].as_array().expect("relations");
    let touch = |access: &str| {
        relations
            .iter()
            .find(|r| r["relation"] == "monolith.customers" && r["access"] == access)
            .unwrap_or_else(|| panic!("a {access} of monolith.customers: {billing:#}"))
    };
    let read = touch("read");
    // One qualified statement run 3 times, one unqualified run twice.
    assert_eq!(read["statements"], 2, "{read:#}");
    assert_eq!(read["calls"], 5, "{read:#}");
    // ids 1 and 2 exist (3 does not yet), then two rows twice.
    assert_eq!(read["rows"], 2 + 2 * 2, "{read:#}");
    assert_eq!(read["service"], "monolith");
    assert_eq!(read["declared"], serde_json::Value::Null);
    let write = touch("write");
    assert_eq!(
        (write["statements"].clone(), write["calls"].clone()),
        (1.into(), 1.into())
    );
    assert_eq!(write["rows"], 1);
    // The declared read of the shared schema is there, as an exception.
    let currencies = relations
        .iter()
        .find(|r| r["relation"] == "reference.currencies")
        .expect("the declared read");
    assert_eq!(
        currencies["declared"],
        "declared read: currency codes are shared reference data"
    );
    // Its own table is no coupling; the superuser's statements are left out.
    assert!(
        relations.iter().all(|r| r["schema"] != "billing"),
        "{billing:#}"
    );
    assert!(roles.iter().all(|r| r["role"] != "postgres"), "{report:#}");
    assert!(report["ignored_statements"]["superuser"].as_u64() >= Some(1));
    // A role that ran nothing is listed with nothing.
    assert_eq!(role("notifications_rw")["statements"], 0);

    let findings = report["findings"].as_array().expect("findings");
    assert_eq!(findings.len(), 2, "{report:#}");
    for finding in findings {
        assert_eq!(finding["rule"], "cross-schema-query");
        assert_eq!(finding["severity"], "warning");
        assert_eq!(finding["schema"], "billing");
        assert_eq!(finding["target_schema"], "monolith");
        assert_eq!(finding["role"], "billing_rw");
        assert_eq!(finding["object"], "monolith.customers");
    }
    assert_eq!(report["hidden_statements"], 0);

    let output = run_as(&cluster, "postgres", &["usage"]);
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(
        text.contains("billing_rw (service billing; search_path billing, monolith)"),
        "{text}"
    );
    assert!(text.contains("No statements recorded for:"), "{text}");
    assert!(text.contains("2 warnings (cross-schema-query)"), "{text}");
    // Warnings fail with --fail-on warning, as in audit.
    let output = run_as(&cluster, "postgres", &["usage", "--fail-on", "warning"]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    for format in ["sarif", "github"] {
        let output = run_as(&cluster, "postgres", &["usage", "--format", format]);
        assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
        assert!(stdout(&output).contains("cross-schema-query"), "{format}");
    }

    // audit --runtime adds the same findings to audit's.
    let output = run_as(
        &cluster,
        "postgres",
        &["audit", "--runtime", "--format", "json"],
    );
    let audit = json(&output);
    let runtime: Vec<_> = audit["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["rule"] == "cross-schema-query")
        .collect();
    assert_eq!(runtime.len(), 2, "{audit:#}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_login_that_sees_only_its_own_statements_is_told_so() {
    let cluster = TestCluster::start_with_statements("app");
    coupled(&cluster);
    traffic(&cluster).await;
    // billing_rw itself: the catalogs are readable, other roles' statement texts are not.
    let output = run_as(&cluster, "billing_rw", &["usage", "--format", "json"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let report = json(&output);
    assert!(report["hidden_statements"].as_u64() > Some(0), "{report:#}");
    assert!(
        stderr(&output).contains("shows this login only its own statements"),
        "{}",
        stderr(&output)
    );
    assert_eq!(report["findings"].as_array().map(Vec::len), Some(2));
}

#[tokio::test(flavor = "multi_thread")]
async fn without_pg_stat_statements_usage_says_how_to_enable_it() {
    let cluster = TestCluster::start("app");
    let output = run_as(&cluster, "postgres", &["usage"]);
    assert_eq!(output.status.code(), Some(2), "{}", stdout(&output));
    let message = stderr(&output);
    assert_eq!(message.lines().count(), 1, "{message}");
    assert!(
        message.contains("shared_preload_libraries")
            && message.contains("CREATE EXTENSION pg_stat_statements"),
        "{message}"
    );
    // Installed but not preloaded: the same sentence.
    cluster.psql_ok("app", "CREATE EXTENSION pg_stat_statements");
    let output = run_as(&cluster, "postgres", &["audit", "--runtime"]);
    assert_eq!(output.status.code(), Some(2), "{}", stdout(&output));
    assert!(
        stderr(&output).contains("shared_preload_libraries"),
        "{}",
        stderr(&output)
    );
}
