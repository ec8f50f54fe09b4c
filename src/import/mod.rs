//! `dbsplit import`: a manifest proposed for a live database that dbsplit does not manage yet.
//!
//! One service per schema; each login role in the one service whose schema it writes, with the
//! highest access level that gives it nothing it lacks today; roles that read several services
//! are observers; schemas nobody writes and several services read are shared. Every decision
//! keeps one promise: applied, the manifest grants no role a privilege it does not hold today.
//! What would break it (a read another service makes today, a level that would add privileges)
//! is written as a commented line, and what cannot be decided (a role writing several services)
//! as a comment naming the choices: never guessed.
//!
//! Pure: [`propose`] maps an introspected [`ClusterState`] to a [`Proposal`] and `render` writes
//! it as TOML. Connecting and writing files is `cmd::import`'s.

mod holdings;
mod place;
mod render;

#[cfg(test)]
mod tests;

use crate::catalog::model::ClusterState;
use crate::manifest::Access;

pub use render::render;

/// Why nothing can be proposed.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error(
        "database {database} has no schema but public: nothing to import; give each service a schema of its own (CREATE SCHEMA billing, then move its tables there) and run import again"
    )]
    NoSchemas { database: String },
    #[error("database {database} was not read")]
    NoDatabase { database: String },
}

/// The manifest to write, with the comments that explain it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proposal {
    pub database: String,
    pub revoke_public_connect: bool,
    /// Comments under `[database]`: undecided roles, schema public, connect.
    pub notes: Vec<String>,
    pub services: Vec<ProposedService>,
    pub shared: Vec<ProposedShared>,
    pub observers: Vec<ProposedObserver>,
}

/// A service: one schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProposedService {
    /// The service's name, which is its schema's.
    pub schema: String,
    pub owner: String,
    /// Comments above the owner line (who owns it today, PUBLIC's grants, search_path).
    pub notes: Vec<String>,
    pub roles: Vec<ProposedRole>,
    /// Reads of other schemas that exist today, each written commented.
    pub reads: Vec<ProposedRead>,
}

/// A login role of a service. `left_out` makes it a commented line, with the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProposedRole {
    pub name: String,
    pub access: Access,
    pub connection_limit: Option<i32>,
    pub member_of: Vec<String>,
    /// Why the line is commented out; `None` for a role placed here.
    pub left_out: Option<String>,
    /// Trailing remarks on a placed role (what apply takes from it).
    pub notes: Vec<String>,
}

/// A read of another schema that some role of the service makes today.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProposedRead {
    pub schema: String,
    pub reason: String,
}

/// A shared schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProposedShared {
    pub schema: String,
    pub owner: String,
    pub notes: Vec<String>,
}

/// An observer; `left_out` makes it a commented table, with the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProposedObserver {
    pub name: String,
    /// The schemas it reads; `None` for every one (`"*"`).
    pub reads: Option<Vec<String>>,
    pub reason: String,
    pub login: bool,
    pub connection_limit: Option<i32>,
    pub left_out: Option<String>,
    pub notes: Vec<String>,
}

/// Proposes a manifest for database `database` of `state`. `session_user` (the role import
/// connected as) is never placed: dbsplit would strip it of what it needs to manage the rest.
pub fn propose(
    state: &ClusterState,
    database: &str,
    session_user: &str,
) -> Result<Proposal, ImportError> {
    let db = state
        .databases
        .get(database)
        .ok_or_else(|| ImportError::NoDatabase {
            database: database.to_string(),
        })?;
    if db.schemas.keys().all(|s| s == "public") {
        return Err(ImportError::NoSchemas {
            database: database.to_string(),
        });
    }
    Ok(place::place(state, db, database, session_user))
}
