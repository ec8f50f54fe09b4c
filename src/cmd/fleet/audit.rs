//! `dbsplit audit` over a fleet: each target read in its own read-only snapshot with the same
//! fixed catalog queries and audited with its part of the manifest, clusters concurrently.
//! Every finding names its cluster and database (a role's finding its cluster alone); a
//! target that cannot be read is named and the others are still audited; the exit code is
//! then 2.

use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use crate::audit::Report;
use crate::audit::fleet::{merge, place};
use crate::audit::read::{audit_desired, read_live};
use crate::audit::render::{self, TargetStatus};
use crate::cli::{AuditArgs, ConnectArgs, FindingsFormat};
use crate::desired::Desired;
use crate::finding::any_at_or_above;
use crate::fleet::Target;
use crate::fleet::run::Outcome;
use crate::manifest::Manifest;
use crate::report;
use crate::select::Selection;

use super::super::TROUBLE;

pub fn run(
    manifest: &Manifest,
    connect: &ConnectArgs,
    args: &AuditArgs,
    color: bool,
    out: &mut impl Write,
) -> anyhow::Result<ExitCode> {
    if args.runtime {
        anyhow::bail!(
            "--runtime does not work with a fleet manifest yet; run `dbsplit usage` per database"
        );
    }
    let prepared = super::prepare_services(manifest, &args.fleet, &args.services)?;
    let reading = crate::progress::Progress::spinner("reading the catalogs");
    let outcomes = audit_all(prepared, connect, args.statement_timeout, &args.fleet)?;
    drop(reading);
    let statuses: Vec<TargetStatus> = outcomes
        .iter()
        .map(|o| TargetStatus {
            cluster: o.target.cluster.clone(),
            database: o.target.database.clone(),
            status: if o.result.is_ok() {
                "audited"
            } else {
                "failed"
            },
            error: o.result.as_ref().err().map(super::chain),
        })
        .collect();
    let failed = super::plan::report_failures(&outcomes);
    let report = merge(outcomes.into_iter().filter_map(|o| o.result.ok()).collect());
    match args.findings.format {
        FindingsFormat::Json => render::json_with(&report, Some(&statuses), args.verbose, out)?,
        format => report::findings::render(
            super::super::findings_format(format),
            &report.findings,
            color,
            out,
        )?,
    }
    if args.findings.format == FindingsFormat::Human {
        render::human(&report, args.verbose, out)?;
        let lines: Vec<String> = statuses
            .iter()
            .map(|s| format!("{}/{} {}", s.cluster, s.database, s.status))
            .collect();
        writeln!(out, "\nTargets: {}", lines.join(", "))?;
    }
    Ok(if failed > 0 {
        ExitCode::from(TROUBLE)
    } else if any_at_or_above(&report.findings, args.findings.fail_on.severity()) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// Audits every target; clusters concurrently, the databases of one cluster in order.
fn audit_all(
    prepared: Vec<(Target, Desired, Option<Selection>)>,
    connect: &ConnectArgs,
    timeout: Duration,
    args: &crate::cli::FleetArgs,
) -> anyhow::Result<Vec<Outcome<Report>>> {
    let inputs = prepared
        .into_iter()
        .map(|(target, desired, select)| (target, (desired, select)))
        .collect();
    let connect = Arc::new(connect.clone());
    super::run_each(inputs, args, move |target, (desired, select)| {
        let connect = Arc::clone(&connect);
        async move { audit_one(&target, &desired, select.as_ref(), &connect, timeout).await }
    })
}

/// Reads one target in one snapshot (on a second session too when it can open one, as the
/// single-database audit does) and runs the rules with its part of the manifest.
async fn audit_one(
    target: &Target,
    desired: &Desired,
    select: Option<&Selection>,
    connect: &ConnectArgs,
    timeout: Duration,
) -> anyhow::Result<Report> {
    let (mut client, _connection) = super::connect_target(target, connect, None).await?;
    let mut second = super::connect_target(target, connect, None).await.ok();
    let (live, connections) =
        read_live(&mut client, second.as_mut().map(|(c, _)| c), timeout).await?;
    let connections = connections.with_manifest(&target.manifest);
    let (mut report, drift) = audit_desired(&target.manifest, desired, &live, Some(&connections))?;
    report::assign_owners(&mut report.findings, &target.manifest);
    if let Some(select) = select {
        report.findings = select.findings(std::mem::take(&mut report.findings));
    }
    place(&mut report, &drift, &target.cluster, &target.database);
    Ok(report)
}
