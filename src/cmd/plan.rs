//! `dbsplit plan`: the changes that bring a cluster to the manifest.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, bail};

use crate::catalog::snapshot::{begin_exported, join};
use crate::catalog::timings;
use crate::cli::{ConnectArgs, PlanArgs, PlanFormat};
use crate::desired::desired_state;
use crate::plan::bootstrap::bootstrap;
use crate::plan::file::SavedPlan;
use crate::plan::live::PlanOptions;
use crate::plan::{Action, Plan, preflight};
use crate::pooler::budget::ServerLimits;
use crate::report;
use crate::select::Selection;

use super::live;

pub fn run(
    path: &Path,
    connect: &ConnectArgs,
    args: &PlanArgs,
    color: bool,
    out: &mut impl Write,
) -> anyhow::Result<ExitCode> {
    timings::start();
    let manifest = super::load_fleet_manifest(path)?;
    timings::phase("manifest");
    if manifest.fleet {
        return super::fleet::plan::run(&manifest, connect, args, color, out);
    }
    super::fleet::check_v1_targets(&manifest, &args.fleet)?;
    let select = Selection::new(&manifest, &args.services)?;
    let desired = select.as_ref().map_or_else(
        || desired_state(&manifest),
        |s| s.desired(&desired_state(&manifest)),
    );
    if args.offline {
        render(
            &bootstrap(&manifest, &desired),
            &manifest,
            args.format,
            color,
            out,
        )?;
        return Ok(ExitCode::SUCCESS);
    }
    timings::phase("desired state");
    let options = PlanOptions {
        prune: args.prune,
        passwords: live::passwords(&desired),
        select,
    };
    let (mut plan, state, limits, usage) = live::runtime()?.block_on(async {
        let client = live::connect_to(connect, &manifest.database.name).await?;
        timings::phase("connect");
        // Planning only reads; a read-only transaction makes sure of it. The catalog queries
        // run on two sessions sharing its snapshot when a second one opens.
        let snapshot = begin_exported(&client).await?;
        timings::phase("begin and export the snapshot");
        // The second session connects while the first one runs its queries: after it, as two
        // connections starting at once could both be refused by a role's CONNECTION LIMIT 1,
        // where one alone is let in.
        let joining = async {
            let snapshot = snapshot.as_deref()?;
            let second = live::connect_to(connect, &manifest.database.name)
                .await
                .ok()?;
            let joined = join(&second, snapshot).await;
            timings::phase("connect the second session, join the snapshot");
            joined.then_some(second)
        };
        // The server's limits and the moves' notes are read meanwhile, on the first session.
        let (planned, limits, notes) = tokio::join!(
            crate::plan::live::plan_joining(&client, joining, &manifest, &desired, &options),
            ServerLimits::read(&client),
            crate::relocate::pending::notes(&client, &manifest),
        );
        let (plan, live, second) = planned.context("cannot read the cluster's catalogs")?;
        drop(second);
        live.expect_database(&manifest.database.name)?;
        let limits = limits?;
        for note in notes? {
            eprintln!("note: {note}");
        }
        // What roles really ran, to warn before revoking it: only when the plan revokes
        // anything. Last, since a failure (no pg_stat_statements) ends the transaction.
        let revokes = plan
            .changes
            .iter()
            .any(|change| matches!(change.action, Action::Revoke { .. }));
        let usage = if revokes {
            super::usage::runtime(&client, Some(&manifest), &live)
                .await
                .ok()
        } else {
            None
        };
        timings::phase("pg_stat_statements");
        anyhow::Ok((plan, live, limits, usage))
    })?;
    timings::phase("close the sessions");
    let budget = crate::pooler::budget::budget(&manifest, limits);
    let refused = preflight::refusals(&desired, &state);
    if !refused.is_empty() {
        bail!("refusing this manifest: {}", refused.join("; "));
    }
    let blocked = preflight::blocked(&plan, &desired, &state);
    let who = preflight::Session::new(&state).describe();
    if let Some(file) = &args.out {
        SavedPlan::new(plan.clone(), &desired, &state.state).write(file)?;
    }
    if let Some(usage) = &usage {
        plan.notes
            .extend(crate::usage::revokes::revoke_notes(&plan, usage));
    }
    if args.format == PlanFormat::Json && !blocked.is_empty() {
        // The plan's JSON, with what the connecting role cannot do next to the changes.
        let mut buffer = Vec::new();
        render(&plan, &manifest, args.format, color, &mut buffer)?;
        let mut json: serde_json::Value = serde_json::from_slice(&buffer)?;
        json["blocked"] = serde_json::to_value(&blocked)?;
        serde_json::to_writer_pretty(&mut *out, &json)?;
        writeln!(out)?;
    } else {
        render(&plan, &manifest, args.format, color, out)?;
    }
    if !blocked.is_empty() {
        let text = report::plan::blocked(&who, &blocked);
        match args.format {
            PlanFormat::Human => write!(out, "{text}")?,
            _ => eprint!("{text}"),
        }
    }
    timings::phase("render");
    // The process ends right after this: the system takes the memory back at once, where
    // freeing the read state and the desired one object by object took about a sixth of a
    // no-op plan's time on 10,000 tables.
    std::mem::forget(state);
    std::mem::forget(desired);
    if budget.exceeded() {
        eprintln!("error: connection-budget: {}", budget.message());
        return Ok(ExitCode::from(super::TROUBLE));
    }
    if args.exit_code && !plan.is_empty() {
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

fn render(
    plan: &Plan,
    manifest: &crate::manifest::Manifest,
    format: PlanFormat,
    color: bool,
    out: &mut impl Write,
) -> std::io::Result<()> {
    let owners = report::plan::Owners::of(manifest);
    report::plan::render(format, plan, &owners, color, out)
}
