//! `dbsplit audit`: connect, read the catalogs in one read-only snapshot and run the rules
//! (`crate::audit::read`), render.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use crate::audit::read::{audit_state_with, read_live};
use crate::audit::render;
use crate::cli::{AuditArgs, ConnectArgs, FindingsFormat};
use crate::finding::any_at_or_above;
use crate::manifest::Manifest;
use crate::report;
use crate::select::Selection;

use super::live;

pub fn run(
    path: &Path,
    connect: &ConnectArgs,
    args: &AuditArgs,
    color: bool,
    out: &mut impl Write,
) -> anyhow::Result<ExitCode> {
    let manifest = super::optional_manifest(path, args.no_manifest)?;
    match &manifest {
        Some(manifest) if manifest.fleet => {
            return super::fleet::audit::run(manifest, connect, args, color, out);
        }
        Some(manifest) => super::fleet::check_v1_targets(manifest, &args.fleet)?,
        None if !args.fleet.targets.is_empty() => {
            anyhow::bail!("--target names databases of a fleet manifest, and there is none here")
        }
        None => {}
    }
    let select = match &manifest {
        Some(manifest) => Selection::new(manifest, &args.services)?,
        None if !args.services.is_empty() => {
            anyhow::bail!("--service names services of the manifest, and there is none here")
        }
        None => None,
    };
    let reading = crate::progress::Progress::spinner("reading the catalogs");
    let mut report = live::runtime()?.block_on(async {
        let (live, connections, client) = read(manifest.as_ref(), connect, args).await?;
        let mut report = audit_state_with(manifest.as_ref(), &live, Some(connections))?;
        if args.runtime {
            let usage = super::usage::runtime(&client, manifest.as_ref(), &live).await?;
            for note in crate::usage::render::notes(&usage) {
                eprintln!("note: {note}");
            }
            report.findings.extend(usage.findings);
            crate::finding::sort(&mut report.findings);
            report.exceptions.extend(usage.exceptions);
            report.exceptions.sort();
        }
        // The process ends soon after: the system takes the read state's memory back at once,
        // where freeing it object by object took about a seventh of the audit's own work on
        // 10,000 tables (as `plan` does with its state).
        std::mem::forget(live);
        anyhow::Ok(report)
    })?;
    drop(reading);
    if let Some(manifest) = &manifest {
        crate::report::assign_owners(&mut report.findings, manifest);
    }
    if let Some(select) = &select {
        report.findings = select.findings(std::mem::take(&mut report.findings));
    }
    match args.findings.format {
        FindingsFormat::Json => render::json(&report, args.verbose, out)?,
        format => {
            report::findings::render(super::findings_format(format), &report.findings, color, out)?
        }
    }
    if args.findings.format == FindingsFormat::Human {
        render::human(&report, args.verbose, out)?;
    }
    Ok(
        if any_at_or_above(&report.findings, args.findings.fail_on.severity()) {
            ExitCode::from(1)
        } else {
            ExitCode::SUCCESS
        },
    )
}

/// Opens the sessions and reads the cluster. A second session on the same snapshot lets the
/// server answer half of the catalog queries at once; without it (a connection limit, say)
/// one session reads everything. The first session is returned for `--runtime`.
async fn read(
    manifest: Option<&Manifest>,
    connect: &ConnectArgs,
    args: &AuditArgs,
) -> anyhow::Result<(
    crate::catalog::introspect::Introspection,
    crate::pooler::activity::Connections,
    tokio_postgres::Client,
)> {
    let open = || live::connect_for(connect, manifest);
    let mut client = open().await?;
    let mut second = open().await.ok();
    let (live, connections) =
        read_live(&mut client, second.as_mut(), args.statement_timeout).await?;
    Ok((live, connections, client))
}
