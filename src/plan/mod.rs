//! Plans: ordered lists of changes that bring a cluster to the manifest, and their SQL.
//!
//! `diff` plans the changes from a live state to the desired one; `bootstrap` is that diff
//! against an empty cluster, in its idempotent form; `live` reads a cluster and diffs against
//! it. Planning never writes; executing a plan is `apply`'s job.

pub mod bootstrap;
pub mod change;
pub mod diff;
pub mod file;
pub mod live;
pub mod mark;
pub mod moves;
pub mod preflight;
pub mod scopes;
pub mod sql;

pub use change::{Action, Change, Plan, Scope};

#[cfg(test)]
mod tests;

#[cfg(test)]
mod diff_tests;
