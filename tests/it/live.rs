//! Live plan and apply against real servers: convergence, drift, adoption of a hand-made
//! cluster, atomicity on failure, serialisation of concurrent applies, scale.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use dbsplit::apply::{ApplyError, ApplyOptions, Confirmed, LOCK_CLASS, apply};
use dbsplit::catalog::introspect::{Depth, introspect};
use dbsplit::desired::desired_state;
use dbsplit::manifest::Manifest;
use dbsplit::plan::Plan;
use dbsplit::plan::file::Fingerprint;
use dbsplit::plan::live::{PlanOptions, plan};
use dbsplit::plan::sql::statements;
use tokio_postgres::Client;

use crate::support::converge::{assert_billing_rw_confined, converge, example, options, plan_of};
use crate::support::pg::{TestCluster, assert_denied};

/// Each change as `kind object: sql`, for readable assertions.
fn lines(plan: &Plan) -> BTreeSet<String> {
    plan.changes
        .iter()
        .map(|c| {
            format!(
                "{} {}: {}",
                c.action.kind(),
                c.action.object(),
                statements(&c.action).join(" ")
            )
        })
        .collect()
}

const TABLES: &str = "
SET ROLE monolith_owner;
CREATE TABLE monolith.customers (id bigserial PRIMARY KEY, name text);
SET ROLE billing_owner;
CREATE TABLE billing.invoices (id bigserial PRIMARY KEY, amount numeric);
SET ROLE reference_owner;
CREATE TABLE reference.currencies (code text PRIMARY KEY);
RESET ROLE;
";

#[tokio::test(flavor = "multi_thread")]
async fn apply_on_an_empty_cluster_then_plan_is_empty() {
    let cluster = TestCluster::start("app");
    let (manifest, desired) = example();
    let mut admin = cluster.superuser("app").await;
    let first = converge(&mut admin, &manifest, &desired).await;
    assert!(first.changes.len() > 20, "{:#?}", lines(&first));
    cluster.psql_ok("app", TABLES);
    let again = plan_of(&admin, &manifest, &desired).await;
    assert!(again.changes.is_empty(), "{:#?}", lines(&again));

    let rw = cluster.connect("billing_rw", "app").await;
    rw.execute("INSERT INTO invoices (amount) VALUES (1)", &[])
        .await
        .expect("own table");
    assert_denied(
        rw.query("SELECT * FROM monolith.customers", &[]).await,
        "billing_rw reads monolith",
    );
    assert_denied(
        rw.execute("CREATE TABLE public.x (id int)", &[]).await,
        "billing_rw creates in public",
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn drift_is_planned_exactly_and_removed() {
    let cluster = TestCluster::start("app");
    let (manifest, desired) = example();
    let mut admin = cluster.superuser("app").await;
    converge(&mut admin, &manifest, &desired).await;
    cluster.psql_ok("app", TABLES);
    cluster.psql_ok(
        "app",
        "GRANT SELECT ON billing.invoices TO monolith_rw;
         ALTER ROLE billing_rw SUPERUSER;
         ALTER TABLE billing.invoices OWNER TO postgres;
         GRANT CREATE ON SCHEMA public TO PUBLIC;
         ALTER ROLE billing_rw IN DATABASE app SET search_path = billing, monolith;
         GRANT SELECT ON billing.invoices TO billing_ro WITH GRANT OPTION;",
    );
    let drift = plan_of(&admin, &manifest, &desired).await;
    let expected: BTreeSet<String> = [
        r#"alter-role role billing_rw: ALTER ROLE "billing_rw" WITH NOSUPERUSER;"#,
        r#"alter-owner table billing.invoices: ALTER TABLE "billing"."invoices" OWNER TO "billing_owner";"#,
        r#"revoke table billing.invoices: REVOKE SELECT ON TABLE "billing"."invoices" FROM "monolith_rw";"#,
        r#"revoke schema public: REVOKE CREATE ON SCHEMA "public" FROM PUBLIC;"#,
        r#"set-search-path role billing_rw: ALTER ROLE "billing_rw" IN DATABASE "app" SET search_path = "billing";"#,
        r#"revoke-grant-option table billing.invoices: REVOKE GRANT OPTION FOR SELECT ON TABLE "billing"."invoices" FROM "billing_ro" CASCADE;"#,
    ]
    .into_iter()
    .map(String::from)
    .collect();
    assert_eq!(lines(&drift), expected);

    converge(&mut admin, &manifest, &desired).await;
    let after = plan_of(&admin, &manifest, &desired).await;
    assert!(after.changes.is_empty(), "{:#?}", lines(&after));
    let monolith = cluster.connect("monolith_rw", "app").await;
    assert_denied(
        monolith.query("SELECT * FROM billing.invoices", &[]).await,
        "monolith_rw reads billing",
    );
    let super_: bool = admin
        .query_one(
            "SELECT rolsuper FROM pg_roles WHERE rolname = 'billing_rw'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(!super_);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cluster_set_up_by_hand_converges() {
    let cluster = TestCluster::start("app");
    // The common way: each schema owned by its service's login role, search_path with public,
    // explicit revokes between services, CREATE on public still open.
    cluster.psql_ok(
        "app",
        "CREATE ROLE monolith_rw LOGIN PASSWORD 'x';
         CREATE ROLE billing_rw LOGIN;
         CREATE ROLE notifications_rw LOGIN;
         CREATE SCHEMA monolith AUTHORIZATION monolith_rw;
         CREATE SCHEMA billing AUTHORIZATION billing_rw;
         CREATE SCHEMA notifications AUTHORIZATION notifications_rw;
         ALTER ROLE billing_rw SET search_path = billing, public;
         ALTER ROLE monolith_rw SET search_path = monolith, public;
         REVOKE ALL ON SCHEMA billing FROM PUBLIC;
         REVOKE ALL ON SCHEMA monolith FROM PUBLIC;
         GRANT CREATE ON SCHEMA public TO PUBLIC;
         SET ROLE billing_rw;
         CREATE TABLE billing.invoices (id bigserial PRIMARY KEY, amount numeric);
         CREATE FUNCTION billing.total() RETURNS numeric LANGUAGE sql AS 'SELECT sum(amount) FROM billing.invoices';
         CREATE VIEW billing.big AS SELECT * FROM billing.invoices WHERE amount > 100;
         RESET ROLE;
         SET ROLE monolith_rw;
         CREATE TABLE monolith.customers (id int PRIMARY KEY, nick text);
         GRANT SELECT ON monolith.customers TO billing_rw;
         GRANT SELECT (nick) ON monolith.customers TO notifications_rw;
         RESET ROLE;",
    );
    let (manifest, desired) = example();
    let mut admin = cluster.superuser("app").await;
    converge(&mut admin, &manifest, &desired).await;
    let after = plan_of(&admin, &manifest, &desired).await;
    assert!(after.changes.is_empty(), "{:#?}", lines(&after));

    let owner: String = admin
        .query_one(
            "SELECT tableowner::text FROM pg_tables WHERE tablename = 'invoices'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(owner, "billing_owner");
    let rw = cluster.connect("billing_rw", "app").await;
    rw.execute("INSERT INTO invoices (amount) VALUES (200)", &[])
        .await
        .expect("writes its table");
    rw.query("SELECT * FROM big", &[])
        .await
        .expect("reads its view");
    rw.query("SELECT total()", &[])
        .await
        .expect("runs its function");
    assert_billing_rw_confined(&rw).await;
    let path: String = rw.query_one("SHOW search_path", &[]).await.unwrap().get(0);
    assert_eq!(path, "billing");
    let notifications = cluster.connect("notifications_rw", "app").await;
    assert_denied(
        notifications
            .query("SELECT nick FROM monolith.customers", &[])
            .await,
        "column privilege revoked",
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_statement_leaves_the_cluster_exactly_as_it_was() {
    let cluster = TestCluster::start("app");
    cluster.psql_ok(
        "app",
        "CREATE SCHEMA billing;
         CREATE TABLE billing.invoices (id int);
         CREATE FUNCTION refuse() RETURNS event_trigger LANGUAGE plpgsql AS
           $$ BEGIN RAISE EXCEPTION 'boom: ALTER TABLE refused'; END $$;
         CREATE EVENT TRIGGER no_alter ON ddl_command_start WHEN TAG IN ('ALTER TABLE') EXECUTE FUNCTION refuse();",
    );
    let (manifest, desired) = example();
    let mut admin = cluster.superuser("app").await;
    let before = introspect(&admin, Depth::Dependencies).await.unwrap();
    let planned = plan_of(&admin, &manifest, &desired).await;
    let confirmed = Confirmed {
        plan: planned,
        fingerprint: None,
    };
    let error = apply(&mut admin, &manifest, &desired, &options(), &confirmed)
        .await
        .expect_err("the event trigger makes ALTER TABLE fail");
    let message = error.to_string();
    assert!(matches!(error, ApplyError::Statement { .. }), "{message}");
    assert!(message.contains("boom: ALTER TABLE refused"), "{message}");
    assert!(
        message.contains(r#"ALTER TABLE "billing"."invoices" OWNER TO "billing_owner""#),
        "{message}"
    );
    let after = introspect(&admin, Depth::Dependencies).await.unwrap();
    assert_eq!(before, after);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_connection_killed_mid_apply_leaves_the_cluster_exactly_as_it_was() {
    let cluster = TestCluster::start("app");
    cluster.psql_ok(
        "app",
        "CREATE SCHEMA billing; CREATE TABLE billing.invoices (id int);",
    );
    let (manifest, desired) = example();
    let observer = cluster.superuser("app").await;
    let before = introspect(&observer, Depth::Dependencies).await.unwrap();
    // Hold a lock so apply stops inside its ALTER TABLE, mid-transaction.
    let locker = cluster.superuser("app").await;
    locker
        .batch_execute("BEGIN; LOCK TABLE billing.invoices IN ACCESS SHARE MODE")
        .await
        .unwrap();
    let mut victim = cluster.superuser("app").await;
    let pid: i32 = victim
        .query_one("SELECT pg_backend_pid()", &[])
        .await
        .unwrap()
        .get(0);
    let (m, d) = (manifest.clone(), desired.clone());
    let task = tokio::spawn(async move {
        let planned = plan_of(&victim, &m, &d).await;
        let confirmed = Confirmed {
            plan: planned,
            fingerprint: None,
        };
        apply(&mut victim, &m, &d, &options(), &confirmed).await
    });
    let mut waited = 0;
    loop {
        let waiting = observer
            .query(
                "SELECT 1 FROM pg_locks WHERE pid = $1 AND NOT granted AND relation = 'billing.invoices'::regclass",
                &[&pid],
            )
            .await
            .unwrap();
        if !waiting.is_empty() {
            break;
        }
        waited += 1;
        assert!(waited < 300, "apply never reached its ALTER TABLE");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    observer
        .execute("SELECT pg_terminate_backend($1)", &[&pid])
        .await
        .unwrap();
    let result = task.await.unwrap();
    assert!(result.is_err(), "apply reports the lost connection");
    locker.batch_execute("ROLLBACK").await.unwrap();
    let after = introspect(&observer, Depth::Dependencies).await.unwrap();
    assert_eq!(before, after);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_held_lock_makes_apply_give_up_and_concurrent_applies_serialise() {
    let cluster = TestCluster::start("app");
    let (manifest, desired) = example();
    let holder = cluster.superuser("app").await;
    holder
        .execute("SELECT pg_advisory_lock($1, 0)", &[&LOCK_CLASS])
        .await
        .unwrap();

    let mut impatient = cluster.superuser("app").await;
    let planned = plan_of(&impatient, &manifest, &desired).await;
    let confirmed = Confirmed {
        plan: planned.clone(),
        fingerprint: None,
    };
    let short = ApplyOptions {
        lock_timeout: Duration::from_millis(200),
        ..options()
    };
    let error = apply(&mut impatient, &manifest, &desired, &short, &confirmed)
        .await
        .expect_err("the lock is held");
    assert!(matches!(error, ApplyError::Locked(_)), "{error}");
    assert!(
        error
            .to_string()
            .contains("another dbsplit apply holds the lock")
    );

    // Two applies of the same plan start while the lock is held; released, they run in turn:
    // one applies, the other finds nothing left to do.
    let mut tasks = Vec::new();
    for _ in 0..2 {
        let mut client = cluster.superuser("app").await;
        let (m, d, c) = (manifest.clone(), desired.clone(), confirmed.clone());
        tasks.push(tokio::spawn(async move {
            apply(&mut client, &m, &d, &options(), &c).await
        }));
    }
    // Released only once both are seen queued behind the test's own lock: neither has begun.
    let queued = format!(
        "SELECT count(*) FROM pg_catalog.pg_locks WHERE locktype = 'advisory' AND classid = ({LOCK_CLASS})::oid AND objid = 0 AND objsubid = 2 AND NOT granted"
    );
    let mut polls = 0;
    while holder
        .query_one(&queued, &[])
        .await
        .unwrap()
        .get::<_, i64>(0)
        < 2
    {
        polls += 1;
        assert!(polls < 1500, "the two applies never queued for the lock");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let waiting: i64 = holder
        .query_one(
            "SELECT count(*) FROM pg_catalog.pg_stat_activity WHERE wait_event_type = 'Lock' AND wait_event = 'advisory' AND datname = 'app'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(waiting, 2, "both applies wait, nothing else does");
    holder
        .execute("SELECT pg_advisory_unlock($1, 0)", &[&LOCK_CLASS])
        .await
        .unwrap();
    let mut counts = Vec::new();
    for task in tasks {
        counts.push(
            task.await
                .unwrap()
                .expect("both applies succeed")
                .statements,
        );
    }
    counts.sort();
    assert_eq!(counts[0], 0, "the second apply had nothing left to do");
    assert!(counts[1] > 0);
    let after = plan_of(&holder, &manifest, &desired).await;
    assert!(after.changes.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn two_hundred_services_apply_replan_empty_and_one_drifted_grant_is_seen_and_repaired() {
    let cluster = TestCluster::start("big");
    let mut text = String::from("version = 1\n[database]\nname = \"big\"\n");
    for i in 0..200 {
        text.push_str(&format!(
            "[services.s{i:03}]\nroles.s{i:03}_rw = {{ access = \"readwrite\" }}\nroles.s{i:03}_ro = {{ access = \"readonly\" }}\n"
        ));
    }
    let manifest = Manifest::parse(Path::new("big.toml"), &text).expect("valid");
    let desired = desired_state(&manifest);
    let mut admin = cluster.superuser("big").await;
    converge(&mut admin, &manifest, &desired).await;
    let again = plan_of(&admin, &manifest, &desired).await;
    assert!(again.changes.is_empty(), "{:#?}", lines(&again));
    let converged = introspect(&admin, Depth::Dependencies).await.unwrap().state;

    // One grant among the 200 services taken away by hand: the fingerprint of the cluster
    // changes, plan repairs exactly that grant, and the repaired cluster reads as before.
    admin
        .batch_execute("REVOKE USAGE ON SCHEMA s137 FROM s137_ro")
        .await
        .unwrap();
    let drifted = introspect(&admin, Depth::Dependencies).await.unwrap().state;
    assert_ne!(Fingerprint::of(&converged), Fingerprint::of(&drifted));
    let repair = converge(&mut admin, &manifest, &desired).await;
    assert_eq!(
        lines(&repair),
        BTreeSet::from([
            r#"grant schema s137: GRANT USAGE ON SCHEMA "s137" TO "s137_ro";"#.to_string()
        ])
    );
    let repaired = introspect(&admin, Depth::Dependencies).await.unwrap().state;
    assert_eq!(Fingerprint::of(&converged), Fingerprint::of(&repaired));
    assert_eq!(converged, repaired);
}

/// Counts the queries introspection sends through it.
struct Counting<'a> {
    client: &'a Client,
    queries: std::sync::atomic::AtomicUsize,
}

impl dbsplit::catalog::introspect::Queryer for Counting<'_> {
    async fn query_all(
        &self,
        sql: &str,
    ) -> Result<Vec<tokio_postgres::Row>, tokio_postgres::Error> {
        self.queries
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.client.query(sql, &[]).await
    }
}

async fn count_queries(client: &Client) -> (usize, usize) {
    let counting = Counting {
        client,
        queries: 0.into(),
    };
    let live = introspect(&counting, Depth::Dependencies)
        .await
        .expect("introspect");
    let objects = live
        .state
        .databases
        .values()
        .flat_map(|d| d.schemas.values())
        .map(|s| s.objects.len())
        .sum();
    (counting.queries.into_inner(), objects)
}

#[tokio::test(flavor = "multi_thread")]
async fn introspection_takes_the_same_few_queries_whatever_the_cluster_size() {
    let cluster = TestCluster::start("app");
    let client = cluster.superuser("app").await;
    let (small, small_objects) = count_queries(&client).await;
    let mut setup = String::new();
    for s in 0..30 {
        setup.push_str(&format!(
            "CREATE SCHEMA s{s}; CREATE ROLE s{s}_rw; GRANT USAGE ON SCHEMA s{s} TO s{s}_rw;\n"
        ));
        for t in 0..10 {
            setup.push_str(&format!(
                "CREATE TABLE s{s}.t{t} (id serial PRIMARY KEY, v text); GRANT SELECT (v) ON s{s}.t{t} TO s{s}_rw;
                 CREATE FUNCTION s{s}.f{t}(x int) RETURNS int LANGUAGE sql AS 'SELECT x';\n"
            ));
        }
        setup.push_str(&format!("CREATE TYPE s{s}.mood AS ENUM ('ok'); ALTER DEFAULT PRIVILEGES IN SCHEMA s{s} GRANT SELECT ON TABLES TO s{s}_rw;\n"));
    }
    cluster.psql_ok("app", &setup);
    let (large, large_objects) = count_queries(&client).await;
    assert!(
        large_objects >= 30 * 21,
        "the large cluster was read: {large_objects} objects"
    );
    assert!(small_objects < large_objects);
    assert_eq!(small, large, "queries must not grow with the cluster");
    // Each catalog query is a file of its own: as superuser at the deepest level, one each,
    // but `linked`, which `plan` reads only when a sequence's owner is to change (`audit`
    // reads the same with the relations).
    let files = std::fs::read_dir(crate::support::root().join("src/catalog/queries"))
        .expect("the queries folder")
        .filter(|e| {
            e.as_ref().is_ok_and(|e| {
                e.path().extension().is_some_and(|x| x == "sql") && e.file_name() != "linked.sql"
            })
        })
        .count();
    assert_eq!(large, files, "one query per file in src/catalog/queries");
}

#[tokio::test(flavor = "multi_thread")]
async fn roles_dbsplit_created_are_pruned_only_on_request_and_only_when_nothing_depends_on_them() {
    let cluster = TestCluster::start("app");
    let (manifest, desired) = example();
    let mut admin = cluster.superuser("app").await;
    converge(&mut admin, &manifest, &desired).await;
    // An older manifest named two more roles; one of them still owns a table.
    cluster.psql_ok(
        "app",
        "CREATE ROLE old_rw; COMMENT ON ROLE old_rw IS 'managed by dbsplit';
         CREATE ROLE old_owner; COMMENT ON ROLE old_owner IS 'managed by dbsplit';
         CREATE TABLE public.leftover (id int); ALTER TABLE public.leftover OWNER TO old_owner;
         CREATE ROLE hand_made;",
    );
    let kept = plan_of(&admin, &manifest, &desired).await;
    assert!(kept.changes.is_empty(), "{:#?}", lines(&kept));
    assert!(
        kept.notes
            .iter()
            .any(|n| n.contains("role old_rw was created by dbsplit")),
        "{:?}",
        kept.notes
    );
    // Roles dbsplit did not create are listed, never pruned.
    assert!(
        kept.notes
            .iter()
            .any(|n| n.contains("not in the manifest, left alone") && n.contains("hand_made")),
        "{:?}",
        kept.notes
    );
    assert!(
        !kept
            .notes
            .iter()
            .any(|n| n.contains("hand_made") && n.contains("--prune")),
        "{:?}",
        kept.notes
    );

    let prune = ApplyOptions {
        plan: PlanOptions {
            prune: true,
            ..options().plan
        },
        ..options()
    };
    let (pruning, _) = plan(&admin, &manifest, &desired, &prune.plan)
        .await
        .expect("plan");
    assert_eq!(
        lines(&pruning),
        BTreeSet::from([r#"drop-role role old_rw: DROP ROLE "old_rw";"#.to_string()])
    );
    assert!(
        pruning
            .notes
            .iter()
            .any(|n| n.contains("old_owner") && n.contains("not dropped")),
        "{:?}",
        pruning.notes
    );
    let confirmed = Confirmed {
        plan: pruning,
        fingerprint: None,
    };
    apply(&mut admin, &manifest, &desired, &prune, &confirmed)
        .await
        .expect("apply --prune");
    let left: Vec<String> = admin
        .query("SELECT rolname::text FROM pg_roles WHERE rolname IN ('old_rw', 'old_owner', 'hand_made') ORDER BY 1", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(left, ["hand_made", "old_owner"]);
}
