//! PostgreSQL plumbing: quoting, connecting as psql would, password verifiers and throwaway
//! local servers.

pub mod connect;
pub mod conninfo;
pub mod error;
pub mod ident;
pub mod local;
pub mod locks;
pub mod options;
pub mod pgpass;
pub mod scram;
pub mod tls;
