//! The commands over a fleet manifest: each runs today's single-database pipeline per target
//! (`fleet::targets`), clusters concurrently, and reports per target `cluster/database`.
//! A v1 manifest never comes here: its commands run as before.

pub mod apply;
pub mod audit;
pub mod plan;
pub mod verify;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio_postgres::Client;

use crate::audit::read::read_live;
use crate::catalog::introspect::Introspection;
use crate::cli::{ConnectArgs, FleetArgs};
use crate::desired::Desired;
use crate::fleet::run::{Outcome, per_cluster};
use crate::fleet::{self, Target};
use crate::manifest::Manifest;
use crate::pg::connect::{Connection, Notices, connect, connect_noticing};
use crate::select::Selection;

/// The targets `--target` selects with their desired states (roles once per cluster) and,
/// with `--service`, their selections: every name must be a service of the manifest; only the
/// targets where a named service is placed are kept, each with the selection of its named
/// services. Without names: every selected target, no selection.
pub fn prepare_services(
    manifest: &Manifest,
    args: &FleetArgs,
    services: &[String],
) -> anyhow::Result<Vec<(Target, Desired, Option<Selection>)>> {
    let all = fleet::targets(manifest);
    let mut selected = Vec::new();
    let mut selections = Vec::new();
    for (target, here) in services_per_target(manifest, args, services)? {
        selections.push(Selection::new(&target.manifest, &here)?);
        selected.push(target);
    }
    let desired = fleet::desired_states(&all, &selected);
    Ok(selected
        .into_iter()
        .zip(desired)
        .zip(selections)
        .map(|((target, desired), select)| (target, desired, select))
        .collect())
}

/// The targets `--target` selects, each with the `--service` names placed there; with names,
/// only the targets where one is placed. Every name must be a service of the manifest.
pub fn services_per_target(
    manifest: &Manifest,
    args: &FleetArgs,
    services: &[String],
) -> anyhow::Result<Vec<(Target, Vec<String>)>> {
    Selection::new(manifest, services)?;
    let mut selected = Vec::new();
    for target in fleet::select(fleet::targets(manifest), &args.targets)? {
        let here: Vec<String> = services
            .iter()
            .filter(|name| target.manifest.service(name).is_some())
            .cloned()
            .collect();
        if services.is_empty() || !here.is_empty() {
            selected.push((target, here));
        }
    }
    if selected.is_empty() {
        anyhow::bail!("none of the named services is placed in the selected targets");
    }
    Ok(selected)
}

/// Refuses `--target` names a v1 manifest does not have (its one target is its database).
pub fn check_v1_targets(manifest: &Manifest, args: &FleetArgs) -> anyhow::Result<()> {
    fleet::select(fleet::targets(manifest), &args.targets).map(|_| ())
}

/// A runtime whose workers let clusters progress in parallel.
pub fn runtime(args: &FleetArgs) -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(usize::from(args.jobs).clamp(1, 16))
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// Connects to a target's database.
pub async fn connect_target(
    target: &Target,
    args: &ConnectArgs,
    notices: Option<Notices>,
) -> anyhow::Result<(Client, Connection)> {
    let options = fleet::connect::options(target, args.database_url.as_deref())?;
    let connected = match notices {
        Some(notices) => connect_noticing(&options, notices).await?,
        None => connect(&options).await?,
    };
    Ok(connected)
}

/// Runs `work` on every target with its own input: clusters concurrently (at most `--jobs`),
/// the databases of one cluster in order. Returns the outcomes in the inputs' order.
pub fn run_each<I, T, F, Fut>(
    inputs: Vec<(Target, I)>,
    args: &FleetArgs,
    work: F,
) -> anyhow::Result<Vec<Outcome<T>>>
where
    I: Clone + Send + Sync + 'static,
    T: Send + 'static,
    F: Fn(Target, I) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = anyhow::Result<T>> + Send + 'static,
{
    let (targets, inputs): (Vec<Target>, Vec<I>) = inputs.into_iter().unzip();
    let inputs = Arc::new(inputs);
    Ok(runtime(args)?.block_on(per_cluster(
        targets,
        usize::from(args.jobs),
        move |index, target| work(target, inputs[index].clone()),
    )))
}

/// Reads every target's live state in one read-only snapshot (as `audit` does) and hands it,
/// with the target's open session, to `then`.
pub fn read_each<T, F, Fut>(
    targets: Vec<Target>,
    connect: &ConnectArgs,
    args: &FleetArgs,
    timeout: Duration,
    then: F,
) -> anyhow::Result<Vec<Outcome<T>>>
where
    T: Send + 'static,
    F: Fn(Target, Client, Introspection) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = anyhow::Result<T>> + Send + 'static,
{
    let connect = Arc::new(connect.clone());
    let then = Arc::new(then);
    let inputs = targets.into_iter().map(|target| (target, ())).collect();
    run_each(inputs, args, move |target, ()| {
        let connect = Arc::clone(&connect);
        let then = Arc::clone(&then);
        async move {
            // The connection task lives until `then` is done with the session.
            let (mut client, _connection) = connect_target(&target, &connect, None).await?;
            let (live, _) = read_live(&mut client, None, timeout).await?;
            then(target, client, live).await
        }
    })
}

/// The targets whose work succeeded, with its result, and whether any failed; each failure is
/// named on stderr (`error: cluster/database: cause`).
pub fn succeeded<T>(outcomes: Vec<Outcome<T>>) -> (Vec<(Target, T)>, bool) {
    let mut done = Vec::new();
    let mut failed = false;
    for outcome in outcomes {
        match outcome.result {
            Ok(value) => done.push((outcome.target, value)),
            Err(error) => {
                failed = true;
                eprintln!("error: {}: {}", outcome.target.label(), chain(&error));
            }
        }
    }
    (done, failed)
}

/// An error with its cause chain, on one line.
pub fn chain(error: &anyhow::Error) -> String {
    format!("{error:#}")
}
