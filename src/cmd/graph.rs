//! `dbsplit graph`: read the cluster and audit it, add what roles ran when `pg_stat_statements`
//! is there, draw. With a fleet manifest, every target is read (clusters concurrently) and the
//! drawing groups its services by cluster and database.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use tokio_postgres::Client;

use crate::audit::read::{audit_state, read_live};
use crate::catalog::introspect::Introspection;
use crate::cli::{ConnectArgs, GraphArgs, GraphFormat};
use crate::graph::fleet::{Fleet, Placed};
use crate::graph::{Graph, build, fleet as drawn, render};
use crate::manifest::Manifest;
use crate::usage::read::NotInstalled;

use super::live;

pub fn run(
    path: &Path,
    connect: &ConnectArgs,
    args: &GraphArgs,
    out: &mut impl Write,
) -> anyhow::Result<ExitCode> {
    let manifest = super::optional_manifest(path, args.no_manifest)?;
    if let Some(manifest) = manifest.as_ref().filter(|m| m.fleet) {
        return fleet(manifest, connect, args, out);
    }
    if let Some(manifest) = &manifest {
        super::fleet::check_v1_targets(manifest, &args.fleet)?;
    }
    let graph = live::runtime()?.block_on(async {
        let mut client = live::connect_for(connect, manifest.as_ref()).await?;
        let (live, _) = read_live(&mut client, None, args.statement_timeout).await?;
        graph_of(&client, manifest.as_ref(), &live).await
    })?;
    match args.format {
        GraphFormat::Mermaid => render::mermaid(&graph, out)?,
        GraphFormat::Dot => render::dot(&graph, out)?,
        GraphFormat::Json => render::json(&graph, out)?,
    }
    Ok(ExitCode::SUCCESS)
}

/// The graph of one database read on `client`.
async fn graph_of(
    client: &Client,
    manifest: Option<&Manifest>,
    live: &Introspection,
) -> anyhow::Result<Graph> {
    let report = audit_state(manifest, live)?;
    let services = super::usage::services(manifest, live)?;
    // Runtime edges only when the statistics are there; without them the rest still draws.
    let usage = match super::usage::runtime(client, manifest, live).await {
        Ok(usage) => Some(usage),
        Err(error) if error.is::<NotInstalled>() => None,
        Err(error) => return Err(error),
    };
    Ok(build(&services, &report, usage.as_ref()))
}

/// `graph` over a fleet manifest: each selected target read and drawn in its cluster's and
/// database's group. A target that cannot be read is named on stderr and makes the command
/// exit 2; the others are drawn.
fn fleet(
    manifest: &Manifest,
    connect: &ConnectArgs,
    args: &GraphArgs,
    out: &mut impl Write,
) -> anyhow::Result<ExitCode> {
    let targets = crate::fleet::select(crate::fleet::targets(manifest), &args.fleet.targets)?;
    let outcomes = super::fleet::read_each(
        targets,
        connect,
        &args.fleet,
        args.statement_timeout,
        |target, client, live| async move { graph_of(&client, Some(&target.manifest), &live).await },
    )?;
    let (drawn_targets, trouble) = super::fleet::succeeded(outcomes);
    let fleet = Fleet {
        targets: drawn_targets
            .into_iter()
            .map(|(target, graph)| Placed {
                cluster: target.cluster,
                database: target.database,
                graph,
            })
            .collect(),
    };
    match args.format {
        GraphFormat::Mermaid => drawn::mermaid(&fleet, out)?,
        GraphFormat::Dot => drawn::dot(&fleet, out)?,
        GraphFormat::Json => drawn::json(&fleet, out)?,
    }
    Ok(if trouble {
        ExitCode::from(super::TROUBLE)
    } else {
        ExitCode::SUCCESS
    })
}
