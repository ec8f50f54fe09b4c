//! PostgreSQL plumbing: quoting and throwaway local servers.

pub mod ident;
pub mod local;
pub mod scram;
