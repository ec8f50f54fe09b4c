//! The session `migrate` runs in: the login role checked, `SET ROLE` to the service's owner and
//! `SET search_path` to its path (read back as the server reports them, and compared before
//! and after every file), and the service's session-level advisory lock, taken by polling.
//! A blocking `pg_advisory_lock` would deadlock against `CREATE INDEX CONCURRENTLY` in the
//! holder's session (flyway#1654), so this never waits inside the server.

use std::time::{Duration, Instant};

use tokio_postgres::Client;

use super::error::RunError;
use super::guard::Guard;
use super::progress::Progress;
use crate::manifest::{Access, Service};
use crate::migrations::File;
use crate::pg::ident::{Ident, ident_list};
use crate::pg::locks::{LOCK_CLASS, service_key};

/// Predefined roles whose members reach beyond one schema: every table, or the server's files
/// and programs. Other predefined roles (`pg_monitor`, `pg_signal_backend`, ...) are harmless
/// to a migration.
const WIDE_PREDEFINED: &[&str] = &[
    "pg_read_all_data",
    "pg_write_all_data",
    "pg_read_server_files",
    "pg_write_server_files",
    "pg_execute_server_program",
];

/// The role, login and search_path a session runs migrations with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    user: String,
    login: String,
    search_path: String,
}

/// Checks the login role (unless `trust`: see [`check_login`]), then sets the owner role and
/// the search_path; returns them as the server reports them.
pub async fn enter(client: &Client, service: &Service, trust: bool) -> Result<Session, RunError> {
    let row = client
        .query_one(
            "SELECT session_user::text,
                EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = $1),
                EXISTS (SELECT FROM pg_catalog.pg_namespace WHERE nspname = $2)",
            &[&service.owner, &service.schema],
        )
        .await?;
    let login: String = row.get(0);
    if !row.get::<_, bool>(1) {
        return Err(RunError::NoOwner {
            role: service.owner.clone(),
        });
    }
    if !row.get::<_, bool>(2) {
        return Err(RunError::NoSchema {
            schema: service.schema.clone(),
        });
    }
    let member: bool = client
        .query_one(
            "SELECT pg_catalog.pg_has_role(session_user, $1, 'MEMBER')",
            &[&service.owner],
        )
        .await?
        .get(0);
    if !member {
        return Err(RunError::NotMember {
            login,
            owner: service.owner.clone(),
        });
    }
    if !trust {
        check_login(client, service, &login).await?;
    }
    client
        .batch_execute(&format!(
            "SET ROLE {}; SET search_path TO {}",
            Ident(&service.owner),
            ident_list(service.search_path.iter().map(String::as_str))
        ))
        .await?;
    session(client).await
}

/// Refuses a login that a migration could use to leave the owner role: `RESET ROLE` goes back
/// to the login, `SET ROLE` reaches every role the login may become, in plain SQL, `DO`
/// blocks and dynamic SQL alike, before any check after the statement could see it. So the
/// login must be no superuser, have no CREATEROLE (which can grant itself any role), and be
/// able to become no role beyond the service's: its owner, its roles, what the owner is a
/// member of anyway, and predefined roles other than [`WIDE_PREDEFINED`]. PostgreSQL 16 has
/// the SET option on memberships; before it, every membership allows SET ROLE.
async fn check_login(client: &Client, service: &Service, login: &str) -> Result<(), RunError> {
    let own: Vec<&str> = service
        .roles
        .iter()
        .map(|r| r.name.as_str())
        .chain([service.owner.as_str()])
        .collect();
    let wide: Vec<&str> = WIDE_PREDEFINED.to_vec();
    let row = client
        .query_one(
            "SELECT r.rolsuper, r.rolcreaterole,
                ARRAY(SELECT o.rolname::text FROM pg_catalog.pg_roles o
                    WHERE o.oid <> r.oid
                      AND pg_catalog.pg_has_role(r.oid, o.oid,
                            CASE WHEN pg_catalog.current_setting('server_version_num')::int >= 160000
                                 THEN 'SET' ELSE 'MEMBER' END)
                      AND NOT o.rolname::text = ANY ($1::text[])
                      AND NOT pg_catalog.pg_has_role(
                            (SELECT x.oid FROM pg_catalog.pg_roles x WHERE x.rolname = $3), o.oid, 'MEMBER')
                      AND (o.rolname !~ '^pg_' OR o.rolname::text = ANY ($2::text[]))
                    ORDER BY 1)
             FROM pg_catalog.pg_roles r WHERE r.rolname = session_user",
            &[&own, &wide, &service.owner],
        )
        .await?;
    let reason = if row.get::<_, bool>(0) {
        "is a superuser".to_string()
    } else if row.get::<_, bool>(1) {
        "has CREATEROLE, so it can grant itself any role".to_string()
    } else {
        let beyond: Vec<String> = row.get(2);
        if beyond.is_empty() {
            return Ok(());
        }
        let names: Vec<String> = beyond.iter().take(5).map(|r| format!("`{r}`")).collect();
        let more = beyond.len().saturating_sub(names.len());
        format!(
            "can SET ROLE to {}{}",
            names.join(", "),
            if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            }
        )
    };
    Err(RunError::Untrusted {
        login: login.to_string(),
        reason,
        service: service.name.clone(),
        owner: service.owner.clone(),
        migrators: service
            .roles
            .iter()
            .filter(|r| r.access == Access::Owner)
            .map(|r| r.name.clone())
            .collect(),
    })
}

impl std::fmt::Display for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "role `{}` with search_path `{}` (login `{}`)",
            self.user, self.search_path, self.login
        )
    }
}

const SESSION: &str =
    "SELECT current_user::text, session_user::text, pg_catalog.current_setting('search_path')";

async fn session(client: &Client) -> Result<Session, RunError> {
    let row = client.query_one(SESSION, &[]).await?;
    Ok(Session {
        user: row.get(0),
        login: row.get(1),
        search_path: row.get(2),
    })
}

/// Fails when the session's role, login or search_path is not the one migrations run with, or
/// when `guard` is no longer the one installed.
pub async fn check_session(
    client: &Client,
    expected: &Session,
    guard: Option<&Guard>,
    file: &File,
    consequence: &str,
) -> Result<(), RunError> {
    let (now, guarded) = match guard {
        None => (session(client).await?, true),
        Some(guard) => {
            let [signature, fingerprint] = guard.params();
            let row = client
                .query_one(
                    &format!("{SESSION}, {}", guard.intact_sql(1)),
                    &[signature, fingerprint],
                )
                .await?;
            let now = Session {
                user: row.get(0),
                login: row.get(1),
                search_path: row.get(2),
            };
            (now, row.get::<_, bool>(3))
        }
    };
    if &now != expected {
        return Err(RunError::SessionChanged {
            path: file.path.clone(),
            found: now.to_string(),
            expected: expected.to_string(),
            consequence: consequence.to_string(),
        });
    }
    if !guarded {
        return Err(RunError::GuardChanged {
            path: file.path.clone(),
            consequence: consequence.to_string(),
        });
    }
    Ok(())
}

/// Takes the service's session-level lock, polling with backoff up to `timeout`.
pub async fn lock(
    client: &Client,
    service: &Service,
    timeout: Duration,
    progress: &(impl Fn(Progress) + ?Sized),
) -> Result<(), RunError> {
    let key = service_key(&service.schema);
    let started = Instant::now();
    let mut pause = Duration::from_millis(25);
    let mut reported = false;
    loop {
        let locked: bool = client
            .query_one(
                "SELECT pg_catalog.pg_try_advisory_lock($1, $2)",
                &[&LOCK_CLASS, &key],
            )
            .await?
            .get(0);
        if locked {
            return Ok(());
        }
        let holder = holder(client, key).await?;
        if !reported {
            progress(Progress::Waiting { holder });
            reported = true;
        }
        let waited = started.elapsed();
        if waited >= timeout {
            return Err(RunError::Locked {
                service: service.name.clone(),
                waited: timeout,
                holder,
            });
        }
        tokio::time::sleep(pause.min(timeout - waited)).await;
        pause = (pause * 2).min(Duration::from_secs(1));
    }
}

/// Releases the service's lock.
pub async fn unlock(client: &Client, service: &Service) -> Result<(), RunError> {
    client
        .execute(
            "SELECT pg_catalog.pg_advisory_unlock($1, $2)",
            &[&LOCK_CLASS, &service_key(&service.schema)],
        )
        .await?;
    Ok(())
}

/// The pid of the session holding the service's lock, when it is visible.
async fn holder(client: &Client, key: i32) -> Result<Option<i32>, RunError> {
    let row = client
        .query_opt(
            "SELECT pid FROM pg_catalog.pg_locks
             WHERE locktype = 'advisory' AND granted AND objsubid = 2
               AND classid::bigint = $1 AND objid::bigint = $2
             LIMIT 1",
            &[&i64::from(LOCK_CLASS), &i64::from(key)],
        )
        .await?;
    Ok(row.and_then(|row| row.get(0)))
}
