//! One module per command: load, compute, render, pick the exit code.

pub mod apply;
pub mod audit;
pub mod codeowners;
pub mod completions;
pub mod demo;
pub mod graph;
pub mod init;
pub mod lint;
pub mod live;
pub mod man;
pub mod migrate;
pub mod new;
pub mod plan;
pub mod pooler;
pub mod usage;
pub mod validate;
pub mod verify;

/// Exit code 2: trouble (bad manifest, usage, connection, SQL error).
pub const TROUBLE: u8 = 2;

/// Loads the manifest. The problems of an invalid one are printed here, all of them with
/// their locations, and the error returned is [`crate::Reported`]: exit code 2, nothing more
/// to print.
pub fn load_manifest(path: &std::path::Path) -> anyhow::Result<crate::manifest::Manifest> {
    use crate::manifest::{LoadError, Manifest};
    match Manifest::load(path) {
        Ok(manifest) => Ok(manifest),
        Err(LoadError::Invalid(errors)) => {
            eprintln!("{errors}");
            Err(crate::Reported.into())
        }
        Err(error @ LoadError::Read { .. }) => {
            let hint = if path == std::path::Path::new("services.toml") {
                " (pass --manifest PATH, or run `dbsplit init` to write one)"
            } else {
                ""
            };
            Err(anyhow::anyhow!("{:#}{hint}", anyhow::Error::new(error)))
        }
    }
}
