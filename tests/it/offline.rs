//! `plan --offline` SQL in a real cluster: it runs cleanly twice with psql, and the boundary it
//! draws holds when each service role connects and tries to cross it.

use crate::support::converge::assert_billing_rw_confined;
use crate::support::pg::{TestCluster, assert_denied};
use crate::support::{dbsplit, fixture, root, stdout};

fn offline_sql(manifest: &std::path::Path) -> String {
    let manifest = manifest.to_str().expect("utf-8 path");
    let output = dbsplit(&["-m", manifest, "plan", "--offline", "--format", "sql"]);
    assert!(output.status.success(), "plan --offline failed: {output:?}");
    stdout(&output)
}

/// Tables created the way migrations will: as each service's owner role.
const TABLES: &str = r#"
SET ROLE monolith_owner;
CREATE TABLE monolith.customers (id bigserial PRIMARY KEY, name text NOT NULL);
INSERT INTO monolith.customers (name) VALUES ('ada');
SET ROLE billing_owner;
CREATE TABLE billing.invoices (id bigserial PRIMARY KEY, customer_id bigint NOT NULL, amount numeric NOT NULL);
SET ROLE reference_owner;
CREATE TABLE reference.currencies (code text PRIMARY KEY);
INSERT INTO reference.currencies VALUES ('EUR');
SET ROLE notifications_owner;
CREATE TABLE notifications.outbox (id bigserial PRIMARY KEY, body text);
RESET ROLE;
"#;

#[tokio::test(flavor = "multi_thread")]
async fn example_bootstrap_enforces_the_boundary_and_runs_twice() {
    let cluster = TestCluster::start("app");
    let sql = offline_sql(&root().join("services.toml.example"));
    cluster.psql_ok("app", &sql);
    cluster.psql_ok("app", TABLES);

    let rw = cluster.connect("billing_rw", "app").await;
    // Its own tables, unqualified: search_path is its schema.
    rw.execute(
        "INSERT INTO invoices (customer_id, amount) VALUES (1, 10)",
        &[],
    )
    .await
    .expect("billing_rw inserts into its own table");
    rw.execute("UPDATE invoices SET amount = 12", &[])
        .await
        .expect("billing_rw updates its own table");
    let rows = rw
        .query("SELECT amount::text FROM invoices", &[])
        .await
        .expect("billing_rw reads");
    assert_eq!(rows.len(), 1);
    rw.execute("DELETE FROM invoices", &[])
        .await
        .expect("billing_rw deletes");
    let path: String = rw.query_one("SHOW search_path", &[]).await.unwrap().get(0);
    assert_eq!(path, "billing");

    // Across the boundary.
    assert_billing_rw_confined(&rw).await;
    assert_denied(
        rw.execute("ALTER TABLE invoices ADD COLUMN note text", &[])
            .await,
        "billing_rw alters",
    );
    assert_denied(
        rw.execute("DROP TABLE invoices", &[]).await,
        "billing_rw drops",
    );
    // The declared read of the shared schema: read, never write.
    let codes = rw
        .query("SELECT code FROM reference.currencies", &[])
        .await
        .expect("billing_rw reads reference");
    assert_eq!(codes.len(), 1);
    assert_denied(
        rw.execute("INSERT INTO reference.currencies VALUES ('USD')", &[])
            .await,
        "billing_rw writes reference",
    );

    let ro = cluster.connect("billing_ro", "app").await;
    ro.query("SELECT * FROM invoices", &[])
        .await
        .expect("billing_ro reads");
    assert_denied(
        ro.execute(
            "INSERT INTO invoices (customer_id, amount) VALUES (1, 1)",
            &[],
        )
        .await,
        "billing_ro inserts",
    );
    assert_denied(
        ro.execute("UPDATE invoices SET amount = 0", &[]).await,
        "billing_ro updates",
    );
    assert_denied(
        ro.execute("DELETE FROM invoices", &[]).await,
        "billing_ro deletes",
    );

    let monolith = cluster.connect("monolith_rw", "app").await;
    monolith
        .query("SELECT * FROM customers", &[])
        .await
        .expect("monolith_rw reads its own table");
    assert_denied(
        monolith
            .query("SELECT * FROM reference.currencies", &[])
            .await,
        "monolith_rw reads reference",
    );
    assert_denied(
        monolith.query("SELECT * FROM billing.invoices", &[]).await,
        "monolith_rw reads billing",
    );
    assert_denied(
        monolith
            .execute("CREATE TABLE public.y (id int)", &[])
            .await,
        "monolith_rw creates in public",
    );

    // The owner-access role runs DDL as the owner, and default privileges reach billing_rw.
    let migrator = cluster.connect("billing_migrator", "app").await;
    migrator
        .batch_execute("SET ROLE billing_owner; CREATE TABLE payments (id bigserial PRIMARY KEY)")
        .await
        .expect("billing_migrator creates a table as billing_owner");
    rw.execute("INSERT INTO payments DEFAULT VALUES", &[])
        .await
        .expect("default privileges give billing_rw the new table and its sequence");
    assert_denied(
        migrator
            .query("SELECT * FROM monolith.customers", &[])
            .await,
        "billing_owner reads monolith",
    );

    // PUBLIC lost CONNECT: a role outside every service cannot connect.
    cluster.psql_ok("app", "CREATE ROLE outsider LOGIN");
    let outsider = tokio_postgres::connect(
        &cluster.server.connection_string("outsider", "app"),
        tokio_postgres::NoTls,
    )
    .await
    .map(|_| ());
    assert_denied(outsider, "outsider connects to app");

    // The same script a second time, on the now populated cluster.
    cluster.psql_ok("app", &sql);
    rw.query("SELECT * FROM payments", &[])
        .await
        .expect("billing_rw still reads after the second run");
    assert_denied(
        rw.query("SELECT * FROM monolith.customers", &[]).await,
        "billing_rw reads monolith after the second run",
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_script_refuses_to_run_in_another_database() {
    // Read-only: the script stops before it creates anything.
    let cluster = TestCluster::shared("other");
    let sql = offline_sql(&root().join("services.toml.example"));
    let output = cluster.psql("other", &sql);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("this script is for database app, not other"),
        "{stderr}"
    );
    let client = cluster.superuser("other").await;
    let roles = client
        .query("SELECT 1 FROM pg_roles WHERE rolname = 'billing_rw'", &[])
        .await
        .unwrap();
    assert!(roles.is_empty(), "nothing was created");
}

#[tokio::test(flavor = "multi_thread")]
async fn names_that_need_quoting_round_trip_and_cannot_inject() {
    let cluster = TestCluster::start("Shop DB");
    cluster.psql_ok("Shop DB", "CREATE TABLE public.canary (id int)");
    let sql = offline_sql(&fixture("tricky.toml"));
    cluster.psql_ok("Shop DB", &sql);
    cluster.psql_ok("Shop DB", &sql);

    let admin = cluster.superuser("Shop DB").await;
    let canary = admin
        .query("SELECT 1 FROM pg_class WHERE relname = 'canary'", &[])
        .await
        .unwrap();
    assert_eq!(canary.len(), 1, "the canary table survived");
    for role in [
        "Billing Owner",
        "Billing.RW",
        "billing; ro",
        r#"x"; DROP TABLE canary; --"#,
        r"o'brien $dbsplit$ \",
        "BI Reader",
        "CamelCase_RW",
    ] {
        let found = admin
            .query("SELECT 1 FROM pg_roles WHERE rolname = $1", &[&role])
            .await
            .unwrap();
        assert_eq!(
            found.len(),
            1,
            "role {role:?} exists with exactly that name"
        );
    }
    let owner: String = admin
        .query_one(
            "SELECT nspowner::regrole::text FROM pg_namespace WHERE nspname = $1",
            &[&r#"evil"; DROP TABLE canary; --"#],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(owner, "evil_owner");
    let limit: i32 = admin
        .query_one(
            "SELECT rolconnlimit FROM pg_roles WHERE rolname = 'Billing.RW'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(limit, 5);

    // The quoted names work as roles, and the boundary holds between them.
    admin
        .batch_execute(r#"SET ROLE "Billing Owner"; CREATE TABLE "Billing Svc"."Invoices" (id int); RESET ROLE;
                          SET ROLE evil_owner; CREATE TABLE "evil""; DROP TABLE canary; --".t (id int); RESET ROLE;
                          SET ROLE "Ref Owner"; CREATE TABLE "Ref Data".codes (code text); RESET ROLE;"#)
        .await
        .unwrap();
    let billing = cluster.connect("Billing.RW", "Shop DB").await;
    billing
        .execute(r#"INSERT INTO "Invoices" VALUES (1)"#, &[])
        .await
        .expect("Billing.RW writes its own table through search_path");
    billing
        .query(r#"SELECT * FROM "Ref Data".codes"#, &[])
        .await
        .expect("declared read");
    assert_denied(
        billing
            .query(r#"SELECT * FROM "evil""; DROP TABLE canary; --".t"#, &[])
            .await,
        "Billing.RW reads evil",
    );
    let readonly = cluster.connect("analytics_ro", "Shop DB").await;
    assert_denied(
        readonly
            .query(r#"SELECT * FROM "Billing Svc"."Invoices""#, &[])
            .await,
        "analytics_ro reads billing",
    );
    let observer = cluster.connect("BI Reader", "Shop DB").await;
    observer
        .query(r#"SELECT * FROM "Billing Svc"."Invoices""#, &[])
        .await
        .expect("the observer reads every schema");
    assert_denied(
        observer
            .execute(r#"INSERT INTO "Billing Svc"."Invoices" VALUES (2)"#, &[])
            .await,
        "the observer writes",
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn after_the_offline_script_the_live_plan_is_empty() {
    for manifest in [root().join("services.toml.example"), fixture("tricky.toml")] {
        let database = if manifest.ends_with("tricky.toml") {
            "Shop DB"
        } else {
            "app"
        };
        let cluster = TestCluster::start(database);
        cluster.psql_ok(database, &offline_sql(&manifest));
        let url = cluster.server.connection_string("postgres", database);
        let path = manifest.to_str().expect("utf-8 path");
        let output = dbsplit(&["-m", path, "--database-url", &url, "plan", "--exit-code"]);
        assert_eq!(
            output.status.code(),
            Some(0),
            "the live plan after the offline script of {path}: {}{}",
            stdout(&output),
            crate::support::stderr(&output)
        );
    }
}
