//! One module per command: load, compute, render, pick the exit code.

pub mod apply;
pub mod audit;
pub mod codeowners;
pub mod completions;
pub mod demo;
pub mod dump;
pub mod fleet;
pub mod graph;
pub mod import;
pub mod init;
pub mod lint;
pub mod live;
pub mod man;
pub mod migrate;
pub mod new;
pub mod plan;
pub mod pooler;
#[path = "move.rs"]
pub mod relocate;
pub mod restore;
pub mod schema;
pub mod usage;
pub mod validate;
pub mod verify;

use anyhow::Context;

/// Exit code 2: trouble (bad manifest, usage, connection, SQL error).
pub const TROUBLE: u8 = 2;

/// The manifest of a command that also reads a cluster without one (audit, usage, graph):
/// none with `--no-manifest`, or when the default `services.toml` is absent.
pub fn optional_manifest(
    path: &std::path::Path,
    no_manifest: bool,
) -> anyhow::Result<Option<crate::manifest::Manifest>> {
    if no_manifest || (!path.exists() && path == std::path::Path::new("services.toml")) {
        return Ok(None);
    }
    load_fleet_manifest(path).map(Some)
}

/// Loads the manifest, a v1 one or a fleet. The problems of an invalid one are printed here,
/// all of them with their locations, and the error returned is [`crate::Reported`]: exit code
/// 2, nothing more to print.
pub fn load_fleet_manifest(path: &std::path::Path) -> anyhow::Result<crate::manifest::Manifest> {
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

/// The service named `name`, or an error that lists the services there are.
pub fn service<'m>(
    manifest: &'m crate::manifest::Manifest,
    name: &str,
) -> anyhow::Result<&'m crate::manifest::Service> {
    manifest.service(name).with_context(|| {
        let known: Vec<&str> = manifest.services.iter().map(|s| s.name.as_str()).collect();
        format!(
            "unknown service `{name}`; the manifest declares {}",
            known.join(", ")
        )
    })
}

/// The findings format the command line asked for, in the renderers' terms.
pub fn findings_format(format: crate::cli::FindingsFormat) -> crate::report::findings::Format {
    use crate::cli::FindingsFormat;
    use crate::report::findings::Format;
    match format {
        FindingsFormat::Human => Format::Human,
        FindingsFormat::Json => Format::Json,
        FindingsFormat::Sarif => Format::Sarif,
        FindingsFormat::Github => Format::Github,
        FindingsFormat::Markdown => Format::Markdown,
    }
}
