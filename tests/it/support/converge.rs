//! Plan and apply through the library, as `dbsplit apply --yes` does: the example manifest, the
//! options the tests use, and the plan-then-apply step most live tests start from.

use std::collections::BTreeMap;
use std::time::Duration;

use dbsplit::apply::{ApplyOptions, Confirmed, apply};
use dbsplit::desired::{Desired, desired_state};
use dbsplit::manifest::Manifest;
use dbsplit::plan::Plan;
use dbsplit::plan::live::{PlanOptions, plan};
use tokio_postgres::Client;

use super::pg::assert_denied;
use super::root;

/// services.toml.example and its desired state.
pub fn example() -> (Manifest, Desired) {
    let manifest = Manifest::load(&root().join("services.toml.example")).expect("example loads");
    let desired = desired_state(&manifest);
    (manifest, desired)
}

/// No pruning, no passwords, every service, a 30 s lock timeout.
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

/// The live plan of `desired` with [`options`].
pub async fn plan_of(client: &Client, manifest: &Manifest, desired: &Desired) -> Plan {
    plan(client, manifest, desired, &options().plan)
        .await
        .expect("plan")
        .0
}

/// Plans, then applies that plan as confirmed; returns the plan applied.
pub async fn converge(client: &mut Client, manifest: &Manifest, desired: &Desired) -> Plan {
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

/// With the example applied, `billing_rw` (connected to `app`) cannot read another service's
/// schema, create in `public`, or run DDL in its own schema: SQLSTATE 42501 each.
pub async fn assert_billing_rw_confined(rw: &Client) {
    assert_denied(
        rw.query("SELECT * FROM monolith.customers", &[]).await,
        "billing_rw reads monolith",
    );
    assert_denied(
        rw.execute("CREATE TABLE public.x (id int)", &[]).await,
        "billing_rw creates in public",
    );
    assert_denied(
        rw.execute("CREATE TABLE billing.x (id int)", &[]).await,
        "billing_rw runs DDL",
    );
}
