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

use std::path::PathBuf;
use std::time::{Duration, Instant};

use tokio_postgres::Client;

use super::guard::Guard;
use super::session::{Session, check_session, enter, lock};
use super::verify::{Applied, Local, Owner, VerifyError, verify};
use crate::apply::LOCK_CLASS;
use crate::finding::RuleId;
use crate::lint::Statement;
use crate::manifest::Service;
use crate::pg::error::server_message;
use crate::pg::ident::{Ident, ident_list};

pub use super::session::lock_key;

/// The history table in each service's schema.
pub const HISTORY_TABLE: &str = "dbsplit_migrations";

/// A migration file, read.
#[derive(Debug, Clone)]
pub struct File {
    /// Version, name and checksum, as `verify` compares them.
    pub local: Local,
    /// As shown in errors, with the line of the failing statement.
    pub path: PathBuf,
    pub text: String,
}

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

/// What happens while a service migrates, as it happens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// Another session holds the service's lock; its pid when it is known.
    Waiting {
        holder: Option<i32>,
    },
    Applied {
        name: String,
        millis: u64,
    },
    /// With `--dry-run`: this file would run.
    WouldApply {
        name: String,
        transactional: bool,
    },
}

/// Why the migrations of a service stopped. Files applied before the error stay applied.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("role `{role}` does not exist; run `dbsplit apply` first")]
    NoOwner { role: String },
    #[error("schema `{schema}` does not exist; run `dbsplit apply` first")]
    NoSchema { schema: String },
    #[error(
        "login role `{login}` is not a member of `{owner}`; connect as a role with `access = \"owner\"` in the service"
    )]
    NotMember { login: String, owner: String },
    #[error(
        "login role `{login}` {reason}: a migration run through it could leave `{owner}` (RESET ROLE, or SET ROLE in a DO block) and act as that; {}, or pass --trust-migrations to run every statement guarded and checked",
        login_hint(service, migrators)
    )]
    Untrusted {
        login: String,
        reason: String,
        service: String,
        owner: String,
        migrators: Vec<String>,
    },
    #[error(
        "another session holds the migration lock of `{service}`{}; gave up after {waited:?}",
        holder.map(|pid| format!(" (pid {pid})")).unwrap_or_default()
    )]
    Locked {
        service: String,
        waited: Duration,
        holder: Option<i32>,
    },
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Verify(Vec<VerifyError>),
    #[error("{}:{line}: {} ({rule})", path.display(), refusal(*rule))]
    Refused {
        path: PathBuf,
        line: usize,
        rule: RuleId,
    },
    #[error("{}:{line}: {message}; {consequence}", path.display())]
    Statement {
        path: PathBuf,
        line: usize,
        message: String,
        consequence: String,
    },
    #[error(
        "{} changed the session to {found} (expected {expected}): migrations must not use SET ROLE, RESET ROLE or SET search_path; {consequence}",
        path.display()
    )]
    SessionChanged {
        path: PathBuf,
        found: String,
        expected: String,
        consequence: String,
    },
    #[error(
        "{} replaced or dropped dbsplit's guard function: migrations must not touch `dbsplit_migration_step`; {consequence}",
        path.display()
    )]
    GuardChanged { path: PathBuf, consequence: String },
    #[error(
        "login role `{login}` may not read {schema}.{HISTORY_TABLE}; log in as the service's migrator"
    )]
    Unreadable { login: String, schema: String },
    /// The server's message (with its detail) says it all; the client error adds nothing.
    #[error("{0}")]
    Database(String),
}

impl From<tokio_postgres::Error> for RunError {
    fn from(error: tokio_postgres::Error) -> Self {
        RunError::Database(describe(&error))
    }
}

/// The server's message with its SQLSTATE, and its detail when there is one.
fn describe(error: &tokio_postgres::Error) -> String {
    let message = server_message(error);
    match error.as_db_error().and_then(|db| db.detail()) {
        Some(detail) => format!("{message}: {}", detail.trim_end_matches('.')),
        None => message,
    }
}

/// How to log in as the service's migrator instead.
fn login_hint(service: &str, migrators: &[String]) -> String {
    match migrators {
        [] => format!(
            "declare a login role with `access = \"owner\"` in service `{service}`, apply, and log in as it"
        ),
        [one] => format!("log in as `{one}`, the migrator of `{service}` (`access = \"owner\"`)"),
        many => format!(
            "log in as one of {}, the migrators of `{service}` (`access = \"owner\"`)",
            many.iter()
                .map(|m| format!("`{m}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

fn refusal(rule: RuleId) -> &'static str {
    match rule {
        RuleId::CopyFromStdin => {
            "COPY ... FROM STDIN needs psql's copy protocol and cannot run as a migration"
        }
        _ => "a psql meta-command is not SQL and cannot run as a migration",
    }
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
            let transactional =
                crate::lint::executable(&file.text).map_or(true, |e| e.transactional);
            progress(Progress::WouldApply {
                name: file.local.file_name.clone(),
                transactional,
            });
        }
        return Ok(pending.iter().map(|f| f.local.file_name.clone()).collect());
    }
    lock(client, service, options.lock_timeout, progress).await?;
    // Created only when missing, without IF NOT EXISTS: its notice would reach the user on
    // every run, among the notices of the migrations.
    if !history_exists(client, service).await? {
        client
            .batch_execute(&format!(
                "CREATE TABLE {}.{} (
                version bigint PRIMARY KEY,
                name text NOT NULL,
                sha256 text NOT NULL,
                success boolean NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now(),
                applied_as text NOT NULL DEFAULT current_user,
                duration_ms bigint
            )",
                Ident(&service.schema),
                Ident(HISTORY_TABLE)
            ))
            .await?;
    }
    // The owner's default privileges just gave this table to the service's other roles and to
    // every reader of the schema (observers too): the history is the owner's alone, or another
    // role could read or rewrite it. Revoked from whoever holds anything on it.
    let holders: Vec<String> = client
        .query(
            "SELECT DISTINCT r.rolname::text
             FROM pg_catalog.pg_class c
             JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
             CROSS JOIN LATERAL pg_catalog.aclexplode(c.relacl) a
             JOIN pg_catalog.pg_roles r ON r.oid = a.grantee
             WHERE n.nspname = $1 AND c.relname = $2 AND a.grantee <> c.relowner
             ORDER BY 1",
            &[&service.schema, &HISTORY_TABLE],
        )
        .await?
        .iter()
        .map(|row| row.get(0))
        .collect();
    let mut revoke = format!(
        "REVOKE ALL ON TABLE {}.{} FROM PUBLIC",
        Ident(&service.schema),
        Ident(HISTORY_TABLE)
    );
    if !holders.is_empty() {
        revoke.push_str(", ");
        revoke.push_str(&ident_list(holders.iter().map(String::as_str)));
    }
    client.batch_execute(&revoke).await?;
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
    client
        .execute(
            "SELECT pg_catalog.pg_advisory_unlock($1, $2)",
            &[&LOCK_CLASS, &lock_key(&service.schema)],
        )
        .await?;
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
    let row = client
        .query_opt(
            &format!(
                "UPDATE {}.{} SET success = true WHERE version = $1 AND NOT success RETURNING name",
                Ident(&service.schema),
                Ident(HISTORY_TABLE)
            ),
            &[&db_version(version)],
        )
        .await?;
    Ok(row.map(|row| row.get(0)))
}

/// The rows of the history table, or none when it does not exist yet.
pub async fn history(client: &Client, service: &Service) -> Result<Vec<Applied>, RunError> {
    Ok(history_rows(client, service)
        .await?
        .into_iter()
        .map(|row| row.applied)
        .collect())
}

/// A history row with when it ran.
#[derive(Debug, Clone)]
pub struct HistoryRow {
    pub applied: Applied,
    /// `applied_at` in UTC, `YYYY-MM-DD HH:MM:SS`.
    pub applied_at: String,
}

/// The history table's rows in version order, or none when it does not exist.
pub async fn history_rows(client: &Client, service: &Service) -> Result<Vec<HistoryRow>, RunError> {
    if !history_exists(client, service).await? {
        return Ok(Vec::new());
    }
    let rows = client
        .query(
            &format!(
                "SELECT version, name, sha256, success,
                    to_char(applied_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS')
                 FROM {}.{} ORDER BY version",
                Ident(&service.schema),
                Ident(HISTORY_TABLE)
            ),
            &[],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|row| HistoryRow {
            applied: Applied {
                version: u64::try_from(row.get::<_, i64>(0)).unwrap_or(0),
                name: row.get(1),
                sha256: row.get(2),
                success: row.get(3),
            },
            applied_at: row.get(4),
        })
        .collect())
}

/// The history table's rows for `migrate status`, read as the service's owner when the login
/// may become it (so a migrator whose membership does not inherit reads its own), else as the
/// login. A history the login may not read (another service's) is [`RunError::Unreadable`].
pub async fn status_rows(client: &Client, service: &Service) -> Result<Vec<HistoryRow>, RunError> {
    let row = client
        .query_one(
            "SELECT session_user::text, EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = $1)
                AND pg_catalog.pg_has_role(session_user, $1::text::name, 'MEMBER')",
            &[&service.owner],
        )
        .await?;
    let login: String = row.get(0);
    let owner: bool = row.get(1);
    if owner {
        client
            .batch_execute(&format!("SET ROLE {}", Ident(&service.owner)))
            .await?;
    }
    let readable: bool = client
        .query_one(
            "SELECT n.oid IS NULL OR (pg_catalog.has_schema_privilege(n.oid, 'USAGE')
                AND (c.oid IS NULL OR pg_catalog.has_table_privilege(c.oid, 'SELECT')))
             FROM (SELECT) AS one
             LEFT JOIN pg_catalog.pg_namespace n ON n.nspname = $1
             LEFT JOIN pg_catalog.pg_class c ON c.relnamespace = n.oid AND c.relname = $2",
            &[&service.schema, &HISTORY_TABLE],
        )
        .await?
        .get(0);
    let rows = match readable {
        true => history_rows(client, service).await,
        false => Err(RunError::Unreadable {
            login,
            schema: service.schema.clone(),
        }),
    };
    if owner {
        client.batch_execute("RESET ROLE").await?;
    }
    rows
}

/// Whether the service's history table exists.
async fn history_exists(client: &Client, service: &Service) -> Result<bool, RunError> {
    Ok(client
        .query_one(
            "SELECT EXISTS (SELECT FROM pg_catalog.pg_class c
                JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
                WHERE n.nspname = $1 AND c.relname = $2)",
            &[&service.schema, &HISTORY_TABLE],
        )
        .await?
        .get(0))
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
    let executable =
        crate::lint::executable(&file.text).map_err(|(line, rule)| RunError::Refused {
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
fn db_version(version: u64) -> i64 {
    i64::try_from(version).unwrap_or(i64::MAX)
}

fn millis(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)
}

fn db_millis(started: Instant) -> i64 {
    i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX)
}
