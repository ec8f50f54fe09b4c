//! The history table `<schema>.dbsplit_migrations`: created when missing (the owner's alone),
//! read for `migrate` and `migrate status`, and a dirty row resolved.

use tokio_postgres::Client;

use super::error::RunError;
use super::verify::Applied;
use crate::manifest::Service;
use crate::migrations::HISTORY_TABLE;
use crate::pg::ident::{Ident, ident_list};

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

/// Creates the history table when it is missing, and makes it the owner's alone.
pub async fn create(client: &Client, service: &Service) -> Result<(), RunError> {
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
    Ok(())
}

/// Marks the dirty row of `version` done; the name of its file, or `None` when no such row is
/// dirty.
pub async fn mark_done(
    client: &Client,
    service: &Service,
    version: i64,
) -> Result<Option<String>, RunError> {
    let row = client
        .query_opt(
            &format!(
                "UPDATE {}.{} SET success = true WHERE version = $1 AND NOT success RETURNING name",
                Ident(&service.schema),
                Ident(HISTORY_TABLE)
            ),
            &[&version],
        )
        .await?;
    Ok(row.map(|row| row.get(0)))
}
