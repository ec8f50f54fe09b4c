//! How `audit` reads a live cluster: one read-only snapshot, every query bounded in time, the
//! catalog queries split over two sessions sharing that snapshot when a second one can be
//! opened (as pg_dump's parallel mode does); then the rules, with the manifest's services or
//! inferred ones. The connections themselves are the caller's.

use std::time::Duration;

use anyhow::Context;
use tokio_postgres::{Client, IsolationLevel, Transaction};

use crate::catalog::introspect::{Depth, Introspection, introspect_split};
use crate::catalog::timings;
use crate::desired::{Desired, desired_state};
use crate::manifest::Manifest;
use crate::pg::ident::Literal;
use crate::plan::Plan;
use crate::plan::diff::{DiffOptions, diff};
use crate::pooler::activity::Connections;

use super::{Report, Services, audit_with};

/// Starts a `REPEATABLE READ READ ONLY` transaction whose statements give up after `timeout`.
pub async fn begin(client: &mut Client, timeout: Duration) -> anyhow::Result<Transaction<'_>> {
    let tx = client
        .build_transaction()
        .isolation_level(IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await
        .context("cannot start a read-only transaction")?;
    set_timeout(&tx, timeout).await?;
    Ok(tx)
}

async fn set_timeout(tx: &Transaction<'_>, timeout: Duration) -> anyhow::Result<()> {
    tx.batch_execute(&format!(
        "SET LOCAL statement_timeout = {}",
        timeout.as_millis().max(1)
    ))
    .await
    .context("cannot set statement_timeout")
}

/// Starts a read-only transaction on `second` that sees the snapshot of `first`, with the same
/// statement timeout.
pub async fn join_snapshot<'a>(
    first: &Transaction<'_>,
    second: &'a mut Client,
    timeout: Duration,
) -> anyhow::Result<Transaction<'a>> {
    let snapshot: String = first
        .query_one("SELECT pg_catalog.pg_export_snapshot()", &[])
        .await
        .context("cannot export the snapshot")?
        .get(0);
    let tx = second
        .build_transaction()
        .isolation_level(IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await
        .context("cannot start a read-only transaction")?;
    tx.batch_execute(&format!("SET TRANSACTION SNAPSHOT {}", Literal(&snapshot)))
        .await
        .context("cannot join the snapshot")?;
    set_timeout(&tx, timeout).await?;
    Ok(tx)
}

/// Reads what the rules need in one snapshot, on `client` and, when given and it can join the
/// snapshot, `second` too: the catalogs, and the server's connection limits and sessions.
/// Both transactions are rolled back: nothing is ever written.
pub async fn read_live(
    client: &mut Client,
    second: Option<&mut Client>,
    timeout: Duration,
) -> anyhow::Result<(Introspection, Connections)> {
    let tx = begin(client, timeout).await?;
    let helper = match second {
        Some(second) => join_snapshot(&tx, second, timeout).await.ok(),
        None => None,
    };
    timings::phase("begin, export and join the snapshot");
    let live = introspect_split(&tx, helper.as_ref(), Depth::Dependencies)
        .await
        .context("cannot read the cluster's catalogs")?;
    let connections = Connections::read(&tx).await?;
    timings::phase("connections");
    if let Some(helper) = helper {
        helper
            .rollback()
            .await
            .context("cannot end the read-only transaction")?;
    }
    tx.rollback()
        .await
        .context("cannot end the read-only transaction")?;
    Ok((live, connections))
}

/// Runs the rules over an introspected cluster, with the manifest's services and drift when
/// there is one, inferred services otherwise.
pub fn audit_state(manifest: Option<&Manifest>, live: &Introspection) -> anyhow::Result<Report> {
    audit_state_with(manifest, live, None)
}

/// [`audit_state`], with the server's connection limits and sessions when they were read.
pub fn audit_state_with(
    manifest: Option<&Manifest>,
    live: &Introspection,
    connections: Option<Connections>,
) -> anyhow::Result<Report> {
    let connections = match (connections, manifest) {
        (Some(connections), Some(manifest)) => Some(connections.with_manifest(manifest)),
        (connections, _) => connections,
    };
    let connections = connections.as_ref();
    let report = match manifest {
        Some(manifest) => {
            let desired = desired_state(manifest);
            timings::phase("desired state");
            audit_desired(manifest, &desired, live, connections)?.0
        }
        None => {
            let db = live
                .state
                .databases
                .get(&live.database)
                .context("the current database was not read")?;
            let services = Services::infer(&live.state, db);
            audit_with(&live.state, &live.database, &services, None, connections)
        }
    };
    Ok(report)
}

/// Runs the rules over the manifest's database with `desired` (a fleet target's, whose roles
/// may be planned by another target of the cluster) and returns the drift plan with the
/// report. `connections` already carry the manifest's pools ([`Connections::with_manifest`]).
pub fn audit_desired(
    manifest: &Manifest,
    desired: &Desired,
    live: &Introspection,
    connections: Option<&Connections>,
) -> anyhow::Result<(Report, Plan)> {
    live.expect_database(&manifest.database.name)?;
    let options = DiffOptions {
        membership_options: live.membership_options(),
        ..DiffOptions::default()
    };
    let drift = diff(manifest, desired, &live.state, &live.database, &options);
    timings::phase("diff");
    let services = Services::from_manifest(manifest);
    let report = audit_with(
        &live.state,
        &live.database,
        &services,
        Some(&drift),
        connections,
    );
    timings::phase("rules");
    Ok((report, drift))
}
