//! `dbsplit audit`: read the catalogs in one read-only transaction, run the rules, render.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, bail};

use crate::audit::{Report, Services, audit};
use crate::catalog::introspect::{Depth, Introspection, introspect_split};
use crate::cli::{AuditArgs, ConnectArgs, FindingsFormat};
use crate::desired::desired_state;
use crate::finding::any_at_or_above;
use crate::manifest::Manifest;
use crate::pg::ident::Literal;
use crate::plan::diff::{DiffOptions, diff};
use crate::report;
use tokio_postgres::{Client, IsolationLevel, Transaction};

use super::live;

pub fn run(
    path: &Path,
    connect: &ConnectArgs,
    args: &AuditArgs,
    color: bool,
    out: &mut impl Write,
) -> anyhow::Result<ExitCode> {
    let manifest = if args.no_manifest || (!path.exists() && path == Path::new("services.toml")) {
        None
    } else {
        Some(super::load_manifest(path)?)
    };
    let report = live::runtime()?.block_on(read_and_audit(manifest.as_ref(), connect, args))?;
    report::findings::render(args.findings.format, &report.findings, color, out)?;
    if args.verbose && args.findings.format == FindingsFormat::Human {
        exceptions(&report, out)?;
    }
    Ok(
        if any_at_or_above(&report.findings, args.findings.fail_on.severity()) {
            ExitCode::from(1)
        } else {
            ExitCode::SUCCESS
        },
    )
}

async fn read_and_audit(
    manifest: Option<&Manifest>,
    connect: &ConnectArgs,
    args: &AuditArgs,
) -> anyhow::Result<Report> {
    let database = manifest.map(|m| m.database.name.as_str());
    let open = || async {
        match database {
            Some(database) => live::connect_to(connect, database).await,
            None => live::connect_plain(connect).await,
        }
    };
    let mut client = open().await?;
    // A second session on the same snapshot lets the server answer half of the catalog
    // queries at once, as pg_dump's parallel mode does. Without it (a connection limit, say)
    // one session reads everything.
    let mut second = open().await.ok();
    // Safe on production: one read-only snapshot, every query bounded in time.
    let timeout = format!(
        "SET LOCAL statement_timeout = {}",
        args.statement_timeout.as_millis().max(1)
    );
    let tx = client
        .build_transaction()
        .isolation_level(IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await
        .context("cannot start a read-only transaction")?;
    tx.batch_execute(&timeout)
        .await
        .context("cannot set statement_timeout")?;
    let helper = match second.as_mut() {
        Some(second) => join_snapshot(&tx, second, &timeout).await.ok(),
        None => None,
    };
    let live = introspect_split(&tx, helper.as_ref(), Depth::Dependencies)
        .await
        .context("cannot read the cluster's catalogs")?;
    if let Some(helper) = helper {
        helper
            .rollback()
            .await
            .context("cannot end the read-only transaction")?;
    }
    tx.rollback()
        .await
        .context("cannot end the read-only transaction")?;
    audit_state(manifest, &live)
}

/// Starts a read-only transaction on `second` that sees the snapshot of `first`.
async fn join_snapshot<'a>(
    first: &Transaction<'_>,
    second: &'a mut Client,
    timeout: &str,
) -> anyhow::Result<Transaction<'a>> {
    let snapshot: String = first
        .query_one("SELECT pg_catalog.pg_export_snapshot()", &[])
        .await?
        .get(0);
    let tx = second
        .build_transaction()
        .isolation_level(IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await?;
    tx.batch_execute(&format!("SET TRANSACTION SNAPSHOT {}", Literal(&snapshot)))
        .await?;
    tx.batch_execute(timeout).await?;
    Ok(tx)
}

/// Runs the rules over an introspected cluster, with the manifest's services and drift when
/// there is one, inferred services otherwise.
pub fn audit_state(manifest: Option<&Manifest>, live: &Introspection) -> anyhow::Result<Report> {
    let report = match manifest {
        Some(manifest) => {
            if live.database != manifest.database.name {
                bail!(
                    "connected to database {}, but the manifest manages database {}",
                    live.database,
                    manifest.database.name
                );
            }
            let desired = desired_state(manifest);
            let options = DiffOptions {
                membership_options: live.membership_options(),
                ..DiffOptions::default()
            };
            let drift = diff(manifest, &desired, &live.state, &live.database, &options);
            let services = Services::from_manifest(manifest);
            audit(&live.state, &live.database, &services, Some(&drift))
        }
        None => {
            let db = live
                .state
                .databases
                .get(&live.database)
                .context("the current database was not read")?;
            let services = Services::infer(&live.state, db);
            audit(&live.state, &live.database, &services, None)
        }
    };
    Ok(report)
}

fn exceptions(report: &Report, out: &mut impl Write) -> std::io::Result<()> {
    if report.exceptions.is_empty() {
        return writeln!(out, "\nNo declared exceptions.");
    }
    writeln!(out, "\nDeclared exceptions ({}):", report.exceptions.len())?;
    for exception in &report.exceptions {
        let role = exception
            .role
            .as_deref()
            .map(|r| format!(" by {r}"))
            .unwrap_or_default();
        writeln!(
            out,
            "  {} {}{role}: {}",
            exception.rule, exception.object, exception.reason
        )?;
    }
    Ok(())
}
