//! One module per command: load, compute, render, pick the exit code.

pub mod apply;
pub mod audit;
pub mod demo;
pub mod init;
pub mod lint;
pub mod live;
pub mod migrate;
pub mod new;
pub mod plan;
pub mod validate;

use std::process::ExitCode;

/// Exit code 2: trouble (bad manifest, usage, connection, SQL error).
pub const TROUBLE: u8 = 2;

/// Loads the manifest, or prints all its problems and returns exit code 2.
pub fn load_manifest(path: &std::path::Path) -> Result<crate::manifest::Manifest, ExitCode> {
    use crate::manifest::{LoadError, Manifest};
    match Manifest::load(path) {
        Ok(manifest) => Ok(manifest),
        Err(LoadError::Invalid(errors)) => {
            eprintln!("{errors}");
            Err(ExitCode::from(TROUBLE))
        }
        Err(error @ LoadError::Read { .. }) => {
            let hint = if path == std::path::Path::new("services.toml") {
                " (pass --manifest PATH, or run `dbsplit init` to write one)"
            } else {
                ""
            };
            eprintln!("error: {:#}{hint}", anyhow::Error::new(error));
            Err(ExitCode::from(TROUBLE))
        }
    }
}
