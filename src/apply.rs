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

use crate::catalog::introspect::{IntrospectError, Introspection};
use crate::desired::Desired;
use crate::manifest::Manifest;
use crate::pg::error::server_message;
use crate::pg::ident::Ident;
use crate::plan::change::Object;
use crate::plan::file::{Fingerprint, Stale};
use crate::plan::live::PlanOptions;
use crate::plan::preflight::{self, Blocked, Session};
use crate::plan::{Action, Plan, sql};

/// The advisory lock every apply takes: `pg_advisory_xact_lock(LOCK_CLASS, 0)`; see `pg::locks`.
pub use crate::pg::locks::LOCK_CLASS;

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
    #[error("{}", .0.join("; "))]
    Refused(Vec<String>),
    #[error("{} change(s) cannot be made as {}; nothing was applied:\n  {}", .blocked.len(), .who, .blocked.iter().map(|b| b.to_string()).collect::<Vec<_>>().join("\n  "))]
    Blocked { who: String, blocked: Vec<Blocked> },
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
    /// How to re-plan under the lock; its passwords are also the ones set.
    pub plan: PlanOptions,
}

/// What an apply did.
#[derive(Debug, Clone)]
pub struct ApplyReport {
    pub plan: Plan,
    pub statements: usize,
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
    let (plan, live) = crate::plan::live::plan(&tx, manifest, desired, &options.plan).await?;
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
    check(desired, &plan, &live)?;
    let session = Session::new(&live);
    // A non-superuser acts on a schema's contents as its owner (see `plan::preflight`).
    let mut acting_as: Option<String> = None;
    let mut statements = 0;
    for change in &plan.changes {
        let actor = preflight::actor(&change.action, desired)
            .filter(|role| !session.superuser && *role != session.user);
        if actor != acting_as {
            let set = match &actor {
                Some(role) => format!("SET ROLE {}", Ident(role)),
                None => "RESET ROLE".to_string(),
            };
            if let Err(cause) = tx.batch_execute(&set).await {
                return Err(ApplyError::Statement {
                    message: server_message(&cause),
                    statement: set,
                    cause,
                });
            }
            acting_as = actor;
        }
        let lookup = schema_lookup(&change.action, desired, &session, &live);
        let mut list = executable(&change.action, &options.plan.passwords);
        if let Some((before, after)) = lookup {
            list.insert(0, before);
            list.push(after);
        }
        for statement in list {
            if let Err(cause) = tx.batch_execute(&statement).await {
                let mut message = server_message(&cause);
                if cause.code() == Some(&SqlState::OUT_OF_MEMORY) {
                    // 53200 here is the lock table: the one transaction holds a lock on every
                    // object whose owner or privileges it changes.
                    message.push_str(&format!(
                        "; this apply changes {} objects in one transaction: raise max_locks_per_transaction (a restart is needed) or apply one service at a time with --service NAME",
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
    if acting_as.is_some() {
        tx.batch_execute("RESET ROLE")
            .await
            .map_err(database_error)?;
    }
    let (after, _) = crate::plan::live::plan(&tx, manifest, desired, &options.plan).await?;
    if !after.changes.is_empty() {
        return Err(ApplyError::NotConverged(Box::new(after)));
    }
    tx.commit().await.map_err(database_error)?;
    Ok(ApplyReport { plan, statements })
}

/// On 16 and later a non-superuser admin is a member of an owner role WITH INHERIT FALSE, so
/// once the owner holds a schema the admin cannot even look up the objects in it that it
/// still owns and must hand on. For each such `ALTER ... OWNER TO`, the schema's owner lends
/// the admin USAGE on the schema and takes it back right after, inside the transaction.
fn schema_lookup(
    action: &Action,
    desired: &Desired,
    session: &Session<'_>,
    live: &Introspection,
) -> Option<(String, String)> {
    if session.superuser || !live.membership_options() {
        return None;
    }
    let Action::AlterOwner {
        object: Object::InSchema { schema, .. },
        ..
    } = action
    else {
        return None;
    };
    let owner = &desired.db().schemas.get(schema)?.owner;
    let (owner, schema, user) = (Ident(owner), Ident(schema), Ident(&session.user));
    Some((
        format!("SET ROLE {owner}; GRANT USAGE ON SCHEMA {schema} TO {user}; RESET ROLE"),
        format!("SET ROLE {owner}; REVOKE USAGE ON SCHEMA {schema} FROM {user}; RESET ROLE"),
    ))
}

/// Refuses a manifest no role may apply, and a plan with changes the session cannot make.
pub fn check(desired: &Desired, plan: &Plan, live: &Introspection) -> Result<(), ApplyError> {
    let refused = preflight::refusals(desired, live);
    if !refused.is_empty() {
        return Err(ApplyError::Refused(refused));
    }
    let blocked = preflight::blocked(plan, desired, live);
    if !blocked.is_empty() {
        return Err(ApplyError::Blocked {
            who: Session::new(live).describe(),
            blocked,
        });
    }
    Ok(())
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
