//! Rendering of results for people and machines. Renderers write to any `io::Write`.

pub mod codeowners;
pub mod findings;
pub mod github;
pub mod markdown;
pub mod plan;
pub mod sarif;
pub mod status;
