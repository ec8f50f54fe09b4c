//! Apply in bulk on real servers: the executed SQL is grouped and sent many statements per
//! round trip, and a statement failing in the middle of a message is named exactly while the
//! transaction leaves the cluster as it was.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use dbsplit::apply::{ApplyError, ApplyOptions, Confirmed, apply};
use dbsplit::catalog::introspect::{Depth, introspect};
use dbsplit::desired::{Desired, desired_state};
use dbsplit::manifest::Manifest;
use dbsplit::plan::Plan;
use dbsplit::plan::live::{PlanOptions, plan};
use tokio_postgres::Client;

use crate::support::pg::TestCluster;

/// `services` services `svc_1`.. with one readwrite role each, in database `app`.
pub fn manifest(services: usize) -> (Manifest, Desired, String) {
    let mut text = String::from(
        "version = 1\n[database]\nname = \"app\"\npublic_schema = \"lockdown\"\nrevoke_public_connect = true\n",
    );
    for i in 1..=services {
        text.push_str(&format!(
            "[services.svc_{i}]\nroles.svc_{i}_rw = {{ access = \"readwrite\" }}\nroles.svc_{i}_ro = {{ access = \"readonly\" }}\n"
        ));
    }
    let manifest =
        Manifest::parse(Path::new("services.toml"), &text).unwrap_or_else(|e| panic!("{e:?}"));
    let desired = desired_state(&manifest);
    (manifest, desired, text)
}

/// The legacy state: `services` schemas of `tables` tables each (a bigserial key, so a
/// sequence and an index per table), all owned by the superuser. One table per round trip,
/// so that creating them fits a small lock table.
pub async fn legacy(client: &Client, services: usize, tables: usize) {
    for i in 1..=services {
        client
            .batch_execute(&format!("CREATE SCHEMA svc_{i}"))
            .await
            .expect("schema");
        for t in 1..=tables {
            client
                .batch_execute(&format!(
                    "CREATE TABLE svc_{i}.t_{t} (id bigserial PRIMARY KEY, payload text)"
                ))
                .await
                .expect("table");
        }
    }
}

pub fn options() -> ApplyOptions {
    ApplyOptions {
        lock_timeout: Duration::from_secs(30),
        plan: PlanOptions {
            prune: false,
            passwords: BTreeMap::new(),
            select: None,
        },
    }
}

async fn plan_of(client: &Client, manifest: &Manifest, desired: &Desired) -> Plan {
    plan(client, manifest, desired, &options().plan)
        .await
        .expect("plan")
        .0
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cold_apply_is_grouped_into_few_round_trips_and_converges() {
    let cluster = TestCluster::start("app");
    let mut admin = cluster.superuser("app").await;
    legacy(&admin, 2, 150).await;
    let (manifest, desired, _) = manifest(2);
    let planned = plan_of(&admin, &manifest, &desired).await;
    let confirmed = Confirmed {
        plan: planned.clone(),
        fingerprint: None,
    };
    let report = apply(&mut admin, &manifest, &desired, &options(), &confirmed)
        .await
        .unwrap_or_else(|e| panic!("{e:#}"));
    // One change per object in the plan; far fewer statements, fewer round trips still.
    assert!(planned.changes.len() > 900, "{}", planned.changes.len());
    assert!(
        report.statements < planned.changes.len() / 2,
        "{} statements for {} changes",
        report.statements,
        planned.changes.len()
    );
    assert!(
        report.round_trips <= 3,
        "{} round trips",
        report.round_trips
    );
    assert!(plan_of(&admin, &manifest, &desired).await.is_empty());
    let ro = cluster.connect("svc_2_ro", "app").await;
    ro.query("SELECT * FROM svc_2.t_150", &[])
        .await
        .expect("the grouped grant reached the last table");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_statement_failing_mid_message_is_named_and_nothing_changes() {
    let cluster = TestCluster::start("app");
    let mut admin = cluster.superuser("app").await;
    legacy(&admin, 1, 40).await;
    // Refuses the owner change of one table, the 30th of 40 in the same message.
    admin
        .batch_execute(
            "CREATE FUNCTION refuse() RETURNS event_trigger LANGUAGE plpgsql AS $$
             BEGIN
               IF EXISTS (SELECT FROM pg_event_trigger_ddl_commands() WHERE object_identity = 'svc_1.t_30') THEN
                 RAISE EXCEPTION 'boom: t_30 stays where it is';
               END IF;
             END $$;
             CREATE EVENT TRIGGER refuse ON ddl_command_end WHEN TAG IN ('ALTER TABLE') EXECUTE FUNCTION refuse();",
        )
        .await
        .expect("event trigger");
    let (manifest, desired, _) = manifest(1);
    let before = introspect(&admin, Depth::Dependencies)
        .await
        .expect("introspect");
    let planned = plan_of(&admin, &manifest, &desired).await;
    let confirmed = Confirmed {
        plan: planned,
        fingerprint: None,
    };
    let error = apply(&mut admin, &manifest, &desired, &options(), &confirmed)
        .await
        .expect_err("the event trigger refuses one ALTER TABLE");
    let message = error.to_string();
    assert!(matches!(error, ApplyError::Statement { .. }), "{message}");
    assert!(
        message.contains("boom: t_30 stays where it is"),
        "{message}"
    );
    assert!(
        message.contains(r#"statement: ALTER TABLE "svc_1"."t_30" OWNER TO "svc_1_owner";"#),
        "{message}"
    );
    let after = introspect(&admin, Depth::Dependencies)
        .await
        .expect("introspect");
    assert_eq!(before, after);
}
