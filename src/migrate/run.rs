//! Runs the pending migrations of one service on one dedicated connection.
//!
//! The steps: check that the login role may act as the service's owner, `SET ROLE` to the owner
//! and `SET search_path` to the service's path (so objects are owned by the owner, pick up its
//! default privileges, and land in its schema), take the service's session-level advisory lock
//! by polling `pg_try_advisory_lock` (a blocking waiter deadlocks against `CREATE INDEX
//! CONCURRENTLY`, flyway#1654), create `<schema>.dbsplit_migrations` when missing, verify every
//! applied checksum (`verify`), then run each pending file: in one transaction together with its
//! history row, or, with `-- dbsplit:no-transaction` on its first line, statement by statement
//! behind a dirty history row that is marked done at the end. The role and search_path are
//! checked before and after each file: a `RESET ROLE` inside a migration aborts the run.
//!
//! The session setup and the lock live in `session`. Nothing here decides what to print or
//! which services run; `cmd::migrate` does.

use std::time::{Duration, Instant};

use tokio_postgres::Client;

use super::error::{RunError, describe};
use super::guard::Guard;
use super::history::{create, history, mark_done};
use super::progress::Progress;
use super::session::{Session, check_session, enter, lock, unlock};
use super::verify::{Applied, Owner, verify};
use crate::manifest::Service;
use crate::migrations::{File, HISTORY_TABLE, Local};
use crate::pg::ident::Ident;
use crate::sql::{Statement, executable};

/// How to run.
#[derive(Debug, Clone, Copy)]
pub struct RunOptions {
    /// How long to keep trying for the service's lock.
    pub lock_timeout: Duration,
    /// List what would run; change nothing.
    pub dry_run: bool,
    /// Run through a login that could leave the owner role (a superuser, an admin): every
    /// statement goes through the [`Guard`], and the session is checked after each.
    pub trust: bool,
}

/// Runs the pending `files` of `service`; returns the names of the files applied (or, with
/// `dry_run`, of those that would be).
pub async fn migrate(
    client: &Client,
    service: &Service,
    files: &[File],
    options: RunOptions,
    progress: &(impl Fn(Progress) + ?Sized),
) -> Result<Vec<String>, RunError> {
    let session = enter(client, service, options.trust).await?;
    if options.dry_run {
        let applied = history(client, service).await?;
        let pending = pending(service, files, &applied)?;
        for file in &pending {
            let transactional = executable(&file.text).map_or(true, |e| e.transactional);
            progress(Progress::WouldApply {
                name: file.local.file_name.clone(),
                transactional,
            });
        }
        return Ok(pending.iter().map(|f| f.local.file_name.clone()).collect());
    }
    lock(client, service, options.lock_timeout, progress).await?;
    create(client, service).await?;
    let applied = history(client, service).await?;
    let mut done = Vec::new();
    for file in pending(service, files, &applied)? {
        let started = Instant::now();
        check_session(client, &session, None, file, "nothing of it ran").await?;
        run_file(client, service, &session, file, started, options.trust).await?;
        let name = file.local.file_name.clone();
        progress(Progress::Applied {
            name: name.clone(),
            millis: millis(started),
        });
        done.push(name);
    }
    unlock(client, service).await?;
    Ok(done)
}

/// Marks a dirty migration as done, after a person fixed the database by hand.
pub async fn resolve(
    client: &Client,
    service: &Service,
    version: u64,
    lock_timeout: Duration,
    progress: &(impl Fn(Progress) + ?Sized),
) -> Result<Option<String>, RunError> {
    // Resolving runs no migration SQL: any login that may act as the owner may do it.
    enter(client, service, true).await?;
    lock(client, service, lock_timeout, progress).await?;
    mark_done(client, service, db_version(version)).await
}

/// The files that still have to run, after verifying the history against them.
fn pending<'f>(
    service: &Service,
    files: &'f [File],
    applied: &[Applied],
) -> Result<Vec<&'f File>, RunError> {
    let local: Vec<Local> = files.iter().map(|f| f.local.clone()).collect();
    let owner = Owner {
        service: &service.name,
        schema: &service.schema,
    };
    let pending = verify(owner, &local, applied).map_err(RunError::Verify)?;
    Ok(files
        .iter()
        .filter(|f| pending.iter().any(|p| p.version == f.local.version))
        .collect())
}

/// Runs one file: in a transaction with its history row, or without one behind a dirty row.
/// With `trust`, every statement runs through the [`Guard`] and the session is checked after
/// each one, before the next runs.
async fn run_file(
    client: &Client,
    service: &Service,
    session: &Session,
    file: &File,
    started: Instant,
    trust: bool,
) -> Result<(), RunError> {
    let executable = executable(&file.text).map_err(|(line, rule)| RunError::Refused {
        path: file.path.clone(),
        line,
        rule,
    })?;
    let table = format!("{}.{}", Ident(&service.schema), Ident(HISTORY_TABLE));
    let version = db_version(file.local.version);
    if executable.transactional {
        let rolled_back = "the migration was rolled back";
        client.batch_execute("BEGIN").await?;
        let result = async {
            let guard = match trust {
                true => Some(Guard::install(client, service).await?),
                false => None,
            };
            for statement in &executable.statements {
                execute(client, guard.as_ref(), file, statement, rolled_back).await?;
                if guard.is_some() {
                    check_session(client, session, guard.as_ref(), file, rolled_back).await?;
                }
            }
            if let Some(guard) = &guard {
                guard.remove(client).await?;
            }
            check_session(client, session, None, file, rolled_back).await?;
            client
                .execute(
                    &format!(
                        "INSERT INTO {table} (version, name, sha256, success, duration_ms) VALUES ($1, $2, $3, true, $4)"
                    ),
                    &[
                        &version,
                        &file.local.file_name,
                        &file.local.sha256,
                        &db_millis(started),
                    ],
                )
                .await?;
            client.batch_execute("COMMIT").await?;
            Ok(())
        }
        .await;
        if result.is_err() {
            // The transaction is already aborted; ending it is all that is left to do.
            let _ = client.batch_execute("ROLLBACK").await;
        }
        return result;
    }
    client
        .execute(
            &format!(
                "INSERT INTO {table} (version, name, sha256, success) VALUES ($1, $2, $3, false)"
            ),
            &[&version, &file.local.file_name, &file.local.sha256],
        )
        .await?;
    let dirty = format!(
        "{} is left dirty in {}.{HISTORY_TABLE}: fix the database by hand, then run `dbsplit migrate resolve {} {}`, or delete its row to run it again",
        file.local.file_name, service.schema, service.name, file.local.version
    );
    for statement in &executable.statements {
        if trust && !statement.autocommit {
            // The guard needs a transaction to live in; this one holds the statement alone.
            client.batch_execute("BEGIN").await?;
            let result = async {
                let guard = Guard::install(client, service).await?;
                execute(client, Some(&guard), file, statement, &dirty).await?;
                check_session(client, session, Some(&guard), file, &dirty).await?;
                guard.remove(client).await?;
                client.batch_execute("COMMIT").await?;
                Ok::<_, RunError>(())
            }
            .await;
            if result.is_err() {
                let _ = client.batch_execute("ROLLBACK").await;
            }
            result?;
        } else {
            // A statement that cannot run in a transaction cannot run in a function either;
            // none of them runs code that could change the role (index expressions run in a
            // security-restricted operation).
            execute(client, None, file, statement, &dirty).await?;
        }
        // Without a transaction every statement commits: one run as another role must stop the
        // file before the next.
        check_session(client, session, None, file, &dirty).await?;
    }
    client
        .execute(
            &format!("UPDATE {table} SET success = true, duration_ms = $2 WHERE version = $1"),
            &[&version, &db_millis(started)],
        )
        .await?;
    Ok(())
}

/// Sends one statement, through the guard when there is one; an error names the file and line
/// of the statement.
async fn execute(
    client: &Client,
    guard: Option<&Guard>,
    file: &File,
    statement: &Statement<'_>,
    consequence: &str,
) -> Result<(), RunError> {
    let result = match guard {
        Some(guard) => guard.run(client, statement.sql).await,
        None => client.batch_execute(statement.sql).await,
    };
    result.map_err(|error| {
        let mut message = describe(&error);
        let role_change = error.as_db_error().is_some_and(|db| {
            db.message().contains("\"role\"") || db.message().contains("\"session_authorization\"")
        });
        if guard.is_some() && role_change {
            message.push_str(": migrations must not leave the owner role");
        }
        RunError::Statement {
            path: file.path.clone(),
            line: statement.line,
            message,
            consequence: consequence.to_string(),
        }
    })
}

/// A 14-digit version as the `bigint` it is stored as.
pub(super) fn db_version(version: u64) -> i64 {
    i64::try_from(version).unwrap_or(i64::MAX)
}

fn millis(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)
}

fn db_millis(started: Instant) -> i64 {
    i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX)
}
