//! The commands over a fleet manifest: each runs today's single-database pipeline per target
//! (`fleet::targets`), clusters concurrently, and reports per target `cluster/database`.
//! A v1 manifest never comes here: its commands run as before.

pub mod apply;
pub mod audit;
pub mod plan;
pub mod verify;

use anyhow::Context;
use tokio_postgres::Client;

use crate::cli::{ConnectArgs, FleetArgs};
use crate::desired::Desired;
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

/// An error with its cause chain, on one line.
pub fn chain(error: &anyhow::Error) -> String {
    format!("{error:#}")
}
