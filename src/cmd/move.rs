//! `dbsplit move SERVICE start|status|cutover|abort|finish`: resolve the source (the manifest's
//! database on --database-url) and the target (--to), run the step, render, pick the exit code.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, bail};

use crate::cli::{ConnectArgs, MoveArgs, MoveStep, MoveVerify, StatusFormat};
use crate::fleet;
use crate::manifest::{Manifest, Service};
use crate::pg::connect::connect as connect_to;
use crate::pg::options::{ConnectOptions, Env, resolve};
use crate::relocate::engine::{CutoverOptions, Move, Status, Verify};
use crate::relocate::provision::service_slice;

use super::{TROUBLE, live};

pub fn run(
    path: &Path,
    connect: &ConnectArgs,
    args: &MoveArgs,
    out: &mut impl Write,
) -> anyhow::Result<ExitCode> {
    let manifest = super::load_fleet_manifest(path)?;
    let service = super::service(&manifest, &args.service)?;
    let runtime = live::runtime()?;
    let (source, target, slice) = runtime.block_on(ends(&manifest, service, connect, args))?;
    let poolers = args
        .pgbouncer
        .iter()
        .map(|url| target_options(url, "pgbouncer", "--pgbouncer"))
        .collect::<anyhow::Result<Vec<_>>>()?;
    if manifest.pooler.is_some()
        && poolers.is_empty()
        && matches!(args.step, MoveStep::Cutover { .. } | MoveStep::Abort { .. })
    {
        eprintln!(
            "note: the manifest declares [pooler]: pass --pgbouncer URL (each instance's admin console) to have the alias `{}` repointed and the target's password verifiers made those of PgBouncer's userlist; without it, rewrite the alias by hand and re-run `dbsplit pooler` against the database the service now lives in (each server salts its own verifiers, so a userlist.txt written for one fails PgBouncer's logins on the other)",
            service.name
        );
    }
    let mv = Move {
        service,
        target_manifest: &slice,
        source: &source,
        target: &target,
        passwords: live::passwords,
        poolers: &poolers,
    };
    runtime.block_on(async {
        match &args.step {
            MoveStep::Start => {
                mv.start(out).await?;
                Ok(ExitCode::SUCCESS)
            }
            MoveStep::Status { format } => {
                let status = mv.status().await?;
                match format {
                    StatusFormat::Human => human(&status, out)?,
                    StatusFormat::Json => {
                        serde_json::to_writer_pretty(&mut *out, &status)?;
                        writeln!(out)?;
                    }
                }
                Ok(ExitCode::from(if status.ready { 0 } else { 1 }))
            }
            MoveStep::Cutover {
                max_lag,
                timeout,
                verify,
            } => {
                let options = CutoverOptions {
                    max_lag: *max_lag,
                    timeout: *timeout,
                    verify: verify_of(*verify),
                };
                let report = mv.cutover(&options, out).await?;
                match report.window {
                    Some(window) => writeln!(
                        out,
                        "cut over: {} table(s), {} sequence(s) set, compared by {} in {:.2} s; the service's writes were refused for {:.2} s",
                        report.tables,
                        report.sequences,
                        options.verify.as_str(),
                        report.verified.unwrap_or_default().as_secs_f64(),
                        window.as_secs_f64()
                    )?,
                    None => writeln!(
                        out,
                        "cut over ({} table(s)); the reverse subscription keeps the source current",
                        report.tables
                    )?,
                }
                writeln!(out, "connect the service to the target:")?;
                for (role, conninfo) in &report.connection_strings {
                    writeln!(out, "  {role}: {conninfo}")?;
                }
                Ok(ExitCode::SUCCESS)
            }
            MoveStep::Abort { timeout, verify } => {
                let options = CutoverOptions {
                    max_lag: i64::MAX,
                    timeout: *timeout,
                    verify: verify_of(*verify),
                };
                mv.abort(&options, out).await?;
                Ok(ExitCode::SUCCESS)
            }
            MoveStep::Finish => {
                mv.finish(out).await?;
                Ok(ExitCode::SUCCESS)
            }
        }
    })
    .or_else(|error: anyhow::Error| {
        eprintln!("error: {error:#}");
        Ok(ExitCode::from(TROUBLE))
    })
}

/// The source, the target and the target's manifest. The target is `--to`, else where a fleet
/// manifest places the service; the source is `--from`, else the manifest's database (v1), else
/// the one other database of the fleet that holds the service's schema.
async fn ends(
    manifest: &Manifest,
    service: &Service,
    connect: &ConnectArgs,
    args: &MoveArgs,
) -> anyhow::Result<(ConnectOptions, ConnectOptions, Manifest)> {
    let (target, slice, home) = match (&args.to, manifest.fleet) {
        (Some(to), _) => {
            let target = target_options(to, &manifest.database.name, "--to")?;
            let slice = service_slice(manifest, &service.name, &target.dbname);
            (target, slice, None)
        }
        (None, true) => {
            let placed = fleet::targets(manifest)
                .into_iter()
                .find(|t| t.key == service.database)
                .with_context(|| format!("service `{}` is placed nowhere", service.name))?;
            let target = fleet::connect::options(&placed, connect.database_url.as_deref())?;
            (target, placed.manifest.clone(), Some(placed.key))
        }
        (None, false) => bail!(
            "where to move service `{}`: place it in another database of a fleet manifest (`database = ...`), or pass --to URL",
            service.name
        ),
    };
    let source = match (&args.from, &home) {
        (Some(from), _) => target_options(from, &manifest.database.name, "--from")?,
        (None, None) => live::options_for(connect, &manifest.database.name)?,
        (None, Some(home)) => {
            let mut holders = Vec::new();
            for other in fleet::targets(manifest).iter().filter(|t| &t.key != home) {
                let options = fleet::connect::options(other, connect.database_url.as_deref())?;
                let (client, _connection) = connect_to(&options).await.with_context(|| {
                    format!(
                        "cannot look for schema `{}` in {}",
                        service.schema,
                        other.label()
                    )
                })?;
                let holds: bool = client
                    .query_one(
                        "SELECT EXISTS (SELECT FROM pg_catalog.pg_namespace WHERE nspname = $1)",
                        &[&service.schema],
                    )
                    .await?
                    .get(0);
                if holds {
                    holders.push((other.label(), options));
                }
            }
            match holders.len() {
                1 => holders.remove(0).1,
                0 => bail!(
                    "no other database of the manifest holds schema `{}`: nothing to move to {} (pass --from URL if it is elsewhere)",
                    service.schema,
                    target.redacted()
                ),
                _ => bail!(
                    "several databases hold schema `{}` ({}): pass --from URL",
                    service.schema,
                    holders
                        .iter()
                        .map(|h| h.0.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            }
        }
    };
    Ok((source, target, slice))
}

fn verify_of(verify: MoveVerify) -> Verify {
    match verify {
        MoveVerify::Count => Verify::Count,
        MoveVerify::Hash => Verify::Hash,
    }
}

/// Settings from `flag`'s URL alone (the PG* variables describe the source): --to, --from,
/// --pgbouncer; the database defaults to `database`, the password may come from ~/.pgpass.
fn target_options(url: &str, database: &str, flag: &str) -> anyhow::Result<ConnectOptions> {
    let process = Env::process();
    let var = |name: &str| match name {
        "PGDATABASE" => Some(database.to_string()),
        "HOME" | "PGPASSFILE" => (process.var)(name),
        _ => None,
    };
    let env = Env {
        var: &var,
        os_user: process.os_user.clone(),
    };
    resolve(Some(url), &env).with_context(|| format!("invalid {flag}"))
}

fn human(status: &Status, out: &mut impl Write) -> std::io::Result<()> {
    writeln!(
        out,
        "move of service {}: {}\n  source  {}\n  target  {}",
        status.service, status.phase, status.source, status.target
    )?;
    if !status.tables.is_empty() {
        let width = status
            .tables
            .iter()
            .map(|t| t.table.len())
            .max()
            .unwrap_or(5)
            .max(5);
        writeln!(
            out,
            "  {:width$}  {:13}  {:>11}  {:>11}",
            "table", "state", "source rows", "target rows"
        )?;
        let rows = |n: Option<i64>| n.map_or_else(|| "-".to_string(), |n| n.to_string());
        for table in &status.tables {
            writeln!(
                out,
                "  {:width$}  {:13}  {:>11}  {:>11}",
                table.table,
                table.state,
                rows(table.source_rows),
                rows(table.target_rows)
            )?;
        }
    }
    if let Some(bytes) = status.lag_bytes {
        writeln!(
            out,
            "  lag: {bytes} bytes, {:.1} s",
            status.lag_seconds.unwrap_or(0.0)
        )?;
    }
    writeln!(out, "  next: {}", status.next)
}
