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
    begin(first).await?;
    let Some(second) = second else {
        return Ok(false);
    };
    let exported = match first
        .query_one("SELECT pg_catalog.pg_export_snapshot()", &[])
        .await
    {
        Ok(row) => row.try_get::<_, String>(0).ok(),
        Err(_) => {
            // The failed export ended the transaction's usefulness: start it again.
            first
                .batch_execute("ROLLBACK")
                .await
                .map_err(|e| BeginError(e.into()))?;
            begin(first).await?;
            None
        }
    };
    let Some(snapshot) = exported else {
        return Ok(false);
    };
    let joined = second
        .batch_execute(&format!(
            "{BEGIN}; SET TRANSACTION SNAPSHOT {}",
            Literal(&snapshot)
        ))
        .await;
    if joined.is_err() {
        // Best effort: the second session is not used again.
        let _ = second.batch_execute("ROLLBACK").await;
        return Ok(false);
    }
    Ok(true)
}

async fn begin(client: &Client) -> Result<(), BeginError> {
    client
        .batch_execute(BEGIN)
        .await
        .map_err(|e| BeginError(e.into()))
}
