//! Managed PostgreSQL and every supported major: PostgreSQL 16's membership options and
//! grantors, a non-superuser admin (`LOGIN CREATEROLE CREATEDB`, as on RDS, Cloud SQL, Azure),
//! and what the manifest may not do to the session's own role. Every test runs on whatever
//! major `PG_BIN` gives and asserts what that major can express.

use std::collections::BTreeSet;

use dbsplit::plan::Plan;
use dbsplit::plan::sql::statements;
use tokio_postgres::Client;

use crate::support::converge::{assert_billing_rw_confined, converge, example, plan_of};
use crate::support::pg::{TestCluster, assert_denied};
use crate::support::{root, stderr, stdout};

/// Runs dbsplit with `manifest` against `cluster`'s database `app` as `user`; stdin is not a
/// terminal.
fn dbsplit_as(
    cluster: &TestCluster,
    user: &str,
    manifest: &std::path::Path,
    args: &[&str],
) -> std::process::Output {
    dbsplit_with(cluster, user, manifest, args, &[])
}

/// Like `dbsplit_as`, with environment variables.
fn dbsplit_with(
    cluster: &TestCluster,
    user: &str,
    manifest: &std::path::Path,
    args: &[&str],
    envs: &[(&str, &str)],
) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_dbsplit"))
        .arg("-m")
        .arg(manifest)
        .args(args)
        .env(
            "DATABASE_URL",
            cluster.server.connection_string(user, "app"),
        )
        .env("NO_COLOR", "1")
        .env_remove("BILLING_DB_PASSWORD")
        .env_remove("MONOLITH_DB_PASSWORD")
        .env_remove("PGPASSWORD")
        .envs(envs.iter().copied())
        .stdin(std::process::Stdio::null())
        .output()
        .expect("dbsplit runs")
}

fn lines(plan: &Plan) -> BTreeSet<String> {
    plan.changes
        .iter()
        .map(|c| format!("{}: {}", c.action.kind(), statements(&c.action).join(" ")))
        .collect()
}

async fn major(client: &Client) -> i32 {
    let version: String = client
        .query_one("SHOW server_version_num", &[])
        .await
        .expect("version")
        .get(0);
    version.parse::<i32>().expect("a number") / 10_000
}

/// Each grant of `group` as `member:grantor:admin/inherit/set`.
async fn grants_of(client: &Client, group: &str) -> BTreeSet<String> {
    let sql = "SELECT m.member::regrole::text, m.grantor::regrole::text, m.admin_option,
                      coalesce((to_jsonb(m) ->> 'inherit_option')::boolean, true),
                      coalesce((to_jsonb(m) ->> 'set_option')::boolean, true)
               FROM pg_auth_members m WHERE m.roleid = $1::text::regrole";
    client
        .query(sql, &[&group])
        .await
        .expect("pg_auth_members")
        .iter()
        .map(|r| {
            let flag = |i: usize, c: char| if r.get::<_, bool>(i) { c } else { '-' };
            format!(
                "{}:{}:{}{}{}",
                r.get::<_, String>(0),
                r.get::<_, String>(1),
                flag(2, 'a'),
                flag(3, 'i'),
                flag(4, 's')
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn membership_options_grantors_admin_option_and_everything_roles_are_planned_and_repaired() {
    let cluster = TestCluster::start("app");
    let (manifest, desired) = example();
    let mut admin = cluster.superuser("app").await;
    converge(&mut admin, &manifest, &desired).await;
    let major = major(&admin).await;
    // Drift: a membership granted by another grantor, the migrator's ADMIN OPTION (it could
    // hand billing_owner to anyone), a role that reads every schema, and on 16+ the SET option
    // taken from the migrator (migrate's SET ROLE would fail).
    let mut drift = String::from(
        "CREATE ROLE granter CREATEROLE;
         GRANT billing_owner TO granter WITH ADMIN OPTION;
         SET ROLE granter;
         GRANT billing_owner TO monolith_rw;
         RESET ROLE;
         GRANT billing_owner TO billing_migrator WITH ADMIN OPTION;
         GRANT pg_read_all_data TO billing_ro;
         GRANT pg_write_server_files TO notifications_rw;",
    );
    if major >= 16 {
        drift.push_str(
            "REVOKE SET OPTION FOR billing_owner FROM billing_migrator GRANTED BY postgres;",
        );
    }
    cluster.psql_ok("app", &drift);
    let planned = plan_of(&admin, &manifest, &desired).await;
    let expected: BTreeSet<String> = if major >= 16 {
        [
            r#"revoke-role: REVOKE "billing_owner" FROM "monolith_rw" GRANTED BY "granter" CASCADE;"#,
            r#"revoke-role-option: REVOKE ADMIN OPTION FOR "billing_owner" FROM "billing_migrator" GRANTED BY "postgres" CASCADE;"#,
            r#"revoke-role: REVOKE "pg_read_all_data" FROM "billing_ro" GRANTED BY "postgres" CASCADE;"#,
            r#"revoke-role: REVOKE "pg_write_server_files" FROM "notifications_rw" GRANTED BY "postgres" CASCADE;"#,
            r#"grant-role-options: GRANT "billing_owner" TO "billing_migrator" WITH SET TRUE;"#,
        ]
        .into_iter()
        .map(String::from)
        .collect()
    } else {
        [
            r#"revoke-role: REVOKE "billing_owner" FROM "monolith_rw" CASCADE;"#,
            r#"revoke-role-option: REVOKE ADMIN OPTION FOR "billing_owner" FROM "billing_migrator" CASCADE;"#,
            r#"revoke-role: REVOKE "pg_read_all_data" FROM "billing_ro" CASCADE;"#,
            r#"revoke-role: REVOKE "pg_write_server_files" FROM "notifications_rw" CASCADE;"#,
        ]
        .into_iter()
        .map(String::from)
        .collect()
    };
    assert_eq!(lines(&planned), expected);
    converge(&mut admin, &manifest, &desired).await;
    let again = plan_of(&admin, &manifest, &desired).await;
    assert!(again.changes.is_empty(), "{:#?}", lines(&again));
    let grants = grants_of(&admin, "billing_owner").await;
    assert!(
        !grants.iter().any(|g| g.starts_with("monolith_rw:")),
        "{grants:?}"
    );
    assert!(
        grants
            .iter()
            .filter(|g| g.starts_with("billing_migrator:"))
            .all(|g| !g.ends_with("a--") && !g.contains(":a")),
        "{grants:?}"
    );

    // The boundary as the login roles: the migrator may become the owner, nobody else may.
    let migrator = cluster.connect("billing_migrator", "app").await;
    migrator
        .batch_execute("SET ROLE billing_owner; CREATE TABLE billing.t (id int); RESET ROLE")
        .await
        .expect("the migrator creates in its own schema as the owner");
    assert_denied(
        migrator
            .batch_execute("GRANT billing_owner TO monolith_rw")
            .await,
        "the migrator hands billing_owner out",
    );
    let monolith = cluster.connect("monolith_rw", "app").await;
    assert_denied(
        monolith.batch_execute("SET ROLE billing_owner").await,
        "monolith_rw becomes billing_owner",
    );
    cluster.psql_ok(
        "app",
        "SET ROLE monolith_owner; CREATE TABLE monolith.customers (id int); RESET ROLE;",
    );
    let ro = cluster.connect("billing_ro", "app").await;
    assert_denied(
        ro.query("SELECT * FROM monolith.customers", &[]).await,
        "billing_ro reads monolith (pg_read_all_data revoked)",
    );
}

#[test]
fn the_servers_warnings_during_apply_reach_stderr() {
    let cluster = TestCluster::start("app");
    cluster.psql_ok(
        "app",
        "CREATE FUNCTION warn() RETURNS event_trigger LANGUAGE plpgsql AS
           $$ BEGIN RAISE WARNING 'the change-audit trigger saw %', tg_tag; END $$;
         CREATE EVENT TRIGGER audit_ddl ON ddl_command_end WHEN TAG IN ('CREATE SCHEMA') EXECUTE FUNCTION warn();",
    );
    let example = root().join("services.toml.example");
    let applied = dbsplit_as(&cluster, "postgres", &example, &["apply", "--yes"]);
    assert_eq!(applied.status.code(), Some(0), "{}", stderr(&applied));
    let errors = stderr(&applied);
    assert!(
        errors.contains("WARNING:  the change-audit trigger saw CREATE SCHEMA"),
        "{errors}"
    );
    assert!(
        !stdout(&applied).contains("WARNING"),
        "warnings go to stderr"
    );
}

/// A cluster where `admin` (`LOGIN CREATEROLE CREATEDB`, no superuser: what RDS, Cloud SQL and
/// Azure hand out) created database `app` itself.
async fn admin_cluster() -> TestCluster {
    let cluster = TestCluster::start("scratch");
    cluster.psql_ok("scratch", "CREATE ROLE admin LOGIN CREATEROLE CREATEDB;");
    let admin = cluster.connect("admin", "scratch").await;
    admin
        .batch_execute("CREATE DATABASE app")
        .await
        .expect("the admin creates the database");
    cluster
}

/// On 14, schema public belongs to the bootstrap superuser: the one statement a superuser runs
/// once before an admin applies (apply says so; see the test below).
fn unblock_public_on_14(cluster: &TestCluster, major: i32) {
    if major < 15 {
        cluster.psql_ok("app", r#"REVOKE CREATE ON SCHEMA "public" FROM PUBLIC;"#);
    }
}

async fn role_exists(client: &Client, role: &str) -> bool {
    client
        .query_opt("SELECT 1 FROM pg_roles WHERE rolname = $1", &[&role])
        .await
        .expect("pg_roles")
        .is_some()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_admin_who_created_the_database_applies_the_example_and_the_boundary_holds() {
    let cluster = admin_cluster().await;
    let superuser = cluster.superuser("app").await;
    let major = major(&superuser).await;
    let example = root().join("services.toml.example");
    if major < 15 {
        // PUBLIC's CREATE on a public schema the bootstrap superuser owns: apply refuses up
        // front, names the statement, and changes nothing.
        let refused = dbsplit_as(&cluster, "admin", &example, &["apply", "--yes"]);
        assert_eq!(refused.status.code(), Some(2), "{}", stderr(&refused));
        let errors = stderr(&refused);
        assert!(
            errors.contains("schema public is owned by postgres, a superuser"),
            "{errors}"
        );
        assert!(
            errors.contains(r#"REVOKE CREATE ON SCHEMA "public" FROM PUBLIC;"#),
            "{errors}"
        );
        assert!(
            !role_exists(&superuser, "billing_owner").await,
            "nothing was applied"
        );
        unblock_public_on_14(&cluster, major);
    }
    let applied = dbsplit_as(&cluster, "admin", &example, &["apply", "--yes"]);
    assert_eq!(
        applied.status.code(),
        Some(0),
        "{}\n{}",
        stdout(&applied),
        stderr(&applied)
    );
    let again = dbsplit_as(&cluster, "admin", &example, &["plan", "--exit-code"]);
    assert_eq!(again.status.code(), Some(0), "{}", stdout(&again));
    assert!(stdout(&again).contains("No changes"), "{}", stdout(&again));

    // The admin gave itself the owner roles with SET and, on 16+, without INHERIT; no more.
    let grants = grants_of(&superuser, "billing_owner").await;
    let admins: BTreeSet<String> = grants
        .iter()
        .filter(|g| g.starts_with("admin:"))
        .cloned()
        .collect();
    let expected: BTreeSet<String> = if major >= 16 {
        ["admin:postgres:a--", "admin:admin:--s"]
            .map(String::from)
            .into()
    } else {
        ["admin:admin:-is"].map(String::from).into()
    };
    assert_eq!(admins, expected, "{grants:?}");

    // The boundary, as the login roles.
    let migrator = cluster.connect("billing_migrator", "app").await;
    migrator
        .batch_execute("SET ROLE billing_owner; CREATE TABLE billing.invoices (id serial PRIMARY KEY, amount numeric); RESET ROLE")
        .await
        .expect("the migrator runs DDL in its schema as the owner");
    cluster.psql_ok(
        "app",
        "SET ROLE monolith_owner; CREATE TABLE monolith.customers (id int); RESET ROLE;",
    );
    let rw = cluster.connect("billing_rw", "app").await;
    rw.execute("INSERT INTO invoices (amount) VALUES (1)", &[])
        .await
        .expect("billing_rw writes its own table");
    assert_billing_rw_confined(&rw).await;
    let monolith = cluster.connect("monolith_rw", "app").await;
    monolith
        .query("SELECT * FROM customers", &[])
        .await
        .expect("monolith_rw reads its own table");
    assert_denied(
        monolith.query("SELECT * FROM billing.invoices", &[]).await,
        "monolith_rw reads billing",
    );
    assert_denied(
        migrator
            .query("SELECT * FROM monolith.customers", &[])
            .await,
        "the migrator reads monolith",
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_object_the_admin_cannot_re_own_makes_apply_exit_2_before_changing_anything() {
    let cluster = admin_cluster().await;
    let superuser = cluster.superuser("app").await;
    let major = major(&superuser).await;
    unblock_public_on_14(&cluster, major);
    cluster.psql_ok(
        "app",
        "CREATE ROLE rds_superuser NOLOGIN;
         GRANT rds_superuser TO admin;
         CREATE ROLE legacy_app;
         GRANT CREATE ON DATABASE app TO legacy_app;
         SET ROLE legacy_app;
         CREATE SCHEMA billing;
         CREATE TABLE billing.legacy (id int);
         RESET ROLE;",
    );
    let example = root().join("services.toml.example");
    let before = dbsplit::catalog::introspect::introspect(
        &superuser,
        dbsplit::catalog::introspect::Depth::Privileges,
    )
    .await
    .expect("introspect");

    let planned = dbsplit_as(&cluster, "admin", &example, &["plan"]);
    assert_eq!(planned.status.code(), Some(0), "{}", stderr(&planned));
    let text = stdout(&planned);
    assert!(
        // The provider's admin role is named.
        text.contains("cannot be made as admin (not a superuser; member of rds_superuser)"),
        "{text}"
    );
    assert!(
        text.contains("table billing.legacy is owned by legacy_app, whose privileges admin (not a superuser; member of rds_superuser) does not have"),
        "{text}"
    );
    // billing_owner does not exist yet: handed to the admin, dbsplit hands it on.
    assert!(
        text.contains(
            r#"unblock (as a superuser): ALTER TABLE "billing"."legacy" OWNER TO "admin";"#
        ),
        "{text}"
    );
    assert!(
        text.contains(r#"unblock (as a superuser): ALTER SCHEMA "billing" OWNER TO "admin";"#),
        "{text}"
    );

    let refused = dbsplit_as(&cluster, "admin", &example, &["apply", "--yes"]);
    assert_eq!(refused.status.code(), Some(2), "{}", stderr(&refused));
    let errors = stderr(&refused);
    assert!(
        errors.contains(r#"ALTER TABLE "billing"."legacy" OWNER TO "admin";"#),
        "{errors}"
    );
    assert!(errors.contains("nothing was applied"), "{errors}");
    let after = dbsplit::catalog::introspect::introspect(
        &superuser,
        dbsplit::catalog::introspect::Depth::Privileges,
    )
    .await
    .expect("introspect");
    assert_eq!(before.state, after.state, "apply changed something");

    // The superuser runs the statements once; then the admin applies and hands them on.
    cluster.psql_ok(
        "app",
        r#"ALTER SCHEMA "billing" OWNER TO "admin"; ALTER TABLE "billing"."legacy" OWNER TO "admin";"#,
    );
    let applied = dbsplit_as(&cluster, "admin", &example, &["apply", "--yes"]);
    assert_eq!(
        applied.status.code(),
        Some(0),
        "{}\n{}",
        stdout(&applied),
        stderr(&applied)
    );
    let owner: String = superuser
        .query_one(
            "SELECT tableowner::text FROM pg_tables WHERE schemaname = 'billing' AND tablename = 'legacy'",
            &[],
        )
        .await
        .expect("the table")
        .get(0);
    assert_eq!(owner, "billing_owner");
    let again = dbsplit_as(&cluster, "admin", &example, &["plan", "--exit-code"]);
    assert_eq!(again.status.code(), Some(0), "{}", stdout(&again));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_admin_repairs_a_grant_by_another_grantor_a_revoked_set_option_and_an_admin_option() {
    let cluster = admin_cluster().await;
    let superuser = cluster.superuser("app").await;
    let major = major(&superuser).await;
    unblock_public_on_14(&cluster, major);
    let example = root().join("services.toml.example");
    let applied = dbsplit_as(&cluster, "admin", &example, &["apply", "--yes"]);
    assert_eq!(applied.status.code(), Some(0), "{}", stderr(&applied));
    // The migrator gets ADMIN OPTION and hands billing_owner to monolith_rw (a grant by another
    // grantor); on 16+ its SET option is taken, so `migrate` would fail.
    let mut drift = String::from(if major >= 16 {
        "GRANT billing_owner TO billing_migrator WITH ADMIN OPTION GRANTED BY admin;"
    } else {
        "GRANT billing_owner TO billing_migrator WITH ADMIN OPTION;"
    });
    drift.push_str("SET ROLE billing_migrator; GRANT billing_owner TO monolith_rw; RESET ROLE;");
    if major >= 16 {
        drift.push_str(
            "REVOKE SET OPTION FOR billing_owner FROM billing_migrator GRANTED BY admin;",
        );
    }
    cluster.psql_ok("app", &drift);
    let migrator = cluster.connect("billing_migrator", "app").await;
    if major >= 16 {
        assert_denied(
            migrator.batch_execute("SET ROLE billing_owner").await,
            "the migrator without SET",
        );
    }

    let planned = dbsplit_as(&cluster, "admin", &example, &["plan", "--exit-code"]);
    assert_eq!(planned.status.code(), Some(1), "{}", stdout(&planned));
    let text = stdout(&planned);
    if major >= 16 {
        assert!(
            text.contains(r#"GRANT "billing_owner" TO "billing_migrator" WITH SET TRUE;"#),
            "{text}"
        );
        // The grant the migrator made goes with its ADMIN OPTION.
        assert!(
            text.contains(r#"REVOKE ADMIN OPTION FOR "billing_owner" FROM "billing_migrator" GRANTED BY "admin" CASCADE;"#),
            "{text}"
        );
    } else {
        assert!(
            text.contains(
                r#"REVOKE ADMIN OPTION FOR "billing_owner" FROM "billing_migrator" CASCADE;"#
            ),
            "{text}"
        );
        assert!(
            text.contains(r#"REVOKE "billing_owner" FROM "monolith_rw" CASCADE;"#),
            "{text}"
        );
    }
    assert!(!text.contains("cannot be made"), "{text}");

    let repaired = dbsplit_as(&cluster, "admin", &example, &["apply", "--yes"]);
    assert_eq!(
        repaired.status.code(),
        Some(0),
        "{}\n{}",
        stdout(&repaired),
        stderr(&repaired)
    );
    let again = dbsplit_as(&cluster, "admin", &example, &["plan", "--exit-code"]);
    assert_eq!(again.status.code(), Some(0), "{}", stdout(&again));
    let migrator = cluster.connect("billing_migrator", "app").await;
    migrator
        .batch_execute("SET ROLE billing_owner; RESET ROLE")
        .await
        .expect("the migrator may SET ROLE again");
    assert_denied(
        migrator
            .batch_execute("GRANT billing_owner TO billing_ro")
            .await,
        "the migrator hands billing_owner out",
    );
    let monolith = cluster.connect("monolith_rw", "app").await;
    assert_denied(
        monolith.batch_execute("SET ROLE billing_owner").await,
        "monolith_rw becomes billing_owner",
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_manifest_that_names_the_session_role_or_a_superuser_is_refused_and_changes_nothing() {
    let cluster = admin_cluster().await;
    let superuser = cluster.superuser("app").await;
    let dir = crate::support::TempDir::new("refused");
    let own = dir.path().join("own.toml");
    std::fs::write(
        &own,
        "version = 1\n[database]\nname = \"app\"\n[services.ops]\nroles.admin = { access = \"readwrite\" }\n",
    )
    .expect("write");
    let dba = dir.path().join("dba.toml");
    std::fs::write(
        &dba,
        "version = 1\n[database]\nname = \"app\"\n[services.ops]\nowner = \"postgres\"\nroles.ops_rw = { access = \"readwrite\" }\n",
    )
    .expect("write");
    for (user, manifest, says) in [
        (
            "admin",
            &own,
            "admin, the role this session is connected as",
        ),
        (
            "postgres",
            &dba,
            "postgres, the role this session is connected as",
        ),
        ("admin", &dba, "postgres, an existing superuser"),
    ] {
        for command in [&["plan"][..], &["apply", "--yes"][..]] {
            let output = dbsplit_as(&cluster, user, manifest, command);
            assert_eq!(
                output.status.code(),
                Some(2),
                "{command:?} as {user}: {}",
                stdout(&output)
            );
            assert!(
                stderr(&output).contains(says),
                "{command:?} as {user}: {}",
                stderr(&output)
            );
        }
    }
    let row = superuser
        .query_one(
            "SELECT a.rolcanlogin AND a.rolcreaterole, p.rolsuper AND p.rolcanlogin,
                    NOT EXISTS (SELECT FROM pg_namespace WHERE nspname = 'ops')
             FROM pg_roles a, pg_roles p WHERE a.rolname = 'admin' AND p.rolname = 'postgres'",
            &[],
        )
        .await
        .expect("roles");
    assert!(row.get::<_, bool>(0), "admin keeps LOGIN and CREATEROLE");
    assert!(row.get::<_, bool>(1), "postgres stays a superuser");
    assert!(row.get::<_, bool>(2), "nothing was created");
}

/// The stored verifier of `role` matches `password`, and its comment records `version`.
async fn password_is(superuser: &Client, role: &str, password: &str, version: u32) {
    let row = superuser
        .query_one(
            "SELECT rolpassword, shobj_description(oid, 'pg_authid') FROM pg_authid WHERE rolname = $1",
            &[&role],
        )
        .await
        .expect("pg_authid");
    let stored: String = row.get(0);
    assert!(
        dbsplit::pg::scram::matches(password, &stored),
        "the verifier of {role} is not {password:?}'s"
    );
    let comment: Option<String> = row.get(1);
    let mark = dbsplit::catalog::model::RoleMark::parse(comment.as_deref()).expect("marked");
    assert_eq!(mark.password_version, Some(version), "{comment:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn without_pg_authid_a_higher_password_version_resends_the_password_and_member_of_keeps_outside_roles()
 {
    let cluster = admin_cluster().await;
    let superuser = cluster.superuser("app").await;
    let major = major(&superuser).await;
    unblock_public_on_14(&cluster, major);
    // What a provider gives its admin role: ADMIN OPTION on its own roles and on pg_monitor.
    cluster.psql_ok(
        "app",
        "CREATE ROLE rds_iam NOLOGIN; GRANT rds_iam, pg_monitor TO admin WITH ADMIN OPTION;",
    );
    let dir = crate::support::TempDir::new("password-version");
    let manifest = dir.path().join("services.toml");
    let example = std::fs::read_to_string(root().join("services.toml.example")).expect("example");
    let write = |version: u32| {
        let text = example
            .replace(
                r#"password_env = "BILLING_DB_PASSWORD" }"#,
                &format!(r#"password_env = "BILLING_DB_PASSWORD", password_version = {version} }}"#),
            )
            .replace(
                r#"roles.notifications_rw = { access = "readwrite" }"#,
                r#"roles.notifications_rw = { access = "readwrite", member_of = ["rds_iam", "pg_monitor"] }"#,
            );
        assert_ne!(text, example);
        std::fs::write(&manifest, text).expect("write the manifest");
    };
    write(1);
    let one = [("BILLING_DB_PASSWORD", "one")];
    let applied = dbsplit_with(&cluster, "admin", &manifest, &["apply", "--yes"], &one);
    assert_eq!(
        applied.status.code(),
        Some(0),
        "{}\n{}",
        stdout(&applied),
        stderr(&applied)
    );
    password_is(&superuser, "billing_rw", "one", 1).await;
    let groups = grants_of(&superuser, "rds_iam").await;
    assert!(
        groups.iter().any(|g| g.starts_with("notifications_rw:")),
        "{groups:?}"
    );
    let groups = grants_of(&superuser, "pg_monitor").await;
    assert!(
        groups.iter().any(|g| g.starts_with("notifications_rw:")),
        "{groups:?}"
    );

    // A new password under the same version: the admin cannot compare, nothing is planned.
    let two = [("BILLING_DB_PASSWORD", "two")];
    let same = dbsplit_with(&cluster, "admin", &manifest, &["plan", "--exit-code"], &two);
    assert_eq!(same.status.code(), Some(0), "{}", stdout(&same));
    // A higher version re-sends it, and records the version.
    write(2);
    let planned = dbsplit_with(&cluster, "admin", &manifest, &["plan", "--exit-code"], &two);
    assert_eq!(planned.status.code(), Some(1), "{}", stdout(&planned));
    let text = stdout(&planned);
    assert!(text.contains("set-password"), "{text}");
    assert!(text.contains("password version 2"), "{text}");
    assert!(!text.contains("two"), "the password leaked: {text}");
    let applied = dbsplit_with(&cluster, "admin", &manifest, &["apply", "--yes"], &two);
    assert_eq!(
        applied.status.code(),
        Some(0),
        "{}\n{}",
        stdout(&applied),
        stderr(&applied)
    );
    password_is(&superuser, "billing_rw", "two", 2).await;
    let again = dbsplit_with(&cluster, "admin", &manifest, &["plan", "--exit-code"], &two);
    assert_eq!(again.status.code(), Some(0), "{}", stdout(&again));

    // Notes that are true: an empty variable is empty, not unset.
    let empty = dbsplit_with(
        &cluster,
        "admin",
        &manifest,
        &["plan"],
        &[("BILLING_DB_PASSWORD", "")],
    );
    let text = stdout(&empty);
    assert!(
        text.contains("$BILLING_DB_PASSWORD is empty: the password of billing_rw is left as it is"),
        "{text}"
    );
    assert!(text.contains("$MONOLITH_DB_PASSWORD is not set"), "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_role_created_without_a_password_says_so() {
    let cluster = TestCluster::start("app");
    let example = root().join("services.toml.example");
    let planned = dbsplit_with(
        &cluster,
        "postgres",
        &example,
        &["plan"],
        &[("BILLING_DB_PASSWORD", "")],
    );
    let text = stdout(&planned);
    assert!(
        text.contains(
            "$MONOLITH_DB_PASSWORD is not set: monolith_rw is created without a password"
        ),
        "{text}"
    );
    assert!(
        text.contains("$BILLING_DB_PASSWORD is empty: billing_rw is created without a password"),
        "{text}"
    );
}
