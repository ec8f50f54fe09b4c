//! What can go wrong while dumping, restoring or moving a service: one sentence naming the step,
//! with the server's or the program's message as its cause.

use crate::pg::error::ServerError;

/// An error of `dump`, `restore` or `move`.
#[derive(Debug, thiserror::Error)]
pub enum MoveError {
    /// A precondition does not hold; the message says what to do.
    #[error("{0}")]
    Refused(String),
    /// A statement failed.
    #[error("{what}")]
    Sql {
        what: String,
        #[source]
        source: ServerError,
    },
    /// pg_dump or pg_restore is missing, too old or failed.
    #[error(transparent)]
    Tool(#[from] super::tools::ToolError),
    #[error(transparent)]
    Connect(#[from] crate::pg::connect::ConnectError),
    #[error("{what}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot provision the target database from the manifest")]
    Apply(#[from] crate::apply::ApplyError),
    #[error("cannot repoint the service's PgBouncer alias")]
    Repoint(#[from] crate::pooler::repoint::RepointError),
    #[error("cannot read the target's catalogs")]
    Introspect(#[from] crate::catalog::introspect::IntrospectError),
}

/// Names the step a failed statement belonged to.
pub trait Context<T> {
    fn during(self, what: impl FnOnce() -> String) -> Result<T, MoveError>;
}

impl<T> Context<T> for Result<T, tokio_postgres::Error> {
    fn during(self, what: impl FnOnce() -> String) -> Result<T, MoveError> {
        self.map_err(|error| MoveError::Sql {
            what: what(),
            source: ServerError(error),
        })
    }
}

impl<T> Context<T> for Result<T, std::io::Error> {
    fn during(self, what: impl FnOnce() -> String) -> Result<T, MoveError> {
        self.map_err(|source| MoveError::Io {
            what: what(),
            source,
        })
    }
}
