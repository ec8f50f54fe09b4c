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

/// The schema every database starts with, which every role may use unless revoked.
pub const PUBLIC_SCHEMA: &str = "public";

/// The role setting that names the schemas unqualified names resolve in.
pub const SEARCH_PATH: &str = "search_path";
