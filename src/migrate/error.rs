//! Why the migrations of a service stopped, as one sentence each: the login, the lock, the
//! history, a file's statement or the session it changed.

use std::path::PathBuf;
use std::time::Duration;

use super::verify::VerifyError;
use crate::finding::RuleId;
use crate::migrations::HISTORY_TABLE;
use crate::pg::error::server_message;

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
pub(crate) fn describe(error: &tokio_postgres::Error) -> String {
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
