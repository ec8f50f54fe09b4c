//! `dbsplit usage`: connect, read the cluster (as `audit` does) and `pg_stat_statements`,
//! resolve every statement, render. Also the runtime half of `audit --runtime`.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use tokio_postgres::Client;

use crate::audit::Services;
use crate::audit::read::read_live;
use crate::catalog::introspect::Introspection;
use crate::cli::{ConnectArgs, FindingsFormat, UsageArgs};
use crate::finding::{Finding, any_at_or_above};
use crate::fleet;
use crate::manifest::Manifest;
use crate::report::findings::Format;
use crate::usage::{Usage, analyze, read, render};

use super::live;

pub fn run(
    path: &Path,
    connect: &ConnectArgs,
    args: &UsageArgs,
    color: bool,
    out: &mut impl Write,
) -> anyhow::Result<ExitCode> {
    let manifest = super::optional_manifest(path, args.no_manifest)?;
    if let Some(manifest) = manifest.as_ref().filter(|m| m.fleet) {
        return fleet(manifest, connect, args, color, out);
    }
    if let Some(manifest) = &manifest {
        super::fleet::check_v1_targets(manifest, &args.fleet)?;
    }
    let usage = live::runtime()?.block_on(async {
        let mut client = live::connect_for(connect, manifest.as_ref()).await?;
        let (live, _) = read_live(&mut client, None, args.statement_timeout).await?;
        runtime(&client, manifest.as_ref(), &live).await
    })?;
    if args.findings.format != FindingsFormat::Human {
        for note in render::notes(&usage) {
            eprintln!("note: {note}");
        }
    }
    render::render(
        super::findings_format(args.findings.format),
        &usage,
        color,
        out,
    )?;
    Ok(
        if any_at_or_above(&usage.findings, args.findings.fail_on.severity()) {
            ExitCode::from(1)
        } else {
            ExitCode::SUCCESS
        },
    )
}

/// `usage` over a fleet manifest: `pg_stat_statements` read on every selected target
/// (clusters concurrently), rendered per target (`=== cluster/database ===`), or in one JSON
/// document whose entries carry `cluster` and `database`. A target that cannot be read is
/// named on stderr and makes the command exit 2; the others are shown.
fn fleet(
    manifest: &Manifest,
    connect: &ConnectArgs,
    args: &UsageArgs,
    color: bool,
    out: &mut impl Write,
) -> anyhow::Result<ExitCode> {
    let targets = fleet::select(fleet::targets(manifest), &args.fleet.targets)?;
    let outcomes = super::fleet::read_each(
        targets,
        connect,
        &args.fleet,
        args.statement_timeout,
        |target, client, live| async move { runtime(&client, Some(&target.manifest), &live).await },
    )?;
    let (read, trouble) = super::fleet::succeeded(outcomes);
    let format = super::findings_format(args.findings.format);
    match format {
        Format::Human => {
            for (target, usage) in &read {
                writeln!(out, "=== {} ===", target.label())?;
                render::render(format, usage, color, out)?;
            }
        }
        Format::Json => {
            let targets: Vec<(&str, &str, &Usage)> = read
                .iter()
                .map(|(t, u)| (t.cluster.as_str(), t.database.as_str(), u))
                .collect();
            render::fleet_json(&targets, out)?;
        }
        other => {
            let findings: Vec<Finding> = read
                .iter()
                .flat_map(|(_, u)| u.findings.iter().cloned())
                .collect();
            crate::report::findings::render(other, &findings, color, out)?;
        }
    }
    if format != Format::Human {
        for (target, usage) in &read {
            for note in render::notes(usage) {
                eprintln!("note: {}: {note}", target.label());
            }
        }
    }
    let fail_on = args.findings.fail_on.severity();
    Ok(if trouble {
        ExitCode::from(super::TROUBLE)
    } else if read
        .iter()
        .any(|(_, u)| any_at_or_above(&u.findings, fail_on))
    {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// The services of `live`: the manifest's (refusing another database than its), or inferred.
pub fn services(manifest: Option<&Manifest>, live: &Introspection) -> anyhow::Result<Services> {
    Ok(match manifest {
        Some(manifest) => {
            live.expect_database(&manifest.database.name)?;
            Services::from_manifest(manifest)
        }
        None => {
            let db = live
                .state
                .databases
                .get(&live.database)
                .context("the current database was not read")?;
            Services::infer(&live.state, db)
        }
    })
}

/// Reads `pg_stat_statements` on `client` and resolves it against `live`.
pub async fn runtime(
    client: &Client,
    manifest: Option<&Manifest>,
    live: &Introspection,
) -> anyhow::Result<Usage> {
    let services = services(manifest, live)?;
    let stats = read::read(client).await?;
    Ok(analyze(&stats, &live.state, &live.database, &services))
}
