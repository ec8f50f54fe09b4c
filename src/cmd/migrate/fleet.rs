//! `migrate` and `migrate status` over a fleet manifest: each service in the database the
//! manifest places it in (its target), clusters concurrently and the targets of one cluster
//! one after another (`fleet::run::per_cluster`). On a target the services migrate one after
//! another, each on its own connection with its own session (owner role, search_path, the
//! service's advisory lock, which PostgreSQL keeps per database). A target that cannot be
//! reached fails its own services only: the others run, and the command exits 2.

use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;

use super::run::{lint_first, waiting};
use super::status::{exit, status_rows};
use super::{choose, read};
use crate::cli::{ConnectArgs, FleetArgs, MigrateArgs, StatusFormat};
use crate::cmd::TROUBLE;
use crate::cmd::fleet::{chain, connect_target, runtime};
use crate::cmd::live::show_notices;
use crate::fleet::run::per_cluster;
use crate::fleet::{self, Target};
use crate::manifest::{Manifest, Service};
use crate::migrate::progress::Progress;
use crate::migrate::run::{self, RunOptions};
use crate::migrations::File;
use crate::report;
use crate::report::status::ServiceStatus;

/// What one target is to migrate: its chosen services and their files.
type Work = Vec<(Service, Vec<File>)>;

/// What became of each service of a target; `Err` when the service failed.
type Results = Vec<(String, Result<Vec<String>, String>)>;

/// The selected targets holding at least one of the chosen services (all services when none
/// is named), each with those services.
fn placed(
    manifest: &Manifest,
    services: &[String],
    args: &FleetArgs,
) -> anyhow::Result<Vec<(Target, Vec<Service>)>> {
    let chosen: Vec<String> = choose(manifest, services)?
        .into_iter()
        .map(|s| s.name.clone())
        .collect();
    let targets = fleet::select(fleet::targets(manifest), &args.targets)?;
    Ok(targets
        .into_iter()
        .filter_map(|target| {
            let here: Vec<Service> = target
                .manifest
                .services
                .iter()
                .filter(|s| chosen.contains(&s.name))
                .cloned()
                .collect();
            (!here.is_empty()).then_some((target, here))
        })
        .collect())
}

/// Lints each target's files against the manifest of that database, then migrates every
/// target; prints each applied file as it lands and a line per service at the end.
pub(super) fn migrate(
    manifest: &Manifest,
    connect: &ConnectArgs,
    args: &MigrateArgs,
    color: bool,
    out: &mut impl Write,
) -> anyhow::Result<ExitCode> {
    let names: Vec<String> = args.services.iter().chain(&args.service).cloned().collect();
    let placed = placed(manifest, &names, &args.fleet)?;
    let mut targets = Vec::new();
    let mut work: Vec<Work> = Vec::new();
    for (target, services) in placed {
        let refs: Vec<&Service> = services.iter().collect();
        let input = read(&target.manifest, &refs)?;
        if !lint_first(&target.manifest, &input, args.no_lint, color, out)? {
            return Ok(ExitCode::from(1));
        }
        work.push(
            services
                .iter()
                .map(|s| (s.clone(), input.files_of(&s.name)))
                .collect(),
        );
        targets.push(target);
    }
    let options = RunOptions {
        lock_timeout: args.lock.lock_timeout,
        dry_run: args.dry_run,
        trust: args.trust_migrations,
    };
    let work = Arc::new(work);
    let connect = connect.clone();
    let (sender, mut receiver) =
        tokio::sync::mpsc::unbounded_channel::<(String, String, Progress)>();
    let outcomes = runtime(&args.fleet)?.block_on(async {
        let running = per_cluster(targets, args.fleet.jobs.into(), move |index, target| {
            let work = Arc::clone(&work);
            let connect = connect.clone();
            let sender = sender.clone();
            async move {
                let label = target.label();
                let mut results: Results = Vec::new();
                for (service, files) in &work[index] {
                    let progress = |p| {
                        // The receiver lives until every target is done.
                        let _ = sender.send((label.clone(), service.name.clone(), p));
                    };
                    let notices = show_notices(Some(&format!("{label}: {}", service.name)));
                    let client = match connect_target(&target, &connect, Some(notices)).await {
                        Ok((client, _connection)) => client,
                        // The first connection tells whether the target is there at all.
                        Err(error) if results.is_empty() => return Err(error),
                        Err(error) => {
                            results.push((service.name.clone(), Err(chain(&error))));
                            continue;
                        }
                    };
                    let result = async {
                        crate::pg::connect::refuse_standby(&client, "migrate").await?;
                        // During a move, also carries what the migrations create to its other side.
                        crate::relocate::follow::around(
                            &client,
                            &fleet::connect::options(&target, connect.database_url.as_deref())?,
                            service,
                            options.dry_run,
                            run::migrate(&client, service, files, options, &progress),
                        )
                        .await
                    }
                    .await;
                    results.push((service.name.clone(), result.map_err(|e| chain(&e))));
                }
                anyhow::Ok(results)
            }
        });
        let printing = async {
            while let Some((label, service, progress)) = receiver.recv().await {
                let who = format!("{label}: {service}");
                match progress {
                    Progress::Waiting { .. } => waiting(&who, &progress),
                    Progress::Applied { name, millis } => {
                        writeln!(out, "{who}: applied {name} ({millis} ms)")?;
                    }
                    Progress::WouldApply {
                        name,
                        transactional,
                    } => writeln!(
                        out,
                        "{who}: would apply {name}{}",
                        if transactional {
                            ""
                        } else {
                            " (no-transaction)"
                        }
                    )?,
                }
            }
            std::io::Result::Ok(())
        };
        let (outcomes, printed) = tokio::join!(running, printing);
        printed?;
        anyhow::Ok(outcomes)
    })?;
    let mut failed: Vec<String> = Vec::new();
    for outcome in &outcomes {
        let label = outcome.target.label();
        match &outcome.result {
            Ok(results) => {
                for (service, result) in results {
                    match result {
                        Ok(names) if names.is_empty() => {
                            writeln!(out, "{label}: {service}: up to date")?;
                        }
                        Ok(names) => {
                            let verb = if args.dry_run { "would run" } else { "applied" };
                            let count = names.len();
                            let plural = crate::text::plural(count);
                            writeln!(out, "{label}: {service}: {count} migration{plural} {verb}")?;
                        }
                        Err(error) => {
                            writeln!(out, "{label}: {service}: FAILED")?;
                            eprintln!("error: {label}: {service}: {error}");
                            failed.push(format!("{label}: {service}"));
                        }
                    }
                }
            }
            Err(error) => {
                let services: Vec<String> = work_names(&outcome.target, &names);
                for service in &services {
                    writeln!(out, "{label}: {service}: FAILED")?;
                    failed.push(format!("{label}: {service}"));
                }
                eprintln!(
                    "error: {label}: {}; not migrated there: {}",
                    chain(error),
                    services.join(", ")
                );
            }
        }
    }
    if failed.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    eprintln!(
        "error: {} service{} failed: {}",
        failed.len(),
        crate::text::plural(failed.len()),
        failed.join(", ")
    );
    Ok(ExitCode::from(TROUBLE))
}

/// The services of `target` among `names` (all of its services when none is named).
fn work_names(target: &Target, names: &[String]) -> Vec<String> {
    target
        .manifest
        .services
        .iter()
        .filter(|s| names.is_empty() || names.contains(&s.name))
        .map(|s| s.name.clone())
        .collect()
}

/// `migrate status` over the fleet: per target a table (or every row in one JSON document,
/// each with its `cluster` and `database`). A target that cannot be reached shows its
/// services as unreadable and makes the command exit 2.
#[allow(clippy::too_many_arguments)]
pub(super) fn status(
    manifest: &Manifest,
    services: &[String],
    connect: &ConnectArgs,
    args: &FleetArgs,
    exit_code: bool,
    format: StatusFormat,
    color: bool,
    out: &mut impl Write,
) -> anyhow::Result<ExitCode> {
    let placed = placed(manifest, services, args)?;
    let connect = connect.clone();
    let placed = Arc::new(placed);
    let targets: Vec<Target> = placed.iter().map(|(t, _)| t.clone()).collect();
    let work = Arc::clone(&placed);
    let outcomes = runtime(args)?.block_on(per_cluster(
        targets,
        args.jobs.into(),
        move |index, target| {
            let work = Arc::clone(&work);
            let connect = connect.clone();
            async move {
                let chosen: Vec<&Service> = work[index].1.iter().collect();
                let input = read(&target.manifest, &chosen)?;
                let (client, _connection) = connect_target(&target, &connect, None).await?;
                status_rows(&client, &chosen, &input).await
            }
        },
    ));
    let mut sections: Vec<(String, Vec<ServiceStatus>)> = Vec::new();
    let mut trouble = false;
    for (outcome, (_, chosen)) in outcomes.into_iter().zip(placed.iter()) {
        let place = (
            outcome.target.cluster.clone(),
            outcome.target.database.clone(),
        );
        let rows = match outcome.result {
            Ok(rows) => rows,
            Err(error) => {
                trouble = true;
                eprintln!("error: {}: {}", outcome.target.label(), chain(&error));
                chosen
                    .iter()
                    .map(|service| ServiceStatus {
                        service: service.name.clone(),
                        status: crate::migrate::verify::Status::default(),
                        last_applied_at: None,
                        unreadable: Some(format!(
                            "target {} cannot be read: {}",
                            outcome.target.label(),
                            chain(&error)
                        )),
                        target: None,
                    })
                    .collect()
            }
        };
        let rows = rows
            .into_iter()
            .map(|row| ServiceStatus {
                target: Some(place.clone()),
                ..row
            })
            .collect();
        sections.push((outcome.target.label(), rows));
    }
    match format {
        StatusFormat::Human => {
            for (label, rows) in &sections {
                writeln!(out, "=== {label} ===")?;
                report::status::human(rows, color, out)?;
            }
        }
        StatusFormat::Json => {
            let rows: Vec<ServiceStatus> = sections.into_iter().flat_map(|(_, r)| r).collect();
            report::status::json(&rows, out)?;
            return Ok(if trouble {
                ExitCode::from(TROUBLE)
            } else {
                exit(&rows, exit_code)
            });
        }
    }
    let rows: Vec<ServiceStatus> = sections.into_iter().flat_map(|(_, r)| r).collect();
    Ok(if trouble {
        ExitCode::from(TROUBLE)
    } else {
        exit(&rows, exit_code)
    })
}
