//! The statements a move runs: publications, slots, subscriptions, the write fence, sequences
//! and row checks. Each is safe to run again: it looks before it creates or drops.

use std::time::{Duration, Instant};

use tokio_postgres::Client;

use crate::pg::ident::{Ident, Literal, ident_list};
use crate::pg::options::{ConnectOptions, Host, SslMode};
use crate::pg::tls::RootCerts;

use super::error::{Context, MoveError};
use super::tools::conninfo_value;

/// The tables of `schema`, as `format('%I.%I')` names, sorted.
pub async fn tables(client: &Client, schema: &str) -> Result<Vec<String>, MoveError> {
    let rows = client
        .query(
            "SELECT format('%I.%I', n.nspname, c.relname)
             FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') ORDER BY 1",
            &[&schema],
        )
        .await
        .during(|| format!("cannot list the tables of schema `{schema}`"))?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// Row counts of `tables` (names as [`tables`] gives them), in one statement.
pub async fn counts(client: &Client, tables: &[String]) -> Result<Vec<i64>, MoveError> {
    per_table(client, tables, "count(*)", "bigint").await
}

/// An md5 of every row's text, ordered, per table: equal rows give equal hashes on any major.
pub async fn hashes(client: &Client, tables: &[String]) -> Result<Vec<String>, MoveError> {
    per_table(
        client,
        tables,
        "coalesce(md5(string_agg(t::text, E'\\n' ORDER BY t::text)), '')",
        "text",
    )
    .await
}

async fn per_table<T: for<'a> tokio_postgres::types::FromSql<'a>>(
    client: &Client,
    tables: &[String],
    expression: &str,
    kind: &str,
) -> Result<Vec<T>, MoveError> {
    if tables.is_empty() {
        return Ok(Vec::new());
    }
    // The names come from format('%I.%I'): already quoted identifiers.
    let sql = tables
        .iter()
        .enumerate()
        .map(|(i, table)| format!("SELECT {i} AS i, ({expression})::{kind} FROM {table} AS t"))
        .collect::<Vec<_>>()
        .join(" UNION ALL ");
    let rows = client
        .query(&format!("SELECT * FROM ({sql}) AS x ORDER BY i"), &[])
        .await
        .during(|| "cannot read the tables' rows".to_string())?;
    Ok(rows.iter().map(|r| r.get(1)).collect())
}

/// A libpq connection string the *server* uses to reach `options`' server: what a
/// subscription's CONNECTION holds (with the password, which only superusers can read back).
pub fn conninfo(options: &ConnectOptions) -> String {
    let mut parts = Vec::new();
    match &options.host {
        Host::Tcp(host) => parts.push(format!("host={}", conninfo_value(host))),
        Host::Socket(dir) => parts.push(format!(
            "host={}",
            conninfo_value(&dir.display().to_string())
        )),
        Host::Default => {}
    }
    parts.push(format!("port={}", options.port));
    parts.push(format!("user={}", conninfo_value(&options.user)));
    parts.push(format!("dbname={}", conninfo_value(&options.dbname)));
    if let Some(password) = &options.password {
        parts.push(format!("password={}", conninfo_value(&password.0)));
    }
    let sslmode = match options.sslmode {
        SslMode::Disable => "disable",
        SslMode::Allow => "allow",
        SslMode::Prefer => "prefer",
        SslMode::Require => "require",
        SslMode::VerifyCa => "verify-ca",
        SslMode::VerifyFull => "verify-full",
    };
    parts.push(format!("sslmode={sslmode}"));
    if let Some(RootCerts::File(path)) = &options.sslrootcert {
        parts.push(format!(
            "sslrootcert={}",
            conninfo_value(&path.display().to_string())
        ));
    }
    parts.join(" ")
}

/// Whether the publication exists, and its comment.
pub async fn publication(client: &Client, name: &str) -> Result<Option<String>, MoveError> {
    let row = client
        .query_opt(
            "SELECT coalesce(obj_description(oid, 'pg_publication'), '') FROM pg_catalog.pg_publication WHERE pubname = $1",
            &[&name],
        )
        .await
        .during(|| format!("cannot look for publication `{name}`"))?;
    Ok(row.map(|r| r.get(0)))
}

/// Creates the publication of `schema`'s tables unless it exists: `FOR TABLES IN SCHEMA` on 15+
/// as a superuser (tables created later join it), else the list of today's tables.
pub async fn create_publication(
    client: &Client,
    name: &str,
    schema: &str,
    comment: &str,
) -> Result<(), MoveError> {
    if publication(client, name).await?.is_none() {
        let row = client
            .query_one(
                "SELECT current_setting('server_version_num')::int >= 150000 AND rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user",
                &[],
            )
            .await
            .during(|| "cannot read the server's version".to_string())?;
        let sql = if row.get(0) {
            format!(
                "CREATE PUBLICATION {} FOR TABLES IN SCHEMA {}",
                Ident(name),
                Ident(schema)
            )
        } else {
            let list = tables(client, schema).await?;
            if list.is_empty() {
                format!("CREATE PUBLICATION {}", Ident(name))
            } else {
                format!(
                    "CREATE PUBLICATION {} FOR TABLE {}",
                    Ident(name),
                    list.join(", ")
                )
            }
        };
        client
            .batch_execute(&sql)
            .await
            .during(|| format!("cannot create publication `{name}`"))?;
    }
    set_comment(client, name, comment).await
}

/// Writes the publication's comment (the move's phase).
pub async fn set_comment(client: &Client, name: &str, comment: &str) -> Result<(), MoveError> {
    client
        .batch_execute(&format!(
            "COMMENT ON PUBLICATION {} IS {}",
            Ident(name),
            Literal(comment)
        ))
        .await
        .during(|| format!("cannot record the move's phase on publication `{name}`"))
}

pub async fn drop_publication(client: &Client, name: &str) -> Result<(), MoveError> {
    client
        .batch_execute(&format!("DROP PUBLICATION IF EXISTS {}", Ident(name)))
        .await
        .during(|| format!("cannot drop publication `{name}`"))
}

/// Whether the slot exists, and whether a walsender uses it now.
pub async fn slot(client: &Client, name: &str) -> Result<Option<bool>, MoveError> {
    let row = client
        .query_opt(
            "SELECT active FROM pg_catalog.pg_replication_slots WHERE slot_name = $1",
            &[&name],
        )
        .await
        .during(|| format!("cannot look for replication slot `{name}`"))?;
    Ok(row.map(|r| r.get(0)))
}

/// Creates the logical slot unless it exists. The slot is made here rather than by CREATE
/// SUBSCRIPTION, which waits for ever when both ends are databases of one cluster.
pub async fn create_slot(client: &Client, name: &str) -> Result<(), MoveError> {
    if slot(client, name).await?.is_none() {
        client
            .execute(
                "SELECT pg_catalog.pg_create_logical_replication_slot($1, 'pgoutput')",
                &[&name],
            )
            .await
            .during(|| format!("cannot create replication slot `{name}`"))?;
    }
    Ok(())
}

/// Drops the slot when it exists, waiting up to 30 s for its walsender to go away.
pub async fn drop_slot(client: &Client, name: &str) -> Result<(), MoveError> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match slot(client, name).await? {
            None => return Ok(()),
            Some(true) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Some(_) => {
                client
                    .execute("SELECT pg_catalog.pg_drop_replication_slot($1)", &[&name])
                    .await
                    .during(|| format!("cannot drop replication slot `{name}`"))?;
                return Ok(());
            }
        }
    }
}

/// Whether the subscription exists in the connected database.
pub async fn subscription(client: &Client, name: &str) -> Result<bool, MoveError> {
    let row = client
        .query_opt(
            "SELECT FROM pg_catalog.pg_subscription WHERE subname = $1
               AND subdbid = (SELECT oid FROM pg_catalog.pg_database WHERE datname = current_database())",
            &[&name],
        )
        .await
        .during(|| format!("cannot look for subscription `{name}`"))?;
    Ok(row.is_some())
}

/// How a subscription starts.
#[derive(Debug, Clone, Copy)]
pub struct SubscriptionOptions {
    /// Copy the tables' rows first (the forward subscription) or not (the reverse one).
    pub copy_data: bool,
    /// Apply only changes that did not come from another subscription (16+): the reverse
    /// subscription must not send back what the forward one brought.
    pub origin_none: bool,
}

/// Creates the subscription unless it exists, on the slot of the same name.
pub async fn create_subscription(
    client: &Client,
    name: &str,
    publisher: &str,
    publication: &str,
    options: SubscriptionOptions,
) -> Result<(), MoveError> {
    if subscription(client, name).await? {
        return Ok(());
    }
    let origin = if options.origin_none {
        ", origin = none"
    } else {
        ""
    };
    client
        .batch_execute(&format!(
            "CREATE SUBSCRIPTION {} CONNECTION {} PUBLICATION {} WITH (create_slot = false, slot_name = {}, copy_data = {}{origin})",
            Ident(name),
            Literal(publisher),
            Ident(publication),
            Literal(name),
            options.copy_data
        ))
        .await
        .during(|| format!("cannot create subscription `{name}`"))
}

/// The slots a subscription's table-sync workers made on the publisher
/// (`pg_<subscription oid>_sync_...`): with the subscription's slot detached, DROP SUBSCRIPTION
/// leaves them there, so a move aborted mid-copy drops them itself (see [`drop_sync_slots`]).
pub async fn sync_slot_prefix(
    subscriber: &Client,
    name: &str,
) -> Result<Option<String>, MoveError> {
    let row = subscriber
        .query_opt(
            "SELECT 'pg_' || s.oid::text || '_sync_' FROM pg_catalog.pg_subscription s
             WHERE s.subname = $1
               AND s.subdbid = (SELECT oid FROM pg_catalog.pg_database WHERE datname = current_database())",
            &[&name],
        )
        .await
        .during(|| format!("cannot look for subscription `{name}`"))?;
    Ok(row.map(|r| r.get(0)))
}

/// Drops the table-sync slots whose names start with `prefix`, each as [`drop_slot`] does.
pub async fn drop_sync_slots(publisher: &Client, prefix: &str) -> Result<(), MoveError> {
    let rows = publisher
        .query(
            "SELECT slot_name::text FROM pg_catalog.pg_replication_slots WHERE starts_with(slot_name::text, $1)",
            &[&prefix],
        )
        .await
        .during(|| "cannot list the table-sync slots".to_string())?;
    for row in rows {
        drop_slot(publisher, row.get(0)).await?;
    }
    Ok(())
}

/// Drops the subscription, leaving its slot on the publisher (see [`drop_slot`]).
pub async fn drop_subscription(client: &Client, name: &str) -> Result<(), MoveError> {
    if !subscription(client, name).await? {
        return Ok(());
    }
    let sub = Ident(name);
    client
        .batch_execute(&format!("ALTER SUBSCRIPTION {sub} DISABLE"))
        .await
        .during(|| format!("cannot disable subscription `{name}`"))?;
    client
        .batch_execute(&format!("ALTER SUBSCRIPTION {sub} SET (slot_name = NONE)"))
        .await
        .during(|| format!("cannot detach subscription `{name}` from its slot"))?;
    client
        .batch_execute(&format!("DROP SUBSCRIPTION {sub}"))
        .await
        .during(|| format!("cannot drop subscription `{name}`"))
}

/// Takes the write privileges of `writers` on `schema`'s tables and, with `end_sessions`, ends
/// the sessions of `logins` in this database, waiting up to 5 s for each to exit. Once this
/// returns, no session of theirs can commit a write there.
pub async fn fence(
    client: &Client,
    schema: &str,
    writers: &[&str],
    logins: &[&str],
    end_sessions: bool,
) -> Result<u64, MoveError> {
    if !writers.is_empty() {
        client
            .batch_execute(&format!(
                "REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON ALL TABLES IN SCHEMA {} FROM {}",
                Ident(schema),
                ident_list(writers.iter().copied())
            ))
            .await
            .during(|| format!("cannot revoke the service's writes on schema `{schema}`"))?;
    }
    if !end_sessions || logins.is_empty() {
        return Ok(0);
    }
    let logins: Vec<String> = logins.iter().map(|s| s.to_string()).collect();
    let row = client
        .query_one(
            "SELECT count(*) FILTER (WHERE pg_catalog.pg_terminate_backend(pid, 5000))
             FROM pg_catalog.pg_stat_activity
             WHERE datname = current_database() AND usename = ANY($1) AND pid <> pg_backend_pid()",
            &[&logins],
        )
        .await
        .during(|| "cannot end the service's sessions".to_string())?;
    Ok(u64::try_from(row.get::<_, i64>(0)).unwrap_or(0))
}

/// Gives `writers` back what `readwrite` means on `schema`'s tables.
pub async fn unfence(client: &Client, schema: &str, writers: &[&str]) -> Result<(), MoveError> {
    if writers.is_empty() {
        return Ok(());
    }
    client
        .batch_execute(&format!(
            "GRANT INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {} TO {}",
            Ident(schema),
            ident_list(writers.iter().copied())
        ))
        .await
        .during(|| format!("cannot give the service's writes back on schema `{schema}`"))
}

/// The end of the WAL inserted so far, as text: every commit acknowledged before this call is
/// below it. Not `pg_current_wal_lsn()`, the position written so far: with
/// `synchronous_commit = off` a commit is acknowledged before its record is written, and a
/// subscriber that confirms the written position may not have applied the last commits yet.
pub async fn current_lsn(client: &Client) -> Result<String, MoveError> {
    let row = client
        .query_one("SELECT pg_catalog.pg_current_wal_insert_lsn()::text", &[])
        .await
        .during(|| "cannot read the current WAL position".to_string())?;
    Ok(row.get(0))
}

/// Waits until the subscriber of `slot` has applied everything up to `lsn`; false on timeout.
pub async fn wait_replayed(
    publisher: &Client,
    slot: &str,
    lsn: &str,
    timeout: Duration,
) -> Result<bool, MoveError> {
    let deadline = Instant::now() + timeout;
    let _waiting = crate::progress::Progress::spinner("waiting for the subscriber to replay");
    loop {
        let row = publisher
            .query_opt(
                "SELECT confirmed_flush_lsn >= $2::text::pg_lsn FROM pg_catalog.pg_replication_slots WHERE slot_name = $1",
                &[&slot, &lsn],
            )
            .await
            .during(|| format!("cannot read the position of slot `{slot}`"))?;
        let Some(row) = row else {
            return Err(MoveError::Refused(format!(
                "replication slot `{slot}` is gone: the subscriber cannot catch up"
            )));
        };
        if row.get::<_, Option<bool>>(0) == Some(true) {
            return Ok(true);
        }
        if Instant::now() >= deadline {
            return Ok(false);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The WAL bytes the subscriber of `slot` has not confirmed yet.
pub async fn lag_bytes(publisher: &Client, slot: &str) -> Result<Option<i64>, MoveError> {
    let row = publisher
        .query_opt(
            "SELECT pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_lsn(), confirmed_flush_lsn)::bigint
             FROM pg_catalog.pg_replication_slots WHERE slot_name = $1",
            &[&slot],
        )
        .await
        .during(|| format!("cannot read the lag of slot `{slot}`"))?;
    Ok(row.and_then(|r| r.get(0)))
}

/// The replay lag the publisher measures for the subscription, in seconds (0 when idle).
pub async fn lag_seconds(publisher: &Client, subscription: &str) -> Result<Option<f64>, MoveError> {
    let row = publisher
        .query_opt(
            "SELECT coalesce(extract(epoch FROM replay_lag), 0)::float8
             FROM pg_catalog.pg_stat_replication WHERE application_name = $1 LIMIT 1",
            &[&subscription],
        )
        .await
        .during(|| "cannot read the replication lag".to_string())?;
    Ok(row.map(|r| r.get(0)))
}

/// Sets every sequence of `schema` on `to` so its next value follows what `from` handed out:
/// `last_value + increment_by`, owned by a column or not. Returns how many were set.
pub async fn copy_sequences(from: &Client, to: &Client, schema: &str) -> Result<usize, MoveError> {
    let rows = from
        .query(
            "SELECT format('%I.%I', schemaname, sequencename), last_value, increment_by
             FROM pg_catalog.pg_sequences WHERE schemaname = $1 AND last_value IS NOT NULL",
            &[&schema],
        )
        .await
        .during(|| format!("cannot read the sequences of schema `{schema}`"))?;
    for row in &rows {
        let name: String = row.get(0);
        let last: i64 = row.get(1);
        let increment: i64 = row.get(2);
        let next = last.saturating_add(increment);
        to.execute(
            "SELECT pg_catalog.setval($1::text::regclass, $2, false)",
            &[&name, &next],
        )
        .await
        .during(|| format!("cannot set sequence {name}"))?;
    }
    Ok(rows.len())
}

/// Per table, the sync state of the subscription: `ready`, `copying`, ...
pub async fn sync_states(
    subscriber: &Client,
    subscription: &str,
) -> Result<Vec<(String, String)>, MoveError> {
    let rows = subscriber
        .query(
            "SELECT format('%I.%I', n.nspname, c.relname), r.srsubstate::text
             FROM pg_catalog.pg_subscription_rel r
             JOIN pg_catalog.pg_subscription s ON s.oid = r.srsubid
             JOIN pg_catalog.pg_class c ON c.oid = r.srrelid
             JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
             WHERE s.subname = $1 ORDER BY 1",
            &[&subscription],
        )
        .await
        .during(|| format!("cannot read the sync state of subscription `{subscription}`"))?;
    Ok(rows
        .iter()
        .map(|r| {
            let state: String = r.get(1);
            let word = match state.as_str() {
                "i" => "initializing",
                "d" => "copying",
                "f" => "copied",
                "s" => "synchronized",
                "r" => "ready",
                _ => "unknown",
            };
            (r.get(0), word.to_string())
        })
        .collect())
}
