//! What planning knows of `dbsplit move` (the engine is `relocate`): where a move's state lives
//! in the clusters ([`state`]), and which of a moving service's privileges a plan leaves to the
//! move ([`hold`]). Here rather than in `relocate`, which plans and applies to provision a
//! target: planning must not depend on the engine.

pub mod hold;
pub mod state;
