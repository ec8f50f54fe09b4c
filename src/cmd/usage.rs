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
use crate::finding::any_at_or_above;
use crate::manifest::Manifest;
use crate::usage::{Usage, analyze, read, render};

use super::live;

pub fn run(
    path: &Path,
    connect: &ConnectArgs,
    args: &UsageArgs,
    color: bool,
    out: &mut impl Write,
) -> anyhow::Result<ExitCode> {
    let manifest = if args.no_manifest || (!path.exists() && path == Path::new("services.toml")) {
        None
    } else {
        Some(super::load_manifest(path)?)
    };
    let usage = live::runtime()?.block_on(async {
        let database = manifest.as_ref().map(|m| m.database.name.as_str());
        let mut client = match database {
            Some(database) => live::connect_to(connect, database).await?,
            None => live::connect_plain(connect).await?,
        };
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
