//! The lock budget on a server with a small lock table (`max_locks_per_transaction = 16`,
//! `max_connections = 20`) and a cold cluster of three services × 100 tables owned by the
//! superuser: in one transaction the plan overflows the lock table; `apply` splits it in
//! transactions of whole services and converges; `--single-transaction` fails first with the
//! numbers and changes nothing; a failure in the third transaction leaves the first two
//! applied and says so.

use std::process::{Command, Output, Stdio};

use dbsplit::apply::{Confirmed, apply};
use dbsplit::catalog::introspect::{Depth, introspect};
use dbsplit::pg::local::{LocalConfig, SUPERUSER};
use dbsplit::plan::live::plan;

use crate::bulk_apply::{legacy, manifest, options};
use crate::support::pg::TestCluster;
use crate::support::{TempDir, stderr, stdout};

const SERVICES: usize = 3;
const TABLES: usize = 100;

async fn small_lock_table() -> (TestCluster, TempDir) {
    let config = LocalConfig {
        conf: vec![
            "max_locks_per_transaction = 16".to_string(),
            "max_connections = 20".to_string(),
            // The split depends on the lock entries other sessions hold when apply reads the
            // table: an autovacuum worker analysing the fresh tables would change it.
            "autovacuum = off".to_string(),
        ],
        ..LocalConfig::default()
    };
    let cluster = TestCluster::start_with("app", &config);
    let admin = cluster.superuser("app").await;
    legacy(&admin, SERVICES, TABLES).await;
    let dir = TempDir::new("lockbudget");
    let (_, _, text) = manifest(SERVICES);
    std::fs::write(dir.path().join("services.toml"), text).expect("write the manifest");
    (cluster, dir)
}

fn run(cluster: &TestCluster, dir: &TempDir, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dbsplit"))
        .arg("-m")
        .arg(dir.path().join("services.toml"))
        .args(args)
        .env(
            "DATABASE_URL",
            cluster.server.connection_string(SUPERUSER, "app"),
        )
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .expect("dbsplit runs")
}

async fn owner(cluster: &TestCluster, table: &str) -> String {
    let client = cluster.superuser("app").await;
    client
        .query_one(
            "SELECT tableowner::text FROM pg_tables WHERE schemaname || '.' || tablename = $1",
            &[&table],
        )
        .await
        .expect("the table exists")
        .get(0)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_plan_larger_than_the_lock_table_applies_in_transactions_of_whole_services() {
    let (cluster, dir) = small_lock_table().await;
    let mut admin = cluster.superuser("app").await;
    let before = introspect(&admin, Depth::Dependencies)
        .await
        .expect("introspect");

    // The premise: in one transaction this plan runs out of lock table.
    let (manifest, desired, _) = manifest(SERVICES);
    let planned = plan(&admin, &manifest, &desired, &options().plan)
        .await
        .expect("plan")
        .0;
    let confirmed = Confirmed {
        plan: planned,
        fingerprint: None,
    };
    // 17 and later give the lock table more room than its nominal size (this plan fits there,
    // and would commit), so the premise is shown on 14 to 16; dbsplit's own estimate, checked
    // below on every major, is what decides the split.
    let major: i32 = admin
        .query_one(
            "SELECT current_setting('server_version_num')::int / 10000",
            &[],
        )
        .await
        .expect("server version")
        .get(0);
    if major < 17 {
        let error = apply(&mut admin, &manifest, &desired, &options(), &confirmed)
            .await
            .expect_err("one transaction overflows the lock table");
        assert!(
            error.to_string().contains("out of shared memory"),
            "{error}"
        );
    }

    let single = run(&cluster, &dir, &["apply", "--yes", "--single-transaction"]);
    let text = stderr(&single);
    assert_eq!(single.status.code(), Some(2), "{text}");
    for expected in [
        "error: lock-budget: --single-transaction: this plan needs about 1503 lock entries",
        "(max_locks_per_transaction 16 × (max_connections 20 + max_prepared_transactions 0 + ",
        "in 3 transactions of whole services; nothing was applied",
    ] {
        assert!(text.contains(expected), "{expected}\n---\n{text}");
    }
    let after = introspect(&admin, Depth::Dependencies)
        .await
        .expect("introspect");
    assert_eq!(before, after, "--single-transaction changed something");

    let split = run(&cluster, &dir, &["apply", "--yes"]);
    let text = stdout(&split);
    assert_eq!(split.status.code(), Some(0), "{text}{}", stderr(&split));
    for expected in [
        "This plan needs about 1503 lock entries, more than one transaction may take",
        "It is applied in 3 transactions, in this order; if one fails, those before it stay applied:\n  1. roles and schemas, service svc_1\n  2. service svc_2\n  3. service svc_3, database app\n",
        ", 3 transactions) in ",
    ] {
        assert!(text.contains(expected), "{expected}\n---\n{text}");
    }
    let again = run(&cluster, &dir, &["plan", "--exit-code"]);
    assert_eq!(again.status.code(), Some(0), "{}", stdout(&again));
    assert_eq!(owner(&cluster, "svc_3.t_100").await, "svc_3_owner");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failure_in_a_later_transaction_leaves_the_earlier_ones_applied_and_says_so() {
    let (cluster, dir) = small_lock_table().await;
    let admin = cluster.superuser("app").await;
    admin
        .batch_execute(
            "CREATE FUNCTION refuse() RETURNS event_trigger LANGUAGE plpgsql AS $$
             BEGIN
               IF EXISTS (SELECT FROM pg_event_trigger_ddl_commands() WHERE object_identity = 'svc_3.t_50') THEN
                 RAISE EXCEPTION 'boom: svc_3.t_50 stays';
               END IF;
             END $$;
             CREATE EVENT TRIGGER refuse ON ddl_command_end WHEN TAG IN ('ALTER TABLE') EXECUTE FUNCTION refuse();",
        )
        .await
        .expect("event trigger");
    let failed = run(&cluster, &dir, &["apply", "--yes"]);
    let text = stderr(&failed);
    assert_eq!(failed.status.code(), Some(2), "{text}");
    for expected in [
        "apply failed part-way: transaction 3 of 3 (service svc_3, database app) failed and was rolled back; transactions 1 to 2 are committed and stay applied (1. roles and schemas, service svc_1; 2. service svc_2); run apply again to finish",
        r#"statement: ALTER TABLE "svc_3"."t_50" OWNER TO "svc_3_owner";"#,
        "boom: svc_3.t_50 stays",
    ] {
        assert!(text.contains(expected), "{expected}\n---\n{text}");
    }
    assert_eq!(owner(&cluster, "svc_1.t_1").await, "svc_1_owner");
    assert_eq!(owner(&cluster, "svc_2.t_100").await, "svc_2_owner");
    assert_eq!(owner(&cluster, "svc_3.t_1").await, SUPERUSER);

    admin
        .batch_execute("DROP EVENT TRIGGER refuse")
        .await
        .expect("drop the trigger");
    let rest = run(&cluster, &dir, &["apply", "--yes"]);
    assert_eq!(rest.status.code(), Some(0), "{}", stderr(&rest));
    let again = run(&cluster, &dir, &["plan", "--exit-code"]);
    assert_eq!(again.status.code(), Some(0), "{}", stdout(&again));
}

/// A fleet manifest placing the same services in database `app` of one cluster, whose URL
/// comes from `LOCK_URL`.
fn fleet_manifest(dir: &TempDir) -> std::path::PathBuf {
    let mut text = String::from(
        "version = 1\n[clusters.main]\nurl_env = \"LOCK_URL\"\n[databases.app]\ncluster = \"main\"\n",
    );
    for i in 1..=SERVICES {
        text.push_str(&format!(
            "[services.svc_{i}]\ndatabase = \"app\"\nroles.svc_{i}_rw = {{ access = \"readwrite\" }}\nroles.svc_{i}_ro = {{ access = \"readonly\" }}\n"
        ));
    }
    let path = dir.path().join("fleet.toml");
    std::fs::write(&path, text).expect("write the fleet manifest");
    path
}

fn run_fleet(cluster: &TestCluster, manifest: &std::path::Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dbsplit"))
        .arg("-m")
        .arg(manifest)
        .args(args)
        .env(
            "LOCK_URL",
            cluster.server.connection_string(SUPERUSER, "app"),
        )
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .expect("dbsplit runs")
}

/// Fleet targets (and `demo` and the provisioning of a move's target, through the same
/// `apply_budgeted`) keep within the lock budget too: `--single-transaction` fails before any
/// change with the numbers, and without it the target lands in transactions of whole services
/// and converges.
#[tokio::test(flavor = "multi_thread")]
async fn a_fleet_target_larger_than_the_lock_table_applies_in_transactions_of_whole_services() {
    let (cluster, dir) = small_lock_table().await;
    let manifest = fleet_manifest(&dir);
    let admin = cluster.superuser("app").await;
    let before = introspect(&admin, Depth::Dependencies)
        .await
        .expect("introspect");

    let single = run_fleet(
        &cluster,
        &manifest,
        &["apply", "--yes", "--single-transaction"],
    );
    let text = format!("{}{}", stdout(&single), stderr(&single));
    assert_eq!(single.status.code(), Some(2), "{text}");
    for expected in [
        "main/app: FAILED (see below); nothing was applied to it",
        "lock-budget: this plan needs about 1503 lock entries, more than one transaction may take",
        "(max_locks_per_transaction 16 × (max_connections 20 + max_prepared_transactions 0 + ",
        "without --single-transaction in 3 transactions of whole services; nothing was applied",
    ] {
        assert!(text.contains(expected), "{expected}\n---\n{text}");
    }
    let after = introspect(&admin, Depth::Dependencies)
        .await
        .expect("introspect");
    assert_eq!(before, after, "--single-transaction changed something");

    let split = run_fleet(&cluster, &manifest, &["apply", "--yes"]);
    let text = format!("{}{}", stdout(&split), stderr(&split));
    assert_eq!(split.status.code(), Some(0), "{text}");
    assert!(
        text.contains("main/app: applied ")
            && text.contains(", 3 transactions of whole services) in "),
        "{text}"
    );
    let again = run_fleet(&cluster, &manifest, &["plan", "--exit-code"]);
    assert_eq!(again.status.code(), Some(0), "{}", stdout(&again));
    assert_eq!(owner(&cluster, "svc_3.t_100").await, "svc_3_owner");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_split_apply_waits_for_the_lock_another_apply_holds_then_gives_up_changing_nothing() {
    let (cluster, dir) = small_lock_table().await;
    let holder = cluster.superuser("app").await;
    holder
        .execute(
            "SELECT pg_advisory_lock($1, 0)",
            &[&dbsplit::apply::LOCK_CLASS],
        )
        .await
        .expect("hold the apply lock as another apply would");
    let before = introspect(&holder, Depth::Dependencies)
        .await
        .expect("introspect");
    // `apply --yes` takes the lock before it plans (it plans once, under the lock): it waits,
    // gives up, and has shown no plan.
    let waited = run(&cluster, &dir, &["apply", "--yes", "--lock-timeout", "1s"]);
    let text = stderr(&waited);
    assert_eq!(waited.status.code(), Some(2), "{text}");
    assert!(
        text.contains("error: apply failed; nothing was changed: another dbsplit apply holds the lock; gave up after waiting 1s"),
        "{text}"
    );
    assert_eq!(stdout(&waited), "");
    // A saved plan is shown, split, and then waits for the lock, for the whole session.
    let saved = dir.path().join("plan.json");
    let planned = run(
        &cluster,
        &dir,
        &["plan", "--out", saved.to_str().expect("utf-8 path")],
    );
    assert_eq!(planned.status.code(), Some(0), "{}", stderr(&planned));
    let waited = run(
        &cluster,
        &dir,
        &[
            "apply",
            saved.to_str().expect("utf-8 path"),
            "--yes",
            "--lock-timeout",
            "1s",
        ],
    );
    let text = stderr(&waited);
    assert_eq!(waited.status.code(), Some(2), "{text}");
    assert!(
        text.contains("error: apply failed; nothing was changed: another dbsplit apply holds the lock; gave up after waiting 1s"),
        "{text}"
    );
    assert!(stdout(&waited).contains("It is applied in 3 transactions"));
    let after = introspect(&holder, Depth::Dependencies)
        .await
        .expect("introspect");
    assert_eq!(before, after, "the applies that gave up changed something");

    holder
        .execute(
            "SELECT pg_advisory_unlock($1, 0)",
            &[&dbsplit::apply::LOCK_CLASS],
        )
        .await
        .expect("release the lock");
    let split = run(&cluster, &dir, &["apply", "--yes"]);
    assert_eq!(split.status.code(), Some(0), "{}", stderr(&split));
    let again = run(&cluster, &dir, &["plan", "--exit-code"]);
    assert_eq!(again.status.code(), Some(0), "{}", stdout(&again));
}
