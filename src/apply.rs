//! Executes a plan: one transaction under an advisory lock, re-planned under the lock, checked
//! for convergence before COMMIT. It lands whole or not at all.
//!
//! The flow: take `pg_advisory_xact_lock` (a second apply waits up to the lock timeout, then
//! gives up), re-introspect and re-plan inside the transaction, refuse when that plan is not the
//! one the user confirmed (or, for a saved plan, when the cluster changed since), run each
//! statement, re-introspect once more and refuse to commit unless the plan is now empty.
//!
//! A plan larger than one transaction's share of the lock table is applied in transactions of
//! whole services instead ([`apply_in`]): under a session-level hold of the same lock, planned
//! once, each share committed in turn, and checked once at the end.

use std::collections::BTreeMap;
use std::time::Duration;

use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, SimpleQueryMessage};

pub mod budget;

use self::budget::{Part, Transaction};
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
    #[error("after applying in {transactions} transactions, all committed, {} change(s) are still pending; run apply again. First: {}", .pending.changes.len(), .pending.changes.first().map(|c| sql::statements(&c.action).join(" ")).unwrap_or_default())]
    PendingAfterSplit {
        transactions: usize,
        pending: Box<Plan>,
    },
    #[error("{}", .0.join("; "))]
    Refused(Vec<String>),
    #[error("{} change(s) cannot be made as {}; nothing was applied:\n  {}", .blocked.len(), .who, .blocked.iter().map(|b| b.to_string()).collect::<Vec<_>>().join("\n  "))]
    Blocked { who: String, blocked: Vec<Blocked> },
    #[error("introspection inside the apply transaction failed")]
    Introspect(#[from] IntrospectError),
    #[error(
        "transaction {failed} of {total} ({what}) failed and was rolled back; {}",
        committed_text(.committed)
    )]
    Partial {
        failed: usize,
        total: usize,
        what: String,
        /// What each transaction before it applied (and committed).
        committed: Vec<String>,
        #[source]
        source: Box<ApplyError>,
    },
    #[error(
        "lock-budget: {what} needs about {locks} lock entries, more than one transaction may take ({usable}): {table}; {hint}nothing was applied"
    )]
    LockBudget {
        what: String,
        locks: u64,
        usable: u64,
        table: String,
        hint: String,
    },
    #[error("database error: {message}")]
    Database {
        message: String,
        cause: tokio_postgres::Error,
    },
}

impl ApplyError {
    /// Whether some transactions of a split apply committed before it stopped: the cluster
    /// is part-way, not as it was.
    pub fn is_partial(&self) -> bool {
        matches!(
            self,
            ApplyError::Partial { .. } | ApplyError::PendingAfterSplit { .. }
        )
    }
}

fn committed_text(committed: &[String]) -> String {
    let list: Vec<String> = committed
        .iter()
        .enumerate()
        .map(|(i, what)| format!("{}. {what}", i + 1))
        .collect();
    let which = match committed.len() {
        1 => "transaction 1 is".to_string(),
        n => format!("transactions 1 to {n} are"),
    };
    format!(
        "{which} committed and stay applied ({}); run apply again to finish",
        list.join("; ")
    )
}

/// Why taking the advisory lock failed: another apply held it past `timeout`, or the server
/// said something else.
fn lock_failed(error: tokio_postgres::Error, timeout: Duration) -> ApplyError {
    if error.code() == Some(&SqlState::LOCK_NOT_AVAILABLE) {
        ApplyError::Locked(timeout)
    } else {
        database_error(error)
    }
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
    /// Statements executed, after grouping (`plan::sql::grouped`).
    pub statements: usize,
    /// Simple-query messages sent to execute them.
    pub round_trips: usize,
    /// Transactions it took: 1, or more when the lock budget split the plan.
    pub transactions: usize,
}

impl ApplyReport {
    /// An apply that found nothing to do.
    fn nothing(plan: Plan, transactions: usize) -> ApplyReport {
        ApplyReport {
            plan,
            statements: 0,
            round_trips: 0,
            transactions,
        }
    }
}

/// Applies the manifest in one transaction; see the module documentation for the steps.
pub async fn apply(
    client: &mut Client,
    manifest: &Manifest,
    desired: &Desired,
    options: &ApplyOptions,
    confirmed: &Confirmed,
) -> Result<ApplyReport, ApplyError> {
    transaction(client, manifest, desired, options, confirmed).await
}

/// Applies the manifest within the server's lock budget (`budget`): in one transaction, as
/// [`apply`] does, when the plan fits; otherwise in transactions of whole services, as
/// [`apply_in`] does, or, with `single_transaction`, not at all. Refused before anything is
/// changed when even one service alone does not fit. For callers with no one to ask (fleet
/// targets, `demo`, the provisioning of a move's target); `dbsplit apply` makes the same
/// choice itself to show it before asking.
pub async fn apply_budgeted(
    client: &mut Client,
    manifest: &Manifest,
    desired: &Desired,
    options: &ApplyOptions,
    confirmed: &Confirmed,
    single_transaction: bool,
) -> Result<ApplyReport, ApplyError> {
    let table = budget::LockTable::read(client)
        .await
        .map_err(database_error)?;
    let usable = table.usable();
    match budget::split(&confirmed.plan, usable) {
        budget::Split::One { .. } => apply(client, manifest, desired, options, confirmed).await,
        budget::Split::TooBig { locks, part } => Err(ApplyError::LockBudget {
            what: part.to_string() + " alone",
            locks,
            usable,
            table: table.describe(),
            hint: "raise max_locks_per_transaction (a restart is needed); ".to_string(),
        }),
        budget::Split::Many {
            locks,
            transactions,
        } if single_transaction => Err(ApplyError::LockBudget {
            what: "this plan".to_string(),
            locks,
            usable,
            table: table.describe(),
            hint: format!(
                "raise max_locks_per_transaction (a restart is needed), or apply without --single-transaction in {} transactions of whole services; ",
                transactions.len()
            ),
        }),
        budget::Split::Many { transactions, .. } => {
            apply_in(client, manifest, desired, options, confirmed, &transactions).await
        }
    }
}

/// Applies the manifest in `transactions` (from `budget::split`), one after the other, under
/// one session-level hold of the advisory lock: planned once under the lock (refused when that
/// plan is not the confirmed one), each transaction runs its share of that plan and commits,
/// and once they all have, one more plan must be empty. When transaction k fails, 1 to k-1 stay
/// committed, and [`ApplyError::Partial`] says which.
///
/// Planning once matters at scale: re-planning the whole cluster before and after each
/// share made the time grow with the square of the number of transactions.
pub async fn apply_in(
    client: &mut Client,
    manifest: &Manifest,
    desired: &Desired,
    options: &ApplyOptions,
    confirmed: &Confirmed,
    transactions: &[Transaction],
) -> Result<ApplyReport, ApplyError> {
    lock(client, options.lock_timeout).await?;
    let result = apply_locked(client, manifest, desired, options, confirmed, transactions).await;
    unlock(client).await;
    result
}

/// Takes the session-level hold of the advisory lock every apply takes, waiting up to
/// `timeout` (then [`ApplyError::Locked`]), and leaves `lock_timeout` set for the session: it
/// bounds every table lock an ALTER needs, in every transaction that follows. [`unlock`]
/// gives both back; the caller must call it on every path once this succeeded.
pub async fn lock(client: &Client, timeout: Duration) -> Result<(), ApplyError> {
    let millis = timeout.as_millis().max(1);
    client
        .batch_execute(&format!("SET lock_timeout = {millis}"))
        .await
        .map_err(database_error)?;
    if let Err(error) = client
        .execute("SELECT pg_catalog.pg_advisory_lock($1, 0)", &[&LOCK_CLASS])
        .await
    {
        let _ = client.batch_execute("RESET lock_timeout").await;
        return Err(lock_failed(error, timeout));
    }
    Ok(())
}

/// Gives back what [`lock`] took. The lock would go with the session; callers that go on
/// (demo, a fleet's targets) must not keep it.
pub async fn unlock(client: &Client) {
    let _ = client
        .execute(
            "SELECT pg_catalog.pg_advisory_unlock($1, 0)",
            &[&LOCK_CLASS],
        )
        .await;
    let _ = client.batch_execute("RESET lock_timeout").await;
}

/// Applies `plan`, made by the caller while the session held the lock ([`lock`]) and checked
/// by it (`check`: refusals, blocked changes), from the state `live` it read then: in one
/// transaction that re-plans before COMMIT, as [`apply`] does, or in `transactions`, as
/// [`apply_in`] does. `dbsplit apply --yes` plans this way, once, under the lock, instead of
/// once to show and once more under the lock.
pub async fn apply_held(
    client: &mut Client,
    manifest: &Manifest,
    desired: &Desired,
    options: &ApplyOptions,
    plan: Plan,
    live: &Introspection,
    transactions: Option<&[Transaction]>,
) -> Result<ApplyReport, ApplyError> {
    if plan.changes.is_empty() {
        return Ok(ApplyReport::nothing(plan, 1));
    }
    match transactions {
        Some(transactions) => {
            run_shares(client, manifest, desired, options, plan, live, transactions).await
        }
        None => {
            let tx = client.transaction().await.map_err(database_error)?;
            let result = run_one(&tx, manifest, desired, options, plan, live).await;
            end(tx, result).await
        }
    }
}

/// [`apply_in`] once the session holds the advisory lock.
async fn apply_locked(
    client: &mut Client,
    manifest: &Manifest,
    desired: &Desired,
    options: &ApplyOptions,
    confirmed: &Confirmed,
    transactions: &[Transaction],
) -> Result<ApplyReport, ApplyError> {
    let (whole, live) = crate::plan::live::plan(&*client, manifest, desired, &options.plan).await?;
    if !confirm(&whole, &live, confirmed, desired)? {
        return Ok(ApplyReport::nothing(whole, transactions.len()));
    }
    run_shares(
        client,
        manifest,
        desired,
        options,
        whole,
        &live,
        transactions,
    )
    .await
}

/// Runs each transaction's share of `whole` (planned under the session's hold of the lock,
/// from `live`) and commits it, then plans once more: that plan must be empty.
async fn run_shares(
    client: &mut Client,
    manifest: &Manifest,
    desired: &Desired,
    options: &ApplyOptions,
    whole: Plan,
    live: &Introspection,
    transactions: &[Transaction],
) -> Result<ApplyReport, ApplyError> {
    let mut report = ApplyReport {
        plan: whole,
        statements: 0,
        round_trips: 0,
        transactions: transactions.len(),
    };
    let session = Session::new(live);
    for (k, (unit, share)) in transactions
        .iter()
        .zip(shares(&report.plan, transactions))
        .enumerate()
    {
        let script = script(&share, desired, &session, live, &options.plan.passwords);
        let ran = async {
            let tx = client.transaction().await.map_err(database_error)?;
            let result = execute(&tx, &script, share.changes.len()).await;
            end(tx, result).await
        }
        .await;
        match ran {
            Ok(round_trips) => {
                report.statements += script.len();
                report.round_trips += round_trips;
            }
            Err(error) if k == 0 => return Err(error),
            Err(error) => {
                return Err(ApplyError::Partial {
                    failed: k + 1,
                    total: transactions.len(),
                    what: unit.describe(),
                    committed: transactions[..k]
                        .iter()
                        .map(Transaction::describe)
                        .collect(),
                    source: Box::new(error),
                });
            }
        }
    }
    let (after, _) = crate::plan::live::plan(&*client, manifest, desired, &options.plan).await?;
    if !after.changes.is_empty() {
        return Err(ApplyError::PendingAfterSplit {
            transactions: transactions.len(),
            pending: Box::new(after),
        });
    }
    Ok(report)
}

/// `plan`'s changes split by `transactions`, in one pass: each change goes to the transaction
/// of its part, in the plan's order. (Filtering the whole plan once per transaction, and
/// cloning it for each, cost seconds at 100,000 tables.)
fn shares(plan: &Plan, transactions: &[Transaction]) -> Vec<Plan> {
    let of: BTreeMap<&Part, usize> = transactions
        .iter()
        .enumerate()
        .flat_map(|(k, unit)| unit.parts.iter().map(move |part| (part, k)))
        .collect();
    let mut shares: Vec<Plan> = transactions
        .iter()
        .map(|_| Plan {
            database: plan.database.clone(),
            changes: Vec::new(),
            notes: Vec::new(),
        })
        .collect();
    for change in &plan.changes {
        // A part no transaction takes cannot occur (the split covers them all); were it to,
        // the check at the end would find its changes pending.
        if let Some(k) = of.get(&budget::part(change)) {
            shares[*k].changes.push(change.clone());
        }
    }
    shares
}

/// The whole plan in one transaction, under the advisory lock.
async fn transaction(
    client: &mut Client,
    manifest: &Manifest,
    desired: &Desired,
    options: &ApplyOptions,
    confirmed: &Confirmed,
) -> Result<ApplyReport, ApplyError> {
    let tx = client.transaction().await.map_err(database_error)?;
    let result = transaction_in(&tx, manifest, desired, options, confirmed).await;
    end(tx, result).await
}

/// Commits `tx` when `result` is a success; otherwise rolls it back and waits for the server
/// to have done so before returning the error. (Dropping a transaction only queues its
/// ROLLBACK: a failed apply's locks, thousands after an owner change of every table, would
/// stay taken in the lock table for a moment after apply returned, and the next session to
/// read or use the table would find it full.)
async fn end<T>(
    tx: tokio_postgres::Transaction<'_>,
    result: Result<T, ApplyError>,
) -> Result<T, ApplyError> {
    match result {
        Ok(done) => {
            tx.commit().await.map_err(database_error)?;
            Ok(done)
        }
        Err(error) => {
            let _ = tx.rollback().await;
            Err(error)
        }
    }
}

/// [`transaction`] in its transaction `tx`; the caller commits or rolls back.
async fn transaction_in(
    tx: &tokio_postgres::Transaction<'_>,
    manifest: &Manifest,
    desired: &Desired,
    options: &ApplyOptions,
    confirmed: &Confirmed,
) -> Result<ApplyReport, ApplyError> {
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
        return Err(lock_failed(error, options.lock_timeout));
    }
    let (plan, live) = crate::plan::live::plan(tx, manifest, desired, &options.plan).await?;
    if !confirm(&plan, &live, confirmed, desired)? {
        return Ok(ApplyReport::nothing(plan, 1));
    }
    run_one(tx, manifest, desired, options, plan, &live).await
}

/// Checks `plan`, made under the lock from `live`, against what the caller confirmed: a saved
/// plan's fingerprint, the same changes, and what the session may do ([`check`]). `Ok(false)`
/// when nothing is left to do: another apply got there first.
fn confirm(
    plan: &Plan,
    live: &Introspection,
    confirmed: &Confirmed,
    desired: &Desired,
) -> Result<bool, ApplyError> {
    if let Some(expected) = &confirmed.fingerprint {
        expected.check(&live.state, plan)?;
    }
    if plan.changes.is_empty() {
        return Ok(false);
    }
    if plan.changes != confirmed.plan.changes {
        return Err(ApplyError::PlanDiffers);
    }
    check(desired, plan, live)?;
    Ok(true)
}

/// Runs `plan` (made under the lock, from `live`) in `tx` and re-plans there: anything still
/// pending refuses the commit ([`ApplyError::NotConverged`]); the caller commits.
async fn run_one(
    tx: &tokio_postgres::Transaction<'_>,
    manifest: &Manifest,
    desired: &Desired,
    options: &ApplyOptions,
    plan: Plan,
    live: &Introspection,
) -> Result<ApplyReport, ApplyError> {
    let session = Session::new(live);
    let script = script(&plan, desired, &session, live, &options.plan.passwords);
    let round_trips = execute(tx, &script, plan.changes.len()).await?;
    let (after, _) = crate::plan::live::plan(tx, manifest, desired, &options.plan).await?;
    if !after.changes.is_empty() {
        return Err(ApplyError::NotConverged(Box::new(after)));
    }
    Ok(ApplyReport {
        plan,
        statements: script.len(),
        round_trips,
        transactions: 1,
    })
}

/// One statement apply runs, and how an error may quote it (never with a password).
#[derive(Debug, Clone)]
struct Statement {
    sql: String,
    shown: String,
}

impl Statement {
    fn plain(sql: String) -> Statement {
        Statement {
            shown: sql.clone(),
            sql,
        }
    }
}

/// The statements that make `plan`, in its order: consecutive changes made as the same role
/// are grouped (`plan::sql::grouped`), with `SET ROLE` where the acting role changes and, on
/// 16+, one schema lend around each run of owner changes in one schema (`schema_lookup`).
fn script(
    plan: &Plan,
    desired: &Desired,
    session: &Session<'_>,
    live: &Introspection,
    passwords: &BTreeMap<String, String>,
) -> Vec<Statement> {
    // A non-superuser acts on a schema's contents as its owner (see `plan::preflight`).
    let actor = |action: &Action| {
        preflight::actor(action, desired).filter(|role| !session.superuser && *role != session.user)
    };
    let key = |action: &Action| {
        (
            actor(action),
            schema_lookup(action, desired, session, live),
            matches!(action, Action::SetPassword { .. }),
        )
    };
    let mut out = Vec::new();
    let mut acting_as: Option<String> = None;
    let mut rest = &plan.changes[..];
    while let Some(first) = rest.first() {
        let (actor, lookup, password) = key(&first.action);
        let len = rest
            .iter()
            .take_while(|c| key(&c.action) == (actor.clone(), lookup.clone(), password))
            .count();
        let (run, tail) = rest.split_at(len);
        rest = tail;
        if actor != acting_as {
            out.push(Statement::plain(match &actor {
                Some(role) => format!("SET ROLE {};", Ident(role)),
                None => "RESET ROLE;".to_string(),
            }));
            acting_as = actor;
        }
        let [lend, take_back] = lookup.unwrap_or_default();
        out.extend(lend.into_iter().map(Statement::plain));
        if password {
            for change in run {
                for sql in executable(&change.action, passwords) {
                    out.push(Statement {
                        sql,
                        shown: sql::statements(&change.action).join(" "),
                    });
                }
            }
        } else {
            let actions = run.iter().map(|c| &c.action);
            // A role the live state (read under the lock) lacks is created without DO blocks.
            let render = |action: &Action| {
                let new = match action {
                    Action::CreateRole { role, .. } | Action::MarkRole { role, .. } => {
                        !live.state.roles.contains_key(role)
                    }
                    _ => false,
                };
                new.then(|| sql::new_role_statements(action))
                    .flatten()
                    .unwrap_or_else(|| sql::statements(action))
            };
            out.extend(
                sql::grouped_with(actions, render)
                    .into_iter()
                    .map(Statement::plain),
            );
        }
        out.extend(take_back.into_iter().map(Statement::plain));
    }
    if acting_as.is_some() {
        out.push(Statement::plain("RESET ROLE;".to_string()));
    }
    out
}

/// Runs `script` in simple-query messages of many statements each (`plan::sql::messages`):
/// one round trip per message instead of one per statement. Returns the number of messages.
///
/// The server runs a message's statements in order and stops at the first error; it reports
/// each statement's completion, so the completions counted before the error name the one
/// that failed.
async fn execute(
    tx: &tokio_postgres::Transaction<'_>,
    script: &[Statement],
    changes: usize,
) -> Result<usize, ApplyError> {
    // Statements are joined into one message: each must end its own.
    let sqls: Vec<String> = script
        .iter()
        .map(|s| {
            if s.sql.trim_end().ends_with(';') {
                s.sql.clone()
            } else {
                format!("{};", s.sql)
            }
        })
        .collect();
    let messages = sql::messages(&sqls);
    if let Some(path) = std::env::var_os(SCRIPT_ENV) {
        write_script(&path, script, &messages)?;
    }
    let progress = crate::progress::Progress::bar("applying changes", messages.len() as u64);
    for range in &messages {
        let text = sqls[range.clone()].join("\n");
        let Err((done, cause)) = run_message(tx, &text).await else {
            progress.inc();
            continue;
        };
        let failed = (range.start + done).min(range.end - 1);
        let mut message = server_message(&cause);
        if cause.code() == Some(&SqlState::OUT_OF_MEMORY) {
            // 53200 here is the lock table: the one transaction holds a lock on every
            // object whose owner or privileges it changes.
            message.push_str(&format!(
                "; this apply changes {changes} objects in one transaction: raise max_locks_per_transaction (a restart is needed) or apply one service at a time with --service NAME"
            ));
        }
        return Err(ApplyError::Statement {
            statement: abbreviate(&script[failed].shown),
            message,
            cause,
        });
    }
    Ok(messages.len())
}

/// Benchmark hook: with `DBSPLIT_APPLY_SCRIPT=FILE`, apply also writes the statements it
/// executes to FILE as a psql script that sends them in the same messages (`\;` joins the
/// statements of one message), so that `benches/apply.sh` can time the same SQL sent by psql
/// alone (the floor). Statements are written as errors quote them: never a password verifier.
const SCRIPT_ENV: &str = "DBSPLIT_APPLY_SCRIPT";

fn write_script(
    path: &std::ffi::OsStr,
    script: &[Statement],
    messages: &[std::ops::Range<usize>],
) -> Result<(), ApplyError> {
    let mut text = String::new();
    for range in messages {
        let shown: Vec<&str> = script[range.clone()]
            .iter()
            .map(|s| s.shown.trim_end().trim_end_matches(';'))
            .collect();
        text.push_str(&shown.join("\\;\n"));
        text.push_str(";\n");
    }
    std::fs::write(path, text).map_err(|cause| {
        ApplyError::Refused(vec![format!(
            "cannot write {SCRIPT_ENV} file {}: {cause}",
            std::path::Path::new(path).display()
        )])
    })
}

/// Sends one simple-query message; on error, also says how many of its statements completed.
async fn run_message(
    tx: &tokio_postgres::Transaction<'_>,
    text: &str,
) -> Result<(), (usize, tokio_postgres::Error)> {
    use futures_util::StreamExt;
    let mut stream = std::pin::pin!(
        tx.client()
            .simple_query_raw(text)
            .await
            .map_err(|e| (0, e))?
    );
    let mut done = 0;
    while let Some(message) = stream.next().await {
        match message {
            Ok(SimpleQueryMessage::CommandComplete(_)) => done += 1,
            Ok(_) => {}
            Err(error) => return Err((done, error)),
        }
    }
    Ok(())
}

/// A statement as an error quotes it: a merged GRANT over hundreds of objects is cut after
/// its first few hundred characters.
fn abbreviate(statement: &str) -> String {
    const SHOWN: usize = 600;
    if statement.len() <= SHOWN {
        return statement.to_string();
    }
    let cut = (0..=SHOWN)
        .rev()
        .find(|&i| statement.is_char_boundary(i))
        .unwrap_or(0);
    format!(
        "{} ... ({} more characters)",
        &statement[..cut],
        statement.len() - cut
    )
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
) -> Option<[Vec<String>; 2]> {
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
    Some([
        vec![
            format!("SET ROLE {owner};"),
            format!("GRANT USAGE ON SCHEMA {schema} TO {user};"),
            "RESET ROLE;".to_string(),
        ],
        vec![
            format!("SET ROLE {owner};"),
            format!("REVOKE USAGE ON SCHEMA {schema} FROM {user};"),
            "RESET ROLE;".to_string(),
        ],
    ])
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
                "ALTER ROLE {} PASSWORD {};",
                Ident(role),
                crate::pg::ident::Literal(&crate::pg::scram::random_verifier(password))
            )],
            None => Vec::new(),
        },
        other => sql::statements(other),
    }
}
