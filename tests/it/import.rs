//! `import` on hand-built legacy clusters: the manifest it writes validates, `apply` of it
//! leaves no role holding a privilege it did not hold before (a snapshot of every role's
//! effective privileges, from the server's own `has_*_privilege` functions), and a second plan
//! is empty. A generated cluster of 10,000 tables imports quickly (timed).

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::support::pg::TestCluster;
use crate::support::{TempDir, stderr, stdout};

/// Runs dbsplit against `cluster`'s database `app` as the superuser.
fn run(cluster: &TestCluster, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dbsplit"))
        .args(args)
        .env(
            "DATABASE_URL",
            cluster.server.connection_string("postgres", "app"),
        )
        .env_remove("DBSPLIT_MANIFEST")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .expect("dbsplit runs")
}

fn ok(output: &Output, what: &str) {
    assert_eq!(
        output.status.code(),
        Some(0),
        "{what}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        stdout(output),
        stderr(output)
    );
}

/// A legacy cluster nobody designed: schemas created by the superuser, an API role writing its
/// schema and reading two others, a reader, a role writing two services, a login role owning
/// its schema, a BI role reading everything, a reference schema several services read.
const LEGACY: &str = "
CREATE ROLE rds_iam NOLOGIN;
CREATE ROLE billing_api LOGIN IN ROLE rds_iam;
CREATE ROLE billing_ro LOGIN;
CREATE ROLE users_owner NOLOGIN;
CREATE ROLE users_api LOGIN IN ROLE users_owner;
CREATE ROLE legacy LOGIN;
CREATE ROLE bi LOGIN;
CREATE ROLE shipping LOGIN;
CREATE ROLE monitor LOGIN IN ROLE pg_monitor;

CREATE SCHEMA billing;
CREATE TABLE billing.invoices (id serial PRIMARY KEY, amount numeric NOT NULL);
CREATE TABLE billing.payments (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, invoice int);
CREATE VIEW billing.open_invoices AS SELECT * FROM billing.invoices;
CREATE FUNCTION billing.total(integer) RETURNS numeric LANGUAGE sql AS 'SELECT 1::numeric';
GRANT USAGE ON SCHEMA billing TO billing_api;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA billing TO billing_api;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA billing TO billing_api;
GRANT USAGE ON SCHEMA billing TO billing_ro;
GRANT SELECT ON ALL TABLES IN SCHEMA billing TO billing_ro;

CREATE SCHEMA users AUTHORIZATION users_owner;
SET ROLE users_owner;
CREATE TABLE users.accounts (id int PRIMARY KEY, email text);
RESET ROLE;
GRANT USAGE ON SCHEMA users TO billing_api;
GRANT SELECT ON users.accounts TO billing_api;

CREATE SCHEMA reference;
CREATE TABLE reference.currencies (code text PRIMARY KEY);
GRANT USAGE ON SCHEMA reference TO billing_api, users_api;
GRANT SELECT ON reference.currencies TO billing_api, users_api;

GRANT USAGE ON SCHEMA billing, users TO legacy;
GRANT INSERT ON billing.payments TO legacy;
GRANT UPDATE ON users.accounts TO legacy;

CREATE SCHEMA shipping AUTHORIZATION shipping;
SET ROLE shipping;
CREATE TABLE shipping.parcels (id int PRIMARY KEY);
RESET ROLE;

GRANT USAGE ON SCHEMA billing, users, reference, shipping TO bi;
GRANT SELECT ON ALL TABLES IN SCHEMA billing, users, reference, shipping TO bi;
";

/// Every privilege every role (superusers aside) holds, as the server judges it: on relations,
/// sequences, schemas, routines, the database, and role memberships.
const PRIVILEGES: &str = "
WITH r AS (SELECT oid, rolname FROM pg_roles WHERE NOT rolsuper),
     ns AS (SELECT oid, nspname FROM pg_namespace
            WHERE nspname NOT LIKE 'pg\\_%' AND nspname <> 'information_schema')
SELECT r.rolname, 'relation ' || c.oid::regclass::text, p
FROM r, pg_class c JOIN ns ON ns.oid = c.relnamespace,
     unnest(ARRAY['SELECT','INSERT','UPDATE','DELETE','TRUNCATE','REFERENCES','TRIGGER']) p
WHERE c.relkind IN ('r','p','v','m','f') AND has_table_privilege(r.oid, c.oid, p)
UNION ALL
SELECT r.rolname, 'sequence ' || c.oid::regclass::text, p
FROM r, pg_class c JOIN ns ON ns.oid = c.relnamespace, unnest(ARRAY['USAGE','SELECT','UPDATE']) p
WHERE c.relkind = 'S' AND has_sequence_privilege(r.oid, c.oid, p)
UNION ALL
SELECT r.rolname, 'schema ' || ns.nspname, p
FROM r, ns, unnest(ARRAY['USAGE','CREATE']) p
WHERE has_schema_privilege(r.oid, ns.oid, p)
UNION ALL
SELECT r.rolname, 'routine ' || f.oid::regprocedure::text, 'EXECUTE'
FROM r, pg_proc f JOIN ns ON ns.oid = f.pronamespace
WHERE has_function_privilege(r.oid, f.oid, 'EXECUTE')
UNION ALL
SELECT r.rolname, 'database ' || d.datname, p
FROM r, pg_database d, unnest(ARRAY['CONNECT','CREATE','TEMPORARY']) p
WHERE d.datname = current_database() AND has_database_privilege(r.oid, d.oid, p)
UNION ALL
SELECT r.rolname, 'role ' || g.rolname, p
FROM r, pg_roles g, unnest(ARRAY['MEMBER','USAGE']) p
WHERE g.oid <> r.oid AND pg_has_role(r.oid, g.oid, p)
";

async fn privileges(cluster: &TestCluster) -> BTreeSet<(String, String, String)> {
    let client = cluster.superuser("app").await;
    client
        .query(PRIVILEGES, &[])
        .await
        .expect("the privilege snapshot")
        .iter()
        .map(|row| (row.get(0), row.get(1), row.get(2)))
        .collect()
}

/// import → validate → apply → plan is empty, and no role that existed before holds a
/// privilege it did not hold before.
async fn round_trip(cluster: &TestCluster, dir: &Path) -> String {
    let manifest = dir.join("services.toml");
    let manifest_arg = manifest.to_str().expect("a UTF-8 temp path");
    let before = privileges(cluster).await;
    let roles_before: BTreeSet<String> = before.iter().map(|(r, _, _)| r.clone()).collect();

    let imported = run(cluster, &["import", "--out", manifest_arg]);
    ok(&imported, "import --out");
    let text = std::fs::read_to_string(&manifest).expect("import wrote the manifest");
    ok(&run(cluster, &["-m", manifest_arg, "validate"]), "validate");
    ok(
        &run(cluster, &["-m", manifest_arg, "apply", "--yes"]),
        "apply --yes",
    );
    let plan = run(cluster, &["-m", manifest_arg, "plan", "--exit-code"]);
    ok(&plan, "a second plan is empty");

    let after = privileges(cluster).await;
    // Roles apply created (the <schema>_owner roles) are judged through what they own: a
    // membership in one is no privilege of its own, and the objects it owns are in the
    // snapshot, so a member gaining through it would show there.
    let gained: Vec<&(String, String, String)> = after
        .iter()
        .filter(|(role, _, _)| roles_before.contains(role))
        .filter(|(_, object, _)| {
            object
                .strip_prefix("role ")
                .is_none_or(|group| roles_before.contains(group))
        })
        .filter(|held| !before.contains(*held))
        .collect();
    assert!(
        gained.is_empty(),
        "roles gained privileges: {gained:#?}\n--- manifest ---\n{text}"
    );
    text
}

#[tokio::test(flavor = "multi_thread")]
async fn a_legacy_cluster_imports_and_applies_without_new_privileges() {
    let cluster = TestCluster::start("app");
    cluster.psql_ok("app", LEGACY);
    let dir = TempDir::new("import-legacy");
    let text = round_trip(&cluster, dir.path()).await;

    // What the manifest says, decision by decision.
    for line in [
        "[services.billing]",
        "owner = \"billing_owner\"",
        "roles.billing_api = { access = \"readwrite\", member_of = [\"rds_iam\"] }",
        "roles.users_api = { access = \"owner\" }",
        "roles.shipping = { access = \"owner\" }",
        "owner = \"shipping_owner\"",
        "[shared.reference]",
        "#     { schema = \"users\", reason = \"billing_api reads users.accounts today\" },",
        "# roles.legacy = { access = \"readwrite\" }  # undecided: legacy also writes users",
        "# - legacy writes billing and users",
        "[observers.bi]",
    ] {
        assert!(text.contains(line), "missing {line:?} in\n{text}");
    }
    assert!(
        text.contains("# roles.billing_ro = { access = \"readonly\" }  # left out: readonly would add SELECT on 2 of 2 sequences"),
        "{text}"
    );

    // The boundary now holds where the manifest placed roles: billing_api keeps its own
    // schema and loses its undeclared read of users; legacy is out of both services.
    let api = cluster.connect("billing_api", "app").await;
    api.execute("INSERT INTO billing.invoices (amount) VALUES (1)", &[])
        .await
        .expect("billing_api still writes billing");
    crate::support::pg::assert_denied(
        api.query("SELECT * FROM users.accounts", &[]).await,
        "billing_api reading users after apply",
    );
    // legacy may no longer connect (PUBLIC's CONNECT is revoked); as it, nothing is written.
    let admin = cluster.superuser("app").await;
    admin
        .batch_execute("SET ROLE legacy")
        .await
        .expect("SET ROLE legacy");
    crate::support::pg::assert_denied(
        admin
            .execute("UPDATE users.accounts SET email = email", &[])
            .await,
        "legacy writing users after apply",
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn uncommenting_a_read_keeps_it_and_still_adds_nothing_new() {
    let cluster = TestCluster::start("app");
    cluster.psql_ok(
        "app",
        "
        CREATE ROLE orders_api LOGIN;
        CREATE ROLE stock_api LOGIN;
        CREATE SCHEMA orders; CREATE SCHEMA stock;
        CREATE TABLE orders.orders (id int PRIMARY KEY);
        CREATE TABLE stock.items (id int PRIMARY KEY);
        GRANT USAGE ON SCHEMA orders TO orders_api;
        GRANT SELECT, INSERT, UPDATE, DELETE ON orders.orders TO orders_api;
        GRANT USAGE ON SCHEMA stock TO stock_api, orders_api;
        GRANT SELECT, INSERT, UPDATE, DELETE ON stock.items TO stock_api;
        GRANT SELECT ON stock.items TO orders_api;
        ",
    );
    let dir = TempDir::new("import-stdout");
    let printed = run(&cluster, &["import"]);
    ok(&printed, "import to stdout");
    let text = stdout(&printed);
    let read = "#     { schema = \"stock\", reason = \"orders_api reads stock.items today\" },";
    assert!(text.contains(read), "{text}");
    // Keep the read: uncomment it with its brackets.
    let kept = text
        .replace("# reads = [", "reads = [")
        .replace(read, &read[1..])
        .replace("# ]\n", "]\n");
    let manifest = dir.path().join("services.toml");
    std::fs::write(&manifest, &kept).expect("write the manifest");
    let manifest_arg = manifest.to_str().expect("a UTF-8 temp path");
    ok(
        &run(&cluster, &["-m", manifest_arg, "apply", "--yes"]),
        "apply with the read kept",
    );
    let orders = cluster.connect("orders_api", "app").await;
    orders
        .query("SELECT * FROM stock.items", &[])
        .await
        .expect("the kept read works");
    crate::support::pg::assert_denied(
        orders.execute("DELETE FROM stock.items", &[]).await,
        "orders_api writing stock",
    );
}

#[test]
fn out_refuses_to_overwrite_without_force() {
    let dir = TempDir::new("import-force");
    let manifest = dir.path().join("services.toml");
    std::fs::write(&manifest, "keep me").expect("write");
    let manifest_arg = manifest.to_str().expect("a UTF-8 temp path");
    let output = crate::support::dbsplit(&[
        "--database-url",
        "postgres://nobody@127.0.0.1:1/app",
        "import",
        "--out",
        manifest_arg,
    ]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("exists; pass --force to overwrite it"),
        "{}",
        stderr(&output)
    );
    assert_eq!(std::fs::read_to_string(&manifest).unwrap(), "keep me");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_database_with_only_public_says_so() {
    let cluster = TestCluster::start("app");
    cluster.psql_ok("app", "CREATE TABLE public.things (id int);");
    let output = run(&cluster, &["import"]);
    assert_eq!(output.status.code(), Some(2), "{}", stdout(&output));
    assert!(
        stderr(&output).contains("database app has no schema but public: nothing to import"),
        "{}",
        stderr(&output)
    );
}

/// 200 schemas × 50 tables, each schema with a readwrite API role and a BI role reading all.
#[tokio::test(flavor = "multi_thread")]
async fn a_large_cluster_imports_quickly() {
    let cluster = TestCluster::start("app");
    cluster.psql_ok("app", "CREATE ROLE bi LOGIN");
    // Ten schemas per transaction: 500 tables and their indexes stay within the lock table.
    for first in (1..=200).step_by(10) {
        cluster.psql_ok(
            "app",
            &format!(
                "
        DO $$
        BEGIN
          FOR s IN {first}..{last} LOOP
            EXECUTE format('CREATE ROLE %I LOGIN', 's' || s || '_api');
            EXECUTE format('CREATE SCHEMA %I', 's' || s);
            FOR t IN 1..50 LOOP
              EXECUTE format('CREATE TABLE %I.%I (id int PRIMARY KEY, v text)', 's' || s, 't' || t);
            END LOOP;
            EXECUTE format('GRANT USAGE ON SCHEMA %I TO %I, bi', 's' || s, 's' || s || '_api');
            EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA %I TO %I',
                           's' || s, 's' || s || '_api');
            EXECUTE format('GRANT SELECT ON ALL TABLES IN SCHEMA %I TO bi', 's' || s);
          END LOOP;
        END $$;
        ",
                last = first + 9
            ),
        );
    }
    let mut best = Duration::MAX;
    let mut text = String::new();
    for _ in 0..3 {
        let started = Instant::now();
        let output = run(&cluster, &["import"]);
        let took = started.elapsed();
        ok(&output, "import of 10,000 tables");
        best = best.min(took);
        text = stdout(&output);
    }
    eprintln!("import of 200 schemas x 50 tables: best of 3 runs {best:?}");
    assert_eq!(text.matches("\n[services.").count(), 200);
    assert!(text.contains("roles.s17_api = { access = \"readwrite\" }"));
    assert!(text.contains("[observers.bi]\nreads = [\"*\"]"), "{text}");
    // A debug build on a machine shared with other builds: the bound leaves room. Measured
    // here: about 2.2 s to read the catalogs (1.6 s of it the roles query's pg_shdepend
    // dependents, which only prune needs) and 0.5 s to propose, render and validate.
    assert!(best < Duration::from_secs(8), "import took {best:?}");
}
