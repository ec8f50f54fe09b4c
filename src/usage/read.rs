//! Reads `pg_stat_statements` for the current database: where the extension lives and what the
//! session may see, then every statement in one bulk query, then when the statistics were
//! reset. Three queries, whatever the number of statements.

use anyhow::Context;
use tokio_postgres::Client;
use tokio_postgres::error::SqlState;

use super::{MARK, Statement, Stats};
use crate::pg::ident::Ident;

/// The extension is missing or not loaded: `usage` cannot work, and says how to fix it.
#[derive(Debug, thiserror::Error)]
#[error(
    "pg_stat_statements is not available in database {database}: add it to shared_preload_libraries in postgresql.conf, restart the server, then run `CREATE EXTENSION pg_stat_statements;` in {database}"
)]
pub struct NotInstalled {
    pub database: String,
}

/// Where the extension is, what the session may see, and the default search_path of a role
/// without its own: the database's setting for all roles, else `ALTER ROLE ALL`'s, else the
/// server's (its boot value when the session's own value came from a role or database setting).
const SETUP: &str = "SELECT pg_catalog.current_database()::text AS database,
       (SELECT n.nspname::text FROM pg_catalog.pg_extension e
        JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace
        WHERE e.extname = 'pg_stat_statements') AS schema,
       coalesce(
         (SELECT substr(c, 13) FROM pg_catalog.pg_db_role_setting s, unnest(s.setconfig) c
          WHERE s.setrole = 0 AND c LIKE 'search\\_path=%'
            AND s.setdatabase = (SELECT oid FROM pg_catalog.pg_database
                                 WHERE datname = pg_catalog.current_database())),
         (SELECT substr(c, 13) FROM pg_catalog.pg_db_role_setting s, unnest(s.setconfig) c
          WHERE s.setrole = 0 AND s.setdatabase = 0 AND c LIKE 'search\\_path=%'),
         (SELECT CASE WHEN source IN ('user', 'database', 'database user', 'client', 'session')
                      THEN boot_val ELSE reset_val END
          FROM pg_catalog.pg_settings WHERE name = 'search_path')) AS search_path";

/// Every statement of the current database with its role, summed over the entries that differ
/// only by `toplevel` or plan; texts hidden from this session come back as
/// `<insufficient privilege>`.
fn statements_query(schema: &str) -> String {
    format!(
        "{MARK}SELECT r.rolname::text AS role, r.rolsuper AS superuser,
       coalesce(s.query, '') AS query, sum(s.calls)::bigint AS calls, sum(s.rows)::bigint AS rows,
       s.queryid IS NULL AS hidden
FROM {schema}.pg_stat_statements s
JOIN pg_catalog.pg_roles r ON r.oid = s.userid
WHERE s.dbid = (SELECT oid FROM pg_catalog.pg_database WHERE datname = pg_catalog.current_database())
GROUP BY 1, 2, 3, 6",
        schema = Ident(schema)
    )
}

/// Reads the statements; [`NotInstalled`] when the extension is missing or not preloaded.
pub async fn read(client: &Client) -> anyhow::Result<Stats> {
    let setup = client
        .query_one(SETUP, &[])
        .await
        .context("cannot look for pg_stat_statements")?;
    let database: String = setup.try_get("database")?;
    let Some(schema) = setup.try_get::<_, Option<String>>("schema")? else {
        return Err(NotInstalled { database }.into());
    };
    let default_search_path: Option<String> = setup.try_get("search_path")?;
    let rows = match client.query(&statements_query(&schema), &[]).await {
        Ok(rows) => rows,
        // "pg_stat_statements must be loaded via shared_preload_libraries"
        Err(error) if error.code() == Some(&SqlState::OBJECT_NOT_IN_PREREQUISITE_STATE) => {
            return Err(NotInstalled { database }.into());
        }
        Err(error) => {
            return Err(crate::pg::error::ServerError::from(error))
                .context("cannot read pg_stat_statements");
        }
    };
    let mut stats = Stats {
        default_search_path: default_search_path.unwrap_or_default(),
        ..Stats::default()
    };
    for row in rows {
        let superuser: bool = row.try_get("superuser")?;
        if row.try_get::<_, bool>("hidden")? && !superuser {
            stats.hidden += 1;
            continue;
        }
        stats.statements.push(Statement {
            role: row.try_get("role")?,
            superuser,
            query: row.try_get("query")?,
            calls: row.try_get("calls")?,
            rows: row.try_get("rows")?,
        });
    }
    // pg_stat_statements_info came with PostgreSQL 14 (extension version 1.9); an older
    // extension version has no reset time to show.
    let info = format!(
        "{MARK}SELECT stats_reset::text FROM {}.pg_stat_statements_info",
        Ident(&schema)
    );
    if let Ok(row) = client.query_one(&info, &[]).await {
        stats.stats_reset = row.try_get(0).ok();
    }
    Ok(stats)
}
