//! `dbsplit plan` over a fleet: each target planned under a read-only transaction, clusters
//! concurrently; the output grouped by target (`cluster/database`), JSON with `cluster` and
//! `database` on every change. A target that cannot be planned is reported and the others are
//! still shown; the exit code is then 2.

use std::collections::BTreeSet;
use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};

use crate::catalog::model::ClusterState;
use crate::cli::{ConnectArgs, FleetArgs, PlanArgs, PlanFormat};
use crate::desired::Desired;
use crate::fleet::run::Outcome;
use crate::fleet::saved::{FleetPlanFile, SavedTarget};
use crate::fleet::{self, Target};
use crate::manifest::Manifest;
use crate::plan::bootstrap::bootstrap;
use crate::plan::file::SavedPlan;
use crate::plan::live::PlanOptions;
use crate::plan::preflight::{self, Blocked};
use crate::plan::{Action, Plan};
use crate::report;
use crate::select::Selection;

use super::super::{TROUBLE, live};

/// A target's plan and what it was made from.
#[derive(Debug)]
pub struct TargetPlan {
    pub plan: Plan,
    pub desired: Desired,
    /// What of the live cluster this target owns ([`fleet::own_state`]).
    pub state: ClusterState,
    pub blocked: Vec<Blocked>,
    /// Who is connected, for the blocked changes' message.
    pub who: String,
}

pub fn run(
    manifest: &Manifest,
    connect: &ConnectArgs,
    args: &PlanArgs,
    color: bool,
    out: &mut impl Write,
) -> anyhow::Result<ExitCode> {
    let prepared = super::prepare_services(manifest, &args.fleet, &args.services)?;
    if args.offline {
        for (index, (target, desired, select)) in prepared.iter().enumerate() {
            let plan = bootstrap(&target.manifest, &narrow(desired, select.as_ref()));
            header(target, index, args.format, out)?;
            render(&plan, manifest, args.format, color, out)?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    let outcomes = plan_all(prepared, connect, args.prune, &args.fleet)?;
    if let Some(file) = &args.out {
        let saved = outcomes
            .iter()
            .filter_map(|o| {
                let planned = o.result.as_ref().ok()?;
                Some(SavedTarget {
                    cluster: o.target.cluster.clone(),
                    database: o.target.database.clone(),
                    saved: SavedPlan::new(planned.plan.clone(), &planned.desired, &planned.state),
                })
            })
            .collect();
        FleetPlanFile::new(saved).write(file)?;
    }
    match args.format {
        PlanFormat::Json => json(&outcomes, manifest, out)?,
        format => {
            for (index, outcome) in outcomes.iter().enumerate() {
                header(&outcome.target, index, format, out)?;
                match &outcome.result {
                    Ok(planned) => {
                        render(&planned.plan, manifest, format, color, out)?;
                        if !planned.blocked.is_empty() {
                            let text = report::plan::blocked(&planned.who, &planned.blocked);
                            match format {
                                PlanFormat::Human => write!(out, "{text}")?,
                                _ => eprint!("{text}"),
                            }
                        }
                    }
                    Err(error) => {
                        if format == PlanFormat::Human {
                            writeln!(out, "FAILED: {}\n", super::chain(error))?;
                        }
                    }
                }
            }
        }
    }
    let failed = report_failures(&outcomes);
    if failed > 0 {
        return Ok(ExitCode::from(TROUBLE));
    }
    let pending = outcomes
        .iter()
        .any(|o| o.result.as_ref().is_ok_and(|p| !p.plan.is_empty()));
    if args.exit_code && pending {
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

/// Plans every target; clusters concurrently, the databases of one cluster in order.
pub fn plan_all(
    prepared: Vec<(Target, Desired, Option<Selection>)>,
    connect: &ConnectArgs,
    prune: bool,
    args: &FleetArgs,
) -> anyhow::Result<Vec<Outcome<TargetPlan>>> {
    let inputs = prepared
        .into_iter()
        .map(|(target, desired, select)| (target, (desired, select)))
        .collect();
    let connect = Arc::new(connect.clone());
    let mut outcomes = super::run_each(inputs, args, move |target, (desired, select)| {
        let connect = Arc::clone(&connect);
        async move { plan_one(&target, desired, select, &connect, prune).await }
    })?;
    drop_pruned_twice(&mut outcomes);
    Ok(outcomes)
}

/// The desired state of a target's selected services (`--service`), or all of it.
pub fn narrow(desired: &Desired, select: Option<&Selection>) -> Desired {
    match select {
        Some(select) => select.desired(desired),
        None => desired.clone(),
    }
}

/// Plans one target under a read-only transaction; with `select`, its selected services.
async fn plan_one(
    target: &Target,
    desired: Desired,
    select: Option<Selection>,
    connect: &ConnectArgs,
    prune: bool,
) -> anyhow::Result<TargetPlan> {
    let desired = narrow(&desired, select.as_ref());
    let options = PlanOptions {
        prune,
        passwords: live::passwords(&desired),
        select,
    };
    let (client, _connection) = super::connect_target(target, connect, None).await?;
    client
        .batch_execute("START TRANSACTION READ ONLY")
        .await
        .context("cannot start a read-only transaction")?;
    let (plan, live) = crate::plan::live::plan(&client, &target.manifest, &desired, &options)
        .await
        .context("cannot read the cluster's catalogs")?;
    live.expect_database(&target.database)?;
    let refused = preflight::refusals(&desired, &live);
    if !refused.is_empty() {
        bail!("refusing this manifest: {}", refused.join("; "));
    }
    let blocked = preflight::blocked(&plan, &desired, &live);
    Ok(TargetPlan {
        state: fleet::own_state(&live.state, &desired),
        who: preflight::Session::new(&live).describe(),
        plan,
        desired,
        blocked,
    })
}

/// `--prune` drops a role that served two databases of one cluster once: in the first
/// target's plan. The later target's re-plan under the lock no longer sees the role.
fn drop_pruned_twice(outcomes: &mut [Outcome<TargetPlan>]) {
    let mut dropped: BTreeSet<(String, String)> = BTreeSet::new();
    for outcome in outcomes {
        let cluster = outcome.target.cluster.clone();
        let Ok(planned) = &mut outcome.result else {
            continue;
        };
        planned.plan.changes.retain(|change| match &change.action {
            Action::DropRole { role } => dropped.insert((cluster.clone(), role.clone())),
            _ => true,
        });
    }
}

/// Prints each failed target on stderr; returns how many failed.
pub fn report_failures<T>(outcomes: &[Outcome<T>]) -> usize {
    let failed: Vec<&Outcome<T>> = outcomes.iter().filter(|o| o.result.is_err()).collect();
    for outcome in &failed {
        if let Err(error) = &outcome.result {
            eprintln!("error: {}: {}", outcome.target.label(), super::chain(error));
        }
    }
    if !failed.is_empty() {
        let names: Vec<String> = failed.iter().map(|o| o.target.label()).collect();
        eprintln!(
            "error: {} of {} targets failed: {}",
            failed.len(),
            outcomes.len(),
            names.join(", ")
        );
    }
    failed.len()
}

/// The line that opens a target's part of the output.
fn header(
    target: &Target,
    index: usize,
    format: PlanFormat,
    out: &mut impl Write,
) -> std::io::Result<()> {
    let label = target.label();
    match format {
        PlanFormat::Human => {
            if index > 0 {
                writeln!(out)?;
            }
            writeln!(out, "=== {label} ===")
        }
        PlanFormat::Sql => writeln!(out, "-- target {label}"),
        PlanFormat::Markdown => writeln!(out, "## {label}\n"),
        PlanFormat::Json | PlanFormat::Github => Ok(()),
    }
}

/// `{"targets":[{"cluster","database","status","error"?}],"changes":[{"cluster","database",...}],
/// "notes":[{"cluster","database","note"}],"blocked":[...]}`.
fn json(
    outcomes: &[Outcome<TargetPlan>],
    manifest: &Manifest,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    use serde_json::{Value, json};
    let mut targets = Vec::new();
    let mut changes = Vec::new();
    let mut notes = Vec::new();
    let mut blocked = Vec::new();
    for outcome in outcomes {
        let (cluster, database) = (&outcome.target.cluster, &outcome.target.database);
        match &outcome.result {
            Ok(planned) => {
                let mut buffer = Vec::new();
                report::plan::json(
                    &planned.plan,
                    &report::plan::Owners::of(manifest),
                    &mut buffer,
                )?;
                let mut single: Value = serde_json::from_slice(&buffer)?;
                for change in single["changes"].as_array_mut().into_iter().flatten() {
                    if let Value::Object(fields) = change {
                        let mut with = serde_json::Map::new();
                        with.insert("cluster".into(), json!(cluster));
                        with.insert("database".into(), json!(database));
                        with.extend(std::mem::take(fields));
                        changes.push(Value::Object(with));
                    }
                }
                for note in single["notes"].as_array().into_iter().flatten() {
                    notes.push(json!({"cluster": cluster, "database": database, "note": note}));
                }
                for item in &planned.blocked {
                    blocked
                        .push(json!({"cluster": cluster, "database": database, "blocked": item}));
                }
                let status = if planned.plan.is_empty() {
                    "in-sync"
                } else {
                    "changes"
                };
                targets.push(json!({"cluster": cluster, "database": database, "status": status}));
            }
            Err(error) => targets.push(json!({
                "cluster": cluster,
                "database": database,
                "status": "failed",
                "error": super::chain(error),
            })),
        }
    }
    let mut document = json!({"targets": targets, "changes": changes, "notes": notes});
    if !blocked.is_empty() {
        document["blocked"] = Value::Array(blocked);
    }
    serde_json::to_writer_pretty(&mut *out, &document)?;
    writeln!(out)?;
    Ok(())
}

fn render(
    plan: &Plan,
    manifest: &Manifest,
    format: PlanFormat,
    color: bool,
    out: &mut impl Write,
) -> std::io::Result<()> {
    let owners = report::plan::Owners::of(manifest);
    report::plan::render(format, plan, &owners, color, out)
}
