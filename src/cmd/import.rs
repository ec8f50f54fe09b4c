//! `dbsplit import`: read the catalogs of the connected database in one read-only snapshot,
//! propose a manifest (`crate::import`), check that it validates, print or write it.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};

use crate::audit::read::{begin, join_snapshot};
use crate::catalog::introspect::{Depth, Introspection, introspect_split};
use crate::cli::{ConnectArgs, ImportArgs};
use crate::import::{propose, render};
use crate::manifest::Manifest;

use super::live;

/// Catalog queries are bulk reads; a minute means something is wrong (a lock, a huge catalog).
const STATEMENT_TIMEOUT: Duration = Duration::from_secs(60);

pub fn run(
    connect: &ConnectArgs,
    args: &ImportArgs,
    out: &mut impl Write,
) -> anyhow::Result<ExitCode> {
    if let Some(path) = &args.out {
        if path.exists() && !args.force {
            bail!("{} exists; pass --force to overwrite it", path.display());
        }
    }
    let live = live::runtime()?.block_on(read(connect))?;
    let proposal = propose(&live.state, &live.database, &live.session_user)?;
    let text = render(&proposal);
    let target = args.out.as_deref().unwrap_or(Path::new("services.toml"));
    // The promise is a manifest that validates: a proposal that does not is a bug here.
    Manifest::parse(target, &text).map_err(|errors| {
        anyhow::anyhow!(
            "the proposed manifest does not validate (a bug in dbsplit import):\n{errors}"
        )
    })?;
    match &args.out {
        Some(path) => {
            std::fs::write(path, &text)
                .with_context(|| format!("cannot write {}", path.display()))?;
            let roles: usize = proposal
                .services
                .iter()
                .map(|s| s.roles.iter().filter(|r| r.left_out.is_none()).count())
                .sum();
            let commented = text.lines().filter(|l| l.starts_with("# roles.")).count();
            eprintln!(
                "wrote {}: {} services, {} shared schemas, {roles} roles placed, {} observers, {commented} role lines left for you to decide",
                path.display(),
                proposal.services.len(),
                proposal.shared.len(),
                proposal
                    .observers
                    .iter()
                    .filter(|o| o.left_out.is_none())
                    .count(),
            );
        }
        None => out.write_all(text.as_bytes())?,
    }
    Ok(ExitCode::SUCCESS)
}

/// Reads the catalogs in one read-only snapshot, over two sessions when a second one opens.
async fn read(connect: &ConnectArgs) -> anyhow::Result<Introspection> {
    let mut client = live::connect_plain(connect).await?;
    let mut second = live::connect_plain(connect).await.ok();
    let tx = begin(&mut client, STATEMENT_TIMEOUT).await?;
    let helper = match second.as_mut() {
        Some(second) => join_snapshot(&tx, second, STATEMENT_TIMEOUT).await.ok(),
        None => None,
    };
    let live = introspect_split(&tx, helper.as_ref(), Depth::Privileges)
        .await
        .context("cannot read the catalogs")?;
    Ok(live)
}
