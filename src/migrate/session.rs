//! The session `migrate` runs in: the login role checked, `SET ROLE` to the service's owner and
//! `SET search_path` to its path (read back as the server reports them, and compared before
//! and after every file), and the service's session-level advisory lock, taken by polling.
//! A blocking `pg_advisory_lock` would deadlock against `CREATE INDEX CONCURRENTLY` in the
//! holder's session (flyway#1654), so this never waits inside the server.

use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use tokio_postgres::Client;

use super::run::{File, Progress, RunError};
use crate::apply::LOCK_CLASS;
use crate::manifest::Service;
use crate::pg::ident::{Ident, ident_list};

/// The second key of a service's advisory lock: `pg_try_advisory_lock(LOCK_CLASS, key)`. A hash
/// of the schema name, so services lock independently; `apply` uses key 0, which this never is.
pub fn lock_key(schema: &str) -> i32 {
    let digest = Sha256::digest(schema.as_bytes());
    let key = i32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]) & 0x7fff_ffff;
    key.max(1)
}

/// The role and search_path a session runs migrations with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    user: String,
    search_path: String,
}

/// Checks the login role, then sets the owner role and the search_path; returns them as the
/// server reports them.
pub async fn enter(client: &Client, service: &Service) -> Result<Session, RunError> {
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
    client
        .batch_execute(&format!(
            "SET ROLE {}; SET search_path TO {}",
            Ident(&service.owner),
            ident_list(service.search_path.iter().map(String::as_str))
        ))
        .await?;
    session(client).await
}

impl std::fmt::Display for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "role `{}` with search_path `{}`",
            self.user, self.search_path
        )
    }
}

async fn session(client: &Client) -> Result<Session, RunError> {
    let row = client
        .query_one(
            "SELECT current_user::text, pg_catalog.current_setting('search_path')",
            &[],
        )
        .await?;
    Ok(Session {
        user: row.get(0),
        search_path: row.get(1),
    })
}

/// Fails when the session's role or search_path is not the one migrations run with.
pub async fn check_session(
    client: &Client,
    expected: &Session,
    file: &File,
    consequence: &str,
) -> Result<(), RunError> {
    let now = session(client).await?;
    if &now == expected {
        return Ok(());
    }
    Err(RunError::SessionChanged {
        path: file.path.clone(),
        found: now.to_string(),
        expected: expected.to_string(),
        consequence: consequence.to_string(),
    })
}

/// Takes the service's session-level lock, polling with backoff up to `timeout`.
pub async fn lock(
    client: &Client,
    service: &Service,
    timeout: Duration,
    progress: &(impl Fn(Progress) + ?Sized),
) -> Result<(), RunError> {
    let key = lock_key(&service.schema);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_keys_are_positive_distinct_and_stable() {
        let billing = lock_key("billing");
        assert!(billing > 0);
        assert_eq!(billing, lock_key("billing"));
        assert_ne!(billing, lock_key("monolith"));
    }
}
