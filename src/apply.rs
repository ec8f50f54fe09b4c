//! Executes a plan: one transaction under an advisory lock, re-planned under the lock, checked
//! for convergence before COMMIT. It lands whole or not at all.
//!
//! The flow: take `pg_advisory_xact_lock` (a second apply waits up to the lock timeout, then
//! gives up), re-introspect and re-plan inside the transaction, refuse when that plan is not the
//! one the user confirmed (or, for a saved plan, when the cluster changed since), run each
//! statement, re-introspect once more and refuse to commit unless the plan is now empty.

use std::collections::BTreeMap;
use std::time::Duration;

use tokio_postgres::Client;
use tokio_postgres::error::SqlState;

use crate::catalog::introspect::{Depth, IntrospectError, Introspection, Queryer, introspect};
use crate::desired::Desired;
use crate::manifest::Manifest;
use crate::pg::error::server_message;
use crate::pg::ident::Ident;
use crate::plan::diff::{DiffOptions, PasswordState, diff};
use crate::plan::file::{Fingerprint, Stale};
use crate::plan::{Action, Plan, sql};

/// The advisory lock every apply takes: `pg_advisory_xact_lock(LOCK_CLASS, 0)`. The class is
/// "dbsp"; `migrate` uses the same class with a per-service second key.
pub const LOCK_CLASS: i32 = 0x6462_7370;

/// Why an apply did not commit. In every case the transaction was rolled back.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("another dbsplit apply holds the lock; gave up after waiting {0:?}")]
    Locked(Duration),
    #[error(transparent)]
    Stale(#[from] Stale),
    #[error(
        "the plan under the lock differs from the one confirmed; the cluster changed meanwhile, run plan again"
    )]
    PlanDiffers,
    #[error("statement failed: {message}\n  statement: {statement}")]
    Statement {
        statement: String,
        /// The server's message (`server_message`): the error itself is not in the cause
        /// chain, which would repeat it.
        message: String,
        cause: tokio_postgres::Error,
    },
    #[error("after applying, {} change(s) are still pending; rolled back. First: {}", .0.changes.len(), .0.changes.first().map(|c| sql::statements(&c.action).join(" ")).unwrap_or_default())]
    NotConverged(Box<Plan>),
    #[error("introspection inside the apply transaction failed")]
    Introspect(#[from] IntrospectError),
    #[error("database error: {message}")]
    Database {
        message: String,
        cause: tokio_postgres::Error,
    },
}

fn database_error(cause: tokio_postgres::Error) -> ApplyError {
    ApplyError::Database {
        message: server_message(&cause),
        cause,
    }
}

/// What the caller confirmed.
#[derive(Debug, Clone)]
pub struct Confirmed {
    /// The plan shown to the user; the plan under the lock must be the same.
    pub plan: Plan,
    /// For a saved plan: the fingerprint of the state it was made from.
    pub fingerprint: Option<Fingerprint>,
}

/// Settings of an apply.
#[derive(Debug, Clone)]
pub struct ApplyOptions {
    /// How long to wait for the advisory lock and for each table lock.
    pub lock_timeout: Duration,
    pub prune: bool,
    /// Role -> password, read from the roles' `password_env` variables.
    pub passwords: BTreeMap<String, String>,
}

/// What an apply did.
#[derive(Debug, Clone)]
pub struct ApplyReport {
    pub plan: Plan,
    pub statements: usize,
}

/// The password states for a diff, comparing the passwords from the environment with the
/// stored verifiers when they are readable.
pub fn password_states(
    desired: &Desired,
    live: &Introspection,
    passwords: &BTreeMap<String, String>,
) -> BTreeMap<String, PasswordState> {
    desired
        .password_envs
        .keys()
        .map(|role| {
            let state = match (passwords.get(role), live.state.roles.get(role)) {
                (None, _) => PasswordState::Unset,
                (Some(_), None) => PasswordState::Differs,
                (Some(_), Some(_)) if !live.passwords_readable => PasswordState::Unknown,
                (Some(password), Some(have)) => match &have.password {
                    Some(stored) if crate::pg::scram::matches(password, stored) => {
                        PasswordState::Matches
                    }
                    _ => PasswordState::Differs,
                },
            };
            (role.clone(), state)
        })
        .collect()
}

/// Introspects and plans without changing anything.
pub async fn plan(
    db: &impl Queryer,
    manifest: &Manifest,
    desired: &Desired,
    options: &ApplyOptions,
) -> Result<(Plan, Introspection), IntrospectError> {
    let live = introspect(db, Depth::Privileges).await?;
    let diff_options = DiffOptions {
        passwords: password_states(desired, &live, &options.passwords),
        prune: options.prune,
    };
    Ok((diff(manifest, desired, &live, &diff_options), live))
}

/// Applies the manifest in one transaction; see the module documentation for the steps.
pub async fn apply(
    client: &mut Client,
    manifest: &Manifest,
    desired: &Desired,
    options: &ApplyOptions,
    confirmed: &Confirmed,
) -> Result<ApplyReport, ApplyError> {
    let tx = client.transaction().await.map_err(database_error)?;
    // lock_timeout bounds the wait for the advisory lock, and for every table lock an ALTER
    // needs: an ALTER queued behind a long query would otherwise block every query after it.
    let millis = options.lock_timeout.as_millis().max(1);
    tx.batch_execute(&format!("SET LOCAL lock_timeout = {millis}"))
        .await
        .map_err(database_error)?;
    if let Err(error) = tx
        .execute(
            "SELECT pg_catalog.pg_advisory_xact_lock($1, 0)",
            &[&LOCK_CLASS],
        )
        .await
    {
        return Err(if error.code() == Some(&SqlState::LOCK_NOT_AVAILABLE) {
            ApplyError::Locked(options.lock_timeout)
        } else {
            database_error(error)
        });
    }
    let (plan, live) = plan(&tx, manifest, desired, options).await?;
    if let Some(expected) = &confirmed.fingerprint {
        expected.check(&live.state, &plan)?;
    }
    if plan.changes.is_empty() {
        // Another apply got there first: nothing left to do.
        tx.commit().await.map_err(database_error)?;
        return Ok(ApplyReport {
            plan,
            statements: 0,
        });
    }
    if plan.changes != confirmed.plan.changes {
        return Err(ApplyError::PlanDiffers);
    }
    let mut statements = 0;
    for change in &plan.changes {
        for statement in executable(&change.action, &options.passwords) {
            if let Err(cause) = tx.batch_execute(&statement).await {
                let mut message = server_message(&cause);
                if cause.code() == Some(&SqlState::OUT_OF_MEMORY) {
                    // 53200 here is the lock table: the one transaction holds a lock on every
                    // object whose owner or privileges it changes.
                    message.push_str(&format!(
                        "; this apply changes {} objects in one transaction: raise max_locks_per_transaction (a restart is needed) or apply one service at a time",
                        plan.changes.len()
                    ));
                }
                return Err(ApplyError::Statement {
                    statement: redact(&change.action, &statement),
                    message,
                    cause,
                });
            }
            statements += 1;
        }
    }
    let (after, _) = self::plan(&tx, manifest, desired, options).await?;
    if !after.changes.is_empty() {
        return Err(ApplyError::NotConverged(Box::new(after)));
    }
    tx.commit().await.map_err(database_error)?;
    Ok(ApplyReport { plan, statements })
}

/// The statements to run for a change; a password becomes a SCRAM verifier computed here, so
/// the plain text never reaches the server or its logs.
fn executable(action: &Action, passwords: &BTreeMap<String, String>) -> Vec<String> {
    match action {
        Action::SetPassword { role, .. } => match passwords.get(role) {
            Some(password) => vec![format!(
                "ALTER ROLE {} PASSWORD {}",
                Ident(role),
                crate::pg::ident::Literal(&crate::pg::scram::random_verifier(password))
            )],
            None => Vec::new(),
        },
        other => sql::statements(other),
    }
}

/// A statement as it may appear in an error: never with a password verifier.
fn redact(action: &Action, statement: &str) -> String {
    match action {
        Action::SetPassword { .. } => sql::statements(action).join(" "),
        _ => statement.to_string(),
    }
}
