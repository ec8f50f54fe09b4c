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

impl Setup {
    /// Replaces the manifest.
    fn rewrite(&self, manifest: &str) {
        std::fs::write(self.dir.path().join("services.toml"), manifest).expect("manifest written");
    }

    /// One value of a query as the superuser, as text ("" for no row).
    fn query(&self, database: &str, sql: &str) -> String {
        let output = self
            .cluster
            .server
            .psql(database)
            .args(["-tAc", sql])
            .output()
            .expect("psql runs");
        assert!(output.status.success(), "{sql}: {output:?}");
        String::from_utf8_lossy(&output.stdout).trim().to_string()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn prune_touches_only_the_roles_of_this_database_and_says_what_blocks_a_drop() {
    let setup = Setup::new(MANIFEST);
    setup.query("postgres", "CREATE DATABASE other");
    // billing_rw was created by an older dbsplit, whose mark named no database.
    setup.cluster.psql_ok(
        "app",
        "CREATE ROLE billing_rw; COMMENT ON ROLE billing_rw IS 'managed by dbsplit';",
    );
    setup.apply(&[]);
    assert_eq!(
        setup.query(
            "app",
            "SELECT shobj_description('billing_migrator'::regrole, 'pg_authid')"
        ),
        r#"managed by dbsplit {"databases": ["app"]}"#,
        "a role created now is marked with its database"
    );
    assert_eq!(
        setup.query(
            "app",
            "SELECT shobj_description('billing_rw'::regrole, 'pg_authid')"
        ),
        r#"managed by dbsplit {"databases": ["app"]}"#,
        "an older mark gets the database"
    );

    // Another manifest's role (of database other), an older dbsplit's role that still owns a
    // table here and holds a privilege in database other, and a role made by hand.
    setup.cluster.psql_ok(
        "app",
        r#"CREATE ROLE other_rw; COMMENT ON ROLE other_rw IS 'managed by dbsplit {"databases":["other"]}';
           CREATE ROLE stuck_rw; COMMENT ON ROLE stuck_rw IS 'managed by dbsplit';
           CREATE TABLE public.stuck (id int); ALTER TABLE public.stuck OWNER TO stuck_rw;
           GRANT CONNECT ON DATABASE other TO stuck_rw;
           CREATE ROLE by_hand;"#,
    );
    setup.cluster.psql_ok(
        "app",
        "SET ROLE monolith_owner; CREATE TABLE monolith.customers (id int); RESET ROLE;",
    );
    // monolith's roles leave the manifest: monolith_rw holds CONNECT, search_path, USAGE and
    // privileges on monolith's table; monolith_migrator is a member of monolith_owner.
    setup.rewrite(&MANIFEST.replace(
        "roles.monolith_rw = { access = \"readwrite\" }\nroles.monolith_migrator = { access = \"owner\" }\n",
        "roles.monolith_api = { access = \"readwrite\" }\n",
    ));
    let (plan, code) = setup.plan(&["--prune"]);
    assert_eq!(code, Some(1), "{plan}");
    for expected in [
        // On 16+ the revoke names its grantor: `... GRANTED BY "postgres" CASCADE;`.
        r#"REVOKE "monolith_owner" FROM "monolith_migrator""#,
        r#"ALTER ROLE "monolith_rw" IN DATABASE "app" RESET search_path;"#,
        r#"REVOKE CONNECT ON DATABASE "app" FROM "monolith_migrator", "monolith_rw";"#,
        r#"REVOKE USAGE ON SCHEMA "monolith" FROM "monolith_rw";"#,
        r#"DROP ROLE "monolith_rw";"#,
        r#"DROP ROLE "monolith_migrator";"#,
        "role stuck_rw is no longer in the manifest but is not dropped: privileges on database other; owner of table public.stuck in database app",
    ] {
        assert!(plan.contains(expected), "missing {expected}\n{plan}");
    }
    assert!(!plan.contains(r#"DROP ROLE "other_rw""#), "{plan}");
    assert!(
        !plan.contains("role other_rw is"),
        "other_rw is another database's: {plan}"
    );
    assert!(!plan.contains("DROP ROLE \"by_hand\""), "{plan}");
    setup.apply(&["--prune"]);
    assert_eq!(
        setup.query(
            "app",
            "SELECT string_agg(rolname, ',' ORDER BY rolname) FROM pg_roles
             WHERE rolname IN ('monolith_rw', 'monolith_migrator', 'other_rw', 'stuck_rw', 'by_hand')"
        ),
        "by_hand,other_rw,stuck_rw"
    );
    let (plan, code) = setup.plan(&["--prune"]);
    assert_eq!(code, Some(0), "{plan}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_login_roles_revoke_public_connect_cuts_off_are_named_and_observers_keep_connect() {
    let setup = Setup::new(MANIFEST);
    setup.cluster.psql_ok(
        "app",
        "CREATE ROLE monitoring LOGIN; CREATE ROLE backup LOGIN; CREATE ROLE auditor LOGIN;
         CREATE ROLE readers NOLOGIN; GRANT readers TO auditor;
         GRANT CONNECT ON DATABASE app TO backup, readers; CREATE ROLE nologin_role;",
    );
    let (plan, code) = setup.plan(&[]);
    assert_eq!(code, Some(1), "{plan}");
    assert!(
        plan.contains(
            "revoke_public_connect: 1 login role outside the manifest will no longer connect to database app: monitoring;"
        ),
        "{plan}"
    );
    setup.apply(&[]);
    let (plan, code) = setup.plan(&[]);
    assert_eq!(code, Some(0), "{plan}");
    assert!(
        plan.contains("outside the manifest cannot connect to database app: monitoring;"),
        "{plan}"
    );
    let refused = tokio_postgres::connect(
        &setup.cluster.server.connection_string("monitoring", "app"),
        tokio_postgres::NoTls,
    )
    .await
    .map(|_| ());
    assert_denied(refused, "monitoring connects to app");
    for role in ["warehouse", "backup", "auditor", "billing_rw"] {
        setup.cluster.connect(role, "app").await;
    }
}

#[test]
fn validate_warns_when_a_search_path_names_public() {
    let dir = TempDir::new("validate-public");
    let manifest = MANIFEST.replace(
        "roles.billing_rw = { access = \"readwrite\" }\n",
        "roles.billing_rw = { access = \"readwrite\" }\nsearch_path = [\"billing\", \"public\"]\n",
    );
    std::fs::write(dir.path().join("services.toml"), &manifest).expect("manifest written");
    let output = run_in(dir.path(), "postgres://unused", &["validate"]);
    assert_eq!(
        output.status.code(),
        Some(0),
        "a warning, not an error: {output:?}"
    );
    let line = manifest
        .lines()
        .position(|l| l.starts_with("search_path"))
        .expect("the line")
        + 1;
    assert!(
        stderr(&output).contains(&format!(
            "services.toml:{line}:27: warning: search_path of service `billing` names `public`"
        )),
        "{}",
        stderr(&output)
    );
    // Without `public`, no warning.
    std::fs::write(dir.path().join("services.toml"), MANIFEST).expect("manifest written");
    let output = run_in(dir.path(), "postgres://unused", &["validate"]);
    assert_eq!(stderr(&output), "");
}
