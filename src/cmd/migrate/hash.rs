//! `dbsplit migrate hash [SERVICE...]`: rewrite the services' dbsplit.sum.

use std::io::Write;
use std::process::ExitCode;

use super::choose;
use crate::manifest::Manifest;
use crate::migrations::sum::rehash;

/// `migrate hash`: rewrites dbsplit.sum of the services named, or of every service that has a
/// migrations folder.
pub(super) fn hash(
    manifest: &Manifest,
    services: &[String],
    out: &mut impl Write,
) -> anyhow::Result<ExitCode> {
    for service in choose(manifest, services)? {
        let dir = manifest.migrations_dir().join(&service.name);
        if services.is_empty() && !dir.is_dir() {
            continue;
        }
        let (sum_path, count) = rehash(&dir)?;
        writeln!(
            out,
            "wrote {} ({count} migration{})",
            sum_path.display(),
            crate::text::plural(count)
        )?;
    }
    Ok(ExitCode::SUCCESS)
}
