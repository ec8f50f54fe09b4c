//! `dbsplit migrate [SERVICE...]`: lint, then run each service's pending migrations on its own
//! connection, concurrently, printing progress and the server's notices as they come.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;

use super::{choose, read};
use crate::cli::{ConnectArgs, MigrateArgs};
use crate::cmd::TROUBLE;
use crate::cmd::live::{connect_noticing_to, runtime, show_notices};
use crate::finding::{RuleId, Severity, any_at_or_above};
use crate::lint::lint;
use crate::manifest::{Manifest, Service};
use crate::migrate::progress::Progress;
use crate::migrate::run::{self, RunOptions};
use crate::migrations::{File, Input};
use crate::report;

/// The rules `migrate` enforces even with `--no-lint`: what cannot be sent as a statement.
const ALWAYS_REFUSED: [RuleId; 2] = [RuleId::CopyFromStdin, RuleId::PsqlMetaCommand];

/// Lints, then migrates every chosen service concurrently and reports each.
pub(super) fn migrate(
    manifest: &Manifest,
    connect: &ConnectArgs,
    args: &MigrateArgs,
    color: bool,
    out: &mut impl Write,
) -> anyhow::Result<ExitCode> {
    let names: Vec<String> = args.services.iter().chain(&args.service).cloned().collect();
    let chosen = choose(manifest, &names)?;
    let input = read(manifest, &chosen)?;
    if !lint_first(manifest, &input, args.no_lint, color, out)? {
        return Ok(ExitCode::from(1));
    }
    let targets: Vec<(Service, Vec<File>)> = chosen
        .into_iter()
        .map(|service| {
            let files = input.files_of(&service.name);
            (service.clone(), files)
        })
        .collect();
    let options = RunOptions {
        lock_timeout: args.lock.lock_timeout,
        dry_run: args.dry_run,
        trust: args.trust_migrations,
    };
    let database = manifest.database.name.clone();
    // A local set: the connection setup is not Send, and one thread is plenty for waiting on
    // servers.
    let local = tokio::task::LocalSet::new();
    runtime()?.block_on(local.run_until(async {
        // `None`: the service is done (migrated or failed), for the progress bar.
        let (sender, mut receiver) =
            tokio::sync::mpsc::unbounded_channel::<(String, Option<Progress>)>();
        let total = targets.len() as u64;
        let mut tasks = tokio::task::JoinSet::new();
        for (index, (service, files)) in targets.into_iter().enumerate() {
            let sender = sender.clone();
            let connect = connect.clone();
            let database = database.clone();
            tasks.spawn_local(async move {
                let name = service.name.clone();
                let progress = |p| {
                    // The receiver lives until every task ends.
                    let _ = sender.send((name.clone(), Some(p)));
                };
                let result = async {
                    let notices = Some(show_notices(Some(&service.name)));
                    let client = connect_noticing_to(&connect, &database, notices).await?;
                    crate::pg::connect::refuse_standby(&client, "migrate").await?;
                    // During a move, also carries what the migrations create to its other side.
                    crate::relocate::follow::around(
                        &client,
                        &crate::cmd::live::options_for(&connect, &database)?,
                        &service,
                        options.dry_run,
                        run::migrate(&client, &service, &files, options, &progress),
                    )
                    .await
                }
                .await;
                let _ = sender.send((name.clone(), None));
                (index, service.name, result)
            });
        }
        drop(sender);
        let bar = crate::progress::Progress::bar("migrating services", total);
        while let Some((service, progress)) = receiver.recv().await {
            let Some(progress) = progress else {
                bar.inc();
                continue;
            };
            match progress {
                Progress::Waiting { .. } => bar.suspend(|| waiting(&service, &progress)),
                Progress::Applied { name, millis } => {
                    bar.suspend(|| writeln!(out, "{service}: applied {name} ({millis} ms)"))?;
                    bar.message(format!("{service}: applied {name}"));
                }
                Progress::WouldApply {
                    name,
                    transactional,
                } => bar.suspend(|| {
                    writeln!(
                        out,
                        "{service}: would apply {name}{}",
                        if transactional {
                            ""
                        } else {
                            " (no-transaction)"
                        }
                    )
                })?,
            }
        }
        drop(bar);
        let mut results = Vec::new();
        while let Some(joined) = tasks.join_next().await {
            results.push(joined.context("a migration task stopped unexpectedly")?);
        }
        results.sort_by_key(|(index, _, _)| *index);
        let mut failed = false;
        for (_, service, result) in results {
            match result {
                Ok(names) if names.is_empty() => writeln!(out, "{service}: up to date")?,
                Ok(names) => {
                    let verb = if args.dry_run { "would run" } else { "applied" };
                    let count = names.len();
                    let plural = crate::text::plural(count);
                    writeln!(out, "{service}: {count} migration{plural} {verb}")?;
                }
                Err(error) => {
                    failed = true;
                    eprintln!("error: {service}: {error:#}");
                }
            }
        }
        Ok(if failed {
            ExitCode::from(TROUBLE)
        } else {
            ExitCode::SUCCESS
        })
    }))
}

/// Lints the files about to run: false (after printing the errors) when they must not run.
/// With `no_lint`, only what cannot be sent as a statement stops them.
pub(super) fn lint_first(
    manifest: &Manifest,
    input: &Input,
    no_lint: bool,
    color: bool,
    out: &mut impl Write,
) -> anyhow::Result<bool> {
    let mut findings = lint(manifest, input);
    if no_lint {
        findings.retain(|f| ALWAYS_REFUSED.contains(&f.rule));
    }
    if any_at_or_above(&findings, Severity::Error) {
        findings.retain(|f| f.severity == Severity::Error);
        report::findings::human(&findings, color, out)?;
        eprintln!(
            "error: {}; nothing was migrated",
            if no_lint {
                "these statements cannot run as migrations"
            } else {
                "lint found errors in the migrations: fix them, or pass --no-lint to let the database judge"
            }
        );
        return Ok(false);
    }
    if !findings.is_empty() && !crate::progress::quiet() {
        eprintln!(
            "lint: {} warning{}; `dbsplit lint` shows them",
            findings.len(),
            crate::text::plural(findings.len())
        );
    }
    Ok(true)
}

/// Prints that a service waits for its lock.
pub(super) fn waiting(service: &str, progress: &Progress) {
    if let Progress::Waiting { holder } = progress
        && !crate::progress::quiet()
    {
        let by = holder
            .map(|pid| format!(" held by pid {pid}"))
            .unwrap_or_default();
        eprintln!("{service}: waiting for the migration lock{by}");
    }
}
