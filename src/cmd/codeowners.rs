//! `dbsplit codeowners`: CODEOWNERS lines giving each service's migrations to its `team`.

use std::io::Write;
use std::path::{Component, Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};

use crate::report;

/// Prints the lines; the manifest must be inside the current folder (the repository root), and
/// at least one service must name its team.
pub fn run(path: &Path, out: &mut impl Write) -> anyhow::Result<ExitCode> {
    let manifest = super::load_fleet_manifest(path)?;
    if manifest.services.iter().all(|s| s.team.is_none()) {
        bail!(
            "no service in {} names its team; add team = \"@org/team\" to each [services.<name>]",
            path.display()
        );
    }
    let manifest_path = relative_to_here(path)?;
    // The migrations folder is relative to the manifest's folder unless absolute.
    let migrations = if manifest.database.migrations_dir.is_absolute() {
        relative_to_here(&manifest.database.migrations_dir)?
    } else {
        manifest_path
            .parent()
            .unwrap_or(Path::new(""))
            .join(&manifest.database.migrations_dir)
    };
    report::codeowners::codeowners(&manifest, &manifest_path, &migrations, out)?;
    Ok(ExitCode::SUCCESS)
}

/// `path` relative to the current folder, which CODEOWNERS patterns are anchored at.
fn relative_to_here(path: &Path) -> anyhow::Result<PathBuf> {
    let here = std::env::current_dir().context("cannot read the current folder")?;
    let relative = if path.is_absolute() {
        let canonical_here = here.canonicalize().unwrap_or(here);
        let canonical = path
            .canonicalize()
            .with_context(|| format!("cannot read {}", path.display()))?;
        canonical
            .strip_prefix(&canonical_here)
            .map(Path::to_path_buf)
            .ok()
    } else {
        Some(path.to_path_buf())
    };
    match relative {
        Some(relative) if !relative.components().any(|c| c == Component::ParentDir) => Ok(relative),
        _ => bail!(
            "{} is outside the current folder; run dbsplit codeowners from the repository root",
            path.display()
        ),
    }
}
