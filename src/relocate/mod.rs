//! Moving a service's data between databases: per-service backups (`dump`, `restore`) on
//! pg_dump's plumbing, and the move engine (`dbsplit move`) on PostgreSQL's logical
//! replication.
//!
//! Nothing here drops a schema, a table or a row: a restore over existing objects happens only
//! when asked, in one transaction; a move leaves the source schema in place, fenced.

pub mod archive;
pub mod engine;
pub mod error;
pub mod follow;
pub mod pending;
pub mod preflight;
pub mod provision;
pub mod replication;
pub mod tools;

pub use crate::plan::moves::{hold, state};
pub use error::MoveError;
