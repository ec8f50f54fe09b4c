//! `dbsplit validate`: check the manifest, no database.

use crate::text::plural;
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

/// Prints a one-line summary of a valid manifest; problems go to stderr with exit code 2.
pub fn run(path: &Path, out: &mut impl Write) -> anyhow::Result<ExitCode> {
    let manifest = super::load_fleet_manifest(path)?;
    for warning in &manifest.warnings {
        eprintln!("{warning}");
    }
    let roles = manifest.managed_roles().count();
    let place = if manifest.fleet {
        let (databases, clusters) = (manifest.databases.len(), manifest.clusters.len());
        format!(
            "{databases} database{} on {clusters} cluster{}",
            plural(databases),
            plural(clusters)
        )
    } else {
        format!("database {}", manifest.database.name)
    };
    writeln!(
        out,
        "{} is valid: {place}, {} service{}, {} shared schema{}, {} observer{}, {roles} role{}",
        path.display(),
        manifest.services.len(),
        plural(manifest.services.len()),
        manifest.shared.len(),
        plural(manifest.shared.len()),
        manifest.observers.len(),
        plural(manifest.observers.len()),
        plural(roles),
    )?;
    Ok(ExitCode::SUCCESS)
}
