//! `dbsplit plan`: the changes that bring a cluster to the manifest.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, bail};

use crate::apply::{self, ApplyOptions};
use crate::cli::{ConnectArgs, PlanArgs, PlanFormat};
use crate::desired::desired_state;
use crate::plan::Plan;
use crate::plan::bootstrap::bootstrap;
use crate::plan::file::SavedPlan;
use crate::report;

use super::live;

pub fn run(
    path: &Path,
    connect: &ConnectArgs,
    args: &PlanArgs,
    color: bool,
    out: &mut impl Write,
) -> anyhow::Result<ExitCode> {
    let manifest = super::load_manifest(path)?;
    let desired = desired_state(&manifest);
    if args.offline {
        render(&bootstrap(&manifest, &desired), args.format, color, out)?;
        return Ok(ExitCode::SUCCESS);
    }
    let options = ApplyOptions {
        lock_timeout: std::time::Duration::from_secs(30),
        prune: args.prune,
        passwords: live::passwords(&desired),
    };
    let (plan, state) = live::runtime()?.block_on(async {
        let client = live::connect_to(connect, &manifest.database.name).await?;
        // Planning only reads; a read-only transaction makes sure of it.
        client
            .batch_execute("START TRANSACTION READ ONLY")
            .await
            .context("cannot start a read-only transaction")?;
        let (plan, live) = apply::plan(&client, &manifest, &desired, &options)
            .await
            .context("cannot read the cluster's catalogs")?;
        if live.database != manifest.database.name {
            bail!(
                "connected to database {}, but the manifest manages database {}",
                live.database,
                manifest.database.name
            );
        }
        anyhow::Ok((plan, live.state))
    })?;
    if let Some(file) = &args.out {
        SavedPlan::new(plan.clone(), &desired, &state).write(file)?;
    }
    render(&plan, args.format, color, out)?;
    if args.exit_code && !plan.is_empty() {
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

fn render(
    plan: &Plan,
    format: PlanFormat,
    color: bool,
    out: &mut impl Write,
) -> std::io::Result<()> {
    match format {
        PlanFormat::Human => report::plan::human(plan, color, out),
        PlanFormat::Sql => report::plan::sql(plan, out),
        PlanFormat::Json => report::plan::json(plan, out),
    }
}
