//! `dbsplit graph`: read the cluster and audit it, add what roles ran when `pg_stat_statements`
//! is there, draw.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use crate::audit::read::{audit_state, read_live};
use crate::cli::{ConnectArgs, GraphArgs, GraphFormat};
use crate::graph::{build, render};
use crate::usage::read::NotInstalled;

use super::live;

pub fn run(
    path: &Path,
    connect: &ConnectArgs,
    args: &GraphArgs,
    out: &mut impl Write,
) -> anyhow::Result<ExitCode> {
    let manifest = if args.no_manifest || (!path.exists() && path == Path::new("services.toml")) {
        None
    } else {
        Some(super::load_manifest(path)?)
    };
    let graph = live::runtime()?.block_on(async {
        let database = manifest.as_ref().map(|m| m.database.name.as_str());
        let mut client = match database {
            Some(database) => live::connect_to(connect, database).await?,
            None => live::connect_plain(connect).await?,
        };
        let (live, _) = read_live(&mut client, None, args.statement_timeout).await?;
        let report = audit_state(manifest.as_ref(), &live)?;
        let services = super::usage::services(manifest.as_ref(), &live)?;
        // Runtime edges only when the statistics are there; without them the rest still draws.
        let usage = match super::usage::runtime(&client, manifest.as_ref(), &live).await {
            Ok(usage) => Some(usage),
            Err(error) if error.is::<NotInstalled>() => None,
            Err(error) => return Err(error),
        };
        anyhow::Ok(build(&services, &report, usage.as_ref()))
    })?;
    match args.format {
        GraphFormat::Mermaid => render::mermaid(&graph, out)?,
        GraphFormat::Dot => render::dot(&graph, out)?,
        GraphFormat::Json => render::json(&graph, out)?,
    }
    Ok(ExitCode::SUCCESS)
}
