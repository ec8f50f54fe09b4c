//! `dbsplit migrate [SERVICE...]`: lint, then run each service's pending migrations on its own
//! connection, concurrently; `migrate status`, `migrate resolve` and `migrate hash`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};

use super::TROUBLE;
use super::live::{connect_noticing_to, connect_to, runtime, show_notices};
use crate::cli::{ConnectArgs, MigrateArgs, MigrateCommand, StatusFormat};
use crate::finding::{RuleId, Severity, any_at_or_above};
use crate::lint::{Input, lint};
use crate::manifest::{Manifest, Service};
use crate::migrate::discover::{SUM_FILE, discover, parse_file_name};
use crate::migrate::run::{self, File, Progress, RunError, RunOptions};
use crate::migrate::sum;
use crate::migrate::verify::{Local, Owner, status};
use crate::report;
use crate::report::status::ServiceStatus;

/// The rules `migrate` enforces even with `--no-lint`: what cannot be sent as a statement.
const ALWAYS_REFUSED: [RuleId; 2] = [RuleId::CopyFromStdin, RuleId::PsqlMetaCommand];

pub fn run(
    path: &Path,
    connect: &ConnectArgs,
    args: &MigrateArgs,
    color: bool,
    out: &mut impl Write,
) -> anyhow::Result<ExitCode> {
    let manifest = super::load_manifest(path)?;
    match &args.command {
        Some(MigrateCommand::Hash { services }) => hash(&manifest, services, out),
        Some(MigrateCommand::Status {
            services,
            exit_code,
            format,
        }) => {
            let rows = status_rows(&manifest, services, connect)?;
            match format {
                StatusFormat::Human => report::status::human(&rows, color, out)?,
                StatusFormat::Json => report::status::json(&rows, out)?,
            }
            let settled = rows.iter().all(|r| r.state() == "up-to-date");
            Ok(if *exit_code && !settled {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            })
        }
        Some(MigrateCommand::Resolve {
            service,
            version,
            lock,
        }) => {
            let service = self::service(&manifest, service)?;
            runtime()?.block_on(async {
                let client = connect_to(connect, &manifest.database.name).await?;
                let progress = |p| waiting(&service.name, &p);
                match run::resolve(&client, service, *version, lock.lock_timeout, &progress)
                    .await
                    .with_context(|| format!("cannot resolve migration {version} of `{}`", service.name))?
                {
                    Some(name) => writeln!(out, "{}: marked {name} as applied", service.name)?,
                    None => bail!(
                        "`{}` has no dirty migration {version}; `dbsplit migrate status` shows its migrations",
                        service.name
                    ),
                }
                Ok(ExitCode::SUCCESS)
            })
        }
        None => migrate(&manifest, connect, args, color, out),
    }
}

/// Lints, then migrates every chosen service concurrently and reports each.
fn migrate(
    manifest: &Manifest,
    connect: &ConnectArgs,
    args: &MigrateArgs,
    color: bool,
    out: &mut impl Write,
) -> anyhow::Result<ExitCode> {
    let chosen = choose(manifest, &args.services)?;
    let input = read(manifest, &chosen)?;
    let mut findings = lint(manifest, &input);
    if args.no_lint {
        findings.retain(|f| ALWAYS_REFUSED.contains(&f.rule));
    }
    if any_at_or_above(&findings, Severity::Error) {
        findings.retain(|f| f.severity == Severity::Error);
        report::findings::human(&findings, color, out)?;
        eprintln!(
            "error: {}; nothing was migrated",
            if args.no_lint {
                "these statements cannot run as migrations"
            } else {
                "lint found errors in the migrations: fix them, or pass --no-lint to let the database judge"
            }
        );
        return Ok(ExitCode::from(1));
    }
    if !findings.is_empty() {
        eprintln!(
            "lint: {} warning{}; `dbsplit lint` shows them",
            findings.len(),
            if findings.len() == 1 { "" } else { "s" }
        );
    }
    let targets: Vec<(Service, Vec<File>)> = chosen
        .into_iter()
        .map(|service| {
            let files = files_of(&input, &service.name);
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
        let (sender, mut receiver) = tokio::sync::mpsc::unbounded_channel::<(String, Progress)>();
        let mut tasks = tokio::task::JoinSet::new();
        for (index, (service, files)) in targets.into_iter().enumerate() {
            let sender = sender.clone();
            let connect = connect.clone();
            let database = database.clone();
            tasks.spawn_local(async move {
                let name = service.name.clone();
                let progress = |p| {
                    // The receiver lives until every task ends.
                    let _ = sender.send((name.clone(), p));
                };
                let result = async {
                    let notices = Some(show_notices(Some(&service.name)));
                    let client = connect_noticing_to(&connect, &database, notices).await?;
                    crate::pg::connect::refuse_standby(&client, "migrate").await?;
                    Ok::<_, anyhow::Error>(
                        run::migrate(&client, &service, &files, options, &progress).await?,
                    )
                }
                .await;
                (index, service.name, result)
            });
        }
        drop(sender);
        while let Some((service, progress)) = receiver.recv().await {
            match progress {
                Progress::Waiting { .. } => waiting(&service, &progress),
                Progress::Applied { name, millis } => {
                    writeln!(out, "{service}: applied {name} ({millis} ms)")?;
                }
                Progress::WouldApply {
                    name,
                    transactional,
                } => writeln!(
                    out,
                    "{service}: would apply {name}{}",
                    if transactional {
                        ""
                    } else {
                        " (no-transaction)"
                    }
                )?,
            }
        }
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
                    let plural = if count == 1 { "" } else { "s" };
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

/// Prints that a service waits for its lock.
fn waiting(service: &str, progress: &Progress) {
    if let Progress::Waiting { holder } = progress {
        let by = holder
            .map(|pid| format!(" held by pid {pid}"))
            .unwrap_or_default();
        eprintln!("{service}: waiting for the migration lock{by}");
    }
}

/// `migrate status`: a row per service, each read as its owner when the login may be it.
fn status_rows(
    manifest: &Manifest,
    services: &[String],
    connect: &ConnectArgs,
) -> anyhow::Result<Vec<ServiceStatus>> {
    let chosen = choose(manifest, services)?;
    let input = read(manifest, &chosen)?;
    runtime()?.block_on(async {
        let client = connect_to(connect, &manifest.database.name).await?;
        let mut rows = Vec::new();
        for service in chosen {
            let (history, unreadable) = match run::status_rows(&client, service).await {
                Ok(history) => (history, None),
                Err(error @ RunError::Unreadable { .. }) => (Vec::new(), Some(error.to_string())),
                Err(error) => {
                    return Err(error).with_context(|| {
                        format!("cannot read the migrations of `{}`", service.name)
                    });
                }
            };
            let applied: Vec<_> = history.iter().map(|h| h.applied.clone()).collect();
            let local: Vec<Local> = files_of(&input, &service.name)
                .into_iter()
                .map(|f| f.local)
                .collect();
            let owner = Owner {
                service: &service.name,
                schema: &service.schema,
            };
            let mut status = status(owner, &local, &applied);
            if unreadable.is_some() {
                status.pending = 0;
            }
            let last_applied_at = status.last.as_ref().and_then(|last| {
                history
                    .iter()
                    .find(|h| h.applied.version == last.version)
                    .map(|h| h.applied_at.clone())
            });
            rows.push(ServiceStatus {
                service: service.name.clone(),
                status,
                last_applied_at,
                unreadable,
            });
        }
        anyhow::Ok(rows)
    })
}

/// The services named, or all of them.
fn choose<'m>(manifest: &'m Manifest, names: &[String]) -> anyhow::Result<Vec<&'m Service>> {
    if names.is_empty() {
        return Ok(manifest.services.iter().collect());
    }
    names.iter().map(|name| service(manifest, name)).collect()
}

/// The migration files and sum files of the services.
fn read(manifest: &Manifest, services: &[&Service]) -> anyhow::Result<Input> {
    let selection = services.iter().map(|s| (s.name.clone(), None)).collect();
    super::lint::read_selection(&manifest.migrations_dir(), selection)
}

/// The files of one service, with their checksums, in version order.
fn files_of(input: &Input, service: &str) -> Vec<File> {
    input
        .files
        .iter()
        .filter(|f| f.service == service)
        .filter_map(|f| {
            let file_name = f.path.file_name()?.to_string_lossy().into_owned();
            let (version, _) = parse_file_name(&file_name)?;
            let sha256 = crate::migrate::checksum(f.text.as_bytes())
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            Some(File {
                local: Local {
                    version,
                    file_name,
                    sha256,
                },
                path: f.path.clone(),
                text: f.text.clone(),
            })
        })
        .collect()
}

/// `migrate hash`: rewrites dbsplit.sum of the services named, or of every service that has a
/// migrations folder.
fn hash(
    manifest: &Manifest,
    services: &[String],
    out: &mut impl Write,
) -> anyhow::Result<ExitCode> {
    for service in choose(manifest, services)? {
        let dir = manifest.migrations_dir().join(&service.name);
        if services.is_empty() && !dir.is_dir() {
            continue;
        }
        let (sum_path, count) = rehash(&dir)?;
        writeln!(
            out,
            "wrote {} ({count} migration{})",
            sum_path.display(),
            if count == 1 { "" } else { "s" }
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The service named `name`, or an error that lists the services there are.
pub fn service<'m>(manifest: &'m Manifest, name: &str) -> anyhow::Result<&'m Service> {
    manifest.service(name).with_context(|| {
        let known: Vec<&str> = manifest.services.iter().map(|s| s.name.as_str()).collect();
        format!(
            "unknown service `{name}`; the manifest declares {}",
            known.join(", ")
        )
    })
}

/// Rewrites `dir/dbsplit.sum` from the migrations in `dir`; returns its path and how many
/// migrations it covers.
pub fn rehash(dir: &Path) -> anyhow::Result<(PathBuf, usize)> {
    let migrations = discover(dir)?;
    let mut files = Vec::with_capacity(migrations.len());
    for migration in &migrations {
        let bytes = std::fs::read(&migration.path)
            .with_context(|| format!("cannot read {}", migration.path.display()))?;
        files.push((migration.file_name.as_str(), bytes));
    }
    let text = sum::render(files.iter().map(|(name, bytes)| (*name, bytes.as_slice())));
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let sum_path = dir.join(SUM_FILE);
    std::fs::write(&sum_path, text)
        .with_context(|| format!("cannot write {}", sum_path.display()))?;
    Ok((sum_path, migrations.len()))
}
