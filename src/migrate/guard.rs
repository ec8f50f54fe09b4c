//! The guard a trusted run (`--trust-migrations`) sends every statement through: a PL/pgSQL
//! `SECURITY DEFINER` function owned by the service's owner role that `EXECUTE`s the statement.
//!
//! PostgreSQL refuses to change `role` or `session_authorization` inside a security-definer
//! function ("cannot set parameter "role" within security-definer function", the
//! `GUC_NOT_WHILE_SEC_REST` flag of src/backend/utils/misc/guc.c), in plain SQL, `DO` blocks
//! and dynamic SQL alike. So a statement run through the guard cannot leave the owner role even
//! for a moment, which a check of `current_user` after the statement could never see: a `DO`
//! block can `RESET ROLE`, write elsewhere and `SET ROLE` back before it ends.
//!
//! The guard lives in the service's schema (the owner may create there, and needs no TEMP on
//! the database) only inside a transaction, and is dropped before that transaction commits, so
//! no other session ever sees it. A statement could replace or drop it, so [`Guard::intact`]
//! is checked after every statement, before the next one runs through it.

use tokio_postgres::Client;

use crate::manifest::Service;
use crate::pg::ident::{Ident, Literal};

/// The guard function's name in the service's schema.
const NAME: &str = "dbsplit_migration_step";

/// What the guard runs: the statement, as its own owner, nothing else.
const BODY: &str = "BEGIN EXECUTE statement; END";

/// What identifies the installed guard: its oid and every attribute that decides what a call
/// does and as whom.
const FINGERPRINT: &str = "(SELECT ROW(p.oid, p.proowner, p.prolang, p.prosecdef, p.proconfig, p.prosrc, p.proargtypes, p.proretset)::text
     FROM pg_catalog.pg_proc p WHERE p.oid = pg_catalog.to_regprocedure($1))";

/// The guard installed in the current transaction.
#[derive(Debug, Clone)]
pub struct Guard {
    /// `schema.dbsplit_migration_step(text)`, quoted, as `to_regprocedure` reads it.
    signature: String,
    /// The call, with the statement as `$1`.
    call: String,
    fingerprint: String,
}

impl Guard {
    /// Creates the guard, owned by the current role (the service's owner). Call it inside a
    /// transaction, and [`Guard::remove`] it before that commits.
    pub async fn install(
        client: &Client,
        service: &Service,
    ) -> Result<Guard, tokio_postgres::Error> {
        let qualified = format!("{}.{}", Ident(&service.schema), Ident(NAME));
        client
            .batch_execute(&format!(
                "CREATE FUNCTION {qualified}(statement text) RETURNS void LANGUAGE plpgsql SECURITY DEFINER AS {}",
                Literal(BODY)
            ))
            .await?;
        let signature = format!("{qualified}(text)");
        let fingerprint: Option<String> = client
            .query_one(&format!("SELECT {FINGERPRINT}"), &[&signature])
            .await?
            .get(0);
        Ok(Guard {
            call: format!("SELECT {qualified}($1::text)"),
            fingerprint: fingerprint.unwrap_or_default(),
            signature,
        })
    }

    /// Runs one statement through the guard.
    pub async fn run(&self, client: &Client, statement: &str) -> Result<(), tokio_postgres::Error> {
        client.execute(&self.call, &[&statement]).await.map(drop)
    }

    /// A query returning one boolean, true when the guard is still the one installed; its
    /// parameters are [`Guard::params`].
    pub fn intact_sql(&self, param: usize) -> String {
        FINGERPRINT.replace("$1", &format!("${param}"))
            + &format!(" IS NOT DISTINCT FROM ${}", param + 1)
    }

    /// The two parameters of [`Guard::intact_sql`].
    pub fn params(&self) -> [&String; 2] {
        [&self.signature, &self.fingerprint]
    }

    /// Drops the guard.
    pub async fn remove(&self, client: &Client) -> Result<(), tokio_postgres::Error> {
        client
            .batch_execute(&format!("DROP FUNCTION {}", self.signature))
            .await
    }
}
