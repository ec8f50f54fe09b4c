//! Privileges against real servers: declared reads reach the owner role (so migrations can
//! build views over what the service reads), the migration history stays the owner's alone,
//! default privileges that reach across services are planned away, `--prune` touches only the
//! roles of this database, and the roles `revoke_public_connect` cuts off are named.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use crate::support::pg::{TestCluster, assert_denied};
use crate::support::{TempDir, stderr, stdout};

/// Two services, a shared schema billing reads, and an observer that reads everything.
const MANIFEST: &str = r#"
version = 1

[database]
name = "app"
public_schema = "lockdown"
revoke_public_connect = true
migrations_dir = "migrations"

[services.monolith]
roles.monolith_rw = { access = "readwrite" }
roles.monolith_migrator = { access = "owner" }

[services.billing]
roles.billing_rw = { access = "readwrite" }
roles.billing_migrator = { access = "owner" }
reads = [{ schema = "reference", reason = "currency codes" }]

[shared.reference]
owner = "reference_owner"

[observers.warehouse]
reads = ["*"]
reason = "nightly export"
login = true
"#;

const V1: &str = "20250101000000";

/// A cluster, a folder holding the manifest and its migrations.
struct Setup {
    cluster: TestCluster,
    dir: TempDir,
}

impl Setup {
    fn new(manifest: &str) -> Setup {
        let cluster = TestCluster::start("app");
        let dir = TempDir::new("privileges");
        std::fs::write(dir.path().join("services.toml"), manifest).expect("manifest written");
        Setup { cluster, dir }
    }

    /// Runs dbsplit in the manifest's folder, logged in as `user`.
    fn dbsplit(&self, user: &str, args: &[&str]) -> Output {
        let url = self.cluster.server.connection_string(user, "app");
        run_in(self.dir.path(), &url, args)
    }

    /// `apply --yes` as the superuser; panics when it fails.
    fn apply(&self, extra: &[&str]) -> String {
        let mut args = vec!["apply", "--yes"];
        args.extend(extra);
        let output = self.dbsplit("postgres", &args);
        assert_eq!(output.status.code(), Some(0), "apply: {output:?}");
        stdout(&output)
    }

    /// `plan --exit-code` as the superuser: the output and the exit code.
    fn plan(&self, extra: &[&str]) -> (String, Option<i32>) {
        let mut args = vec!["plan", "--exit-code"];
        args.extend(extra);
        let output = self.dbsplit("postgres", &args);
        (
            format!("{}{}", stdout(&output), stderr(&output)),
            output.status.code(),
        )
    }

    fn write_migration(&self, service: &str, version: &str, slug: &str, sql: &str) {
        let folder = self.dir.path().join("migrations").join(service);
        std::fs::create_dir_all(&folder).expect("migrations folder");
        std::fs::write(folder.join(format!("{version}_{slug}.sql")), sql).expect("migration");
    }

    /// `migrate --service SERVICE` as the service's migrator; panics when it fails.
    fn migrate(&self, service: &str) {
        let migrator = format!("{service}_migrator");
        let output = self.dbsplit(&migrator, &["migrate", service]);
        assert_eq!(output.status.code(), Some(0), "migrate: {output:?}");
    }
}

fn run_in(dir: &Path, url: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dbsplit"))
        .current_dir(dir)
        .args(args)
        .env("NO_COLOR", "1")
        .env("DATABASE_URL", url)
        .env_remove("DBSPLIT_MANIFEST")
        .env_remove("PGPASSWORD")
        .stdin(Stdio::null())
        .output()
        .expect("dbsplit runs")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_migration_builds_a_view_over_a_declared_read_and_the_owner_still_cannot_write_it() {
    let setup = Setup::new(MANIFEST);
    // A table that exists when apply runs, and one created after it (default privileges).
    setup.cluster.psql_ok(
        "app",
        "CREATE ROLE reference_owner NOLOGIN; CREATE SCHEMA reference AUTHORIZATION reference_owner;
         SET ROLE reference_owner; CREATE TABLE reference.countries (code text PRIMARY KEY);
         INSERT INTO reference.countries VALUES ('FR'); RESET ROLE;",
    );
    setup.apply(&[]);
    setup.cluster.psql_ok(
        "app",
        "SET ROLE reference_owner; CREATE TABLE reference.currencies (code text PRIMARY KEY);
         INSERT INTO reference.currencies VALUES ('EUR'); RESET ROLE;",
    );
    setup.write_migration(
        "billing",
        V1,
        "codes",
        "CREATE VIEW billing.codes AS
           SELECT code FROM reference.currencies UNION ALL SELECT code FROM reference.countries;",
    );
    setup.migrate("billing");

    let rw = setup.cluster.connect("billing_rw", "app").await;
    let codes = rw
        .query("SELECT code FROM codes ORDER BY 1", &[])
        .await
        .expect("billing_rw reads the view");
    assert_eq!(codes.len(), 2);

    let owner = setup.cluster.connect("billing_migrator", "app").await;
    owner
        .batch_execute("SET ROLE billing_owner")
        .await
        .expect("the migrator becomes the owner");
    owner
        .query("SELECT * FROM reference.currencies", &[])
        .await
        .expect("the owner reads the declared read");
    assert_denied(
        owner
            .execute("INSERT INTO reference.currencies VALUES ('USD')", &[])
            .await,
        "billing_owner writes reference",
    );
    assert_denied(
        owner
            .execute("CREATE TABLE reference.mine (id int)", &[])
            .await,
        "billing_owner creates in reference",
    );
    assert_denied(
        owner.execute("DELETE FROM reference.countries", &[]).await,
        "billing_owner deletes from reference",
    );
    let monolith = setup.cluster.connect("monolith_migrator", "app").await;
    monolith
        .batch_execute("SET ROLE monolith_owner")
        .await
        .unwrap();
    assert_denied(
        monolith
            .query("SELECT * FROM reference.currencies", &[])
            .await,
        "monolith_owner, which declares no read, reads reference",
    );
    let (plan, code) = setup.plan(&[]);
    assert_eq!(code, Some(0), "{plan}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_history_table_stays_the_owners_and_plan_is_empty_after_the_first_migrate() {
    let setup = Setup::new(MANIFEST);
    setup.apply(&[]);
    setup.write_migration(
        "billing",
        V1,
        "invoices",
        "CREATE TABLE billing.invoices (id bigserial PRIMARY KEY, amount numeric);",
    );
    setup.migrate("billing");
    let (plan, code) = setup.plan(&[]);
    assert_eq!(code, Some(0), "{plan}");

    let warehouse = setup.cluster.connect("warehouse", "app").await;
    warehouse
        .query("SELECT * FROM billing.invoices", &[])
        .await
        .expect("the observer reads the service's tables");
    assert_denied(
        warehouse
            .query("SELECT * FROM billing.dbsplit_migrations", &[])
            .await,
        "the observer reads the migration history",
    );
    let rw = setup.cluster.connect("billing_rw", "app").await;
    assert_denied(
        rw.query("SELECT * FROM billing.dbsplit_migrations", &[])
            .await,
        "billing_rw reads the migration history",
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn default_privileges_that_give_a_service_role_other_objects_are_planned_away() {
    let setup = Setup::new(MANIFEST);
    setup.apply(&[]);
    setup.cluster.psql_ok(
        "app",
        "CREATE ROLE etl NOLOGIN;
         ALTER DEFAULT PRIVILEGES FOR ROLE postgres GRANT SELECT ON TABLES TO billing_rw, etl;
         ALTER DEFAULT PRIVILEGES FOR ROLE postgres IN SCHEMA monolith GRANT SELECT ON TABLES TO billing_rw;
         ALTER DEFAULT PRIVILEGES FOR ROLE monolith_owner GRANT INSERT ON TABLES TO billing_rw;
         ALTER DEFAULT PRIVILEGES FOR ROLE etl GRANT SELECT ON SEQUENCES TO monolith_rw;",
    );
    let (plan, code) = setup.plan(&["--format", "sql"]);
    assert_eq!(code, Some(1), "{plan}");
    for expected in [
        r#"ALTER DEFAULT PRIVILEGES FOR ROLE "postgres" REVOKE SELECT ON TABLES FROM "billing_rw";"#,
        r#"ALTER DEFAULT PRIVILEGES FOR ROLE "postgres" IN SCHEMA "monolith" REVOKE SELECT ON TABLES FROM "billing_rw";"#,
        r#"ALTER DEFAULT PRIVILEGES FOR ROLE "monolith_owner" REVOKE INSERT ON TABLES FROM "billing_rw";"#,
        r#"ALTER DEFAULT PRIVILEGES FOR ROLE "etl" REVOKE SELECT ON SEQUENCES FROM "monolith_rw";"#,
    ] {
        assert!(plan.contains(expected), "missing {expected}\n{plan}");
    }
    assert!(
        !plan.contains(r#"FROM "etl""#),
        "etl is not dbsplit's: {plan}"
    );
    setup.apply(&[]);
    let (plan, code) = setup.plan(&[]);
    assert_eq!(code, Some(0), "{plan}");

    // Objects created now, by the roles whose defaults named billing_rw, do not reach it.
    setup.cluster.psql_ok(
        "app",
        "CREATE TABLE public.by_postgres (id int);
         SET ROLE monolith_owner; CREATE TABLE monolith.by_owner (id int); RESET ROLE;",
    );
    let rw = setup.cluster.connect("billing_rw", "app").await;
    assert_denied(
        rw.query("SELECT * FROM public.by_postgres", &[]).await,
        "billing_rw reads a new table of postgres",
    );
    assert_denied(
        rw.execute("INSERT INTO monolith.by_owner VALUES (1)", &[])
            .await,
        "billing_rw writes a new table of monolith_owner",
    );
    let admin = setup.cluster.superuser("app").await;
    let etl: i64 = admin
        .query_one(
            "SELECT count(*) FROM pg_default_acl d, aclexplode(d.defaclacl) a
             WHERE a.grantee = 'etl'::regrole",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        etl, 1,
        "the default privileges of a role outside the manifest stay"
    );
}
