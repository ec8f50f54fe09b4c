//! `dbsplit validate`: check the manifest, no database.

use crate::text::plural;
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

/// Prints a one-line summary of a valid manifest; problems go to stderr with exit code 2.
pub fn run(path: &Path, out: &mut impl Write) -> anyhow::Result<ExitCode> {
    let manifest = super::load_manifest(path)?;
    for warning in &manifest.warnings {
        eprintln!("{warning}");
    }
    let roles = manifest.managed_roles().count();
    writeln!(
        out,
        "{} is valid: database {}, {} service{}, {} shared schema{}, {} observer{}, {roles} role{}",
        path.display(),
        manifest.database.name,
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
