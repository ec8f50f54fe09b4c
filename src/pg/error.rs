//! The server's errors as people read them: its message once, with the SQLSTATE, without the
//! client library's "db error: ERROR:" prefixes repeating it down the cause chain.

use std::error::Error as _;
use std::fmt;

/// The server's own message with its SQLSTATE when the server answered; else the client's
/// error with its causes (`connection closed`, `error communicating with the server: ...`).
pub fn server_message(error: &tokio_postgres::Error) -> String {
    match error.as_db_error() {
        Some(db) => format!("{} (SQLSTATE {})", db.message(), db.code().code()),
        None => {
            let mut text = error.to_string();
            let mut cause = error.source();
            while let Some(current) = cause {
                text.push_str(&format!(": {current}"));
                cause = current.source();
            }
            text
        }
    }
}

/// A tokio-postgres error as one link of a cause chain: it shows as [`server_message`] and
/// ends the chain, so the message appears once.
#[derive(Debug)]
pub struct ServerError(pub tokio_postgres::Error);

impl fmt::Display for ServerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&server_message(&self.0))
    }
}

impl std::error::Error for ServerError {}

impl From<tokio_postgres::Error> for ServerError {
    fn from(error: tokio_postgres::Error) -> Self {
        ServerError(error)
    }
}
