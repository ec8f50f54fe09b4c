//! The statements a move runs: publications, slots, subscriptions, the write fence, sequences
//! and row checks. Each is safe to run again: it looks before it creates or drops.

use std::ops::Deref;
use std::time::{Duration, Instant};

use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Row};

use crate::pg::ident::{Ident, Literal, ident_list};
use crate::pg::options::{ConnectOptions, Host, SslMode};
use crate::pg::tls::RootCerts;

use super::error::{Context, MoveError};
use super::tools::conninfo_value;

/// A session of a move and the role its owner-only statements run as. A superuser runs them
/// itself; a managed admin (not a superuser) holds the schema's owner role with SET but not
/// INHERIT (see DESIGN.md, "Who connects"), so it runs them as the owner with `SET LOCAL ROLE`
/// in a transaction of their own: the fence, the sequences, the row counts, the publications.
pub struct Conn {
    client: Client,
    /// The schema's owner when the connecting role is not a superuser.
    act_as: Option<String>,
    /// The schema's owner, whom a table-list publication belongs to (see
    /// [`create_publication`]).
    owner: String,
}

impl Deref for Conn {
    type Target = Client;

    fn deref(&self) -> &Client {
        &self.client
    }
}

impl std::ops::DerefMut for Conn {
    fn deref_mut(&mut self) -> &mut Client {
        &mut self.client
    }
}

impl Conn {
    /// Wraps `client`, acting as `owner` for owner-only statements unless it is a superuser.
    pub async fn new(client: Client, owner: &str) -> Result<Conn, MoveError> {
        let row = client
            .query_one(
                "SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user",
                &[],
            )
            .await
            .during(|| "cannot read the connecting role's attributes".to_string())?;
        let superuser: bool = row.get(0);
        Ok(Conn {
            client,
            act_as: (!superuser).then(|| owner.to_string()),
            owner: owner.to_string(),
        })
    }

    /// Whether owner-only statements run as the schema's owner (the connecting role is not a
    /// superuser).
    pub fn acts_as_owner(&self) -> bool {
        self.act_as.is_some()
    }

    /// The prefix of a transaction that runs as the owner.
    fn begin(&self) -> String {
        match &self.act_as {
            Some(owner) => format!("BEGIN; SET LOCAL ROLE {};", Ident(owner)),
            None => "BEGIN;".to_string(),
        }
    }

    /// Runs `sql` (one or more statements) in one transaction, as the owner.
    pub async fn run_as_owner(&self, sql: &str) -> Result<(), tokio_postgres::Error> {
        let done = self
            .client
            .batch_execute(&format!("{} {sql}; COMMIT", self.begin()))
            .await;
        if done.is_err() {
            // Leaves no transaction open on a connection the caller goes on using.
            let _ = self.client.batch_execute("ROLLBACK").await;
        }
        done
    }

    /// Runs the query `sql` in a transaction of its own, as the owner.
    async fn query_as_owner(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, tokio_postgres::Error> {
        self.client.batch_execute(&self.begin()).await?;
        let rows = self.client.query(sql, params).await;
        let end = if rows.is_ok() { "COMMIT" } else { "ROLLBACK" };
        let ended = self.client.batch_execute(end).await;
        let rows = rows?;
        ended?;
        Ok(rows)
    }
}

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
pub async fn counts(client: &Conn, tables: &[String]) -> Result<Vec<i64>, MoveError> {
    per_table(client, tables, "count(*)", "bigint").await
}

/// An md5 of every row's text, ordered, per table: equal rows give equal hashes on any major.
pub async fn hashes(client: &Conn, tables: &[String]) -> Result<Vec<String>, MoveError> {
    per_table(
        client,
        tables,
        "coalesce(md5(string_agg(t::text, E'\\n' ORDER BY t::text)), '')",
        "text",
    )
    .await
}

async fn per_table<T: for<'a> tokio_postgres::types::FromSql<'a>>(
    client: &Conn,
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
        .query_as_owner(&format!("SELECT * FROM ({sql}) AS x ORDER BY i"), &[])
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

/// Creates the publication of `schema`'s tables unless it exists, then writes its comment (the
/// move's phase). A superuser publishes `FOR TABLES IN SCHEMA` on 15+ (tables created later
/// join it), else the list of today's tables, as the schema's owner: the owner may publish its
/// own tables, and the migrator (a member of the owner) may then add the tables a migration
/// creates during the move (`follow`), which it may not do to a superuser's publication. The
/// owner needs CREATE on the database: when it lacks it, the connecting role (a superuser, or
/// the database's owner on a managed server) grants it and takes it back in the same
/// transaction, so no privilege outlives the statement.
pub async fn create_publication(
    conn: &Conn,
    name: &str,
    schema: &str,
    comment: &str,
) -> Result<(), MoveError> {
    if publication(conn, name).await?.is_some() {
        return set_comment(conn, name, comment).await;
    }
    let comment_sql = format!(
        "COMMENT ON PUBLICATION {} IS {}",
        Ident(name),
        Literal(comment)
    );
    let in_schema = conn.act_as.is_none() && {
        let row = conn
            .query_one(
                "SELECT current_setting('server_version_num')::int >= 150000",
                &[],
            )
            .await
            .during(|| "cannot read the server's version".to_string())?;
        row.get(0)
    };
    let owner = Ident(&conn.owner);
    let sql = if in_schema {
        format!(
            "BEGIN; CREATE PUBLICATION {} FOR TABLES IN SCHEMA {}; {comment_sql}; COMMIT",
            Ident(name),
            Ident(schema)
        )
    } else {
        let row = conn
            .query_one(
                "SELECT current_database()::text, has_database_privilege($1, current_database(), 'CREATE')",
                &[&conn.owner],
            )
            .await
            .during(|| format!("cannot read the privileges of role `{}`", conn.owner))?;
        let database = Ident(row.get::<_, &str>(0)).to_string();
        let (grant, revoke) = if row.get(1) {
            (String::new(), String::new())
        } else {
            (
                format!("GRANT CREATE ON DATABASE {database} TO {owner};"),
                format!("REVOKE CREATE ON DATABASE {database} FROM {owner};"),
            )
        };
        let tables = tables(conn, schema).await?;
        let create = if tables.is_empty() {
            format!("CREATE PUBLICATION {}", Ident(name))
        } else {
            format!(
                "CREATE PUBLICATION {} FOR TABLE {}",
                Ident(name),
                tables.join(", ")
            )
        };
        format!(
            "BEGIN; {grant} SET LOCAL ROLE {owner}; {create}; {comment_sql}; RESET ROLE; {revoke} COMMIT"
        )
    };
    let done = conn.batch_execute(&sql).await;
    if done.is_err() {
        let _ = conn.batch_execute("ROLLBACK").await;
    }
    done.during(|| {
        if in_schema {
            format!("cannot create publication `{name}`")
        } else {
            format!(
                "cannot create publication `{name}` as {}, the owner of schema `{schema}`",
                conn.owner
            )
        }
    })
}

/// Writes the publication's comment (the move's phase), as its owner.
pub async fn set_comment(conn: &Conn, name: &str, comment: &str) -> Result<(), MoveError> {
    conn.run_as_owner(&format!(
        "COMMENT ON PUBLICATION {} IS {}",
        Ident(name),
        Literal(comment)
    ))
    .await
    .during(|| format!("cannot record the move's phase on publication `{name}`"))
}

pub async fn drop_publication(conn: &Conn, name: &str) -> Result<(), MoveError> {
    conn.run_as_owner(&format!("DROP PUBLICATION IF EXISTS {}", Ident(name)))
        .await
        .during(|| format!("cannot drop publication `{name}`"))
}

/// Lets `role`, the role that runs the move on this side, reach `schema` while the move is under
/// way when it is not a superuser (it holds the owner with SET but not INHERIT): USAGE, which
/// CREATE SUBSCRIPTION and REFRESH need to look up the schema's tables, and with `read` SELECT
/// on its tables, which the table-sync workers' `COPY ... TO STDOUT` on the source needs.
/// Granted by the owner; `plan` leaves them alone while a move of the schema is under way
/// (`hold::keep_mover`); [`end_move_reads`] takes them back.
pub async fn grant_move_reads(
    conn: &Conn,
    schema: &str,
    role: &str,
    read: bool,
) -> Result<(), MoveError> {
    if !conn.acts_as_owner() {
        return Ok(());
    }
    let mut sql = format!("GRANT USAGE ON SCHEMA {} TO {}", Ident(schema), Ident(role));
    if read {
        sql.push_str(&format!(
            "; GRANT SELECT ON ALL TABLES IN SCHEMA {} TO {}",
            Ident(schema),
            Ident(role)
        ));
    }
    conn.run_as_owner(&sql)
        .await
        .during(|| format!("cannot let `{role}` reach schema `{schema}` for the move"))
}

/// Takes back what [`grant_move_reads`] gave.
pub async fn end_move_reads(conn: &Conn, schema: &str, role: &str) -> Result<(), MoveError> {
    if !conn.acts_as_owner() {
        return Ok(());
    }
    // A move stopped before it provisioned the target has no schema there.
    let exists = conn
        .query_one(
            "SELECT EXISTS (SELECT FROM pg_catalog.pg_namespace WHERE nspname = $1)",
            &[&schema],
        )
        .await
        .during(|| format!("cannot look for schema `{schema}`"))?;
    if !exists.get::<_, bool>(0) {
        return Ok(());
    }
    conn.run_as_owner(&format!(
        "REVOKE SELECT ON ALL TABLES IN SCHEMA {schema} FROM {role}; REVOKE USAGE ON SCHEMA {schema} FROM {role}",
        schema = Ident(schema),
        role = Ident(role)
    ))
    .await
    .during(|| format!("cannot take back what `{role}` held on schema `{schema}` for the move"))
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
    conn: &Conn,
    schema: &str,
    writers: &[&str],
    logins: &[&str],
    end_sessions: bool,
) -> Result<u64, MoveError> {
    if !writers.is_empty() {
        conn.run_as_owner(&format!(
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
    let row = conn
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
pub async fn unfence(conn: &Conn, schema: &str, writers: &[&str]) -> Result<(), MoveError> {
    if writers.is_empty() {
        return Ok(());
    }
    conn.run_as_owner(&format!(
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
/// `last_value + increment_by`, owned by a column or not. Returns how many were set. Both
/// sides act as the owner: pg_sequences shows `last_value` only to a role that may read the
/// sequence, and `setval` needs UPDATE on it.
pub async fn copy_sequences(from: &Conn, to: &Conn, schema: &str) -> Result<usize, MoveError> {
    let rows = from
        .query_as_owner(
            "SELECT format('%I.%I', schemaname, sequencename), last_value, increment_by
             FROM pg_catalog.pg_sequences WHERE schemaname = $1 AND last_value IS NOT NULL",
            &[&schema],
        )
        .await
        .during(|| format!("cannot read the sequences of schema `{schema}`"))?;
    // The names come from format('%I.%I'): already quoted identifiers.
    let sql: String = rows
        .iter()
        .map(|row| {
            let name: String = row.get(0);
            let next = row.get::<_, i64>(1).saturating_add(row.get::<_, i64>(2));
            format!(
                "SELECT pg_catalog.setval({}::regclass, {next}, false);",
                Literal(&name)
            )
        })
        .collect();
    if !sql.is_empty() {
        to.run_as_owner(&sql)
            .await
            .during(|| format!("cannot set the sequences of schema `{schema}`"))?;
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
