//! `dbsplit apply` over a fleet: every target planned and shown, one confirmation, then each
//! target applied in its own transaction (never one across databases): clusters concurrently,
//! the databases of one cluster one after another. A target that fails leaves the others to
//! land; the report names which landed, which failed and why (exit 2).

use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, anyhow};

use crate::apply::{self, ApplyError, ApplyOptions, Confirmed};
use crate::cli::{ApplyArgs, ConnectArgs};
use crate::desired::Desired;
use crate::fleet::run::{Outcome, per_cluster};
use crate::fleet::saved::FleetPlanFile;
use crate::fleet::{self, Target};
use crate::manifest::Manifest;
use crate::plan::Plan;
use crate::plan::file::Fingerprint;
use crate::plan::live::PlanOptions;
use crate::report;
use crate::select::Selection;

use super::super::{TROUBLE, live};

/// What a target is to apply: a plan, or why it cannot.
struct Pending {
    desired: Desired,
    plan: anyhow::Result<Plan>,
    /// For a saved plan: the fingerprint of what the target owned when it was made.
    fingerprint: Option<Fingerprint>,
    /// `--service`: the target's selected services.
    select: Option<Selection>,
}

/// What applying one target did.
enum Landed {
    InSync,
    Applied {
        changes: usize,
        statements: usize,
        /// More than 1 when the lock budget split the plan.
        transactions: usize,
        millis: u128,
    },
}

pub fn run(
    manifest: &Manifest,
    connect: &ConnectArgs,
    args: &ApplyArgs,
    color: bool,
    out: &mut impl Write,
) -> anyhow::Result<ExitCode> {
    let prepared = super::prepare_services(manifest, &args.fleet, &args.services)?;
    let pending: Vec<(Target, Pending)> = match &args.plan_file {
        Some(file) => {
            let saved = FleetPlanFile::read(file)?;
            prepared
                .into_iter()
                .map(|(target, desired, select)| {
                    let desired = super::plan::narrow(&desired, select.as_ref());
                    let found = saved.for_target(&target, &desired).cloned();
                    let pending = Pending {
                        fingerprint: found.as_ref().ok().map(|s| s.fingerprint.clone()),
                        plan: found.map(|s| s.plan),
                        desired,
                        select,
                    };
                    (target, pending)
                })
                .collect()
        }
        None => {
            let kept: Vec<(Desired, Option<Selection>)> = prepared
                .iter()
                .map(|(_, d, s)| (super::plan::narrow(d, s.as_ref()), s.clone()))
                .collect();
            let outcomes = super::plan::plan_all(prepared, connect, args.prune, &args.fleet)?;
            outcomes
                .into_iter()
                .zip(kept)
                .map(|(outcome, (desired, select))| {
                    let plan = outcome.result.and_then(|planned| {
                        if planned.blocked.is_empty() {
                            return Ok(planned.plan);
                        }
                        Err(anyhow!(
                            "{}nothing was applied to this target",
                            report::plan::blocked(&planned.who, &planned.blocked)
                        ))
                    });
                    let pending = Pending {
                        desired,
                        plan,
                        fingerprint: None,
                        select,
                    };
                    (outcome.target, pending)
                })
                .collect()
        }
    };
    for (index, (target, pending)) in pending.iter().enumerate() {
        if index > 0 {
            writeln!(out)?;
        }
        writeln!(out, "=== {} ===", target.label())?;
        match &pending.plan {
            Ok(plan) => report::plan::human(plan, &report::plan::Owners::of(manifest), color, out)?,
            Err(error) => writeln!(out, "FAILED: {}", super::chain(error))?,
        }
    }
    let changes: usize = pending
        .iter()
        .filter_map(|(_, p)| p.plan.as_ref().ok())
        .map(|plan| plan.changes.len())
        .sum();
    let with_changes = pending
        .iter()
        .filter(|(_, p)| p.plan.as_ref().is_ok_and(|plan| !plan.is_empty()))
        .count();
    if changes > 0 && !args.yes && !confirm(changes, with_changes)? {
        writeln!(out, "Nothing applied.")?;
        return Ok(ExitCode::from(TROUBLE));
    }
    let options = (args.lock_timeout, args.prune, args.single_transaction);
    let connect = Arc::new(connect.clone());
    let (targets, pending): (Vec<Target>, Vec<Option<Pending>>) =
        pending.into_iter().map(|(t, p)| (t, Some(p))).unzip();
    let pending = Arc::new(std::sync::Mutex::new(pending));
    let outcomes = super::runtime(&args.fleet)?.block_on(per_cluster(
        targets,
        usize::from(args.fleet.jobs),
        move |index, target| {
            let connect = Arc::clone(&connect);
            let taken = pending
                .lock()
                .ok()
                .and_then(|mut list| list.get_mut(index).and_then(Option::take));
            async move {
                let pending = taken.context("internal: a target was applied twice")?;
                apply_one(&target, pending, &connect, options).await
            }
        },
    ));
    writeln!(out)?;
    summarise(&outcomes, out)?;
    let failed = super::plan::report_failures(&outcomes);
    Ok(if failed > 0 {
        ExitCode::from(TROUBLE)
    } else {
        ExitCode::SUCCESS
    })
}

/// Asks before applying; refuses to ask without a terminal.
fn confirm(changes: usize, targets: usize) -> anyhow::Result<bool> {
    if !std::io::stdin().is_terminal() {
        anyhow::bail!(
            "refusing to apply without confirmation: stdin is not a terminal; pass --yes"
        );
    }
    let question = format!("Apply these {changes} changes to {targets} databases?");
    dialoguer::Confirm::new()
        .with_prompt(question)
        .default(false)
        .interact()
        .context("the confirmation prompt failed")
}

/// Applies one target's plan in one transaction on its own connection.
async fn apply_one(
    target: &Target,
    pending: Pending,
    connect: &ConnectArgs,
    (lock_timeout, prune, single_transaction): (std::time::Duration, bool, bool),
) -> anyhow::Result<Landed> {
    let plan = pending.plan?;
    if plan.is_empty() {
        return Ok(Landed::InSync);
    }
    let desired = pending.desired;
    let options = ApplyOptions {
        lock_timeout,
        plan: PlanOptions {
            prune,
            passwords: live::passwords(&desired),
            select: pending.select,
        },
    };
    let label = target.label();
    let notices = Some(live::show_notices(Some(&label)));
    let (mut client, _connection) = super::connect_target(target, connect, notices).await?;
    crate::pg::connect::refuse_standby(&client, "apply").await?;
    if let Some(fingerprint) = &pending.fingerprint {
        // A saved plan: refused when what this target owns changed since it was made.
        let (now, live) =
            crate::plan::live::plan(&client, &target.manifest, &desired, &options.plan)
                .await
                .context("cannot read the cluster's catalogs")?;
        live.expect_database(&target.database)?;
        fingerprint
            .check(&fleet::own_state(&live.state, &desired), &now)
            .context("the saved plan is stale for this target; nothing was applied to it")?;
    }
    let started = Instant::now();
    let confirmed = Confirmed {
        plan,
        fingerprint: None,
    };
    // Within the lock budget: in transactions of whole services when one does not fit.
    let report = apply::apply_budgeted(
        &mut client,
        &target.manifest,
        &desired,
        &options,
        &confirmed,
        single_transaction,
    )
    .await
    .map_err(|error| {
        let what = if error.is_partial() {
            "apply failed part-way in this database"
        } else {
            "apply failed; nothing was changed in this database"
        };
        anyhow::Error::new(error).context(what)
    })?;
    Ok(Landed::Applied {
        changes: report.plan.changes.len(),
        statements: report.statements,
        transactions: report.transactions,
        millis: started.elapsed().as_millis(),
    })
}

/// One line per target: landed, in sync, or failed.
fn summarise(outcomes: &[Outcome<Landed>], out: &mut impl Write) -> std::io::Result<()> {
    for outcome in outcomes {
        let label = outcome.target.label();
        match &outcome.result {
            Ok(Landed::InSync) => writeln!(out, "{label}: in sync, nothing to apply")?,
            Ok(Landed::Applied { statements: 0, .. }) => writeln!(
                out,
                "{label}: nothing to do: another apply already brought it to the manifest"
            )?,
            Ok(Landed::Applied {
                changes,
                statements,
                transactions,
                millis,
            }) => writeln!(
                out,
                "{label}: applied {changes} changes ({statements} statements{}) in {millis} ms",
                if *transactions > 1 {
                    format!(", {transactions} transactions of whole services")
                } else {
                    String::new()
                }
            )?,
            Err(error)
                if error
                    .downcast_ref::<ApplyError>()
                    .is_some_and(ApplyError::is_partial) =>
            {
                writeln!(
                    out,
                    "{label}: FAILED part-way (see below); the transactions before the failed one stay applied"
                )?
            }
            Err(_) => writeln!(
                out,
                "{label}: FAILED (see below); nothing was applied to it"
            )?,
        }
    }
    Ok(())
}
