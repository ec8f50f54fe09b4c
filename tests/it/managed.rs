//! Managed PostgreSQL and every supported major: PostgreSQL 16's membership options and
//! grantors, a non-superuser admin (`LOGIN CREATEROLE CREATEDB`, as on RDS, Cloud SQL, Azure),
//! and what the manifest may not do to the session's own role. Every test runs on whatever
//! major `PG_BIN` gives and asserts what that major can express.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use dbsplit::apply::{ApplyOptions, Confirmed, apply, plan};
use dbsplit::desired::{Desired, desired_state};
use dbsplit::manifest::Manifest;
use dbsplit::plan::Plan;
use dbsplit::plan::sql::statements;
use tokio_postgres::Client;

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
        .stdin(std::process::Stdio::null())
        .output()
        .expect("dbsplit runs")
}

fn example() -> (Manifest, Desired) {
    let manifest = Manifest::load(&root().join("services.toml.example")).expect("example loads");
    let desired = desired_state(&manifest);
    (manifest, desired)
}

fn options() -> ApplyOptions {
    ApplyOptions {
        lock_timeout: Duration::from_secs(30),
        prune: false,
        passwords: BTreeMap::new(),
    }
}

async fn plan_of(client: &Client, manifest: &Manifest, desired: &Desired) -> Plan {
    plan(client, manifest, desired, &options())
        .await
        .expect("plan")
        .0
}

async fn converge(client: &mut Client, manifest: &Manifest, desired: &Desired) -> Plan {
    let planned = plan_of(client, manifest, desired).await;
    let confirmed = Confirmed {
        plan: planned.clone(),
        fingerprint: None,
    };
    apply(client, manifest, desired, &options(), &confirmed)
        .await
        .unwrap_or_else(|e| panic!("apply failed: {e:#}"));
    planned
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
            r#"revoke-role: REVOKE "billing_owner" FROM "monolith_rw" GRANTED BY "granter";"#,
            r#"revoke-role-option: REVOKE ADMIN OPTION FOR "billing_owner" FROM "billing_migrator" GRANTED BY "postgres";"#,
            r#"revoke-role: REVOKE "pg_read_all_data" FROM "billing_ro" GRANTED BY "postgres";"#,
            r#"revoke-role: REVOKE "pg_write_server_files" FROM "notifications_rw" GRANTED BY "postgres";"#,
            r#"grant-role-options: GRANT "billing_owner" TO "billing_migrator" WITH SET TRUE;"#,
        ]
        .into_iter()
        .map(String::from)
        .collect()
    } else {
        [
            r#"revoke-role: REVOKE "billing_owner" FROM "monolith_rw";"#,
            r#"revoke-role-option: REVOKE ADMIN OPTION FOR "billing_owner" FROM "billing_migrator";"#,
            r#"revoke-role: REVOKE "pg_read_all_data" FROM "billing_ro";"#,
            r#"revoke-role: REVOKE "pg_write_server_files" FROM "notifications_rw";"#,
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
