//! The cluster model shared by the desired state and introspection.

pub mod introspect;
pub mod model;
pub mod snapshot;
pub mod timings;
