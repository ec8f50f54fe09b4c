//! `dbsplit migrate` against real servers: the manifest of tests/fixtures/migrate.toml applied
//! with the library, migration files written per test, and the binary run as each service's
//! migrator role (or the superuser, to migrate both services in one run).

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use dbsplit::apply::LOCK_CLASS;
use dbsplit::desired::desired_state;
use dbsplit::manifest::Manifest;
use dbsplit::pg::locks::service_key as lock_key;

use crate::support::converge::converge;
use crate::support::pg::TestCluster;
use crate::support::{TempDir, fixture, stderr, stdout};

const V1: &str = "20250101000000";
const V2: &str = "20250102000000";
const V3: &str = "20250103000000";

/// A cluster with the fixture manifest applied, and a folder for its migrations.
struct Setup {
    cluster: TestCluster,
    dir: TempDir,
}

impl Setup {
    async fn new() -> Setup {
        let cluster = TestCluster::start("app");
        let dir = TempDir::new("migrate");
        std::fs::copy(fixture("migrate.toml"), dir.path().join("services.toml"))
            .expect("the fixture manifest is copied");
        let manifest = Manifest::load(&dir.path().join("services.toml"))
            .expect("the fixture manifest is valid");
        let desired = desired_state(&manifest);
        let mut admin = cluster.superuser("app").await;
        converge(&mut admin, &manifest, &desired).await;
        Setup { cluster, dir }
    }

    /// Writes `migrations/<service>/<version>_<slug>.sql`.
    fn write(&self, service: &str, version: &str, slug: &str, sql: &str) -> PathBuf {
        let folder = self.dir.path().join("migrations").join(service);
        std::fs::create_dir_all(&folder).expect("the migrations folder is made");
        let path = folder.join(format!("{version}_{slug}.sql"));
        std::fs::write(&path, sql).expect("the migration is written");
        path
    }

    /// Runs dbsplit with this setup's manifest, logged in as `user`.
    fn dbsplit(&self, user: &str, args: &[&str]) -> Output {
        let url = self.cluster.server.connection_string(user, "app");
        dbsplit_in(self.dir.path(), Some(&url), args)
    }

    /// One value of a query as the superuser, as text ("" for no row).
    fn query(&self, sql: &str) -> String {
        let output = self
            .cluster
            .server
            .psql("app")
            .args(["-tAc", sql])
            .output()
            .expect("psql runs");
        assert!(output.status.success(), "{sql}: {output:?}");
        String::from_utf8_lossy(&output.stdout).trim().to_string()
    }

    fn history(&self, schema: &str) -> String {
        self.query(&format!(
            "SELECT string_agg(version || ' ' || success || ' ' || applied_as, ', ' ORDER BY version) FROM {schema}.dbsplit_migrations"
        ))
    }
}

/// The two halves of a barrier: a migration with `barrier(First)` and one with
/// `barrier(Second)` both pass only when they run at the same time; alone, either fails after
/// 60 s. Advisory locks are cluster-wide and need no privilege. The first holds lock 1 and
/// waits until lock 2 is held, then queues for lock 2; the second holds lock 2, waits until
/// lock 1 is held and someone queues for lock 2, then lets it go. Every condition waited for
/// lasts until the other side acts on it, so neither side can miss the other.
fn barrier(side: Side) -> String {
    let wait = |condition: &str| {
        format!(
            "met := false;
    FOR i IN 1..1200 LOOP
        met := EXISTS (SELECT FROM pg_catalog.pg_locks WHERE locktype = 'advisory'
                       AND classid = 4242 AND objsubid = 2 AND {condition});
        EXIT WHEN met;
        PERFORM pg_catalog.pg_sleep(0.05);
    END LOOP;
    IF NOT met THEN RAISE EXCEPTION 'barrier: no other migration reached it'; END IF;"
        )
    };
    let steps = match side {
        Side::First => format!(
            "PERFORM pg_catalog.pg_advisory_lock(4242, 1);
    {}
    PERFORM pg_catalog.pg_advisory_lock(4242, 2);
    PERFORM pg_catalog.pg_advisory_unlock(4242, 2);
    PERFORM pg_catalog.pg_advisory_unlock(4242, 1);",
            wait("objid = 2 AND granted")
        ),
        Side::Second => format!(
            "PERFORM pg_catalog.pg_advisory_lock(4242, 2);
    {}
    {}
    PERFORM pg_catalog.pg_advisory_unlock(4242, 2);",
            wait("objid = 1 AND granted"),
            wait("objid = 2 AND NOT granted")
        ),
    };
    format!("DO $$\nDECLARE met boolean;\nBEGIN\n    {steps}\nEND\n$$;\n")
}

#[derive(Clone, Copy)]
enum Side {
    First,
    Second,
}

/// Asserts that `text` contains `part`, showing the text when it does not.
fn assert_has(text: &str, part: &str) {
    assert!(text.contains(part), "expected {part:?} in:\n{text}");
}

fn assert_code(output: &Output, code: i32) {
    assert_eq!(
        output.status.code(),
        Some(code),
        "stdout:\n{}\nstderr:\n{}",
        stdout(output),
        stderr(output)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn services_migrate_concurrently_as_their_owner_and_a_rerun_is_a_no_op() {
    let setup = Setup::new().await;
    // Each service's first migration waits at a barrier for the other's: run one after the
    // other, the first would wait for a service that has not started and fail.
    setup.write(
        "billing",
        V1,
        "invoices",
        &format!(
            "{}create table invoices (id bigserial primary key, amount numeric);\n",
            barrier(Side::First)
        ),
    );
    setup.write(
        "billing",
        V2,
        "invoice_lines",
        "create table lines (id bigint references invoices (id));\ninsert into invoices (amount) values (1);\n",
    );
    setup.write(
        "monolith",
        V1,
        "customers",
        &format!(
            "{}create table customers (id bigint primary key);\n",
            barrier(Side::Second)
        ),
    );
    let output = setup.dbsplit("postgres", &["migrate", "--trust-migrations"]);
    assert_code(&output, 0);
    let text = stdout(&output);
    for line in [
        "billing: applied 20250101000000_invoices.sql",
        "billing: applied 20250102000000_invoice_lines.sql",
        "monolith: applied 20250101000000_customers.sql",
        "billing: 2 migrations applied",
        "monolith: 1 migration applied",
    ] {
        assert!(text.contains(line), "{line}\n{text}");
    }
    assert_eq!(
        setup.history("billing"),
        "20250101000000 true billing_owner, 20250102000000 true billing_owner"
    );
    // The guard of the trusted run lived in each file's transaction only.
    assert_eq!(
        setup.query("SELECT count(*) FROM pg_proc WHERE proname = 'dbsplit_migration_step'"),
        "0"
    );
    assert_eq!(
        setup.query(
            "SELECT string_agg(c.relname || ':' || pg_get_userbyid(c.relowner), ' ' ORDER BY c.relname) FROM pg_class c WHERE c.relnamespace = 'billing'::regnamespace AND c.relkind = 'r'"
        ),
        "dbsplit_migrations:billing_owner invoices:billing_owner lines:billing_owner"
    );
    // The owner's default privileges reached the new tables: the service's own role can use them.
    let rw = setup.cluster.connect("billing_rw", "app").await;
    rw.execute("INSERT INTO invoices (amount) VALUES (2)", &[])
        .await
        .unwrap();
    // The history is the owner's alone, and plan agrees that this is how it should be.
    crate::support::pg::assert_denied(
        rw.execute("DELETE FROM dbsplit_migrations", &[]).await,
        "billing_rw rewrites the migration history",
    );
    let plan = setup.dbsplit("postgres", &["plan", "--exit-code"]);
    assert_code(&plan, 0);

    let again = setup.dbsplit("postgres", &["migrate", "--trust-migrations"]);
    assert_code(&again, 0);
    assert_eq!(
        stdout(&again).lines().collect::<Vec<_>>(),
        ["monolith: up to date", "billing: up to date"]
    );

    // A service's own migrator role migrates it; another service's is refused before anything runs.
    setup.write(
        "billing",
        V3,
        "note",
        "alter table invoices add note text;\n",
    );
    let foreign = setup.dbsplit("monolith_migrator", &["migrate", "billing"]);
    assert_code(&foreign, 2);
    assert_has(
        &stderr(&foreign),
        "error: billing: login role `monolith_migrator` is not a member of `billing_owner`",
    );
    let own = setup.dbsplit("billing_migrator", &["migrate", "billing"]);
    assert_code(&own, 0);
    assert_has(&stdout(&own), "billing: applied 20250103000000_note.sql");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_migration_rolls_back_only_itself() {
    let setup = Setup::new().await;
    setup.write("billing", V1, "one", "create table one (id int);\n");
    setup.write(
        "billing",
        V2,
        "two",
        "create table two (id int);\n\nselect 1 / 0;\n",
    );
    setup.write("billing", V3, "three", "create table three (id int);\n");
    setup.write("monolith", V1, "a", "create table a (id int);\n");
    setup.write("monolith", V2, "b", "create table b (id int);\n");
    let output = setup.dbsplit("postgres", &["migrate", "--trust-migrations"]);
    assert_code(&output, 2);
    let message = stderr(&output);
    assert!(
        message.contains("20250102000000_two.sql:3: division by zero (SQLSTATE 22012); the migration was rolled back"),
        "{message}"
    );
    assert_eq!(
        setup.history("billing"),
        "20250101000000 true billing_owner"
    );
    assert_eq!(
        setup.query("SELECT string_agg(relname, ' ' ORDER BY relname) FROM pg_class WHERE relnamespace = 'billing'::regnamespace AND relkind = 'r'"),
        "dbsplit_migrations one"
    );
    assert_eq!(
        setup.history("monolith"),
        "20250101000000 true monolith_owner, 20250102000000 true monolith_owner"
    );
    assert_has(&stdout(&output), "monolith: 2 migrations applied");
}

#[tokio::test(flavor = "multi_thread")]
async fn changed_and_missing_files_are_refused_before_anything_runs() {
    let setup = Setup::new().await;
    let one = setup.write("billing", V1, "one", "create table one (id int);\n");
    let output = setup.dbsplit("billing_migrator", &["migrate"]);
    assert_code(&output, 2);
    // monolith_owner is out of reach of billing_migrator; billing migrated all the same.
    assert_has(
        &stderr(&output),
        "error: monolith: login role `billing_migrator`",
    );
    assert_eq!(
        setup.history("billing"),
        "20250101000000 true billing_owner"
    );

    std::fs::write(&one, "create table one (id bigint);\n").unwrap();
    setup.write("billing", V2, "two", "create table two (id int);\n");
    let tampered = setup.dbsplit("billing_migrator", &["migrate", "billing"]);
    assert_code(&tampered, 2);
    assert_has(
        &stderr(&tampered),
        "migration 20250101000000_one.sql changed after it was applied",
    );
    assert_eq!(
        setup.query("SELECT to_regclass('billing.two') IS NULL"),
        "t"
    );

    std::fs::remove_file(&one).unwrap();
    let missing = setup.dbsplit("billing_migrator", &["migrate", "billing"]);
    assert_code(&missing, 2);
    assert_has(
        &stderr(&missing),
        "migration 20250101000000_one.sql was applied but its file is missing",
    );
    assert_eq!(
        setup.query("SELECT to_regclass('billing.two') IS NULL"),
        "t"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn no_transaction_migrations_run_concurrently_built_indexes_and_stay_dirty_on_failure() {
    let setup = Setup::new().await;
    setup.write(
        "billing",
        V1,
        "table",
        "create table t (a int);\ninsert into t values (1), (1);\n",
    );
    setup.write(
        "billing",
        V2,
        "index",
        "-- dbsplit:no-transaction\ncreate index concurrently if not exists t_a on t (a);\n",
    );
    let output = setup.dbsplit("billing_migrator", &["migrate", "billing"]);
    assert_code(&output, 0);
    assert_eq!(
        setup.history("billing"),
        "20250101000000 true billing_owner, 20250102000000 true billing_owner"
    );
    assert_eq!(
        setup.query("SELECT indisvalid FROM pg_index WHERE indexrelid = 'billing.t_a'::regclass"),
        "t"
    );

    setup.write(
        "billing",
        V3,
        "unique",
        "-- dbsplit:no-transaction\ncreate unique index concurrently if not exists t_a_unique on t (a);\n",
    );
    let failed = setup.dbsplit("billing_migrator", &["migrate", "billing"]);
    assert_code(&failed, 2);
    let message = stderr(&failed);
    assert!(
        message.contains("20250103000000_unique.sql:2: could not create unique index"),
        "{message}"
    );
    assert!(
        message.contains("is left dirty in billing.dbsplit_migrations: fix the database by hand, then run `dbsplit migrate resolve billing 20250103000000`"),
        "{message}"
    );
    assert!(
        setup
            .history("billing")
            .ends_with("20250103000000 false billing_owner")
    );

    let blocked = setup.dbsplit("billing_migrator", &["migrate", "billing"]);
    assert_code(&blocked, 2);
    assert_has(
        &stderr(&blocked),
        "migration 20250103000000_unique.sql is dirty",
    );
    let status = setup.dbsplit("billing_migrator", &["migrate", "status", "billing"]);
    assert_code(&status, 0);
    assert_has(&stdout(&status), "dirty: 20250103000000_unique.sql");

    // Fixed by hand; then resolved.
    setup.query("DROP INDEX billing.t_a_unique");
    let resolved = setup.dbsplit("billing_migrator", &["migrate", "resolve", "billing", V3]);
    assert_code(&resolved, 0);
    assert_eq!(
        stdout(&resolved).trim(),
        "billing: marked 20250103000000_unique.sql as applied"
    );
    let again = setup.dbsplit("billing_migrator", &["migrate", "resolve", "billing", V3]);
    assert_code(&again, 2);
    assert_has(
        &stderr(&again),
        "`billing` has no dirty migration 20250103000000",
    );
    let clean = setup.dbsplit("billing_migrator", &["migrate", "billing"]);
    assert_code(&clean, 0);
    assert_eq!(stdout(&clean).trim(), "billing: up to date");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_database_refuses_another_schema_even_without_lint() {
    let setup = Setup::new().await;
    setup.write(
        "monolith",
        V1,
        "customers",
        "create table customers (id bigint primary key);\n",
    );
    assert_code(
        &setup.dbsplit("postgres", &["migrate", "--trust-migrations", "monolith"]),
        0,
    );
    setup.write(
        "billing",
        V1,
        "link",
        "create table invoices (\n  customer bigint references monolith.customers (id)\n);\n",
    );
    let linted = setup.dbsplit("billing_migrator", &["migrate", "billing"]);
    assert_code(&linted, 1);
    assert_has(&stdout(&linted), "cross-schema-fk");
    assert_has(&stderr(&linted), "pass --no-lint");
    assert_eq!(
        setup.query("SELECT to_regclass('billing.dbsplit_migrations') IS NULL"),
        "t"
    );

    let refused = setup.dbsplit("billing_migrator", &["migrate", "billing", "--no-lint"]);
    assert_code(&refused, 2);
    assert_has(
        &stderr(&refused),
        "20250101000000_link.sql:1: permission denied for schema monolith (SQLSTATE 42501); the migration was rolled back",
    );
    assert_eq!(setup.history("billing"), "");
}

#[tokio::test(flavor = "multi_thread")]
async fn reset_role_in_a_migration_aborts_the_run() {
    let setup = Setup::new().await;
    setup.write(
        "billing",
        V1,
        "escape",
        "reset role;\ncreate table mine (id int);\n",
    );
    setup.write("billing", V2, "after", "create table after (id int);\n");
    let output = setup.dbsplit("billing_migrator", &["migrate", "billing", "--no-lint"]);
    assert_code(&output, 2);
    assert_has(
        &stderr(&output),
        "20250101000000_escape.sql changed the session to role `billing_migrator`",
    );
    assert_eq!(
        setup.query(
            "SELECT to_regclass('billing.mine') IS NULL AND to_regclass('billing.after') IS NULL"
        ),
        "t"
    );
    assert_eq!(setup.history("billing"), "");

    // Copied data and psql meta-commands are refused even without lint, with their place.
    std::fs::remove_file(
        setup
            .dir
            .path()
            .join("migrations/billing/20250101000000_escape.sql"),
    )
    .unwrap();
    setup.write(
        "billing",
        V1,
        "copy",
        "create table c (a int);\ncopy c from stdin;\n1\n\\.\n",
    );
    let copy = setup.dbsplit("billing_migrator", &["migrate", "billing", "--no-lint"]);
    assert_code(&copy, 1);
    assert_has(&stdout(&copy), "20250101000000_copy.sql:2:1");
    assert_has(&stdout(&copy), "copy-from-stdin");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_login_that_could_leave_the_owner_role_is_refused_unless_trusted() {
    let setup = Setup::new().await;
    setup.write("billing", V1, "one", "create table one (id int);\n");
    let nothing_ran = || {
        assert_eq!(
            setup.query(
                "SELECT to_regclass('billing.dbsplit_migrations') IS NULL AND to_regclass('billing.one') IS NULL"
            ),
            "t"
        );
    };

    let superuser = setup.dbsplit("postgres", &["migrate", "billing"]);
    assert_code(&superuser, 2);
    assert_has(
        &stderr(&superuser),
        "error: billing: login role `postgres` is a superuser: a migration run through it could leave `billing_owner` (RESET ROLE, or SET ROLE in a DO block) and act as that; log in as `billing_migrator`, the migrator of `billing` (`access = \"owner\"`), or pass --trust-migrations",
    );
    nothing_ran();
    // A dry run says so too, before the real run would.
    let dry = setup.dbsplit("postgres", &["migrate", "billing", "--dry-run"]);
    assert_code(&dry, 2);
    assert_has(&stderr(&dry), "is a superuser");

    // An operator who may become every service's owner, and a migrator that reads everything.
    setup.query(
        "CREATE ROLE ops LOGIN; GRANT billing_owner, monolith_owner TO ops; GRANT CONNECT ON DATABASE app TO ops",
    );
    let ops = setup.dbsplit("ops", &["migrate", "billing"]);
    assert_code(&ops, 2);
    assert_has(
        &stderr(&ops),
        "login role `ops` can SET ROLE to `monolith_owner`: a migration run through it could leave `billing_owner`",
    );
    setup.query("GRANT pg_read_all_data TO billing_migrator");
    let wide = setup.dbsplit("billing_migrator", &["migrate", "billing"]);
    assert_code(&wide, 2);
    assert_has(&stderr(&wide), "can SET ROLE to `pg_read_all_data`");
    nothing_ran();

    // Harmless predefined roles do not count; the migrator login needs no flag.
    setup.query(
        "REVOKE pg_read_all_data FROM billing_migrator; GRANT pg_monitor TO billing_migrator",
    );
    let migrator = setup.dbsplit("billing_migrator", &["migrate", "billing"]);
    assert_code(&migrator, 0);
    assert_eq!(
        setup.history("billing"),
        "20250101000000 true billing_owner"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn trusted_migrations_cannot_leave_the_owner_role_even_for_a_moment() {
    let setup = Setup::new().await;
    setup.write(
        "monolith",
        V1,
        "customers",
        "create table customers (id bigint primary key);\ninsert into customers values (1);\n",
    );
    assert_code(
        &setup.dbsplit("monolith_migrator", &["migrate", "monolith"]),
        0,
    );
    let customers = || setup.query("SELECT string_agg(id::text, ',') FROM monolith.customers");
    let escape = setup.write(
        "billing",
        V1,
        "escape",
        "create table mine (id int);\n\
         DO $$ BEGIN\n\
           EXECUTE 'RESET ROLE';\n\
           EXECUTE 'INSERT INTO monolith.customers VALUES (666)';\n\
           EXECUTE 'SET ROLE billing_owner';\n\
         END $$;\n\
         create table after (id int);\n",
    );
    let args = ["migrate", "billing", "--trust-migrations", "--no-lint"];
    let output = setup.dbsplit("postgres", &args);
    assert_code(&output, 2);
    assert_has(
        &stderr(&output),
        "20250101000000_escape.sql:2: cannot set parameter \"role\" within security-definer function (SQLSTATE 42501): migrations must not leave the owner role; the migration was rolled back",
    );
    assert_eq!(customers(), "1");
    assert_eq!(setup.history("billing"), "");
    assert_eq!(
        setup.query(
            "SELECT to_regclass('billing.mine') IS NULL AND to_regclass('billing.after') IS NULL"
        ),
        "t"
    );

    // The server's programs are out of reach too, and so they are without a transaction.
    let marker = std::env::temp_dir().join(format!("dbsplit-escaped-{}", std::process::id()));
    std::fs::write(
        &escape,
        format!(
            "-- dbsplit:no-transaction\n\
             DO $$ BEGIN EXECUTE 'RESET ROLE'; EXECUTE 'COPY (SELECT 1) TO PROGRAM ''touch {}'''; END $$;\n\
             create table after (id int);\n",
            marker.display()
        ),
    )
    .unwrap();
    let output = setup.dbsplit("postgres", &args);
    assert_code(&output, 2);
    assert_has(
        &stderr(&output),
        "20250101000000_escape.sql:2: cannot set parameter \"role\" within security-definer function",
    );
    assert!(
        !marker.exists(),
        "the migration ran a program on the server"
    );
    assert_eq!(
        setup.history("billing"),
        "20250101000000 false billing_owner"
    );
    assert_eq!(
        setup.query("SELECT to_regclass('billing.after') IS NULL"),
        "t"
    );

    // A statement that replaces the guard is stopped before the next one runs through it.
    setup.query("DELETE FROM billing.dbsplit_migrations");
    std::fs::write(
        &escape,
        "CREATE OR REPLACE FUNCTION dbsplit_migration_step(statement text) RETURNS void\n\
           LANGUAGE plpgsql AS $$ BEGIN EXECUTE statement; END $$;\n\
         DO $$ BEGIN EXECUTE 'RESET ROLE'; EXECUTE 'INSERT INTO monolith.customers VALUES (667)'; END $$;\n",
    )
    .unwrap();
    let output = setup.dbsplit("postgres", &args);
    assert_code(&output, 2);
    assert_has(
        &stderr(&output),
        "20250101000000_escape.sql replaced or dropped dbsplit's guard function",
    );
    assert_eq!(customers(), "1");
    assert_eq!(setup.history("billing"), "");
}

#[tokio::test(flavor = "multi_thread")]
async fn notices_and_warnings_reach_the_user_with_the_service() {
    let setup = Setup::new().await;
    setup.write(
        "billing",
        V1,
        "noisy",
        "DO $$ BEGIN RAISE NOTICE 'backfilled % rows', 3; RAISE WARNING 'slow' USING DETAIL = 'took long', HINT = 'batch it'; END $$;\n\
         REVOKE SELECT ON pg_catalog.pg_class FROM PUBLIC;\n",
    );
    let output = setup.dbsplit("billing_migrator", &["migrate", "billing"]);
    assert_code(&output, 0);
    let text = stderr(&output);
    assert_has(&text, "billing: NOTICE:  backfilled 3 rows\n");
    assert_has(
        &text,
        "billing: WARNING:  slow\nDETAIL:  took long\nHINT:  batch it\n",
    );
    assert_has(
        &text,
        "billing: WARNING:  no privileges could be revoked for \"pg_class\"\n",
    );
    // dbsplit's own statements say nothing: a run with nothing to do is quiet.
    let again = setup.dbsplit("billing_migrator", &["migrate", "billing"]);
    assert_code(&again, 0);
    assert!(!stderr(&again).contains("NOTICE"), "{}", stderr(&again));
}

#[tokio::test(flavor = "multi_thread")]
async fn statements_too_deep_for_the_parser_are_warned_about_and_left_to_the_server() {
    let setup = Setup::new().await;
    let terms = 150_000;
    setup.write(
        "billing",
        V1,
        "wide_or",
        &format!(
            "create table t (id int);\nselect 1 from t where {};\n",
            vec!["id = 1"; terms].join(" or ")
        ),
    );
    setup.write(
        "billing",
        V2,
        "long_sum",
        &format!("select {};\n", vec!["1"; terms].join(" + ")),
    );
    let output = setup.dbsplit("billing_migrator", &["migrate", "billing"]);
    // The server takes the OR (it flattens it) and refuses the sum with its own clear error.
    assert_code(&output, 2);
    assert_has(&stderr(&output), "lint: 3 warnings");
    assert_has(
        &stdout(&output),
        "billing: applied 20250101000000_wide_or.sql",
    );
    assert_has(
        &stderr(&output),
        "20250102000000_long_sum.sql:1: stack depth limit exceeded (SQLSTATE 54001)",
    );
    assert_eq!(
        setup.history("billing"),
        "20250101000000 true billing_owner"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_migrate_of_a_service_waits_for_the_lock_then_gives_up() {
    let setup = Setup::new().await;
    setup.write("billing", V1, "one", "create table one (id int);\n");
    let holder = setup.cluster.superuser("app").await;
    let pid: i32 = holder
        .query_one("SELECT pg_backend_pid()", &[])
        .await
        .unwrap()
        .get(0);
    holder
        .execute(
            "SELECT pg_advisory_lock($1, $2)",
            &[&LOCK_CLASS, &lock_key("billing")],
        )
        .await
        .unwrap();
    setup.write("monolith", V1, "one", "create table one (id int);\n");
    let output = setup.dbsplit(
        "postgres",
        &["migrate", "--trust-migrations", "--lock-timeout", "700ms"],
    );
    assert_code(&output, 2);
    let message = stderr(&output);
    assert!(
        message.contains(&format!(
            "billing: waiting for the migration lock held by pid {pid}"
        )),
        "{message}"
    );
    assert!(
        message.contains(&format!(
            "error: billing: another session holds the migration lock of `billing` (pid {pid}); gave up after 700ms"
        )),
        "{message}"
    );
    // The other service has its own lock.
    assert_has(&stdout(&output), "monolith: 1 migration applied");

    holder
        .execute(
            "SELECT pg_advisory_unlock($1, $2)",
            &[&LOCK_CLASS, &lock_key("billing")],
        )
        .await
        .unwrap();
    assert_code(
        &setup.dbsplit("postgres", &["migrate", "--trust-migrations", "billing"]),
        0,
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn dry_run_lists_pending_files_and_changes_nothing() {
    let setup = Setup::new().await;
    setup.write("billing", V1, "one", "create table one (id int);\n");
    setup.write(
        "billing",
        V2,
        "index",
        "-- dbsplit:no-transaction\ncreate index concurrently if not exists one_id on one (id);\n",
    );
    let output = setup.dbsplit("billing_migrator", &["migrate", "billing", "--dry-run"]);
    assert_code(&output, 0);
    insta::assert_snapshot!(stdout(&output), @r"
    billing: would apply 20250101000000_one.sql
    billing: would apply 20250102000000_index.sql (no-transaction)
    billing: 2 migrations would run
    ");
    assert_eq!(
        setup.query("SELECT count(*) FROM pg_class WHERE relnamespace = 'billing'::regnamespace"),
        "0"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn status_shows_applied_pending_and_the_last_applied() {
    let setup = Setup::new().await;
    setup.write("billing", V1, "one", "create table one (id int);\n");
    setup.write("billing", V2, "two", "create table two (id int);\n");
    setup.write("monolith", V1, "one", "create table one (id int);\n");
    assert_code(
        &setup.dbsplit("postgres", &["migrate", "--trust-migrations"]),
        0,
    );
    setup.write("billing", V3, "three", "create table three (id int);\n");
    let output = setup.dbsplit("postgres", &["migrate", "status"]);
    assert_code(&output, 0);
    let text = stdout(&output);
    insta::assert_snapshot!(redact_timestamps(&text), @r"
    ┌──────────┬─────────┬─────────┬───────────────────────────────────────────────────┬────────────┐
    │ service  ┆ applied ┆ pending ┆ last applied                                      ┆ state      │
    ╞══════════╪═════════╪═════════╪═══════════════════════════════════════════════════╪════════════╡
    │ monolith ┆ 1       ┆ 0       ┆ 20250101000000_one.sql at YYYY-MM-DD HH:MM:SS UTC ┆ up to date │
    │ billing  ┆ 2       ┆ 1       ┆ 20250102000000_two.sql at YYYY-MM-DD HH:MM:SS UTC ┆ pending    │
    └──────────┴─────────┴─────────┴───────────────────────────────────────────────────┴────────────┘
    ");
    assert_code(
        &setup.dbsplit("postgres", &["migrate", "status", "--exit-code"]),
        1,
    );
    let json = setup.dbsplit("postgres", &["migrate", "status", "--format", "json"]);
    assert_code(&json, 0);
    let json: serde_json::Value =
        serde_json::from_str(&redact_timestamps(&stdout(&json))).expect("valid JSON");
    insta::assert_json_snapshot!(json["services"][1], @r#"
    {
      "applied": 2,
      "last_applied": "20250102000000_two.sql",
      "last_applied_at": "YYYY-MM-DD HH:MM:SS",
      "pending": 1,
      "problems": [],
      "service": "billing",
      "state": "pending"
    }
    "#);

    // A migrator sees its own service (as the owner, even without inheriting its privileges),
    // and is told which histories it may not read.
    setup.query("ALTER ROLE billing_migrator NOINHERIT");
    let own = setup.dbsplit(
        "billing_migrator",
        &["migrate", "status", "--format", "json"],
    );
    assert_code(&own, 0);
    let own: serde_json::Value = serde_json::from_str(&stdout(&own)).expect("valid JSON");
    let states: Vec<(&str, &str)> = own["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["service"].as_str().unwrap(), s["state"].as_str().unwrap()))
        .collect();
    assert_eq!(states, [("monolith", "unreadable"), ("billing", "pending")]);
    assert_eq!(
        own["services"][0]["problems"][0]["message"],
        "login role `billing_migrator` may not read monolith.dbsplit_migrations; log in as the service's migrator"
    );
    assert_code(
        &setup.dbsplit("billing_migrator", &["migrate", "billing"]),
        0,
    );
    let settled = setup.dbsplit(
        "billing_migrator",
        &["migrate", "status", "billing", "--exit-code"],
    );
    assert_code(&settled, 0);
    assert_has(&stdout(&settled), "up to date");
}

/// Replaces each `YYYY-MM-DD HH:MM:SS` with a placeholder of the same width.
fn redact_timestamps(text: &str) -> String {
    let is_timestamp = |s: &str| {
        s.len() == 19
            && s.bytes().enumerate().all(|(k, b)| match k {
                4 | 7 => b == b'-',
                10 => b == b' ',
                13 | 16 => b == b':',
                _ => b.is_ascii_digit(),
            })
    };
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if rest.get(..19).is_some_and(is_timestamp) {
            out.push_str("YYYY-MM-DD HH:MM:SS");
            rest = &rest[19..];
        } else {
            out.push(c);
            rest = &rest[c.len_utf8()..];
        }
    }
    out
}

/// Runs dbsplit in `dir` (with its services.toml), stdin not a terminal, connecting to `url`.
fn dbsplit_in(dir: &std::path::Path, url: Option<&str>, args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_dbsplit"));
    command
        .current_dir(dir)
        .args(args)
        .env("NO_COLOR", "1")
        .env_remove("DBSPLIT_MANIFEST")
        .env_remove("DATABASE_URL")
        .env_remove("PGPASSWORD")
        .stdin(Stdio::null());
    if let Some(url) = url {
        command.env("DATABASE_URL", url);
    }
    command.output().expect("dbsplit runs")
}

fn init_in(dir: &std::path::Path, args: &[&str]) -> Output {
    dbsplit_in(dir, None, args)
}

#[test]
fn init_without_a_terminal_takes_flags_and_never_overwrites_without_force() {
    let dir = TempDir::new("init");
    let refused = init_in(dir.path(), &["init", "--service", "billing"]);
    assert_code(&refused, 2);
    assert_has(
        &stderr(&refused),
        "refusing to guess without a terminal: pass --service NAME (repeatable) and --yes",
    );
    let none = init_in(dir.path(), &["init", "--yes"]);
    assert_code(&none, 2);
    assert_has(&stderr(&none), "name the services with --service NAME");
    assert!(!dir.path().join("services.toml").exists());

    let args = [
        "init",
        "--service",
        "billing",
        "--service",
        "monolith",
        "--database",
        "shop",
        "--yes",
    ];
    let written = init_in(dir.path(), &args);
    assert_code(&written, 0);
    let text = stdout(&written);
    assert!(
        text.starts_with("wrote services.toml\nwrote migrations/billing/"),
        "{text}"
    );
    let manifest = Manifest::load(&dir.path().join("services.toml")).expect("a valid manifest");
    assert_eq!(manifest.database.name, "shop");
    let roles: Vec<String> = manifest
        .services
        .iter()
        .flat_map(|s| {
            s.roles
                .iter()
                .map(|r| format!("{}={}", r.name, r.access.as_str()))
        })
        .collect();
    assert_eq!(
        roles,
        [
            "billing_rw=readwrite",
            "billing_migrator=owner",
            "monolith_rw=readwrite",
            "monolith_migrator=owner"
        ]
    );
    // The first migrations and their sums are in place: lint is clean.
    let lint = init_in(dir.path(), &["lint"]);
    assert_code(&lint, 0);

    let again = init_in(dir.path(), &args);
    assert_code(&again, 2);
    assert_has(
        &stderr(&again),
        "services.toml exists; pass --force to overwrite it",
    );
    let forced = init_in(
        dir.path(),
        &["init", "--service", "billing", "--yes", "--force"],
    );
    assert_code(&forced, 0);
    assert_has(
        &stdout(&forced),
        "kept migrations/billing: it has migrations already",
    );
    let manifest = Manifest::load(&dir.path().join("services.toml")).expect("a valid manifest");
    assert_eq!(manifest.services.len(), 1);

    let bad = init_in(
        dir.path(),
        &["init", "--service", "pg_x", "--yes", "--force"],
    );
    assert_code(&bad, 2);
    assert_has(&stderr(&bad), "the answers do not make a valid manifest");
}
