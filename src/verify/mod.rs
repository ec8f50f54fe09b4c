//! `dbsplit verify`: proves the boundary live. As each service login role and each observer
//! (`SET LOCAL ROLE`), in a transaction that is always rolled back, it tries to read and write
//! its own schema, every other service's, the shared schemas, the declared reads, and to create
//! in `public`, and compares what PostgreSQL did with what the manifest says (`probes`).
//!
//! The tables to probe come from one catalog query. Each statement runs in a savepoint and is one
//! whose privilege check happens before any row is touched: nothing is ever written.

pub mod probes;
pub mod render;

use std::collections::BTreeMap;
use std::time::Duration;

use tokio_postgres::Client;
use tokio_postgres::error::SqlState;

use crate::manifest::Manifest;
use crate::pg::ident::{Ident, Literal};

pub use probes::{Found, Kind, Outcome, Probe, Subject, Table};

const TABLES: &str = include_str!("tables.sql");

/// How long one probe may wait for a table lock: a probe waits behind a migration holding
/// ACCESS EXCLUSIVE otherwise, and then blocks every later query on that table.
const LOCK_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one probe may run at all (none reads a row; this only bounds the unexpected).
const STATEMENT_TIMEOUT: Duration = Duration::from_secs(30);

/// Why verify could not run at all.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("cannot read the tables to probe from the catalog")]
    Catalog(#[source] tokio_postgres::Error),
    #[error(transparent)]
    WrongDatabase(#[from] crate::catalog::introspect::WrongDatabase),
    #[error("cannot verify {role}: the session failed")]
    Session {
        role: String,
        #[source]
        source: tokio_postgres::Error,
    },
}

/// What one probe did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub probe: Probe,
    pub got: Outcome,
    /// The server's SQLSTATE and message when the statement failed.
    pub sqlstate: Option<String>,
    pub message: Option<String>,
}

impl Check {
    /// A statement that did the opposite of what the manifest says.
    pub fn is_hole(&self) -> bool {
        self.got != Outcome::Error && self.got != self.probe.expected
    }
}

/// One role's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleResult {
    pub role: String,
    pub service: Option<String>,
    pub access: &'static str,
    pub checks: Vec<Check>,
    /// Why the role could not be verified (the connected role cannot SET ROLE to it).
    pub trouble: Option<String>,
}

/// The whole verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub database: String,
    /// The role the probes ran from.
    pub connected_as: String,
    pub roles: Vec<RoleResult>,
    /// Managed schemas that could not be probed fully, and why.
    pub untested: Vec<(String, String)>,
}

impl Report {
    pub fn holes(&self) -> impl Iterator<Item = (&RoleResult, &Check)> {
        self.roles
            .iter()
            .flat_map(|r| r.checks.iter().filter(|c| c.is_hole()).map(move |c| (r, c)))
    }

    /// Roles that could not be verified, and probes that failed for another reason than
    /// privileges: the verification is incomplete.
    pub fn has_trouble(&self) -> bool {
        self.roles
            .iter()
            .any(|r| r.trouble.is_some() || r.checks.iter().any(|c| c.got == Outcome::Error))
    }

    pub fn probes(&self) -> usize {
        self.roles.iter().map(|r| r.checks.len()).sum()
    }
}

/// Verifies the roles of `services` (all service roles and observers when empty) on `client`,
/// connected to the manifest's database as a role that may SET ROLE to them.
pub async fn verify(
    client: &Client,
    manifest: &Manifest,
    services: &[String],
) -> Result<Report, VerifyError> {
    let session = client
        .query_one("SELECT current_user::text, current_database()::text", &[])
        .await
        .map_err(VerifyError::Catalog)?;
    let (connected_as, database): (String, String) = (session.get(0), session.get(1));
    if database != manifest.database.name {
        return Err(crate::catalog::introspect::WrongDatabase {
            connected: database,
            managed: manifest.database.name.clone(),
        }
        .into());
    }
    let schemas: Vec<String> = manifest
        .managed_schemas()
        .chain([crate::pg::PUBLIC_SCHEMA])
        .map(str::to_string)
        .collect();
    let rows = client
        .query(TABLES, &[&schemas])
        .await
        .map_err(VerifyError::Catalog)?;
    let mut found = BTreeMap::new();
    for row in rows {
        let table = row
            .try_get::<_, Option<String>>("table")
            .map_err(VerifyError::Catalog)?
            .map(|name| -> Result<Table, tokio_postgres::Error> {
                Ok(Table {
                    name,
                    column: row.try_get("column")?,
                })
            })
            .transpose()
            .map_err(VerifyError::Catalog)?;
        let found_here = Found {
            present: row.try_get("present").map_err(VerifyError::Catalog)?,
            table,
        };
        let schema: String = row.try_get("schema").map_err(VerifyError::Catalog)?;
        found.insert(schema, found_here);
    }
    let untested = manifest
        .managed_schemas()
        .filter_map(|schema| {
            let why = match found.get(schema) {
                Some(Found { present: false, .. }) | None => {
                    "the schema does not exist (run dbsplit apply); only CREATE was probed"
                }
                Some(Found { table: None, .. }) => "no table to probe; only CREATE was probed",
                Some(_) => return None,
            };
            Some((schema.to_string(), why.to_string()))
        })
        .collect();

    let mut roles = Vec::new();
    for subject in probes::subjects(manifest, services, &found) {
        roles.push(verify_role(client, &connected_as, subject).await?);
    }
    Ok(Report {
        database: manifest.database.name.clone(),
        connected_as,
        roles,
        untested,
    })
}

/// Runs one role's probes in one transaction, each in a savepoint, and rolls it all back.
async fn verify_role(
    client: &Client,
    connected_as: &str,
    subject: Subject,
) -> Result<RoleResult, VerifyError> {
    let session = |source| VerifyError::Session {
        role: subject.role.clone(),
        source,
    };
    let setup = format!(
        "BEGIN; SET LOCAL lock_timeout = {}; SET LOCAL statement_timeout = {}",
        Literal(&format!("{}ms", LOCK_TIMEOUT.as_millis())),
        Literal(&format!("{}ms", STATEMENT_TIMEOUT.as_millis())),
    );
    client.batch_execute(&setup).await.map_err(session)?;
    let result = probe_as(client, connected_as, &subject).await;
    // Whatever happened, nothing stays: the role, the savepoints, any row or table.
    let rolled_back = client.batch_execute("ROLLBACK").await;
    let (checks, trouble) = result.map_err(session)?;
    rolled_back.map_err(session)?;
    Ok(RoleResult {
        role: subject.role,
        service: subject.service,
        access: subject.access,
        checks,
        trouble,
    })
}

async fn probe_as(
    client: &Client,
    connected_as: &str,
    subject: &Subject,
) -> Result<(Vec<Check>, Option<String>), tokio_postgres::Error> {
    let set_role = format!("SET LOCAL ROLE {}", Ident(&subject.role));
    if let Err(error) = client.batch_execute(&set_role).await {
        let Some(db) = error.as_db_error() else {
            return Err(error);
        };
        let why = match *db.code() {
            SqlState::INSUFFICIENT_PRIVILEGE => format!(
                "cannot SET ROLE to {} as {connected_as}: {}; verify needs a superuser, or a \
                 role that is a member of each service role with SET (on 16+: GRANT {} TO {} \
                 WITH INHERIT FALSE, SET TRUE)",
                subject.role,
                db.message(),
                Ident(&subject.role),
                Ident(connected_as),
            ),
            SqlState::INVALID_PARAMETER_VALUE => format!(
                "role {} does not exist (run dbsplit apply): {}",
                subject.role,
                db.message()
            ),
            _ => format!(
                "cannot SET ROLE to {}: {} (SQLSTATE {})",
                subject.role,
                db.message(),
                db.code().code()
            ),
        };
        return Ok((Vec::new(), Some(why)));
    }
    let mut checks = Vec::with_capacity(subject.probes.len());
    for probe in &subject.probes {
        client.batch_execute("SAVEPOINT dbsplit_verify").await?;
        // Marked so that `usage` leaves the probes out of what the roles really ran.
        let marked = format!("{}{}", crate::usage::MARK, probe.statement);
        let result = client.batch_execute(&marked).await;
        client
            .batch_execute("ROLLBACK TO SAVEPOINT dbsplit_verify")
            .await?;
        let check = match result {
            Ok(()) => Check {
                probe: probe.clone(),
                got: Outcome::Allowed,
                sqlstate: None,
                message: None,
            },
            Err(error) => {
                let Some(db) = error.as_db_error() else {
                    return Err(error);
                };
                let got = if *db.code() == SqlState::INSUFFICIENT_PRIVILEGE {
                    Outcome::Denied
                } else {
                    Outcome::Error
                };
                Check {
                    probe: probe.clone(),
                    got,
                    sqlstate: Some(db.code().code().to_string()),
                    message: Some(db.message().to_string()),
                }
            }
        };
        checks.push(check);
    }
    Ok((checks, None))
}
