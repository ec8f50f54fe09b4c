//! One read-only snapshot over two sessions, so that introspection can split its catalog
//! queries between them (pg_dump's parallel mode does the same: `pg_export_snapshot()` on
//! the first, `SET TRANSACTION SNAPSHOT` on the second). It starts transactions and nothing
//! else; the sessions themselves, and ending the transactions, are the caller's.

use tokio_postgres::Client;

use crate::pg::ident::Literal;

/// Why the first session could not start its read-only transaction.
#[derive(Debug, thiserror::Error)]
#[error("cannot start a read-only transaction")]
pub struct BeginError(#[source] pub crate::pg::error::ServerError);

const BEGIN: &str = "START TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY";

/// Starts a `REPEATABLE READ READ ONLY` transaction on `first` and, when `second` is given,
/// one on `second` that sees the same snapshot. Returns whether `second` joined. When it
/// could not (the server refuses to export the snapshot, or the second session fails),
/// `first` still has its transaction open and whatever `second` started is rolled back: the
/// caller reads through `first` alone.
pub async fn begin_shared(first: &Client, second: Option<&Client>) -> Result<bool, BeginError> {
    let Some(second) = second else {
        begin(first).await?;
        return Ok(false);
    };
    match begin_exported(first).await? {
        Some(snapshot) => Ok(join(second, &snapshot).await),
        None => Ok(false),
    }
}

/// Starts a `REPEATABLE READ READ ONLY` transaction on `first` and exports its snapshot, in
/// one round trip; `None` when the server refuses to export it (`first` then has a fresh
/// transaction open all the same). A second session can [`join`] the snapshot later.
pub async fn begin_exported(first: &Client) -> Result<Option<String>, BeginError> {
    let exported = first
        .simple_query(&format!("{BEGIN}; SELECT pg_catalog.pg_export_snapshot()"))
        .await;
    let snapshot = exported.ok().and_then(|messages| {
        messages.into_iter().find_map(|message| match message {
            tokio_postgres::SimpleQueryMessage::Row(row) => row.get(0).map(str::to_string),
            _ => None,
        })
    });
    if snapshot.is_none() {
        // The failed export ended the transaction's usefulness: start it again.
        first
            .batch_execute("ROLLBACK")
            .await
            .map_err(|e| BeginError(e.into()))?;
        begin(first).await?;
    }
    Ok(snapshot)
}

/// Starts a `REPEATABLE READ READ ONLY` transaction on `second` that sees `snapshot`
/// (exported by [`begin_exported`]); false, with whatever it started rolled back, when it
/// cannot.
pub async fn join(second: &Client, snapshot: &str) -> bool {
    let joined = second
        .batch_execute(&format!(
            "{BEGIN}; SET TRANSACTION SNAPSHOT {}",
            Literal(snapshot)
        ))
        .await;
    if joined.is_err() {
        // Best effort: the second session is not used again.
        let _ = second.batch_execute("ROLLBACK").await;
        return false;
    }
    true
}

async fn begin(client: &Client) -> Result<(), BeginError> {
    client
        .batch_execute(BEGIN)
        .await
        .map_err(|e| BeginError(e.into()))
}
