//! Rendering of results for people and machines. Renderers write to any `io::Write`.

pub mod plan;
