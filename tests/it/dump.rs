//! `dump` and `restore` on a real server: a service's schema dumped, restored into another
//! database provisioned from the manifest, with the same rows and the same boundary; a second
//! restore is refused unless --replace.

use std::process::{Command, Output, Stdio};

use crate::support::pg::{TestCluster, assert_denied};
use crate::support::{TempDir, root, stderr, stdout};

/// Runs dbsplit with the example manifest against `database` of `cluster` as the superuser.
fn run(cluster: &TestCluster, database: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dbsplit"))
        .arg("-m")
        .arg(root().join("services.toml.example"))
        .args(args)
        .env(
            "DATABASE_URL",
            cluster.server.connection_string("postgres", database),
        )
        .env("NO_COLOR", "1")
        .env_remove("PGPASSWORD")
        .env_remove("MONOLITH_DB_PASSWORD")
        .env_remove("BILLING_DB_PASSWORD")
        .env("PG_BIN", cluster.server.bin_dir())
        .stdin(Stdio::null())
        .output()
        .expect("dbsplit runs")
}

const BILLING: &str = "
SET ROLE billing_owner;
CREATE TABLE billing.invoices (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, amount numeric NOT NULL);
CREATE TABLE billing.lines (id bigserial PRIMARY KEY, invoice bigint NOT NULL REFERENCES billing.invoices, what text);
CREATE SEQUENCE billing.numbers;
CREATE VIEW billing.totals AS SELECT invoice, count(*) AS n FROM billing.lines GROUP BY invoice;
CREATE FUNCTION billing.twice(x int) RETURNS int LANGUAGE sql AS 'SELECT 2 * x';
INSERT INTO billing.invoices (amount) SELECT g FROM generate_series(1, 300) g;
INSERT INTO billing.lines (invoice, what) SELECT 1 + g % 300, 'line ' || g FROM generate_series(1, 1000) g;
SELECT nextval('billing.numbers') FROM generate_series(1, 5);
RESET ROLE;
SET ROLE notifications_owner;
CREATE TABLE notifications.outbox (id bigserial PRIMARY KEY, body text NOT NULL);
RESET ROLE;
";

async fn count(cluster: &TestCluster, database: &str, table: &str) -> i64 {
    cluster
        .superuser(database)
        .await
        .query_one(&format!("SELECT count(*) FROM {table}"), &[])
        .await
        .expect("count rows")
        .get(0)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dump_restores_into_another_database_with_its_rows_and_its_boundary() {
    let cluster = TestCluster::start("app");
    let applied = run(&cluster, "app", &["apply", "--yes"]);
    assert_eq!(applied.status.code(), Some(0), "{}", stderr(&applied));
    cluster.psql_ok("app", BILLING);
    cluster
        .superuser("postgres")
        .await
        .batch_execute("CREATE DATABASE restored")
        .await
        .unwrap();

    let dir = TempDir::new("dump");
    let file = dir.path().join("billing.dump");
    let file_arg = file.to_str().unwrap();
    let dumped = run(&cluster, "app", &["dump", "billing", "--out", file_arg]);
    assert_eq!(dumped.status.code(), Some(0), "{}", stderr(&dumped));
    let bytes = std::fs::read(&file).unwrap();
    let mut lines = bytes.splitn(3, |b| *b == b'\n');
    assert_eq!(lines.next().unwrap(), b"DBSPLIT-DUMP 1");
    let header: serde_json::Value = serde_json::from_slice(lines.next().unwrap()).unwrap();
    assert_eq!(header["service"], "billing");
    assert_eq!(header["schema"], "billing");
    assert!(
        header["source"].as_str().unwrap().ends_with("/app"),
        "{header}"
    );
    assert!(lines.next().unwrap().starts_with(b"PGDMP"), "custom format");

    let restored = run(
        &cluster,
        "app",
        &["restore", "billing", file_arg, "--target", "restored"],
    );
    assert_eq!(restored.status.code(), Some(0), "{}", stderr(&restored));
    assert!(
        stdout(&restored).contains("restored schema `billing`"),
        "{}",
        stdout(&restored)
    );
    for table in ["billing.invoices", "billing.lines"] {
        assert_eq!(
            count(&cluster, "app", table).await,
            count(&cluster, "restored", table).await,
            "{table}"
        );
    }
    let db = cluster.superuser("restored").await;
    let owner: String = db
        .query_one(
            "SELECT tableowner::text FROM pg_tables WHERE schemaname = 'billing' AND tablename = 'lines'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(owner, "billing_owner", "restored as the owner");
    let next: i64 = db
        .query_one("SELECT nextval('billing.numbers')", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(next, 6, "sequence values come along");

    // The boundary in the restored database, from the manifest's default privileges.
    let rw = cluster.connect("billing_rw", "restored").await;
    let n: i64 = rw
        .query_one("SELECT count(*) FROM billing.totals", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 300);
    rw.execute("INSERT INTO billing.invoices (amount) VALUES (1)", &[])
        .await
        .unwrap();
    let ro = cluster.connect("billing_ro", "restored").await;
    assert_denied(
        ro.execute("INSERT INTO billing.invoices (amount) VALUES (1)", &[])
            .await,
        "billing_ro writes billing",
    );
    let other = cluster.connect("notifications_rw", "restored").await;
    assert_denied(
        other
            .query("SELECT count(*) FROM billing.invoices", &[])
            .await,
        "notifications_rw reads billing",
    );

    // Never over a non-empty schema, unless --replace; then the archive's rows again.
    let again = run(
        &cluster,
        "app",
        &["restore", "billing", file_arg, "--target", "restored"],
    );
    assert_eq!(again.status.code(), Some(2), "{}", stdout(&again));
    assert!(stderr(&again).contains("--replace"), "{}", stderr(&again));
    let replaced = run(
        &cluster,
        "app",
        &[
            "restore",
            "billing",
            file_arg,
            "--target",
            "restored",
            "--replace",
        ],
    );
    assert_eq!(replaced.status.code(), Some(0), "{}", stderr(&replaced));
    assert_eq!(count(&cluster, "restored", "billing.invoices").await, 300);

    // A dump of another service is not restored as this one.
    let wrong = run(&cluster, "app", &["restore", "notifications", file_arg]);
    assert_eq!(wrong.status.code(), Some(2));
    assert!(
        stderr(&wrong).contains("not service `notifications`"),
        "{}",
        stderr(&wrong)
    );
}
