//! `dbsplit migrate`: `hash` rewrites dbsplit.sum. Running migrations is not available yet.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};

use crate::cli::{MigrateArgs, MigrateCommand};
use crate::manifest::{Manifest, Service};
use crate::migrate::discover::{SUM_FILE, discover};
use crate::migrate::sum;

pub fn run(path: &Path, args: &MigrateArgs, out: &mut impl Write) -> anyhow::Result<ExitCode> {
    let Some(MigrateCommand::Hash { services }) = &args.command else {
        bail!(
            "running migrations is not available yet; `dbsplit migrate hash` rewrites dbsplit.sum and `dbsplit lint` checks the files"
        );
    };
    let manifest = match super::load_manifest(path) {
        Ok(manifest) => manifest,
        Err(code) => return Ok(code),
    };
    let chosen: Vec<&Service> = if services.is_empty() {
        manifest.services.iter().collect()
    } else {
        services
            .iter()
            .map(|name| service(&manifest, name))
            .collect::<anyhow::Result<_>>()?
    };
    for service in chosen {
        let dir = manifest.migrations_dir().join(&service.name);
        if services.is_empty() && !dir.is_dir() {
            continue;
        }
        let (sum_path, count) = rehash(&dir)?;
        writeln!(
            out,
            "wrote {} ({count} migration{})",
            sum_path.display(),
            if count == 1 { "" } else { "s" }
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The service named `name`, or an error that lists the services there are.
pub fn service<'m>(manifest: &'m Manifest, name: &str) -> anyhow::Result<&'m Service> {
    manifest.service(name).with_context(|| {
        let known: Vec<&str> = manifest.services.iter().map(|s| s.name.as_str()).collect();
        format!(
            "unknown service `{name}`; the manifest declares {}",
            known.join(", ")
        )
    })
}

/// Rewrites `dir/dbsplit.sum` from the migrations in `dir`; returns its path and how many
/// migrations it covers.
pub fn rehash(dir: &Path) -> anyhow::Result<(PathBuf, usize)> {
    let migrations = discover(dir)?;
    let mut files = Vec::with_capacity(migrations.len());
    for migration in &migrations {
        let bytes = std::fs::read(&migration.path)
            .with_context(|| format!("cannot read {}", migration.path.display()))?;
        files.push((migration.file_name.as_str(), bytes));
    }
    let text = sum::render(files.iter().map(|(name, bytes)| (*name, bytes.as_slice())));
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let sum_path = dir.join(SUM_FILE);
    std::fs::write(&sum_path, text)
        .with_context(|| format!("cannot write {}", sum_path.display()))?;
    Ok((sum_path, migrations.len()))
}
